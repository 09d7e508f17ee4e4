//! A run as a TT-NN report that ttnn-visualizer opens: `cargo xtask model --visualizer DIR`
//! writes one report folder per run (`db.sqlite` in the pinned runtime's own report schema, see
//! visualizer_db.py), and `cargo xtask visualizer-check DIR` opens each with ttnn-visualizer's
//! own code (pinned, in its own venv `.ttnn-oom/visualizer-venv`, made on demand) and checks it
//! shows every operation and buffer the run recorded.

use anyhow::{bail, Context, Result};
use clap::Args;
use memmodel::model::{BuiltModel, Step, TensorDef};
use memmodel::{Case, DeviceSpec};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;
use ttnn::model::ModelRun;

/// The ttnn-visualizer release the check runs (PyPI).
pub const TTNN_VISUALIZER_VERSION: &str = "0.108.0";

const WRITER: &str = include_str!("visualizer_db.py");
const CHECKER: &str = include_str!("visualizer_check.py");

#[derive(Args, Debug)]
pub struct VisualizerCheckArgs {
    /// A report folder (db.sqlite + expected.json) or a folder of them, as `cargo xtask model
    /// --visualizer DIR` writes.
    pub dir: PathBuf,
    /// Do not install ttnn-visualizer when its venv is missing: fail instead.
    #[arg(long)]
    pub no_install: bool,
}

/// ttnn-visualizer's venv (git-ignored state, next to the runtime's venv).
pub fn venv_dir() -> PathBuf {
    crate::paths::state_dir().join("visualizer-venv")
}

fn venv_python() -> PathBuf {
    venv_dir().join("bin").join("python")
}

/// The ttnn-visualizer version installed in its venv, if any.
pub fn installed_version() -> Option<String> {
    crate::setup::installed_package(&venv_dir(), "ttnn-visualizer")
}

/// Makes the visualizer venv with the pinned ttnn-visualizer (idempotent: a no-op when in
/// place). Returns what it did.
pub fn ensure_venv() -> Result<String> {
    if installed_version().as_deref() == Some(TTNN_VISUALIZER_VERSION) {
        return Ok(format!(
            "ttnn-visualizer {TTNN_VISUALIZER_VERSION} in place"
        ));
    }
    let venv = venv_dir();
    let started = Instant::now();
    if !venv_python().exists() {
        let python = crate::setup::python_path()?;
        let status = Command::new(&python)
            .args(["-m", "venv"])
            .arg(&venv)
            .stdin(Stdio::null())
            .status()
            .with_context(|| format!("running {} -m venv", python.display()))?;
        if !status.success() {
            bail!(
                "`{} -m venv {}` failed ({status})",
                python.display(),
                venv.display()
            );
        }
    }
    println!(
        "installing ttnn-visualizer {TTNN_VISUALIZER_VERSION} into {} (once)",
        venv.display()
    );
    let log_path = crate::paths::state_dir().join("visualizer-pip.log");
    let log = std::fs::File::create(&log_path)
        .with_context(|| format!("creating {}", log_path.display()))?;
    let status = Command::new(venv_python())
        .args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            &format!("ttnn-visualizer=={TTNN_VISUALIZER_VERSION}"),
        ])
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .status()
        .context("starting pip")?;
    if !status.success() {
        bail!(
            "`pip install ttnn-visualizer=={TTNN_VISUALIZER_VERSION}` into {} failed ({status}; offline?); log: {}",
            venv.display(),
            log_path.display()
        );
    }
    Ok(format!(
        "installed ttnn-visualizer {TTNN_VISUALIZER_VERSION} in {:.0} s",
        started.elapsed().as_secs_f64()
    ))
}

/// The pinned runtime's ttnn package folder (its graph_report.py holds the report schema) and
/// the runtime venv's Python.
fn runtime_report_module() -> Result<(PathBuf, PathBuf)> {
    let venv = crate::paths::state_dir().join("venv");
    let lib = venv.join("lib");
    let found = std::fs::read_dir(&lib).ok().and_then(|entries| {
        entries
            .filter_map(|e| e.ok())
            .map(|e| e.path().join("site-packages").join("ttnn"))
            .find(|p| p.join("graph_report.py").is_file())
    });
    match found {
        Some(package) => Ok((package, venv.join("bin").join("python"))),
        None => bail!(
            "the pinned TT-NN runtime is not installed ({} has no ttnn/graph_report.py, whose schema \
             the report uses): run `cargo xtask setup`",
            lib.display()
        ),
    }
}

