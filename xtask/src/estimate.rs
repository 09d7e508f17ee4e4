//! `cargo xtask estimate`: the instant, device-free answer — every selected case's sizes and the
//! predicted verdict, as a table, Markdown or JSON.

use crate::select::CaseArgs;
use anyhow::{bail, Result};
use clap::Args;
use memmodel::estimate;
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

pub fn run(args: EstimateArgs) -> Result<()> {
    let cases = args.cases.select()?;
    let mut rows = Vec::with_capacity(cases.len());
    for result in estimate::rows(&cases) {
        match result {
            Ok(row) => rows.push(row),
            Err((id, e)) => bail!("{id}: {e}"),
        }
    }
    if args.only_oom {
        rows.retain(|r| r.oom.is_some());
    }
    let text = if args.json {
        estimate::render_json(&rows)
    } else if args.markdown {
        estimate::render_markdown(&rows)
    } else {
        let mut t = estimate::render_table(&rows);
        t.push_str(&estimate::summary(&rows));
        t.push('\n');
        t
    };
    let mut out = std::io::stdout().lock();
    // A closed pipe (`| head`) is not an error worth a message.
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}
