//! `cargo xtask bench --harness`: what `cargo xtask oom --backend metal --no-measure` costs over
//! the runtime it drives, end to end, side by side in one run.
//!
//! - **bare**: one Python process per board (the runtime's interpreter, set up as the worker's
//!   embedded one is) that imports the project's driver, opens the mock device once and makes,
//!   for each selected case, exactly the runtime calls a worker makes — `tensor_empty` for each
//!   input, `run` of the case's invocation, `tensor_free` of inputs and outputs — with nothing
//!   around them (no Rust process, no worker protocol, no allocator checks, no records).
//! - **harness**: `cargo xtask oom --backend metal --no-measure --jobs 1` on the same selection
//!   (the xtask binary itself, report writing included; one job, so both sides run one device
//!   at a time).
//!
//! Both are timed from process start to exit, alternately, `--repeat` times; the medians and
//! their ratio are printed. No timed assertion: this prints numbers.

use crate::select::CaseArgs;
use anyhow::{bail, Context, Result};
use memmodel::Case;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// The bare loop, run by the runtime's Python: argv = driver.py, the plan (JSON).
const BARE_LOOP: &str = r#"
import importlib.util, json, sys, time
start = time.perf_counter()
spec = importlib.util.spec_from_file_location("ttnn_oom_driver", sys.argv[1])
driver = importlib.util.module_from_spec(spec)
spec.loader.exec_module(driver)
with open(sys.argv[2]) as f:
    plan = json.load(f)
driver.init(plan["site_packages"])
imported = time.perf_counter()
dev = driver.device_open(0, plan["l1_small_size"], json.dumps(plan["device_env"]))
opened = time.perf_counter()
ok = failed = 0
for case in plan["cases"]:
    ids = []
    try:
        for shape, dtype, layout, memory in case["inputs"]:
            ids.append(driver.tensor_empty(dev, json.dumps(shape), dtype, layout, memory))
        ids.extend(driver.run(dev, case["invocation"], json.dumps(ids)))
        ok += 1
    except Exception:
        failed += 1
    for t in ids:
        driver.tensor_free(t)
ran = time.perf_counter()
driver.device_close(dev)
print(json.dumps({"ok": ok, "failed": failed, "import_s": imported - start,
                  "open_s": opened - imported, "cases_s": ran - opened}))
"#;

#[derive(Serialize)]
struct BarePlan {
    site_packages: String,
    l1_small_size: u64,
    device_env: BTreeMap<String, String>,
    cases: Vec<BareCase>,
}

#[derive(Serialize)]
struct BareCase {
    /// (shape, dtype, layout, the driver's memory code) per input.
    inputs: Vec<(Vec<u64>, String, String, i32)>,
    invocation: String,
}

