//! `ttnn.conv2d`'s 1×1 stride-1 path (`use_matmul_for_1x1_conv`: a 1×1 kernel, stride 1, no
//! padding, dilation 1, groups 1, not width sharded): no halo, the conv runs as `ttnn::linear`
//! on the flattened input. Measured on ttnn 0.81.1 (NO_DISPATCH captures, n150 and p150;
//! docs/conv2d.md "The 1×1 matmul path") for an interleaved input (L1 or DRAM) with
//! `shard_layout` unset:
//!
//! 1. the prepared weights `[round_up(C_in, 32), round_up(C_out, 32)]` and bias
//!    `[32, round_up(C_out, 32)]` tiles in DRAM, in `weights_dtype`;
//! 2. a ROW_MAJOR input tilized into its own memory (kept until the call returns);
//! 3. the matmul with no program config and no memory config: `ttnn.matmul`'s own choice
//!    (the 1D multicast factory for a conv's tall operand), its output DRAM interleaved in the
//!    output dtype; conv2d's compute config has no packer L1 accumulation (no partials
//!    buffer); the bias is fused when the input is in DRAM, else `ttnn::add` writes the sum to
//!    a new DRAM tensor;
//! 4. a fused activation as a separate unary into a new DRAM tensor;
//! 5. a `memory_config` in L1 copies the result there.

use super::conv::{Conv, Scheme};
use super::matmul::{bias_sum, matmul_as, MatmulOutput};
use super::{Exec, Val};
use crate::device::BufferType;
use crate::error::CaseError;
use crate::layout::Layout;
use crate::plan::BufferRole;
use crate::plan::DevTensor;
use crate::program::{CbKind, Program};
use crate::shape::Shape;
use crate::tensor::TensorSpec;

/// Whether the runtime runs this conv as a matmul (`use_matmul_for_1x1_conv`), never in DRAM
/// slices. 0.81.1 does not look at `groups`: a grouped 1×1 conv is a matmul with the weights
/// prepared as a full block-diagonal matrix (capture, n150, `[1,1,1024,64]` depthwise: DRAM
/// weights 8,192 B, `MatmulMultiCoreReuseMcast1DProgramFactory`).
pub fn is_matmul_conv(
    kernel: [u64; 2],
    stride: [u64; 2],
    pad: [u64; 2],
    dilation: [u64; 2],
    width_sharded: bool,
) -> bool {
    kernel == [1, 1] && stride == [1, 1] && pad == [0, 0] && dilation == [1, 1] && !width_sharded
}

/// The buffers and programs of a 1×1 conv of an interleaved input `x` (flat
/// `[1, 1, N·H·W, C]`, or `[N, H, W, C]` whose flattening is a view).
pub(super) fn plan(
    ex: &mut Exec<'_>,
    conv: &Conv,
    x: &DevTensor,
    activation: bool,
    shard_layout: Option<Scheme>,
    reshard: bool,
    out_memory: Option<BufferType>,
) -> Result<Val, CaseError> {
    let f = "ttnn.conv2d";
    let win = &conv.win;
    let rows = crate::size::product([win.n, win.h, win.w], "N·H·W")?;
    let flat = [1, 1, rows, win.c];
    let flat_shape = Shape::from_dims(flat.to_vec())?;
    // `flatten_4d_shape`: a view, or for a TILE [N, H, W, C] input whose padding changes a
    // copying reshape into the input's memory (ReshapeView), kept until the call returns.
    let input = if x.dims() == flat || super::reshape_is_view(x.shape(), &flat_shape, x.layout()) {
        ex.b.share(x, TensorSpec::new(flat_shape, x.dtype(), x.layout()))
    } else if x.layout() == Layout::Tile {
        // A told shard_layout shards the copy after it (trace equal to the runtime's, p150
        // `[1,1024,122,201]` HEIGHT_SHARDED, where seed 41014 had gated it). A bfloat8_b one
        // goes through bfloat16 (typecast, reshape, fill pad, typecast back: n150 `[1,32,20,40]`
        // → 64, L1 and DRAM, traces equal to the runtime's); in L1 its bfloat8_b copy stays
        // low under the freed bfloat16 ones, and the matmul's device run picks its blocks from
        // the L1 below it (p150, seed 81032: `[2,352,207,132]` → 352 fits on the runtime where
        // the capture's blocks would clash).
        super::data_movement::reshape(ex, x, &flat.map(|v| v as i64), x.memory)?
    } else {
        return Err(super::unmodeled(
            f,
            format!("{}: a copying ROW_MAJOR reshape", super::conv::UNPLANNED),
        ));
    };

    // get_conv_padded_input_shape_and_mem_config: a block-sharded input whose channel cores do
    // not split C_in as its shards do is resharded, block-sharded whatever shard_layout says
    // (measured on n150: YOLOv12x's qkv, told HEIGHT_SHARDED, on a2c2f_cv1's [224, 64] shards
    // of 384 channels on 8 × 8 cores runs block-sharded on 6 × 8).
    let split_otherwise = input.shard.as_deref().is_some_and(|xs| {
        let (x, y) = xs.cores.bounding_size();
        let channel_cores = match xs.orientation {
            crate::shard::ShardOrientation::RowMajor => x,
            crate::shard::ShardOrientation::ColMajor => y,
        };
        xs.strategy == crate::shard::ShardStrategy::Block
            && u64::from(channel_cores).checked_mul(xs.shard_shape[1]) != Some(win.c)
    });
    match shard_layout {
        _ if split_otherwise && shard_layout.is_some() => {
            return plan_block_sharded(ex, conv, input, (reshard, true), out_memory)
        }
        Some(Scheme::Height) => return plan_height_sharded(ex, conv, input, reshard, out_memory),
        Some(Scheme::Block) => {
            return plan_block_sharded(ex, conv, input, (reshard, false), out_memory)
        }
        _ => {}
    }

    // 1. Weights and bias prepared into DRAM: K and N padded to whole tiles.
    let (weights, bias) = super::conv::prepared_weights(ex, conv, conv.win.c, conv.c_out)?;

    // 2. A ROW_MAJOR input is tilized where it is.
    let tilized = tilized_where_it_is(ex, input, conv.free_l1_input)?;

    // 3. The matmul into DRAM; the bias fused only when every operand is in DRAM.
    let fused = bias.as_ref().filter(|_| tilized.memory == BufferType::Dram);
    let output = MatmulOutput {
        dtype: conv.out_dtype,
        packer_l1_acc: false,
        fp32_dest_acc: conv.fp32_dest_acc(),
        l1_bank: ex
            .device()
            .l1_bank_bytes
            .saturating_sub(crate::device::CONV2D_L1_SMALL),
    };
    let product = matmul_as(ex, f, &tilized, &weights, BufferType::Dram, fused, output)?;
    let mut result = match &bias {
        Some(b) if fused.is_none() => bias_sum(ex, product, b, BufferType::Dram)?,
        _ => product,
    };

    // 4. The activation, applied by a unary of its own.
    if activation {
        let out = ex.b.tensor(
            "output",
            BufferRole::Temporary,
            result.spec.clone(),
            BufferType::Dram,
        )?;
        let d = ex.device();
        ex.b.run(super::eltwise::interleaved_unary_program(d, result.dtype()));
        ex.b.release(result);
        result = out;
    }

    if conv.free_l1_input {
        // deallocate_activation: the matmul's input (the caller's, a flattening copy or the
        // tilized copy) goes once the activation has run, before the copy below (measured).
        ex.b.deallocate(&tilized);
    }

    // 5. memory_config: a copy to L1 (DRAM is where the result is already).
    if let Some(memory) = out_memory.filter(|m| *m != BufferType::Dram) {
        let moved = super::data_movement::to_memory_config(ex, &result, memory, None)?;
        ex.b.release(result);
        result = moved;
    }

    ex.b.release(tilized);
    ex.b.release(weights);
    if let Some(b) = bias {
        ex.b.release(b);
    }
    Ok(Val::T(result))
}

/// Kernel stride folding (`fold_input_tensor_if_required`: a kernel equal to its stride) of a
/// DRAM interleaved input, measured on ttnn 0.81.1 (NO_DISPATCH traces, n150 and p150): the
/// Fold program (`MultiCoreDRAMFold`) writes `[N, H/s, W/s, C·s·s]` ROW_MAJOR into a new DRAM
/// tensor, then the folded input runs the 1×1 matmul path ([`plan`]) and is freed.
///
/// A ROW_MAJOR input is folded as its rows are (padded first where the conv pads). A TILE one
/// (never padded: the runtime does not fold a padded TILE input) is viewed as `[N, H, W, C]`,
/// or copied so (ReshapeView into DRAM) where its tiles' padding changes (W not whole tiles);
/// rows of whole L1 words (C times the untilized element a multiple of the L1 alignment) are
/// folded from the tiles by the Fold itself ([`tiled_fold`]), narrower ones untilized
/// (UntilizeWithUnpadding into DRAM) and folded as ROW_MAJOR rows. The copies go once folded,
/// the untilized one first (n150 `[1,17,64,48]` 2×2: reshape, untilize, Fold, free both).
pub(super) fn plan_folded(
    ex: &mut Exec<'_>,
    conv: &Conv,
    x: &DevTensor,
    activation: bool,
    out_memory: Option<BufferType>,
) -> Result<Val, CaseError> {
    let f = "ttnn.conv2d";
    let win = &conv.win;
    let [sh, sw] = win.stride;
    let d = ex.device();
    // A padded input is padded first (`ttnn.pad` into the input's DRAM, multi-core), the Fold
    // reading that copy, which is freed once folded (n150 `[1,32,64,64]` 2×2 stride 2 padding
    // 1: `[1,66,66,32]`, then the Fold on 61 cores).
    let padded_dims = [
        win.n,
        crate::size::product([2, win.pad[0]], "padding")?
            .checked_add(win.h)
            .ok_or_else(|| super::invalid(f, "the padded input overflows"))?,
        crate::size::product([2, win.pad[1]], "padding")?
            .checked_add(win.w)
            .ok_or_else(|| super::invalid(f, "the padded input overflows"))?,
        win.c,
    ];
    // The copies made for the Fold, freed once it ran, latest first.
    let mut staged: Vec<DevTensor> = Vec::new();
    let fold_dtype = super::data_movement::untilized_dtype(x.dtype());
    let stick_bytes = crate::size::mul(win.c, fold_dtype.row_major_element_bytes(), "input stick")?;
    if x.layout() == Layout::Tile {
        if win.pad != [0, 0] {
            return Err(super::invalid(f, "the runtime folds no padded TILE input"));
        }
        let image =
            super::data_movement::reshape(ex, x, &padded_dims.map(|v| v as i64), BufferType::Dram)?;
        if stick_bytes % d.l1_alignment == 0 {
            let folded = tiled_fold(ex, &image, [sh, sw])?;
            ex.b.release(image);
            return plan_folded_tensor(ex, conv, folded, activation, out_memory);
        }
        let rows = super::data_movement::untilize(ex, &image, BufferType::Dram)?;
        staged.push(image);
        staged.push(rows);
    } else if win.pad != [0, 0] {
        let spec = TensorSpec::new(
            Shape::from_dims(padded_dims.to_vec())?,
            x.dtype(),
            Layout::RowMajor,
        );
        let t = ex.b.tensor(
            "padded input",
            BufferRole::Temporary,
            spec,
            BufferType::Dram,
        )?;
        super::reduction::run_pad_row_major_multicore(ex, x.dtype(), &padded_dims, f)?;
        staged.push(t);
    }
    let (ho, wo) = (padded_dims[1] / sh.max(1), padded_dims[2] / sw.max(1));
    let folded = folded_tensor(ex, &padded_dims, [sh, sw], fold_dtype)?;
    let stick = crate::size::round_up(stick_bytes, d.dram_alignment, "input stick")?;
    // The patches (output pixels) split evenly over the grid: as many cores as that takes.
    let patches = crate::size::product([win.n, ho, wo], "fold patches")?;
    let grid_cores = u64::from(d.grid_x) * u64::from(d.grid_y);
    let per_core = patches.div_ceil(grid_cores).max(1);
    let used = u32::try_from(patches.div_ceil(per_core)).unwrap_or(u32::MAX);
    let cores = super::grid::num_cores_to_corerangeset((0, 0), used, (d.grid_x, d.grid_y), true);
    let mut fold = Program::new("Fold", "MultiCoreDRAMFold").cb(
        CbKind::Dataflow,
        crate::size::product([2, sh, sw, stick], "fold CB")?,
        &cores,
    );
    // A stick off the DRAM alignment also gets an unaligned scratch of one patch's sticks
    // (fold_multi_core_dram_program_factory.cpp src1; p150 float32 17 channels 3×3: 612 B).
    if stick != stick_bytes {
        fold = fold.cb(
            CbKind::Dataflow,
            crate::size::product([sh, sw, stick_bytes], "fold scratch")?,
            &cores,
        );
    }
    ex.b.run(fold);
    while let Some(t) = staged.pop() {
        ex.b.release(t);
    }
    plan_folded_tensor(ex, conv, folded, activation, out_memory)
}

