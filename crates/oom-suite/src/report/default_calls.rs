//! The original suite's calls: cases that call their op without `memory_config` (memory
//! `l1->default`, as the seed suite and most model code do) and the upload-only stand-ins of
//! shape sets named `<set>_upload` (what the suite ran where no op ran), each set against the
//! same shape's case with memory_config given (the matrix's explicit-memory case), from the
//! records alone.

use crate::record::{CaseRecord, Class};
use memmodel::BufferType;
use std::collections::{BTreeMap, HashMap};

/// Suffix of the shape sets that hold only the uploads the suite made for a set.
pub const UPLOAD_SUFFIX: &str = "_upload";

/// One op's calls without memory_config (or its upload-only stand-ins).
#[derive(Debug, Clone, PartialEq)]
pub struct CallRow {
    /// The op of the explicit cases compared with (`native_batch_norm` for its upload set).
    pub op: String,
    /// Upload-only stand-ins (sets `*_upload`) rather than calls without memory_config.
    pub upload: bool,
    pub cases: usize,
    /// Cases with an explicit-memory counterpart, both with a verdict.
    pub compared: usize,
    pub same: usize,
    /// (explicit class, this class) → cases, for the compared cases that differ.
    pub changed: BTreeMap<(&'static str, &'static str), usize>,
    /// Without a counterpart, or one side without a verdict (`unmodeled`).
    pub not_compared: usize,
    /// Why the call differs from the explicit one, in words.
    pub why: String,
}

/// Every call without memory_config in the report, against its explicit counterpart.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DefaultCalls<'a> {
    pub cases: usize,
    pub upload_cases: usize,
    pub rows: Vec<CallRow>,
    /// (the explicit case, the suite's call) whose classes differ, in report order.
    pub differing: Vec<(&'a CaseRecord, &'a CaseRecord)>,
}

/// Whether the case calls its op without memory_config (`l1->default`).
pub fn is_default_call(c: &CaseRecord) -> bool {
    c.memory.ends_with("->default")
}

fn is_upload(c: &CaseRecord) -> bool {
    c.shape_set
        .as_deref()
        .is_some_and(|s| s.ends_with(UPLOAD_SUFFIX))
}

fn has_verdict(c: Class) -> bool {
    !matches!(
        c,
        Class::Unmodeled | Class::Error | Class::Crashed | Class::TimedOut
    )
}

/// The op an upload set stands in for: the op of its base set's cases, else the name's
/// `seed_<revision>_<op>` part.
fn base_op(cases: &[&CaseRecord], base_set: &str) -> Option<String> {
    if let Some(c) = cases
        .iter()
        .find(|c| c.shape_set.as_deref() == Some(base_set))
    {
        return Some(c.op.clone());
    }
    let rest = base_set.strip_prefix("seed_")?;
    Some(rest.split_once('_')?.1.to_string())
}

/// Why a call without memory_config may end otherwise than the explicit one.
fn why_default(op: &str) -> String {
    let Ok(def) = memmodel::find_op(op) else {
        return String::new();
    };
    let function = def.ttnn_function();
    if def.default_output_memory(BufferType::L1) == BufferType::Dram {
        format!("without memory_config {function} writes its output to DRAM")
    } else if function == "ttnn.split" {
        "ttnn.split keeps the chunks in L1 unless there are more than two and they exceed a \
         core's free L1 (then DRAM)"
            .to_string()
    } else if function == "ttnn.max_pool2d" {
        "ttnn.max_pool2d returns its pooled L1 shards instead of copying them to interleaved \
         memory"
            .to_string()
    } else {
        format!("{function} keeps its input's memory: the same call")
    }
}

fn why_upload(op: &str) -> String {
    format!(
        "the suite only uploaded the input (no {op} ran); here ttnn.reshape to its own shape \
         without memory_config, which allocates nothing"
    )
}

/// (op, model shapes, device, dtype, layout, memory) of a case.
type PlainKey<'k> = (
    &'k str,
    &'k Vec<Vec<u64>>,
    &'k str,
    &'k str,
    &'k str,
    &'k str,
);