#[derive(Debug, Serialize)]
struct Summary {
    cases: usize,
    boards: Vec<String>,
    repeats: usize,
    bare_s: Vec<f64>,
    harness_s: Vec<f64>,
    bare_median_s: f64,
    harness_median_s: f64,
    /// harness / bare, of the medians.
    ratio: f64,
    /// Of the bare loop's time: starting Python, importing the runtime and opening the device.
    bare_setup_median_s: f64,
    /// The cases' own calls: the bare loop's, and the harness's records' times summed (each
    /// record: the runner's whole run of the case in the worker, allocator checks included).
    bare_cases_median_s: f64,
    harness_cases_median_s: f64,
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// The bare loop's plan for the cases of one board (all need one L1_SMALL size).
fn bare_plan(manifest: &ttnn::metal::Manifest, board: &str, cases: &[&Case]) -> Result<BarePlan> {
    let mut l1_small_size = 0;
    let mut out = Vec::with_capacity(cases.len());
    for case in cases {
        let sig = case
            .signature()
            .map_err(|e| anyhow::anyhow!("{}: {e}", case.id()))?;
        l1_small_size = l1_small_size.max(sig.l1_small_bytes);
        let inputs = ttnn::case::input_descs(case, &sig)
            .into_iter()
            .map(|d| {
                (
                    d.shape.clone(),
                    d.dtype.to_string(),
                    d.layout.to_string(),
                    ttnn::metal::driver_memory_code(&d),
                )
            })
            .collect();
        out.push(BareCase {
            inputs,
            invocation: sig.invocation.to_json(),
        });
    }
    Ok(BarePlan {
        site_packages: manifest.site_packages.to_string_lossy().into_owned(),
        l1_small_size,
        device_env: manifest.device_environment(Some(board))?,
        cases: out,
    })
}

/// The bare loop's own count of the calls that ran through, and its phases.
#[derive(serde::Deserialize)]
struct BareOutcome {
    ok: usize,
    /// Starting Python and importing the runtime.
    import_s: f64,
    /// Opening the device.
    open_s: f64,
    /// The cases' calls.
    cases_s: f64,
}

/// One side's run: end to end, the part of it that is the cases' own calls, and how many ran
/// through.
struct SideRun {
    total_s: f64,
    cases_s: f64,
    ok: usize,
}

fn run_bare(
    manifest: &ttnn::metal::Manifest,
    driver: &Path,
    plan: &Path,
) -> Result<(f64, BareOutcome)> {
    let started = Instant::now();
    let out = Command::new(&manifest.python)
        .args(["-c", BARE_LOOP])
        .arg(driver)
        .arg(plan)
        .envs(manifest.environment())
        .output()
        .context("starting the runtime's Python")?;
    let elapsed = started.elapsed().as_secs_f64();
    if !out.status.success() {
        bail!(
            "the bare loop failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    let outcome: BareOutcome = serde_json::from_str(line)
        .with_context(|| format!("reading the bare loop's answer: {stdout}"))?;
    Ok((elapsed, outcome))
}

fn run_harness(selection: &[String], out_dir: &Path) -> Result<SideRun> {
    let exe = std::env::current_exe().context("locating the xtask binary")?;
    let started = Instant::now();
    let out = Command::new(exe)
        .args(["oom", "--backend", "metal", "--no-measure", "--jobs", "1"])
        .arg("--out")
        .arg(out_dir)
        .args(selection)
        .output()
        .context("starting cargo xtask oom")?;
    let elapsed = started.elapsed().as_secs_f64();
    // A memory failure does not fail `oom`; a crash, a leak or a timeout does.
    if !out.status.success() {
        bail!(
            "cargo xtask oom failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let report = oom_suite::report::load(&out_dir.join(oom_suite::report::REPORT_JSON))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    // Each record's time: the runner's whole run of the case in the worker (inputs, the op,
    // frees, the allocator checks before and after), as `bench` times it.
    let cases_ms: f64 = report.cases.iter().map(|c| c.elapsed_ms.max(0.0)).sum();
    Ok(SideRun {
        total_s: elapsed,
        cases_s: cases_ms / 1000.0,
        ok: report.totals.fits,
    })
}

pub fn run(cases_args: &CaseArgs, repeat: usize, json: bool) -> Result<()> {
    if repeat == 0 {
        bail!("--repeat must be at least 1");
    }
    let cases = cases_args.select()?;
    if cases.is_empty() {
        bail!("no case selected");
    }
    crate::oom::ensure_runtime()?;
    let manifest = ttnn::metal::Manifest::load(&ttnn::metal::state_dir())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let driver = crate::paths::workspace_root().join("crates/ttnn-sys/src/driver.py");
    let tmp = crate::paths::workspace_root().join("target/bench-harness");
    std::fs::create_dir_all(&tmp).with_context(|| format!("creating {}", tmp.display()))?;

    let mut by_board: BTreeMap<&str, Vec<&Case>> = BTreeMap::new();
    for c in &cases {
        by_board.entry(c.device.name).or_default().push(c);
    }
    let mut plans = Vec::new();
    for (board, cases) in &by_board {
        let path = tmp.join(format!("bare-{board}.json"));
        let plan = bare_plan(&manifest, board, cases)?;
        std::fs::write(&path, serde_json::to_vec(&plan)?)
            .with_context(|| format!("writing {}", path.display()))?;
        plans.push(path);
    }
    let selection = cases_args.to_cli();
    let (mut bare_s, mut harness_s) = (Vec::new(), Vec::new());
    let (mut bare_cases_s, mut harness_cases_s, mut bare_setup_s) =
        (Vec::new(), Vec::new(), Vec::new());
    let oom_dir = tmp.join("oom");
    for round in 0..repeat {
        let bare = || -> Result<(SideRun, f64)> {
            let mut side = SideRun {
                total_s: 0.0,
                cases_s: 0.0,
                ok: 0,
            };
            let mut setup_s = 0.0;
            for plan in &plans {
                let (s, outcome) = run_bare(&manifest, &driver, plan)?;
                side.total_s += s;
                side.cases_s += outcome.cases_s;
                side.ok += outcome.ok;
                setup_s += outcome.import_s + outcome.open_s;
            }
            Ok((side, setup_s))
        };
        // Alternate which side goes first: the machine is shared and its load drifts.
        let ((bare, setup_s), harness) = if round % 2 == 0 {
            let b = bare()?;
            (b, run_harness(&selection, &oom_dir)?)
        } else {
            let h = run_harness(&selection, &oom_dir)?;
            (bare()?, h)
        };
        // The same calls on both sides: as many ran through as the harness says fitted.
        if bare.ok != harness.ok {
            bail!(
                "the two sides disagree: {} calls ran through in the bare loop, {} cases fitted in the harness",
                bare.ok,
                harness.ok
            );
        }
        bare_s.push(bare.total_s);
        harness_s.push(harness.total_s);
        bare_cases_s.push(bare.cases_s);
        harness_cases_s.push(harness.cases_s);
        bare_setup_s.push(setup_s);
    }
    let (bare_median_s, harness_median_s) = (median(&bare_s), median(&harness_s));
    let summary = Summary {
        cases: cases.len(),
        boards: by_board.keys().map(|b| b.to_string()).collect(),
        repeats: repeat,
        bare_s,
        harness_s,
        bare_median_s,
        harness_median_s,
        ratio: if bare_median_s > 0.0 {
            harness_median_s / bare_median_s
        } else {
            0.0
        },
        bare_setup_median_s: median(&bare_setup_s),
        bare_cases_median_s: median(&bare_cases_s),
        harness_cases_median_s: median(&harness_cases_s),
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!(
            "{} cases on {} ({} rounds, end to end, medians):\n  bare Python loop on one open device  {:.2} s\n  cargo xtask oom --backend metal --no-measure --jobs 1  {:.2} s\n  harness / bare  {:.2}x",
            summary.cases,
            summary.boards.join(", "),
            repeat,
            summary.bare_median_s,
            summary.harness_median_s,
            summary.ratio
        );
        println!(
            "  of which: bare Python start, import and device open {:.2} s; the cases' calls: bare {:.3} s, harness records {:.3} s",
            summary.bare_setup_median_s, summary.bare_cases_median_s, summary.harness_cases_median_s
        );
    }
    Ok(())
}
