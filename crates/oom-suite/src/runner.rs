//! Running one case on a device and turning what happened into a [`CaseRecord`]: the outcome
//! class, the numbers of a failed allocation, the memory left behind, the one-element canary
//! after a memory failure, and a NO_DISPATCH measurement of what the case allocates.

use crate::record::{BufferRecord, CaseRecord, Class};
use memmodel::ops::{CaseError, Signature};
use memmodel::{BufferType, Case, Expectation, Shape, Verdict};
use std::time::Instant;
use ttnn::{DeviceApi, Error, Outcome};

/// What the runner needs to know besides the case.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// `metal` or `sim`.
    pub backend: String,
    pub runtime_version: String,
    /// Measure the case in a NO_DISPATCH capture (per-core peaks, every buffer).
    pub measure: bool,
    /// After a memory failure, run a one-element case and require it to fit.
    pub canary: bool,
    /// Run the case for real. Without it only the measurement runs (memory-estimation tests).
    pub execute: bool,
}

/// The one-element canary: a `[1]` bf16 tensor in L1 through `relu`. Seed 002 counted OOM
/// failures at shape `[1]`; on a healthy device this can never fail.
pub fn canary_case(device: &'static memmodel::DeviceSpec) -> Case {
    let mut case = Case::new(
        memmodel::find_op("relu").expect("relu is in the catalog"),
        vec![Shape::from_dims(vec![1]).expect("[1] is a shape")],
        device,
    );
    case.expect = Expectation::MustFit;
    case
}

fn class_of(outcome: Outcome) -> Class {
    match outcome {
        Outcome::Ok => Class::Fits,
        Outcome::Oom => Class::Oom,
        Outcome::CbClash => Class::CbClash,
        Outcome::L1Small => Class::L1Small,
        Outcome::Error => Class::Error,
        Outcome::Unmodeled => Class::Unmodeled,
    }
}

/// A record with the case's identity and model numbers filled in and the outcome left as an
/// error; the caller fills in what happened. Also used for crashed and timed-out cases.
pub fn blank_record(case: &Case, opts: &RunOptions) -> CaseRecord {
    blank_record_signed(case, case.signature().as_ref(), opts)
}

/// [`blank_record`] with the case's signature (or why it has none) already built.
fn blank_record_signed(
    case: &Case,
    sig: Result<&Signature, &CaseError>,
    opts: &RunOptions,
) -> CaseRecord {
    let estimate = sig.ok().and_then(|s| case.estimate_from(s).ok());
    let (logical_bytes, allocated_bytes, device_shape, predicted, modeled_total) = match &estimate {
        Some(e) => (
            e.logical_bytes,
            e.placement.total_bytes,
            e.primary.shape.dims().to_vec(),
            e.verdict.name().to_string(),
            e.plan
                .buffers
                .iter()
                .map(|b| b.placement.total_bytes)
                .fold(0u64, u64::saturating_add),
        ),
        None => (0, 0, Vec::new(), "invalid".to_string(), 0),
    };
    CaseRecord {
        id: case.id(),
        op: case.op.name.to_string(),
        ttnn: sig.map(|s| s.invocation.render()).unwrap_or_default(),
        shape_set: case.shape_set.clone(),
        shapes: case
            .model_inputs
            .iter()
            .map(|s| s.dims().to_vec())
            .collect(),
        device_shape,
        device_layout: case.device_layout.to_string(),
        dtype: case.dtype.to_string(),
        layout: case.layout.to_string(),
        memory: case.memory_label(),
        device: case.device.name.to_string(),
        params: case.params.compact(),
        backend: opts.backend.clone(),
        runtime_version: opts.runtime_version.clone(),
        class: Class::Error,
        message: String::new(),
        expect: case.expect.name().to_string(),
        buffer_type: None,
        total_bytes: 0,
        banks: 0,
        per_bank_bytes: 0,
        bank_bytes: 0,
        bank_allocated_bytes: 0,
        logical_bytes,
        allocated_bytes,
        predicted,
        peak_cb_per_core: None,
        peak_l1_per_core: None,
        case_allocated_bytes: modeled_total,
        overhead_factor: ratio(modeled_total, logical_bytes),
        captured_buffers: Vec::new(),
        measure_note: None,
        fix: None,
        leaked_bytes: 0,
        canary_ok: None,
        elapsed_ms: 0.0,
    }
}