/// The `devices` row, computed as the runtime's `ttnn::reports::get_device_info` computes it
/// (from memmodel's board and the run's L1 bank size: the device is opened with the model's
/// L1_SMALL). The one difference: `num_x/y_cores` is the worker grid, where the runtime gives
/// its logical grid (8×9 on an n150), which memmodel does not describe.
fn device_row(device: &DeviceSpec, run: &ModelRun) -> serde_json::Value {
    let cores = u64::from(device.grid_x) * u64::from(device.grid_y);
    let bank = run.bank_bytes_l1;
    let worker_l1 = device.l1_bytes_per_core;
    json!({
        "device_id": 0,
        "num_y_cores": device.grid_y,
        "num_x_cores": device.grid_x,
        "num_y_compute_cores": device.grid_y,
        "num_x_compute_cores": device.grid_x,
        "worker_l1_size": worker_l1,
        "l1_num_banks": device.l1_banks,
        "l1_bank_size": bank,
        // One L1 bank per worker core: bank 0 starts at offset 0.
        "address_at_first_l1_bank": 0,
        "address_at_first_l1_cb_buffer": device.l1_unreserved_base,
        "num_banks_per_storage_core": worker_l1.checked_div(bank).unwrap_or(0),
        "num_compute_cores": cores,
        "num_storage_cores": 0,
        "total_l1_memory": worker_l1.saturating_mul(cores),
        // The runtime leaves it unset (0).
        "total_l1_for_tensors": 0,
        "total_l1_for_interleaved_buffers": bank.saturating_mul(cores),
        "total_l1_for_sharded_buffers": bank.saturating_mul(cores),
        "cb_limit": worker_l1.saturating_sub(device.l1_unreserved_base),
    })
}

/// `ttnn.silu(in0, ...)` -> `ttnn.silu`: the operation's name as the runtime's report gives it.
fn operation_name(call: &str) -> &str {
    call.split('(').next().unwrap_or(call).trim()
}

/// One run as a report.
pub struct Report {
    /// What visualizer_db.py writes.
    pub report: serde_json::Value,
    /// What the visualizer must show of it (expected.json: counted from the run's record).
    pub expected: serde_json::Value,
    /// Calls after which the listed buffers do not add up to the allocator's per-bank bytes.
    pub unaccounted: Vec<String>,
}

