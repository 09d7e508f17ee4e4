//! Regression check against a saved run: `cargo xtask oom --baseline <report.json>`.
//!
//! Cases are matched by id. A case regresses when, against the baseline,
//! - it fitted and now fails for memory (OOM, circular-buffer clash, L1_SMALL);
//! - it now ends in a class it did not before among `error`, `crashed`, `timed_out`, or its
//!   memory failure changed kind (an OOM became a clash);
//! - its bytes per bank grew: the failing allocation's per-bank bytes, the per-bank bytes of its
//!   captured buffers (summed per buffer type), or its per-core circular-buffer / L1 peaks;
//! - it now leaks device memory, or the one-element canary after it now fails.
//!
//! A case that failed and now fits, or whose bytes shrank, is an improvement (reported, not a
//! failure): save the new report as the baseline to lock it in. Cases on one side only are
//! counted (a filtered run compares the cases it ran). Numbers missing on either side (a run
//! with `--no-measure`) are not compared.

use crate::record::{CaseRecord, Class, Report};
use std::collections::{BTreeMap, HashMap};
use std::fmt;

/// What kind of regression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// Fitted in the baseline, a memory failure now.
    NowFails,
    /// A class it did not have before among error / crashed / timed_out, or another memory
    /// failure kind.
    ClassChanged,
    /// Bytes per bank (or per core) grew.
    Grew,
    /// Device memory not back at its baseline after the case, or the canary failed.
    Leak,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::NowFails => "fitted, now fails",
            Kind::ClassChanged => "new failure class",
            Kind::Grew => "grew",
            Kind::Leak => "leak",
        }
    }
}

/// One regression of one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Regression {
    pub id: String,
    pub kind: Kind,
    pub detail: String,
}

/// The outcome of a comparison.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Comparison {
    /// Cases present on both sides.
    pub compared: usize,
    pub only_in_baseline: usize,
    pub only_in_run: usize,
    pub regressions: Vec<Regression>,
    /// `id: what got better`.
    pub improvements: Vec<String>,
}

impl Comparison {
    pub fn passed(&self) -> bool {
        self.regressions.is_empty()
    }
}

/// Why two reports cannot be compared.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("the baseline was run on the `{baseline}` backend and this run on `{run}`: compare runs of one backend (make a new baseline with `cargo xtask oom --backend {run}`)")]
    Backend { baseline: String, run: String },
    #[error("the baseline has {count} cases with the id `{id}`: not a report of one run")]
    Duplicate { id: String, count: usize },
}

/// Per-bank bytes of the captured buffers, summed per buffer type (checked: saturating only
/// past u64, which no device reaches).
fn captured_per_bank(r: &CaseRecord) -> BTreeMap<&str, u64> {
    let mut m = BTreeMap::new();
    for b in &r.captured_buffers {
        let e = m.entry(b.buffer_type.as_str()).or_insert(0u64);
        *e = e.saturating_add(b.per_bank_bytes);
    }
    m
}

fn grew(what: &str, before: u64, after: u64) -> Option<String> {
    (after > before).then(|| {
        format!(
            "{what} {before} B -> {after} B (+{} B)",
            after.saturating_sub(before)
        )
    })
}

fn is_hard_failure(c: Class) -> bool {
    matches!(c, Class::Error | Class::Crashed | Class::TimedOut)
}

