//! `cargo xtask threshold`: per op and device, the largest input that fits — by default the
//! largest height H of a `[1, C, H, W]` activation at `C = 96`, `W = 3840` (4K width) in L1 —
//! found by an exact search on the model, then confirmed on the device for the two boundary
//! cases (the last that fits must fit, the next row up must not).

use crate::select::parse_param;
use anyhow::{bail, Context, Result};
use clap::Args;
use memmodel::ops::Family;
use memmodel::threshold::{self, Threshold};
use memmodel::{Case, DType, DeviceLayout, DeviceSpec, Expectation, Layout, Params, Shape};
use oom_suite::record::{Class, ThresholdProbe, ThresholdRecord};
use oom_suite::runner::{CaseRunner, RunOptions, SimRunner};
use oom_suite::worker::{WorkerCommand, WorkerPool};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Args, Debug)]
pub struct ThresholdArgs {
    /// Ops (default: every op of the catalog).
    #[arg(long, value_delimiter = ',')]
    pub op: Vec<String>,
    /// Boards (default: n150, p150).
    #[arg(long, value_delimiter = ',')]
    pub device: Vec<String>,
    /// Memory config of inputs and outputs: l1, dram, l1_height_sharded, l1_width_sharded,
    /// l1_block_sharded (sharded: the eltwise ops only).
    #[arg(long, default_value = "l1")]
    pub memory: String,
    #[arg(long, default_value = "bfloat16")]
    pub dtype: String,
    /// The template shape (model order); its `--dim` is searched. Default: [1, C, H, W] with
    /// `--channels` and `--width` (matrix ops: their [rows, K] form).
    #[arg(long)]
    pub shape: Option<String>,
    /// Channels of the default template.
    #[arg(long, default_value_t = 96)]
    pub channels: u64,
    /// Width of the default template (4K: 3840).
    #[arg(long, default_value_t = 3840)]
    pub width: u64,
    /// Model dim to search (default: H of 4D shapes, the rows of matrices).
    #[arg(long)]
    pub dim: Option<usize>,
    /// The largest extent searched.
    #[arg(long, default_value_t = 1 << 16)]
    pub max: u64,
    /// Confirm the two boundary cases on `metal` (sim, then the real runtime), on `sim` only,
    /// or not at all (`none`).
    #[arg(long, default_value = "metal")]
    pub confirm: String,
    #[arg(long, value_name = "NAME=VALUE")]
    pub param: Vec<String>,
    /// One JSON array instead of the table.
    #[arg(long)]
    pub json: bool,
    /// The report directory: the thresholds join its report.json (re-rendered) when there is
    /// one, else go to thresholds.json / thresholds.md there. Default: target/oom-report.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

type ThresholdRow = ThresholdRecord;

fn probe_record(p: &memmodel::threshold::Probe) -> ThresholdProbe {
    let row = p.row();
    ThresholdProbe {
        shape: row.shape,
        device_shape: row.device_shape,
        per_bank_bytes: row.per_bank_bytes,
        needed_per_bank: row.needed_per_bank,
        bank_bytes: row.bank_bytes,
    }
}

fn template(
    op: &'static memmodel::OpDef,
    args: &ThresholdArgs,
    device: &'static DeviceSpec,
    params: &Params,
) -> Result<(Case, usize)> {
    let config: memmodel::MemoryConfig = args
        .memory
        .parse()
        .map_err(|e: String| anyhow::anyhow!("--memory: {e}"))?;
    let memory = config.buffer_type();
    let dtype: DType = args
        .dtype
        .parse()
        .map_err(|e| anyhow::anyhow!("--dtype: {e}"))?;
    let matrix = matches!(
        op.family,
        Family::Matmul { .. } | Family::Linear | Family::Addmm
    );
    let shape = match &args.shape {
        Some(s) => Shape::parse(s).map_err(|e| anyhow::anyhow!("--shape {s}: {e}"))?,
        None if matrix => Shape::from_dims(vec![1024, 512])?,
        None => Shape::from_dims(vec![1, args.channels, 1, args.width])?,
    };
    let dim = args.dim.unwrap_or(match shape.rank() {
        4 => 2,
        r if r >= 2 => r - 2,
        _ => 0,
    });
    if dim >= shape.rank() {
        bail!("--dim {dim} is out of range for {shape}");
    }
    let layout = if matches!(op.family, Family::Upsample) {
        Layout::RowMajor
    } else {
        Layout::Tile
    };
    let case = Case {
        op,
        shape_set: None,
        model_inputs: vec![shape],
        device_layout: if matrix {
            DeviceLayout::AsGiven
        } else {
            op.default_device_layout
        },
        params: params.clone(),
        dtype,
        layout,
        input_memory: memory,
        output_memory: memory,
        default_output_memory: false,
        sharding: config.sharding(),
        device,
        expect: Expectation::Any,
    };
    case.signature().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((case, dim))
}

/// A row with no search result yet.
fn empty_row(op: &str, device: &str, memory: String, dtype: String, dim: usize) -> ThresholdRow {
    ThresholdRow {
        op: op.to_string(),
        device: device.to_string(),
        memory,
        dtype,
        device_layout: String::new(),
        dim,
        last_fit: None,
        first_oom: None,
        confirmed_last_fit: None,
        confirmed_first_oom: None,
        sim_last_fit: None,
        sim_first_oom: None,
        confirmed: None,
        unsearched: None,
    }
}

/// A row for an op whose template could not be built with these arguments.
fn unsearched_row(op: &str, device: &str, args: &ThresholdArgs, why: String) -> ThresholdRow {
    let mut row = empty_row(
        op,
        device,
        args.memory.clone(),
        args.dtype.clone(),
        args.dim.unwrap_or(0),
    );
    row.unsearched = Some(why);
    row
}

fn class_name(c: Class) -> String {
    c.name().to_string()
}

pub fn run(args: ThresholdArgs) -> Result<()> {
    let ops: Vec<&'static memmodel::OpDef> = if args.op.is_empty() {
        memmodel::OPS.iter().collect()
    } else {
        args.op
            .iter()
            .map(|o| memmodel::find_op(o.trim()).map_err(|e| anyhow::anyhow!("--op: {e}")))
            .collect::<Result<_>>()?
    };
    let devices: Vec<&'static DeviceSpec> = crate::select::devices(&args.device)?;
    let mut params = Params::default();
    for p in &args.param {
        let (k, v) = parse_param(p)?;
        params.set(&k, v);
    }
    let (confirm_sim, confirm) = match args.confirm.as_str() {
        "metal" => (true, true),
        "sim" => (true, false),
        "none" => (false, false),
        other => bail!("--confirm {other}: allowed values are metal, sim, none"),
    };

