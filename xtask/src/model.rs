//! `cargo xtask model`: a whole model (a model file: TT-NN calls on named tensors with
//! lifetimes, see `memmodel::model`) at a resolution on a board, call after call on sim or on
//! the real runtime: memory per bank after each call, the peak, and the first call that fails
//! with the runtime's (or memmodel's) numbers.

use anyhow::{bail, Context, Result};
use clap::Args;
use memmodel::model::{BuiltModel, ModelFile};
use memmodel::DeviceSpec;
use std::path::PathBuf;
use ttnn::model::{run_model_recorded, ModelRun};

#[derive(Args, Debug)]
pub struct ModelArgs {
    /// The model: a built-in one (yolov12x, c2f-block) or a model file (TOML; see
    /// crates/memmodel/src/model.rs and models/).
    #[arg(long)]
    pub model: PathBuf,
    /// Input resolution HxW (default: the file's), e.g. 2176x3840.
    #[arg(long)]
    pub resolution: Option<String>,
    /// Boards (default: n150, p150).
    #[arg(long, value_delimiter = ',')]
    pub device: Vec<String>,
    /// `sim` (memmodel, instant, no runtime needed) or `metal` (the real runtime on a mock
    /// device, the whole sequence replayed on one open device).
    #[arg(long, default_value = "sim")]
    pub backend: String,
    /// Print one JSON array (a run per board) instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Also capture each call (NO_DISPATCH) before it runs: per-core CB and L1 peaks and the
    /// buffers it makes.
    #[arg(long)]
    pub measure: bool,
    /// The report directory: report.json (the runs), report.md and report.html (a timeline of
    /// L1 and DRAM per bank over the calls per board). Default: target/model-report
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Also write each run as a TT-NN report (DIR/<model>-<HxW>-<board>-<backend>/db.sqlite,
    /// the runtime's report schema) that ttnn-visualizer opens (with --fix: the fixed model's
    /// replays); check it with `cargo xtask visualizer-check DIR`.
    #[arg(long, value_name = "DIR")]
    pub visualizer: Option<PathBuf>,
    /// Record every live buffer after each call (what --visualizer needs; set for the child
    /// process of each board on metal).
    #[arg(long, hide = true)]
    pub record_buffers: bool,
    /// Run the model on sim and on the runtime (a child process per board) and print the first
    /// call where they differ, with both sides' numbers (`--measure`: per-call peaks and
    /// buffers too). Ignores --backend.
    #[arg(long)]
    pub compare: bool,
    /// Find the cheapest per-call changes that make the whole model fit (searched on sim:
    /// tensors to DRAM, then the failing call's own changes — conv2d DRAM slicing, shard
    /// layout, act_block_h, bfloat8_b), write the fixed model file to the report directory
    /// (<model>-<HxW>-<board>-fixed.toml) and replay it end to end on sim and, with
    /// `--backend metal`, on the runtime too.
    #[arg(long)]
    pub fix: bool,
}

pub fn parse_resolution(text: &str) -> Result<[u64; 2]> {
    let (h, w) = text
        .split_once(['x', 'X'])
        .with_context(|| format!("--resolution {text}: expected HxW, e.g. 2176x3840"))?;
    let n = |s: &str| -> Result<u64> {
        match s.trim().parse::<u64>() {
            Ok(v) if v > 0 => Ok(v),
            _ => bail!("--resolution {text}: `{s}` is not a positive integer"),
        }
    };
    Ok([n(h)?, n(w)?])
}

pub fn run_on(
    file: &ModelFile,
    resolution: Option<[u64; 2]>,
    device: &'static DeviceSpec,
    backend: ttnn::Backend,
    measure: bool,
    record_buffers: bool,
) -> Result<ModelRun> {
    let model = file
        .build(resolution, device)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    run_built(&model, backend, measure, record_buffers)
}

/// Runs a built model on a fresh device of its board (opened with its L1_SMALL).
pub fn run_built(
    model: &BuiltModel,
    backend: ttnn::Backend,
    measure: bool,
    record_buffers: bool,
) -> Result<ModelRun> {
    let (device, l1_small) = (model.device, model.l1_small_bytes());
    match backend {
        ttnn::Backend::Sim => {
            let dev =
                ttnn::sim::Device::open(device, ttnn::sim::DeviceOptions::with_l1_small(l1_small))?;
            Ok(run_model_recorded(&dev, model, measure, record_buffers)?)
        }
        ttnn::Backend::Metal => {
            crate::oom::ensure_runtime()?;
            let rt = ttnn::metal::Runtime::discover()?;
            let dev = ttnn::metal::Device::open(
                &rt,
                device,
                ttnn::metal::DeviceOptions::with_l1_small(l1_small),
            )?;
            let run = run_model_recorded(&dev, model, measure, record_buffers)?;
            if let Err((_, e)) = dev.close() {
                bail!("closing the device failed: {e}");
            }
            Ok(run)
        }
    }
}

/// The model on the runtime for one board, in a child process (tt-metal sets up one mock
/// cluster per process).
fn metal_in_child(
    args: &ModelArgs,
    device: &'static DeviceSpec,
    measure: bool,
    record_buffers: bool,
) -> Result<ModelRun> {
    metal_in_child_for(
        &args.model,
        args.resolution.as_deref(),
        device,
        measure,
        record_buffers,
    )
}

/// [`metal_in_child`] for the model file (or built-in name) `model`.
pub fn metal_in_child_for(
    model: &std::path::Path,
    resolution: Option<&str>,
    device: &'static DeviceSpec,
    measure: bool,
    record_buffers: bool,
) -> Result<ModelRun> {
    let exe = std::env::current_exe().context("locating the xtask binary")?;
    let mut cmd = std::process::Command::new(&exe);
    cmd.args([
        "model",
        "--backend",
        "metal",
        "--json",
        "--device",
        device.name,
    ])
    .arg("--model")
    .arg(model);
    if let Some(r) = resolution {
        cmd.args(["--resolution", r]);
    }
    if measure {
        cmd.arg("--measure");
    }
    if record_buffers {
        cmd.arg("--record-buffers");
    }
    let out = cmd
        .output()
        .context("starting cargo xtask model for one board")?;
    let one: Vec<ModelRun> = serde_json::from_slice(&out.stdout).map_err(|_| {
        anyhow::anyhow!(
            "{} on metal failed: {}",
            device.name,
            String::from_utf8_lossy(&out.stderr).trim()
        )
    })?;
    one.into_iter()
        .next()
        .with_context(|| format!("{} on metal: no run", device.name))
}

/// `--compare`: sim and the runtime call by call on each board; the first call where they
/// differ ([`ttnn::model::compare_runs`]), both sides' numbers. Fails when they differ.
fn compare(
    args: &ModelArgs,
    file: &ModelFile,
    resolution: Option<[u64; 2]>,
    devices: &[&'static DeviceSpec],
) -> Result<()> {
    let mut differing = Vec::new();
    let mut results = Vec::new();
    for &device in devices {
        let sim = run_on(
            file,
            resolution,
            device,
            ttnn::Backend::Sim,
            args.measure,
            false,
        )?;
        let metal = metal_in_child(args, device, args.measure, false)?;
        let compared = ttnn::model::compare_runs(&sim, &metal);
        let head = format!(
            "{} at {}x{} on {}: sim ran {} call(s), the runtime {}; {} equal before any difference",
            sim.model,
            sim.resolution[0],
            sim.resolution[1],
            device.name,
            sim.steps.len(),
            metal.steps.len(),
            compared.equal_calls
        );
        match (&compared.difference, compared.before_sim_stops(&sim)) {
            (None, _) => println!("{head}\n  no difference"),
            (Some(d), None) => println!(
                "{head}\n  sim stops at {} ({}); every call before equals the runtime's",
                d.label, d.left
            ),
            (Some(_), Some(d)) => {
                println!(
                    "{head}\n  first difference: {}: {}\n    sim:     {}\n    runtime: {}",
                    d.label, d.what, d.left, d.right
                );
                differing.push(device.name);
            }
        }
        results.push(serde_json::json!({
            "device": device.name,
            "comparison": compared,
        }));
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    }
    if !differing.is_empty() {
        bail!("sim and the runtime differ on {}", differing.join(", "));
    }
    Ok(())
}

/// Writes a model report: report.json (`json`), report.md and report.html (`doc`); returns
/// the files written, one per line.
pub fn write_report(
    dir: &std::path::Path,
    json: &str,
    doc: &oom_suite::report::doc::Doc,
) -> Result<String> {
    oom_suite::report::write::write_files(
        dir,
        &[
            (oom_suite::report::REPORT_JSON, &format!("{json}\n")),
            (
                oom_suite::report::REPORT_MD,
                &oom_suite::report::markdown::render(doc),
            ),
            (
                oom_suite::report::REPORT_HTML,
                &oom_suite::report::html::render(doc),
            ),
        ],
    )
    .map(|written| written.to_string())
    .map_err(|e| anyhow::anyhow!("{e}"))
}

/// `--visualizer DIR`: each run (recorded with its live buffers) as a TT-NN report folder.
pub fn write_visualizer_reports(args: &ModelArgs, runs: &[ModelRun]) -> Result<()> {
    if let Some(dir) = &args.visualizer {
        let source = args.model.display().to_string();
        for folder in crate::visualizer::export(dir, runs, &source)? {
            if !args.json {
                println!("TT-NN report (ttnn-visualizer): {}", folder.display());
            }
        }
    }
    Ok(())
}

/// The report directory: `--out`, else target/model-report.
pub fn report_dir(args: &ModelArgs) -> PathBuf {
    args.out
        .clone()
        .unwrap_or_else(|| crate::paths::workspace_root().join("target/model-report"))
}

pub fn render(run: &ModelRun) -> String {
    let kib = |b: u64| format!("{:.1} KiB", b as f64 / 1024.0);
    let mut out = format!(
        "{} at {}x{} on {} ({}): {} call(s) run\n",
        run.model,
        run.resolution[0],
        run.resolution[1],
        run.device,
        run.backend,
        run.steps.len()
    );
    for s in &run.steps {
        let peaks = s.peaks.map_or(String::new(), |p| {
            format!(
                "  CB {:>9} + dataflow {:>9}/core  L1 {:>10}/core",
                kib(p.peak_cb),
                kib(p.peak_dataflow_buffer),
                kib(p.peak_l1)
            )
        });
        out.push_str(&format!(
            "  {:<40} L1 {:>12}/bank  DRAM {:>12}/bank{peaks}  alive: {}\n",
            s.label,
            kib(s.l1_per_bank),
            kib(s.dram_per_bank),
            s.live.join(", ")
        ));
    }
    let after = |call: usize| match call {
        0 => String::new(),
        n => format!(" (after #{n})"),
    };
    out.push_str(&format!(
        "  peak between calls: L1 {} of {} per bank{}, DRAM {} of {}{}\n",
        kib(run.peak_l1_per_bank.0),
        kib(run.bank_bytes_l1),
        after(run.peak_l1_per_bank.1),
        kib(run.peak_dram_per_bank.0),
        kib(run.bank_bytes_dram),
        after(run.peak_dram_per_bank.1)
    ));
    match &run.failure {
        None => out.push_str("  fits: every call ran\n"),
        Some(f) if f.outcome == "unmodeled" => out.push_str(&format!(
            "  NO VERDICT from {} (line {}) on: {}\n",
            f.label, f.line, f.message
        )),
        Some(f) => out.push_str(&format!(
            "  FIRST FAILURE {} (line {}): {}: {}\n    allocated before it: L1 {}/bank, DRAM {}/bank\n",
            f.label,
            f.line,
            f.outcome,
            f.message,
            kib(f.l1_per_bank_before),
            kib(f.dram_per_bank_before)
        )),
    }
    if run.leaked_per_bank > 0 {
        out.push_str(&format!(
            "  LEAK: {} per bank still allocated after the run\n",
            run.leaked_per_bank
        ));
    }
    out
}

pub fn run(args: ModelArgs) -> Result<()> {
    let backend: ttnn::Backend = args
        .backend
        .parse()
        .map_err(|e: String| anyhow::anyhow!("--backend: {e}"))?;
    let builtin =
        memmodel::model::builtin(&args.model.to_string_lossy()).filter(|_| !args.model.exists());
    let text = match builtin {
        Some(text) => text.to_string(),
        None => std::fs::read_to_string(&args.model).with_context(|| {
            format!(
                "reading the model file {} (built-in models: {})",
                args.model.display(),
                memmodel::model::BUILTIN
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?,
    };
    let file = ModelFile::parse(&text, &args.model.display().to_string())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let resolution = args
        .resolution
        .as_deref()
        .map(parse_resolution)
        .transpose()?;
    let devices: Vec<&'static DeviceSpec> = crate::select::devices(&args.device)?;
    let record_buffers = args.record_buffers || args.visualizer.is_some();
    if args.compare {
        return compare(&args, &file, resolution, &devices);
    }
    if args.fix {
        return crate::model_fix::run(&args, &text, resolution, &devices, backend);
    }
    let mut runs = Vec::new();
    if backend == ttnn::Backend::Metal && devices.len() > 1 {
        // tt-metal sets up one mock cluster per process: a child process per board.
        for device in devices {
            runs.push(metal_in_child(&args, device, args.measure, record_buffers)?);
        }
    } else {
        for device in devices {
            runs.push(run_on(
                &file,
                resolution,
                device,
                backend,
                args.measure,
                record_buffers,
            )?);
        }
    }
    let json = serde_json::to_string_pretty(&runs)?;
    if args.json {
        println!("{json}");
    } else {
        for r in &runs {
            println!("{}", render(r));
        }
    }
    if !args.json || args.out.is_some() {
        let dir = report_dir(&args);
        let doc = oom_suite::report::timeline::document(&runs);
        let written = write_report(&dir, &json, &doc)?;
        if !args.json {
            println!("report:\n{written}");
        }
    }
    write_visualizer_reports(&args, &runs)?;
    if let Some(r) = runs.iter().find(|r| r.leaked_per_bank > 0) {
        bail!(
            "{} on {}: {} bytes per bank stayed allocated after the run",
            r.model,
            r.device,
            r.leaked_per_bank
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolutions_parse_and_bad_ones_say_why() {
        assert_eq!(parse_resolution("2176x3840").unwrap(), [2176, 3840]);
        assert_eq!(parse_resolution("640X640").unwrap(), [640, 640]);
        for bad in ["640", "0x640", "ax640", "640x-1"] {
            let e = parse_resolution(bad).unwrap_err().to_string();
            assert!(e.starts_with(&format!("--resolution {bad}")), "{e}");
        }
    }
}
