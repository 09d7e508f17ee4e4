//! The OOM suite, generated from shapes.toml: for every case
//! - `oom/<case id>`: the case runs on the device. It fits → pass. The device raises an
//!   out-of-memory error → ignored, with an "Expected OOM: ..." message; so is a
//!   circular-buffer clash that shapes.toml lists under `[[expect]]`. Anything else (another
//!   circular-buffer clash, L1_SMALL, an invalid argument, a crash, a success where shapes.toml
//!   says must-OOM, memory not back at its baseline, a failing one-element canary after an OOM)
//!   → fail with the raw message.
//! - `estimate/<case id>`: theoretical (logical) bytes, modeled (memmodel) buffers and the
//!   actual buffers of a NO_DISPATCH capture; every modeled buffer must be among the actual
//!   ones to the byte, and the overhead factor actual/theoretical is reported.
//!
//! Backend: the real runtime (`metal`) on a mock device, in worker processes (one per board and
//! L1_SMALL size; tt-metal keeps one mock cluster per process). Where `cargo xtask setup` has not
//! been run, every test reports itself ignored with a message saying so.
//!
//! Environment: `TTNN_OOM_SHAPES` (another shapes.toml), `TTNN_OOM_CASE_TIMEOUT` (seconds).
//! Filter like any test binary: `cargo test -p oom-suite --test oom -- oom/silu/`.

use libtest_mimic::{Arguments, Completion, Failed, Trial};
use memmodel::gaps::{GapKind, KnownGaps};
use memmodel::Case;
use oom_suite::record::{CaseRecord, Class};
use oom_suite::runner::RunOptions;
use oom_suite::worker::{WorkerCommand, WorkerKey, WorkerPool};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

fn shapes_path() -> PathBuf {
    std::env::var_os("TTNN_OOM_SHAPES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            // At run time first: `cargo nextest run --archive-file ... --workspace-remap` points
            // CARGO_MANIFEST_DIR at the workspace on the machine that runs the archive.
            let crate_dir = std::env::var_os("CARGO_MANIFEST_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
            crate_dir.join("../../shapes.toml")
        })
}

/// Why the real runtime cannot be used here, if it cannot.
fn runtime_missing() -> Option<String> {
    match ttnn::metal::Manifest::load(&ttnn::metal::state_dir()) {
        Ok(_) => None,
        Err(e) => Some(format!(
            "skipped: the real TT-NN runtime is not set up ({e}); run `cargo xtask setup`"
        )),
    }
}

fn options(measure: bool, execute: bool) -> RunOptions {
    RunOptions {
        backend: "metal".into(),
        runtime_version: String::new(),
        measure,
        canary: execute,
        execute,
    }
}

fn pool() -> &'static WorkerPool {
    static POOL: OnceLock<WorkerPool> = OnceLock::new();
    POOL.get_or_init(|| {
        let timeout = std::env::var("TTNN_OOM_CASE_TIMEOUT")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(300);
        let command = WorkerCommand::current_exe(&[]).expect("the test binary can find itself");
        WorkerPool::new(
            command,
            Duration::from_secs(120),
            Duration::from_secs(timeout),
        )
    })
}

fn oom_test(case: &Case) -> Result<Completion, Failed> {
    let record = pool().run(case, &options(false, true));
    judge(&record)
}

fn judge(record: &CaseRecord) -> Result<Completion, Failed> {
    if let Some(why) = record.expectation_broken() {
        return Err(format!("{why}: {}", record.message).into());
    }
    if record.leaked_bytes > 0 {
        return Err(format!(
            "device memory did not return to its baseline: {} B per bank still allocated ({})",
            record.leaked_bytes,
            record.class.name()
        )
        .into());
    }
    if record.canary_ok == Some(false) {
        return Err(format!(
            "the one-element canary failed after this {}: the device is not usable",
            record.class.name()
        )
        .into());
    }
    match record.class {
        Class::Fits => Ok(Completion::Completed),
        Class::Oom => Ok(Completion::ignored_with(record.expected_oom_message())),
        // Only a clash shapes.toml lists (with its reason) is expected; any other fails.
        Class::CbClash if record.expect == "must_cb_clash" => Ok(Completion::ignored_with(
            format!("Expected CB clash: {}", record.message),
        )),
        other => Err(format!("{}: {}", other.name(), record.message).into()),
    }
}

/// `model-gaps.toml`, beside the workspace's shapes.toml: the cases whose plan is known to
/// differ from the runtime, with reasons.
fn known_gaps() -> &'static KnownGaps {
    static GAPS: OnceLock<KnownGaps> = OnceLock::new();
    GAPS.get_or_init(|| {
        let crate_dir = std::env::var_os("CARGO_MANIFEST_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
        let path = crate_dir.join("../../model-gaps.toml");
        match std::fs::read_to_string(&path) {
            Ok(text) => KnownGaps::parse(&text, &path.display().to_string()).unwrap_or_else(|e| {
                eprintln!("{e}");
                std::process::exit(2)
            }),
            Err(_) => KnownGaps::default(),
        }
    })
}

/// How the runner words a NO_DISPATCH capture that failed.
const NOT_MEASURABLE: &str = "measuring in NO_DISPATCH mode failed:";

