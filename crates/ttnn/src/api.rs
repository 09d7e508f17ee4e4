//! What every backend offers: the [`DeviceApi`] trait and the plain data it speaks in. The
//! `metal` backend implements it over the real runtime; a `sim` backend (an in-process device on
//! memmodel) implements the same surface, so the case runner ([`crate::case`]) and everything
//! built on it work with either.

use crate::error::{Error, Result};
use memmodel::invoke::Invocation;
use memmodel::{BufferType, DType, DeviceSpec, Layout, MemoryConfig, ShardStrategy};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Which implementation answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// The official TT-NN runtime through `ttnn-sys` (hardware, or the mock device).
    Metal,
    /// The embedded simulator on memmodel.
    Sim,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Metal => "metal",
            Backend::Sim => "sim",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Backend {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "metal" => Ok(Backend::Metal),
            "sim" => Ok(Backend::Sim),
            _ => Err(format!("unknown backend `{s}` (known: metal, sim)")),
        }
    }
}

/// A tensor to create (`ttnn.empty`): interleaved in `buffer_type`, or sharded in L1 with the
/// shard spec memmodel computes for the device's grid ([`memmodel::shard`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TensorDesc {
    pub shape: Vec<u64>,
    pub dtype: DType,
    pub layout: Layout,
    pub buffer_type: BufferType,
    /// Sharded over the grid with this strategy (`buffer_type` must be L1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sharding: Option<ShardStrategy>,
}

impl TensorDesc {
    /// The memory config the tensor is created in.
    pub fn config(&self) -> MemoryConfig {
        MemoryConfig::of(self.buffer_type, self.sharding)
    }

    /// What a sharded config asks of the tensor (both backends check it): L1, TILE layout.
    pub fn check_sharding(&self) -> Result<()> {
        if let Some(s) = self.sharding {
            if self.buffer_type != BufferType::L1 {
                return Err(Error::InvalidArgument(format!(
                    "{} tensors live in L1, not {}",
                    s.memory_name(),
                    self.buffer_type
                )));
            }
            if self.layout != Layout::Tile {
                return Err(Error::InvalidArgument(format!(
                    "{} is supported for TILE tensors only",
                    s.memory_name()
                )));
            }
        }
        Ok(())
    }
}

impl TensorDesc {
    /// Checks what every backend requires of a tensor before anything is allocated: at most
    /// [`memmodel::shape::MAX_RANK`] dims, each 1 to `u32::MAX` (tt-metal's dims are 32-bit),
    /// a byte size that fits in u64 at any dtype and padding (memmodel's shape rules), and a
    /// tensor memory (L1_SMALL holds only what ops put there). The error names the offending
    /// part.
    pub fn validate(&self) -> Result<()> {
        if let Some((i, d)) = self
            .shape
            .iter()
            .enumerate()
            .find(|(_, &d)| d > u64::from(u32::MAX))
        {
            return Err(Error::InvalidArgument(format!(
                "tensor shape {:?}: dim {i} is {d}, more than tt-metal's 32-bit dims allow",
                self.shape
            )));
        }
        memmodel::Shape::from_slice(&self.shape)
            .map_err(|e| Error::InvalidArgument(format!("tensor shape {:?}: {e}", self.shape)))?;
        if self.dtype.is_block_float() && self.layout == Layout::RowMajor {
            return Err(Error::InvalidArgument(format!(
                "{} needs TILE layout",
                self.dtype
            )));
        }
        self.check_sharding()?;
        if self.buffer_type == BufferType::L1Small {
            return Err(Error::InvalidArgument(
                "tensors live in L1 or DRAM; L1_SMALL is reserved for ops' own buffers".into(),
            ));
        }
        Ok(())
    }
}

/// What the runtime says a tensor is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorInfo {
    pub shape: Vec<u64>,
    pub dtype: String,
    pub layout: String,
    pub on_device: bool,
    /// `dram`, `l1`, `l1_small` when on device.
    #[serde(default)]
    pub buffer_type: Option<String>,
    #[serde(default)]
    pub address: Option<u64>,
}

