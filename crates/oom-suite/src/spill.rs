//! Records spilled to disk as they finish: one JSON line per case in a hidden file of the output
//! directory, so a run holds no record while it runs (a record is ~2 KB; 100k cases would hold
//! 200 MB). The report is built from the spill afterwards, one record at a time
//! ([`crate::report::write::write_all_streamed`]): `report.json` and `junit.xml` streamed from
//! it, the Markdown and HTML from an analysis folded from it.

use crate::record::{CaseRecord, Class, Totals};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Where each case's line starts; `u64::MAX` = not reported (yet).
const MISSING: u64 = u64::MAX;

/// The spill being written. Records may arrive in any order (worker processes finish out of
/// order); each is found again by its case index. The file is removed when the spill (or the
/// [`SpillReader`] it becomes) is dropped.
pub struct Spill {
    path: PathBuf,
    out: BufWriter<File>,
    offsets: Vec<u64>,
    written: u64,
    /// Each reported case's class and whether it leaked: what the totals count.
    outcomes: Vec<Option<(Class, bool)>>,
    totals: Totals,
}

impl Spill {
    /// A new spill for `cases` cases in `dir` (which must exist).
    pub fn create(dir: &Path, cases: usize) -> std::io::Result<Spill> {
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = dir.join(format!(".records-{}-{n}.jsonl", std::process::id()));
        let file = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        Ok(Spill {
            path,
            out: BufWriter::with_capacity(1 << 20, file),
            offsets: vec![MISSING; cases],
            written: 0,
            outcomes: vec![None; cases],
            totals: Totals::default(),
        })
    }

    /// Append the record of case `index` (a later record of the same index replaces it).
    pub fn push(&mut self, index: usize, record: &CaseRecord) -> std::io::Result<()> {
        let slot = self.offsets.get_mut(index).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("case index {index} is outside the spill"),
            )
        })?;
        let mut line = serde_json::to_vec(record)?;
        line.push(b'\n');
        self.out.write_all(&line)?;
        *slot = self.written;
        self.written += line.len() as u64;
        let replaced = self.outcomes[index].is_some();
        self.outcomes[index] = Some((record.class, record.leaked_bytes > 0));
        if replaced {
            // Rare (a case reported again): count every case's last record afresh.
            self.totals = Totals::default();
            for &(class, leaked) in self.outcomes.iter().flatten() {
                self.totals.count(class, leaked);
            }
        } else {
            self.totals.add(record);
        }
        Ok(())
    }

    /// Counts over the last record of each case pushed so far.
    pub fn totals(&self) -> &Totals {
        &self.totals
    }

    /// Whether case `index` has reported.
    pub fn has(&self, index: usize) -> bool {
        self.offsets.get(index).is_some_and(|&o| o != MISSING)
    }

    /// Done writing: read the records back.
    pub fn finish(mut self) -> std::io::Result<SpillReader> {
        self.out.flush()?;
        let path = std::mem::take(&mut self.path);
        let offsets = std::mem::take(&mut self.offsets);
        let file = self.out.get_ref().try_clone()?;
        Ok(SpillReader {
            path,
            input: BufReader::with_capacity(1 << 20, file),
            offsets,
            at: None,
            line: String::new(),
        })
    }
}

impl Drop for Spill {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A finished spill, read by case index (sequential reads in index order do not seek).
pub struct SpillReader {
    path: PathBuf,
    input: BufReader<File>,
    offsets: Vec<u64>,
    /// The file position the reader is at, when known.
    at: Option<u64>,
    line: String,
}

impl SpillReader {
    /// Cases the spill was made for.
    pub fn len(&self) -> usize {
        self.offsets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }

    /// The record of case `index`; `None` when it never reported.
    pub fn get(&mut self, index: usize) -> std::io::Result<Option<CaseRecord>> {
        let Some(&offset) = self.offsets.get(index) else {
            return Ok(None);
        };
        if offset == MISSING {
            return Ok(None);
        }
        if self.at != Some(offset) {
            self.input.seek(SeekFrom::Start(offset))?;
        }
        self.line.clear();
        let n = self.input.read_line(&mut self.line)?;
        self.at = Some(offset + n as u64);
        serde_json::from_str(&self.line).map(Some).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: case {index}: {e}", self.path.display()),
            )
        })
    }
}

impl Drop for SpillReader {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The record as the Markdown and HTML renderings need it: without the rendered call, the
/// measurement note, the backend and runtime version (the report's head says them), the message
/// of a case that fitted or ran out of memory (only the other classes' messages are grouped) and
/// the captured buffers. `compared` keeps the message and the buffers. What the analysis keeps of
/// the few cases it shows whole.
pub fn slim(mut record: CaseRecord, compared: bool) -> CaseRecord {
    record.ttnn = String::new();
    record.measure_note = None;
    record.backend = String::new();
    record.runtime_version = String::new();
    if !compared {
        record.captured_buffers = Vec::new();
        if matches!(record.class, Class::Fits | Class::Oom) {
            record.message = String::new();
        }
    }
    record
}
