//! slice and split: the row-major and tiled slice programs, split's batching and default memory.

use super::*;

/// `SliceTileProgramFactory`: a slice of a TILE tensor starting on tile boundaries.
pub(in crate::exec) fn slice_tile(
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
pub(in crate::exec) fn merge_num_sticks_to_read(sticks: u64, stick: u64, max: u64) -> u64 {
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
pub(in crate::exec) fn live_l1_per_bank(ex: &Exec<'_>) -> u64 {
    ex.b.live_l1_per_bank()
}

/// The sub-row chunk of `compute_dfb_size` and its count per row; `None` where the runtime's
/// budget is too small for any chunk (it refuses the slice).
pub(in crate::exec) fn slice_chunk(row: u64, budget: u64, align: u64) -> Option<(u64, u64)> {
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
pub(in crate::exec) fn slice_rm(
    ex: &mut Exec<'_>,
    x: &DevTensor,
    begins_last: u64,
    out_dims: Vec<u64>,
    mem: BufferType,
    refuse_over_budget: bool,
    cache: &mut ProgramCache,
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
    // call counts in the free-L1 figure only. A device run stopped before (a default-memory
    // split's move of its L1 input to DRAM clashing with that input) built no slice for the
    // capture to take from the program cache: the capture sizes its rows on the whole bank
    // (random split seeds 41 / 43, n150 and p150: [1,181,164736] uint16 from L1 by 15 along
    // dim 1 captures 2 × 329,472 B whole rows after the run's copy clashed).
    let normal_run_got_here = ex.b.own_live_l1_per_bank() <= bank && !ex.b.device_run_stopped();
    // The program cache hashes the slice's range, not the L1 its build found free: a later
    // slice of the same range runs the first one's buffers, clashing where L1 has filled up
    // since (seen on p150: [992,3456] bfloat16 / bfloat8_b from L1 split by 1 along dim -2,
    // each window of 64 rows sliced row by row; a later window's SliceRm of 2 × 6,912 B whole
    // rows clashes on core (0,0) with the L1 buffer at 124,416 / 125,056 B, where a build on
    // the L1 left would chunk them).
    let on_device = normal_run_got_here.then(|| program(bank.saturating_sub(live)));
    let p = cache.choose(program(bank), on_device, 0, 0, false);
    ex.b.run(p);
    Ok(out)
}

/// `ttnn.slice` of the last-dim range `[begin, end)` along `dim` (steps of 1): tile slices
/// when the start is tile aligned, else untilize, row-major slice, tilize.
pub(in crate::exec) fn slice(
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
pub(in crate::exec) fn slice_cached(
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
            caches.of_slice(x, dim, begin, end, mem),
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
        caches.of_slice(&rm, dim, begin, end, mem),
    )?;
    if x.dtype() == DType::Uint8 {
        // The padding tilize refuses uint8 once the untilize and the slice have run and its
        // own output is allocated (seen on the runtime, both boards; in L1 that output can run
        // out first: seed 1207341, n150 [1,1,6011,4246] halved along dim 3 from L1 fails on its
        // 201,728 B per bank).
        let tiled = refused_padding_tilize(ex, sliced.shape(), sliced.dtype(), mem)?;
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
pub(in crate::exec) fn max_cores_divisible(tiles: u64, max_cores: u64, request_even: bool) -> u64 {
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
pub(in crate::exec) fn split_default_memory(
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
    // Between the two the device and the runtime's capture disagree. Device runs (mock boards,
    // session 8) move the chunks to DRAM exactly where `need` passes the free L1 beside the live
    // buffers: ROW_MAJOR bfloat16 [R,3488] into [303,1198,769,586,632] on n150 stays in L1 to
    // R = 190 and goes to DRAM from 191; [4,R,160] into 23 chunks of 7 on p150 stays to 984, goes
    // from 988. The NO_DISPATCH capture sees the whole bank and keeps them in L1 (random split
    // seed 1207604, p150 R = 992), where SliceRm's dataflow buffers are smaller (4,096 B a core
    // against 16,384 B for DRAM chunks; n150 R = 192: 6,272 against 13,952). A plan holds one
    // placement, so neither answer can be checked against the other: unmodeled.
    if need > free && need <= bank {
        return Err(unmodeled(
            "ttnn.split",
            "a default-memory split whose L1 estimate falls between the free L1 beside the live buffers and the whole bank (a device run puts its chunks in DRAM, the runtime's capture keeps them in L1)",
        ));
    }
    Ok(if need > free {
        BufferType::Dram
    } else {
        BufferType::L1
    })
}

/// `ttnn.split` (split.cpp): the two-chunk last-dim kernel where it applies, else one slice per
/// chunk.
pub(in crate::exec) fn split(
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
pub(in crate::exec) const SPLIT_BATCH_SIZE: usize = 64;

/// One slice of `x` per piece of `sizes` along `dim`, the last ones clipped to its extent.
pub(in crate::exec) fn slice_pieces(
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
pub(in crate::exec) fn split_kernel_takes_one_piece(
    ex: &Exec<'_>,
    x: &DevTensor,
    dim: usize,
) -> bool {
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
pub(in crate::exec) fn split_program(
    ex: &mut Exec<'_>,
    x: &DevTensor,
    padded: &[u64],
    request_even: bool,
) {
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
pub(in crate::exec) fn split_kernel_one_piece(
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

#[cfg(test)]
mod tests {
    use crate::case::Case;
    use crate::device::{BufferType, N150};
    use crate::dtype::DType;
    use crate::layout::Layout;
    use crate::params::ParamValue;
    use crate::shape::Shape;

    /// A default-memory ROW_MAJOR split of an L1 input into more than two pieces.
    fn split_to_default(shape: &str, dtype: DType, params: &[(&str, i64)]) -> Case {
        let mut c = Case::new(
            crate::ops::find("split").unwrap(),
            vec![Shape::parse(shape).unwrap()],
            &N150,
        );
        c.dtype = dtype;
        c.layout = Layout::RowMajor;
        c.input_memory = BufferType::L1;
        for (k, v) in params {
            c.params.set(k, ParamValue::Int(*v));
        }
        c.with_default_output_memory()
    }

    /// Moved to DRAM beside its L1 input, the device run's copy clashes with that input, so
    /// the capture builds its slices on the whole bank: whole rows, two a buffer (probe:
    /// `cargo xtask probe --op split --shape 1,1,160,108384 --dtype float32 --layout row_major
    /// --memory l1 --output-memory default --param chunks=3 --param dim=-2 --device n150
    /// --backend metal`: the copy's 2 × 256 KiB + 256 KiB end at 892,256, the input at
    /// 198,528; the capture's slices 2 × 433,536 B).
    #[test]
    fn a_split_moved_to_dram_beside_its_l1_input_slices_whole_rows_in_the_capture() {
        let c = split_to_default(
            "1,1,160,108384",
            DType::Float32,
            &[("chunks", 3), ("dim", -2)],
        );
        let e = c.estimate().unwrap();
        assert_eq!(
            e.verdict.message(),
            "Statically allocated dataflow buffers in program 0 clash with L1 buffers on core range [0-0 - 7-7]. L1 buffer allocated at 198528 and static dataflow buffer region ends at 892256"
        );
        assert_eq!(c.plan().unwrap().peaks().dataflow, 867_072);
        // Random split seed 41 on n150: [1,181,164736] uint16 by 15 along dim 1 captures
        // 2 × 329,472 B rows.
        let c = split_to_default(
            "1,181,164736",
            DType::Uint16,
            &[("split_size", 15), ("dim", 1)],
        );
        assert_eq!(c.plan().unwrap().peaks().dataflow, 658_944);
    }

    /// A slice's program is cached by its range: the later windows of a split into more than
    /// 64 pieces run the first window's SliceRm buffers however full L1 has become (probe:
    /// `cargo xtask probe --op split --shape 992,3456 --dtype bfloat16 --memory l1 --param
    /// split_size=1 --param dim=-2 --device p150 --backend metal`, and `--dtype bfloat8_b`:
    /// clashes on core (0,0) at 2 × 6,912 + 8 B with the L1 buffer at 124,416 / 125,056 B).
    #[test]
    fn a_later_windows_slices_run_the_first_windows_cached_buffers() {
        for (dtype, at) in [(DType::Bfloat16, 124_416), (DType::Bfloat8B, 125_056)] {
            let mut c = split_to_default("992,3456", dtype, &[("split_size", 1), ("dim", -2)]);
            c.layout = Layout::Tile;
            c.device = &crate::device::P150;
            c.default_output_memory = false;
            c.output_memory = BufferType::L1;
            let message = c.estimate().unwrap().verdict.message();
            assert!(
                message.ends_with(&format!(
                    "clash with L1 buffers on core range [0-0 - 0-0]. L1 buffer allocated at {at} and static dataflow buffer region ends at 125576"
                )),
                "{message}"
            );
        }
    }
}
