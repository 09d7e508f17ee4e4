//! Merging the partial reports of `--partition k/n` runs into one.
//!
//! - Cases are de-duplicated by `id`: the same case in two partials must carry the same data
//!   (its timing aside); otherwise the merge fails naming the case and the fields that differ.
//! - Cases are sorted by `id` (ids start with the op name, so each op's cases stay together):
//!   the same partials give the same report whatever order they are passed in.
//! - Totals are recounted from the cases.
//! - `wall_time_ms` is the longest partial's: partitions run side by side, so the whole run took
//!   as long as its slowest slice. (The sum of per-case times is in the report's header.)
//! - `generated_at` is the earliest start; header fields that differ are joined with `; `.
//! - `partition` is None. When every partial names its slice (`k/n`), all n slices must be
//!   there exactly once.

use super::{Error, Result};
use crate::record::{CaseRecord, Report, Totals};
use std::collections::{BTreeMap, BTreeSet};

/// Merge partial reports into one whole report.
pub fn merge(reports: Vec<Report>) -> Result<Report> {
    if reports.is_empty() {
        return Err(Error::Merge("no report to merge".into()));
    }
    check_partitions(&reports)?;
    let thresholds = merged_thresholds(&reports);
    let join = |f: fn(&Report) -> &str| -> String {
        let mut seen: Vec<&str> = Vec::new();
        for r in &reports {
            let v = f(r);
            if !v.is_empty() && !seen.contains(&v) {
                seen.push(v);
            }
        }
        seen.join("; ")
    };
    let tool = join(|r| &r.tool);
    let command = join(|r| &r.command);
    let backend = join(|r| &r.backend);
    let runtime_version = join(|r| &r.runtime_version);
    let shapes_file = join(|r| &r.shapes_file);
    let generated_at = reports
        .iter()
        .map(|r| r.generated_at.as_str())
        .filter(|s| !s.is_empty())
        .min()
        .unwrap_or("")
        .to_string();
    let wall_time_ms = reports
        .iter()
        .map(|r| r.wall_time_ms)
        .filter(|x| x.is_finite())
        .fold(0.0, f64::max);

    let mut cases: BTreeMap<String, CaseRecord> = BTreeMap::new();
    for (i, r) in reports.into_iter().enumerate() {
        for c in r.cases {
            match cases.get(&c.id) {
                None => {
                    cases.insert(c.id.clone(), c);
                }
                Some(existing) => {
                    let differ = differing_fields(existing, &c);
                    if !differ.is_empty() {
                        return Err(Error::Merge(format!(
                            "case `{}` appears twice with different results (report {} and an earlier one differ in: {})",
                            c.id,
                            i + 1,
                            differ.join(", ")
                        )));
                    }
                }
            }
        }
    }
    let cases: Vec<CaseRecord> = cases.into_values().collect();
    Ok(Report {
        tool,
        generated_at,
        command,
        backend,
        runtime_version,
        shapes_file,
        partition: None,
        wall_time_ms,
        totals: Totals::of(&cases),
        cases,
        thresholds,
    })
}

/// Thresholds of all the reports, one per (op, board, memory, dtype); the first report wins.
fn merged_thresholds(reports: &[Report]) -> Vec<crate::record::ThresholdRecord> {
    let mut out: Vec<crate::record::ThresholdRecord> = Vec::new();
    for t in reports.iter().flat_map(|r| &r.thresholds) {
        if !out.iter().any(|o| {
            (&o.op, &o.device, &o.memory, &o.dtype) == (&t.op, &t.device, &t.memory, &t.dtype)
        }) {
            out.push(t.clone());
        }
    }
    out
}

/// Split a report into `n` slices the way a partitioned run would (case i goes to slice
/// i mod n), each with its own totals and `partition = "k/n"`. For tests and tooling.
pub fn split(report: &Report, n: usize) -> Vec<Report> {
    let n = n.max(1);
    (0..n)
        .map(|k| {
            let cases: Vec<CaseRecord> = report
                .cases
                .iter()
                .enumerate()
                .filter(|(i, _)| i % n == k)
                .map(|(_, c)| c.clone())
                .collect();
            Report {
                partition: Some(format!("{}/{n}", k + 1)),
                totals: Totals::of(&cases),
                cases,
                ..report.clone()
            }
        })
        .collect()
}

/// The fields (JSON names) in which two records of the same case differ, timing aside.
fn differing_fields(a: &CaseRecord, b: &CaseRecord) -> Vec<String> {
    let (Ok(serde_json::Value::Object(x)), Ok(serde_json::Value::Object(y))) =
        (serde_json::to_value(a), serde_json::to_value(b))
    else {
        return vec!["(unserializable)".into()];
    };
    let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
    keys.into_iter()
        .filter(|k| k.as_str() != "elapsed_ms")
        .filter(|k| x.get(*k) != y.get(*k))
        .map(|k| k.to_string())
        .collect()
}

fn parse_partition(p: &str) -> Option<(usize, usize)> {
    let (k, n) = p.split_once('/')?;
    let (k, n): (usize, usize) = (k.trim().parse().ok()?, n.trim().parse().ok()?);
    (n >= 1 && (1..=n).contains(&k)).then_some((k, n))
}

fn check_partitions(reports: &[Report]) -> Result<()> {
    let parts: Vec<&str> = reports
        .iter()
        .filter_map(|r| r.partition.as_deref())
        .collect();
    if parts.len() != reports.len() {
        // Some reports are whole runs (or do not say): nothing to check.
        return Ok(());
    }
    let mut seen: BTreeSet<usize> = BTreeSet::new();
    let mut total: Option<usize> = None;
    for p in parts {
        let (k, n) = parse_partition(p).ok_or_else(|| {
            Error::Merge(format!(
                "partition `{p}` is not of the form k/n with 1 ≤ k ≤ n"
            ))
        })?;
        match total {
            None => total = Some(n),
            Some(t) if t != n => {
                return Err(Error::Merge(format!(
                    "partitions of different splits: {t} slices and {n} slices"
                )))
            }
            _ => {}
        }
        if !seen.insert(k) {
            return Err(Error::Merge(format!("partition {k}/{n} given twice")));
        }
    }
    let n = total.unwrap_or(0);
    let missing: Vec<String> = (1..=n)
        .filter(|k| !seen.contains(k))
        .map(|k| format!("{k}/{n}"))
        .collect();
    if !missing.is_empty() {
        return Err(Error::Merge(format!(
            "missing partition{} {}: the merged report would not be whole",
            if missing.len() == 1 { "" } else { "s" },
            missing.join(", ")
        )));
    }
    Ok(())
}
