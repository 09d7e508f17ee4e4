//! Runs a whole model ([`memmodel::model::BuiltModel`]) on one device, call after call, with
//! the tensors alive between calls as the model's lifetimes say: the allocator's real state
//! between calls (fragmentation included) on the runtime, the same on sim. The first call that
//! fails ends the run; everything is freed after it, and the device is back at its baseline.

use crate::api::{DeviceApi, TensorDesc};
use crate::case::{gate, input_descs, refuse};
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
    /// L1_SMALL bytes allocated per bank after the call (what ops keep there: the config
    /// tensors of cached conv2d / max_pool2d programs).
    #[serde(default)]
    pub l1_small_per_bank: u64,
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
    /// Every device buffer alive when the call returns (before the model frees the tensors that
    /// die with it), when asked for ([`run_model_recorded`]): what the runtime's report lists
    /// per operation (its buffers snapshot at the operation's end).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buffer_report: Option<StepBuffers>,
}

/// The call's tensors and the device buffers alive when it returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepBuffers {
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub live: Vec<LiveBuffer>,
    /// What the allocator holds per bank at that moment (L1, DRAM): `live` must add up to it.
    pub allocated_per_bank: (u64, u64),
}

/// One device buffer alive after a call: a named tensor or a model parameter, where the device
/// placed it; its per-bank size is memmodel's placement of the tensor as the device reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveBuffer {
    /// The tensor's name, or `parameter N of #M` (the N-th parameter made for call M).
    pub tensor: String,
    pub address: u64,
    /// As the runtime spells it: `DRAM`, `L1`, `L1_SMALL`.
    pub buffer_type: String,
    pub max_size_per_bank: u64,
    /// TT-NN's `TensorMemoryLayout`: `INTERLEAVED`, `HEIGHT_SHARDED`, ...
    pub memory_layout: String,
    pub shape: Vec<u64>,
    pub dtype: String,
    pub layout: String,
}

/// The call that failed, and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelFailure {
    /// 0: creating the model's inputs.
    pub number: usize,
    pub line: usize,
    pub label: String,
    /// The TT-NN call that failed (`ttnn.empty(...)` for a model input).
    #[serde(default)]
    pub ttnn: String,
    pub outcome: String,
    pub message: String,
    /// Per-bank bytes allocated just before the call (L1, DRAM).
    pub l1_per_bank_before: u64,
    pub dram_per_bank_before: u64,
    /// L1_SMALL bytes allocated per bank just before the call.
    #[serde(default)]
    pub l1_small_per_bank_before: u64,
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
    run_model_recorded(device, model, measure, false)
}

