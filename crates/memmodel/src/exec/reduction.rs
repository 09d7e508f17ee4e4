//! Normalizations and reductions: softmax, mean, sum, topk.

use super::grid;
use super::util::{out_memory, tile_size};
use super::{unmodeled, Args, Exec, Val};
use crate::case::BufferRole;
use crate::ops::CaseError;
use crate::program::{CbKind, Program};
use crate::tensor::TILE;

pub(super) fn call(ex: &mut Exec<'_>, name: &str, a: &Args<'_>) -> Result<Option<Val>, CaseError> {
    Ok(Some(match name {
        "softmax" => softmax(ex, a)?,
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