fn ratio(actual: u64, theoretical: u64) -> f64 {
    if theoretical == 0 {
        return 0.0;
    }
    (actual as f64 / theoretical as f64 * 1000.0).round() / 1000.0
}

/// Fill the failure numbers of `error` into `record`.
fn fill_error(record: &mut CaseRecord, error: &Error, case: &Case) {
    record.message = error.raw().to_string();
    match error {
        Error::OutOfMemory {
            buffer_type,
            total_bytes,
            banks,
            per_bank_bytes,
            bank_bytes,
            allocated,
            ..
        } => {
            record.buffer_type = Some(buffer_type.tt_name().to_string());
            record.bank_allocated_bytes = *allocated;
            record.total_bytes = *total_bytes;
            record.banks = *banks;
            record.per_bank_bytes = *per_bank_bytes;
            record.bank_bytes = *bank_bytes;
        }
        Error::L1SmallTooSmall {
            total_bytes,
            banks,
            per_bank_bytes,
            l1_small_bytes,
            ..
        } => {
            record.buffer_type = Some(BufferType::L1Small.tt_name().to_string());
            record.total_bytes = *total_bytes;
            record.banks = *banks;
            record.per_bank_bytes = *per_bank_bytes;
            record.bank_bytes = *l1_small_bytes;
        }
        Error::CircularBufferClash { .. } | Error::CircularBuffersExceedL1 { .. } => {
            record.buffer_type = Some("L1".to_string());
            record.bank_bytes = case.device.l1_bank_bytes;
        }
        _ => {}
    }
}

/// Run one case: outcome, leak check, canary after a memory failure, measurement.
pub fn run_record<D: DeviceApi>(device: &D, case: &Case, opts: &RunOptions) -> CaseRecord {
    // Built once: the record's estimate and the run both need it.
    let sig = case.signature();
    let mut record = blank_record_signed(case, sig.as_ref(), opts);
    let start = Instant::now();
    let executed = if opts.execute {
        Some(match &sig {
            Ok(sig) => ttnn::run_case_signed(device, case, sig, ttnn::Outputs::Skip),
            // run_case says why the case cannot be formed.
            Err(_) => ttnn::run_case(device, case),
        })
    } else {
        None
    };
    match executed {
        None => {
            // Not run: the class stays what the model predicts until the measurement says more.
            record.class = predicted_class(case).unwrap_or(Class::Error);
        }
        Some(Err(e)) => {
            record.class = Class::Error;
            record.message = e.to_string();
        }
        Some(Ok(outcome)) => {
            record.class = class_of(outcome.outcome);
            if let Some(error) = &outcome.error {
                fill_error(&mut record, error, case);
                if let Some(at) = &outcome.failed_at {
                    if record.class == Class::Error {
                        record.message = format!("{} (at {at})", record.message);
                    }
                }
            }
            record.leaked_bytes = outcome
                .leaks
                .iter()
                .map(|l| l.allocated_after.abs_diff(l.allocated_before))
                .fold(0u64, u64::saturating_add);
        }
    }
    record.elapsed_ms = start.elapsed().as_secs_f64() * 1000.0;
    if opts.canary && record.class.is_memory_failure() {
        let canary = canary_case(case.device);
        record.canary_ok = Some(
            matches!(ttnn::run_case(device, &canary), Ok(o) if o.is_ok() && o.leaks.is_empty()),
        );
    }
    let measure_skip = opts.measure.then(|| too_slow_to_measure(case)).flatten();
    if let Some(why) = &measure_skip {
        record.measure_note = Some(why.clone());
    }
    if opts.measure && measure_skip.is_none() && !(opts.execute && record.class == Class::Error) {
        match ttnn::measure_case(device, case) {
            Err(e) => {
                if !opts.execute {
                    record.class = Class::Error;
                    record.message = format!("measuring in NO_DISPATCH mode failed: {e}");
                }
            }
            Ok(capture) => {
                let u = capture.per_core;
                record.peak_cb_per_core = Some(u.peak_cb.saturating_add(u.peak_dataflow_buffer));
                record.peak_l1_per_core = Some(u.peak_l1);
                let total = capture
                    .buffers
                    .iter()
                    .map(|b| b.size)
                    .fold(0u64, u64::saturating_add);
                if total > 0 {
                    record.case_allocated_bytes = total;
                    record.overhead_factor = ratio(total, record.logical_bytes);
                }
                record.captured_buffers = capture
                    .buffers
                    .iter()
                    .map(|b| BufferRecord {
                        buffer_type: b.buffer_type.clone(),
                        size: b.size,
                        per_bank_bytes: b.max_size_per_bank,
                    })
                    .collect();
            }
        }
    }
    record
}

