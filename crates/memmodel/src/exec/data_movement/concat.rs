//! concat (and stack, which the runtime builds from unsqueeze + concat).

use super::*;

/// `ttnn.concat` of interleaved tensors (concat.cpp): inputs of rank < 4 are concatenated as 4D
/// views (`build_unsqueeze_concat`); TILE inputs padded along the concat dim are untilized
/// (`untilize_with_unpadding`), concatenated ROW_MAJOR and tilized back
/// (`build_untilize_rm_retilize_concat`); ROW_MAJOR rows not aligned to their buffer's alignment
/// are concatenated along the last dim between two WH transposes
/// (`build_non_aligned_last_dim_concat`).
pub(in crate::exec) fn concat(
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
            return concat_impl_batched(ex, xs, i, mem, &concat_tile_leaf);
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
        let tiled = refused_padding_tilize(ex, joined.shape(), joined.dtype(), mem)?;
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
pub(in crate::exec) fn one_d_transposed_whole(
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
pub(in crate::exec) fn concat_in_row_chunks(
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
pub(in crate::exec) fn concat_tiled_unaligned(
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
    let free = d
        .l1_bank_bytes
        .saturating_sub(ex.b.capture_live_l1_per_bank());
    // `get_max_l1_space` reads the L1 the live buffers leave, the call's inputs included: a
    // device run routes on it. A NO_DISPATCH capture of the call alone allocates nothing for
    // real and sees the whole bank, so where the two decide differently the capture goes
    // band-wise and the run through row-major (seen on the runtime: a float32 [25074,171]
    // pair in L1 on n150). A plan derived for the capture reads the capture's L1 (without
    // its own inputs, which sim places for the programs the device run built), one for the
    // run or a case estimate the run's.
    // Nor does it see the call's own earlier buffers (a stack's unsqueezed copies): a
    // capture's plan reads its L1 without them (p150 seed 1219323: a [1,3,1228,270] pair in
    // L1 stacked on dim -1 is captured band-wise, the device run goes row-major).
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

/// `calculate_max_tensors_per_concat` (concat_device_operation.cpp) for interleaved tensors:
/// more inputs than this exceed the concat kernels' argument budget.
pub(in crate::exec) const MAX_INTERLEAVED_CONCAT_INPUTS: usize = 47;

/// One concat program over `xs` along `dim` into `mem` (no batching).
type ConcatLeaf =
    dyn Fn(&mut Exec<'_>, &[&DevTensor], usize, BufferType) -> Result<DevTensor, CaseError>;

/// `concat_impl`'s batching: more than [`MAX_INTERLEAVED_CONCAT_INPUTS`] inputs are
/// concatenated in batches of that many (recursively), the batches' outputs kept until one
/// final concat of them, then freed. Seen on n150: a bfloat8_b [41544544] pair stacked along
/// dim -1 from DRAM is concatenated in 61 chunks of rows, whose outputs join as 47 + 14 before
/// the final 2,658,850,816 B concat. A one-input batch is its input where it already sits in
/// the output's memory (else `ttnn::clone`, not modeled).
pub(in crate::exec) fn concat_impl_batched(
    ex: &mut Exec<'_>,
    xs: &[&DevTensor],
    dim: usize,
    mem: BufferType,
    leaf: &ConcatLeaf,
) -> Result<DevTensor, CaseError> {
    if xs.len() <= MAX_INTERLEAVED_CONCAT_INPUTS {
        return leaf(ex, xs, dim, mem);
    }
    if xs.iter().any(|x| x.shard.is_some()) {
        return Err(unmodeled(
            "ttnn.concat",
            "a sharded concat of more inputs than one concat program takes (batched with the sharded limits)",
        ));
    }
    let mut parts = Vec::new();
    for batch in xs.chunks(MAX_INTERLEAVED_CONCAT_INPUTS) {
        parts.push(match batch {
            [x] if x.memory == mem => ex.b.share(x, x.spec.clone()),
            [_] => {
                return Err(unmodeled(
                    "ttnn.concat",
                    "a one-input batch of a batched concat in another memory than the output's (cloned)",
                ))
            }
            _ => concat_impl_batched(ex, batch, dim, mem, leaf)?,
        });
    }
    let refs: Vec<&DevTensor> = parts.iter().collect();
    let out = concat_impl_batched(ex, &refs, dim, mem, leaf)?;
    for part in parts {
        ex.b.release(part);
    }
    Ok(out)
}

/// The output of one `ConcatProgramFactory` run: the first input's spec with `dim` the inputs'
/// summed extent, allocated in `mem`.
fn concat_leaf_output(
    ex: &mut Exec<'_>,
    xs: &[&DevTensor],
    dim: usize,
    mem: BufferType,
) -> Result<(TensorSpec, DevTensor), CaseError> {
    let mut dims = xs[0].dims().to_vec();
    dims[dim] = xs.iter().try_fold(0u64, |acc, x| {
        crate::size::add(acc, x.dims()[dim], "concat extent")
    })?;
    let spec = spec_with(xs[0], dims)?;
    let out =
        ex.b.tensor("output", BufferRole::Temporary, spec.clone(), mem)?;
    Ok((spec, out))
}

/// `ConcatProgramFactory` on TILE tensors the tiles do not pad along `dim`: two tiles per core.
fn concat_tile_leaf(
    ex: &mut Exec<'_>,
    xs: &[&DevTensor],
    dim: usize,
    mem: BufferType,
) -> Result<DevTensor, CaseError> {
    let first = xs[0];
    let (out_spec, out) = concat_leaf_output(ex, xs, dim, mem)?;
    let dev = ex.device();
    let w = grid::split_work(dev, tiles(&out_spec), false);
    ex.b.run(concat_program(
        dev,
        tile_size(first.dtype()),
        &grid::merge_ranges(&w.all),
    )?);
    Ok(out)
}

/// `ConcatProgramFactory` on ROW_MAJOR 4D tensors: the output's rows split column-wise over the
/// grid, two rows per core aligned to the larger of the input's and output's alignment
/// (batched as `concat_impl` batches).
pub(in crate::exec) fn concat_rm(
    ex: &mut Exec<'_>,
    xs: &[&DevTensor],
    dim: usize,
    mem: BufferType,
) -> Result<DevTensor, CaseError> {
    concat_impl_batched(ex, xs, dim, mem, &concat_rm_leaf)
}

/// One `ConcatProgramFactory` run of [`concat_rm`].
fn concat_rm_leaf(
    ex: &mut Exec<'_>,
    xs: &[&DevTensor],
    dim: usize,
    mem: BufferType,
) -> Result<DevTensor, CaseError> {
    let first = xs[0];
    let (spec, out) = concat_leaf_output(ex, xs, dim, mem)?;
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
pub(in crate::exec) fn concat_program(
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

#[cfg(test)]
mod tests {
    /// A band-wise tiled concat whose buffers fit the L1 bank but not the L1 its inputs leave:
    /// the device run routes through row-major (the runtime on the mock n150: a float32
    /// [25074,171] pair in L1 along dim -1 runs out allocating a 17,151,984 B buffer, 300,912 B
    /// per bank, with 1,145,600 B allocated; its NO_DISPATCH capture, inputs unplaced, goes
    /// band-wise), and the case estimate follows the run.
    #[test]
    fn a_band_wise_concat_the_inputs_crowd_out_runs_row_major() {
        use crate::device::{BufferType, N150};
        use crate::layout::Layout;
        use crate::params::ParamValue;
        use crate::shape::Shape;
        let mut c = crate::case::Case::new(
            crate::ops::find("concat").unwrap(),
            vec![
                Shape::parse("25074,171").unwrap(),
                Shape::parse("25074,171").unwrap(),
            ],
            &N150,
        );
        c.dtype = crate::dtype::DType::Float32;
        c.layout = Layout::Tile;
        c.input_memory = BufferType::L1;
        c.output_memory = BufferType::L1;
        c.params.set("dim", ParamValue::Int(-1));
        let e = c.estimate().expect("modeled");
        assert!(e
            .plan
            .programs()
            .all(|p| p.factory != "ConcatTiledUnalignedProgramFactory"));
        let crate::case::Verdict::Oom(o) = e.verdict else {
            panic!("expected an OOM, got {:?}", e.verdict);
        };
        assert_eq!(
            (o.total_bytes, o.per_bank_bytes, o.allocated),
            (17_151_984, 300_912, 1_145_600)
        );
    }
}