pub fn report_of(run: &ModelRun, source: &str) -> Result<Report> {
    let device = crate::select::devices(std::slice::from_ref(&run.device))?[0];
    let mut operations = Vec::new();
    let mut tensors = 0usize;
    let mut inputs_seen = std::collections::BTreeSet::new();
    // Per operation, each buffer the run recorded: [address, bytes per bank, BufferType name].
    let mut buffers_by_operation = serde_json::Map::new();
    let mut unaccounted = Vec::new();
    for s in &run.steps {
        let Some(b) = &s.buffer_report else {
            bail!(
                "{}: the run did not record its buffers (run it with --visualizer)",
                s.label
            );
        };
        // Each output is a new tensor; a model input is one from the first call that takes it.
        let new_inputs = b.inputs.iter().filter(|n| inputs_seen.insert(n.as_str()));
        tensors += b.outputs.len() + new_inputs.count();
        inputs_seen.extend(b.outputs.iter().map(String::as_str));
        let mut listed: Vec<(u64, u64, &str)> = b
            .live
            .iter()
            .map(|x| (x.address, x.max_size_per_bank, x.buffer_type.as_str()))
            .collect();
        listed.sort_unstable();
        buffers_by_operation.insert(s.number.to_string(), json!(listed));
        // The buffers' per-bank sizes are memmodel's placements of the tensors: they must add
        // up to what the device's allocator holds, or the report would draw wrong sizes.
        let (l1, dram) = b.allocated_per_bank;
        for (kind, allocated) in [("L1", l1), ("DRAM", dram)] {
            let listed: u64 = b
                .live
                .iter()
                .filter(|x| x.buffer_type == kind)
                .map(|x| x.max_size_per_bank)
                .sum();
            if listed != allocated {
                unaccounted.push(format!(
                    "{}: the listed {kind} buffers hold {listed} B per bank, the allocator {allocated} B",
                    s.label
                ));
            }
        }
        operations.push(json!({
            "operation_id": s.number,
            "name": operation_name(&s.ttnn),
            "duration": s.elapsed_ms / 1e3,
            "arguments": [["call", &s.ttnn], ["model_call", &s.label]],
            "stack_trace": format!("{source}:{}\n  {}", s.line, s.label),
            "inputs": b.inputs,
            "outputs": b.outputs,
            "buffers": b.live,
        }));
    }
    let error = run.failure.as_ref().map(|f| {
        json!({
            "operation_id": f.number,
            "name": operation_name(&f.ttnn),
            "arguments": [["call", &f.ttnn], ["model_call", &f.label], ["outcome", &f.outcome]],
            "outcome": f.outcome,
            "message": f.message,
            "stack_trace": format!("{source}:{}\n  {}", f.line, f.label),
        })
    });
    let report = json!({
        "report_name": report_name(run),
        "about": {
            "model": run.model,
            "resolution": format!("{}x{}", run.resolution[0], run.resolution[1]),
            "device": run.device,
            "backend": run.backend,
            "source": source,
            "buffer_sizes_match_allocator": unaccounted.is_empty(),
        },
        "device": device_row(device, run),
        "operations": operations,
        "error": error,
    });
    let expected = json!({
        "operations": run.steps.len() + usize::from(run.failure.is_some()),
        "buffers_by_operation": buffers_by_operation,
        "tensors": tensors,
        "errors": usize::from(run.failure.is_some()),
    });
    Ok(Report {
        report,
        expected,
        unaccounted,
    })
}

/// `yolov12x-640x640-n150-sim` (a model), `silu-3-n150-sim` (the 3rd selected case, a call
/// of silu): the folder (and report name) of a run.
pub fn report_name(run: &ModelRun) -> String {
    if run.resolution == ONE_CALL {
        return format!("{}-{}-{}", run.model, run.device, run.backend);
    }
    format!(
        "{}-{}x{}-{}-{}",
        run.model, run.resolution[0], run.resolution[1], run.device, run.backend
    )
}

/// The resolution of a one-call model made from a case (it has none).
const ONE_CALL: [u64; 2] = [0, 0];

/// A case as a model of one call: every input made as the call's parameter, its outputs named
/// `out0`, `out1`, ... and freed after it. `number` names it (`silu-3`).
fn one_call_model(case: &Case, number: usize) -> Result<BuiltModel> {
    let signature = case
        .signature()
        .map_err(|e| anyhow::anyhow!("{}: {e}", case.id()))?;
    let outputs: Vec<TensorDef> = signature
        .outputs
        .iter()
        .enumerate()
        .map(|(i, o)| TensorDef {
            name: format!("out{i}"),
            shape: o.shape.clone(),
            dtype: o.dtype,
            layout: o.layout,
            memory: case.output_memory,
        })
        .collect();
    let step = Step {
        number: 1,
        line: 0,
        case: case.clone(),
        inputs: Vec::new(),
        parameters: signature.inputs.clone(),
        frees: outputs.iter().map(|d| d.name.clone()).collect(),
        clear_program_cache: false,
        outputs,
        signature,
    };
    Ok(BuiltModel {
        name: format!("{}-{number}", case.op.name),
        about: case.id(),
        resolution: ONE_CALL,
        device: case.device,
        inputs: Vec::new(),
        steps: vec![step],
        outputs: Vec::new(),
        unused_inputs: Vec::new(),
        l1_small_floor: 0,
    })
}

/// Whether `cargo xtask oom --visualizer` can write the cases' reports: on metal, one board
/// (tt-metal sets up one mock cluster per process); said before the matrix runs.
pub fn check_cases(cases: &[Case], backend: ttnn::Backend) -> Result<()> {
    let boards: std::collections::BTreeSet<&str> = cases.iter().map(|c| c.device.name).collect();
    if backend == ttnn::Backend::Metal && boards.len() > 1 {
        bail!(
            "--visualizer on metal runs the cases in this process, which can set up one board: \
             choose one with --device (the selection spans {})",
            boards.into_iter().collect::<Vec<_>>().join(", ")
        );
    }
    Ok(())
}

