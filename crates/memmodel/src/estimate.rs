//! The device-free estimate of many cases: one row per case with the numbers users ask for
//! (logical size, allocated size, per-bank size against the bank, verdict, padding overhead), and
//! renderings as a text table, Markdown and JSON.

use crate::case::{Case, Verdict};
use crate::ops::CaseError;
use crate::size;
use serde::Serialize;
use std::fmt::Write as _;

/// What a failed allocation looked like, for the JSON output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OomRow {
    /// The buffer that failed first (`output 0 (output)`).
    pub buffer: String,
    pub buffer_type: String,
    pub total_bytes: u64,
    pub per_bank_bytes: u64,
    pub bank_bytes: u64,
    pub allocated: u64,
    pub free: u64,
    pub largest_free_block: u64,
    /// Needed per bank over the bank size.
    pub factor_over_bank: f64,
    /// tt-metal's message with these numbers.
    pub message: String,
}

/// One estimated case. Field names are a public interface (`--json`): later versions add
/// fields, never rename these.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EstimateRow {
    pub id: String,
    pub op: String,
    pub ttnn: String,
    pub shape_set: Option<String>,
    /// Input shapes as written (model order).
    pub shapes: Vec<Vec<u64>>,
    /// The primary device tensor's shape (after the device layout).
    pub device_shape: Vec<u64>,
    pub device_layout: String,
    pub dtype: String,
    pub layout: String,
    pub memory: String,
    pub device: String,
    pub params: String,
    pub logical_bytes: u64,
    pub allocated_bytes: u64,
    pub per_bank_bytes: u64,
    pub bank_bytes: u64,
    pub banks: u64,
    pub pages: u64,
    pub page_size: u64,
    /// Allocated over logical bytes of the primary tensor.
    pub padding_overhead: f64,
    /// Peak bytes per L1 bank of all the case's buffers alive together.
    pub peak_l1_per_bank_bytes: u64,
    pub peak_dram_per_bank_bytes: u64,
    /// Bytes the case allocates in all (inputs, temporaries, outputs).
    pub case_allocated_bytes: u64,
    pub verdict: String,
    pub oom: Option<OomRow>,
    pub expect: String,
    /// Per-core peak bytes of circular + dataflow buffers over the case's programs, as a
    /// NO_DISPATCH capture reports them.
    pub peak_cb_per_core_bytes: u64,
    /// Per-core peak bytes of L1 buffers, and of L1 buffers plus circular buffers together.
    pub peak_l1_per_core_bytes: u64,
    pub peak_total_per_core_bytes: u64,
    /// The largest program's circular / dataflow buffer bytes summed over its cores.
    pub cb_bytes: u64,
    /// What the case takes with its circular buffers: every buffer it allocates plus its
    /// largest program's circular buffers (`case_allocated_bytes + cb_bytes`).
    pub modeled_actual_bytes: u64,
    /// `modeled_actual_bytes / logical_bytes`: the seeds' "overhead factor" (actual over
    /// theoretical).
    pub overhead_factor: f64,
    /// tt-metal's message when a program's circular buffers do not fit (verdict `cb_clash`).
    pub cb_clash: Option<String>,
}

/// Estimate one case.
pub fn row(case: &Case) -> Result<EstimateRow, CaseError> {
    let sig = case.signature()?;
    let e = case.estimate_from(&sig)?;
    let sig_call = sig.invocation.render();
    let case_allocated_bytes = e.plan.buffers.iter().try_fold(0u64, |acc, b| {
        size::add(acc, b.placement.total_bytes, "case bytes")
    })?;
    let cb_bytes = e.plan.programs().map(|p| p.cb_bytes()).max().unwrap_or(0);
    let modeled_actual_bytes = size::add(case_allocated_bytes, cb_bytes, "case bytes")?;
    let oom = match &e.verdict {
        Verdict::Fits | Verdict::CbClash(_) => None,
        Verdict::Oom(d) => Some(OomRow {
            buffer: d.buffer.clone(),
            buffer_type: d.buffer_type.tt_name().to_string(),
            total_bytes: d.total_bytes,
            per_bank_bytes: d.per_bank_bytes,
            bank_bytes: d.bank_bytes,
            allocated: d.allocated,
            free: d.free,
            largest_free_block: d.largest_free_block,
            factor_over_bank: round3(d.factor_over_bank()),
            message: d.message(),
        }),
    };
    Ok(EstimateRow {
        id: case.id(),
        op: case.op.name.to_string(),
        ttnn: sig_call,
        shape_set: case.shape_set.clone(),
        shapes: case
            .model_inputs
            .iter()
            .map(|s| s.dims().to_vec())
            .collect(),
        device_shape: e.primary.shape.dims().to_vec(),
        device_layout: case.device_layout.to_string(),
        dtype: case.dtype.to_string(),
        layout: case.layout.to_string(),
        memory: case.memory_label(),
        device: case.device.name.to_string(),
        params: case.params.compact(),
        logical_bytes: e.logical_bytes,
        allocated_bytes: e.placement.total_bytes,
        per_bank_bytes: e.placement.per_bank_bytes,
        bank_bytes: e.bank_bytes,
        banks: e.placement.banks,
        pages: e.placement.pages,
        page_size: e.placement.page_size,
        padding_overhead: round3(e.padding_overhead()),
        peak_l1_per_bank_bytes: e.peak_l1_per_bank_bytes,
        peak_dram_per_bank_bytes: e.peak_dram_per_bank_bytes,
        case_allocated_bytes,
        verdict: e.verdict.name().to_string(),
        cb_clash: matches!(e.verdict, Verdict::CbClash(_)).then(|| e.verdict.message()),
        oom,
        expect: case.expect.name().to_string(),
        peak_cb_per_core_bytes: e.peaks.cb.saturating_add(e.peaks.dataflow),
        peak_l1_per_core_bytes: e.peaks.l1,
        peak_total_per_core_bytes: e.peaks.total,
        cb_bytes,
        modeled_actual_bytes,
        overhead_factor: if e.logical_bytes == 0 {
            0.0
        } else {
            round3(modeled_actual_bytes as f64 / e.logical_bytes as f64)
        },
    })
}

