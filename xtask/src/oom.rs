//! `cargo xtask oom`: the main job. Runs every selected case on a device and writes the report
//! (`report.json`, `report.md`, `report.html`, `junit.xml`) to `target/oom-report/`.
//!
//! On the real runtime (`--backend metal`) each operator runs in its own worker process per
//! board, `--jobs` at a time, with a per-case timeout: a hang or an abort inside the runtime
//! costs that one case (reported `timed_out` / `crashed`), the worker is restarted for the rest,
//! and the run goes on.

use crate::select::CaseArgs;
use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use memmodel::Case;
use oom_suite::record::{CaseRecord, FixRecord, Report, Totals};
use oom_suite::runner::{CaseRunner, RunOptions, SimRunner};
use oom_suite::spill::Spill;
use oom_suite::worker::{failure_record, Worker, WorkerCommand, WorkerFailure, WorkerKey};
use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Args, Debug)]
pub struct OomArgs {
    #[command(flatten)]
    pub cases: CaseArgs,
    /// Which device answers: `sim` (embedded: memmodel's plans on tt-metal's allocator rules,
    /// nothing to install, the whole matrix in about a minute) or `metal` (the real TT-NN
    /// runtime in worker processes; mock device unless on hardware; set up on first use).
    #[arg(long, default_value = "sim")]
    pub backend: String,
    /// Worker processes at a time.
    #[arg(long, default_value_t = 2)]
    pub jobs: usize,
    /// Seconds a single case may take before its worker is killed (`timed_out`).
    #[arg(long, default_value_t = 300)]
    pub timeout: u64,
    /// Where the report goes.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Run only slice K of N of the matrix (deterministic; merge with `cargo xtask report --merge`).
    #[arg(long, value_name = "K/N")]
    pub partition: Option<String>,
    /// Skip the NO_DISPATCH measurement of each case (faster; no per-core peaks).
    #[arg(long)]
    pub no_measure: bool,
    /// Compare with a saved report.json and fail on regressions: a case that fitted now fails
    /// for memory, its bytes per bank (or per core) grew, it now errors, crashes, times out or
    /// leaks. The report is written either way.
    #[arg(long, value_name = "REPORT_JSON")]
    pub baseline: Option<PathBuf>,
    /// For every case that does not fit, find the cheapest change that does (memmodel's fix
    /// planner) and re-run the changed case on the device to verify it: a `fix` per case in
    /// report.json and a Fix section in every report format.
    #[arg(long)]
    pub fix: bool,
    /// Also run each selected case as a one-call model and write it as a TT-NN report
    /// (DIR/<op>-<n>-<board>-<backend>/db.sqlite) that ttnn-visualizer opens; check them with
    /// `cargo xtask visualizer-check DIR`. Metal: one board per run (`--device`).
    #[arg(long, value_name = "DIR")]
    pub visualizer: Option<PathBuf>,
}

/// Exit status of a run stopped by SIGINT / SIGTERM (128 + SIGINT, as shells report it).
pub const INTERRUPTED_EXIT: i32 = 130;

/// SIGINT / SIGTERM / SIGHUP: cancel every worker wait (workers are killed, no new ones start)
/// so the run stops within a fraction of a second and writes no report; a second signal exits
/// at once.
fn install_signal_handler() -> Result<()> {
    static SEEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    let installed = ctrlc::set_handler(|| {
        if SEEN.swap(true, std::sync::atomic::Ordering::SeqCst) {
            std::process::exit(INTERRUPTED_EXIT);
        }
        eprintln!("\ninterrupted: stopping the workers; no report will be written");
        oom_suite::worker::cancel_all();
    });
    match installed {
        Ok(()) => Ok(()),
        // Installed already (tests that call run twice in one process): the first one serves.
        Err(ctrlc::Error::MultipleHandlers) => Ok(()),
        Err(e) => Err(anyhow::anyhow!(
            "installing the SIGINT/SIGTERM handler: {e}"
        )),
    }
}

