//! `cargo xtask test`: the project's whole test suite from a fresh machine — installs the Debian
//! packages its tests need where it can ([`crate::sysdeps`]: libclang, Chromium, clang for the
//! sanitizers), sets up the real runtime and ttnn-visualizer's venv (all idempotent: a no-op
//! when in place), then runs every test of the workspace with snapshots locked (a changed or new
//! snapshot fails instead of being written). `-p`/`--package` after `--` narrows the run to those packages.

use anyhow::{bail, Context, Result};
use clap::Args;
use std::process::Command;

#[derive(Args, Debug)]
pub struct TestArgs {
    /// Do not run `cargo xtask setup` first; tests that need the runtime then report themselves
    /// skipped unless it is already set up.
    #[arg(long)]
    pub no_setup: bool,
    /// Do not check or install the Debian packages the tests need (libclang-dev, chromium,
    /// clang-14, libclang-rt-14-dev); tests that need a missing one report themselves ignored,
    /// naming it (with CI=true they fail).
    #[arg(long)]
    pub no_system_packages: bool,
    /// Extra arguments for `cargo test` (after `--`); with `-p`/`--package` only those
    /// packages are tested, not the whole workspace.
    #[arg(last = true)]
    pub cargo_args: Vec<String>,
}

/// Whether `cargo test` arguments select packages (before any `--` of their own). cargo ignores
/// `-p` next to `--workspace`, so `--workspace` is only passed without them.
fn selects_packages(cargo_args: &[String]) -> bool {
    cargo_args.iter().take_while(|a| *a != "--").any(|a| {
        a == "-p"
            || a == "--package"
            || a.starts_with("--package=")
            || (a.starts_with("-p") && !a.starts_with("--"))
    })
}

pub fn run(args: TestArgs) -> Result<()> {
    let root = crate::paths::workspace_root();
    if args.no_system_packages {
        println!("system packages: not checked (--no-system-packages)");
    } else {
        crate::sysdeps::ensure(&crate::sysdeps::all());
    }
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
        // The visualizer test opens exported reports with ttnn-visualizer (its own venv: 6 to 10
        // min and 350 MB once on a loaded machine). Without it that test reports itself skipped
        // (CI: fails).
        match crate::visualizer::ensure_venv() {
            Ok(note) => println!("ttnn-visualizer: {note}"),
            Err(e) => eprintln!("ttnn-visualizer: not installed ({e:#})"),
        }
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.arg("test");
    if !selects_packages(&args.cargo_args) {
        cmd.arg("--workspace");
    }
    let status = cmd
        .arg("--no-fail-fast")
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

#[cfg(test)]
mod tests {
    use super::selects_packages;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn package_flags_narrow_the_run() {
        for a in [
            &["-p", "ttnn-sys"][..],
            &["-pttnn-sys"],
            &["--package", "ttnn-sys"],
            &["--package=ttnn-sys"],
            &["--test", "bindings", "-p", "ttnn-sys"],
        ] {
            assert!(selects_packages(&args(a)), "{a:?}");
        }
        for a in [
            &[][..],
            &["--test", "bindings"],
            &["--", "-p"],
            &["--release", "--", "--package"],
        ] {
            assert!(!selects_packages(&args(a)), "{a:?}");
        }
    }
}
