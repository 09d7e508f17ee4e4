//! Pooling and resampling: upsample (nearest, bilinear), max_pool2d.

use super::grid;
use super::util::{out_memory, refused_so_far, tile_size};
use super::{invalid, unmodeled, Args, Exec, Val};
use crate::device::{BufferType, DeviceSpec};
use crate::dtype::DType;
use crate::error::CaseError;
use crate::layout::Layout;
use crate::plan::BufferRole;
use crate::plan::{sharded_placement, DevTensor};
use crate::program::{Cb, CbKind, CoreRange, CoreRangeSet, Program};
use crate::shape::Shape;
use crate::size;
use crate::tensor::{Placement, TensorSpec, TILE};
use std::collections::BTreeMap;

pub(super) fn call(ex: &mut Exec<'_>, name: &str, a: &Args<'_>) -> Result<Option<Val>, CaseError> {
    Ok(Some(match name {
        "upsample" => upsample(ex, a)?,
        "max_pool2d" => max_pool2d(ex, a)?,
        _ => return Ok(None),
    }))
}

/// `ttnn.upsample(x, scale_factor, mode="nearest")` on an interleaved [N, H, W, C] tensor:
/// `UpsampleMultiCoreInterleavedProgramFactory` (upsample_program_factory_multicore_interleaved
/// .cpp). The output [N, H·s, W·s, C] is allocated, then one program whose work units
/// (`split_work_to_cores`, column-wise) are the input's sticks (ROW_MAJOR) or tile rows (TILE);
/// its input dataflow buffer holds one stick rounded up to the DRAM alignment (ROW_MAJOR) or one
/// row of tiles (TILE), doubled when a core has more than one unit; TILE adds an output buffer
/// of as many tiles of the output's dtype. The output is ROW_MAJOR (a TILE input is untilized on
/// the way), bfloat16 for a block-float input.
fn upsample(ex: &mut Exec<'_>, a: &Args<'_>) -> Result<Val, CaseError> {
    let x = a.tensor(0, "input_tensor")?;
    let scale = a
        .int(1, "scale_factor")?
        .ok_or_else(|| invalid(a.function, "`scale_factor` is required"))?;
    let mode = match a.get(usize::MAX, "mode") {
        None | Some(Val::None) => "nearest".to_string(),
        Some(Val::Str(s)) => s.clone(),
        Some(other) => {
            return Err(invalid(
                a.function,
                format!("`mode` must be a string, got {other:?}"),
            ))
        }
    };
    if mode != "nearest" && mode != "bilinear" {
        return Err(invalid(
            a.function,
            format!("mode must be 'nearest' or 'bilinear', got `{mode}`"),
        ));
    }
    let &[n, h, w, c] = x.dims() else {
        return Err(invalid(
            a.function,
            format!("needs a 4D [N,H,W,C] tensor, got {}", x.shape()),
        ));
    };
    let s = u64::try_from(scale)
        .ok()
        .filter(|s| *s >= 1)
        .ok_or_else(|| invalid(a.function, format!("scale_factor {scale} must be positive")))?;
    if mode == "bilinear" {
        let x = x.clone();
        return upsample_bilinear(ex, a, &x, [n, h, w, c], s);
    }
    let d = ex.device();
    let mem = out_memory(a, x.memory)?;
    let out_shape = Shape::from_dims(vec![
        n,
        crate::size::mul(h, s, "upsampled H")?,
        crate::size::mul(w, s, "upsampled W")?,
        c,
    ])?;
    let tiled = x.layout() == Layout::Tile;
    // The output is ROW_MAJOR whatever the input's layout; a block-float input's (which has no
    // ROW_MAJOR form) is bfloat16 (read from the runtime's outputs, every TILE dtype).
    let out_dtype = if x.dtype().is_block_float() {
        DType::Bfloat16
    } else {
        x.dtype()
    };
    let out_spec = TensorSpec::new(out_shape, out_dtype, Layout::RowMajor);
    let (entry, pages, units) = if tiled {
        let padded_c = c.div_ceil(TILE) * TILE;
        let rows = x.spec.pages()? / (padded_c / TILE).max(1);
        (tile_size(x.dtype()), padded_c / TILE, rows)
    } else {
        let stick = crate::size::mul(c, x.dtype().row_major_element_bytes(), "stick bytes")?;
        (
            stick.div_ceil(d.dram_alignment) * d.dram_alignment,
            1,
            crate::size::mul(n, crate::size::mul(h, w, "sticks")?, "sticks")?,
        )
    };
    let out =
        ex.b.tensor("output", BufferRole::Temporary, out_spec, mem)?;
    let split = grid::split_work(d, units, false);
    // The factory's core set as the runtime merges it (its first range names a CB clash).
    let cores = grid::merge_ranges(&split.all);
    let count = if split.units_1 != 1 { 2 * pages } else { pages };
    let mut p = Program::new(
        "UpsampleOperation",
        "UpsampleMultiCoreInterleavedProgramFactory",
    )
    .cb(CbKind::Dataflow, count * entry, &cores);
    if tiled {
        p = p.cb(CbKind::Dataflow, count * tile_size(out_dtype), &cores);
    }
    ex.b.run(p);
    Ok(Val::T(out))
}

/// `ttnn.upsample(x, scale_factor, mode="bilinear")` (upsample.cpp, pinned 0.81.1) on an
/// interleaved [N, H, W, C] tensor, as the runtime runs it:
/// 1. auto-shard (`compute_bilinear_autoshard_memory_config`): `to_memory_config` into L1,
///    height-sharded over `min(cores, N·H·W)` cores, shards of `ceil(N·H·W / cores)` sticks
///    (InterleavedToSharded; a TILE input refuses shards that are not whole tiles);
/// 2. halo (UntilizeWithHalo) of a 2×2 window with one stick of padding on every side, each
///    core taking the padded-input span of its output sticks' top-left neighbours
///    (`generate_op_trace_metadata_bilinear`: float32 offsets accumulated per output row and
///    column), with its pad and gather configs in L1_SMALL;
/// 3. UpsampleBilinearProgramFactory into a height-sharded output of `ceil(N·Ho·Wo / cores)`
///    sticks per core (validated only here: float32 and uint16 refused, then channels a
///    multiple of 32);
/// 4. with `memory_config`, ShardedToInterleaved into it; without, the sharded output is the
///    result.
///
/// The resharded input and the halo live until the op returns (the runtime's capture).
fn upsample_bilinear(
    ex: &mut Exec<'_>,
    a: &Args<'_>,
    x: &DevTensor,
    [n, h, w, c]: [u64; 4],
    s: u64,
) -> Result<Val, CaseError> {
    let d = ex.device();
    let tiled = x.layout() == Layout::Tile;
    let in_stick = size::mul(c, x.dtype().row_major_element_bytes(), "stick bytes")?;
    // Sticks off the L1 alignment (only ROW_MAJOR ones with channels not a multiple of 32,
    // which the factory refuses in the end) are resharded by CopyDeviceOperation, not
    // InterleavedToSharded (seen on the runtime: C=20 bfloat16; C=8, 16, 24, 48 take the
    // latter).
    let copy_reshard = !in_stick.is_multiple_of(d.l1_alignment);
    // bfloat16 runs; float32 and uint16 are refused once the halo is built (seen on the
    // runtime, both layouts); the halo writes 32-bit integers as bfloat16 sticks, which run,
    // and uint8 ones too, whose halo refuses its input CB (ROW_MAJOR); a uint8 TILE input is
    // resharded and refused as a bfloat16 one is (seen on n150: "Physical shard shape (5, 32)
    // must be tile {32, 32} sized!" for [1,32,10,32], the same 9,216 B CB peak for [1,32,64,32]).
    let supported = match x.dtype() {
        DType::Bfloat16 | DType::Float32 | DType::Uint16 | DType::Int32 | DType::Uint32 => true,
        DType::Bfloat8B => tiled,
        DType::Uint8 => true,
        _ => false,
    };
    if !supported {
        return Err(unmodeled(
            a.function,
            format!(
                "mode=\"bilinear\" on a {} {:?} input (the runtime's resharding and halo of it not checked)",
                x.dtype().name(),
                x.layout()
            ),
        ));
    }
    let padded_rows = (h + 2).saturating_mul(n);
    if padded_rows > MAX_POOL_ROWS {
        return Err(unmodeled(
            a.function,
            format!(
                "a bilinear halo of {padded_rows} padded input rows (N·(H + 2); memmodel builds halo configs per row and models up to {MAX_POOL_ROWS})"
            ),
        ));
    }
    let explicit_out = !matches!(a.kw.get("memory_config"), None | Some(Val::None));
    let out_mem = out_memory(a, x.memory)?;
    let nhw = size::product([n, h, w], "N·H·W")?;
    let (ho, wo) = (
        size::mul(h, s, "upsampled H")?,
        size::mul(w, s, "upsampled W")?,
    );
    let out_nhw = size::product([n, ho, wo], "upsampled N·H·W")?;
    let max_cores = u64::from(d.grid_x) * u64::from(d.grid_y);
    let cores = max_cores.min(nhw).max(1);
    let gx = u64::from(d.grid_x);
    let grid_set =
        grid::num_cores_to_corerangeset((0, 0), cores as u32, (d.grid_x, d.grid_y), true);

    // 1. The auto-shard: shards of `in_shard_h` sticks; only those holding sticks allocated.
    let in_shard_h = nhw.div_ceil(cores);
    if tiled && in_shard_h % TILE != 0 {
        ex.b.run(
            Program::new(
                "InterleavedToShardedDeviceOperation",
                "InterleavedToShardedProgramFactory",
            )
            .refused(format!(
                "Physical shard shape ({in_shard_h}, {c}) must be tile {{32, 32}} sized!"
            )),
        );
        return Ok(Val::None);
    }
    let used = nhw.div_ceil(in_shard_h);
    let used_set = grid::num_cores_to_corerangeset((0, 0), used as u32, (d.grid_x, d.grid_y), true);
    let (in_page, in_pages, shard_pages) = if tiled {
        let ctiles = c / TILE;
        (
            tile_size(x.dtype()),
            x.spec.pages()?,
            (in_shard_h / TILE) * ctiles,
        )
    } else {
        (in_stick, nhw, in_shard_h)
    };
    let placement = sharded_placement(d, BufferType::L1, in_pages, in_page, used, shard_pages)?;
    let in_shard_bytes = placement.per_bank_bytes;
    let input_per_bank = ex.b.buffers[x.buffer].placement.per_bank_bytes;
    // A buffer that cannot have been allocated (the case's OOM in a run) is resharded by
    // CopyDeviceOperation in the capture (as for max_pool2d and conv2d; seen here too:
    // [1,64,1024,1024] in L1 on n150, both layouts).
    let beyond_bank = (x.memory == BufferType::L1 && input_per_bank > d.l1_bank_bytes)
        || in_shard_bytes > d.l1_bank_bytes;
    if !tiled && !beyond_bank && !copy_reshard {
        // A device run's InterleavedToSharded stages ROW_MAJOR sticks in a scratchpad smaller
        // than the capture's (seed 1207332, p150: [4,6,14944,224] clashes with its region
        // ending 704 B lower than the capture's 4 slots): where the shard leaves too little
        // L1 for the scratchpad, whether and where it clashes is not pinned.
        let slot =
            in_stick.div_ceil(d.dram_alignment.max(1)).saturating_add(1) * d.dram_alignment.max(1);
        let below = if x.memory == BufferType::L1 {
            input_per_bank
        } else {
            0
        };
        let held = in_shard_bytes.saturating_add(below);
        if held <= d.l1_bank_bytes
            && held.saturating_add(4 * slot + SCRATCHPAD_MARGIN) > d.l1_bank_bytes
        {
            return Err(unmodeled(
                a.function,
                "mode=\"bilinear\" whose ROW_MAJOR input shard leaves less L1 than the resharding scratchpad needs (a device run's scratchpad size is not pinned)",
            ));
        }
    }
    let sharded_in = sharded(ex, "sharded input", x.spec.clone(), placement);
    if !tiled && (copy_reshard || beyond_bank) {
        // DefaultRowMajor: two sticks at the L1 alignment on the cores splitting the sticks,
        // and a scratchpad of one unaligned stick (C=20 bfloat16 on n150: 96 B; [1,64,1024,
        // 1024]: 4,096 + 2,048 B on 64 cores).
        let aligned = in_stick.div_ceil(d.l1_alignment) * d.l1_alignment;
        let copy_cores = grid::merge_ranges(&grid::split_work(d, nhw, false).all);
        ex.b.run(
            Program::new("CopyDeviceOperation", "DefaultRowMajor")
                .cb(CbKind::Dataflow, 2 * aligned, &copy_cores)
                .cb(CbKind::Scratchpad, in_stick, &copy_cores),
        );
    } else {
        reshard_program(
            ex,
            beyond_bank,
            in_page,
            in_shard_bytes,
            &used_set,
            (!tiled).then_some(in_stick),
        );
    }

    // 2. Halo: sticks of the input's dtype, bfloat16 for a block float (which it untilizes)
    //    and for integers other than uint16 (seen: int32, uint32 and uint8 halos write
    //    64-byte sticks for 32 channels).
    let halo_dtype = match x.dtype() {
        DType::Bfloat16 | DType::Float32 | DType::Uint16 => x.dtype(),
        _ => DType::Bfloat16,
    };
    let stick = size::mul(c, halo_dtype.row_major_element_bytes(), "halo stick")?;
    let aligned_stick = stick.div_ceil(d.l1_alignment) * d.l1_alignment;
    let out_shard_h = out_nhw.div_ceil(cores);
    let win = Window {
        n,
        h,
        w,
        c,
        kernel: [2, 2],
        stride: [1, 1],
        pad: [1, 1],
        pad_end: [1, 1],
        dilation: [1, 1],
        ho,
        wo,
    };
    let bounds = bilinear_boundaries(&win, s, cores, out_shard_h);
    let sticks = bounds
        .iter()
        .flatten()
        .map(|b| b.in_last - b.in_first + 1)
        .max()
        .unwrap_or(0);
    // Past a few thousand columns the float32 offsets drift above the input (a top-left
    // column beyond W): the last core's window then reaches past the padded input, which
    // `generate_halo_kernel_config_tensors` indexes unchecked; the runtime's capture segfaults
    // on some such calls ([1,3,21500,64] and [1,2,8534,256] by 3, both boards) and reads
    // stray memory on others.
    let padded_sticks = size::product([n, h + 2, w + 2], "padded input sticks")?;
    if bounds.iter().flatten().any(|b| b.in_last >= padded_sticks) {
        return Err(unmodeled(
            a.function,
            "a bilinear upsample whose float32 offsets drift past the input's last column (the runtime's halo reads beyond its padded input; its capture crashes on some)",
        ));
    }
    let halo_spec = TensorSpec::new(
        Shape::from_dims(vec![1, 1, size::mul(sticks, cores, "halo rows")?, c])?,
        halo_dtype,
        Layout::RowMajor,
    );
    let halo = sharded(
        ex,
        "halo",
        halo_spec,
        sharded_placement(
            d,
            BufferType::L1,
            size::mul(cores, sticks, "halo sticks")?,
            stick,
            cores,
            sticks,
        )?,
    );
    let [pad0, pad1, gather0, gather1] =
        halo_config_bytes(&win, &bounds, in_shard_h, tiled, |core| {
            (core % gx, core / gx)
        });
    let mut configs = Vec::with_capacity(4);
    for (what, bytes) in [
        ("pad config", pad0),
        ("pad config", pad1),
        ("gather config", gather0),
        ("gather config", gather1),
    ] {
        let spec = TensorSpec::new(
            Shape::from_dims(vec![1, cores, bytes / 2])?,
            DType::Uint16,
            Layout::RowMajor,
        );
        // `move_config_tensor_to_device`: one row per core in L1_SMALL, which the graph
        // capture reports as L1.
        let mut p = sharded_placement(d, BufferType::L1Small, cores, bytes, cores, 1)?;
        p.traced_as = Some(BufferType::L1);
        configs.push(sharded(ex, what, spec, p));
    }
    let halo_shard_bytes = ex.b.buffers[halo.buffer].placement.per_bank_bytes;
    // Its input CB is bound to the resharded input, in halo sticks for a ROW_MAJOR input (an
    // int32 one's 1,024-byte shard of 8 sticks takes a 512-byte CB): a uint8 shard is smaller
    // than that and the program is refused (its first CB: checked before the output CB's
    // pages).
    let halo_in_cb = if tiled {
        in_shard_bytes
    } else {
        size::mul(in_shard_h, aligned_stick, "halo input CB")?
    };
    if halo_in_cb > in_shard_bytes {
        return refuse_halo(
            ex,
            format!(
                "Cannot set circular buffer size to {halo_in_cb}. This is larger than the associated dynamically allocated L1 buffer bank size of {in_shard_bytes} B"
            ),
            configs,
            halo,
            sharded_in,
        );
    }
    // Then its output CB (buffer index 1), a page per stick.
    if sticks > MAX_CB_PAGES {
        return refuse_halo(ex, too_many_cb_pages(1, sticks), configs, halo, sharded_in);
    }
    // Untilize output: two blocks of 32 rows by the channel tiles, bfloat16.
    let untilize = tiled.then(|| 2 * (c / TILE) * tile_size(DType::Bfloat16));
    ex.b.run(halo_program(
        &grid_set,
        [halo_in_cb, halo_shard_bytes, aligned_stick],
        untilize,
        [pad0, pad1, gather0, gather1],
    ));
    for t in configs {
        ex.b.release(t);
    }

    // 3. The bilinear program into height-sharded output sticks.
    let out_spec = TensorSpec::new(
        Shape::from_dims(vec![n, ho, wo, c])?,
        halo_dtype,
        Layout::RowMajor,
    );
    if matches!(halo_dtype, DType::Float32 | DType::Uint16) {
        // Validated before the output is made (upsample_device_operation.cpp).
        ex.b.run(
            Program::new("UpsampleOperation", "UpsampleBilinearProgramFactory")
                .refused("Bilinear upsample requires BFLOAT16 input".to_string()),
        );
        ex.b.release(halo);
        ex.b.release(sharded_in);
        return Ok(Val::None);
    }
    let upsampled = sharded(
        ex,
        "upsampled",
        out_spec.clone(),
        sharded_placement(d, BufferType::L1, out_nhw, stick, cores, out_shard_h)?,
    );
    let out_shard_bytes = ex.b.buffers[upsampled.buffer].placement.per_bank_bytes;
    // The factory's own checks, made once its output exists: whole-tile channels, then its
    // output CB (buffer index 5, a page per 32 channels of a stick) within the 16-bit counters.
    let out_cb_pages = size::mul(out_shard_h, c.div_ceil(TILE), "output CB pages")?;
    let refusal = if c % TILE != 0 {
        Some("input channels should be divisible by 32".to_string())
    } else if out_cb_pages > MAX_CB_PAGES {
        Some(too_many_cb_pages(5, out_cb_pages))
    } else {
        None
    };
    if let Some(message) = refusal {
        ex.b.run(
            Program::new("UpsampleOperation", "UpsampleBilinearProgramFactory").refused(message),
        );
        ex.b.release(upsampled);
        ex.b.release(halo);
        ex.b.release(sharded_in);
        return Ok(Val::None);
    }
    let tile = tile_size(DType::Bfloat16);
    // Four pixels per page, of at most 8 tiles' width of one stick, double-buffered.
    let reduce_page = stick.min(8 * TILE * 2);
    ex.b.run(
        Program::new("UpsampleOperation", "UpsampleBilinearProgramFactory")
            .cb(CbKind::Circular, halo_shard_bytes, &grid_set)
            .bound()
            .cb(CbKind::Circular, 8 * reduce_page, &grid_set)
            .cb(CbKind::Circular, 8 * stick, &grid_set)
            .cb(CbKind::Circular, 2 * tile, &grid_set)
            .cb(CbKind::Circular, 2 * tile, &grid_set)
            .cb(
                CbKind::Circular,
                size::mul(out_shard_h, 2 * TILE * (c / TILE), "output CB")?,
                &grid_set,
            )
            .bound(),
    );
    if !explicit_out {
        ex.b.release(halo);
        ex.b.release(sharded_in);
        return Ok(Val::T(upsampled));
    }

    // 4. ShardedToInterleaved into the requested memory, on the cores holding output sticks.
    let out =
        ex.b.tensor("output", BufferRole::Temporary, out_spec, out_mem)?;
    let out_used = out_nhw.div_ceil(out_shard_h);
    let out_set =
        grid::num_cores_to_corerangeset((0, 0), out_used as u32, (d.grid_x, d.grid_y), true);
    unshard_program(ex, out_shard_bytes, &out_set);
    ex.b.release(upsampled);
    ex.b.release(halo);
    ex.b.release(sharded_in);
    Ok(Val::T(out))
}

