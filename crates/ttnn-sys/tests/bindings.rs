//! The committed `src/bindings.rs` must be what bindgen makes of `include/ttnn_shim.h` today.
//!
//! Needs libclang: the Debian package `libclang-dev`, which `cargo xtask test` installs when it
//! runs as root (or with non-interactive sudo) on Debian or Ubuntu. Where libclang cannot be
//! loaded the test reports itself *ignored*, naming the package — it never passes without
//! checking — except where it must not skip: with `CI` set (`CI=true`; CI runs every test) and in
//! update mode, it fails. `cargo xtask bindgen` (which sets TTNN_SYS_UPDATE_BINDINGS=1) rewrites
//! the committed file.

use libtest_mimic::{Arguments, Completion, Failed, Trial};
use std::path::Path;

include!("../bindgen_config.rs");

/// What to do without libclang, for skip messages and failures.
const NO_LIBCLANG: &str = "libclang not found; install the Debian package libclang-dev \
    (`apt-get install libclang-dev`, or run `cargo xtask test` as root on Debian, which installs \
    it), or point LIBCLANG_PATH at a libclang.so";

/// Whether this is CI, where a test must run rather than skip (`CI` set, and not `0`/`false`).
fn on_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
}

/// Why bindgen did not produce bindings.
enum NotGenerated {
    /// libclang could not be loaded (bindgen panics "Unable to find libclang: ...").
    NoLibclang(String),
    /// Anything else: bindgen's error, or another panic.
    Failed(String),
}

/// Runs bindgen with the default panic message silenced (the outcome is reported instead).
fn generate(crate_dir: &Path) -> Result<String, NotGenerated> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(|| generate_bindings(crate_dir));
    std::panic::set_hook(hook);
    match result {
        Ok(Ok(text)) => Ok(text),
        Ok(Err(e)) => Err(NotGenerated::Failed(e)),
        Err(payload) => {
            let msg = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "(no message)".into());
            if msg.contains("Unable to find libclang") {
                Err(NotGenerated::NoLibclang(msg))
            } else {
                Err(NotGenerated::Failed(format!("bindgen panicked: {msg}")))
            }
        }
    }
}

fn committed_bindings_match_the_header() -> Result<Completion, Failed> {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let update = std::env::var_os("TTNN_SYS_UPDATE_BINDINGS").is_some();
    let generated = match generate(crate_dir) {
        Ok(text) => text,
        Err(NotGenerated::NoLibclang(detail)) => {
            if update {
                return Err(format!("{NO_LIBCLANG}. Nothing was regenerated. ({detail})").into());
            }
            if on_ci() {
                return Err(format!(
                    "{NO_LIBCLANG}. CI is set, so this test may not skip: the bindings were NOT \
                     checked. ({detail})"
                )
                .into());
            }
            return Ok(Completion::ignored_with(format!("skipped: {NO_LIBCLANG}")));
        }
        Err(NotGenerated::Failed(e)) => return Err(e.into()),
    };
    let committed_path = crate_dir.join("src").join("bindings.rs");
    if update {
        std::fs::write(&committed_path, &generated)
            .map_err(|e| format!("write src/bindings.rs: {e}"))?;
        eprintln!("wrote {}", committed_path.display());
        return Ok(Completion::Completed);
    }
    let committed = std::fs::read_to_string(&committed_path).unwrap_or_default();
    if committed != generated {
        let first = committed
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .map(|i| i + 1)
            .unwrap_or(committed.lines().count().min(generated.lines().count()) + 1);
        return Err(format!(
            "src/bindings.rs is out of sync with include/ttnn_shim.h (first difference at line \
             {first}); run `cargo xtask bindgen` and commit the result"
        )
        .into());
    }
    Ok(Completion::Completed)
}

fn main() {
    let args = Arguments::from_args();
    let trials = vec![Trial::ignorable_test(
        "committed_bindings_match_the_header",
        committed_bindings_match_the_header,
    )];
    libtest_mimic::run(&args, trials).exit();
}