/// The Fold's output: `[N, H/s_h, W/s_w, C·s_h·s_w]` ROW_MAJOR in DRAM, `dims` the (padded)
/// input's `[N, H, W, C]`.
fn folded_tensor(
    ex: &mut Exec<'_>,
    dims: &[u64; 4],
    [sh, sw]: [u64; 2],
    dtype: crate::dtype::DType,
) -> Result<DevTensor, CaseError> {
    let c = crate::size::product([dims[3], sh, sw], "folded channels")?;
    ex.b.tensor(
        "folded input",
        BufferRole::Temporary,
        TensorSpec::new(
            Shape::from_dims(vec![dims[0], dims[1] / sh.max(1), dims[2] / sw.max(1), c])?,
            dtype,
            Layout::RowMajor,
        ),
        BufferType::Dram,
    )
}

/// The Fold of a TILE `[N, H, W, C]` input (`fold_multi_core_tiled_interleaved`): it untilizes
/// the tiles itself, a block per row of patches (N·H/s_h blocks split over the grid row by row,
/// `split_blocks_for_tilize`), with two rows of C's tiles in (the input's tiles) and out (the
/// untilized dtype's: bfloat16 for bfloat8_b) and one patch row of sticks, s_h·W·C elements
/// unaligned. Measured on ttnn 0.81.1 (NO_DISPATCH traces): n150 `[1,32,64,64]` 2×2 bfloat16
/// 4,096 + 4,096 + 8,192 B on 32 cores, `[1,96,48,96]` 3×3 12,288 + 12,288 + 55,296 B on 16,
/// bfloat8_b 2,176 + 4,096 + 8,192 B; p150 `[1,520,8,32]` float32 139,264 + 139,264 +
/// 133,120 B on 4, `[2,8,64,32]` bfloat8_b 2×1 on 64.
fn tiled_fold(
    ex: &mut Exec<'_>,
    image: &DevTensor,
    [sh, sw]: [u64; 2],
) -> Result<DevTensor, CaseError> {
    let d = ex.device();
    let [n, h, w, c] = match image.dims() {
        [n, h, w, c] => [*n, *h, *w, *c],
        _ => return Err(super::invalid("ttnn.conv2d", "the fold needs [N, H, W, C]")),
    };
    let fold_dtype = super::data_movement::untilized_dtype(image.dtype());
    let folded = folded_tensor(ex, &[n, h, w, c], [sh, sw], fold_dtype)?;
    let channel_tiles = c.div_ceil(crate::tensor::TILE);
    let blocks = crate::size::product([n, h / sh.max(1)], "fold blocks")?;
    let (ncores, _) =
        super::data_movement::compute_ncores(u64::from(d.grid_x) * u64::from(d.grid_y), blocks);
    let cores = super::grid::num_cores_to_corerangeset(
        (0, 0),
        u32::try_from(ncores).unwrap_or(u32::MAX),
        (d.grid_x, d.grid_y),
        true,
    );
    let tiles_cb = |dtype| {
        crate::size::product(
            [2, channel_tiles, super::util::tile_size(dtype)],
            "fold tile CB",
        )
    };
    let fold = Program::new("Fold", "MultiCoreDRAMFold")
        .cb(CbKind::Dataflow, tiles_cb(image.dtype())?, &cores)
        .cb(CbKind::Dataflow, tiles_cb(fold_dtype)?, &cores)
        .cb(
            CbKind::Dataflow,
            crate::size::product(
                [sh, w, c, fold_dtype.row_major_element_bytes()],
                "fold row CB",
            )?,
            &cores,
        );
    ex.b.run(fold);
    Ok(folded)
}

/// The folded input's 1×1 conv: the matmul path on `[N, H/s, W/s, C·s·s]`, the folded tensor
/// freed at the end.
fn plan_folded_tensor(
    ex: &mut Exec<'_>,
    conv: &Conv,
    folded: DevTensor,
    activation: bool,
    out_memory: Option<BufferType>,
) -> Result<Val, CaseError> {
    let f = "ttnn.conv2d";
    let [n, ho, wo, c] = match folded.dims() {
        [n, h, w, c] => [*n, *h, *w, *c],
        _ => return Err(super::invalid(f, "the folded input is not [N, H, W, C]")),
    };
    let folded_win = super::pool::Window::new([n, ho, wo, c], [1, 1], [1, 1], [0, 0], [1, 1])
        .ok_or_else(|| super::invalid(f, "the folded input overflows"))?;
    let folded_conv = Conv {
        win: folded_win,
        ..*conv
    };
    let out = plan(
        ex,
        &folded_conv,
        &folded,
        activation,
        None,
        false,
        out_memory,
    )?;
    ex.b.release(folded);
    Ok(out)
}

/// A ROW_MAJOR `input` tilized in its own memory (the tilize's factory sees the L1 bank beside
/// conv2d's L1_SMALL), `input` released (and deallocated for its caller too with
/// `free_l1_input`: deallocate_activation); a TILE one as it is.
fn tilized_where_it_is(
    ex: &mut Exec<'_>,
    input: DevTensor,
    free_l1_input: bool,
) -> Result<DevTensor, CaseError> {
    if input.layout() != Layout::RowMajor {
        return Ok(input);
    }
    let t = super::data_movement::tilize_beside_l1_small(
        ex,
        &input,
        input.memory,
        crate::device::CONV2D_L1_SMALL,
    )?;
    if free_l1_input {
        // tilize_with_optional_deallocation: the caller's input goes once tilized, and the
        // tilized copy is moved down into the freed space (`ttnn::move`: freed, then allocated
        // anew; n150 `[1,1024,80,131]` ROW_MAJOR [N, H, W, C] in L1 → 1024: the capture frees
        // both, then allocates the copy at the input's address; seed 1230112 found a float32
        // one whose matmul CBs clashed with the copy left where it was).
        ex.b.deallocate(&input);
        ex.b.release(input);
        return Ok(super::conv::reallocated(ex, t));
    }
    ex.b.release(input);
    Ok(t)
}

