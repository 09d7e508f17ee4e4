//! reshape / unsqueeze: when the runtime keeps a view and when it copies, and the copy's programs.

use super::*;

/// Which buffer's alignment the rows of a ROW_MAJOR [`move_to`] take.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(in crate::exec) enum RowAlign {
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
pub(in crate::exec) fn move_to(
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
pub(in crate::exec) fn reshape(
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
        DType::Uint16 | DType::Uint8 => refused_reshape(ex, spec, mem),
        // Block floats are reshaped as bfloat16 copies, their padding filled before the
        // typecast back (seen on the runtime, mock n150: [1,3,30,32] bfloat8_b to [90,32]
        // typecasts, reshapes, fills the pad of the bfloat16 result, typecasts back).
        DType::Bfloat8B | DType::Bfloat4B => through_bfloat16(ex, x, spec, |ex, wide| {
            let reshaped = reshape_tiled(ex, wide, &target, mem)?;
            crate::exec::reduction::fill_pad(ex, &reshaped);
            Ok(reshaped)
        }),
        _ => reshape_tiled(ex, x, &target, mem),
    }
}

/// What `ReshapeViewDeviceOperation` raises for a dtype it does not copy (uint8, uint16).
pub(crate) const RESHAPE_DTYPE_REFUSAL: &str =
    "Can only work with bfloat16/float32 or int32/uint32 tensors";

