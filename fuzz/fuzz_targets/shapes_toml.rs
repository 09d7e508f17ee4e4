//! The shapes.toml loader on arbitrary text: it returns a matrix or a located error
//! (`file:line:column: ...`), never panics; every case of a matrix it returns can be estimated
//! (or says why not) without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match memmodel::config::parse_lenient(text, "fuzz.toml") {
        Err(e) => {
            let shown = e.to_string();
            assert!(shown.starts_with("fuzz.toml:"), "unlocated error: {shown}");
            assert!(e.line >= 1 && e.column >= 1, "bad position: {shown}");
            assert!(!e.message.is_empty(), "empty message: {shown}");
        }
        Ok((matrix, invalid)) => {
            for e in &invalid {
                assert!(e.to_string().starts_with("fuzz.toml:"), "{e}");
            }
            for case in matrix.cases.iter().take(256) {
                let _ = case.id();
                if let Ok(e) = case.estimate() {
                    let _ = e.verdict.name();
                }
                let _ = case.to_spec().to_case();
            }
        }
    }
});
