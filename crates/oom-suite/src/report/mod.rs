//! The report of an OOM run: everything from a [`Report`] value to the four files of
//! `target/oom-report/`.
//!
//! - [`analysis`] computes every number once (totals by class, per-op, per-shape, per-device,
//!   memory categories, 8K impact, which op fails first, the fixes that would fit);
//! - [`default_calls`] compares the calls without memory_config (the original suite's) with the
//!   same shapes' explicit-memory cases;
//! - [`sections`] lays the numbers out as one document, which [`markdown`] renders as
//!   `report.md` and [`html`] as `report.html` (one self-contained page with inline SVG charts
//!   drawn by [`svg`]) — both renderings show the same sections and the same numbers;
//! - [`junit`] renders `junit.xml` for CI dashboards;
//! - [`write`] writes the files atomically (temporary file + rename, all or nothing);
//! - [`merge()`] joins the partial reports of `--partition k/n` runs;
//! - [`model`] makes a report from memmodel's predictions (backend `model`): fixtures for tests
//!   and a device-free preview of the report;
//! - [`browser`] renders `report.html` in headless Chromium and checks what it shows.
//!
//! The OOM runner calls [`write_all`] and prints [`Report::summary_with`].

pub mod analysis;
pub mod browser;
pub mod default_calls;
pub mod doc;
pub mod fmt;
pub mod html;
pub mod junit;
pub mod markdown;
pub mod merge;
pub mod model;
pub mod sections;
pub mod summary;
pub mod svg;
pub mod timeline;
pub mod write;

pub use merge::merge;
pub use write::{write_all, write_all_streamed, write_renderings, Written};

use crate::record::Report;
use std::path::{Path, PathBuf};

/// File names inside the output directory.
pub const REPORT_JSON: &str = "report.json";
pub const REPORT_MD: &str = "report.md";
pub const REPORT_HTML: &str = "report.html";
pub const JUNIT_XML: &str = "junit.xml";

/// What can go wrong reading, merging, rendering or writing a report. Every variant names the
/// file it is about, where there is one.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {}: {cause}", path.display())]
    Read {
        path: PathBuf,
        /// Shown in the message (not chained: one line says it all).
        cause: std::io::Error,
    },
    /// Malformed JSON or a record that does not match the data model.
    #[error("{}:{line}:{column}: {message}{}", path.display(), at_field(field))]
    Parse {
        path: PathBuf,
        line: usize,
        column: usize,
        /// Where in the document (`cases[3].class`); empty at the top level.
        field: String,
        message: String,
    },
    #[error("cannot write {}: {what}: {cause}", path.display())]
    Write {
        path: PathBuf,
        /// What was being done (`creating the output directory`, `renaming ... into place`).
        what: String,
        cause: std::io::Error,
    },
    #[error("cannot merge reports: {0}")]
    Merge(String),
    #[error("cannot serialize the report: {0}")]
    Serialize(String),
    /// Reading the run's records back (the record spill) failed.
    #[error("cannot read the run's records: {0}")]
    Records(std::io::Error),
}

fn at_field(field: &str) -> String {
    if field.is_empty() || field == "." || field == "?" {
        String::new()
    } else {
        format!(" (at `{field}`)")
    }
}

/// Result of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Read a `report.json`. Errors name the file, and for malformed JSON the line, the column and
/// the field.
pub fn load(path: &Path) -> Result<Report> {
    let read_error = |cause| Error::Read {
        path: path.to_path_buf(),
        cause,
    };
    let bytes = std::fs::read(path).map_err(read_error)?;
    // A gzipped report (by its magic number, whatever the file is called).
    let text = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut text)
            .map_err(read_error)?;
        text
    } else {
        String::from_utf8(bytes)
            .map_err(|e| read_error(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?
    };
    parse(&text, path)
}

/// Parse the text of a `report.json` (`path` only names it in errors).
pub fn parse(text: &str, path: &Path) -> Result<Report> {
    let mut de = serde_json::Deserializer::from_str(text);
    let parsed: Result<Report, _> = serde_path_to_error::deserialize(&mut de);
    let report = parsed.map_err(|e| {
        let field = e.path().to_string();
        let inner = e.into_inner();
        Error::Parse {
            path: path.to_path_buf(),
            line: inner.line(),
            column: inner.column(),
            field,
            message: strip_position(&inner.to_string()),
        }
    })?;
    de.end().map_err(|e| Error::Parse {
        path: path.to_path_buf(),
        line: e.line(),
        column: e.column(),
        field: String::new(),
        message: strip_position(&e.to_string()),
    })?;
    Ok(report)
}

/// serde_json ends its messages with " at line L column C"; the error shows them up front.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// `report.json` as written: pretty JSON with a final newline.
pub fn to_json(report: &Report) -> Result<String> {
    let mut s =
        serde_json::to_string_pretty(report).map_err(|e| Error::Serialize(e.to_string()))?;
    s.push('\n');
    Ok(s)
}

/// `report.md`.
pub fn render_markdown(report: &Report) -> String {
    let a = analysis::Analysis::of(report);
    markdown::render(&sections::document(&a))
}

/// `report.html`: one self-contained page (inline CSS and SVG, no script, no external asset).
pub fn render_html(report: &Report) -> String {
    let a = analysis::Analysis::of(report);
    html::render(&sections::document(&a))
}

/// `junit.xml`.
pub fn render_junit(report: &Report) -> String {
    junit::render(report)
}

/// The three renderings (Markdown, HTML, JUnit), computed from one analysis.
pub fn render_all(report: &Report) -> Renderings {
    let a = analysis::Analysis::of(report);
    let doc = sections::document(&a);
    Renderings {
        markdown: markdown::render(&doc),
        html: html::render(&doc),
        junit: junit::render(report),
    }
}

/// The rendered files, in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Renderings {
    pub markdown: String,
    pub html: String,
    pub junit: String,
}
