//! A case: one operator call at one shape, dtype, layout, memory config and device; its plan
//! (the buffers it allocates, in order, with lifetimes) and its predicted verdict.

use crate::device::{BufferType, DeviceSpec};
use crate::dtype::DType;
use crate::layout::{DeviceLayout, Layout};
use crate::ops::{CaseError, OpDef, OpRequest, OutputStorage, Signature};
use crate::params::Params;
use crate::shape::Shape;
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
            device: DeviceSpec::by_name(&self.device)?,
            expect: self.expect,
        })
    }
}

/// What a buffer is to the case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BufferRole {
    Input,
    Temporary,
    Output,
}

/// One buffer the case allocates.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedBuffer {
    /// Index among the op's inputs, temporaries or outputs (by `role`).
    pub index: usize,
    /// What the buffer is to the op (`input`, `weight`, `indices`, `square`, ...).
    pub what: &'static str,
    pub role: BufferRole,
    pub tensor: TensorSpec,
    pub placement: Placement,
    /// Index in [`Plan::buffers`] after whose allocation this one is freed (temporaries only).
    pub freed_before: Option<usize>,
}

impl PlannedBuffer {
    /// `input 0 (input)`, `output 1 (indices)`, `temporary 0 (square)`.
    pub fn name(&self) -> String {
        let role = match self.role {
            BufferRole::Input => "input",
            BufferRole::Temporary => "temporary",
            BufferRole::Output => "output",
        };
        format!("{role} {} ({})", self.index, self.what)
    }
}

/// Every buffer a case allocates, in the order the runtime allocates them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub buffers: Vec<PlannedBuffer>,
    /// L1_SMALL the device must be opened with.
    pub l1_small_bytes: u64,
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
        oom_message(
            self.total_bytes,
            self.buffer_type,
            self.banks,
            self.per_bank_bytes,
            self.bank_bytes,
            self.allocated,
            self.free,
            self.largest_free_block,
        )
    }

    /// What each bank would have to hold (already allocated + this buffer) over the bank size:
    /// the factor by which the case exceeds the device.
    pub fn factor_over_bank(&self) -> f64 {
        self.allocated.saturating_add(self.per_bank_bytes) as f64 / self.bank_bytes.max(1) as f64
    }
}

/// tt-metal's "Out of Memory" text (bank_manager.cpp in the pinned runtime).
#[allow(clippy::too_many_arguments)]
pub fn oom_message(
    total: u64,
    buffer_type: BufferType,
    banks: u64,
    per_bank: u64,
    bank: u64,
    allocated: u64,
    free: u64,
    largest: u64,
) -> String {
    format!(
        "Out of Memory: Not enough space to allocate {total} B {} buffer across {banks} banks, where each bank needs to store {per_bank} B, but bank size is {bank} B (allocated: {allocated} B, free: {free} B, largest free block: {largest} B).",
        buffer_type.tt_name()
    )
}

/// Predicted outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "verdict")]
pub enum Verdict {
    Fits,
    Oom(OomDetail),
}

impl Verdict {
    pub fn is_oom(&self) -> bool {
        matches!(self, Verdict::Oom(_))
    }
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Fits => "fits",
            Verdict::Oom(_) => "oom",
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
    pub verdict: Verdict,
    pub plan: Plan,
}

impl Case {
    /// The op's signature (inputs, outputs, call) for this case.
    pub fn signature(&self) -> Result<Signature, CaseError> {
        self.op.signature(&OpRequest {
            model_inputs: &self.model_inputs,
            device_layout: self.device_layout,
            params: &self.params,
            dtype: self.dtype,
            layout: self.layout,
            output_memory: self.output_memory,
        })
    }

