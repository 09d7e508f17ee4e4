//! `cargo xtask fuzz`: the libFuzzer targets of `fuzz/` for a bounded time each.
//!
//! Built on the stable toolchain: `libfuzzer-sys` compiles libFuzzer itself, and the targets get
//! the same coverage instrumentation cargo-fuzz asks rustc for (`-Cpasses=sancov-module` and
//! the `-sanitizer-coverage-*` LLVM options are stable `-C` flags), plus debug assertions and
//! overflow checks so unchecked size arithmetic that overflows is a crash. (`cargo fuzz run`
//! works on the same crate where a nightly toolchain and cargo-fuzz are installed.)
//!
//! Each target starts from its committed seed corpus (`fuzz/corpus/<target>/`, read only) and
//! keeps what it finds in `target/fuzz/corpus/<target>/`; a crash is saved under
//! `target/fuzz/artifacts/<target>/` and fails the command.

use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Every target of fuzz/Cargo.toml.
pub const TARGETS: &[&str] = &[
    "shapes_toml",
    "case_params",
    "oom_message",
    "c_api",
    "report_json",
];

#[derive(Args, Debug)]
pub struct FuzzArgs {
    /// Only these targets (repeat or comma-separate) [default: all].
    #[arg(long, value_delimiter = ',')]
    pub target: Vec<String>,
    /// Seconds per target.
    #[arg(long, default_value_t = 60)]
    pub seconds: u64,
    /// Stop a target after this many executions (whichever of --seconds and --runs comes first).
    #[arg(long)]
    pub runs: Option<u64>,
    /// Fail unless every target ran at least this many executions.
    #[arg(long, value_name = "N")]
    pub min_runs: Option<u64>,
    /// Build only.
    #[arg(long)]
    pub build_only: bool,
    /// Report inputs that time out (a unit over 10 s) or exhaust memory (over 2 GiB) as
    /// findings and keep fuzzing past them (a new libFuzzer process resumes from the corpus)
    /// instead of failing; crashes still fail.
    #[arg(long)]
    pub allow_timeouts: bool,
}

/// The coverage instrumentation cargo-fuzz uses, on stable rustc.
const RUSTFLAGS: &[&str] = &[
    "-Cpasses=sancov-module",
    "-Cllvm-args=-sanitizer-coverage-level=4",
    "-Cllvm-args=-sanitizer-coverage-inline-8bit-counters",
    "-Cllvm-args=-sanitizer-coverage-pc-table",
    "-Cllvm-args=-sanitizer-coverage-trace-compares",
    "--cfg=fuzzing",
    "-Cdebug-assertions",
    "-Coverflow-checks",
    "-Cforce-frame-pointers=yes",
];

fn host_triple() -> Result<String> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = Command::new(rustc)
        .arg("-vV")
        .output()
        .context("running rustc -vV")?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_string)
        .context("rustc -vV printed no host triple")
}

/// Build every target; returns the directory holding the binaries.
pub fn build(fuzz_dir: &Path) -> Result<PathBuf> {
    let triple = host_triple()?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // The target dir is fuzz/target, kept apart from the workspace's (different flags would
    // rebuild everything there).
    let status = Command::new(cargo)
        .args(["build", "--release", "--bins", "--target", &triple])
        .arg("--manifest-path")
        .arg(fuzz_dir.join("Cargo.toml"))
        .env("RUSTFLAGS", RUSTFLAGS.join(" "))
        .env("CARGO_TARGET_DIR", fuzz_dir.join("target"))
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .status()
        .context("running cargo build for fuzz/")?;
    if !status.success() {
        bail!("building the fuzz targets failed ({status})");
    }
    Ok(fuzz_dir.join("target").join(triple).join("release"))
}

/// What one target did.
#[derive(Debug)]
pub struct TargetRun {
    pub target: String,
    pub executions: u64,
    pub seconds: f64,
    pub corpus: usize,
    pub crashed: bool,
    /// New crash artifacts (panics, aborts, sanitizer reports).
    pub artifacts: Vec<PathBuf>,
    /// New inputs that timed out or ran out of memory.
    pub slow: Vec<PathBuf>,
}

