//! memmodel's per-op plans against the real runtime, case by case.
//!
//! `golden/calibration/<op>.jsonl` holds, for every case of the default matrix, what the real
//! TT-NN runtime (ttnn 0.81.1 on mock n150 / p150 devices) did: a NO_DISPATCH graph capture of
//! the case (every buffer allocated and freed, every program with its circular / dataflow
//! buffers and their core ranges, the per-core peaks) and, in normal mode, its outcome with
//! tt-metal's message. `cargo xtask calibrate` writes them; `golden/calibration/meta.json`
//! records the runtime version and the exact command.
//!
//! Compared exactly — the runtime is deterministic for all of these:
//! - the sequence of buffer allocations (memory, size, bytes per bank, page size) and frees,
//! - every program (device operation, program factory) with its buffers' kinds, sizes and core
//!   ranges,
//! - the four per-core peaks (CB, dataflow buffer, L1, total),
//! - the normal-mode outcome (fits / oom / cb_clash / l1_small) and, for failures, tt-metal's
//!   message with the same numbers; the program number in a clash message counts every program
//!   the worker process built before and is not compared.
//!
//! A difference is accepted only where `model-gaps.toml` (memmodel::gaps) lists the case with
//! a reason: kind `cb_peak` for the trace and peaks, kind `model` for the outcome. Accepted
//! differences are counted and printed; the test fails on any other.
//!
//! `TTNN_OOM_CALIBRATION_DIR` points the test at another golden directory;
//! `TTNN_OOM_CALIBRATION_VERBOSE=1` prints every mismatch; `TTNN_OOM_CALIBRATION_OPS=mean,mm`
//! compares those ops only.

use memmodel::gaps::{GapKind, KnownGaps};
use memmodel::trace::{normalize, Event};
use memmodel::Case;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

fn golden_dir() -> PathBuf {
    std::env::var_os("TTNN_OOM_CALIBRATION_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/calibration")
        })
}

fn matrix() -> HashMap<String, Case> {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shapes.toml")).unwrap();
    let m = memmodel::config::parse(&text, "shapes.toml").unwrap();
    m.cases.into_iter().map(|c| (c.id(), c)).collect()
}

/// Blanks the program number of a clash message (a per-process counter).
fn without_program_number(msg: &str) -> String {
    match msg.find(" in program ") {
        Some(i) => {
            let rest = &msg[i + " in program ".len()..];
            let end = rest.find(' ').unwrap_or(rest.len());
            format!("{} in program N{}", &msg[..i], &rest[end..])
        }
        None => msg.to_string(),
    }
}

fn known_gaps() -> KnownGaps {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../model-gaps.toml");
    match std::fs::read_to_string(path) {
        Ok(text) => KnownGaps::parse(&text, "model-gaps.toml").unwrap_or_else(|e| panic!("{e}")),
        Err(_) => KnownGaps::default(),
    }
}

#[derive(Default)]
struct Tally {
    cases: usize,
    /// Differences model-gaps.toml accepts (plan, outcome).
    accepted_plan: usize,
    accepted_outcome: usize,
    trace: usize,
    peaks: usize,
    outcome: usize,
    examples: Vec<String>,
}

