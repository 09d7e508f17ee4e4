//! `cargo xtask test`: the project's whole test suite from a fresh machine — sets up the real
//! runtime (idempotent: a no-op when it is in place), then runs every test of the workspace with
//! snapshots locked (a changed or new snapshot fails instead of being written).

use anyhow::{bail, Context, Result};
use clap::Args;
use std::process::Command;

#[derive(Args, Debug)]
pub struct TestArgs {
    /// Do not run `cargo xtask setup` first; tests that need the runtime then report themselves
    /// skipped unless it is already set up.
    #[arg(long)]
    pub no_setup: bool,
    /// Extra arguments for `cargo test` (after `--`).
    #[arg(last = true)]
    pub cargo_args: Vec<String>,
}

pub fn run(args: TestArgs) -> Result<()> {
    let root = crate::paths::workspace_root();
    if !args.no_setup {
        let me = std::env::current_exe().context("locating the xtask binary")?;
        let status = Command::new(me)
            .arg("setup")
            .current_dir(&root)
            .status()
            .context("running `cargo xtask setup`")?;
        if !status.success() {
            bail!("`cargo xtask setup` failed ({status}); fix that first, or run `cargo xtask test --no-setup`");
        }
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["test", "--workspace", "--no-fail-fast"])
        .args(&args.cargo_args)
        .env("INSTA_UPDATE", "no")
        .current_dir(&root)
        .status()
        .context("running cargo test")?;
    if !status.success() {
        bail!("tests failed ({status})");
    }
    Ok(())
}