    /// The memory config label: `l1`, `dram`, or `dram→l1` when the sides differ.
    pub fn memory_label(&self) -> String {
        if self.input_memory == self.output_memory {
            self.output_memory.name().to_string()
        } else {
            format!(
                "{}->{}",
                self.input_memory.name(),
                self.output_memory.name()
            )
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

    /// The buffers the case allocates, in order: inputs, then (for composites) temporaries, then
    /// outputs. A temporary is freed once the next step's buffer exists, as TT-NN composites free
    /// theirs after use.
    pub fn plan(&self) -> Result<Plan, CaseError> {
        let sig = self.signature()?;
        self.plan_from(&sig)
    }

    pub fn plan_from(&self, sig: &Signature) -> Result<Plan, CaseError> {
        let mut buffers = Vec::new();
        for (i, input) in sig.inputs.iter().enumerate() {
            let tensor = TensorSpec::new(input.shape.clone(), input.dtype, input.layout);
            let placement = tensor.interleaved(self.device, self.input_memory)?;
            buffers.push(PlannedBuffer {
                index: i,
                what: input.role,
                role: BufferRole::Input,
                tensor,
                placement,
                freed_before: None,
            });
        }
        let first_temp = buffers.len();
        for (i, temp) in sig.temporaries.iter().enumerate() {
            let tensor = TensorSpec::new(temp.shape.clone(), temp.dtype, temp.layout);
            let placement = tensor.interleaved(self.device, self.output_memory)?;
            buffers.push(PlannedBuffer {
                index: i,
                what: temp.role,
                role: BufferRole::Temporary,
                tensor,
                placement,
                freed_before: None,
            });
        }
        // Temporary i is consumed by the step that allocates buffer i + 1; it is freed before the
        // allocation after that.
        let n_temps = sig.temporaries.len();
        for i in 0..n_temps {
            let consumer = first_temp + i + 1;
            buffers[first_temp + i].freed_before = Some(consumer + 1);
        }
        for (i, output) in sig.outputs.iter().enumerate() {
            if output.storage != OutputStorage::New {
                continue;
            }
            let tensor = TensorSpec::new(output.shape.clone(), output.dtype, output.layout);
            let placement = tensor.interleaved(self.device, self.output_memory)?;
            buffers.push(PlannedBuffer {
                index: i,
                what: output.role,
                role: BufferRole::Output,
                tensor,
                placement,
                freed_before: None,
            });
        }
        Ok(Plan {
            buffers,
            l1_small_bytes: sig.l1_small_bytes,
        })
    }

    /// The primary tensor, its sizes, the plan's peaks and the predicted verdict.
    pub fn estimate(&self) -> Result<Estimate, CaseError> {
        self.estimate_from(&self.signature()?)
    }

    /// [`Case::estimate`] for a signature already built.
    pub fn estimate_from(&self, sig: &Signature) -> Result<Estimate, CaseError> {
        let plan = self.plan_from(sig)?;
        let (primary, memory) = match sig.inputs.first() {
            Some(input) => (
                TensorSpec::new(input.shape.clone(), input.dtype, input.layout),
                self.input_memory,
            ),
            None => {
                let out = &sig.outputs[0];
                (
                    TensorSpec::new(out.shape.clone(), out.dtype, out.layout),
                    self.output_memory,
                )
            }
        };
        let placement = primary.interleaved(self.device, memory)?;
        let logical_bytes = primary.logical_bytes()?;
        let l1_small = plan.l1_small_bytes;
        let mut banks = BankUsage::new(self.device, l1_small);
        let mut verdict = Verdict::Fits;
        for (index, buffer) in plan.buffers.iter().enumerate() {
            for (j, earlier) in plan.buffers[..index].iter().enumerate() {
                if earlier.freed_before == Some(index) {
                    banks.free(&plan.buffers[j].placement);
                }
            }
            if let Err(mut detail) = banks.allocate(&buffer.placement) {
                detail.buffer = buffer.name();
                verdict = Verdict::Oom(detail);
                break;
            }
        }
        Ok(Estimate {
            primary,
            logical_bytes,
            bank_bytes: self.device.bank_bytes(memory, l1_small),
            placement,
            peak_l1_per_bank_bytes: banks.peak(BufferType::L1),
            peak_dram_per_bank_bytes: banks.peak(BufferType::Dram),
            verdict,
            plan,
        })
    }
}

/// Per-bank bytes in use in each memory, for the closed-form verdict. Buffers are interleaved
/// over all banks, so every bank holds the same reservation.
#[derive(Debug, Clone)]
struct BankUsage {
    device: &'static DeviceSpec,
    l1_small: u64,
    used: [u64; 3],
    peak: [u64; 3],
}

fn slot(buffer_type: BufferType) -> usize {
    match buffer_type {
        BufferType::Dram => 0,
        BufferType::L1 => 1,
        BufferType::L1Small => 2,
    }
}

impl BankUsage {
    fn new(device: &'static DeviceSpec, l1_small: u64) -> Self {
        Self {
            device,
            l1_small,
            used: [0; 3],
            peak: [0; 3],
        }
    }

    fn allocate(&mut self, p: &Placement) -> Result<(), OomDetail> {
        let bank = self.device.bank_bytes(p.buffer_type, self.l1_small);
        let s = slot(p.buffer_type);
        let used = self.used[s];
        let free = bank.saturating_sub(used);
        if p.per_bank_bytes > free {
            return Err(OomDetail {
                buffer: String::new(),
                buffer_type: p.buffer_type,
                total_bytes: p.total_bytes,
                banks: p.banks,
                per_bank_bytes: p.per_bank_bytes,
                bank_bytes: bank,
                allocated: used,
                free,
                largest_free_block: free,
            });
        }
        self.used[s] = used + p.per_bank_bytes;
        self.peak[s] = self.peak[s].max(self.used[s]);
        Ok(())
    }

    fn free(&mut self, p: &Placement) {
        let s = slot(p.buffer_type);
        self.used[s] = self.used[s].saturating_sub(p.per_bank_bytes);
    }

    fn peak(&self, buffer_type: BufferType) -> u64 {
        self.peak[slot(buffer_type)]
    }
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
            let shape = match op.family {
                crate::ops::Family::Addmm => "32,32",
                _ => "1,32,32,32",
            };
            let e = case(op.name, shape, BufferType::L1, op.default_device_layout)
                .estimate()
                .unwrap_or_else(|err| panic!("{}: {err}", op.name));
            assert_eq!(e.verdict, Verdict::Fits, "{}", op.name);
        }
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
}