fn estimate_test(case: &Case, verbose: bool) -> Result<Completion, Failed> {
    // No plan (an op or region memmodel does not model): nothing to hold to the runtime's
    // buffers, and nothing to measure for it (the runtime's own capture can fail there, e.g.
    // to_layout's untilize of [1,1,129600,384]: "Kernel 'compute_cliff_col' references unknown
    // DFB"); oom/<id> runs the case for real.
    // A region coverage.rs gates (planned, not yet exact: conv2d's DRAM_HEIGHT / DRAM_WIDTH
    // with the count left to the runtime) has no verdict either: its plan is not held to the
    // runtime until it is un-gated.
    for result in [case.plan().map(|_| ()), case.estimate().map(|_| ())] {
        if let Err(e) = result {
            if memmodel::exec::is_unmodeled(&e) {
                return Ok(Completion::ignored_with(format!(
                    "no memmodel plan to compare: {e}"
                )));
            }
        }
    }
    let record = pool().run(case, &options(true, false));
    // Huge cases that fail for memory in normal mode can also be refused by the op itself inside
    // the capture, where no allocation is checked (max_pool2d at 4K: "number of CB pages 130560
    // is greater than 65535"): nothing to measure. oom/<id> runs the case for real.
    if record.class == Class::Error
        && record.message.starts_with(NOT_MEASURABLE)
        && case.estimate().is_ok_and(|e| e.verdict.is_oom())
    {
        return Ok(Completion::ignored_with(format!(
            "not measurable: the runtime refuses the op without memory checks, and the case fails for memory in normal mode (oom/{}): {}",
            case.id(),
            &record.message[NOT_MEASURABLE.len()..].trim()
        )));
    }
    if record.class == Class::Error
        || record.class == Class::Crashed
        || record.class == Class::TimedOut
    {
        return Err(format!("{}: {}", record.class.name(), record.message).into());
    }
    if let Some(why) = &record.measure_note {
        return Ok(Completion::ignored_with(why.clone()));
    }
    let plan = match case.plan() {
        Ok(plan) => plan,
        // No plan (conv2d for now): nothing modeled to hold to the runtime's buffers.
        Err(e) if memmodel::exec::is_unmodeled(&e) => {
            return Ok(Completion::ignored_with(format!(
                "no memmodel plan to compare: {e}"
            )))
        }
        Err(e) => return Err(e.to_string().into()),
    };
    // Every modeled buffer must be one the runtime allocated, to the byte.
    let mut actual = record.captured_buffers.clone();
    for buffer in &plan.buffers {
        let p = &buffer.placement;
        // A capture names some buffers by another memory than they live in (max_pool2d's
        // config tensors sit in L1_SMALL and are reported as L1): compare what it reports.
        let reported = p.traced_as.unwrap_or(p.buffer_type).tt_name();
        let found = actual.iter().position(|a| {
            a.size == p.total_bytes
                && a.per_bank_bytes == p.per_bank_bytes
                && a.buffer_type == reported
        });
        match found {
            Some(i) => {
                actual.swap_remove(i);
            }
            None => {
                let id = case.id();
                if let Some(why) = known_gaps().reason(&id, GapKind::CbPeak) {
                    return Ok(Completion::ignored_with(format!(
                        "known model gap (model-gaps.toml): {why}"
                    )));
                }
                return Err(format!(
                    "modeled {} ({} B, {} B per bank, {}) is not among the runtime's buffers: {:?}",
                    buffer.name(),
                    p.total_bytes,
                    p.per_bank_bytes,
                    reported,
                    record.captured_buffers
                )
                .into());
            }
        }
    }
    let modeled: u64 = plan.buffers.iter().map(|b| b.placement.total_bytes).sum();
    let theoretical = record.logical_bytes;
    let actual_total = record.case_allocated_bytes;
    if theoretical == 0 || actual_total < modeled {
        return Err(format!("inconsistent sizes: theoretical {theoretical} B, modeled {modeled} B, actual {actual_total} B").into());
    }
    let overhead = actual_total as f64 / theoretical as f64;
    if (overhead - record.overhead_factor).abs() > 0.001 {
        return Err(format!(
            "overhead factor {} does not match actual/theoretical {overhead:.3}",
            record.overhead_factor
        )
        .into());
    }
    // One line per case is 10k lines: shown with --nocapture only.
    if !verbose {
        return Ok(Completion::Completed);
    }
    println!(
        "{}: theoretical {theoretical} B, modeled {modeled} B, actual {actual_total} B ({} buffers), overhead x{overhead:.2}, peak CB {} B/core, peak L1 {} B/core",
        case.id(),
        record.captured_buffers.len(),
        record.peak_cb_per_core.unwrap_or(0),
        record.peak_l1_per_core.unwrap_or(0)
    );
    Ok(Completion::Completed)
}

fn main() {
    if oom_suite::worker::serve_if_worker() {
        return;
    }
    let args = Arguments::from_args();
    let verbose = args.nocapture;
    let path = shapes_path();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        eprintln!("reading {}: {e}", path.display());
        std::process::exit(2)
    });
    let matrix = memmodel::config::parse(&text, &path.display().to_string()).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2)
    });
    let mut cases = matrix.cases;
    // Group by worker so a board's cases share one process; keep matrix order within.
    cases.sort_by_cached_key(WorkerKey::of);
    let missing = runtime_missing().map(Arc::new);
    if let Some(why) = &missing {
        if !args.list {
            eprintln!("{why}");
        }
    }
    let mut trials = Vec::with_capacity(cases.len() * 2);
    for case in cases {
        let id = case.id();
        let case = Arc::new(case);
        for (kind, estimate) in [("oom", false), ("estimate", true)] {
            let case = Arc::clone(&case);
            let missing = missing.clone();
            trials.push(Trial::ignorable_test(format!("{kind}/{id}"), move || {
                if let Some(why) = &missing {
                    return Ok(Completion::ignored_with(why.to_string()));
                }
                if estimate {
                    estimate_test(&case, verbose)
                } else {
                    oom_test(&case)
                }
            }));
        }
    }
    let conclusion = libtest_mimic::run(&args, trials);
    pool().shutdown();
    conclusion.exit();
}