#[cfg(test)]
mod bilinear_tests {
    use super::*;
    use crate::device::{N150, P150};

    /// The halo of `[n, h, w, c]` upsampled by `s` on a grid of `grid` cores: its sticks per
    /// core and its four config sizes, as `upsample_bilinear` plans them.
    fn halo(dims: [u64; 4], s: u64, d: &DeviceSpec, tiled: bool) -> (u64, [u64; 4]) {
        let [n, h, w, c] = dims;
        let nhw = n * h * w;
        let cores = (u64::from(d.grid_x) * u64::from(d.grid_y)).min(nhw);
        let win = Window {
            n,
            h,
            w,
            c,
            kernel: [2, 2],
            stride: [1, 1],
            pad: [1, 1],
            pad_end: [1, 1],
            dilation: [1, 1],
            ho: h * s,
            wo: w * s,
        };
        let out_shard = (n * h * s * w * s).div_ceil(cores);
        let bounds = bilinear_boundaries(&win, s, cores, out_shard);
        let sticks = bounds
            .iter()
            .flatten()
            .map(|b| b.in_last - b.in_first + 1)
            .max()
            .unwrap_or(0);
        let gx = u64::from(d.grid_x);
        let configs = halo_config_bytes(&win, &bounds, nhw.div_ceil(cores), tiled, |k| {
            (k % gx, k / gx)
        });
        (sticks, configs)
    }

    // Halo shards (sticks per core) and config rows (bytes) of the runtime's NO_DISPATCH
    // captures, ttnn 0.81.1, bfloat16.
    #[test]
    fn halo_spans_match_the_capture() {
        for (dims, s, sticks) in [
            ([1, 8, 8, 32], 1, 12),
            ([1, 8, 8, 32], 2, 14),
            // Float32 thirds: 20, not the 17 exact arithmetic gives.
            ([1, 8, 8, 32], 3, 20),
            ([1, 5, 7, 32], 2, 15),
            ([2, 9, 13, 64], 3, 45),
            ([1, 30, 50, 32], 4, 150),
            ([1, 100, 3, 32], 2, 17),
            ([3, 17, 11, 96], 3, 58),
            ([1, 64, 64, 32], 2, 198),
        ] {
            assert_eq!(halo(dims, s, &N150, false).0, sticks, "{dims:?} by {s}");
        }
        assert_eq!(halo([2, 9, 13, 64], 3, &P150, false).0, 40);
    }

    #[test]
    fn halo_configs_match_the_capture() {
        assert_eq!(halo([1, 8, 8, 32], 2, &N150, false).1, [8, 8, 76, 76]);
        assert_eq!(halo([1, 8, 8, 32], 1, &N150, false).1, [8, 8, 64, 64]);
        assert_eq!(halo([1, 8, 8, 32], 3, &N150, false).1, [8, 12, 112, 100]);
        assert_eq!(halo([1, 100, 3, 32], 2, &N150, false).1, [12, 12, 52, 40]);
        assert_eq!(halo([1, 30, 50, 32], 4, &N150, false).1, [8, 12, 64, 64]);
        assert_eq!(halo([3, 17, 11, 96], 3, &N150, false).1, [12, 12, 52, 52]);
        assert_eq!(halo([2, 9, 13, 64], 3, &P150, false).1, [8, 12, 136, 136]);
        // A TILE input's transfers are split at 32-stick blocks.
        assert_eq!(halo([1, 64, 64, 32], 2, &N150, true).1, [12, 12, 40, 40]);
    }
}

/// Room kept above a ROW_MAJOR reshard's scratchpad before memmodel trusts that it does not
/// clash (a device run's scratchpad is smaller than the capture's, by an amount not pinned).
const SCRATCHPAD_MARGIN: u64 = 4096;

/// Each of `cores` halo cores' boundary for a bilinear upsample by `s` whose cores take
/// `out_shard` output sticks each (`generate_shard_boundaries` with `is_bilinear`): the
/// smallest and largest top-left neighbour index of its output sticks in the padded input,
/// the last widened by the 2×2 window (`padded W + 1`).
///
/// The offsets are accumulated in float32 per output row and column as the runtime does
/// (`0.5 / s + 0.5`, then `+ 1 / s` per step), so a third lands below an integer now and then.
/// Within an output row the index grows with the column, and row bases grow with the row:
/// a core's smallest index is at its first stick or its first row start, its largest at its
/// last stick or its last row end.
fn bilinear_boundaries(win: &Window, s: u64, cores: u64, out_shard: u64) -> Vec<Option<Boundary>> {
    let floors = |len: u64| -> Vec<u64> {
        let inv = 1.0f32 / s as f32;
        let mut offset = 0.5f32 * inv + 0.5f32;
        (0..len)
            .map(|_| {
                let f = offset.floor() as u64;
                offset += inv;
                f
            })
            .collect()
    };
    let (fh, fw) = (floors(win.ho), floors(win.wo));
    let (hp, wp) = win.padded_hw();
    let image = win.ho * win.wo;
    let index = |p: u64| -> u64 {
        let (b, r) = (p / image, p % image);
        let (oy, ox) = (r / win.wo, r % win.wo);
        b * hp * wp + fh[oy as usize] * wp + fw[ox as usize]
    };
    let total = win.n * image;
    (0..cores)
        .map(|k| {
            let first = k * out_shard;
            (first < total).then(|| {
                let last = ((k + 1) * out_shard).min(total) - 1;
                // The first row start after `first` and the last row end before `last`.
                let next_row = (first / win.wo + 1) * win.wo;
                let prev_row_end = (last / win.wo) * win.wo;
                let mut lo = index(first);
                if next_row <= last {
                    lo = lo.min(index(next_row));
                }
                let mut hi = index(last);
                if prev_row_end > first {
                    hi = hi.max(index(prev_row_end - 1));
                }
                Boundary {
                    out_first: first,
                    out_last: last,
                    in_first: lo,
                    in_last: hi + wp + 1,
                }
            })
        })
        .collect()
}

/// How `conv::determine_parallel_config` spreads a pool over the grid: the shard scheme and the
/// cores along NHW and along channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Height,
    Width,
    Block,
}

#[derive(Debug, Clone, Copy)]
struct Parallel {
    scheme: Scheme,
    /// Cores along the flattened N·H·W rows.
    nhw: u64,
    /// Cores along the channels.
    ch: u64,
}

impl Parallel {
    fn cores(&self) -> u64 {
        self.nhw * self.ch
    }

    /// The cores the program factories run on: `num_cores_to_corerangeset` (row-wise) for
    /// height sharding, a `ch × nhw` rectangle for block sharding (ROW_MAJOR orientation).
    fn grid(&self, d: &DeviceSpec) -> CoreRangeSet {
        match self.scheme {
            Scheme::Block => CoreRangeSet::one(CoreRange::new(
                0,
                0,
                (self.ch - 1) as u32,
                (self.nhw - 1) as u32,
            )),
            _ => grid::num_cores_to_corerangeset(
                (0, 0),
                self.cores() as u32,
                (d.grid_x, d.grid_y),
                true,
            ),
        }
    }
}

/// `find_closest_largest_divisor_with_num_padding` (conv2d_utils.cpp): the largest core count
/// `<= start` whose padding of `num` stays below one shard.
pub(super) fn divisor_with_padding(num: u64, start: u64) -> u64 {
    let mut d = start.max(1);
    while d > 1 {
        let padded = num.div_ceil(d) * d;
        if padded - num < padded / d {
            break;
        }
        d -= 1;
    }
    d
}

/// `find_closest_largest_divisor(num, start)`: the largest divisor of `num` not above `start`.
fn largest_divisor(num: u64, start: u64) -> u64 {
    (1..=start.max(1))
        .rev()
        .find(|d| num.is_multiple_of(*d))
        .unwrap_or(1)
}

/// `find_closest_largest_divisor(num1, num2, start)`: the largest count not above `start` that
/// divides both `num1` and `num2`.
fn largest_common_divisor(num1: u64, num2: u64, start: u64) -> u64 {
    (1..=start.max(1))
        .rev()
        .find(|d| num1.is_multiple_of(*d) && num2.is_multiple_of(*d))
        .unwrap_or(1)
}

/// The pool geometry of one call (`SlidingWindowConfig`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct Window {
    pub(super) n: u64,
    pub(super) h: u64,
    pub(super) w: u64,
    pub(super) c: u64,
    pub(super) kernel: [u64; 2],
    pub(super) stride: [u64; 2],
    /// Padding before the first row / column, and (`pad_end`) after the last: equal for a
    /// whole op, unequal for a conv's DRAM slice (exec/conv_slice.rs).
    pub(super) pad: [u64; 2],
    pub(super) pad_end: [u64; 2],
    pub(super) dilation: [u64; 2],
    pub(super) ho: u64,
    pub(super) wo: u64,
}

impl Window {
    /// The window of a pool (or conv) over an [n, h, w, c] input: `None` where the dilated
    /// kernel does not fit the padded input (or the sizes overflow).
    pub(super) fn new(
        [n, h, w, c]: [u64; 4],
        kernel: [u64; 2],
        stride: [u64; 2],
        pad: [u64; 2],
        dilation: [u64; 2],
    ) -> Option<Window> {
        let out_dim = |size: u64, axis: usize| -> Option<u64> {
            let eff = dilation[axis].checked_mul(kernel[axis].checked_sub(1)?)? + 1;
            let span = size.checked_add(pad[axis].checked_mul(2)?)?;
            Some(span.checked_sub(eff)? / stride[axis].max(1) + 1)
        };
        Some(Window {
            n,
            h,
            w,
            c,
            kernel,
            stride,
            pad,
            pad_end: pad,
            dilation,
            ho: out_dim(h, 0)?,
            wo: out_dim(w, 1)?,
        })
    }

    /// The same window with `ceil_mode`: an output row or column more where a partial window
    /// is left over and starts inside the input or its leading padding (PyTorch's rule), read
    /// through extra padding after the last row / column (`pad_end`).
    fn with_ceil_mode(mut self) -> Window {
        let (h, w) = (self.h, self.w);
        for (axis, size) in [(0, h), (1, w)] {
            let eff = self.reach(axis);
            let span = size + 2 * self.pad[axis];
            let stride = self.stride[axis].max(1);
            let mut out = (span - eff).div_ceil(stride) + 1;
            if (out - 1) * stride >= size + self.pad[axis] {
                out -= 1;
            }
            let needed = (out - 1) * stride + eff;
            self.pad_end[axis] = self.pad[axis] + needed.saturating_sub(span);
            if axis == 0 {
                self.ho = out;
            } else {
                self.wo = out;
            }
        }
        self
    }

    pub(super) fn out_nhw(&self) -> u64 {
        self.n * self.ho * self.wo
    }

    /// The padded input's height and width.
    fn padded_hw(&self) -> (u64, u64) {
        (
            self.h + self.pad[0] + self.pad_end[0],
            self.w + self.pad[1] + self.pad_end[1],
        )
    }
}

/// Per-core bytes of the Pool2D program's buffers that are not bound to a tensor
/// (`pool::calculate_L1_usage` for a max pool with ROW_MAJOR output, no indices):
/// (scalar, clear value, one input CB, output CB of `out_shard_h` rows).
fn pool_cbs(win: &Window, ch: u64, out_shard_h: u64, shard_w: u64) -> (u64, u64, u64, u64) {
    let tile_bytes = TILE * TILE * 2;
    // Two pages of the reduce scalar tile, one tile of the clear value.
    let scalar = 2 * tile_bytes;
    let clear = tile_bytes;
    let in_ntiles_c = win.c.div_ceil(ch * TILE);
    let out_ntiles_c = win.c.div_ceil(ch * 16);
    let khw = win.kernel[0] * win.kernel[1];
    let rows = if khw <= 16 { khw } else { TILE };
    // A wide reduction (more than 8 tiles of channels) reads 8 tiles at a time.
    let in_tiles = in_ntiles_c.min(8);
    let in_cb = 2 * 2 * (in_tiles * TILE * rows).div_ceil(TILE * TILE) * TILE * TILE;
    let out_cb = out_shard_h * out_ntiles_c * shard_w.min(16) * 2;
    (scalar, clear, in_cb, out_cb.div_ceil(32) * 32)
}

/// `pool::determine_pool_config_for_auto_shard`: height, width and block sharding are each
/// configured (`determine_parallel_config` with row-granular NHW shards and tile-wide channel
/// shards) and the one whose Pool2D buffers take the least L1 per core wins, height first on
/// ties, then width.
#[cfg(test)]
fn parallel_config(d: &DeviceSpec, win: &Window) -> Parallel {
    parallel_config_in(d, win, TILE)
}

/// [`parallel_config`] with channel shards of whole `channel_unit`s: a tile for a TILE input,
/// half a tile for a ROW_MAJOR one (`determine_parallel_config` with
/// `is_shard_width_tile_multiple` false: seen on the runtime, 20 channels width-sharded on 2
/// cores where a TILE input takes 1).
fn parallel_config_in(d: &DeviceSpec, win: &Window, channel_unit: u64) -> Parallel {
    let nhw = win.out_nhw();
    let usage = |p: &Parallel| -> u64 {
        // The output memory config it is costed with: rows padded to whole tiles per core,
        // except width-sharded (all rows on every core, unpadded), channels to whole tiles per
        // core (`create_sharded_memory_config_from_parallel_config`; seen on p150: 22 channels
        // over 39 output rows width-sharded on 2 cores, not height-sharded on 39).
        let shard_h = match p.scheme {
            Scheme::Width => nhw,
            _ => nhw.div_ceil(p.nhw * TILE) * TILE,
        };
        let shard_w = win.c.div_ceil(p.ch * TILE) * TILE;
        let (a, b, i, o) = pool_cbs(win, p.ch, shard_h, shard_w);
        a + b + 2 * i + o
    };
    let [height, width, block] = [Scheme::Height, Scheme::Width, Scheme::Block]
        .map(|s| scheme_in(d, win, s, channel_unit, TILE));
    let (h, w, b) = (usage(&height), usage(&width), usage(&block));
    if h > w {
        if w > b {
            block
        } else {
            width
        }
    } else if h > b {
        block
    } else {
        height
    }
}

/// `conv::determine_parallel_config` for one shard scheme: NHW cores the largest count whose
/// row padding stays below a shard (all cores for height, the grid's rows for block), channel
/// cores the largest divisor of the channel tiles (all cores for width, the grid's columns for
/// block). Channel shards are whole `channel_unit`s (see [`parallel_config_in`]).
///
/// Width sharding takes the finer unit; block sharding takes the largest count of the grid's
/// columns dividing both the `channel_unit`s and the whole tiles of channels
/// (`find_closest_largest_divisor(out_channels_ntiles, input_channels_blocks, ..)`): seen on the
/// runtime, both boards, [4,5,3936,128] height-sharded where 16-channel block shards would cost
/// less, n150 420 channels (27 half tiles, 14 tiles) height-sharded, not block-sharded on 7.
fn scheme_in(
    d: &DeviceSpec,
    win: &Window,
    scheme: Scheme,
    channel_unit: u64,
    block_unit: u64,
) -> Parallel {
    let max_cores = d.worker_cores();
    let units = win.c.div_ceil(channel_unit.max(1));
    let blocks = win.c.div_ceil(block_unit.max(1));
    // Fewer than 32 output rows are pooled on one NHW core (seen on p150: 8, 15 and 16 output
    // rows on one core, where a count over rows gives 8, 15 and 16).
    let nhw = match win.out_nhw() {
        rows if rows < TILE => 1,
        rows => rows,
    };
    let (nhw, ch) = match scheme {
        Scheme::Height => (divisor_with_padding(nhw, max_cores), 1),
        Scheme::Width => (1, largest_divisor(units, max_cores)),
        Scheme::Block => (
            divisor_with_padding(nhw, u64::from(d.grid_y)),
            largest_common_divisor(units, blocks, u64::from(d.grid_x)),
        ),
    };
    Parallel { scheme, nhw, ch }
}

/// One core's part of a sliding-window op: its output pixels and the padded-input sticks its
/// windows read (`sliding_window::generate_shard_boundaries`).
#[derive(Debug, Clone, Copy)]
pub(super) struct Boundary {
    pub(super) out_first: u64,
    pub(super) out_last: u64,
    pub(super) in_first: u64,
    pub(super) in_last: u64,
}

impl Window {
    /// The dilated kernel's extent along `axis` (0: height, 1: width), in input rows or columns.
    pub(super) fn reach(&self, axis: usize) -> u64 {
        self.dilation[axis] * (self.kernel[axis] - 1) + 1
    }

    /// Padded-input index of an output pixel's window's top-left stick.
    pub(super) fn top_left(&self, p: u64) -> u64 {
        let (hp, wp) = self.padded_hw();
        let image = self.ho * self.wo;
        let (b, r) = (p / image, p % image);
        let (oh, ow) = (r / self.wo, r % self.wo);
        b * hp * wp + oh * self.stride[0] * wp + ow * self.stride[1]
    }

    /// Every NHW core's boundary (`None` for a core left without output pixels).
    pub(super) fn boundaries(&self, cores: u64, shard: u64) -> Vec<Option<Boundary>> {
        let wp = self.padded_hw().1;
        let reach =
            self.dilation[0] * (self.kernel[0] - 1) * wp + self.dilation[1] * (self.kernel[1] - 1);
        let total = self.out_nhw();
        (0..cores)
            .map(|k| {
                let out_first = k * shard;
                (out_first < total).then(|| {
                    let out_last = ((k + 1) * shard).min(total) - 1;
                    Boundary {
                        out_first,
                        out_last,
                        in_first: self.top_left(out_first),
                        in_last: self.top_left(out_last) + reach,
                    }
                })
            })
            .collect()
    }

    /// Where a padded-input stick comes from: `None` for padding, else its input row.
    fn source(&self, g: u64) -> Option<u64> {
        let (hp, wp) = self.padded_hw();
        let (b, r) = (g / (hp * wp), g % (hp * wp));
        let (y, x) = (r / wp, r % wp);
        let inside = y >= self.pad[0]
            && y < self.pad[0] + self.h
            && x >= self.pad[1]
            && x < self.pad[1] + self.w;
        inside.then(|| b * self.h * self.w + (y - self.pad[0]) * self.w + (x - self.pad[1]))
    }
}

/// A run of sticks copied by the halo: (source offset, destination offset, length).
type Run = (u64, u64, u64);

/// [`halo_config_bytes`] of a pool whose NHW cores each take `out_shard` output pixels
/// (`bounds`), with destination NoCs down a column (block sharding) or row-major over a grid
/// `gx` wide; memoized per process, keyed by everything the result depends on (a sweep of
/// shapes, the estimate and the sim run of one case, and DRAM slices ask for the same ones).
pub(super) fn halo_configs(
    win: &Window,
    bounds: &[Option<Boundary>],
    out_shard: u64,
    in_shard_h: u64,
    tiled: bool,
    block: bool,
    gx: u64,
) -> [u64; 4] {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    type Key = (Window, u64, u64, u64, bool, bool, u64);
    static MEMO: OnceLock<Mutex<HashMap<Key, [u64; 4]>>> = OnceLock::new();
    const CAPACITY: usize = 4096;
    let memo = MEMO.get_or_init(Default::default);
    let key = (
        *win,
        bounds.len() as u64,
        out_shard,
        in_shard_h,
        tiled,
        block,
        if block { 0 } else { gx },
    );
    if let Some(v) = memo.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
        return *v;
    }
    let v = halo_config_bytes(win, bounds, in_shard_h, tiled, |core| {
        if block {
            (0, core)
        } else {
            (core % gx, core / gx)
        }
    });
    let mut m = memo.lock().unwrap_or_else(|p| p.into_inner());
    if m.len() >= CAPACITY {
        m.clear();
    }
    m.insert(key, v);
    v
}

/// The two pad configs' sizes: per destination core its padding runs, ⌊n/2⌋ of them in the
/// first half and ⌈n/2⌉ in the second, each half as long as the longest core's, plus the
/// terminator. Shared by the closed form and its step-by-step reference.
fn pad_config_bytes<'a>(
    runs: impl Iterator<Item = (&'a (Option<u64>, u64), &'a Vec<Run>)>,
    cores: usize,
) -> (u64, u64) {
    let mut pads = vec![0u64; cores];
    for ((src, dst), list) in runs {
        if src.is_none() {
            pads[*dst as usize] += list.len() as u64;
        }
    }
    let pad0 = pads.iter().map(|n| 2 * (n / 2)).max().unwrap_or(0) + 2;
    let pad1 = pads.iter().map(|n| 2 * n.div_ceil(2)).max().unwrap_or(0) + 2;
    (pad0, pad1)
}