    // One row per op and board: a search that finds no boundary is a row saying why, and the
    // run goes on (only `--op` left empty skips what cannot be searched, silently but for a line).
    let mut found: Vec<Option<(Threshold, Case)>> = Vec::new();
    let mut rows = Vec::new();
    for &op in &ops {
        for &device in &devices {
            let searched = template(op, &args, device, &params).map(|(case, dim)| {
                let outcome = threshold::search(&case, dim, args.max).map_err(|e| e.describe());
                (case, dim, outcome)
            });
            let (case, dim, outcome) = match searched {
                Ok(s) => s,
                Err(e) if args.op.is_empty() => {
                    eprintln!("{} on {}: skipped ({e})", op.name, device.name);
                    continue;
                }
                Err(e) => {
                    rows.push(unsearched_row(
                        op.name,
                        device.name,
                        &args,
                        format!("invalid: {e}"),
                    ));
                    found.push(None);
                    continue;
                }
            };
            let mut row = empty_row(
                op.name,
                device.name,
                case.memory_label(),
                case.dtype.to_string(),
                dim,
            );
            row.device_layout = case.device_layout.to_string();
            match outcome {
                Ok(t) => {
                    row.last_fit = t.last_fit.as_ref().map(probe_record);
                    row.first_oom = t.first_oom.as_ref().map(probe_record);
                    found.push(Some((t, case)));
                }
                Err(why) => {
                    row.unsearched = Some(why);
                    found.push(None);
                }
            }
            rows.push(row);
        }
    }
    if rows.is_empty() {
        bail!("no op could be searched with these arguments");
    }

