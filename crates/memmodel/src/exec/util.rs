//! Small helpers the op models share.

use super::Args;
use crate::device::BufferType;
use crate::dtype::DType;
use crate::error::CaseError;
use crate::layout::Layout;
use crate::tensor::TensorSpec;

/// Tiles of a TILE tensor (or the tiles a ROW_MAJOR tensor would take once tilized).
pub fn tiles(spec: &TensorSpec) -> u64 {
    let t = TensorSpec::new(spec.shape.clone(), spec.dtype, Layout::Tile);
    t.pages().unwrap_or(u64::MAX)
}

/// Whether a program of the call so far was refused: the op raised there, and what would
/// follow never runs (a caller stops planning rather than meet its own gates after it).
pub fn refused_so_far(b: &crate::plan::PlanBuilder) -> bool {
    b.steps
        .iter()
        .any(|s| matches!(s, crate::plan::Step::Run(p) if p.refused.is_some()))
}

/// Bytes of one tile of `dtype`.
pub fn tile_size(dtype: DType) -> u64 {
    dtype.tile_bytes()
}

/// The memory a function's output goes to: its `memory_config`, else the function's default
/// ([`default_output_memory`]).
pub fn out_memory(a: &Args<'_>, input: BufferType) -> Result<BufferType, CaseError> {
    a.memory(default_output_memory(a.function, input))
}

/// Where a function puts its output when the call omits `memory_config`, its input being in
/// `input`. Read from the pinned runtime (ttnn 0.81.1): the matmul family, concat (hence
/// stack) and scaled_dot_product_attention default to DRAM whatever their inputs; every other function modeled keeps its input's
/// memory, but for `ttnn.split` of an L1 input into more than two chunks whose bytes exceed the
/// free L1 of a core: those go to DRAM (the interpreter decides it when the call runs,
/// `data_movement::split_default_memory`; a case's `output_memory` shows the input's), and
/// `ttnn.max_pool2d` returns its pooled L1 shards (no copy to interleaved; measured for inputs
/// that are not pooled in DRAM slices; `pool::max_pool2d`).
/// `cargo xtask diff --random` checks it on every `default` output it draws.
pub fn default_output_memory(function: &str, input: BufferType) -> BufferType {
    match function.strip_prefix("ttnn.").unwrap_or(function) {
        "matmul" | "linear" | "addmm" | "concat" | "stack" => BufferType::Dram,
        "transformer.scaled_dot_product_attention" => BufferType::Dram,
        _ => input,
    }
}