/// Output pages above which a copying reshape is not measured (see [`too_slow_to_measure`]).
pub const RESHAPE_MEASURE_PAGE_LIMIT: u64 = 1 << 16;

/// Output pages above which a copying unsqueeze is not measured: its host page map would take
/// gigabytes (see [`too_slow_to_measure`]).
pub const UNSQUEEZE_MEASURE_PAGE_LIMIT: u64 = 1 << 22;

/// Why a case's NO_DISPATCH measurement would cost far more than everything else, if it would.
/// A reshape that is not a view makes tt-metal build a page map on the host, O(pages):
/// ~45 s per 4K feature map on the mock device. Its buffers are the input and the output, which
/// the model knows exactly; skipping keeps a full run at minutes instead of half an hour.
pub fn too_slow_to_measure(case: &Case) -> Option<String> {
    let limit = match case.op.family {
        memmodel::ops::Family::Reshape => RESHAPE_MEASURE_PAGE_LIMIT,
        // A copying unsqueeze builds the same page map. Its captures are kept (they take
        // seconds) up to the size where the map itself outgrows the host: the random
        // differential's p150 unsqueeze of [6,22128,4100] bfloat8_b at dim -1 (17.1M output
        // tiles) grew its worker past 22 GB of RSS, and the host killed it, where the device
        // run had long since run out of L1 at its input.
        memmodel::ops::Family::Unsqueeze => UNSQUEEZE_MEASURE_PAGE_LIMIT,
        _ => return None,
    };
    let sig = case.signature().ok()?;
    let out = sig.outputs.first()?;
    let copies = match case.op.family {
        // The signature calls every unsqueeze a view; the runtime copies where the tiles'
        // padding changes, as a reshape does.
        memmodel::ops::Family::Unsqueeze => sig
            .inputs
            .first()
            .is_some_and(|x| !memmodel::exec::reshape_is_view(&x.shape, &out.shape, out.layout)),
        _ => out.storage == memmodel::ops::OutputStorage::New,
    };
    if !copies {
        return None;
    }
    let pages = memmodel::TensorSpec::new(out.shape.clone(), out.dtype, out.layout)
        .pages()
        .ok()?;
    (pages > limit).then(|| {
        format!(
            "not measured: a copying reshape of {pages} pages makes tt-metal build its page map on the host (O(pages), tens of seconds)"
        )
    })
}