/// `shard_layout=HEIGHT_SHARDED` with an interleaved input (flat, `input`): the input resharded
/// over the conv's NHW cores (channels padded to whole tiles), a ROW_MAJOR one tilized in its
/// shards, then the matmul with the conv's own 1D program config
/// (`determine_matmul_op_config_from_conv_op_config`: the whole K in one block, the output
/// shard as one block, the bias and activation fused) into height-sharded L1 output shards;
/// an interleaved `memory_config` copies them out (ShardedToInterleaved).
fn plan_height_sharded(
    ex: &mut Exec<'_>,
    conv: &Conv,
    input: DevTensor,
    reshard: bool,
    out_memory: Option<BufferType>,
) -> Result<Val, CaseError> {
    use super::pool::{sharded, Bound};
    use crate::plan::sharded_placement;
    use crate::tensor::TILE;
    let d = ex.device();
    // The matmul path aligns the channels to whole tiles, a ROW_MAJOR input's too (measured:
    // 100 channels resharded as 128-channel sticks).
    let s = Conv {
        tiled: true,
        ..*conv
    }
    .sharding(d, super::conv::Scheme::Height);
    let rows = input.dims()[2];
    let used = rows
        .div_ceil(TILE)
        .saturating_mul(TILE)
        .div_ceil(s.in_shard_h);
    let grid = super::conv::shard_grid(d, super::conv::Scheme::Height, used, 1);
    let k_tiles = s.in_c_padded / TILE;
    let shard_tiles = s.in_shard_h / TILE * k_tiles;
    let tile_spec = |dtype| {
        Shape::from_dims(vec![1, 1, s.in_shard_h * s.nhw_cores, s.in_c_padded])
            .map(|shape| TensorSpec::new(shape, dtype, Layout::Tile))
    };

    // A ROW_MAJOR input of rows not whole tiles, resharded, is tilized where it is, or,
    // where the L1 below its shards cannot take a block of 32 rows in and out (`2·32·C·e` B,
    // e the element's bytes), moved to DRAM (ShardedToInterleaved) and tilized there, whose
    // Tilize refuses it: `Input tensor height (67942) must be divisible by tile height (32)`.
    // Normal-mode captures of [1,1,R,C] HEIGHT_SHARDED, L1 left below the shards: p150
    // bfloat16 C 1024 117,632 B, C 1056 76,672 B, C 512 52,096 and 19,328 B: moved; C 992
    // 158,592 B, C 960 199,552 B, C 512 84,864 B: tilized in L1, its output out of L1; n150
    // C 1024 115,360 B moved, C 992 154,272 B not; p150 float32 C 512 117,632 B moved (where
    // bfloat16's block would stay), 248,704 B not. The move and its refusal are not planned.
    let rows_not_tiles = input.layout() == Layout::RowMajor && !rows.is_multiple_of(TILE);
    let elem = input.dtype().row_major_element_bytes();
    let tile_row_block = crate::size::product([2, TILE, s.in_c_padded, elem], "tilize block")?;
    // 1. The reshard: tile pages, or one stick of the padded channels per page.
    let (page, shard_pages) = if input.layout() == Layout::Tile {
        (super::util::tile_size(input.dtype()), shard_tiles)
    } else {
        (
            crate::size::mul(
                s.in_c_padded,
                input.dtype().row_major_element_bytes(),
                "stick",
            )?,
            s.in_shard_h,
        )
    };
    let spec = TensorSpec::new(
        Shape::from_dims(vec![1, 1, s.in_shard_h * s.nhw_cores, s.in_c_padded])?,
        input.dtype(),
        input.layout(),
    );
    let pages = crate::size::mul(shard_pages, used, "input pages")?;
    // A height-sharded input in the conv's parallel config is the matmul's input as it is.
    let keep = super::conv::keep_sharded_input(
        &input,
        super::conv::Scheme::Height,
        super::conv::shard_grid(d, super::conv::Scheme::Height, s.nhw_cores, 1),
        [s.in_shard_h, s.in_c_padded],
        reshard,
    )?;
    let resharded = if keep {
        input
    } else {
        let resharded = sharded(
            ex,
            "sharded input",
            spec,
            sharded_placement(d, BufferType::L1, pages, page, used, shard_pages)?,
        );
        super::conv::reshard_into(ex, &input, &resharded, page, &grid);
        if conv.free_l1_input {
            // deallocate_activation: the input goes and the resharded tensor is moved.
            ex.b.deallocate(&input);
            ex.b.release(input);
            super::conv::reallocated(ex, resharded)
        } else {
            ex.b.release(input);
            resharded
        }
    };
    let shard_bytes = ex.b.buffers[resharded.buffer].placement.per_bank_bytes;
    if rows_not_tiles
        && ex
            .b
            .l1_free_below_lowest()
            .is_some_and(|free| tile_row_block > free)
    {
        return Err(rows_not_tiles_moved(rows));
    }

    // 2. Weights and bias.
    let (weights, bias) = super::conv::prepared_weights(ex, conv, conv.win.c, conv.c_out)?;

    // 3. A ROW_MAJOR input is tilized shard by shard (TilizeMultiCoreSharded, both CBs bound).
    let act = if resharded.layout() == Layout::RowMajor {
        let tile_page = super::util::tile_size(resharded.dtype());
        let tilized = sharded(
            ex,
            "tilized input",
            tile_spec(resharded.dtype())?,
            sharded_placement(
                d,
                BufferType::L1,
                crate::size::mul(shard_tiles, used, "input tiles")?,
                tile_page,
                used,
                shard_tiles,
            )?,
        );
        let tiled_bytes = ex.b.buffers[tilized.buffer].placement.per_bank_bytes;
        ex.b.run(
            Program::new(
                "TilizeDeviceOperation",
                "TilizeMultiCoreShardedProgramFactory",
            )
            .cb(CbKind::Dataflow, shard_bytes, &grid)
            .bound()
            .cb(CbKind::Dataflow, tiled_bytes, &grid)
            .bound(),
        );
        ex.b.release(resharded);
        tilized
    } else {
        resharded
    };
    let act_bytes = ex.b.buffers[act.buffer].placement.per_bank_bytes;

    // 4. The matmul into the output shards: in0 and the output bound to their shards, the
    //    weights' whole K for the core's output width (one block: single-buffered), the bias row.
    let (out, out_bytes) =
        height_sharded_matmul(ex, conv, &s, rows, used, k_tiles, act_bytes, &grid)?;
    // deallocate_activation: the input shards go once the matmul has run, before the copy out
    // (n150 `[1,256,32,32]` TILE in L1 → 256 HEIGHT_SHARDED: freed between the matmul and
    // ShardedToInterleaved, the copy placed in their space).
    let act = if conv.free_l1_input {
        ex.b.deallocate(&act);
        ex.b.release(act);
        None
    } else {
        Some(act)
    };

    // 5. An interleaved memory_config: the shards copied out.
    finish_sharded(
        ex,
        out,
        out_bytes,
        &grid,
        out_memory,
        [act, Some(weights), bias],
    )
}

/// The ROW_MAJOR input of `rows` rows (not whole tiles) the runtime moves to DRAM to tilize,
/// where its Tilize refuses it: not planned.
fn rows_not_tiles_moved(rows: u64) -> CaseError {
    super::unmodeled(
        "ttnn.conv2d",
        format!(
            "{}: a ROW_MAJOR input of {rows} rows (not whole tiles) whose resharded shards leave \
             too little L1 to tilize them there (the runtime tilizes them in DRAM and refuses)",
            super::conv::UNPLANNED
        ),
    )
}

/// `shard_layout=BLOCK_SHARDED` with an interleaved input (flat, `input`), measured on n150
/// (NO_DISPATCH captures: `[1,1,1600,768]` bfloat8_b TILE → 384, `[1,1,6400,256]` bfloat16
/// ROW_MAJOR → 128, YOLOv12x's `[1,1,1600,1536]` bfloat16 ROW_MAJOR → 384): a ROW_MAJOR input
/// tilized where it is first (`shard_or_reshard_tensor_if_required`: `ttnn::to_layout(TILE)`,
/// "tilize doesn't support BLOCK_SHARDED"; its factory sees the bank beside conv2d's L1_SMALL), the tiles
/// resharded onto a `channel cores × NHW cores` rectangle (the NHW cores as for a block-sharded
/// conv, the channel cores the largest count up to the grid's columns dividing both the input's
/// and the output's channel tiles: no channel padding on the matmul path), the tilized copy freed,
/// then [`block_matmul`] into block-sharded L1 output shards of the same grid. A block-sharded
/// input without reshard_if_not_optimal stays where it is ([`on_input_grid`]) unless the runtime
/// must reshard it (`must_reshard`).
fn plan_block_sharded(
    ex: &mut Exec<'_>,
    conv: &Conv,
    input: DevTensor,
    (reshard, must_reshard): (bool, bool),
    out_memory: Option<BufferType>,
) -> Result<Val, CaseError> {
    use super::pool::sharded;
    use crate::plan::sharded_placement;
    use crate::tensor::TILE;
    let f = "ttnn.conv2d";
    let d = ex.device();
    let rows = input.dims()[2];
    let in_c_tiles = conv.win.c.div_ceil(TILE);
    let out_c_tiles = conv.c_out.div_ceil(TILE);

    // Without reshard_if_not_optimal a block-sharded input is taken as it is: the matmul runs
    // on the input's own grid (get_conv_padded_input_shape_and_mem_config keeps the input's
    // parallel config; determine_output_parallel_config gives a 1×1 conv's output the same).
    if let Some(xs) = input.shard.clone().filter(|_| !reshard && !must_reshard) {
        let g = on_input_grid(conv, rows, &xs)?;
        let (weights, bias) = super::conv::prepared_weights(
            ex,
            conv,
            conv.win.c,
            crate::size::product([g.n_tiles, g.c_cores, TILE], "padded output channels")?,
        )?;
        return block_matmul(ex, conv, input, weights, bias, &g, out_memory);
    }

    let nhw = super::conv::nhw_cores_mult(
        rows.div_ceil(TILE),
        u64::from(d.grid_y),
        conv.act_block_h.max(1),
    );
    // `find_closest_largest_divisor(out_channels_ntiles, input_channels_blocks, grid_x)`.
    let c_cores = (1..=u64::from(d.grid_x).min(in_c_tiles).min(out_c_tiles))
        .rev()
        .find(|c| in_c_tiles.is_multiple_of(*c) && out_c_tiles.is_multiple_of(*c))
        .unwrap_or(1);
    let shard_h = rows.div_ceil(nhw * TILE) * TILE;
    let (k_tiles, n_tiles, m_tiles) = (in_c_tiles / c_cores, out_c_tiles / c_cores, shard_h / TILE);
    let used = rows.div_ceil(TILE).saturating_mul(TILE).div_ceil(shard_h);
    let cores = used * c_cores;
    let grid = super::conv::shard_grid(d, Scheme::Block, used, c_cores);

    // Another conv's sharded output is resharded into this conv's config when
    // reshard_if_not_optimal says so (the buffers of sharding an interleaved input, as on the
    // halo path); one already in it would be used as it is: not measured on this path. One the
    // runtime must reshard is resharded even into the same grid and shard shape (YOLOv12x's
    // mlp1 at 640×640: 460 channels on 3 × 160-channel shards, the same shards anew).
    if !must_reshard
        && super::conv::keep_sharded_input(
            &input,
            Scheme::Block,
            super::conv::shard_grid(d, Scheme::Block, nhw, c_cores),
            [shard_h, k_tiles * TILE],
            reshard,
        )?
    {
        return Err(super::unmodeled(
            f,
            format!(
                "{}: a sharded input already in the block-sharded 1×1 matmul path's parallel \
                 config",
                super::conv::UNPLANNED
            ),
        ));
    }
    // 1. A ROW_MAJOR input is tilized where it is (the tilized copy freed after the reshard).
    let tiled = tilized_where_it_is(ex, input, conv.free_l1_input)?;

    // 2. The tiles resharded; the tilized copy freed.
    let in_tile = super::util::tile_size(tiled.dtype());
    let shard_tiles = m_tiles * k_tiles;
    let act = sharded(
        ex,
        "sharded input",
        TensorSpec::new(
            Shape::from_dims(vec![1, 1, shard_h * nhw, in_c_tiles * TILE])?,
            tiled.dtype(),
            Layout::Tile,
        ),
        sharded_placement(
            d,
            BufferType::L1,
            // Sharding an interleaved input pads it to whole shards; resharding a sharded one
            // allocates its tiles (measured: [1,1,1600,384] onto 6 × 8 shards of 7 × 2 tiles,
            // 600 tiles of 672).
            if tiled.shard.is_some() {
                rows.div_ceil(TILE).saturating_mul(in_c_tiles)
            } else {
                crate::size::mul(shard_tiles, cores, "input tiles")?
            },
            in_tile,
            cores,
            shard_tiles,
        )?,
    );
    super::conv::reshard_into(ex, &tiled, &act, in_tile, &grid);
    let act = if conv.free_l1_input {
        // deallocate_activation: the tiles the reshard read go (the caller's input, or its
        // flattening / tilized copy) and the shards are moved down (`ttnn::move`: freed, then
        // allocated anew; n150 `[1,10,6,880]` TILE [N, H, W, C] in L1 → 880: the flattening
        // copy freed, the shards freed and allocated again before the weights).
        ex.b.deallocate(&tiled);
        ex.b.release(tiled);
        super::conv::reallocated(ex, act)
    } else {
        ex.b.release(tiled);
        act
    };

    // 3. Weights and bias.
    let (weights, bias) = super::conv::prepared_weights(ex, conv, conv.win.c, conv.c_out)?;

    // 4. The 2D multicast matmul into the output shards.
    let g = BlockGrid {
        rows,
        c_cores,
        shard_h,
        k_tiles,
        n_tiles,
        out_grid: [used, c_cores],
        cores: grid,
    };
    block_matmul(ex, conv, act, weights, bias, &g, out_memory)
}

