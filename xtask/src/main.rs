//! `cargo xtask <command>`: the project's tasks, one module per subcommand.

use clap::{Parser, Subcommand};

mod bench;
mod bench_harness;
mod bindgen;
mod calibrate;
mod diff;
mod elf;
mod estimate;
mod fuzz;
mod model;
mod model_fix;
mod model_import;
mod oom;
mod paths;
mod probe;
mod report;
mod sanitize;
mod select;
mod setup;
mod sysdeps;
mod test;
mod threshold;
mod visualizer;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "ttnn-oom tasks", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Device-free memory estimate of every selected case (instant; no runtime needed).
    Estimate(estimate::EstimateArgs),
    /// The main job: run the OOM matrix on a device and write the report to target/oom-report/.
    Oom(oom::OomArgs),
    /// Install the real TT-NN runtime (venv, pinned ttnn wheel, mock device root) into .ttnn-oom/.
    Setup(setup::SetupArgs),
    /// Run the matrix on the real runtime (normal mode + NO_DISPATCH capture) and write the
    /// golden files memmodel's plans are tested against (crates/memmodel/tests/golden/calibration).
    Calibrate(calibrate::CalibrateArgs),
    /// The matrix on sim, on the real runtime and in memmodel's estimate: verdict agreement,
    /// per-bank bytes of every OOM, per-core CB peaks; fails on a disagreement not allowlisted.
    Diff(diff::DiffArgs),
    /// The same cases on sim and on the real runtime in one run: per-case time and ratio.
    Bench(bench::BenchArgs),
    /// Run one case on a device: the runtime's verdict and a NO_DISPATCH per-core measurement.
    Probe(probe::ProbeArgs),
    /// Render report.json as report.md, report.html and junit.xml; merge partial reports first
    /// (--merge), or preview the report memmodel predicts (--from-model).
    Report(report::ReportArgs),
    /// A whole model (a model file: TT-NN calls on named tensors) at a resolution, call after
    /// call on sim or the real runtime: memory per bank after each call, the peak, the first
    /// call that fails.
    Model(model::ModelArgs),
    /// Bring your own model: run a TT-NN script (`def model(device)`) on a mock device, record
    /// its TT-NN calls with TT-NN's graph capture and write them as a model file.
    ModelImport(model_import::ModelImportArgs),
    /// Open TT-NN reports (`cargo xtask model --visualizer DIR`) with ttnn-visualizer's own
    /// code (installed once into .ttnn-oom/visualizer-venv) and check they show every
    /// operation and buffer the run recorded.
    VisualizerCheck(visualizer::VisualizerCheckArgs),
    /// Per op and board, the largest input that fits (exact search), confirmed on the device.
    Threshold(threshold::ThresholdArgs),
    /// Every test of the workspace, after installing the Debian packages the tests need (where
    /// it can) and `setup` (what CI and the README run).
    Test(test::TestArgs),
    /// Run the libFuzzer targets of fuzz/ (shapes.toml loader, case validation, OOM-message
    /// parser, C API, report.json) for a bounded time each; any crash fails.
    Fuzz(fuzz::FuzzArgs),
    /// The C++ shim under AddressSanitizer + UndefinedBehaviorSanitizer (clang): its error
    /// paths without a runtime, then the real runtime on a mock n150. Zero reports or failure.
    Sanitize(sanitize::SanitizeArgs),
    /// Regenerate crates/ttnn-sys/src/bindings.rs from the C header (needs libclang).
    Bindgen,
    /// Open one board and print what the runtime reports (used by `setup` to verify).
    #[command(hide = true)]
    DeviceCheck(probe::DeviceCheckArgs),
    /// Check and install the Debian packages the tests need, as `cargo xtask test` does first.
    #[command(hide = true)]
    SystemPackages,
}

fn main() -> std::process::ExitCode {
    // `cargo xtask oom` starts this binary again as its worker processes.
    if oom_suite::worker::serve_if_worker() {
        return std::process::ExitCode::SUCCESS;
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Estimate(args) => estimate::run(args),
        Command::Oom(args) => oom::run(args),
        Command::Setup(args) => setup::run(args),
        Command::Probe(args) => probe::run(args),
        Command::Calibrate(args) => calibrate::run(args),
        Command::Diff(args) => diff::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Report(args) => report::run(args),
        Command::Test(args) => test::run(args),
        Command::Threshold(args) => threshold::run(args),
        Command::Model(args) => model::run(args),
        Command::ModelImport(args) => model_import::run(args),
        Command::VisualizerCheck(args) => visualizer::run_check(args),
        Command::Fuzz(args) => fuzz::run(args),
        Command::Sanitize(args) => sanitize::run(args),
        Command::Bindgen => bindgen::run(),
        Command::DeviceCheck(args) => probe::device_check(args),
        Command::SystemPackages => {
            sysdeps::ensure(&sysdeps::all());
            Ok(())
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One clear line (with its causes), never a backtrace: these are user errors.
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
