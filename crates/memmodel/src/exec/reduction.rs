//! Normalizations and reductions: softmax, mean, sum, topk.

use super::grid;
use super::util::{out_memory, tile_size};
use super::{unmodeled, Args, Exec, Val};
use crate::device::{Arch, BufferType};
use crate::dtype::DType;
use crate::error::CaseError;
use crate::layout::Layout;
use crate::plan::BufferRole;
use crate::plan::DevTensor;
use crate::program::{Cb, CbKind, CoreRange, CoreRangeSet, Program};
use crate::shape::Shape;
use crate::tensor::{TensorSpec, TILE};

pub(super) fn call(ex: &mut Exec<'_>, name: &str, a: &Args<'_>) -> Result<Option<Val>, CaseError> {
    Ok(Some(match name {
        "softmax" => softmax(ex, a)?,
        "topk" => topk(ex, a)?,
        "mean" => mean(ex, a)?,
        "sum" => sum(ex, a)?,
        _ => return Ok(None),
    }))
}

/// `find_max_divisor(val, start)` (work_split.cpp): the largest divisor ≤ start, skipping 5
/// and 7.
pub(super) fn find_max_divisor(val: u64, start: u64) -> u64 {
    (1..=start)
        .rev()
        .find(|&d| d != 5 && d != 7 && val.is_multiple_of(d))
        .unwrap_or(1)
}

/// `ttnn.softmax` over the last dim: `SoftmaxProgramFactoryAttentionOptimized`.
///
/// Buffers, in creation order (sizes read from the pinned runtime's captures; the factory of
/// ttnn 0.81.1 is not the one of tt-metal's current tree): the input (the whole row rounded to
/// blocks, or 2 blocks when the row is padded), the output (2 blocks), an fp32 reduction tile, the
/// bf16 scaler, an fp32 tile, the exps (the row rounded to blocks), two single tiles, and for a
/// padded row a pad mask the size of the exps. The block is the largest divisor of Wt up to 4 for short rows and 4
/// (with padding to whole blocks) for rows longer than 8 tiles. Rows whose buffers the factory
/// estimates above 90 % of L1 take the large-tensor kernel with 80-tile input and exps buffers.
/// The buffers live on the cores `split_work_to_cores` gives the tile rows (row-wise).
///
/// Which program runs follows `softmax()` of the pinned runtime: up to rank 4 the input is
/// viewed as 4-D and the dim taken there (`dim + 4` for a negative dim, `dim + 4 - rank` for a
/// positive one); only when that 4-D dim equals `rank - 1` is the input formatted (a ROW_MAJOR
/// one tilized into a temporary in its own memory: rank 4 over the last dim, rank 3 over the
/// second-to-last). The 4-D dim then picks the factory: the last takes this one, the others
/// [`softmax_general`]. Any other ROW_MAJOR input is refused by the device operation
/// (coverage.rs).
fn softmax(ex: &mut Exec<'_>, a: &Args<'_>) -> Result<Val, CaseError> {
    let input = a.tensor(0, "input_tensor")?;
    let dim = a.int(1, "dim")?.unwrap_or(-1);
    let rank = input.shape().rank() as i64;
    let d = ex.device();
    let mem = out_memory(a, input.memory)?;
    if rank > 4 {
        return Err(unmodeled(
            a.function,
            "a softmax of a tensor above rank 4 (the general factories on its own rank)",
        ));
    }
    let dim_4d = if dim < 0 { dim + 4 } else { dim + 4 - rank };
    let formatted = dim_4d == rank - 1 && input.layout() == Layout::RowMajor;
    let x = if formatted {
        super::data_movement::tilize(ex, input, input.memory)?
    } else {
        input.clone()
    };
    let out =
        ex.b.tensor("output", BufferRole::Temporary, x.spec.clone(), mem)?;
    if dim_4d != 3 {
        let dim_4d = usize::try_from(dim_4d)
            .map_err(|_| unmodeled(a.function, "a dim outside the tensor"))?;
        let p = softmax_general(d, &x, dim_4d)?;
        ex.b.run(p);
        if formatted {
            ex.b.release(x);
        }
        return Ok(Val::T(out));
    }
    let w = *x.dims().last().unwrap_or(&1);
    let wt = w.div_ceil(TILE);
    let padded = w % TILE != 0;
    let t_in = tile_size(x.dtype());
    let t_out = t_in;
    let (t_fp32, t_bf16) = (4096, 2048);
    // The exps, the pad mask and the single-tile intermediates are held in the accumulation
    // format: bfloat16, fp32 for fp32 inputs (`im_cb_data_format`; a bfloat8_b row takes
    // 2,048 B tiles there on the runtime); the scaler stays bfloat16.
    let t_im = if x.dtype() == DType::Float32 {
        t_fp32
    } else {
        t_bf16
    };
    // Up to 9 tiles the block divides the row, unless only 1 does (then 4, the row padded to
    // whole blocks): rows of 5 and 9 tiles on the runtime, found by the random differential;
    // the calibrated rows of 10 tiles and more take 4.
    let divisor = find_max_divisor(wt, 4);
    let block = if wt <= 9 && (divisor > 1 || wt <= 4) {
        divisor
    } else {
        4
    };
    let row = wt.div_ceil(block) * block;
    let in0 = if padded { 2 * block } else { row };
    // A padded row's mask counts too (seen on the runtime: rows of 12,840 and 20,978 take the
    // large-tensor kernel, found by the random differential).
    let cbs = |a: u64, b: u64| crate::size::add(a, b, "softmax CB estimate");
    let tiles_bytes = |n: u64| crate::size::mul(n, t_in, "softmax CB estimate");
    let im_bytes = |n: u64| crate::size::mul(n, t_im, "softmax CB estimate");
    let mask = if padded { im_bytes(row)? } else { 0 };
    let estimate = cbs(
        cbs(cbs(tiles_bytes(in0)?, im_bytes(row)?)?, mask)?,
        2 * block * t_out + 5 * t_bf16,
    )?;
    let large = estimate.saturating_mul(10) > d.l1_bytes_per_core * 9;
    let mut p = Program::new(
        "SoftmaxDeviceOperation",
        "SoftmaxProgramFactoryAttentionOptimized",
    );
    let tile_rows =
        crate::tensor::TensorSpec::new(x.shape().clone(), x.dtype(), crate::layout::Layout::Tile)
            .pages()?
            / wt.max(1);
    let cores = grid::merge_ranges(&grid::split_work(d, tile_rows, true).all);
    if large {
        for size in [
            80 * t_in,
            2 * 4 * t_out,
            t_fp32,
            t_fp32,
            t_bf16,
            t_fp32,
            t_im,
            t_fp32,
            80 * t_im,
            t_im,
            t_im,
        ] {
            p = p.cb(CbKind::Dataflow, size, &cores);
        }
        // The large-tensor kernel's mask buffer exists for unpadded rows too (a 55,456-wide
        // row on the runtime).
        p = p.cb(CbKind::Dataflow, 80 * t_im, &cores);
    } else {
        for size in [
            in0 * t_in,
            2 * block * t_out,
            t_fp32,
            t_bf16,
            t_fp32,
            row * t_im,
            t_im,
            t_im,
        ] {
            p = p.cb(CbKind::Dataflow, size, &cores);
        }
        if padded {
            p = p.cb(CbKind::Dataflow, row * t_im, &cores);
        }
    }
    ex.b.run(p);
    if formatted {
        ex.b.release(x);
    }
    Ok(Val::T(out))
}

/// `ttnn.softmax` over a dim other than the last: the general factories of
/// `SoftmaxDeviceOperation` (ttnn 0.81.1; the moreh softmax kernels). The second-to-last dim
/// takes `GeneralHSmall` (a whole tile column held in L1) when its estimate fits under 512 KiB
/// above the allocator's L1 base, else `GeneralHLarge`; lower dims take `GeneralCLarge`. Their
/// work units (tile columns for H; the tiles outside the softmax dim for C) are split over the
/// grid column-wise (`split_work_to_cores_wt_core_range`). Buffer sizes read from the pinned
/// runtime's captures: the intermediates are float32 tiles (fp32 dest accumulation is on by
/// default); the mask and scalers take the float32 tile for a float32 input, else bfloat16's.
fn softmax_general(
    d: &crate::device::DeviceSpec,
    x: &DevTensor,
    dim: usize,
) -> Result<Program, CaseError> {
    let err = |_| {
        unmodeled(
            "ttnn.softmax",
            "a tensor too large for the softmax work split",
        )
    };
    // The 4-D view: leading 1s for a lower rank.
    let padded = x.spec.padded_dims();
    let mut dims = vec![1u64; 4usize.saturating_sub(padded.len())];
    dims.extend_from_slice(&padded);
    let rank = dims.len();
    let (h, w) = (dims[rank - 2], dims[rank - 1]);
    let (ht, wt) = (h / TILE, w / TILE);
    let volume = dims
        .iter()
        .try_fold(1u64, |acc, &v| acc.checked_mul(v))
        .ok_or_else(|| unmodeled("ttnn.softmax", "a tensor too large to plan"))?;
    let t_in = tile_size(x.dtype());
    let t_im = 4096;
    let t_small = if x.dtype() == DType::Float32 {
        4096
    } else {
        2048
    };
    let tiles = |n: u64, t: u64| crate::size::mul(n, t, "softmax CB size");
    let (factory, units, sizes) = if dim + 2 == rank {
        // `is_softmax_general_h_small_available`: its own estimate (not the buffers it makes).
        let estimate = crate::size::add(
            crate::size::mul(
                2,
                crate::size::add(tiles(ht, t_in)?, tiles(ht, t_im)?, "softmax CB size")?,
                "softmax CB size",
            )?,
            2 * t_in + 3 * t_im,
            "softmax CB size",
        )?;
        let units = volume / h / w * wt;
        if d.l1_unreserved_base.saturating_add(estimate) <= 512 * 1024 {
            let sizes = vec![
                tiles(ht, t_in)?,
                t_small,
                t_small,
                t_small,
                tiles(ht, t_in)?,
                tiles(ht, t_im)?,
                t_im,
                t_im,
                tiles(ht, t_im)?,
                t_im,
            ];
            ("SoftmaxProgramFactoryGeneralHSmall", units, sizes)
        } else {
            let sizes = vec![
                2 * t_in,
                t_small,
                t_small,
                t_small,
                2 * t_in,
                2 * t_im,
                t_im,
                t_im,
                t_im,
                t_im,
            ];
            ("SoftmaxProgramFactoryGeneralHLarge", units, sizes)
        }
    } else {
        let units = volume / dims[dim] / h / w * ht * wt;
        let sizes = vec![2 * t_in, 2 * t_in, t_im, t_im, 2 * t_im, t_in, t_im];
        ("SoftmaxProgramFactoryGeneralCLarge", units, sizes)
    };
    u32::try_from(units).map_err(err)?;
    let cores = grid::merge_ranges(&grid::split_work(d, units, false).all);
    let mut p = Program::new("SoftmaxDeviceOperation", factory);
    for size in sizes {
        p = p.cb(CbKind::Dataflow, size, &cores);
    }
    Ok(p)
}

/// A view of `x` with other dims (same buffer).
fn view(ex: &mut Exec<'_>, x: &DevTensor, dims: Vec<u64>) -> Result<DevTensor, CaseError> {
    let spec = TensorSpec::new(Shape::from_dims(dims)?, x.dtype(), x.layout());
    Ok(ex.b.share(x, spec))
}

/// Whether a TILE tensor's last two logical dims leave tile padding.
fn has_implicit_padding(x: &DevTensor) -> bool {
    let d = x.dims();
    let n = d.len();
    // A 1D tensor is one padded row of tiles.
    x.layout() == Layout::Tile
        && (n < 2 || !d[n - 1].is_multiple_of(TILE) || !d[n - 2].is_multiple_of(TILE))
}

/// `ttnn.fill_implicit_tile_padding`: `FillPadProgramFactory` writes the pad value into the tile
/// padding in place (no buffer). Its work is the border tiles (right column, bottom row,
/// corner, per batch of the leading dims), split over the grid column-wise; buffers: the input
/// (2 tiles), a right mask and a bottom mask (1 tile each, when that side is padded) and the
/// output (2 tiles).
pub(super) fn fill_pad(ex: &mut Exec<'_>, x: &DevTensor) {
    if !has_implicit_padding(x) {
        return;
    }
    let d = x.dims();
    let n = d.len();
    // A rank-0 tensor (a reshape to `[]`) has no tile border to fill (found by the fuzzer).
    let Some(&w) = d.last() else {
        return;
    };
    let h = if n >= 2 { d[n - 2] } else { 1 };
    let slices: u64 = if n > 2 {
        d[..n - 2].iter().product()
    } else {
        1
    };
    let (ht, wt) = (h.div_ceil(TILE), w.div_ceil(TILE));
    let right = w % TILE != 0;
    let bottom = h % TILE != 0;
    let t_right = if right {
        slices * if bottom { ht - 1 } else { ht }
    } else {
        0
    };
    let t_bottom = if bottom {
        slices * if right { wt - 1 } else { wt }
    } else {
        0
    };
    let t_corner = if right && bottom { slices } else { 0 };
    let split = grid::split_work(ex.device(), t_right + t_bottom + t_corner, false);
    // The column-wise split's ranges as the program's CoreRangeSet merges them: row strips
    // (seen on the runtime, n150 [40,1030]: {[0-0 - 4-1], [0-2 - 3-7]}, not the split's
    // {[0-0 - 3-7], [4-0 - 4-1]}; the same cores).
    let cores = grid::merge_ranges(&split.all);
    let t = tile_size(x.dtype());
    let mut p = Program::new("FillPadDeviceOperation", "FillPadProgramFactory").cb(
        CbKind::Dataflow,
        2 * t,
        &cores,
    );
    if right {
        p = p.cb(CbKind::Dataflow, t, &cores);
    }
    if bottom {
        p = p.cb(CbKind::Dataflow, t, &cores);
    }
    p = p.cb(CbKind::Dataflow, 2 * t, &cores);
    ex.b.run(p);
}

