//! Runs a whole model ([`memmodel::model::BuiltModel`]) on one device, call after call, with
//! the tensors alive between calls as the model's lifetimes say: the allocator's real state
//! between calls (fragmentation included) on the runtime, the same on sim. The first call that
//! fails ends the run; everything is freed after it, and the device is back at its baseline.

use crate::api::{DeviceApi, TensorDesc};
use crate::case::{check_coverage, input_descs};
use crate::error::{Error, Result};
use memmodel::model::{BuiltModel, Step};
use memmodel::BufferType;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Instant;

/// Memory after one call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub number: usize,
    /// The call's line in the model file.
    pub line: usize,
    /// `#3 silu(x) -> y`.
    pub label: String,
    /// The TT-NN call.
    pub ttnn: String,
    /// Bytes allocated per bank after the call (its outputs alive, dead tensors freed).
    pub l1_per_bank: u64,
    pub dram_per_bank: u64,
    /// Tensors alive after the call (model parameters not listed).
    pub live: Vec<String>,
    /// Per-core peaks while the call ran (a NO_DISPATCH capture of the call on the live
    /// tensors, before it runs for real), when measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peaks: Option<crate::api::CoreUsage>,
    /// Buffers the call allocated (outputs and temporaries), as captured: (type, bytes per bank).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buffers: Vec<(String, u64)>,
    pub elapsed_ms: f64,
}

/// The call that failed, and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelFailure {
    /// 0: creating the model's inputs.
    pub number: usize,
    pub line: usize,
    pub label: String,
    pub outcome: String,
    pub message: String,
    /// Per-bank bytes allocated just before the call (L1, DRAM).
    pub l1_per_bank_before: u64,
    pub dram_per_bank_before: u64,
}

/// A model's run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelRun {
    pub model: String,
    pub resolution: [u64; 2],
    pub device: String,
    pub backend: String,
    pub steps: Vec<StepRecord>,
    pub failure: Option<ModelFailure>,
    /// The most per-bank bytes alive between calls, and after which call (L1, DRAM).
    pub peak_l1_per_bank: (u64, usize),
    pub peak_dram_per_bank: (u64, usize),
    pub bank_bytes_l1: u64,
    pub bank_bytes_dram: u64,
    /// Per-bank bytes left allocated after everything was freed (0: none; proves cleanup).
    pub leaked_per_bank: u64,
}

/// Runs `model` on `device` (opened with at least [`BuiltModel::l1_small_bytes`] of L1_SMALL).
/// `Err` only when the device cannot be asked; a call that fails is [`ModelRun::failure`].
pub fn run_model<D: DeviceApi>(device: &D, model: &BuiltModel) -> Result<ModelRun> {
    run_model_with(device, model, false)
}

/// Like [`run_model`]; with `measure`, each call is first captured (NO_DISPATCH: the programs
/// and buffers it would make, per-core peaks) on the live tensors, then run for real.
pub fn run_model_with<D: DeviceApi>(
    device: &D,
    model: &BuiltModel,
    measure: bool,
) -> Result<ModelRun> {
    if device.spec().name != model.device.name {
        return Err(Error::InvalidArgument(format!(
            "the model is built for a {}, the device is a {}",
            model.device.name,
            device.spec().name
        )));
    }
    let view = |b: BufferType| device.memory_view(b);
    let (l1_base, dram_base) = (view(BufferType::L1)?, view(BufferType::Dram)?);
    let mut run = ModelRun {
        model: model.name.clone(),
        resolution: model.resolution,
        device: model.device.name.to_string(),
        backend: if device.runs_memmodel() {
            "sim"
        } else {
            "metal"
        }
        .into(),
        steps: Vec::new(),
        failure: None,
        peak_l1_per_bank: (0, 0),
        peak_dram_per_bank: (0, 0),
        bank_bytes_l1: l1_base.bank_bytes,
        bank_bytes_dram: dram_base.bank_bytes,
        leaked_per_bank: 0,
    };
    {
        let mut tensors: BTreeMap<String, D::Tensor> = BTreeMap::new();
        let mut parameters: Vec<D::Tensor> = Vec::new();
        let fail = |number: usize, line: usize, label: String, e: &Error| -> Result<ModelFailure> {
            Ok(ModelFailure {
                number,
                line,
                label,
                outcome: e.outcome().name().into(),
                message: e.to_string(),
                l1_per_bank_before: view(BufferType::L1)?.allocated_per_bank,
                dram_per_bank_before: view(BufferType::Dram)?.allocated_per_bank,
            })
        };
        for t in &model.inputs {
            let desc = TensorDesc {
                shape: t.shape.dims().to_vec(),
                dtype: t.dtype,
                layout: t.layout,
                buffer_type: t.memory,
                sharding: None,
            };
            match device.empty(&desc) {
                Ok(x) => {
                    tensors.insert(t.name.clone(), x);
                }
                Err(e) => {
                    run.failure = Some(fail(0, 0, format!("input {}", t.name), &e)?);
                    break;
                }
            }
        }
        for name in &model.unused_inputs {
            tensors.remove(name);
        }
        if run.failure.is_none() {
            for step in &model.steps {
                let start = Instant::now();
                let captured = if measure {
                    capture_step(device, step, &tensors, &mut parameters)?
                } else {
                    None
                };
                if let Err(e) = run_step(device, step, &mut tensors, &mut parameters) {
                    run.failure = Some(fail(step.number, step.line, step.label(), &e)?);
                    break;
                }
                let (l1, dram) = (
                    view(BufferType::L1)?.allocated_per_bank,
                    view(BufferType::Dram)?.allocated_per_bank,
                );
                if l1 > run.peak_l1_per_bank.0 {
                    run.peak_l1_per_bank = (l1, step.number);
                }
                if dram > run.peak_dram_per_bank.0 {
                    run.peak_dram_per_bank = (dram, step.number);
                }
                run.steps.push(StepRecord {
                    number: step.number,
                    line: step.line,
                    label: step.label(),
                    ttnn: step
                        .case
                        .signature()
                        .map(|s| s.invocation.render())
                        .unwrap_or_default(),
                    l1_per_bank: l1,
                    dram_per_bank: dram,
                    live: tensors.keys().cloned().collect(),
                    peaks: captured.as_ref().map(|c| c.per_core),
                    buffers: captured
                        .map(|c| {
                            c.buffers
                                .into_iter()
                                .map(|b| (b.buffer_type, b.max_size_per_bank))
                                .collect()
                        })
                        .unwrap_or_default(),
                    elapsed_ms: start.elapsed().as_secs_f64() * 1e3,
                });
            }
        }
        drop(tensors);
        drop(parameters);
    }
    // Programs the runtime keeps cached may hold buffers; they are not the model's.
    let leaked = |base: &crate::api::MemoryView, b| -> Result<u64> {
        Ok(view(b)?
            .allocated_per_bank
            .saturating_sub(base.allocated_per_bank))
    };
    let mut left = leaked(&l1_base, BufferType::L1)?.max(leaked(&dram_base, BufferType::Dram)?);
    if left > 0 {
        device.clear_program_cache()?;
        left = leaked(&l1_base, BufferType::L1)?.max(leaked(&dram_base, BufferType::Dram)?);
    }
    run.leaked_per_bank = left;
    Ok(run)
}