/// Per-core bytes of the four halo config tensors (pad config 0 / 1, gather config 0 / 1) as
/// `sliding_window::generate_halo_kernel_config_tensors` builds them when cores push their
/// sticks to their neighbours:
/// - every destination core's input sticks are grouped into runs per (source core, destination)
///   that are contiguous on both sides; padding runs go to the pad configs, split in halves,
///   each flattened to `[dst, len]...` plus a null pair and padded to the longest core's;
/// - each source core's gather config lists its transfers (its local runs first, then remote
///   ones by destination). A TILE input (the untilize path) splits them at 32-stick source
///   blocks, sorts them by source offset (then destination NoC x, y) and deals them to the two
///   data-movement cores by block parity; a ROW_MAJOR input deals its whole runs alternately,
///   in list order. Each half is serialized as `routes, [noc_x, noc_y, n, (src, dst, len)×n]...`
///   and padded to the longest core's;
/// - `construct_on_host_config_tensor` pads each row to an even number of u16.
fn halo_config_bytes(
    win: &Window,
    bounds: &[Option<Boundary>],
    in_shard_h: u64,
    tiled: bool,
    noc: impl Fn(u64) -> (u64, u64),
) -> [u64; 4] {
    const U16: u64 = 0xFFFF;
    let cores = bounds.len();
    let runs = halo_runs(win, bounds, in_shard_h);
    let even = |n: u64| n.div_ceil(2) * 2;
    let (pad0, pad1) = pad_config_bytes(runs.iter().map(|(key, list)| (key, list)), cores);
    // Gather configs, per source core: its transfers as (source offset, length, destination
    // NoC), its local run list first, then its remote ones by destination core (the order of
    // the (source, destination) map). A transfer's fields are u16 (`GatherTransfer`): offsets
    // and lengths past 65535 wrap, as they do in the 4K/8K captures whose shards exceed that.
    let mut by_source: BTreeMap<u64, Vec<(u64, &Vec<Run>)>> = BTreeMap::new();
    for ((src, dst), list) in &runs {
        // Only the op's cores send (the input's shards are as many).
        if let Some(src) = src.filter(|s| *s < cores as u64) {
            by_source.entry(src).or_default().push((*dst, list));
        }
    }
    // A core without transfers still has its route count.
    let (mut g0, mut g1) = (u64::from(cores > 0), u64::from(cores > 0));
    let mut transfers: Vec<(u64, u64, (u64, u64))> = Vec::new();
    for (core, mut routes) in by_source {
        routes.sort_by_key(|(dst, _)| (*dst != core, *dst));
        transfers.clear();
        for (dst, list) in routes {
            let to = noc(dst);
            transfers.extend(list.iter().map(|&(so, _, len)| (so & U16, len & U16, to)));
        }
        let [n0, n1] = if tiled {
            tiled_gather_words(&transfers)
        } else {
            // A row-major input's transfers stay whole, dealt alternately in list order.
            let mut halves = [RouteCount::default(), RouteCount::default()];
            for (i, &(_, _, to)) in transfers.iter().enumerate() {
                halves[i % 2].push(1, 0, to, to);
            }
            halves.map(|h| h.words())
        };
        g0 = g0.max(n0);
        g1 = g1.max(n1);
    }
    [pad0, pad1, even(g0), even(g1)].map(|n| n * 2)
}

/// Every destination core's input sticks grouped into runs per (source core, or `None` for
/// padding; destination core) that are contiguous on both sides: (source offset, destination
/// offset, length); by (source, destination).
fn halo_runs(win: &Window, bounds: &[Option<Boundary>], in_shard_h: u64) -> Vec<RunList> {
    let mut runs: Vec<RunList> = Vec::new();
    let wp = win.padded_hw().1;
    // One destination's lists by source (a handful: padding and two or three shards).
    let mut lists: Vec<(Option<u64>, Vec<Run>)> = Vec::new();
    for (k, b) in bounds.iter().enumerate() {
        let Some(b) = b else { continue };
        let k = k as u64;
        let mut g = b.in_first;
        while g <= b.in_last {
            // The longest stretch from `g` that is all padding or all from one input shard,
            // within one padded row.
            let row_end = (g / wp + 1) * wp - 1;
            let (src, local, end) = match win.source(g) {
                None => {
                    // Padding lasts to the row's first input stick (left padding of an input
                    // row) or to the row's end.
                    let x = g % wp;
                    let e = if x < win.pad[1] && win.source(g - x + win.pad[1]).is_some() {
                        g - x + win.pad[1] - 1
                    } else {
                        row_end
                    };
                    (None, 0, e.min(b.in_last))
                }
                Some(i) => {
                    let x = g % wp;
                    let in_row = win.pad[1] + win.w - 1 - x;
                    let shard_left = in_shard_h - 1 - i % in_shard_h;
                    let e = (g + in_row.min(shard_left)).min(b.in_last);
                    (Some(i / in_shard_h), i % in_shard_h, e)
                }
            };
            let len = end - g + 1;
            let dst = g - b.in_first;
            let list = match lists.iter().position(|(s, _)| *s == src) {
                Some(i) => &mut lists[i].1,
                None => {
                    lists.push((src, Vec::new()));
                    &mut lists.last_mut().expect("just pushed").1
                }
            };
            match list.last_mut() {
                Some(last)
                    if (src.is_none() || local == last.0 + last.2) && dst == last.1 + last.2 =>
                {
                    last.2 += len
                }
                _ => list.push((local, dst, len)),
            }
            g = end + 1;
        }
        runs.extend(lists.drain(..).map(|(src, list)| ((src, k), list)));
    }
    // By (source, destination), padding first.
    runs.sort_unstable_by_key(|(key, _)| *key);
    runs
}

/// The runs of one (source core or `None` for padding, destination core).
type RunList = ((Option<u64>, u64), Vec<Run>);

/// One half of a source core's serialized gather config, counted as it is built: the route
/// count, then per route `noc_x, noc_y, n` and per transfer `src, dst, len` (consecutive
/// transfers to one core share a route, `reduce_flattened_transfers`).
#[derive(Debug, Default, Clone, Copy)]
struct RouteCount {
    transfers: u64,
    /// Adjacent transfers to the same core.
    same: u64,
    last: Option<(u64, u64)>,
}

impl RouteCount {
    /// Appends a sequence of `len` transfers that starts at NoC `first`, ends at `last` and has
    /// `same` adjacent pairs to one core inside it.
    fn push(&mut self, len: u64, same: u64, first: (u64, u64), last: (u64, u64)) {
        self.push_copies(1, len, same, first, last);
    }

    /// [`RouteCount::push`] `copies` times.
    fn push_copies(
        &mut self,
        copies: u64,
        len: u64,
        same: u64,
        first: (u64, u64),
        last: (u64, u64),
    ) {
        if copies == 0 || len == 0 {
            return;
        }
        self.transfers += copies * len;
        self.same += copies * same
            + (copies - 1) * u64::from(first == last)
            + u64::from(self.last == Some(first));
        self.last = Some(last);
    }

    /// u16 words: the route count, three per route, three per transfer.
    fn words(&self) -> u64 {
        1 + 3 * (self.transfers - self.same) + 3 * self.transfers
    }
}

/// The two halves of one source core's gather config for a TILE input, in u16 words. The
/// transfers (source offset, length, destination NoC) are split at every 32-stick block of the
/// source (`quantize_transfers_along_block_boundaries`), sorted by source offset then NoC
/// (`reorder_transfers_globally`) and dealt by block parity (`divide_blocks_between_cores`).
///
/// Counted over stretches of blocks rather than piece by piece (a 4K shard has thousands of
/// pieces): a transfer's pieces start at its offset and at every block boundary inside it (u16
/// offsets, so block positions wrap at 2048); between the blocks where some transfer starts or
/// ends, every block holds the same pieces (one per covering transfer, at the block's start,
/// in NoC order), so such a stretch is counted at once.
fn tiled_gather_words(transfers: &[(u64, u64, (u64, u64))]) -> [u64; 2] {
    const BLOCK: u64 = 32;
    const BLOCKS: u64 = (u16::MAX as u64 + 1) / BLOCK;
    // Block positions where pieces at the block start begin (true) or stop (false) for a NoC.
    let mut events: Vec<(u64, bool, (u64, u64))> = Vec::with_capacity(4 * transfers.len());
    // Each transfer's first piece: (block, offset in the block, NoC).
    let mut firsts: Vec<(u64, u64, (u64, u64))> = Vec::with_capacity(transfers.len());
    let mut cuts: Vec<u64> = vec![0, BLOCKS];
    for &(so, len, to) in transfers {
        if len == 0 {
            continue;
        }
        let b0 = so / BLOCK;
        firsts.push((b0, so % BLOCK, to));
        cuts.extend([b0, b0 + 1]);
        // Later pieces start at the block boundaries strictly inside [so, so + len).
        let (lo, hi) = (b0 + 1, (so + len - 1) / BLOCK + 1);
        if hi <= lo {
            continue;
        }
        let spans = if hi <= BLOCKS {
            [(lo, hi), (0, 0)]
        } else if lo >= BLOCKS {
            [(lo - BLOCKS, hi - BLOCKS), (0, 0)]
        } else {
            [(lo, BLOCKS), (0, hi - BLOCKS)]
        };
        for (a, b) in spans.into_iter().filter(|(a, b)| a < b) {
            events.push((a, true, to));
            events.push((b, false, to));
            cuts.extend([a, b]);
        }
    }
    // Removals before additions at one position (false < true).
    events.sort_unstable();
    firsts.sort_unstable();
    cuts.sort_unstable();
    cuts.dedup();
    let mut covering: BTreeMap<(u64, u64), u64> = BTreeMap::new();
    let mut halves = [RouteCount::default(), RouteCount::default()];
    let (mut e, mut f) = (0, 0);
    // One block's pieces as (count, NoC) runs in sorted order.
    let mut block: Vec<(u64, (u64, u64))> = Vec::new();
    for w in cuts.windows(2) {
        let (x, y) = (w[0], w[1]);
        while e < events.len() && events[e].0 <= x {
            let (_, add, to) = events[e];
            if add {
                *covering.entry(to).or_default() += 1;
            } else if let Some(n) = covering.get_mut(&to) {
                *n -= 1;
                if *n == 0 {
                    covering.remove(&to);
                }
            }
            e += 1;
        }
        if f < firsts.len() && firsts[f].0 == x {
            // A block where transfers start (y == x + 1): the covering pieces (offset 0) and
            // the first pieces, sorted by (offset, NoC), kept as runs of one NoC with their
            // counts (covering pieces can be many thousands per NoC where u16 offsets wrap:
            // listing them one by one made a block cost O(transfers)).
            let start = f;
            while f < firsts.len() && firsts[f].0 == x {
                f += 1;
            }
            // `firsts` is sorted by (block, offset, NoC): this block's are in order already.
            let mine = &firsts[start..f];
            let at_start = mine.iter().take_while(|p| p.1 == 0).count();
            block.clear();
            block.extend(covering.iter().map(|(to, n)| (*n, *to)));
            block.extend(mine[..at_start].iter().map(|p| (1, p.2)));
            // Offset 0: by NoC, one count per NoC.
            block.sort_unstable_by_key(|(_, to)| *to);
            block.dedup_by(|later, kept| {
                let same_noc = later.1 == kept.1;
                if same_noc {
                    kept.0 += later.0;
                }
                same_noc
            });
            block.extend(mine[at_start..].iter().map(|p| (1, p.2)));
            let len: u64 = block.iter().map(|(n, _)| n).sum();
            let same = block.iter().map(|(n, _)| n - 1).sum::<u64>()
                + block.windows(2).filter(|p| p[0].1 == p[1].1).count() as u64;
            halves[(x % 2) as usize].push(len, same, block[0].1, block[block.len() - 1].1);
            continue;
        }
        let (Some((first, _)), Some((last, _))) =
            (covering.first_key_value(), covering.last_key_value())
        else {
            continue;
        };
        let len: u64 = covering.values().sum();
        let same: u64 = covering.values().map(|n| n - 1).sum();
        // Blocks x..y: the even ones go to half 0, the odd ones to half 1.
        let evens = y.div_ceil(2) - x.div_ceil(2);
        let odds = (y - x) - evens;
        halves[0].push_copies(evens, len, same, *first, *last);
        halves[1].push_copies(odds, len, same, *first, *last);
    }
    halves.map(|h| h.words())
}

/// Per-core bytes of Pool2D's reader-indices config
/// (`sliding_window::generate_sliding_window_op_config`, not a conv): a count, an alignment
/// word and a (first, last) pair of top-left indices per run of windows `stride_w` apart,
/// padded to the longest core's and to an even length.
fn reader_config_bytes(win: &Window, bounds: &[Option<Boundary>]) -> u64 {
    // Windows of one output row are `stride_w` apart; the next row's (or the next image's)
    // first window continues the run only where its top-left index is `stride_w` on too, as
    // with a 1×1 kernel at stride 1 (seen on the runtime: one run per core).
    let wp = win
        .w
        .saturating_add(win.pad[1])
        .saturating_add(win.pad_end[1]);
    let hp = win
        .h
        .saturating_add(win.pad[0])
        .saturating_add(win.pad_end[0]);
    let last_in_row = (win.wo - 1).saturating_mul(win.stride[1]);
    let row_jump = win.stride[0].saturating_mul(wp).checked_sub(last_in_row);
    let image_jump = hp
        .saturating_sub((win.ho - 1).saturating_mul(win.stride[0]))
        .saturating_mul(wp)
        .checked_sub(last_in_row);
    let breaks = |jump: Option<u64>| jump != Some(win.stride[1]);
    let len = bounds
        .iter()
        .flatten()
        .map(|b| {
            let rows = b.out_last / win.wo - b.out_first / win.wo;
            let image_size = win.ho * win.wo;
            let images = b.out_last / image_size - b.out_first / image_size;
            let runs = 1
                + if breaks(row_jump) { rows - images } else { 0 }
                + if breaks(image_jump) { images } else { 0 };
            2 + 2 * runs
        })
        .max()
        .unwrap_or(0);
    len.div_ceil(2) * 2 * 2
}

/// The most pages a circular buffer may have (`circular_buffer.cpp`: its page counters are 16
/// bits): creating a program with a larger one raises.
pub(super) const MAX_CB_PAGES: u64 = 65_535;

/// `UntilizeWithHaloProgramFactory`'s circular buffers on the halo's cores, in the order the
/// factory makes them: its input (bound to the input shard) and output (bound to the halo
/// shard), two buffers of one aligned stick (`[input, halo, stick]` bytes), the untilize's two
/// blocks where the input is tiled, and the four config tensors (pad, pad, gather, gather),
/// each bound to its L1_SMALL buffer. Shared by conv2d's, max_pool2d's and bilinear upsample's
/// halos.
pub(super) fn halo_program(
    grid: &CoreRangeSet,
    [input, halo, stick]: [u64; 3],
    untilize: Option<u64>,
    configs: [u64; 4],
) -> Program {
    let mut p = Program::new("HaloDeviceOperation", "UntilizeWithHaloProgramFactory")
        .cb(CbKind::Circular, input, grid)
        .bound()
        .cb(CbKind::Circular, halo, grid)
        .bound()
        .cb(CbKind::Circular, stick, grid)
        .cb(CbKind::Circular, stick, grid);
    if let Some(untilize) = untilize {
        p = p
            .cb(CbKind::Circular, untilize, grid)
            .cb(CbKind::Circular, untilize, grid);
    }
    for bytes in configs {
        p = p.cb(CbKind::Circular, bytes, grid).bound();
    }
    p
}

/// The halo program refused when it is made (one of its CBs): the op raises with its config
/// tensors, halo output and resharded input allocated, and they die with the call.
fn refuse_halo(
    ex: &mut Exec<'_>,
    reason: String,
    configs: impl IntoIterator<Item = DevTensor>,
    halo: DevTensor,
    sharded_in: DevTensor,
) -> Result<Val, CaseError> {
    ex.b.run(Program::new("HaloDeviceOperation", "UntilizeWithHaloProgramFactory").refused(reason));
    for t in configs {
        ex.b.release(t);
    }
    ex.b.release(halo);
    ex.b.release(sharded_in);
    Ok(Val::None)
}

/// tt-metal's message for a circular buffer of too many pages.
pub(super) fn too_many_cb_pages(index: u64, pages: u64) -> String {
    format!(
        "For buffer index {index}, number of CB pages {pages} is greater than {MAX_CB_PAGES}. \
         Would cause wraparound in the CB calculations."
    )
}