/// Whether a libFuzzer artifact is a timeout or an out-of-memory input (not a crash).
fn is_slow(p: &Path) -> bool {
    p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
        n.starts_with("timeout-") || n.starts_with("oom-") || n.starts_with("slow-unit-")
    })
}

/// Executions from libFuzzer's output: the final stats, else the last `#N` status line (fork
/// mode prints no final stats).
fn executions(stderr: &str) -> u64 {
    stat(stderr, "number_of_executed_units").unwrap_or_else(|| {
        stderr
            .lines()
            .rev()
            .find_map(|l| {
                let rest = l.strip_prefix('#')?;
                let end = rest.find(|c: char| !c.is_ascii_digit())?;
                rest[..end].parse().ok()
            })
            .unwrap_or(0)
    })
}

fn stat(stderr: &str, name: &str) -> Option<u64> {
    stderr.lines().find_map(|l| {
        l.strip_prefix(&format!("stat::{name}:"))
            .and_then(|v| v.trim().parse().ok())
    })
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

/// Run one target for `seconds` (or `runs` executions).
pub fn run_target(
    bin_dir: &Path,
    fuzz_dir: &Path,
    work: &Path,
    target: &str,
    seconds: u64,
    runs: Option<u64>,
    allow_timeouts: bool,
) -> Result<TargetRun> {
    let corpus = work.join("corpus").join(target);
    let artifacts = work.join("artifacts").join(target);
    std::fs::create_dir_all(&corpus)?;
    std::fs::create_dir_all(&artifacts)?;
    let listing = |dir: &Path| -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default()
    };
    // Artifacts of earlier runs stay for reproducing; only new ones count.
    let earlier = listing(&artifacts);
    let seeds = fuzz_dir.join("corpus").join(target);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut executed = 0u64;
    let mut crashed = false;
    // With --allow-timeouts a timeout or out-of-memory input ends one libFuzzer process (its
    // input saved as an artifact); the next one resumes from the corpus for the time left.
    loop {
        let left = deadline.saturating_duration_since(Instant::now()).as_secs();
        if left == 0 {
            break;
        }
        let mut cmd = Command::new(bin_dir.join(target));
        cmd.arg(format!("-max_total_time={left}"))
            .arg("-print_final_stats=1")
            .arg("-max_len=4096")
            .arg("-timeout=10")
            .arg("-rss_limit_mb=2048")
            .arg(format!("-artifact_prefix={}/", artifacts.display()))
            .arg(&corpus);
        if let Some(n) = runs {
            cmd.arg(format!("-runs={}", n.saturating_sub(executed)));
        }
        if seeds.is_dir() {
            cmd.arg(&seeds);
        }
        // With modification times: an input that reproduces an earlier artifact rewrites it.
        let stamped = |dir: &Path| -> Vec<(PathBuf, Option<std::time::SystemTime>)> {
            listing(dir)
                .into_iter()
                .map(|p| {
                    let t = std::fs::metadata(&p).and_then(|m| m.modified()).ok();
                    (p, t)
                })
                .collect()
        };
        let before = stamped(&artifacts);
        let out = cmd
            .output()
            .with_context(|| format!("running the fuzz target {target}"))?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        executed = executed.saturating_add(executions(&stderr));
        let (slow_now, crash_now): (Vec<PathBuf>, Vec<PathBuf>) = stamped(&artifacts)
            .into_iter()
            .filter(|entry| !before.contains(entry))
            .map(|(p, _)| p)
            .partition(|p| is_slow(p));
        if out.status.success() && crash_now.is_empty() && slow_now.is_empty() {
            break;
        }
        let resumable = allow_timeouts && crash_now.is_empty() && !slow_now.is_empty();
        if resumable {
            // A slow input that came from the corpus would stall every resumed process at its
            // replay: drop it from the working corpus (libFuzzer names both by the input's
            // SHA-1); the artifact keeps it for reproducing.
            for slow in &slow_now {
                if let Some(hash) = slow
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.split_once('-'))
                    .map(|(_, hash)| hash)
                {
                    let _ = std::fs::remove_file(corpus.join(hash));
                }
            }
        }
        if !resumable {
            crashed = true;
            let tail: Vec<&str> = stderr.lines().rev().take(60).collect();
            eprintln!("{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
            break;
        }
        if runs.is_some_and(|n| executed >= n) {
            break;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let (slow, found): (Vec<PathBuf>, Vec<PathBuf>) = listing(&artifacts)
        .into_iter()
        .filter(|p| !earlier.contains(p))
        .partition(|p| is_slow(p));
    Ok(TargetRun {
        target: target.to_string(),
        executions: executed,
        seconds,
        corpus: count_files(&corpus),
        crashed,
        artifacts: found,
        slow,
    })
}

pub fn run(args: FuzzArgs) -> Result<()> {
    let root = crate::paths::workspace_root();
    let fuzz_dir = root.join("fuzz");
    let targets: Vec<&str> = if args.target.is_empty() {
        TARGETS.to_vec()
    } else {
        let mut v = Vec::new();
        for t in &args.target {
            match TARGETS.iter().find(|k| **k == t.trim()) {
                Some(k) => v.push(*k),
                None => bail!(
                    "--target: unknown fuzz target `{t}` (known: {})",
                    TARGETS.join(", ")
                ),
            }
        }
        v
    };
    if args.seconds == 0 {
        bail!("--seconds must be at least 1");
    }
    let bin_dir = build(&fuzz_dir)?;
    if args.build_only {
        println!("fuzz targets built in {}", bin_dir.display());
        return Ok(());
    }
    let work = root.join("target/fuzz");
    let mut results = Vec::new();
    for t in targets {
        eprintln!("fuzzing {t} for up to {} s ...", args.seconds);
        let r = run_target(
            &bin_dir,
            &fuzz_dir,
            &work,
            t,
            args.seconds,
            args.runs,
            args.allow_timeouts,
        )?;
        println!(
            "fuzz {:<12} {:>10} executions in {:>6.1} s ({:>8.0}/s), corpus {:>5}, {}, {} slow input(s)",
            r.target,
            r.executions,
            r.seconds,
            r.executions as f64 / r.seconds.max(0.001),
            r.corpus,
            if r.crashed { "CRASH" } else { "0 crashes" },
            r.slow.len()
        );
        for p in &r.slow {
            println!("  slow input (timeout or out of memory): {}", p.display());
        }
        results.push(r);
    }
    let crashed: Vec<&TargetRun> = results.iter().filter(|r| r.crashed).collect();
    if !crashed.is_empty() {
        let list: Vec<String> = crashed
            .iter()
            .map(|r| {
                format!(
                    "{} ({})",
                    r.target,
                    r.artifacts
                        .iter()
                        .chain(&r.slow)
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
            .collect();
        bail!(
            "fuzzing found crashes (or, without --allow-timeouts, hangs) in: {}; reproduce with fuzz/target/<triple>/release/<target> <artifact>",
            list.join("; ")
        );
    }
    if let Some(min) = args.min_runs {
        let short: Vec<String> = results
            .iter()
            .filter(|r| r.executions < min)
            .map(|r| format!("{} ({})", r.target, r.executions))
            .collect();
        if !short.is_empty() {
            bail!(
                "fewer than {min} executions: {}; give them more --seconds",
                short.join(", ")
            );
        }
    }
    let total: u64 = results.iter().map(|r| r.executions).sum();
    let slow: usize = results.iter().map(|r| r.slow.len()).sum();
    println!(
        "fuzz: {} target(s), {total} executions, 0 crashes, {slow} slow input(s){}",
        results.len(),
        if slow > 0 {
            " (reported, allowed by --allow-timeouts)"
        } else {
            ""
        }
    );
    Ok(())
}