/// [`fill_pad`] as `fill_implicit_tile_padding` runs it on a padded bfloat8_b tensor: typecast
/// to a bfloat16 copy (in the input's memory), the pad filled there, typecast back into a new
/// bfloat8_b tensor while the bfloat16 one is alive (measured: topk's per-core L1 peak holds
/// the input, the bfloat16 copy and the bfloat8_b copy). The new tensor is returned; the
/// caller computes on it. Other tensors are filled in place (`None`).
fn fill_pad_copying_block_floats(
    ex: &mut Exec<'_>,
    x: &DevTensor,
) -> Result<Option<DevTensor>, CaseError> {
    if x.dtype() != DType::Bfloat8B || !has_implicit_padding(x) {
        fill_pad(ex, x);
        return Ok(None);
    }
    let wide = TensorSpec::new(x.shape().clone(), DType::Bfloat16, x.layout());
    let wide =
        ex.b.tensor("typecast", BufferRole::Temporary, wide, x.memory)?;
    typecast_program(ex, x, &wide);
    fill_pad(ex, &wide);
    let back =
        ex.b.tensor("typecast", BufferRole::Temporary, x.spec.clone(), x.memory)?;
    typecast_program(ex, &wide, &back);
    ex.b.release(wide);
    Ok(Some(back))
}

/// `TypecastProgramFactory` on interleaved tiles: two tiles of the input's and of the output's
/// format on the cores the tiles split over.
pub(super) fn typecast_program(ex: &mut Exec<'_>, from: &DevTensor, to: &DevTensor) {
    let split = grid::split_work(ex.device(), super::util::tiles(&from.spec), false);
    let cores = grid::merge_ranges(&split.all);
    ex.b.run(
        Program::new("TypecastDeviceOperation", "TypecastProgramFactory")
            .cb(CbKind::Dataflow, 2 * tile_size(from.dtype()), &cores)
            .cb(CbKind::Dataflow, 2 * tile_size(to.dtype()), &cores),
    );
}

/// The pad program of `ttnn.pad` on a TILE tensor's last dim up to `w` (its tile padding
/// already filled): `PadTileMulticoreProgramFactory` (output tiles split over the grid
/// column-wise) or, single-core, `PadTileCoreProgramFactory`; each has a 2-tile dataflow
/// buffer and a one-tile scratchpad.
fn pad_tiles(
    ex: &mut Exec<'_>,
    x: &DevTensor,
    w: u64,
    multicore: bool,
) -> Result<DevTensor, CaseError> {
    let mut dims = x.dims().to_vec();
    *dims.last_mut().expect("4D") = w;
    let spec = TensorSpec::new(Shape::from_dims(dims)?, x.dtype(), x.layout());
    let out =
        ex.b.tensor("padded", BufferRole::Temporary, spec.clone(), x.memory)?;
    let t = tile_size(x.dtype());
    let (factory, cores) = if multicore {
        (
            "PadTileMulticoreProgramFactory",
            grid::split_work(ex.device(), spec.pages()?, false).all,
        )
    } else {
        (
            "PadTileCoreProgramFactory",
            crate::program::CoreRangeSet::one(crate::program::CoreRange::new(0, 0, 0, 0)),
        )
    };
    let mut p = Program::new("PadDeviceOperation", factory).cb(CbKind::Dataflow, 2 * t, &cores);
    p.push(Cb::new(CbKind::Scratchpad, t, cores));
    ex.b.run(p);
    Ok(out)
}

/// topk's `ttnn.pad` of a 4D TILE row under 64 wide to 64: the input's tile padding is filled
/// first (through a bfloat16 copy for a block float), then only a row of one tile is padded (by
/// a program; a block float through bfloat16 copies, single-core); a wider one keeps its tiles
/// and is seen 64 wide (measured on n150: [4,224,40] no pad program, [4,224,20] and a
/// transposed [320,224,4] one; [3,555,54] filled again by topk since its height is padded).
/// Returns the padded tensor (a view of the input, or of its filled copy, when no program ran)
/// and the filled block-float copy that lives as long as that view.
fn pad_to_min_width(
    ex: &mut Exec<'_>,
    x: &DevTensor,
) -> Result<(Option<DevTensor>, Option<DevTensor>), CaseError> {
    let mut dims = x.dims().to_vec();
    *dims.last_mut().expect("4D") = 64;
    let filled = fill_pad_copying_block_floats(ex, x)?;
    let src = filled.as_ref().unwrap_or(x);
    if x.dims()[3].div_ceil(TILE) * TILE >= 64 {
        return Ok((Some(view(ex, src, dims)?), filled));
    }
    if !x.dtype().is_block_float() {
        let multicore = x.dtype() == DType::Bfloat16 && x.memory != BufferType::L1;
        return Ok((Some(pad_tiles(ex, x, 64, multicore)?), None));
    }
    let wide_spec = TensorSpec::new(src.shape().clone(), DType::Bfloat16, Layout::Tile);
    let wide =
        ex.b.tensor("typecast", BufferRole::Temporary, wide_spec, src.memory)?;
    typecast_program(ex, src, &wide);
    let padded_wide = pad_tiles(ex, &wide, 64, false)?;
    let back_spec = TensorSpec::new(padded_wide.shape().clone(), x.dtype(), Layout::Tile);
    let back =
        ex.b.tensor("typecast", BufferRole::Temporary, back_spec, src.memory)?;
    typecast_program(ex, &padded_wide, &back);
    ex.b.release(padded_wide);
    ex.b.release(wide);
    if let Some(f) = filled {
        ex.b.release(f);
    }
    Ok((Some(back), None))
}

/// `ttnn.topk(x, k, dim=-1, largest, sorted, memory_config)` (reduction/topk/topk.cpp of the
/// pinned runtime): the input is viewed as 4D; on Blackhole a bfloat16 reduction wider than
/// 4096 columns that the multi-core bitonic sort cannot take goes the "large indices" route
/// (`should_route_to_topk_large_indices`); otherwise a last dim under 64 is padded to 64, the
/// tile padding is filled, and `TopKSingleCoreProgramFactory` writes values and indices
/// (UINT16 up to 65535 columns); the route rounds K up to 16 and slices back down, and a 1D
/// input's outputs are sliced before the reshape back to 1D. The padded copy lives until the
/// call returns.
fn topk(ex: &mut Exec<'_>, a: &Args<'_>) -> Result<Val, CaseError> {
    let x = a.tensor(0, "input_tensor")?;
    let k = a
        .int(1, "k")?
        .ok_or_else(|| super::invalid(a.function, "`k` is required"))?;
    let rank = x.shape().rank();
    let dim = a.int(2, "dim")?.unwrap_or(-1);
    let along = usize::try_from(if dim < 0 { dim + rank as i64 } else { dim })
        .ok()
        .filter(|&i| i < rank)
        .ok_or_else(|| super::invalid(a.function, format!("dim {dim} out of range")))?;
    if rank > 4 {
        return Err(unmodeled(a.function, "memmodel models topk up to rank 4"));
    }
    let largest = a.bool_or(3, "largest", true)?;
    let w = x.dims()[along];
    let k = u64::try_from(k)
        .ok()
        .filter(|k| (1..=w).contains(k))
        .ok_or_else(|| {
            super::invalid(
                a.function,
                format!("k {k} must be in 1..={w} (the size of dim {dim})"),
            )
        })?;
    let mem = out_memory(a, x.memory)?;
    if x.layout() != Layout::Tile {
        return topk_row_major(ex, a, x, along, k, mem);
    }
    if along + 1 == rank {
        let (values, indices, keep) = topk_last_dim(ex, x, k, largest, mem, false)?;
        for p in keep {
            ex.b.release(p);
        }
        return Ok(Val::List(vec![Val::T(values), Val::T(indices)]));
    }
    // Another dim: transposed to the last (in the input's memory), the top k taken there, both
    // outputs sliced and transposed back into the input's memory whatever `memory_config` says
    // (`post_topk_transform_tensor` transposes into the transposed tensor's memory; measured on
    // n150: [3,54,555] along dim -2 from L1 into DRAM returns L1 outputs). The transposed copy
    // lives until the call returns. A block float's transposes run through bfloat16 copies
    // ([`super::data_movement::transpose`]).
    let last = rank as i64 - 1;
    // A transpose memmodel does not plan leaves the call unmodeled, named as topk's.
    let as_topk = |e: CaseError| {
        if super::is_unmodeled(&e) {
            unmodeled(a.function, format!("topk along dim {dim}: {e}"))
        } else {
            e
        }
    };
    let t =
        super::data_movement::transpose(ex, x, along as i64, last, x.memory).map_err(as_topk)?;
    let (values, indices, keep) = topk_last_dim(ex, &t, k, largest, mem, true)?;
    let mut outs = Vec::with_capacity(2);
    for o in [values, indices] {
        let back = super::data_movement::transpose(ex, &o, along as i64, last, x.memory)
            .map_err(as_topk)?;
        ex.b.release(o);
        outs.push(Val::T(back));
    }
    for p in keep {
        ex.b.release(p);
    }
    ex.b.release(t);
    Ok(Val::List(outs))
}

/// `ttnn.pad` of a ROW_MAJOR interleaved tensor's last dim up to `w` (pad/device of the pinned
/// runtime). Single-core, `PadRmReaderWriterProgramFactory` on core (0,0): up to 16 padded rows
/// in its dataflow buffer, and a 32-element bfloat16 pad-value tensor in L1 that the cached
/// program keeps (seen on n150: 64 B of L1 held by the program cache after the call). Multi-core,
/// `PadRmReaderWriterMultiCoreDefaultProgramFactory` over the rows: 2 KiB barriers of rows, up to
/// 16 of them, and a one-row scratchpad (a second when the row is not DRAM-aligned).
fn pad_row_major_last_dim(
    ex: &mut Exec<'_>,
    x: &DevTensor,
    w: u64,
    multicore: bool,
) -> Result<DevTensor, CaseError> {
    let mut dims = x.dims().to_vec();
    *dims.last_mut().expect("rank >= 1") = w;
    let spec = TensorSpec::new(Shape::from_dims(dims.clone())?, x.dtype(), Layout::RowMajor);
    let out =
        ex.b.tensor("padded", BufferRole::Temporary, spec, x.memory)?;
    let d = ex.device();
    let row = w
        .checked_mul(x.dtype().row_major_element_bytes())
        .ok_or_else(|| unmodeled("ttnn.topk", "a padded row's size overflows"))?;
    // Half the core's L1 above the allocator base bounds the buffering (a row of `w` elements
    // always fits: topk pads to 64).
    let l1_budget = (d.l1_bytes_per_core / 2)
        .saturating_sub(d.l1_unreserved_base)
        .max(1);
    if multicore {
        run_pad_row_major_multicore(ex, x.dtype(), &dims, "ttnn.topk")?;
    } else {
        let page = row.next_multiple_of(d.alignment(x.memory).max(TILE)).max(1);
        // The pad-value tensor is made when the program is, before it runs.
        let pad_value = TensorSpec::new(
            Shape::from_dims(vec![1, 1, 1, 32])?,
            DType::Bfloat16,
            Layout::RowMajor,
        );
        let pad_value = ex.b.tensor(
            "pad value",
            BufferRole::Temporary,
            pad_value,
            BufferType::L1,
        )?;
        let core = CoreRangeSet::one(CoreRange::new(0, 0, 0, 0));
        let depth = (l1_budget / page).clamp(1, 16);
        ex.b.run(
            Program::new("PadDeviceOperation", "PadRmReaderWriterProgramFactory").cb(
                CbKind::Dataflow,
                depth * page,
                &core,
            ),
        );
        ex.b.mark_program_cached_by(&pad_value, pad_program_key(x, w));
        ex.b.release(pad_value);
    }
    Ok(out)
}

/// `PadRmReaderWriterMultiCoreDefaultProgramFactory` (pad/device of the pinned runtime) padding a
/// ROW_MAJOR interleaved tensor of `dtype` to `out_dims`, no front padding on the last dim: the
/// output's rows (all dims but the last) split over the grid, 2 KiB barriers of padded rows, up
/// to 16 of them within half the core's L1 above the allocator base, and a one-row scratchpad (a
/// second when the row is not DRAM-aligned). The caller allocates the output.
pub(super) fn run_pad_row_major_multicore(
    ex: &mut Exec<'_>,
    dtype: DType,
    out_dims: &[u64],
    op: &str,
) -> Result<(), CaseError> {
    let d = ex.device();
    let (last, rows) = out_dims
        .split_last()
        .ok_or_else(|| unmodeled(op, "a pad of a rank-0 tensor"))?;
    let row = last
        .checked_mul(dtype.row_major_element_bytes())
        .ok_or_else(|| unmodeled(op, "a padded row's size overflows"))?;
    let row_l1 = crate::size::round_up(row, d.l1_alignment, "padded row")?;
    let row_dram = crate::size::round_up(row, d.dram_alignment, "padded row")?;
    let l1_budget = (d.l1_bytes_per_core / 2).saturating_sub(d.l1_unreserved_base);
    let per_barrier = 2048u64.div_ceil(row_l1.max(1)).max(1);
    let barrier = crate::size::mul(per_barrier, row_l1, "pad barrier")?.max(1);
    if barrier > l1_budget {
        return Err(unmodeled(
            op,
            format!("ttnn.pad: padded row of {row_l1} B does not fit in the per-core L1 budget ({l1_budget} B)"),
        ));
    }
    let depth = (l1_budget / barrier).clamp(1, 16);
    let rows = crate::size::product(rows.iter().copied(), "padded rows")?;
    let cores = grid::split_work(d, rows, false).all;
    let mut p = Program::new(
        "PadDeviceOperation",
        "PadRmReaderWriterMultiCoreDefaultProgramFactory",
    )
    .cb(
        CbKind::Dataflow,
        crate::size::mul(depth, barrier, "pad CB")?,
        &cores,
    );
    p.push(Cb::new(CbKind::Scratchpad, row_dram, cores.clone()));
    if !row_l1.is_multiple_of(d.dram_alignment) {
        p.push(Cb::new(CbKind::Scratchpad, row_dram, cores));
    }
    ex.b.run(p);
    Ok(())
}

