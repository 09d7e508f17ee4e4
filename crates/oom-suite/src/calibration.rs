//! One case, calibrated: what a backend does with it in normal mode (outcome and tt-metal's
//! message) and in a NO_DISPATCH graph capture (per-core peaks and the allocation trace).
//! `cargo xtask calibrate` writes these for the real runtime into the golden files that
//! memmodel's plans are tested against; `cargo xtask diff` compares sim, metal and memmodel with
//! them.

use crate::runner::too_slow_to_measure;
use memmodel::program::Peaks;
use memmodel::trace::Event;
use memmodel::Case;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use ttnn::case::capture_case;
use ttnn::{run_case, DeviceApi, Outcome};

/// A calibrated case (one line of a golden file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub id: String,
    pub device: String,
    /// L1_SMALL bytes per bank the device was opened with.
    pub l1_small: u64,
    /// `fits`, `oom`, `l1_small`, `cb_clash` (memmodel's verdict names) or `error`.
    pub outcome: String,
    /// Where a failure happened (`input 0 (input)`, `run`).
    pub failed_at: Option<String>,
    /// tt-metal's message of the failure (empty when it fits).
    pub message: String,
    /// Per-bank bytes a cached program still held after the case freed everything, by memory
    /// (max_pool2d's config tensors in L1_SMALL); released by clearing the program cache.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub held_by_program_cache: BTreeMap<String, u64>,
    /// Per-core peaks of the NO_DISPATCH capture (`None` when not measured).
    pub peaks: Option<Peaks>,
    /// Why the capture failed or was skipped.
    pub capture_error: Option<String>,
    /// The capture's allocation trace.
    pub trace: Vec<Event>,
}

/// The verdict name of an outcome, as memmodel names its verdicts.
pub fn outcome_name(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Ok => "fits",
        other => other.name(),
    }
}

/// Runs `case` normally, then measures it in a NO_DISPATCH capture (unless `measure_slow` is
/// false and the capture would take tens of seconds, see [`too_slow_to_measure`]).
pub fn calibrate_case<D: DeviceApi>(device: &D, case: &Case, measure_slow: bool) -> Calibration {
    let mut c = Calibration {
        id: case.id(),
        device: case.device.name.to_string(),
        l1_small: device.l1_small_size(),
        outcome: "error".into(),
        failed_at: None,
        message: String::new(),
        held_by_program_cache: BTreeMap::new(),
        peaks: None,
        capture_error: None,
        trace: Vec::new(),
    };
    match run_case(device, case) {
        Ok(o) => {
            c.outcome = outcome_name(o.outcome).into();
            c.failed_at = o.failed_at;
            c.message = o.error.map(|e| e.raw().to_string()).unwrap_or_default();
            c.held_by_program_cache = o
                .held_by_program_cache
                .iter()
                .map(|h| {
                    (
                        h.buffer_type.tt_name().to_string(),
                        h.allocated_after.saturating_sub(h.allocated_before),
                    )
                })
                .collect();
        }
        Err(e) => {
            c.message = e.to_string();
            return c;
        }
    }
    if !measure_slow {
        if let Some(why) = too_slow_to_measure(case) {
            c.capture_error = Some(why);
            return c;
        }
    }
    match capture_case(device, case) {
        Ok((capture, error)) => {
            c.peaks = Some(Peaks {
                cb: capture.per_core.peak_cb,
                dataflow: capture.per_core.peak_dataflow_buffer,
                l1: capture.per_core.peak_l1,
                total: capture.per_core.peak_total,
            });
            c.trace = capture.trace;
            c.capture_error = error.map(|e| e.raw().to_string());
        }
        Err(e) => c.capture_error = Some(e.raw().to_string()),
    }
    c
}