/// `ttnn.max_pool2d(x, N, H, W, C, kernel, stride, padding, dilation, memory_config=...)` on a
/// flattened NHWC TILE input [1, 1, N·H·W, C] (generic_pools.cpp, `Pool2DOp::invoke`):
/// 1. the interleaved input is resharded in L1 (`InterleavedToSharded`) by the auto-shard
///    parallel config;
/// 2. `HaloDeviceOperation` (UntilizeWithHaloProgramFactory) gathers each core's input window
///    rows into a row-major sharded tensor, with four small config tensors;
/// 3. `Pool2D` (MultiCore) writes a row-major sharded output, with a reader-indices config
///    tensor;
/// 4. `ShardedToInterleaved` copies it to the requested interleaved memory (without
///    memory_config the row-major L1 shards of step 3 are the output).
///
/// The config tensors live in L1_SMALL (the device must be opened with it; the program cache
/// keeps copies). A DRAM input is pooled in as many DRAM slices as the runtime's L1 estimate says
/// (`sliced`).
///
/// A halo or Pool2D whose output CB would have more than [`MAX_CB_PAGES`] pages is refused
/// when its program is created (a refused [`Program`] with tt-metal's message): the op raises,
/// its buffers are freed and it returns nothing, as the NO_DISPATCH capture of 4K/8K L1 inputs
/// shows. Such a CB is larger than an L1 bank, so the buffer it is bound to could never be
/// allocated: on a device these cases fail for memory before (the input's OOM).
fn max_pool2d(ex: &mut Exec<'_>, a: &Args<'_>) -> Result<Val, CaseError> {
    let x = a.tensor(0, "input_tensor")?.clone();
    let int = |i: usize, name: &str| -> Result<u64, CaseError> {
        a.int(i, name)?
            .and_then(|v| u64::try_from(v).ok())
            .filter(|v| *v >= 1)
            .ok_or_else(|| invalid(a.function, format!("`{name}` must be a positive integer")))
    };
    let pair = |i: usize, name: &str, min: u64| -> Result<[u64; 2], CaseError> {
        let v = a
            .ints(i, name)?
            .ok_or_else(|| invalid(a.function, format!("`{name}` is required")))?;
        match v.as_slice() {
            [p, q] if *p >= min as i64 && *q >= min as i64 => Ok([*p as u64, *q as u64]),
            _ => Err(invalid(
                a.function,
                format!("`{name}` must be two integers >= {min}, got {v:?}"),
            )),
        }
    };
    let (n, h, w, c) = (
        int(1, "batch_size")?,
        int(2, "input_h")?,
        int(3, "input_w")?,
        int(4, "channels")?,
    );
    let kernel = pair(5, "kernel_size", 1)?;
    let stride = pair(6, "stride", 1)?;
    let pad = pair(7, "padding", 0)?;
    let dilation = pair(8, "dilation", 1)?;
    let ceil_mode = a.bool_or(usize::MAX, "ceil_mode", false)?;
    // float32 and uint16 are resharded and haloed at their own element size, then refused by
    // the pool (seen on n150: float32 [1,1,160000,64] in L1, both layouts, OOM at the halo's
    // 729,600 B a bank; uint16 [1,1,3136,64] refused in both layouts and memories).
    let float32 = x.dtype() == DType::Float32;
    let uint16 = x.dtype() == DType::Uint16;
    // A bfloat8_b input (TILE only) is resharded in its own tiles and untilized by the halo into
    // bfloat16 sticks: from the halo on it is pooled as a bfloat16 one (seen on n150: [1,64,56,56]
    // in L1, the runtime's trace differs from bfloat16's only in the resharded input's tiles).
    // uint8, uint32, int32 and bfloat4_b TILE inputs likewise: resharded in their own tiles,
    // haloed and pooled as bfloat16 (seen on n150: [1,64,56,56] in L1, each trace differing
    // from bfloat8_b's only in the resharded input's tiles). A ROW_MAJOR uint8 / uint32 / int32
    // input is resharded in its own sticks and haloed into bfloat16 ones (see `halo_in_cb`).
    let halo_dtype = if float32 || uint16 {
        x.dtype()
    } else {
        DType::Bfloat16
    };
    // The halo's (untilized, row-major) element size; any dtype but bfloat16 is refused by
    // Pool2D.
    let elem = halo_dtype.row_major_element_bytes();
    // A ROW_MAJOR input's resharded sticks hold the input's own elements.
    let in_elem = x.dtype().row_major_element_bytes();
    let tiled = x.layout() == Layout::Tile;
    let rows = size::product([n, h, w], "N·H·W")?;
    let flat = [1, 1, rows, c];
    if x.dims() != flat && x.dims() != [n, h, w, c] {
        return Err(invalid(
            a.function,
            format!(
                "needs a [1, 1, {rows}, {c}] or [{n}, {h}, {w}, {c}] input, got {}",
                x.shape()
            ),
        ));
    }
    let mut win = Window::new([n, h, w, c], kernel, stride, pad, dilation)
        .ok_or_else(|| invalid(a.function, "the kernel does not fit the padded input"))?;
    if ceil_mode {
        win = win.with_ceil_mode();
    }
    let padded_rows = (h + 2 * pad[0]).saturating_mul(n);
    if padded_rows > MAX_POOL_ROWS {
        return Err(unmodeled(
            a.function,
            format!(
                "a pool of {padded_rows} padded input rows (N·(H + 2·padding); memmodel builds halo configs per row and models up to {MAX_POOL_ROWS})"
            ),
        ));
    }
    let d = ex.device();
    let out_mem = out_memory(a, x.memory)?;
    let pc = parallel_config_in(d, &win, if tiled { TILE } else { TILE / 2 });
    let grid_set = pc.grid(d);
    let out_nhw = win.out_nhw();
    let tile = tile_size(x.dtype());

    // 1. The input's shard spec (`create_sharded_memory_config_from_parallel_config` with
    //    tile-high shards): rows padded to whole tiles on every NHW core, channels to whole
    //    tiles on every channel core. Only the shards holding rows are allocated.
    //    The shard height is taken from the rows the input holds as given: an [N, H, W, C]
    //    input's TILE padding of W counts (N·H·ceil32(W) rows), though it is resharded
    //    flattened (seen in the runtime's per-bank numbers, block and height sharding).
    //    A ROW_MAJOR input's shards are whole rows (not tiles) of channels in whole 8s (16-byte
    //    sticks): seen on the runtime, [1,1,2970,3] on 64 cores takes 47 rows of 16 B per
    //    core, 20 channels width-sharded on 2 cores 16 each.
    let held_rows = if x.dims() == flat || !tiled {
        rows
    } else {
        size::product([n, h, w.div_ceil(TILE) * TILE], "N·H·padded W")?
    };
    let (in_shard_h, shard_w, padded_rows) = if tiled {
        (
            held_rows.div_ceil(pc.nhw * TILE) * TILE,
            c.div_ceil(pc.ch * TILE) * TILE,
            rows.div_ceil(TILE) * TILE,
        )
    } else {
        (held_rows.div_ceil(pc.nhw), c.div_ceil(pc.ch * 8) * 8, rows)
    };
    let used_rows = padded_rows.div_ceil(in_shard_h);
    let used_cols = if tiled {
        (c.div_ceil(TILE) * TILE).div_ceil(shard_w)
    } else {
        c.div_ceil(shard_w)
    };
    let used = used_rows * used_cols;
    let used_set = match pc.scheme {
        Scheme::Block => CoreRangeSet::one(CoreRange::new(
            0,
            0,
            (used_cols - 1) as u32,
            (used_rows - 1) as u32,
        )),
        _ => grid::num_cores_to_corerangeset((0, 0), used as u32, (d.grid_x, d.grid_y), true),
    };
    // The halo's sticks (of `elem` bytes a channel) and the resharded ROW_MAJOR input's.
    let stick = shard_w * elem;
    let in_stick = shard_w * in_elem;
    // (page, pages of the resharded input, pages per shard)
    let (in_page, in_pages, shard_pages) = if tiled {
        (
            tile,
            x.spec.pages()?,
            (in_shard_h / TILE) * (shard_w / TILE),
        )
    } else {
        (
            in_stick,
            size::mul(rows, used_cols, "input shard pages")?,
            in_shard_h,
        )
    };
    let in_shard_bytes = size::mul(shard_pages, in_page, "input shard")?;
    // The halo's shard: the window rows of one core's output pixels, sticks of its channels.
    let out_shard_h = out_nhw.div_ceil(pc.nhw);
    let bounds = win.boundaries(pc.nhw, out_shard_h);
    // The halo shard is the longest input span of a core (`generate_max_out_nsticks_per_core`).
    let sticks = bounds
        .iter()
        .flatten()
        .map(|b| b.in_last - b.in_first + 1)
        .max()
        .unwrap_or(0);
    let aligned_stick = stick.div_ceil(d.l1_alignment) * d.l1_alignment;
    // Untilize output: two blocks of 32 rows by the shard's channel tiles, per data-movement
    // core; two pad CBs of one aligned stick.
    let untilize = 2 * (shard_w / TILE) * tile_size(halo_dtype);
    // The L1 bank left once the device is opened with max_pool2d's L1_SMALL.
    let l1_bank = d
        .l1_bank_bytes
        .saturating_sub(crate::device::MAX_POOL_L1_SMALL);
    if x.memory == BufferType::Dram {
        // The runtime pools a DRAM input in as many slices as its own L1 estimate says
        // (`slice_count`; one: whole, as below). The estimate counts a float32 pool in float32
        // sticks and tiles, any other in bfloat16 ones (`calculate_L1_usage_for_pool2d_slice`).
        let estimate_dtype = if float32 {
            DType::Float32
        } else {
            DType::Bfloat16
        };
        let slicing = match slice_count(d, &win, tiled, estimate_dtype, l1_bank)
            .map_err(|why| unmodeled(a.function, why))?
        {
            Ok(slicing) => slicing,
            Err(message) => {
                ex.b.run(Program::new("Pool2D", "DRAM slicing").refused(message));
                return Ok(Val::None);
            }
        };
        if slicing.count > 1 {
            if let Some(message) = slice_kernel_refusal(&win, slicing) {
                ex.b.run(Program::new("Pool2D", "DRAM slicing").refused(message));
                return Ok(Val::None);
            }
            return sliced(ex, a, &x, &win, slicing, halo_dtype);
        }
        if (0..2).any(|i| 2 * pad[i] > kernel[i]) {
            // Pooled whole, it is refused before anything is allocated, as an L1 pool is
            // (coverage.rs; a float32 one with a stride of 1 and a bfloat4_b one with
            // ceil_mode get here past it). Seen on p150: float32 [4,1024,3,263] kernel 1x1
            // padding [1,0] and [4,1024,1,488] kernel 1x4 padding [2,0] (random differential
            // seed 1215131); bfloat4_b NHWC [2,317,1,1562] kernel 2x2 padding 2 ceil_mode
            // (seed 1207712).
            ex.b.run(
                Program::new("Pool2D", "MultiCore")
                    .refused(padding_refusal([pad[0], pad[0], pad[1]], kernel)),
            );
            return Ok(Val::None);
        }
    }
    // An [N, H, W, C] input is first reshaped to [1, 1, N·H·W, C] in its own memory (a
    // ReshapeView copy where the tiles' padding changes, else a view); the copy is freed once
    // resharded (seen in the runtime's captures, L1 and DRAM inputs alike).
    let flattened = super::data_movement::reshape(ex, &x, &flat.map(|v| v as i64), x.memory)?;
    if refused_so_far(ex.b) {
        // A uint8 / uint16 copy is refused after its output (seen on n150: nhwc [1,986,7,872]
        // uint16 in DRAM and [1,1024,6,274] uint8 in L1, both TILE, raise the reshape's words).
        ex.b.release(flattened);
        return Ok(Val::None);
    }
    if pc.nhw == 1 && in_shard_h != padded_rows {
        // One shard along the rows (width sharding, or one core) holds every row: the held
        // rows' count differs from the flattened tensor's, and the runtime refuses the sharded
        // memory config in these words whatever the scheme (seen on p150, a one-core height
        // sharding of [1,3,19,9]).
        ex.b.run(
            Program::new(
                "InterleavedToShardedDeviceOperation",
                "InterleavedToShardedProgramFactory",
            )
            .refused(format!(
                "Shard height {in_shard_h} must match physical height {padded_rows} for width sharded"
            )),
        );
        ex.b.release(flattened);
        return Ok(Val::None);
    }
    let input_per_bank = ex.b.buffers[flattened.buffer].placement.per_bank_bytes;
    // An L1 input that cannot have been allocated (it is the case's OOM in normal mode) is
    // resharded by CopyDeviceOperation in the graph capture.
    // A ROW_MAJOR input whose shard alone exceeds the bank is copied too (seen on n150:
    // [1,1,92672,448] in L1, 1,297,376 B a bank, block shards of 1,482,752 B).
    // A TILE input's too (seen on p150: [1,1024,7,3378] dilated 5×5 in L1, 1,513,472 B block
    // shards; the 5000-case draw seed 1212002 had it as InterleavedToSharded).
    let by_copy =
        (x.memory == BufferType::L1 && input_per_bank > l1_bank) || in_shard_bytes > l1_bank;
    if !tiled && !by_copy {
        // As for a bilinear upsample: a device run stages ROW_MAJOR sticks in a smaller
        // scratchpad than the capture's; where the shard leaves too little L1 for it, whether
        // and where it clashes is not pinned.
        let align = d.dram_alignment.max(1);
        let slot = in_stick.div_ceil(align).saturating_add(1) * align;
        let below = if x.memory == BufferType::L1 {
            input_per_bank
        } else {
            0
        };
        let held = in_shard_bytes.saturating_add(below);
        if held <= l1_bank && held.saturating_add(4 * slot + SCRATCHPAD_MARGIN) > l1_bank {
            ex.b.release(flattened);
            return Err(unmodeled(
                a.function,
                "a ROW_MAJOR pool whose input shard leaves less L1 than the resharding scratchpad needs (a device run's scratchpad size is not pinned)",
            ));
        }
    }
    let sharded_in = sharded(
        ex,
        "sharded input",
        flattened.spec.clone(),
        sharded_placement(d, BufferType::L1, in_pages, in_page, used, shard_pages)?,
    );
    if tiled || !by_copy {
        // A device run copies where the L1 left below the shard is too small for
        // InterleavedToSharded, as conv2d's reshard does (seen on n150: float32
        // [1,1,6918,1024] TILE in L1, 2×2 stride 1, its 458,752 B shards at the allocator's
        // base under the input's reshaped copy: the run's CopyDeviceOperation clashed with
        // them, "static dataflow buffer region ends at 114016", the shard at 110592).
        let run_as = (!by_copy)
            .then(|| super::conv::run_copy_instead(ex, &flattened, in_shard_bytes, in_page))
            .flatten();
        reshard_program_run_as(
            ex,
            by_copy,
            in_page,
            in_shard_bytes,
            &used_set,
            (!tiled).then_some(in_stick),
            run_as,
        );
    } else {
        // DefaultRowMajor: two shard sticks at the L1 alignment on the cores splitting the
        // rows, and a scratchpad of one input row (seen on n150: [1,1,1048576,64] height-
        // sharded, 256 + 128 B on every core; [1,1,42875,1024] width-sharded in 16 channels,
        // 64 + 2,048 B).
        let in_row = c * in_elem;
        let aligned = in_stick.div_ceil(d.l1_alignment) * d.l1_alignment;
        let copy_cores = grid::merge_ranges(&grid::split_work(d, rows, false).all);
        ex.b.run(
            Program::new("CopyDeviceOperation", "DefaultRowMajor")
                .cb(CbKind::Dataflow, 2 * aligned, &copy_cores)
                .cb(CbKind::Scratchpad, in_row, &copy_cores),
        );
    }
    ex.b.release(flattened);

    // 2. Halo, with its pad and gather configs.
    let halo_spec = TensorSpec::new(
        Shape::from_dims(vec![1, 1, size::mul(sticks, pc.nhw, "halo rows")?, c])?,
        halo_dtype,
        Layout::RowMajor,
    );
    let halo_placement = sharded_placement(
        d,
        BufferType::L1,
        size::mul(pc.cores(), sticks, "halo sticks")?,
        stick,
        pc.cores(),
        sticks,
    )?;
    let halo = sharded(ex, "halo", halo_spec.clone(), halo_placement);
    let cfg = |ex: &mut Exec<'_>, what: &'static str, bytes: u64| -> Result<DevTensor, CaseError> {
        let spec = TensorSpec::new(
            Shape::from_dims(vec![1, pc.cores(), bytes / 2])?,
            DType::Uint16,
            Layout::RowMajor,
        );
        // `move_config_tensor_to_device`: one row per core in L1_SMALL, which the graph
        // capture reports as L1.
        let mut p = sharded_placement(d, BufferType::L1Small, pc.cores(), bytes, pc.cores(), 1)?;
        p.traced_as = Some(BufferType::L1);
        Ok(sharded(ex, what, spec, p))
    };
    // NoC order of the destination cores: block sharding numbers NHW cores down a column,
    // height sharding row-major over the grid (worker NoC coordinates keep the logical order).
    let gx = u64::from(d.grid_x);
    let block = pc.scheme == Scheme::Block;
    let [pad0, pad1, gather0, gather1] =
        halo_configs(&win, &bounds, out_shard_h, in_shard_h, tiled, block, gx);
    let configs = [
        cfg(ex, "pad config", pad0)?,
        cfg(ex, "pad config", pad1)?,
        cfg(ex, "gather config", gather0)?,
        cfg(ex, "gather config", gather1)?,
    ];
    if sticks > MAX_CB_PAGES {
        // The halo output CB (its buffer index 1, one page per stick) is refused: the op raises
        // with its config tensors, halo output and resharded input allocated.
        return refuse_halo(ex, too_many_cb_pages(1, sticks), configs, halo, sharded_in);
    }
    // The halo binds its input CB to the resharded input's shard: a TILE one in the input's
    // tiles, a ROW_MAJOR one in sticks of the halo's dtype (seen on n150, [1,64,56,56] in L1:
    // int32 / uint32 shards of 13,312 B read by a 6,656 B CB). A uint8 shard is smaller than
    // that CB, and tt-metal refuses it (6,656 B over a 3,328 B shard there).
    let halo_in_cb = if tiled {
        in_shard_bytes
    } else {
        size::mul(shard_pages, stick, "halo input CB")?
    };
    // The shard's bank size counts its sticks at the L1 alignment (seen on n150: nhwc-flat
    // [1,99,4,6307] uint8 ROW_MAJOR, 395 sticks of 104 B: a bank of 44,240 B, 112 B a stick;
    // random differential seed 1207911).
    let in_bank_bytes = ex.b.buffers[sharded_in.buffer].placement.per_bank_bytes;
    if halo_in_cb > in_shard_bytes && halo_in_cb <= in_bank_bytes {
        // Refused by the sticks but not by the aligned bank: not pinned on the runtime.
        for t in configs {
            ex.b.release(t);
        }
        for t in [halo, sharded_in] {
            ex.b.release(t);
        }
        return Err(unmodeled(
            a.function,
            "a ROW_MAJOR pool whose halo input CB fits the resharded input's aligned bank but not its sticks",
        ));
    }
    if halo_in_cb > in_bank_bytes {
        return refuse_halo(
            ex,
            format!(
                "Cannot set circular buffer size to {halo_in_cb}. This is larger than the associated dynamically allocated L1 buffer bank size of {in_bank_bytes} B"
            ),
            configs,
            halo,
            sharded_in,
        );
    }
    let halo_shard_bytes = ex.b.buffers[halo.buffer].placement.per_bank_bytes;
    ex.b.run(halo_program(
        &grid_set,
        [halo_in_cb, halo_shard_bytes, aligned_stick],
        tiled.then_some(untilize),
        [pad0, pad1, gather0, gather1],
    ));
    for t in configs {
        ex.b.release(t);
    }
    // A DRAM input's resharded copy dies with the halo; an L1 input's lives until the op
    // returns (as the graph capture shows).
    let sharded_in = if x.memory == BufferType::Dram {
        ex.b.release(sharded_in);
        None
    } else {
        Some(sharded_in)
    };
    // The capture frees the halo's buffer and allocates the Pool2D input anew, same size.
    ex.b.release(halo);
    let halo = sharded(ex, "halo", halo_spec, halo_placement);

    // 3. Pool2D: row-major output shards of `out_shard_h` rows (`pooled_page`), bfloat16
    //    whatever the halo's dtype (max_pool2d's `dtype` argument, bfloat16 by default): seen
    //    on n150, float32 nhwc-flat [4,1024,4,352] TILE in L1, 3x2 stride [3,1] ceil_mode:
    //    Pool2D's output 2,889,216 B of 704-byte pages (352 bfloat16 channels) on 64 cores,
    //    then the dtype refused; ROW_MAJOR float32 [1,8,8,40] and [1,8,8,1000] width-sharded
    //    16 channels a core: 32-byte pages.
    // A ROW_MAJOR input's channels split over cores keep its shard sticks (seen on n150: 40
    // channels width-sharded on 3 cores of 16 write 32-byte pages, not 64).
    let out_elem = DType::Bfloat16.row_major_element_bytes();
    let out_page = if !tiled && pc.ch > 1 {
        size::mul(shard_w, out_elem, "pooled stick")?.div_ceil(32) * 32
    } else {
        pooled_page(c, pc.ch, out_elem)
    };
    let pooled_spec = TensorSpec::new(
        Shape::from_dims(vec![1, 1, out_nhw, c])?,
        DType::Bfloat16,
        Layout::RowMajor,
    );
    let pooled_placement = sharded_placement(
        d,
        BufferType::L1,
        size::mul(out_nhw, pc.ch, "pooled pages")?,
        out_page,
        pc.cores(),
        out_shard_h,
    )?;
    let pooled = sharded(ex, "pooled", pooled_spec, pooled_placement);
    if halo_dtype != DType::Bfloat16 {
        // Pool2D refuses float32 and uint16 once its output is allocated (seen on n150: a
        // uint16 [1,1,19328,608] 1x1 pool in L1 ran out at the output's 367,232 B a bank,
        // random differential seed 1207553; the float32 [4,1024,4,352] above refused after
        // its bfloat16 output: `create_output_tensors` runs before Pool2D's validation).
        ex.b.run(
            Program::new("Pool2D", "MultiCore")
                .refused("Only BFLOAT16 supported for now".to_string()),
        );
        ex.b.release(pooled);
        ex.b.release(halo);
        if let Some(t) = sharded_in {
            ex.b.release(t);
        }
        return Ok(Val::None);
    }
    // Pool2D binds its input CB to the halo shard with sticks of the core's real channels (not
    // the tile-padded ones the halo wrote: 3 channels read 6-byte sticks of a 64-byte page).
    // Channels split over cores read whole shard sticks instead, TILE as ROW_MAJOR (seen: 20
    // channels on 2 cores read 32-byte sticks; 3 channels on one core 6-byte ones; TILE inputs
    // on both boards, 40 channels on 2 cores 64-byte sticks, 300 on 10 and 520 on 17 likewise).
    let pool_stick = if pc.ch == 1 { c * 2 } else { stick };
    let pool_in_cb = size::mul(sticks, pool_stick, "pool input CB")?;
    let reader_bytes = reader_config_bytes(&win, &bounds);
    let reader = cfg(ex, "reader indices", reader_bytes)?;
    // Its CB, as the graph capture reports it: half the row, rounded up to 4 bytes.
    let reader_cb = (reader_bytes / 2).div_ceil(4) * 4;
    let pooled_bytes = ex.b.buffers[pooled.buffer].placement.per_bank_bytes;
    let (scalar, clear, in_cb, _) = pool_cbs(&win, pc.ch, out_shard_h, shard_w);
    // Its output CB (buffer index 6) has one page per 16 channels of an output row.
    let out_pages = size::mul(
        out_shard_h,
        c.div_ceil(pc.ch * 16),
        "Pool2D output CB pages",
    )?;
    if out_pages > MAX_CB_PAGES {
        ex.b.run(Program::new("Pool2D", "MultiCore").refused(too_many_cb_pages(6, out_pages)));
        ex.b.release(reader);
        ex.b.release(pooled);
        ex.b.release(halo);
        if let Some(t) = sharded_in {
            ex.b.release(t);
        }
        return Ok(Val::None);
    }
    ex.b.run(
        Program::new("Pool2D", "MultiCore")
            .cb(CbKind::Circular, scalar, &grid_set)
            .cb(CbKind::Circular, clear, &grid_set)
            .cb(CbKind::Circular, pool_in_cb, &grid_set)
            .bound()
            .cb(CbKind::Circular, reader_cb, &grid_set)
            .bound()
            .cb(CbKind::Circular, in_cb, &grid_set)
            .cb(CbKind::Circular, in_cb, &grid_set)
            .cb(CbKind::Circular, pooled_bytes, &grid_set)
            .bound(),
    );
    ex.b.release(reader);

    // Without memory_config the pooled shards are the output: no step 4 (measured on the
    // runtime, L1 and DRAM inputs alike: the capture ends with the pooled buffer).
    if matches!(a.kw.get("memory_config"), None | Some(Val::None)) {
        ex.b.release(halo);
        if let Some(t) = sharded_in {
            ex.b.release(t);
        }
        return Ok(Val::T(pooled));
    }

    // 4. ShardedToInterleaved into the requested memory, row-major.
    let out_spec = TensorSpec::new(
        Shape::from_dims(vec![1, 1, out_nhw, c])?,
        DType::Bfloat16,
        Layout::RowMajor,
    );
    let out =
        ex.b.tensor("output", BufferRole::Temporary, out_spec, out_mem)?;
    unshard_program(ex, pooled_bytes, &grid_set);
    ex.b.release(pooled);
    ex.b.release(halo);
    if let Some(t) = sharded_in {
        ex.b.release(t);
    }
    Ok(Val::T(out))
}