/// The single-core ROW_MAJOR pad's program hash: the input's spec and memory and the width.
fn pad_program_key(x: &DevTensor, w: u64) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (
        "PadRmReaderWriterProgramFactory",
        x.dims(),
        x.dtype(),
        x.memory,
        w,
    )
        .hash(&mut h);
    h.finish()
}

/// A ROW_MAJOR topk: the runtime refuses it, where depends on the tensor (seen on the mock
/// n150). Along the last dim, a tensor whose last two dims are not whole tiles stops at
/// `fill_implicit_tile_padding` (FillPad takes TILE only, nothing allocated); one that is
/// allocates both TILE outputs, then `TopKDeviceOperation` refuses its layout. Other dims
/// (transposed first) takes the same steps; a row under 64 is padded to 64 first
/// ([`pad_row_major_last_dim`]). Blackhole's route is not taken.
fn topk_row_major(
    ex: &mut Exec<'_>,
    a: &Args<'_>,
    x: &DevTensor,
    along: usize,
    k: u64,
    mem: BufferType,
) -> Result<Val, CaseError> {
    let rank = x.dims().len();
    // Another dim is transposed to the last first (in the input's memory), as for TILE.
    let transposed = if along + 1 != rank {
        let t = super::data_movement::transpose(ex, x, along as i64, rank as i64 - 1, x.memory)
            .map_err(|e| {
                if super::is_unmodeled(&e) {
                    unmodeled(a.function, format!("topk along dim {along}: {e}"))
                } else {
                    e
                }
            })?;
        Some(t)
    } else {
        None
    };
    let x = transposed.as_ref().unwrap_or(x);
    let dims = x.dims();
    let w = dims[rank - 1];
    a.bool_or(3, "largest", true)?;
    let h = if rank >= 2 { dims[rank - 2] } else { 1 };
    // A short row is padded to 64 before any fill (seen on the runtime, n150: [2,3,64,40]
    // reaches the TopK device operation, [1,1,50,40] stops at FillPad after the pad); the
    // padded copy lives until the call returns.
    let padded = if w < 64 {
        let multicore = x.dtype() == DType::Bfloat16 && x.memory != BufferType::L1;
        Some(pad_row_major_last_dim(ex, x, 64, multicore)?)
    } else {
        None
    };
    let x = padded.as_ref().unwrap_or(x);
    let dims = x.dims();
    let w = dims[rank - 1];
    // The tile padding is filled before Blackhole's route (seen on p150: [1,1,40,4100],
    // [1,1,64,4100], [1,1,40,4096] and [2,1,50,8200] with k = 100 stop at FillPad).
    if !w.is_multiple_of(TILE) || !h.is_multiple_of(TILE) {
        ex.b.run(
            Program::new("FillPadDeviceOperation", "FillPadProgramFactory")
                .refused(String::from("FillPad should only be used for tile layout")),
        );
        return Ok(Val::List(Vec::new()));
    }
    // Blackhole's route takes TILE inputs only: a ROW_MAJOR one of whole tiles reaches the TopK
    // device operation as on Wormhole (measured on p150: [32768,8192] k = 2048 from DRAM into
    // L1 allocates the bfloat16 values, then runs out of L1 at the uint16 indices).
    let mut out_dims = dims.to_vec();
    out_dims[rank - 1] = k;
    let index_dtype = if w <= 65535 && x.dtype() != DType::Float32 {
        DType::Uint16
    } else {
        DType::Uint32
    };
    let mut outs = Vec::with_capacity(2);
    for (name, dtype) in [("values", x.dtype()), ("indices", index_dtype)] {
        let spec = TensorSpec::new(Shape::from_dims(out_dims.clone())?, dtype, Layout::Tile);
        outs.push(Val::T(ex.b.tensor(
            name,
            BufferRole::Temporary,
            spec,
            mem,
        )?));
    }
    ex.b.run(
        Program::new("TopKDeviceOperation", "TopKSingleCoreProgramFactory")
            .refused(String::from("The input must be in tiled format")),
    );
    Ok(Val::List(outs))
}

/// Whether a topk along the caller's last dim (width `w`) takes Blackhole's route (prep,
/// large indices, finish) instead of the TopK device operation. Only a reduction along the
/// caller's last dim routes (measured on p150: a transposed [1802,6904] took the single-core
/// factory).
fn topk_routes(arch: Arch, dtype: DType, w: u64, k: u64, largest: bool) -> bool {
    let padded_w = w.div_ceil(TILE) * TILE;
    let k16 = k.div_ceil(16) * 16;
    // Multi-core bitonic sort: a power-of-two width of at least 8192 (multi_core_min_width)
    // below 65535 with k <= 64 (its cost check aside).
    let multicore_eligible = padded_w.is_power_of_two() && (8192..65535).contains(&padded_w);
    largest
        && k <= 2048
        && (k > 64 || (!multicore_eligible && padded_w >= 4096))
        && dtype == DType::Bfloat16
        && arch == Arch::Blackhole
        && w >= k16
        && w <= 1 << 19
}

/// The multi-core sort's split (`find_topk_core_config` of the runtime): `local` cores of
/// `wt_local` width tiles each in an `x` by `y` block from (0,0), their top k gathered on the
/// final core (0,`y`) into `wt_final` tiles.
struct TopkMultiCore {
    x: u32,
    y: u32,
    wt_local: u64,
    wt_final: u64,
}

/// Every power-of-two split of the padded width `w` from the width over the largest power of
/// two of cores up to half the width; a valid one divides the width over more than one core in
/// a whole block of the grid, leaves each core 64 or more elements, and fits its buffers in L1;
/// the one of least `7 * wt_local + 2 * wt_final` wins (the first on a tie). `k` is rounded to
/// whole tiles. The grid's block search keeps the last match, the one of fewest rows.
fn topk_multi_core_config(
    d: &crate::device::DeviceSpec,
    w: u64,
    k: u64,
    t_value: u64,
    t_index: u64,
) -> Option<TopkMultiCore> {
    // The runtime's grid extents are end minus start of the grid's range (one short), less a
    // row for the final core.
    let max_x = u64::from(d.grid_x).checked_sub(1)?;
    let max_y = u64::from(d.grid_y).checked_sub(2)?;
    let max_cores = max_x * max_y;
    if max_cores == 0 {
        return None;
    }
    let pow2_cores = 1u64 << (63 - max_cores.leading_zeros());
    let t_transposed = t_value.max(2048);
    // A width under a tile per core starts at the least split a core takes (measured on p150:
    // [32,1024] splits 128 wide over 8 cores).
    let mut split = ((w / TILE / pow2_cores) * TILE).max(64);
    let mut best: Option<(u64, TopkMultiCore)> = None;
    while split != 0 && split <= w / 2 {
        let rem = w % split;
        let cores = w / split + u64::from(rem > 0);
        let wt_final = cores * k.max(TILE) / TILE;
        let wt_local = split / TILE;
        let shared = 4 * (t_value + t_index) + wt_final * (t_transposed + t_index) + 2 * t_index;
        let final_cost = shared + 2 * t_value + wt_final * (t_transposed + t_index);
        let local_cost = shared + wt_local * (t_transposed + t_index) + 2 * t_transposed;
        if cores <= max_cores {
            let mut block = None;
            for y in (1..=max_y).rev() {
                if let Some(x) = (1..=max_x).rev().find(|x| x * y == cores) {
                    block = Some((x, y));
                }
            }
            if let Some((x, y)) = block.filter(|_| {
                final_cost.max(local_cost) < d.l1_bytes_per_core
                    && cores > 1
                    && split >= 64
                    && rem == 0
            }) {
                let score = 7 * wt_local + 2 * wt_final;
                if best.as_ref().is_none_or(|(s, _)| score < *s) {
                    best = Some((
                        score,
                        TopkMultiCore {
                            x: u32::try_from(x).ok()?,
                            y: u32::try_from(y).ok()?,
                            wt_local,
                            wt_final,
                        },
                    ));
                }
            }
        }
        split *= 2;
    }
    best.map(|(_, c)| c)
}

/// `TopKMultiCoreProgramFactory`'s circular buffers (measured on n150: [64,2048] in bfloat16,
/// float32 and bfloat8_b): input values and indices (4 tiles each), the gathered values and
/// indices and a 2-tile local index output on every core; the transposed values and indices
/// and a 2-tile value output on the local cores; a 2-tile value output and the final sort's
/// values and indices on the final core. A block float's intermediates are bfloat16 tiles.
fn topk_multi_core_program(mc: &TopkMultiCore, t_value: u64, t_comp: u64, t_index: u64) -> Program {
    let local = CoreRangeSet::one(CoreRange::new(0, 0, mc.x - 1, mc.y - 1));
    let last = CoreRangeSet::one(CoreRange::new(0, mc.y, 0, mc.y));
    let mut all = local.clone();
    all.0.extend(last.0.iter().copied());
    Program::new("TopKDeviceOperation", "TopKMultiCoreProgramFactory")
        .cb(CbKind::Circular, 4 * t_value, &all)
        .cb(CbKind::Circular, 4 * t_index, &all)
        .cb(CbKind::Circular, mc.wt_final * t_comp, &all)
        .cb(CbKind::Circular, mc.wt_final * t_index, &all)
        .cb(CbKind::Circular, 2 * t_index, &all)
        .cb(CbKind::Circular, mc.wt_local * t_comp, &local)
        .cb(CbKind::Circular, mc.wt_local * t_index, &local)
        .cb(CbKind::Circular, 2 * t_comp, &local)
        .cb(CbKind::Circular, 2 * t_value, &last)
        .cb(CbKind::Circular, mc.wt_final * t_comp, &last)
        .cb(CbKind::Circular, mc.wt_final * t_index, &last)
}

/// `TopKMultiCoreProgramFactory`'s buffers for a row that is not whole tiles (measured on n150:
/// [32,1000] and [64,2017] k = 32, [96,8190] k = 64, [32,1000] bfloat8_b k = 64): input values
/// and indices (4 tiles each) and the gathered values (two per gathered tile) on every core;
/// two gathered tiles per local tile and 4 index tiles on the local cores; on the final core
/// `kt` and 2 index tiles, 2 value tiles, the final sort's values and `kt` output tiles. Which
/// of the 2048-byte tiles (bfloat16 intermediates, uint16 indices) is which is not told apart.
fn topk_multi_core_filled_program(
    mc: &TopkMultiCore,
    kt: u64,
    t_value: u64,
    t_comp: u64,
    t_index: u64,
) -> Program {
    let local = CoreRangeSet::one(CoreRange::new(0, 0, mc.x - 1, mc.y - 1));
    let last = CoreRangeSet::one(CoreRange::new(0, mc.y, 0, mc.y));
    let mut all = local.clone();
    all.0.extend(last.0.iter().copied());
    Program::new("TopKDeviceOperation", "TopKMultiCoreProgramFactory")
        .cb(CbKind::Circular, 4 * t_value, &all)
        .cb(CbKind::Circular, 4 * t_index, &all)
        .cb(CbKind::Circular, 2 * mc.wt_final * t_comp, &all)
        .cb(CbKind::Circular, kt * t_index, &last)
        .cb(CbKind::Circular, 2 * t_index, &last)
        .cb(CbKind::Circular, 2 * mc.wt_local * t_comp, &local)
        .cb(CbKind::Circular, 4 * t_index, &local)
        .cb(CbKind::Circular, 2 * t_value, &last)
        .cb(CbKind::Circular, 2 * mc.wt_final * t_comp, &last)
        .cb(CbKind::Circular, kt * t_comp, &last)
}

/// Whether `TopKDeviceOperation` sorts a padded width `pw` of `ht` tile rows with `k_tiles`
/// (k in whole tiles) on several cores rather than one: see [`topk_last_dim`].
fn topk_multi_core_chosen(pw: u64, ht: u64, k_tiles: u64) -> bool {
    pw.is_power_of_two() && (1024..65536).contains(&pw) && k_tiles <= 64 && (pw >= 8192 || ht <= 2)
}

