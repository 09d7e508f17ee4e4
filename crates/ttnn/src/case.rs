//! Running one [`memmodel::Case`] on any backend: create its inputs with `ttnn.empty` in the
//! case's input memory, run its invocation (outputs in the case's output memory), record what
//! happened, free everything and check the allocator is back where it started.

use crate::api::{Capture, DeviceApi, MemoryView, TensorDesc, TensorInfo};
use crate::error::{Error, Outcome, Result};
use memmodel::coverage::Refusal;
use memmodel::ops::Signature;
use memmodel::{BufferType, Case};
use serde::Serialize;
use std::time::{Duration, Instant};

/// Per-bank bytes still allocated after a case freed everything (a leak).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Leak {
    pub buffer_type: BufferType,
    pub allocated_before: u64,
    pub allocated_after: u64,
}

/// What running a case did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseOutcome {
    pub outcome: Outcome,
    /// The failure, when there was one.
    pub error: Option<Error>,
    /// Where it failed: `input 0 (input)` or `run`.
    pub failed_at: Option<String>,
    /// The outputs the runtime returned (on success).
    pub outputs: Vec<TensorInfo>,
    /// Inputs and the op, from the first allocation to the last result.
    #[serde(serialize_with = "as_millis")]
    pub elapsed: Duration,
    /// Memory that did not come back after everything was freed, even with the program cache
    /// cleared (empty when none).
    pub leaks: Vec<Leak>,
    /// Memory the op's cached program kept after everything was freed, released by clearing the
    /// program cache (max_pool2d keeps config tensors in L1_SMALL). Not a leak, but memory a
    /// later op on the same device does not have.
    pub held_by_program_cache: Vec<Leak>,
}

fn as_millis<S: serde::Serializer>(d: &Duration, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1000.0)
}

impl CaseOutcome {
    pub fn is_ok(&self) -> bool {
        self.outcome == Outcome::Ok
    }
}

fn signature(case: &Case) -> Result<Signature> {
    case.signature()
        .map_err(|e| Error::InvalidArgument(format!("{}: {e}", case.id())))
}

/// On a backend that runs memmodel's plans (sim), the check that memmodel answers this call,
/// with what it finds on the way: the runtime's refusal of the call if it refuses it
/// (`Ok(Some)`, raised once the inputs exist: [`refuse`]), an unmodeled call as
/// [`Error::Unmodeled`]. `Ok(None)` on the runtime, which answers for itself.
pub(crate) fn gate<D: DeviceApi>(
    device: &D,
    case: &Case,
    sig: &Signature,
) -> Result<Option<Refusal>> {
    if !device.runs_memmodel() {
        return Ok(None);
    }
    memmodel::coverage::gate(case, sig).map_err(Error::from_plan)
}

fn check_device<D: DeviceApi>(device: &D, case: &Case) -> Result<()> {
    if device.spec().name != case.device.name {
        return Err(Error::InvalidArgument(format!(
            "case {} is for a {}, the device is a {}",
            case.id(),
            case.device.name,
            device.spec().name
        )));
    }
    Ok(())
}

/// The memories whose allocations a case may touch.
fn watched(device: &impl DeviceApi) -> &'static [BufferType] {
    const WITH_L1_SMALL: &[BufferType] = &[BufferType::Dram, BufferType::L1, BufferType::L1Small];
    if device.l1_small_size() > 0 {
        WITH_L1_SMALL
    } else {
        &WITH_L1_SMALL[..2]
    }
}

fn views<D: DeviceApi>(device: &D) -> Result<Vec<MemoryView>> {
    device.memory_views(watched(device))
}

/// The input tensors a case creates on the device before its call (`sig` is its signature).
pub fn input_descs(case: &Case, sig: &Signature) -> Vec<TensorDesc> {
    sig.inputs
        .iter()
        .map(|input| TensorDesc {
            shape: input.shape.dims().to_vec(),
            dtype: input.dtype,
            layout: input.layout,
            buffer_type: case.input_memory,
            sharding: case.input_config().sharding(),
        })
        .collect()
}

/// The error of a call the runtime refuses (`refusal`, from [`gate`]), raised as the runtime
/// does once the inputs (and, for some ops, the outputs) exist: an output that does not fit
/// runs out of memory first.
pub(crate) fn refuse<D: DeviceApi>(
    device: &D,
    case: &Case,
    sig: &Signature,
    refusal: &Refusal,
) -> Error {
    if refusal.after_outputs {
        let mut made = Vec::new();
        for desc in output_descs(case, sig) {
            match device.empty(&desc) {
                Ok(t) => made.push(t),
                Err(e) => return e,
            }
        }
    }
    crate::message::parse_runtime_error(&refusal.reason)
}

/// The outputs a refusing op allocates before it raises, in the case's output memory (a
/// stack's unsqueeze: the input's).
fn output_descs(case: &Case, sig: &Signature) -> Vec<TensorDesc> {
    let refused = memmodel::coverage::refused_outputs(case, sig);
    let (buffer_type, config) = if refused.in_input_memory {
        (case.input_memory, case.input_config())
    } else {
        (case.output_memory, case.output_config())
    };
    refused
        .outputs
        .into_iter()
        .map(|o| TensorDesc {
            shape: o.shape.dims().to_vec(),
            dtype: o.dtype,
            layout: refused.layout,
            buffer_type,
            sharding: config.sharding(),
        })
        .collect()
}

