//! `cargo xtask bench`: the same cases on `sim` and on the real runtime (`metal`, in worker
//! processes), side by side in one run, timed the same way — `oom_suite::runner::run_record`
//! around `ttnn::run_case` (inputs, the op, frees, the allocator checks before and after),
//! no measurement, no canary — and the per-case ratio metal / sim.
//!
//! Metal runs each case twice and keeps the second time (the first compiles and caches the
//! program; the matrix runs every shape of an op in a row, so the cached time is what a run
//! pays). Sim runs each case through `SimRunner`, as `cargo xtask oom` does, `--repeat` times and
//! keeps the median; its first run, before the sim device has the call's plan cached, is shown
//! beside it (`sim first µs`) with its own ratio summary. (As in `cargo xtask oom`, the record's
//! memmodel estimate runs before each timed run, outside the time.)
//!
//! No timed assertion anywhere: this prints numbers.

use crate::select::CaseArgs;
use anyhow::{bail, Context, Result};
use clap::Args;
use memmodel::Case;
use oom_suite::runner::{CaseRunner, RunOptions, SimRunner};
use oom_suite::worker::{WorkerCommand, WorkerPool};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(flatten)]
    pub cases: CaseArgs,
    /// Cases per op and board (spread over the op's shapes); 0 = every selected case.
    #[arg(long, default_value_t = 4)]
    pub per_op: usize,
    /// Sim runs per case (the median counts).
    #[arg(long, default_value_t = 21)]
    pub repeat: usize,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Instead: the metal harness end to end (`cargo xtask oom --backend metal --no-measure`)
    /// against a bare Python loop making the same runtime calls on one open device, alternately,
    /// `--repeat` rounds (every selected case; --per-op does not apply).
    #[arg(long)]
    pub harness: bool,
}

#[derive(Debug, Serialize)]
struct Row {
    case: String,
    metal_outcome: String,
    sim_outcome: String,
    metal_ms: f64,
    sim_ms: f64,
    /// The first sim run of the case (plan not yet cached on the device).
    sim_first_ms: f64,
    ratio: f64,
}

#[derive(Debug, Serialize)]
struct Summary {
    cases: usize,
    metal_total_ms: f64,
    sim_total_ms: f64,
    /// Geometric mean, median and smallest per-case ratio metal / sim.
    ratio_geomean: f64,
    ratio_median: f64,
    ratio_min: f64,
    /// The same for the first sim run of each case.
    first_ratio_geomean: f64,
    first_ratio_min: f64,
    rows: Vec<Row>,
}

/// Up to `n` cases of each (op, board), spread evenly over the selection's order.
fn sample(cases: Vec<Case>, n: usize) -> Vec<Case> {
    if n == 0 {
        return cases;
    }
    let mut groups: BTreeMap<(&'static str, &'static str), Vec<Case>> = BTreeMap::new();
    for c in cases {
        groups
            .entry((c.op.name, c.device.name))
            .or_default()
            .push(c);
    }
    let mut out = Vec::new();
    for (_, g) in groups {
        if g.len() <= n {
            out.extend(g);
        } else {
            let step = g.len() as f64 / n as f64;
            for i in 0..n {
                out.push(g[(i as f64 * step) as usize].clone());
            }
        }
    }
    out
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return 0.0;
    }
    v[v.len() / 2]
}

pub fn run(args: BenchArgs) -> Result<()> {
    if args.harness {
        return crate::bench_harness::run(&args.cases, args.repeat, args.json);
    }
    if args.repeat == 0 {
        bail!("--repeat must be at least 1");
    }
    let cases = sample(args.cases.select()?, args.per_op);
    if cases.is_empty() {
        bail!("no case selected");
    }
    crate::oom::ensure_runtime()?;
    let opts = RunOptions {
        backend: "metal".into(),
        runtime_version: String::new(),
        measure: false,
        canary: false,
        execute: true,
    };
    let sim = SimRunner::new();
    let command = WorkerCommand::current_exe(&[])
        .context("locating the xtask binary for worker processes")?;
    let pool = WorkerPool::new(command, Duration::from_secs(120), Duration::from_secs(600));
    let mut rows = Vec::with_capacity(cases.len());
    for (n, case) in cases.iter().enumerate() {
        let _ = pool.run(case, &opts);
        let metal = pool.run(case, &opts);
        let mut times = Vec::with_capacity(args.repeat);
        let mut sim_outcome = String::new();
        for _ in 0..args.repeat {
            let r = sim.run(case, &opts);
            times.push(r.elapsed_ms);
            sim_outcome = r.class.name().to_string();
        }
        let sim_first_ms = times[0];
        let sim_ms = median(&mut times);
        rows.push(Row {
            case: case.id(),
            metal_outcome: metal.class.name().to_string(),
            sim_outcome,
            metal_ms: metal.elapsed_ms,
            sim_ms,
            sim_first_ms,
            ratio: if sim_ms > 0.0 {
                metal.elapsed_ms / sim_ms
            } else {
                f64::INFINITY
            },
        });
        if !args.json && (n + 1) % 50 == 0 {
            eprintln!("  {}/{} cases", n + 1, cases.len());
        }
    }
    pool.shutdown();
    let mut ratios: Vec<f64> = rows.iter().map(|r| r.ratio).collect();
    let geomean = |v: &[f64]| (v.iter().map(|r| r.ln()).sum::<f64>() / v.len() as f64).exp();
    let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
    let first: Vec<f64> = rows
        .iter()
        .map(|r| r.metal_ms / r.sim_first_ms.max(f64::MIN_POSITIVE))
        .collect();
    let s = Summary {
        cases: rows.len(),
        metal_total_ms: rows.iter().map(|r| r.metal_ms).sum(),
        sim_total_ms: rows.iter().map(|r| r.sim_ms).sum(),
        ratio_geomean: geomean(&ratios),
        ratio_min: min(&ratios),
        ratio_median: median(&mut ratios),
        first_ratio_geomean: geomean(&first),
        first_ratio_min: min(&first),
        rows,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
        return Ok(());
    }
    println!(
        "{:<70} {:>9} {:>10} {:>9} {:>14}  outcome (metal/sim)",
        "case", "metal ms", "sim µs", "ratio", "sim first µs"
    );
    for r in &s.rows {
        println!(
            "{:<70} {:>9.3} {:>10.2} {:>8.0}× {:>14.2}  {}/{}",
            r.case,
            r.metal_ms,
            r.sim_ms * 1000.0,
            r.ratio,
            r.sim_first_ms * 1000.0,
            r.metal_outcome,
            r.sim_outcome
        );
    }
    println!(
        "\n{} cases: metal {:.1} ms, sim {:.3} ms in all; ratio metal/sim per case: geometric mean {:.0}×, median {:.0}×, min {:.0}×",
        s.cases, s.metal_total_ms, s.sim_total_ms, s.ratio_geomean, s.ratio_median, s.ratio_min
    );
    println!(
        "first sim run of each case (nothing cached): geometric mean {:.0}×, min {:.0}×",
        s.first_ratio_geomean, s.first_ratio_min
    );
    Ok(())
}
