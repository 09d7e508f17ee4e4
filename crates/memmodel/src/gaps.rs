//! The model's known gaps: cases where memmodel's plan (and so the `sim` backend that executes
//! it) is known to differ from the real runtime, each with the reason. One list, checked in as
//! `model-gaps.toml` at the workspace root, read by every comparison with the runtime:
//! `cargo xtask diff`, memmodel's calibration test and the oom suite's estimate tests. A
//! difference that is not listed fails them; an entry that no longer matches anything is
//! reported as stale so the list only shrinks.
//!
//! ```toml
//! [[gap]]
//! case = "maxpool2d/*/dram/*" # a case id, or a pattern where `*` stands for any text
//! kind = "cb_peak"          # verdict | per_bank | cb_peak | model
//! reason = "sliding-window halo buffers not modeled"
//! ```

use serde::{Deserialize, Serialize};

/// What differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GapKind {
    /// sim and the runtime end differently (fits / oom / cb_clash / error).
    Verdict,
    /// Both fail alike but the message's numbers differ.
    PerBank,
    /// The plan differs from the runtime's trace: buffers, programs or per-core CB peaks.
    CbPeak,
    /// memmodel's estimate ends differently from the runtime.
    Model,
}

impl GapKind {
    pub const ALL: [GapKind; 4] = [
        GapKind::Verdict,
        GapKind::PerBank,
        GapKind::CbPeak,
        GapKind::Model,
    ];

    pub fn name(self) -> &'static str {
        match self {
            GapKind::Verdict => "verdict",
            GapKind::PerBank => "per_bank",
            GapKind::CbPeak => "cb_peak",
            GapKind::Model => "model",
        }
    }
}

/// One listed gap.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gap {
    /// A case id, or a prefix ending in `*`.
    pub case: String,
    pub kind: GapKind,
    pub reason: String,
}

impl Gap {
    pub fn matches(&self, case_id: &str, kind: GapKind) -> bool {
        self.kind == kind && glob(&self.case, case_id)
    }
}

/// Whether `text` matches `pattern`, where `*` stands for any text (possibly empty).
fn glob(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// The whole list.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnownGaps {
    #[serde(default)]
    pub gap: Vec<Gap>,
}

impl KnownGaps {
    /// Parses the list; `file` names it in errors (with line and column).
    pub fn parse(text: &str, file: &str) -> Result<KnownGaps, String> {
        let gaps: KnownGaps = toml::from_str(text).map_err(|e| {
            let at = e
                .span()
                .map(|s| {
                    let before = &text[..s.start.min(text.len())];
                    let line = before.matches('\n').count() + 1;
                    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                    format!(":{line}:{col}")
                })
                .unwrap_or_default();
            format!("{file}{at}: {}", e.message())
        })?;
        for g in &gaps.gap {
            if g.reason.trim().is_empty() {
                return Err(format!(
                    "{file}: the gap `{}` ({}) gives no reason",
                    g.case,
                    g.kind.name()
                ));
            }
            if g.case.trim().is_empty() || g.case == "*" {
                return Err(format!(
                    "{file}: a gap must name an op at least (`op/*`), not `{}`",
                    g.case
                ));
            }
        }
        Ok(gaps)
    }

    /// The reason a difference of this kind is accepted for the case, if listed.
    pub fn reason(&self, case_id: &str, kind: GapKind) -> Option<&str> {
        self.find(case_id, kind)
            .map(|i| self.gap[i].reason.as_str())
    }

    /// The index of the first entry that matches.
    pub fn find(&self, case_id: &str, kind: GapKind) -> Option<usize> {
        self.gap.iter().position(|g| g.matches(case_id, kind))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_match_ids_and_prefixes_of_their_kind_only() {
        let g = KnownGaps::parse(
            "[[gap]]\ncase = \"mm/*\"\nkind = \"cb_peak\"\nreason = \"2D mcast\"\n\n[[gap]]\ncase = \"bmm/[4]/x\"\nkind = \"verdict\"\nreason = \"r\"\n",
            "gaps.toml",
        )
        .unwrap();
        assert_eq!(g.reason("mm/[1,2]/x", GapKind::CbPeak), Some("2D mcast"));
        assert_eq!(g.reason("mm/[1,2]/x", GapKind::Verdict), None);
        assert_eq!(g.reason("bmm/[4]/x", GapKind::Verdict), Some("r"));
        assert_eq!(g.reason("bmm/[4]/xy", GapKind::Verdict), None);
    }

    #[test]
    fn stars_match_any_text_anywhere() {
        assert!(glob("mp/*/dram/*", "mp/[1,2]/nhwc/dram/n150"));
        assert!(!glob("mp/*/dram/*", "mp/[1,2]/nhwc/l1/n150"));
        assert!(glob("mp/*", "mp/"));
        assert!(glob("a*b*c", "abc"));
        assert!(!glob("a*bc*c", "abc"));
        assert!(glob("exact", "exact"));
        assert!(!glob("exact", "exactly"));
        assert!(glob("*/p150", "x/p150"));
    }

    #[test]
    fn errors_name_the_file_line_and_problem() {
        let e = KnownGaps::parse(
            "[[gap]]\ncase = \"mm/*\"\nkind = \"plan\"\nreason = \"r\"\n",
            "g.toml",
        )
        .unwrap_err();
        assert!(e.starts_with("g.toml:3:"), "{e}");
        assert!(e.contains("plan"), "{e}");
        let e = KnownGaps::parse(
            "[[gap]]\ncase = \"mm/*\"\nkind = \"model\"\nreason = \" \"\n",
            "g.toml",
        )
        .unwrap_err();
        assert!(e.contains("no reason"), "{e}");
        let e = KnownGaps::parse(
            "[[gap]]\ncase = \"*\"\nkind = \"model\"\nreason = \"all\"\n",
            "g.toml",
        )
        .unwrap_err();
        assert!(e.contains("must name an op"), "{e}");
    }
}
