//! Pooling and resampling: upsample (nearest).

use super::grid;
use super::util::{out_memory, tile_size};
use super::{invalid, unmodeled, Args, Exec, Val};
use crate::case::BufferRole;
use crate::layout::Layout;
use crate::ops::CaseError;
use crate::program::{CbKind, Program};
use crate::shape::Shape;
use crate::tensor::{TensorSpec, TILE};

pub(super) fn call(ex: &mut Exec<'_>, name: &str, a: &Args<'_>) -> Result<Option<Val>, CaseError> {
    Ok(Some(match name {
        "upsample" => upsample(ex, a)?,
        _ => return Ok(None),
    }))
}

/// `ttnn.upsample(x, scale_factor, mode="nearest")` on an interleaved [N, H, W, C] tensor:
/// `UpsampleMultiCoreInterleavedProgramFactory` (upsample_program_factory_multicore_interleaved
/// .cpp). The output [N, H·s, W·s, C] is allocated, then one program whose work units
/// (`split_work_to_cores`, column-wise) are the input's sticks (ROW_MAJOR) or tile rows (TILE);
/// its input dataflow buffer holds one stick rounded up to the DRAM alignment (ROW_MAJOR) or one
/// row of tiles (TILE), doubled when a core has more than one unit; TILE adds an output buffer
/// of as many output tiles.
fn upsample(ex: &mut Exec<'_>, a: &Args<'_>) -> Result<Val, CaseError> {
    let x = a.tensor(0, "input_tensor")?;
    let scale = a
        .int(1, "scale_factor")?
        .ok_or_else(|| invalid(a.function, "`scale_factor` is required"))?;
    let mode = match a.get(usize::MAX, "mode") {
        None | Some(Val::None) => "nearest".to_string(),
        Some(Val::Str(s)) => s.clone(),
        Some(other) => {
            return Err(invalid(
                a.function,
                format!("`mode` must be a string, got {other:?}"),
            ))
        }
    };
    if mode != "nearest" {
        return Err(unmodeled(
            a.function,
            format!("memmodel models mode=\"nearest\" only, not `{mode}`"),
        ));
    }
    let &[n, h, w, c] = x.dims() else {
        return Err(invalid(
            a.function,
            format!("needs a 4D [N,H,W,C] tensor, got {}", x.shape()),
        ));
    };
    let s = u64::try_from(scale)
        .ok()
        .filter(|s| *s >= 1)
        .ok_or_else(|| invalid(a.function, format!("scale_factor {scale} must be positive")))?;
    let d = ex.device();
    let mem = out_memory(a, x.memory)?;
    let out_shape = Shape::from_dims(vec![
        n,
        crate::size::mul(h, s, "upsampled H")?,
        crate::size::mul(w, s, "upsampled W")?,
        c,
    ])?;
    let out_spec = TensorSpec::new(out_shape, x.dtype(), x.layout());
    let tiled = x.layout() == Layout::Tile;
    let (entry, pages, units) = if tiled {
        let padded_c = c.div_ceil(TILE) * TILE;
        let rows = x.spec.pages()? / (padded_c / TILE).max(1);
        (tile_size(x.dtype()), padded_c / TILE, rows)
    } else {
        let stick = crate::size::mul(c, x.dtype().row_major_element_bytes(), "stick bytes")?;
        (
            stick.div_ceil(d.dram_alignment) * d.dram_alignment,
            1,
            crate::size::mul(n, crate::size::mul(h, w, "sticks")?, "sticks")?,
        )
    };
    let out =
        ex.b.tensor("output", BufferRole::Temporary, out_spec, mem)?;
    let split = grid::split_work(d, units, false);
    let count = if split.units_1 != 1 { 2 * pages } else { pages };
    let mut p = Program::new(
        "UpsampleOperation",
        "UpsampleMultiCoreInterleavedProgramFactory",
    )
    .cb(CbKind::Dataflow, count * entry, &split.all);
    if tiled {
        p = p.cb(CbKind::Dataflow, count * tile_size(x.dtype()), &split.all);
    }
    ex.b.run(p);
    Ok(Val::T(out))
}
