//! The report of a whole-model run (`cargo xtask model`): per board, a timeline chart of L1 and
//! DRAM per bank over the calls (the peak and the first failing call marked) and the table of
//! calls with their memory, per-core peaks when measured, and tensors alive.

use super::doc::{code, col, num, strong, text, Block, Chart, Doc, Series, Table};
use super::fmt::bytes;
use ttnn::model::ModelRun;

/// Headings every model report has, per board (see [`document`]).
pub fn board_heading(run: &ModelRun) -> String {
    format!(
        "{} at {}x{} on {}",
        run.model, run.resolution[0], run.resolution[1], run.device
    )
}

pub fn document(runs: &[ModelRun]) -> Doc {
    let mut d = Doc {
        title: match runs.first() {
            Some(r) => format!("{}: whole-model memory", r.model),
            None => "whole-model memory".into(),
        },
        blocks: Vec::new(),
    };
    for (i, run) in runs.iter().enumerate() {
        d.h(2, &board_heading(run), &format!("board-{i}"));
        let verdict = match &run.failure {
            None => vec![strong("Fits"), text(": every call ran.")],
            Some(f) if f.outcome == "unmodeled" => vec![
                strong(format!("No verdict from call {}", f.number)),
                text(format!(" (line {}): ", f.line)),
                code(f.label.clone()),
                text(" — memmodel does not model this call; the runtime answers it (--backend metal)."),
            ],
            Some(f) => vec![
                strong(format!("Fails at call {}", f.number)),
                text(format!(" (line {}): ", f.line)),
                code(f.label.clone()),
                text(format!(
                    " — {}; allocated before it: L1 {} / DRAM {} per bank.",
                    f.outcome,
                    bytes(f.l1_per_bank_before),
                    bytes(f.dram_per_bank_before)
                )),
            ],
        };
        d.p(verdict);
        let after = |call: usize| match call {
            0 => String::new(),
            n => format!(" (after call {n})"),
        };
        d.p(vec![text(format!(
            "Backend {}; {} call(s) ran; peak between calls: L1 {} of {} per bank{}, DRAM {} of {}{}.",
            run.backend,
            run.steps.len(),
            bytes(run.peak_l1_per_bank.0),
            bytes(run.bank_bytes_l1),
            after(run.peak_l1_per_bank.1),
            bytes(run.peak_dram_per_bank.0),
            bytes(run.bank_bytes_dram),
            after(run.peak_dram_per_bank.1)
        ))]);
        if let Some(f) = &run.failure {
            d.push(Block::Code(f.message.clone()));
        }
        let mut steps: Vec<String> = run.steps.iter().map(|s| format!("#{}", s.number)).collect();
        let mut l1: Vec<f64> = run.steps.iter().map(|s| s.l1_per_bank as f64).collect();
        let mut dram: Vec<f64> = run.steps.iter().map(|s| s.dram_per_bank as f64).collect();
        let mut marks = Vec::new();
        if let Some(peak) = run
            .steps
            .iter()
            .position(|s| s.number == run.peak_l1_per_bank.1)
        {
            marks.push((peak, "L1 peak".to_string(), "#3b6ea8".to_string()));
        }
        if let Some(f) = &run.failure {
            // The failing call: what was allocated when it asked.
            steps.push(format!("#{}", f.number));
            l1.push(f.l1_per_bank_before as f64);
            dram.push(f.dram_per_bank_before as f64);
            marks.push((
                steps.len() - 1,
                format!("fails: {}", f.outcome),
                "#b91c1c".to_string(),
            ));
        }
        d.push(Block::Chart(Chart::Timeline {
            title: format!("{}: memory per bank after each call", board_heading(run)),
            steps,
            lines: vec![
                (
                    Series {
                        name: "L1".into(),
                        color: "#3b6ea8".into(),
                    },
                    l1,
                    run.bank_bytes_l1 as f64,
                ),
                (
                    Series {
                        name: "DRAM".into(),
                        color: "#d9822b".into(),
                    },
                    dram,
                    run.bank_bytes_dram as f64,
                ),
            ],
            marks,
            unit: "calls, memory as percent of a bank".into(),
        }));
        let measured = run.steps.iter().any(|s| s.peaks.is_some());
        let mut columns = vec![num("#"), col("Call"), num("L1 / bank"), num("DRAM / bank")];
        if measured {
            columns.push(num("CB + dataflow / core"));
            columns.push(num("L1 peak / core"));
        }
        columns.push(col("Alive after"));
        let rows = run
            .steps
            .iter()
            .map(|s| {
                let mut row = vec![
                    vec![text(s.number.to_string())],
                    vec![code(s.ttnn.clone())],
                    vec![text(bytes(s.l1_per_bank))],
                    vec![text(bytes(s.dram_per_bank))],
                ];
                if measured {
                    let (cb, l1) = s.peaks.map_or(("-".to_string(), "-".to_string()), |p| {
                        (
                            bytes(p.peak_cb.saturating_add(p.peak_dataflow_buffer)),
                            bytes(p.peak_l1),
                        )
                    });
                    row.push(vec![text(cb)]);
                    row.push(vec![text(l1)]);
                }
                row.push(vec![text(s.live.join(", "))]);
                row
            })
            .collect();
        if !run.steps.is_empty() {
            d.push(Block::Table(Table { columns, rows }));
        }
        if run.leaked_per_bank > 0 {
            d.p(vec![strong(format!(
                "Leak: {} per bank stayed allocated after the run.",
                bytes(run.leaked_per_bank)
            ))]);
        }
    }
    d
}