#[test]
fn plans_match_the_runtime() {
    let dir = golden_dir();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        panic!(
            "no golden calibration in {} — run `cargo xtask calibrate`",
            dir.display()
        );
    };
    let verbose = std::env::var_os("TTNN_OOM_CALIBRATION_VERBOSE").is_some();
    let gaps = known_gaps();
    let mut cases = matrix();
    if let Ok(ops) = std::env::var("TTNN_OOM_CALIBRATION_OPS") {
        let ops: Vec<&str> = ops.split(',').map(str::trim).collect();
        cases.retain(|_, c| ops.contains(&c.op.name));
    }
    let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
    let mut seen = 0;
    for entry in entries {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("jsonl") {
            continue;
        }
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            let g: Value = serde_json::from_str(line).unwrap();
            let id = g["id"].as_str().unwrap();
            let Some(case) = cases.get(id) else {
                continue;
            };
            seen += 1;
            let t = tallies.entry(case.op.name.to_string()).or_default();
            t.cases += 1;
            let note = |t: &mut Tally, what: String| {
                if verbose || t.examples.len() < 3 {
                    t.examples.push(format!("{id}: {what}"));
                }
            };
            let e = match case.estimate() {
                Ok(e) => e,
                Err(err) => {
                    t.trace += 1;
                    t.peaks += 1;
                    t.outcome += 1;
                    note(t, format!("no plan: {err}"));
                    continue;
                }
            };
            let trace: Vec<Event> = serde_json::from_value(g["trace"].clone())
                .unwrap_or_else(|err| panic!("{id}: unreadable trace: {err}"));
            let want = normalize(&trace);
            let got = normalize(&e.plan.trace());
            let p = &g["peaks"];
            let want_peaks = [
                p["cb"].as_u64().unwrap(),
                p["dataflow"].as_u64().unwrap(),
                p["l1"].as_u64().unwrap(),
                p["total"].as_u64().unwrap(),
            ];
            let got_peaks = [e.peaks.cb, e.peaks.dataflow, e.peaks.l1, e.peaks.total];
            let plan_differs = want != got || want_peaks != got_peaks;
            if plan_differs && gaps.reason(id, GapKind::CbPeak).is_some() {
                t.accepted_plan += 1;
            } else if want != got {
                t.trace += 1;
                let k = want
                    .iter()
                    .zip(&got)
                    .position(|(a, b)| a != b)
                    .unwrap_or(want.len().min(got.len()));
                note(
                    t,
                    format!(
                        "trace differs at event {k}: runtime {:?}, model {:?} ({} vs {} events)",
                        want.get(k),
                        got.get(k),
                        want.len(),
                        got.len()
                    ),
                );
            }
            if plan_differs && gaps.reason(id, GapKind::CbPeak).is_none() && want_peaks != got_peaks
            {
                t.peaks += 1;
                note(
                    t,
                    format!(
                        "peaks (cb, dfb, l1, total): runtime {want_peaks:?}, model {got_peaks:?}"
                    ),
                );
            }
            let want_outcome = g["outcome"].as_str().unwrap();
            let want_msg = without_program_number(g["message"].as_str().unwrap_or(""));
            let got_msg = without_program_number(&e.verdict.message());
            let outcome_differs = want_outcome != e.verdict.name() || want_msg != got_msg;
            if outcome_differs && gaps.reason(id, GapKind::Model).is_some() {
                t.accepted_outcome += 1;
            } else if outcome_differs {
                t.outcome += 1;
                note(
                    t,
                    format!(
                        "outcome: runtime {want_outcome} `{want_msg}`, model {} `{got_msg}`",
                        e.verdict.name()
                    ),
                );
            }
        }
    }
    let mut report = String::new();
    let mut bad = 0;
    for (op, t) in &tallies {
        if t.accepted_plan + t.accepted_outcome > 0 {
            println!(
                "{op}: {} cases; known gaps (model-gaps.toml): {} plans, {} outcomes differ",
                t.cases, t.accepted_plan, t.accepted_outcome
            );
        }
        if t.trace + t.peaks + t.outcome == 0 {
            continue;
        }
        bad += 1;
        report.push_str(&format!(
            "{op}: {} cases, {} traces, {} peaks, {} outcomes differ\n",
            t.cases, t.trace, t.peaks, t.outcome
        ));
        for ex in &t.examples {
            report.push_str(&format!("    {ex}\n"));
        }
    }
    assert!(seen > 0, "no golden case matches the matrix");
    assert!(
        bad == 0,
        "{bad} ops differ from the runtime ({seen} cases compared):\n{report}"
    );
}