/// Estimate many cases; a case that cannot be formed is returned with its id.
pub fn rows<'a>(
    cases: impl IntoIterator<Item = &'a Case>,
) -> Vec<Result<EstimateRow, (String, CaseError)>> {
    cases
        .into_iter()
        .map(|c| row(c).map_err(|e| (c.id(), e)))
        .collect()
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn shapes_label(shapes: &[Vec<u64>]) -> String {
    shapes
        .iter()
        .map(|s| dims_label(s))
        .collect::<Vec<_>>()
        .join("x")
}

fn dims_label(dims: &[u64]) -> String {
    format!(
        "[{}]",
        dims.iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join(",")
    )
}

const HEADERS: [&str; 15] = [
    "op",
    "shapes",
    "device shape",
    "dtype",
    "layout",
    "memory",
    "device",
    "logical MiB",
    "allocated B",
    "per-bank B",
    "bank B",
    "verdict",
    "padding",
    "CB/core B",
    "overhead",
];

fn cells(r: &EstimateRow) -> [String; 15] {
    let verdict = match &r.oom {
        None if r.cb_clash.is_some() => "CB clash".to_string(),
        None => "fits".to_string(),
        Some(o) => format!("OOM ×{:.2} ({})", o.factor_over_bank, o.buffer),
    };
    [
        r.op.clone(),
        shapes_label(&r.shapes),
        format!("{} {}", dims_label(&r.device_shape), r.device_layout),
        r.dtype.clone(),
        r.layout.clone(),
        r.memory.clone(),
        r.device.clone(),
        format!("{:.2}", size::mib(r.logical_bytes)),
        r.allocated_bytes.to_string(),
        r.per_bank_bytes.to_string(),
        r.bank_bytes.to_string(),
        verdict,
        format!("{:.2}x", r.padding_overhead),
        r.peak_cb_per_core_bytes.to_string(),
        format!("{:.2}x", r.overhead_factor),
    ]
}

/// A plain text table, columns aligned (numbers right-aligned).
pub fn render_table(rows: &[EstimateRow]) -> String {
    let body: Vec<[String; 15]> = rows.iter().map(cells).collect();
    let mut widths = HEADERS.map(|h| h.chars().count());
    for r in &body {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let numeric = |i: usize| (7..=10).contains(&i) || i >= 12;
    let mut out = String::new();
    let line = |out: &mut String, cols: &[String]| {
        for (i, c) in cols.iter().enumerate() {
            let pad = widths[i] - c.chars().count();
            if i > 0 {
                out.push_str("  ");
            }
            if numeric(i) {
                out.push_str(&" ".repeat(pad));
                out.push_str(c);
            } else {
                out.push_str(c);
                if i + 1 < cols.len() {
                    out.push_str(&" ".repeat(pad));
                }
            }
        }
        out.push('\n');
    };
    line(&mut out, &HEADERS.map(String::from));
    line(&mut out, &widths.map(|w| "-".repeat(w)));
    for r in &body {
        line(&mut out, r);
    }
    out
}

/// A Markdown table.
pub fn render_markdown(rows: &[EstimateRow]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "| {} |", HEADERS.join(" | "));
    let _ = writeln!(
        out,
        "|{}|",
        HEADERS
            .iter()
            .enumerate()
            .map(|(i, _)| if (7..=10).contains(&i) || i >= 12 {
                "---:"
            } else {
                "---"
            })
            .collect::<Vec<_>>()
            .join("|")
    );
    for r in rows {
        let c = cells(r);
        let escaped: Vec<String> = c.iter().map(|s| s.replace('|', "\\|")).collect();
        let _ = writeln!(out, "| {} |", escaped.join(" | "));
    }
    out
}

/// One JSON array.
pub fn render_json(rows: &[EstimateRow]) -> String {
    serde_json::to_string_pretty(rows).expect("rows always serialize")
}

/// Counts for a one-line summary.
pub fn summary(rows: &[EstimateRow]) -> String {
    let ooms = rows.iter().filter(|r| r.oom.is_some()).count();
    let clashes = rows.iter().filter(|r| r.cb_clash.is_some()).count();
    let mut s = format!(
        "{} cases: {} fit, {} OOM",
        rows.len(),
        rows.len() - ooms - clashes,
        ooms
    );
    if clashes > 0 {
        s.push_str(&format!(", {clashes} CB clash"));
    }
    s
}