/// A `--fix` search's result for one board and how the fixed model replayed: what it verifies.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FixReport {
    pub plan: memmodel::model_fix::ModelFixPlan,
    /// The fixed model file written.
    pub fixed_file: String,
    /// The fixed model replayed end to end: the backend and how its run ended.
    pub verified: Vec<(String, String)>,
}

/// How a run ended, in one line (`fits: every call ran`, `fails at #7 ...: oom: ...`).
pub fn ending(run: &ModelRun) -> String {
    match &run.failure {
        None => format!("fits: all {} calls ran", run.steps.len()),
        Some(f) if f.outcome == "unmodeled" => format!(
            "ran {} call(s); no verdict on {}: {}",
            run.steps.len(),
            f.label,
            f.message
        ),
        Some(f) => format!("fails at {}: {}: {}", f.label, f.outcome, f.message),
    }
}

/// The "Fixes" section of a model report: per board the changes kept, the call each got past
/// with its failure, the peaks between calls before and after, where the search ended, and how
/// the fixed model replayed on each backend.
pub fn fix_section(d: &mut Doc, reports: &[FixReport]) {
    if reports.is_empty() {
        return;
    }
    d.h(2, "Fixes (--fix)", "fixes");
    for (i, r) in reports.iter().enumerate() {
        let p = &r.plan;
        d.h(
            3,
            &format!(
                "{} at {}x{} on {}",
                p.model, p.resolution[0], p.resolution[1], p.device
            ),
            &format!("fix-{i}"),
        );
        d.p(vec![
            strong(p.summary()),
            text(format!(
                " ({} replays on sim). The fixed model: ",
                p.replays
            )),
            code(r.fixed_file.clone()),
            text("."),
        ]);
        if !p.fixes.is_empty() {
            let rows = p
                .fixes
                .iter()
                .enumerate()
                .map(|(k, f)| {
                    vec![
                        vec![text((k + 1).to_string())],
                        vec![code(f.label.clone())],
                        vec![text(format!("{}: {}", f.outcome, f.message))],
                        vec![
                            strong(f.change.kind),
                            text(format!(": {}", f.change.detail)),
                        ],
                        vec![text(format!(
                            "{} → {}",
                            bytes(f.before.peak_l1_per_bank),
                            bytes(f.after.peak_l1_per_bank)
                        ))],
                        vec![text(format!(
                            "{} → {}",
                            bytes(f.before.peak_dram_per_bank),
                            bytes(f.after.peak_dram_per_bank)
                        ))],
                        vec![text(format!(
                            "{} → {}",
                            f.before.calls_run, f.after.calls_run
                        ))],
                    ]
                })
                .collect();
            d.push(Block::Table(Table {
                columns: vec![
                    num("#"),
                    col("Call that failed"),
                    col("How"),
                    col("Change"),
                    num("L1 peak / bank before → after"),
                    num("DRAM peak / bank before → after"),
                    num("Calls run before → after"),
                ],
                rows,
            }));
        }
        if let memmodel::model_fix::Ending::NoFix {
            label, attempts, ..
        } = &p.ending
        {
            d.p(vec![text(format!(
                "Why each change considered for {label} does not get past it:"
            ))]);
            let rows = attempts
                .iter()
                .map(|a| {
                    vec![
                        vec![strong(a.kind), text(format!(": {}", a.detail))],
                        vec![text(if a.unverified() {
                            "no verdict on sim".to_string()
                        } else {
                            a.outcome.clone()
                        })],
                        vec![text(a.why.clone())],
                    ]
                })
                .collect();
            d.push(Block::Table(Table {
                columns: vec![col("Change"), col("Outcome"), col("Why")],
                rows,
            }));
        }
        d.p(vec![text(format!(
            "Unchanged model: {} call(s) ran, peak L1 {} / DRAM {} per bank; fixed: {} call(s), peak L1 {} / DRAM {} per bank.",
            p.original.calls_run,
            bytes(p.original.peak_l1_per_bank),
            bytes(p.original.peak_dram_per_bank),
            p.fixed.calls_run,
            bytes(p.fixed.peak_l1_per_bank),
            bytes(p.fixed.peak_dram_per_bank)
        ))]);
        for (backend, how) in &r.verified {
            d.p(vec![
                strong(format!("Replayed on {backend}: ")),
                text(how.clone()),
            ]);
        }
    }
}
