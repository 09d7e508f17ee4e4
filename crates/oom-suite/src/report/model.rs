//! Reports from memmodel's predictions (backend `model`): what the report of a device run would
//! look like if the device behaved exactly as modeled. Used as realistic fixtures by the tests
//! and as a device-free preview (`cargo xtask report --from-model`).

use crate::record::{CaseRecord, Class, Report, Totals};
use memmodel::estimate::{self, EstimateRow};
use memmodel::Case;

/// The backend name of model-made records.
pub const BACKEND: &str = "model";

/// The record a device would produce if it behaved as memmodel predicts.
pub fn record_from_row(row: &EstimateRow) -> CaseRecord {
    let (class, message, buffer_type, total, banks, per_bank, bank, held) = match &row.oom {
        None => (Class::Fits, String::new(), None, 0, 0, 0, 0, 0),
        Some(o) => (
            Class::Oom,
            o.message.clone(),
            Some(o.buffer_type.clone()),
            o.total_bytes,
            row_banks(row, &o.buffer_type),
            o.per_bank_bytes,
            o.bank_bytes,
            o.allocated,
        ),
    };
    CaseRecord {
        id: row.id.clone(),
        op: row.op.clone(),
        ttnn: row.ttnn.clone(),
        shape_set: row.shape_set.clone(),
        shapes: row.shapes.clone(),
        device_shape: row.device_shape.clone(),
        device_layout: row.device_layout.clone(),
        dtype: row.dtype.clone(),
        layout: row.layout.clone(),
        memory: row.memory.clone(),
        device: row.device.clone(),
        params: row.params.clone(),
        backend: BACKEND.into(),
        runtime_version: format!("memmodel {}", env!("CARGO_PKG_VERSION")),
        class,
        message,
        expect: row.expect.clone(),
        buffer_type,
        total_bytes: total,
        banks,
        per_bank_bytes: per_bank,
        bank_bytes: bank,
        bank_allocated_bytes: held,
        logical_bytes: row.logical_bytes,
        allocated_bytes: row.allocated_bytes,
        predicted: row.verdict.clone(),
        peak_cb_per_core: None,
        peak_l1_per_core: None,
        case_allocated_bytes: row.case_allocated_bytes,
        overhead_factor: if row.logical_bytes == 0 {
            0.0
        } else {
            row.case_allocated_bytes as f64 / row.logical_bytes as f64
        },
        captured_buffers: Vec::new(),
        measure_note: None,
        fix: None,
        leaked_bytes: 0,
        canary_ok: None,
        elapsed_ms: 0.0,
    }
}

fn row_banks(row: &EstimateRow, buffer_type: &str) -> u64 {
    let spec = memmodel::DeviceSpec::by_name(&row.device).ok();
    match (spec, buffer_type.parse::<memmodel::BufferType>()) {
        (Some(s), Ok(b)) => s.banks(b),
        _ => row.banks,
    }
}

/// Estimate `cases` and make a whole report of them. Cases memmodel cannot form become
/// `error` records with the model's message; cases it does not model, `unmodeled` ones.
pub fn report_from_cases(cases: &[Case], shapes_file: &str, command: &str) -> Report {
    let records: Vec<CaseRecord> = cases
        .iter()
        .map(|case| match estimate::row(case) {
            Ok(row) => record_from_row(&row),
            Err(e) => {
                let mut r = invalid_record(case);
                if memmodel::exec::is_unmodeled(&e) {
                    // No verdict (conv2d until its plan exists): said so, not an error.
                    r.class = Class::Unmodeled;
                }
                r.message = e.to_string();
                r
            }
        })
        .collect();
    report_from_records(records, shapes_file, command)
}

/// A whole report around `records` (totals counted, backend `model`).
pub fn report_from_records(records: Vec<CaseRecord>, shapes_file: &str, command: &str) -> Report {
    Report {
        tool: format!("ttnn-oom {}", env!("CARGO_PKG_VERSION")),
        generated_at: "1970-01-01T00:00:00Z".into(),
        command: command.into(),
        backend: BACKEND.into(),
        runtime_version: format!("memmodel {}", env!("CARGO_PKG_VERSION")),
        shapes_file: shapes_file.into(),
        partition: None,
        wall_time_ms: records.iter().map(|r| r.elapsed_ms).sum(),
        totals: Totals::of(&records),
        cases: records,
        thresholds: Vec::new(),
    }
}

fn invalid_record(case: &Case) -> CaseRecord {
    let opts = crate::runner::RunOptions {
        backend: BACKEND.into(),
        runtime_version: format!("memmodel {}", env!("CARGO_PKG_VERSION")),
        measure: false,
        canary: false,
        execute: false,
    };
    crate::runner::blank_record(case, &opts)
}
