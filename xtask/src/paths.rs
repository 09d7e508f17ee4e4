//! Where things are: the workspace root and the git-ignored state folder `cargo xtask setup`
//! fills (`.ttnn-oom/`: the Python venv, the mock runtime root, caches, device descriptors).

use std::path::PathBuf;

/// The workspace root (xtask lives one level below it).
pub fn workspace_root() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map(PathBuf::from)
        .unwrap_or(manifest_dir)
}

/// The project's git-ignored state folder.
#[allow(dead_code)]
pub fn state_dir() -> PathBuf {
    std::env::var_os("TTNN_OOM_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".ttnn-oom"))
}
