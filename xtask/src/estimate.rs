//! `cargo xtask estimate`: the instant, device-free answer — every selected case's sizes and the
//! predicted verdict, as a table, Markdown or JSON.

use crate::select::CaseArgs;
use anyhow::Result;
use clap::Args;
use memmodel::estimate;
use serde::Serialize;
use std::io::Write;

#[derive(Args, Debug)]
pub struct EstimateArgs {
    #[command(flatten)]
    pub cases: CaseArgs,
    /// Print one JSON array.
    #[arg(long, conflicts_with = "markdown")]
    pub json: bool,
    /// Print a Markdown table.
    #[arg(long)]
    pub markdown: bool,
    /// Only cases whose predicted verdict is OOM.
    #[arg(long = "only-oom")]
    pub only_oom: bool,
}

/// A case without a verdict: memmodel does not model the call (`unmodeled`), or refuses it as
/// the runtime would (`error`). Listed with the reason; the run goes on.
#[derive(Debug, Serialize)]
struct NoVerdict {
    id: String,
    op: String,
    verdict: &'static str,
    reason: String,
}

pub fn run(args: EstimateArgs) -> Result<()> {
    let cases = args.cases.select()?;
    let mut rows = Vec::with_capacity(cases.len());
    let mut without = Vec::new();
    let mut json: Vec<serde_json::Value> = Vec::with_capacity(cases.len());
    for (case, result) in cases.iter().zip(estimate::rows(&cases)) {
        match result {
            Ok(row) => {
                if args.only_oom && row.oom.is_none() {
                    continue;
                }
                if args.json {
                    json.push(serde_json::to_value(&row)?);
                }
                rows.push(row);
            }
            Err((id, e)) => {
                let verdict = if memmodel::exec::is_unmodeled(&e) {
                    "unmodeled"
                } else {
                    "error"
                };
                let nv = NoVerdict {
                    id,
                    op: case.op.name.to_string(),
                    verdict,
                    reason: e.to_string(),
                };
                if args.json {
                    json.push(serde_json::to_value(&nv)?);
                }
                without.push(nv);
            }
        }
    }
    let text = if args.json {
        serde_json::to_string_pretty(&json)?
    } else {
        let mut t = if args.markdown {
            estimate::render_markdown(&rows)
        } else {
            let mut t = estimate::render_table(&rows);
            t.push_str(&estimate::summary(&rows));
            t.push('\n');
            t
        };
        if !without.is_empty() {
            t.push_str(&format!(
                "\n{} case(s) without a verdict (`cargo xtask probe --backend metal` asks the runtime):\n",
                without.len()
            ));
            for nv in &without {
                t.push_str(&format!("  {} {}: {}\n", nv.verdict, nv.id, nv.reason));
            }
        }
        t
    };
    let mut out = std::io::stdout().lock();
    // A closed pipe (`| head`) is not an error worth a message.
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}