/// Like [`run_model_with`]; with `record_buffers`, each step also lists every device buffer
/// alive after it ([`StepRecord::buffer_report`]).
pub fn run_model_recorded<D: DeviceApi>(
    device: &D,
    model: &BuiltModel,
    measure: bool,
    record_buffers: bool,
) -> Result<ModelRun> {
    if device.spec().name != model.device.name {
        return Err(Error::InvalidArgument(format!(
            "the model is built for a {}, the device is a {}",
            model.device.name,
            device.spec().name
        )));
    }
    let view = |b: BufferType| device.memory_view(b);
    // A device opened without L1_SMALL has none to ask about.
    let l1_small_view = || -> Result<u64> {
        if device.l1_small_size() == 0 {
            return Ok(0);
        }
        Ok(view(BufferType::L1Small)?.allocated_per_bank)
    };
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
        // Who made each parameter (call number), and its memory config, for the buffer report.
        let mut parameter_of: Vec<(usize, memmodel::MemoryConfig)> = Vec::new();
        // How each call's outputs are sharded (the case's sharding covers its outputs too);
        // model inputs are interleaved.
        let mut sharding_of: BTreeMap<String, Option<memmodel::ShardStrategy>> = BTreeMap::new();
        let fail = |number: usize,
                    line: usize,
                    label: String,
                    ttnn: String,
                    e: &Error|
         -> Result<ModelFailure> {
            Ok(ModelFailure {
                number,
                line,
                label,
                ttnn,
                outcome: e.outcome().name().into(),
                message: e.to_string(),
                l1_per_bank_before: view(BufferType::L1)?.allocated_per_bank,
                dram_per_bank_before: view(BufferType::Dram)?.allocated_per_bank,
                l1_small_per_bank_before: l1_small_view()?,
            })
        };
        for t in &model.inputs {
            let desc = input_desc(t);
            match device.empty(&desc) {
                Ok(x) => {
                    tensors.insert(t.name.clone(), x);
                }
                Err(e) => {
                    run.failure = Some(fail(
                        0,
                        0,
                        format!("input {}", t.name),
                        format!("ttnn.empty({:?})", desc.shape),
                        &e,
                    )?);
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
                let made_before = parameters.len();
                let captured = match run_step(device, step, &mut tensors, &mut parameters, measure)
                {
                    Ok(captured) => captured,
                    Err(e) => {
                        run.failure = Some(fail(
                            step.number,
                            step.line,
                            step.label(),
                            step.signature.invocation.render(),
                            &e,
                        )?);
                        break;
                    }
                };
                if record_buffers {
                    let descs = input_descs(&step.case, &step.signature);
                    let made = descs[step.inputs.len()..]
                        .iter()
                        .map(|d| (step.number, d.config()));
                    parameter_of.extend(made.take(parameters.len() - made_before));
                    for d in &step.outputs {
                        sharding_of.insert(d.name.clone(), step.case.sharding);
                    }
                }
                let buffer_report = if record_buffers {
                    Some(StepBuffers {
                        inputs: step.inputs.clone(),
                        outputs: step.outputs.iter().map(|d| d.name.clone()).collect(),
                        live: live_buffers(
                            device,
                            &tensors,
                            &sharding_of,
                            &parameters,
                            &parameter_of,
                        )?,
                        allocated_per_bank: (
                            view(BufferType::L1)?.allocated_per_bank,
                            view(BufferType::Dram)?.allocated_per_bank,
                        ),
                    })
                } else {
                    None
                };
                for n in &step.frees {
                    tensors.remove(n);
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
                    ttnn: step.signature.invocation.render(),
                    l1_per_bank: l1,
                    dram_per_bank: dram,
                    l1_small_per_bank: l1_small_view()?,
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
                    buffer_report,
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

/// Every device buffer the model holds: its named tensors, then its parameters.
fn live_buffers<D: DeviceApi>(
    device: &D,
    tensors: &BTreeMap<String, D::Tensor>,
    sharding_of: &BTreeMap<String, Option<memmodel::ShardStrategy>>,
    parameters: &[D::Tensor],
    parameter_of: &[(usize, memmodel::MemoryConfig)],
) -> Result<Vec<LiveBuffer>> {
    let mut out = Vec::new();
    let mut made_by = BTreeMap::<usize, usize>::new();
    let named = tensors.iter().map(|(n, t)| {
        let sharding = sharding_of.get(n).copied().flatten();
        (n.clone(), t, sharding.map(memmodel::MemoryConfig::Sharded))
    });
    let params = parameters
        .iter()
        .zip(parameter_of)
        .map(|(t, (call, config))| {
            let n = made_by.entry(*call).or_default();
            *n += 1;
            (format!("parameter {n} of #{call}"), t, Some(*config))
        });
    let all: Vec<_> = named.chain(params).collect();
    for (name, t, config) in all {
        let info = device.tensor_info(t)?;
        let (Some(address), Some(bt)) = (info.address, info.buffer_type.as_deref()) else {
            continue;
        };
        let bad = |what: &str| Error::InvalidArgument(format!("{name}: the device reports {what}"));
        let buffer_type: BufferType = bt.parse().map_err(|_| bad(&format!("buffer type {bt}")))?;
        let spec = memmodel::TensorSpec::new(
            memmodel::Shape::new(&info.shape.iter().map(|&d| d as i64).collect::<Vec<_>>())
                .map_err(|_| bad(&format!("shape {:?}", info.shape)))?,
            info.dtype
                .parse()
                .map_err(|_| bad(&format!("dtype {}", info.dtype)))?,
            info.layout
                .parse()
                .map_err(|_| bad(&format!("layout {}", info.layout)))?,
        );
        // A sharded config holds in L1 only ([`memmodel::MemoryConfig::of`]).
        let config = match config {
            Some(memmodel::MemoryConfig::Sharded(s)) => {
                memmodel::MemoryConfig::of(buffer_type, Some(s))
            }
            _ => memmodel::MemoryConfig::Interleaved(buffer_type),
        };
        let memory_layout = match config {
            memmodel::MemoryConfig::Sharded(strategy) => strategy.tt_layout(),
            memmodel::MemoryConfig::Interleaved(_) => "INTERLEAVED",
        };
        let placement = memmodel::plan::placement_in(&spec, device.spec(), config)
            .map_err(|e| Error::InvalidArgument(format!("{name}: {e}")))?;
        out.push(LiveBuffer {
            tensor: name,
            address,
            buffer_type: buffer_type.tt_name().into(),
            max_size_per_bank: placement.per_bank_bytes,
            memory_layout: memory_layout.into(),
            shape: info.shape,
            dtype: info.dtype,
            layout: info.layout,
        });
    }
    Ok(out)
}

/// The named tensors a call takes, in order.
fn named_inputs<'a, T>(step: &Step, tensors: &'a BTreeMap<String, T>) -> Result<Vec<&'a T>> {
    step.inputs
        .iter()
        .map(|n| {
            tensors
                .get(n)
                .ok_or_else(|| Error::InvalidArgument(format!("{}: no tensor `{n}`", step.label())))
        })
        .collect()
}

/// One call: its coverage, its parameters (made once, kept to the end), with `measure` a
/// NO_DISPATCH capture of it on the live tensors, then the call for real; its outputs under
/// their names (the caller frees [`Step::frees`]). `Ok(capture)`: it ran (the capture, when measured and the call
/// did not fail inside it); `Err`: how it failed.
fn run_step<D: DeviceApi>(
    device: &D,
    step: &Step,
    tensors: &mut BTreeMap<String, D::Tensor>,
    parameters: &mut Vec<D::Tensor>,
    measure: bool,
) -> Result<Option<crate::api::Capture>> {
    let (case, sig) = (&step.case, &step.signature);
    if step.clear_program_cache {
        device.clear_program_cache()?;
    }
    let refusal = gate(device, case, sig)?;
    let first_parameter = parameters.len();
    for desc in &input_descs(case, sig)[step.inputs.len()..] {
        parameters.push(device.empty(desc)?);
    }
    let captured = if measure && refusal.is_none() {
        device.begin_capture()?;
        let result = named_inputs(step, tensors).and_then(|mut r| {
            r.extend(&parameters[first_parameter..]);
            device.run(&sig.invocation, &r).map(drop)
        });
        let capture = device.end_capture()?;
        result.ok().map(|()| capture)
    } else {
        None
    };
    if let Some(refusal) = &refusal {
        return Err(refuse(device, case, sig, refusal));
    }
    let mut inputs = named_inputs(step, tensors)?;
    inputs.extend(&parameters[first_parameter..]);
    let outs = device.run(&sig.invocation, &inputs)?;
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
    Ok(captured)
}

/// What `--fix`'s search ([`memmodel::model_fix::plan`]) needs of a run.
pub fn replay_of(run: &ModelRun) -> memmodel::model_fix::Replay {
    memmodel::model_fix::Replay {
        calls_run: run.steps.len(),
        failure: run
            .failure
            .as_ref()
            .map(|f| memmodel::model_fix::ReplayFailure {
                number: f.number,
                label: f.label.clone(),
                outcome: f.outcome.clone(),
                message: f.message.clone(),
            }),
        peak_l1_per_bank: run.peak_l1_per_bank.0,
        peak_dram_per_bank: run.peak_dram_per_bank.0,
    }
}

/// Runs `model` on a fresh sim device of its board (opened with its L1_SMALL).
pub fn run_on_sim(model: &BuiltModel) -> Result<ModelRun> {
    let dev = crate::sim::Device::open(
        model.device,
        crate::sim::DeviceOptions::with_l1_small(model.l1_small_bytes()),
    )?;
    run_model(&dev, model)
}

/// `--fix` on sim: the cheapest changes that make the model file `text` fit at `resolution` on
/// `device`, every changed model replayed on sim ([`memmodel::model_fix`]), each from the last
/// call it shares with the model replayed before it ([`SimReplayer`]).
pub fn fix_on_sim(
    text: &str,
    file: &str,
    resolution: Option<[u64; 2]>,
    device: &'static memmodel::DeviceSpec,
) -> std::result::Result<memmodel::model_fix::ModelFixPlan, String> {
    let mut replayer = SimReplayer::default();
    memmodel::model_fix::plan(text, file, resolution, device, |m| {
        replayer.replay(m).map_err(|e| e.to_string())
    })
}

/// Replays models on sim as [`run_on_sim`] does (same calls, same verdicts, same peaks), but
/// resumes each from the device as it was before the first call where the model differs from
/// the one replayed before it: the state before call k depends only on the model's inputs and
/// its calls before k, and `--fix`'s changed models share most of their calls. The device is
/// kept (forked, [`crate::sim::Device::fork`]) every [`SimReplayer::EVERY`] calls.
#[derive(Default)]
pub struct SimReplayer {
    /// The model last replayed, and its device before every `EVERY`-th call up to where it
    /// stopped (ascending).
    last: Option<BuiltModel>,
    kept: Vec<SimState>,
    /// Calls run in all (to measure what resuming saves).
    pub calls_run: usize,
}

/// A sim device between two calls of a model, with the model's live tensors.
struct SimState {
    /// The index of the next call to run (0: the first).
    next: usize,
    device: crate::sim::Device,
    tensors: BTreeMap<String, crate::sim::Tensor>,
    parameters: Vec<crate::sim::Tensor>,
    peak_l1: u64,
    peak_dram: u64,
}

impl Drop for SimState {
    fn drop(&mut self) {
        // Its tensors drop next; nothing reads this copy's memory again.
        self.device.detach();
    }
}

impl SimState {
    fn fork(&self) -> Result<SimState> {
        let names: Vec<&String> = self.tensors.keys().collect();
        let (device, mut handles) = self
            .device
            .fork(self.tensors.values().chain(&self.parameters))?;
        let parameters = handles.split_off(names.len());
        Ok(SimState {
            next: self.next,
            device,
            tensors: names.into_iter().cloned().zip(handles).collect(),
            parameters,
            peak_l1: self.peak_l1,
            peak_dram: self.peak_dram,
        })
    }
}

impl SimReplayer {
    /// How often the device is kept: every call would hold a copy of the device per call.
    pub const EVERY: usize = 4;

    /// The first call index at which `model` may run differently from the last model
    /// replayed (`None`: from its inputs on).
    fn shared_calls(&self, model: &BuiltModel) -> Option<usize> {
        let last = self.last.as_ref()?;
        let same_start = last.device.name == model.device.name
            && last.inputs == model.inputs
            && last.unused_inputs == model.unused_inputs
            && last.l1_small_bytes() == model.l1_small_bytes();
        same_start.then(|| {
            last.steps
                .iter()
                .zip(&model.steps)
                .take_while(|(a, b)| a == b)
                .count()
        })
    }

    /// A fresh device with the model's inputs made; `Err(failure)` when making them fails.
    fn start(
        model: &BuiltModel,
    ) -> Result<std::result::Result<SimState, memmodel::model_fix::ReplayFailure>> {
        let device = crate::sim::Device::open(
            model.device,
            crate::sim::DeviceOptions::with_l1_small(model.l1_small_bytes()),
        )?;
        let mut tensors = BTreeMap::new();
        for t in &model.inputs {
            let desc = input_desc(t);
            match device.empty(&desc) {
                Ok(x) => {
                    tensors.insert(t.name.clone(), x);
                }
                Err(e) => {
                    return Ok(Err(memmodel::model_fix::ReplayFailure {
                        number: 0,
                        label: format!("input {}", t.name),
                        outcome: e.outcome().name().into(),
                        message: e.to_string(),
                    }))
                }
            }
        }
        for name in &model.unused_inputs {
            tensors.remove(name);
        }
        Ok(Ok(SimState {
            next: 0,
            device,
            tensors,
            parameters: Vec::new(),
            peak_l1: 0,
            peak_dram: 0,
        }))
    }

    /// Replays `model`; what [`replay_of`] makes of [`run_on_sim`]'s run.
    pub fn replay(&mut self, model: &BuiltModel) -> Result<memmodel::model_fix::Replay> {
        let shared = self.shared_calls(model);
        self.kept.retain(|k| shared.is_some_and(|n| k.next <= n));
        self.last = None;
        let mut state = match self.kept.last() {
            Some(k) => k.fork()?,
            None => match Self::start(model)? {
                Ok(s) => s,
                Err(failure) => {
                    return Ok(memmodel::model_fix::Replay {
                        calls_run: 0,
                        failure: Some(failure),
                        peak_l1_per_bank: 0,
                        peak_dram_per_bank: 0,
                    })
                }
            },
        };
        let mut failure = None;
        while let Some(step) = model.steps.get(state.next) {
            if state.next % Self::EVERY == 0 && self.kept.last().is_none_or(|k| k.next < state.next)
            {
                self.kept.push(state.fork()?);
            }
            self.calls_run += 1;
            let ran = run_step(
                &state.device,
                step,
                &mut state.tensors,
                &mut state.parameters,
                false,
            );
            if let Err(e) = ran {
                failure = Some(memmodel::model_fix::ReplayFailure {
                    number: step.number,
                    label: step.label(),
                    outcome: e.outcome().name().into(),
                    message: e.to_string(),
                });
                break;
            }
            for n in &step.frees {
                state.tensors.remove(n);
            }
            let view = |b| state.device.memory_view(b);
            state.peak_l1 = state.peak_l1.max(view(BufferType::L1)?.allocated_per_bank);
            state.peak_dram = state
                .peak_dram
                .max(view(BufferType::Dram)?.allocated_per_bank);
            state.next += 1;
        }
        // Only the calls run (and the one it stopped at) can share a kept device.
        self.last = Some(model.prefix(state.next + 1));
        Ok(memmodel::model_fix::Replay {
            calls_run: state.next,
            failure,
            peak_l1_per_bank: state.peak_l1,
            peak_dram_per_bank: state.peak_dram,
        })
    }
}

/// The first call where two runs of one model disagree, with both sides' figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallDifference {
    /// The call's number (0: the model's inputs).
    pub number: usize,
    pub label: String,
    /// What differs: `L1 per bank after the call`, `per-core peaks`, `failure`, ...
    pub what: String,
    /// Each run's value, rendered.
    pub left: String,
    pub right: String,
}

/// [`CallDifference::what`] when the runs differ only in how they end.
pub const HOW_IT_ENDS: &str = "how the run ends";

/// How two runs of one model compare call by call ([`compare_runs`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunComparison {
    /// Calls both runs ran with equal memory (and equal measurements where both measured)
    /// before the first difference, or in all.
    pub equal_calls: usize,
    pub difference: Option<CallDifference>,
}

/// Compares two runs of one model call by call: after each call the L1, DRAM and L1_SMALL per
/// bank and the live tensors; where both measured the call, its per-core peaks (CB, dataflow, L1, total)
/// and the buffers it made; then how each run ended (the first failure, its outcome, message
/// and memory before it). A run that stops first differs at the call it stopped on. The one
/// comparison the tests and `cargo xtask model --compare` hold sim to the runtime with.
pub fn compare_runs(left: &ModelRun, right: &ModelRun) -> RunComparison {
    let differ = |number: usize, label: &str, what: &str, l: String, r: String| CallDifference {
        number,
        label: label.to_string(),
        what: what.to_string(),
        left: l,
        right: r,
    };
    let mut equal_calls = 0;
    for (l, r) in left.steps.iter().zip(&right.steps) {
        let measured = l.peaks.zip(r.peaks);
        let found: Option<(&str, String, String)> = if l.number != r.number {
            Some(("call number", l.number.to_string(), r.number.to_string()))
        } else if l.l1_per_bank != r.l1_per_bank {
            Some((
                "L1 per bank after the call",
                l.l1_per_bank.to_string(),
                r.l1_per_bank.to_string(),
            ))
        } else if l.dram_per_bank != r.dram_per_bank {
            Some((
                "DRAM per bank after the call",
                l.dram_per_bank.to_string(),
                r.dram_per_bank.to_string(),
            ))
        } else if l.l1_small_per_bank != r.l1_small_per_bank {
            Some((
                "L1_SMALL per bank after the call",
                l.l1_small_per_bank.to_string(),
                r.l1_small_per_bank.to_string(),
            ))
        } else if l.live != r.live {
            Some((
                "live tensors after the call",
                l.live.join(", "),
                r.live.join(", "),
            ))
        } else if let Some((lp, rp)) = measured.filter(|(lp, rp)| lp != rp) {
            Some((
                "per-core peaks while the call ran",
                format!("{lp:?}"),
                format!("{rp:?}"),
            ))
        } else if measured.is_some() && l.buffers != r.buffers {
            Some((
                "buffers the call made (type, bytes per bank)",
                format!("{:?}", l.buffers),
                format!("{:?}", r.buffers),
            ))
        } else {
            None
        };
        let found = found.map(|(what, a, b)| differ(l.number.min(r.number), &l.label, what, a, b));
        if found.is_some() {
            return RunComparison {
                equal_calls,
                difference: found,
            };
        }
        equal_calls += 1;
    }
    let ending = |run: &ModelRun| -> String {
        match (&run.failure, run.steps.len()) {
            (Some(f), _) => format!(
                "{}: {} (before it: L1 {} B/bank, DRAM {} B/bank, L1_SMALL {} B/bank)",
                f.outcome,
                f.message,
                f.l1_per_bank_before,
                f.dram_per_bank_before,
                f.l1_small_per_bank_before
            ),
            (None, n) => format!("ran all {n} calls"),
        }
    };
    let key = |run: &ModelRun| {
        run.failure.as_ref().map(|f| {
            (
                f.number,
                f.outcome.clone(),
                f.message.clone(),
                f.l1_per_bank_before,
                f.dram_per_bank_before,
                f.l1_small_per_bank_before,
            )
        })
    };
    let difference =
        (left.steps.len() != right.steps.len() || key(left) != key(right)).then(|| {
            let number = equal_calls + 1;
            let label = left
                .failure
                .as_ref()
                .map(|f| f.label.clone())
                .or_else(|| right.failure.as_ref().map(|f| f.label.clone()))
                .unwrap_or_default();
            differ(number, &label, HOW_IT_ENDS, ending(left), ending(right))
        });
    RunComparison {
        equal_calls,
        difference,
    }
}

impl RunComparison {
    /// The difference, unless it is only that `sim` (the left run) stops with `unmodeled`
    /// after every call before it agreed: where sim has no plan it must say so, and it must
    /// not differ before.
    pub fn before_sim_stops(&self, sim: &ModelRun) -> Option<&CallDifference> {
        let d = self.difference.as_ref()?;
        let stops_unmodeled = sim
            .failure
            .as_ref()
            .is_some_and(|f| f.outcome == "unmodeled" && f.number == d.number);
        (d.what != HOW_IT_ENDS || !stops_unmodeled).then_some(d)
    }
}

/// The `ttnn.empty` a model input is made with (interleaved, as its definition says): one
/// description for the runtime replay and for sim's.
fn input_desc(t: &memmodel::model::TensorDef) -> TensorDesc {
    TensorDesc {
        shape: t.shape.dims().to_vec(),
        dtype: t.dtype,
        layout: t.layout,
        buffer_type: t.memory,
        sharding: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(number: usize, l1: u64, cb: Option<u64>) -> StepRecord {
        StepRecord {
            number,
            line: number,
            label: format!("#{number} op"),
            ttnn: String::new(),
            l1_per_bank: l1,
            dram_per_bank: 0,
            l1_small_per_bank: 0,
            live: vec![format!("t{number}")],
            peaks: cb.map(|peak_cb| crate::api::CoreUsage {
                peak_cb,
                ..Default::default()
            }),
            buffers: Vec::new(),
            elapsed_ms: 0.0,
            buffer_report: None,
        }
    }

    fn run(steps: Vec<StepRecord>, failure: Option<(usize, &str)>) -> ModelRun {
        ModelRun {
            model: "m".into(),
            resolution: [1, 1],
            device: "n150".into(),
            backend: "sim".into(),
            steps,
            failure: failure.map(|(number, outcome)| ModelFailure {
                number,
                line: number,
                label: format!("#{number} op"),
                ttnn: String::new(),
                outcome: outcome.into(),
                message: "m".into(),
                l1_per_bank_before: 0,
                dram_per_bank_before: 0,
                l1_small_per_bank_before: 0,
            }),
            peak_l1_per_bank: (0, 0),
            peak_dram_per_bank: (0, 0),
            bank_bytes_l1: 0,
            bank_bytes_dram: 0,
            leaked_per_bank: 0,
        }
    }

    #[test]
    fn the_first_differing_call_is_found_with_both_numbers() {
        let a = run(vec![step(1, 10, None), step(2, 20, None)], None);
        let b = run(vec![step(1, 10, Some(5)), step(2, 21, Some(5))], None);
        let c = compare_runs(&a, &b);
        assert_eq!(c.equal_calls, 1);
        let d = c.difference.expect("differs");
        assert_eq!(
            (d.number, d.left.as_str(), d.right.as_str()),
            (2, "20", "21")
        );
        // Peaks count only where both sides measured them.
        let m = run(vec![step(1, 10, Some(6)), step(2, 20, None)], None);
        let d = compare_runs(&m, &b).difference.expect("differs");
        assert_eq!(
            (d.number, d.what.as_str()),
            (1, "per-core peaks while the call ran")
        );
    }

    #[test]
    fn sim_stopping_unmodeled_is_no_difference_before_it() {
        let metal = run(vec![step(1, 10, None), step(2, 20, None)], None);
        let sim = run(vec![step(1, 10, None)], Some((2, "unmodeled")));
        let c = compare_runs(&sim, &metal);
        assert_eq!(c.equal_calls, 1);
        assert!(c.difference.is_some() && c.before_sim_stops(&sim).is_none());
        let wrong = run(vec![step(1, 10, None)], Some((2, "oom")));
        let c = compare_runs(&wrong, &metal);
        assert!(c.before_sim_stops(&wrong).is_some());
        let early = run(vec![step(1, 11, None)], Some((2, "unmodeled")));
        let c = compare_runs(&early, &metal);
        assert_eq!(c.before_sim_stops(&early).map(|d| d.number), Some(1));
    }

    #[test]
    fn l1_small_after_a_call_is_compared() {
        let a = run(vec![step(1, 10, None), step(2, 20, None)], None);
        let mut right = vec![step(1, 10, None), step(2, 20, None)];
        right[1].l1_small_per_bank = 32;
        let b = run(right, None);
        let c = compare_runs(&a, &b);
        assert_eq!(c.equal_calls, 1);
        let d = c.difference.expect("differs");
        assert_eq!(d.what, "L1_SMALL per bank after the call");
        assert_eq!((d.left.as_str(), d.right.as_str()), ("0", "32"));
    }
}
