//! `cargo xtask sanitize`: the C++ shim of `ttnn-sys` under AddressSanitizer and
//! UndefinedBehaviorSanitizer. clang (Debian's `clang-14` + `libclang-rt-14-dev`) builds
//! `src/shim.cpp` together with the C++ harness `tests/sanitize/shim_harness.cpp` and runs it
//! twice:
//!
//! 1. without a runtime — every entry point's error paths (NULL and never-issued handles, bad
//!    codes, malformed env_json, C++ exceptions), with LeakSanitizer on and no suppression;
//! 2. with the real runtime `cargo xtask setup` installed (CPython + the `ttnn` wheel, mock n150)
//!    — init, device open/close, tensors, an OOM, an op, a capture, stale handles — with leak
//!    reports suppressed only inside libpython and the wheel's own libraries (see
//!    [`LSAN_SUPPRESSIONS`]); the shim's own allocations are still checked.
//!
//! Then `tests/sanitize/shim_fuzz.cpp`, a libFuzzer target of the shim's own entry points (NULL,
//! made-up and stack-address handles, any codes and shapes, any env_json), runs under the same
//! sanitizers for `--fuzz-seconds` with coverage of the C++ code.
//!
//! Any sanitizer report aborts the harness (`-fno-sanitize-recover=all`, `halt_on_error=1`), so
//! a clean exit means zero reports.

use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Args, Debug)]
pub struct SanitizeArgs {
    /// The clang++ to use [default: $SANITIZE_CXX, else clang++-14, clang++].
    #[arg(long, value_name = "PATH")]
    pub cxx: Option<PathBuf>,
    /// Skip the second run (with the real runtime).
    #[arg(long)]
    pub no_runtime: bool,
    /// Seconds for the libFuzzer target of the shim itself (tests/sanitize/shim_fuzz.cpp, under
    /// ASan+UBSan with coverage of the C++ code); 0 skips it.
    #[arg(long, default_value_t = 30)]
    pub fuzz_seconds: u64,
}

/// Leak reports LeakSanitizer may ignore in the run with the runtime, each for code that is not
/// ours and keeps memory for the life of the process on purpose (LeakSanitizer runs at exit):
/// - `libpython3`: CPython is never finalized by the shim (the interpreter lives as long as the
///   process); its interned strings, type objects, module dicts and arenas stay allocated;
/// - `_ttnn` / `libtt_metal`: tt-metal's process-wide singletons (MetalContext, the cluster,
///   the program and JIT build caches, pybind11's type registry) live until exit;
/// - `libmpi` / `libpmix` / `libopen-pal`: the Open MPI the wheel bundles (`ttnn.libs/`),
///   initialized at import for multi-host meshes, is never finalized by ttnn;
/// - `libcrypto`: OpenSSL's global tables, loaded by Python's `hashlib`/`ssl` at import.
///
/// Seen in runs here: always libpython3 and _ttnn; the others in some runs (they depend on
/// thread timing at exit). Nothing here names the shim: the harness and shim are built with
/// frame pointers, so a leak the shim makes has a shim frame on top and is reported.
pub const LSAN_SUPPRESSIONS: &str = "\
leak:libpython3
leak:_ttnn
leak:libtt_metal
leak:libmpi
leak:libpmix
leak:libopen-pal
leak:libcrypto
";

fn find_cxx(args: &SanitizeArgs) -> Result<PathBuf> {
    if let Some(p) = &args.cxx {
        return Ok(p.clone());
    }
    if let Some(p) = std::env::var_os("SANITIZE_CXX").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    for name in ["clang++-14", "clang++"] {
        if let Some(p) = which(name) {
            return Ok(p);
        }
    }
    bail!(
        "no clang++ found for the sanitizer build; install Debian's clang with its sanitizer \
         runtimes: apt-get install clang-14 libclang-rt-14-dev (`cargo xtask test` installs them \
         when it runs as root on Debian), or pass --cxx PATH"
    )
}

/// An executable on PATH.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// `driver_source.inc` as ttnn-sys's build.rs writes it: the Python driver as a raw string.
fn write_driver_inc(crate_dir: &Path, dir: &Path) -> Result<()> {
    let source = std::fs::read_to_string(crate_dir.join("src/driver.py"))
        .context("reading crates/ttnn-sys/src/driver.py")?;
    let delimiter = "TTNNDRV";
    if source.contains(&format!("){delimiter}\"")) {
        bail!("driver.py contains the raw-string delimiter {delimiter}");
    }
    let inc =
        format!("static const char DRIVER_SOURCE[] = R\"{delimiter}({source}){delimiter}\";\n");
    std::fs::write(dir.join("driver_source.inc"), inc).context("writing driver_source.inc")
}

