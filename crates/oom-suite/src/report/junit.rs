//! `junit.xml` for CI dashboards: one `<testsuite>` per operator inside one `<testsuites>`, one
//! `<testcase>` per case (classname = op, name = case id). A case that fits passes; an
//! out-of-memory case is `<skipped message="Expected OOM: ...">` (the suite's semantics: the
//! device refused, cleanly); every other class — and an OOM that leaked memory or whose canary
//! failed — is a `<failure>` with the raw message. Counts are in the attributes.

use super::fmt::escape_xml;
use crate::record::{CaseRecord, Class, Report};
use std::collections::BTreeMap;
use std::io::Write;

/// How a case shows in JUnit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Skipped(String),
    Failure { kind: String, message: String },
}

/// The JUnit verdict of one case.
pub fn verdict(c: &CaseRecord) -> Verdict {
    if c.leaked_bytes > 0 {
        return Verdict::Failure {
            kind: "leak".into(),
            message: format!(
                "device memory not back at its baseline after the case: {} B per bank left allocated (class {}){}",
                c.leaked_bytes,
                c.class.name(),
                if c.message.is_empty() { String::new() } else { format!(": {}", c.message) }
            ),
        };
    }
    if c.canary_ok == Some(false) {
        return Verdict::Failure {
            kind: "canary".into(),
            message: format!(
                "the one-element canary after this {} failed{}",
                c.class.name(),
                if c.message.is_empty() {
                    String::new()
                } else {
                    format!(": {}", c.message)
                }
            ),
        };
    }
    let with_fix = |msg: String| match &c.fix {
        Some(f) => format!(
            "{msg}; fix: {} ({})",
            f.detail,
            if f.verified {
                format!("verified on {}", f.verified_on.join(", "))
            } else {
                "not verified".into()
            }
        ),
        None => msg,
    };
    match c.class {
        Class::Fits => Verdict::Pass,
        Class::Oom => Verdict::Skipped(with_fix(c.expected_oom_message())),
        // As in the suite: a clash shapes.toml lists is expected.
        Class::CbClash if c.expect == "must_cb_clash" => {
            Verdict::Skipped(with_fix(format!("Expected CB clash: {}", c.message)))
        }
        // No verdict is neither a pass nor a failure of the case.
        Class::Unmodeled => Verdict::Skipped(format!("No verdict (unmodeled): {}", c.message)),
        other => Verdict::Failure {
            kind: other.name().into(),
            message: if c.message.trim().is_empty() {
                format!("{} (the runtime gave no message)", other.name())
            } else {
                c.message.clone()
            },
        },
    }
}

/// The first line of a message, for the `message` attribute (the body carries all of it).
fn first_line(s: &str) -> &str {
    s.lines().find(|l| !l.trim().is_empty()).unwrap_or("")
}

pub fn render(report: &Report) -> String {
    let mut out = Vec::new();
    let mut whole = |i: usize| Ok(report.cases[i].clone());
    write(report, report.cases.len(), &mut whole, &mut out).expect("writing into memory");
    String::from_utf8(out).expect("escaped XML is UTF-8")
}

/// A case as the counts see it: its index, time and verdict.
struct Counted {
    index: u32,
    elapsed_ms: f64,
    verdict: Verdict,
}

/// [`render`] of the `len` records `record(i)` reads, written into `w` case by case (`head` gives
/// the header; its cases are not read): a first pass counts each op's verdicts and times (a few
/// bytes a case), the second writes each case with its message. A 100k-case run never holds the
/// document or the messages.
pub fn write(
    head: &Report,
    len: usize,
    record: &mut dyn FnMut(usize) -> std::io::Result<CaseRecord>,
    w: &mut dyn Write,
) -> std::io::Result<()> {
    let mut by_op: BTreeMap<String, Vec<Counted>> = BTreeMap::new();
    for i in 0..len {
        let c = record(i)?;
        let counted = Counted {
            index: i as u32,
            elapsed_ms: c.elapsed_ms.max(0.0),
            // Only the kind counts here; the message is rendered from the record again.
            verdict: match verdict(&c) {
                Verdict::Pass => Verdict::Pass,
                Verdict::Skipped(_) => Verdict::Skipped(String::new()),
                Verdict::Failure { .. } => Verdict::Failure {
                    kind: String::new(),
                    message: String::new(),
                },
            },
        };
        match by_op.get_mut(&c.op) {
            Some(v) => v.push(counted),
            None => {
                by_op.insert(c.op, vec![counted]);
            }
        }
    }
    // (tests, failures, skipped, seconds) of cases in the order given.
    let count = |cases: &mut dyn Iterator<Item = &Counted>| {
        let (mut tests, mut failures, mut skipped, mut times) = (0, 0, 0, Vec::new());
        for c in cases {
            match c.verdict {
                Verdict::Pass => {}
                Verdict::Skipped(_) => skipped += 1,
                Verdict::Failure { .. } => failures += 1,
            }
            tests += 1;
            times.push(c.elapsed_ms);
        }
        // Summed as `render` always did (the order and the start of a float sum show).
        let time = times.into_iter().sum::<f64>() / 1000.0;
        (tests, failures, skipped, time)
    };
    let (tests, failures, skipped, time) = count(&mut by_op.values().flatten());
    writeln!(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>")?;
    writeln!(
        w,
        "<testsuites name=\"ttnn-oom\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{time:.3}\">"
    )?;
    let report = head;
    for (op, cases) in &by_op {
        let (tests, failures, skipped, time) = count(&mut cases.iter());
        writeln!(
            w,
            "  <testsuite name=\"oom/{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{time:.3}\" timestamp=\"{}\">",
            escape_xml(op),
            escape_xml(&report.generated_at)
        )?;
        writeln!(
            w,
            "    <properties><property name=\"backend\" value=\"{}\"/><property name=\"runtime_version\" value=\"{}\"/></properties>",
            escape_xml(&report.backend),
            escape_xml(&report.runtime_version)
        )?;
        for counted in cases {
            let c = record(counted.index as usize)?;
            write!(
                w,
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
                escape_xml(&c.op),
                escape_xml(&c.id),
                c.elapsed_ms.max(0.0) / 1000.0
            )?;
            match verdict(&c) {
                Verdict::Pass => w.write_all(b"/>\n")?,
                Verdict::Skipped(msg) => writeln!(
                    w,
                    ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                    escape_xml(&msg)
                )?,
                Verdict::Failure { kind, message } => writeln!(
                    w,
                    ">\n      <failure type=\"{}\" message=\"{}\">{}</failure>\n    </testcase>",
                    escape_xml(&kind),
                    escape_xml(first_line(&message)),
                    escape_xml(&message)
                )?,
            }
        }
        w.write_all(b"  </testsuite>\n")?;
    }
    w.write_all(b"</testsuites>\n")
}