/// [`topk`] along the last dim of `x`; `sliced`: `x` is the transposed input (the route is not
/// taken, and the outputs are sliced when `k` is not whole tiles, whatever the rank). Returns
/// the padded or filled copies too, which live until the call returns (after the transposes
/// back: the caller releases them).
fn topk_last_dim(
    ex: &mut Exec<'_>,
    x: &DevTensor,
    k: u64,
    largest: bool,
    mem: BufferType,
    sliced: bool,
) -> Result<(DevTensor, DevTensor, Vec<DevTensor>), CaseError> {
    let rank = x.shape().rank();
    let w = *x.dims().last().expect("rank >= 1");
    let d = ex.device();
    let mut dims4 = x.dims().to_vec();
    while dims4.len() < 4 {
        dims4.insert(0, 1);
    }
    let x4 = view(ex, x, dims4.clone())?;
    let padded_w = w.div_ceil(TILE) * TILE;
    let padded_rows = dims4[0] * dims4[1] * dims4[2].div_ceil(TILE) * TILE;
    let ht = padded_rows / TILE;
    let k16 = k.div_ceil(16) * 16;
    let route = !sliced && topk_routes(d.arch, x.dtype(), w, k, largest);
    let (values, indices, adjusted_k, keep) = if route {
        // topk_route_prep: untilize + clamp into a ROW_MAJOR copy, blocks of up to 8 tiles.
        let wt = padded_w / TILE;
        let bw = wt.min(8);
        let nblocks = ht * wt.div_ceil(bw);
        let rm_spec = TensorSpec::new(
            Shape::from_dims(dims4.clone())?,
            x.dtype(),
            Layout::RowMajor,
        );
        let prepped =
            ex.b.tensor("route_prep", BufferRole::Temporary, rm_spec, x.memory)?;
        let cores = grid::split_blocks(d, nblocks);
        ex.b.run(
            Program::new(
                "TopkRoutePrepDeviceOperation",
                "TopkRoutePrepProgramFactory",
            )
            .cb(CbKind::Circular, 2 * bw * 2048, &cores)
            .cb(CbKind::Circular, 2 * bw * 2048, &cores),
        );
        // topk_large_indices: UINT32 ROW_MAJOR indices of the top k16 per row; buffers on the
        // whole grid sized by the LLK's K (512, 1024 or 2048).
        let llk_k: u64 = if k16 <= 512 {
            512
        } else if k16 <= 1024 {
            1024
        } else {
            2048
        };
        let mut idx_dims = dims4.clone();
        idx_dims[3] = k16;
        let idx_spec =
            TensorSpec::new(Shape::from_dims(idx_dims)?, DType::Uint32, Layout::RowMajor);
        let idx =
            ex.b.tensor("route_indices", BufferRole::Temporary, idx_spec, x.memory)?;
        let all = grid::full(d);
        let mut p = Program::new(
            "TopkLargeIndicesDeviceOperation",
            "TopkLargeIndicesProgramFactory",
        )
        .cb(CbKind::Circular, 2 * llk_k.div_ceil(1024) * 2048, &all)
        .cb(CbKind::Circular, 2 * llk_k * 4, &all);
        if llk_k != 512 {
            p = p.cb(CbKind::Circular, k16 * 4, &all);
        }
        ex.b.run(p);
        // topk_route_finish: gathers the values into TILE outputs; half-tile units over the
        // grid.
        let mut out_dims = dims4.clone();
        out_dims[3] = k16;
        let index_dtype = if padded_w <= 65535 {
            DType::Uint16
        } else {
            DType::Uint32
        };
        let values = ex.b.tensor(
            "values",
            BufferRole::Temporary,
            TensorSpec::new(Shape::from_dims(out_dims.clone())?, x.dtype(), Layout::Tile),
            x.memory,
        )?;
        let indices = ex.b.tensor(
            "indices",
            BufferRole::Temporary,
            TensorSpec::new(Shape::from_dims(out_dims)?, index_dtype, Layout::Tile),
            x.memory,
        )?;
        let units = ht * k16.div_ceil(TILE) * 2;
        let cores = grid::split_blocks(d, units);
        let idx_half = 512 * index_dtype.row_major_element_bytes();
        ex.b.run(
            Program::new(
                "TopkRouteFinishDeviceOperation",
                "TopkRouteFinishProgramFactory",
            )
            .cb(CbKind::Circular, 8 * 128, &cores)
            .cb(CbKind::Circular, 8 * 128, &cores)
            .cb(CbKind::Circular, 64 * 64, &cores)
            .cb(CbKind::Circular, 64 * 64, &cores)
            .cb(CbKind::Circular, 2 * 1024, &cores)
            .cb(CbKind::Circular, 2 * idx_half, &cores),
        );
        ex.b.release(idx);
        ex.b.release(prepped);
        ex.b.release(x4);
        // The route writes into the input's memory and copies into the requested one
        // (measured on p150: two copies of 2 tiles each for a DRAM input and an L1 output).
        let (values, indices) = if mem != x.memory {
            let v = copy_tiles(ex, &values, mem)?;
            ex.b.release(values);
            let i = copy_tiles(ex, &indices, mem)?;
            ex.b.release(indices);
            (v, i)
        } else {
            (values, indices)
        };
        (values, indices, k16, Vec::new())
    } else {
        // The pinned runtime passes K through unrounded (its outputs' tiles hold up to 32).
        let adjusted_k = k;
        let (padded, pad_copy) = if w < 64 {
            pad_to_min_width(ex, &x4)?
        } else {
            (None, None)
        };
        let padded = match padded {
            Some(p) => {
                ex.b.release(x4);
                p
            }
            None => x4,
        };
        let padded_dims = padded.dims().to_vec();
        let filled = fill_pad_copying_block_floats(ex, &padded)?;
        // A block float's filled copy replaces the padded tensor, which dies at once (measured
        // on p150: [3,555,40] bfloat8_b, the pad's filled copy freed before the TopK program).
        let (padded, pad_copy) = if filled.is_some() {
            ex.b.release(padded);
            if let Some(c) = pad_copy {
                ex.b.release(c);
            }
            (None, None)
        } else {
            (Some(padded), pad_copy)
        };
        let pw = padded_dims[3].div_ceil(TILE) * TILE;
        // fp32 values take uint32 indices (found by the random differential: the index
        // buffers and the indices output of an fp32 topk are twice the uint16 ones).
        let index_dtype = if pw <= 65535 && x.dtype() != DType::Float32 {
            DType::Uint16
        } else {
            DType::Uint32
        };
        let mut out_dims = padded_dims;
        out_dims[3] = adjusted_k;
        let values = ex.b.tensor(
            "values",
            BufferRole::Temporary,
            TensorSpec::new(Shape::from_dims(out_dims.clone())?, x.dtype(), Layout::Tile),
            mem,
        )?;
        let indices = ex.b.tensor(
            "indices",
            BufferRole::Temporary,
            TensorSpec::new(Shape::from_dims(out_dims)?, index_dtype, Layout::Tile),
            mem,
        )?;
        let cores = grid::split_work(d, ht, true).all;
        let t_in = tile_size(x.dtype());
        let t_comp = if x.dtype().is_block_float() {
            2048
        } else {
            t_in
        };
        let t_idx = tile_size(index_dtype);
        let kt = adjusted_k.div_ceil(TILE);
        // A power-of-two padded width from 1024 with k up to 64 sorts on several cores when it is
        // 8192 or wider, or when the rows are at most two tiles (measured on n150 and p150: [32,1024],
        // [64,2048], [2,32,2048], [64,4096] and [32,1000] multi-core; [65,4096], [96,2048],
        // [2,1,40,2048] and [32,512] single-core; from 8192 any rows, [2048,8192] and
        // [2048,16384]). A core split the search cannot find leaves the call unmodeled.
        let k_tiles = kt * TILE;
        if topk_multi_core_chosen(pw, ht, k_tiles) {
            let Some(mc) = topk_multi_core_config(d, pw, k_tiles, t_in, t_idx) else {
                return Err(unmodeled(
                    "ttnn.topk",
                    "a multi-core topk width no core split takes",
                ));
            };
            // A row that is not whole tiles (its padding filled) runs the kernels' other buffer
            // set, except in float32 (measured on n150: [32,1000] and [64,2017] in bfloat16 and
            // bfloat8_b, [64,8190]; [32,1000] float32 as [32,1024]).
            let whole_tiles = w == pw || x.dtype() == DType::Float32;
            ex.b.run(if whole_tiles {
                topk_multi_core_program(&mc, t_in, t_comp, t_idx)
            } else {
                topk_multi_core_filled_program(&mc, kt, t_in, t_comp, t_idx)
            });
        } else {
            let mut p = Program::new("TopKDeviceOperation", "TopKSingleCoreProgramFactory");
            for size in [
                2 * t_in,
                2 * t_idx,
                4 * t_comp,
                4 * t_idx,
                2 * kt * t_comp,
                2 * kt * t_idx,
                kt * t_in,
                kt * t_idx,
            ] {
                p = p.cb(CbKind::Dataflow, size, &cores);
            }
            ex.b.run(p);
        }
        // The padded copies die when topk returns, after the post-processing below.
        (
            values,
            indices,
            adjusted_k,
            [padded, pad_copy, filled].into_iter().flatten().collect(),
        )
    };
    // Slice K back down (both outputs, in order), then restore the rank (views). A 1D input's
    // outputs are sliced too (measured: two SliceTile programs before the reshape to 1D).
    let (mut values, mut indices) = (values, indices);
    // The route slices the outputs of inputs below rank 4 when it rounded K up (measured on
    // p150: 1D with k = 20 sliced, k = 32 not; 2D and 3D with k = 21..54 sliced; 4D with
    // k = 54 or 55 not); the single-core path slices 1D inputs and transposed ones always,
    // and those of rank 2 or 3 when k is not whole tiles (measured on p150: [2,1408,192] with
    // k = 11 sliced, k = 32 not, [1,2,1408,192] with k = 11 not).
    let slice_k = if route {
        rank < 4 && adjusted_k != k
    } else {
        rank == 1 || ((sliced || rank < 4) && !k.is_multiple_of(TILE))
    };
    if slice_k {
        let v = super::data_movement::slice(ex, &values, 3, 0, k, mem)?;
        ex.b.release(values);
        values = v;
        let i = super::data_movement::slice(ex, &indices, 3, 0, k, mem)?;
        ex.b.release(indices);
        indices = i;
    }
    let mut final_dims = x.dims().to_vec();
    *final_dims.last_mut().expect("rank >= 1") = k;
    if rank != 4 {
        let v = view(ex, &values, final_dims.clone())?;
        ex.b.release(values);
        values = v;
        let i = view(ex, &indices, final_dims)?;
        ex.b.release(indices);
        indices = i;
    }
    Ok((values, indices, keep))
}

/// `ttnn.to_memory_config` of interleaved tiles into `mem`: `CopyDeviceOperation` with two tiles
/// of the tensor's dtype on the cores its tiles split over (column-wise).
fn copy_tiles(ex: &mut Exec<'_>, x: &DevTensor, mem: BufferType) -> Result<DevTensor, CaseError> {
    let out =
        ex.b.tensor("copy", BufferRole::Temporary, x.spec.clone(), mem)?;
    let split = grid::split_work(ex.device(), super::util::tiles(&x.spec), false);
    ex.b.run(Program::new("CopyDeviceOperation", "DefaultTilized").cb(
        CbKind::Dataflow,
        2 * tile_size(x.dtype()),
        &grid::merge_ranges(&split.all),
    ));
    Ok(out)
}

/// Bytes of one FLOAT32 tile (the reductions' fp32 intermediates and scalers).
const FP32_TILE: u64 = 4096;

/// `reduce_reader_batch` as the pinned runtime's captures show it: the reader batches 4 tiles
/// when every core streams at least 4, else 1; `reduce_reader_input_cb_tiles` double-buffers
/// the batch.
fn reader_input_tiles(min_tiles_per_core: u64) -> u64 {
    if min_tiles_per_core >= 4 {
        8
    } else {
        2
    }
}

/// The scaler tile of the reduce factories: FLOAT32 for an fp32 input, else bfloat16.
fn scaler_tile(input: DType) -> u64 {
    if input == DType::Float32 {
        FP32_TILE
    } else {
        2048
    }
}

fn min_units(w: &grid::WorkSplit) -> u64 {
    if w.units_2 == 0 {
        w.units_1
    } else {
        w.units_1.min(w.units_2)
    }
}

fn tile_spec(dims: Vec<u64>, dtype: DType) -> Result<TensorSpec, CaseError> {
    Ok(TensorSpec::new(
        Shape::from_dims(dims)?,
        dtype,
        Layout::Tile,
    ))
}

/// `ReduceMultiCoreWProgramFactory` on a 4D TILE tensor: the tile rows (N*C*Ht) split over the
/// grid column-wise (`split_work_to_cores(.., row_wise=false)`); buffers: the input (a double
/// buffered reader batch, see [`reader_input_tiles`] of the smallest core's rows * Wt), the
/// scaler and 2 output tiles. The output keeps the dims with W reduced to 1.
fn reduce_w(
    ex: &mut Exec<'_>,
    x: &DevTensor,
    out_dtype: DType,
    mem: BufferType,
) -> Result<DevTensor, CaseError> {
    let d = ex.device();
    let dims = x.dims().to_vec();
    let (ht, wt) = (dims[2].div_ceil(TILE), dims[3].div_ceil(TILE));
    let rows = crate::size::mul(
        crate::size::mul(dims[0], dims[1], "tile rows")?,
        ht,
        "tile rows",
    )?;
    let mut out_dims = dims.clone();
    out_dims[3] = 1;
    let out = ex.b.tensor(
        "reduce_w",
        BufferRole::Temporary,
        tile_spec(out_dims, out_dtype)?,
        mem,
    )?;
    let w = grid::split_work(d, rows, false);
    let cores = grid::merge_ranges(&w.all);
    let in_tiles = reader_input_tiles(crate::size::mul(min_units(&w), wt, "reader tiles")?);
    let p = Program::new("ReduceDeviceOperation", "ReduceMultiCoreWProgramFactory")
        .cb(CbKind::Dataflow, in_tiles * tile_size(x.dtype()), &cores)
        .cb(CbKind::Dataflow, scaler_tile(x.dtype()), &cores)
        .cb(CbKind::Dataflow, 2 * tile_size(out_dtype), &cores);
    ex.b.run(p);
    Ok(out)
}

/// Tile rows each column of a standalone H reduce of a TILE input needs before the factory
/// splits the column over several cores (measured on both boards: 19 tiles in one pass, 20 in
/// two).
const SPLIT_H_MIN_TILES: u64 = 20;

/// The same threshold for the dense row-major H reduce of a ROW_MAJOR input (measured on both
/// boards, bfloat16 and float32: H = 480 rows, 15 tiles, in one pass; 481 rows, 16 tiles, in
/// two).
const SPLIT_H_MIN_TILES_ROW_MAJOR: u64 = 16;

/// The FLOAT32 ROW_MAJOR partial rows of a two-pass H reduce of the 4-D `x` over `cols` tile
/// columns, with the cores (`cols` × parts) its first pass runs on — `None` where the column
/// is reduced in one pass (under [`SPLIT_H_MIN_TILES`] tiles, [`SPLIT_H_MIN_TILES_ROW_MAJOR`]
/// for a ROW_MAJOR `x`, or fewer than two cores a column).
fn h_reduce_partials(
    ex: &mut Exec<'_>,
    x: &DevTensor,
    cols: u64,
    mem: BufferType,
) -> Result<Option<(DevTensor, CoreRangeSet, u64)>, CaseError> {
    let d = ex.device();
    let dims = x.dims();
    let ht = dims[2].div_ceil(TILE);
    let parts = ht.min(u64::from(d.grid_x) * u64::from(d.grid_y) / cols.max(1));
    let min_tiles = if x.layout() == Layout::RowMajor {
        SPLIT_H_MIN_TILES_ROW_MAJOR
    } else {
        SPLIT_H_MIN_TILES
    };
    if ht < min_tiles || parts < 2 {
        return Ok(None);
    }
    let part_spec = TensorSpec::new(
        Shape::from_dims(vec![dims[0], dims[1], parts, dims[3]])?,
        DType::Float32,
        Layout::RowMajor,
    );
    let partials =
        ex.b.tensor("reduce_h_partials", BufferRole::Temporary, part_spec, mem)?;
    let cores = grid::merge_ranges(&grid::split_work(d, cols * parts, false).all);
    Ok(Some((partials, cores, parts)))
}