/// Runs each case as a one-call model on `backend` (every live buffer recorded) and writes it as
/// a report folder under `dir`; returns the folders.
pub fn export_cases(dir: &Path, cases: &[Case], backend: ttnn::Backend) -> Result<Vec<PathBuf>> {
    check_cases(cases, backend)?;
    let mut runs = Vec::new();
    let mut written = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let model = one_call_model(case, i + 1)?;
        runs.push(crate::model::run_built(&model, backend, false, true)?);
        written.extend(export(dir, &runs, "shapes.toml")?);
        runs.clear();
    }
    Ok(written)
}

/// Writes each run as a report folder under `dir`; returns the folders.
pub fn export(dir: &Path, runs: &[ModelRun], source: &str) -> Result<Vec<PathBuf>> {
    let (package, python) = runtime_report_module()?;
    let mut written = Vec::new();
    for run in runs {
        let Report {
            report,
            expected,
            unaccounted,
        } = report_of(run, source)?;
        if let Some(first) = unaccounted.first() {
            eprintln!(
                "warning: {}: buffer sizes differ from the allocator's after {} call(s), first {first}",
                report_name(run),
                unaccounted.len()
            );
        }
        let folder = dir.join(report_name(run));
        std::fs::create_dir_all(&folder)
            .with_context(|| format!("creating {}", folder.display()))?;
        let run_json = folder.join("ttnn-oom-run.json");
        std::fs::write(&run_json, serde_json::to_string(&report)?)?;
        std::fs::write(
            folder.join("expected.json"),
            serde_json::to_string_pretty(&expected)?,
        )?;
        let out = Command::new(&python)
            .arg("-c")
            .arg(WRITER)
            .arg(&package)
            .arg(&run_json)
            .arg(&folder)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running {}", python.display()))?;
        if !out.status.success() {
            bail!(
                "writing the report database in {} failed: {}",
                folder.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        written.push(folder);
    }
    Ok(written)
}

/// The report folders under `dir` (itself, or its subfolders holding a db.sqlite).
fn report_folders(dir: &Path) -> Result<Vec<PathBuf>> {
    if dir.join("db.sqlite").is_file() {
        return Ok(vec![dir.to_path_buf()]);
    }
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("db.sqlite").is_file())
        .collect();
    out.sort();
    if out.is_empty() {
        bail!(
            "{} holds no report (no db.sqlite in it or its subfolders)",
            dir.display()
        );
    }
    Ok(out)
}

/// Opens each report under `dir` in ttnn-visualizer's server; returns what it shows, one JSON
/// line per report.
pub fn check(dir: &Path) -> Result<Vec<String>> {
    let folders = report_folders(dir)?;
    let app_data = std::env::temp_dir().join(format!("ttnn-oom-visualizer-{}", std::process::id()));
    let out = Command::new(venv_python())
        .arg("-c")
        .arg(CHECKER)
        .arg(&app_data)
        .args(&folders)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {}", venv_python().display()));
    let _ = std::fs::remove_dir_all(&app_data);
    let out = out?;
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        // The server logs to stderr; the check's own findings are the lines that are not logs.
        let findings: Vec<&str> = stderr
            .lines()
            .filter(|l| !l.starts_with("INFO:") && !l.starts_with("WARNING:"))
            .collect();
        bail!(
            "ttnn-visualizer {TTNN_VISUALIZER_VERSION} does not show the run(s):\n{stdout}\n{}",
            findings.join("\n")
        );
    }
    Ok(stdout.lines().map(str::to_string).collect())
}

pub fn run_check(args: VisualizerCheckArgs) -> Result<()> {
    if installed_version().as_deref() != Some(TTNN_VISUALIZER_VERSION) {
        if args.no_install {
            bail!(
                "ttnn-visualizer {TTNN_VISUALIZER_VERSION} is not installed in {} (--no-install)",
                venv_dir().display()
            );
        }
        println!("{}", ensure_venv()?);
    }
    for line in check(&args.dir)? {
        println!("{line}");
    }
    Ok(())
}