/// Where a block-sharded 1×1 conv's matmul runs: its channel cores (the grid's columns), the
/// shard height (rows per NHW core, input and output alike), the input shard's and the output
/// shard's width in tiles, the output shards along rows and columns, and the program's cores.
struct BlockGrid {
    /// The conv's N·H·W (the resharded input's rows are padded to whole shards).
    rows: u64,
    c_cores: u64,
    shard_h: u64,
    k_tiles: u64,
    n_tiles: u64,
    out_grid: [u64; 2],
    cores: crate::program::CoreRangeSet,
}

/// The block-sharded input `xs` of `rows` rows kept as it is (reshard_if_not_optimal off):
/// measured on n150 (NO_DISPATCH captures; YOLOv12x's a2c2f_cv1 at 640×640 and at 320×320 on
/// the outputs of its 3×3 stride-2 block conv: `[224, 96]` on 8×8 → 384 channels, output
/// `[224, 64]` on the same 8×8 grid, its shards on 8 × 6 cores; `[64, 96]` on 8×7), the
/// matmul's K blocks are the input shard's width and each channel core takes
/// ⌈C_out tiles / channel cores⌉ output tiles (the weights padded to that many per core).
/// Whatever the runtime reshards first even without reshard_if_not_optimal (a shard width not
/// `C_in / channel cores` or not whole tiles, a shard height not whole tiles, a column-major
/// shard), a grid not one rectangle from core (0, 0), and an input shard height other than the
/// output's, is `unmodeled`.
fn on_input_grid(
    conv: &Conv,
    rows: u64,
    xs: &crate::shard::ShardSpec,
) -> Result<BlockGrid, CaseError> {
    use crate::tensor::TILE;
    let unplanned = |why: &str| {
        super::unmodeled(
            "ttnn.conv2d",
            format!(
                "{}: a sharded input ({}) to the block-sharded 1×1 matmul path without \
                 reshard_if_not_optimal: {why}",
                super::conv::UNPLANNED,
                xs.describe()
            ),
        )
    };
    if xs.strategy != crate::shard::ShardStrategy::Block {
        return Err(unplanned("not block sharded"));
    }
    if xs.orientation != crate::shard::ShardOrientation::RowMajor {
        return Err(unplanned("a column-major shard"));
    }
    let rect = match xs.cores.0.as_slice() {
        [r] if r.x0 == 0 && r.y0 == 0 => *r,
        _ => return Err(unplanned("a grid not one rectangle from core (0, 0)")),
    };
    let (c_cores, nhw) = (u64::from(rect.x1) + 1, u64::from(rect.y1) + 1);
    let [shard_h, shard_w] = xs.shard_shape;
    if !shard_w.is_multiple_of(TILE)
        || !shard_h.is_multiple_of(TILE)
        || c_cores.checked_mul(shard_w) != Some(conv.win.c)
    {
        return Err(unplanned(
            "a shard the runtime reshards first (its width not C_in / channel cores in whole \
             tiles, or its height not whole tiles)",
        ));
    }
    let out_shard_h = rows.div_ceil(nhw.saturating_mul(TILE)).saturating_mul(TILE);
    if shard_h != out_shard_h {
        return Err(unplanned(&format!(
            "an input shard height other than the output's ({out_shard_h})"
        )));
    }
    let n_tiles = conv.c_out.div_ceil(TILE).div_ceil(c_cores);
    Ok(BlockGrid {
        rows,
        c_cores,
        shard_h,
        k_tiles: shard_w / TILE,
        n_tiles,
        out_grid: [
            rows.div_ceil(TILE).div_ceil(shard_h / TILE),
            conv.c_out.div_ceil(TILE).div_ceil(n_tiles),
        ],
        cores: xs.cores.clone(),
    })
}

/// The 2D multicast matmul of a block-sharded 1×1 conv (`MatmulMultiCoreReuseMcast2DProgramFactory`,
/// the conv's own program config: per core the output shard as one block, K in blocks of the
/// input shard's width) with the bias and activation fused, from the input shards `act` into
/// block-sharded L1 output shards (`act` released at the end: the conv's own copy, or its share
/// of the caller's input). Its CBs: in0 and in1 blocks (double-buffered when K spans more than one block),
/// the input shard (bound), the output shard (bound, also the partials: conv2d accumulates
/// without the packer; with fp32 accumulation and a narrower output, float32 partials of their
/// own: [`float32_partials`]), the bias row.
#[allow(clippy::too_many_arguments)]
fn block_matmul(
    ex: &mut Exec<'_>,
    conv: &Conv,
    act: DevTensor,
    weights: DevTensor,
    bias: Option<DevTensor>,
    g: &BlockGrid,
    out_memory: Option<BufferType>,
) -> Result<Val, CaseError> {
    use super::pool::Bound;
    use crate::tensor::TILE;
    let in_tile = super::util::tile_size(act.dtype());
    let act_bytes = ex.b.buffers[act.buffer].placement.per_bank_bytes;
    let (out, out_bytes) = sharded_output(
        ex,
        conv,
        g.rows,
        (conv.c_out.div_ceil(TILE), g.n_tiles),
        (crate::shard::ShardStrategy::Block, g.out_grid, g.shard_h),
        &g.cores,
    )?;
    let weights_tile = super::util::tile_size(conv.weights_dtype);
    let m_tiles = g.shard_h / TILE;
    // in0 and in1 are double-buffered when K takes more than one block (more than one channel
    // core; seed 41309: with one, the runtime's blocks are half this plan's doubled ones).
    let buffers = if g.c_cores > 1 { 2 } else { 1 };
    let mut p = Program::new(
        "MatmulDeviceOperation",
        "MatmulMultiCoreReuseMcast2DProgramFactory",
    )
    .cb(
        CbKind::Dataflow,
        crate::size::product([buffers, m_tiles, g.k_tiles, in_tile], "in0 CB")?,
        &g.cores,
    )
    .cb(
        CbKind::Dataflow,
        crate::size::product([buffers, g.k_tiles, g.n_tiles, weights_tile], "in1 CB")?,
        &g.cores,
    )
    .cb(CbKind::Dataflow, act_bytes, &g.cores)
    .bound()
    .cb(CbKind::Dataflow, out_bytes, &g.cores)
    .bound();
    if let Some(partials) = float32_partials(conv, out_bytes)? {
        p = p.cb(CbKind::Dataflow, partials, &g.cores);
    }
    if conv.bias {
        p = p.cb(CbKind::Dataflow, g.n_tiles * weights_tile, &g.cores);
    }
    ex.b.run(p);
    // deallocate_activation: the input shards go once the matmul has run, before the copy out
    // (the n150 capture above).
    let act = if conv.free_l1_input {
        ex.b.deallocate(&act);
        ex.b.release(act);
        None
    } else {
        Some(act)
    };

    // 5. An interleaved memory_config: the shards copied out.
    finish_sharded(
        ex,
        out,
        out_bytes,
        &g.cores,
        out_memory,
        [act, Some(weights), bias],
    )
}

/// The bytes of the matmul's float32 partials buffer beside an output block of `out_bytes`:
/// with conv2d's fp32 accumulation (a float32 input with float32 weights) and a narrower output
/// the partials are float32 tiles of their own (`interm0_data_format`; measured on n150,
/// `[3,1024,44,61]` float32 → 88 bfloat16 HEIGHT_SHARDED: 49,152 B beside a 24,576 B output).
pub(super) fn float32_partials(conv: &Conv, out_bytes: u64) -> Result<Option<u64>, CaseError> {
    use crate::dtype::DType;
    if !conv.fp32_dest_acc() || conv.out_dtype == DType::Float32 {
        return Ok(None);
    }
    let tiles = out_bytes / super::util::tile_size(conv.out_dtype);
    Ok(Some(crate::size::mul(
        tiles,
        DType::Float32.tile_bytes(),
        "partials CB",
    )?))
}

/// The 1-D matmul of a height-sharded conv on the matmul path (`MatmulMultiCoreReuseMcast1D`):
/// height-sharded L1 output shards of `used` cores, in0 and the output bound to their shards,
/// the weights' whole K for the core's output width (one block: single-buffered), float32
/// partials, the bias row. Returns the output and its per-core bytes.
#[allow(clippy::too_many_arguments)]
pub(super) fn height_sharded_matmul(
    ex: &mut Exec<'_>,
    conv: &Conv,
    s: &super::conv::Sharding,
    rows: u64,
    used: u64,
    k_tiles: u64,
    act_bytes: u64,
    grid: &crate::program::CoreRangeSet,
) -> Result<(DevTensor, u64), CaseError> {
    use super::pool::Bound;
    let (out, out_bytes) = sharded_output(
        ex,
        conv,
        rows,
        (s.out_w_tiles, s.out_w_tiles),
        (
            crate::shard::ShardStrategy::Height,
            [used, 1],
            s.out_shard_h,
        ),
        grid,
    )?;
    let weights_tile = super::util::tile_size(conv.weights_dtype);
    let mut p = Program::new(
        "MatmulDeviceOperation",
        "MatmulMultiCoreReuseMcast1DProgramFactory",
    )
    .cb(CbKind::Dataflow, act_bytes, grid)
    .bound()
    .cb(
        CbKind::Dataflow,
        crate::size::product([s.out_w_tiles, k_tiles, weights_tile], "in1 CB")?,
        grid,
    )
    .cb(CbKind::Dataflow, out_bytes, grid)
    .bound();
    if let Some(partials) = float32_partials(conv, out_bytes)? {
        p = p.cb(CbKind::Dataflow, partials, grid);
    }
    if conv.bias {
        p = p.cb(CbKind::Dataflow, s.out_w_tiles * weights_tile, grid);
    }
    ex.b.run(p);
    Ok((out, out_bytes))
}