/// `ReduceMultiCoreHProgramFactory` on a 4D TILE tensor: the tile columns (N*C*Wt) split over
/// the grid column-wise, the reader batch from the smallest core's columns.
///
/// A standalone H reduce (`split`: not the H half of an HW reduce) of columns of at least
/// [`SPLIT_H_MIN_TILES`] tiles, when the grid holds at least two cores per column, runs in two
/// passes (measured on both boards and every float dtype): each column's H tiles split over
/// `min(Ht, cores / columns)` cores, each writing one FLOAT32 ROW_MAJOR partial row
/// ([N, C, parts, W]; buffers: 8 input tiles (2 for float32), the scaler, 2 fp32 output
/// tiles); then one core per column folds its partials (six buffers, one sized by the
/// partials' 32-row groups, at least 2) and the partials are freed.
fn reduce_h(
    ex: &mut Exec<'_>,
    x: &DevTensor,
    out_dtype: DType,
    mem: BufferType,
    split: bool,
) -> Result<DevTensor, CaseError> {
    let d = ex.device();
    let dims = x.dims().to_vec();
    let wt = dims[3].div_ceil(TILE);
    let cols = crate::size::mul(
        crate::size::mul(dims[0], dims[1], "tile columns")?,
        wt,
        "tile columns",
    )?;
    let mut out_dims = dims.clone();
    out_dims[2] = 1;
    let out_spec = tile_spec(out_dims, out_dtype)?;
    let t_in = tile_size(x.dtype());
    let two_pass = if split {
        h_reduce_partials(ex, x, cols, mem)?
    } else {
        None
    };
    if let Some((partials, cores, parts)) = two_pass {
        let in_tiles = if x.dtype() == DType::Float32 { 2 } else { 8 };
        ex.b.run(
            Program::new("ReduceDeviceOperation", "ReduceMultiCoreHProgramFactory")
                .cb(CbKind::Dataflow, in_tiles * t_in, &cores)
                .cb(CbKind::Dataflow, scaler_tile(x.dtype()), &cores)
                .cb(CbKind::Dataflow, 2 * FP32_TILE, &cores),
        );
        let out =
            ex.b.tensor("reduce_h", BufferRole::Temporary, out_spec, mem)?;
        let cores = grid::merge_ranges(&grid::split_work(d, cols, false).all);
        let mut p = Program::new("ReduceDeviceOperation", "ReduceMultiCoreHProgramFactory");
        for size in [
            2 * FP32_TILE,
            FP32_TILE,
            tile_size(out_dtype),
            parts.div_ceil(TILE).max(2) * FP32_TILE,
            FP32_TILE,
            2 * tile_size(out_dtype),
        ] {
            p = p.cb(CbKind::Dataflow, size, &cores);
        }
        ex.b.run(p);
        ex.b.release(partials);
        return Ok(out);
    }
    let out =
        ex.b.tensor("reduce_h", BufferRole::Temporary, out_spec, mem)?;
    let w = grid::split_work(d, cols, false);
    let cores = grid::merge_ranges(&w.all);
    let in_tiles = reader_input_tiles(min_units(&w));
    ex.b.run(
        Program::new("ReduceDeviceOperation", "ReduceMultiCoreHProgramFactory")
            .cb(CbKind::Dataflow, in_tiles * t_in, &cores)
            .cb(CbKind::Dataflow, scaler_tile(x.dtype()), &cores)
            .cb(CbKind::Dataflow, 2 * tile_size(out_dtype), &cores),
    );
    Ok(out)
}

/// `ReduceSingleCoreHwProgramFactory`: H and W reduced on core (0,0); the reader batch from the
/// whole tensor's tiles.
fn reduce_hw_single(
    ex: &mut Exec<'_>,
    x: &DevTensor,
    out_dtype: DType,
    mem: BufferType,
) -> Result<DevTensor, CaseError> {
    let mut out_dims = x.dims().to_vec();
    out_dims[2] = 1;
    out_dims[3] = 1;
    let out = ex.b.tensor(
        "reduce_hw",
        BufferRole::Temporary,
        tile_spec(out_dims, out_dtype)?,
        mem,
    )?;
    let core = CoreRangeSet::one(CoreRange::new(0, 0, 0, 0));
    let in_tiles = reader_input_tiles(super::util::tiles(&x.spec));
    ex.b.run(
        Program::new("ReduceDeviceOperation", "ReduceSingleCoreHwProgramFactory")
            .cb(CbKind::Dataflow, in_tiles * tile_size(x.dtype()), &core)
            .cb(CbKind::Dataflow, scaler_tile(x.dtype()), &core)
            .cb(CbKind::Dataflow, 2 * tile_size(out_dtype), &core),
    );
    Ok(out)
}

/// The largest divisor of `n` up to `max` (no skips).
fn largest_divisor_up_to(n: u64, max: u64) -> u64 {
    (1..=max).rev().find(|&k| n.is_multiple_of(k)).unwrap_or(1)
}

/// `FastReduceNCProgramFactory` (experimental/reduction/fast_reduce_nc) over dim `dim` (0 or 1)
/// of a 4D TILE tensor: the output tiles split over the grid row-wise; buffers: the input
/// (double-buffered blocks of the largest divisor of the reduced size up to 8), the scaler and
/// 2 output tiles.
fn fast_reduce_nc(
    ex: &mut Exec<'_>,
    x: &DevTensor,
    dim: usize,
    mem: BufferType,
) -> Result<DevTensor, CaseError> {
    let d = ex.device();
    let mut out_dims = x.dims().to_vec();
    let reduced = out_dims[dim];
    out_dims[dim] = 1;
    let spec = tile_spec(out_dims, x.dtype())?;
    let out_tiles = spec.pages()?;
    let out = ex.b.tensor("reduce_nc", BufferRole::Temporary, spec, mem)?;
    let cores = grid::merge_ranges(&grid::split_work(d, out_tiles, true).all);
    let t = tile_size(x.dtype());
    ex.b.run(
        Program::new("FastReduceNCDeviceOperation", "FastReduceNCProgramFactory")
            .cb(
                CbKind::Dataflow,
                2 * largest_divisor_up_to(reduced, 8) * t,
                &cores,
            )
            .cb(CbKind::Dataflow, 2048, &cores)
            .cb(CbKind::Dataflow, 2 * t, &cores),
    );
    Ok(out)
}

/// Reduction dims of `ttnn.mean`/`ttnn.sum`: all dims unless `dim` is given; only full
/// reductions are modeled.
fn check_full_reduce(a: &Args<'_>, x: &DevTensor) -> Result<(), CaseError> {
    let rank = x.shape().rank() as i64;
    match a.ints(1, "dim")? {
        // An empty list reduces every dim, as no list does (checked on the runtime).
        None => Ok(()),
        Some(ds) if ds.is_empty() => Ok(()),
        Some(ds) => {
            let mut seen: Vec<i64> = ds
                .iter()
                .map(|&v| if v < 0 { v + rank } else { v })
                .collect();
            seen.sort_unstable();
            seen.dedup();
            if seen == (0..rank).collect::<Vec<_>>() {
                Ok(())
            } else {
                Err(unmodeled(
                    a.function,
                    "memmodel models reductions over all dims only",
                ))
            }
        }
    }
}

fn check_reduce_input(a: &Args<'_>, x: &DevTensor) -> Result<(), CaseError> {
    if x.layout() != Layout::Tile {
        return Err(unmodeled(
            a.function,
            "memmodel models TILE inputs of reductions",
        ));
    }
    if x.shape().rank() > 4 || x.shape().rank() == 0 {
        return Err(unmodeled(
            a.function,
            "memmodel models reductions of rank 1 to 4",
        ));
    }
    check_full_reduce(a, x)
}

/// The result's dims: all reduced, kept as ones with `keepdim`.
fn reduced_dims(a: &Args<'_>, x: &DevTensor) -> Result<Vec<u64>, CaseError> {
    Ok(if a.bool_or(usize::MAX, "keepdim", false)? {
        vec![1; x.shape().rank()]
    } else {
        vec![]
    })
}

/// The dims `ttnn.mean` reduces, sorted: `None` for all of them (no `dim`, or every dim named:
/// the runtime runs both alike).
fn mean_dims(a: &Args<'_>, x: &DevTensor) -> Result<Option<Vec<usize>>, CaseError> {
    let rank = x.shape().rank();
    // An empty list reduces every dim, as no list does (checked on the runtime: shape []).
    let Some(ds) = a.ints(1, "dim")?.filter(|ds| !ds.is_empty()) else {
        return Ok(None);
    };
    let mut dims = Vec::with_capacity(ds.len());
    for d in ds {
        let i = if d < 0 { d + rank as i64 } else { d };
        let i = usize::try_from(i)
            .ok()
            .filter(|&i| i < rank)
            .ok_or_else(|| super::invalid(a.function, format!("dim {d} out of range")))?;
        dims.push(i);
    }
    dims.sort_unstable();
    dims.dedup();
    Ok((dims.len() < rank).then_some(dims))
}

/// How one reduce op of `ttnn.mean` reduces its 4D input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReduceOpDim {
    W,
    H,
    Hw,
}

/// `ttnn.mean(x, dim, keepdim)` (generic_reductions.cpp of the pinned runtime, `reduce_impl`,
/// read from its captures): the input's tile padding is filled first (a bfloat8_b input through
/// a bfloat16 copy, see [`fill_pad_copying_block_floats`]). One reduce op does the last dim
/// (W), the second-last (H, standalone: it may split tall columns) or both (HW: a W reduce then
/// an H reduce of one pass, or the single-core HW reduce for one tile) — also all dims of a
/// rank 1 or 2 input. Other dims are reduced one at a time from the last: W, H, or an outer dim
/// transposed to H, reduced and transposed back. Each intermediate keeps the input's dtype
/// unless several chosen dims of a bfloat16 input are reduced: then all but the last step write
/// FLOAT32 (the sum precision chain). Chosen dims without `keepdim` end in a reshape (a copy
/// when the tile layout changes); a full reduction ends in a view.
fn mean(ex: &mut Exec<'_>, a: &Args<'_>) -> Result<Val, CaseError> {
    let x = a.tensor(0, "input_tensor")?;
    if x.layout() == Layout::RowMajor {
        return mean_row_major(ex, a, x);
    }
    if x.layout() != Layout::Tile {
        return Err(unmodeled(
            a.function,
            "memmodel models TILE inputs of reductions",
        ));
    }
    let rank = x.shape().rank();
    if rank > 4 || rank == 0 {
        return Err(unmodeled(
            a.function,
            "memmodel models reductions of rank 1 to 4",
        ));
    }
    let dims = mean_dims(a, x)?;
    let keepdim = a.bool_or(usize::MAX, "keepdim", false)?;
    let mem = out_memory(a, x.memory)?;
    let out = reduce_impl(ex, x, dims, keepdim, mem)?;
    Ok(Val::T(out))
}

/// What the ROW_MAJOR `mean` and `sum` plans cover (`op` names the reduction in the reason): an
/// interleaved bfloat16 / float32 input of rank 1 to 4.
fn check_row_major_reduce(a: &Args<'_>, x: &DevTensor, op: &str) -> Result<(), CaseError> {
    let rank = x.shape().rank();
    if !(1..=4).contains(&rank) || !matches!(x.dtype(), DType::Bfloat16 | DType::Float32) {
        return Err(unmodeled(
            a.function,
            format!("a ROW_MAJOR {op} of rank 1 to 4 in bfloat16 or float32 only"),
        ));
    }
    if x.shard.is_some() {
        return Err(unmodeled(
            a.function,
            format!("a ROW_MAJOR {op} of a sharded input"),
        ));
    }
    Ok(())
}

/// `ttnn.mean` of an interleaved ROW_MAJOR bfloat16 / float32 input (read from the pinned
/// runtime's captures, both boards): [`reduce_impl`] on the ROW_MAJOR pages, each W or H reduce
/// by its factory's dense row-major path ([`reduce_row_major`]). The HW pair (also every dim of a
/// rank-2 input) is tilized in the input's memory and reduced as tiles instead.
fn mean_row_major(ex: &mut Exec<'_>, a: &Args<'_>, x: &DevTensor) -> Result<Val, CaseError> {
    check_row_major_reduce(a, x, "mean")?;
    let dims = mean_dims(a, x)?;
    let keepdim = a.bool_or(usize::MAX, "keepdim", false)?;
    let mem = out_memory(a, x.memory)?;
    Ok(Val::T(reduce_impl(ex, x, dims, keepdim, mem)?))
}

/// Most tiles of the reduced axis one chunk of the dense row-major reduce stages
/// (`k_rm_max_tiles_per_chunk` of the factories' row-major plan).
const RM_REDUCE_MAX_CHUNK_TILES: u64 = 8;

