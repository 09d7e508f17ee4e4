//! report.html in a real browser: headless Chromium renders a fixture report (memmodel over
//! shapes.toml plus hand-made records of every other class); the screenshot must have the
//! window's size and not be blank, and the DOM Chromium built must hold every section heading
//! and the SVG charts. Without Chromium the test reports itself ignored, naming the Debian
//! package (`chromium`, which `cargo xtask test` installs when it runs as root on Debian) — never
//! a silent pass; with `CI` set (`CI=true`: CI runs every test) it fails instead.
//!
//! The screenshot stays at `target/tmp/report-browser/report.png` for a look.

mod report_fixtures;

use libtest_mimic::{Arguments, Completion, Failed, Trial};
use oom_suite::report::{self, browser};
use std::path::PathBuf;

/// Whether this is CI, where a test must run rather than skip (`CI` set, and not `0`/`false`).
fn on_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
}

fn render_and_check() -> Result<Completion, Failed> {
    let Some(chromium) = browser::find_chromium() else {
        if on_ci() {
            return Err(format!(
                "no Chromium found; {}. CI is set, so this test may not skip: report.html was NOT \
                 checked in a browser",
                browser::INSTALL_HINT
            )
            .into());
        }
        return Ok(Completion::ignored_with(format!(
            "skipped: no Chromium found; {}",
            browser::INSTALL_HINT
        )));
    };
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report-browser");
    let _ = std::fs::remove_dir_all(&dir);
    let r = report_fixtures::full_report();
    let written = report::write_all(r, &dir).map_err(|e| e.to_string())?;
    let html = written
        .path(report::REPORT_HTML)
        .expect("report.html written");
    let devices: std::collections::BTreeSet<&str> =
        r.cases.iter().map(|c| c.device.as_str()).collect();
    // failures per op, categories, one bank chart per device, overhead
    let min_svg = 3 + devices.len();
    let check = browser::check(
        &chromium,
        html,
        &dir.join("report.png"),
        &browser::SECTION_HEADINGS,
        min_svg,
    )?;
    println!("{check}");
    Ok(Completion::Completed)
}

fn main() {
    let args = Arguments::from_args();
    let trials = vec![Trial::ignorable_test(
        "browser/report_html_renders",
        render_and_check,
    )];
    libtest_mimic::run(&args, trials).exit();
}
