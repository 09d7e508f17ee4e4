//! A case: one operator call at one shape, dtype, layout, memory config and device; its plan
//! (the buffers it allocates, in order, with lifetimes) and its predicted verdict.

use crate::alloc::{CbError, DeviceMemory, MemoryError};
use crate::device::{BufferType, DeviceSpec};
use crate::dtype::DType;
use crate::layout::{DeviceLayout, Layout};
use crate::ops::{CaseError, OpDef, OpRequest, Signature};
use crate::params::Params;
use crate::plan::{PlanBuilder, Step};
use crate::program::{Peaks, Program};
use crate::shape::Shape;
use crate::shard::{MemoryConfig, ShardStrategy};
use crate::size;
use crate::tensor::{Placement, TensorSpec};
use serde::{Deserialize, Serialize};

/// What shapes.toml says must happen (the suite fails a case that does otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expectation {
    /// Whatever the device says is recorded.
    #[default]
    Any,
    MustOom,
    MustFit,
    /// The tensors fit but the op's circular buffers clash with them (or exceed L1).
    MustCbClash,
}

impl Expectation {
    pub fn name(self) -> &'static str {
        match self {
            Expectation::Any => "any",
            Expectation::MustOom => "must_oom",
            Expectation::MustFit => "must_fit",
            Expectation::MustCbClash => "must_cb_clash",
        }
    }
}

/// One operator call.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    pub op: &'static OpDef,
    /// The shapes.toml shape set the case came from (`None` for ad-hoc `--shape` cases).
    pub shape_set: Option<String>,
    /// Shapes as written (model order).
    pub model_inputs: Vec<Shape>,
    pub device_layout: DeviceLayout,
    /// Defaults of shapes.toml's op entry merged with the shape entry's own.
    pub params: Params,
    pub dtype: DType,
    pub layout: Layout,
    pub input_memory: BufferType,
    pub output_memory: BufferType,
    /// The call omits `memory_config`, as most model code does: the output goes where the
    /// op's function puts it by default, which `output_memory` then holds
    /// ([`OpDef::default_output_memory`]; see [`Case::with_default_output_memory`]).
    pub default_output_memory: bool,
    /// Sharded memory config of the case's L1 tensors ([`crate::shard`]): inputs and outputs
    /// both in L1, each sharded over the grid with this strategy. `None`: interleaved.
    pub sharding: Option<ShardStrategy>,
    pub device: &'static DeviceSpec,
    pub expect: Expectation,
}

/// A [`Case`] as plain data (names instead of references), for sending cases to worker
/// processes and saving them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseSpec {
    pub op: String,
    pub shape_set: Option<String>,
    pub model_inputs: Vec<Shape>,
    pub device_layout: DeviceLayout,
    pub params: Params,
    pub dtype: DType,
    pub layout: Layout,
    pub input_memory: BufferType,
    pub output_memory: BufferType,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub default_output_memory: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sharding: Option<ShardStrategy>,
    pub device: String,
    pub expect: Expectation,
}

impl Case {
    pub fn to_spec(&self) -> CaseSpec {
        CaseSpec {
            op: self.op.name.to_string(),
            shape_set: self.shape_set.clone(),
            model_inputs: self.model_inputs.clone(),
            device_layout: self.device_layout,
            params: self.params.clone(),
            dtype: self.dtype,
            layout: self.layout,
            input_memory: self.input_memory,
            output_memory: self.output_memory,
            default_output_memory: self.default_output_memory,
            sharding: self.sharding,
            device: self.device.name.to_string(),
            expect: self.expect,
        }
    }
}

impl CaseSpec {
    /// Back to a case; unknown op or device names are errors that list the known ones.
    pub fn to_case(&self) -> Result<Case, String> {
        Ok(Case {
            op: crate::ops::find(&self.op).map_err(|e| e.to_string())?,
            shape_set: self.shape_set.clone(),
            model_inputs: self.model_inputs.clone(),
            device_layout: self.device_layout,
            params: self.params.clone(),
            dtype: self.dtype,
            layout: self.layout,
            input_memory: self.input_memory,
            output_memory: self.output_memory,
            default_output_memory: self.default_output_memory,
            sharding: self.sharding,
            device: DeviceSpec::by_name(&self.device)?,
            expect: self.expect,
        })
    }
}

pub use crate::plan::{BufferRole, PlannedBuffer};

/// Everything a case does to device memory, in order: its inputs are created, the op runs
/// (its own intermediate buffers, its programs with their circular buffers, its outputs), then
/// the outputs and inputs are freed — the runner's order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// Every buffer, in allocation order.
    pub buffers: Vec<PlannedBuffer>,
    /// Allocations, frees and programs, in order.
    pub steps: Vec<Step>,
    /// L1_SMALL the device must be opened with.
    pub l1_small_bytes: u64,
}

impl Plan {
    /// Per-core peaks as a NO_DISPATCH capture of the case reports them.
    pub fn peaks(&self) -> Peaks {
        crate::plan::peaks(&self.buffers, &self.steps)
    }

    /// The allocation trace a NO_DISPATCH capture of the case reports ([`crate::trace`]).
    pub fn trace(&self) -> Vec<crate::trace::Event> {
        use crate::trace::Event;
        let mut ordinal = vec![usize::MAX; self.buffers.len()];
        let mut next = 0;
        let mut out = Vec::with_capacity(self.steps.len() * 2);
        for s in &self.steps {
            match s {
                Step::Alloc(i) => {
                    let p = &self.buffers[*i].placement;
                    ordinal[*i] = next;
                    next += 1;
                    out.push(Event::Alloc {
                        memory: p.traced_type().tt_name().to_string(),
                        size: p.total_bytes,
                        per_bank: p.per_bank_bytes,
                        page: p.page_size,
                        layout: p
                            .strategy
                            .map_or("INTERLEAVED", |s| s.tt_layout())
                            .to_string(),
                        num_cores: if p.strategy.is_some() { p.banks } else { 0 },
                    });
                }
                Step::Free(i) => out.push(Event::Free(ordinal[*i])),
                // The capture records nothing of a program tt-metal refuses.
                Step::Run(p) if p.refused.is_some() => {}
                Step::Run(p) => {
                    out.push(Event::Op {
                        op: p.op.to_string(),
                        factory: p.factory.to_string(),
                    });
                    out.push(Event::CbsFree);
                    out.extend(p.cbs.iter().filter(|c| c.traced).map(|c| Event::Cb {
                        kind: c.kind,
                        size: c.size,
                        cores: c.cores.to_string(),
                        global: c.global,
                    }));
                }
            }
        }
        out
    }

