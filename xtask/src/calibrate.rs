//! `cargo xtask calibrate`: run the selected cases on the real runtime (worker processes, one per
//! board and L1_SMALL size) in normal mode and in a NO_DISPATCH graph capture, and write what it
//! did — outcome, tt-metal's message, per-core peaks (CB, dataflow buffer, L1, total) and every
//! buffer and circular buffer allocation — into the golden files memmodel's plans are tested
//! against: `crates/memmodel/tests/golden/calibration/<op>.jsonl`, with `meta.json` naming the
//! runtime version and the exact command.
//!
//! A filtered run updates only the cases it ran; the other lines of the files stay.

use crate::select::CaseArgs;
use anyhow::{bail, Context, Result};
use clap::Args;
use memmodel::Case;
use oom_suite::calibration::Calibration;
use oom_suite::worker::{WorkerCommand, WorkerKey, WorkerPool};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Args, Debug)]
pub struct CalibrateArgs {
    #[command(flatten)]
    pub cases: CaseArgs,
    /// Where the golden files go.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Skip the NO_DISPATCH capture of copying reshapes whose host page map takes tens of
    /// seconds (their lines then carry no peaks and no trace).
    #[arg(long)]
    pub skip_slow: bool,
    /// Worker threads (each drives one worker process at a time).
    #[arg(long, default_value_t = 2)]
    pub jobs: usize,
    /// Seconds one case may take before its worker is killed.
    #[arg(long, default_value_t = 600)]
    pub timeout: u64,
}

/// `meta.json`: how the golden files were made.
#[derive(Debug, Serialize, Deserialize)]
pub struct Meta {
    /// The runtime each board's workers reported (`ttnn 0.81.1 (mock n150)`).
    pub runtime_versions: BTreeMap<String, String>,
    /// The command of the last calibration.
    pub command: String,
    /// Cases in the files.
    pub cases: usize,
    /// Cases the last calibration ran, and how long it took.
    pub last_run_cases: usize,
    pub last_run_seconds: f64,
}

pub fn golden_dir() -> PathBuf {
    crate::paths::workspace_root().join("crates/memmodel/tests/golden/calibration")
}

/// The command line as typed (`cargo xtask calibrate --op add`).
fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!("cargo xtask {}", args.join(" "))
}

/// Runs `cases` on metal in worker processes; `done` gets each calibration as it arrives.
pub fn calibrate_on_metal(
    cases: &[Case],
    measure_slow: bool,
    jobs: usize,
    timeout: Duration,
    mut done: impl FnMut(usize, Calibration, &str),
) -> Result<()> {
    crate::oom::ensure_runtime()?;
    if jobs == 0 {
        bail!("--jobs must be at least 1");
    }
    let command = WorkerCommand::current_exe(&[])
        .context("locating the xtask binary for worker processes")?;
    let pool = WorkerPool::new(command, Duration::from_secs(120), timeout);
    let mut groups: BTreeMap<WorkerKey, Vec<usize>> = BTreeMap::new();
    for (i, c) in cases.iter().enumerate() {
        groups.entry(WorkerKey::of(c)).or_default().push(i);
    }
    // Largest groups first, so the two threads finish together.
    let mut groups: Vec<Vec<usize>> = groups.into_values().collect();
    groups.sort_by_key(|g| std::cmp::Reverse(g.len()));
    let queue = Mutex::new(groups.into_iter().collect::<VecDeque<_>>());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        for _ in 0..jobs.min(16) {
            let (queue, pool, tx) = (&queue, &pool, tx.clone());
            scope.spawn(move || loop {
                let next = queue.lock().unwrap_or_else(|p| p.into_inner()).pop_front();
                let Some(group) = next else { break };
                for i in group {
                    let (c, version) = pool.calibrate(&cases[i], measure_slow);
                    if tx.send((i, c, version)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(tx);
        for (i, c, version) in rx {
            done(i, c, &version);
        }
    });
    pool.shutdown();
    Ok(())
}

fn read_lines(path: &Path) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    if !path.exists() {
        return Ok(out);
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let c: Calibration = serde_json::from_str(line)
            .with_context(|| format!("{}:{}: not a calibration line", path.display(), n + 1))?;
        out.insert(c.id, line.to_string());
    }
    Ok(out)
}

pub fn run(args: CalibrateArgs) -> Result<()> {
    let start = Instant::now();
    let cases = args.cases.select()?;
    if cases.is_empty() {
        bail!("no case selected");
    }
    let out = args.out.clone().unwrap_or_else(golden_dir);
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let total = cases.len();
    eprintln!("calibrating {total} cases on the real runtime (normal mode + NO_DISPATCH capture)");
    let mut results: Vec<Option<Calibration>> = vec![None; total];
    let mut versions: BTreeMap<String, String> = BTreeMap::new();
    let mut finished = 0usize;
    let mut errors = 0usize;
    calibrate_on_metal(
        &cases,
        !args.skip_slow,
        args.jobs,
        Duration::from_secs(args.timeout.max(1)),
        |i, c, version| {
            finished += 1;
            if c.outcome == "error" {
                errors += 1;
            }
            if !version.is_empty() {
                let board = cases[i].device.name.to_string();
                versions.entry(board).or_insert_with(|| version.to_string());
            }
            if finished.is_multiple_of(250) || finished == total {
                eprintln!(
                    "  {finished}/{total} cases, {:.0} s",
                    start.elapsed().as_secs_f64()
                );
            }
            results[i] = Some(c);
        },
    )?;
    // Merge into the files, op by op.
    let mut by_op: BTreeMap<&str, Vec<Calibration>> = BTreeMap::new();
    for (case, c) in cases.iter().zip(results) {
        let c = c.context("a case got no calibration")?;
        by_op.entry(case.op.name).or_default().push(c);
    }
    for (op, cals) in by_op {
        let path = out.join(format!("{op}.jsonl"));
        let mut lines = read_lines(&path)?;
        for c in cals {
            lines.insert(c.id.clone(), serde_json::to_string(&c)?);
        }
        let mut f = std::io::BufWriter::new(
            std::fs::File::create(&path).with_context(|| format!("writing {}", path.display()))?,
        );
        for line in lines.values() {
            writeln!(f, "{line}")?;
        }
        f.flush()?;
    }
    let meta_path = out.join("meta.json");
    let mut meta: Meta = std::fs::read_to_string(&meta_path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Meta {
            runtime_versions: BTreeMap::new(),
            command: String::new(),
            cases: 0,
            last_run_cases: 0,
            last_run_seconds: 0.0,
        });
    meta.runtime_versions.extend(versions);
    meta.command = command_line();
    meta.last_run_cases = total;
    meta.last_run_seconds = (start.elapsed().as_secs_f64() * 10.0).round() / 10.0;
    let mut n = 0;
    for entry in std::fs::read_dir(&out)? {
        let p = entry?.path();
        if p.extension().and_then(|e| e.to_str()) == Some("jsonl") {
            n += read_lines(&p)?.len();
        }
    }
    meta.cases = n;
    std::fs::write(&meta_path, serde_json::to_string_pretty(&meta)? + "\n")
        .with_context(|| format!("writing {}", meta_path.display()))?;
    eprintln!(
        "{total} cases calibrated in {:.1} s ({errors} errors) → {}",
        start.elapsed().as_secs_f64(),
        out.display()
    );
    Ok(())
}
