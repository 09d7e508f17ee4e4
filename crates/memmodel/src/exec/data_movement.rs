//! Data movement: transpose, permute, reshape / unsqueeze, concat (and the device operations
//! they decompose into: TransposeWH / HC, the permute factories, the tiled reshape with its host
//! page map).

use super::grid;
use super::util::{out_memory, tile_size, tiles};
use super::{invalid, unmodeled, Args, Exec, Val};
use crate::device::BufferType;
use crate::dtype::DType;
use crate::error::CaseError;
use crate::layout::Layout;
use crate::plan::BufferRole;
use crate::plan::{raw_placement, DevTensor};
use crate::program::{Cb, CbKind, Program};
use crate::shape::Shape;
use crate::tensor::{TensorSpec, TILE};

/// What the tilize device operations raise for a dtype they do not take (uint8, seen on the
/// runtime in expand, split and concat round trips).
const TILIZE_DTYPE_REFUSAL: &str =
    "Can only tilize bfloat16/float32 or int32/uint32/uint16 or fp8_e4m3 tensors";

pub(super) fn call(ex: &mut Exec<'_>, name: &str, a: &Args<'_>) -> Result<Option<Val>, CaseError> {
    Ok(Some(match name {
        "transpose" => {
            let x = a.tensor(0, "input_tensor")?;
            let d0 = a
                .int(1, "dim0")?
                .ok_or_else(|| invalid(a.function, "missing `dim0`"))?;
            let d1 = a
                .int(2, "dim1")?
                .ok_or_else(|| invalid(a.function, "missing `dim1`"))?;
            let mem = out_memory(a, x.memory)?;
            Val::T(transpose(ex, x, d0, d1, mem)?)
        }
        "permute" => {
            let x = a.tensor(0, "input_tensor")?;
            let dims = a
                .ints(1, "dims")?
                .ok_or_else(|| invalid(a.function, "missing `dims`"))?;
            let mem = out_memory(a, x.memory)?;
            Val::T(permute(ex, x, &dims, mem)?)
        }
        "reshape" => {
            let x = a.tensor(0, "input_tensor")?;
            let dims = a
                .ints(1, "shape")?
                .ok_or_else(|| invalid(a.function, "missing `shape`"))?;
            let mem = out_memory(a, x.memory)?;
            Val::T(reshape(ex, x, &dims, mem)?)
        }
        "unsqueeze" => {
            let x = a.tensor(0, "input_tensor")?;
            let d = a
                .int(1, "dim")?
                .ok_or_else(|| invalid(a.function, "missing `dim`"))?;
            let rank = x.shape().rank() as i64 + 1;
            let at = if d < 0 { d + rank } else { d };
            if !(0..rank).contains(&at) {
                return Err(invalid(a.function, format!("dim {d} out of range")));
            }
            // `ttnn::unsqueeze` is `ttnn::reshape` to the new shape in the input's memory: a
            // view where the tiles' padding stays, else the copying reshape.
            let mut dims: Vec<i64> = x.dims().iter().map(|&v| v as i64).collect();
            dims.insert(at as usize, 1);
            let mem = x.memory;
            Val::T(reshape(ex, x, &dims, mem)?)
        }
        "split" => {
            let x = a.tensor(0, "input_tensor")?;
            let dim = a.int(2, "dim")?.unwrap_or(0);
            let i = norm_dim(a.function, x.shape().rank(), dim)?;
            let extent = x.dims()[i];
            let sizes: Vec<u64> = match a.get(1, "split_size") {
                Some(Val::Int(s)) if *s > 0 => {
                    // Equal pieces and the remainder last, as the runtime lists them (its
                    // batching of more than 64 pieces needs them all equal: seen on n150, a
                    // [1854,141] split by 2 takes no windows, [385,290] by 2 does).
                    let s = *s as u64;
                    let n = extent.div_ceil(s);
                    (0..n)
                        .map(|i| if i + 1 == n { extent - s * (n - 1) } else { s })
                        .collect()
                }
                Some(Val::List(_)) => a
                    .ints(1, "split_size")?
                    .unwrap_or_default()
                    .into_iter()
                    .map(|v| v.max(1) as u64)
                    .collect(),
                _ => {
                    return Err(invalid(
                        a.function,
                        "`split_size` must be a positive integer or a list",
                    ))
                }
            };
            let mem = match a.kw.get("memory_config") {
                None | Some(Val::None) if x.shard.is_none() => {
                    split_default_memory(ex, x, sizes.len() as u64)?
                }
                _ => out_memory(a, x.memory)?,
            };
            Val::List(
                split(ex, x, &sizes, i, mem)?
                    .into_iter()
                    .map(Val::T)
                    .collect(),
            )
        }
        "expand" => {
            let x = a.tensor(0, "input_tensor")?;
            let dims = a
                .ints(1, "output_shape")?
                .ok_or_else(|| invalid(a.function, "missing `output_shape`"))?;
            let mem = out_memory(a, x.memory)?;
            Val::T(expand(ex, x, &dims, mem)?)
        }
        "concat" => {
            let xs = a.tensors(0, "tensors")?;
            let d = a.int(1, "dim")?.unwrap_or(0);
            let first = xs
                .first()
                .ok_or_else(|| invalid(a.function, "no tensors to concatenate"))?;
            let mem = out_memory(a, first.memory)?;
            Val::T(concat(ex, &xs, d, mem)?)
        }
        "to_memory_config" => {
            let x = a.tensor(0, "tensor")?;
            let mem = match a.get(1, "memory_config") {
                Some(Val::Mem(m)) => *m,
                other => {
                    return Err(unmodeled(
                        a.function,
                        format!("a move to {other:?} (interleaved L1 / DRAM only)"),
                    ))
                }
            };
            let dtype = opt_dtype(a)?;
            Val::T(to_memory_config(ex, x, mem, dtype)?)
        }
        "to_layout" => {
            let x = a.tensor(0, "tensor")?;
            let layout = match a.get(1, "layout") {
                Some(Val::Layout(l)) => *l,
                other => return Err(invalid(a.function, format!("`layout` is {other:?}"))),
            };
            let dtype = opt_dtype(a)?;
            let mem = out_memory(a, x.memory)?;
            Val::T(to_layout(ex, x, layout, dtype, mem)?)
        }
        _ => return Ok(None),
    }))
}

/// The optional `dtype` keyword of `to_layout` / `to_memory_config`.
fn opt_dtype(a: &Args<'_>) -> Result<Option<DType>, CaseError> {
    match a.kw.get("dtype") {
        None | Some(Val::None) => Ok(None),
        Some(Val::DType(d)) => Ok(Some(*d)),
        Some(other) => Err(invalid(a.function, format!("`dtype` is {other:?}"))),
    }
}

/// `ttnn.to_memory_config` between interleaved memories (to_memory_config_op.hpp): the input
/// itself when the memory is its own (whatever `dtype` says), else `ttnn::prim::copy`
/// (CopyDeviceOperation) into `mem` with the output dtype; a dtype change adds the output's
/// two tiles beside the input's (copy_program_factory.cpp's `convert_dtype` CB).
pub(super) fn to_memory_config(
    ex: &mut Exec<'_>,
    x: &DevTensor,
    mem: BufferType,
    dtype: Option<DType>,
) -> Result<DevTensor, CaseError> {
    if x.shard.is_some() {
        return sharded_to_interleaved(ex, x, mem, dtype);
    }
    if mem == x.memory {
        return Ok(ex.b.share(x, x.spec.clone()));
    }
    match dtype {
        Some(d) if d != x.dtype() => {
            if x.layout() != Layout::Tile {
                // The copy allocates its output in the new dtype, then refuses (seen on the
                // runtime, n150: [64,1000] bfloat16 to float32 refused; [3000,100000] from DRAM
                // to L1 runs out of L1 at its 1,200,000,000 B float32 output first).
                if d.is_block_float() {
                    // A ROW_MAJOR block-float output spec is refused before anything is
                    // allocated (random to_memory_config seed 1107351, both boards).
                    ex.b.run(
                        Program::new("CopyDeviceOperation", "DefaultRowMajor").refused(
                            String::from("Only TILE layout is supported for BFLOAT8_B dtype!"),
                        ),
                    );
                    return Ok(ex.b.share(x, x.spec.clone()));
                }
                let spec = TensorSpec::new(x.shape().clone(), d, Layout::RowMajor);
                let out = ex.b.tensor("output", BufferRole::Temporary, spec, mem)?;
                ex.b.run(
                    Program::new("CopyDeviceOperation", "DefaultRowMajor")
                        .refused(String::from("Only tile layout supports dtype conversion")),
                );
                return Ok(out);
            }
            converting_copy(ex, x, d, mem)
        }
        _ if x.layout() == Layout::RowMajor => {
            let out =
                ex.b.tensor("output", BufferRole::Temporary, x.spec.clone(), mem)?;
            ex.b.run(row_major_copy_program(ex.device(), x, mem)?);
            Ok(out)
        }
        _ => move_to(ex, x, mem, RowAlign::Input, CbKind::Dataflow),
    }
}

/// `CopyDeviceOperation`'s tilized copy into `mem` with dtype `d`: two input and two output tiles
/// on the cores the tiles split over.
fn converting_copy(
    ex: &mut Exec<'_>,
    x: &DevTensor,
    d: DType,
    mem: BufferType,
) -> Result<DevTensor, CaseError> {
    let spec = TensorSpec::new(x.shape().clone(), d, Layout::Tile);
    let out = ex.b.tensor("output", BufferRole::Temporary, spec, mem)?;
    let w = grid::split_work(ex.device(), tiles(&x.spec), false);
    let cores = grid::merge_ranges(&w.all);
    ex.b.run(
        Program::new("CopyDeviceOperation", "DefaultTilized")
            .cb(CbKind::Dataflow, 2 * tile_size(x.dtype()), &cores)
            .cb(CbKind::Dataflow, 2 * tile_size(d), &cores),
    );
    Ok(out)
}

/// `ShardedToInterleavedProgramFactory`: the output allocated interleaved in `mem`, one dataflow
/// buffer on the shard cores that borrows the input's shard (`borrows_memory`: it takes no room),
/// a whole shard in size even where the last shard is partial (seen on the runtime, n150:
/// [1,1,25600,192] bfloat8_b height-sharded on 62 cores, 84,864 B = 13 × 6 tiles of 1,088 B;
/// [1,1,6400,384] block-sharded on 6 × 8 cores, 54,400 B).
fn sharded_to_interleaved(
    ex: &mut Exec<'_>,
    x: &DevTensor,
    mem: BufferType,
    dtype: Option<DType>,
) -> Result<DevTensor, CaseError> {
    if x.layout() != Layout::Tile {
        return Err(unmodeled(
            "ttnn.to_memory_config",
            "a ROW_MAJOR sharded tensor",
        ));
    }
    // The input's own shards (a conv's output keeps its parallel config).
    let Some(shard) = x.shard.clone() else {
        return Err(invalid("ttnn.to_memory_config", "the input is not sharded"));
    };
    let converted = match dtype.filter(|d| *d != x.dtype()) {
        Some(d) => {
            let page =
                crate::size::round_up(tile_size(d), ex.device().alignment(mem), "converted tile")?;
            Some((
                d,
                crate::size::mul(shard.shard_tiles(), page, "converted shard")?,
            ))
        }
        None => None,
    };
    if let Some((d, bytes)) = converted {
        // A converted shard larger than an L1 bank is copied two tiles at a time instead
        // (traced: [1,1,2048,W] bfloat16 height-sharded to float32 runs the sharded factory
        // up to 1,392,640 B and the tilized copy from 1,396,736 B on n150, whose bank is
        // 1,393,312 B; on p150 up to 1,458,176 B and from 1,462,272 B, bank 1,461,120 B).
        if bytes > ex.device().l1_bank_bytes {
            return converting_copy(ex, x, d, mem);
        }
    }
    let bytes = super::eltwise::shard_bytes(&shard, x.dtype());
    let out_spec = TensorSpec::new(x.shape().clone(), dtype.unwrap_or(x.dtype()), Layout::Tile);
    let out =
        ex.b.tensor("output", BufferRole::Temporary, out_spec, mem)?;
    let mut cb = Cb::new(CbKind::Dataflow, bytes, shard.cores.clone());
    cb.global = true;
    let mut p = Program::new(
        "ShardedToInterleavedDeviceOperation",
        "ShardedToInterleavedProgramFactory",
    );
    p.push(cb);
    if let Some((_, bytes)) = converted {
        // `convert_df`: the converted tiles' own buffer, a whole shard of output tiles, each
        // aligned as the output's memory (sharded_to_interleaved_program_factory.cpp; traced on
        // n150: [1,1,25600,192] height-sharded to bfloat8_b in DRAM, 84,864 B = 78 × 1,088).
        // A device run checks it against the L1 buffers only while it ends at or below the
        // input shard it borrows (traced on n150: [4,960,W] bfloat8_b height-sharded to
        // bfloat16 in L1 clashes with the output up to W = 7104, its region ending 928 B below
        // the shard, and runs from W = 7136, 5,344 B above it; random to_memory_config seed
        // 1107321, both boards, the same either side).
        // Only seen to run up to 5,344 B past the shard's start: p150 [1,1,2975,10460]
        // bfloat8_b block-sharded to float32 in L1, its region 94,080 B past the shard, clashed
        // on the runtime with numbers that fit no layout here (whole-space bfloat8_b draw seed
        // 1212112): further past it is not modeled.
        const SEEN_TO_RUN_PAST_THE_SHARD: u64 = 5_344;
        let region_end = ex.device().l1_unreserved_base.saturating_add(bytes);
        if let Some(shard_at) = ex.b.l1_address(x) {
            if region_end.saturating_sub(shard_at) > SEEN_TO_RUN_PAST_THE_SHARD {
                return Err(unmodeled(
                    "ttnn.to_memory_config",
                    format!(
                        "a dtype-converting sharded-to-interleaved move whose converted tiles' buffer \
                         ends {} B past the input shard it borrows (seen to run up to {} B past it)",
                        region_end - shard_at,
                        SEEN_TO_RUN_PAST_THE_SHARD
                    ),
                ));
            }
        }
        p.push(Cb::new(CbKind::Dataflow, bytes, shard.cores.clone()));
        p.unchecked_past = Some(x.buffer);
    }
    ex.b.run(p);
    Ok(out)
}

/// The ROW_MAJOR `CopyDeviceOperation` of an interleaved move (`DefaultRowMajor`): the output
/// pages' dataflow buffer, two rows per core aligned as the output's memory is (seen on the
/// runtime: a [13310,3047] bfloat16 move from L1 to DRAM on n150 takes 2 × 6,112 B, 32 B
/// aligned, a [1,9,253,1203] float32 one on p150 2 × 4,864 B, 64 B aligned; a [5,7467,1987]
/// bfloat16 one from DRAM to L1 on n150 2 × 3,984 B, 16 B aligned), then the reader's private
/// scratchpad of one unaligned input row (copy_default_row_major_program_factory.cpp); rows
/// over 256 KiB (`MAX_SUBBLOCK_SIZE_BYTES`) go in chunks of that size, rows up to it whole (the
/// factory compares the input page and the aligned output page with it; both exceed it together
/// since 256 KiB is a multiple of every alignment; seen on both boards: [1,1,60000] and
/// [3,50,64000] bfloat16 from DRAM to L1 take 2 × 120,000 B / 2 × 128,000 B whole rows; random
/// to_memory_config seeds 1207101 / 1207112 / 1207111 n150, 1207122 / 1207121 p150, 0
/// mismatches). The scratchpad is in the capture's per-core total, not its dataflow peak (YOLOv12x 640 #560 on n150: a [1,1,1600,1536]
/// move peaks at 76,800 B of L1 + 6,144 + 3,072 B), and a device run's dataflow region ends an
/// unaligned row above the two (seen on n150 in the clash messages: [3392,6304] float32 and
/// [3392,12608] bfloat16 both ways, [1600,12608] float32 and [800,25216] int32 from DRAM to L1;
/// [3,1363,10591] bfloat16 from DRAM to L1 ends at 105,824 + 2 × 21,184 + 21,182 B; a chunked
/// [657042] bfloat16 one three 256 KiB chunks).
fn row_major_copy_program(
    d: &crate::device::DeviceSpec,
    x: &DevTensor,
    mem: BufferType,
) -> Result<Program, CaseError> {
    let w = x.dims().last().copied().unwrap_or(1).max(1);
    let unaligned_row = crate::size::mul(w, x.dtype().row_major_element_bytes(), "move row")?;
    let row = crate::size::round_up(unaligned_row, d.alignment(mem), "move row")?;
    let rows = x.shape().elements() / w;
    let cores = grid::merge_ranges(&grid::split_work(d, rows, false).all);
    let buffer = crate::size::mul(2, row, "move buffer")?;
    let chunk = super::eltwise::COPY_ROW_CHUNK_BUFFER / 2;
    if row > chunk {
        return Ok(Program::new("CopyDeviceOperation", "RowChunked")
            .cb(CbKind::Dataflow, 2 * chunk, &cores)
            .cb(CbKind::Scratchpad, chunk, &cores));
    }
    Ok(Program::new("CopyDeviceOperation", "RowMajor")
        .cb(CbKind::Dataflow, buffer, &cores)
        .cb(CbKind::Scratchpad, unaligned_row, &cores))
}

/// `ttnn.to_layout` on the device (to_layout_op.cpp): the input itself when it has the layout
/// already; to ROW_MAJOR an untilize (a block float comes out bfloat16), to TILE a tilize.
fn to_layout(
    ex: &mut Exec<'_>,
    x: &DevTensor,
    layout: Layout,
    dtype: Option<DType>,
    mem: BufferType,
) -> Result<DevTensor, CaseError> {
    if x.shard.is_some() {
        return Err(unmodeled("ttnn.to_layout", "a sharded input"));
    }
    if layout == x.layout() {
        // The input itself: `dtype` and `memory_config` are ignored with a warning (seen on the
        // runtime: a bfloat16 tensor asked for float32 in DRAM comes back as it was, in L1).
        return Ok(ex.b.share(x, x.spec.clone()));
    }
    // A tilize converts to its output dtype itself (tilize_with_val_padding's `output_dtype`),
    // integer inputs too: its input buffers hold the input's tiles, its output buffers the
    // output's (seen on n150: [1,1,100,200] int32 / uint32 to bfloat8_b tilized straight into
    // 1,088 B tiles, uint16 to float32 into 4,096 B ones); other dtype changes go through
    // typecasts not planned here.
    let tilize_into = |d: DType| {
        const WORDS: [DType; 5] = [
            DType::Bfloat16,
            DType::Float32,
            DType::Int32,
            DType::Uint32,
            DType::Uint16,
        ];
        layout == Layout::Tile
            && x.layout() == Layout::RowMajor
            && (WORDS.contains(&x.dtype()) || x.dtype() == DType::Uint8)
            && (WORDS.contains(&d) || d == DType::Bfloat8B)
    };
    // The untilize writes a block float's rows as bfloat16 whether or not the call asks.
    let untilize_into = |d: DType| {
        layout == Layout::RowMajor && x.layout() == Layout::Tile && d == untilized_dtype(x.dtype())
    };
    let out_dtype = dtype.unwrap_or(x.dtype());
    if let Some(d) = dtype.filter(|&d| d != x.dtype() && !tilize_into(d) && !untilize_into(d)) {
        return Err(unmodeled(
            "ttnn.to_layout",
            format!(
                "a change of dtype ({} to {})",
                x.dtype().ttnn_name(),
                d.ttnn_name()
            ),
        ));
    }
    // uint8 takes the tilize's Blackhole block factory (p150: a [11,4256,1312] tilize in L1
    // takes 18,432 B of blocks, not the default factory's 83,968 B): random seeds 1208021 /
    // 1208031 (L1) on n150, 1208022 / 1208032 (L1) on p150, 0 mismatches.
    match layout {
        // `ttnn::untilize` (tile-aligned) or `untilize_with_unpadding` (padded), the same
        // programs the split / concat untilizes take; a block float comes out bfloat16. 1-D
        // tensors take the wide-row block factories as [1, N] ones do, both ways (the
        // [34914688] untilize and [6141024] tilize that gated them match their captures;
        // seeds 91721 n150 / 91722 p150 TILE, 91731 n150 / 91732 p150 ROW_MAJOR).
        Layout::RowMajor => untilize(ex, x, mem),
        Layout::Tile => {
            let out = tilize_to(
                ex,
                x,
                mem,
                out_dtype,
                ex.device().l1_bank_bytes,
                false,
                None,
            )?;
            // The factory follows the L1 left free beside its output (`is_enough_space`),
            // exact since its estimate counts the block factory's staging row
            // ([`tilize_row_cbs`]) and the free L1 is the device's (the 64 KiB gate around the
            // threshold is gone: seen on n150, [2,9145,1966] bfloat16 from DRAM to L1 2,720 B
            // over the rows' tiles and under the staging row, block factory on both; random
            // seeds 1207161 n150 / 1207162 p150, 1207163 / 1207164 row-major, 0 mismatches).
            // Where no block fits the free L1 the runtime refuses in the words memmodel gives
            // (`single_block_size_limit must be at least 1` for a limit of 0, else `No solution
            // found for single_block_size`): 35 probes within a few KiB of the bank on both
            // boards (bfloat16 / float32 / float32 to bfloat8_b, from DRAM or L1 into L1) and
            // random seeds 1208011 p150 / 1208012 n150, since the free L1 is read below the
            // lowest buffer.
            Ok(out)
        }
    }
}

fn norm_dim(f: &str, rank: usize, d: i64) -> Result<usize, CaseError> {
    let r = rank as i64;
    let i = if d < 0 { d + r } else { d };
    if (0..r).contains(&i) {
        Ok(i as usize)
    } else {
        Err(invalid(f, format!("dim {d} out of range for rank {rank}")))
    }
}

fn spec_with(x: &DevTensor, dims: Vec<u64>) -> Result<TensorSpec, CaseError> {
    Ok(TensorSpec::new(
        Shape::from_dims(dims)?,
        x.dtype(),
        x.layout(),
    ))
}

/// The 4D view TT-NN makes of a lower-rank tensor (`unsqueeze_to_4D`).
pub(super) fn to_4d(dims: &[u64]) -> Vec<u64> {
    let mut d = dims.to_vec();
    while d.len() < 4 {
        d.insert(0, 1);
    }
    d
}