/// The W or H reduce factory on a 4-D ROW_MAJOR input (its dense row-major path; buffers as the
/// pinned runtime's captures show them, which match `make_rm_plan` of tt-metal's tree): the
/// reduced axis is staged in chunks of up to [`RM_REDUCE_MAX_CHUNK_TILES`] tiles. In creation
/// order: the row staging buffer (two tile heights of rows, each a chunk wide for W, one tile
/// wide for H), the padding-identity tile, the accumulator (one tile of the output's dtype),
/// the tilized input (the chunk's tiles, at least 2), the scaler and 2 output tiles. W splits
/// the logical rows (N·C·H) row-wise over the grid; H splits the tile columns (N·C·Wt)
/// column-wise, and tall columns (from [`SPLIT_H_MIN_TILES_ROW_MAJOR`] tiles) in two passes as
/// [`reduce_h`] does.
fn reduce_row_major(
    ex: &mut Exec<'_>,
    x: &DevTensor,
    kind: ReduceOpDim,
    out_dtype: DType,
    mem: BufferType,
) -> Result<DevTensor, CaseError> {
    let d = ex.device();
    let dims = x.dims().to_vec();
    let dtype = x.dtype();
    let nc = crate::size::mul(dims[0], dims[1], "reduce rows")?;
    let (ht, wt) = (dims[2].div_ceil(TILE), dims[3].div_ceil(TILE));
    let mut out_dims = dims.clone();
    let (chunk_tiles, row_tiles, split, factory) = match kind {
        ReduceOpDim::W => {
            out_dims[3] = 1;
            let rows = crate::size::mul(nc, dims[2], "reduce rows")?;
            (
                wt.clamp(1, RM_REDUCE_MAX_CHUNK_TILES),
                wt.clamp(1, RM_REDUCE_MAX_CHUNK_TILES),
                grid::split_work(d, rows, true),
                "ReduceMultiCoreWProgramFactory",
            )
        }
        _ => {
            out_dims[2] = 1;
            (
                ht.clamp(1, RM_REDUCE_MAX_CHUNK_TILES),
                1,
                grid::split_work(d, crate::size::mul(nc, wt, "reduce columns")?, false),
                "ReduceMultiCoreHProgramFactory",
            )
        }
    };
    let out_spec = TensorSpec::new(Shape::from_dims(out_dims)?, out_dtype, Layout::RowMajor);
    let cols = crate::size::mul(nc, wt, "reduce columns")?;
    let two_pass = if kind == ReduceOpDim::H {
        h_reduce_partials(ex, x, cols, mem)?
    } else {
        None
    };
    if let Some((partials, cores, parts)) = two_pass {
        // Two passes, as the tiled H reduce: FLOAT32 ROW_MAJOR partial rows, then one core per
        // column folds them (seen on n150: [1,1,1472,128] in 16 parts over 64 cores, then 4).
        reduce_row_major_program(ex, factory, &cores, dtype, DType::Float32, 1, chunk_tiles);
        let out =
            ex.b.tensor("reduce", BufferRole::Temporary, out_spec, mem)?;
        let cores = grid::merge_ranges(&grid::split_work(d, cols, false).all);
        let fold_chunk = parts.div_ceil(TILE).clamp(1, RM_REDUCE_MAX_CHUNK_TILES);
        reduce_row_major_program(
            ex,
            factory,
            &cores,
            DType::Float32,
            out_dtype,
            1,
            fold_chunk,
        );
        ex.b.release(partials);
        return Ok(out);
    }
    let out =
        ex.b.tensor("reduce", BufferRole::Temporary, out_spec, mem)?;
    let cores = grid::merge_ranges(&split.all);
    reduce_row_major_program(
        ex,
        factory,
        &cores,
        dtype,
        out_dtype,
        row_tiles,
        chunk_tiles,
    );
    Ok(out)
}

/// The dense row-major path's buffers of one reduce program, as [`reduce_row_major`] lists them.
fn reduce_row_major_program(
    ex: &mut Exec<'_>,
    factory: &'static str,
    cores: &CoreRangeSet,
    dtype: DType,
    out_dtype: DType,
    row_tiles: u64,
    chunk_tiles: u64,
) {
    let (src_tile, dst_tile) = (tile_size(dtype), tile_size(out_dtype));
    let staging_row = row_tiles * TILE * dtype.row_major_element_bytes();
    let mut p = Program::new("ReduceDeviceOperation", factory);
    for size in [
        2 * TILE * staging_row,
        src_tile,
        dst_tile,
        chunk_tiles.max(2) * src_tile,
        scaler_tile(dtype),
        2 * dst_tile,
    ] {
        p = p.cb(CbKind::Dataflow, size, cores);
    }
    ex.b.run(p);
}

/// `reduce_impl` of the pinned runtime, as [`mean`] describes it (float32 sums take it too; a
/// ROW_MAJOR input reduces its pages as [`mean_row_major`] says).
fn reduce_impl(
    ex: &mut Exec<'_>,
    x: &DevTensor,
    dims: Option<Vec<usize>>,
    keepdim: bool,
    mem: BufferType,
) -> Result<DevTensor, CaseError> {
    let rank = x.shape().rank();
    let rm = x.layout() == Layout::RowMajor;
    let filled = fill_pad_copying_block_floats(ex, x)?;
    let src = filled.as_ref().unwrap_or(x);
    let pad = 4 - rank;
    let mut cur = view(ex, src, super::data_movement::to_4d(x.dims()))?;
    let dtype = x.dtype();
    let chosen = dims.clone().unwrap_or_else(|| (0..rank).collect());
    let single = match chosen.as_slice() {
        [w] if *w == rank - 1 => Some(ReduceOpDim::W),
        [h] if *h + 2 == rank => Some(ReduceOpDim::H),
        [h, w] if *h + 2 == rank && *w + 1 == rank => Some(ReduceOpDim::Hw),
        _ => None,
    };
    if let Some(kind) = single {
        let next = match (kind, rm) {
            (ReduceOpDim::W | ReduceOpDim::H, true) => {
                reduce_row_major(ex, &cur, kind, dtype, mem)?
            }
            (ReduceOpDim::W, false) => reduce_w(ex, &cur, dtype, mem)?,
            (ReduceOpDim::H, false) => reduce_h(ex, &cur, dtype, mem, true)?,
            (ReduceOpDim::Hw, false) => reduce_hw(ex, &cur, hw_single_core(&cur), dtype, mem)?,
            (ReduceOpDim::Hw, true) => {
                // The HW reduce tilizes a ROW_MAJOR input in the input's memory and frees the
                // copy after its reduces (seen in the captures of ROW_MAJOR sums).
                let tilized = super::data_movement::tilize_with_val_padding(ex, &cur, cur.memory)?;
                let out = reduce_hw(ex, &tilized, hw_single_core(&cur), dtype, mem)?;
                ex.b.release(tilized);
                out
            }
        };
        ex.b.release(std::mem::replace(&mut cur, next));
    } else {
        let chain = dims.as_ref().is_some_and(|d| d.len() > 1) && dtype == DType::Bfloat16;
        let last = chosen[0];
        for &i in chosen.iter().rev() {
            let step_dtype = if chain && i != last {
                DType::Float32
            } else {
                dtype
            };
            let i4 = i + pad;
            let reduce_h_step = |ex: &mut Exec<'_>, t: &DevTensor| {
                if rm {
                    reduce_row_major(ex, t, ReduceOpDim::H, step_dtype, mem)
                } else {
                    reduce_h(ex, t, step_dtype, mem, true)
                }
            };
            let next = match i4 {
                3 if rm => reduce_row_major(ex, &cur, ReduceOpDim::W, step_dtype, mem)?,
                3 => reduce_w(ex, &cur, step_dtype, mem)?,
                2 => reduce_h_step(ex, &cur)?,
                _ => {
                    let t = swap_with_h(ex, &cur, i4, mem)?;
                    ex.b.release(std::mem::replace(&mut cur, t));
                    let r = reduce_h_step(ex, &cur)?;
                    ex.b.release(std::mem::replace(&mut cur, r));
                    swap_with_h(ex, &cur, i4, mem)?
                }
            };
            ex.b.release(std::mem::replace(&mut cur, next));
        }
    }
    if let Some(f) = filled {
        ex.b.release(f);
    }
    let out = match &dims {
        Some(ds) if !keepdim => {
            let kept: Vec<i64> = x
                .dims()
                .iter()
                .enumerate()
                .filter(|(i, _)| !ds.contains(i))
                .map(|(_, &v)| v as i64)
                .collect();
            reshape_result(ex, &cur, &kept, mem)?
        }
        Some(ds) => {
            let mut kept = x.dims().to_vec();
            for &i in ds {
                kept[i] = 1;
            }
            view(ex, &cur, kept)?
        }
        None => view(ex, &cur, if keepdim { vec![1; rank] } else { vec![] })?,
    };
    ex.b.release(cur);
    Ok(out)
}

/// The reshape that drops the reduced dims. One that copies a bfloat8_b tensor runs on a
/// bfloat16 copy: typecast, reshape, the new tile padding filled, typecast back (seen in the
/// runtime's captures).
fn reshape_result(
    ex: &mut Exec<'_>,
    x: &DevTensor,
    dims: &[i64],
    mem: BufferType,
) -> Result<DevTensor, CaseError> {
    let target = Shape::new(dims)?;
    let view = super::reshape_is_view(x.shape(), &target, x.layout()) && mem == x.memory;
    if view || !x.dtype().is_block_float() {
        return super::data_movement::reshape(ex, x, dims, mem);
    }
    let wide = TensorSpec::new(x.shape().clone(), DType::Bfloat16, x.layout());
    let wide =
        ex.b.tensor("typecast", BufferRole::Temporary, wide, x.memory)?;
    typecast_program(ex, x, &wide);
    let reshaped = super::data_movement::reshape(ex, &wide, dims, mem)?;
    ex.b.release(wide);
    fill_pad(ex, &reshaped);
    let back = TensorSpec::new(reshaped.shape().clone(), x.dtype(), x.layout());
    let back = ex.b.tensor("typecast", BufferRole::Temporary, back, mem)?;
    typecast_program(ex, &reshaped, &back);
    ex.b.release(reshaped);
    Ok(back)
}

/// Whether the HW reduce op runs on one core (`get_parallelization_strategy`): its input (`x`
/// as the op got it, before any tilize) holds at most one tile's worth of elements — a
/// ROW_MAJOR input's logical volume counts (seen: `[98,16]` tilized to 4 tiles reduced on one
/// core), a TILE one's padded volume with every batch (`[2,3,20,20]`: W then H). float32's
/// accurate reduce has no single-core HW mode: W then H even for one tile (seen in the
/// captures of a `[20,20]` float32 mean and sum).
fn hw_single_core(x: &DevTensor) -> bool {
    let volume = if x.layout() == Layout::Tile {
        super::util::tiles(&x.spec).saturating_mul(TILE * TILE)
    } else {
        x.shape().elements()
    };
    volume / (TILE * TILE) <= 1 && x.dtype() != DType::Float32
}

/// The HW reduce op on `x` (TILE): on one core where `single` ([`hw_single_core`] of the op's
/// input); otherwise a W reduce, then an H reduce of one pass (measured: a [22080,1216] mean
/// reduces its 690-tile column on one core).
fn reduce_hw(
    ex: &mut Exec<'_>,
    x: &DevTensor,
    single: bool,
    dtype: DType,
    mem: BufferType,
) -> Result<DevTensor, CaseError> {
    if single {
        return reduce_hw_single(ex, x, dtype, mem);
    }
    let w = reduce_w(ex, x, dtype, mem)?;
    let h = reduce_h(ex, &w, dtype, mem, false)?;
    ex.b.release(w);
    Ok(h)
}

/// `ttnn::transpose(t, dim, -2)` of a 4D tensor: C↔H is `TransposeHC`; N↔H goes through the
/// permute device operation. A bfloat8_b tensor is transposed as a bfloat16 copy and typecast
/// back (seen in the runtime's captures: typecast, transpose, typecast).
fn swap_with_h(
    ex: &mut Exec<'_>,
    x: &DevTensor,
    dim: usize,
    mem: BufferType,
) -> Result<DevTensor, CaseError> {
    let swap = |ex: &mut Exec<'_>, t: &DevTensor| {
        if dim == 1 {
            super::data_movement::transpose(ex, t, 1, 2, mem)
        } else {
            super::data_movement::permute(ex, t, &[2, 1, 0, 3], mem)
        }
    };
    if !x.dtype().is_block_float() {
        return swap(ex, x);
    }
    // The bfloat16 copy stays in the input's memory (seen on n150: an L1 transpose of a DRAM
    // input ran out with nothing else in L1).
    let wide = TensorSpec::new(x.shape().clone(), DType::Bfloat16, x.layout());
    let wide =
        ex.b.tensor("typecast", BufferRole::Temporary, wide, x.memory)?;
    typecast_program(ex, x, &wide);
    let swapped = swap(ex, &wide)?;
    let back = TensorSpec::new(swapped.shape().clone(), x.dtype(), x.layout());
    let back = ex.b.tensor("typecast", BufferRole::Temporary, back, mem)?;
    typecast_program(ex, &swapped, &back);
    // Both copies are locals of the runtime's transpose: they die at its return, the later one
    // first (seen on n150: the bfloat16 copy outlives the typecast back).
    ex.b.release(swapped);
    ex.b.release(wide);
    Ok(back)
}

/// `ttnn.sum(x)` over all dims (generic_reductions.cpp of the pinned runtime): the input's tile
/// padding is filled, the outer dims (below H) are reduced from the innermost out by
/// `FastReduceNC` (each intermediate dies once the next has run), and, when the input had tile
/// padding, a tile slice back to the logical shape follows. Then H and W: one W reduce for a
/// rank-1 input; `ReduceSingleCoreHw` when a single tile is left; else a W reduce (into FLOAT32
/// for bfloat16: the sum precision chain) and an H reduce back to the input's dtype. A bfloat8_b
/// input is filled through a copy ([`fill_pad_copying_block_floats`]); a float32 one takes
/// [`reduce_impl`]; a ROW_MAJOR one [`sum_row_major`].
fn sum(ex: &mut Exec<'_>, a: &Args<'_>) -> Result<Val, CaseError> {
    let x = a.tensor(0, "input_tensor")?;
    if x.layout() == Layout::RowMajor {
        return sum_row_major(ex, a, x);
    }
    check_reduce_input(a, x)?;
    let mem = out_memory(a, x.memory)?;
    if x.dtype() == DType::Float32 {
        // Measured: a float32 sum reduces dim by dim as a mean does (no FastReduceNC).
        let keepdim = a.bool_or(usize::MAX, "keepdim", false)?;
        return Ok(Val::T(reduce_impl(ex, x, None, keepdim, mem)?));
    }
    let final_dims = reduced_dims(a, x)?;
    let filled = fill_pad_copying_block_floats(ex, x)?;
    let src = filled.as_ref().unwrap_or(x);
    let out = sum_tiles(ex, src, None, has_implicit_padding(x), None, mem)?;
    if let Some(f) = filled {
        ex.b.release(f);
    }
    let out_view = view(ex, &out, final_dims)?;
    ex.b.release(out);
    Ok(Val::T(out_view))
}

