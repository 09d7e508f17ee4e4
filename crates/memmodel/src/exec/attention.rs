//! Attention: `ttnn.transformer.concatenate_heads` (the NLP concat-heads device operation and
//! the view back to 3-D).

use super::util::{out_memory, tile_size};
use super::{grid, invalid, unmodeled, Args, Exec, Val};
use crate::error::CaseError;
use crate::layout::Layout;
use crate::plan::BufferRole;
use crate::plan::DevTensor;
use crate::program::{CbKind, Program};
use crate::shape::Shape;
use crate::tensor::{TensorSpec, TILE};

pub(super) fn call(ex: &mut Exec<'_>, name: &str, a: &Args<'_>) -> Result<Option<Val>, CaseError> {
    Ok(Some(match name {
        "transformer.concatenate_heads" => {
            let x = a.tensor(0, "input_tensor")?;
            let mem = out_memory(a, x.memory)?;
            Val::T(concatenate_heads(ex, x, mem)?)
        }
        _ => return Ok(None),
    }))
}

/// `ttnn.transformer.concatenate_heads`: [B, H, S, D] → `NLPConcatHeadsDeviceOperation`'s
/// [B, 1, S, H·D] in `mem`, viewed as [B, S, H·D]. `NLPConcatHeadsProgramFactory` (interleaved)
/// splits the B·H·⌈S/32⌉ tile rows of the heads over the grid, each core double-buffering a tile row of every
/// head (2 · H · D/32 tiles; measured on mock n150: 49,152 B for [1,12,64,32] and [4,12,400,32],
/// 16,384 B for [1,2,32,64], 24,576 B for [2,3,100,64]).
fn concatenate_heads(
    ex: &mut Exec<'_>,
    x: &DevTensor,
    mem: crate::device::BufferType,
) -> Result<DevTensor, CaseError> {
    let f = "ttnn.transformer.concatenate_heads";
    let &[b, heads, seq, d] = x.dims() else {
        return Err(invalid(
            f,
            format!("takes a 4-D [B, H, S, D] tensor, got {}", x.shape()),
        ));
    };
    if x.layout() != Layout::Tile {
        return Err(unmodeled(f, "a ROW_MAJOR input"));
    }
    if x.shard.is_some() {
        return Err(unmodeled(f, "a sharded input"));
    }
    if d % TILE != 0 {
        return Err(invalid(f, concat_heads_head_size(d)));
    }
    let width = crate::size::mul(heads, d, "H·D")?;
    let concat_spec = TensorSpec::new(
        Shape::from_dims(vec![b, 1, seq, width])?,
        x.dtype(),
        Layout::Tile,
    );
    let concat =
        ex.b.tensor("output", BufferRole::Temporary, concat_spec, mem)?;
    let d_dev = ex.device();
    // The factory splits one unit per tile row of every head, B·H·⌈S/32⌉, over the grid column
    // by column (traced on both boards: [1,4,96,64] on {[0-0 - 1-3], [0-4 - 0-7]} of n150,
    // [3,7,70,32] on {[0-0 - 6-2], [0-3 - 5-9]} of p150); the first of those ranges is the one
    // a clash or an overflow names ([1,5,96,19200]: [0-0 - 1-6]).
    let head_tile_rows = crate::size::mul(
        crate::size::mul(b, heads, "B·H")?,
        seq.div_ceil(TILE),
        "B·H·S/32",
    )?;
    let cores = grid::merge_ranges(&grid::split_work(d_dev, head_tile_rows, false).all);
    let row_tiles = crate::size::mul(heads, d / TILE, "H·D/32")?;
    let buffer = crate::size::mul(2 * row_tiles, tile_size(x.dtype()), "concat heads buffer")?;
    ex.b.run(
        Program::new(
            "NLPConcatHeadsDeviceOperation",
            "NLPConcatHeadsProgramFactory",
        )
        .cb(CbKind::Dataflow, buffer, &cores),
    );
    let out_dims = [b as i64, seq as i64, width as i64];
    let out = super::data_movement::reshape(ex, &concat, &out_dims, mem)?;
    ex.b.release(concat);
    Ok(out)
}

/// NLPConcatHeadsDeviceOperation's validation of the head dim `d` (before its output exists;
/// seen on the runtime, seeds 33107-33108).
pub(crate) fn concat_heads_head_size(d: u64) -> String {
    format!("Head size must be a multiple of 32 but was found to be {d}. Update the matmul that uses the output of this operation to include padding in the weights.")
}