/// The allocator's state of one buffer type, per bank.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MemoryView {
    pub buffer_type: BufferType,
    pub banks: u64,
    pub bank_bytes: u64,
    pub allocated_per_bank: u64,
    pub free_per_bank: u64,
    pub largest_free_block_per_bank: u64,
}

/// Per-core peaks of a NO_DISPATCH capture, bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CoreUsage {
    pub peak_cb: u64,
    pub peak_dataflow_buffer: u64,
    pub peak_l1: u64,
    pub peak_total: u64,
}

/// A buffer the captured program allocated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapturedBuffer {
    pub size: u64,
    pub max_size_per_bank: u64,
    pub page_size: u64,
    /// As the runtime spells it: `L1`, `DRAM`, `L1_SMALL`.
    pub buffer_type: String,
}

/// A circular buffer the captured program allocated (per core of its core range set).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapturedCircularBuffer {
    pub size: u64,
    pub core_range_set: String,
}

/// What a NO_DISPATCH capture saw: per-core peaks and every allocation.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Capture {
    #[serde(skip_deserializing)]
    pub per_core: CoreUsage,
    pub buffers: Vec<CapturedBuffer>,
    pub circular_buffers: Vec<CapturedCircularBuffer>,
    /// Every allocation, free and program in order ([`memmodel::trace`]).
    #[serde(default)]
    pub trace: Vec<memmodel::trace::Event>,
}

/// A device of some backend.
pub trait DeviceApi {
    type Tensor;

    /// The board this device is.
    fn spec(&self) -> &'static DeviceSpec;
    /// Whether the backend answers from memmodel's plans (sim) rather than the runtime: such a
    /// backend gives no verdict where memmodel does not model the call.
    fn runs_memmodel(&self) -> bool {
        false
    }
    /// L1_SMALL bytes per bank reserved at open.
    fn l1_small_size(&self) -> u64;
    /// `ttnn.empty`: allocates and returns a tensor.
    fn empty(&self, desc: &TensorDesc) -> Result<Self::Tensor>;
    /// Runs an invocation; outputs may share buffers with inputs (views, in-place ops).
    fn run(&self, invocation: &Invocation, inputs: &[&Self::Tensor]) -> Result<Vec<Self::Tensor>>;
    fn tensor_info(&self, tensor: &Self::Tensor) -> Result<TensorInfo>;
    fn memory_view(&self, buffer_type: BufferType) -> Result<MemoryView>;
    /// The views of several memories, in order (one look where a backend can: the per-case
    /// allocator checks take them before and after every case).
    fn memory_views(&self, buffer_types: &[BufferType]) -> Result<Vec<MemoryView>> {
        buffer_types.iter().map(|&b| self.memory_view(b)).collect()
    }
    /// Empties the program cache (cached programs may hold device memory, e.g. max_pool2d's
    /// config tensors in L1_SMALL).
    fn clear_program_cache(&self) -> Result<()>;
    /// Starts a NO_DISPATCH capture: ops report their allocations without allocating.
    fn begin_capture(&self) -> Result<()>;
    fn end_capture(&self) -> Result<Capture>;

    /// Runs `f` inside a NO_DISPATCH capture; the capture is ended whatever `f` returns.
    fn capture<T>(&self, f: impl FnOnce(&Self) -> Result<T>) -> Result<(T, Capture)>
    where
        Self: Sized,
    {
        self.begin_capture()?;
        let result = f(self);
        let capture = self.end_capture();
        let value = result?;
        Ok((value, capture?))
    }
}

impl Error {
    /// An error for a backend that is not built into this binary.
    pub fn backend_unavailable(backend: Backend) -> Error {
        Error::Unsupported(format!(
            "the `{backend}` backend is not available in this build"
        ))
    }
}
