//! Small helpers the op models share.

use super::Args;
use crate::device::BufferType;
use crate::dtype::DType;
use crate::layout::Layout;
use crate::ops::CaseError;
use crate::tensor::TensorSpec;

/// Tiles of a TILE tensor (or the tiles a ROW_MAJOR tensor would take once tilized).
pub fn tiles(spec: &TensorSpec) -> u64 {
    let t = TensorSpec::new(spec.shape.clone(), spec.dtype, Layout::Tile);
    t.pages().unwrap_or(u64::MAX)
}

/// Bytes of one tile of `dtype`.
pub fn tile_size(dtype: DType) -> u64 {
    dtype.tile_bytes()
}

/// The memory a function's output goes to: its `memory_config`, else the input's.
pub fn out_memory(a: &Args<'_>, input: BufferType) -> Result<BufferType, CaseError> {
    a.memory(input)
}
