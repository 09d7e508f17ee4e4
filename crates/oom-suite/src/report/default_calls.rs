//! The original suite's calls: cases that call their op without `memory_config` (memory
//! `l1->default`, as the seed suite and most model code do) and the upload-only stand-ins of
//! shape sets named `<set>_upload` (what the suite ran where no op ran), each set against the
//! same shape's case with memory_config given (the matrix's explicit-memory case), from the
//! records alone.

use super::analysis::{key_hash, Listed, MAX_LISTED_CASES};
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

/// A case as a list of them names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseId {
    pub id: String,
    pub class: Class,
}

/// Every call without memory_config in the report, against its explicit counterpart.
#[derive(Debug, Clone, PartialEq)]
pub struct DefaultCalls {
    pub cases: usize,
    pub upload_cases: usize,
    pub rows: Vec<CallRow>,
    /// (the explicit case, the suite's call) whose classes differ, the first
    /// [`MAX_LISTED_CASES`] in report order.
    pub differing: Listed<(CaseId, CaseId)>,
}

impl Default for DefaultCalls {
    fn default() -> Self {
        DefaultCalls {
            cases: 0,
            upload_cases: 0,
            rows: Vec::new(),
            differing: Listed::new(MAX_LISTED_CASES),
        }
    }
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

/// What the first pass over the records keeps for the calls' counterparts: hashes of the
/// keys, the counterpart's index and class.
#[derive(Debug, Default)]
pub struct CallIndex {
    /// By id (the last case of an id, as a map built from all of them).
    by_id: HashMap<u64, (u32, Class)>,
    /// Explicit cases by (op, shapes, device, dtype, layout, memory), without params: the
    /// counterparts of upload stand-ins (their params are the identity permutation). The first
    /// of each key.
    plain: HashMap<u64, (u32, Class)>,
    /// The op of each shape set's first case.
    set_ops: HashMap<String, String>,
}

/// The plain key of an explicit case (see [`CallIndex::plain`]), as a hash.
fn plain_key(op: &str, c: &CaseRecord, memory: &str) -> u64 {
    key_hash(&(op, &c.shapes, &c.device, &c.dtype, &c.layout, memory))
}

impl CallIndex {
    pub fn add(&mut self, i: usize, c: &CaseRecord) {
        let at = (i as u32, c.class);
        self.by_id.insert(key_hash(c.id.as_str()), at);
        if c.params.is_empty() && !is_default_call(c) {
            self.plain
                .entry(plain_key(&c.op, c, &c.memory))
                .or_insert(at);
        }
        if let Some(set) = &c.shape_set {
            if !self.set_ops.contains_key(set) {
                self.set_ops.insert(set.clone(), c.op.clone());
            }
        }
    }

    /// The op an upload set stands in for: the op of its base set's cases, else the name's
    /// `seed_<revision>_<op>` part.
    fn base_op(&self, base_set: &str) -> Option<String> {
        if let Some(op) = self.set_ops.get(base_set) {
            return Some(op.clone());
        }
        let rest = base_set.strip_prefix("seed_")?;
        Some(rest.split_once('_')?.1.to_string())
    }
}

/// The second pass: each call without memory_config against its counterpart.
#[derive(Debug, Default)]
pub struct CallFold {
    out: DefaultCalls,
    rows: BTreeMap<(bool, String), CallRow>,
    /// The explicit cases of the differing pairs kept, by index: their ids are read at the end.
    explicit: Vec<u32>,
}

impl CallFold {
    pub fn add(&mut self, c: &CaseRecord, index: &CallIndex) {
        if !is_default_call(c) {
            return;
        }
        self.out.cases += 1;
        let input = c.memory.trim_end_matches("->default");
        let upload = is_upload(c);
        let (op, explicit) = if upload {
            self.out.upload_cases += 1;
            let base = c.shape_set.as_deref().unwrap_or("");
            let base = &base[..base.len() - UPLOAD_SUFFIX.len()];
            let op = index.base_op(base).unwrap_or_else(|| c.op.clone());
            let explicit = index.plain.get(&plain_key(&op, c, input)).copied();
            (op, explicit)
        } else {
            let id =
                c.id.replacen(&format!("/{}/", c.memory), &format!("/{input}/"), 1);
            (
                c.op.clone(),
                index.by_id.get(&key_hash(id.as_str())).copied(),
            )
        };
        let row = self
            .rows
            .entry((upload, op.clone()))
            .or_insert_with(|| CallRow {
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
            Some((e_index, e_class)) if has_verdict(e_class) && has_verdict(c.class) => {
                row.compared += 1;
                if e_class == c.class {
                    row.same += 1;
                } else {
                    *row.changed
                        .entry((e_class.name(), c.class.name()))
                        .or_default() += 1;
                    let before = self.out.differing.shown.len();
                    self.out.differing.push_with(|| {
                        let id = |id: &str, class| CaseId {
                            id: id.to_string(),
                            class,
                        };
                        (id("", e_class), id(&c.id, c.class))
                    });
                    if self.out.differing.shown.len() > before {
                        self.explicit.push(e_index);
                    }
                }
            }
            _ => row.not_compared += 1,
        }
    }

    /// The rows in order, the explicit cases' ids read back.
    pub fn finish(
        mut self,
        record: &mut dyn FnMut(usize) -> std::io::Result<CaseRecord>,
    ) -> std::io::Result<DefaultCalls> {
        for (pair, &i) in self.out.differing.shown.iter_mut().zip(&self.explicit) {
            pair.0.id = record(i as usize)?.id;
        }
        // Differing ops first, then by op name; calls before uploads.
        let mut rows: Vec<CallRow> = self.rows.into_values().collect();
        rows.sort_by(|a, b| {
            (a.compared == a.same)
                .cmp(&(b.compared == b.same))
                .then_with(|| a.upload.cmp(&b.upload))
                .then_with(|| a.op.cmp(&b.op))
        });
        self.out.rows = rows;
        Ok(self.out)
    }
}

/// The calls of `cases` against their counterparts (the analysis folds the same way).
pub fn default_calls(cases: &[&CaseRecord]) -> DefaultCalls {
    let mut index = CallIndex::default();
    for (i, c) in cases.iter().enumerate() {
        index.add(i, c);
    }
    let mut fold = CallFold::default();
    for c in cases {
        fold.add(c, &index);
    }
    let mut record = |i: usize| Ok(cases[i].clone());
    match fold.finish(&mut record) {
        Ok(calls) => calls,
        Err(e) => unreachable!("records in memory cannot fail to read: {e}"),
    }
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