/// Compare one case; pushes its regressions and improvements.
fn compare_case(base: &CaseRecord, now: &CaseRecord, out: &mut Comparison) {
    let id = &now.id;
    let mut push = |kind: Kind, detail: String| {
        out.regressions.push(Regression {
            id: id.clone(),
            kind,
            detail,
        })
    };
    let (b, n) = (base.class, now.class);
    if b == Class::Fits && n.is_memory_failure() {
        push(
            Kind::NowFails,
            format!("fitted, now {}: {}", n.name(), now.message),
        );
    } else if n == Class::Unmodeled && (b == Class::Fits || b.is_memory_failure()) {
        // A verdict users had is gone: the backend no longer answers the case.
        push(
            Kind::ClassChanged,
            format!("{} -> unmodeled (no verdict): {}", b.name(), now.message),
        );
    } else if n != b && (is_hard_failure(n) || (b.is_memory_failure() && n.is_memory_failure())) {
        push(
            Kind::ClassChanged,
            format!("{} -> {}: {}", b.name(), n.name(), now.message),
        );
    } else if n == Class::Fits && b != Class::Fits {
        out.improvements.push(format!("{id}: {} -> fits", b.name()));
    }
    // The failing allocation, when both runs failed on the same buffer type.
    if b == n
        && base.per_bank_bytes > 0
        && now.per_bank_bytes > 0
        && base.buffer_type == now.buffer_type
    {
        let what = format!(
            "failing {} allocation per bank",
            now.buffer_type.as_deref().unwrap_or("?")
        );
        if let Some(d) = grew(&what, base.per_bank_bytes, now.per_bank_bytes) {
            push(Kind::Grew, d);
        } else if now.per_bank_bytes < base.per_bank_bytes {
            out.improvements.push(format!("{id}: {what} shrank"));
        }
    }
    // Captured buffers (NO_DISPATCH), per buffer type, when both runs measured.
    if !base.captured_buffers.is_empty() && !now.captured_buffers.is_empty() {
        let (pb, pn) = (captured_per_bank(base), captured_per_bank(now));
        for (ty, &after) in &pn {
            let before = pb.get(ty).copied().unwrap_or(0);
            if let Some(d) = grew(&format!("{ty} buffers per bank"), before, after) {
                push(Kind::Grew, d);
            }
        }
    }
    for (what, before, after) in [
        (
            "peak circular buffers per core",
            base.peak_cb_per_core,
            now.peak_cb_per_core,
        ),
        (
            "peak L1 per core",
            base.peak_l1_per_core,
            now.peak_l1_per_core,
        ),
    ] {
        if let (Some(before), Some(after)) = (before, after) {
            if let Some(d) = grew(what, before, after) {
                push(Kind::Grew, d);
            }
        }
    }
    if now.leaked_bytes > base.leaked_bytes {
        push(
            Kind::Leak,
            format!(
                "{} B per bank left allocated after the case (baseline {} B)",
                now.leaked_bytes, base.leaked_bytes
            ),
        );
    }
    if now.canary_ok == Some(false) && base.canary_ok != Some(false) {
        push(
            Kind::Leak,
            "the one-element canary after this case now fails: the device was left unusable".into(),
        );
    }
}

/// Compare a run with a baseline run.
pub fn compare(baseline: &Report, run: &Report) -> Result<Comparison, Error> {
    let mut record = |i: usize| Ok(run.cases[i].clone());
    match compare_streamed(baseline, &run.backend, run.cases.len(), &mut record) {
        Ok(c) => c,
        Err(e) => unreachable!("records in memory cannot fail to read: {e}"),
    }
}