/// A ROW_MAJOR `ttnn.sum` over all dims of an interleaved bfloat16 / float32 input of rank 1 to
/// 4, as the pinned runtime's captures show it (both boards). bfloat16 (FastReduceNC's dtype):
/// the outer dims' reduce tilizes the input first (`tilize_with_val_padding` into the output's
/// memory, padded with zeros: no fill) and frees that copy once the outer dims are reduced; a
/// rank-2 input goes to the HW reduce, which tilizes it in the input's memory and frees it after
/// both of its reduces; a rank-1 one to the W reduce on its ROW_MAJOR pages. float32 takes
/// [`reduce_impl`] on the ROW_MAJOR pages, whose HW reduce tilizes as bfloat16's does.
fn sum_row_major(ex: &mut Exec<'_>, a: &Args<'_>, x: &DevTensor) -> Result<Val, CaseError> {
    check_row_major_reduce(a, x, "sum")?;
    let rank = x.shape().rank();
    check_full_reduce(a, x)?;
    let mem = out_memory(a, x.memory)?;
    let keepdim = a.bool_or(usize::MAX, "keepdim", false)?;
    if x.dtype() == DType::Float32 || rank == 1 {
        return Ok(Val::T(reduce_impl(ex, x, None, keepdim, mem)?));
    }
    let final_dims = reduced_dims(a, x)?;
    let out = if rank == 2 {
        let tilized = super::data_movement::tilize_with_val_padding(ex, x, x.memory)?;
        let out = sum_tiles(ex, &tilized, None, false, Some(hw_single_core(x)), mem)?;
        ex.b.release(tilized);
        out
    } else {
        let tilized = super::data_movement::tilize_with_val_padding(ex, x, mem)?;
        let padded = has_implicit_padding(&tilized);
        sum_tiles(ex, &tilized, Some(tilized.clone()), padded, None, mem)?
    };
    let out_view = view(ex, &out, final_dims)?;
    ex.b.release(out);
    Ok(Val::T(out_view))
}

