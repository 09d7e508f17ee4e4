//! The committed `src/bindings.rs` must be what bindgen makes of `include/ttnn_shim.h` today.
//! Needs libclang (Debian: `apt-get install libclang-dev`); without it this test fails with a
//! message saying so (it never passes without checking). `cargo xtask bindgen` (which sets
//! TTNN_SYS_UPDATE_BINDINGS=1) rewrites the committed file.

use std::path::Path;

include!("../bindgen_config.rs");

#[test]
fn committed_bindings_match_the_header() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    // bindgen panics when it cannot load libclang: turn that into a clear failure.
    let generated = std::panic::catch_unwind(|| generate_bindings(crate_dir)).unwrap_or_else(|_| {
        panic!(
            "bindgen could not run: libclang is missing (Debian: `apt-get update && apt-get install \
             libclang-dev`, or set LIBCLANG_PATH). The bindings were NOT checked."
        )
    });
    let generated = generated.unwrap_or_else(|e| panic!("{e}"));
    let committed_path = crate_dir.join("src").join("bindings.rs");
    if std::env::var_os("TTNN_SYS_UPDATE_BINDINGS").is_some() {
        std::fs::write(&committed_path, &generated).expect("write src/bindings.rs");
        eprintln!("wrote {}", committed_path.display());
        return;
    }
    let committed = std::fs::read_to_string(&committed_path).unwrap_or_default();
    if committed != generated {
        let first = committed
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .map(|i| i + 1)
            .unwrap_or(committed.lines().count().min(generated.lines().count()) + 1);
        panic!(
            "src/bindings.rs is out of sync with include/ttnn_shim.h (first difference at line \
             {first}); run `cargo xtask bindgen` and commit the result"
        );
    }
}
