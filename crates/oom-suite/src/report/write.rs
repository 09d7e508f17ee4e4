//! Writing the report files atomically. Everything is rendered in memory first; then each file is
//! written to a temporary file in the output directory (same filesystem), flushed to disk, and
//! only when every temporary file is complete are they renamed over the targets. A failure at
//! any point removes the temporary files: a reader sees either the old file or the new one,
//! never a partial one.

use super::{Error, Renderings, Result, JUNIT_XML, REPORT_HTML, REPORT_JSON, REPORT_MD};
use crate::record::{CaseRecord, Report};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The files a write produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub dir: PathBuf,
    pub files: Vec<PathBuf>,
}

impl Written {
    /// The path of a file by name (`report.md`), if it was written.
    pub fn path(&self, name: &str) -> Option<&Path> {
        self.files
            .iter()
            .find(|p| p.file_name().is_some_and(|f| f == name))
            .map(PathBuf::as_path)
    }
}

impl std::fmt::Display for Written {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for p in &self.files {
            writeln!(f, "  {}", p.display())?;
        }
        Ok(())
    }
}

/// Write `report.json`, `report.md`, `report.html` and `junit.xml` into `dir` (created if
/// missing), all or nothing.
pub fn write_all(report: &Report, dir: &Path) -> Result<Written> {
    // report.json is the largest file (150 MB at 100k cases): serialized straight into its file,
    // never held as one string.
    let mut record = |i: usize| Ok(report.cases[i].clone());
    write_all_streamed(report, report.cases.len(), &mut record, dir).map(|(written, _)| written)
}

/// Where the records of a streamed report come from: the record of case `i` (0-based, in report
/// order), read when it is written.
pub type CaseSource<'a> = &'a mut dyn FnMut(usize) -> std::io::Result<CaseRecord>;

/// [`write_all`] for a run whose records are on disk ([`crate::spill`]): every file is made from
/// the records `cases` reads (`cases_len` of them, read one at a time; `head.cases` is ignored),
/// byte for byte what [`write_all`] writes of the whole report: the analysis behind the Markdown
/// and HTML folds them into bounded summaries ([`super::analysis::Analysis::streamed`]),
/// `report.json` and `junit.xml` are streamed record by record. Returns the analysis too (the
/// run's summary and checks read it).
pub fn write_all_streamed(
    head: &Report,
    cases_len: usize,
    cases: CaseSource<'_>,
    dir: &Path,
) -> Result<(Written, super::analysis::Analysis)> {
    let a = super::analysis::Analysis::streamed(head, cases_len, &mut *cases)
        .map_err(Error::Records)?;
    let doc = super::sections::document(&a);
    let markdown_text = super::markdown::render(&doc);
    let html_text = super::html::render(&doc);
    drop(doc);
    let source = std::cell::RefCell::new(cases);
    let streamed = StreamedReport {
        head,
        cases: StreamedCases {
            len: cases_len,
            source: &source,
        },
    };
    let json = |w: &mut dyn Write| -> std::io::Result<()> {
        serde_json::to_writer_pretty(&mut *w, &streamed)?;
        w.write_all(b"\n")
    };
    let markdown = |w: &mut dyn Write| w.write_all(markdown_text.as_bytes());
    let html = |w: &mut dyn Write| w.write_all(html_text.as_bytes());
    let junit = |w: &mut dyn Write| {
        let mut source = source.borrow_mut();
        super::junit::write(head, cases_len, &mut |i| (*source)(i), w)
    };
    let written = write_files_with(
        dir,
        &[
            (REPORT_JSON, &json),
            (REPORT_MD, &markdown),
            (REPORT_HTML, &html),
            (JUNIT_XML, &junit),
        ],
    )?;
    Ok((written, a))
}

/// A [`Report`] whose cases are read as they are serialized. The fields and their order are
/// [`Report`]'s (a test compares the two serializations).
struct StreamedReport<'a, 'b, 'c> {
    head: &'a Report,
    cases: StreamedCases<'b, 'c>,
}

struct StreamedCases<'b, 'c> {
    len: usize,
    source: &'b std::cell::RefCell<CaseSource<'c>>,
}

impl serde::Serialize for StreamedCases<'_, '_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::{Error as _, SerializeSeq};
        let mut source = self.source.borrow_mut();
        let mut seq = s.serialize_seq(Some(self.len))?;
        for i in 0..self.len {
            let record = (*source)(i).map_err(S::Error::custom)?;
            seq.serialize_element(&record)?;
        }
        seq.end()
    }
}

impl serde::Serialize for StreamedReport<'_, '_, '_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let h = self.head;
        let thresholds = !h.thresholds.is_empty();
        let mut st = s.serialize_struct("Report", 10 + usize::from(thresholds))?;
        st.serialize_field("tool", &h.tool)?;
        st.serialize_field("generated_at", &h.generated_at)?;
        st.serialize_field("command", &h.command)?;
        st.serialize_field("backend", &h.backend)?;
        st.serialize_field("runtime_version", &h.runtime_version)?;
        st.serialize_field("shapes_file", &h.shapes_file)?;
        st.serialize_field("partition", &h.partition)?;
        st.serialize_field("wall_time_ms", &h.wall_time_ms)?;
        st.serialize_field("totals", &h.totals)?;
        st.serialize_field("cases", &self.cases)?;
        if thresholds {
            st.serialize_field("thresholds", &h.thresholds)?;
        }
        st.end()
    }
}

