//! Builds the C++ shim (src/shim.cpp) with the Python driver (src/driver.py) compiled in as a
//! string, and — with the `buildtime_bindgen` feature — regenerates the bindings into OUT_DIR.

use std::path::{Path, PathBuf};

#[cfg(feature = "buildtime_bindgen")]
include!("bindgen_config.rs");

const DELIMITER: &str = "TTNNDRV";

fn main() {
    let crate_dir =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    for f in [
        "src/shim.cpp",
        "src/driver.py",
        "include/ttnn_shim.h",
        "bindgen_config.rs",
    ] {
        println!("cargo:rerun-if-changed={f}");
    }

    embed_driver(&crate_dir, &out_dir);

    cc::Build::new()
        .cpp(true)
        .std("c++17")
        .file(crate_dir.join("src/shim.cpp"))
        .include(crate_dir.join("include"))
        .include(&out_dir)
        .warnings(true)
        .flag_if_supported("-Wno-unused-parameter")
        .compile("ttnn_shim");
    println!("cargo:rustc-link-lib=dylib=dl");

    #[cfg(feature = "buildtime_bindgen")]
    {
        let text = generate_bindings(&crate_dir).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(out_dir.join("bindings.rs"), text).expect("write OUT_DIR/bindings.rs");
    }
}

/// Writes `driver_source.inc`: the driver as a C++ raw string literal.
fn embed_driver(crate_dir: &Path, out_dir: &Path) {
    let source =
        std::fs::read_to_string(crate_dir.join("src/driver.py")).expect("read src/driver.py");
    assert!(
        !source.contains(&format!("){DELIMITER}\"")),
        "src/driver.py contains the raw-string delimiter {DELIMITER}"
    );
    let inc =
        format!("static const char DRIVER_SOURCE[] = R\"{DELIMITER}({source}){DELIMITER}\";\n");
    std::fs::write(out_dir.join("driver_source.inc"), inc).expect("write driver_source.inc");
}