/// A copying reshape of a uint8 / uint16 tensor: the device operation allocates its output of
/// `spec` in `mem` (which runs out of memory first where it does not fit), then its validation
/// refuses the dtype ([`RESHAPE_DTYPE_REFUSAL`]); no page map, no program. Seen on the runtime,
/// mock n150, NO_DISPATCH captures (/tmp probes with `ttnn.reshape` on `ttnn.empty` inputs):
/// [1,3,32,32] uint16 TILE to [3,32,8,4] in L1 allocates 4,096 B a bank, then raises;
/// [1,2000,2000] uint8 ROW_MAJOR from DRAM to [2000,2000,1] in L1 allocates 1,000,000 B a bank,
/// then raises; on the device [1,2000,2000] uint16 TILE to [2000,2000,1] in L1 runs out at its
/// output's 4,032,512 B a bank, [1,6000,6000] uint8 ROW_MAJOR at 9,000,000 B.
pub(in crate::exec) fn refused_reshape(
    ex: &mut Exec<'_>,
    spec: TensorSpec,
    mem: BufferType,
) -> Result<DevTensor, CaseError> {
    let factory = match spec.layout {
        Layout::Tile => "ReshapeViewTiledProgramFactory",
        Layout::RowMajor => "ReshapeViewRMProgramFactory",
    };
    let out = ex.b.tensor("output", BufferRole::Temporary, spec, mem)?;
    ex.b.run(
        Program::new("ReshapeViewDeviceOperation", factory)
            .refused(RESHAPE_DTYPE_REFUSAL.to_string()),
    );
    Ok(out)
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
/// ([`refused_reshape`]); sharded inputs are `unmodeled`.
pub(in crate::exec) fn reshape_row_major(
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
    match x.dtype() {
        DType::Bfloat16 | DType::Float32 | DType::Int32 | DType::Uint32 => {}
        DType::Uint16 | DType::Uint8 => {
            let spec = TensorSpec::new(target.clone(), x.dtype(), x.layout());
            return refused_reshape(ex, spec, mem);
        }
        // Block floats are not ROW_MAJOR.
        _ => return Err(unmodeled(f, format!("a ROW_MAJOR {} reshape", x.dtype()))),
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
pub(in crate::exec) fn reshape_tiled(
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
pub(in crate::exec) fn reshape_program_key(x: &DevTensor, target: &Shape, mem: BufferType) -> u64 {
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
pub(in crate::exec) fn squeeze_3d(dims: &[u64]) -> [u64; 3] {
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
pub(in crate::exec) enum Seen {
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
pub(in crate::exec) fn faced_offset(h: u64, w: u64) -> u64 {
    let (h, w) = (h % TILE, w % TILE);
    ((h / 16) * 2 + w / 16) * 256 + (h % 16) * 16 + w % 16
}

/// Output tiles past which a copying reshape's page map is not modeled (see `reshape`): the
/// walk visits every output tile of a cycle of tile phases, up to [`MAX_RESHAPE_MAP_VISITS`],
/// leaping over the tile rows that lie in the input row of one visited (an unsqueeze of a long
/// row to a last dim of 1 visits a few tiles per channel and tile column), and walks only the
/// tiles of a structure not met before (a visit alone is two divisions and a bit test: before
/// the leaps, [1,18000,18560] unsqueezed to a last dim of 1 took 10.4M visits, 0.43 s in a
/// debug build; the bound keeps a call under a second there).
pub(in crate::exec) const MAX_RESHAPE_MAP_VISITS: u64 = 1 << 24;

/// Greatest common divisor (`gcd(0, n) = n`).
pub(in crate::exec) fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Element runs past which a copying reshape's page map is not modeled: each distinct tile
/// phase is walked run by run (up to 1,024 runs for a one-column input; the matrix's largest
/// map takes 3,133,440).
pub(in crate::exec) const MAX_RESHAPE_MAP_RUNS: u64 = 1 << 22;

pub(in crate::exec) fn reshape_map_segments_uncached(
    input: [u64; 3],
    output: [u64; 3],
) -> Option<u64> {
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
    // A whole tile lies inside one input row only where that row holds 31 output rows and
    // one more tile row: only then can the walk leap over tile rows (below); else the count
    // above is the walk's.
    let rows_leap = w1 >= (TILE - 1).saturating_mul(w2).saturating_add(w2.min(TILE));
    if visits > MAX_RESHAPE_MAP_VISITS && !rows_leap {
        return None;
    }
    let mut visited = 0u64;
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
    // The last dim kept (only the rows regrouped): keyed by the first row alone.
    let same_width = w1 == w2;
    let mut seen_same_width = Seen::new(if same_width { TILE } else { 1 });
    let mut seen_same_width_crossing = Seen::new(if same_width { h1 } else { 1 });
    let mut best = 0u64;
    let mut runs = 0u64;
    let mut groups: Vec<(u64, u64)> = Vec::with_capacity(64);
    // Whole tile rows (the last one may be partial, another class).
    let whole_rows = h2 / TILE;
    for c in 0..cs {
        for tw in with_last(tws, tw2) {
            let wo0 = tw * TILE;
            let wsz = (w2 - wo0).min(TILE);
            // The tile rows of this channel and column: the first cycle, then the last row.
            let mut th = 0;
            while th < th2 {
                let ho0 = th * TILE;
                let hsz = (h2 - ho0).min(TILE);
                let flat0 = c * h2 * w2 + ho0 * w2 + wo0;
                let class = usize::from(hsz < TILE) * 2 + usize::from(wsz < TILE);
                let phase = flat0 % period;
                let span = (hsz - 1) * w2 + wsz;
                let in_row = phase % w1 + span <= w1;
                // The next tile row to visit: the next of the first cycle, else the last one.
                let mut next = th + 1;
                if in_row && hsz == TILE {
                    // The tile rows below start 32 output rows (a multiple of 32 elements)
                    // further along the same input row while they fit in it: the same column
                    // within a tile column, the same class, the same key; leap over them.
                    let step = TILE * w2;
                    next = next.saturating_add((w1 - span - phase % w1) / step);
                    next = next.min(whole_rows.max(th + 1));
                }
                if next >= ths && next < th2 {
                    // Past the first cycle only the last tile row is left.
                    next = th2 - 1;
                }
                th = next;
                visited += 1;
                if visited > MAX_RESHAPE_MAP_VISITS {
                    return None;
                }
                let new = if in_row {
                    seen_in_row.insert(phase % w1 % TILE, class)
                } else if same_width {
                    // Each tile row is part of one input row at the tile's own columns: the
                    // pages shift with the tile column and the faced offsets are the same, so
                    // the first row's place in the input channel decides the structure (within
                    // the channel, only its place in its tile row).
                    let hi0 = phase / w1;
                    if phase + span <= period {
                        seen_same_width.insert(hi0 % TILE, class)
                    } else {
                        seen_same_width_crossing.insert(hi0, class)
                    }
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

/// TT-NN's zero-cost reshape rule (ttnn.reshape docs): the last dim is unchanged, and for TILE
/// either the second-last is unchanged or it needs no padding (so tiles map one-to-one).
pub fn reshape_is_view(from: &Shape, to: &Shape, layout: Layout) -> bool {
    dims_reshape_is_view(from.dims(), to.dims(), layout)
}

/// [`reshape_is_view`] on bare dims.
pub(in crate::exec) fn dims_reshape_is_view(from: &[u64], to: &[u64], layout: Layout) -> bool {
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
    use super::{faced_offset, reshape_map_segments_uncached};

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

    /// Tile rows that lie in one input row are leapt over; the segments stay the element
    /// walk's, and long unsqueezes to a last dim of 1 are sized at once.
    #[test]
    fn page_map_leaps_over_tile_rows_inside_one_input_row() {
        let mut rng = XorShift(0x6a09_e667_f3bc_c908);
        for _ in 0..100 {
            let (c, h, w) = (rng.one_to(3), rng.one_to(4), 64 + rng.below(3000));
            let input = [c, h, w];
            for w2 in [1, 2, 3, 5] {
                if (c * h * w).is_multiple_of(w2) && w >= 31 * w2 + w2 {
                    assert_page_map_matches_the_element_walk(input, [1, c * h * w / w2, w2]);
                    assert_page_map_matches_the_element_walk(input, [c, h * w / w2, w2]);
                }
            }
        }
        assert_page_map_matches_the_element_walk([1, 1, 200_003], [1, 200_003, 1]);
        assert_page_map_matches_the_element_walk([3, 7, 50_001], [21, 50_001, 1]);
        // The random whole-space census (seed 888001) drew an unsqueeze of a [698783403]
        // bfloat4_b tensor at dim -1: 21,836,982 output tiles, all in the one input row.
        let t = std::time::Instant::now();
        let segments = reshape_map_segments_uncached([1, 1, 698_783_403], [1, 698_783_403, 1]);
        println!("{segments:?} in {:?}", t.elapsed());
        assert!(segments.is_some());
        assert!(t.elapsed() < std::time::Duration::from_secs(1));
    }

    /// The last dim kept, the rows regrouped across channels: a tile is keyed by its first
    /// row; the segments stay the element walk's, and the random draws' views of wide rows are
    /// sized ([15,1,174,99582] bfloat8_b viewed as [1,1,2610,99582] was past the bound on
    /// element runs).
    #[test]
    fn page_map_of_the_same_width_keys_tiles_by_their_first_row() {
        let mut rng = XorShift(0xbb67_ae85_84ca_a73b);
        for _ in 0..200 {
            let (c, h, w) = (1 + rng.below(8), rng.one_to(90), rng.one_to(140));
            let h2 = rng.divisor_of(c * h);
            assert_page_map_matches_the_element_walk([c, h, w], [c * h / h2, h2, w]);
        }
        assert!(reshape_map_segments_uncached([15, 174, 99_582], [1, 2_610, 99_582]).is_some());
        assert!(reshape_map_segments_uncached([2, 370, 787_326], [1, 740, 787_326]).is_some());
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
}
