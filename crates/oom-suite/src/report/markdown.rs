//! `report.md`: the document as GitHub-flavoured Markdown. Charts live in report.html; here each
//! chart is a one-line pointer to it (its numbers are in the tables beside it).

use super::doc::{Align, Block, Chart, Doc, Inline};
use super::fmt::{code_block_md, code_span_md, escape_md};
use std::fmt::Write as _;

pub fn render(doc: &Doc) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# {}\n", escape_md(&doc.title));
    render_blocks(&doc.blocks, &mut out);
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

fn render_blocks(blocks: &[Block], out: &mut String) {
    for b in blocks {
        render_block(b, out);
    }
}

fn inlines(runs: &[Inline], in_table: bool) -> String {
    let mut s = String::new();
    for r in runs {
        match r {
            Inline::Text(t) => s.push_str(&escape_md(t)),
            Inline::Code(t) => s.push_str(&code_span_md(t, in_table)),
            Inline::Strong(t) => {
                // `**a: **` does not render bold: keep outer spaces outside the markers.
                let inner = t.trim();
                let lead = &t[..t.len() - t.trim_start().len()];
                let trail = &t[t.trim_end().len()..];
                if inner.is_empty() {
                    s.push_str(t);
                } else {
                    let _ = write!(s, "{lead}**{}**{trail}", escape_md(inner));
                }
            }
            Inline::Anchor { text, id } => {
                let _ = write!(s, "[{}](#{})", escape_md(text), id);
            }
        }
    }
    s
}

fn render_block(b: &Block, out: &mut String) {
    match b {
        Block::Heading { level, text, id } => {
            // An explicit anchor keeps links stable whatever the renderer's slug rules are.
            let _ = writeln!(
                out,
                "{} <a id=\"{id}\"></a>{}\n",
                "#".repeat(usize::from((*level).clamp(1, 6))),
                escape_md(text)
            );
        }
        Block::Para(runs) => {
            let _ = writeln!(out, "{}\n", inlines(runs, false));
        }
        Block::List { ordered, items } => {
            for (i, item) in items.iter().enumerate() {
                if *ordered {
                    let _ = writeln!(out, "{}. {}", i + 1, inlines(item, false));
                } else {
                    let _ = writeln!(out, "- {}", inlines(item, false));
                }
            }
            out.push('\n');
        }
        Block::Table(t) => {
            if t.rows.is_empty() {
                out.push_str("_(none)_\n\n");
                return;
            }
            let heads: Vec<String> = t.columns.iter().map(|c| escape_md(&c.title)).collect();
            let _ = writeln!(out, "| {} |", heads.join(" | "));
            let aligns: Vec<&str> = t
                .columns
                .iter()
                .map(|c| match c.align {
                    Align::Left => "---",
                    Align::Right => "---:",
                })
                .collect();
            let _ = writeln!(out, "|{}|", aligns.join("|"));
            for row in &t.rows {
                let cells: Vec<String> = row.iter().map(|c| inlines(c, true)).collect();
                let _ = writeln!(out, "| {} |", cells.join(" | "));
            }
            out.push('\n');
        }
        Block::Code(text) => {
            out.push_str(&code_block_md(text));
            out.push('\n');
        }
        Block::Chart(chart) => {
            let title = match chart {
                Chart::Bars { title, .. }
                | Chart::LogScatter { title, .. }
                | Chart::Ranges { title, .. }
                | Chart::Timeline { title, .. } => title,
            };
            let _ = writeln!(
                out,
                "_Chart in report.html: {}._\n",
                escape_md(title).trim_end_matches('.')
            );
        }
        Block::Details { summary, blocks } => {
            let _ = writeln!(out, "**{}**\n", escape_md(summary));
            render_blocks(blocks, out);
        }
    }
}