    let agrees = |fit: &Option<String>, oom: &Option<String>| {
        fit.as_deref().is_none_or(|c| c == "fits") && oom.as_deref().is_none_or(|c| c != "fits")
    };
    if confirm_sim {
        // In process, microseconds a case.
        let runner = SimRunner::new();
        let opts = RunOptions {
            backend: "sim".into(),
            runtime_version: String::new(),
            measure: false,
            canary: true,
            execute: true,
        };
        for (row, (t, _)) in rows
            .iter_mut()
            .zip(&found)
            .filter_map(|(r, f)| Some((r, f.as_ref()?)))
        {
            let run = |p: &Option<memmodel::threshold::Probe>| {
                p.as_ref()
                    .map(|p| class_name(runner.run(&p.case, &opts).class))
            };
            row.sim_last_fit = run(&t.last_fit);
            row.sim_first_oom = run(&t.first_oom);
            row.confirmed = Some(agrees(&row.sim_last_fit, &row.sim_first_oom));
        }
    }
    if confirm {
        crate::oom::ensure_runtime()?;
        let command = WorkerCommand::current_exe(&[])
            .context("locating the xtask binary for worker processes")?;
        let pool = WorkerPool::new(command, Duration::from_secs(120), Duration::from_secs(300));
        let opts = RunOptions {
            backend: "metal".into(),
            runtime_version: String::new(),
            measure: false,
            canary: true,
            execute: true,
        };
        // Boards in parallel (a worker per board); cases of one board in order.
        let results: Vec<(usize, Option<String>, Option<String>)> = std::thread::scope(|scope| {
            let mut handles = Vec::new();
            for &device in &devices {
                let found = &found;
                let (pool, opts) = (&pool, &opts);
                handles.push(scope.spawn(move || {
                    let mut out = Vec::new();
                    for (i, (t, _)) in found
                        .iter()
                        .enumerate()
                        .filter_map(|(i, f)| Some((i, f.as_ref()?)))
                        .filter(|(_, (_, c))| c.device.name == device.name)
                    {
                        let fit = t
                            .last_fit
                            .as_ref()
                            .map(|p| class_name(pool.run(&p.case, opts).class));
                        let oom = t
                            .first_oom
                            .as_ref()
                            .map(|p| class_name(pool.run(&p.case, opts).class));
                        out.push((i, fit, oom));
                    }
                    out
                }));
            }
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_default())
                .collect()
        });
        pool.shutdown();
        for (i, fit, oom) in results {
            let row = &mut rows[i];
            let metal_ok = agrees(&fit, &oom);
            row.confirmed = Some(row.confirmed.unwrap_or(true) && metal_ok);
            row.confirmed_last_fit = fit;
            row.confirmed_first_oom = oom;
        }
    }

    let text = if args.json {
        serde_json::to_string_pretty(&rows)?
    } else {
        render_table(&rows)
    };
    println!("{text}");
    // Into the report of the last OOM run when there is one (a section and a chart), else alone.
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| crate::paths::workspace_root().join("target/oom-report"));
    let report_json = dir.join(oom_suite::report::REPORT_JSON);
    if report_json.is_file() {
        let mut report =
            oom_suite::report::load(&report_json).map_err(|e| anyhow::anyhow!("{e}"))?;
        for row in &rows {
            report.thresholds.retain(|t| {
                (&t.op, &t.device, &t.memory, &t.dtype)
                    != (&row.op, &row.device, &row.memory, &row.dtype)
            });
            report.thresholds.push(row.clone());
        }
        oom_suite::report::write_all(&report, &dir).map_err(|e| anyhow::anyhow!("{e}"))?;
        eprintln!("thresholds added to the report in {}", dir.display());
    } else {
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        oom_suite::report::write::write_files(
            &dir,
            &[
                ("thresholds.json", &serde_json::to_string_pretty(&rows)?),
                ("thresholds.md", &render_markdown(&rows)),
            ],
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        eprintln!("thresholds written to {}", dir.display());
    }
    let unsearched = rows.iter().filter(|r| r.unsearched.is_some()).count();
    if unsearched > 0 {
        eprintln!("{unsearched} op/board pair(s) have no boundary (see why in the table)");
    }
    let disagreements = rows.iter().filter(|r| r.confirmed == Some(false)).count();
    if disagreements > 0 {
        bail!("{disagreements} boundary case(s) disagree with the real runtime (see the table)");
    }
    Ok(())
}

fn dims(d: &[u64]) -> String {
    format!(
        "[{}]",
        d.iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(",")
    )
}

fn cells(r: &ThresholdRow) -> [String; 8] {
    let side = |p: &Option<ThresholdProbe>| {
        p.as_ref().map_or("-".to_string(), |p| {
            format!("{} ({} B/bank)", dims(&p.shape), p.needed_per_bank)
        })
    };
    [
        r.op.clone(),
        r.device.clone(),
        r.memory.clone(),
        format!("dim {}", r.dim),
        side(&r.last_fit),
        side(&r.first_oom),
        r.last_fit
            .as_ref()
            .or(r.first_oom.as_ref())
            .map_or("-".into(), |p| p.bank_bytes.to_string()),
        match (&r.unsearched, r.confirmed) {
            (Some(why), _) => format!("no boundary: {why}"),
            (None, None) => "not run".into(),
            (None, Some(ok)) => format!(
                "{} {}",
                oom_suite::record::threshold_confirmations(r),
                if ok { "✓" } else { "✗ DISAGREES" }
            ),
        },
    ]
}

const HEADERS: [&str; 8] = [
    "op",
    "device",
    "memory",
    "searched",
    "largest that fits (needs)",
    "first that does not (needs)",
    "bank B",
    "on the device (fit · OOM)",
];

fn render_table(rows: &[ThresholdRow]) -> String {
    let body: Vec<[String; 8]> = rows.iter().map(cells).collect();
    let mut widths = HEADERS.map(|h| h.chars().count());
    for r in &body {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for cols in std::iter::once(HEADERS.map(String::from)).chain(body) {
        let line: Vec<String> = cols
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

fn render_markdown(rows: &[ThresholdRow]) -> String {
    let mut out = String::from("# Largest input that fits, per op\n\n");
    out.push_str(&format!(
        "| {} |\n|{}|\n",
        HEADERS.join(" | "),
        HEADERS.map(|_| "---").join("|")
    ));
    for r in rows {
        out.push_str(&format!("| {} |\n", cells(r).join(" | ")));
    }
    out
}
