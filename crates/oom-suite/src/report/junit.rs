//! `junit.xml` for CI dashboards: one `<testsuite>` per operator inside one `<testsuites>`, one
//! `<testcase>` per case (classname = op, name = case id). A case that fits passes; an
//! out-of-memory case is `<skipped message="Expected OOM: ...">` (the suite's semantics: the
//! device refused, cleanly); every other class — and an OOM that leaked memory or whose canary
//! failed — is a `<failure>` with the raw message. Counts are in the attributes.

use super::fmt::escape_xml;
use crate::record::{CaseRecord, Class, Report};
use std::collections::BTreeMap;
use std::fmt::Write as _;

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
    let mut by_op: BTreeMap<&str, Vec<&CaseRecord>> = BTreeMap::new();
    for c in &report.cases {
        by_op.entry(c.op.as_str()).or_default().push(c);
    }
    let verdicts: BTreeMap<&str, Vec<(&CaseRecord, Verdict)>> = by_op
        .into_iter()
        .map(|(op, cs)| (op, cs.into_iter().map(|c| (c, verdict(c))).collect()))
        .collect();
    let count = |vs: &[(&CaseRecord, Verdict)]| {
        let failures = vs
            .iter()
            .filter(|(_, v)| matches!(v, Verdict::Failure { .. }))
            .count();
        let skipped = vs
            .iter()
            .filter(|(_, v)| matches!(v, Verdict::Skipped(_)))
            .count();
        let time: f64 = vs.iter().map(|(c, _)| c.elapsed_ms.max(0.0)).sum::<f64>() / 1000.0;
        (vs.len(), failures, skipped, time)
    };
    let all: Vec<(&CaseRecord, Verdict)> = verdicts.values().flatten().cloned().collect();
    let (tests, failures, skipped, time) = count(&all);
    let mut out = String::new();
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"ttnn-oom\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{time:.3}\">"
    );
    for (op, vs) in &verdicts {
        let (tests, failures, skipped, time) = count(vs);
        let _ = writeln!(
            out,
            "  <testsuite name=\"oom/{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{time:.3}\" timestamp=\"{}\">",
            escape_xml(op),
            escape_xml(&report.generated_at)
        );
        let _ = writeln!(
            out,
            "    <properties><property name=\"backend\" value=\"{}\"/><property name=\"runtime_version\" value=\"{}\"/></properties>",
            escape_xml(&report.backend),
            escape_xml(&report.runtime_version)
        );
        for (c, v) in vs {
            let _ = write!(
                out,
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
                escape_xml(&c.op),
                escape_xml(&c.id),
                c.elapsed_ms.max(0.0) / 1000.0
            );
            match v {
                Verdict::Pass => out.push_str("/>\n"),
                Verdict::Skipped(msg) => {
                    let _ = writeln!(
                        out,
                        ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                        escape_xml(msg)
                    );
                }
                Verdict::Failure { kind, message } => {
                    let _ = writeln!(
                        out,
                        ">\n      <failure type=\"{}\" message=\"{}\">{}</failure>\n    </testcase>",
                        escape_xml(kind),
                        escape_xml(first_line(message)),
                        escape_xml(message)
                    );
                }
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}
