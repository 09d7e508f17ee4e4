//! The Debian packages the tests need, installed by `cargo xtask test` before it runs them (skip
//! with `--no-system-packages`) so the README's test command works on a fresh Debian machine:
//!
//! - [`libclang`]: `libclang-dev`, for the bindings-in-sync test (bindgen loads libclang);
//! - [`chromium`]: `chromium`, for the test that renders report.html in a real browser;
//! - [`sanitizer_clang`]: `clang-14` + `libclang-rt-14-dev`, for `cargo xtask sanitize`.
//!
//! Each package is checked with `dpkg -s` first; only missing ones are installed, with one
//! `apt-get update` and then `apt-get install -y --no-install-recommends` per need
//! (`DEBIAN_FRONTEND=noninteractive`), as root or through `sudo -n`. Where that is not possible
//! (no apt-get, not root and no password-less sudo, the install failed) this says so and goes
//! on: it never fails the command. The tests that need a missing package then report themselves
//! ignored, naming the package, or fail where `CI` is set (CI runs every test); `cargo xtask
//! sanitize`, asked for explicitly, fails naming its packages.

use std::process::{Command, Output, Stdio};
use std::time::Instant;

/// Something the tests need from the system, and the Debian packages that provide it.
pub struct Need {
    /// All of these are needed.
    pub packages: &'static [&'static str],
    /// Who needs them, for what.
    pub why: &'static str,
    /// Set when the need is met without the packages, saying how (e.g. `TTNN_OOM_CHROMIUM`).
    pub met_otherwise: Option<String>,
}

/// libclang: the bindings-in-sync test (`crates/ttnn-sys/tests/bindings.rs`) runs bindgen.
pub fn libclang() -> Need {
    Need {
        packages: &["libclang-dev"],
        why: "the bindings check (crates/ttnn-sys/tests/bindings.rs) runs bindgen, which loads libclang",
        met_otherwise: env_set("LIBCLANG_PATH"),
    }
}

/// Chromium: `crates/oom-suite/tests/report_browser.rs` renders and screenshots report.html.
pub fn chromium() -> Need {
    Need {
        packages: &["chromium"],
        why: "report.html is rendered and screenshotted in a real browser \
              (crates/oom-suite/tests/report_browser.rs)",
        met_otherwise: oom_suite::report::browser::find_chromium()
            .map(|p| format!("{} is used", p.display())),
    }
}

/// clang with its sanitizer runtimes: `cargo xtask sanitize` (the C++ shim under ASan+UBSan).
pub fn sanitizer_clang() -> Need {
    Need {
        packages: &["clang-14", "libclang-rt-14-dev"],
        why: "`cargo xtask sanitize` builds the C++ shim with clang under ASan+UBSan",
        met_otherwise: env_set("SANITIZE_CXX"),
    }
}

/// Everything `cargo xtask test` (and CI after it) needs.
pub fn all() -> Vec<Need> {
    vec![libclang(), chromium(), sanitizer_clang()]
}

fn env_set(var: &str) -> Option<String> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(|v| format!("{var}={}", v.to_string_lossy()))
}

const SAY: &str = "system packages:";

/// What happens to what needs a package that is still missing.
const CONSEQUENCE: &str = "what needs them says so, naming the package: the tests report \
                           themselves ignored (with CI=true they fail), `cargo xtask sanitize` \
                           fails";

