//! A user's TT-NN script run on a mock device in the runtime's own Python (a child process: one
//! mock cluster per process), its top-level calls recorded with TT-NN's graph capture
//! (`capture.py`) for [`memmodel::capture::import`].

use super::Manifest;
use crate::error::{Error, Result};
use memmodel::capture::Capture;
use std::path::Path;
use std::process::Command;

/// The capture helper the runtime's Python runs.
const CAPTURE_PY: &str = include_str!("capture.py");

/// Runs `script` (it defines `model(device)`) on a mock `board` opened with `l1_small_size` of
/// L1_SMALL (the script's `L1_SMALL_SIZE` wins) and returns what it called. A script that raises
/// is a capture with [`Capture::error`] set; `Err` when the runtime's Python cannot run it at all.
pub fn capture_script(
    manifest: &Manifest,
    board: &str,
    script: &Path,
    l1_small_size: u64,
) -> Result<Capture> {
    let script = script
        .canonicalize()
        .map_err(|e| Error::InvalidArgument(format!("the script {}: {e}", script.display())))?;
    let dir = std::env::temp_dir().join(format!(
        "ttnn-oom-capture-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    std::fs::create_dir_all(&dir).map_err(|e| Error::Other(format!("{}: {e}", dir.display())))?;
    let helper = dir.join("capture.py");
    let out = dir.join("capture.json");
    let result = (|| {
        std::fs::write(&helper, CAPTURE_PY)
            .map_err(|e| Error::Other(format!("{}: {e}", helper.display())))?;
        let run = Command::new(&manifest.python)
            .arg(&helper)
            .arg(&manifest.site_packages)
            .arg(&script)
            .arg(&out)
            .arg(l1_small_size.to_string())
            .envs(manifest.environment())
            .envs(manifest.device_environment(Some(board))?)
            .output()
            .map_err(|e| {
                Error::RuntimeUnavailable(format!(
                    "starting the runtime's Python {}: {e}",
                    manifest.python.display()
                ))
            })?;
        let text = std::fs::read_to_string(&out).map_err(|_| {
            let stderr = String::from_utf8_lossy(&run.stderr);
            let tail: Vec<&str> = stderr.lines().rev().take(20).collect();
            Error::Python(format!(
                "the capture of {} failed ({}):\n{}",
                script.display(),
                run.status,
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            ))
        })?;
        serde_json::from_str::<Capture>(&text)
            .map_err(|e| Error::Other(format!("reading the capture of {}: {e}", script.display())))
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}