/// The page of Pool2D's row-major output shards of `elem`-byte values over `ch` channel cores: up to 16
/// channels take 16, more are kept where they are whole 16s, else padded to whole tiles (seen on
/// the runtime, both boards: 3, 8 and 16 channels take 32 B, 17 and 24 take 64 B, 40 take 128 B,
/// 48 take 96 B, 80 take 160 B, 141 take 320 B, 200 take 448 B), rounded up to 32 B.
fn pooled_page(c: u64, ch: u64, elem: u64) -> u64 {
    let padded = if c <= 16 {
        16
    } else if c.is_multiple_of(16) {
        c
    } else {
        c.div_ceil(TILE) * TILE
    };
    (padded.div_ceil(ch.max(1)) * elem).div_ceil(32) * 32
}

/// Whether `ttnn.max_pool2d` runs a DRAM input of this geometry and page layout in DRAM slices
/// (the runtime's slice count over one, `slice_count`), as `max_pool2d` decides. `None` where
/// the window does not fit the padded input (the runtime refuses that call otherwise) or the
/// count is not modeled. `float32`: whether the input is float32 (its estimate is costed in
/// float32, any other dtype's in bfloat16).
/// The refusals ask it: a sliced bfloat4_b pool is refused for its row-major slices
/// (coverage.rs).
#[allow(clippy::too_many_arguments)]
pub(crate) fn dram_pool_is_sliced(
    d: &DeviceSpec,
    [n, h, w, c]: [u64; 4],
    kernel: [u64; 2],
    stride: [u64; 2],
    pad: [u64; 2],
    dilation: [u64; 2],
    layout: Layout,
    float32: bool,
) -> Option<bool> {
    let win = Window::new([n, h, w, c], kernel, stride, pad, dilation)?;
    if [n, h, w, c, win.ho, win.wo].contains(&0)
        || size::product([n, h, w], "N·H·W").is_err()
        || (h + 2 * pad[0]).saturating_mul(n) > MAX_POOL_ROWS
    {
        return None;
    }
    let l1_bank = d
        .l1_bank_bytes
        .saturating_sub(crate::device::MAX_POOL_L1_SMALL);
    let estimate_dtype = if float32 {
        DType::Float32
    } else {
        DType::Bfloat16
    };
    let tiled = layout == Layout::Tile;
    let slicing = slice_count(d, &win, tiled, estimate_dtype, l1_bank)
        .ok()?
        .ok()?;
    if slicing.count > 1 && slice_kernel_refusal(&win, slicing).is_some() {
        return None;
    }
    Some(slicing.count > 1)
}

/// One DRAM slice: (output start, output length) along the sliced axis.
fn slice_spans(out_dim: u64, n: u64) -> impl Iterator<Item = (u64, u64)> {
    // `compute_L1_usage_for_slice_config` / `run_sliced_op`: `out_dim / n` each, the first
    // `out_dim % n` slices one more; empty slices are skipped. Lazily: the search for a slice
    // count stops at a count's first slice that does not fit.
    let (min, rem) = (out_dim / n, out_dim % n);
    let mut start = 0;
    (0..n).filter_map(move |i| {
        let len = min + u64::from(i < rem);
        (len > 0).then(|| {
            start += len;
            (start - len, len)
        })
    })
}

/// `validate_input_params`' refusal of a pool's (top, bottom, left) padding over half its
/// kernel, in its words.
pub(crate) fn padding_refusal<T: std::fmt::Display>(
    [top, bottom, left]: [T; 3],
    kernel: [T; 2],
) -> String {
    format!(
        "Pool2D: Padding ({top}, {bottom}, {left}) should not exceed half of kernel size ({}, {})",
        kernel[0], kernel[1]
    )
}

/// The input rows / columns `[lo, hi)` output rows / columns `start..start + len` of a
/// `by_height` slicing read, clamped to the input, and the padding before and after them
/// (`Pool2dSliceAttr::get_input_slice_and_padding`, see [`slice_window`]).
fn slice_input(
    win: &Window,
    by_height: bool,
    out_dim: u64,
    start: u64,
    len: u64,
) -> (i128, i128, i128, i128) {
    let axis = usize::from(!by_height);
    let size = i128::from([win.h, win.w][axis]);
    let stride = i128::from(win.stride[axis]);
    let pad = i128::from(win.pad[axis]);
    let first = i128::from(start) * stride - pad;
    let last = i128::from(start + len - 1) * stride - pad + i128::from(win.reach(axis));
    let (mut pad_start, mut pad_end) = ((-first).max(0), (last - size).max(0));
    let (mut lo, mut hi) = (first.clamp(0, size), last.clamp(0, size));
    if start == 0 {
        pad_start = pad;
        lo = 0;
    }
    if start + len == out_dim {
        // The last slice keeps the pool's end padding, ceil_mode's extra padding with it
        // (`this_ceil_pad`); inner slices have none.
        pad_end = i128::from(win.pad_end[axis]);
        hi = size;
    }
    (lo, hi, pad_start, pad_end)
}

/// The runtime's refusal of a pool in `count` DRAM slices whose smallest input slice (clamped
/// to the input) is narrower than the dilated kernel along the slicing axis, checked once the
/// count is found and before anything is allocated. Seen on n150 (nhwc-flat [3,119,59,434]
/// ROW_MAJOR kernel 7x7 stride [1,2] padding [2,1] dilation [1,2]: 13 width slices, the last
/// reads 12 columns of a 13-column kernel; `None` where every slice is wide enough.
fn slice_kernel_refusal(win: &Window, Slicing { by_height, count }: Slicing) -> Option<String> {
    let axis = usize::from(!by_height);
    let out_dim = [win.ho, win.wo][axis];
    let smallest = slice_spans(out_dim, count)
        .map(|(start, len)| {
            let (lo, hi, _, _) = slice_input(win, by_height, out_dim, start, len);
            hi - lo
        })
        .min()?;
    let reach = win.reach(axis);
    if smallest >= i128::from(reach) {
        return None;
    }
    let dim = if by_height { "height" } else { "width" };
    let [kh, kw] = win.kernel;
    let [sh, sw] = win.stride;
    let [dh, dw] = win.dilation;
    Some(format!(
        "Cannot fit Pool2D operation in L1 memory with DRAM slicing. The smallest input slice \
         (size={smallest}) in the {dim} dimension is smaller than the effective kernel size \
         ({reach}). Kernel: {kh}x{kw}, Stride: {sh}x{sw}, Dilation: {dh}x{dw}, Num slices: \
         {count}, Slicing dimension: {dim}. Input shape: {}x{}, Output shape: {}x{}, Channels: \
         {}. This means the tensor cannot be processed even with DRAM slicing. Consider: (1) \
         reducing kernel size, (2) reducing dilation, (3) increasing stride, or (4) if possible, \
         increasing available L1 memory to reduce the number of slices needed.",
        win.h, win.w, win.ho, win.wo, win.c
    ))
}

/// `Pool2dSliceAttr::get_input_slice_and_padding`: the input rows / columns the slice's
/// windows read, clamped to the input, the clamped part as the slice's own padding; a slice
/// at the output's edge keeps the pool's padding and reads to the input's edge. Every slice
/// holds all N images. `None` where that slice's own output is not its share (not modeled).
fn slice_window(
    win: &Window,
    by_height: bool,
    out_dim: u64,
    start: u64,
    len: u64,
) -> Option<Window> {
    let axis = usize::from(!by_height);
    let (lo, hi, pad_start, pad_end) = slice_input(win, by_height, out_dim, start, len);
    let span = u64::try_from(hi - lo).ok().filter(|&s| s > 0)?;
    let mut w = *win;
    w.pad[axis] = u64::try_from(pad_start).ok()?;
    w.pad_end[axis] = u64::try_from(pad_end).ok()?;
    let padded = span + w.pad[axis] + w.pad_end[axis];
    let out = padded.checked_sub(w.reach(axis))? / win.stride[axis] + 1;
    if out != len {
        return None;
    }
    if by_height {
        w.h = span;
        w.ho = len;
    } else {
        w.w = span;
        w.wo = len;
    }
    Some(w)
}

/// The runtime's L1 estimate for one DRAM slice `sw` of a pool sharded as `pc`
/// (`calculate_L1_usage_for_pool2d_slice`, what `determine_slice_config` compares with the free
/// L1 for every slice of a slice count; a count of one is the whole pool). The larger of two
/// phases, per core:
/// - halo: the resharded input shard counted in sticks of the halo's dtype, the halo output
///   (the longest core span, `calculate_precise_halo_output_elems`, unaligned sticks), two pad
///   sticks at the L1 alignment and, for a TILE input, two untilize CBs of two blocks of the
///   shard's tiles;
/// - pool: the halo output, Pool2D's CBs (`calculate_L1_usage`, as `pool_cbs` sizes them) and
///   its output shard, whose rows are the slice's output pixels of one image (no batch) over
///   the NHW cores, rounded down.
///
/// Fitted and checked on the runtime (mock n150 / p150, DRAM bfloat16 pools, NO_DISPATCH
/// captures' PaddedSlice ops counted; 290 random cases of both layouts, 1 to 714 slices, then
/// 1,860 random ROW_MAJOR ones of 1 to 1,100 channels, windows up to whole rows, all equal): a
/// ROW_MAJOR input's output shard is its sticks (channels to 8), its Pool2D output CB only the
/// sticks' whole 16-channel faces (bisected on n150 1x1 pools: 8 channels cost 16 B a row,
/// 12 and 16 cost 64, 24 cost 80, 28 and 32 cost 128, 40 cost 144, 72 cost 272); the slices
/// block-shard 8-channel blocks ([`slice_block_unit`]).
///
/// `None` where a term exceeds the runtime's 32-bit arithmetic (its estimate wraps there).
fn slice_l1_estimate(
    d: &DeviceSpec,
    sw: &Window,
    pc: &Parallel,
    tiled: bool,
    halo_dtype: DType,
) -> Option<u64> {
    let datum = halo_dtype.row_major_element_bytes();
    let rows = size::product([sw.n, sw.h, sw.w], "slice N·H·W").ok()?;
    // The slice's input shard, as `sliced` allocates it.
    let (shard_h, shard_w) = if tiled {
        (
            rows.div_ceil(pc.nhw * TILE) * TILE,
            sw.c.div_ceil(pc.ch * TILE) * TILE,
        )
    } else {
        (rows.div_ceil(pc.nhw), sw.c.div_ceil(pc.ch * 8) * 8)
    };
    let sticks = sw
        .boundaries(pc.nhw, sw.out_nhw().div_ceil(pc.nhw))
        .iter()
        .flatten()
        .map(|b| b.in_last - b.in_first + 1)
        .max()
        .unwrap_or(0);
    let stick = shard_w.checked_mul(datum)?;
    let halo_in = shard_h.checked_mul(stick)?;
    let halo_out = sticks.checked_mul(stick)?;
    let mut overhead = 2 * stick.div_ceil(d.l1_alignment) * d.l1_alignment;
    if tiled {
        overhead += 4 * (shard_w / TILE) * tile_size(halo_dtype);
    }
    let out_rows = sw.ho.checked_mul(sw.wo)? / pc.nhw;
    let (scalar, clear, in_cb, tiled_out_cb) = pool_cbs(sw, pc.ch, out_rows, shard_w);
    let out_cb = if tiled {
        tiled_out_cb
    } else {
        let face_channels = shard_w / (TILE / 2) * (TILE / 2);
        let bytes = out_rows.checked_mul(face_channels)?.checked_mul(datum)?;
        bytes.div_ceil(32) * 32
    };
    let out_tensor = out_rows.checked_mul(stick)?;
    let halo_phase = halo_in.checked_add(halo_out)?.checked_add(overhead)?;
    let pool_phase = halo_out
        .checked_add(scalar + clear + 2 * in_cb)?
        .checked_add(out_cb)?
        .checked_add(out_tensor)?;
    let u32_max = u64::from(u32::MAX);
    [
        halo_in, halo_out, out_cb, out_tensor, halo_phase, pool_phase,
    ]
    .iter()
    .all(|&v| v <= u32_max)
    .then_some(halo_phase.max(pool_phase))
}

/// The runtime's DRAM slicing of a pool (`determine_slice_config`): the fewest slices whose
/// every slice's [`slice_l1_estimate`] fits the free L1 `l1_bank`, one meaning the whole pool
/// runs at once (`run_sliced_op` then takes the L1 path). Slices are along the height where
/// H > 3·W, else the width (`best_guess_slice_type` for a ROW_MAJOR output), each sharded with
/// the whole pool's scheme on the cores its own output gives (`sliced`); where no count of
/// that axis fits, the other axis is searched, and where none of it fits either the runtime
/// refuses the call. `Ok(Ok(slicing))`, `Ok(Err(the refusal))`; `Err` (why) where the search
/// is not modeled.
fn slice_count(
    d: &DeviceSpec,
    win: &Window,
    tiled: bool,
    estimate_dtype: DType,
    l1_bank: u64,
) -> Result<Result<Slicing, String>, String> {
    let channel_unit = if tiled { TILE } else { TILE / 2 };
    let block_unit = slice_block_unit(d, tiled);
    let scheme = parallel_config_in(d, win, channel_unit).scheme;
    let mut checks = 0u64;
    let first_axis = win.h > 3 * win.w;
    for by_height in [first_axis, !first_axis] {
        let out_dim = if by_height { win.ho } else { win.wo };
        'counts: for n in 1..=out_dim {
            for (start, len) in slice_spans(out_dim, n) {
                checks += 1;
                if checks > MAX_SLICE_CHECKS {
                    return Err(format!(
                        "a DRAM pool that fits L1 in none of its first {} slice counts ({MAX_SLICE_CHECKS} slices costed)",
                        n - 1
                    ));
                }
                let sw = slice_window(win, by_height, out_dim, start, len).ok_or(
                    "a DRAM pool slice whose own window gives other than its share of the output",
                )?;
                let pc = scheme_in(d, &sw, scheme, channel_unit, block_unit);
                let estimate = slice_l1_estimate(d, &sw, &pc, tiled, estimate_dtype).ok_or(
                    "a DRAM pool whose slice L1 estimate exceeds 32 bits (the runtime's estimate wraps there)",
                )?;
                if estimate > l1_bank {
                    continue 'counts;
                }
            }
            return Ok(Ok(Slicing {
                by_height,
                count: n,
            }));
        }
    }
    let (by_height, out_dim) = if first_axis {
        (false, win.wo)
    } else {
        (true, win.ho)
    };
    let axis = if by_height { "height" } else { "width" };
    Ok(Err(format!(
        "DRAM Auto slice could not find valid slice configuration. Tried up to {out_dim} slices \
         for {axis}-slicing on output dimension {out_dim}. Available L1: {l1_bank} bytes. \
         Operation requires more memory than available even with maximum slicing."
    )))
}

/// How the runtime slices a DRAM pool ([`slice_count`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slicing {
    /// Along the output's height (else its width).
    by_height: bool,
    /// Slices (one: the whole pool at once).
    count: u64,
}

/// The channel blocks a DRAM slice's block sharding divides along with its `channel_unit`s
/// (`get_pool_input_memory_config` passes `determine_parallel_config` the input's channel
/// alignment): a tile for a TILE input, an L1-aligned bfloat16 stick (8 channels) for a
/// ROW_MAJOR one, whose channel units are half tiles. Seen on the runtime (n150 NO_DISPATCH
/// captures): ROW_MAJOR slices of 119 and 438 channels block-shard on one channel core (15 and
/// 55 blocks of 8 share no divisor with 8 and 28 half tiles), where the whole L1 pool's count
/// (tiles and half tiles) gives 4 and 7.
fn slice_block_unit(d: &DeviceSpec, tiled: bool) -> u64 {
    if tiled {
        TILE
    } else {
        d.l1_alignment / DType::Bfloat16.row_major_element_bytes()
    }
}

/// Slices whose L1 estimate the DRAM slice search may cost in all (`slice_count`): far more than any
/// pool of the matrix needs (a few slices of 8K feature maps), and a bound on a search that
/// would otherwise go on quadratically in the output size.
const MAX_SLICE_CHECKS: u64 = 1 << 14;

/// Padded input rows (N · (H + 2 · padding)) past which memmodel does not model a pool or a conv:
/// their halo configs are built per row (the matrix's largest pools have 4,320).
pub(super) const MAX_POOL_ROWS: u64 = 1 << 16;