/// `ttnn.transpose` (transpose.cpp): ranks above 4 permute; a bfloat8_b tensor is typecast to
/// bfloat16 around every transpose but WH and CN ([`through_bfloat16`]); a dim with itself, or
/// two dims of padded size 1, hand the input back (cloned into another memory); NH, NW and CW
/// go through `ttnn.permute`, CN, HC and WH through their transpose factories.
pub(super) fn transpose(
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
fn transpose_as_is(
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
fn tile_element_bytes(dtype: DType) -> u64 {
    if dtype.is_block_float() {
        1
    } else {
        dtype.row_major_element_bytes()
    }
}

/// Leading dims the 4D view adds to a tensor of `rank`.
fn pad_of(rank: usize) -> usize {
    4usize.saturating_sub(rank)
}

/// A bfloat8_b op the runtime runs on a bfloat16 copy (transpose.cpp, permute.cpp): typecast
/// to bfloat16 in the input's memory, `body`, typecast back into the result's memory; the two
/// bfloat16 tensors are freed after the last typecast. Seen on the runtime (NO_DISPATCH, mock
/// n150): a [1,2,64,96] bfloat8_b HC transpose allocates 1088 B, 2048 B, 2048 B and 1088 B
/// pages in that order, its dataflow peak 2 × 1088 + 2 × 2048 B.
fn through_bfloat16(
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
fn typecast_into(
    ex: &mut Exec<'_>,
    x: &DevTensor,
    spec: TensorSpec,
    mem: BufferType,
) -> Result<DevTensor, CaseError> {
    let out = ex.b.tensor("typecast", BufferRole::Temporary, spec, mem)?;
    super::reduction::typecast_program(ex, x, &out);
    Ok(out)
}

/// `TransposeCNProgramFactory`: the input tiles split over the grid, a two-tile buffer each.
fn transpose_cn_program(ex: &mut Exec<'_>, x4: &TensorSpec) {
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
fn permute_rm(
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
fn transpose_hc_program(ex: &mut Exec<'_>, x4: &TensorSpec) {
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
pub(super) fn permute(
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
fn permute_tiled_4d(
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
fn permute_tiled(
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
fn larger_split(d: &crate::device::DeviceSpec, a: u64, b: u64) -> crate::program::CoreRangeSet {
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
fn permute_tiled_generic(
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
fn is_permute_nop(x: &DevTensor, perm: &[usize]) -> bool {
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

/// Which buffer's alignment the rows of a ROW_MAJOR [`move_to`] take.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RowAlign {
    Input,
    Output,
}

/// `ttnn.to_memory_config` to another interleaved memory: a copy; of a ROW_MAJOR tensor two
/// aligned rows per core, aligned as `align` says: seen on the runtime on p150, an identity
/// transpose of a [1,70,35] float32 tensor from L1 to DRAM takes 2 × 144 B (the L1 input's
/// alignment), an identity permute of a [81,22573] bfloat16 one from DRAM to L1 2 × 45,152 B
/// (the L1 output's). Rows aligned as the output's are `to_memory_config`'s own copy
/// ([`row_major_copy_program`]: its scratchpad and its 256 KiB chunks too; seen on n150: a
/// one-piece split of a [362,400246] float32 from DRAM to L1 moves 2 × 256 KiB chunks, random
/// split seed 1207361). A TILE tensor takes two tiles per core, in a buffer of `tile_kind`
/// (a dataflow buffer for identity transposes and one-piece splits, seen on the runtime).
fn move_to(
    ex: &mut Exec<'_>,
    x: &DevTensor,
    mem: BufferType,
    align: RowAlign,
    tile_kind: CbKind,
) -> Result<DevTensor, CaseError> {
    let out =
        ex.b.tensor("output", BufferRole::Temporary, x.spec.clone(), mem)?;
    let d = ex.device();
    if x.layout() == Layout::RowMajor && align == RowAlign::Output {
        ex.b.run(row_major_copy_program(d, x, mem)?);
        return Ok(out);
    }
    if x.layout() == Layout::RowMajor {
        let w = x.dims().last().copied().unwrap_or(1).max(1);
        let row = crate::size::round_up(
            crate::size::mul(w, x.dtype().row_major_element_bytes(), "move row")?,
            d.alignment(if align == RowAlign::Input {
                x.memory
            } else {
                mem
            }),
            "move row",
        )?;
        let rows = x.shape().elements() / w;
        ex.b.run(Program::new("CopyDeviceOperation", "RowMajor").cb(
            CbKind::Dataflow,
            crate::size::mul(2, row, "move buffer")?,
            &grid::merge_ranges(&grid::split_work(d, rows, false).all),
        ));
        return Ok(out);
    }
    let w = grid::split_work(d, tiles(&x.spec), false);
    ex.b.run(Program::new("CopyDeviceOperation", "DefaultTilized").cb(
        tile_kind,
        2 * tile_size(x.dtype()),
        &grid::merge_ranges(&w.all),
    ));
    Ok(out)
}

/// `ttnn.reshape`.
pub(super) fn reshape(
    ex: &mut Exec<'_>,
    x: &DevTensor,
    dims: &[i64],
    mem: BufferType,
) -> Result<DevTensor, CaseError> {
    let f = "ttnn.reshape";
    let target = Shape::new(dims)?;
    if target.elements() != x.shape().elements() {
        return Err(invalid(
            f,
            format!(
                "{target} has {} elements, {} has {}",
                target.elements(),
                x.shape(),
                x.shape().elements()
            ),
        ));
    }
    let spec = TensorSpec::new(target.clone(), x.dtype(), x.layout());
    if dims_reshape_is_view(x.dims(), target.dims(), x.layout()) && mem == x.memory {
        return Ok(ex.b.share(x, spec));
    }
    if x.layout() != Layout::Tile {
        return reshape_row_major(ex, x, &target, mem);
    }
    if x.dims() == target.dims() && x.spec.padded_dims() == x.dims() {
        // The same unpadded shape into another memory: `to_memory_config`, two tiles in a
        // dataflow buffer (seen on the runtime, mock n150: [1,3,32,32] uint16 from L1 to DRAM,
        // 4096 B). A padded one is asked for with its logical shape as the padded shape, so it
        // is not "no reshape": the tiled reshape copies it ([1,3,32,40] bfloat16, 1248 B map).
        return move_to(ex, x, mem, RowAlign::Output, CbKind::Dataflow);
    }
    match x.dtype() {
        // Refused by the device operation after it allocates its output (coverage.rs holds
        // the runtime's words); a view-shaped one into another memory is not modeled.
        DType::Uint16 | DType::Uint8 => Err(unmodeled(
            f,
            format!("a copying {} reshape (the runtime refuses it)", x.dtype()),
        )),
        // Block floats are reshaped as bfloat16 copies, their padding filled before the
        // typecast back (seen on the runtime, mock n150: [1,3,30,32] bfloat8_b to [90,32]
        // typecasts, reshapes, fills the pad of the bfloat16 result, typecasts back).
        DType::Bfloat8B | DType::Bfloat4B => through_bfloat16(ex, x, spec, |ex, wide| {
            let reshaped = reshape_tiled(ex, wide, &target, mem)?;
            super::reduction::fill_pad(ex, &reshaped);
            Ok(reshaped)
        }),
        _ => reshape_tiled(ex, x, &target, mem),
    }
}

/// `ReshapeViewRMProgramFactory`: a ROW_MAJOR interleaved tensor copied into a new tensor of
/// `target`'s rows (its last dim changed, or kept into another memory). Its buffers on every
/// worker core are scratchpads (the capture's kind): the source staging of two reads of the
/// input row rounded down to 64 B plus 128 B, and a destination staging of slots of the output
/// row rounded down to 64 B plus 80 B; where one row's bytes divide the other's (and the output
/// rows are whole 16 B or not in DRAM) a second kernel takes half the rows with the same two
/// buffers. Rows all whole 16 B take one slot; others up to 8, as many as the L1 from the
/// allocator's base to the lowest occupied L1 address holds beside the source staging
/// (`choose_num_dest_write_slots`; fewer than one slot is the factory's TT_FATAL). Measured on
/// n150 (NO_DISPATCH captures, YOLOv12x's attention views at 640×640: bfloat16
/// [1,1,1600,1152] → [1,4,1152,400]: 4,736 + 848 B; [1,4,1152,400] → [4,400,12,96]: 1,792 +
/// 208 B; [1,4,1152,100] → [4,100,12,96], 640 + 8 × 208 B). The same shape into another
/// memory is `ttnn.to_memory_config`; uint8 and uint16 are refused by the device operation
/// (coverage.rs holds its words); sharded inputs are `unmodeled`.
fn reshape_row_major(
    ex: &mut Exec<'_>,
    x: &DevTensor,
    target: &Shape,
    mem: BufferType,
) -> Result<DevTensor, CaseError> {
    let f = "ttnn.reshape";
    if x.shard.is_some() || ex.b.buffers[x.buffer].placement.sharded {
        return Err(unmodeled(f, "a ROW_MAJOR reshape of a sharded tensor"));
    }
    if x.dims() == target.dims() {
        // `ttnn::reshape`'s same-shape short-circuit: a memory conversion.
        return to_memory_config(ex, x, mem, None);
    }
    if !matches!(
        x.dtype(),
        DType::Bfloat16 | DType::Float32 | DType::Int32 | DType::Uint32
    ) {
        // The runtime refuses uint8 and uint16 (`Can only work with bfloat16/float32 or
        // int32/uint32 tensors`, coverage.rs); block floats are not ROW_MAJOR.
        return Err(unmodeled(f, format!("a ROW_MAJOR {} reshape", x.dtype())));
    }
    let last = |dims: &[u64]| dims.last().copied().unwrap_or(1);
    let elem = x.dtype().row_major_element_bytes();
    let source_row = crate::size::mul(last(x.dims()), elem, "reshape input row")?;
    let dest_row = crate::size::mul(last(target.dims()), elem, "reshape output row")?;
    if source_row == 0 || dest_row == 0 {
        return Err(unmodeled(f, "a ROW_MAJOR reshape of empty rows"));
    }
    let aligned = source_row.is_multiple_of(16) && dest_row.is_multiple_of(16);
    let staging = |row: u64, extra: u64| (row - 1) / 64 * 64 + extra;
    let source_read = staging(source_row, 128);
    let dest_slot = staging(dest_row, 80);
    let divisible = source_row.is_multiple_of(dest_row) || dest_row.is_multiple_of(source_row);
    // A second kernel, except towards DRAM with output rows not whole 16 B.
    let kernels: u64 = if divisible && (dest_row.is_multiple_of(16) || mem != BufferType::Dram) {
        2
    } else {
        1
    };
    let spec = TensorSpec::new(target.clone(), x.dtype(), x.layout());
    let out = ex.b.tensor("output", BufferRole::Temporary, spec, mem)?;
    let d = ex.device();
    let cores = grid::full(d);
    // The factory reads the allocator when the program is made: a NO_DISPATCH capture allocates
    // nothing for real and sees the whole bank; a device run sees the live L1 buffers (the
    // output included), which interleaved L1 stacks down from the top of every bank.
    let program = |l1_available: u64| -> Program {
        let mut p = Program::new("ReshapeViewDeviceOperation", "ReshapeViewRMProgramFactory");
        let source_bytes = source_read.saturating_mul(2).saturating_mul(kernels);
        let min_dest = dest_slot.saturating_mul(kernels);
        let slots = if aligned {
            1
        } else if l1_available < source_bytes.saturating_add(min_dest) {
            return p.refused(format!(
                "RM reshape dest staging does not fit in L1: need at least {min_dest} B dest + {source_bytes} B source, have {l1_available} B"
            ));
        } else {
            ((l1_available - source_bytes) / min_dest).clamp(1, 8)
        };
        for _ in 0..kernels {
            p.push(Cb::new(
                CbKind::Scratchpad,
                source_read.saturating_mul(2),
                cores.clone(),
            ));
            p.push(Cb::new(
                CbKind::Scratchpad,
                dest_slot.saturating_mul(slots),
                cores.clone(),
            ));
        }
        p
    };
    let captured = program(d.l1_bank_bytes);
    let on_device = program(d.l1_bank_bytes.saturating_sub(live_l1_per_bank(ex)));
    // Where both refuse, the device run's words are the call's (seen on n150, seed 71111:
    // "have 528576 B" beside an L1 input); where only the device run does, the capture still
    // records its program (seed 71111: an L1 output leaving 0 B).
    let both_refuse = captured.refused.is_some() && on_device.refused.is_some();
    ex.b.run(if on_device == captured || both_refuse {
        on_device
    } else {
        captured.on_device(on_device)
    });
    Ok(out)
}

/// `ReshapeViewTiledProgramFactory`: a TILE tensor copied into `target`'s pages through a page
/// map uploaded to DRAM.
fn reshape_tiled(
    ex: &mut Exec<'_>,
    x: &DevTensor,
    target: &Shape,
    mem: BufferType,
) -> Result<DevTensor, CaseError> {
    let f = "ttnn.reshape";
    let spec = TensorSpec::new(target.clone(), x.dtype(), x.layout());
    let out = ex.b.tensor("output", BufferRole::Temporary, spec, mem)?;
    let d = ex.device();
    let in3 = squeeze_3d(x.dims());
    let out3 = squeeze_3d(target.dims());
    let out_pages = tiles(&TensorSpec::new(
        Shape::from_dims(out3.to_vec())?,
        x.dtype(),
        Layout::Tile,
    ));
    // The page map takes O(output tiles) host work (and the runtime's own host code the same),
    // bounded here by the tile structures it visits. An output larger than the board's whole
    // DRAM fails the device run, but the NO_DISPATCH capture still builds the map and records
    // the program (seen on n150: [1473,203881] unsqueezed at dim 1, a 600,701,184 B map).
    // The runtime computes each element's flat offset in uint32: past 2^32 elements its map
    // wraps, a map memmodel does not follow.
    if x.shape().elements() > u64::from(u32::MAX) {
        return Err(unmodeled(
            f,
            format!(
                "a copying reshape of {} elements: the runtime's page map wraps its uint32 element offsets past 2^32",
                x.shape().elements()
            ),
        ));
    }
    // Past that, a map memmodel would take seconds to size is not modeled (the matrix's
    // largest copying reshape has 783,360 output tiles and takes 3,133,440 element runs).
    let segments = reshape_map_segments(in3, out3).ok_or_else(|| {
        unmodeled(
            f,
            format!(
                "a copying reshape to {out_pages} output tiles: memmodel sizes its page map tile phase by tile phase, up to {MAX_RESHAPE_MAP_VISITS} tiles of a phase cycle and {MAX_RESHAPE_MAP_RUNS} element runs"
            ),
        )
    })?;
    let row = 4 * (segments + segments % d.l1_alignment);
    let page = row * 4;
    // The page map is a host tensor of uint32 [output pages, 4 × segments], uploaded to DRAM.
    let map_spec = TensorSpec::new(
        Shape::from_dims(vec![out_pages, row])?,
        DType::Uint32,
        Layout::RowMajor,
    );
    let map_place = raw_placement(d, BufferType::Dram, out_pages, page, d.dram_banks)?;
    let map = ex.b.alloc(
        "reshape page map",
        BufferRole::Temporary,
        map_spec,
        map_place,
    );
    // The output tiles split column-wise over the grid (seen on n150: 8 output tiles on cores
    // 0-0 to 0-7, one on 0-0).
    let cores = grid::merge_ranges(&grid::split_work(d, out_pages, false).all);
    let ts = tile_size(x.dtype());
    let mut p = Program::new(
        "ReshapeViewDeviceOperation",
        "ReshapeViewTiledProgramFactory",
    )
    .cb(CbKind::Dataflow, page, &cores)
    .cb(CbKind::Dataflow, ts, &cores);
    p.push(Cb::new(CbKind::Scratchpad, ts, cores));
    ex.b.run(p);
    let map = DevTensor {
        spec: TensorSpec::new(Shape::from_dims(vec![1])?, DType::Uint32, Layout::RowMajor),
        memory: BufferType::Dram,
        shard: None,
        buffer: map,
    };
    // The cached program keeps its page map (seen on YOLOv12x at 640×640 on both boards: the
    // DRAM map of #89's reshape stays allocated after the call, and #91, the same reshape of
    // another tensor, makes none; a stack's unsqueezes of equal inputs make one between them,
    // seen on n150: 3 × [1,3,100,40] along dim 4, one 25,600 B-per-bank map). The program hash
    // is the output's shape and memory and the input's spec and memory.
    ex.b.mark_program_cached_by(&map, reshape_program_key(x, target, mem));
    ex.b.release(map);
    Ok(out)
}

/// The tiled reshape's program hash (`ReshapeViewDeviceOperation::compute_program_hash`): what
/// finds its cached program, and the page map it holds, from any call.
fn reshape_program_key(x: &DevTensor, target: &Shape, mem: BufferType) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (
        "ReshapeViewTiledProgramFactory",
        x.dims(),
        x.spec.padded_dims(),
        x.dtype(),
        x.memory,
        target.dims(),
        mem,
    )
        .hash(&mut h);
    h.finish()
}

/// The rank-3 view `[c, h, w]` the tiled reshape works on (leading dims folded into `c`).
fn squeeze_3d(dims: &[u64]) -> [u64; 3] {
    let n = dims.len();
    let w = if n >= 1 { dims[n - 1] } else { 1 };
    let h = if n >= 2 { dims[n - 2] } else { 1 };
    let c: u64 = if n > 2 {
        dims[..n - 2].iter().product()
    } else {
        1
    };
    [c, h, w]
}

/// The most map segments any output tile of the tiled reshape needs (`reshape_map_output_page`
/// in reshape_tiled_program_factory.cpp): for each output tile, the contiguous runs of elements
/// shared with one input tile, counted per input tile, padded to the largest count per input
/// tile. Output tiles whose rows start at the same place in the input's channel period look the
/// same, so each such phase is computed once.
///
/// `None` when sizing it would visit more than [`MAX_RESHAPE_MAP_VISITS`] output tiles or walk
/// more than [`MAX_RESHAPE_MAP_RUNS`] element runs.
pub fn reshape_map_segments(input: [u64; 3], output: [u64; 3]) -> Option<u64> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    // The host work is O(output tiles); a process-wide memo keeps repeated estimates instant.
    type Memo = Mutex<HashMap<([u64; 3], [u64; 3]), Option<u64>>>;
    static MEMO: OnceLock<Memo> = OnceLock::new();
    let memo = MEMO.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(v) = memo
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&(input, output))
    {
        return *v;
    }
    let v = reshape_map_segments_uncached(input, output);
    // Bounded: a matrix of 100k cases must not grow it without end.
    const CAPACITY: usize = 4096;
    let mut m = memo.lock().unwrap_or_else(|p| p.into_inner());
    if m.len() >= CAPACITY {
        m.clear();
    }
    m.insert((input, output), v);
    v
}

/// The (phase, edge class) pairs a page-map walk has met.
enum Seen {
    /// One bit per pair (at most 8 MiB: the walk touches phases all over the period, so a byte
    /// per pair made a 12M-element input's map cost 47 MB of RSS).
    Bits(Vec<u64>),
    Set(std::collections::HashSet<(u64, usize)>),
}

impl Seen {
    fn new(period: u64) -> Seen {
        match period.checked_mul(4).filter(|&n| n <= 1 << 26) {
            Some(n) => Seen::Bits(vec![0; n.div_ceil(64) as usize]),
            None => Seen::Set(Default::default()),
        }
    }

    /// Whether (phase, class) is new.
    fn insert(&mut self, phase: u64, class: usize) -> bool {
        match self {
            Seen::Bits(v) => {
                let bit = phase as usize * 4 + class;
                let (word, mask) = (&mut v[bit / 64], 1u64 << (bit % 64));
                let new = *word & mask == 0;
                *word |= mask;
                new
            }
            Seen::Set(s) => s.insert((phase, class)),
        }
    }
}

/// An element's offset in its 32 × 32 tile stored as four 16 × 16 faces
/// (`tensor_idxs_to_faced_tile_offset`).
fn faced_offset(h: u64, w: u64) -> u64 {
    let (h, w) = (h % TILE, w % TILE);
    ((h / 16) * 2 + w / 16) * 256 + (h % 16) * 16 + w % 16
}

/// Output tiles past which a copying reshape's page map is not modeled (see `reshape`): the
/// walk visits every output tile of a cycle of tile phases, up to [`MAX_RESHAPE_MAP_VISITS`],
/// and walks only the tiles of a structure not met before (a visit alone is two divisions and
/// a bit test: [1,18000,18560] unsqueezed to a last dim of 1, 10.4M visits, took 0.43 s in a
/// debug build; the bound keeps a call under a second there).
const MAX_RESHAPE_MAP_VISITS: u64 = 1 << 24;

/// Greatest common divisor (`gcd(0, n) = n`).
fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Element runs past which a copying reshape's page map is not modeled: each distinct tile
/// phase is walked run by run (up to 1,024 runs for a one-column input; the matrix's largest
/// map takes 3,133,440).
const MAX_RESHAPE_MAP_RUNS: u64 = 1 << 22;

fn reshape_map_segments_uncached(input: [u64; 3], output: [u64; 3]) -> Option<u64> {
    let [_, h1, w1] = input;
    let [c2, h2, w2] = output;
    let period = (h1 * w1).max(1);
    let th2 = h2.div_ceil(TILE);
    let tw2 = w2.div_ceil(TILE);
    let tw1 = w1.div_ceil(TILE);
    let tc1 = h1.div_ceil(TILE) * tw1;
    // A tile's structure depends on where its first row starts in the input's channel period
    // and on whether it is a partial (edge) tile: 4 classes per phase.
    // One flag per (phase, class) while that fits in 64 MiB; past it only the phases actually
    // met (the period, H × W of the input, can be far larger than the output's tile count: a
    // flag vector of it aborted on huge inputs).
    //
    // A tile's phase is c·(h2·w2) + th·(32·w2) + tw·32 modulo the period, so along each axis it
    // comes back after period / gcd(step, period) tiles: only the first cycle of channels, of
    // tile rows and of tile columns is visited (and the last row and column, the partial-tile
    // classes), which meets every (phase, class) the whole output has. A reshape that keeps
    // H·W (the usual view of a feature map) visits one channel.
    let cycle = |step: u64| (period / gcd(step % period, period)).max(1);
    let (cs, ths, tws) = (
        c2.min(cycle(h2 * w2)),
        th2.min(cycle(TILE * w2)),
        tw2.min(cycle(TILE)),
    );
    let with_last_count = |n: u64, all: u64| n + u64::from(n < all);
    let visits = cs
        .saturating_mul(with_last_count(ths, th2))
        .saturating_mul(with_last_count(tws, tw2));
    if visits > MAX_RESHAPE_MAP_VISITS {
        return None;
    }
    // A tile whose elements all lie in the channel of its first one has the structure of every
    // tile whose first element sits at the same input column and the same row within its tile
    // row (the same phase modulo 32 input rows, a "band"): the pages it meets shift together
    // and the faced offsets repeat. Likewise, where each output row is whole input channels
    // (the flattening of an input's last two dims), a tile's rows start at one phase in
    // channels of their own, share no page, and the tile is keyed by that phase's band offset
    // while its rows stay in their channels. The other tiles run into a next channel and are
    // keyed by their phase. A tile inside one input row is keyed by its column within its tile
    // column alone: its pages split at the same columns and each face row is a run whatever
    // the row (an unsqueeze to a last dim of 1 is such tiles of one column).
    let band = TILE.saturating_mul(w1).max(1);
    let rows_own_channels = w2.is_multiple_of(period);
    let with_last = |n: u64, all: u64| (0..n).chain((n < all).then_some(all - 1));
    let mut seen_in_row = Seen::new(TILE);
    let mut seen_in_channel = Seen::new(band.min(period));
    let mut seen_row_channels = Seen::new(if rows_own_channels {
        band.min(period)
    } else {
        1
    });
    let mut seen_crossing = Seen::new(period);
    let mut best = 0u64;
    let mut runs = 0u64;
    let mut groups: Vec<(u64, u64)> = Vec::with_capacity(64);
    for c in 0..cs {
        for th in with_last(ths, th2) {
            let ho0 = th * TILE;
            let hsz = (h2 - ho0).min(TILE);
            for tw in with_last(tws, tw2) {
                let wo0 = tw * TILE;
                let wsz = (w2 - wo0).min(TILE);
                let flat0 = c * h2 * w2 + ho0 * w2 + wo0;
                let class = usize::from(hsz < TILE) * 2 + usize::from(wsz < TILE);
                let phase = flat0 % period;
                let span = (hsz - 1) * w2 + wsz;
                let new = if phase % w1 + span <= w1 {
                    seen_in_row.insert(phase % w1 % TILE, class)
                } else if phase + span <= period {
                    seen_in_channel.insert(phase % band, class)
                } else if rows_own_channels && phase + wsz <= period {
                    seen_row_channels.insert(phase % band, class)
                } else {
                    seen_crossing.insert(phase, class)
                };
                if !new {
                    continue;
                }
                groups.clear();
                let base_c = flat0 / period;
                // The last element of the previous run: (input page, its offset in the faced
                // input tile, its offset in the faced output tile).
                let mut prev: Option<(u64, u64, u64)> = None;
                for r in 0..hsz {
                    let row_flat = flat0 + r * w2;
                    let mut col = 0;
                    while col < wsz {
                        let fl = row_flat + col;
                        let ci = fl / period - base_c;
                        let p = fl % period;
                        let (hi, wi) = (p / w1, p % w1);
                        // A run ends at the output face edge, the input face edge and the end
                        // of the input row.
                        let out_face_end = if col < 16 { 16 } else { 32 };
                        let run = (out_face_end.min(wsz) - col).min(16 - wi % 16).min(w1 - wi);
                        let page = ci * tc1 + (hi / TILE) * tw1 + wi / TILE;
                        let (oi, oo) = (faced_offset(hi, wi), faced_offset(r, col));
                        // The runtime extends a segment element by element while both faced
                        // offsets advance by one in the same input page: across rows too, where
                        // a narrow output tile's face row ends where its next one starts.
                        let extends = oi > 0 && oo > 0 && prev == Some((page, oi - 1, oo - 1));
                        if !extends {
                            match groups.iter_mut().find(|g| g.0 == page) {
                                Some(g) => g.1 += 1,
                                None => groups.push((page, 1)),
                            }
                        }
                        prev = Some((page, oi + run - 1, oo + run - 1));
                        col += run;
                        runs += 1;
                        if runs > MAX_RESHAPE_MAP_RUNS {
                            return None;
                        }
                    }
                }
                let max_group = groups.iter().map(|g| g.1).max().unwrap_or(0);
                best = best.max(max_group * groups.len() as u64);
            }
        }
    }
    Some(best)
}

/// `ttnn.concat` of interleaved tensors (concat.cpp): inputs of rank < 4 are concatenated as 4D
/// views (`build_unsqueeze_concat`); TILE inputs padded along the concat dim are untilized
/// (`untilize_with_unpadding`), concatenated ROW_MAJOR and tilized back
/// (`build_untilize_rm_retilize_concat`); ROW_MAJOR rows not aligned to their buffer's alignment
/// are concatenated along the last dim between two WH transposes
/// (`build_non_aligned_last_dim_concat`).
fn concat(
    ex: &mut Exec<'_>,
    xs: &[&DevTensor],
    d: i64,
    mem: BufferType,
) -> Result<DevTensor, CaseError> {
    let f = "ttnn.concat";
    let first = xs[0];
    let rank = first.shape().rank();
    let i = norm_dim(f, rank, d)?;
    let mut total = 0u64;
    for x in xs {
        if x.shape().rank() != rank
            || x.layout() != first.layout()
            || x.dims()
                .iter()
                .enumerate()
                .any(|(j, &v)| j != i && v != first.dims()[j])
        {
            return Err(invalid(
                f,
                format!("{} and {} differ outside dim {d}", first.shape(), x.shape()),
            ));
        }
        total = crate::size::add(total, x.dims()[i], "concat extent")?;
    }
    let mut out_dims = first.dims().to_vec();
    out_dims[i] = total;
    let out_spec = spec_with(first, out_dims)?;
    if let Some(out) = concat_tiled_unaligned(ex, xs, i, &out_spec, mem)? {
        return Ok(out);
    }
    if let Some(out) = concat_in_row_chunks(ex, xs, i, mem)? {
        return Ok(out);
    }
    let i4 = i + 4usize.saturating_sub(rank);
    let last = rank.max(4) - 1;
    let padded_along = |x: &DevTensor| -> Result<bool, CaseError> {
        let s4 = spec_with(x, to_4d(x.dims()))?;
        Ok(s4.padded_dims()[i4] != s4.shape.dims()[i4])
    };
    let mut retilize = false;
    if first.layout() == Layout::Tile {
        // A 1-D TILE input always takes the row-major route (`build_untilize_rm_retilize_concat`).
        retilize = rank == 1;
        for x in xs {
            retilize |= padded_along(x)?;
        }
        // `build_non_aligned_last_dim_concat`: a last-dim concat whose inputs' padded widths
        // times `element_size()` (1 B for block floats) miss their buffer's alignment transposes
        // each input (WH), concatenates along H and transposes back (seen on p150: two
        // [32,96] bfloat8_b in DRAM along dim 1, three TransposeWH programs of 2 × 2,176 B;
        // bfloat4_b [8352,2720] pairs alike, 2 × 1,152 B, and uint8 [704,70752] ones, whose
        // one-byte elements miss p150's 64 B too; 64-wide tiles or L1's 16 B alignment join as
        // they are).
        let misaligned_width = |x: &&DevTensor| {
            let w = x.spec.padded_dims().last().copied().unwrap_or(TILE);
            let elem = if x.dtype().is_block_float() {
                1
            } else {
                x.dtype().row_major_element_bytes()
            };
            !(w * elem).is_multiple_of(ex.device().alignment(x.memory))
        };
        if !retilize && i4 == last && xs.iter().any(misaligned_width) {
            let mut ts = Vec::with_capacity(xs.len());
            for x in xs {
                ts.push(transpose(ex, x, -2, -1, x.memory)?);
            }
            let refs: Vec<&DevTensor> = ts.iter().collect();
            let inner = concat(ex, &refs, rank as i64 - 2, mem)?;
            let back = transpose(ex, &inner, -2, -1, mem)?;
            // Freed as the massaged op's locals go: its output, then its transposed arguments
            // (the runtime's trace frees them in that order).
            ex.b.release(inner);
            for t in ts {
                ex.b.release(t);
            }
            let out = ex.b.share(&back, out_spec);
            ex.b.release(back);
            return Ok(out);
        }
        if !retilize {
            let out =
                ex.b.tensor("output", BufferRole::Temporary, out_spec.clone(), mem)?;
            let dev = ex.device();
            let w = grid::split_work(dev, tiles(&out_spec), false);
            ex.b.run(concat_program(
                dev,
                tile_size(first.dtype()),
                &grid::merge_ranges(&w.all),
            )?);
            return Ok(out);
        }
    }
    if retilize && first.dtype() == DType::Bfloat4B {
        // bfloat4_b has no ROW_MAJOR form: the untilize's output spec is refused (in
        // bfloat8_b's words) before it allocates anything (seen on p150: [209,218] pairs along
        // dim 0, a 1-D [158703456] one).
        ex.b.run(
            Program::new(
                "UntilizeWithUnpaddingDeviceOperation",
                "UntilizeWithUnpaddingMultiCoreInterleavedProgramFactory",
            )
            .refused("Only TILE layout is supported for BFLOAT8_B dtype!".to_string()),
        );
        return Ok(ex.b.share(first, out_spec));
    }
    // ROW_MAJOR from here on: the inputs as given, or untilized (into their own memory).
    // The untilizes and the tilize back read the free L1 as the runtime does, below the lowest
    // live buffer (the untilized rows freed after their transposes leave a hole that is not
    // free to it), and equal inputs' untilizes share one cached program (seen on n150: two
    // float32 [101830] in L1 clash with the first untilize's blocks, built beside less live L1;
    // four uint16 [56689] retilize with a device run capped below the hole, so the capture
    // builds its own blocks on the whole bank).
    let caches = &mut ProgramCaches::default();
    let mut rms = Vec::with_capacity(xs.len());
    for x in xs {
        let x4 = ex.b.share(x, spec_with(x, to_4d(x.dims()))?);
        let rm = if retilize {
            // `untilize_with_unpadding` for every input, those the tiles do not pad too (seen
            // on n150: [3,14080,64] beside [3,4267,64] along dim 1, bfloat16, float32, int32 and
            // uint16 alike).
            let cache = caches.of("UntilizeWithUnpaddingDeviceOperation", &x4);
            let rm = untilize_as(ex, &x4, x.memory, true, Some(cache))?;
            ex.b.release(x4);
            rm
        } else {
            x4
        };
        rms.push(rm);
    }
    let d = ex.device();
    if rank == 1 && first.layout() == Layout::Tile && one_d_transposed_whole(d, xs, &rms) {
        // The massaged concat's sequenced predicates keep a flag set on the tiled inputs, and
        // the transpose it then applies to the untilized 1-D rows cannot index dim -2.
        ex.b.run(
            Program::new("ttnn.transpose", "dims normalized on the host").refused(
                "Index is out of bounds for the rank, should be between 0 and 0 however is 18446744073709551615"
                    .to_string(),
            ),
        );
        for r in rms {
            ex.b.release(r);
        }
        return Ok(ex.b.share(first, out_spec));
    }
    // The rows' own element size: block floats were untilized to bfloat16.
    let unaligned_rows = i4 == last
        && rms.iter().any(|r| {
            let esize = r.dtype().row_major_element_bytes();
            !crate::size::mul(r.dims()[last], esize, "row bytes")
                .unwrap_or(u64::MAX)
                .is_multiple_of(d.alignment(r.memory))
        });
    if unaligned_rows {
        // Where a transposed row (the rows' height) would not fit a core's unreserved L1, the
        // runtime concatenates in chunks of rows instead of refusing (seen on p150: two
        // [1,1,2073600,48] bfloat16 in DRAM, YOLOv12x 4320×7680's #18, slice, permute, concat
        // and permute back 365,280 rows at a time; [1,1,500000,48] transposes whole). A block
        // float's chunking was decided on its one-byte `element_size()` before the untilize
        // ([`concat_in_row_chunks`]); past that its bfloat16 rows transpose whole however long,
        // and the concat's page check refuses them (seen on p150: two [1359854] bfloat8_b
        // stacked along dim 1 in L1, the capture refused the 2,719,712 B page, the device run
        // ran out of L1 first).
        let capacity = d.l1_bytes_per_core.saturating_sub(d.l1_unreserved_base);
        for r in rms.iter().filter(|_| !first.dtype().is_block_float()) {
            let height = r.dims()[last - 1];
            let row = crate::size::mul(height, r.dtype().row_major_element_bytes(), "row bytes")?;
            let align = d.alignment(r.memory).max(d.alignment(mem));
            if crate::size::round_up(row, align, "concat row")? > capacity {
                return Err(unmodeled(
                    f,
                    "a last-dim concat of unaligned rows whose transposed row exceeds a core's L1 (the runtime concatenates it in chunks of rows)",
                ));
            }
        }
    }
    let (inner, joined, transposed) = if unaligned_rows {
        // Transposed to concatenate along H; the WH transposes of the inputs take their memory.
        let mut ts = Vec::with_capacity(rms.len());
        for r in &rms {
            ts.push(transpose(ex, r, -2, -1, r.memory)?);
        }
        if retilize {
            // The untilized rows are the untilize step's arguments, which the transpose step
            // of the sequenced massaged op replaces (MassagedOperation::sequence): they die
            // once transposed, before the concat (seen on p150: a [1,1,993,8100] bfloat8_b
            // pair in L1 fits on the runtime that runs out with them kept).
            for r in rms.drain(..) {
                ex.b.release(r);
            }
        }
        let refs: Vec<&DevTensor> = ts.iter().collect();
        let inner = concat_rm(ex, &refs, last - 1, mem)?;
        // The transposed inputs live until the post-transforms have run, the transpose back
        // and any tilize (the massaged op's arguments; seen on the runtime: a [4372,2774]
        // pair in L1 on p150 runs out at the output with them still allocated).
        let back = transpose(ex, &inner, -2, -1, mem)?;
        (Some(inner), back, ts)
    } else {
        let refs: Vec<&DevTensor> = rms.iter().collect();
        (None, concat_rm(ex, &refs, i4, mem)?, Vec::new())
    };
    // The retilize is `tilize_with_val_padding` into the rows' memory, padded or not.
    let out4 = if retilize && joined.dtype() == DType::Uint8 {
        // The tilize refuses uint8 once the untilize and the concat have run and its own
        // output is allocated (seen on n150: four uint8 [*,12320] along dim 0 from DRAM; seed
        // 1207904, a [32795,410] pair in L1 runs out at its 427,008 B per bank).
        let tiled = ex.b.tensor(
            "tilized",
            BufferRole::Temporary,
            TensorSpec::new(joined.shape().clone(), joined.dtype(), Layout::Tile),
            mem,
        )?;
        ex.b.run(
            Program::new(
                "TilizeWithValPaddingDeviceOperation",
                "TilizeWithValPaddingMultiCoreDefaultFactory",
            )
            .refused(TILIZE_DTYPE_REFUSAL.to_string()),
        );
        ex.b.release(joined);
        tiled
    } else if retilize {
        let cache = caches.of("TilizeWithValPaddingDeviceOperation", &joined);
        let bank = ex.device().l1_bank_bytes;
        let t = tilize_to(ex, &joined, mem, joined.dtype(), bank, true, Some(cache))?;
        ex.b.release(joined);
        t
    } else {
        joined
    };
    // Freed as the massaged op's locals go: its output, then its (transposed) arguments.
    if let Some(inner) = inner {
        ex.b.release(inner);
    }
    for t in transposed {
        ex.b.release(t);
    }
    for r in rms {
        ex.b.release(r);
    }
    // A block float comes back bfloat16: the rows were untilized to bfloat16 and the tilize
    // keeps their dtype (seen on n150: two bfloat8_b [1,1,6400,64] and [1,1,6400,80] along
    // dim 3 make a bfloat16 TILE output).
    let out_spec = TensorSpec::new(out_spec.shape, out4.dtype(), out_spec.layout);
    let out = ex.b.share(&out4, out_spec);
    ex.b.release(out4);
    Ok(out)
}

/// Whether the runtime's massaged concat of 1-D TILE inputs transposes their untilized 1-D rows
/// (and fails). Its sequenced predicates (`MassagedOperation::sequence`) keep the flags each one
/// set on the tiled inputs: the last-dim alignment test there reads a 1-D tile's padded dim as
/// its 32-row height, so with one-byte elements (uint8, block floats) on a 64 B aligned buffer
/// (p150's DRAM) it marks the transposing route; on the untilized rows the 1-D route
/// (`unsqueeze` to [1, N] first) is taken only where a row's bytes miss their alignment. Seen
/// on p150 from DRAM: bfloat8_b [32], [1024], [1440] pairs fail, [100], [1000], [3000] join;
/// uint8 [64], [1024], [2048] fail, [32], [96], [1000] reach the tilize's refusal.
fn one_d_transposed_whole(
    d: &crate::device::DeviceSpec,
    xs: &[&DevTensor],
    rows: &[DevTensor],
) -> bool {
    let element_size = |x: &DevTensor| {
        if x.dtype().is_block_float() {
            1
        } else {
            x.dtype().row_major_element_bytes()
        }
    };
    let marked_tiled = xs
        .iter()
        .any(|x| !(TILE * element_size(x)).is_multiple_of(d.alignment(x.memory)));
    let unsqueezed = rows.iter().any(|r| {
        let bytes = r.dims().last().copied().unwrap_or(0) * r.dtype().row_major_element_bytes();
        !bytes.is_multiple_of(d.alignment(r.memory))
    });
    marked_tiled && !unsqueezed
}

/// concat.cpp's answer to issue 43371: a last-dim concat whose rows the massaged op would
/// transpose (ROW_MAJOR rows, or the untilized rows of TILE inputs the tiles pad along the
/// dim, whose `element_size()` bytes miss the larger of the first input's and the output's
/// alignment) and whose transposed row (`element_size()` × dim[-2], aligned) exceeds a core's
/// unreserved L1 goes in chunks of rows along dim[-2]: `l1 / (2 × element_size)` rows (whole
/// tiles for TILE), each chunk's inputs sliced into the output's memory, concatenated and freed,
/// then one concat of the chunks' outputs along dim[-2]. Seen on p150: two [1,1,2073600,48]
/// bfloat16 ROW_MAJOR in DRAM (YOLOv12x 4320×7680's #18) go 365,280 rows at a time.
fn concat_in_row_chunks(
    ex: &mut Exec<'_>,
    xs: &[&DevTensor],
    dim: usize,
    mem: BufferType,
) -> Result<Option<DevTensor>, CaseError> {
    let first = xs[0];
    let rank = first.shape().rank();
    if rank < 2 || dim + 1 != rank || first.shard.is_some() {
        return Ok(None);
    }
    let d = ex.device();
    // `Tensor::element_size()`: a block float counts one byte.
    let elem = if first.dtype().is_block_float() {
        1
    } else {
        first.dtype().row_major_element_bytes()
    };
    let align = d.alignment(first.memory).max(d.alignment(mem));
    let misses_alignment =
        |x: &&DevTensor| !(x.dims()[dim].saturating_mul(elem)).is_multiple_of(align);
    let would_transpose = match first.layout() {
        Layout::Tile => {
            xs.iter().any(|x| !x.dims()[dim].is_multiple_of(TILE))
                && xs.iter().any(misses_alignment)
        }
        Layout::RowMajor => xs.iter().any(misses_alignment),
    };
    let rows = first.dims()[rank - 2];
    let page = crate::size::round_up(
        crate::size::mul(rows, elem, "concat row")?,
        align,
        "concat row",
    )?;
    let capacity = d.l1_bytes_per_core.saturating_sub(d.l1_unreserved_base);
    if !would_transpose || page <= capacity {
        return Ok(None);
    }
    let tile_h = if first.layout() == Layout::Tile {
        TILE
    } else {
        1
    };
    let chunk_rows = (capacity / (2 * elem)).min(u64::from(u32::MAX)) / tile_h * tile_h;
    if chunk_rows == 0 {
        return Err(unmodeled(
            "ttnn.concat",
            "a chunked last-dim concat whose tile-height chunk exceeds L1",
        ));
    }
    let mut outs = Vec::new();
    let mut start = 0;
    while start < rows {
        let end = start.saturating_add(chunk_rows).min(rows);
        let mut pieces = Vec::with_capacity(xs.len());
        for x in xs {
            pieces.push(slice(ex, x, rank - 2, start, end, mem)?);
        }
        let refs: Vec<&DevTensor> = pieces.iter().collect();
        outs.push(concat(ex, &refs, dim as i64, mem)?);
        for p in pieces {
            ex.b.release(p);
        }
        start = end;
    }
    if outs.len() == 1 {
        return Ok(outs.pop());
    }
    let refs: Vec<&DevTensor> = outs.iter().collect();
    let out = concat(ex, &refs, rank as i64 - 2, mem)?;
    for o in outs {
        ex.b.release(o);
    }
    Ok(Some(out))
}

/// `ConcatTiledUnalignedProgramFactory`: TILE inputs of rank 2 or more concatenated along a
/// last dim some of them pad, band by band of 32 rows without leaving the tile layout, where
/// `can_use_tiled_unaligned_concat` admits it (bfloat16 / float32, 2 to 32 inputs, its buffers
/// and the pending L1 output within the free L1: the live L1 of a device run). Checked on the
/// mock n150: concat of two [1,5] along dim 1 runs it with buffers of 4, 2, 1 and 2 tiles on
/// one core, two [2,3,40,7] along dim 3 on 12 single cores taken column-wise.
fn concat_tiled_unaligned(
    ex: &mut Exec<'_>,
    xs: &[&DevTensor],
    dim: usize,
    out_spec: &TensorSpec,
    mem: BufferType,
) -> Result<Option<DevTensor>, CaseError> {
    let first = xs[0];
    let rank = first.shape().rank();
    if first.layout() != Layout::Tile
        || rank < 2
        || dim + 1 != rank
        || !(2..=32).contains(&xs.len())
        || !matches!(first.dtype(), DType::Bfloat16 | DType::Float32)
        || xs.iter().all(|x| x.dims()[dim].is_multiple_of(TILE))
    {
        return Ok(None);
    }
    let d = ex.device();
    let ts = tile_size(first.dtype());
    let in_wt = xs.iter().try_fold(0u64, |acc, x| {
        crate::size::add(acc, x.dims()[dim].div_ceil(TILE), "concat tiles")
    })?;
    let out_wt = out_spec.shape.dims()[dim].div_ceil(TILE);
    let bands = tile_rows(&first.spec);
    if bands == 0 {
        return Ok(None);
    }
    let cbs = crate::size::mul(3 * (in_wt + out_wt), ts, "concat CBs")?;
    let pending = if mem == BufferType::L1 {
        out_spec.interleaved(d, mem)?.per_bank_bytes
    } else {
        0
    };
    let needed = crate::size::add(cbs, pending, "concat CBs")?;
    let free = d.l1_bank_bytes.saturating_sub(live_l1_per_bank(ex));
    // `get_max_l1_space`: a NO_DISPATCH capture allocates nothing for real and sees the whole
    // bank, a device run the L1 its live buffers leave. Where the two decide differently the
    // capture and the run take different routes (seen on the runtime: a float32 [25074,171]
    // pair in L1 on n150 is captured band-wise and run through row-major), which one plan
    // cannot hold.
    if (needed > free) != (needed > d.l1_bank_bytes) {
        return Err(unmodeled(
            "ttnn.concat",
            "a band-wise tiled concat whose buffers fit the L1 bank but not the L1 its live buffers leave (the capture and the device run take different routes)",
        ));
    }
    if needed > free {
        return Ok(None);
    }
    let out =
        ex.b.tensor("output", BufferRole::Temporary, out_spec.clone(), mem)?;
    let (ncores, _) = compute_ncores(u64::from(d.grid_x * d.grid_y), bands);
    let cores = crate::program::CoreRangeSet(
        (0..ncores as u32)
            .map(|i| {
                let (x, y) = (i / d.grid_y, i % d.grid_y);
                crate::program::CoreRange::new(x, y, x, y)
            })
            .collect(),
    );
    ex.b.run(
        Program::new(
            "ConcatDeviceOperation",
            "ConcatTiledUnalignedProgramFactory",
        )
        .cb(CbKind::Circular, 2 * in_wt * ts, &cores)
        .cb(CbKind::Circular, in_wt * ts, &cores)
        .cb(CbKind::Circular, out_wt * ts, &cores)
        .cb(CbKind::Circular, 2 * out_wt * ts, &cores),
    );
    Ok(Some(out))
}

/// `ConcatProgramFactory` on ROW_MAJOR 4D tensors: the output's rows split column-wise over the
/// grid, two rows per core aligned to the larger of the input's and output's alignment.
fn concat_rm(
    ex: &mut Exec<'_>,
    xs: &[&DevTensor],
    dim: usize,
    mem: BufferType,
) -> Result<DevTensor, CaseError> {
    let first = xs[0];
    let mut dims = first.dims().to_vec();
    dims[dim] = xs.iter().try_fold(0u64, |acc, x| {
        crate::size::add(acc, x.dims()[dim], "concat extent")
    })?;
    let spec = spec_with(first, dims)?;
    let out =
        ex.b.tensor("output", BufferRole::Temporary, spec.clone(), mem)?;
    let d = ex.device();
    let align = d.alignment(first.memory).max(d.alignment(mem));
    let row = crate::size::round_up(spec.page_size()?, align, "concat row")?;
    let w = grid::split_work(d, spec.pages()?, false);
    ex.b.run(concat_program(d, row, &grid::merge_ranges(&w.all))?);
    Ok(out)
}

/// `ConcatProgramFactory`'s staging buffer: two entries of one output page, one where two
/// would pass half the core's L1 (less the reserved bottom); the factory refuses a page larger
/// than the core's unreserved L1. Seen on the runtime: a ROW_MAJOR [1,1,1376,180608] concat on
/// p150 takes one 722,432 B row; a 1-D one of 76,436,224 B rows raises this text.
fn concat_program(
    d: &crate::device::DeviceSpec,
    page: u64,
    cores: &crate::program::CoreRangeSet,
) -> Result<Program, CaseError> {
    let p = Program::new("ConcatDeviceOperation", "ConcatProgramFactory");
    let capacity = d.l1_bytes_per_core.saturating_sub(d.l1_unreserved_base);
    if page > capacity {
        return Ok(p.refused(format!(
            "ttnn.concat: required DFB entry size ({page} B) exceeds per-core L1 capacity ({capacity} B); op cannot fit on this device."
        )));
    }
    let budget = half_l1_budget(d);
    let entries = if crate::size::mul(2, page, "concat CB")? > budget {
        1
    } else {
        2
    };
    Ok(p.cb(CbKind::Dataflow, entries * page, cores))
}

// ---- layout conversions and slicing ------------------------------------------------------

/// `compute_ncores(grid_area, nblocks)` (work_split_tilize.hpp): blocks per core rounded up,
/// and the cores that takes.
fn compute_ncores(grid_area: u64, nblocks: u64) -> (u64, u64) {
    if nblocks == 0 {
        return (0, 0);
    }
    let per_core = nblocks.div_ceil(grid_area);
    (nblocks.div_ceil(per_core), per_core)
}

fn cores_col_wise(d: &crate::device::DeviceSpec, n: u64) -> crate::program::CoreRangeSet {
    let total = u64::from(d.grid_x * d.grid_y);
    if n >= total {
        return grid::full(d);
    }
    grid::merge_ranges(&grid::num_cores_to_corerangeset(
        (0, 0),
        n as u32,
        (d.grid_x, d.grid_y),
        false,
    ))
}

/// Tile rows (blocks of 32 rows) of a tensor.
fn tile_rows(spec: &TensorSpec) -> u64 {
    let padded = TensorSpec::new(spec.shape.clone(), spec.dtype, Layout::Tile).padded_dims();
    let w = *padded.last().unwrap_or(&1);
    let elems: u64 = padded.iter().product();
    elems / w.max(1) / TILE
}

/// `closest_square_larger_than_b` (work_split_tilize.hpp).
fn closest_square_larger_than(b: u64, width: u64, height: u64, limit: u64) -> (u64, u64) {
    if limit == 0 {
        return (1, 1);
    }
    let s = (b as f64).sqrt() as u64;
    let blocks = |c: u64| width.div_ceil(c).saturating_mul(height.div_ceil(c));
    if s > 0 && s.checked_mul(s) == Some(b) && blocks(s) < limit {
        return (b, s);
    }
    // The runtime walks c upwards; the block count ceil(w/c)·ceil(h/c) never grows with c, so
    // the first c under the limit is found by bisection (a walk took minutes on huge shapes:
    // `cargo xtask fuzz --target case_params` found it as a hang).
    let (mut lo, mut hi) = (s + 1, width.saturating_mul(height));
    if lo > hi || blocks(hi) >= limit {
        return (1, 1);
    }
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if blocks(mid) < limit {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    (lo.saturating_mul(lo), lo)
}

/// The block split of the wide-row tilize / untilize factories (`compute_ncores_wh` and
/// `split_blocks_for_tilize_wh`): blocks of `block` × `block` tiles, one per core, row by row;
/// the last block of a row (the cliff) is narrower.
struct WhSplit {
    ncores: u64,
    block: u64,
    full: crate::program::CoreRangeSet,
    cliff_row: crate::program::CoreRangeSet,
    cliff_width: u64,
    /// Whether the last row of blocks is shorter (a cliff column).
    has_cliff_col: bool,
}

impl WhSplit {
    /// The block factories' input and output buffers: a block of tiles each on the full cores,
    /// the cliff's width each on the cliff row (blocks wider than the row leave no full core).
    /// The input buffers hold `in_tile`-byte tiles, the output buffers `out_tile`-byte ones.
    ///
    /// A cliff column beside no full core is refused when the program is made, in the words of
    /// the factory's kernels (seen on n150: a [72160,128] bfloat16 untilize, blocks of 36 tiles
    /// over a 4-tile row, "Kernel 'compute_cliff_col' references unknown DFB 'in_full'"; the
    /// unpadding factory's kernels are prefixed `bi_`).
    fn block_buffers(&self, mut p: Program, in_tile: u64, out_tile: u64) -> Program {
        if self.full.is_empty() && self.has_cliff_col {
            // Blocks wider than the row leave no full core, so the factory declares no full
            // buffers, yet it still adds its cliff-column compute kernel bound to them; the
            // program spec's validation refuses it (the four block factories, as built in
            // 0.81.1; seen on n150 in YOLOv12x 2176x3840's untilize #53 beside other L1).
            let prefix = if p.factory.starts_with("UntilizeWithUnpadding") {
                "bi_"
            } else {
                ""
            };
            return p.refused(format!(
                "Kernel '{prefix}compute_cliff_col' references unknown DFB '{prefix}in_full'"
            ));
        }
        if !self.full.is_empty() {
            p = p.cb(CbKind::Dataflow, self.block * in_tile, &self.full).cb(
                CbKind::Dataflow,
                self.block * out_tile,
                &self.full,
            );
        }
        if !self.cliff_row.is_empty() {
            p = p
                .cb(
                    CbKind::Dataflow,
                    self.cliff_width * in_tile,
                    &self.cliff_row,
                )
                .cb(
                    CbKind::Dataflow,
                    self.cliff_width * out_tile,
                    &self.cliff_row,
                );
        }
        p
    }
}

/// The square-block split over the whole grid (`compute_ncores_wh`), cores column-wise or,
/// with `row_wise`, row after row (see [`wh_layout`]).
fn split_wh(d: &crate::device::DeviceSpec, width: u64, height: u64, row_wise: bool) -> WhSplit {
    let area = u64::from(d.grid_x * d.grid_y);
    let nblocks = width * height;
    let per_core = nblocks.div_ceil(area).max(1);
    let (_, block) = closest_square_larger_than(per_core, width, height, area);
    wh_layout(d, width, height, block.max(1), block.max(1), row_wise)
}

/// `compute_ncores_wh_sb` (work_split_tilize.hpp): where the square block exceeds the tiles a
/// core's buffers can hold (`limit`), blocks of `n` sub-blocks of `s` < `limit` tiles: the most
/// blocks the grid holds with a row cliff under `limit`, the fewest sub-blocks on a tie, the
/// largest sub-block first. `None` where nothing qualifies (the runtime refuses the tilize).
fn block_with_sub_blocks(area: u64, width: u64, height: u64, limit: u64) -> Option<(u64, u64)> {
    if limit == 0 {
        return None;
    }
    if width.div_ceil(limit) * height.div_ceil(limit) < area {
        return Some((limit, limit));
    }
    let blocks_of = |b: u64| width.div_ceil(b).saturating_mul(height.div_ceil(b));
    let mut best: Option<(u64, u64, u64)> = None; // (blocks, n, sub-block)
    for s in (1..limit).rev() {
        // The block count never grows with n: for this sub-block the first n that qualifies
        // beats every later one (as many blocks at most, more sub-blocks), and no n below
        // width / (s · area) leaves few enough blocks.
        let first = (width / s.saturating_mul(area).max(1)).max(2);
        let last = width.div_ceil(s);
        if first > last || blocks_of(last * s) > area {
            continue;
        }
        // The first n with few enough blocks, by bisection (the count never grows with n).
        let (mut lo, mut hi) = (first, last);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if blocks_of(mid * s) <= area {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        // Then the first n from there whose row cliff, width mod (n·s), is under the limit:
        // over the blocks b = n·s with width / b = q (q falling, so b rising) the cliff
        // width − q·b falls with b, so each q's smallest qualifying multiple of s is found at
        // once (a walk over n took minutes on wide shapes: `cargo xtask fuzz` found it).
        let Some(n) = first_small_cliff(width, s, lo, last, limit) else {
            continue;
        };
        let blocks = blocks_of(n * s);
        if best.is_none_or(|(bb, bn, _)| blocks > bb || (blocks == bb && n < bn)) {
            best = Some((blocks, n, s));
        }
    }
    best.map(|(_, n, s)| (n * s, s))
}

/// The smallest n in `from..=to` with `width mod (n·s) < limit` (`width` itself once n·s
/// passes it).
fn first_small_cliff(width: u64, s: u64, from: u64, to: u64, limit: u64) -> Option<u64> {
    let mut q = width / (from * s);
    loop {
        // The blocks b with width / b == q.
        let (band_lo, band_hi) = if q == 0 {
            (width + 1, to * s)
        } else {
            (width / (q + 1) + 1, width / q)
        };
        // width − q·b < limit  ⇔  q·b > width − limit. Blocks wider than the row (q = 0)
        // leave the whole row as the cliff: they qualify only for a row under the limit (seen
        // on n150: a [73864,1152] uint8 untilize beside 63,136 B free, limit 30 on a 36-tile
        // row, "No solution found for single_block_size"; sweep seed 1207361).
        let need = if width < limit {
            band_lo
        } else {
            (width - limit).checked_div(q)? + 1
        };
        let lo = band_lo.max(need).max(from * s).div_ceil(s);
        let hi = band_hi.min(to * s) / s;
        if lo <= hi && q == width / (lo * s) {
            return Some(lo);
        }
        if q == 0 {
            return None;
        }
        q -= 1;
    }
}

/// The cores of a block split: one block of `block` × `block` tiles per core, row after row
/// of blocks, the cores taken in `corerange_to_cores` order — column after column of the grid
/// for the tilize and unpadding untilize factories (the golden captures put the cliff of 63
/// blocks on n150 at core (7,6), of 108 on p150 at (10,7)), row after row (`row_wise`) for
/// `UntilizeMultiCoreBlockProgramFactory`; `sub_block` is the width of the full cores' buffers.
fn wh_layout(
    d: &crate::device::DeviceSpec,
    width: u64,
    height: u64,
    block: u64,
    sub_block: u64,
    row_wise: bool,
) -> WhSplit {
    let bw = width.div_ceil(block);
    let bh = height.div_ceil(block);
    let full_row = width / block;
    let full_col = height / block;
    let has_cliff_row = full_row < bw;
    let has_cliff_col = full_col < bh;
    let mut full = Vec::new();
    let mut cliff = Vec::new();
    let mut i = 0u32;
    let mut add = |set: &mut Vec<crate::program::CoreRange>| {
        let (x, y) = if row_wise {
            (i % d.grid_x, i / d.grid_x)
        } else {
            (i / d.grid_y, i % d.grid_y)
        };
        set.push(crate::program::CoreRange::new(x, y, x, y));
        i += 1;
    };
    for _ in 0..full_col {
        for _ in 0..full_row {
            add(&mut full);
        }
        if has_cliff_row {
            add(&mut cliff);
        }
    }
    if has_cliff_col {
        for _ in 0..full_row {
            add(&mut full);
        }
        if has_cliff_row {
            add(&mut cliff);
        }
    }
    WhSplit {
        ncores: bw * bh,
        block: sub_block,
        full: grid::merge_ranges(&crate::program::CoreRangeSet(full)),
        cliff_row: grid::merge_ranges(&crate::program::CoreRangeSet(cliff)),
        cliff_width: width - full_row * block,
        has_cliff_col,
    }
}

/// Whether the tilize / untilize factories switch to their wide-row block variant.
fn use_block_variant(d: &crate::device::DeviceSpec, padded: &[u64]) -> Option<WhSplit> {
    let n = padded.len();
    let wt = padded[n - 1] / TILE;
    let ht = if n >= 2 { padded[n - 2] / TILE } else { 1 };
    let area = u64::from(d.grid_x * d.grid_y);
    let rows: u64 = padded.iter().product::<u64>() / padded[n - 1] / TILE;
    let (ncores, _) = compute_ncores(area, rows);
    if wt > 32 && (ht > 32 || wt > ht) {
        let wh = split_wh(d, wt, ht, false);
        if ncores < wh.ncores {
            return Some(wh);
        }
    }
    None
}

/// `ttnn::untilize` as `to_layout(ROW_MAJOR)` routes it (untilize.cpp): the codegen prim when
/// `untilize_codegen::supported_by_codegen` accepts the input, else the native path
/// ([`untilize`]). Codegen also serves non-tile-aligned bfloat16 inputs (its
/// `build_with_unpadding`) while their padded row stays under the 800 000 B two-CB chunk
/// threshold.
fn untilize_routed(
    ex: &mut Exec<'_>,
    x: &DevTensor,
    mem: BufferType,
) -> Result<DevTensor, CaseError> {
    let padded = TensorSpec::new(x.shape().clone(), x.dtype(), Layout::Tile).padded_dims();
    let unpadding = padded.as_slice() != x.dims();
    if unpadding && codegen_untilizes_unaligned(x) {
        let d = ex.device();
        let spec = TensorSpec::new(
            x.shape().clone(),
            untilized_dtype(x.dtype()),
            Layout::RowMajor,
        );
        let out = ex.b.tensor("untilized", BufferRole::Temporary, spec, mem)?;
        let Some(p) = untilize_codegen_program(d, x, d.l1_bank_bytes) else {
            return Err(unmodeled(
                "ttnn.untilize",
                "a codegen untilize whose buffers fit no CB plan (its native fallback)",
            ));
        };
        ex.b.run(p);
        return Ok(out);
    }
    untilize(ex, x, mem)
}

/// `supported_by_codegen` (untilize_codegen_supported.cpp) for a non-tile-aligned input:
/// bfloat16 only, and two CBs of a row of `ceil(W / 32)` 2048 B tiles within 800 000 B.
fn codegen_untilizes_unaligned(x: &DevTensor) -> bool {
    const WIDE_CHUNK_THRESHOLD: u64 = 800_000;
    let w = x.dims().last().copied().unwrap_or(1);
    x.dtype() == DType::Bfloat16 && 2 * w.div_ceil(TILE) * 2048 <= WIDE_CHUNK_THRESHOLD
}

/// The codegen untilize's unit of work (untilize_codegen_cb_plan.cpp, `pages_for_builder`): a
/// tile-aligned input of one tile row splits its tile columns row-wise over the grid; of a few
/// tile rows, each row is cut into the largest divisor of `Wt` columns that the grid holds
/// (`choose_2d_ncol`), one core per piece taken row-wise; otherwise tile rows split row-wise, a
/// padded row per unit. Returns the pages of a unit and the cores.
fn untilize_codegen_units(
    d: &crate::device::DeviceSpec,
    x: &DevTensor,
) -> (u64, crate::program::CoreRangeSet) {
    let padded = TensorSpec::new(x.shape().clone(), x.dtype(), Layout::Tile).padded_dims();
    let wt = padded.last().copied().unwrap_or(TILE) / TILE;
    let rows = tile_rows(&x.spec);
    let aligned = padded.as_slice() == x.dims();
    let valid_cores = u64::from(d.grid_x * d.grid_y);
    let ncol = if rows >= valid_cores || wt < 2 {
        1
    } else {
        let max_ncol = (valid_cores / rows).min(wt);
        (2..=max_ncol)
            .rev()
            .find(|c| wt.is_multiple_of(*c))
            .unwrap_or(1)
    };
    let (pages, cores) = if aligned && rows == 1 && wt > 1 {
        let w = grid::split_work(d, wt, true);
        (w.units_1.max(w.units_2), w.all)
    } else if aligned && wt > 1 && ncol >= 2 {
        (wt / ncol, grid::split_work(d, rows * ncol, true).all)
    } else {
        (wt, grid::split_work(d, rows, true).all)
    };
    (pages, grid::merge_ranges(&cores))
}

/// `plan_cb_depths` (untilize_codegen_cb_plan.cpp): the input and output CBs' depths in pages,
/// both double-buffered where four units of `pages` tiles of the larger format fit `usable`
/// bytes (`get_max_l1_space`), else the input only, else both single; `None` where not even
/// that fits (the call then goes native). Seen on p150: a [5792,6112] bfloat8_b untilize, Wt
/// 191, keeps one row of bfloat16 output tiles (391,168 B) beside two of input tiles.
fn untilize_codegen_depths(usable: u64, pages: u64, tile: u64) -> Option<(u64, u64)> {
    let fits = |units: u64| {
        units
            .checked_mul(pages)
            .and_then(|v| v.checked_mul(tile))
            .is_some_and(|b| b <= usable)
    };
    if fits(4) {
        Some((2 * pages, 2 * pages))
    } else if fits(3) {
        Some((2 * pages, pages))
    } else if fits(2) {
        Some((pages, pages))
    } else {
        None
    }
}

/// `UntilizeCodegenProgramFactory` with the CB depths its planner picks from `usable` bytes of
/// L1 (`choose_codegen_cb_plan`); `None` where no plan fits. The output CB holds bfloat16
/// (bfloat8_b untilizes to bfloat16). Seen on the runtime (n150): [1,1,32,6336] 64 cores × 2 × 8
/// tiles, [1,1,64,6208] 4 × 2 × 97, [1,1,64,6240] 30 × 2 × 13; [1,1,2048,4096] with 300 KB of
/// L1 taken below its output 2 × 128 tiles in, 128 out.
fn untilize_codegen_program(
    d: &crate::device::DeviceSpec,
    x: &DevTensor,
    usable: u64,
) -> Option<Program> {
    let (pages, cores) = untilize_codegen_units(d, x);
    let (ts_in, ts_out) = (tile_size(x.dtype()), untilized_tile_size(x.dtype()));
    let (in_depth, out_depth) = untilize_codegen_depths(usable, pages, ts_in.max(ts_out))?;
    Some(
        Program::new(
            "UntilizeCodegenDeviceOperation",
            "UntilizeCodegenProgramFactory",
        )
        .cb(CbKind::Circular, in_depth * ts_in, &cores)
        .cb(CbKind::Circular, out_depth * ts_out, &cores),
    )
}

/// `untilize_codegen::supported_by_codegen` (untilize_codegen_supported.cpp) for a tile-aligned
/// interleaved input: bfloat16 or bfloat8_b, and unless it is a single tile row, two CBs of a
/// padded row of 2048 B tiles within the 800 000 B wide-tensor threshold (seen on the runtime:
/// [4,1,736,6336] bfloat16, Wt 198, untilizes natively; float32 always does).
fn codegen_untilizes_aligned(x: &DevTensor, padded: &[u64]) -> bool {
    const WIDE_CHUNK_THRESHOLD: u64 = 800_000;
    let wt = padded.last().copied().unwrap_or(TILE) / TILE;
    matches!(x.dtype(), DType::Bfloat16 | DType::Bfloat8B)
        && (tile_rows(&x.spec) <= 1 || 2 * wt * 2048 <= WIDE_CHUNK_THRESHOLD)
}

/// Whether the native untilize takes its wide-row block factory (`select_program_factory`,
/// untilize_device_operation.cpp). Unlike the tilize and unpadding factories it counts the
/// tile rows of all dims as the height, while the blocks per core still come from the last two
/// dims (seen on n150: [1,4,256,7520] bfloat16 on the block factory, which the last two dims
/// alone would put on the row factory).
fn untilize_takes_block_variant(d: &crate::device::DeviceSpec, padded: &[u64]) -> bool {
    let n = padded.len();
    let wt = padded[n - 1] / TILE;
    let ht_last = if n >= 2 { padded[n - 2] / TILE } else { 1 };
    let rows: u64 = padded.iter().product::<u64>() / padded[n - 1].max(1) / TILE;
    let area = u64::from(d.grid_x * d.grid_y);
    if wt <= 32 || (rows <= 32 && wt <= rows) {
        return false;
    }
    let (row_cores, _) = compute_ncores(area, rows);
    // `compute_ncores_wh(grid_area, Wt · Ht of the last two dims, Wt, all tile rows)`.
    let per_core = wt.saturating_mul(ht_last).div_ceil(area).max(1);
    let (_, block) = closest_square_larger_than(per_core, wt, rows, area);
    let block = block.max(1);
    row_cores < wt.div_ceil(block).saturating_mul(rows.div_ceil(block))
}

/// The native `ttnn::prim::untilize` of a tile-aligned interleaved input: the block factory when
/// `is_enough_space` fails or rows are wide enough for its block variant, else
/// `UntilizeMultiCoreProgramFactory` — tile rows over `compute_ncores` cores taken row-wise, two
/// CBs of up to two padded rows (seen on the runtime, float32 Wt 8: 10 rows on 10 cores × 8
/// tiles, 100 and 150 rows on 50 cores × 16).
fn untilize_native_program(
    d: &crate::device::DeviceSpec,
    x: &DevTensor,
    padded: &[u64],
    enough_space: bool,
    free: u64,
) -> Result<Program, CaseError> {
    if !enough_space || untilize_takes_block_variant(d, padded) {
        return untilize_block_program(d, x, padded, free);
    }
    let wt = padded.last().copied().unwrap_or(TILE) / TILE;
    // `get_pf_type`: a tile row wider than two CBs of half the L1 hold goes column-parallel
    // when it is the only tile row, else to the single-core factory.
    let max_tiles = half_l1_budget(d) / (2 * tile_size(x.dtype()));
    if wt > max_tiles {
        if tile_rows(&x.spec) <= 1 {
            return Err(unmodeled(
                "ttnn.untilize",
                "a single tile row wider than two half-L1 CBs (UntilizeMultiCoreParallelizeColumnProgramFactory)",
            ));
        }
        return Ok(untilize_single_core_program(x, wt, max_tiles));
    }
    let (ncores, per_core) = compute_ncores(u64::from(d.grid_x * d.grid_y), tile_rows(&x.spec));
    let cores = grid::merge_ranges(&grid::num_cores_to_corerangeset(
        (0, 0),
        ncores as u32,
        (d.grid_x, d.grid_y),
        true,
    ));
    let rows = per_core.min(2) * wt;
    Ok(
        Program::new("UntilizeDeviceOperation", "UntilizeMultiCoreProgramFactory")
            .cb(CbKind::Dataflow, rows * tile_size(x.dtype()), &cores)
            .cb(
                CbKind::Dataflow,
                rows * untilized_tile_size(x.dtype()),
                &cores,
            ),
    )
}

/// Half a core's L1 above the reserved base: what the untilize / concat factories budget their
/// CBs against (`get_pf_type`'s `max_l1_size`).
fn half_l1_budget(d: &crate::device::DeviceSpec) -> u64 {
    (d.l1_bytes_per_core / 2).saturating_sub(d.l1_unreserved_base)
}

/// `UntilizeSingleCoreProgramFactory` on core (0,0): a row in blocks of the largest divisor of
/// `Wt` that `max_tiles` holds, one input and one output buffer of a block (seen on p150:
/// [3488,7968] bfloat16, Wt 249, 2 × 83 tiles; on n150 [3488,7040], Wt 220, 2 × 110).
fn untilize_single_core_program(x: &DevTensor, wt: u64, max_tiles: u64) -> Program {
    let block = (1..=max_tiles.min(wt))
        .rev()
        .find(|b| wt.is_multiple_of(*b))
        .unwrap_or(1);
    let core = crate::program::CoreRangeSet(vec![crate::program::CoreRange::new(0, 0, 0, 0)]);
    Program::new(
        "UntilizeDeviceOperation",
        "UntilizeSingleCoreProgramFactory",
    )
    .cb(CbKind::Dataflow, block * tile_size(x.dtype()), &core)
    .cb(
        CbKind::Dataflow,
        block * untilized_tile_size(x.dtype()),
        &core,
    )
}

/// `ttnn.untilize(_with_unpadding)`: a TILE tensor to ROW_MAJOR at its logical shape.
///
/// With unpadding, `is_enough_space` (a padded row's input and output tiles within what the
/// pending L1 output leaves of the free L1) picks the block factory when it fails; the capture
/// and the device run see different free L1 as for [`tilize`].
pub(super) fn untilize(
    ex: &mut Exec<'_>,
    x: &DevTensor,
    mem: BufferType,
) -> Result<DevTensor, CaseError> {
    untilize_as(ex, x, mem, false, None)
}

/// [`untilize`], through `untilize_with_unpadding` even for a tile-aligned input where
/// `with_unpadding` (concat's row-major route calls it so: seen on p150, an aligned
/// [5,4320,4256] bfloat8_b input untilized by its block factory, not the codegen one).
fn untilize_as(
    ex: &mut Exec<'_>,
    x: &DevTensor,
    mem: BufferType,
    with_unpadding: bool,
    cache: Option<&mut ProgramCache>,
) -> Result<DevTensor, CaseError> {
    let d = ex.device();
    let spec = TensorSpec::new(
        x.shape().clone(),
        untilized_dtype(x.dtype()),
        Layout::RowMajor,
    );
    let live_before = live_l1_per_bank(ex);
    let layout_before = ex.b.l1_free_below_lowest();
    let own_before = ex.b.own_live_l1_per_bank();
    let out = ex.b.tensor("untilized", BufferRole::Temporary, spec, mem)?;
    let own_after = ex.b.own_live_l1_per_bank();
    let live_after = live_l1_per_bank(ex);
    // `get_pending_l1_output_reservation`: the output's bytes as the free list takes them,
    // wherever it lands.
    let pending = own_after.saturating_sub(own_before);
    let (device_before, device_after, got_here) = device_free_l1(
        ex,
        cache.is_some(),
        (live_before, live_after),
        own_after,
        layout_before,
    );
    let padded = TensorSpec::new(x.shape().clone(), x.dtype(), Layout::Tile).padded_dims();
    let unpadding = with_unpadding || padded.as_slice() != x.dims();
    let wt = padded.last().copied().unwrap_or(TILE) / TILE;
    // `is_enough_space`: a row of input and of output tiles (bfloat16 for a block float).
    let need = crate::size::mul(
        tile_size(x.dtype()) + untilized_tile_size(x.dtype()),
        wt,
        "untilize row CBs",
    )?;
    let enough = |max_l1: u64| max_l1.checked_sub(pending).is_some_and(|left| left > need);
    let bank = d.l1_bank_bytes;
    let (enough_capture, enough_device) = (enough(bank), enough(device_before));
    // Whether the output's allocation succeeded is the allocator's to say (sim checks it when
    // the plan is replayed); the L1 outside the call counts in the free-L1 figures only.
    let normal_run_got_here = got_here;
    // The program for `enough` (`is_enough_space`), `max_l1` (the L1 free before the output is
    // allocated, which the codegen route weighs the pending output against) and `free`
    // (`get_max_l1_space` when the program is built, which sizes the codegen CBs and caps the
    // block factories' blocks).
    let program = |enough: bool, max_l1: u64, free: u64| -> Result<Program, CaseError> {
        if unpadding {
            return untilize_unpadding_program(d, x, &padded, enough, free);
        }
        // Without unpadding: the codegen prim where `supported_by_codegen` takes the input and
        // one of its CB plans fits the L1 free beside the pending output
        // (`codegen_cb_plan_fits_live_l1`), else the native factories.
        let codegen = codegen_untilizes_aligned(x, &padded)
            && untilize_codegen_program(d, x, max_l1.saturating_sub(pending)).is_some();
        match codegen
            .then(|| untilize_codegen_program(d, x, free))
            .flatten()
        {
            Some(p) => Ok(p),
            None => untilize_native_program(d, x, &padded, enough, free),
        }
    };
    // As for [`tilize`]: the capture sees the whole bank free unless the device run built the
    // same factory's program before it (then its free L1, the output allocated).
    let captured = program(enough_capture, bank, bank)?;
    let on_device = if normal_run_got_here {
        Some(program(enough_device, device_before, device_after)?)
    } else {
        None
    };
    // The codegen factory plans its CB depths from the L1 free when it runs: a NO_DISPATCH
    // capture, which allocates nothing for real, sees the whole bank, a device run has its
    // output allocated (seen on n150: [1,1,2048,4096] with 100 KB of L1 taken, input and output
    // 256 KB each, plans both CBs double in a capture; a [3648,4320] bfloat8_b split from DRAM
    // to L1 captures double buffers and runs with fewer; [2,4,17568,160] in L1 untilizes with
    // codegen in the capture, natively on the device). A refused program is never cached: the
    // capture builds its own (seen on n150: a [1,1,694656,64] bfloat16 untilize from DRAM to
    // L1 refused "single_block_size_limit must be at least 1" beside its output, and captured
    // "No solution found for single_block_size" on the whole bank).
    let codegen = on_device
        .as_ref()
        .is_some_and(|p| p.factory == "UntilizeCodegenProgramFactory");
    let mut fresh = ProgramCache::default();
    let p = cache.unwrap_or(&mut fresh).choose(
        captured,
        on_device,
        u8::from(enough_capture),
        u8::from(enough_device),
        codegen,
    );
    ex.b.run(p);
    Ok(out)
}

/// The programs the runtime's program cache holds for one device operation on one input
/// within one call (a split untilizes the same input once per piece that starts inside a tile,
/// and tilizes equal pieces of the same spec): the tilize / untilize factories' hash is the
/// input's spec, the output's memory and their `is_enough_space` flags, not the L1 free, so a
/// later run with flags seen before runs the program built then. The device run goes first and
/// the NO_DISPATCH capture after it: the capture finds what the device run built under its own
/// flags. The free L1 only shrinks from piece to piece, so each flag only turns from enough to
/// not enough: the capture, which sees the whole bank, shares the device run's flags somewhere
/// in the call only if it shares those of the device run's first build. Seen on n150:
/// [1088,17984] bfloat16 in L1 into 5 along its width; the capture's later untilizes keep the
/// first one's sub-blocks of 9 tiles, built beside 44,576 B free, where the whole bank would
/// give blocks of 19.
#[derive(Default)]
pub(super) struct ProgramCache {
    /// The device run's programs by flags, each built at the flags' first use.
    device: Vec<(u8, Program)>,
    /// Whether a program was planned already: only the first one's device program can be
    /// the capture's.
    seen: bool,
    /// The device run's first program, with its flags, where the capture may take it.
    first_device: Option<(u8, Program)>,
}

impl ProgramCache {
    /// The program a run plans: `captured` as a capture on its own would build it,
    /// `on_device` as the device run would (`None`: the device run never got here), with
    /// their flags. A refused program is never cached (the runtime raises before it keeps
    /// it), nor is a codegen untilize (`uncached`).
    fn choose(
        &mut self,
        captured: Program,
        on_device: Option<Program>,
        flags_capture: u8,
        flags_device: u8,
        uncached: bool,
    ) -> Program {
        let first = !self.seen;
        self.seen = true;
        let Some(built) = on_device else {
            return self.captured(captured, flags_capture);
        };
        // The runtime looks its program cache up before it builds: a hit runs the cached
        // program even where a build on today's free L1 would be refused (seen on p150:
        // [6,10,64,6880] bfloat16 in L1 split into 8, the seventh round trip's untilize runs the
        // first one's 2-tile blocks beside 7,680 B free and clashes, where a build finds no
        // block); a refused build is never cached.
        let cached = (!uncached)
            .then(|| self.device.iter().find(|(f, _)| *f == flags_device))
            .flatten()
            .map(|(_, p)| p.clone());
        let cacheable = !uncached && built.refused.is_none();
        let device = match cached {
            Some(p) => p,
            None if cacheable => {
                self.device.push((flags_device, built.clone()));
                built
            }
            None => built,
        };
        if first && cacheable {
            self.first_device = Some((flags_device, device.clone()));
        }
        let traced = self.captured(captured, flags_capture);
        if traced == device {
            traced
        } else {
            traced.on_device(device)
        }
    }

    /// The capture's program: the device run's first one where the flags agree and the
    /// capture takes the same device operation, else its own. The codegen untilize is its own
    /// device operation, chosen on the L1 the capture sees before any cache is consulted
    /// (random split seed 1207607 on p150: [18,832,5696] bfloat8_b in L1 along dim 1 by 55
    /// captures the codegen untilize after a device run on the block factory).
    fn captured(&self, captured: Program, flags_capture: u8) -> Program {
        match &self.first_device {
            Some((flags, p)) if *flags == flags_capture && p.op == captured.op => p.clone(),
            _ => captured,
        }
    }
}

/// The programs one call has cached, by device operation and input (spec and memory): the
/// runtime's program hash.
#[derive(Default)]
pub(super) struct ProgramCaches(Vec<(&'static str, TensorSpec, BufferType, ProgramCache)>);

impl ProgramCaches {
    fn of(&mut self, op: &'static str, x: &DevTensor) -> &mut ProgramCache {
        let at = match self
            .0
            .iter()
            .position(|(o, spec, mem, _)| *o == op && *spec == x.spec && *mem == x.memory)
        {
            Some(at) => at,
            None => {
                self.0
                    .push((op, x.spec.clone(), x.memory, ProgramCache::default()));
                self.0.len() - 1
            }
        };
        &mut self.0[at].3
    }
}

/// The L1 the device run's tilize / untilize finds free before and after its output is
/// allocated (`get_max_l1_space`), and whether that allocation succeeded on the device, from
/// the live bytes `live` (before, after) and, with `from_layout` (a split's round trips), from
/// the call's L1 layout (`layout_before`, [`crate::plan::PlanBuilder::l1_free_below_lowest`]):
/// there each piece frees its untilized rows and their slice above the tiles it keeps, and the
/// hole they leave is not free L1 to the runtime (seen on n150: [72160,128] bfloat16 split
/// into [38,71,19] along its width; the second round trip's untilize takes the block factory).
fn device_free_l1(
    ex: &Exec<'_>,
    from_layout: bool,
    live: (u64, u64),
    own_after: u64,
    layout_before: Option<u64>,
) -> (u64, u64, bool) {
    let bank = ex.device().l1_bank_bytes;
    let (live_before, live_after) = live;
    // Without the layout: whether the output's allocation succeeded is the allocator's to say
    // (sim checks it when the plan is replayed); the L1 outside the call counts in the
    // free-L1 figures only.
    let by_live = (
        bank.saturating_sub(live_before),
        bank.saturating_sub(live_after),
        own_after <= bank,
    );
    if !from_layout {
        return by_live;
    }
    match (layout_before, ex.b.l1_free_below_lowest()) {
        (Some(before), Some(after)) => (before, after, true),
        // The output did not fit: the device run stopped there.
        (Some(before), None) => (before, 0, false),
        // An earlier buffer did not fit: the device run stopped before this program (seen on
        // n150: two bfloat16 [139636] concatenated in L1 run out at the transpose back, and the
        // capture builds its tilize's blocks on the whole bank).
        (None, _) => (by_live.0, by_live.1, false),
    }
}

/// The dtype an untilize writes: a block float's rows come out bfloat16 (the untilize converts
/// natively; seen on the runtime: bfloat8_b in, bfloat16 ROW_MAJOR out, 1,088 B tiles in the
/// input buffers and 2,048 B in the output ones).
pub(super) fn untilized_dtype(input: DType) -> DType {
    if input.is_block_float() {
        DType::Bfloat16
    } else {
        input
    }
}

fn untilized_tile_size(input: DType) -> u64 {
    tile_size(untilized_dtype(input))
}

/// The block split of the untilize block factories: square blocks over the grid, capped (with
/// sub-blocks, `compute_ncores_wh_sb`) where an input and an output tile per block tile exceed
/// the free L1 (`cb_block_size_limit`). Seen on p150: a [138,620215] bfloat8_b untilize with
/// 958,528 B of L1 taken per bank runs blocks of 59 tiles, not 178. `Err`: no block fits, in
/// the runtime's words (it raises them when it makes the program, its output allocated by
/// then: seen on n150, YOLOv12x 4320×7680's #15, a [1,1,2073600,64] bfloat8_b untilize from
/// DRAM to L1, whose output alone overflows L1, captures "No solution found for
/// single_block_size").
fn untilize_block_split(
    d: &crate::device::DeviceSpec,
    x: &DevTensor,
    padded: &[u64],
    row_wise: bool,
    free: u64,
) -> Result<WhSplit, String> {
    let n = padded.len();
    let wt = padded[n - 1] / TILE;
    let ht = if n >= 2 { padded[n - 2] / TILE } else { 1 };
    let wh = split_wh(d, wt, ht, row_wise);
    let limit = free / (tile_size(x.dtype()) + untilized_tile_size(x.dtype()));
    if wh.block <= limit {
        return Ok(wh);
    }
    match block_with_sub_blocks(u64::from(d.grid_x * d.grid_y), wt, ht, limit) {
        Some((block, sub_block)) => Ok(wh_layout(d, wt, ht, block, sub_block, row_wise)),
        None if limit == 0 => Err("single_block_size_limit must be at least 1".to_string()),
        None => Err("No solution found for single_block_size".to_string()),
    }
}

/// An untilize block factory's program: its split's buffers, or refused where no block fits.
fn untilize_block_buffers(
    split: Result<WhSplit, String>,
    program: Program,
    x: &DevTensor,
) -> Program {
    match split {
        Ok(wh) => wh.block_buffers(
            program,
            tile_size(x.dtype()),
            untilized_tile_size(x.dtype()),
        ),
        Err(message) => program.refused(message),
    }
}

/// `UntilizeMultiCoreBlockProgramFactory`: the wide-row block split with its cores taken row
/// after row, an input and an output buffer of a block row per core.
fn untilize_block_program(
    d: &crate::device::DeviceSpec,
    x: &DevTensor,
    padded: &[u64],
    free: u64,
) -> Result<Program, CaseError> {
    Ok(untilize_block_buffers(
        untilize_block_split(d, x, padded, true, free),
        Program::new(
            "UntilizeDeviceOperation",
            "UntilizeMultiCoreBlockProgramFactory",
        ),
        x,
    ))
}

/// The `UntilizeWithUnpadding` program with `enough_space` as `is_enough_space` found it.
fn untilize_unpadding_program(
    d: &crate::device::DeviceSpec,
    x: &DevTensor,
    padded: &[u64],
    enough_space: bool,
    free: u64,
) -> Result<Program, CaseError> {
    let n = padded.len();
    let wt = padded[n - 1] / TILE;
    let (ts_in, ts_out) = (tile_size(x.dtype()), untilized_tile_size(x.dtype()));
    if !enough_space || use_block_variant(d, padded).is_some() {
        return Ok(untilize_block_buffers(
            untilize_block_split(d, x, padded, false, free),
            Program::new(
                "UntilizeWithUnpaddingDeviceOperation",
                "UntilizeWithUnpaddingMultiCoreBlockInterleavedProgramFactory",
            ),
            x,
        ));
    }
    let (ncores, _) = compute_ncores(u64::from(d.grid_x * d.grid_y), tile_rows(&x.spec));
    let cores = cores_col_wise(d, ncores);
    Ok(Program::new(
        "UntilizeWithUnpaddingDeviceOperation",
        "UntilizeWithUnpaddingMultiCoreInterleavedProgramFactory",
    )
    .cb(CbKind::Dataflow, wt * ts_in, &cores)
    .cb(CbKind::Dataflow, wt * ts_out, &cores))
}

/// `ttnn.tilize(_with_val_padding)`: a ROW_MAJOR tensor to TILE.
///
/// The factory follows the L1 free when the op runs (`get_max_l1_space`: up to the lowest
/// occupied L1 address): `is_enough_space` (a padded row's input and output tiles within what
/// the pending L1 output leaves) picks the block factory when it fails, and the block factory
/// caps its block by the free L1 (the output allocated). A NO_DISPATCH capture allocates
/// nothing for real, so it sees the whole bank — unless the normal run before it built the same
/// program (same `enough_space` attribute), which the capture then takes from the program
/// cache: the golden traces show both. The capture's program is the traced one; the device
/// run's is [`Program::on_device`].
pub(super) fn tilize(
    ex: &mut Exec<'_>,
    x: &DevTensor,
    mem: BufferType,
) -> Result<DevTensor, CaseError> {
    tilize_to(
        ex,
        x,
        mem,
        x.dtype(),
        ex.device().l1_bank_bytes,
        false,
        None,
    )
}

/// `ttnn.tilize_with_val_padding` called as such (the reductions' tilize of a ROW_MAJOR input):
/// [`tilize`], but the val-padding device operation even where no dim needs padding (seen in
/// the captures of a ROW_MAJOR `ttnn.sum` of `[2,3,64,64]`).
pub(super) fn tilize_with_val_padding(
    ex: &mut Exec<'_>,
    x: &DevTensor,
    mem: BufferType,
) -> Result<DevTensor, CaseError> {
    tilize_to(ex, x, mem, x.dtype(), ex.device().l1_bank_bytes, true, None)
}

/// [`tilize`] on a device opened with `l1_small` bytes of L1_SMALL (conv2d's): the L1 the
/// factory sees free is the bank left beside it (seed 52301, n150: `[1,195,106,1024]` ROW_MAJOR
/// told BLOCK_SHARDED, whose tilize fits beside its 661,504 B output with the capped blocks
/// the smaller bank gives).
pub(super) fn tilize_beside_l1_small(
    ex: &mut Exec<'_>,
    x: &DevTensor,
    mem: BufferType,
    l1_small: u64,
) -> Result<DevTensor, CaseError> {
    let bank = ex.device().l1_bank_bytes.saturating_sub(l1_small);
    tilize_to(ex, x, mem, x.dtype(), bank, false, None)
}

/// [`tilize`] into `out_dtype`, on an L1 bank of `bank` bytes: the input buffers hold the
/// input's format, the output buffers the output's. `val_padding`: the val-padding operation
/// whether or not a dim needs padding.
fn tilize_to(
    ex: &mut Exec<'_>,
    x: &DevTensor,
    mem: BufferType,
    out_dtype: DType,
    bank: u64,
    val_padding: bool,
    cache: Option<&mut ProgramCache>,
) -> Result<DevTensor, CaseError> {
    let d = ex.device();
    let spec = TensorSpec::new(x.shape().clone(), out_dtype, Layout::Tile);
    let live_before = live_l1_per_bank(ex);
    let layout_before = ex.b.l1_free_below_lowest();
    let own_before = ex.b.own_live_l1_per_bank();
    let out =
        ex.b.tensor("tilized", BufferRole::Temporary, spec.clone(), mem)?;
    let own_after = ex.b.own_live_l1_per_bank();
    let live_after = live_l1_per_bank(ex);
    // `get_pending_l1_output_reservation`: the output's bytes as the free list takes them,
    // wherever it lands.
    let pending = own_after.saturating_sub(own_before);
    // `bank` is the whole bank on the layout's route (a split's round trips).
    let (device_free, device_after, got_here) = if cache.is_some() {
        device_free_l1(
            ex,
            true,
            (live_before, live_after),
            own_after,
            layout_before,
        )
    } else {
        // `get_max_l1_space` reads the free L1 below the lowest occupied address, which a hole
        // the call's own frees leave above it does not add to (seen on p150: float32 [1,18464]
        // expanded to 960 rows in L1, the freed untilized rows sit above the repeated ones and
        // the tilize's blocks are capped at 4 tiles, not the 5 the live bytes give); `bank`
        // may be smaller than the list (L1_SMALL), so the lesser of the two.
        let (layout_free, layout_after, layout_got_here) = device_free_l1(
            ex,
            true,
            (live_before, live_after),
            own_after,
            layout_before,
        );
        (
            bank.saturating_sub(live_before).min(layout_free),
            bank.saturating_sub(live_after).min(layout_after),
            own_after <= bank && layout_got_here,
        )
    };
    let padded = spec.padded_dims();
    let needs_padding = val_padding || padded.as_slice() != x.dims();
    let ts_in = tile_size(x.dtype());
    let n = padded.len();
    let wt = padded[n - 1] / TILE;
    let need = tilize_row_cbs(d, ts_in, tile_size(out_dtype), wt)?;
    let enough = |max_l1: u64| max_l1.checked_sub(pending).is_some_and(|left| left > need);
    let (enough_capture, enough_device) = (enough(bank), enough(device_free));
    // On Blackhole `TilizeDeviceOperation` takes every interleaved uint8 input to its block
    // factory (select_program_factory: the default reader's narrow DRAM rows misalign there;
    // seen on p150: [352,1] expanded to 64 wide in L1 tilizes back in 1,024 B blocks).
    let block_only =
        d.arch == crate::device::Arch::Blackhole && x.dtype() == DType::Uint8 && !needs_padding;
    let captured = tilize_program(
        d,
        &spec,
        ts_in,
        needs_padding,
        enough_capture && !block_only,
        bank,
    )?;
    // A device run whose buffers overflow a bank failed before this program.
    // Whether the output's allocation succeeded is the allocator's to say (sim checks it when
    // the plan is replayed); the L1 outside the call counts in the free-L1 figures only.
    let normal_run_got_here = got_here;
    let on_device = if normal_run_got_here {
        tilize_program(
            d,
            &spec,
            ts_in,
            needs_padding,
            enough_device && !block_only,
            device_after,
        )?
    } else {
        captured.clone()
    };
    // `tilize_with_val_padding` also passes `enough_space_width` (a tile column's input and
    // output tiles, the same test) into its program hash, so the capture reuses the device
    // run's program only where both flags agree. Seen on n150: expand [634,1] → [634,33820]
    // in L1 (width: 20 tile rows fit the whole bank, not the device run's 36,976 B) captures
    // blocks of 20 tiles after a device run that capped them; the unpadded tilize of
    // [640,33792] there captures the device run's blocks.
    let ht = padded.get(n.wrapping_sub(2)).copied().unwrap_or(TILE) / TILE;
    let need_width = tilize_row_cbs(d, ts_in, tile_size(out_dtype), ht)?;
    let enough_width = |max_l1: u64| {
        max_l1
            .checked_sub(pending)
            .is_some_and(|left| left > need_width)
    };
    if let Some(cache) = cache {
        // The flags in the program's hash: `is_enough_space` and, with padding, its width twin.
        let flags = |enough: bool, max_l1: u64| {
            u8::from(enough) | u8::from(needs_padding && enough_width(max_l1)) << 1
        };
        let p = cache.choose(
            captured,
            normal_run_got_here.then_some(on_device),
            flags(enough_capture, bank),
            flags(enough_device, device_free),
            false,
        );
        ex.b.run(p);
        return Ok(out);
    }
    // A program the device run refused to create never reached the cache (seen on n150: the
    // tilize back of a [3168,6944] expand in L1 raises "No solution found for
    // single_block_size" on the device run, and the capture then builds its own 20-tile blocks).
    let same_hash = enough_capture == enough_device
        && (!needs_padding || enough_width(bank) == enough_width(device_free))
        && on_device.refused.is_none();
    let traced = if normal_run_got_here && same_hash {
        on_device.clone()
    } else {
        captured
    };
    let p = if traced == on_device {
        traced
    } else {
        traced.on_device(on_device)
    };
    ex.b.run(p);
    Ok(out)
}

/// What `is_enough_space` weighs for a tilize (`get_estimated_size_of_cbs`, tilize.cpp /
/// tilize_with_val_padding.cpp): a row of `wt` input and output tiles, and the block
/// factory's staging row (an input tile's bytes / 32 per tile and two DRAM alignments).
fn tilize_row_cbs(
    d: &crate::device::DeviceSpec,
    in_tile: u64,
    out_tile: u64,
    wt: u64,
) -> Result<u64, CaseError> {
    let per_tile = in_tile + out_tile + in_tile / TILE;
    let row = crate::size::mul(per_tile, wt, "tilize row CBs")?;
    Ok(crate::size::add(
        row,
        2 * d.dram_alignment,
        "tilize row CBs",
    )?)
}

/// The program of a tilize to `spec` with `enough_space` as `is_enough_space` found it and
/// `free` bytes of L1 for the block factory.
fn tilize_program(
    d: &crate::device::DeviceSpec,
    spec: &TensorSpec,
    input_tile: u64,
    needs_padding: bool,
    enough_space: bool,
    free: u64,
) -> Result<Program, CaseError> {
    let padded = spec.padded_dims();
    let ts = tile_size(spec.dtype);
    let n = padded.len();
    let (wt, ht) = (padded[n - 1] / TILE, padded[n - 2] / TILE);
    let block_split = if enough_space {
        use_block_variant(d, &padded)
    } else {
        Some(split_wh(d, wt, ht, false))
    };
    if let Some(wh) = block_split {
        // The factory caps a core's block by what its input and output buffers and the
        // reader's row staging (an input tile's bytes / 32 a tile) may take of the L1 free,
        // splitting wider blocks into sub-blocks (seen on n150: a [6141024] bfloat16 tilize
        // from DRAM took sub-blocks of 234 tiles, which a cap without the staging, 340, misses).
        // The same cap holds for a tilize to another dtype (its p150 [6,518,9571] float32 to
        // bfloat8_b in L1 matches; seeds 91751 n150 / 91752 p150, 0 mismatches).
        // `make_block_plan` (common.cpp) takes the staging's two DRAM alignments off first.
        let limit =
            free.saturating_sub(2 * d.dram_alignment) / (input_tile + ts + input_tile / TILE);
        let (block, sub_block) = if wh.block > limit {
            match block_with_sub_blocks(u64::from(d.grid_x * d.grid_y), wt, ht, limit) {
                Some(split) => split,
                // The runtime raises when it creates the program (`compute_ncores_wh_sb` of
                // work_split_tilize.hpp, in its words: seen on n150 for a [48768,448] mean's
                // tilize beside 26,528 B free, and on p150 for a limit of 0): the inputs exist
                // by then, and may run out first.
                None => {
                    return Ok(Program::new(
                        "TilizeDeviceOperation",
                        "TilizeMultiCoreBlockProgramFactory",
                    )
                    .refused(if limit == 0 {
                        "single_block_size_limit must be at least 1".to_string()
                    } else {
                        "No solution found for single_block_size".to_string()
                    }))
                }
            }
        } else {
            (wh.block, wh.block)
        };
        let wh = wh_layout(d, wt, ht, block, sub_block, false);
        // The reader's row staging scratchpad: a row of the block's input (an input tile's
        // bytes / 32 per tile) and two DRAM alignments around it (64 B on n150, 128 B on p150 in
        // the captures).
        let staging = |w: u64| w * (input_tile / TILE) + 2 * d.dram_alignment;
        let mut p = if needs_padding {
            Program::new(
                "TilizeWithValPaddingDeviceOperation",
                "TilizeWithValPaddingMultiCoreBlockInterleavedFactory",
            )
        } else {
            Program::new(
                "TilizeDeviceOperation",
                "TilizeMultiCoreBlockProgramFactory",
            )
        };
        p = wh.block_buffers(p, input_tile, ts);
        if p.refused.is_some() {
            return Ok(p);
        }
        if !wh.cliff_row.is_empty() {
            p.push(Cb::new(
                CbKind::Scratchpad,
                staging(wh.cliff_width),
                wh.cliff_row.clone(),
            ));
        }
        if !wh.full.is_empty() {
            p.push(Cb::new(
                CbKind::Scratchpad,
                staging(wh.block),
                wh.full.clone(),
            ));
        }
        return Ok(p);
    }
    let (ncores, _) = compute_ncores(u64::from(d.grid_x * d.grid_y), tile_rows(spec));
    let cores = cores_col_wise(d, ncores);
    Ok(if needs_padding {
        Program::new(
            "TilizeWithValPaddingDeviceOperation",
            "TilizeWithValPaddingMultiCoreDefaultFactory",
        )
    } else {
        Program::new(
            "TilizeDeviceOperation",
            "TilizeMultiCoreDefaultProgramFactory",
        )
    }
    .cb(CbKind::Dataflow, wt * input_tile, &cores)
    .cb(CbKind::Dataflow, wt * ts, &cores))
}

/// `SliceTileProgramFactory`: a slice of a TILE tensor starting on tile boundaries.
fn slice_tile(
    ex: &mut Exec<'_>,
    x: &DevTensor,
    out_dims: Vec<u64>,
    mem: BufferType,
) -> Result<DevTensor, CaseError> {
    let d = ex.device();
    let spec = spec_with(x, out_dims)?;
    let out =
        ex.b.tensor("slice", BufferRole::Temporary, spec.clone(), mem)?;
    let w = grid::split_work(d, tiles(&spec), false);
    let cores = grid::merge_ranges(&w.all);
    let mut p = Program::new("SliceDeviceOperation", "SliceTileProgramFactory").cb(
        CbKind::Dataflow,
        2 * tile_size(x.dtype()),
        &cores,
    );
    p.push(Cb::new(
        CbKind::Scratchpad,
        4 * x.shape().rank() as u64,
        cores,
    ));
    ex.b.run(p);
    Ok(out)
}

/// `merge_num_sticks_to_read` (work_split.cpp): the number of reads of the largest size up to
/// `max` that divides the sticks' bytes evenly.
fn merge_num_sticks_to_read(sticks: u64, stick: u64, max: u64) -> u64 {
    let total = sticks * stick;
    let mut n = sticks;
    let mut size = stick;
    while size <= max {
        if total.is_multiple_of(size) {
            n = total / size;
        }
        size += stick;
    }
    n
}

/// Bytes every L1 bank holds for the buffers alive now: what the allocator leaves programs
/// (`available_program_l1_capacity`) is the bank less these, barring fragmentation.
pub(super) fn live_l1_per_bank(ex: &Exec<'_>) -> u64 {
    ex.b.live_l1_per_bank()
}

/// The sub-row chunk of `compute_dfb_size` and its count per row; `None` where the runtime's
/// budget is too small for any chunk (it refuses the slice).
fn slice_chunk(row: u64, budget: u64, align: u64) -> Option<(u64, u64)> {
    const CHUNK_TARGET_BYTES: u64 = 8192;
    let mut max_chunk = CHUNK_TARGET_BYTES.min(budget / 8) / align * align;
    if max_chunk < align {
        return None;
    }
    let mut n = row.div_ceil(max_chunk);
    if !n.is_multiple_of(2) {
        let target = n + 1;
        let new_max = row / target / align * align;
        if new_max >= align && row.div_ceil(new_max).is_multiple_of(2) {
            max_chunk = new_max;
            n = row.div_ceil(new_max);
        }
    }
    Some((max_chunk, n))
}

/// `SliceRmProgramFactory`: a slice of a ROW_MAJOR tensor. `refuse_over_budget`: two rows over
/// the free L1 are refused as the runtime does (checked for ROW_MAJOR and block-float inputs;
/// the calibrated TILE cases that untilize first plan it as they are).
fn slice_rm(
    ex: &mut Exec<'_>,
    x: &DevTensor,
    begins_last: u64,
    out_dims: Vec<u64>,
    mem: BufferType,
    refuse_over_budget: bool,
) -> Result<DevTensor, CaseError> {
    let d = ex.device();
    let spec = spec_with(x, out_dims.clone())?;
    let out = ex.b.tensor("slice", BufferRole::Temporary, spec, mem)?;
    let rows: u64 = out_dims[..out_dims.len() - 1].iter().product();
    let w = grid::split_work(d, rows, false);
    let cores = grid::merge_ranges(&w.all);
    let esize = x.dtype().row_major_element_bytes();
    let src_align = d.alignment(x.memory);
    let single = src_align.max(d.alignment(mem));
    let misaligned = !(begins_last * esize).is_multiple_of(src_align);
    let align = if misaligned { single * 2 } else { single };
    let row_bytes = out_dims.last().copied().unwrap_or(1) * esize;
    let page = row_bytes.div_ceil(align) * align;
    let stride = row_bytes.div_ceil(single) * single;
    let pages = w.units_1.max(w.units_2);
    // `compute_dfb_size` (slice_program_factory_rm.cpp): a row whose two aligned copies do not
    // fit the L1 free now (`get_max_l1_space`) is read in chunks of up to
    // `CHUNK_TARGET_BYTES` (8192), at most a eighth of that budget, evened out so pairs of
    // chunks fill the ring; two reads per barrier when the chunk count is even. A misaligned
    // row is not chunked: two of them over the budget are refused. A device run's budget is
    // the bank less the live L1 buffers, the output among them (traced: a [64,300002]
    // bfloat16 split in L1 has 193,216 B left on n150 beside 600,016 + 2 × 300,016 B, each
    // taken in 32 B granules, 260,992 B on p150 in 64 B ones). As for [`tilize`], a
    // NO_DISPATCH capture sees the whole bank unless the device run built (and cached) the
    // same program first: a refused one is never cached (the [64,300002] capture records
    // 600,064 B), a built one is (a [896,48416] split on p150 captures its first piece
    // chunked beside its output).
    let program = |budget: u64| -> Program {
        let p = Program::new("SliceDeviceOperation", "SliceRmProgramFactory");
        let needs_chunking = !misaligned && 2 * page > budget && page > align;
        let chunk = if needs_chunking {
            match slice_chunk(row_bytes, budget, align) {
                Some(c) => Some(c),
                None => {
                    return p.refused(format!(
                        "ttnn::slice: L1 budget {budget} B too small for sub-row chunking (alignment {align} B)"
                    ))
                }
            }
        } else {
            None
        };
        let entry = chunk.map_or(page, |(c, _)| c);
        if refuse_over_budget && 2 * entry > budget {
            let misalignment = (begins_last * esize) % src_align;
            return p.refused(format!(
                "ttnn::slice: required DFB size {} B exceeds per-core L1 budget {budget} B (row_bytes={row_bytes}, misalignment={misalignment}); consider slicing along a non-width dim",
                2 * entry
            ));
        }
        let (per_barrier, entry) = if pages == 0 {
            (0, page)
        } else if let Some((chunk, n)) = chunk {
            (if n.is_multiple_of(2) { 2 } else { 1 }, chunk)
        } else {
            let pad32 = pages.div_ceil(32) * 32;
            (pad32 / merge_num_sticks_to_read(pad32, stride, 4096), page)
        };
        p.cb(CbKind::Dataflow, per_barrier * 2 * entry, &cores).cb(
            CbKind::Scratchpad,
            4 * x.shape().rank() as u64,
            &cores,
        )
    };
    let bank = d.l1_bank_bytes;
    let live = live_l1_per_bank(ex);
    // Whether the output's allocation succeeded is the allocator's to say; the L1 outside the
    // call counts in the free-L1 figure only.
    let normal_run_got_here = ex.b.own_live_l1_per_bank() <= bank;
    let captured = program(bank);
    let p = if !normal_run_got_here {
        captured
    } else {
        let on_device = program(bank.saturating_sub(live));
        if on_device.refused.is_some() && on_device != captured {
            captured.on_device(on_device)
        } else {
            on_device
        }
    };
    ex.b.run(p);
    Ok(out)
}

/// `ttnn.slice` of the last-dim range `[begin, end)` along `dim` (steps of 1): tile slices
/// when the start is tile aligned, else untilize, row-major slice, tilize.
pub(super) fn slice(
    ex: &mut Exec<'_>,
    x: &DevTensor,
    dim: usize,
    begin: u64,
    end: u64,
    mem: BufferType,
) -> Result<DevTensor, CaseError> {
    slice_cached(ex, x, dim, begin, end, mem, &mut ProgramCaches::default())
}

/// [`slice`] within a call whose earlier untilizes and tilizes `caches` holds.
fn slice_cached(
    ex: &mut Exec<'_>,
    x: &DevTensor,
    dim: usize,
    begin: u64,
    end: u64,
    mem: BufferType,
    caches: &mut ProgramCaches,
) -> Result<DevTensor, CaseError> {
    let rank = x.shape().rank();
    let mut out_dims = x.dims().to_vec();
    out_dims[dim] = end - begin;
    if x.layout() == Layout::RowMajor {
        return slice_rm(
            ex,
            x,
            if dim + 1 == rank { begin } else { 0 },
            out_dims,
            mem,
            true,
        );
    }
    let tiled_dim = dim + 2 >= rank;
    if !tiled_dim || begin.is_multiple_of(TILE) {
        return slice_tile(ex, x, out_dims, mem);
    }
    if x.dtype() == DType::Bfloat4B {
        // bfloat4_b has no ROW_MAJOR form: the untilize's output spec is refused (in
        // bfloat8_b's words) before it allocates anything (seen on the runtime, both boards).
        ex.b.run(
            Program::new(
                "UntilizeWithUnpaddingDeviceOperation",
                "UntilizeWithUnpaddingMultiCoreInterleavedProgramFactory",
            )
            .refused("Only TILE layout is supported for BFLOAT8_B dtype!".to_string()),
        );
        return Ok(ex.b.share(x, spec_with(x, out_dims)?));
    }
    let rm = untilize_as(
        ex,
        x,
        mem,
        false,
        Some(caches.of("UntilizeDeviceOperation", x)),
    )?;
    // The runtime refuses rows over its budget, whatever the dtype (seen on p150: a
    // [352,1495648] bfloat8_b split, "required DFB size 1655040 B exceeds per-core L1 budget";
    // on n150, random split seed 1207601: a [224,181304] bfloat16 one from L1, 362,624 B over
    // a 123,552 B budget).
    let sliced = slice_rm(
        ex,
        &rm,
        if dim + 1 == rank { begin } else { 0 },
        out_dims,
        mem,
        true,
    )?;
    if x.dtype() == DType::Uint8 {
        // The padding tilize refuses uint8 once the untilize and the slice have run and its
        // own output is allocated (seen on the runtime, both boards; in L1 that output can run
        // out first: seed 1207341, n150 [1,1,6011,4246] halved along dim 3 from L1 fails on its
        // 201,728 B per bank).
        let tiled = ex.b.tensor(
            "tilized",
            BufferRole::Temporary,
            TensorSpec::new(sliced.shape().clone(), sliced.dtype(), Layout::Tile),
            mem,
        )?;
        ex.b.run(
            Program::new(
                "TilizeWithValPaddingDeviceOperation",
                "TilizeWithValPaddingMultiCoreDefaultFactory",
            )
            .refused(TILIZE_DTYPE_REFUSAL.to_string()),
        );
        ex.b.release(rm);
        ex.b.release(sliced);
        return Ok(tiled);
    }
    let out = tilize_to(
        ex,
        &sliced,
        mem,
        sliced.dtype(),
        ex.device().l1_bank_bytes,
        false,
        Some(caches.of("TilizeDeviceOperation", &sliced)),
    )?;
    ex.b.release(sliced);
    ex.b.release(rm);
    Ok(out)
}

/// `get_max_cores_divisible_by_tiles_per_core_tiles` (work_split.cpp).
fn max_cores_divisible(tiles: u64, max_cores: u64, request_even: bool) -> u64 {
    let mut n = 1;
    for i in 2..=max_cores {
        if tiles.is_multiple_of(i) {
            n = i;
        }
    }
    if request_even && n > 1 {
        n -= n % 2;
    }
    n
}

/// Where `ttnn.split` puts its chunks when the call gives no memory_config (split.cpp,
/// `desired_mem_cfg`): the input's memory, except that more than two chunks of an L1 input go to
/// DRAM when they fail its "L1 budget": the whole chunks' bytes (every bank's, not one bank's)
/// plus 4 pages of slice CBs per chunk against the L1 free on core (0,0), from the allocator
/// base up to the lowest occupied L1 address. Checked on the runtime: split [1,128,400,500]
/// NHWC into 4 fits this way where memory_config=L1 runs out of memory.
///
/// A device run sees its L1 buffers (interleaved L1 fills every bank from the top down); a
/// NO_DISPATCH capture allocates none and sees the whole bank. The plan follows the device run
/// when the case gets that far (its live L1 buffers fit a bank), else the capture.
fn split_default_memory(
    ex: &Exec<'_>,
    x: &DevTensor,
    chunks: u64,
) -> Result<BufferType, CaseError> {
    if x.memory != BufferType::L1 || chunks <= 2 {
        return Ok(x.memory);
    }
    let bank = ex.device().l1_bank_bytes;
    let volume = x
        .spec
        .padded_dims()
        .iter()
        .try_fold(1u64, |acc, &v| crate::size::mul(acc, v, "split budget"))?;
    let (chunk_bytes, page_bytes) = match x.layout() {
        Layout::Tile => {
            let ts = tile_size(x.dtype());
            let tiles = volume / (TILE * TILE);
            (crate::size::mul(tiles / chunks, ts, "split budget")?, ts)
        }
        Layout::RowMajor => {
            let e = x.dtype().row_major_element_bytes();
            (
                crate::size::mul(volume / chunks, e, "split budget")?,
                TILE * TILE * e,
            )
        }
    };
    let need = crate::size::mul(chunk_bytes, chunks, "split budget")?
        .saturating_add(chunks.saturating_mul(4).saturating_mul(page_bytes));
    let live = live_l1_per_bank(ex);
    let free = if live <= bank { bank - live } else { bank };
    // `lowest_occupied_compute_l1_address` gave the runtime more than the bank less the live L1
    // (random split seed 1207604 on p150: a ROW_MAJOR [4,992,160] bfloat16 from L1 into 23,
    // 1,458,154 B estimated against a 1,461,120 B bank, stayed in L1 beside its input): between the
    // two the choice is not known.
    if need > free && need <= bank {
        return Err(unmodeled(
            "ttnn.split",
            "a default-memory split whose L1 estimate falls between the free L1 beside the live buffers and the whole bank",
        ));
    }
    // Moved to DRAM, a ROW_MAJOR input's copy and its slices size their row buffers on the free
    // L1, and there the runtime saw more than the bank less the L1 input (random draw seed
    // 1207600, both boards: [1,1,160,108384] float32 from L1 into 3 along dim -2 copied and
    // sliced whole 433,536 B rows, two per buffer, where the L1 input left 92,704 B free):
    // where two rows exceed that free L1 the choice is not known.
    if need > free && x.layout() == Layout::RowMajor {
        let row = x
            .dims()
            .last()
            .copied()
            .unwrap_or(1)
            .saturating_mul(x.dtype().row_major_element_bytes());
        if row.saturating_mul(2) > free {
            return Err(unmodeled(
                "ttnn.split",
                "a default-memory ROW_MAJOR split moved to DRAM whose rows, two at a time, exceed the L1 its input leaves free",
            ));
        }
    }
    Ok(if need > free {
        BufferType::Dram
    } else {
        BufferType::L1
    })
}

/// `ttnn.split` (split.cpp): the two-chunk last-dim kernel where it applies, else one slice per
/// chunk.
pub(super) fn split(
    ex: &mut Exec<'_>,
    x: &DevTensor,
    sizes: &[u64],
    dim: usize,
    mem: BufferType,
) -> Result<Vec<DevTensor>, CaseError> {
    let d = ex.device();
    let rank = x.shape().rank();
    if sizes.len() == 1 && sizes[0] >= x.dims()[dim] && split_kernel_takes_one_piece(ex, x, dim) {
        return Ok(vec![split_kernel_one_piece(ex, x, mem)?]);
    }
    if sizes.len() == 1 && sizes[0] >= x.dims()[dim] {
        // One chunk: `ttnn.split` hands the input back, copied when it goes to another memory
        // (seen on the runtime: a ROW_MAJOR [2,101] bfloat16 split from DRAM to L1 on p150
        // copies 2 × 208 B rows, from L1 to DRAM 2 × 256 B: the output's alignment).
        return Ok(vec![if mem == x.memory {
            ex.b.share(x, x.spec.clone())
        } else {
            move_to(ex, x, mem, RowAlign::Output, CbKind::Dataflow)?
        }]);
    }
    let d4 = to_4d(x.dims());
    let fits = d4[0] * d4[1] < u64::from(d.grid_x) + 1;
    // The two-chunk kernel splits whole tiles: each half of the width a tile multiple (the
    // golden captures of [1,144,21000] slice instead). Only two equal halves take it (seen on
    // the runtime, n150: [1,9984,256] split by 205 or into [160,96] slices).
    if sizes.len() == 2
        && sizes[0] == sizes[1]
        && sizes[0].checked_mul(2) == Some(x.dims()[dim])
        && dim + 1 == rank
        && d4[3].is_multiple_of(2 * TILE)
        && x.layout() == Layout::Tile
        && rank >= 2
        && fits
        && d4[2] / TILE >= 2
        && d4[3] / TILE >= 2
    {
        let half = d4[3] / 2;
        let mut outs = Vec::new();
        for _ in 0..2 {
            let mut od = x.dims().to_vec();
            od[rank - 1] = half;
            outs.push(ex.b.tensor("split", BufferRole::Temporary, spec_with(x, od)?, mem)?);
        }
        let padded =
            TensorSpec::new(Shape::from_dims(d4.clone())?, x.dtype(), Layout::Tile).padded_dims();
        let t3 = padded[3] / TILE;
        split_program(ex, x, &padded, t3 > 1);
        return Ok(outs);
    }
    // The slice fallback of more than two pieces into DRAM first moves an L1 input to DRAM (so
    // the slices' CBs do not clash with it), slices that copy and frees it after the last
    // piece (split.cpp; seen on the runtime, n150: a [704,11232] bfloat16 ROW_MAJOR split into 4
    // from L1 to DRAM copies 2 × 22,464 B rows first).
    let migrated = if x.memory == BufferType::L1 && mem == BufferType::Dram && sizes.len() > 2 {
        Some(to_memory_config(ex, x, BufferType::Dram, None)?)
    } else {
        None
    };
    let source = migrated.as_ref().unwrap_or(x);
    let extent = x.dims()[dim];
    let mut outs = Vec::new();
    let caches = &mut ProgramCaches::default();
    if sizes.len() > SPLIT_BATCH_SIZE && sizes.iter().all(|&s| s == sizes[0]) {
        // `split_with_slice_impl`'s batching: each window of up to 64 equal pieces is sliced
        // out first, its pieces sliced from it, and the window freed (seen on the runtime,
        // n150: [385,290] ROW_MAJOR split by 2 along its last dim takes 2 × 4,096 B, the
        // window's merged reads).
        let window_len = crate::size::mul(SPLIT_BATCH_SIZE as u64, sizes[0], "split window")?;
        let mut begin = 0u64;
        for batch in sizes.chunks(SPLIT_BATCH_SIZE) {
            let end = begin.saturating_add(window_len).min(extent);
            let window = slice_cached(ex, source, dim, begin, end, mem, caches)?;
            slice_pieces(ex, &window, batch, dim, mem, caches, &mut outs)?;
            ex.b.release(window);
            begin = end;
        }
    } else {
        slice_pieces(ex, source, sizes, dim, mem, caches, &mut outs)?;
    }
    if let Some(copy) = migrated {
        ex.b.release(copy);
    }
    Ok(outs)
}

/// More equal pieces than this are sliced out of windows of this many (split.cpp's
/// `SPLIT_BATCH_SIZE`).
const SPLIT_BATCH_SIZE: usize = 64;

/// One slice of `x` per piece of `sizes` along `dim`, the last ones clipped to its extent.
fn slice_pieces(
    ex: &mut Exec<'_>,
    x: &DevTensor,
    sizes: &[u64],
    dim: usize,
    mem: BufferType,
    caches: &mut ProgramCaches,
    outs: &mut Vec<DevTensor>,
) -> Result<(), CaseError> {
    let extent = x.dims()[dim];
    let mut begin = 0u64;
    for &s in sizes {
        let end = begin.saturating_add(s).min(extent);
        outs.push(slice_cached(
            ex,
            x,
            dim,
            begin.min(extent),
            end,
            mem,
            caches,
        )?);
        begin = begin.saturating_add(s);
    }
    Ok(())
}

/// Whether a one-piece split of `x` along `dim` runs the split kernel rather than handing the
/// input back: a last-dim split of a TILE tensor whose width is tile aligned, at least two
/// tiles high and wide, with one batch (4D dim 0) whose channels fit a grid row (seen on the
/// runtime, mock n150: [3,192,160] float32 along dim 2 runs it; [3,192,150], [3,20,160] and
/// [3,2,5344,224] do not).
fn split_kernel_takes_one_piece(ex: &Exec<'_>, x: &DevTensor, dim: usize) -> bool {
    let d4 = to_4d(x.dims());
    x.layout() == Layout::Tile
        && dim + 1 == x.shape().rank()
        && x.shape().rank() >= 2
        && d4[3].is_multiple_of(TILE)
        && d4[0] == 1
        && d4[1] < u64::from(ex.device().grid_x) + 1
        && d4[2] / TILE >= 2
        && d4[3] / TILE >= 2
}

/// `SplitProgramFactory`'s copy kernel on `x` (its 4-D padded dims `padded`): two tiles per core
/// on a block of the grid, tile rows over `grid_x / C` columns (times C), tile columns over the
/// rows, each the largest divisor of the tile count that fits; `request_even` is work_split's
/// even request for the columns' core count (the two-piece split asks it).
fn split_program(ex: &mut Exec<'_>, x: &DevTensor, padded: &[u64], request_even: bool) {
    let d = ex.device();
    let z = padded[1];
    let (t2, t3) = (padded[2] / TILE, padded[3] / TILE);
    let cy = max_cores_divisible(t3, u64::from(d.grid_y), request_even);
    let cx = max_cores_divisible(t2, u64::from(d.grid_x) / z.max(1), false);
    let r = (cx * z).max(1) as u32;
    let c = cy.max(1) as u32;
    let cores =
        crate::program::CoreRangeSet::one(crate::program::CoreRange::new(0, 0, r - 1, c - 1));
    ex.b.run(
        Program::new("SplitDeviceOperation", "SplitProgramFactory").cb(
            CbKind::Dataflow,
            2 * tile_size(x.dtype()),
            &cores,
        ),
    );
}

/// `SplitProgramFactory` with one chunk: the whole input copied into a new tensor, two tiles per
/// core on a block of the grid: tile rows over `grid_x / C` columns (times C), tile columns
/// over the rows, each the largest divisor of the tile count that fits (no even request: seen
/// on the runtime, [1,224,13888] bfloat16 takes 7 × 7 cores, [3,192,160] float32 6 × 5).
fn split_kernel_one_piece(
    ex: &mut Exec<'_>,
    x: &DevTensor,
    mem: BufferType,
) -> Result<DevTensor, CaseError> {
    let out =
        ex.b.tensor("split", BufferRole::Temporary, x.spec.clone(), mem)?;
    let padded =
        TensorSpec::new(Shape::from_dims(to_4d(x.dims()))?, x.dtype(), Layout::Tile).padded_dims();
    split_program(ex, x, &padded, false);
    Ok(out)
}

/// `ttnn.expand` (repeat.cpp): of a TILE tensor's last dim, untilize, repeat the rows, tilize;
/// of any one dim of a ROW_MAJOR tensor, the repeat alone.
fn expand(
    ex: &mut Exec<'_>,
    x: &DevTensor,
    dims: &[i64],
    mem: BufferType,
) -> Result<DevTensor, CaseError> {
    let f = "ttnn.expand";
    let target = Shape::new(dims)?;
    let rank = x.shape().rank();
    if target.rank() != rank {
        return Err(invalid(
            f,
            format!("{} to {target}: ranks differ", x.shape()),
        ));
    }
    let moved: Vec<usize> = (0..rank)
        .filter(|&i| x.dims()[i] != target.dims()[i])
        .collect();
    if moved.iter().any(|&i| x.dims()[i] != 1) {
        return Err(invalid(
            f,
            format!("cannot expand {} to {target}", x.shape()),
        ));
    }
    if moved.is_empty() {
        // Nothing to repeat: the input itself, or (seen on the runtime, n150: [1,2,800,10400]
        // TILE from L1 to DRAM) a CopyDeviceOperation into the other memory.
        return to_memory_config(ex, x, mem, None);
    }
    let row_major = x.layout() == Layout::RowMajor;
    let last_dim = moved == [rank - 1];
    // Several outer dims of a TILE tensor of rank 2 to 4 at once: one RepeatCodegen program
    // over the whole target, as for one (seen on the runtime, n150: [1,1,64,96] to
    // [2,3,64,96], DRAM and L1).
    if !row_major && moved.len() > 1 && rank <= 4 && moved.iter().all(|&i| i + 2 < rank) {
        return repeat_outer_tiles(ex, x, &target, mem);
    }
    if moved.len() != 1 {
        return expand_row_major_legs(ex, x, &target, mem);
    }
    let dim = moved[0];
    if !row_major && dim + 2 < rank {
        // An outer dim of a TILE tensor: `needs_row_major_round_trip` is false, so the
        // tiles are repeated as they are (repeat_codegen_supported.cpp), for ranks 2 to 4.
        if rank <= 4 {
            return repeat_outer_tiles(ex, x, &target, mem);
        }
        // Codegen takes ranks up to 4 only: `repeat_native` repeats whole tiles where the last
        // two dims are whole tiles (`is_tile_repeat_eligible`), else the rows (below).
        let dims = x.dims();
        if dims[rank - 1].is_multiple_of(TILE) && dims[rank - 2].is_multiple_of(TILE) {
            return repeat_higher_dim_tiles(ex, x, &target, mem);
        }
    }
    let d = ex.device();
    // The rows repeated are the untilized ones: bfloat16 for a block float (seen on the
    // runtime, n150: a bfloat8_b [1984,1] expanded to 160 wide repeats 320 B bfloat16 rows).
    let rm_dtype = if row_major {
        x.dtype()
    } else {
        untilized_dtype(x.dtype())
    };
    let spec = TensorSpec::new(target.clone(), rm_dtype, Layout::RowMajor);
    let codegen = repeat_codegen_fits(d, x, &spec, mem)?;
    // The codegen route (`repeat_via_codegen`) untilizes with the untilize codegen prim; the
    // native route (`repeat_native`) converts with `to_layout`, which unpads a padded input with
    // `untilize_with_unpadding`. ROW_MAJOR pages are repeated as they are. The untilized rows
    // stay in the input's memory (seen on n150: [6,17152,1] from DRAM expanded into L1 runs out
    // at the repeat's output with no L1 allocated).
    let untilized = if row_major {
        None
    } else if codegen {
        Some(untilize_routed(ex, x, x.memory)?)
    } else {
        Some(untilize(ex, x, x.memory)?)
    };
    let repeated =
        ex.b.tensor("repeated", BufferRole::Temporary, spec.clone(), mem)?;
    let repeated_dtype = rm_dtype;
    if !codegen
        && !matches!(
            repeated_dtype,
            DType::Uint16 | DType::Bfloat16 | DType::Uint32 | DType::Int32 | DType::Float32
        )
    {
        // `RepeatDeviceOperation`'s dtype check, once its output exists (seen on the runtime,
        // n150: a 1-D uint8 ROW_MAJOR expand to 643 is refused, to 6,430,208 in L1 runs out of
        // L1 at its output first).
        ex.b.run(
            Program::new("RepeatDeviceOperation", native_repeat_factory(last_dim)).refused(
                String::from(
                    "Can only work with UINT16, BFLOAT16, UINT32, INT32, FLOAT32 data types",
                ),
            ),
        );
        return Ok(repeated);
    }
    let page = spec.page_size()?;
    let p = if codegen {
        // `RepeatCodegenProgramFactory`: slots of `rm_slot_bytes`, the larger of the input's and
        // output's aligned pages, as many as `plan_rm_cb` allows in the L1 free once the output
        // exists.
        let in_page = x.dims().last().copied().unwrap_or(1) * x.dtype().row_major_element_bytes();
        let slot = crate::size::round_up(in_page, d.alignment(x.memory), "repeat slot")?.max(
            crate::size::round_up(page, d.alignment(mem), "repeat slot")?,
        );
        repeat_codegen_rm_program(ex, slot, spec.pages()?)?
    } else if !last_dim {
        // `repeat_upper_dims_rm`: the rows viewed as [upper, dim, lower, W] and
        // `RepeatProgramFactoryHigherDim` on them: two reader scratchpads (an interleaved
        // ROW_MAJOR source and its write-alignment copy) of 2 × READ_ALIGNMENT (64) plus the
        // unaligned row, on the whole grid.
        let row = x.dims().last().copied().unwrap_or(1) * rm_dtype.row_major_element_bytes();
        let size = crate::size::add(128, row, "repeat scratch")?;
        let cores = grid::full(d);
        let mut p = Program::new("RepeatDeviceOperation", native_repeat_factory(false));
        p.push(Cb::new(CbKind::Scratchpad, size, cores.clone()));
        p.push(Cb::new(CbKind::Scratchpad, size, cores));
        p
    } else {
        // `RepeatProgramFactoryLastDim`: two reader scratchpads (interleaved in and out) of
        // 2 × READ_ALIGNMENT (64) plus the source page repeated up to a 16 B multiple, on the
        // whole grid.
        let src = x.dims().last().copied().unwrap_or(1) * rm_dtype.row_major_element_bytes();
        let times = if src & 0xF == 0 {
            1
        } else if src & 0x7 == 0 {
            2
        } else if src & 0x3 == 0 {
            4
        } else if src & 0x1 == 0 {
            8
        } else {
            16
        };
        let size = crate::size::add(
            128,
            crate::size::mul(src, times, "repeat scratch")?,
            "repeat scratch",
        )?;
        let cores = grid::full(d);
        let mut p = Program::new("RepeatDeviceOperation", native_repeat_factory(true));
        p.push(Cb::new(CbKind::Scratchpad, size, cores.clone()));
        p.push(Cb::new(CbKind::Scratchpad, size, cores));
        p
    };
    ex.b.run(p);
    let Some(rm) = untilized else {
        return Ok(repeated);
    };
    ex.b.release(rm);
    let padded_out = TensorSpec::new(target.clone(), x.dtype(), Layout::Tile).padded_dims();
    if x.dtype() == DType::Uint8 && padded_out.as_slice() != target.dims() {
        // The padding tilize back refuses uint8 once the repeat has run (seen on n150, seed
        // 1107151: [1,5,4218,1] to [1,5,4218,550] from and to DRAM); the plain tilize of a
        // tile-aligned output takes it (seed 1107171: [1,155776,1] to 352 wide). Its output is
        // allocated first: seen on n150, seed 1107173, [4,19182,1] to 772 wide in L1 runs out
        // at the 61,440,000 B tilized output on the device.
        let tilized = ex.b.tensor(
            "tilized",
            BufferRole::Temporary,
            TensorSpec::new(target.clone(), x.dtype(), Layout::Tile),
            mem,
        )?;
        ex.b.run(
            Program::new(
                "TilizeWithValPaddingDeviceOperation",
                "TilizeWithValPaddingMultiCoreDefaultFactory",
            )
            .refused(TILIZE_DTYPE_REFUSAL.to_string()),
        );
        ex.b.release(repeated);
        return Ok(tilized);
    }
    // `to_layout(TILE, input dtype)`: a block float is tilized from its bfloat16 rows (seen on
    // n150: 10,240 B of bfloat16 tiles in, 5,440 B of bfloat8_b out for a 160-wide row).
    let out = tilize_to(ex, &repeated, mem, x.dtype(), d.l1_bank_bytes, false, None)?;
    ex.b.release(repeated);
    Ok(out)
}

/// An expand of several dims that repeats rows (`repeat_via_codegen` with row-major legs): a
/// ROW_MAJOR tensor, or a TILE one whose last two dims are repeated (`needs_row_major_round_trip`:
/// an expanded dim of size 1 is never whole tiles), untilized first and tilized back. The dims
/// are folded (`plan_codegen_legs`: a size-1 dim into the next repeated one, the last dim never)
/// and repeated innermost first, one RepeatCodegen leg each, every leg but the last into the
/// input's memory; each leg's input is freed once the next leg's output exists. Seen on n150:
/// [1,1,1,1] TILE to [2,3,64,96] from DRAM runs three legs (dims 3, 2 and 1, dim 0 folded
/// into 1). Where codegen refuses the legs (`supported_by_codegen`: rank 2-4, not bfloat8_b,
/// every leg's two slots in the L1 left) the runtime takes `repeat_native`, not planned here.
fn expand_row_major_legs(
    ex: &mut Exec<'_>,
    x: &DevTensor,
    target: &Shape,
    mem: BufferType,
) -> Result<DevTensor, CaseError> {
    let f = "ttnn.expand";
    let rank = x.shape().rank();
    let native = |why: &str| {
        unmodeled(
            f,
            format!("an expand of several dims that {why} runs repeat_native's legs, which memmodel does not plan"),
        )
    };
    if !(2..=4).contains(&rank) {
        return Err(native("is of rank other than 2 to 4"));
    }
    if x.dtype() == DType::Bfloat8B {
        return Err(native("is bfloat8_b"));
    }
    let d = ex.device();
    let es = x.dtype().row_major_element_bytes();
    // `plan_codegen_legs`: the repeats folded, then the legs innermost first.
    let mut repeats: Vec<u64> = (0..rank)
        .map(|i| target.dims()[i] / x.dims()[i].max(1))
        .collect();
    for i in 0..rank.saturating_sub(2) {
        if x.dims()[i] == 1 && repeats[i] > 1 && repeats[i + 1] > 1 {
            repeats[i + 1] = crate::size::mul(repeats[i + 1], repeats[i], "expand repeats")?;
            repeats[i] = 1;
        }
    }
    let legs: Vec<usize> = (0..rank).rev().filter(|&i| repeats[i] > 1).collect();
    // Each leg's output shape and memory (the last leg's into `mem`).
    let mut leg_specs: Vec<(TensorSpec, BufferType)> = Vec::with_capacity(legs.len());
    let mut dims = x.dims().to_vec();
    for (k, &i) in legs.iter().enumerate() {
        dims[i] = crate::size::mul(dims[i], repeats[i], "expand leg")?;
        let leg_mem = if k + 1 == legs.len() { mem } else { x.memory };
        leg_specs.push((
            TensorSpec::new(Shape::from_dims(dims.clone())?, x.dtype(), Layout::RowMajor),
            leg_mem,
        ));
    }
    let aligned_page = |spec: &TensorSpec, m: BufferType| -> Result<u64, CaseError> {
        let page = spec.shape.dims().last().copied().unwrap_or(1) * es;
        Ok(crate::size::round_up(page, d.alignment(m), "repeat slot")?)
    };
    let l1 = |spec: &TensorSpec, m: BufferType| -> Result<u64, CaseError> {
        Ok(if m == BufferType::L1 {
            spec.interleaved(d, m)?.per_bank_bytes
        } else {
            0
        })
    };
    let rm_in = TensorSpec::new(x.shape().clone(), x.dtype(), Layout::RowMajor);
    // `supported_by_codegen` on the static window: all in DRAM, the widest stick alone decides;
    // else every leg's output stays charged and each leg's two slots must fit what is left.
    let window = d.l1_bank_bytes;
    let supported = if x.memory == BufferType::Dram && mem == BufferType::Dram {
        let widest = crate::size::mul(
            target.dims().last().copied().unwrap_or(1),
            es,
            "repeat slot",
        )?;
        2 * crate::size::round_up(widest, d.alignment(BufferType::Dram), "repeat slot")? <= window
    } else {
        let mut committed = l1(&x.spec, x.memory)?;
        if x.layout() == Layout::Tile {
            committed += l1(&rm_in, x.memory)?;
        }
        let (mut leg_in, mut leg_in_mem) = (&rm_in, x.memory);
        let mut fits = true;
        for (spec, m) in &leg_specs {
            committed += l1(spec, *m)?;
            let slot = aligned_page(leg_in, leg_in_mem)?.max(aligned_page(spec, *m)?);
            if !(committed < window && 2 * slot <= window - committed) {
                fits = false;
                break;
            }
            (leg_in, leg_in_mem) = (spec, *m);
        }
        fits
    };
    if !supported {
        return Err(native("does not fit codegen's L1 window"));
    }
    let round_trip = x.layout() == Layout::Tile;
    let mut working = if round_trip {
        Some(untilize_routed(ex, x, x.memory)?)
    } else {
        None
    };
    for (spec, m) in &leg_specs {
        let (in_spec, in_mem) = match &working {
            Some(w) => (w.spec.clone(), w.memory),
            None => (x.spec.clone(), x.memory),
        };
        let out =
            ex.b.tensor("repeated", BufferRole::Temporary, spec.clone(), *m)?;
        let slot = aligned_page(&in_spec, in_mem)?.max(aligned_page(spec, *m)?);
        let program = repeat_codegen_rm_program(ex, slot, spec.pages()?)?;
        ex.b.run(program);
        if let Some(prev) = working.replace(out) {
            ex.b.release(prev);
        }
    }
    let Some(mut repeated) = working else {
        return Err(invalid(f, "no dim to expand"));
    };
    // A fold leaves the shape short: viewed as the target before the tilize back (seen on p150,
    // seed 1207502: [1,1,15047] to [8,1344,15047] tilizes [8,1344,15047], not [1,10752,15047]).
    if repeated.dims() != target.dims() {
        let spec = TensorSpec::new(target.clone(), repeated.dtype(), Layout::RowMajor);
        let viewed = ex.b.share(&repeated, spec);
        ex.b.release(repeated);
        repeated = viewed;
    }
    if !round_trip {
        return Ok(repeated);
    }
    let padded_out = TensorSpec::new(target.clone(), x.dtype(), Layout::Tile).padded_dims();
    if x.dtype() == DType::Uint8 && padded_out.as_slice() != target.dims() {
        // The single-dim path's padding tilize refuses uint8 after the repeat; not captured
        // for several legs yet.
        return Err(unmodeled(
            f,
            "a uint8 expand of several dims whose tilize back pads is not planned",
        ));
    }
    let out = tilize_to(ex, &repeated, mem, x.dtype(), d.l1_bank_bytes, false, None)?;
    ex.b.release(repeated);
    Ok(out)
}

/// `repeat_dim_tile`: `RepeatProgramFactoryHigherDim` on whole tiles (tile-native), one reader
/// scratchpad of 2 × READ_ALIGNMENT (64) plus a tile on the whole grid.
fn repeat_higher_dim_tiles(
    ex: &mut Exec<'_>,
    x: &DevTensor,
    target: &Shape,
    mem: BufferType,
) -> Result<DevTensor, CaseError> {
    let d = ex.device();
    let spec = TensorSpec::new(target.clone(), x.dtype(), Layout::Tile);
    let out = ex.b.tensor("repeated", BufferRole::Temporary, spec, mem)?;
    let size = crate::size::add(128, tile_size(x.dtype()), "repeat scratch")?;
    let mut p = Program::new("RepeatDeviceOperation", native_repeat_factory(false));
    p.push(Cb::new(CbKind::Scratchpad, size, grid::full(d)));
    ex.b.run(p);
    Ok(out)
}

/// The factory `RepeatDeviceOperation` picks for a ROW_MAJOR repeat: the last dim's, or the
/// higher dims' (every dim but the last, the rows collapsed around it).
fn native_repeat_factory(last_dim: bool) -> &'static str {
    if last_dim {
        "RepeatProgramFactoryLastDim"
    } else {
        "RepeatProgramFactoryHigherDim"
    }
}

/// `RepeatCodegenProgramFactory` on the tiles of a rank 2-4 TILE tensor whose outer dim
/// repeats (the 4-D `rep_dim` is then below the tile axes). Into L1 (`direct_outer_tile`): one
/// tile slot per core, the input's tiles split column-wise over the grid; into DRAM: the
/// sequenced reader and writer, `kRepeatCbDepth` (8) aligned tiles per core, the output's tiles
/// split so. Seen on n150: [1,1,64,96] to [1,7,64,96] in L1 takes 2,048 B on cores (0,0)-(0,5);
/// [1,70,64,96] to [3,70,64,96] in DRAM 16,384 B on the whole grid.
fn repeat_outer_tiles(
    ex: &mut Exec<'_>,
    x: &DevTensor,
    target: &Shape,
    mem: BufferType,
) -> Result<DevTensor, CaseError> {
    const REPEAT_CB_DEPTH: u64 = 8;
    let d = ex.device();
    let spec = TensorSpec::new(target.clone(), x.dtype(), Layout::Tile);
    let out =
        ex.b.tensor("repeated", BufferRole::Temporary, spec.clone(), mem)?;
    let tile = tile_size(x.dtype());
    let p = Program::new(
        "RepeatCodegenDeviceOperation",
        "RepeatCodegenProgramFactory",
    );
    // The CB takes `split_work_to_cores`' ranges as they come, column by column, unmerged (seen
    // on n150: 36 output tiles into DRAM on {[0-0 - 3-7], [4-0 - 4-3]}; 20 input tiles into L1
    // on {[0-0 - 1-7], [2-0 - 2-3]}).
    let p = if mem == BufferType::L1 {
        let cores = grid::split_work(d, tiles(&x.spec), false).all;
        p.cb(CbKind::Circular, tile, &cores)
    } else {
        let page = crate::size::round_up(tile, d.alignment(mem), "repeat tile")?;
        let cores = grid::split_work(d, tiles(&spec), false).all;
        p.cb(
            CbKind::Circular,
            crate::size::mul(REPEAT_CB_DEPTH, page, "repeat CB")?,
            &cores,
        )
    };
    ex.b.run(p);
    Ok(out)
}

/// `RepeatCodegenProgramFactory` on ROW_MAJOR rows: slots of `slot` bytes (the larger of the
/// input's and output's aligned pages), as many as `plan_rm_cb` allows in the free L1, on
/// `split_work_to_cores`' ranges for `rows` as they come, unmerged (see `repeat_outer_tiles`).
/// `get_max_l1_space`: a NO_DISPATCH capture allocates no buffer for real and sees the whole
/// bank; a device run sees the L1 buffers alive (the output among them).
fn repeat_codegen_rm_program(ex: &Exec<'_>, slot: u64, rows: u64) -> Result<Program, CaseError> {
    let d = ex.device();
    let cores = grid::split_work(d, rows, false).all;
    let program = |budget: u64| -> Result<Program, CaseError> {
        let p = Program::new(
            "RepeatCodegenDeviceOperation",
            "RepeatCodegenProgramFactory",
        );
        Ok(match repeat_rm_cb_slots(slot, budget) {
            Some(slots) => p.cb(
                CbKind::Circular,
                crate::size::mul(slots, slot, "repeat CB")?,
                &cores,
            ),
            None => p.refused(format!(
                "RepeatCodegen: a {slot}-byte row-major CB slot does not fit in free L1"
            )),
        })
    };
    let captured = program(d.l1_bank_bytes)?;
    let on_device = program(d.l1_bank_bytes.saturating_sub(live_l1_per_bank(ex)))?;
    Ok(if on_device != captured {
        captured.on_device(on_device)
    } else {
        captured
    })
}

/// The slots of `plan_rm_cb` (repeat_codegen_program_factory.hpp): two batches of up to
/// `kRepeatBatch` (4) slots, as many as `budget` holds; one slot that the reader and writer take
/// turns on when only one fits; `None` (the factory refuses) when none does. Seen on the
/// runtime on p150: expanding [1,2,228,1] to a last dim of 175,513 from and to DRAM takes 4
/// slots of 351,040 B (1,404,160 B), not 8.
fn repeat_rm_cb_slots(slot: u64, budget: u64) -> Option<u64> {
    const REPEAT_BATCH: u64 = 4;
    let max_slots = budget.checked_div(slot)?;
    match max_slots {
        0 => None,
        1 => Some(1),
        n => Some(2 * REPEAT_BATCH.min(n / 2)),
    }
}

/// `repeat_codegen::supported_by_codegen` (repeat_codegen_supported.cpp) for the TILE → ROW_MAJOR
/// round trip of a last-dim repeat: all in DRAM, two slots of the widest (DRAM-aligned) output
/// stick must fit the static L1 window; else every leg's L1 buffer (the tiled input, the
/// row-major intermediate and output, `row_major_legs_fit`) stays charged, and the window left
/// must hold two slots (`rm_leg_fits_in_l1`). A case it refuses takes `repeat_native`.
fn repeat_codegen_fits(
    d: &crate::device::DeviceSpec,
    x: &DevTensor,
    out: &TensorSpec,
    mem: BufferType,
) -> Result<bool, CaseError> {
    let rank = x.shape().rank();
    if !(2..=4).contains(&rank) || x.dtype() == DType::Bfloat8B {
        return Ok(false);
    }
    let window = d.l1_bank_bytes;
    let es = x.dtype().row_major_element_bytes();
    let out_page = out.shape.dims().last().copied().unwrap_or(1) * es;
    if x.memory == BufferType::Dram && mem == BufferType::Dram {
        let slot = crate::size::round_up(out_page, d.alignment(BufferType::Dram), "repeat slot")?;
        return Ok(2 * slot <= window);
    }
    let l1 = |spec: &TensorSpec, m: BufferType| -> Result<u64, CaseError> {
        Ok(if m == BufferType::L1 {
            spec.interleaved(d, m)?.per_bank_bytes
        } else {
            0
        })
    };
    // A TILE input adds its row-major copy; a ROW_MAJOR one is its own.
    let rm_in = match x.layout() {
        Layout::Tile => l1(
            &TensorSpec::new(x.shape().clone(), x.dtype(), Layout::RowMajor),
            x.memory,
        )?,
        Layout::RowMajor => 0,
    };
    let committed = l1(&x.spec, x.memory)? + rm_in + l1(out, mem)?;
    let in_page = x.dims().last().copied().unwrap_or(1) * es;
    let slot = crate::size::round_up(in_page, d.alignment(x.memory), "repeat slot")?.max(
        crate::size::round_up(out_page, d.alignment(mem), "repeat slot")?,
    );
    Ok(committed < window && 2 * slot <= window - committed)
}

/// TT-NN's zero-cost reshape rule (ttnn.reshape docs): the last dim is unchanged, and for TILE
/// either the second-last is unchanged or it needs no padding (so tiles map one-to-one).
pub fn reshape_is_view(from: &Shape, to: &Shape, layout: Layout) -> bool {
    dims_reshape_is_view(from.dims(), to.dims(), layout)
}

/// [`reshape_is_view`] on bare dims.
fn dims_reshape_is_view(from: &[u64], to: &[u64], layout: Layout) -> bool {
    let last = |s: &[u64], k: usize| -> u64 {
        if s.len() >= k {
            s[s.len() - k]
        } else {
            1
        }
    };
    if last(from, 1) != last(to, 1) {
        return false;
    }
    match layout {
        Layout::RowMajor => true,
        Layout::Tile => {
            last(from, 2) == last(to, 2)
                || (last(from, 2) % crate::tensor::TILE == 0
                    && last(to, 2) % crate::tensor::TILE == 0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{closest_square_larger_than, faced_offset, reshape_map_segments_uncached};

    /// The capture takes the device run's cached program only for the same device operation:
    /// a codegen untilize the capture chose on its own L1 stays its own, while a native one
    /// with the device run's flags takes the device run's first build.
    #[test]
    fn a_capture_reuses_only_a_cached_program_of_its_own_device_operation() {
        use super::{Program, ProgramCache};
        let block = Program::new(
            "UntilizeDeviceOperation",
            "UntilizeMultiCoreBlockProgramFactory",
        );
        let other_block =
            Program::new("UntilizeDeviceOperation", "UntilizeMultiCoreProgramFactory");
        let codegen = Program::new(
            "UntilizeCodegenDeviceOperation",
            "UntilizeCodegenProgramFactory",
        );
        let mut cache = ProgramCache::default();
        let p = cache.choose(codegen.clone(), Some(block.clone()), 1, 1, false);
        assert_eq!(p, codegen.clone().on_device(block.clone()));
        let mut cache = ProgramCache::default();
        let p = cache.choose(other_block, Some(block.clone()), 1, 1, false);
        assert_eq!(p, block);
    }

    /// The native untilize weighs its block variant on all tile rows while the blocks per
    /// core come from the last two dims (checked on the runtime: [1,4,256,7520] bfloat16 on
    /// n150 and [6,512,8736] bfloat8_b on p150 take the block factory, which the last two dims
    /// alone would leave on the row factory); a row of 32 tiles never takes it.
    #[test]
    fn the_native_untilize_weighs_its_block_variant_on_all_tile_rows() {
        use super::{untilize_takes_block_variant, use_block_variant};
        use crate::device::{N150, P150};
        assert!(untilize_takes_block_variant(&N150, &[1, 4, 256, 7520]));
        assert!(use_block_variant(&N150, &[1, 4, 256, 7520]).is_none());
        assert!(untilize_takes_block_variant(&P150, &[6, 512, 8736]));
        assert!(use_block_variant(&P150, &[6, 512, 8736]).is_none());
        assert!(!untilize_takes_block_variant(&N150, &[8, 256, 1024]));
    }

    /// A default-memory ROW_MAJOR split of an L1 input moved to DRAM whose two rows exceed the
    /// L1 the input leaves free: the runtime copied and sliced whole rows where memmodel chunks
    /// them (random draw seed 1207600, both boards), so memmodel gives no verdict there.
    #[test]
    fn a_split_moved_to_dram_beside_its_l1_input_is_unmodeled() {
        use crate::device::{BufferType, N150};
        use crate::layout::Layout;
        use crate::params::ParamValue;
        use crate::shape::Shape;
        let mut c = crate::case::Case::new(
            crate::ops::find("split").unwrap(),
            vec![Shape::parse("1,1,160,108384").unwrap()],
            &N150,
        );
        c.dtype = crate::dtype::DType::Float32;
        c.layout = Layout::RowMajor;
        c.input_memory = BufferType::L1;
        c.params.set("chunks", ParamValue::Int(3));
        c.params.set("dim", ParamValue::Int(-2));
        match c.with_default_output_memory().estimate() {
            Err(crate::error::CaseError::Unmodeled { what, .. }) => {
                assert!(what.contains("two at a time"), "{what}")
            }
            other => panic!("expected unmodeled, got {other:?}"),
        }
    }

    /// `is_enough_space` of a tilize counts the block factory's reader staging (an input
    /// tile's bytes / 32 a tile, two DRAM alignments) with the row's tiles. Dataflow peaks of
    /// the runtime's NO_DISPATCH captures: on p150, expand [10,189,8837] in L1 (its tilize of
    /// 277-tile rows, 3,008 B short of the row factory's room with the staging) took the block
    /// factory, 28,672 B; on n150, to_layout [2,9145,1966] ROW_MAJOR from DRAM to L1 (2,720 B
    /// over the rows without it), 90,112 B.
    #[test]
    fn a_tilize_counts_its_staging_in_the_free_l1_test() {
        use crate::device::{BufferType, N150, P150};
        use crate::layout::Layout;
        use crate::shape::Shape;
        let mut expand = crate::case::Case::new(
            crate::ops::find("expand").unwrap(),
            vec![Shape::parse("10,189,8837").unwrap()],
            &P150,
        );
        expand.input_memory = BufferType::L1;
        expand.output_memory = BufferType::L1;
        assert_eq!(expand.estimate().unwrap().peaks.dataflow, 28_672);
        let mut tilize = crate::case::Case::new(
            crate::ops::find("to_layout").unwrap(),
            vec![Shape::parse("2,9145,1966").unwrap()],
            &N150,
        );
        tilize.layout = Layout::RowMajor;
        tilize.input_memory = BufferType::Dram;
        tilize.output_memory = BufferType::L1;
        assert_eq!(tilize.estimate().unwrap().peaks.dataflow, 90_112);
    }

    /// A ROW_MAJOR reshape's two scratchpads per core, as NO_DISPATCH captures show them (n150,
    /// bfloat16 in L1, YOLOv12x's attention views at 640×640): [1,1,1600,1152] → [1,4,1152,400]
    /// 4,736 + 848 B, [1,4,1152,400] → [4,400,12,96] 1,792 + 208 B; neither a CB nor a dataflow
    /// buffer. 200 B rows (#297 and #298 of the model's run with --measure): 8 destination slots.
    #[test]
    fn row_major_reshape_scratchpads_match_the_capture() {
        use crate::device::{BufferType, N150};
        use crate::layout::{DeviceLayout, Layout};
        use crate::params::ParamValue;
        use crate::shape::Shape;
        let case = |from: &str, to: Vec<i64>| {
            let mut c = crate::case::Case::new(
                crate::ops::find("view").unwrap(),
                vec![Shape::parse(from).unwrap()],
                &N150,
            );
            c.device_layout = DeviceLayout::AsGiven;
            c.layout = Layout::RowMajor;
            c.input_memory = BufferType::L1;
            c.output_memory = BufferType::L1;
            c.params.set("shape", ParamValue::Ints(to));
            c
        };
        for (from, to, scratch) in [
            ("1,1,1600,1152", vec![1, 4, 1152, 400], 4_736 + 848),
            ("1,4,1152,400", vec![4, 400, 12, 96], 1_792 + 208),
            ("1,1,400,1152", vec![1, 4, 1152, 100], 4_736 + 8 * 272),
            ("1,4,1152,100", vec![4, 100, 12, 96], 640 + 8 * 208),
        ] {
            let e = case(from, to).estimate().unwrap();
            assert_eq!(
                (e.peaks.cb, e.peaks.dataflow, e.peaks.total - e.peaks.l1),
                (0, 0, scratch),
                "{from}"
            );
        }
    }

    /// `reshape_map_output_page` element by element, as the runtime builds the page map: the
    /// segments of each output tile per input page (a segment grows while both faced offsets
    /// advance by one in the same page), padded to the largest per-page count.
    fn map_segments_by_element(input: [u64; 3], output: [u64; 3]) -> u64 {
        let [_, h1, w1] = input;
        let [c2, h2, w2] = output;
        let (tw1, tc1) = (w1.div_ceil(32), h1.div_ceil(32) * w1.div_ceil(32));
        let mut best = 0;
        for c in 0..c2 {
            for th in 0..h2.div_ceil(32) {
                for tw in 0..w2.div_ceil(32) {
                    let (ho0, wo0) = (th * 32, tw * 32);
                    let mut pages: Vec<(u64, u64)> = Vec::new();
                    let mut prev: Option<(u64, u64, u64)> = None;
                    for ho in ho0..(ho0 + 32).min(h2) {
                        for wo in wo0..(wo0 + 32).min(w2) {
                            let flat = c * h2 * w2 + ho * w2 + wo;
                            let (ci, r) = (flat / (h1 * w1), flat % (h1 * w1));
                            let (hi, wi) = (r / w1, r % w1);
                            let page = ci * tc1 + (hi / 32) * tw1 + wi / 32;
                            let (oi, oo) = (faced_offset(hi, wi), faced_offset(ho, wo));
                            let extends = oi > 0 && oo > 0 && prev == Some((page, oi - 1, oo - 1));
                            if !extends {
                                match pages.iter_mut().find(|p| p.0 == page) {
                                    Some(p) => p.1 += 1,
                                    None => pages.push((page, 1)),
                                }
                            }
                            prev = Some((page, oi, oo));
                        }
                    }
                    let most = pages.iter().map(|p| p.1).max().unwrap_or(0);
                    best = best.max(most * pages.len() as u64);
                }
            }
        }
        best
    }

    /// `compute_ncores_wh_sb`'s search as the runtime writes it.
    fn sub_blocks_by_search(area: u64, width: u64, height: u64, limit: u64) -> Option<(u64, u64)> {
        if width.div_ceil(limit) * height.div_ceil(limit) < area {
            return Some((limit, limit));
        }
        let mut best: Option<(u64, u64, u64)> = None;
        for s in (1..limit).rev() {
            for n in 2..=width.div_ceil(s) {
                let b = n * s;
                let blocks = width.div_ceil(b) * height.div_ceil(b);
                let cliff = width - (width / b) * b;
                if blocks <= area
                    && cliff < limit
                    && best.is_none_or(|(bb, bn, _)| blocks > bb || (blocks == bb && n < bn))
                {
                    best = Some((blocks, n, s));
                }
            }
        }
        best.map(|(_, n, s)| (n * s, s))
    }

    #[test]
    fn sub_block_shortcut_finds_the_searchs_block() {
        for area in [64, 110] {
            for width in (1..400).step_by(7).chain([5355, 20_011, 65_536]) {
                // Tall heights need blocks wider than the row, whose cliff is the whole row.
                for height in [1, 2, 5, 33, 2309] {
                    for limit in [1, 2, 3, 17, 30, 46, 63] {
                        assert_eq!(
                            super::block_with_sub_blocks(area, width, height, limit),
                            sub_blocks_by_search(area, width, height, limit),
                            "area {area}, {width}x{height}, limit {limit}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn page_map_segments_match_the_element_walk() {
        let shapes: [([u64; 3], [u64; 3]); 6] = [
            ([8, 49, 32], [8, 32, 49]),
            ([8, 49, 16], [4, 32, 49]),
            ([2, 64, 96], [2, 96, 64]),
            ([3, 17, 40], [3, 40, 17]),
            ([1, 100, 12], [1, 12, 100]),
            ([6, 33, 8], [2, 99, 8]),
        ];
        for (input, output) in shapes {
            assert_eq!(
                reshape_map_segments_uncached(input, output),
                Some(map_segments_by_element(input, output)),
                "{input:?} -> {output:?}"
            );
        }
    }

    /// A xorshift64 stream: the same draws on every run, no dependency.
    struct XorShift(u64);

    impl XorShift {
        /// A draw in 0..n.
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }

        /// A draw in 1..=n.
        fn one_to(&mut self, n: u64) -> u64 {
            1 + self.below(n)
        }

        /// One of the divisors of `n`, each as likely.
        fn divisor_of(&mut self, n: u64) -> u64 {
            let divisors: Vec<u64> = (1..=n).filter(|d| n.is_multiple_of(*d)).collect();
            divisors[self.below(divisors.len() as u64) as usize]
        }

        /// A 3-D reshape of `input`: a divisor of its size as the last dim, a divisor of the
        /// rest as the middle one.
        fn reshape_of(&mut self, input: [u64; 3]) -> [u64; 3] {
            let total = input.iter().product::<u64>();
            let w2 = self.divisor_of(total);
            let h2 = self.divisor_of(total / w2);
            [total / w2 / h2, h2, w2]
        }
    }

    /// The phase-cycle walk's segments are the element walk's.
    fn assert_page_map_matches_the_element_walk(input: [u64; 3], output: [u64; 3]) {
        assert_eq!(
            reshape_map_segments_uncached(input, output),
            Some(map_segments_by_element(input, output)),
            "{input:?} -> {output:?}"
        );
    }

    /// The phase-cycle walk agrees with the element walk on random reshapes, many channels
    /// (several cycles) included.
    #[test]
    fn page_map_cycles_match_the_element_walk() {
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        for _ in 0..300 {
            let input = [rng.one_to(12), rng.one_to(70), rng.one_to(70)];
            let output = rng.reshape_of(input);
            assert_page_map_matches_the_element_walk(input, output);
        }
    }

    /// The in-channel key meets the element walk where many channels repeat few columns.
    #[test]
    fn page_map_in_channel_key_matches_the_element_walk() {
        let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
        for _ in 0..200 {
            let input = [rng.one_to(6), 32 + rng.one_to(150), rng.one_to(40)];
            assert_page_map_matches_the_element_walk(input, rng.reshape_of(input));
            // One column per output row (an unsqueeze to a last dim of 1), and a wide input
            // cut into narrow rows.
            let wide = [input[0], input[1] / 4 + 1, input[2] * 40];
            for (input, output) in [
                (input, [input[0] * input[1], input[2], 1]),
                (wide, [wide[0], wide[1] * 40, input[2]]),
                (wide, [wide[0], wide[1] * 80, input[2] / 2 + 1]),
            ] {
                if input.iter().product::<u64>() != output.iter().product::<u64>() {
                    continue;
                }
                assert_page_map_matches_the_element_walk(input, output);
            }
            // Output rows of whole input channels (one or several): the last two dims merged.
            let period = input[1] * input[2];
            for k in (1..=input[0]).filter(|k| input[0].is_multiple_of(*k)) {
                for output in [[1, input[0] / k, k * period], [k, input[0] / k, period]] {
                    assert_page_map_matches_the_element_walk(input, output);
                }
            }
        }
    }

    /// How the walk fares on reshapes drawn as the random differential draws them (sizes
    /// log-uniform up to 2^31 elements): `cargo test -p memmodel --release page_map_timing
    /// -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn page_map_timing() {
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        let mut next = |n: u64| rng.below(n);
        let (mut gated, mut slowest) = (0, (std::time::Duration::ZERO, [0; 3], [0; 3]));
        for _ in 0..3000 {
            let rank = 2 + next(3) as usize;
            let mut dims: Vec<u64> = (0..rank)
                .map(|_| 1 + (1u64 << next(13)) + next(1 << 8))
                .collect();
            while dims.iter().product::<u64>() > 1 << 31 {
                let i = next(rank as u64) as usize;
                dims[i] = dims[i].div_ceil(2);
            }
            let target: Vec<u64> = match next(3) {
                0 => {
                    let i = next(rank as u64 - 1) as usize;
                    let mut t = dims.clone();
                    t.splice(i..=i + 1, [dims[i] * dims[i + 1]]);
                    t
                }
                1 => {
                    let i = next(rank as u64) as usize;
                    match [2, 3, 4, 5, 8, 16, 32]
                        .into_iter()
                        .find(|f| dims[i].is_multiple_of(*f) && dims[i] > *f)
                    {
                        Some(f) => {
                            let mut t = dims.clone();
                            t.splice(i..=i, [f, dims[i] / f]);
                            t
                        }
                        None => continue,
                    }
                }
                _ => vec![dims[..rank - 1].iter().product(), dims[rank - 1]],
            };
            let (input, output) = (super::squeeze_3d(&dims), super::squeeze_3d(&target));
            let t = std::time::Instant::now();
            let v = reshape_map_segments_uncached(input, output);
            let took = t.elapsed();
            if v.is_none() {
                gated += 1;
                println!("gated: {input:?} -> {output:?}");
            }
            if took > slowest.0 {
                slowest = (took, input, output);
            }
        }
        println!("gated {gated}, slowest {slowest:?}");
        for (input, output) in [
            ([1, 18000, 18560], [18000, 18560, 1]),
            ([1, 33000, 33000], [33000, 33000, 1]),
        ] {
            let t = std::time::Instant::now();
            let v = reshape_map_segments_uncached(input, output);
            println!("{input:?} -> {output:?}: {v:?} in {:?}", t.elapsed());
        }
    }

    /// The runtime's walk, for comparison.
    fn walk(b: u64, width: u64, height: u64, limit: u64) -> (u64, u64) {
        if limit == 0 {
            return (1, 1);
        }
        let s = (b as f64).sqrt() as u64;
        if s > 0 && s * s == b && width.div_ceil(s) * height.div_ceil(s) < limit {
            return (b, s);
        }
        let mut c = s + 1;
        while c <= width * height {
            if width.div_ceil(c) * height.div_ceil(c) < limit {
                return (c * c, c);
            }
            c += 1;
        }
        (1, 1)
    }

    #[test]
    fn bisection_finds_the_walks_block() {
        for b in 0..40 {
            for width in 1..24 {
                for height in 1..24 {
                    for limit in [0, 1, 2, 7, 64, 110] {
                        assert_eq!(
                            closest_square_larger_than(b, width, height, limit),
                            walk(b, width, height, limit),
                            "b {b}, {width}x{height}, limit {limit}"
                        );
                    }
                }
            }
        }
        // Huge: answers at once, no overflow.
        let _ = closest_square_larger_than(u64::MAX, u64::MAX, u64::MAX, 64);
    }

    /// A tile-aligned uint8 tilize converts to the dtype it is asked for as the word dtypes'
    /// does: input tiles of 1,024 B, output tiles of the output's dtype (NO_DISPATCH captures of
    /// [1,3,64,96] uint8 to bfloat16 in L1: 3,072 + 6,144 B on n150's default factory, 1,024 +
    /// 2,048 B on p150's block factory).
    #[test]
    fn a_uint8_tilize_converts_to_the_asked_dtype() {
        use crate::device::{BufferType, DeviceSpec, N150, P150};
        use crate::layout::Layout;
        use crate::params::ParamValue;
        use crate::shape::Shape;
        let case = |device: &'static DeviceSpec| {
            let mut c = crate::case::Case::new(
                crate::ops::find("to_layout").unwrap(),
                vec![Shape::parse("1,3,64,96").unwrap()],
                device,
            );
            c.dtype = crate::dtype::DType::Uint8;
            c.layout = Layout::RowMajor;
            c.input_memory = BufferType::L1;
            c.output_memory = BufferType::L1;
            c.params.set("dtype", ParamValue::Str("bfloat16".into()));
            c
        };
        assert_eq!(
            case(&N150).estimate().unwrap().peaks.dataflow,
            3_072 + 6_144
        );
        assert_eq!(
            case(&P150).estimate().unwrap().peaks.dataflow,
            1_024 + 2_048
        );
    }
}
