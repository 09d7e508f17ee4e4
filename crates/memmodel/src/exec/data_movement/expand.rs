//! expand: the repeat codegen legs and the native repeat path.

use super::*;

/// `ttnn.expand` (repeat.cpp): of a TILE tensor's last dim, untilize, repeat the rows, tilize;
/// of any one dim of a ROW_MAJOR tensor, the repeat alone.
pub(in crate::exec) fn expand(
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
    if !codegen {
        return expand_native(ex, x, &target, mem);
    }
    // The codegen route (`repeat_via_codegen`) untilizes with the untilize codegen prim. ROW_MAJOR
    // pages are repeated as they are. The untilized rows stay in the input's memory (seen on
    // n150: [6,17152,1] from DRAM expanded into L1 runs out at the repeat's output with no L1
    // allocated).
    let untilized = if row_major {
        None
    } else {
        Some(untilize_routed(ex, x, x.memory)?)
    };
    let repeated =
        ex.b.tensor("repeated", BufferRole::Temporary, spec.clone(), mem)?;
    let page = spec.page_size()?;
    // `RepeatCodegenProgramFactory`: slots of `rm_slot_bytes`, the larger of the input's and
    // output's aligned pages, as many as `plan_rm_cb` allows in the L1 free once the output
    // exists.
    let in_page = x.dims().last().copied().unwrap_or(1) * x.dtype().row_major_element_bytes();
    let slot = crate::size::round_up(in_page, d.alignment(x.memory), "repeat slot")?.max(
        crate::size::round_up(page, d.alignment(mem), "repeat slot")?,
    );
    let p = repeat_codegen_rm_program(ex, slot, spec.pages()?)?;
    ex.b.run(p);
    let Some(rm) = untilized else {
        return Ok(repeated);
    };
    ex.b.release(rm);
    tilize_back(ex, x, repeated, &target, mem)
}

/// `to_layout(TILE, input dtype)` of an expand's repeated rows into `mem`, the rows then freed.
fn tilize_back(
    ex: &mut Exec<'_>,
    x: &DevTensor,
    repeated: DevTensor,
    target: &Shape,
    mem: BufferType,
) -> Result<DevTensor, CaseError> {
    let padded_out = TensorSpec::new(target.clone(), x.dtype(), Layout::Tile).padded_dims();
    if x.dtype() == DType::Uint8 && padded_out.as_slice() != target.dims() {
        // The padding tilize back refuses uint8 once the repeat has run (seen on n150, seed
        // 1107151: [1,5,4218,1] to [1,5,4218,550] from and to DRAM); the plain tilize of a
        // tile-aligned output takes it (seed 1107171: [1,155776,1] to 352 wide). Its output is
        // allocated first: seen on n150, seed 1107173, [4,19182,1] to 772 wide in L1 runs out
        // at the 61,440,000 B tilized output on the device.
        let tilized = refused_padding_tilize(ex, target, x.dtype(), mem)?;
        ex.b.release(repeated);
        return Ok(tilized);
    }
    // A block float is tilized from its bfloat16 rows (seen on n150: 10,240 B of bfloat16
    // tiles in, 5,440 B of bfloat8_b out for a 160-wide row).
    let l1_bank = ex.device().l1_bank_bytes;
    let out = tilize_to(ex, &repeated, mem, x.dtype(), l1_bank, false, None)?;
    ex.b.release(repeated);
    Ok(out)
}