/// Build the harness (`shim_harness`) or the shim's fuzz target (`shim_fuzz`); returns its path.
pub fn build(cxx: &Path, which: &str) -> Result<PathBuf> {
    let root = crate::paths::workspace_root();
    let crate_dir = root.join("crates/ttnn-sys");
    let dir = root.join("target/sanitize");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    write_driver_inc(&crate_dir, &dir)?;
    let exe = dir.join(which);
    let sanitizers = if which == "shim_fuzz" {
        "-fsanitize=fuzzer,address,undefined"
    } else {
        "-fsanitize=address,undefined"
    };
    let status = Command::new(cxx)
        .args(["-std=c++17", "-g", "-O1", "-fno-omit-frame-pointer"])
        .args([sanitizers, "-fno-sanitize-recover=all"])
        .args(["-Wall", "-Wextra", "-Werror", "-Wno-unused-parameter"])
        .arg("-I")
        .arg(crate_dir.join("include"))
        .arg("-I")
        .arg(&dir)
        .arg(crate_dir.join("src/shim.cpp"))
        .arg(crate_dir.join(format!("tests/sanitize/{which}.cpp")))
        .args(["-ldl", "-o"])
        .arg(&exe)
        .status()
        .with_context(|| format!("running {}", cxx.display()))?;
    if !status.success() {
        bail!("building the sanitized {which} failed ({status})");
    }
    Ok(exe)
}

fn run_harness(exe: &Path, env: &[(&str, String)], label: &str) -> Result<()> {
    let out = Command::new(exe)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .with_context(|| format!("running {}", exe.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stdout.lines().last().unwrap_or("").to_string();
    let reports = stderr.matches("ERROR: AddressSanitizer").count()
        + stderr.matches("ERROR: LeakSanitizer").count()
        + stderr.matches("runtime error:").count();
    if !out.status.success() || reports > 0 {
        eprintln!("{stdout}");
        eprintln!("{stderr}");
        bail!(
            "sanitized shim harness ({label}) failed: {} ({reports} sanitizer report(s))",
            out.status
        );
    }
    println!("sanitize ({label}): {last}; 0 sanitizer reports");
    Ok(())
}

/// The shim's own libFuzzer target under ASan+UBSan, for `seconds`; any report or crash fails.
fn fuzz_shim(cxx: &Path, seconds: u64) -> Result<()> {
    let exe = build(cxx, "shim_fuzz")?;
    let dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    let corpus = dir.join("shim_fuzz-corpus");
    let artifacts = dir.join("shim_fuzz-artifacts");
    std::fs::create_dir_all(&corpus)?;
    std::fs::create_dir_all(&artifacts)?;
    let out = Command::new(&exe)
        .arg(format!("-max_total_time={seconds}"))
        .args(["-print_final_stats=1", "-timeout=10", "-max_len=1024"])
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        .arg(&corpus)
        .env("ASAN_OPTIONS", "halt_on_error=1:detect_leaks=1")
        .env("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1")
        .output()
        .with_context(|| format!("running {}", exe.display()))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let runs = stderr
        .lines()
        .find_map(|l| l.strip_prefix("stat::number_of_executed_units:"))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| "?".into());
    if !out.status.success() {
        let tail: Vec<&str> = stderr.lines().rev().take(60).collect();
        eprintln!("{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
        bail!(
            "the shim's fuzz target failed ({}) after {runs} executions; the input is in {}",
            out.status,
            artifacts.display()
        );
    }
    println!("sanitize (shim fuzz target, ASan+UBSan): {runs} executions in {seconds} s; 0 sanitizer reports, 0 crashes");
    Ok(())
}

pub fn run(args: SanitizeArgs) -> Result<()> {
    let cxx = find_cxx(&args)?;
    let exe = build(&cxx, "shim_harness")?;
    let dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    // Part 1: no runtime, leak checking with nothing suppressed.
    let strict = "halt_on_error=1:abort_on_error=0:detect_leaks=1:strict_string_checks=1:\
                  detect_stack_use_after_return=1:check_initialization_order=1";
    run_harness(
        &exe,
        &[
            ("ASAN_OPTIONS", strict.to_string()),
            ("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1".into()),
            ("TTNN_SAN_LIBPYTHON", String::new()),
        ],
        "error paths, no runtime",
    )?;
    if args.fuzz_seconds > 0 {
        fuzz_shim(&cxx, args.fuzz_seconds)?;
    }
    if args.no_runtime {
        println!("sanitize: the run with the real runtime was skipped (--no-runtime)");
        return Ok(());
    }
    let manifest = match ttnn::metal::Manifest::load(&ttnn::metal::state_dir()) {
        Ok(m) => m,
        Err(e) => {
            bail!("the run with the real runtime needs `cargo xtask setup` ({e}); or pass --no-runtime")
        }
    };
    let supp = dir.join("lsan.supp");
    std::fs::write(&supp, LSAN_SUPPRESSIONS).context("writing lsan.supp")?;
    let env_json = serde_json::to_string(&manifest.environment())?;
    let device_env = serde_json::to_string(&manifest.device_environment(Some("n150"))?)?;
    // Part 2 runs with the same ASan options as part 1; the only difference is the leak
    // suppressions for the runtime's own libraries (LSAN_SUPPRESSIONS above).
    run_harness(
        &exe,
        &[
            ("ASAN_OPTIONS", strict.to_string()),
            (
                "LSAN_OPTIONS",
                format!("suppressions={}:print_suppressions=0", supp.display()),
            ),
            ("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1".into()),
            (
                "TTNN_SAN_LIBPYTHON",
                manifest.libpython.display().to_string(),
            ),
            (
                "TTNN_SAN_SITE_PACKAGES",
                manifest.site_packages.display().to_string(),
            ),
            ("TTNN_SAN_ENV_JSON", env_json),
            ("TTNN_SAN_DEVICE_ENV_JSON", device_env),
            ("TT_LOGGER_LEVEL", "error".into()),
        ],
        "the real runtime, mock n150",
    )?;
    Ok(())
}
