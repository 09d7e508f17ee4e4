//! transpose and permute: the runtime's tiled, row-major and 4-D transpose programs.

use super::*;

/// `ttnn.transpose` (transpose.cpp): ranks above 4 permute; a bfloat8_b tensor is typecast to
/// bfloat16 around every transpose but WH and CN ([`through_bfloat16`]); a dim with itself, or
/// two dims of padded size 1, hand the input back (cloned into another memory); NH, NW and CW
/// go through `ttnn.permute`, CN, HC and WH through their transpose factories.
pub(in crate::exec) fn transpose(
    ex: &mut Exec<'_>,
    x: &DevTensor,
    d0: i64,
    d1: i64,
    mem: BufferType,
) -> Result<DevTensor, CaseError> {
    let rank = x.shape().rank();
    let (i0, i1) = (
        norm_dim("ttnn.transpose", rank, d0)?,
        norm_dim("ttnn.transpose", rank, d1)?,
    );
    let mut out_dims = x.dims().to_vec();
    out_dims.swap(i0, i1);
    let out_spec = spec_with(x, out_dims)?;
    let (lo, hi) = (i0.min(i1), i0.max(i1));
    if rank > 4 {
        // `transpose_nd`, in either layout: the permutation that swaps the two dims.
        let mut perm: Vec<i64> = (0..rank as i64).collect();
        perm.swap(lo, hi);
        return permute(ex, x, &perm, mem);
    }
    // Work on the 4D view.
    let pad = 4usize.saturating_sub(rank);
    let (lo4, hi4) = (lo + pad, hi + pad);
    let wh_or_cn = matches!((lo4, hi4), (2, 3) | (0, 1));
    if x.dtype() == DType::Bfloat8B && x.layout() == Layout::Tile && !wh_or_cn {
        return through_bfloat16(ex, x, out_spec, |ex, wide| {
            transpose_as_is(ex, wide, (i0, i1), (lo4, hi4), mem)
        });
    }
    transpose_as_is(ex, x, (i0, i1), (lo4, hi4), mem)
}

/// [`transpose`] of `x` in its own dtype: the dims `(i0, i1)`, `(lo4, hi4)` on the 4D view.
pub(in crate::exec) fn transpose_as_is(
    ex: &mut Exec<'_>,
    x: &DevTensor,
    (i0, i1): (usize, usize),
    (lo4, hi4): (usize, usize),
    mem: BufferType,
) -> Result<DevTensor, CaseError> {
    let rank = x.shape().rank();
    let mut out_dims = x.dims().to_vec();
    out_dims.swap(i0, i1);
    let out_spec = spec_with(x, out_dims)?;
    let dims4 = to_4d(x.dims());
    let x4 = spec_with(x, dims4)?;
    // A dim with itself, or two dims of padded size 1: the runtime hands the input back (a
    // clone into another memory).
    let padded4 = x4.padded_dims();
    if i0 == i1 || (padded4[lo4] == 1 && padded4[hi4] == 1) {
        return Ok(if mem == x.memory {
            ex.b.share(x, out_spec)
        } else {
            move_to(ex, x, mem, RowAlign::Input, CbKind::Dataflow)?
        });
    }
    if x.layout() == Layout::RowMajor {
        // `transpose_` of an interleaved ROW_MAJOR tensor: the permute device operation, any
        // two dims (seen on the runtime: a [1,3,20128,672] transpose of dims 1 and 2 runs the
        // row-invariant factory with two 1344 B rows).
        let mut perm4 = [0, 1, 2, 3];
        perm4.swap(lo4, hi4);
        return permute_rm(ex, x, &perm4, out_spec, mem);
    }
    let d = ex.device();
    let ts = tile_size(x.dtype());
    let via_permute = |perm4: [i64; 4]| -> Vec<i64> {
        // `ttnn.permute` of the 4D view, as the input's rank sees it.
        perm4[pad_of(rank)..]
            .iter()
            .map(|&p| p - pad_of(rank) as i64)
            .collect()
    };
    match (lo4, hi4) {
        (2, 3) => {
            let out =
                ex.b.tensor("output", BufferRole::Temporary, out_spec, mem)?;
            let w = grid::split_work(d, tiles(&x4), false);
            let cores = grid::merge_ranges(&w.all);
            ex.b.run(
                Program::new("TransposeDeviceOperation", "TransposeWHProgramFactory")
                    .cb(CbKind::Dataflow, 2 * ts, &cores)
                    .cb(CbKind::Dataflow, 2 * ts, &cores),
            );
            Ok(out)
        }
        (1, 2) => {
            let out =
                ex.b.tensor("output", BufferRole::Temporary, out_spec, mem)?;
            transpose_hc_program(ex, &x4);
            Ok(out)
        }
        (0, 1) => {
            let out =
                ex.b.tensor("output", BufferRole::Temporary, out_spec, mem)?;
            transpose_cn_program(ex, &x4);
            Ok(out)
        }
        // NH, NW and CW: `ttnn.permute` (its 4D view keeps leading dims of size 1).
        (0, 2) => permute(ex, x, &via_permute([2, 1, 0, 3]), mem),
        (0, 3) => permute(ex, x, &via_permute([3, 1, 2, 0]), mem),
        _ => permute(ex, x, &via_permute([0, 3, 2, 1]), mem),
    }
}

