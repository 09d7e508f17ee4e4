//! `ttnn.conv2d`'s `slice_config` (tt-metal `determine_conv2d_execution_path`, `conv2d_DRAM`,
//! `op_slicing::run_sliced_op`; docs/conv2d.md "DRAM slicing"). `slice_config` L1_FULL takes
//! the L1 path whatever the input's memory: a DRAM interleaved input is resharded into L1 as
//! an L1 one is ([`super::conv`]'s plan). DRAM slicing (a DRAM input without slice_config, or
//! DRAM_HEIGHT / DRAM_WIDTH) is not planned yet: `unmodeled`.

use super::{Args, DevTensor, Val};
use crate::device::BufferType;

/// Whether the call passes `slice_config=ttnn.Conv2dL1FullSliceConfig` with a DRAM interleaved
/// input: the L1 path, the input resharded from DRAM.
pub(super) fn l1_full_of_dram(a: &Args<'_>, x: &DevTensor) -> bool {
    x.memory == BufferType::Dram
        && x.shard.is_none()
        && matches!(
            a.kw.get("slice_config"),
            Some(Val::Attr("Conv2dL1FullSliceConfig"))
        )
}