/// `ttnn.max_pool2d` on a DRAM input too large for L1: `op_slicing::run_sliced_op` with the
/// pool's slice attributes. The slice axis is `best_guess_slice_type` for a ROW_MAJOR output
/// (height when H > 3·W, else width); the count is the fewest slices whose every slice's halo
/// step fits the free L1 (`determine_slice_config`). The [1,1,NHW,C] input is first reshaped to
/// [N,H,W,C] (a view when W is whole tiles), the row-major output is allocated, then each slice
/// runs PaddedSlice (DRAM → sharded row-major L1), halo (no untilize: the input is row-major),
/// Pool2D and SliceWrite (back into the output).
///
/// Every slice is sharded with one scheme, the auto-shard choice for the whole (unsliced) pool:
/// the slice attributes keep the op's full sliding-window config and cost the schemes on it.
/// The core counts of that scheme come from the slice's own output (`determine_parallel_config`
/// on the slice), so slices of one op may run on different grids. The graph captures pin this
/// down: e.g. [1,768,136,240] on p150 shards its width slices HEIGHT (the whole pool's choice;
/// a slice alone would cost block sharding cheaper) on 108 cores (the slice's 4,080 output rows;
/// the whole pool's 8,160 would take 109).
fn sliced(
    ex: &mut Exec<'_>,
    a: &Args<'_>,
    x: &DevTensor,
    win: &Window,
    Slicing { by_height, count }: Slicing,
    halo_dtype: DType,
) -> Result<Val, CaseError> {
    // The runtime checks a slice's padding when it pools the slice, after its PaddedSlice
    // (`validate_input_params` on the slice's top, bottom and left padding, each at most half
    // the kernel): the first slice refuses a pool padded over half its kernel.
    let padding_refused = (0..2).any(|i| 2 * win.pad[i] > win.kernel[i]);
    let d = ex.device();
    let out_dim = if by_height { win.ho } else { win.wo };
    let slice_window = |start: u64, len: u64| -> Result<Window, CaseError> {
        slice_window(win, by_height, out_dim, start, len).ok_or_else(|| {
            unmodeled(
                a.function,
                "a DRAM pool slice whose own window gives other than its share of the output",
            )
        })
    };
    // A ROW_MAJOR input's slices shard its channels in half tiles where width-sharded, as the
    // whole ROW_MAJOR pool does (`parallel_config_in`).
    let tiled = x.layout() == Layout::Tile;
    let channel_unit = if tiled { TILE } else { TILE / 2 };
    let block_unit = slice_block_unit(d, tiled);
    let slice_scheme = parallel_config_in(d, win, channel_unit).scheme;
    // A uint8 / uint16 TILE input whose W is not whole tiles: a flat one's reshape to
    // [N, H, W, C] copies, and the runtime refuses that copy (`data_movement::reshape` answers
    // for it); a 4-D one needs none and its slices run on (seen on n150: [1,2,2115,722]
    // nhwc-flat refused "Can only work with bfloat16/float32 or int32/uint32 tensors" by
    // ReshapeView after allocating its output, nhwc uint16 "Only BFLOAT16 supported for now",
    // uint8 refused by its halo's input CB, 512,000 B over a 256,000 B bank, as planned here;
    // draws seeds 1260401 uint16 n150, 1260402 uint8 p150, 1260403 uint8 TILE n150: 0
    // mismatches).
    let dims = [win.n as i64, win.h as i64, win.w as i64, win.c as i64];
    let input = super::data_movement::reshape(ex, x, &dims, BufferType::Dram)?;
    if refused_so_far(ex.b) {
        ex.b.release(input);
        return Ok(Val::None);
    }
    let out_nhw = win.out_nhw();
    let out_spec = TensorSpec::new(
        Shape::from_dims(vec![1, 1, out_nhw, win.c])?,
        DType::Bfloat16,
        Layout::RowMajor,
    );
    // The slices are written into a DRAM output whatever `memory_config` asks (seen on the
    // runtime, both boards: a DRAM input pooled into L1 in slices returns a DRAM tensor).
    let out =
        ex.b.tensor("output", BufferRole::Temporary, out_spec, BufferType::Dram)?;
    // PaddedSlice's first CB holds the input's tiles, its second the untilized ones of the
    // halo's dtype (seen on n150 with bfloat8_b inputs in DRAM: [1,64,640,640] takes 8,704 and
    // 16,384 B, [1,2,27521,287] 39,168 and 73,728 B; float32 ones take float32 tiles and
    // sticks).
    // The slices are row-major in the input's dtype, bfloat16 for a block float: a uint8 /
    // uint32 / int32 slice is haloed as a ROW_MAJOR input of that dtype is (random
    // differential seed 1207711, n150: uint32 and int32 slices took CBs a third larger than
    // bfloat16 ones, uint8 ones were refused by the halo's input CB).
    let slice_dtype = if x.dtype().is_block_float() {
        DType::Bfloat16
    } else {
        x.dtype()
    };
    if x.dtype() == DType::Bfloat4B {
        // PaddedSlice's row-major output spec of a bfloat4_b input is refused before it is
        // allocated, so the first slice stops there, before its padding is checked (seen on
        // p150: [2,256,300,400] kernel 2x2 stride 2 padding 1, flat and NHWC, the output
        // allocated in DRAM, then "layout == Layout::TILE" in tensor_spec.cpp, in the
        // bfloat8_b words).
        ex.b.run(
            Program::new(
                "PaddedSliceDeviceOperation",
                "PaddedSliceTileProgramFactory",
            )
            .refused("Only TILE layout is supported for BFLOAT8_B dtype!".to_string()),
        );
        for t in [out, input] {
            ex.b.release(t);
        }
        return Ok(Val::None);
    }
    let in_tile = tile_size(x.dtype());
    let tile = tile_size(slice_dtype);
    let gx = u64::from(d.grid_x);
    for (start, len) in slice_spans(out_dim, count) {
        let sw = slice_window(start, len)?;
        let pc = scheme_in(d, &sw, slice_scheme, channel_unit, block_unit);
        let grid_set = pc.grid(d);
        let rows = size::product([sw.n, sw.h, sw.w], "slice N·H·W")?;
        // A ROW_MAJOR input's slice shards are whole rows (not tiles) of channels in whole 8s,
        // as the whole ROW_MAJOR pool's input shards (n150 [1,320,500,500] kernel 3x3 stride
        // 2: 790 sticks a core where a TILE input's slice takes 800).
        let (in_shard_h, shard_w) = if tiled {
            (
                rows.div_ceil(pc.nhw * TILE) * TILE,
                win.c.div_ceil(pc.ch * TILE) * TILE,
            )
        } else {
            (rows.div_ceil(pc.nhw), win.c.div_ceil(pc.ch * 8) * 8)
        };
        let stick = shard_w * halo_dtype.row_major_element_bytes();
        let slice_stick = shard_w * slice_dtype.row_major_element_bytes();
        let aligned_stick = stick.div_ceil(d.l1_alignment) * d.l1_alignment;
        if !tiled && !slice_stick.is_multiple_of(d.l1_alignment) {
            // A ROW_MAJOR slice's sticks (channels in whole 8s) of a one-byte dtype need not be
            // whole L1 words: PaddedSlice refuses them before its output is allocated (random
            // differential seed 1260500 with the integer slice gate lifted, n150 and p150: uint8
            // nhwc [1,274,8,1942] 2x2 stride 3 "Output row size 280 must be aligned to the
            // destination buffer BufferType::L1 alignment 16", [1,983,6,4095] 1x1 → 984,
            // [1,168,5,104521] on both boards → 168, 7 of 7 such cases; wider dtypes' sticks
            // are whole words, and uint8 ones of 16-byte sticks ran as planned).
            ex.b.run(
                Program::new("PaddedSliceDeviceOperation", "PaddedSliceRMProgramFactory").refused(
                    format!(
                        "Output row size {slice_stick} must be aligned to the destination buffer BufferType::L1 alignment {}",
                        d.l1_alignment
                    ),
                ),
            );
            for t in [out, input] {
                ex.b.release(t);
            }
            return Ok(Val::None);
        }
        // 1. PaddedSlice: the slice's input sticks, row-major, sharded like the pool's input
        //    (`PaddedSliceTileProgramFactory`: two input CBs of two tile rows, double-buffered,
        //    the bound output and one stick).
        let slice_spec = TensorSpec::new(
            Shape::from_dims(vec![sw.n, sw.h, sw.w, win.c])?,
            slice_dtype,
            Layout::RowMajor,
        );
        let slice_in = sharded(
            ex,
            "sliced input",
            slice_spec,
            sharded_placement(
                d,
                BufferType::L1,
                size::mul(rows, pc.ch, "slice pages")?,
                slice_stick,
                pc.cores(),
                in_shard_h,
            )?,
        );
        let slice_bytes = ex.b.buffers[slice_in.buffer].placement.per_bank_bytes;
        if tiled {
            let slice_in_cb = 4 * (shard_w / TILE) * in_tile;
            let slice_cb = 4 * (shard_w / TILE) * tile;
            ex.b.run(
                Program::new(
                    "PaddedSliceDeviceOperation",
                    "PaddedSliceTileProgramFactory",
                )
                .cb(CbKind::Circular, slice_in_cb, &grid_set)
                .cb(CbKind::Circular, slice_cb, &grid_set)
                .cb(CbKind::Circular, slice_bytes, &grid_set)
                .bound()
                .cb(CbKind::Circular, slice_stick, &grid_set),
            );
        } else {
            // A ROW_MAJOR input's sticks are copied straight into the slice's shard: one CB,
            // bound to it (the runtime's capture, n150 and p150).
            ex.b.run(
                Program::new("PaddedSliceDeviceOperation", "PaddedSliceRMProgramFactory")
                    .cb(CbKind::Circular, slice_bytes, &grid_set)
                    .bound(),
            );
        }
        if padding_refused {
            // Seen on n150, float32 DRAM slices, stride 1: nhwc-flat [1,232,2,8979] kernel 2x2
            // padding 2 (width slices) refused after its first PaddedSlice, its L1 slice,
            // output and reshaped input freed; [1,256,3000,200] padding [2,1] (height slices)
            // refused "Padding (2, 0, 1)": an inner slice has no bottom padding; ceil_mode's
            // extra padding is not printed (p150 [1,397,3,22415] ceil_mode padding [0,2]
            // stride [2,1]: "(0, 0, 2)"). On p150 [4,1024,5,1472] kernel 1x1 padding 2 the
            // PaddedSlice's CBs clashed first.
            let bottom = if by_height && len != out_dim {
                sw.pad_end[0]
            } else {
                win.pad[0]
            };
            ex.b.run(
                Program::new("Pool2D", "MultiCore")
                    .refused(padding_refusal([sw.pad[0], bottom, sw.pad[1]], win.kernel)),
            );
            for t in [slice_in, out, input] {
                ex.b.release(t);
            }
            return Ok(Val::None);
        }
        // 2. Halo over the row-major slice.
        let out_shard_h = sw.out_nhw().div_ceil(pc.nhw);
        let bounds = sw.boundaries(pc.nhw, out_shard_h);
        let sticks = bounds
            .iter()
            .flatten()
            .map(|b| b.in_last - b.in_first + 1)
            .max()
            .unwrap_or(0);
        let halo_spec = TensorSpec::new(
            Shape::from_dims(vec![1, 1, size::mul(sticks, pc.nhw, "halo rows")?, win.c])?,
            halo_dtype,
            Layout::RowMajor,
        );
        let halo_placement = sharded_placement(
            d,
            BufferType::L1,
            size::mul(pc.cores(), sticks, "halo sticks")?,
            stick,
            pc.cores(),
            sticks,
        )?;
        let halo = sharded(ex, "halo", halo_spec.clone(), halo_placement);
        let block = pc.scheme == Scheme::Block;
        let [pad0, pad1, gather0, gather1] =
            halo_configs(&sw, &bounds, out_shard_h, in_shard_h, false, block, gx);
        let configs = [
            config(ex, d, &pc, "pad config", pad0)?,
            config(ex, d, &pc, "pad config", pad1)?,
            config(ex, d, &pc, "gather config", gather0)?,
            config(ex, d, &pc, "gather config", gather1)?,
        ];
        // Its input CB reads the slice in sticks of the halo's dtype, as for a whole ROW_MAJOR
        // pool (`max_pool2d`).
        let halo_in_cb = if slice_dtype == halo_dtype {
            slice_bytes
        } else {
            size::mul(in_shard_h, stick, "halo input CB")?
        };
        if halo_in_cb > slice_bytes {
            ex.b.run(
                Program::new("HaloDeviceOperation", "UntilizeWithHaloProgramFactory").refused(
                    format!(
                        "Cannot set circular buffer size to {halo_in_cb}. This is larger than the associated dynamically allocated L1 buffer bank size of {slice_bytes} B"
                    ),
                ),
            );
            for t in configs {
                ex.b.release(t);
            }
            for t in [halo, slice_in, input, out] {
                ex.b.release(t);
            }
            return Ok(Val::None);
        }
        let halo_shard_bytes = ex.b.buffers[halo.buffer].placement.per_bank_bytes;
        ex.b.run(halo_program(
            &grid_set,
            [halo_in_cb, halo_shard_bytes, aligned_stick],
            None,
            [pad0, pad1, gather0, gather1],
        ));
        for t in configs {
            ex.b.release(t);
        }
        if halo_dtype != DType::Bfloat16 {
            // The first slice's Pool2D refuses float32 (uint16), as the whole pool's does.
            ex.b.run(
                Program::new("Pool2D", "MultiCore")
                    .refused("Only BFLOAT16 supported for now".to_string()),
            );
            for t in [halo, slice_in, input, out] {
                ex.b.release(t);
            }
            return Ok(Val::None);
        }
        ex.b.release(slice_in);
        ex.b.release(halo);
        let halo = sharded(ex, "halo", halo_spec, halo_placement);
        // 3. Pool2D on the slice.
        let slice_out_nhw = sw.out_nhw();
        // A ROW_MAJOR input's channels split over cores keep its shard sticks, as on the L1
        // path.
        let out_page = if !tiled && pc.ch > 1 {
            stick.div_ceil(32) * 32
        } else {
            pooled_page(win.c, pc.ch, 2)
        };
        let pooled = sharded(
            ex,
            "pooled",
            TensorSpec::new(
                Shape::from_dims(vec![1, 1, slice_out_nhw, win.c])?,
                DType::Bfloat16,
                Layout::RowMajor,
            ),
            sharded_placement(
                d,
                BufferType::L1,
                size::mul(slice_out_nhw, pc.ch, "pooled pages")?,
                out_page,
                pc.cores(),
                out_shard_h,
            )?,
        );
        // Channels split over cores read whole shard sticks, as on the L1 path (seen on n150:
        // [1,500,400,400] kernel 2x2 stride 2 in DRAM slices block-sharded over 8 channel
        // cores: 640,000 B, 5,000 sticks of 64 channels, where 63 a core gave 630,000).
        let pool_stick = if pc.ch == 1 { win.c * 2 } else { stick };
        let pool_in_cb = size::mul(sticks, pool_stick, "pool input CB")?;
        let reader_bytes = reader_config_bytes(&sw, &bounds);
        let reader = config(ex, d, &pc, "reader indices", reader_bytes)?;
        let reader_cb = (reader_bytes / 2).div_ceil(4) * 4;
        let pooled_bytes = ex.b.buffers[pooled.buffer].placement.per_bank_bytes;
        let (scalar, clear, in_cb, _) = pool_cbs(&sw, pc.ch, out_shard_h, shard_w);
        ex.b.run(
            Program::new("Pool2D", "MultiCore")
                .cb(CbKind::Circular, scalar, &grid_set)
                .cb(CbKind::Circular, clear, &grid_set)
                .cb(CbKind::Circular, pool_in_cb, &grid_set)
                .bound()
                .cb(CbKind::Circular, reader_cb, &grid_set)
                .bound()
                .cb(CbKind::Circular, in_cb, &grid_set)
                .cb(CbKind::Circular, in_cb, &grid_set)
                .cb(CbKind::Circular, pooled_bytes, &grid_set)
                .bound(),
        );
        ex.b.release(reader);
        ex.b.release(halo);
        // 4. SliceWrite (`SliceWriteRMShardedInputProgramFactory`): its one CB is the pooled
        //    shard.
        ex.b.run(
            Program::new(
                "SliceWriteDeviceOperation",
                "SliceWriteRMShardedInputProgramFactory",
            )
            .cb(CbKind::Circular, pooled_bytes, &grid_set)
            .bound(),
        );
        ex.b.release(pooled);
    }
    ex.b.release(input);
    Ok(Val::T(out))
}

/// A sliding-window config tensor (`move_config_tensor_to_device`): one row per core in
/// L1_SMALL, which the graph capture reports as L1.
fn config(
    ex: &mut Exec<'_>,
    d: &DeviceSpec,
    pc: &Parallel,
    what: &'static str,
    bytes: u64,
) -> Result<DevTensor, CaseError> {
    let spec = TensorSpec::new(
        Shape::from_dims(vec![1, pc.cores(), bytes / 2])?,
        DType::Uint16,
        Layout::RowMajor,
    );
    let mut p = sharded_placement(d, BufferType::L1Small, pc.cores(), bytes, pc.cores(), 1)?;
    p.traced_as = Some(BufferType::L1);
    Ok(sharded(ex, what, spec, p))
}

/// Allocates a sharded L1 / L1_SMALL tensor of the op.
pub(super) fn sharded(
    ex: &mut Exec<'_>,
    what: &'static str,
    spec: TensorSpec,
    p: Placement,
) -> DevTensor {
    let memory = p.buffer_type;
    let buffer = ex.b.alloc(what, BufferRole::Temporary, spec.clone(), p);
    DevTensor {
        spec,
        memory,
        shard: None,
        buffer,
    }
}

/// Marks a program's last buffer as bound to a tensor's L1 (`globally_allocated`): it takes no
/// room of its own.
pub(super) trait Bound {
    fn bound(self) -> Self;
}

impl Bound for Program {
    fn bound(mut self) -> Program {
        if let Some(c) = self.cbs.last_mut() {
            c.global = true;
        }
        self
    }
}

/// The program that reshards an interleaved input for a sliding-window op (max_pool2d, conv2d):
/// `InterleavedToSharded` with the shard bound to its CB, or — where the input or its shards
/// could not have been allocated (the case's OOM in normal mode) — the `CopyDeviceOperation`
/// the graph capture records instead, two pages per core on the whole grid (measured: two
/// tiles for TILE inputs, 256 B for 128-byte sticks on p150). `row_major_stick`: a ROW_MAJOR
/// input's bytes per shard row, which InterleavedToSharded stages through a scratchpad.
pub(super) fn reshard_program(
    ex: &mut Exec<'_>,
    by_copy: bool,
    page: u64,
    shard_bytes: u64,
    cores: &crate::program::CoreRangeSet,
    row_major_stick: Option<u64>,
) {
    reshard_program_run_as(ex, by_copy, page, shard_bytes, cores, row_major_stick, None);
}

/// [`reshard_program`] whose InterleavedToSharded a device run replaces with `run_as` (a
/// conv2d reshard that finds too little L1 free in a run copies instead).
pub(super) fn reshard_program_run_as(
    ex: &mut Exec<'_>,
    by_copy: bool,
    page: u64,
    shard_bytes: u64,
    cores: &crate::program::CoreRangeSet,
    row_major_stick: Option<u64>,
    run_as: Option<Program>,
) {
    let d = ex.device();
    if by_copy {
        ex.b.run(Program::new("CopyDeviceOperation", "DefaultTilized").cb(
            CbKind::Dataflow,
            2 * page,
            &grid::full(d),
        ));
    } else {
        let mut p = Program::new(
            "InterleavedToShardedDeviceOperation",
            "InterleavedToShardedProgramFactory",
        )
        .cb(CbKind::Dataflow, shard_bytes, cores)
        .bound();
        if let Some(stick) = row_major_stick {
            // interleaved_to_sharded_program_factory.cpp: the row-major reader stages its reads
            // to L1 alignment in a scratchpad of 4 transaction ids of align(stick + DRAM
            // alignment, DRAM alignment) each (keep_l1_aligned is always true in 0.81.1). It
            // lives until the next program, so it adds to the peak while the halo allocates its
            // configs (YOLOv12x #1: 4 × 64 B on n150).
            let align = d.dram_alignment.max(1);
            let slot = stick
                .div_ceil(align)
                .saturating_add(1)
                .saturating_mul(align);
            p.push(Cb::new(
                CbKind::Scratchpad,
                slot.saturating_mul(4),
                cores.clone(),
            ));
        }
        if let Some(run) = run_as {
            p = p.on_device(run);
        }
        ex.b.run(p);
    }
}

/// The program that copies a sliding-window op's output shards into an interleaved tensor:
/// `ShardedToInterleaved`, the shard bound to its CB.
pub(super) fn unshard_program(
    ex: &mut Exec<'_>,
    shard_bytes: u64,
    cores: &crate::program::CoreRangeSet,
) {
    ex.b.run(
        Program::new(
            "ShardedToInterleavedDeviceOperation",
            "ShardedToInterleavedProgramFactory",
        )
        .cb(CbKind::Dataflow, shard_bytes, cores)
        .bound(),
    );
}

