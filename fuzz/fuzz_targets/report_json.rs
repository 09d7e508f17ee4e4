//! report.json as `cargo xtask report --input` and `--baseline` read it: arbitrary text is a
//! report or a located parse error, never a panic; a report that parses renders, and compares
//! with itself without a regression.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match oom_suite::report::parse(text, Path::new("fuzz.json")) {
        Err(e) => {
            let shown = e.to_string();
            assert!(shown.starts_with("fuzz.json"), "unlocated: {shown}");
        }
        Ok(report) => {
            if report.cases.len() <= 64 {
                let _ = oom_suite::report::render_all(&report);
            }
            if let Ok(c) = oom_suite::baseline::compare(&report, &report) {
                assert!(c.passed(), "a report regresses against itself: {c}");
            }
        }
    }
});