/// The call in a NO_DISPATCH capture on the live tensors (its outputs dropped at once). `None`
/// when the call fails inside the capture: the real run then says how.
fn capture_step<D: DeviceApi>(
    device: &D,
    step: &Step,
    tensors: &BTreeMap<String, D::Tensor>,
    parameters: &mut Vec<D::Tensor>,
) -> Result<Option<crate::api::Capture>> {
    let case = &step.case;
    let Ok(sig) = case.signature() else {
        return Ok(None);
    };
    if check_coverage(device, case, &sig).is_err()
        || (device.runs_memmodel() && memmodel::coverage::refusal(case, &sig).is_some())
    {
        return Ok(None);
    }
    // The parameters are made for real first (as run_step would), so the capture sees them.
    let descs = input_descs(case, &sig);
    let first_parameter = parameters.len();
    for desc in &descs[step.inputs.len()..] {
        match device.empty(desc) {
            Ok(t) => parameters.push(t),
            Err(_) => {
                parameters.truncate(first_parameter);
                return Ok(None);
            }
        }
    }
    let made = parameters.len() - first_parameter;
    device.begin_capture()?;
    let result = (|| -> Result<()> {
        let mut refs: Vec<&D::Tensor> = Vec::new();
        for n in &step.inputs {
            refs.push(tensors.get(n).ok_or_else(|| {
                Error::InvalidArgument(format!("{}: no tensor `{n}`", step.label()))
            })?);
        }
        refs.extend(&parameters[first_parameter..]);
        drop(device.run(&sig.invocation, &refs)?);
        Ok(())
    })();
    let capture = device.end_capture()?;
    // run_step makes the parameters again.
    parameters.truncate(parameters.len() - made);
    Ok(result.ok().map(|()| capture))
}

/// One call: its parameters, the op, the outputs under their names, the dead freed.
fn run_step<D: DeviceApi>(
    device: &D,
    step: &Step,
    tensors: &mut BTreeMap<String, D::Tensor>,
    parameters: &mut Vec<D::Tensor>,
) -> Result<()> {
    let case = &step.case;
    let sig = case
        .signature()
        .map_err(|e| Error::InvalidArgument(format!("{}: {e}", step.label())))?;
    check_coverage(device, case, &sig)?;
    // The parameters the op takes beyond the named tensors: made once, kept to the end.
    let descs = input_descs(case, &sig);
    let first_parameter = parameters.len();
    for desc in &descs[step.inputs.len()..] {
        parameters.push(device.empty(desc)?);
    }
    if device.runs_memmodel() {
        if let Some(refusal) = memmodel::coverage::refusal(case, &sig) {
            // As in a single case: the runtime raises this once its inputs (and for some ops
            // its outputs) exist.
            let mut made = Vec::new();
            if refusal.after_outputs {
                for desc in crate::case::output_descs(case, &sig) {
                    made.push(device.empty(&desc)?);
                }
            }
            drop(made);
            return Err(crate::message::parse_runtime_error(&refusal.reason));
        }
    }
    let mut refs: Vec<&D::Tensor> = step
        .inputs
        .iter()
        .map(|n| {
            tensors
                .get(n)
                .ok_or_else(|| Error::InvalidArgument(format!("{}: no tensor `{n}`", step.label())))
        })
        .collect::<Result<_>>()?;
    refs.extend(&parameters[first_parameter..]);
    let outs = device.run(&sig.invocation, &refs)?;
    if outs.len() != step.outputs.len() {
        return Err(Error::InvalidArgument(format!(
            "{}: the call made {} tensor(s), the model names {}",
            step.label(),
            outs.len(),
            step.outputs.len()
        )));
    }
    for (def, t) in step.outputs.iter().zip(outs) {
        tensors.insert(def.name.clone(), t);
    }
    for n in &step.frees {
        tensors.remove(n);
    }
    Ok(())
}
