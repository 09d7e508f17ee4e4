//! Moves between memories and layouts: to_memory_config, to_layout and the copies they make.

use super::*;

/// `ttnn.to_memory_config` between interleaved memories (to_memory_config_op.hpp): the input
/// itself when the memory is its own (whatever `dtype` says), else `ttnn::prim::copy`
/// (CopyDeviceOperation) into `mem` with the output dtype; a dtype change adds the output's
/// two tiles beside the input's (copy_program_factory.cpp's `convert_dtype` CB).
pub(in crate::exec) fn to_memory_config(
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
pub(in crate::exec) fn converting_copy(
    ex: &mut Exec<'_>,
    x: &DevTensor,
    d: DType,
    mem: BufferType,
) -> Result<DevTensor, CaseError> {
    let spec = TensorSpec::new(x.shape().clone(), d, Layout::Tile);
    let out = ex.b.tensor("output", BufferRole::Temporary, spec, mem)?;
    ex.b.run(converting_copy_program(ex.device(), x, d));
    Ok(out)
}

/// The program of [`converting_copy`].
fn converting_copy_program(device: &crate::device::DeviceSpec, x: &DevTensor, d: DType) -> Program {
    let w = grid::split_work(device, tiles(&x.spec), false);
    let cores = grid::merge_ranges(&w.all);
    Program::new("CopyDeviceOperation", "DefaultTilized")
        .cb(CbKind::Dataflow, 2 * tile_size(x.dtype()), &cores)
        .cb(CbKind::Dataflow, 2 * tile_size(d), &cores)
}

/// `ShardedToInterleavedProgramFactory`: the output allocated interleaved in `mem`, one dataflow
/// buffer on the shard cores that borrows the input's shard (`borrows_memory`: it takes no room),
/// a whole shard in size even where the last shard is partial (seen on the runtime, n150:
/// [1,1,25600,192] bfloat8_b height-sharded on 62 cores, 84,864 B = 13 × 6 tiles of 1,088 B;
/// [1,1,6400,384] block-sharded on 6 × 8 cores, 54,400 B).
pub(in crate::exec) fn sharded_to_interleaved(
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
    // `can_use_sharded_to_interleaved` (to_memory_config_op.cpp): the converted tiles' buffer
    // must be smaller than the L1 from the allocator's base up to the lowest occupied address,
    // else `ttnn::copy` moves the shard two tiles at a time. A NO_DISPATCH capture allocates
    // nothing for real and sees the whole bank (traced: [1,1,2048,W] bfloat16 height-sharded
    // to float32 runs the sharded factory up to 1,392,640 B and the tilized copy from
    // 1,396,736 B on n150, whose bank is 1,393,312 B; on p150 up to 1,458,176 B and from
    // 1,462,272 B, bank 1,461,120 B).
    if let Some((d, bytes)) = converted {
        if bytes >= ex.device().l1_bank_bytes {
            return converting_copy(ex, x, d, mem);
        }
    }
    // A device run decides on the L1 below its input shard (the lowest buffer, or one below
    // it): captured on the mock n150 with a [4,960,6976] bfloat8_b height-sharded input
    // converted to bfloat16 (892,928 B of tiles), the sharded factory with 892,960 B free below
    // a later L1 buffer, the copy with 892,928 B (equal) and with a 901,120 B hole above the
    // shard but only 17,824 B below it; p150 [1,1,2975,10460] bfloat8_b block-sharded to
    // float32 in L1 clashes at the copy's 2 × 1,088 + 2 × 4,096 B with the output at 111,872.
    let run_copies = converted.is_some_and(|(_, bytes)| {
        ex.b.l1_free_below_lowest()
            .is_some_and(|free| bytes >= free)
    });
    let bytes = crate::exec::eltwise::shard_bytes(&shard, x.dtype());
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
    if let Some((d, bytes)) = converted {
        // `convert_df`: the converted tiles' own buffer, a whole shard of output tiles, each
        // aligned as the output's memory (sharded_to_interleaved_program_factory.cpp; traced on
        // n150: [1,1,25600,192] height-sharded to bfloat8_b in DRAM, 84,864 B = 78 × 1,088).
        p.push(Cb::new(CbKind::Dataflow, bytes, shard.cores.clone()));
        if run_copies {
            p = p.on_device(converting_copy_program(ex.device(), x, d));
        }
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
pub(in crate::exec) fn row_major_copy_program(
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
    let chunk = crate::exec::eltwise::COPY_ROW_CHUNK_BUFFER / 2;
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
pub(in crate::exec) fn to_layout(
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

#[cfg(test)]
mod tests {
    use crate::case::Case;
    use crate::case::Verdict;
    use crate::device::{BufferType, DeviceSpec, N150, P150};
    use crate::dtype::DType;
    use crate::params::ParamValue;
    use crate::shape::Shape;
    use crate::shard::ShardStrategy;

    /// A sharded L1 input moved interleaved into `out` as `to`.
    fn converting_move(
        shape: &str,
        from: DType,
        sharding: ShardStrategy,
        to: &str,
        out: BufferType,
        device: &'static DeviceSpec,
    ) -> Case {
        let mut c = Case::new(
            crate::ops::find("to_memory_config").unwrap(),
            vec![Shape::parse(shape).unwrap()],
            device,
        );
        c.dtype = from;
        c.input_memory = BufferType::L1;
        c.output_memory = out;
        c.sharding = Some(sharding);
        c.params.set("dtype", ParamValue::Str(to.into()));
        c
    }

    /// The factories a plan's programs build: as captured, and as a device run builds them.
    fn factories(c: &Case) -> Vec<(&'static str, &'static str)> {
        let plan = c.plan().unwrap();
        plan.programs()
            .map(|p| (p.factory, p.as_run().factory))
            .collect()
    }

    /// The capture keeps the sharded factory (it sees the whole bank) while a device run copies
    /// where the converted tiles reach the input shard (probe: `cargo xtask probe --op
    /// to_memory_config --shape 1,1,2975,10460 --dtype bfloat8_b --memory l1_block_sharded
    /// --output-memory l1 --param dtype=float32 --device p150 --backend metal`: captured
    /// 326,400 + 1,228,800 B, run clashes with the output at 111,872 where the copy's
    /// 2 × 1,088 + 2 × 4,096 B end, 122,112).
    #[test]
    fn a_converted_shard_past_the_input_shard_is_copied_on_the_device() {
        let c = converting_move(
            "1,1,2975,10460",
            DType::Bfloat8B,
            ShardStrategy::Block,
            "float32",
            BufferType::L1,
            &P150,
        );
        assert_eq!(
            factories(&c),
            [("ShardedToInterleavedProgramFactory", "DefaultTilized")]
        );
        assert_eq!(
            c.estimate().unwrap().verdict.message(),
            "Statically allocated dataflow buffers in program 0 clash with L1 buffers on core range [0-0 - 10-9]. L1 buffer allocated at 111872 and static dataflow buffer region ends at 122112"
        );
    }

    /// The copy is chosen where the converted tiles take all the L1 below the input shard, equal
    /// included (measured on the mock n150 with a graph capture after real allocations, a
    /// [4,960,6976] bfloat8_b height-sharded input to bfloat16: 892,928 B of tiles copied with
    /// 892,928 B free below the lowest buffer, sharded with 892,960 B). [4,960,7104] leaves
    /// 910,240 B below its shard for 909,312 B (sharded: its run clashes with the output at
    /// 162,048); [4,960,7136] 908,064 B for 913,408 B (copied: it runs).
    #[test]
    fn a_device_run_copies_where_the_converted_tiles_reach_the_lowest_buffer() {
        let move_ = |w: u64| {
            converting_move(
                &format!("4,960,{w}"),
                DType::Bfloat8B,
                ShardStrategy::Height,
                "bfloat16",
                BufferType::L1,
                &N150,
            )
        };
        let c = move_(7104);
        assert_eq!(
            factories(&c),
            [(
                "ShardedToInterleavedProgramFactory",
                "ShardedToInterleavedProgramFactory"
            )]
        );
        assert_eq!(
            c.estimate().unwrap().verdict.message(),
            "Statically allocated dataflow buffers in program 0 clash with L1 buffers on core range [0-0 - 7-6]. L1 buffer allocated at 162048 and static dataflow buffer region ends at 1015136"
        );
        let c = move_(7136);
        assert_eq!(
            factories(&c),
            [("ShardedToInterleavedProgramFactory", "DefaultTilized")]
        );
        assert_eq!(c.estimate().unwrap().verdict, Verdict::Fits);
    }

    /// Into DRAM as well: a [2,4721,2031] float32 width-sharded input to bfloat8_b leaves
    /// 180,896 B below its 1,212,416 B shard for 322,048 B of tiles, and runs (mock n150; the
    /// random to_memory_config draw that gated it, seed 31).
    #[test]
    fn a_converted_shard_into_dram_is_copied_when_it_reaches_the_input_shard() {
        let c = converting_move(
            "2,4721,2031",
            DType::Float32,
            ShardStrategy::Width,
            "bfloat8_b",
            BufferType::Dram,
            &N150,
        );
        assert_eq!(
            factories(&c),
            [("ShardedToInterleavedProgramFactory", "DefaultTilized")]
        );
        assert_eq!(c.estimate().unwrap().verdict, Verdict::Fits);
    }
}