/// The memmodel verdict for a case, as a class (for listing tests before any device runs).
pub fn predicted_class(case: &Case) -> Option<Class> {
    let verdict = match case.estimate() {
        Ok(e) => e.verdict,
        // No plan, no prediction (conv2d for now): said so, not an error.
        Err(e) if memmodel::exec::is_unmodeled(&e) => return Some(Class::Unmodeled),
        Err(_) => return None,
    };
    Some(match verdict {
        Verdict::Fits => Class::Fits,
        Verdict::CbClash(_) => Class::CbClash,
        Verdict::Oom(_) if verdict.name() == "l1_small" => Class::L1Small,
        Verdict::Oom(_) => Class::Oom,
    })
}

/// Something that runs cases: worker processes on the real runtime
/// ([`crate::worker::WorkerPool`]) or the in-process simulator ([`SimRunner`]).
pub trait CaseRunner: Sync {
    fn run(&self, case: &Case, opts: &RunOptions) -> CaseRecord;
}

/// Cases on the embedded `sim` backend, in this process: one simulated device per board and
/// L1_SMALL size, opened on first use (microseconds) and kept for the cases that follow.
#[derive(Default)]
pub struct SimRunner {
    devices: std::sync::Mutex<
        std::collections::BTreeMap<(&'static str, u64), std::sync::Arc<ttnn::sim::Device>>,
    >,
}

impl SimRunner {
    pub fn new() -> SimRunner {
        SimRunner::default()
    }

    fn device(&self, case: &Case) -> Result<std::sync::Arc<ttnn::sim::Device>, Error> {
        let l1_small = case.signature().map(|s| s.l1_small_bytes).unwrap_or(0);
        let mut devices = self.devices.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(d) = devices.get(&(case.device.name, l1_small)) {
            return Ok(std::sync::Arc::clone(d));
        }
        let d = std::sync::Arc::new(ttnn::sim::Device::open(
            case.device,
            ttnn::sim::DeviceOptions::with_l1_small(l1_small),
        )?);
        devices.insert((case.device.name, l1_small), std::sync::Arc::clone(&d));
        Ok(d)
    }
}

impl CaseRunner for SimRunner {
    fn run(&self, case: &Case, opts: &RunOptions) -> CaseRecord {
        let opts = RunOptions {
            backend: "sim".into(),
            runtime_version: ttnn::sim::SIM_VERSION.to_string(),
            ..opts.clone()
        };
        match self.device(case) {
            Ok(device) => run_record(&*device, case, &opts),
            Err(e) => {
                let mut record = blank_record(case, &opts);
                record.message = format!("opening the sim device: {e}");
                record
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use memmodel::{BufferType, DType, Layout, Shape};

    fn unsqueeze(dims: &str, dtype: DType) -> Case {
        let mut c = Case::new(
            memmodel::ops::find("unsqueeze").expect("in the catalog"),
            vec![Shape::parse(dims).expect("a shape")],
            memmodel::DeviceSpec::by_name("p150").expect("a board"),
        );
        c.dtype = dtype;
        c.layout = Layout::Tile;
        c.input_memory = BufferType::L1;
        c.output_memory = BufferType::L1;
        c.params.set("dim", memmodel::params::ParamValue::Int(-1));
        c
    }

    /// The random differential's p150 unsqueeze of [6,22128,4100] bfloat8_b at dim -1 copies
    /// into 17.1M tiles, whose host page map grew its worker past 22 GB: not measured. A small
    /// copying unsqueeze, and one that is a view, are measured.
    #[test]
    fn copying_unsqueezes_past_the_host_limit_are_not_measured() {
        let big = unsqueeze("6,22128,4100", DType::Bfloat8B);
        assert!(too_slow_to_measure(&big).is_some_and(|why| why.contains("page map")));
        assert_eq!(
            too_slow_to_measure(&unsqueeze("6,64,100", DType::Bfloat16)),
            None
        );
        let mut view = unsqueeze("6,22128,4096", DType::Bfloat16);
        view.params.set("dim", memmodel::params::ParamValue::Int(0));
        assert_eq!(too_slow_to_measure(&view), None);
    }
}