/// `Tensor::element_size()` of a TILE tensor, which the transpose and permute factories size
/// their face-line padding and read-alignment slack by: bfloat4_b reports 1 B (seen on the
/// runtime, mock n150, seed 1211104: a 16 B face line in the row-invariant permute, 256 B of
/// HC padding, 592 B tiles read from 32 B-aligned DRAM), and so does bfloat8_b (seen on both
/// boards in rank-5 and rank-6 permutes: a 16 B face line, 1,088 B tiles widened by the DRAM
/// alignment less 16 B); other dtypes their ROW_MAJOR element.
pub(in crate::exec) fn tile_element_bytes(dtype: DType) -> u64 {
    if dtype.is_block_float() {
        1
    } else {
        dtype.row_major_element_bytes()
    }
}

/// Leading dims the 4D view adds to a tensor of `rank`.
pub(in crate::exec) fn pad_of(rank: usize) -> usize {
    4usize.saturating_sub(rank)
}

/// A bfloat8_b op the runtime runs on a bfloat16 copy (transpose.cpp, permute.cpp): typecast
/// to bfloat16 in the input's memory, `body`, typecast back into the result's memory; the two
/// bfloat16 tensors are freed after the last typecast. Seen on the runtime (NO_DISPATCH, mock
/// n150): a [1,2,64,96] bfloat8_b HC transpose allocates 1088 B, 2048 B, 2048 B and 1088 B
/// pages in that order, its dataflow peak 2 × 1088 + 2 × 2048 B.
pub(in crate::exec) fn through_bfloat16(
    ex: &mut Exec<'_>,
    x: &DevTensor,
    out_spec: TensorSpec,
    body: impl FnOnce(&mut Exec<'_>, &DevTensor) -> Result<DevTensor, CaseError>,
) -> Result<DevTensor, CaseError> {
    let wide_spec = TensorSpec::new(x.shape().clone(), DType::Bfloat16, x.layout());
    let wide = typecast_into(ex, x, wide_spec, x.memory)?;
    let result = body(ex, &wide)?;
    let out = typecast_into(ex, &result, out_spec, result.memory)?;
    ex.b.release(result);
    ex.b.release(wide);
    Ok(out)
}

/// `ttnn.typecast` of an interleaved TILE tensor to `spec` (its dtype) in `mem`.
pub(in crate::exec) fn typecast_into(
    ex: &mut Exec<'_>,
    x: &DevTensor,
    spec: TensorSpec,
    mem: BufferType,
) -> Result<DevTensor, CaseError> {
    let out = ex.b.tensor("typecast", BufferRole::Temporary, spec, mem)?;
    crate::exec::reduction::typecast_program(ex, x, &out);
    Ok(out)
}

/// `TransposeCNProgramFactory`: the input tiles split over the grid, a two-tile buffer each.
pub(in crate::exec) fn transpose_cn_program(ex: &mut Exec<'_>, x4: &TensorSpec) {
    let w = grid::split_work(ex.device(), tiles(x4), false);
    let cores = grid::merge_ranges(&w.all);
    ex.b.run(
        Program::new("TransposeDeviceOperation", "TransposeCNProgramFactory").cb(
            CbKind::Dataflow,
            2 * tile_size(x4.dtype),
            &cores,
        ),
    );
}

/// `PermuteDeviceOperation` on an interleaved ROW_MAJOR tensor (its 4D view, or itself at
/// higher ranks, permuted by `perm`): `MultiCoreRowInvariant` (two aligned input rows per
/// core, the rows split over the grid) when the last dim stays, else `MultiCoreBlockedGeneric`
/// (32 × 32 element blocks: an input, an output and a transpose buffer of two blocks each).
/// The factories take any rank (permute_rm_program_factory.cpp: rows are all dims but the last).
pub(in crate::exec) fn permute_rm(
    ex: &mut Exec<'_>,
    x: &DevTensor,
    perm: &[usize],
    out_spec: TensorSpec,
    mem: BufferType,
) -> Result<DevTensor, CaseError> {
    let d = ex.device();
    let dims = to_4d(x.dims());
    let (Some(&last), Some((&w, outer))) = (perm.last(), dims.split_last()) else {
        return Err(invalid("ttnn.permute", "an empty permutation"));
    };
    if perm.len() != dims.len() {
        return Err(invalid(
            "ttnn.permute",
            format!("{} dims for a rank-{} view", perm.len(), dims.len()),
        ));
    }
    let rows = outer
        .iter()
        .try_fold(1u64, |acc, &v| crate::size::mul(acc, v, "permute rows"))?;
    let esize = x.dtype().row_major_element_bytes();
    let out =
        ex.b.tensor("output", BufferRole::Temporary, out_spec, mem)?;
    let p = if last == dims.len() - 1 {
        let page = crate::size::round_up(
            crate::size::mul(w, esize, "permute page")?,
            d.alignment(x.memory),
            "permute page",
        )?;
        let cores = grid::merge_ranges(&grid::split_work(d, rows, false).all);
        Program::new("PermuteDeviceOperation", "MultiCoreRowInvariant").cb(
            CbKind::Dataflow,
            crate::size::mul(2, page, "permute CB")?,
            &cores,
        )
    } else {
        let x_extent = dims[last].max(1);
        let blocks = crate::size::mul(
            crate::size::mul(rows / x_extent, x_extent.div_ceil(TILE), "permute blocks")?,
            w.div_ceil(TILE),
            "permute blocks",
        )?;
        let cores = grid::merge_ranges(&grid::split_work(d, blocks, false).all);
        let block = 2 * TILE * TILE * esize;
        Program::new("PermuteDeviceOperation", "MultiCoreBlockedGeneric")
            .cb(CbKind::Dataflow, block, &cores)
            .cb(CbKind::Dataflow, block, &cores)
            .cb(CbKind::Dataflow, block, &cores)
    };
    ex.b.run(p);
    Ok(out)
}

/// `TransposeHCTiledInterleavedProgramFactory`: the input tiles split over the grid
/// column-wise; one input tile buffer, plus a row of padding when the channel dim is not tile
/// aligned.
pub(in crate::exec) fn transpose_hc_program(ex: &mut Exec<'_>, x4: &TensorSpec) {
    let d = ex.device();
    let dims = x4.shape.dims();
    let ts = tile_size(x4.dtype);
    // The work is the input's tiles (N*C*Ht*Wt): a tall-C, one-tile-high input such as
    // mean's [1,68,1,1] runs on 64 cores of n150 though its output has 3 tiles (measured).
    let in_tiles = dims[0] * dims[1] * dims[2].div_ceil(TILE) * dims[3].div_ceil(TILE);
    let w = grid::split_work(d, in_tiles, false);
    let cores = grid::merge_ranges(&w.all);
    let mut p = Program::new(
        "TransposeDeviceOperation",
        "TransposeHCTiledInterleavedProgramFactory",
    )
    .cb(CbKind::Dataflow, 2 * ts, &cores);
    if !dims[1].is_multiple_of(TILE) {
        p = p.cb(
            CbKind::Dataflow,
            16 * tile_element_bytes(x4.dtype) * 16,
            &cores,
        );
    }
    ex.b.run(p);
}

/// `ttnn.permute` (permute.cpp): no-ops (`to_memory_config`), ROW_MAJOR permutes, and of TILE
/// tensors: ranks above 4 straight to the device operation; else a bfloat8_b tensor goes
/// through bfloat16 unless the permutation is WH, CN or both ([`through_bfloat16`]), then WH,
/// HC and CN are transposes and the rest the permute device operation's tiled factories.
pub(in crate::exec) fn permute(
    ex: &mut Exec<'_>,
    x: &DevTensor,
    dims: &[i64],
    mem: BufferType,
) -> Result<DevTensor, CaseError> {
    let f = "ttnn.permute";
    let rank = x.shape().rank();
    if dims.len() != rank {
        return Err(invalid(
            f,
            format!("{} dims for a rank-{rank} tensor", dims.len()),
        ));
    }
    let perm: Vec<usize> = dims
        .iter()
        .map(|&d| norm_dim(f, rank, d))
        .collect::<Result<_, _>>()?;
    let out_dims: Vec<u64> = perm.iter().map(|&p| x.dims()[p]).collect();
    let out_spec = spec_with(x, out_dims.clone())?;
    if is_permute_nop(x, &perm) {
        // `to_memory_config`: a TILE copy takes two tiles in a dataflow buffer (seen on the
        // runtime, mock p150: a [2,97,65] float32 identity permute from DRAM to L1, 8192 B).
        return Ok(if mem == x.memory {
            ex.b.share(x, out_spec)
        } else {
            move_to(ex, x, mem, RowAlign::Output, CbKind::Dataflow)?
        });
    }
    // Ranks below 4 are permuted as 4D views.
    let pad = pad_of(rank);
    let perm4: Vec<usize> = (0..pad).chain(perm.iter().map(|&p| p + pad)).collect();
    if x.layout() == Layout::RowMajor {
        // Ranks above 4 go straight to the device operation too (`permute_impl`).
        return permute_rm(ex, x, &perm4, out_spec, mem);
    }
    if perm4.len() > 4 {
        // Block floats too: the device operation permutes their tiles as they are, in each of
        // its three factories (seen on n150: [2,3,40,50,70] bfloat8_b in L1 by [4,1,2,3,0],
        // [0,1,4,2,3] and [1,0,2,4,3] take 2 × 1,088 B tile buffers).
        return permute_tiled(ex, x, &perm4, out_spec, mem);
    }
    let bfloat8_native = matches!(perm4.as_slice(), [0, 1, 3, 2] | [1, 0, 2, 3] | [1, 0, 3, 2]);
    if x.dtype() == DType::Bfloat8B && !bfloat8_native {
        return through_bfloat16(ex, x, out_spec, |ex, wide| {
            let spec = spec_with(wide, out_dims)?;
            permute_tiled_4d(ex, wide, &perm4, spec, mem)
        });
    }
    permute_tiled_4d(ex, x, &perm4, out_spec, mem)
}

/// `permute_impl` of a TILE tensor's 4D view: WH, HC and CN as transposes, the rest the
/// permute device operation.
pub(in crate::exec) fn permute_tiled_4d(
    ex: &mut Exec<'_>,
    x: &DevTensor,
    perm4: &[usize],
    out_spec: TensorSpec,
    mem: BufferType,
) -> Result<DevTensor, CaseError> {
    let x4 = spec_with(x, to_4d(x.dims()))?;
    match perm4 {
        [0, 1, 3, 2] => transpose(ex, x, -2, -1, mem),
        [0, 2, 1, 3] => {
            let out =
                ex.b.tensor("output", BufferRole::Temporary, out_spec, mem)?;
            transpose_hc_program(ex, &x4);
            Ok(out)
        }
        [1, 0, 2, 3] => {
            let out =
                ex.b.tensor("output", BufferRole::Temporary, out_spec, mem)?;
            transpose_cn_program(ex, &x4);
            Ok(out)
        }
        _ => permute_tiled(ex, x, perm4, out_spec, mem),
    }
}

/// `PermuteDeviceOperation` on an interleaved TILE tensor (of rank `perm.len()`, lower ranks as
/// 4D views): `MultiCoreTileInvariant` when the last two dims stay (or swap),
/// `MultiCoreTileRowInvariant` when one of them ends last, else `MultiCoreTiledGeneric`.
pub(in crate::exec) fn permute_tiled(
    ex: &mut Exec<'_>,
    x: &DevTensor,
    perm: &[usize],
    out_spec: TensorSpec,
    mem: BufferType,
) -> Result<DevTensor, CaseError> {
    let r = perm.len();
    let in_dims: Vec<u64> = {
        let mut d = x.dims().to_vec();
        while d.len() < r {
            d.insert(0, 1);
        }
        d
    };
    let x4 = spec_with(x, in_dims.clone())?;
    let out =
        ex.b.tensor("output", BufferRole::Temporary, out_spec, mem)?;
    let d = ex.device();
    let ts = tile_size(x.dtype());
    let o4 = {
        let od: Vec<u64> = perm.iter().map(|&p| in_dims[p]).collect();
        TensorSpec::new(Shape::from_dims(od)?, x.dtype(), x.layout())
    };
    let (last, second) = (perm[r - 1], perm[r - 2]);
    let mut p;
    if (last == r - 1 && second == r - 2) || (last == r - 2 && second == r - 1) {
        let swap_hw = last == r - 2 && second == r - 1;
        let w = grid::split_work(d, tiles(&o4), false);
        let cores = grid::merge_ranges(&w.all);
        p = Program::new("PermuteDeviceOperation", "MultiCoreTileInvariant").cb(
            CbKind::Dataflow,
            2 * ts,
            &cores,
        );
        if swap_hw {
            p = p.cb(CbKind::Dataflow, 2 * ts, &cores);
        }
    } else if last == r - 1 || last == r - 2 {
        let swap_hw = last == r - 2;
        let mut in_shape = in_dims.clone();
        let mut pdims = perm.to_vec();
        let mut padded_out: Vec<u64> =
            TensorSpec::new(o4.shape.clone(), x.dtype(), Layout::Tile).padded_dims();
        if swap_hw {
            for v in pdims.iter_mut() {
                if *v == r - 2 {
                    *v = r - 1;
                } else if *v == r - 1 {
                    *v = r - 2;
                }
            }
            in_shape.swap(r - 2, r - 1);
            padded_out.swap(r - 2, r - 1);
        }
        let num_tiles = tiles(&x4);
        let out_tiles = tiles(&o4);
        let padded_num = out_tiles / (padded_out[r - 2] / TILE).max(1);
        let cores = larger_split(d, num_tiles, padded_num);
        p = Program::new("PermuteDeviceOperation", "MultiCoreTileRowInvariant").cb(
            CbKind::Dataflow,
            2 * ts,
            &cores,
        );
        let output_h = in_shape[pdims[r - 2]];
        if !output_h.is_multiple_of(TILE) {
            p = p.cb(CbKind::Dataflow, 16 * tile_element_bytes(x.dtype()), &cores);
        }
        if swap_hw {
            p = p.cb(CbKind::Dataflow, 2 * ts, &cores);
        }
    } else {
        p = permute_tiled_generic(ex, x, &in_dims, perm, &o4)?;
    }
    ex.b.run(p);
    Ok(out)
}

/// The cores of `split_work_to_cores` over `a` units, or over `b` where that takes as many
/// cores or more (the tiled permute factories size their buffers for the larger split).
pub(in crate::exec) fn larger_split(
    d: &crate::device::DeviceSpec,
    a: u64,
    b: u64,
) -> crate::program::CoreRangeSet {
    let a1 = grid::split_work(d, a, false);
    let a2 = grid::split_work(d, b, false);
    grid::merge_ranges(&if a1.num_cores > a2.num_cores {
        a1.all
    } else {
        a2.all
    })
}

/// `MultiCoreTiledGeneric` (permute_tiled_program_factory.cpp): both tiled dims move. Blocks
/// of 32 rows along the new width X by 32 elements of W split over the grid (or the output's
/// tile rows, where more); three buffers of two output tiles, each tile widened by the input
/// buffer's alignment past a 16-element face line (`misalignment`: 32 B for bfloat16 read
/// from p150's 64 B-aligned DRAM, seen on the runtime), and a face line of padding when the
/// new height Y is not tile aligned.
pub(in crate::exec) fn permute_tiled_generic(
    ex: &Exec<'_>,
    x: &DevTensor,
    in_dims: &[u64],
    perm: &[usize],
    out: &TensorSpec,
) -> Result<Program, CaseError> {
    let d = ex.device();
    let r = perm.len();
    let (x_dim, y_dim) = (perm[r - 1], perm[r - 2]);
    let round = |v: u64| v.div_ceil(TILE) * TILE;
    let mut volume = crate::size::mul(
        round(in_dims[x_dim]),
        round(in_dims[r - 1]),
        "permute blocks",
    )?;
    for (i, &v) in in_dims.iter().enumerate().take(r - 1) {
        if i != x_dim {
            volume = crate::size::mul(volume, v, "permute blocks")?;
        }
    }
    let xw_blocks = volume / (TILE * TILE);
    let out_padded = out.padded_dims();
    let padded_num = tiles(out) / (out_padded[r - 2] / TILE).max(1);
    let cores = larger_split(d, xw_blocks, padded_num);
    let face_line = 16 * tile_element_bytes(x.dtype());
    let misalignment = d.alignment(x.memory).saturating_sub(face_line);
    let page = tile_size(x.dtype()) + misalignment;
    let mut p = Program::new("PermuteDeviceOperation", "MultiCoreTiledGeneric")
        .cb(CbKind::Dataflow, 2 * page, &cores)
        .cb(CbKind::Dataflow, 2 * page, &cores)
        .cb(CbKind::Dataflow, 2 * page, &cores);
    if !in_dims[y_dim].is_multiple_of(TILE) {
        p = p.cb(CbKind::Dataflow, face_line, &cores);
    }
    Ok(p)
}

/// `is_permute_nop` (permute.cpp).
pub(in crate::exec) fn is_permute_nop(x: &DevTensor, perm: &[usize]) -> bool {
    let rank = perm.len();
    if rank <= 1 || perm.iter().enumerate().all(|(i, &p)| i == p) {
        return true;
    }
    match x.layout() {
        Layout::Tile if perm[rank - 1] != rank - 1 || perm[rank - 2] != rank - 2 => return false,
        Layout::RowMajor if perm[rank - 1] != rank - 1 => return false,
        _ => {}
    }
    let shape = x.dims();
    if perm.iter().enumerate().any(|(i, &p)| shape[p] != shape[i]) {
        return false;
    }
    !perm
        .iter()
        .enumerate()
        .any(|(i, &p)| i != p && shape[i] > 1)
}