    /// The programs, in order.
    pub fn programs(&self) -> impl Iterator<Item = &Program> {
        self.steps.iter().filter_map(|s| match s {
            Step::Run(p) => Some(p),
            _ => None,
        })
    }
}

/// Numbers of a failed allocation, as tt-metal's "Out of Memory" message carries them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OomDetail {
    /// Which buffer failed (`output 0 (output)`).
    pub buffer: String,
    pub buffer_type: BufferType,
    pub total_bytes: u64,
    pub banks: u64,
    pub per_bank_bytes: u64,
    pub bank_bytes: u64,
    /// Per-bank bytes already allocated when it failed.
    pub allocated: u64,
    pub free: u64,
    pub largest_free_block: u64,
}

impl OomDetail {
    /// tt-metal's wording (bank_manager.cpp), with these numbers.
    pub fn message(&self) -> String {
        crate::alloc::OutOfMemory {
            buffer_type: self.buffer_type,
            size: self.total_bytes,
            banks: self.banks,
            per_bank: self.per_bank_bytes,
            bank_size: self.bank_bytes,
            allocated: self.allocated,
            free: self.free,
            largest_free_block: self.largest_free_block,
        }
        .message()
    }

    /// What each bank would have to hold (already allocated + this buffer) over the bank size:
    /// the factor by which the case exceeds the device.
    pub fn factor_over_bank(&self) -> f64 {
        self.allocated.saturating_add(self.per_bank_bytes) as f64 / self.bank_bytes.max(1) as f64
    }
}

pub use crate::alloc::oom_message;

/// A program's circular buffers that do not fit (tt-metal's program checks).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CbDetail {
    /// The program that failed (`BinaryNgDeviceOperation`).
    pub program: String,
    pub error: CbError,
}

impl CbDetail {
    pub fn message(&self) -> String {
        self.error.message()
    }
}

/// Predicted outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "verdict")]
pub enum Verdict {
    Fits,
    Oom(OomDetail),
    /// The buffers fit but a program's circular buffers clash with them or grow past L1.
    CbClash(CbDetail),
}

impl Verdict {
    /// Any memory failure (OOM, L1_SMALL or circular buffers).
    pub fn is_oom(&self) -> bool {
        !matches!(self, Verdict::Fits)
    }
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Fits => "fits",
            Verdict::Oom(d) if d.buffer_type == BufferType::L1Small && d.bank_bytes == 0 => {
                "l1_small"
            }
            Verdict::Oom(_) => "oom",
            Verdict::CbClash(_) => "cb_clash",
        }
    }
    /// tt-metal's message for the failure (empty when the case fits).
    pub fn message(&self) -> String {
        match self {
            Verdict::Fits => String::new(),
            Verdict::Oom(d) => d.message(),
            Verdict::CbClash(c) => c.message(),
        }
    }
}

/// The estimate of one case: the primary tensor's sizes, the whole plan's peak, the verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Estimate {
    /// The device tensor the table describes (the first input; the output for `ones`).
    pub primary: TensorSpec,
    /// Its element count × element size (the seeds' "theoretical").
    pub logical_bytes: u64,
    pub placement: Placement,
    /// Bank size of the primary tensor's memory on this device.
    pub bank_bytes: u64,
    /// Peak bytes per bank of the case's buffers in L1 (inputs, temporaries, outputs alive together).
    pub peak_l1_per_bank_bytes: u64,
    pub peak_dram_per_bank_bytes: u64,
    /// Per-core peaks of the whole plan, as a NO_DISPATCH capture reports them.
    pub peaks: Peaks,
    pub verdict: Verdict,
    pub plan: Plan,
}

impl Case {
    /// A case of `op` on `model_inputs` as given on device: bfloat16, TILE, interleaved L1 in
    /// and out, default params, no expectation. Fields are public: change what differs.
    pub fn new(op: &'static OpDef, model_inputs: Vec<Shape>, device: &'static DeviceSpec) -> Case {
        Case {
            op,
            shape_set: None,
            model_inputs,
            device_layout: DeviceLayout::AsGiven,
            params: Params::default(),
            dtype: DType::Bfloat16,
            layout: Layout::Tile,
            input_memory: BufferType::L1,
            output_memory: BufferType::L1,
            default_output_memory: false,
            sharding: None,
            device,
            expect: Expectation::Any,
        }
    }

    /// The same call without `memory_config`: the output goes where the op puts it by default.
    pub fn with_default_output_memory(mut self) -> Case {
        self.default_output_memory = true;
        self.output_memory = self.op.default_output_memory(self.input_memory);
        self
    }

    /// The op's signature (inputs, outputs, call) for this case.
    pub fn signature(&self) -> Result<Signature, CaseError> {
        if self.default_output_memory && self.sharding.is_some() {
            return Err(CaseError::Unmodeled {
                function: self.op.ttnn_function().to_string(),
                what: "a sharded case without memory_config (memmodel models sharded outputs given explicitly)".into(),
            });
        }
        if let Some(s) = self.sharding {
            let output_sharded = self.op.supports_sharding();
            if self.input_memory != BufferType::L1
                || (output_sharded && self.output_memory != BufferType::L1)
            {
                return Err(CaseError::Invalid {
                    op: self.op.name.to_string(),
                    problem: format!(
                        "{} needs inputs and outputs in L1 (got {} -> {})",
                        s.memory_name(),
                        self.input_memory,
                        self.output_memory
                    ),
                });
            }
        }
        self.op.signature(&OpRequest {
            model_inputs: &self.model_inputs,
            device_layout: self.device_layout,
            params: &self.params,
            dtype: self.dtype,
            layout: self.layout,
            output_memory: self.output_memory,
            default_output_memory: self.default_output_memory,
            sharding: self.sharding,
        })
    }

    /// The memory config of the case's inputs.
    pub fn input_config(&self) -> MemoryConfig {
        MemoryConfig::of(self.input_memory, self.sharding)
    }

    /// The memory config of the case's outputs.
    pub fn output_config(&self) -> MemoryConfig {
        // Only the eltwise ops shard their output alike; to_memory_config moves into the
        // interleaved memory it is given.
        let sharding = self.sharding.filter(|_| self.op.supports_sharding());
        MemoryConfig::of(self.output_memory, sharding)
    }