/// Installs what is missing of `needs` where it can; says what it did, or why it could not.
pub fn ensure(needs: &[Need]) {
    let all: Vec<&str> = needs
        .iter()
        .flat_map(|n| n.packages.iter().copied())
        .collect();
    if !runs("dpkg", &["--version"]) {
        println!(
            "{SAY} no dpkg here (not Debian or Ubuntu): {} not checked or installed; {CONSEQUENCE}",
            all.join(", ")
        );
        return;
    }
    let mut in_place = Vec::new();
    let mut missing: Vec<(&Need, Vec<&str>)> = Vec::new();
    for need in needs {
        let lacking: Vec<&str> = need
            .packages
            .iter()
            .copied()
            .filter(|p| !installed(p))
            .collect();
        if lacking.is_empty() {
            in_place.push(need.packages.join(" + "));
        } else if let Some(how) = &need.met_otherwise {
            in_place.push(format!("{} not installed ({how})", lacking.join(" + ")));
        } else {
            missing.push((need, lacking));
        }
    }
    if missing.is_empty() {
        println!("{SAY} in place ({})", in_place.join(", "));
        return;
    }
    let wanted: Vec<&str> = missing
        .iter()
        .flat_map(|(_, p)| p.iter().copied())
        .collect();
    let by_hand = format!(
        "apt-get update && apt-get install -y --no-install-recommends {}",
        wanted.join(" ")
    );
    for (need, lacking) in &missing {
        println!("{SAY} {} missing: {}", lacking.join(" + "), need.why);
    }
    if !runs("apt-get", &["--version"]) {
        println!("{SAY} no apt-get here: not installing them; {CONSEQUENCE}");
        return;
    }
    let Some(privilege) = privilege() else {
        println!(
            "{SAY} not root and sudo cannot run without a password: not installing them; \
             {CONSEQUENCE}. As root: {by_hand}"
        );
        return;
    };
    let started = Instant::now();
    println!("{SAY} apt-get update{}", privilege.note());
    if let Err(why) = apt(&privilege, &["update", "-q"]) {
        println!("{SAY} apt-get update failed, not installing: {why}; {CONSEQUENCE}");
        return;
    }
    let mut done = Vec::new();
    let mut failed = Vec::new();
    for (_, lacking) in &missing {
        println!(
            "{SAY} apt-get install -y --no-install-recommends {}",
            lacking.join(" ")
        );
        let mut args = vec!["install", "-y", "-q", "--no-install-recommends"];
        args.extend(lacking.iter().copied());
        match apt(&privilege, &args) {
            Ok(()) if lacking.iter().all(|p| installed(p)) => done.extend(lacking.iter().copied()),
            Ok(()) => {
                println!("{SAY} apt-get succeeded but dpkg does not list them as installed");
                failed.extend(lacking.iter().copied());
            }
            Err(why) => {
                println!("{SAY} installing {} failed: {why}", lacking.join(" "));
                failed.extend(lacking.iter().copied());
            }
        }
    }
    if !done.is_empty() {
        println!(
            "{SAY} installed {} in {:.0} s",
            done.join(", "),
            started.elapsed().as_secs_f64()
        );
    }
    if !failed.is_empty() {
        println!("{SAY} still missing: {}; {CONSEQUENCE}", failed.join(", "));
    }
}

/// Whether dpkg lists `package` as installed (`dpkg -s`: `Status: install ok installed`; a
/// removed package whose configuration files remain is not).
fn installed(package: &str) -> bool {
    Command::new("dpkg")
        .args(["-s", package])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|o| {
            o.status.success()
                && String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .any(|l| l.trim() == "Status: install ok installed")
        })
}

/// Whether `program args` runs and succeeds (output discarded).
fn runs(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// How apt-get can run as root here.
enum Privilege {
    Root,
    /// `sudo -n` (never prompts).
    Sudo,
}

impl Privilege {
    fn note(&self) -> &'static str {
        match self {
            Privilege::Root => "",
            Privilege::Sudo => " (through sudo -n)",
        }
    }
}

fn privilege() -> Option<Privilege> {
    let uid = Command::new("id")
        .arg("-u")
        .stdin(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if uid.as_deref() == Some("0") {
        return Some(Privilege::Root);
    }
    runs("sudo", &["-n", "true"]).then_some(Privilege::Sudo)
}

/// Runs apt-get with `args` non-interactively; on failure, why (the end of its output).
fn apt(privilege: &Privilege, args: &[&str]) -> Result<(), String> {
    let mut cmd = match privilege {
        Privilege::Root => Command::new("apt-get"),
        Privilege::Sudo => {
            // sudo resets the environment: set DEBIAN_FRONTEND on the far side with env.
            let mut c = Command::new("sudo");
            c.args(["-n", "env", "DEBIAN_FRONTEND=noninteractive", "apt-get"]);
            c
        }
    };
    let out: Output = cmd
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run apt-get: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let tail: Vec<&str> = text.lines().rev().take(6).collect();
    Err(format!(
        "{} ({})",
        out.status,
        tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
    ))
}