/// `repeat_native` where codegen declines (bfloat8_b rows, rank above 4, or legs whose slots
/// miss codegen's static L1 window): a TILE tensor whose last two dims are whole tiles repeats
/// its tiles (`repeat_dim_tile`, one leg per dim); any other is converted to rows
/// (`to_layout`: `untilize_with_unpadding` where padded, into the input's memory), each repeated
/// dim taken innermost first, unfolded, every leg into the output's memory
/// (`RepeatProgramFactoryLastDim` for the last dim, `RepeatProgramFactoryHigherDim` on the rows
/// viewed as [upper, dim, lower, W] for the others), each leg's input freed once it has run, and
/// the rows tilized back.
pub(in crate::exec) fn expand_native(
    ex: &mut Exec<'_>,
    x: &DevTensor,
    target: &Shape,
    mem: BufferType,
) -> Result<DevTensor, CaseError> {
    let f = "ttnn.expand";
    let rank = x.shape().rank();
    let repeats: Vec<u64> = (0..rank)
        .map(|i| target.dims()[i] / x.dims()[i].max(1))
        .collect();
    if repeats.contains(&0) {
        return Err(unmodeled(
            f,
            "an expand to a dim of 0 allocates zeros (repeat_native), which memmodel does not plan",
        ));
    }
    let legs: Vec<usize> = (0..rank).rev().filter(|&i| repeats[i] > 1).collect();
    let dims = x.dims();
    let tile_native = x.layout() == Layout::Tile
        && rank >= 2
        && dims[rank - 1].is_multiple_of(TILE)
        && dims[rank - 2].is_multiple_of(TILE);
    if tile_native {
        let mut working: Option<DevTensor> = None;
        let mut leg_dims = dims.to_vec();
        for &i in &legs {
            leg_dims[i] = crate::size::mul(leg_dims[i], repeats[i], "expand leg")?;
            let leg_target = Shape::from_dims(leg_dims.clone())?;
            let input = working.as_ref().unwrap_or(x);
            let out = repeat_higher_dim_tiles(ex, input, &leg_target, mem)?;
            if let Some(prev) = working.replace(out) {
                ex.b.release(prev);
            }
        }
        return working.ok_or_else(|| invalid(f, "no dim to expand"));
    }
    let d = ex.device();
    let row_major = x.layout() == Layout::RowMajor;
    // The rows repeated are the untilized ones: bfloat16 for a block float (seen on the
    // runtime, n150: a bfloat8_b [1984,1] expanded to 160 wide repeats 320 B bfloat16 rows).
    let rm_dtype = if row_major {
        x.dtype()
    } else {
        untilized_dtype(x.dtype())
    };
    let es = rm_dtype.row_major_element_bytes();
    let mut working: Option<DevTensor> = if row_major {
        None
    } else {
        Some(untilize(ex, x, x.memory)?)
    };
    let mut leg_dims = dims.to_vec();
    for &i in &legs {
        let in_row = crate::size::mul(leg_dims[rank - 1], es, "repeat page")?;
        leg_dims[i] = crate::size::mul(leg_dims[i], repeats[i], "expand leg")?;
        let spec = TensorSpec::new(
            Shape::from_dims(leg_dims.clone())?,
            rm_dtype,
            Layout::RowMajor,
        );
        let out = ex.b.tensor("repeated", BufferRole::Temporary, spec, mem)?;
        let last_dim = i + 1 == rank;
        if !matches!(
            rm_dtype,
            DType::Uint16 | DType::Bfloat16 | DType::Uint32 | DType::Int32 | DType::Float32
        ) {
            // `RepeatDeviceOperation`'s dtype check, once its output exists (seen on the
            // runtime, n150: a 1-D uint8 ROW_MAJOR expand to 643 is refused, to 6,430,208 in L1
            // runs out of L1 at its output first).
            ex.b.run(
                Program::new("RepeatDeviceOperation", native_repeat_factory(last_dim)).refused(
                    String::from(
                        "Can only work with UINT16, BFLOAT16, UINT32, INT32, FLOAT32 data types",
                    ),
                ),
            );
            return Ok(out);
        }
        let scratch = if last_dim {
            // `RepeatProgramFactoryLastDim`: the source page repeated up to a 16 B multiple.
            let times = if in_row & 0xF == 0 {
                1
            } else if in_row & 0x7 == 0 {
                2
            } else if in_row & 0x3 == 0 {
                4
            } else if in_row & 0x1 == 0 {
                8
            } else {
                16
            };
            crate::size::mul(in_row, times, "repeat scratch")?
        } else {
            // `RepeatProgramFactoryHigherDim`: the unaligned row as it is.
            in_row
        };
        // Two reader scratchpads (an interleaved source and its write-alignment copy) of
        // 2 × READ_ALIGNMENT (64) plus the row, on the whole grid.
        let size = crate::size::add(128, scratch, "repeat scratch")?;
        let cores = grid::full(d);
        let mut p = Program::new("RepeatDeviceOperation", native_repeat_factory(last_dim));
        p.push(Cb::new(CbKind::Scratchpad, size, cores.clone()));
        p.push(Cb::new(CbKind::Scratchpad, size, cores));
        ex.b.run(p);
        if let Some(prev) = working.replace(out) {
            ex.b.release(prev);
        }
    }
    let repeated = working.ok_or_else(|| invalid(f, "no dim to expand"))?;
    if row_major {
        return Ok(repeated);
    }
    tilize_back(ex, x, repeated, target, mem)
}

/// An expand of several dims that repeats rows (`repeat_via_codegen` with row-major legs): a
/// ROW_MAJOR tensor, or a TILE one whose last two dims are repeated (`needs_row_major_round_trip`:
/// an expanded dim of size 1 is never whole tiles), untilized first and tilized back. The dims
/// are folded (`plan_codegen_legs`: a size-1 dim into the next repeated one, the last dim never)
/// and repeated innermost first, one RepeatCodegen leg each, every leg but the last into the
/// input's memory; each leg's input is freed once the next leg's output exists. Seen on n150:
/// [1,1,1,1] TILE to [2,3,64,96] from DRAM runs three legs (dims 3, 2 and 1, dim 0 folded
/// into 1). Where codegen refuses the legs (`supported_by_codegen`: rank 2-4, not bfloat8_b,
/// every leg's two slots in the L1 left) the runtime takes `repeat_native` ([`expand_native`]).
pub(in crate::exec) fn expand_row_major_legs(
    ex: &mut Exec<'_>,
    x: &DevTensor,
    target: &Shape,
    mem: BufferType,
) -> Result<DevTensor, CaseError> {
    let f = "ttnn.expand";
    let rank = x.shape().rank();
    if !(2..=4).contains(&rank) || x.dtype() == DType::Bfloat8B {
        return expand_native(ex, x, target, mem);
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
        return expand_native(ex, x, target, mem);
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
    // The padding tilize back refuses uint8 here too (seen on n150 and p150: [1,3,50,1] to
    // [2,3,50,70] from DRAM).
    tilize_back(ex, x, repeated, target, mem)
}

/// `repeat_dim_tile`: `RepeatProgramFactoryHigherDim` on whole tiles (tile-native), one reader
/// scratchpad of 2 × READ_ALIGNMENT (64) plus a tile on the whole grid.
pub(in crate::exec) fn repeat_higher_dim_tiles(
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
pub(in crate::exec) fn native_repeat_factory(last_dim: bool) -> &'static str {
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
pub(in crate::exec) fn repeat_outer_tiles(
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
pub(in crate::exec) fn repeat_codegen_rm_program(
    ex: &Exec<'_>,
    slot: u64,
    rows: u64,
) -> Result<Program, CaseError> {
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
pub(in crate::exec) fn repeat_rm_cb_slots(slot: u64, budget: u64) -> Option<u64> {
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
pub(in crate::exec) fn repeat_codegen_fits(
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