    /// The memory config label: `l1`, `dram`, `l1_height_sharded`, or `dram->l1` when the
    /// sides differ.
    pub fn memory_label(&self) -> String {
        let (i, o) = (self.input_config(), self.output_config());
        if self.default_output_memory {
            // The id names what the call says, not where memmodel believes the output goes.
            return format!("{}->default", i.name());
        }
        if i == o {
            o.name().to_string()
        } else {
            format!("{}->{}", i.name(), o.name())
        }
    }

    /// The shapes as written: `[1,96,2160,3840]`, or `[a]x[b]` for several inputs.
    pub fn shapes_label(&self) -> String {
        self.model_inputs
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join("x")
    }

    /// A stable, unique, path-like id: `add/[1,64,640,400]/nhwc/bfloat16/tile/l1/n150`, plus the
    /// params when they are not the op's defaults.
    pub fn id(&self) -> String {
        let mut id = format!(
            "{}/{}/{}/{}/{}/{}/{}",
            self.op.name,
            self.shapes_label(),
            self.device_layout,
            self.dtype,
            self.layout,
            self.memory_label(),
            self.device.name
        );
        if !self.params.0.is_empty() {
            id.push('/');
            id.push_str(&self.params.compact());
        }
        id
    }

    /// Everything the case does to device memory, in order (see [`Plan`]).
    pub fn plan(&self) -> Result<Plan, CaseError> {
        let sig = self.signature()?;
        self.plan_from(&sig)
    }

    pub fn plan_from(&self, sig: &Signature) -> Result<Plan, CaseError> {
        let mut b = PlanBuilder::with_l1_small(self.device, sig.l1_small_bytes);
        let mut inputs = Vec::with_capacity(sig.inputs.len());
        for input in &sig.inputs {
            let spec = TensorSpec::new(input.shape.clone(), input.dtype, input.layout);
            inputs.push(b.tensor_in(input.role, BufferRole::Input, spec, self.input_config())?);
        }
        // A call the runtime refuses raises once its inputs (and for some ops its outputs)
        // exist: the plan is those buffers.
        let outputs = if let Some(refusal) = crate::coverage::refusal(self, sig) {
            let mut made = Vec::new();
            if refusal.after_outputs {
                let refused = crate::coverage::refused_outputs(self, sig);
                let config = if refused.in_input_memory {
                    self.input_config()
                } else {
                    self.output_config()
                };
                for output in refused.outputs {
                    let spec = TensorSpec::new(output.shape.clone(), output.dtype, refused.layout);
                    made.push(b.tensor_in(output.role, BufferRole::Output, spec, config)?);
                }
            }
            made
        } else {
            // A call the interpreter does not model is `unmodeled` (an error with the reason),
            // never a guess from the signature alone.
            crate::exec::run_invocation(&mut b, &sig.invocation, &inputs)?
        };
        for t in outputs {
            b.release(t);
        }
        for t in inputs {
            b.release(t);
        }
        Ok(Plan {
            buffers: b.buffers,
            steps: b.steps,
            l1_small_bytes: sig.l1_small_bytes,
        })
    }

    /// The primary tensor, its sizes, the plan's peaks and the predicted verdict.
    pub fn estimate(&self) -> Result<Estimate, CaseError> {
        self.estimate_from(&self.signature()?)
    }

    /// [`Case::estimate`] for a signature already built: the plan replayed on the allocator
    /// model of a freshly opened device ([`crate::alloc::DeviceMemory`]), the same model the
    /// `sim` backend runs.
    pub fn estimate_from(&self, sig: &Signature) -> Result<Estimate, CaseError> {
        crate::coverage::check(self, sig)?;
        self.estimate_ungated(sig)
    }

    /// [`Case::estimate_from`] without the coverage gates: what the plan says where memmodel
    /// does not vouch for it yet (plan tests pin measured plans in gated regions with it).
    pub(crate) fn estimate_ungated(&self, sig: &Signature) -> Result<Estimate, CaseError> {
        let plan = self.plan_from(sig)?;
        let (primary, config) = match sig.inputs.first() {
            Some(input) => (
                TensorSpec::new(input.shape.clone(), input.dtype, input.layout),
                self.input_config(),
            ),
            None => {
                let out = &sig.outputs[0];
                (
                    TensorSpec::new(out.shape.clone(), out.dtype, out.layout),
                    self.output_config(),
                )
            }
        };
        let memory = config.buffer_type();
        let placement = crate::plan::placement_in(&primary, self.device, config)?;
        let logical_bytes = primary.logical_bytes()?;
        let l1_small = plan.l1_small_bytes;
        let mut mem =
            DeviceMemory::open(self.device, l1_small).map_err(|problem| CaseError::Invalid {
                op: self.op.name.to_string(),
                problem,
            })?;
        let mut addresses = Vec::new();
        // tt-metal refuses some programs whatever the memory: the call raises there, with the
        // memory of the steps before it checked as usual (the device run's program decides: a
        // tilize's blocks follow the L1 free on the device, not in the capture).
        let refused = plan.steps.iter().enumerate().find_map(|(k, s)| match s {
            Step::Run(p) => p
                .as_run()
                .refused
                .as_ref()
                .or(p.refused.as_ref())
                .map(|m| (k, m)),
            _ => None,
        });
        let replayed = &plan.steps[..refused.map_or(plan.steps.len(), |(k, _)| k)];
        let verdict = match crate::plan::replay(&mut mem, &plan.buffers, replayed, &mut addresses) {
            Ok(()) => Verdict::Fits,
            Err(f) => match f.error {
                MemoryError::OutOfMemory(o) => {
                    let buffer = match &plan.steps[f.step] {
                        Step::Alloc(i) => plan.buffers[*i].name(),
                        _ => String::new(),
                    };
                    Verdict::Oom(OomDetail {
                        buffer,
                        buffer_type: o.buffer_type,
                        total_bytes: o.size,
                        banks: o.banks,
                        per_bank_bytes: o.per_bank,
                        bank_bytes: o.bank_size,
                        allocated: o.allocated,
                        free: o.free,
                        largest_free_block: o.largest_free_block,
                    })
                }
                MemoryError::Cb(error) => Verdict::CbClash(CbDetail {
                    program: match &plan.steps[f.step] {
                        Step::Run(p) => p.op.to_string(),
                        _ => String::new(),
                    },
                    error,
                }),
            },
        };
        if verdict == Verdict::Fits {
            if let Some((_, message)) = refused {
                return Err(CaseError::Refused {
                    function: self.op.ttnn_function().to_string(),
                    reason: message.clone(),
                });
            }
            if let Some(refusal) = crate::coverage::refusal(self, sig) {
                return Err(CaseError::Refused {
                    function: self.op.ttnn_function().to_string(),
                    reason: refusal.reason,
                });
            }
        }
        let (peak_l1, peak_dram) = bank_peaks(&plan);
        Ok(Estimate {
            primary,
            logical_bytes,
            bank_bytes: self.device.bank_bytes(memory, l1_small),
            placement,
            peak_l1_per_bank_bytes: peak_l1,
            peak_dram_per_bank_bytes: peak_dram,
            peaks: plan.peaks(),
            verdict,
            plan,
        })
    }
}