/// The matmul's sharded L1 output `[1, 1, rows, C_out]` TILE, `width_tiles` per row of tiles
/// and `shard_w_tiles` per shard, in `shard_grid` shards of `shard_h` rows on `cores` (the buffer holds the tensor's tiles, not
/// every shard full), with that shard spec kept for the next call; and the bytes of one shard.
pub(super) fn sharded_output(
    ex: &mut Exec<'_>,
    conv: &Conv,
    rows: u64,
    (width_tiles, shard_w_tiles): (u64, u64),
    (strategy, shard_grid, shard_h): (crate::shard::ShardStrategy, [u64; 2], u64),
    cores: &crate::program::CoreRangeSet,
) -> Result<(DevTensor, u64), CaseError> {
    use crate::tensor::TILE;
    let d = ex.device();
    let out_tile = super::util::tile_size(conv.out_dtype);
    let shard_tiles = crate::size::mul(shard_h / TILE, shard_w_tiles, "output shard tiles")?;
    let used = crate::size::mul(shard_grid[0], shard_grid[1], "output cores")?;
    let out = super::pool::sharded(
        ex,
        "output",
        TensorSpec::new(
            Shape::from_dims(vec![1, 1, rows, conv.c_out])?,
            conv.out_dtype,
            Layout::Tile,
        ),
        crate::plan::sharded_placement(
            d,
            BufferType::L1,
            rows.div_ceil(TILE)
                .saturating_mul(width_tiles)
                .min(crate::size::mul(shard_tiles, used, "output tiles")?),
            out_tile,
            used,
            shard_tiles,
        )?,
    );
    // The output stays in these shards between calls (a next conv's "reshard or not").
    let out = ex.b.with_shard(
        out,
        crate::shard::ShardSpec {
            strategy,
            physical: [
                crate::size::round_up(rows, TILE, "output rows")?,
                crate::size::mul(width_tiles, TILE, "output width")?,
            ],
            shard_shape: [
                shard_h,
                crate::size::mul(shard_w_tiles, TILE, "output shard width")?,
            ],
            grid: shard_grid,
            cores: cores.clone(),
            orientation: crate::shard::ShardOrientation::RowMajor,
        },
    );
    Ok((
        out,
        crate::size::mul(shard_tiles, out_tile, "output shard")?,
    ))
}

/// The end of a sharded matmul conv: an interleaved `memory_config` copies the output shards
/// there (ShardedToInterleaved), then the input shards, weights and bias are freed.
fn finish_sharded(
    ex: &mut Exec<'_>,
    out: DevTensor,
    out_bytes: u64,
    grid: &crate::program::CoreRangeSet,
    out_memory: Option<BufferType>,
    temporaries: [Option<DevTensor>; 3],
) -> Result<Val, CaseError> {
    let result = match out_memory {
        None => out,
        Some(memory) => {
            let copy =
                ex.b.tensor("output", BufferRole::Temporary, out.spec.clone(), memory)?;
            super::pool::unshard_program(ex, out_bytes, grid);
            ex.b.release(out);
            copy
        }
    };
    for t in temporaries.into_iter().flatten() {
        ex.b.release(t);
    }
    Ok(Val::T(result))
}

#[cfg(test)]
mod tests {
    use crate::case::{Case, Verdict};
    use crate::device::{BufferType, DeviceSpec, N150};
    use crate::dtype::DType;
    use crate::layout::{DeviceLayout, Layout};
    use crate::params::ParamValue;
    use crate::shape::Shape;

    /// A 1×1 conv of the NCHW `shape` to `c_out` channels, TILE, its output memory the
    /// runtime's (no memory_config).
    fn conv1x1(
        shape: &str,
        c_out: i64,
        dtype: DType,
        memory: BufferType,
        device: &'static DeviceSpec,
    ) -> Case {
        let mut c = Case::new(
            crate::ops::find("conv2d").unwrap(),
            vec![Shape::parse(shape).unwrap()],
            device,
        );
        c.device_layout = DeviceLayout::NhwcFlat;
        c.layout = Layout::Tile;
        c.dtype = dtype;
        c.input_memory = memory;
        c.output_memory = memory;
        c.default_output_memory = true;
        c.params.set("kernel_size", ParamValue::Ints(vec![1, 1]));
        c.params.set("out_channels", ParamValue::Int(c_out));
        c
    }

    /// YOLOv12x's conv settings: `shard_layout`, bfloat8_b output and weights, SiLU.
    fn yolo_settings(c: &mut Case, shard_layout: &str) {
        for (name, value) in [
            ("shard_layout", shard_layout),
            ("dtype", "bfloat8_b"),
            ("weights_dtype", "bfloat8_b"),
            ("activation", "silu"),
        ] {
            c.params.set(name, ParamValue::Str(value.into()));
        }
    }

    /// A depthwise 1×1 conv is a matmul too (the NO_DISPATCH capture on n150 of 32×32, 64
    /// channels, groups 64, L1 TILE input: DRAM weights 8,192 B, the full 64 × 64 matrix, then
    /// `MatmulMultiCoreReuseMcast1DProgramFactory`, 4,096 + 8,192 + 4,096 B, and the bias's
    /// BinaryNg, four 4,096 B CBs).
    #[test]
    fn a_depthwise_1x1_conv_is_a_matmul() {
        let mut c = conv1x1("1,64,32,32", 64, DType::Bfloat16, BufferType::L1, &N150);
        c.params.set("groups", ParamValue::Int(64));
        let e = c.estimate().unwrap();
        assert_eq!((e.peaks.cb, e.peaks.dataflow), (16_384, 16_384));
    }

    /// The NO_DISPATCH capture on n150 of 64×64, 128 → 64, L1 TILE input: the matmul's
    /// dataflow buffers 16,384 + 16,384 + 8,192 B, then the bias added by a BinaryNg of four
    /// 4,096 B CBs.
    #[test]
    fn an_l1_input_runs_the_matmul_then_adds_the_bias() {
        let e = conv1x1("1,128,64,64", 64, DType::Bfloat16, BufferType::L1, &N150)
            .estimate()
            .unwrap();
        assert_eq!(e.verdict, Verdict::Fits);
        assert_eq!((e.peaks.dataflow, e.peaks.cb), (40_960, 16_384));
    }

    /// The matmul's blocks are chosen within the L1 bank the device leaves beside conv2d's
    /// L1_SMALL (n150, seed 41002: [2,1024,82,89] → 1024 in DRAM, no bias, takes 8 × 16
    /// output blocks, 458,752 B; the whole bank would allow 8 × 32, 851,968 B).
    #[test]
    fn matmul_blocks_fit_the_bank_left_beside_l1_small() {
        let mut c = conv1x1(
            "2,1024,82,89",
            1024,
            DType::Bfloat16,
            BufferType::Dram,
            &N150,
        );
        c.params.set("bias", ParamValue::Bool(false));
        let e = c.estimate().unwrap();
        assert_eq!(e.peaks.dataflow, 458_752);
    }

    /// `shard_layout=height` (`cargo xtask probe --backend metal`, n150): the matmul's
    /// unbound buffers are the weights' whole K for the core's output width and the bias row;
    /// the input and output shards are bound. [1,256,80,80] → 128, bfloat8_b output and
    /// weights, SiLU (YOLOv12x's settings), L1 output: 34,816 + 4,352 B; [1,100,40,40] → 70,
    /// ROW_MAJOR (its 100 channels resharded as 128, then tilized in the shards): 24,576 +
    /// 6,144 B.
    #[test]
    fn height_sharded_matmul_buffers_match_the_runtime() {
        let mut c = conv1x1("1,256,80,80", 128, DType::Bfloat16, BufferType::L1, &N150);
        c.default_output_memory = false;
        yolo_settings(&mut c, "height");
        let e = c.estimate().unwrap();
        assert_eq!((e.verdict, e.peaks.dataflow), (Verdict::Fits, 39_168));
        let mut c = conv1x1("1,100,40,40", 70, DType::Bfloat16, BufferType::L1, &N150);
        c.layout = Layout::RowMajor;
        c.params
            .set("shard_layout", ParamValue::Str("height".into()));
        let e = c.estimate().unwrap();
        assert_eq!((e.verdict, e.peaks.dataflow), (Verdict::Fits, 30_720));
    }

    /// `shard_layout=block` (`cargo xtask probe --backend metal`): the 2D multicast matmul's
    /// in0 and in1 blocks and the bias row, the shards bound; the blocks double-buffered only
    /// when K spans several channel cores. YOLOv12x's a2c2f_cv1 at 640×640 ([1,768,40,40]
    /// bfloat8_b → 384, bfloat8_b output and weights, SiLU, act_block_h 32; 6 channel cores):
    /// 80,512 B on n150, 63,104 B on p150; [1,256,80,80] bfloat16 → 128 (4): 215,040 B and
    /// 174,080 B; [1,256,114,67] bfloat8_b → 662 (8 and 21 channel tiles: one channel core, single
    /// blocks): 466,752 B (the run clashes with an L1 buffer at 487,168 on n150) and 414,528 B.
    #[test]
    fn block_sharded_matmul_buffers_match_the_runtime() {
        use crate::device::P150;
        let cases = [
            ("1,768,40,40", 384, DType::Bfloat8B, [80_512, 63_104]),
            ("1,256,80,80", 128, DType::Bfloat16, [215_040, 174_080]),
            ("1,256,114,67", 662, DType::Bfloat8B, [466_752, 414_528]),
        ];
        for (i, d) in [&N150, &P150].into_iter().enumerate() {
            for (shape, c_out, dtype, peaks) in cases {
                let mut c = conv1x1(shape, c_out, dtype, BufferType::L1, d);
                c.params
                    .set("shard_layout", ParamValue::Str("block".into()));
                if dtype == DType::Bfloat8B {
                    for name in ["dtype", "weights_dtype"] {
                        c.params.set(name, ParamValue::Str("bfloat8_b".into()));
                    }
                }
                if c_out == 384 {
                    c.params.set("activation", ParamValue::Str("silu".into()));
                    c.params.set("act_block_h", ParamValue::Int(32));
                }
                let e = c.estimate().unwrap();
                assert_eq!(e.peaks.dataflow, peaks[i], "{shape} {}", d.name);
            }
        }
    }

    /// A ROW_MAJOR input told BLOCK_SHARDED is tilized where it is, then resharded
    /// (`cargo xtask probe --backend metal`): YOLOv12x's a2c2f_cv1 of the neck at 640×640
    /// (`[1,1536,40,40]` bfloat16 → 384, the YOLO settings) takes 266,368 B of dataflow buffers
    /// on n150 and 200,832 B on p150 after `TilizeMultiCoreBlockProgramFactory`; seed 52301
    /// (n150, `[1,1024,195,106]` [N, H, W, C] → 865): the tilize fits beside conv2d's L1_SMALL
    /// with blocks capped by the 37,536 B left and the reshard runs out of L1, 1,327,104 B per
    /// bank with 1,323,008 B allocated.
    #[test]
    fn a_row_major_input_is_tilized_before_the_block_reshard() {
        use crate::device::P150;
        for (d, peak) in [(&N150, 266_368), (&P150, 200_832)] {
            let mut c = conv1x1("1,1536,40,40", 384, DType::Bfloat16, BufferType::L1, d);
            c.layout = Layout::RowMajor;
            yolo_settings(&mut c, "block");
            c.params.set("act_block_h", ParamValue::Int(32));
            c.params
                .set("reshard_if_not_optimal", ParamValue::Bool(false));
            let plan = c.plan().unwrap();
            let factories: Vec<&str> = plan.programs().map(|p| p.factory).collect();
            assert_eq!(
                factories,
                [
                    "TilizeMultiCoreBlockProgramFactory",
                    "InterleavedToShardedProgramFactory",
                    "MatmulMultiCoreReuseMcast2DProgramFactory"
                ],
                "{}",
                d.name
            );
            let e = c.estimate().unwrap();
            assert_eq!(
                (e.verdict, e.peaks.dataflow),
                (Verdict::Fits, peak),
                "{}",
                d.name
            );
        }
        let mut c = conv1x1(
            "1,1024,195,106",
            865,
            DType::Bfloat16,
            BufferType::L1,
            &N150,
        );
        c.layout = Layout::RowMajor;
        c.device_layout = DeviceLayout::Nhwc;
        c.params
            .set("shard_layout", ParamValue::Str("block".into()));
        match c.estimate().unwrap().verdict {
            Verdict::Oom(o) => assert_eq!((o.per_bank_bytes, o.allocated), (1_327_104, 1_323_008)),
            other => panic!("{other:?}"),
        }
    }