/// The piece-by-piece construction [`halo_config_bytes`] computes in closed form (the oracle
/// of its tests).
#[cfg(test)]
fn halo_config_bytes_walk(
    win: &Window,
    bounds: &[Option<Boundary>],
    in_shard_h: u64,
    tiled: bool,
    noc: impl Fn(u64) -> (u64, u64),
) -> [u64; 4] {
    const BLOCK: u64 = 32;
    const U16: u64 = 0xFFFF;
    let cores = bounds.len();
    // (source core or None for padding, destination core) -> runs of (src, dst, len).
    let mut runs: BTreeMap<(Option<u64>, u64), Vec<Run>> = BTreeMap::new();
    for (k, b) in bounds.iter().enumerate() {
        let Some(b) = b else { continue };
        let k = k as u64;
        let mut g = b.in_first;
        while g <= b.in_last {
            // The longest stretch from `g` that is all padding or all from one input shard.
            let wp = win.padded_hw().1;
            let row_end = (g / wp + 1) * wp - 1;
            let (src, local, end) = match win.source(g) {
                None => {
                    let mut e = g;
                    while e < b.in_last && win.source(e + 1).is_none() && e < row_end {
                        e += 1;
                    }
                    (None, 0, e)
                }
                Some(i) => {
                    let x = g % wp;
                    let in_row = win.pad[1] + win.w - 1 - x;
                    let shard_left = in_shard_h - 1 - i % in_shard_h;
                    let e = (g + in_row.min(shard_left)).min(b.in_last);
                    (Some(i / in_shard_h), i % in_shard_h, e)
                }
            };
            let len = end - g + 1;
            let dst = g - b.in_first;
            let list = runs.entry((src, k)).or_default();
            match list.last_mut() {
                Some(last)
                    if (src.is_none() || local == last.0 + last.2) && dst == last.1 + last.2 =>
                {
                    last.2 += len
                }
                _ => list.push((local, dst, len)),
            }
            g = end + 1;
        }
    }
    let even = |n: u64| n.div_ceil(2) * 2;
    let (pad0, pad1) = pad_config_bytes(runs.iter(), cores);
    // Gather configs, per source core.
    let (mut g0, mut g1) = (0u64, 0u64);
    for core in 0..cores as u64 {
        // The core's transfers as (source offset, destination NoC): its local run list first,
        // then its remote ones by destination core (the order of the (source, destination)
        // map).
        let mut routes: Vec<(u64, &Vec<Run>)> = runs
            .iter()
            .filter(|((src, _), _)| *src == Some(core))
            .map(|((_, dst), list)| (*dst, list))
            .collect();
        routes.sort_by_key(|(dst, _)| (*dst != core, *dst));
        let mut transfers: Vec<(u64, (u64, u64))> = Vec::new();
        for (dst, list) in routes {
            for &(so, _, len) in list {
                // A transfer's fields are u16 (`GatherTransfer`): offsets and lengths past
                // 65535 wrap, as they do in the 4K/8K captures whose shards exceed that.
                let (mut so, mut len) = (so & U16, len & U16);
                if !tiled {
                    // A row-major input's transfers stay whole.
                    transfers.push((so, noc(dst)));
                    continue;
                }
                // A TILE input is untilized in blocks of 32 sticks: a transfer is split at
                // every block boundary of its source (`quantize_transfers_along_block_
                // boundaries`).
                while len > 0 {
                    let t = len.min(BLOCK - so % BLOCK);
                    transfers.push((so & U16, noc(dst)));
                    so += t;
                    len -= t;
                }
            }
        }
        // Dealt to the two data-movement cores: TILE by source block parity after a global
        // sort by source offset (`reorder_transfers_globally`, `divide_blocks_between_cores`),
        // row-major alternately in list order (`divide_transfers_between_cores`).
        let mut halves: [Vec<(u64, u64)>; 2] = [Vec::new(), Vec::new()];
        if tiled {
            transfers.sort();
            for (so, dst) in transfers {
                halves[((so / BLOCK) % 2) as usize].push(dst);
            }
        } else {
            for (i, (_, dst)) in transfers.into_iter().enumerate() {
                halves[i % 2].push(dst);
            }
        }
        // Serialized as `routes, [noc_x, noc_y, n, (src, dst, len)×n]...`, consecutive
        // transfers to one core sharing a route (`reduce_flattened_transfers`).
        for (half, total) in halves.iter().zip([&mut g0, &mut g1]) {
            let mut n = 1u64;
            let mut route = None;
            for dst in half {
                if route != Some(*dst) {
                    n += 3;
                    route = Some(*dst);
                }
                n += 3;
            }
            *total = (*total).max(n);
        }
    }
    [pad0, pad1, even(g0), even(g1)].map(|n| n * 2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::{N150, P150};

    fn window(c: u64, h: u64, w: u64) -> Window {
        Window {
            n: 1,
            h,
            w,
            c,
            kernel: [2, 2],
            stride: [2, 2],
            pad: [0, 0],
            pad_end: [0, 0],
            dilation: [1, 1],
            ho: h / 2,
            wo: w / 2,
        }
    }

    /// A TILE input whose shards exceed the bank is resharded by CopyDeviceOperation in the
    /// capture (two tiles on the whole grid: 4,096 B of dataflow), though the input itself
    /// fits (p150 [1,1024,7,3378] in L1, 5×5 dilated 2, padding [2,0]; the runtime's capture).
    #[test]
    fn a_tile_input_whose_shards_exceed_the_bank_is_resharded_by_a_copy() {
        use crate::params::ParamValue;
        let mut c = crate::case::Case::new(
            crate::ops::find("maxpool2d").unwrap(),
            vec![crate::shape::Shape::parse("1,1024,7,3378").unwrap()],
            &P150,
        );
        c.device_layout = crate::layout::DeviceLayout::NhwcFlat;
        c.input_memory = BufferType::L1;
        c.output_memory = BufferType::L1;
        c.params.set("kernel_size", ParamValue::Ints(vec![5, 5]));
        c.params.set("dilation", ParamValue::Ints(vec![2, 2]));
        c.params.set("padding", ParamValue::Ints(vec![2, 0]));
        let e = c.estimate().expect("modeled");
        assert_eq!((e.peaks.cb, e.peaks.dataflow), (14_336, 4_096));
    }

    // Shard schemes and core counts of the runtime's graph captures (ttnn 0.81.1).
    #[test]
    fn auto_shard_picks_the_smallest_pool_buffers() {
        let p = parallel_config(&N150, &window(1024, 80, 50));
        assert_eq!((p.scheme, p.nhw, p.ch), (Scheme::Block, 8, 8));
        let p = parallel_config(&N150, &window(1152, 68, 120));
        assert_eq!((p.scheme, p.nhw, p.ch), (Scheme::Height, 64, 1));
        let p = parallel_config(&N150, &window(256, 320, 200));
        assert_eq!(p.scheme, Scheme::Block);
        let p = parallel_config(&P150, &window(256, 320, 200));
        assert_eq!((p.scheme, p.nhw), (Scheme::Height, 110));
        let p = parallel_config(&P150, &window(128, 160, 100));
        assert_eq!((p.scheme, p.nhw), (Scheme::Height, 109));
        let p = parallel_config(&P150, &window(1152, 136, 120));
        assert_eq!((p.scheme, p.nhw, p.ch), (Scheme::Block, 10, 9));
    }

    // A ROW_MAJOR input's channels are width-sharded in half tiles, block-sharded in whole
    // ones; the runtime's NO_DISPATCH captures (n150, bfloat16, kernel 2x2 stride 2):
    // [1,1,130,20] width-sharded on 2 cores (16 channels, 32-byte sticks; a TILE input takes
    // 1), [4,5,3936,128] height-sharded on 64 (1,230-row shards of 256 B) where 16-channel
    // block shards would cost less, [1,1,64000,256] block-sharded 8 x 8 (32 channels a core).
    #[test]
    fn row_major_channels_shard_in_half_tiles_only_across_width() {
        let rm = |n, h, w, c| {
            let win = Window::new([n, h, w, c], [2, 2], [2, 2], [0, 0], [1, 1]).unwrap();
            let p = parallel_config_in(&N150, &win, TILE / 2);
            (p.scheme, p.nhw, p.ch)
        };
        assert_eq!(rm(1, 10, 13, 20), (Scheme::Width, 1, 2));
        assert_eq!(rm(4, 5, 3936, 128), (Scheme::Height, 64, 1));
        assert_eq!(rm(1, 320, 200, 256), (Scheme::Block, 8, 8));
    }

    // [1,768,136,240] on p150 runs in two width slices of 136 × 120 input pixels: sharded as the
    // whole pool would be (height), on the cores the slice's own output rows give (108).
    #[test]
    fn dram_slices_keep_the_whole_pools_scheme() {
        let whole = parallel_config(&P150, &window(768, 136, 240));
        assert_eq!(whole.scheme, Scheme::Height);
        let slice = window(768, 136, 120);
        assert_eq!(parallel_config(&P150, &slice).scheme, Scheme::Block);
        let p = scheme_in(&P150, &slice, whole.scheme, TILE, TILE);
        assert_eq!((p.scheme, p.nhw, p.ch), (Scheme::Height, 108, 1));
    }

    #[test]
    fn halo_configs_match_the_capture() {
        // [1,1024,80,50] on p150: block 8 × 10, input shards of 416 rows.
        let win = window(1024, 80, 50);
        let bounds = win.boundaries(10, 100);
        let span = bounds.iter().flatten().map(|b| b.in_last - b.in_first + 1);
        assert_eq!(span.max(), Some(400));
        assert_eq!(
            halo_config_bytes(&win, &bounds, 416, true, |k| (0, k)),
            [4, 4, 64, 56]
        );
        assert_eq!(reader_config_bytes(&win, &bounds), 20);
        // [1,128,160,100] on n150: height 64, input shards of 256 rows.
        let win = window(128, 160, 100);
        let bounds = win.boundaries(64, 63);
        let grid = |k: u64| (k % 8, k / 8);
        assert_eq!(
            halo_config_bytes(&win, &bounds, 256, true, grid),
            [4, 4, 80, 80]
        );
        assert_eq!(reader_config_bytes(&win, &bounds), 16);
        // A row-major DRAM slice of [1,64,1280,800] on n150 (1280 × 200 pixels, height 64,
        // input shards of 4000 rows): each core's one local run stays in gather config 0.
        let win = window(64, 1280, 200);
        let bounds = win.boundaries(64, 1000);
        assert_eq!(
            halo_config_bytes(&win, &bounds, 4000, false, grid),
            [4, 4, 16, 4]
        );
    }

    /// The closed-form gather and pad counts agree with the piece-by-piece walk on random
    /// pools (padding, dilation, batches, strides, shards past 65,535 sticks, both layouts).
    #[test]
    fn halo_configs_match_the_walk() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        let mut checked = 0;
        for i in 0..3000 {
            let kernel = [1 + next(4), 1 + next(4)];
            let dilation = [1 + next(2), 1 + next(2)];
            let stride = [1 + next(3), 1 + next(3)];
            let pad = [next(kernel[0] / 2 + 1), next(kernel[1] / 2 + 1)];
            let (n, h, w) = if i % 100 == 0 {
                (1, 200 + next(600), 300 + next(900))
            } else {
                (1 + next(3), 1 + next(40), 1 + next(60))
            };
            let span = |size: u64, a: usize| size + 2 * pad[a];
            let eff = |a: usize| dilation[a] * (kernel[a] - 1) + 1;
            if span(h, 0) < eff(0) || span(w, 1) < eff(1) {
                continue;
            }
            let win = Window {
                n,
                h,
                w,
                c: 32,
                kernel,
                stride,
                pad,
                pad_end: pad,
                dilation,
                ho: (span(h, 0) - eff(0)) / stride[0] + 1,
                wo: (span(w, 1) - eff(1)) / stride[1] + 1,
            };
            let cores = if i % 100 == 0 {
                1 + next(4)
            } else {
                1 + next(12)
            };
            let rows = n * h * w;
            let in_shard_h = rows.div_ceil(cores * TILE) * TILE;
            let bounds = win.boundaries(cores, win.out_nhw().div_ceil(cores));
            for tiled in [true, false] {
                let grid = |k: u64| (k % 3, k / 3);
                assert_eq!(
                    halo_config_bytes(&win, &bounds, in_shard_h, tiled, grid),
                    halo_config_bytes_walk(&win, &bounds, in_shard_h, tiled, grid),
                    "{win:?} on {cores} cores, tiled {tiled}"
                );
            }
            checked += 1;
        }
        assert!(checked > 2000);
    }

    /// `ceil_mode=True` adds the partial window's row and column, read through padding after
    /// the input: [1,64,33,33] pooled 2×2 (stride 2) has 17 × 17 outputs, and its NO_DISPATCH
    /// trace on the runtime (n150) equals memmodel's, buffer by buffer (random differential
    /// seeds 110511 n150, 110512 p150).
    #[test]
    fn ceil_mode_pools_the_partial_window() {
        let floor = Window::new([1, 33, 33, 64], [2, 2], [2, 2], [0, 0], [1, 1]).unwrap();
        assert_eq!((floor.ho, floor.wo), (16, 16));
        let ceil = floor.with_ceil_mode();
        assert_eq!((ceil.ho, ceil.wo, ceil.pad_end), (17, 17, [1, 1]));
        // A window that would start in the trailing padding is dropped (PyTorch's rule).
        let w = Window::new([1, 5, 5, 8], [2, 2], [2, 2], [1, 1], [1, 1]).unwrap();
        assert_eq!(w.ho, 3);
        let c = w.with_ceil_mode();
        assert_eq!((c.ho, c.pad_end), (3, [1, 1]));
    }

    #[test]
    fn divisors() {
        assert_eq!(divisor_with_padding(4000, 110), 109);
        assert_eq!(divisor_with_padding(240, 64), 60);
        assert_eq!(divisor_with_padding(1, 64), 1);
        assert_eq!(largest_divisor(36, 11), 9);
        assert_eq!(largest_divisor(10, 8), 5);
    }

    /// A DRAM pool in slices with a batch and padding: each slice holds every image, the
    /// slices at the output's edges keep the pool's padding, the inner ones pad only where
    /// their windows leave the input. Peaks of the runtime's NO_DISPATCH captures (ttnn
    /// 0.81.1, kernel 3x3, stride 2, padding 1, NHWC bfloat16 TILE in DRAM): p150
    /// [2,256,300,400] in three slices, n150 [3,64,320,320] in two (random differential seeds
    /// 1215111 n150, 1215112 p150).
    #[test]
    fn sliced_dram_pools_with_a_batch_and_padding() {
        use crate::params::ParamValue;
        for (device, dims, slices, cb, l1) in [
            (&P150, "2,256,300,400", 3, 131_584, 1_066_576),
            (&N150, "3,64,320,320", 2, 32_896, 695_168),
        ] {
            let mut c = crate::case::Case::new(
                crate::ops::find("maxpool2d").unwrap(),
                vec![crate::shape::Shape::parse(dims).unwrap()],
                device,
            );
            c.device_layout = crate::layout::DeviceLayout::Nhwc;
            c.input_memory = BufferType::Dram;
            c.output_memory = BufferType::Dram;
            c.params.set("kernel_size", ParamValue::Ints(vec![3, 3]));
            c.params.set("stride", ParamValue::Ints(vec![2, 2]));
            c.params.set("padding", ParamValue::Ints(vec![1, 1]));
            let e = c.estimate().expect("modeled");
            assert_eq!((e.peaks.cb, e.peaks.l1), (cb, l1), "{dims}");
            let trace = c.plan().expect("planned").trace();
            let n = trace
                .iter()
                .filter(|e| {
                    matches!(e, crate::trace::Event::Op { op, .. } if op == "PaddedSliceDeviceOperation")
                })
                .count();
            assert_eq!(n, slices, "{dims}");
        }
    }

    /// A ROW_MAJOR DRAM pool whose halo step (costed as a TILE one's) fits the free L1 runs
    /// whole, though the step is far over the 20 % memmodel once took as pinned. Peaks of the
    /// runtime's NO_DISPATCH captures (n150, kernel 2x2, stride 2, NHWC bfloat16): [1,1024,8,1200]
    /// at a step of 91 % of the free L1, [2,256,200,120] at 57 %.
    #[test]
    fn row_major_dram_pools_within_the_free_l1_run_whole() {
        use crate::params::ParamValue;
        for (dims, cb, l1) in [
            ("1,1024,8,1200", 14_336, 614_464),
            ("2,256,200,120", 14_336, 768_064),
        ] {
            let mut c = crate::case::Case::new(
                crate::ops::find("maxpool2d").unwrap(),
                vec![crate::shape::Shape::parse(dims).unwrap()],
                &N150,
            );
            c.device_layout = crate::layout::DeviceLayout::Nhwc;
            c.layout = Layout::RowMajor;
            c.input_memory = BufferType::Dram;
            c.output_memory = BufferType::Dram;
            c.params.set("kernel_size", ParamValue::Ints(vec![2, 2]));
            c.params.set("stride", ParamValue::Ints(vec![2, 2]));
            let e = c.estimate().expect("modeled");
            assert_eq!((e.peaks.cb, e.peaks.l1), (cb, l1), "{dims}");
        }
    }

    /// A DRAM pool in slices whose channels are split over cores reads whole shard sticks in
    /// Pool2D's input CB, as the L1 path does (the runtime's NO_DISPATCH capture, n150
    /// [1,500,400,400] NHWC bfloat16 TILE, kernel 2x2, stride 2: four slices block-sharded
    /// over 8 channel cores, input CB 640,000 B = 5,000 sticks of 64 channels, not 63).
    #[test]
    fn sliced_dram_pools_read_whole_shard_sticks_over_channel_cores() {
        use crate::params::ParamValue;
        use crate::trace::Event;
        let mut c = crate::case::Case::new(
            crate::ops::find("maxpool2d").unwrap(),
            vec![crate::shape::Shape::parse("1,500,400,400").unwrap()],
            &N150,
        );
        c.device_layout = crate::layout::DeviceLayout::Nhwc;
        c.input_memory = BufferType::Dram;
        c.output_memory = BufferType::Dram;
        c.params.set("kernel_size", ParamValue::Ints(vec![2, 2]));
        c.params.set("stride", ParamValue::Ints(vec![2, 2]));
        let trace = c.plan().expect("planned").trace();
        let mut pool_input_cbs = Vec::new();
        for (i, e) in trace.iter().enumerate() {
            if matches!(e, Event::Op { op, .. } if op == "Pool2D") {
                let cbs: Vec<u64> = trace[i + 1..]
                    .iter()
                    .take_while(|e| !matches!(e, Event::Op { .. }))
                    .filter_map(|e| match e {
                        Event::Cb { size, .. } => Some(*size),
                        _ => None,
                    })
                    .collect();
                pool_input_cbs.push(cbs.get(2).copied());
            }
        }
        assert_eq!(pool_input_cbs, vec![Some(640_000); 4]);
    }

    /// A ROW_MAJOR uint8 pool's halo is refused against the resharded input's bank, whose
    /// sticks lie at the L1 alignment (the runtime, n150: nhwc-flat [1,99,4,6307] in L1,
    /// kernel 1x3, ceil_mode: "Cannot set circular buffer size to 82160 ... bank size of
    /// 44240 B", 395 sticks of 104 B at 112; random differential seed 1207911).
    #[test]
    fn a_uint8_halo_is_refused_against_the_aligned_bank() {
        use crate::params::ParamValue;
        let mut c = crate::case::Case::new(
            crate::ops::find("maxpool2d").unwrap(),
            vec![crate::shape::Shape::parse("1,99,4,6307").unwrap()],
            &N150,
        );
        c.device_layout = crate::layout::DeviceLayout::NhwcFlat;
        c.dtype = DType::Uint8;
        c.layout = Layout::RowMajor;
        c.params.set("kernel_size", ParamValue::Ints(vec![1, 3]));
        c.params.set("stride", ParamValue::Ints(vec![1, 1]));
        c.params.set("ceil_mode", ParamValue::Bool(true));
        let answer = format!("{:?}", c.estimate());
        assert!(
            answer.contains("Cannot set circular buffer size to 82160. This is larger than the associated dynamically allocated L1 buffer bank size of 44240 B"),
            "{answer}"
        );
    }

    /// A ROW_MAJOR bfloat16 max pool in L1 as the random differential draws it (nhwc-flat).
    fn row_major_pool(
        shape: &str,
        device: &'static DeviceSpec,
        params: &[(&str, [i64; 2])],
    ) -> crate::case::Case {
        use crate::params::ParamValue;
        let mut c = crate::case::Case::new(
            crate::ops::find("maxpool2d").unwrap(),
            vec![crate::shape::Shape::parse(shape).unwrap()],
            device,
        );
        c.device_layout = crate::layout::DeviceLayout::NhwcFlat;
        c.layout = Layout::RowMajor;
        c.input_memory = BufferType::L1;
        c.output_memory = BufferType::L1;
        for (name, v) in params {
            c.params.set(name, ParamValue::Ints(v.to_vec()));
        }
        c
    }

    /// Width sharding is costed with every output row on every core, unpadded (only height and
    /// block shards are padded to whole tiles of rows): the runtime (p150, [1,22,5,15], kernel
    /// 3x3, stride 1, no padding; 39 output rows) width-shards on 2 cores (16 channels, 32-byte
    /// sticks: L1 peak 6,144 B a core), not height-shards on 39 (2,144 B).
    #[test]
    fn row_major_width_shards_are_costed_with_unpadded_rows() {
        let win = Window::new([1, 5, 15, 22], [3, 3], [1, 1], [0, 0], [1, 1]).unwrap();
        let p = parallel_config_in(&P150, &win, TILE / 2);
        assert_eq!((p.scheme, p.nhw, p.ch), (Scheme::Width, 1, 2));
        let c = row_major_pool(
            "1,22,5,15",
            &P150,
            &[
                ("kernel_size", [3, 3]),
                ("stride", [1, 1]),
                ("padding", [0, 0]),
            ],
        );
        let e = c.estimate().expect("modeled");
        assert_eq!((e.peaks.cb, e.peaks.l1), (14_336, 6_144));
    }

    /// Block sharding's channel cores divide both the half-tile and the whole-tile channel
    /// counts (`find_closest_largest_divisor(out_channels_ntiles, input_channels_blocks, ..)`):
    /// 420 channels (27 and 14) share only 1, so the runtime height-shards them (n150,
    /// [3,420,3,1512], dilation [2,1], padding 1: OOM, CB peak 30,720 B, L1 peak 10,819,648 B
    /// a core); 115 (8 and 4) block-shard on 4.
    #[test]
    fn row_major_block_channel_cores_divide_half_and_whole_tiles() {
        let win = Window::new([3, 3, 1512, 420], [3, 3], [1, 1], [1, 1], [2, 1]).unwrap();
        assert_eq!(scheme_in(&N150, &win, Scheme::Block, TILE / 2, TILE).ch, 1);
        assert_eq!(
            parallel_config_in(&N150, &win, TILE / 2).scheme,
            Scheme::Height
        );
        let win = Window::new([3, 3, 1512, 115], [3, 3], [1, 1], [1, 1], [2, 1]).unwrap();
        assert_eq!(scheme_in(&N150, &win, Scheme::Block, TILE / 2, TILE).ch, 4);
        let c = row_major_pool(
            "3,420,3,1512",
            &N150,
            &[
                ("kernel_size", [3, 3]),
                ("stride", [1, 1]),
                ("padding", [1, 1]),
                ("dilation", [2, 1]),
            ],
        );
        let e = c.estimate().expect("modeled");
        assert_eq!((e.peaks.cb, e.peaks.l1), (30_720, 10_819_648));
    }

    /// Over 256 channels a ROW_MAJOR pool is planned as costed, in shards of whole 8-channel
    /// sticks whether or not the channels fill the cores' tiles (the runtime, kernel 3x3):
    /// stride 2, padding 1, n150 [1,499,20,30] block-sharded 8 x 8 in 64-channel sticks (L1
    /// peak 47,024 B a core), p150 [1,754,20,30] width-sharded on 48 cores in 16-channel ones
    /// (57,632 B); p150 [3,754,3,1512], dilation [2,1], padding 1, block-sharded 8 x 10 in
    /// 96-channel sticks (OOM at 2,413,440 B a bank).
    #[test]
    fn row_major_pools_over_256_channels_are_planned_as_costed() {
        let params = [
            ("kernel_size", [3, 3]),
            ("stride", [2, 2]),
            ("padding", [1, 1]),
        ];
        let win = Window::new([1, 20, 30, 499], [3, 3], [2, 2], [1, 1], [1, 1]).unwrap();
        let p = parallel_config_in(&N150, &win, TILE / 2);
        assert_eq!((p.scheme, p.nhw, p.ch), (Scheme::Block, 8, 8));
        let win = Window::new([1, 20, 30, 754], [3, 3], [2, 2], [1, 1], [1, 1]).unwrap();
        let p = parallel_config_in(&P150, &win, TILE / 2);
        assert_eq!((p.scheme, p.ch), (Scheme::Width, 48));
        let e = row_major_pool("1,499,20,30", &N150, &params)
            .estimate()
            .expect("modeled");
        assert_eq!((e.peaks.cb, e.peaks.l1), (14_336, 47_024));
        let e = row_major_pool("1,754,20,30", &P150, &params)
            .estimate()
            .expect("modeled");
        assert_eq!((e.peaks.cb, e.peaks.l1), (14_336, 57_632));
        let win = Window::new([3, 3, 1512, 754], [3, 3], [1, 1], [1, 1], [2, 1]).unwrap();
        let p = parallel_config_in(&P150, &win, TILE / 2);
        assert_eq!((p.scheme, p.nhw, p.ch), (Scheme::Block, 10, 8));
        let c = row_major_pool(
            "3,754,3,1512",
            &P150,
            &[
                ("kernel_size", [3, 3]),
                ("stride", [1, 1]),
                ("padding", [1, 1]),
                ("dilation", [2, 1]),
            ],
        );
        let e = c.estimate().expect("modeled");
        assert_eq!((e.peaks.cb, e.peaks.l1), (14_336, 3_014_240));
        match e.verdict {
            crate::case::Verdict::Oom(o) => assert_eq!(o.per_bank_bytes, 2_413_440),
            v => panic!("{v:?}"),
        }
    }

    /// The plan's (CB, L1) peaks and its number of DRAM slices for a bfloat16 NHWC-flat pool
    /// in DRAM.
    fn sliced_pool_peaks(
        device: &'static DeviceSpec,
        dims: &str,
        layout: Layout,
        [kernel, stride, padding]: [i64; 3],
        ceil_mode: bool,
    ) -> (u64, u64, usize) {
        use crate::params::ParamValue;
        let mut c = crate::case::Case::new(
            crate::ops::find("maxpool2d").unwrap(),
            vec![crate::shape::Shape::parse(dims).unwrap()],
            device,
        );
        c.device_layout = crate::layout::DeviceLayout::NhwcFlat;
        c.layout = layout;
        c.input_memory = BufferType::Dram;
        c.output_memory = BufferType::Dram;
        c.params
            .set("kernel_size", ParamValue::Ints(vec![kernel; 2]));
        c.params.set("stride", ParamValue::Ints(vec![stride; 2]));
        c.params.set("padding", ParamValue::Ints(vec![padding; 2]));
        c.params.set("ceil_mode", ParamValue::Bool(ceil_mode));
        let e = c.estimate().expect("modeled");
        let slices = c
            .plan()
            .expect("planned")
            .trace()
            .iter()
            .filter(|e| {
                matches!(e, crate::trace::Event::Op { op, .. } if op == "PaddedSliceDeviceOperation")
            })
            .count();
        (e.peaks.cb, e.peaks.l1, slices)
    }

    /// A ROW_MAJOR DRAM pool whose halo step exceeds the free L1 runs in DRAM slices: one
    /// PaddedSliceRM CB bound to each slice's shard of whole rows (the runtime's NO_DISPATCH
    /// captures, traces equal: n150 [1,320,500,500] kernel 3x3 stride 2 in 5 slices, 790
    /// sticks a core; p150 [1,64,1024,1024] kernel 2x2 stride 2 in 2).
    #[test]
    fn row_major_dram_pools_over_the_free_l1_run_in_slices() {
        assert_eq!(
            sliced_pool_peaks(&N150, "1,320,500,500", Layout::RowMajor, [3, 2, 0], false),
            (30_720, 1_146_320, 5)
        );
        assert_eq!(
            sliced_pool_peaks(&P150, "1,64,1024,1024", Layout::RowMajor, [2, 2, 0], false),
            (14_336, 1_308_624, 2)
        );
    }

    /// A sliced DRAM pool with ceil_mode: its last slice keeps the extra padding after the
    /// input (the runtime's NO_DISPATCH captures on n150, traces equal: [1,320,500,500] kernel
    /// 3x3 stride 2 in 5 width slices, [1,128,1999,301] in 5 height slices).
    #[test]
    fn sliced_dram_pools_with_ceil_mode_pad_their_last_slice() {
        assert_eq!(
            sliced_pool_peaks(&N150, "1,320,500,500", Layout::Tile, [3, 2, 0], true),
            (164_480, 1_154_112, 5)
        );
        assert_eq!(
            sliced_pool_peaks(&N150, "1,128,1999,301", Layout::Tile, [3, 2, 0], true),
            (65_792, 1_187_152, 5)
        );
    }

    /// The number of DRAM slices (0: whole) memmodel plans for a bfloat16 NHWC-flat max_pool2d
    /// in DRAM, `dims` as N,C,H,W.
    fn planned_dram_slices(
        device: &'static DeviceSpec,
        dims: &str,
        layout: Layout,
        geometry: [[i64; 2]; 4],
    ) -> usize {
        let c = dram_pool_case(device, dims, layout, false, geometry);
        c.estimate().expect("modeled");
        c.plan()
            .expect("planned")
            .trace()
            .iter()
            .filter(|e| {
                matches!(e, crate::trace::Event::Op { op, .. } if op == "PaddedSliceDeviceOperation")
            })
            .count()
    }

    /// The runtime slices a DRAM pool by its own L1 estimate (`slice_l1_estimate`), whose pool
    /// phase outgrows the halo step at a stride of 1. Probed on the mock p150 (python on the
    /// runtime: ttnn.max_pool2d of a DRAM [1,1,N·H·W,C] input in a NO_DISPATCH graph capture,
    /// its PaddedSliceDeviceOperation calls counted), kernel 1x1, bfloat16 TILE:
    /// [1,1024,2,12704] in 2 slices, [1,1024,2,12352] whole; [1,32,960,960] in 2,
    /// [1,32,800,800] whole.
    #[test]
    fn stride_1_dram_pools_slice_by_the_runtimes_estimate() {
        let one = [[1, 1], [1, 1], [0, 0], [1, 1]];
        for (dims, slices) in [
            ("1,1024,2,12704", 2),
            ("1,1024,2,12352", 0),
            ("1,32,960,960", 2),
            ("1,32,800,800", 0),
        ] {
            assert_eq!(
                planned_dram_slices(&P150, dims, Layout::Tile, one),
                slices,
                "{dims}"
            );
        }
    }

    /// A ROW_MAJOR input's estimate costs Pool2D's output CB and shard at the core's real
    /// channels. Probed as above (ROW_MAJOR bfloat16, stride 1): n150 [2,20,1189,1391] kernel
    /// 5x5 padding [2,0] in 5 slices; p150 [1,40,1454,1562] kernel 5x5 padding [0,1] in 4;
    /// p150 [1,3,4161,8694] kernel 5x5 in 8 (16-channel pages and 8-channel sticks would say
    /// 5 and 12 for the p150 ones).
    #[test]
    fn row_major_dram_pool_estimates_cost_the_real_channels() {
        for (device, dims, [kernel, padding, dilation], slices) in [
            (&N150, "2,20,1189,1391", [[5, 5], [2, 0], [1, 1]], 5),
            (&P150, "1,40,1454,1562", [[5, 5], [0, 1], [1, 1]], 4),
            (&P150, "1,3,4161,8694", [[5, 5], [0, 0], [1, 1]], 8),
        ] {
            let geometry = [kernel, [1, 1], padding, dilation];
            assert_eq!(
                planned_dram_slices(device, dims, Layout::RowMajor, geometry),
                slices,
                "{dims}"
            );
        }
    }

    /// An NHWC uint8 / uint16 TILE pool whose flattening reshape copies (W not whole tiles):
    /// the reshape allocates its output, then refuses the dtype; its output runs out of L1
    /// first where it does not fit. Seen on the runtime, n150: `cargo xtask probe --op
    /// maxpool2d --shape 1,986,7,872 --device-layout nhwc --dtype uint16 --memory dram
    /// --output-memory dram --param kernel_size=2,2 --param stride=3,3 --param ceil_mode=true
    /// --device n150 --backend metal` and `--shape 1,1024,6,274 --dtype uint8 --memory l1
    /// --param ceil_mode=true` raise the reshape's words; `--shape 1,16000,40,33 --dtype
    /// uint16 --memory l1` runs out at the flat copy: 673,792 B a bank, 1,280,000 B allocated
    /// (the input), 80,544 B free.
    #[test]
    fn a_copying_integer_nhwc_flattening_is_refused_after_its_output() {
        use crate::params::ParamValue;
        let pool = |shape: &str, dtype: DType, memory: BufferType| {
            let mut c = crate::case::Case::new(
                crate::ops::find("maxpool2d").unwrap(),
                vec![crate::shape::Shape::parse(shape).unwrap()],
                &N150,
            );
            c.device_layout = crate::layout::DeviceLayout::Nhwc;
            c.dtype = dtype;
            c.layout = Layout::Tile;
            c.input_memory = memory;
            c.output_memory = memory;
            c.params.set("ceil_mode", ParamValue::Bool(true));
            c
        };
        let refusal = |c: &crate::case::Case| match c.estimate() {
            Err(CaseError::Refused { reason, .. }) => reason,
            other => panic!("{other:?}"),
        };
        let mut c = pool("1,986,7,872", DType::Uint16, BufferType::Dram);
        c.params.set("kernel_size", ParamValue::Ints(vec![2, 2]));
        c.params.set("stride", ParamValue::Ints(vec![3, 3]));
        let words = "Can only work with bfloat16/float32 or int32/uint32 tensors";
        assert_eq!(refusal(&c), words);
        assert_eq!(
            refusal(&pool("1,1024,6,274", DType::Uint8, BufferType::L1)),
            words
        );
        // In DRAM slices (a pool too large for L1): a flat input's reshape to [N, H, W, C]
        // copies where neither N·H·W nor W is whole tiles, and refuses; a 4-D one needs no
        // reshape and reaches Pool2D's own refusal. Seen on n150: `--shape 1,2,2115,722
        // --device-layout nhwc-flat --dtype uint16 --memory dram` raises the reshape's words,
        // `--device-layout nhwc` "Only BFLOAT16 supported for now".
        let mut c = pool("1,2,2115,722", DType::Uint16, BufferType::Dram);
        c.params.set("ceil_mode", ParamValue::Bool(false));
        c.device_layout = crate::layout::DeviceLayout::NhwcFlat;
        assert_eq!(refusal(&c), words);
        c.device_layout = crate::layout::DeviceLayout::Nhwc;
        assert_eq!(refusal(&c), "Only BFLOAT16 supported for now");
        let mut c = pool("1,16000,40,33", DType::Uint16, BufferType::L1);
        c.params.set("ceil_mode", ParamValue::Bool(false));
        match c.estimate().expect("modeled").verdict {
            crate::case::Verdict::Oom(o) => assert_eq!(
                (o.per_bank_bytes, o.allocated, o.free),
                (673_792, 1_280_000, 80_544)
            ),
            v => panic!("{v:?}"),
        }
    }

    /// ROW_MAJOR DRAM slices of a one-byte dtype whose 8-channel sticks are not whole L1 words
    /// are refused by PaddedSlice (random differential seed 1260500, n150: uint8 nhwc
    /// [1,274,8,1942] kernel 2x2 stride 3 "Output row size 280 must be aligned to the
    /// destination buffer BufferType::L1 alignment 16"); sticks of whole words run on (the
    /// same pool of 272 channels is not refused there).
    #[test]
    fn unaligned_uint8_row_major_slices_are_refused() {
        use crate::params::ParamValue;
        let pool = |shape: &str| {
            let mut c = crate::case::Case::new(
                crate::ops::find("maxpool2d").unwrap(),
                vec![crate::shape::Shape::parse(shape).unwrap()],
                &N150,
            );
            c.device_layout = crate::layout::DeviceLayout::Nhwc;
            c.dtype = DType::Uint8;
            c.layout = Layout::RowMajor;
            c.input_memory = BufferType::Dram;
            c.output_memory = BufferType::Dram;
            for (k, v) in [
                ("kernel_size", ParamValue::Ints(vec![2, 2])),
                ("stride", ParamValue::Ints(vec![3, 3])),
                ("padding", ParamValue::Ints(vec![0, 0])),
            ] {
                c.params.set(k, v);
            }
            c.estimate()
        };
        match pool("1,274,8,1942") {
            Err(CaseError::Refused { reason, .. }) => assert_eq!(
                reason,
                "Output row size 280 must be aligned to the destination buffer BufferType::L1 alignment 16"
            ),
            other => panic!("{other:?}"),
        }
        if let Err(CaseError::Refused { reason, .. }) = pool("1,272,8,1942") {
            assert!(!reason.contains("Output row size"), "{reason}");
        }
    }

    /// ROW_MAJOR slices block-shard their channels in L1-aligned 8-channel blocks
    /// (`slice_block_unit`), in the estimate and the slices alike. Probed on the mock n150
    /// (python on the runtime: ttnn.max_pool2d of a DRAM ROW_MAJOR [1,1,N·H·W,C] input in a
    /// NO_DISPATCH graph capture, its PaddedSliceDeviceOperation calls counted): N,H,W,C
    /// [3,9,939,119] kernel 5x5 stride 5 padding [0,1] in 3 slices (random differential seed
    /// 1250091, where memmodel ran it whole: its 16-channel count put 4 channel cores where the
    /// runtime has 1, 120 channels a core in the capture), [1,179,36,438] kernel [7,3] stride
    /// [5,1] padding [3,1] in 2; p150 [3,4,161,308] kernel 4x4 dilation 2 padding 2 in 2 (the
    /// case that kept channels over 256 not whole tiles unmodeled).
    #[test]
    fn row_major_dram_slices_block_shard_8_channel_blocks() {
        for (device, dims, geometry, slices) in [
            (&N150, "3,119,9,939", [[5, 5], [5, 5], [0, 1], [1, 1]], 3),
            (&N150, "1,438,179,36", [[7, 3], [5, 1], [3, 1], [1, 1]], 2),
            (&P150, "3,308,4,161", [[4, 4], [4, 4], [2, 2], [2, 2]], 2),
        ] {
            assert_eq!(
                planned_dram_slices(device, dims, Layout::RowMajor, geometry),
                slices,
                "{dims}"
            );
        }
    }

    /// A ROW_MAJOR estimate's Pool2D output CB holds the shard's whole 16-channel faces only
    /// (an 8-channel shard none): found by bisecting the width of n150 1x1 stride-1 pools,
    /// N=1 H=48, probed as above: 8 channels whole at W=56,050 and in 2 slices at 56,100
    /// (16 B a row: the output shard alone), 12 channels (16-channel shards) at 18,697 / 18,698,
    /// 28 channels (32) at 9,349 / 9,350. The whole n150 [1,128,3,7008] kernel 5x5 stride 5
    /// padding 1, whose halo is 11 times its input shard, runs whole as the runtime does.
    #[test]
    fn row_major_dram_estimates_count_whole_output_faces() {
        let one = [[1, 1], [1, 1], [0, 0], [1, 1]];
        for (dims, slices) in [
            ("1,8,48,56050", 0),
            ("1,8,48,56100", 2),
            ("1,12,48,18697", 0),
            ("1,12,48,18698", 2),
            ("1,28,48,9349", 0),
            ("1,28,48,9350", 2),
        ] {
            assert_eq!(
                planned_dram_slices(&N150, dims, Layout::RowMajor, one),
                slices,
                "{dims}"
            );
        }
        let wide = [[5, 5], [5, 5], [1, 1], [1, 1]];
        assert_eq!(
            planned_dram_slices(&N150, "1,128,3,7008", Layout::RowMajor, wide),
            0
        );
    }

    /// A slice count whose smallest input slice is narrower than the dilated kernel is refused
    /// before anything is allocated (`slice_kernel_refusal`). Probed as above on n150: N,H,W,C
    /// [3,119,59,434] kernel 7x7 stride [1,2] padding [2,1] dilation [1,2], 13 width slices.
    #[test]
    fn dram_slices_narrower_than_the_kernel_are_refused() {
        let geometry = [[7, 7], [1, 2], [2, 1], [1, 2]];
        let answer = dram_pool_answer(&N150, "3,434,119,59", Layout::RowMajor, false, geometry);
        assert!(
            answer.contains(
                "The smallest input slice (size=12) in the width dimension is smaller than the effective kernel size (13). Kernel: 7x7, Stride: 1x2, Dilation: 1x2, Num slices: 13, Slicing dimension: width. Input shape: 119x59, Output shape: 117x25, Channels: 434."
            ),
            "{answer}"
        );
    }

    /// Where no slice count of the first axis fits, the runtime searches the other one, and
    /// where that fails too it refuses the call in these words (`slice_count`). Probed as
    /// above on n150: ROW_MAJOR N,H,W,C [1,249,49,1081] kernel 7x7 stride [1,2] padding [3,2]
    /// dilation 2 ceil_mode (height first: 249 > 3·49) in 3 width slices; refused:
    /// [1,64,64,16000] kernel 7x7 padding 3 (ROW_MAJOR, and float32 TILE), [1,300,20,4000]
    /// float32 TILE kernel 7x7 padding 3 dilation 2 (after its height search, its width one).
    #[test]
    fn dram_pools_search_the_other_axis_then_are_refused() {
        let geometry = [[7, 7], [1, 2], [3, 2], [2, 2]];
        assert_eq!(
            planned_dram_slices(&N150, "1,1081,249,49", Layout::RowMajor, geometry),
            3
        );
        for (dims, layout, float32, axis, out_dim) in [
            ("1,16000,64,64", Layout::RowMajor, false, "height", 64),
            ("1,16000,64,64", Layout::Tile, true, "height", 64),
            ("1,4000,300,20", Layout::Tile, true, "width", 14),
        ] {
            let dilation = if out_dim == 14 { 2 } else { 1 };
            let answer = dram_pool_answer(
                &N150,
                dims,
                layout,
                float32,
                [[7, 7], [1, 1], [3, 3], [dilation, dilation]],
            );
            let refusal = format!(
                "DRAM Auto slice could not find valid slice configuration. Tried up to {out_dim} slices for {axis}-slicing on output dimension {out_dim}. Available L1: 1360544 bytes."
            );
            assert!(answer.contains(&refusal), "{dims}: {answer}");
        }
    }

    /// memmodel's answer (debug text) for an NHWC-flat max_pool2d in DRAM, `dims` as N,C,H,W.
    fn dram_pool_answer(
        device: &'static DeviceSpec,
        dims: &str,
        layout: Layout,
        float32: bool,
        geometry: [[i64; 2]; 4],
    ) -> String {
        let c = dram_pool_case(device, dims, layout, float32, geometry);
        format!("{:?}", c.estimate())
    }

    /// An NHWC-flat max_pool2d from DRAM into DRAM, `dims` as N,C,H,W, bfloat16 or float32.
    fn dram_pool_case(
        device: &'static DeviceSpec,
        dims: &str,
        layout: Layout,
        float32: bool,
        [kernel, stride, padding, dilation]: [[i64; 2]; 4],
    ) -> crate::case::Case {
        use crate::params::ParamValue;
        let mut c = crate::case::Case::new(
            crate::ops::find("maxpool2d").unwrap(),
            vec![crate::shape::Shape::parse(dims).unwrap()],
            device,
        );
        c.device_layout = crate::layout::DeviceLayout::NhwcFlat;
        c.layout = layout;
        if float32 {
            c.dtype = DType::Float32;
        }
        c.input_memory = BufferType::Dram;
        c.output_memory = BufferType::Dram;
        for (name, v) in [
            ("kernel_size", kernel),
            ("stride", stride),
            ("padding", padding),
            ("dilation", dilation),
        ] {
            c.params.set(name, ParamValue::Ints(v.to_vec()));
        }
        c
    }
}