/// Peak bytes per bank of the plan's L1 and DRAM buffers alive together.
fn bank_peaks(plan: &Plan) -> (u64, u64) {
    let (mut l1, mut dram, mut pl1, mut pdram) = (0u64, 0u64, 0u64, 0u64);
    for s in &plan.steps {
        let (i, sign) = match s {
            Step::Alloc(i) => (*i, true),
            Step::Free(i) => (*i, false),
            Step::Run(_) => continue,
        };
        let p = &plan.buffers[i].placement;
        let slot = match p.buffer_type {
            BufferType::L1 => &mut l1,
            BufferType::Dram => &mut dram,
            BufferType::L1Small => continue,
        };
        *slot = if sign {
            slot.saturating_add(p.per_bank_bytes)
        } else {
            slot.saturating_sub(p.per_bank_bytes)
        };
        pl1 = pl1.max(l1);
        pdram = pdram.max(dram);
    }
    (pl1, pdram)
}

impl Estimate {
    /// Allocated (padded) bytes over logical bytes of the primary tensor.
    pub fn padding_overhead(&self) -> f64 {
        self.placement.total_bytes as f64 / self.logical_bytes.max(1) as f64
    }

    pub fn logical_mib(&self) -> f64 {
        size::mib(self.logical_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::N150;
    use crate::ops::find;

    fn case(op: &str, shape: &str, memory: BufferType, layout: DeviceLayout) -> Case {
        Case {
            op: find(op).unwrap(),
            shape_set: None,
            model_inputs: vec![Shape::parse(shape).unwrap()],
            device_layout: layout,
            params: Params::default(),
            dtype: DType::Bfloat16,
            layout: Layout::Tile,
            input_memory: memory,
            output_memory: memory,
            default_output_memory: false,
            sharding: None,
            device: &N150,
            expect: Expectation::Any,
        }
    }

    #[test]
    fn add_in_l1_fails_at_the_output() {
        let e = case("add", "1,64,640,400", BufferType::L1, DeviceLayout::AsGiven)
            .estimate()
            .unwrap();
        assert_eq!(e.placement.total_bytes, 34_078_720);
        assert_eq!(e.placement.per_bank_bytes, 532_480);
        let Verdict::Oom(d) = &e.verdict else {
            panic!("expected oom")
        };
        assert_eq!(d.buffer, "output 0 (output)");
        assert_eq!(d.allocated, 2 * 532_480);
        assert_eq!(d.free, 1_393_312 - 2 * 532_480);
        assert!(d.message().starts_with(
            "Out of Memory: Not enough space to allocate 34078720 B L1 buffer across 64 banks"
        ));
    }

    #[test]
    fn dram_fits() {
        let e = case(
            "add",
            "1,64,640,400",
            BufferType::Dram,
            DeviceLayout::AsGiven,
        )
        .estimate()
        .unwrap();
        assert_eq!(e.verdict, Verdict::Fits);
        assert_eq!(e.peak_dram_per_bank_bytes, 3 * e.placement.per_bank_bytes);
    }

    #[test]
    fn a_tiny_case_of_every_op_fits() {
        for op in crate::ops::OPS {
            if op.family == crate::ops::Family::Conv2d {
                // Planned on part of its space only (exec/conv.rs has its own tests).
                continue;
            }
            let shape = match op.family {
                crate::ops::Family::Addmm => "32,32",
                _ => "1,32,32,32",
            };
            let mut c = case(op.name, shape, BufferType::L1, op.default_device_layout);
            if matches!(op.family, crate::ops::Family::Upsample) {
                // As the matrix runs it.
                c.layout = Layout::RowMajor;
            }
            let e = c
                .estimate()
                .unwrap_or_else(|err| panic!("{}: {err}", op.name));
            assert_eq!(e.verdict, Verdict::Fits, "{}", op.name);
        }
    }

    /// The programs a case's plan runs, as the NO_DISPATCH capture sees them and as a device
    /// run builds them: each one's CB sizes.
    fn program_cbs(c: &Case) -> Vec<(Vec<u64>, Vec<u64>)> {
        c.plan()
            .unwrap()
            .steps
            .iter()
            .filter_map(|s| match s {
                crate::plan::Step::Run(p) => Some((
                    p.cbs.iter().map(|cb| cb.size).collect(),
                    p.as_run().cbs.iter().map(|cb| cb.size).collect(),
                )),
                _ => None,
            })
            .collect()
    }

    fn row_major_move(shape: &str, from: BufferType, to: BufferType) -> Case {
        let mut c = case("to_memory_config", shape, from, DeviceLayout::AsGiven);
        c.layout = Layout::RowMajor;
        c.output_memory = to;
        c
    }

    #[test]
    fn a_row_major_move_takes_two_rows_aligned_as_its_output_memory() {
        // Measured on the runtime (mock n150, `cargo xtask diff --random 300 --op
        // to_memory_config --seed 33002/33001`): 2 × 3,984 B (16 B, L1) from DRAM to L1,
        // 2 × 6,112 B (32 B, DRAM) from L1 to DRAM; then the reader's scratchpad of one
        // unaligned row, in the capture's per-core total (YOLOv12x 640 #560 --measure) and
        // where a device run's region ends (the clash message of [3,1363,10591], seed 33016).
        let c = row_major_move("5,7467,1987", BufferType::Dram, BufferType::L1);
        assert_eq!(program_cbs(&c), vec![(vec![7968, 3974], vec![7968, 3974])]);
        let c = row_major_move("13310,3047", BufferType::L1, BufferType::Dram);
        assert_eq!(
            program_cbs(&c),
            vec![(vec![12224, 6094], vec![12224, 6094])]
        );
    }

    #[test]
    fn a_row_major_move_chunks_rows_over_256_kib() {
        // Measured on the runtime (mock n150): a [67409] float32 move took 524,288 B (seed
        // 33023); [657042] bfloat16 ran out at 105,824 + 3 × 256 KiB (seed 33021).
        let mut c = row_major_move("67409", BufferType::Dram, BufferType::L1);
        c.dtype = DType::Float32;
        assert_eq!(
            program_cbs(&c),
            vec![(vec![524_288, 262_144], vec![524_288, 262_144])]
        );
        // Up to the chunk a row stays whole (the runtime on both boards: [1,1,60000] bfloat16
        // from DRAM to L1 takes 2 × 120,000 B of dataflow and a 120,000 B scratchpad).
        let c = row_major_move("1,1,60000", BufferType::Dram, BufferType::L1);
        assert_eq!(
            program_cbs(&c),
            vec![(vec![240_000, 120_000], vec![240_000, 120_000])]
        );
    }

    #[test]
    fn a_move_to_the_tensors_own_memory_is_the_tensor() {
        // `to_memory_config` returns its input when the memory config is the same.
        let c = case(
            "to_memory_config",
            "1,4,64,64",
            BufferType::L1,
            DeviceLayout::AsGiven,
        );
        assert!(program_cbs(&c).is_empty());
        let plan = c.plan().unwrap();
        assert_eq!(plan.buffers.len(), 1, "{:?}", plan.buffers);
    }

    #[test]
    fn a_tile_move_with_a_new_dtype_buffers_both_formats() {
        // copy_program_factory.cpp's `convert_dtype`: two input tiles and two output tiles
        // (the random differential, seeds 33003-33005, matched it on both boards).
        let mut c = case(
            "to_memory_config",
            "1,4,64,64",
            BufferType::L1,
            DeviceLayout::AsGiven,
        );
        c.output_memory = BufferType::Dram;
        c.params
            .set("dtype", crate::params::ParamValue::Str("bfloat8_b".into()));
        assert_eq!(program_cbs(&c), vec![(vec![4096, 2176], vec![4096, 2176])]);
    }

    #[test]
    fn a_tilize_into_bfloat8_b_buffers_a_row_in_each_format() {
        // YOLOv12x's area attention tilizes its bfloat16 qkv into bfloat8_b in DRAM; the CB
        // peaks of [4,12,96,400] matched the runtime on both boards: a row of 13 tiles in
        // bfloat16 (2,048 B) and in bfloat8_b (1,088 B).
        let mut c = case(
            "to_layout",
            "4,12,96,400",
            BufferType::L1,
            DeviceLayout::AsGiven,
        );
        c.layout = Layout::RowMajor;
        c.output_memory = BufferType::Dram;
        c.params
            .set("dtype", crate::params::ParamValue::Str("bfloat8_b".into()));
        let cbs = program_cbs(&c);
        assert_eq!(cbs[0].0, vec![13 * 2048, 13 * 1088], "{cbs:?}");
    }

    #[test]
    fn concatenate_heads_double_buffers_a_tile_row_of_every_head() {
        // Measured on the runtime (mock n150): 2 × 12 heads × 1 tile × 2,048 B for
        // YOLOv12x's [4,12,400,32] attention output at 640×640.
        let c = case(
            "concatenate_heads",
            "4,12,400,32",
            BufferType::L1,
            DeviceLayout::AsGiven,
        );
        assert_eq!(program_cbs(&c)[0], (vec![49_152], vec![49_152]));
    }

    #[test]
    fn concatenate_heads_splits_the_tile_rows_of_every_head_and_names_their_first_range() {
        // Measured on the runtime (mock n150): [1,4,96,2624] with input and output in L1 splits
        // 4 heads × 3 tile rows = 12 units over {[0-0 - 1-3], [0-4 - 0-7]}; its 1,343,488 B
        // double buffer (2 × 4 × 82 tiles) clashes with the output at 1,433,600.
        let c = case(
            "concatenate_heads",
            "1,4,96,2624",
            BufferType::L1,
            DeviceLayout::AsGiven,
        );
        let e = c.estimate().unwrap();
        assert_eq!(
            e.verdict.message(),
            "Statically allocated dataflow buffers in program 0 clash with L1 buffers on core range [0-0 - 1-3]. L1 buffer allocated at 1433600 and static dataflow buffer region ends at 1449312"
        );
    }

    #[test]
    fn concatenate_heads_refuses_a_head_dim_before_its_dtype() {
        // The runtime's order (seed 33107): the head size is validated before the output
        // exists, the data format once it does.
        let refusal = |shape: &str| {
            let mut c = case(
                "concatenate_heads",
                shape,
                BufferType::L1,
                DeviceLayout::AsGiven,
            );
            c.dtype = DType::Uint16;
            match c.estimate() {
                Err(crate::ops::CaseError::Refused { reason, .. }) => reason,
                other => panic!("expected the refusal, got {other:?}"),
            }
        };
        assert!(refusal("1,3,946,1206")
            .starts_with("Head size must be a multiple of 32 but was found to be 1206."));
        assert_eq!(refusal("1,3,96,64"), "Unsupported data format");
    }

    #[test]
    fn a_one_element_tensor_is_never_an_oom() {
        // The seed report counted 44 "OOM failures" at shape [1]; by arithmetic none can be.
        for op in crate::ops::OPS {
            if let Ok(e) = case(op.name, "1", BufferType::L1, DeviceLayout::Nhwc).estimate() {
                assert_eq!(e.verdict, Verdict::Fits, "{}", op.name);
            }
        }
    }

    #[test]
    fn an_input_that_overflows_l1_is_the_oom_even_where_the_op_could_not_be_planned() {
        // Found by the random differential (seed 61208): the tilize of this concat has no block
        // split that fits L1, which the runtime raises only once the inputs exist; the first
        // input alone overflows a p150's L1, and that is what the runtime reports.
        let mut c = case(
            "concat",
            "735622,369",
            BufferType::L1,
            DeviceLayout::AsGiven,
        );
        c.device = &crate::device::P150;
        c.params.set("dim", crate::params::ParamValue::Int(-2));
        let e = c.estimate().unwrap();
        match &e.verdict {
            Verdict::Oom(d) => assert!(d.buffer.starts_with("input"), "{d:?}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn split_without_memory_config_moves_big_chunks_to_dram() {
        // ttnn.split's L1 budget (split.cpp), checked on the runtime (mock n150): four chunks of
        // a 51 MB NHWC input go to DRAM when the call gives no memory_config, and fit; with
        // memory_config=L1 they run out of memory.
        let mut c = case("split", "1,128,400,500", BufferType::L1, DeviceLayout::Nhwc);
        c.params.set("dim", crate::params::ParamValue::Int(3));
        c.params
            .set("split_size", crate::params::ParamValue::Int(32));
        assert!(c.estimate().unwrap().verdict.is_oom());
        let d = c.clone().with_default_output_memory();
        let e = d.estimate().unwrap();
        assert_eq!(e.verdict, Verdict::Fits);
        let chunks: Vec<_> = e
            .plan
            .buffers
            .iter()
            .filter(|b| b.role == BufferRole::Output)
            .map(|b| b.placement.buffer_type)
            .collect();
        assert_eq!(chunks, [BufferType::Dram; 4]);
        // Two chunks (the native kernel) and small chunks stay in L1.
        let mut small = case("split", "1,96,64,64", BufferType::L1, DeviceLayout::Nhwc);
        small.params.set("dim", crate::params::ParamValue::Int(3));
        small
            .params
            .set("split_size", crate::params::ParamValue::Int(24));
        let e = small.with_default_output_memory().estimate().unwrap();
        assert!(e
            .plan
            .buffers
            .iter()
            .all(|b| b.placement.buffer_type == BufferType::L1));
    }

    #[test]
    fn specs_round_trip() {
        let c = case("silu", "1,96,2160,3840", BufferType::L1, DeviceLayout::Nhwc);
        let json = serde_json::to_string(&c.to_spec()).unwrap();
        let back: CaseSpec = serde_json::from_str(&json).unwrap();
        assert_eq!(back.to_case().unwrap(), c);
    }

    #[test]
    fn ids_are_path_like() {
        let c = case("silu", "1,96,2160,3840", BufferType::L1, DeviceLayout::Nhwc);
        assert_eq!(c.id(), "silu/[1,96,2160,3840]/nhwc/bfloat16/tile/l1/n150");
    }

    /// A `to_layout(ROW_MAJOR)` call of a `dtype` TILE tensor: its programs (device, memory and
    /// `extra` params as given).
    fn untilize_programs(
        shape: &str,
        dtype: DType,
        memory: BufferType,
        device: &'static crate::device::DeviceSpec,
        extra: &[(&str, &str)],
    ) -> Vec<Program> {
        let mut c = case("to_layout", shape, memory, DeviceLayout::AsGiven);
        c.dtype = dtype;
        c.device = device;
        c.params
            .set("layout", crate::params::ParamValue::Str("row_major".into()));
        for (k, v) in extra {
            c.params.set(k, crate::params::ParamValue::Str((*v).into()));
        }
        c.plan().unwrap().programs().cloned().collect()
    }

    fn cb_sizes(p: &Program) -> Vec<u64> {
        p.cbs.iter().map(|c| c.size).collect()
    }

    #[test]
    fn a_bfloat8_b_untilize_writes_bfloat16_rows_from_bfloat16_output_buffers() {
        // Seen on the runtime (n150): [1,1,300,96] bfloat8_b untilizes with unpadding, 3 tiles
        // of 1,088 B in, 3 of 2,048 B out; the output is bfloat16 ROW_MAJOR.
        for extra in [&[][..], &[("dtype", "bfloat16")][..]] {
            let p = untilize_programs("1,1,300,96", DType::Bfloat8B, BufferType::L1, &N150, extra);
            assert_eq!(
                p[0].factory,
                "UntilizeWithUnpaddingMultiCoreInterleavedProgramFactory"
            );
            assert_eq!(cb_sizes(&p[0]), [3_264, 6_144]);
        }
        let mut c = case(
            "to_layout",
            "1,1,300,96",
            BufferType::L1,
            DeviceLayout::AsGiven,
        );
        c.dtype = DType::Bfloat8B;
        let e = c.estimate().unwrap();
        // 300 rows of 96 bfloat16 values over 64 banks: 5 rows of 192 B a bank.
        let out = c.plan().unwrap().buffers.last().unwrap().clone();
        assert_eq!(out.placement.page_size, 192);
        assert!(matches!(e.verdict, Verdict::Fits));
    }

    #[test]
    fn to_layout_into_the_same_layout_hands_back_its_input_whatever_the_dtype() {
        // Seen on the runtime: a ROW_MAJOR bfloat16 tensor asked for ROW_MAJOR bfloat8_b comes
        // back as it was (a warning, no program).
        let mut c = case("to_layout", "64,64", BufferType::L1, DeviceLayout::AsGiven);
        c.layout = Layout::RowMajor;
        c.params
            .set("layout", crate::params::ParamValue::Str("row_major".into()));
        c.params
            .set("dtype", crate::params::ParamValue::Str("bfloat8_b".into()));
        assert_eq!(c.plan().unwrap().programs().count(), 0);
    }

    #[test]
    fn a_codegen_untilize_plans_its_buffers_from_the_l1_free_when_it_runs() {
        // Seen on n150: [2,4,17568,160] in L1 (686 KB a bank in, as much out) untilizes with
        // codegen in a NO_DISPATCH capture (both CBs double: 2 × 5 tiles each), which
        // allocates nothing for real; memmodel's native plan there had other CBs.
        let p = untilize_programs("2,4,17568,160", DType::Bfloat16, BufferType::L1, &N150, &[]);
        assert_eq!(p[0].factory, "UntilizeCodegenProgramFactory");
        assert_eq!(cb_sizes(&p[0]), [20_480, 20_480]);
        // A device run plans from what its input and output leave: [1,1,2048,4096] (256 KB a
        // bank each) keeps 869,024 B, room for the input CB double only.
        let p = untilize_programs("1,1,2048,4096", DType::Bfloat16, BufferType::L1, &N150, &[]);
        assert_eq!(cb_sizes(&p[0]), [524_288, 524_288]);
        assert_eq!(cb_sizes(p[0].as_run()), [524_288, 262_144]);
        // Plenty of L1: both CBs double on the device too.
        let p = untilize_programs("1,1,320,96", DType::Bfloat8B, BufferType::L1, &N150, &[]);
        assert_eq!(cb_sizes(&p[0]), [2_176, 4_096]);
        assert!(p[0].on_device.is_none());
    }

    #[test]
    fn an_untilize_row_wider_than_half_l1_runs_on_one_core_in_blocks_dividing_the_row() {
        // Seen on p150: [3488,7968] bfloat16 from DRAM, Wt 249 (no codegen: two rows exceed its
        // 800,000 B chunk; no block split: it would take fewer cores) on core (0,0), 2 × 83
        // tiles; on n150 [3488,7040], Wt 220, 2 × 110.
        let p = untilize_programs(
            "3488,7968",
            DType::Bfloat16,
            BufferType::Dram,
            &crate::device::P150,
            &[],
        );
        assert_eq!(p[0].factory, "UntilizeSingleCoreProgramFactory");
        assert_eq!(cb_sizes(&p[0]), [83 * 2048, 83 * 2048]);
        let p = untilize_programs("3488,7040", DType::Bfloat16, BufferType::Dram, &N150, &[]);
        assert_eq!(cb_sizes(&p[0]), [110 * 2048, 110 * 2048]);
    }

    /// The wide-row tilize caps its sub-blocks by the free L1 over an input tile, an output
    /// tile and the reader's staging of a tile's row (64 B for bfloat16): on n150 a [6141024]
    /// bfloat16 tilize from DRAM takes sub-blocks of 234 tiles (the capture: 2 × 479,232 B),
    /// where a cap without the staging (340) picked 338.
    #[test]
    fn the_wide_row_tilize_caps_its_sub_blocks_with_the_readers_staging() {
        for shape in ["6141024", "1,6141024"] {
            let mut c = case("to_layout", shape, BufferType::Dram, DeviceLayout::AsGiven);
            c.layout = Layout::RowMajor;
            c.params
                .set("layout", crate::params::ParamValue::Str("tile".into()));
            let cbs = program_cbs(&c);
            assert_eq!(cbs[0].0[..2], [234 * 2048, 234 * 2048], "{shape}");
        }
    }

    /// A split whose piece starts inside a tile raises where the runtime does: bfloat4_b at the
    /// untilize (after the first, tile-aligned piece's slice ran), uint8 at the tilize back
    /// (after the untilize and the slice). Found by the random differential (seeds 91693 n150,
    /// 91694 p150, ungated).
    #[test]
    fn split_round_trips_the_runtime_refuses_raise_at_the_refusing_program() {
        let refused = |shape: &str, dtype: DType, params: &[(&str, i64)]| {
            let mut c = case("split", shape, BufferType::Dram, DeviceLayout::AsGiven);
            c.dtype = dtype;
            for (k, v) in params {
                c.params.set(k, crate::params::ParamValue::Int(*v));
            }
            let plan = c.plan().unwrap();
            let peak = plan.peaks().dataflow;
            match c.estimate() {
                Err(crate::ops::CaseError::Refused { reason, .. }) => (reason, peak),
                other => panic!("{shape} {dtype}: {other:?}"),
            }
        };
        let (reason, peak) = refused("1,71,80", DType::Bfloat4B, &[("chunks", 8), ("dim", 1)]);
        assert_eq!(reason, "Only TILE layout is supported for BFLOAT8_B dtype!");
        // Only the first piece's tile slice ran (the runtime's capture: 1,152 B).
        assert_eq!(peak, 2 * DType::Bfloat4B.tile_bytes());
        let (reason, _) = refused("1,64,80", DType::Uint8, &[("split_size", 40), ("dim", -1)]);
        assert_eq!(
            reason,
            "Can only tilize bfloat16/float32 or int32/uint32/uint16 or fp8_e4m3 tensors"
        );
    }

    #[test]
    fn a_bfloat4_b_untilize_is_refused_with_the_runtimes_words() {
        let mut c = case("to_layout", "64,64", BufferType::L1, DeviceLayout::AsGiven);
        c.dtype = DType::Bfloat4B;
        c.params
            .set("layout", crate::params::ParamValue::Str("row_major".into()));
        let sig = c.signature().unwrap();
        let r = crate::coverage::refusal(&c, &sig).unwrap();
        assert_eq!(
            r.reason,
            "Only TILE layout is supported for BFLOAT8_B dtype!"
        );
    }

    #[test]
    fn a_tilize_to_bfloat8_b_on_the_block_factory_reads_bfloat16_and_writes_bfloat8_b_tiles() {
        // Was unmodeled; the random differential (seeds 41010, 41011, both boards) found the
        // block factory's input buffers at the input's tile size, the output's at the output's.
        let mut c = case(
            "to_layout",
            "1,1,64,200000",
            BufferType::Dram,
            DeviceLayout::AsGiven,
        );
        c.layout = Layout::RowMajor;
        c.params
            .set("layout", crate::params::ParamValue::Str("tile".into()));
        c.params
            .set("dtype", crate::params::ParamValue::Str("bfloat8_b".into()));
        let plan = c.plan().unwrap();
        let p = plan.programs().next().unwrap();
        assert_eq!(p.factory, "TilizeMultiCoreBlockProgramFactory");
        let sizes = cb_sizes(p);
        assert_eq!(sizes[0] / 2048, sizes[1] / 1088);
        assert_eq!(sizes[0] % 2048, 0);
        assert_eq!(sizes[1] % 1088, 0);
    }

    #[test]
    fn a_sharded_tensor_moves_to_interleaved_memory_through_its_borrowed_shard() {
        // Seen on the runtime (n150): [1,1,25600,192] bfloat8_b height-sharded into L1
        // interleaved: ShardedToInterleavedProgramFactory, one 84,864 B dataflow buffer on the 62
        // shard cores that borrows the shard (no room taken); the output interleaved in DRAM
        // too (the output's memory was sharded like the input before).
        for out in [BufferType::L1, BufferType::Dram] {
            let mut c = case(
                "to_memory_config",
                "1,1,25600,192",
                BufferType::L1,
                DeviceLayout::AsGiven,
            );
            c.dtype = DType::Bfloat8B;
            c.sharding = Some(crate::shard::ShardStrategy::Height);
            c.output_memory = out;
            assert_eq!(c.output_config(), MemoryConfig::Interleaved(out));
            let plan = c.plan().unwrap();
            let p = plan.programs().next().unwrap();
            assert_eq!(p.factory, "ShardedToInterleavedProgramFactory");
            assert_eq!(cb_sizes(p), [84_864]);
            assert!(p.cbs[0].global);
            assert_eq!(p.cbs[0].cores.to_string(), "{[0-0 - 7-6], [0-7 - 5-7]}");
        }
    }

    #[test]
    fn a_misaligned_row_major_slice_over_the_free_l1_is_refused_with_the_runtimes_budget() {
        // Measured on the runtime (mock n150): a [64,300002] bfloat16 ROW_MAJOR split in L1
        // slices its second half from element 150,001 (2 B past a 16 B boundary); beside the
        // input and both halves 193,216 B of the bank are left for two 300,032 B rows.
        let mut c = case("split", "64,300002", BufferType::L1, DeviceLayout::AsGiven);
        c.layout = Layout::RowMajor;
        match c.estimate() {
            Err(CaseError::Refused { reason, .. }) => assert_eq!(
                reason,
                "ttnn::slice: required DFB size 600064 B exceeds per-core L1 budget 193216 B (row_bytes=300002, misalignment=2); consider slicing along a non-width dim"
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_row_major_topk_on_blackholes_route_stops_at_fill_pad() {
        // Seen on the runtime (mock p150): [1,1,64,4100] bfloat16 k=100 ROW_MAJOR in L1, a
        // reduction Blackhole routes, is refused by FillPad first; nothing is allocated.
        let mut c = case("topk", "1,1,64,4100", BufferType::L1, DeviceLayout::AsGiven);
        c.layout = Layout::RowMajor;
        c.device = &crate::device::P150;
        c.params.set("k", crate::params::ParamValue::Int(100));
        match c.estimate() {
            Err(CaseError::Refused { reason, .. }) => {
                assert_eq!(reason, "FillPad should only be used for tile layout")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_row_major_dtype_change_allocates_its_output_then_is_refused() {
        // Seen on the runtime (mock n150): [3000,100000] bfloat16 ROW_MAJOR from DRAM to L1 as
        // float32 runs out of L1 at its 1,200,000,000 B output; [64,1000] to DRAM is refused.
        let mut c = row_major_move("3000,100000", BufferType::Dram, BufferType::L1);
        c.params
            .set("dtype", crate::params::ParamValue::Str("float32".into()));
        let Verdict::Oom(d) = c.estimate().unwrap().verdict else {
            panic!("not an OOM")
        };
        assert_eq!(d.total_bytes, 1_200_000_000);
        let mut c = row_major_move("64,1000", BufferType::L1, BufferType::Dram);
        c.params
            .set("dtype", crate::params::ParamValue::Str("float32".into()));
        match c.estimate() {
            Err(CaseError::Refused { reason, .. }) => {
                assert_eq!(reason, "Only tile layout supports dtype conversion")
            }
            other => panic!("{other:?}"),
        }
    }

    fn sharded_conversion(shape: &str, from: DType, to: &str, out: BufferType) -> Case {
        let mut c = case(
            "to_memory_config",
            shape,
            BufferType::L1,
            DeviceLayout::AsGiven,
        );
        c.dtype = from;
        c.sharding = Some(crate::shard::ShardStrategy::Height);
        c.output_memory = out;
        c.params
            .set("dtype", crate::params::ParamValue::Str(to.into()));
        c
    }

    #[test]
    fn a_converting_sharded_move_adds_a_shard_of_converted_tiles_up_to_an_l1_bank() {
        // Traced on the runtime (mock n150): [1,1,25600,192] bfloat16 height-sharded to
        // bfloat8_b in DRAM borrows the 159,744 B shard and converts into 78 × 1,088 B.
        let c = sharded_conversion(
            "1,1,25600,192",
            DType::Bfloat16,
            "bfloat8_b",
            BufferType::Dram,
        );
        let plan = c.plan().unwrap();
        let p = plan.programs().next().unwrap();
        assert_eq!(p.factory, "ShardedToInterleavedProgramFactory");
        assert_eq!(cb_sizes(p), [159_744, 84_864]);
        // [1,1,2048,10912] to float32: 341 × 4,096 B passes n150's 1,393,312 B bank, and the
        // runtime copies two tiles at a time (2 × 2,048 and 2 × 4,096 B) instead.
        let c = sharded_conversion(
            "1,1,2048,10912",
            DType::Bfloat16,
            "float32",
            BufferType::Dram,
        );
        let plan = c.plan().unwrap();
        let p = plan.programs().next().unwrap();
        assert_eq!(p.factory, "DefaultTilized");
        assert_eq!(cb_sizes(p), [4_096, 8_192]);
    }

    #[test]
    fn a_one_piece_row_major_split_moves_as_to_memory_config() {
        // Measured on the runtime (mock n150, random split seed 1207361): a one-piece split of
        // a [362,400246] float32 from DRAM to L1 is `to_memory_config`'s copy, its 1,600,984 B
        // rows in 2 × 256 KiB chunks with a 256 KiB scratchpad, not two whole rows.
        let mut c = case(
            "split",
            "362,400246",
            BufferType::Dram,
            DeviceLayout::AsGiven,
        );
        c.layout = Layout::RowMajor;
        c.dtype = DType::Float32;
        c.output_memory = BufferType::L1;
        c.params.set("chunks", crate::params::ParamValue::Int(1));
        c.params.set("dim", crate::params::ParamValue::Int(1));
        assert_eq!(
            program_cbs(&c),
            vec![(vec![524_288, 262_144], vec![524_288, 262_144])]
        );
    }

    #[test]
    fn a_block_float_permute_above_rank_4_permutes_its_tiles() {
        // Measured on the runtime (mock boards, rank-5 / rank-6 shapes files): the generic
        // tiled factory takes three buffers of two 1,088 B bfloat8_b tiles, each widened by
        // the input's alignment less a 16 B face line (one byte an element), and a 16 B face
        // line of padding: [3,4,2,7,16] by [1,3,0,4,2] peaks at 6,544 B from L1, 6,640 B from
        // n150's DRAM and 6,832 B from p150's.
        let peak = |memory: BufferType, device: &'static DeviceSpec| {
            let mut c = case("permute", "3,4,2,7,16", memory, DeviceLayout::AsGiven);
            c.dtype = DType::Bfloat8B;
            c.device = device;
            c.params
                .set("dims", crate::params::ParamValue::Ints(vec![1, 3, 0, 4, 2]));
            c.plan().unwrap().peaks().dataflow
        };
        assert_eq!(peak(BufferType::L1, &N150), 6_544);
        assert_eq!(peak(BufferType::Dram, &N150), 6_640);
        assert_eq!(peak(BufferType::Dram, &crate::device::P150), 6_832);
    }

    #[test]
    fn a_uint8_tile_bilinear_upsample_is_resharded_as_a_bfloat16_one() {
        // Measured on the runtime (mock n150): a uint8 TILE [1,32,10,32] (NHWC) bilinear
        // upsample is refused at its reshard, as the bfloat16 one is.
        let mut c = case(
            "upsample_nearest2d",
            "1,32,10,32",
            BufferType::L1,
            DeviceLayout::Nhwc,
        );
        c.dtype = DType::Uint8;
        c.params.set(
            "mode",
            crate::params::ParamValue::Str(String::from("bilinear")),
        );
        match c.estimate() {
            Err(crate::ops::CaseError::Refused { reason, .. }) => assert_eq!(
                reason,
                "Physical shard shape (5, 32) must be tile {32, 32} sized!"
            ),
            other => panic!("{other:?}"),
        }
    }
}