/// The TILE part of [`sum`] on `src` (padding filled or zeros): FastReduceNC over the outer
/// dims, the slice back where `padded`, then H and W. `own`: a copy of `src` this sum made and
/// frees once the outer dims are reduced (the ROW_MAJOR input's tilized copy). `single_hw`:
/// whether the HW reduce runs on one core, where its input was not `src` ([`hw_single_core`]).
fn sum_tiles(
    ex: &mut Exec<'_>,
    src: &DevTensor,
    own: Option<DevTensor>,
    padded: bool,
    single_hw: Option<bool>,
    mem: BufferType,
) -> Result<DevTensor, CaseError> {
    let rank = src.shape().rank();
    let dtype = src.dtype();
    let pad = 4 - rank;
    let mut cur = view(ex, src, super::data_movement::to_4d(src.dims()))?;
    let outer = rank.saturating_sub(2);
    for i in (0..outer).rev() {
        let next = fast_reduce_nc(ex, &cur, i + pad, mem)?;
        ex.b.release(std::mem::replace(&mut cur, next));
    }
    if outer > 0 && padded {
        // The slice runs on the input's rank (its scratchpad holds 4 B per dim: 12 B for a
        // rank-3 input in the captures).
        let kept = view(ex, &cur, cur.dims()[pad..].to_vec())?;
        let w = cur.dims()[3];
        let sliced = super::data_movement::slice(ex, &kept, rank - 1, 0, w, mem)?;
        ex.b.release(kept);
        let next = view(ex, &sliced, super::data_movement::to_4d(sliced.dims()))?;
        ex.b.release(sliced);
        ex.b.release(std::mem::replace(&mut cur, next));
    }
    if let Some(own) = own {
        ex.b.release(own);
    }
    let result = if rank == 1 {
        reduce_w(ex, &cur, dtype, mem)?
    } else if single_hw.unwrap_or_else(|| hw_single_core(&cur)) {
        reduce_hw_single(ex, &cur, dtype, mem)?
    } else {
        // bfloat16 sums keep the W partials in FLOAT32; bfloat8_b ones stay bfloat8_b
        // (measured).
        let w_dtype = if dtype == DType::Bfloat16 {
            DType::Float32
        } else {
            dtype
        };
        let w = reduce_w(ex, &cur, w_dtype, mem)?;
        let h = reduce_h(ex, &w, dtype, mem, false)?;
        ex.b.release(w);
        h
    };
    ex.b.release(cur);
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_reduce_nc_blocks_are_the_largest_divisor_up_to_8() {
        // Measured input buffers: 2 blocks of 8 (136), 4 (68), 2 (34), 5 (135), 6 (540), 7 (70).
        for (n, b) in [
            (136, 8),
            (68, 4),
            (34, 2),
            (135, 5),
            (540, 6),
            (70, 7),
            (1, 1),
        ] {
            assert_eq!(largest_divisor_up_to(n, 8), b, "{n}");
        }
    }

    #[test]
    fn reader_batches_four_tiles_once_every_core_streams_four() {
        assert_eq!(reader_input_tiles(1), 2);
        assert_eq!(reader_input_tiles(3), 2);
        assert_eq!(reader_input_tiles(4), 8);
        assert_eq!(reader_input_tiles(36), 8);
    }

    fn softmax_dataflow(
        shape: &str,
        dtype: DType,
        device: &'static crate::device::DeviceSpec,
    ) -> u64 {
        let op = crate::ops::find("softmax").unwrap();
        let mut c = crate::case::Case::new(op, vec![Shape::parse(shape).unwrap()], device);
        c.dtype = dtype;
        c.input_memory = BufferType::Dram;
        c.output_memory = BufferType::Dram;
        c.estimate().expect("a verdict").peaks.dataflow
    }

    #[test]
    fn softmax_holds_exps_and_mask_in_the_accumulation_format() {
        use crate::device::{N150, P150};
        // Per-core dataflow buffers measured on the runtime (NO_DISPATCH): a 576-wide
        // bfloat8_b row keeps its input blocks at 1,088 B a tile and its exps at 2,048 B.
        assert_eq!(
            softmax_dataflow("2,1,4352,576", DType::Bfloat8B, &N150),
            85_760
        );
        // A padded bfloat8_b row: the pad mask is bfloat16 too.
        assert_eq!(
            softmax_dataflow("1,3,234,5272", DType::Bfloat8B, &P150),
            719_872
        );
        // fp32: the single-tile intermediates are fp32 but for the bfloat16 scaler.
        assert_eq!(
            softmax_dataflow("1,1,1120,2048", DType::Float32, &N150),
            575_488
        );
    }

    fn softmax_dim_dataflow(shape: &str, dim: i64, layout: Layout) -> Result<u64, String> {
        let op = crate::ops::find("softmax").unwrap();
        let mut c =
            crate::case::Case::new(op, vec![Shape::parse(shape).unwrap()], &crate::device::N150);
        c.layout = layout;
        c.input_memory = BufferType::Dram;
        c.output_memory = BufferType::Dram;
        c.params.set("dim", crate::params::ParamValue::Int(dim));
        c.estimate()
            .map(|e| e.peaks.dataflow)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn softmax_over_other_dims_takes_the_general_factories() {
        // Per-core dataflow buffers measured on the runtime (NO_DISPATCH, bfloat16, n150):
        // GeneralHSmall holds a whole tile column (7 tiles) in and out, and its exps in fp32.
        assert_eq!(
            softmax_dim_dataflow("2,3,200,96", 2, Layout::Tile),
            Ok(104_448)
        );
        assert_eq!(
            softmax_dim_dataflow("2,3,200,96", -2, Layout::Tile),
            Ok(104_448)
        );
        // GeneralHLarge: a column too tall for its 512 KiB estimate streams 2 tiles at a time.
        assert_eq!(
            softmax_dim_dataflow("2,3,4000,64", 2, Layout::Tile),
            Ok(38_912)
        );
        // GeneralCLarge for the dims above the last two.
        assert_eq!(
            softmax_dim_dataflow("2,3,200,96", 1, Layout::Tile),
            Ok(30_720)
        );
        assert_eq!(
            softmax_dim_dataflow("2,3,200,96", 0, Layout::Tile),
            Ok(30_720)
        );
        // A rank-3 ROW_MAJOR input over its second-to-last dim is tilized, then GeneralHSmall
        // (the 4-D dim equals rank - 1); over dim 0 the device operation refuses it.
        assert_eq!(
            softmax_dim_dataflow("3,200,96", 1, Layout::RowMajor),
            Ok(104_448)
        );
        assert!(softmax_dim_dataflow("3,200,96", 0, Layout::RowMajor)
            .is_err_and(|e| e.contains("Inputs to softmax must be tilized")));
    }

    #[test]
    fn a_row_major_topk_is_refused_where_the_runtime_refuses_it() {
        // Seen on the mock n150: tile-aligned rows reach the TopK device operation (its two
        // outputs allocated first); a padded one stops at FillPad; rows under 64 are padded
        // to 64 first, then go the same way.
        let refusal = |shape: &str, dim: i64| {
            let op = crate::ops::find("topk").unwrap();
            let mut c = crate::case::Case::new(
                op,
                vec![Shape::parse(shape).unwrap()],
                &crate::device::N150,
            );
            c.layout = Layout::RowMajor;
            c.params.set("k", crate::params::ParamValue::Int(8));
            c.params.set("dim", crate::params::ParamValue::Int(dim));
            match c.estimate() {
                Err(CaseError::Refused { reason, .. }) => reason,
                other => format!("{other:?}"),
            }
        };
        assert_eq!(
            refusal("2,3,64,128", -1),
            "The input must be in tiled format"
        );
        assert_eq!(
            refusal("2,3,64,100", -1),
            "FillPad should only be used for tile layout"
        );
        // Along dim 2 the transposed [2,3,100,64] is padded in its rows.
        assert_eq!(
            refusal("2,3,64,100", 2),
            "FillPad should only be used for tile layout"
        );
        assert_eq!(
            refusal("2,3,64,40", -1),
            "The input must be in tiled format"
        );
        assert_eq!(
            refusal("1,1,50,40", -1),
            "FillPad should only be used for tile layout"
        );
        // The padded copy runs out of L1 before any refusal (the runtime on n150: [8,32,2048,40]
        // bfloat16 in L1 fails on a 67,108,864 B pad output with 655,360 B per bank allocated).
        let op = crate::ops::find("topk").unwrap();
        let mut c = crate::case::Case::new(
            op,
            vec![Shape::parse("8,32,2048,40").unwrap()],
            &crate::device::N150,
        );
        c.layout = Layout::RowMajor;
        c.params.set("k", crate::params::ParamValue::Int(8));
        match c.estimate().expect("modeled").verdict {
            crate::case::Verdict::Oom(f) => {
                assert_eq!((f.total_bytes, f.allocated), (67_108_864, 655_360))
            }
            other => panic!("expected an OOM, got {other:?}"),
        }
    }

    fn mean_dataflow(
        shape: &str,
        dtype: DType,
        memory: BufferType,
        dims: Option<Vec<i64>>,
        keepdim: bool,
    ) -> u64 {
        let op = crate::ops::find("mean").unwrap();
        let mut c =
            crate::case::Case::new(op, vec![Shape::parse(shape).unwrap()], &crate::device::N150);
        c.dtype = dtype;
        c.input_memory = memory;
        c.output_memory = memory;
        if let Some(d) = dims {
            c.params.set("dim", crate::params::ParamValue::Ints(d));
        }
        c.params
            .set("keepdim", crate::params::ParamValue::Bool(keepdim));
        c.estimate().expect("a verdict").peaks.dataflow
    }

    /// A ROW_MAJOR mean reduces its pages with the factories' dense row-major path; the peaks are
    /// the pinned runtime's captures (n150): one W reduce, a tall H reduce in two passes, and a
    /// bfloat16 W reduce into FLOAT32 before a permuted H reduce (several dims named). The last
    /// two dims alone are tilized by the runtime first.
    #[test]
    fn a_row_major_mean_reduces_its_pages() {
        let rm_mean = |shape: &str, dims: Vec<i64>| {
            let op = crate::ops::find("mean").unwrap();
            let mut c = crate::case::Case::new(
                op,
                vec![Shape::parse(shape).unwrap()],
                &crate::device::N150,
            );
            c.device_layout = crate::layout::DeviceLayout::AsGiven;
            c.layout = Layout::RowMajor;
            c.params.set("dim", crate::params::ParamValue::Ints(dims));
            // Kept dims: the reshape that drops them is a view.
            c.params
                .set("keepdim", crate::params::ParamValue::Bool(true));
            c.estimate()
        };
        let dataflow =
            |shape: &str, dims: Vec<i64>| rm_mean(shape, dims).expect("modeled").peaks.dataflow;
        assert_eq!(dataflow("2,64,100,100", vec![3]), 34_816);
        assert_eq!(dataflow("1,1,1472,128", vec![2]), 36_864);
        assert_eq!(dataflow("3,40,50", vec![0, 2]), 30_720);
        // Tilized (two tile rows' buffers), then the W and H reduces of the tiles.
        assert_eq!(dataflow("3,40,50", vec![1, 2]), 10_240);
    }

    /// `ttnn.mean(x, dim=[])` reduces every dim on the runtime (shape `[]`, as with no `dim`);
    /// it once indexed an empty dim list (found by the case_params fuzzer).
    #[test]
    fn an_empty_dim_list_reduces_every_dim() {
        for dtype in [DType::Bfloat16, DType::Float32] {
            let none = mean_dataflow("1,2,64,64", dtype, BufferType::L1, None, false);
            let empty = mean_dataflow("1,2,64,64", dtype, BufferType::L1, Some(vec![]), false);
            assert_eq!(empty, none, "{dtype:?}");
        }
    }

    /// mean [3,3,3808,1376] bfloat8_b in L1 on n150, dims [0,3] (random slice seed
    /// 119024344742935): the N↔H permute runs on a bfloat16 copy that lives until the typecast
    /// back has been allocated. The runtime's NO_DISPATCH capture: 1,398,016 B of L1 buffers
    /// per core, and the OOM at 1,203,264 B allocated (sim had 34,816 B less: the copy freed
    /// too early).
    #[test]
    fn a_block_float_permute_holds_its_bfloat16_copy_until_the_typecast_back() {
        let op = crate::ops::find("mean").unwrap();
        let mut c = crate::case::Case::new(
            op,
            vec![Shape::parse("3,3,3808,1376").unwrap()],
            &crate::device::N150,
        );
        c.dtype = DType::Bfloat8B;
        c.input_memory = BufferType::L1;
        c.output_memory = BufferType::L1;
        c.params
            .set("dim", crate::params::ParamValue::Ints(vec![0, 3]));
        c.params
            .set("keepdim", crate::params::ParamValue::Bool(true));
        let e = c.estimate().expect("a verdict");
        assert_eq!(e.peaks.l1, 1_398_016);
    }

    /// Per-core dataflow peaks measured on the mock n150 (NO_DISPATCH).
    #[test]
    fn a_standalone_h_reduce_splits_columns_of_20_tiles_over_the_spare_cores() {
        use BufferType::{Dram, L1};
        let h = Some(vec![2]);
        // 20 tile rows: two passes (the fold holds 30,720 B); 19: one pass.
        assert_eq!(
            mean_dataflow("1,1,640,32", DType::Bfloat16, Dram, h.clone(), true),
            30_720
        );
        assert_eq!(
            mean_dataflow("1,1,608,32", DType::Bfloat16, Dram, h.clone(), true),
            10_240
        );
        // 33 columns leave one core each: one pass.
        assert_eq!(
            mean_dataflow("1,33,640,32", DType::Bfloat16, Dram, h.clone(), true),
            10_240
        );
        assert_eq!(
            mean_dataflow("1,3,2048,32", DType::Float32, Dram, h.clone(), true),
            36_864
        );
        assert_eq!(
            mean_dataflow("1,3,2048,32", DType::Bfloat8B, Dram, h, true),
            27_840
        );
        // The H half of an HW reduce never splits: a 690-tile column on one core.
        assert_eq!(
            mean_dataflow("22080,1216", DType::Bfloat16, L1, None, false),
            22_528
        );
        // Two chosen dims of a bfloat16 input: the first step writes FLOAT32.
        assert_eq!(
            mean_dataflow("1,2,640,96", DType::Bfloat16, Dram, Some(vec![1, 2]), false),
            36_864
        );
    }

    /// Per-core dataflow peaks of `sqrt(sum(square(x)))` measured on the mock n150
    /// (NO_DISPATCH): a bfloat8_b sum keeps its W partials in bfloat8_b; a float32 one reduces
    /// dim by dim (its 77-tile column split over the grid).
    #[test]
    fn vector_norm_sums_follow_their_dtype() {
        let norm = |shape: &str, dtype: DType, memory: BufferType| {
            let op = crate::ops::find("linalgvectornorm").unwrap();
            let mut c = crate::case::Case::new(
                op,
                vec![Shape::parse(shape).unwrap()],
                &crate::device::N150,
            );
            c.device_layout = crate::layout::DeviceLayout::AsGiven;
            c.dtype = dtype;
            c.input_memory = memory;
            c.output_memory = memory;
            c.estimate().expect("a verdict").peaks.dataflow
        };
        assert_eq!(
            norm("3,1,64,384", DType::Bfloat8B, BufferType::Dram),
            12_928
        );
        assert_eq!(norm("1,1,2434,72", DType::Float32, BufferType::L1), 36_864);
    }

    /// Per-core (dataflow, L1, total) peaks of a ROW_MAJOR `sqrt(sum(square(x)))` in L1, measured
    /// on the mock n150 (NO_DISPATCH): bfloat16 tilizes for FastReduceNC over the outer dims, or
    /// for the HW reduce of a rank-2 input; a float32 HW reduce of one tile runs W then H.
    #[test]
    fn a_row_major_vector_norm_tilizes_where_the_runtime_does() {
        let norm = |shape: &str, dtype: DType| {
            let op = crate::ops::find("linalgvectornorm").unwrap();
            let mut c = crate::case::Case::new(
                op,
                vec![Shape::parse(shape).unwrap()],
                &crate::device::N150,
            );
            c.device_layout = crate::layout::DeviceLayout::AsGiven;
            c.layout = Layout::RowMajor;
            c.dtype = dtype;
            let p = c.estimate().expect("a verdict").peaks;
            (p.dataflow, p.l1, p.total)
        };
        assert_eq!(norm("1,3,100,70", DType::Bfloat16), (18_432, 9_632, 26_016));
        assert_eq!(norm("100,70", DType::Bfloat16), (16_384, 8_768, 25_152));
        assert_eq!(norm("20,20", DType::Float32), (20_480, 12_448, 32_928));
    }

    fn topk_case(shape: &str, device: &'static crate::device::DeviceSpec) -> crate::case::Case {
        let op = crate::ops::find("topk").unwrap();
        let mut c = crate::case::Case::new(op, vec![Shape::parse(shape).unwrap()], device);
        c.device_layout = crate::layout::DeviceLayout::AsGiven;
        c
    }

    /// The whole-space draw seed 1212001 on n150 found memmodel answering OOM where the runtime
    /// clashed, for [3,54,55085] float32 along dim -2 from L1 into DRAM: a 54-wide row keeps
    /// its tiles (no pad program), k = 32 is whole tiles (no slices), and the transposes back
    /// go into the input's L1. Measured on n150: the TopK program's dataflow buffers clash.
    #[test]
    fn topk_along_a_short_other_dim_clashes_as_the_runtime_does() {
        use crate::params::ParamValue;
        let mut c = topk_case("3,54,55085", &crate::device::N150);
        c.dtype = DType::Float32;
        c.input_memory = BufferType::L1;
        c.output_memory = BufferType::Dram;
        c.params.set("dim", ParamValue::Int(-2));
        match c.estimate().expect("modeled").verdict {
            crate::case::Verdict::CbClash(d) => {
                assert_eq!(d.program, "TopKDeviceOperation");
                assert!(
                    d.message().ends_with(
                        "L1 buffer allocated at 172032 and static dataflow buffer region ends at 179552"
                    ),
                    "{}",
                    d.message()
                );
            }
            other => panic!("expected a clash, got {other:?}"),
        }
    }

    /// Measured on the mock boards (NO_DISPATCH).
    #[test]
    fn topk_along_another_dim_transposes_and_the_route_copies_into_the_output_memory() {
        use crate::params::ParamValue;
        // n150, [1,2,640,96] dim=2 k=40 in DRAM: the single-core factory on the transposed
        // input holds 49,152 B.
        let mut c = topk_case("1,2,640,96", &crate::device::N150);
        c.input_memory = BufferType::Dram;
        c.output_memory = BufferType::Dram;
        c.params.set("dim", ParamValue::Int(2));
        c.params.set("k", ParamValue::Int(40));
        assert_eq!(c.estimate().expect("modeled").peaks.dataflow, 49_152);
        // p150, [60,11295] k=32 from DRAM into L1: the route's outputs are copied (2 tiles).
        let mut c = topk_case("60,11295", &crate::device::P150);
        c.input_memory = BufferType::Dram;
        c.output_memory = BufferType::L1;
        c.params.set("k", ParamValue::Int(32));
        let e = c.estimate().expect("modeled");
        assert_eq!((e.peaks.cb, e.peaks.dataflow), (65_536, 4096));
        c.input_memory = BufferType::L1;
        assert_eq!(c.estimate().expect("modeled").peaks.dataflow, 0);
        // p150, [2,140800,192] k=11 in L1: the rank-3 outputs are sliced, and the first slice
        // (163,840 B per bank) runs out of L1 after the input and both outputs.
        let mut c = topk_case("2,140800,192", &crate::device::P150);
        c.params.set("k", ParamValue::Int(11));
        match c.estimate().expect("modeled").verdict {
            crate::case::Verdict::Oom(f) => assert_eq!(f.per_bank_bytes, 163_840),
            other => panic!("expected an OOM, got {other:?}"),
        }
    }

    #[test]
    fn a_padded_bfloat8_b_topk_holds_a_bfloat16_and_a_bfloat8_b_copy_at_once() {
        // topk [4,1086,1497] bfloat8_b in L1 on p150, measured per core on the runtime
        // (NO_DISPATCH): 249,216 B of L1 buffers = the input (64,192 per bank), its bfloat16
        // copy (120,832) and the bfloat8_b copy back (64,192); dataflow 33,984.
        let op = crate::ops::find("topk").unwrap();
        let mut c = crate::case::Case::new(
            op,
            vec![Shape::parse("4,1086,1497").unwrap()],
            &crate::device::P150,
        );
        c.dtype = DType::Bfloat8B;
        c.input_memory = BufferType::L1;
        c.output_memory = BufferType::L1;
        let e = c.estimate().expect("a verdict");
        assert_eq!(e.peaks.l1, 249_216);
        assert_eq!(e.peaks.dataflow, 33_984);
    }

    /// Blackhole's route takes TILE inputs only. Measured on p150: a ROW_MAJOR [32768,8224]
    /// with k = 2048 from DRAM into L1 allocates the bfloat16 values (1,220,608 B per bank) and
    /// runs out of L1 at the uint16 indices, as the TopK device operation's path does.
    #[test]
    fn a_row_major_topk_of_whole_tiles_on_blackhole_skips_the_route() {
        use crate::params::ParamValue;
        let mut c = topk_case("32768,8224", &crate::device::P150);
        c.layout = Layout::RowMajor;
        c.input_memory = BufferType::Dram;
        c.output_memory = BufferType::L1;
        c.params.set("k", ParamValue::Int(2048));
        match c.estimate().expect("modeled").verdict {
            crate::case::Verdict::Oom(f) => {
                assert_eq!((f.per_bank_bytes, f.allocated), (1_220_608, 1_220_608))
            }
            other => panic!("expected an OOM, got {other:?}"),
        }
    }

    /// The multi-core sort from 8192 whole tiles wide, measured on the mock boards
    /// (NO_DISPATCH CB bytes): n150 [32,16384] k = 64 bfloat16, p150 [64,8192] k = 32 float32.
    #[test]
    fn a_topk_from_8192_wide_sorts_on_several_cores() {
        use crate::params::ParamValue;
        let cb = |shape: &str, d: &'static crate::device::DeviceSpec, dtype: DType, k: i64| {
            let mut c = topk_case(shape, d);
            c.dtype = dtype;
            c.input_memory = BufferType::Dram;
            c.output_memory = BufferType::Dram;
            c.params.set("k", ParamValue::Int(k));
            c.estimate().map(|e| e.peaks.cb)
        };
        assert_eq!(
            cb("32,16384", &crate::device::N150, DType::Bfloat16, 64).ok(),
            Some(421_888)
        );
        assert_eq!(
            cb("64,8192", &crate::device::P150, DType::Float32, 32).ok(),
            Some(647_168)
        );
        // Under 8192 wide the rows decide ([`topk_rows_of_two_tiles_sort_on_several_cores`]).
        assert_eq!(
            cb("64,2048", &crate::device::N150, DType::Bfloat16, 32).ok(),
            Some(176_128)
        );
    }

    /// Under 8192 wide a power-of-two padded row from 1024 sorts on several cores when the rows
    /// are at most two tiles; a row that is not whole tiles runs the other buffer set (except in
    /// float32). NO_DISPATCH CB bytes measured on the mock boards (ttnn 0.81.1).
    #[test]
    fn topk_rows_of_two_tiles_sort_on_several_cores() {
        use crate::params::ParamValue;
        let run = |shape: &str, d: &'static crate::device::DeviceSpec, dtype: DType, k: i64| {
            let mut c = topk_case(shape, d);
            c.dtype = dtype;
            c.input_memory = BufferType::Dram;
            c.output_memory = BufferType::Dram;
            c.params.set("k", ParamValue::Int(k));
            let e = c.estimate().expect("modeled");
            let multi = e
                .plan
                .trace()
                .iter()
                .any(|t| format!("{t:?}").contains("TopKMultiCoreProgramFactory"));
            (e.peaks.cb, multi)
        };
        let (n150, p150) = (&crate::device::N150, &crate::device::P150);
        let bf16 = DType::Bfloat16;
        assert_eq!(run("32,1024", n150, bf16, 32), (110_592, true));
        assert_eq!(run("32,1000", n150, bf16, 32), (118_784, true));
        assert_eq!(run("32,1000", p150, bf16, 32), (118_784, true));
        assert_eq!(run("64,2017", n150, bf16, 32), (184_320, true));
        assert_eq!(run("32,1024", n150, DType::Bfloat8B, 32), (104_832, true));
        assert_eq!(run("32,1000", n150, DType::Float32, 32), (221_184, true));
        assert!(!run("96,2048", n150, bf16, 32).1);
        assert!(!run("65,4096", n150, bf16, 32).1);
        assert!(!run("32,512", p150, bf16, 32).1);
        assert!(!run("32,1024", n150, bf16, 65).1);
    }
    /// FillPad's cores are the column-wise split's, listed as its CoreRangeSet merges them
    /// (the allocation traces on n150 [40,1030] and p150 [1,2017]: row strips sorted by start).
    #[test]
    fn fill_pad_lists_its_cores_as_the_runtime_merges_them() {
        use crate::params::ParamValue;
        let ranges = |shape: &str, d: &'static crate::device::DeviceSpec| {
            let mut c = topk_case(shape, d);
            c.input_memory = BufferType::Dram;
            c.output_memory = BufferType::Dram;
            c.params.set("k", ParamValue::Int(7));
            let e = c.estimate().expect("modeled");
            let fill = e.plan.steps.iter().find_map(|s| match s {
                crate::plan::Step::Run(p) if p.factory == "FillPadProgramFactory" => Some(p),
                _ => None,
            });
            let fill = fill.expect("a fill");
            assert!(fill.cbs.iter().all(|cb| cb.cores == fill.cbs[0].cores));
            fill.cbs[0].cores.clone()
        };
        assert_eq!(
            ranges("40,1030", &crate::device::N150),
            CoreRangeSet::parse("{[0-0 - 4-1], [0-2 - 3-7]}").unwrap()
        );
        assert_eq!(
            ranges("1,2017", &crate::device::P150),
            CoreRangeSet::parse("{[0-0 - 6-3], [0-4 - 5-9]}").unwrap()
        );
    }
}
