//! tilize / untilize: the core splits, block variants and the program cache they share.

use super::*;

/// `compute_ncores(grid_area, nblocks)` (work_split_tilize.hpp): blocks per core rounded up,
/// and the cores that takes.
pub(in crate::exec) fn compute_ncores(grid_area: u64, nblocks: u64) -> (u64, u64) {
    if nblocks == 0 {
        return (0, 0);
    }
    let per_core = nblocks.div_ceil(grid_area);
    (nblocks.div_ceil(per_core), per_core)
}

pub(in crate::exec) fn cores_col_wise(
    d: &crate::device::DeviceSpec,
    n: u64,
) -> crate::program::CoreRangeSet {
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
pub(in crate::exec) fn tile_rows(spec: &TensorSpec) -> u64 {
    let padded = TensorSpec::new(spec.shape.clone(), spec.dtype, Layout::Tile).padded_dims();
    let w = *padded.last().unwrap_or(&1);
    let elems: u64 = padded.iter().product();
    elems / w.max(1) / TILE
}

/// `closest_square_larger_than_b` (work_split_tilize.hpp).
pub(in crate::exec) fn closest_square_larger_than(
    b: u64,
    width: u64,
    height: u64,
    limit: u64,
) -> (u64, u64) {
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
pub(in crate::exec) struct WhSplit {
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
pub(in crate::exec) fn split_wh(
    d: &crate::device::DeviceSpec,
    width: u64,
    height: u64,
    row_wise: bool,
) -> WhSplit {
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
pub(in crate::exec) fn block_with_sub_blocks(
    area: u64,
    width: u64,
    height: u64,
    limit: u64,
) -> Option<(u64, u64)> {
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
pub(in crate::exec) fn first_small_cliff(
    width: u64,
    s: u64,
    from: u64,
    to: u64,
    limit: u64,
) -> Option<u64> {
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
pub(in crate::exec) fn wh_layout(
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
pub(in crate::exec) fn use_block_variant(
    d: &crate::device::DeviceSpec,
    padded: &[u64],
) -> Option<WhSplit> {
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
pub(in crate::exec) fn untilize_routed(
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
pub(in crate::exec) fn codegen_untilizes_unaligned(x: &DevTensor) -> bool {
    const WIDE_CHUNK_THRESHOLD: u64 = 800_000;
    let w = x.dims().last().copied().unwrap_or(1);
    x.dtype() == DType::Bfloat16 && 2 * w.div_ceil(TILE) * 2048 <= WIDE_CHUNK_THRESHOLD
}

/// The codegen untilize's unit of work (untilize_codegen_cb_plan.cpp, `pages_for_builder`): a
/// tile-aligned input of one tile row splits its tile columns row-wise over the grid; of a few
/// tile rows, each row is cut into the largest divisor of `Wt` columns that the grid holds
/// (`choose_2d_ncol`), one core per piece taken row-wise; otherwise tile rows split row-wise, a
/// padded row per unit. Returns the pages of a unit and the cores.
pub(in crate::exec) fn untilize_codegen_units(
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
pub(in crate::exec) fn untilize_codegen_depths(
    usable: u64,
    pages: u64,
    tile: u64,
) -> Option<(u64, u64)> {
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
pub(in crate::exec) fn untilize_codegen_program(
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
pub(in crate::exec) fn codegen_untilizes_aligned(x: &DevTensor, padded: &[u64]) -> bool {
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
pub(in crate::exec) fn untilize_takes_block_variant(
    d: &crate::device::DeviceSpec,
    padded: &[u64],
) -> bool {
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
pub(in crate::exec) fn untilize_native_program(
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
        return Ok(untilize_single_core_program(d, x, wt));
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
pub(in crate::exec) fn half_l1_budget(d: &crate::device::DeviceSpec) -> u64 {
    (d.l1_bytes_per_core / 2).saturating_sub(d.l1_unreserved_base)
}

/// `UntilizeSingleCoreProgramFactory` on core (0,0): a row in blocks of the largest divisor of
/// `Wt` that half the L1 holds as an input and an output tile per block tile
/// (`max_tiles_per_dfb`; the route to it, `get_pf_type`, weighs two input tiles instead), one
/// input and one output buffer of a block (seen on p150: [3488,7968] bfloat16, Wt 249, 2 × 83
/// tiles; on n150 [3488,7040], Wt 220, 2 × 110; a bfloat8_b one, bfloat16 out, on p150:
/// [5,1888,13952] split along its width from DRAM, Wt 436, 109 tiles of 1,088 B and 2,048 B,
/// not the 218 two input tiles give; random split seed 1207732).
pub(in crate::exec) fn untilize_single_core_program(
    d: &crate::device::DeviceSpec,
    x: &DevTensor,
    wt: u64,
) -> Program {
    let max_tiles =
        half_l1_budget(d) / (tile_size(x.dtype()) + untilized_tile_size(x.dtype())).max(1);
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
pub(in crate::exec) fn untilize(
    ex: &mut Exec<'_>,
    x: &DevTensor,
    mem: BufferType,
) -> Result<DevTensor, CaseError> {
    untilize_as(ex, x, mem, false, None)
}

/// [`untilize`], through `untilize_with_unpadding` even for a tile-aligned input where
/// `with_unpadding` (concat's row-major route calls it so: seen on p150, an aligned
/// [5,4320,4256] bfloat8_b input untilized by its block factory, not the codegen one).
pub(in crate::exec) fn untilize_as(
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
pub(in crate::exec) struct ProgramCache {
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
    pub(in crate::exec) fn choose(
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
pub(in crate::exec) struct ProgramCaches(Vec<(CacheKey, ProgramCache)>);

/// What a program hash holds: the device operation, its input (spec and memory) and the
/// operation's own attributes that vary within a call (a slice's range and output memory).
#[derive(PartialEq)]
struct CacheKey {
    op: &'static str,
    spec: TensorSpec,
    memory: BufferType,
    attributes: Vec<u64>,
}

impl ProgramCaches {
    pub(in crate::exec) fn of(&mut self, op: &'static str, x: &DevTensor) -> &mut ProgramCache {
        self.keyed(op, x, Vec::new())
    }

    /// The cache of the slices of `x` along `dim` from `begin` to `end` into `mem`
    /// (SliceDeviceOperation hashes its range and output memory with its input).
    pub(in crate::exec) fn of_slice(
        &mut self,
        x: &DevTensor,
        dim: usize,
        begin: u64,
        end: u64,
        mem: BufferType,
    ) -> &mut ProgramCache {
        let attributes = vec![dim as u64, begin, end, mem as u64];
        self.keyed("SliceDeviceOperation", x, attributes)
    }

    fn keyed(
        &mut self,
        op: &'static str,
        x: &DevTensor,
        attributes: Vec<u64>,
    ) -> &mut ProgramCache {
        let key = CacheKey {
            op,
            spec: x.spec.clone(),
            memory: x.memory,
            attributes,
        };
        let at = match self.0.iter().position(|(k, _)| *k == key) {
            Some(at) => at,
            None => {
                self.0.push((key, ProgramCache::default()));
                self.0.len() - 1
            }
        };
        &mut self.0[at].1
    }
}

/// The L1 the device run's tilize / untilize finds free before and after its output is
/// allocated (`get_max_l1_space`), and whether that allocation succeeded on the device, from
/// the live bytes `live` (before, after) and, with `from_layout` (a split's round trips), from
/// the call's L1 layout (`layout_before`, [`crate::plan::PlanBuilder::l1_free_below_lowest`]):
/// there each piece frees its untilized rows and their slice above the tiles it keeps, and the
/// hole they leave is not free L1 to the runtime (seen on n150: [72160,128] bfloat16 split
/// into [38,71,19] along its width; the second round trip's untilize takes the block factory).
pub(in crate::exec) fn device_free_l1(
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
pub(in crate::exec) fn untilized_dtype(input: DType) -> DType {
    if input.is_block_float() {
        DType::Bfloat16
    } else {
        input
    }
}

pub(in crate::exec) fn untilized_tile_size(input: DType) -> u64 {
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
pub(in crate::exec) fn untilize_block_split(
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
pub(in crate::exec) fn untilize_block_buffers(
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
pub(in crate::exec) fn untilize_block_program(
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
pub(in crate::exec) fn untilize_unpadding_program(
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
pub(in crate::exec) fn tilize(
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
pub(in crate::exec) fn tilize_with_val_padding(
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
pub(in crate::exec) fn tilize_beside_l1_small(
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
pub(in crate::exec) fn tilize_to(
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
pub(in crate::exec) fn tilize_row_cbs(
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
pub(in crate::exec) fn tilize_program(
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
