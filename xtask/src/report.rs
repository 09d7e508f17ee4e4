//! `cargo xtask report`: render a run's report.json as report.md, report.html and junit.xml
//! again, or merge the partial reports of `--partition k/n` runs first, or preview the report
//! of the selected cases as memmodel predicts them (no device). `--browser` then checks
//! report.html in headless Chromium.

use crate::select::CaseArgs;
use anyhow::{bail, Context, Result};
use clap::Args;
use oom_suite::report::{self, browser};
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// The report.json to render [default: target/oom-report/report.json].
    #[arg(long, value_name = "FILE", conflicts_with_all = ["merge", "from_model"])]
    pub input: Option<PathBuf>,
    /// Merge these partial reports (of `--partition k/n` runs) into one, then render it.
    #[arg(long, value_name = "FILE", num_args = 1.., conflicts_with = "from_model")]
    pub merge: Vec<PathBuf>,
    /// A device-free preview: the report of the selected cases as memmodel predicts them
    /// (backend `model`; filters as for `estimate`).
    #[arg(long = "from-model")]
    pub from_model: bool,
    /// Where to write [default: the input's directory; target/oom-report with --merge or
    /// --from-model].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Check report.html in headless Chromium: screenshot (report.png beside it), size, not
    /// blank, every section and chart present.
    #[arg(long)]
    pub browser: bool,
    #[command(flatten, next_help_heading = "Case filters (with --from-model)")]
    pub cases: CaseArgs,
}

/// `target/oom-report` (under CARGO_TARGET_DIR when set).
fn default_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::paths::workspace_root().join("target"))
        .join("oom-report")
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// Whether any case filter was given (they only make sense with --from-model).
fn filters_given(cases: &CaseArgs) -> bool {
    format!("{cases:?}") != format!("{:?}", CaseArgs::default())
}

pub fn run(args: ReportArgs) -> Result<()> {
    let written = if args.from_model {
        let cases = args.cases.select()?;
        let shapes = args
            .cases
            .shapes
            .as_ref()
            .map_or("shapes.toml".to_string(), |p| p.display().to_string());
        let command = std::env::args().collect::<Vec<_>>().join(" ");
        let r = report::model::report_from_cases(&cases, &shapes, &command);
        let dir = args.out.clone().unwrap_or_else(default_dir);
        let written = report::write_all(&r, &dir)?;
        print!("{}", r.summary_with(&written));
        written
    } else if !args.merge.is_empty() {
        if filters_given(&args.cases) {
            bail!("case filters apply to --from-model only");
        }
        let mut parts = Vec::with_capacity(args.merge.len());
        for p in &args.merge {
            parts.push(report::load(p)?);
        }
        let merged = report::merge(parts)?;
        let dir = args.out.clone().unwrap_or_else(default_dir);
        let written = report::write_all(&merged, &dir)?;
        println!(
            "merged {} partial reports into {} cases",
            args.merge.len(),
            merged.cases.len()
        );
        print!("{}", merged.summary_with(&written));
        written
    } else {
        if filters_given(&args.cases) {
            bail!("case filters apply to --from-model only");
        }
        let input = args
            .input
            .clone()
            .unwrap_or_else(|| default_dir().join(report::REPORT_JSON));
        if !input.exists() && args.input.is_none() {
            bail!(
                "no report at {}: run `cargo xtask oom` first, or pass --input FILE (or --merge FILES, or --from-model)",
                input.display()
            );
        }
        let text = std::fs::read_to_string(&input)
            .with_context(|| format!("cannot read {}", input.display()))?;
        let r = report::parse(&text, &input)?;
        let dir = args.out.clone().unwrap_or_else(|| parent_dir(&input));
        let rendered = report::render_all(&r);
        let mut files = vec![
            (report::REPORT_MD, rendered.markdown.as_str()),
            (report::REPORT_HTML, rendered.html.as_str()),
            (report::JUNIT_XML, rendered.junit.as_str()),
        ];
        // Elsewhere, carry report.json along (as it was, byte for byte) so the directory is whole.
        if !(dir.exists() && same_dir(&dir, &parent_dir(&input))) {
            files.insert(0, (report::REPORT_JSON, text.as_str()));
        }
        let written = report::write::write_files(&dir, &files)?;
        print!("{}", r.summary_with(&written));
        written
    };
    if args.browser {
        let chromium = browser::find_chromium()
            .with_context(|| format!("--browser needs Chromium: {}", browser::INSTALL_HINT))?;
        let html = written
            .path(report::REPORT_HTML)
            .context("report.html was not written")?;
        let png = written.dir.join("report.png");
        let check = browser::check(&chromium, html, &png, &browser::SECTION_HEADINGS, 3)
            .map_err(anyhow::Error::msg)?;
        println!("browser check passed: {check}");
    }
    Ok(())
}