/// [`compare`] with the run's `len` records read one at a time from `record` (a run whose
/// records are on disk); `backend` is the run's.
pub fn compare_streamed(
    baseline: &Report,
    backend: &str,
    len: usize,
    record: &mut dyn FnMut(usize) -> std::io::Result<CaseRecord>,
) -> std::io::Result<Result<Comparison, Error>> {
    if baseline.backend != backend {
        return Ok(Err(Error::Backend {
            baseline: baseline.backend.clone(),
            run: backend.to_string(),
        }));
    }
    let mut by_id: HashMap<&str, &CaseRecord> = HashMap::with_capacity(baseline.cases.len());
    for c in &baseline.cases {
        if by_id.insert(c.id.as_str(), c).is_some() {
            let count = baseline.cases.iter().filter(|x| x.id == c.id).count();
            return Ok(Err(Error::Duplicate {
                id: c.id.clone(),
                count,
            }));
        }
    }
    let mut out = Comparison::default();
    let mut matched = 0usize;
    for i in 0..len {
        let now = record(i)?;
        match by_id.get(now.id.as_str()) {
            Some(base) => {
                matched += 1;
                compare_case(base, &now, &mut out);
            }
            None => out.only_in_run += 1,
        }
    }
    out.compared = matched;
    out.only_in_baseline = baseline.cases.len().saturating_sub(matched);
    out.regressions
        .sort_by(|a, b| (a.kind, &a.id).cmp(&(b.kind, &b.id)));
    Ok(Ok(out))
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "baseline check: {} cases compared, {} only in the baseline, {} only in this run: ",
            self.compared, self.only_in_baseline, self.only_in_run
        )?;
        if self.regressions.is_empty() {
            writeln!(f, "no regression")?;
        } else {
            let cases: std::collections::BTreeSet<&str> =
                self.regressions.iter().map(|r| r.id.as_str()).collect();
            writeln!(
                f,
                "{} regression(s) in {} case(s)",
                self.regressions.len(),
                cases.len()
            )?;
            for r in &self.regressions {
                writeln!(f, "  REGRESSION [{}] {}: {}", r.kind.name(), r.id, r.detail)?;
            }
        }
        if !self.improvements.is_empty() {
            writeln!(
                f,
                "  {} improvement(s) (save this report as the baseline to keep them):",
                self.improvements.len()
            )?;
            for i in self.improvements.iter().take(20) {
                writeln!(f, "    {i}")?;
            }
            if self.improvements.len() > 20 {
                writeln!(f, "    ... and {} more", self.improvements.len() - 20)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{BufferRecord, Totals};

    fn record(id: &str, class: Class) -> CaseRecord {
        let case = crate::runner::canary_case(&memmodel::device::N150);
        let opts = crate::runner::RunOptions {
            backend: "metal".into(),
            runtime_version: String::new(),
            measure: true,
            canary: true,
            execute: true,
        };
        let mut r = crate::runner::blank_record(&case, &opts);
        r.id = id.into();
        r.class = class;
        r.captured_buffers = vec![BufferRecord {
            buffer_type: "L1".into(),
            size: 2048 * 64,
            per_bank_bytes: 2048,
        }];
        r.peak_cb_per_core = Some(8192);
        r.peak_l1_per_core = Some(4096);
        r
    }

    fn report(cases: Vec<CaseRecord>) -> Report {
        Report {
            tool: "t".into(),
            generated_at: String::new(),
            command: String::new(),
            backend: "metal".into(),
            runtime_version: String::new(),
            shapes_file: String::new(),
            partition: None,
            wall_time_ms: 0.0,
            totals: Totals::of(&cases),
            cases,
            thresholds: Vec::new(),
        }
    }

    #[test]
    fn a_lost_verdict_fails() {
        let base = report(vec![record("a", Class::Fits), record("b", Class::Oom)]);
        let mut now = base.clone();
        now.cases[1].class = Class::Unmodeled;
        now.cases[1].captured_buffers.clear();
        let c = compare(&base, &now).unwrap();
        assert!(!c.passed());
        assert_eq!(c.regressions.len(), 1, "{c}");
        assert!(c.regressions[0].detail.contains("oom -> unmodeled"), "{c}");
    }

    #[test]
    fn the_same_run_passes() {
        let r = report(vec![record("a", Class::Fits), record("b", Class::Oom)]);
        let c = compare(&r, &r).unwrap();
        assert!(c.passed(), "{c}");
        assert_eq!((c.compared, c.only_in_run, c.only_in_baseline), (2, 0, 0));
    }

    #[test]
    fn a_grown_case_fails() {
        let base = report(vec![record("a", Class::Fits), record("b", Class::Fits)]);
        let mut now = base.clone();
        now.cases[1].captured_buffers[0].per_bank_bytes += 32;
        now.cases[1].peak_cb_per_core = Some(8192 + 2048);
        let c = compare(&base, &now).unwrap();
        assert!(!c.passed());
        assert_eq!(c.regressions.len(), 2, "{c}");
        assert!(c
            .regressions
            .iter()
            .all(|r| r.id == "b" && r.kind == Kind::Grew));
        let text = c.to_string();
        assert!(
            text.contains("L1 buffers per bank 2048 B -> 2080 B (+32 B)"),
            "{text}"
        );
        // The other way round it is an improvement, not a regression.
        assert!(compare(&now, &base).unwrap().passed());
    }

    #[test]
    fn fitted_now_fails_and_new_classes_and_leaks_fail() {
        let base = report(vec![
            record("fit", Class::Fits),
            record("oom", Class::Oom),
            record("ok", Class::Fits),
            record("leaky", Class::Oom),
        ]);
        let mut now = base.clone();
        now.cases[0].class = Class::Oom;
        now.cases[1].class = Class::Crashed;
        now.cases[3].leaked_bytes = 2048;
        now.cases[3].canary_ok = Some(false);
        let c = compare(&base, &now).unwrap();
        let kinds: Vec<(Kind, &str)> = c
            .regressions
            .iter()
            .map(|r| (r.kind, r.id.as_str()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (Kind::NowFails, "fit"),
                (Kind::ClassChanged, "oom"),
                (Kind::Leak, "leaky"),
                (Kind::Leak, "leaky")
            ]
        );
    }

    #[test]
    fn the_failing_allocation_growing_fails_and_other_backends_are_refused() {
        let mut base = report(vec![record("a", Class::Oom)]);
        base.cases[0].buffer_type = Some("L1".into());
        base.cases[0].per_bank_bytes = 1_638_400;
        let mut now = base.clone();
        now.cases[0].per_bank_bytes = 1_640_448;
        let c = compare(&base, &now).unwrap();
        assert_eq!(c.regressions.len(), 1, "{c}");
        assert!(c.regressions[0]
            .detail
            .contains("failing L1 allocation per bank"));
        now.backend = "sim".into();
        let e = compare(&base, &now).unwrap_err().to_string();
        assert!(e.contains("`metal`") && e.contains("`sim`"), "{e}");
        let dup = report(vec![record("a", Class::Fits), record("a", Class::Fits)]);
        assert!(compare(&dup, &base).is_err());
    }

    #[test]
    fn unmatched_cases_are_counted_not_failed() {
        let base = report(vec![record("a", Class::Fits), record("gone", Class::Fits)]);
        let now = report(vec![record("a", Class::Fits), record("new", Class::Oom)]);
        let c = compare(&base, &now).unwrap();
        assert!(c.passed());
        assert_eq!((c.compared, c.only_in_baseline, c.only_in_run), (1, 1, 1));
    }
}