/// `input 1 (other)`: where a case failed when creating its inputs (formatted only then).
fn input_name(sig: &Signature, i: usize) -> String {
    format!("input {i} ({})", sig.inputs[i].role)
}

fn differences(before: &[MemoryView], after: &[MemoryView]) -> Vec<Leak> {
    before
        .iter()
        .zip(after)
        .filter(|(b, a)| a.allocated_per_bank != b.allocated_per_bank)
        .map(|(b, a)| Leak {
            buffer_type: b.buffer_type,
            allocated_before: b.allocated_per_bank,
            allocated_after: a.allocated_per_bank,
        })
        .collect()
}

/// Runs a case for real. `Err` only when the case cannot be formed or the device cannot be
/// asked (wrong board, runtime gone); an OOM or any other runtime failure is an `Ok` outcome
/// that carries the error.
pub fn run_case<D: DeviceApi>(device: &D, case: &Case) -> Result<CaseOutcome> {
    check_device(device, case)?;
    let sig = signature(case)?;
    run_case_signed(device, case, &sig, Outputs::Describe)
}

/// Whether a run describes its outputs ([`CaseOutcome::outputs`]: one runtime query per output).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outputs {
    Describe,
    /// Leave [`CaseOutcome::outputs`] empty (the suite's records do not keep them).
    Skip,
}

/// [`run_case`] with the case's signature already built (`case.signature()`): it depends on the
/// case alone, so a caller that has it (the suite's runner, for the record's estimate) does not
/// pay for it again on every run.
pub fn run_case_signed<D: DeviceApi>(
    device: &D,
    case: &Case,
    sig: &Signature,
    describe: Outputs,
) -> Result<CaseOutcome> {
    check_device(device, case)?;
    let refusal = match gate(device, case, sig) {
        Ok(refusal) => refusal,
        // No verdict: a record, not a failed run.
        Err(e) => {
            return Ok(CaseOutcome {
                outcome: e.outcome(),
                error: Some(e),
                failed_at: Some("run".into()),
                outputs: Vec::new(),
                elapsed: std::time::Duration::ZERO,
                leaks: Vec::new(),
                held_by_program_cache: Vec::new(),
            })
        }
    };
    let before = views(device)?;
    let start = Instant::now();
    let mut failed_at = None;
    let mut error = None;
    let mut outputs = Vec::new();
    {
        let mut inputs = Vec::with_capacity(sig.inputs.len());
        for (i, desc) in input_descs(case, sig).into_iter().enumerate() {
            match device.empty(&desc) {
                Ok(t) => inputs.push(t),
                Err(e) => {
                    failed_at = Some(input_name(sig, i));
                    error = Some(e);
                    break;
                }
            }
        }
        if let (None, Some(refusal)) = (&error, &refusal) {
            failed_at = Some("run".into());
            error = Some(refuse(device, case, sig, refusal));
        } else if error.is_none() {
            let refs: Vec<&D::Tensor> = inputs.iter().collect();
            match device.run(&sig.invocation, &refs) {
                Ok(outs) => {
                    let described = if describe == Outputs::Describe {
                        &outs[..]
                    } else {
                        &[]
                    };
                    for t in described {
                        match device.tensor_info(t) {
                            Ok(info) => outputs.push(info),
                            Err(e) => {
                                failed_at = Some("describing the outputs".into());
                                error = Some(e);
                                break;
                            }
                        }
                    }
                    drop(outs);
                }
                Err(e) => {
                    failed_at = Some("run".into());
                    error = Some(e);
                }
            }
        }
        drop(inputs);
    }
    let elapsed = start.elapsed();
    let mut held_by_program_cache = differences(&before, &views(device)?);
    let mut leaks = Vec::new();
    if !held_by_program_cache.is_empty() {
        device.clear_program_cache()?;
        leaks = differences(&before, &views(device)?);
        held_by_program_cache.retain(|h| !leaks.iter().any(|l| l.buffer_type == h.buffer_type));
    }
    Ok(CaseOutcome {
        outcome: error.as_ref().map_or(Outcome::Ok, Error::outcome),
        error,
        failed_at,
        outputs,
        elapsed,
        leaks,
        held_by_program_cache,
    })
}

/// Measures a case without allocating: its inputs and op run inside a NO_DISPATCH capture (no
/// OOM checks there), so it works for cases that do not fit too.
pub fn measure_case<D: DeviceApi>(device: &D, case: &Case) -> Result<Capture> {
    match capture_case(device, case)? {
        (capture, None) => Ok(capture),
        (_, Some(e)) => Err(e),
    }
}

/// Like [`measure_case`], but a failure inside the capture (an op that refuses its arguments
/// even without allocating) comes back with what was captured up to it.
pub fn capture_case<D: DeviceApi>(device: &D, case: &Case) -> Result<(Capture, Option<Error>)> {
    check_device(device, case)?;
    let sig = signature(case)?;
    let refusal = gate(device, case, &sig)?;
    device.begin_capture()?;
    let result = (|| {
        let inputs = input_descs(case, &sig)
            .iter()
            .map(|desc| device.empty(desc))
            .collect::<Result<Vec<_>>>()?;
        if let Some(refusal) = &refusal {
            return Err(crate::message::parse_runtime_error(&refusal.reason));
        }
        let refs: Vec<&D::Tensor> = inputs.iter().collect();
        let outs = device.run(&sig.invocation, &refs)?;
        drop(outs);
        drop(inputs);
        Ok(())
    })();
    let capture = device.end_capture()?;
    Ok((capture, result.err()))
}
