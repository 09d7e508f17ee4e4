//! `ttnn.conv2d`: not planned yet. What the pinned runtime does (ttnn 0.81.1 on the mock
//! device, measured with NO_DISPATCH graph captures and `ttnn.get_memory_view`; the details and
//! the probe script are in docs/conv2d.md) is a sequence of device operations whose buffers
//! depend on a sharding the runtime chooses itself when `Conv2dConfig.shard_layout` is unset:
//!
//! - an L1 interleaved input is first resharded (`InterleavedToShardedDeviceOperation`) to the
//!   chosen layout: height sharding for few input channels (3 → 64), block sharding for most
//!   64..768-channel convs; a DRAM input is processed in DRAM slices (`PaddedSliceDeviceOperation`
//!   per slice, then `SliceWriteDeviceOperation` into a DRAM output allocated first);
//! - weights and bias are prepared into DRAM (tilized, padded to the per-core blocks);
//! - `HaloDeviceOperation` (UntilizeWithHalo) allocates the halo output plus four config tensors
//!   in L1_SMALL (the graph capture reports their type as `L1`), and with the default
//!   `reallocate_halo_output` the halo output is copied once more;
//! - `Conv2dDeviceOperation` (Conv2dShardedProgramFactory) allocates the output shards and one
//!   more L1_SMALL config tensor, with ~9 circular buffers, several bound to the shards;
//! - a 1×1 stride-1 conv takes the matmul path instead, its output in DRAM when no
//!   `memory_config` is given.
//!
//! Until those plans are exact the interpreter answers `unmodeled` for every conv2d call, and
//! coverage.rs gates the whole op, so nothing here is a confident wrong answer; the `metal`
//! backend answers conv2d from the runtime.

use super::{unmodeled, Args, Exec, Val};
use crate::ops::CaseError;

/// Why memmodel gives no verdict for a conv2d call.
pub const UNPLANNED: &str = "no memmodel plan for conv2d yet (the runtime reshards the input, \
     prepares weights in DRAM, builds a halo with config tensors in L1_SMALL and picks the \
     sharding itself; docs/conv2d.md)";

pub(super) fn call(_ex: &mut Exec<'_>, name: &str, a: &Args<'_>) -> Result<Option<Val>, CaseError> {
    match name {
        "conv2d" => {
            a.tensor(usize::MAX, "input_tensor")?;
            match a.get(usize::MAX, "weight_tensor") {
                Some(Val::Host(_)) => {}
                other => {
                    return Err(super::invalid(
                        a.function,
                        format!("`weight_tensor` must be a host tensor, got {other:?}"),
                    ))
                }
            }
            Err(unmodeled(a.function, UNPLANNED))
        }
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use crate::case::Case;
    use crate::device::{BufferType, N150, P150};
    use crate::layout::{DeviceLayout, Layout};
    use crate::ops::find;
    use crate::shape::Shape;

    #[test]
    fn every_conv2d_call_is_unmodeled_with_the_reason_not_a_verdict() {
        for device in [&N150, &P150] {
            for memory in [BufferType::L1, BufferType::Dram] {
                for layout in [Layout::Tile, Layout::RowMajor] {
                    let mut c = Case::new(
                        find("conv2d").unwrap(),
                        vec![Shape::parse("1,64,160,160").unwrap()],
                        device,
                    );
                    c.device_layout = DeviceLayout::NhwcFlat;
                    c.layout = layout;
                    c.input_memory = memory;
                    c.output_memory = memory;
                    let err = c.estimate().expect_err("no verdict");
                    assert!(crate::exec::is_unmodeled(&err), "{err}");
                    assert!(err.to_string().contains("conv2d"), "{err}");
                }
            }
        }
    }
}
