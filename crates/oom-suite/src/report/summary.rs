//! The one-screen text summary the OOM runner prints at the end of a run.

use super::analysis::{device_bytes, factor_over_bank, primary_shape, Analysis};
use super::fmt::{dims, duration_ms, factor, size, thousands};
use super::Written;
use crate::record::{Class, Report};
use std::fmt::Write as _;

/// Operators listed in the summary.
const TOP_OPS: usize = 10;

impl Report {
    /// Totals, the operators that fail most, and the findings that need attention (leaks,
    /// canaries, failures that are not OOM) — at most about 25 lines.
    pub fn summary(&self) -> String {
        Analysis::of(self).summary()
    }

    /// [`Report::summary`] followed by where the files are.
    pub fn summary_with(&self, files: &Written) -> String {
        Analysis::of(self).summary_with(files)
    }
}

impl Analysis {
    /// The report's one-screen summary (see [`Report::summary`]).
    pub fn summary(&self) -> String {
        let a = self;
        let head = &self.head;
        let t = &a.totals;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "ttnn-oom: {} cases on {} ({} backend, {}) in {}{}",
            thousands(t.cases as u64),
            if a.devices_seen.is_empty() {
                "no device".to_string()
            } else {
                a.devices_seen.join(", ")
            },
            head.backend,
            head.runtime_version,
            duration_ms(head.wall_time_ms),
            head.partition
                .as_deref()
                .map(|p| format!(" (partition {p})"))
                .unwrap_or_default()
        );
        let _ = writeln!(
            s,
            "  fits {} · OOM {} · other {} (cb_clash {}, l1_small {}, error {}, crashed {}, timed_out {}) · unmodeled {} · leaks {}",
            thousands(t.fits as u64),
            thousands(t.oom as u64),
            thousands(a.counts.other() as u64),
            t.cb_clash,
            t.l1_small,
            t.error,
            t.crashed,
            t.timed_out,
            t.unmodeled,
            t.leaks
        );
        let _ = writeln!(
            s,
            "  operators with OOM: {}/{} · problem shapes: {} · critical shapes (> 1 GiB on device): {}",
            a.ops_affected(),
            a.ops.len(),
            a.problem_shapes().count(),
            a.critical_shapes().len()
        );
        let failing: Vec<_> = a
            .ops
            .iter()
            .filter(|o| o.counts.failures() > 0)
            .take(TOP_OPS)
            .collect();
        if !failing.is_empty() {
            let _ = writeln!(s, "  top failing operators:");
            let width = failing.iter().map(|o| o.op.len()).max().unwrap_or(0);
            for o in &failing {
                let worst = o
                    .worst
                    .as_ref()
                    .map(|w| {
                        format!(
                            "worst {} {} {} on {}: {} device bytes{}",
                            dims(primary_shape(w)),
                            w.device_layout,
                            w.memory,
                            w.device,
                            size(device_bytes(w)),
                            factor_over_bank(w)
                                .map(|f| format!(", {} the bank", factor(f)))
                                .unwrap_or_default()
                        )
                    })
                    .unwrap_or_default();
                let _ = writeln!(
                    s,
                    "    {:width$}  {:>5} OOM  {:>4} other  {}",
                    o.op,
                    o.counts.get(Class::Oom),
                    o.counts.other(),
                    worst,
                );
            }
        }
        if t.leaks > 0 || !a.canary_failures.is_empty() || !a.suspicious.is_empty() {
            let _ = writeln!(
                s,
                "  ATTENTION: {} leaks, {} canary failures, {} suspicious OOMs (see the report's integrity section)",
                t.leaks,
                a.canary_failures.len(),
                a.suspicious.len()
            );
        }
        if t.crashed > 0 || t.timed_out > 0 {
            let _ = writeln!(
                s,
                "  {} crashed and {} timed out: their operators' processes died or hung",
                t.crashed, t.timed_out
            );
        }
        s
    }

    /// [`Analysis::summary`] followed by where the files are.
    pub fn summary_with(&self, files: &Written) -> String {
        let mut s = self.summary();
        let _ = writeln!(s, "  report written to {}:", files.dir.display());
        for f in &files.files {
            let _ = writeln!(s, "    {}", f.display());
        }
        s
    }
}
