//! Normalizations and reductions: softmax, mean, sum, topk.

use super::grid;
use super::util::{out_memory, tile_size};
use super::{unmodeled, Args, Exec, Val};
use crate::case::BufferRole;
use crate::device::{Arch, BufferType};
use crate::dtype::DType;
use crate::layout::Layout;
use crate::ops::CaseError;
use crate::plan::DevTensor;
use crate::program::{Cb, CbKind, Program};
use crate::shape::Shape;
use crate::tensor::{TensorSpec, TILE};

pub(super) fn call(ex: &mut Exec<'_>, name: &str, a: &Args<'_>) -> Result<Option<Val>, CaseError> {
    Ok(Some(match name {
        "softmax" => softmax(ex, a)?,
        "topk" => topk(ex, a)?,
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
fn softmax(ex: &mut Exec<'_>, a: &Args<'_>) -> Result<Val, CaseError> {
    let x = a.tensor(0, "input_tensor")?;
    let dim = a.int(1, "dim")?.unwrap_or(-1);
    let rank = x.shape().rank() as i64;
    if dim != -1 && dim != rank - 1 {
        return Err(unmodeled(
            a.function,
            "memmodel models softmax over the last dim only",
        ));
    }
    let d = ex.device();
    let mem = out_memory(a, x.memory)?;
    let out =
        ex.b.tensor("output", BufferRole::Temporary, x.spec.clone(), mem)?;
    let w = *x.dims().last().unwrap_or(&1);
    let wt = w.div_ceil(TILE);
    let padded = w % TILE != 0;
    let t_in = tile_size(x.dtype());
    let t_out = t_in;
    let (t_fp32, t_bf16) = (4096, 2048);
    let block = if wt <= 8 { find_max_divisor(wt, 4) } else { 4 };
    let row = wt.div_ceil(block) * block;
    let in0 = if padded { 2 * block } else { row };
    let estimate = in0 * t_in + row * t_in + 2 * block * t_out + 5 * t_bf16;
    let large = estimate * 10 > d.l1_bytes_per_core * 9;
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
            t_bf16,
            t_fp32,
            80 * t_in,
            t_bf16,
            t_bf16,
        ] {
            p = p.cb(CbKind::Dataflow, size, &cores);
        }
        if padded {
            p = p.cb(CbKind::Dataflow, 80 * t_in, &cores);
        }
    } else {
        for size in [
            in0 * t_in,
            2 * block * t_out,
            t_fp32,
            t_bf16,
            t_fp32,
            row * t_in,
            t_bf16,
            t_bf16,
        ] {
            p = p.cb(CbKind::Dataflow, size, &cores);
        }
        if padded {
            p = p.cb(CbKind::Dataflow, row * t_in, &cores);
        }
    }
    ex.b.run(p);
    Ok(Val::T(out))
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
    let (h, w) = if n >= 2 {
        (d[n - 2], d[n - 1])
    } else {
        (1, d[n - 1])
    };
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
    let t = tile_size(x.dtype());
    let mut p = Program::new("FillPadDeviceOperation", "FillPadProgramFactory").cb(
        CbKind::Dataflow,
        2 * t,
        &split.all,
    );
    if right {
        p = p.cb(CbKind::Dataflow, t, &split.all);
    }
    if bottom {
        p = p.cb(CbKind::Dataflow, t, &split.all);
    }
    p = p.cb(CbKind::Dataflow, 2 * t, &split.all);
    ex.b.run(p);
}

/// `ttnn.pad` of a TILE tensor's last dim up to `w`: the input's tile padding is filled first
/// ([`fill_pad`]), then `PadTileMulticoreProgramFactory` (output tiles split over the grid
/// column-wise) or, single-core, `PadTileCoreProgramFactory`; each has a 2-tile dataflow
/// buffer and a one-tile scratchpad.
fn pad_last_dim(
    ex: &mut Exec<'_>,
    x: &DevTensor,
    w: u64,
    multicore: bool,
) -> Result<DevTensor, CaseError> {
    fill_pad(ex, x);
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
    if dim != -1 && dim != rank as i64 - 1 {
        return Err(unmodeled(
            a.function,
            "memmodel models topk over the last dim only",
        ));
    }
    if rank > 4 {
        return Err(unmodeled(a.function, "memmodel models topk up to rank 4"));
    }
    let largest = a.bool_or(3, "largest", true)?;
    let w = *x.dims().last().expect("rank >= 1");
    let k = u64::try_from(k)
        .ok()
        .filter(|k| (1..=w).contains(k))
        .ok_or_else(|| {
            super::invalid(
                a.function,
                format!("k {k} must be in 1..={w} (the last dim)"),
            )
        })?;
    if x.layout() != Layout::Tile {
        return Err(unmodeled(a.function, "memmodel models TILE inputs of topk"));
    }
    let mem = out_memory(a, x.memory)?;
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
    // Multi-core bitonic sort: a power-of-two width of at least 8192 (multi_core_min_width)
    // below 65535 with k <= 64 (its cost check aside).
    let multicore_eligible = padded_w.is_power_of_two() && (8192..65535).contains(&padded_w);
    let route = largest
        && k <= 2048
        && (k > 64 || (!multicore_eligible && padded_w >= 4096))
        && x.dtype() == DType::Bfloat16
        && d.arch == Arch::Blackhole
        && w >= k16
        && w <= 1 << 19;
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
            mem,
        )?;
        let indices = ex.b.tensor(
            "indices",
            BufferRole::Temporary,
            TensorSpec::new(Shape::from_dims(out_dims)?, index_dtype, Layout::Tile),
            mem,
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
        (values, indices, k16, None)
    } else {
        // The pinned runtime passes K through unrounded (its outputs' tiles hold up to 32).
        let adjusted_k = k;
        let padded = if w < 64 {
            let multicore = x.dtype() == DType::Bfloat16 && x.memory != BufferType::L1;
            let p = pad_last_dim(ex, &x4, 64, multicore)?;
            ex.b.release(x4);
            p
        } else {
            x4
        };
        fill_pad(ex, &padded);
        let pw = padded.dims()[3].div_ceil(TILE) * TILE;
        let index_dtype = if pw <= 65535 {
            DType::Uint16
        } else {
            DType::Uint32
        };
        let mut out_dims = padded.dims().to_vec();
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
        // The padded copy dies when topk returns, after the post-processing below.
        (values, indices, adjusted_k, Some(padded))
    };
    // Slice K back down (both outputs, in order), then restore the rank (views). A 1D input's
    // outputs are sliced too (measured: two SliceTile programs before the reshape to 1D).
    let (mut values, mut indices) = (values, indices);
    if adjusted_k != k || rank == 1 {
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
    if let Some(p) = keep {
        ex.b.release(p);
    }
    Ok(Val::List(vec![Val::T(values), Val::T(indices)]))
}
