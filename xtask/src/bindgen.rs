//! `cargo xtask bindgen`: regenerates the committed `crates/ttnn-sys/src/bindings.rs` from
//! `include/ttnn_shim.h` (needs libclang). It runs the sync test of ttnn-sys in its update mode,
//! so the bindgen configuration lives in one place (`crates/ttnn-sys/bindgen_config.rs`).

use anyhow::{bail, Result};
use std::process::Command;

pub fn run() -> Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(crate::paths::workspace_root())
        .args(["test", "--quiet", "-p", "ttnn-sys", "--test", "bindings"])
        .env("TTNN_SYS_UPDATE_BINDINGS", "1")
        .status()?;
    if !status.success() {
        bail!("regenerating the bindings failed ({status}); is libclang installed (apt-get install libclang-dev)?");
    }
    println!("crates/ttnn-sys/src/bindings.rs regenerated; review and commit it");
    Ok(())
}
