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

/// The whole-model report (`cargo xtask model`): the example model at 2176x3840 on sim on both
/// boards (one fails at its first call, the other part-way), a timeline chart per board.
fn model_report_renders() -> Result<Completion, Failed> {
    let Some(chromium) = browser::find_chromium() else {
        if on_ci() {
            return Err(format!(
                "no Chromium found; {}. CI is set, so this test may not skip: the model report \
                 was NOT checked in a browser",
                browser::INSTALL_HINT
            )
            .into());
        }
        return Ok(Completion::ignored_with(format!(
            "skipped: no Chromium found; {}",
            browser::INSTALL_HINT
        )));
    };
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/c2f-block.toml");
    let text = std::fs::read_to_string(path)?;
    let file = memmodel::model::ModelFile::parse(&text, path).map_err(|e| e.to_string())?;
    let mut runs = Vec::new();
    for device in memmodel::device::DEVICES {
        let model = file
            .build(Some([2176, 3840]), device)
            .map_err(|e| e.to_string())?;
        let dev = ttnn::sim::Device::open(
            device,
            ttnn::sim::DeviceOptions::with_l1_small(model.l1_small_bytes()),
        )?;
        runs.push(ttnn::model::run_model_with(&dev, &model, true)?);
    }
    let doc = report::timeline::document(&runs);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("model-report-browser");
    let _ = std::fs::remove_dir_all(&dir);
    let written =
        report::write::write_files(&dir, &[(report::REPORT_HTML, &report::html::render(&doc))])
            .map_err(|e| e.to_string())?;
    let html = written.path(report::REPORT_HTML).expect("written");
    let headings: Vec<String> = runs.iter().map(report::timeline::board_heading).collect();
    let headings: Vec<&str> = headings.iter().map(String::as_str).collect();
    let check = browser::check(
        &chromium,
        html,
        &dir.join("model.png"),
        &headings,
        runs.len(),
    )?;
    let dom = browser::dump_dom(&chromium, html)?;
    if !dom.contains("fails: oom") || !dom.contains("L1 peak") {
        return Err("the timeline has no failure or peak mark".into());
    }
    println!("{check}");
    Ok(Completion::Completed)
}

fn main() {
    let args = Arguments::from_args();
    let trials = vec![
        Trial::ignorable_test("browser/report_html_renders", render_and_check),
        Trial::ignorable_test("browser/model_report_renders", model_report_renders),
    ];
    libtest_mimic::run(&args, trials).exit();
}