    /// A height-sharded ROW_MAJOR input of rows not whole tiles: where the L1 below
    /// its resharded shards cannot take a block of 32 rows in and out, the runtime tilizes it
    /// in DRAM and refuses (`Input tensor height (67942) must be divisible by tile height
    /// (32)`; seed 41011, p150 `[1,1024,322,211]`): `unmodeled`. Where it can, the tilize runs
    /// in L1 and its output runs out of it, as the plan says (p150, `cargo xtask probe --op
    /// conv2d --shape 1,C,H,W --device-layout nhwc-flat --layout row_major --memory dram
    /// --output-memory default --device p150 --param kernel_size=1,1 --param out_channels=64
    /// --param shard_layout=height --backend metal`: `[1,640,322,211]` 819,200 B per bank over
    /// 107 banks, 609,152 B free; `[1,992,322,211]` 1,269,760 B, 158,592 B free;
    /// `[1,512,685,209]` 1,343,488 B over 110 banks, 84,864 B free; n150 `--device n150`:
    /// `[1,1024,190,204]` refused, `[1,992,190,204]` 1,206,272 B over 64 banks, 154,272 B free;
    /// p150 `--dtype float32`: `[1,512,322,211]` refused, `[1,512,300,211]` 1,179,648 B over 110
    /// banks, 248,704 B free).
    #[test]
    fn row_major_rows_not_whole_tiles_tilize_in_l1_or_answer_unmodeled() {
        use crate::device::P150;
        let case = |shape: &str, dtype: DType, device: &'static DeviceSpec| {
            let mut c = conv1x1(shape, 64, dtype, BufferType::Dram, device);
            c.layout = Layout::RowMajor;
            c.params
                .set("shard_layout", ParamValue::Str("height".into()));
            c
        };
        for (shape, dtype, device) in [
            ("1,1024,322,211", DType::Bfloat16, &P150),
            ("1,512,700,209", DType::Bfloat16, &P150),
            ("1,1024,190,204", DType::Bfloat16, &N150),
            ("1,512,322,211", DType::Float32, &P150),
        ] {
            let err = case(shape, dtype, device)
                .estimate()
                .expect_err("no verdict");
            assert!(crate::exec::is_unmodeled(&err), "{err}");
            assert!(err.to_string().contains("not whole tiles"), "{err}");
        }
        for (shape, dtype, device, per_bank, banks, free) in [
            (
                "1,640,322,211",
                DType::Bfloat16,
                &P150,
                819_200,
                107,
                609_152,
            ),
            (
                "1,992,322,211",
                DType::Bfloat16,
                &P150,
                1_269_760,
                107,
                158_592,
            ),
            (
                "1,512,685,209",
                DType::Bfloat16,
                &P150,
                1_343_488,
                110,
                84_864,
            ),
            (
                "1,992,190,204",
                DType::Bfloat16,
                &N150,
                1_206_272,
                64,
                154_272,
            ),
            (
                "1,512,300,211",
                DType::Float32,
                &P150,
                1_179_648,
                110,
                248_704,
            ),
        ] {
            match case(shape, dtype, device).estimate().unwrap().verdict {
                Verdict::Oom(o) => {
                    assert_eq!((o.per_bank_bytes, o.banks, o.free), (per_bank, banks, free))
                }
                other => panic!("{shape}: {other:?}"),
            }
        }
    }

    /// The copying reshape of a bfloat8_b [N, H, W, C] input in L1 is planned (seed 81032 had
    /// gated it): its bfloat8_b copy stays at 354,688 under the freed bfloat16 round trip, and
    /// the matmul's device run takes its blocks from the 242,944 B below it, so the call fits
    /// where the capture's blocks (dataflow region ending at 383,104) would clash. Runtime,
    /// p150: `cargo xtask probe --op conv2d --shape 2,352,207,132 --device-layout nhwc --dtype
    /// bfloat8_b --memory l1 --output-memory default --device p150 --param kernel_size=1,1
    /// --param out_channels=352 --backend metal`: ok, CB 12,544 B, dataflow 271,360 B, L1
    /// 1,185,408 B.
    #[test]
    fn the_bfloat8_b_reshape_of_an_l1_nhwc_input_is_planned() {
        use crate::device::P150;
        let mut c = conv1x1("2,352,207,132", 352, DType::Bfloat8B, BufferType::L1, &P150);
        c.device_layout = DeviceLayout::Nhwc;
        let e = c.estimate().unwrap();
        assert_eq!(e.verdict, Verdict::Fits);
        assert_eq!(
            (e.peaks.cb, e.peaks.dataflow, e.peaks.l1),
            (12_544, 271_360, 1_185_408)
        );
    }

    /// A bfloat8_b conv's product plus its bfloat16 bias row: the BinaryNg's broadcast CB holds
    /// the bias's tiles (n150, seed 41002: [2,72,38,31], 2,176 + 4,096 + 2,176 + 4,096 B).
    #[test]
    fn the_bias_broadcast_buffer_holds_the_bias_format() {
        let e = conv1x1("2,72,38,31", 72, DType::Bfloat8B, BufferType::L1, &N150)
            .estimate()
            .unwrap();
        assert_eq!((e.peaks.cb, e.peaks.dataflow), (12_544, 23_168));
    }

    /// A float32 1×1 conv with float32 weights accumulates in float32 (conv2d's default compute
    /// config): a bfloat16 output gets the matmul a float32 partials buffer of its own (n150,
    /// seed 1207111: `[3,1024,44,61]` → 88, the runtime's dataflow peak 188,416 B, 49,152 B of
    /// it the partials); a bfloat16 conv with a float32 output sizes its blocks by the float32
    /// tile (p150: `[1,342,18,23]` → 200, the 1D multicast matmul, 61,440 B).
    #[test]
    fn the_matmul_accumulates_as_the_conv_compute_config_says() {
        use crate::device::P150;
        let mut f32_in = conv1x1("3,1024,44,61", 88, DType::Float32, BufferType::L1, &N150);
        f32_in
            .params
            .set("dtype", ParamValue::Str("bfloat16".into()));
        let e = f32_in.estimate().unwrap();
        assert_eq!((e.peaks.cb, e.peaks.dataflow), (24_576, 188_416));
        let mut f32_out = conv1x1("1,342,18,23", 200, DType::Bfloat16, BufferType::L1, &P150);
        f32_out
            .params
            .set("dtype", ParamValue::Str("float32".into()));
        let e = f32_out.estimate().unwrap();
        assert_eq!((e.peaks.cb, e.peaks.dataflow), (24_576, 61_440));
    }

    /// The double buffers and act_block_h_override leave the 1×1 matmul path as it is
    /// (NO_DISPATCH traces equal with and without them, n150: `[1,64,50,50]` → 128 and
    /// `[1,64,100,100]` → 96, the runtime's matmul, HEIGHT_SHARDED and BLOCK_SHARDED), and so
    /// does DRAM slicing of an L1 input: each is planned as the call without it.
    #[test]
    fn the_matmul_path_ignores_double_buffers_act_block_h_and_slices_of_l1() {
        for shard_layout in [None, Some("height"), Some("block")] {
            let mut plain = conv1x1("1,64,100,100", 96, DType::Bfloat16, BufferType::L1, &N150);
            if let Some(s) = shard_layout {
                plain.params.set("shard_layout", ParamValue::Str(s.into()));
            }
            let want = plain.estimate().unwrap();
            for (name, value) in [
                ("enable_act_double_buffer", ParamValue::Bool(true)),
                ("enable_weights_double_buffer", ParamValue::Bool(true)),
                ("act_block_h", ParamValue::Int(160)),
                ("slice", ParamValue::Str("dram_height".into())),
            ] {
                let mut c = plain.clone();
                c.params.set(name, value);
                let got = c.estimate().unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(got.peaks, want.peaks, "{name} {shard_layout:?}");
                assert_eq!(got.verdict, want.verdict, "{name} {shard_layout:?}");
            }
        }
    }

    /// Kernel stride folding of an unpadded DRAM ROW_MAJOR input is planned: the Fold program,
    /// then the 1×1 matmul path on `[N, H/s, W/s, C·s·s]` (n150, `[1,32,64,64]` 2×2 stride 2 →
    /// 64: the runtime's dataflow peak 32,768 B, the matmul's); an unpadded TILE one too (the
    /// same peaks on the runtime: the same folded tensor and matmul).
    #[test]
    fn kernel_stride_folding_of_a_row_major_dram_input_is_planned() {
        let mut c = conv1x1("1,32,64,64", 64, DType::Bfloat16, BufferType::Dram, &N150);
        c.layout = Layout::RowMajor;
        for name in ["kernel_size", "stride"] {
            c.params.set(name, ParamValue::Ints(vec![2, 2]));
        }
        c.params.set("padding", ParamValue::Ints(vec![0, 0]));
        let e = c.estimate().unwrap();
        assert_eq!((e.peaks.cb, e.peaks.dataflow), (0, 32_768));
        c.layout = Layout::Tile;
        let e = c.estimate().unwrap();
        assert_eq!((e.peaks.cb, e.peaks.dataflow), (0, 32_768));
    }

    /// The gates seeds 41003 and 41014 left are planned now, the runtime's traces equal to the
    /// plan's (p150, NO_DISPATCH): a float32 ROW_MAJOR input (`[4,1024,48,83]` → 1024: CB
    /// 32,768 B, dataflow 262,144 B) and the copying reshape of an [N, H, W, C] input told
    /// HEIGHT_SHARDED (`[1,1024,122,201]` → 1024: the dataflow buffers clash with an L1 buffer
    /// at 112,640, their region ending at 115,840, as on the runtime).
    #[test]
    fn the_former_gaps_are_planned_as_the_runtime_runs_them() {
        use crate::device::P150;
        let mut f32_rm = conv1x1("4,1024,48,83", 1024, DType::Float32, BufferType::L1, &P150);
        f32_rm.layout = Layout::RowMajor;
        let e = f32_rm.estimate().unwrap();
        assert_eq!(e.verdict, Verdict::Fits);
        assert_eq!((e.peaks.cb, e.peaks.dataflow), (32_768, 262_144));
        let mut nhwc = conv1x1(
            "1,1024,122,201",
            1024,
            DType::Bfloat16,
            BufferType::L1,
            &P150,
        );
        nhwc.device_layout = DeviceLayout::Nhwc;
        nhwc.params
            .set("shard_layout", ParamValue::Str("height".into()));
        match nhwc.estimate().unwrap().verdict {
            Verdict::CbClash(c) => {
                let m = c.message();
                assert!(m.contains("L1 buffer allocated at 112640"), "{m}");
                assert!(m.contains("region ends at 115840"), "{m}");
            }
            other => panic!("{other:?}"),
        }
    }

    /// deallocate_activation on a ROW_MAJOR L1 input: the input is freed once tilized and the
    /// tilized copy moved down into its space (seed 1230112, n150: `[1,1024,80,131]` float32
    /// [N, H, W, C] → 1024, weights double-buffered: the runtime fits, CB 32,768 B, dataflow
    /// 262,144 B, L1 1,343,488 B; left where it was, the copy met the matmul's CBs).
    #[test]
    fn deallocate_activation_moves_the_tilized_input() {
        let mut c = conv1x1("1,1024,80,131", 1024, DType::Float32, BufferType::L1, &N150);
        c.layout = Layout::RowMajor;
        c.device_layout = DeviceLayout::Nhwc;
        c.output_memory = BufferType::L1;
        c.default_output_memory = false;
        for (k, v) in [
            ("padding", ParamValue::Ints(vec![0, 0])),
            ("deallocate_activation", ParamValue::Bool(true)),
            ("enable_weights_double_buffer", ParamValue::Bool(true)),
            ("reallocate_halo_output", ParamValue::Bool(false)),
            ("slice", ParamValue::Str("dram_height".into())),
        ] {
            c.params.set(k, v);
        }
        let e = c.estimate().unwrap();
        assert_eq!(e.verdict, Verdict::Fits);
        assert_eq!(
            (e.peaks.cb, e.peaks.dataflow, e.peaks.l1),
            (32_768, 262_144, 1_343_488)
        );
    }

    /// deallocate_activation on the matmul path of an L1 interleaved input told a shard_layout:
    /// the input goes once resharded, the shards are moved, then freed after the matmul, before
    /// the output's copy to L1 interleaved. Runtime per-core peaks (CB, dataflow, L1), from
    /// `cargo xtask probe --op conv2d --shape S --device-layout nhwc-flat|nhwc --layout L
    /// --memory l1 --param kernel_size=1,1 --param deallocate_activation=true --param
    /// shard_layout=height|block --param out_channels=C --device n150|p150 --backend metal
    /// --trace` (whose traces equal the sim's).
    #[test]
    fn deallocate_activation_frees_the_matmul_input_shards() {
        use crate::device::P150;
        let check = |shape: &str,
                     c_out: i64,
                     (layout, device_layout): (Layout, DeviceLayout),
                     (scheme, output_memory): (&str, BufferType),
                     device: &'static DeviceSpec,
                     peaks: [u64; 3]| {
            let mut c = conv1x1(shape, c_out, DType::Bfloat16, BufferType::L1, device);
            c.layout = layout;
            c.device_layout = device_layout;
            c.output_memory = output_memory;
            c.default_output_memory = false;
            c.params
                .set("deallocate_activation", ParamValue::Bool(true));
            c.params.set("shard_layout", ParamValue::Str(scheme.into()));
            let e = c
                .estimate()
                .unwrap_or_else(|e| panic!("{shape} {scheme}: {e}"));
            assert_eq!(e.verdict, Verdict::Fits, "{shape} {scheme}");
            assert_eq!(
                [e.peaks.cb, e.peaks.dataflow, e.peaks.l1],
                peaks,
                "{shape} {layout:?} {scheme}"
            );
        };
        let (tile_flat, rm_flat) = (
            (Layout::Tile, DeviceLayout::NhwcFlat),
            (Layout::RowMajor, DeviceLayout::NhwcFlat),
        );
        // Kept to the end, the shards made the plan's L1 peak 40,960 B.
        let height = ("height", BufferType::L1);
        check(
            "1,256,32,32",
            256,
            tile_flat,
            height,
            &N150,
            [0, 147_456, 32_768],
        );
        let block = ("block", BufferType::L1);
        check(
            "1,880,10,6",
            256,
            tile_flat,
            block,
            &N150,
            [0, 90_112, 18_432],
        );
        check(
            "1,880,10,6",
            256,
            rm_flat,
            block,
            &N150,
            [0, 114_688, 18_432],
        );
        let rm_nhwc = (Layout::RowMajor, DeviceLayout::Nhwc);
        check(
            "1,100,30,40",
            64,
            rm_nhwc,
            block,
            &P150,
            [0, 43_008, 24_576],
        );
        // The output copied to DRAM (`--output-memory dram`).
        let block_to_dram = ("block", BufferType::Dram);
        check(
            "1,256,32,32",
            256,
            tile_flat,
            block_to_dram,
            &N150,
            [0, 22_528, 16_384],
        );
    }

    /// The matmul path with shard_layout unset still meets the auto-shard estimate's refusal
    /// of an act_block_h_override taller than the width candidate's output shard, sliced or not
    /// (seed 1230112, n150: `[1,32,5,6]` float32 ROW_MAJOR in DRAM, act_block_h 256, 6 told
    /// width slices; probed in L1, DRAM and L1_FULL too, and a folded 2×2 stride 2 on
    /// `[1,32,8,8]`); told HEIGHT_SHARDED or BLOCK_SHARDED, it runs.
    #[test]
    fn the_matmul_path_meets_the_auto_shard_refusal() {
        let refusal = |c: &Case| c.estimate().expect_err("refused").to_string();
        let mut c = conv1x1("1,32,5,6", 32, DType::Bfloat16, BufferType::L1, &N150);
        c.layout = Layout::RowMajor;
        c.params.set("act_block_h", ParamValue::Int(256));
        assert!(
            refusal(&c).contains("Conv2d output block size 8 exceeds the per-core output size 1")
        );
        let mut sliced = c.clone();
        sliced.input_memory = BufferType::Dram;
        sliced.output_memory = BufferType::Dram;
        sliced
            .params
            .set("slice", ParamValue::Str("dram_width".into()));
        sliced.params.set("num_slices", ParamValue::Int(6));
        assert!(refusal(&sliced).contains("output block size 8"));
        for scheme in ["height", "block"] {
            let mut told = c.clone();
            told.params
                .set("shard_layout", ParamValue::Str(scheme.into()));
            assert_eq!(told.estimate().unwrap().verdict, Verdict::Fits, "{scheme}");
        }
        let mut folded = conv1x1("1,32,8,8", 32, DType::Bfloat16, BufferType::Dram, &N150);
        folded.layout = Layout::RowMajor;
        for (k, v) in [
            ("kernel_size", ParamValue::Ints(vec![2, 2])),
            ("stride", ParamValue::Ints(vec![2, 2])),
            ("padding", ParamValue::Ints(vec![0, 0])),
            ("act_block_h", ParamValue::Int(64)),
        ] {
            folded.params.set(k, v);
        }
        assert!(refusal(&folded).contains("output block size 2 exceeds the per-core output size 1"));
    }

    /// The auto-shard estimate's width candidate of a matmul conv keeps the input's channel
    /// cores for its output (random differential seed 1260003, n150: `[1,81,2,5]` 1×1 → 372,
    /// act_block_h 64, in L1: "Conv2d output block size 8 exceeds the per-core output size 4",
    /// 3 cores of 4 output tiles where the halo path's own output cores would be 12 of 1).
    #[test]
    fn the_matmul_paths_refusal_keeps_the_input_channel_cores() {
        let mut c = conv1x1("1,81,2,5", 372, DType::Bfloat16, BufferType::L1, &N150);
        c.params.set("act_block_h", ParamValue::Int(64));
        let refusal = c.estimate().expect_err("refused").to_string();
        assert!(
            refusal.contains("Conv2d output block size 8 exceeds the per-core output size 4"),
            "{refusal}"
        );
    }

    /// A float32 input to the block-sharded 1×1 matmul path (`cargo xtask probe --backend
    /// metal --trace`, `[1,256,40,40]` float32 → 128, weights float32 by default, L1):
    /// with a bfloat16 output the 2D multicast matmul takes a float32 partials CB beside its
    /// output shard (n150: 114,688 + 16,384 + 28,672 + 4,096 B unbound, 163,840 B; p150:
    /// 81,920 + 16,384 + 20,480 + 4,096 B, 122,880 B); a float32 output needs none (n150:
    /// 135,168 B).
    #[test]
    fn a_float32_block_sharded_matmul_has_a_partials_buffer() {
        use crate::device::P150;
        for (d, out_dtype, peak) in [
            (&N150, "bfloat16", 163_840),
            (&P150, "bfloat16", 122_880),
            (&N150, "float32", 135_168),
        ] {
            let mut c = conv1x1("1,256,40,40", 128, DType::Float32, BufferType::L1, d);
            c.default_output_memory = false;
            c.params
                .set("shard_layout", ParamValue::Str("block".into()));
            c.params.set("dtype", ParamValue::Str(out_dtype.into()));
            let e = c.estimate().unwrap();
            assert_eq!(
                (e.verdict, e.peaks.dataflow),
                (Verdict::Fits, peak),
                "{} {out_dtype}",
                d.name
            );
        }
    }

    /// A padded ROW_MAJOR DRAM fold pads first (the runtime's NO_DISPATCH traces): n150
    /// `[1,32,64,64]` 2×2 stride 2 padding 1 → 64 runs the multi-core pad to `[1,66,66,32]`
    /// (32,768 B of rows and a 64 B scratchpad on all 64 cores), then the Fold on 61 cores
    /// (512 B); p150 float32 `[1,17,21,27]` 3×3 stride 3 padding [3, 0]: 68 B sticks off the
    /// DRAM alignment, so the Fold takes a 612 B scratch beside its 2,304 B.
    #[test]
    fn a_padded_row_major_fold_pads_then_folds() {
        use crate::device::P150;
        let programs = |c: &Case| -> Vec<(String, Vec<u64>)> {
            c.plan()
                .unwrap()
                .steps
                .iter()
                .filter_map(|s| match s {
                    crate::plan::Step::Run(p) => Some((
                        p.factory.to_string(),
                        p.cbs.iter().map(|cb| cb.size).collect(),
                    )),
                    _ => None,
                })
                .collect()
        };
        let fold = |shape, c_out, dtype, device, kernel: i64, pad: Vec<i64>| {
            let mut c = conv1x1(shape, c_out, dtype, BufferType::Dram, device);
            c.layout = Layout::RowMajor;
            for name in ["kernel_size", "stride"] {
                c.params.set(name, ParamValue::Ints(vec![kernel, kernel]));
            }
            c.params.set("padding", ParamValue::Ints(pad));
            c
        };
        let n150 = fold("1,32,64,64", 64, DType::Bfloat16, &N150, 2, vec![1, 1]);
        let got = programs(&n150);
        assert_eq!(
            got[..2],
            [
                (
                    "PadRmReaderWriterMultiCoreDefaultProgramFactory".to_string(),
                    vec![32_768, 64]
                ),
                ("MultiCoreDRAMFold".to_string(), vec![512]),
            ]
        );
        let p150 = fold("1,17,21,27", 40, DType::Float32, &P150, 3, vec![3, 0]);
        let got = programs(&p150);
        assert_eq!(got[1], ("MultiCoreDRAMFold".to_string(), vec![2_304, 612]));
    }

    /// The programs of `c`'s plan: factory, CB sizes and the cores of the first CB.
    fn run_programs(c: &Case) -> Vec<(String, Vec<u64>, u64)> {
        c.plan()
            .unwrap()
            .steps
            .iter()
            .filter_map(|s| match s {
                crate::plan::Step::Run(p) => Some((
                    p.factory.to_string(),
                    p.cbs.iter().map(|cb| cb.size).collect(),
                    p.cbs.first().map_or(0, |cb| cb.cores.cores()),
                )),
                _ => None,
            })
            .collect()
    }

    /// An unpadded DRAM TILE `shape` folded by a `kernel` = stride to 64 channels.
    fn tile_fold(shape: &str, dtype: DType, device: &'static DeviceSpec, kernel: [i64; 2]) -> Case {
        let mut c = conv1x1(shape, 64, dtype, BufferType::Dram, device);
        for name in ["kernel_size", "stride"] {
            c.params.set(name, ParamValue::Ints(kernel.to_vec()));
        }
        c.params.set("padding", ParamValue::Ints(vec![0, 0]));
        c
    }

    /// A TILE input whose rows are whole L1 words is folded from its tiles by the Fold itself
    /// (the runtime's NO_DISPATCH traces, equal to the plan's but for the order of the frees at
    /// the end): blocks of N·H/s_h patch rows split over the grid, two rows of C's tiles in
    /// (the input's) and out (bfloat16 for bfloat8_b) and s_h·W·C elements of one patch row;
    /// then the ROW_MAJOR folded tensor's matmul. Probed with `cargo xtask probe --op conv2d
    /// --shape 1,32,64,64 --device-layout nhwc-flat --memory dram --param kernel_size=2,2
    /// --param stride=2,2 --param padding=0,0 --param out_channels=64 --device n150 --backend
    /// metal --trace` (and the shapes, dtypes and boards below).
    #[test]
    fn a_tile_fold_of_whole_word_rows_folds_the_tiles() {
        use crate::device::P150;
        let fold = |shape, dtype, device, kernel| {
            run_programs(&tile_fold(shape, dtype, device, kernel))[0].clone()
        };
        let want = |cbs: &[u64], cores| ("MultiCoreDRAMFold".to_string(), cbs.to_vec(), cores);
        assert_eq!(
            fold("1,32,64,64", DType::Bfloat16, &N150, [2, 2]),
            want(&[4_096, 4_096, 8_192], 32)
        );
        assert_eq!(
            fold("1,96,48,96", DType::Bfloat16, &N150, [3, 3]),
            want(&[12_288, 12_288, 55_296], 16)
        );
        assert_eq!(
            fold("1,32,64,64", DType::Bfloat8B, &N150, [2, 2]),
            want(&[2_176, 4_096, 8_192], 32)
        );
        // 130 patch rows: 3 a core on 44 cores.
        assert_eq!(
            fold("1,32,260,64", DType::Bfloat16, &N150, [2, 2]),
            want(&[4_096, 4_096, 8_192], 44)
        );
        // 8 bfloat16 channels are 16 B, an L1 word: folded from the tiles.
        assert_eq!(
            fold("1,8,64,64", DType::Bfloat16, &N150, [2, 2]),
            want(&[4_096, 4_096, 2_048], 32)
        );
        assert_eq!(
            fold("1,4,64,64", DType::Float32, &N150, [2, 2]),
            want(&[8_192, 8_192, 2_048], 32)
        );
        assert_eq!(
            fold("1,520,8,32", DType::Float32, &P150, [2, 2]),
            want(&[139_264, 139_264, 133_120], 4)
        );
        assert_eq!(
            fold("2,8,64,32", DType::Bfloat8B, &P150, [2, 1]),
            want(&[2_176, 4_096, 1_024], 64)
        );
    }

    /// A TILE input of rows off the L1 words (bfloat16 C = 3, 4, 6, 9, 10, 12, 17; float32 C = 9,
    /// 17) is untilized into DRAM first and folded as ROW_MAJOR rows; one whose width is not
    /// whole tiles is reshaped to `[N, H, W, C]` first (ReshapeViewTiled, its page map scratch
    /// freed), and the copies go once folded, the untilized one first (n150 NO_DISPATCH traces:
    /// `[1,17,64,64]` 2×2 untilize 2,048 + 2,048 B on 64 cores, Fold 512 + 136 B; `[1,17,64,48]`
    /// reshape, untilize, Fold, free, free; `[1,32,64,48]` reshape, Fold of the tiles on 32
    /// cores, free).
    #[test]
    fn a_tile_fold_of_narrow_rows_untilizes_first() {
        let names = |c: &Case| -> Vec<String> {
            run_programs(c).into_iter().map(|p| p.0).take(3).collect()
        };
        let c17 = tile_fold("1,17,64,64", DType::Bfloat16, &N150, [2, 2]);
        let got = run_programs(&c17);
        assert_eq!(
            got[..2],
            [
                (
                    "UntilizeWithUnpaddingMultiCoreInterleavedProgramFactory".to_string(),
                    vec![2_048, 2_048],
                    64
                ),
                ("MultiCoreDRAMFold".to_string(), vec![512, 136], 64),
            ]
        );
        let c4 = tile_fold("1,4,64,64", DType::Bfloat16, &N150, [2, 2]);
        assert_eq!(
            names(&c4)[0],
            "UntilizeWithUnpaddingMultiCoreInterleavedProgramFactory"
        );
        let w48 = tile_fold("1,17,64,48", DType::Bfloat16, &N150, [2, 2]);
        assert_eq!(
            names(&w48),
            [
                "ReshapeViewTiledProgramFactory",
                "UntilizeWithUnpaddingMultiCoreInterleavedProgramFactory",
                "MultiCoreDRAMFold"
            ]
        );
        // After the Fold the untilized copy then the reshape's output are freed, before the
        // weights.
        let plan = w48.plan().unwrap();
        let fold_at = plan
            .steps
            .iter()
            .position(|s| matches!(s, crate::plan::Step::Run(p) if p.op == "Fold"))
            .unwrap();
        let what = |s: &crate::plan::Step| match s {
            crate::plan::Step::Free(i) | crate::plan::Step::Alloc(i) => plan.buffers[*i].what,
            crate::plan::Step::Run(_) => "run",
        };
        let after: Vec<_> = plan.steps[fold_at + 1..fold_at + 4]
            .iter()
            .map(what)
            .collect();
        assert_eq!(
            after,
            ["untilized", "output", "weights"],
            "{:?}",
            plan.steps
        );
        let w48_c32 = tile_fold("1,32,64,48", DType::Bfloat16, &N150, [2, 2]);
        assert_eq!(
            names(&w48_c32)[..2],
            ["ReshapeViewTiledProgramFactory", "MultiCoreDRAMFold"]
        );
    }

    /// A grouped conv folds as groups 1 does: the folded matmul's weights are the whole
    /// block-diagonal matrix (n150 NO_DISPATCH traces equal to the plan's, but for the end's
    /// free order: `[1,32,64,64]` ROW_MAJOR 2×2 depthwise → 32, weights 8,192 B; TILE groups 4
    /// → 64, 16,384 B; p150 float32 `[1,24,30,60]` 3×3 depthwise), and deallocate_activation or
    /// a slice_config leave the fold of a DRAM input as it is (traces equal with and without:
    /// DRAM_HEIGHT 2 and 40 slices, DRAM_WIDTH 3, L1_FULL).
    #[test]
    fn grouped_folds_and_fold_settings_plan_as_the_plain_fold() {
        let plain = tile_fold("1,32,64,64", DType::Bfloat16, &N150, [2, 2]);
        let want = plain.estimate().unwrap();
        let mut grouped = plain.clone();
        grouped.params.set("groups", ParamValue::Int(4));
        let mut depthwise = plain.clone();
        depthwise.params.set("groups", ParamValue::Int(32));
        depthwise.params.set("out_channels", ParamValue::Int(32));
        let weights = |c: &Case| {
            let plan = c.plan().unwrap();
            let b = plan.buffers.iter().find(|b| b.what == "weights").unwrap();
            b.placement.total_bytes
        };
        assert_eq!(weights(&grouped), 16_384);
        assert_eq!(weights(&depthwise), 8_192);
        for (k, v) in [
            ("deallocate_activation", ParamValue::Bool(true)),
            ("slice", ParamValue::Str("l1_full".into())),
        ] {
            let mut c = plain.clone();
            c.params.set(k, v);
            let got = c.estimate().unwrap();
            assert_eq!(
                (got.peaks, got.verdict),
                (want.peaks, want.verdict.clone()),
                "{k}"
            );
        }
    }

    /// The copying reshape of a bfloat8_b [N, H, W, C] input in DRAM is planned as
    /// `ttnn.reshape`'s round trip through bfloat16, all in DRAM: typecast (2,176 + 4,096 B
    /// on 40 cores), ReshapeViewTiled (1,536 + 2,048 + 2,048 B scratchpad on 25 cores, its
    /// DRAM page map freed), typecast back (4,096 + 2,176 B), both bfloat16 copies freed
    /// before the weights (n150 `[1,32,20,40]` → 64, trace equal to the runtime's:
    /// `cargo xtask probe --op conv2d --shape 1,32,20,40 --device-layout nhwc --memory dram
    /// --dtype bfloat8_b --param kernel_size=1,1 --param stride=1,1 --param padding=0,0
    /// --param out_channels=64 --device n150 --backend metal --trace`).
    #[test]
    fn a_bfloat8_b_dram_input_is_reshaped_through_bfloat16() {
        let mut c = conv1x1("1,32,20,40", 64, DType::Bfloat8B, BufferType::Dram, &N150);
        c.device_layout = DeviceLayout::Nhwc;
        let got: Vec<(String, Vec<u64>, u64)> = run_programs(&c).into_iter().take(3).collect();
        assert_eq!(
            got,
            [
                ("TypecastProgramFactory".to_string(), vec![2_176, 4_096], 40),
                (
                    "ReshapeViewTiledProgramFactory".to_string(),
                    vec![1_536, 2_048, 2_048],
                    25
                ),
                ("TypecastProgramFactory".to_string(), vec![4_096, 2_176], 25),
            ]
        );
        assert_eq!(c.estimate().unwrap().verdict, Verdict::Fits);
    }
}
