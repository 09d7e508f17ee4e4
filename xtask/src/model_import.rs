//! `cargo xtask model-import`: bring your own model. Runs a TT-NN script (it defines
//! `model(device)`) on a mock device in the runtime's Python, records its top-level TT-NN calls
//! with TT-NN's graph capture and writes them as a model file (`memmodel::capture`) that
//! `cargo xtask model` runs on sim and on the runtime.

use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct ModelImportArgs {
    /// The TT-NN script: it defines `model(device)`, which makes its inputs on the device, calls
    /// TT-NN and returns its output tensor(s) (README: "Bring your own model").
    #[arg(long)]
    pub script: PathBuf,
    /// Where to write the model file (default: the script's path with .toml).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The model's name (default: the script's file stem).
    #[arg(long)]
    pub name: Option<String>,
    /// The mock board the script runs on (n150 or p150).
    #[arg(long, default_value = "n150")]
    pub device: String,
}

pub fn run(args: ModelImportArgs) -> Result<()> {
    let device = memmodel::DeviceSpec::by_name(&args.device).map_err(|e| anyhow::anyhow!(e))?;
    if !args.script.is_file() {
        bail!("--script {}: no such file", args.script.display());
    }
    crate::oom::ensure_runtime()?;
    let manifest = ttnn::metal::Manifest::load(&ttnn::metal::state_dir())?;
    let name = match &args.name {
        Some(n) => n.clone(),
        None => args
            .script
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .context("--script has no file name")?,
    };
    let capture = ttnn::metal::capture_script(
        &manifest,
        device.name,
        &args.script,
        memmodel::ops::CONV2D_L1_SMALL,
    )?;
    let imported = memmodel::capture::import(&capture, &name, device)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.script.display()))?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| args.script.with_extension("toml"));
    std::fs::write(&out, &imported.text).with_context(|| format!("writing {}", out.display()))?;
    println!(
        "{}: {} input(s), {} call(s) captured on a mock {} -> {}",
        args.script.display(),
        imported.inputs,
        imported.calls,
        device.name,
        out.display()
    );
    if !imported.ignored.is_empty() {
        println!("calls that make no device memory (not in the model):");
        for i in &imported.ignored {
            println!("  {i}");
        }
    }
    println!(
        "run it: cargo xtask model --model {} --device {} --backend sim (or metal)",
        out.display(),
        device.name
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_script_or_board_is_named_before_anything_runs() {
        let args = |script: &str, device: &str| ModelImportArgs {
            script: script.into(),
            out: None,
            name: None,
            device: device.into(),
        };
        let e = run(args("/nonexistent/model.py", "n150")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--script /nonexistent/model.py: no such file"
        );
        let e = run(args("/nonexistent/model.py", "n300")).unwrap_err();
        assert!(e.to_string().contains("n300"), "{e}");
    }
}