/// What a file holds: written into it through a buffer.
type Contents<'a> = &'a dyn Fn(&mut dyn Write) -> std::io::Result<()>;

/// Write the three renderings (not `report.json`) into `dir`, all or nothing.
pub fn write_renderings(report: &Report, dir: &Path) -> Result<Written> {
    let Renderings {
        markdown,
        html,
        junit,
    } = super::render_all(report);
    write_files(
        dir,
        &[
            (REPORT_MD, markdown.as_str()),
            (REPORT_HTML, html.as_str()),
            (JUNIT_XML, junit.as_str()),
        ],
    )
}

/// Temporary files not yet renamed; dropped (on any error) they are removed.
struct Pending {
    temps: Vec<(PathBuf, PathBuf)>,
}

impl Drop for Pending {
    fn drop(&mut self) {
        for (tmp, _) in &self.temps {
            let _ = fs::remove_file(tmp);
        }
    }
}

fn write_err(path: &Path, what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.to_path_buf();
    let what = what.into();
    move |cause| Error::Write { path, what, cause }
}

/// Write several files into `dir` atomically as a set (see the module docs).
pub fn write_files(dir: &Path, files: &[(&str, &str)]) -> Result<Written> {
    let writers: Vec<_> = files
        .iter()
        .map(|(_, t)| move |w: &mut dyn Write| w.write_all(t.as_bytes()))
        .collect();
    let named: Vec<(&str, Contents<'_>)> = files
        .iter()
        .zip(&writers)
        .map(|((name, _), w)| (*name, w as Contents<'_>))
        .collect();
    write_files_with(dir, &named)
}

fn write_files_with(dir: &Path, files: &[(&str, Contents<'_>)]) -> Result<Written> {
    if dir.as_os_str().is_empty() {
        return write_files_with(Path::new("."), files);
    }
    match fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(Error::Write {
                path: dir.to_path_buf(),
                what: "the output path exists and is not a directory".into(),
                cause: std::io::Error::new(std::io::ErrorKind::AlreadyExists, "not a directory"),
            })
        }
        Err(_) => {
            fs::create_dir_all(dir).map_err(write_err(dir, "creating the output directory"))?
        }
    }
    let mut pending = Pending { temps: Vec::new() };
    for (name, contents) in files {
        let target = dir.join(name);
        let tmp = write_temp(dir, name, *contents)?;
        pending.temps.push((tmp, target));
    }
    // Every temporary file is complete: move them into place.
    let mut written = Vec::new();
    while !pending.temps.is_empty() {
        let (tmp, target) = pending.temps.remove(0);
        if let Err(cause) = fs::rename(&tmp, &target) {
            let _ = fs::remove_file(&tmp);
            return Err(Error::Write {
                path: target,
                what: format!("renaming {} into place", tmp.display()),
                cause,
            });
        }
        written.push(target);
    }
    // Make the renames durable (best effort: not every filesystem supports syncing a directory).
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(Written {
        dir: dir.to_path_buf(),
        files: written,
    })
}

/// Write one file atomically (temporary file in the same directory, then rename). The parent
/// directory must exist.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| Error::Write {
            path: path.to_path_buf(),
            what: "the path has no file name".into(),
            cause: std::io::Error::new(std::io::ErrorKind::InvalidInput, "no file name"),
        })?;
    if !dir.is_dir() {
        return Err(Error::Write {
            path: path.to_path_buf(),
            what: format!("the directory {} does not exist", dir.display()),
            cause: std::io::Error::new(std::io::ErrorKind::NotFound, "missing parent directory"),
        });
    }
    let tmp = write_temp(dir, name, &|w: &mut dyn Write| w.write_all(contents))?;
    fs::rename(&tmp, path).map_err(|cause| {
        let _ = fs::remove_file(&tmp);
        Error::Write {
            path: path.to_path_buf(),
            what: format!("renaming {} into place", tmp.display()),
            cause,
        }
    })
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Create `.<name>.tmp-<pid>-<n>` in `dir`, write, flush and sync it. On error nothing is left.
fn write_temp(dir: &Path, name: &str, contents: Contents<'_>) -> Result<PathBuf> {
    let target = dir.join(name);
    let mut attempt = 0;
    let (tmp, file) = loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".{name}.tmp-{}-{n}", std::process::id()));
        match OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(f) => break (tmp, f),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 100 => {
                attempt += 1;
            }
            Err(cause) => {
                return Err(Error::Write {
                    path: target,
                    what: format!("creating a temporary file in {}", dir.display()),
                    cause,
                })
            }
        }
    };
    let mut buffered = std::io::BufWriter::with_capacity(1 << 20, file);
    let result = contents(&mut buffered)
        .and_then(|()| buffered.flush())
        .and_then(|()| buffered.get_ref().sync_all());
    drop(buffered);
    if let Err(cause) = result {
        let _ = fs::remove_file(&tmp);
        return Err(Error::Write {
            path: target,
            what: format!("writing {}", tmp.display()),
            cause,
        });
    }
    Ok(tmp)
}