/// Fails unless a file can be created in `dir` (checked before the run, not after it).
fn check_writable(dir: &std::path::Path) -> Result<()> {
    let probe = dir.join(format!(".ttnn-oom-write-check-{}", std::process::id()));
    std::fs::write(&probe, b"")
        .with_context(|| format!("the report directory {} is not writable", dir.display()))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Reads the --baseline report (before the run: a bad file should not cost a run).
fn load_baseline(path: &std::path::Path) -> Result<Report> {
    oom_suite::report::load(path).map_err(|e| anyhow::anyhow!("--baseline: {e}"))
}

/// `k/n` → (k, n), 1 ≤ k ≤ n.
pub fn parse_partition(text: &str) -> Result<(usize, usize)> {
    let (k, n) = text
        .split_once('/')
        .with_context(|| format!("--partition {text}: expected K/N, e.g. 1/4"))?;
    let k: usize = k
        .trim()
        .parse()
        .with_context(|| format!("--partition {text}: K is not a number"))?;
    let n: usize = n
        .trim()
        .parse()
        .with_context(|| format!("--partition {text}: N is not a number"))?;
    if n == 0 || k == 0 || k > n {
        bail!("--partition {text}: need 1 <= K <= N");
    }
    Ok((k, n))
}

/// Slice `k` of `n`: every n-th case of the matrix sorted by id, so slices are disjoint, cover
/// the matrix, and do not depend on the order of shapes.toml's sections.
pub fn partition(mut cases: Vec<Case>, k: usize, n: usize) -> Vec<Case> {
    cases.sort_by_cached_key(Case::id);
    cases
        .into_iter()
        .enumerate()
        .filter(|(i, _)| i % n == k - 1)
        .map(|(_, c)| c)
        .collect()
}

/// RFC 3339 UTC time of `t` (no calendar crate needed for this one format).
pub fn rfc3339(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// The real runtime must be set up before workers can open a device: do it now if it is not
/// (the README promises the main job installs what it needs).
pub fn ensure_runtime() -> Result<()> {
    if ttnn::metal::Manifest::load(&ttnn::metal::state_dir()).is_ok() {
        return Ok(());
    }
    eprintln!("the real TT-NN runtime is not set up yet: running `cargo xtask setup` first");
    let me = std::env::current_exe().context("locating the xtask binary")?;
    let status = std::process::Command::new(me)
        .arg("setup")
        .status()
        .context("running `cargo xtask setup`")?;
    if !status.success() {
        bail!("`cargo xtask setup` failed ({status}); the metal backend needs it");
    }
    Ok(())
}

/// Candidates tried per failing case on the real runtime before giving up on verifying one
/// (each costs a case on the device); sim tries every candidate (microseconds each).
const FIX_TRIES: usize = 3;

/// For each case that failed for memory: the cheapest fix the model proposes that also fits on
/// the device (tried in order, up to [`FIX_TRIES`]); boards run in parallel.
fn verify_fixes(
    cases: &[Case],
    failing: &[usize],
    runner: &dyn CaseRunner,
    opts: &RunOptions,
) -> BTreeMap<usize, FixRecord> {
    let verify_opts = RunOptions {
        measure: false,
        canary: false,
        ..opts.clone()
    };
    let mut boards: Vec<&'static str> = failing.iter().map(|&i| cases[i].device.name).collect();
    boards.sort();
    boards.dedup();
    std::thread::scope(|scope| {
        let handles: Vec<_> = boards
            .iter()
            .map(|&board| {
                let verify_opts = &verify_opts;
                scope.spawn(move || {
                    let mut out = Vec::new();
                    for &i in failing.iter().filter(|&&i| cases[i].device.name == board) {
                        if oom_suite::worker::cancelled() {
                            break;
                        }
                        if let Some(fix) = verify_one(runner, &cases[i], verify_opts) {
                            out.push((i, fix));
                        }
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

fn verify_one(runner: &dyn CaseRunner, case: &Case, opts: &RunOptions) -> Option<FixRecord> {
    let candidates = memmodel::fix::candidates(case);
    let first = candidates.first()?;
    let record_of = |fix: &memmodel::fix::Fix, verified: bool, note: Option<String>| FixRecord {
        kind: fix.kind.name().to_string(),
        detail: fix.detail.clone(),
        verified,
        verified_on: if verified {
            vec![opts.backend.clone()]
        } else {
            Vec::new()
        },
        case_id: fix.case.id(),
        pieces: fix.pieces,
        note,
    };
    let mut last_note = None;
    let tries = if opts.backend == "sim" {
        candidates.len()
    } else {
        FIX_TRIES
    };
    for fix in candidates.iter().take(tries) {
        if let Some(why) = oom_suite::runner::too_slow_to_measure(&fix.case) {
            last_note = Some(format!("not re-run: {why}"));
            continue;
        }
        let record = runner.run(&fix.case, opts);
        if record.class == oom_suite::record::Class::Fits {
            let note = fix
                .mesh
                .map(|m| format!("verified for one chip of a {}; the mesh is modeled", m.name));
            return Some(record_of(fix, true, note));
        }
        last_note = Some(format!(
            "re-run ended {}: {}",
            record.class.name(),
            record.message.lines().next().unwrap_or("")
        ));
    }
    Some(record_of(first, false, last_note))
}

/// What one operator's worker process did.
struct GroupStats {
    op: &'static str,
    device: &'static str,
    cases: usize,
    elapsed: Duration,
    /// Time from spawning a worker to its device being open, per start.
    startups: Vec<Duration>,
}

enum Event {
    Started {
        op: &'static str,
    },
    Done {
        index: usize,
        record: Box<CaseRecord>,
    },
    Group(GroupStats),
}

fn style() -> ProgressStyle {
    ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg}")
        .expect("a valid template")
        .progress_chars("=> ")
}

fn counts_label(op: &str, t: &Totals) -> String {
    format!(
        "{op:<18} fits {} · OOM {} · other {} · crashed {} · unmodeled {}",
        t.fits,
        t.oom,
        t.cb_clash + t.l1_small + t.error,
        t.crashed + t.timed_out,
        t.unmodeled
    )
}

/// Run the cases of one (board, op) group in one worker process, restarting it after a crash.
fn run_group(
    command: &WorkerCommand,
    key: &WorkerKey,
    cases: &[(usize, &Case)],
    opts: &RunOptions,
    timeout: Duration,
    events: &mpsc::Sender<Event>,
    worker: &mut Option<Worker>,
) {
    let group_start = Instant::now();
    let mut stats = GroupStats {
        op: cases.first().map_or("", |(_, c)| c.op.name),
        device: key.device,
        cases: cases.len(),
        elapsed: Duration::ZERO,
        startups: Vec::new(),
    };
    if worker.as_ref().is_some_and(|w| w.key() != key) {
        if let Some(w) = worker.take() {
            w.finish();
        }
    }
    for &(index, case) in cases {
        if oom_suite::worker::cancelled() {
            break;
        }
        let _ = events.send(Event::Started { op: case.op.name });
        if worker.is_none() {
            let started = Instant::now();
            match Worker::spawn(command, key, Duration::from_secs(120)) {
                Ok(w) => {
                    stats.startups.push(started.elapsed());
                    *worker = Some(w);
                }
                Err(failure) => {
                    let _ = events.send(Event::Done {
                        index,
                        record: Box::new(failure_record(case, &failure, opts)),
                    });
                    if matches!(failure, WorkerFailure::Fatal(_)) {
                        // Starting again will not help: report every remaining case the same way.
                        for &(index, case) in cases.iter().skip_while(|(i, _)| *i != index).skip(1)
                        {
                            let _ = events.send(Event::Done {
                                index,
                                record: Box::new(failure_record(case, &failure, opts)),
                            });
                        }
                        stats.elapsed = group_start.elapsed();
                        let _ = events.send(Event::Group(stats));
                        return;
                    }
                    continue;
                }
            }
        }
        let w = worker.as_mut().expect("spawned above");
        let opts = RunOptions {
            runtime_version: w.runtime_version.clone(),
            ..opts.clone()
        };
        let record = match w.run(case, &opts, timeout) {
            Ok(record) => record,
            Err(failure) => {
                *worker = None;
                failure_record(case, &failure, &opts)
            }
        };
        let _ = events.send(Event::Done {
            index,
            record: Box::new(record),
        });
    }
    stats.elapsed = group_start.elapsed();
    let _ = events.send(Event::Group(stats));
}

pub fn run(args: OomArgs) -> Result<()> {
    install_signal_handler()?;
    let started_at = std::time::SystemTime::now();
    let start = Instant::now();
    let backend: ttnn::Backend = args
        .backend
        .parse()
        .map_err(|e: String| anyhow::anyhow!("--backend: {e}"))?;
    if args.jobs == 0 {
        bail!("--jobs must be at least 1");
    }
    let mut cases = args.cases.select()?;
    let baseline = args.baseline.as_deref().map(load_baseline).transpose()?;
    if backend == ttnn::Backend::Metal {
        ensure_runtime()?;
    }
    if args.visualizer.is_some() {
        crate::visualizer::check_cases(&cases, backend)?;
    }
    if let Some(p) = &args.partition {
        let (k, n) = parse_partition(p)?;
        cases = partition(cases, k, n);
        if cases.is_empty() {
            bail!("--partition {p}: this slice is empty");
        }
    }
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| crate::paths::workspace_root().join("target/oom-report"));
    // Fail on an unusable output directory before spending minutes on the device.
    std::fs::create_dir_all(&out)
        .with_context(|| format!("creating the report directory {}", out.display()))?;
    check_writable(&out)?;

    // Groups: one worker process per (board and L1_SMALL, op), in op order.
    let mut groups: BTreeMap<(&'static str, WorkerKey), Vec<(usize, &Case)>> = BTreeMap::new();
    for (i, case) in cases.iter().enumerate() {
        groups
            .entry((case.op.name, WorkerKey::of(case)))
            .or_default()
            .push((i, case));
    }
    let queue: Mutex<VecDeque<_>> = Mutex::new(groups.into_iter().collect());
    let command = WorkerCommand::current_exe(&[])
        .context("locating the xtask binary for worker processes")?;
    let opts = RunOptions {
        backend: backend.name().into(),
        runtime_version: String::new(),
        measure: !args.no_measure,
        canary: true,
        execute: true,
    };
    let timeout = Duration::from_secs(args.timeout.max(1));

    let progress = ProgressBar::new(cases.len() as u64).with_style(style());
    // Records go to disk as they finish: the run's memory does not grow with the matrix.
    let mut spill = Spill::create(&out, cases.len())
        .with_context(|| format!("creating the record spill in {}", out.display()))?;
    let mut spill_error: Option<std::io::Error> = None;
    // The cases that failed for memory (what --fix works on).
    let mut memory_failures: Vec<usize> = Vec::new();
    let mut keep = |spill: &mut Spill, index: usize, record: &CaseRecord| {
        if record.class.is_memory_failure() {
            memory_failures.push(index);
        }
        if let Err(e) = spill.push(index, record) {
            spill_error.get_or_insert(e);
        }
    };
    let mut startups = Vec::new();
    if backend == ttnn::Backend::Sim {
        // In process: microseconds a case, nothing to isolate.
        let runner = SimRunner::new();
        for (i, case) in cases.iter().enumerate() {
            if oom_suite::worker::cancelled() {
                break;
            }
            let record = runner.run(case, &opts);
            keep(&mut spill, i, &record);
            progress.inc(1);
            if i % 256 == 0 {
                progress.set_message(counts_label(case.op.name, spill.totals()));
            }
        }
    }
    let (tx, rx) = mpsc::channel();
    let jobs = if backend == ttnn::Backend::Sim {
        0
    } else {
        args.jobs.min(64)
    };
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            let tx = tx.clone();
            let (queue, command, opts) = (&queue, &command, &opts);
            scope.spawn(move || {
                // One worker process per thread, kept across ops while the board and L1_SMALL
                // stay the same: a device opens once per board, not once per op.
                let mut worker: Option<Worker> = None;
                loop {
                    let next = {
                        let mut queue = queue.lock().unwrap_or_else(|p| p.into_inner());
                        let same_key = worker
                            .as_ref()
                            .and_then(|w| queue.iter().position(|((_, key), _)| key == w.key()));
                        match same_key {
                            Some(i) => queue.remove(i),
                            None => queue.pop_front(),
                        }
                    };
                    let Some(((_, key), group)) = next else { break };
                    run_group(command, &key, &group, opts, timeout, &tx, &mut worker);
                }
                if let Some(w) = worker {
                    w.finish();
                }
            });
        }
        drop(tx);
        let mut current = "";
        for event in rx {
            match event {
                Event::Started { op } => current = op,
                Event::Done { index, record } => {
                    keep(&mut spill, index, &record);
                    progress.inc(1);
                    progress.set_message(counts_label(current, spill.totals()));
                }
                Event::Group(stats) => {
                    // Without a terminal (CI logs) the bar is hidden: say what finished.
                    if progress.is_hidden() {
                        eprintln!(
                            "{:<18} {:<5} {:>5} cases in {:>6.1} s  ({})",
                            stats.op,
                            stats.device,
                            stats.cases,
                            stats.elapsed.as_secs_f64(),
                            counts_label("", spill.totals()).trim_start()
                        );
                    }
                    startups.extend(stats.startups);
                }
            }
        }
    });
    progress.finish_and_clear();
    if oom_suite::worker::cancelled() {
        // Every worker was killed and waited for when its group returned; nothing was written
        // but the record spill, removed here (process::exit runs no destructors).
        drop(spill);
        eprintln!(
            "interrupted after {:.1} s: workers stopped, no report written to {}",
            start.elapsed().as_secs_f64(),
            out.display()
        );
        std::process::exit(INTERRUPTED_EXIT);
    }

    // A case that never reported is a crash, spilled like the others.
    for (i, case) in cases.iter().enumerate() {
        if !spill.has(i) {
            let failure = WorkerFailure::Crashed("the run ended before this case reported".into());
            keep(&mut spill, i, &failure_record(case, &failure, &opts));
        }
    }
    if let Some(e) = spill_error {
        bail!("writing the record spill in {}: {e}", out.display());
    }
    let fixes = if args.fix {
        match backend {
            ttnn::Backend::Sim => verify_fixes(&cases, &memory_failures, &SimRunner::new(), &opts),
            ttnn::Backend::Metal => {
                let pool = oom_suite::worker::WorkerPool::new(
                    command.clone(),
                    Duration::from_secs(120),
                    timeout,
                );
                let fixes = verify_fixes(&cases, &memory_failures, &pool, &opts);
                pool.shutdown();
                fixes
            }
        }
    } else {
        BTreeMap::new()
    };
    // Before the cases are dropped: each selected case becomes a one-call report.
    if let Some(dir) = &args.visualizer {
        for folder in crate::visualizer::export_cases(dir, &cases, backend)? {
            println!("TT-NN report (ttnn-visualizer): {}", folder.display());
        }
    }
    // The records say all the report needs of the cases from here on.
    let cases_len = cases.len();
    drop(cases);
    let totals = spill.totals().clone();
    let mut spilled = spill
        .finish()
        .with_context(|| format!("reading back the record spill in {}", out.display()))?;
    // Case `i`'s whole record, with its fix.
    let mut record_at = |i: usize| -> std::io::Result<CaseRecord> {
        let mut record = spilled.get(i)?.ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("case {i} is not in the spill"),
            )
        })?;
        if let Some(fix) = fixes.get(&i) {
            record.fix = Some(fix.clone());
        }
        Ok(record)
    };
    let spill_read = || format!("reading back the record spill in {}", out.display());
    // The runtime that answered, from the first record that names it.
    let mut runtime_version = String::new();
    for i in 0..cases_len {
        let record = record_at(i).with_context(spill_read)?;
        if !record.runtime_version.is_empty() {
            runtime_version = record.runtime_version;
            break;
        }
    }
    // The report's head: every file is made from the spilled records, one at a time.
    let report = Report {
        tool: format!("ttnn-oom {}", env!("CARGO_PKG_VERSION")),
        generated_at: rfc3339(started_at),
        command: std::iter::once("cargo xtask oom".to_string())
            .chain(std::env::args().skip(2))
            .collect::<Vec<_>>()
            .join(" "),
        backend: backend.name().into(),
        runtime_version,
        shapes_file: args
            .cases
            .shapes
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "shapes.toml".into()),
        partition: args.partition.clone(),
        wall_time_ms: start.elapsed().as_secs_f64() * 1000.0,
        totals,
        cases: Vec::new(),
        thresholds: Vec::new(),
    };
    let (written, analysis) =
        oom_suite::report::write_all_streamed(&report, cases_len, &mut record_at, &out)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("{}", analysis.summary_with(&written));
    if !startups.is_empty() {
        startups.sort();
        let median = startups[startups.len() / 2];
        let total: Duration = startups.iter().sum();
        println!(
            "worker processes: {} started, median {:.0} ms to an open device, {:.1} s in all",
            startups.len(),
            median.as_secs_f64() * 1000.0,
            total.as_secs_f64()
        );
    }
    let mut failures = Vec::new();
    if let Some(baseline) = &baseline {
        let path = args
            .baseline
            .as_deref()
            .unwrap_or(std::path::Path::new("?"));
        let comparison = oom_suite::baseline::compare_streamed(
            baseline,
            &report.backend,
            cases_len,
            &mut record_at,
        )
        .with_context(spill_read)?
        .map_err(|e| anyhow::anyhow!("--baseline {}: {e}", path.display()))?;
        print!("{comparison}");
        if !comparison.passed() {
            failures.push(format!(
                "{} regression(s) against the baseline {}",
                comparison.regressions.len(),
                path.display()
            ));
        }
    }
    let broken = analysis.broken;
    if broken > 0 {
        failures.push(format!(
            "{broken} case(s) left device memory allocated or the device unusable"
        ));
    }
    let (crashed, timed_out) = (report.totals.crashed, report.totals.timed_out);
    if crashed + timed_out > 0 {
        failures.push(format!(
            "{crashed} case(s) crashed and {timed_out} timed out (their worker processes died or hung; the other cases ran)"
        ));
    }
    if !failures.is_empty() {
        bail!("{}; see the report", failures.join("; "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_are_disjoint_and_cover() {
        let args = CaseArgs {
            op: vec!["silu".into(), "add".into()],
            ..Default::default()
        };
        let all = args.select().unwrap();
        let mut seen: Vec<String> = Vec::new();
        for k in 1..=3 {
            seen.extend(partition(all.clone(), k, 3).iter().map(Case::id));
        }
        let mut expected: Vec<String> = all.iter().map(Case::id).collect();
        seen.sort();
        expected.sort();
        assert_eq!(seen, expected);
        assert!(parse_partition("0/3").is_err());
        assert!(parse_partition("4/3").is_err());
        assert_eq!(parse_partition("2/3").unwrap(), (2, 3));
    }

    #[test]
    fn timestamps_are_rfc3339() {
        let t = std::time::UNIX_EPOCH + Duration::from_secs(1_795_395_600);
        assert_eq!(rfc3339(t), "2026-11-23T01:00:00Z");
        assert_eq!(rfc3339(std::time::UNIX_EPOCH), "1970-01-01T00:00:00Z");
    }
}