pub fn default_calls<'a>(cases: &[&'a CaseRecord]) -> DefaultCalls<'a> {
    let by_id: HashMap<&str, &CaseRecord> = cases.iter().map(|c| (c.id.as_str(), *c)).collect();
    // Explicit cases by (op, shapes, device, dtype, layout, memory), without params: the
    // counterparts of upload stand-ins (their params are the identity permutation).
    let mut plain: HashMap<PlainKey<'_>, &CaseRecord> = HashMap::new();
    for c in cases {
        if c.params.is_empty() && !is_default_call(c) {
            plain
                .entry((
                    c.op.as_str(),
                    &c.shapes,
                    c.device.as_str(),
                    c.dtype.as_str(),
                    c.layout.as_str(),
                    c.memory.as_str(),
                ))
                .or_insert(c);
        }
    }
    let mut out = DefaultCalls::default();
    let mut rows: BTreeMap<(bool, String), CallRow> = BTreeMap::new();
    for c in cases.iter().copied().filter(|c| is_default_call(c)) {
        out.cases += 1;
        let input = c.memory.trim_end_matches("->default");
        let upload = is_upload(c);
        let (op, explicit) = if upload {
            out.upload_cases += 1;
            let base = c.shape_set.as_deref().unwrap_or("");
            let base = &base[..base.len() - UPLOAD_SUFFIX.len()];
            let op = base_op(cases, base).unwrap_or_else(|| c.op.clone());
            let explicit = plain
                .get(&(
                    op.as_str(),
                    &c.shapes,
                    c.device.as_str(),
                    c.dtype.as_str(),
                    c.layout.as_str(),
                    input,
                ))
                .copied();
            (op, explicit)
        } else {
            let id =
                c.id.replacen(&format!("/{}/", c.memory), &format!("/{input}/"), 1);
            (c.op.clone(), by_id.get(id.as_str()).copied())
        };
        let row = rows.entry((upload, op.clone())).or_insert_with(|| CallRow {
            why: if upload {
                why_upload(&op)
            } else {
                why_default(&op)
            },
            op,
            upload,
            cases: 0,
            compared: 0,
            same: 0,
            changed: BTreeMap::new(),
            not_compared: 0,
        });
        row.cases += 1;
        match explicit {
            Some(e) if has_verdict(e.class) && has_verdict(c.class) => {
                row.compared += 1;
                if e.class == c.class {
                    row.same += 1;
                } else {
                    *row.changed
                        .entry((e.class.name(), c.class.name()))
                        .or_default() += 1;
                    out.differing.push((e, c));
                }
            }
            _ => row.not_compared += 1,
        }
    }
    // Differing ops first, then by op name; calls before uploads.
    let mut rows: Vec<CallRow> = rows.into_values().collect();
    rows.sort_by(|a, b| {
        (a.compared == a.same)
            .cmp(&(b.compared == b.same))
            .then_with(|| a.upload.cmp(&b.upload))
            .then_with(|| a.op.cmp(&b.op))
    });
    out.rows = rows;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str, op: &str, set: &str, memory: &str, params: &str, class: Class) -> CaseRecord {
        let case = crate::runner::canary_case(&memmodel::device::N150);
        let opts = crate::runner::RunOptions {
            backend: "sim".into(),
            runtime_version: String::new(),
            measure: false,
            canary: false,
            execute: true,
        };
        let mut r = crate::runner::blank_record(&case, &opts);
        r.id = id.into();
        r.op = op.into();
        r.shape_set = Some(set.into());
        r.shapes = vec![vec![1000, 1024]];
        r.dtype = "bfloat16".into();
        r.layout = "tile".into();
        r.memory = memory.into();
        r.params = params.into();
        r.class = class;
        r
    }

    #[test]
    fn calls_are_compared_with_their_explicit_case() {
        let cases = [
            rec(
                "linear/[1000,1024]/x/l1/n150",
                "linear",
                "seed_9720482_linear",
                "l1",
                "",
                Class::Oom,
            ),
            rec(
                "linear/[1000,1024]/x/l1->default/n150",
                "linear",
                "seed_9720482_linear",
                "l1->default",
                "",
                Class::Fits,
            ),
            rec(
                "add/[1000,1024]/x/l1/n150",
                "add",
                "seed_9720482_add",
                "l1",
                "",
                Class::Fits,
            ),
            rec(
                "add/[1000,1024]/x/l1->default/n150",
                "add",
                "seed_9720482_add",
                "l1->default",
                "",
                Class::Fits,
            ),
            rec(
                "permute/[1000,1024]/x/l1/n150",
                "permute",
                "seed_9720482_permute",
                "l1",
                "",
                Class::Oom,
            ),
            rec(
                "permute/[1000,1024]/x/l1->default/n150/dims=[0,1]",
                "permute",
                "seed_9720482_permute_upload",
                "l1->default",
                "dims=[0,1]",
                Class::Fits,
            ),
            rec(
                "native_batch_norm/[1000,1024]/x/l1/n150",
                "native_batch_norm",
                "yolov12",
                "l1",
                "",
                Class::Oom,
            ),
            rec(
                "permute/[1000,1024]/y/l1->default/n150/dims=[0,1]",
                "permute",
                "seed_0121336_native_batch_norm_upload",
                "l1->default",
                "dims=[0,1]",
                Class::Unmodeled,
            ),
        ];
        let refs: Vec<&CaseRecord> = cases.iter().collect();
        let d = default_calls(&refs);
        assert_eq!((d.cases, d.upload_cases), (4, 2));
        let row = |op: &str, upload: bool| {
            d.rows
                .iter()
                .find(|r| r.op == op && r.upload == upload)
                .unwrap()
        };
        let linear = row("linear", false);
        assert_eq!((linear.compared, linear.same), (1, 0));
        assert_eq!(linear.changed[&("oom", "fits")], 1);
        assert!(linear.why.contains("DRAM"), "{}", linear.why);
        assert_eq!(row("add", false).same, 1);
        assert_eq!(row("permute", true).changed[&("oom", "fits")], 1);
        // A side without a verdict (unmodeled) is counted apart.
        let bn = row("native_batch_norm", true);
        assert_eq!((bn.compared, bn.not_compared), (0, 1));
        assert_eq!(d.differing.len(), 2);
        // Differing rows first.
        assert!(d.rows[0].compared > d.rows[0].same);
    }
}
