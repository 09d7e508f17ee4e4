//! ttnn-visualizer opens what `cargo xtask model --visualizer DIR` and `cargo xtask oom
//! --visualizer DIR` write: a one-call model, the C2f block at 640x640 (every call runs) and at
//! 1920x1920 (five calls, then the sixth fails), and one case of the OOM matrix, on sim, are
//! exported as TT-NN reports, then `cargo xtask visualizer-check` opens each with
//! ttnn-visualizer's own code and checks it lists every operation, tensor and error, and per
//! operation exactly the buffers the run recorded. Without the visualizer's venv (made
//! by `cargo xtask test`, or by `cargo xtask visualizer-check DIR` once; needs the network) or
//! the runtime's venv (`cargo xtask setup`: its report schema) the test reports itself ignored,
//! naming the command — never a silent pass; with `CI` set it fails instead.

use libtest_mimic::{Arguments, Completion, Failed, Trial};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Whether this is CI, where a test must run rather than skip (`CI` set, and not `0`/`false`).
fn on_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
}

fn xtask() -> Command {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
}

fn state_dir() -> PathBuf {
    std::env::var_os("TTNN_OOM_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .expect("xtask lives in the workspace")
                .join(".ttnn-oom")
        })
}

/// Why the test cannot run here (the command that fixes it), if so.
fn missing() -> Option<String> {
    let viz = state_dir().join("visualizer-venv/bin/python");
    let ok = Command::new(&viz)
        .args(["-c", "import ttnn_visualizer.queries"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        return Some(format!(
            "ttnn-visualizer is not installed in {} (`cargo xtask visualizer-check DIR` or \
             `cargo xtask test` installs it)",
            viz.display()
        ));
    }
    let lib = state_dir().join("venv/lib");
    let runtime = std::fs::read_dir(&lib).is_ok_and(|d| {
        d.filter_map(|e| e.ok()).any(|e| {
            e.path()
                .join("site-packages/ttnn/graph_report.py")
                .is_file()
        })
    });
    (!runtime).then(|| {
        format!(
            "the pinned runtime (its report schema) is not in {} (`cargo xtask setup`)",
            lib.display()
        )
    })
}

const ONE_CALL: &str = r#"
[model]
name = "one-silu"
about = "one call: the smallest report"
resolution = [64, 64]
outputs = ["y"]

[[input]]
name = "x"
shape = [1, 1, "H", "W"]
memory = "l1"

[[call]]
op = "silu"
inputs = ["x"]
outputs = ["y"]
memory = "l1"
"#;

/// `cargo xtask model` of a model file's text, or of a path under the workspace.
fn model_run(model: &str, resolution: &str) -> impl FnOnce(&Path) -> Result<Vec<String>, Failed> {
    let (model, resolution) = (model.to_string(), resolution.to_string());
    move |dir| {
        let model = if model.ends_with(".toml") {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join(model)
                .display()
                .to_string()
        } else {
            let file = dir.join("model.toml");
            std::fs::write(&file, model).map_err(|e| e.to_string())?;
            file.display().to_string()
        };
        Ok(["model", "--backend", "sim", "--device", "n150", "--json"]
            .into_iter()
            .map(String::from)
            .chain(["--model".into(), model, "--resolution".into(), resolution])
            .collect())
    }
}

/// Runs `xtask` with the arguments `run` gives (plus `--visualizer DIR`), then the check;
/// `errors`: the failing calls the report must show (the check compares them with the run's
/// record too; this pins the case's point).
fn export_and_check(
    name: &str,
    run: impl FnOnce(&Path) -> Result<Vec<String>, Failed>,
    errors: usize,
) -> Result<Completion, Failed> {
    if let Some(why) = missing() {
        if on_ci() {
            return Err(format!("{why}. CI is set, so this test may not skip").into());
        }
        return Ok(Completion::ignored_with(format!("skipped: {why}")));
    }
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("visualizer")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let args = run(&dir)?;
    let reports = dir.join("reports");
    let out = xtask()
        .args(&args)
        .arg("--visualizer")
        .arg(&reports)
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "cargo xtask {} --visualizer failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    let check = xtask()
        .args(["visualizer-check", "--no-install"])
        .arg(&reports)
        .output()
        .map_err(|e| e.to_string())?;
    let shown = String::from_utf8_lossy(&check.stdout);
    if !check.status.success() {
        return Err(format!(
            "ttnn-visualizer does not show the run: {shown}{}",
            String::from_utf8_lossy(&check.stderr)
        )
        .into());
    }
    // Something to see: buffers, not an empty report that matches nothing; and the error.
    if !shown.contains("\"buffers\": ") || shown.contains("\"buffers\": 0,") {
        return Err(format!("the report shows no buffers: {shown}").into());
    }
    if !shown.contains(&format!("\"errors\": {errors},")) {
        return Err(format!("the report should show {errors} error(s): {shown}").into());
    }
    Ok(Completion::Completed)
}

/// `cargo xtask model --fix` of YOLOv12x at 4320x7680 on an n150 on sim: the fixed model's
/// replay is the run the report shows. The fix now fits the whole model (the program cache
/// cleared where L1_SMALL fills up), so the report shows all 735 calls and no error; the
/// failing-run report is `c2f_block_1920_failing_on_sim_opens_in_ttnn_visualizer`'s.
fn yolov12x_8k_fixed_run(dir: &Path) -> Result<Vec<String>, Failed> {
    let report = dir.join("model-report").display().to_string();
    Ok([
        "model",
        "--model",
        "yolov12x",
        "--resolution",
        "4320x7680",
        "--device",
        "n150",
        "--fix",
        "--json",
        "--out",
    ]
    .into_iter()
    .map(String::from)
    .chain([report])
    .collect())
}

/// `cargo xtask oom` of one case of the matrix: silu of [1,1,2048,8192] in L1 on an n150 (two
/// 512 KiB-per-bank buffers).
fn oom_case_run(dir: &Path) -> Result<Vec<String>, Failed> {
    let report = dir.join("oom-report").display().to_string();
    Ok([
        "oom",
        "--backend",
        "sim",
        "--op",
        "silu",
        "--device",
        "n150",
        "--memory",
        "l1",
        "--shape",
        "1,1,2048,8192",
        "--out",
    ]
    .into_iter()
    .map(String::from)
    .chain([report])
    .collect())
}

fn main() {
    let args = Arguments::from_args();
    let trials = vec![
        Trial::ignorable_test("one_call_on_sim_opens_in_ttnn_visualizer", || {
            export_and_check("one-call", model_run(ONE_CALL, "64x64"), 0)
        }),
        Trial::ignorable_test("c2f_block_640_on_sim_opens_in_ttnn_visualizer", || {
            export_and_check("c2f-640", model_run("models/c2f-block.toml", "640x640"), 0)
        }),
        Trial::ignorable_test(
            "c2f_block_1920_failing_on_sim_opens_in_ttnn_visualizer",
            || {
                export_and_check(
                    "c2f-1920",
                    model_run("models/c2f-block.toml", "1920x1920"),
                    1,
                )
            },
        ),
        Trial::ignorable_test("yolov12x_8k_fixed_on_sim_opens_in_ttnn_visualizer", || {
            export_and_check("yolov12x-8k-fixed", yolov12x_8k_fixed_run, 0)
        }),
        Trial::ignorable_test("an_oom_case_on_sim_opens_in_ttnn_visualizer", || {
            export_and_check("oom-case", oom_case_run, 0)
        }),
    ];
    libtest_mimic::run(&args, trials).exit();
}
