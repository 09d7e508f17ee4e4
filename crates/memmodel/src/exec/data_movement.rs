//! Data movement: transpose, permute, reshape / unsqueeze, concat (and the device operations
//! they decompose into: TransposeWH / HC, the permute factories, the tiled reshape with its host
//! page map).

use super::grid;
use super::util::{out_memory, tile_size, tiles};
use super::{invalid, Args, Exec, Val};
use crate::case::BufferRole;
use crate::device::BufferType;
use crate::dtype::DType;
use crate::layout::Layout;
use crate::ops::CaseError;
use crate::plan::{raw_placement, DevTensor};
use crate::program::{Cb, CbKind, Program};
use crate::shape::Shape;
use crate::tensor::{TensorSpec, TILE};

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
            let mut dims = x.dims().to_vec();
            dims.insert(at as usize, 1);
            let spec = TensorSpec::new(Shape::from_dims(dims)?, x.dtype(), x.layout());
            Val::T(ex.b.share(x, spec))
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
        _ => return Ok(None),
    }))
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
fn to_4d(dims: &[u64]) -> Vec<u64> {
    let mut d = dims.to_vec();
    while d.len() < 4 {
        d.insert(0, 1);
    }
    d
}

/// `ttnn.transpose`.
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
    if i0 == i1 {
        return Ok(ex.b.share(x, out_spec));
    }
    let (lo, hi) = (i0.min(i1), i0.max(i1));
    // Work on the 4D view.
    let pad = 4usize.saturating_sub(rank);
    let (lo4, hi4) = (lo + pad, hi + pad);
    let dims4 = to_4d(x.dims());
    let x4 = spec_with(x, dims4)?;
    let out =
        ex.b.tensor("output", BufferRole::Temporary, out_spec, mem)?;
    let d = ex.device();
    match (lo4, hi4) {
        (2, 3) => {
            let w = grid::split_work(d, tiles(&x4), false);
            let cores = grid::merge_ranges(&w.all);
            let ts = tile_size(x.dtype());
            ex.b.run(
                Program::new("TransposeDeviceOperation", "TransposeWHProgramFactory")
                    .cb(CbKind::Dataflow, 2 * ts, &cores)
                    .cb(CbKind::Dataflow, 2 * ts, &cores),
            );
        }
        (1, 2) => transpose_hc_program(ex, &x4),
        _ => return Err(invalid(
            "ttnn.transpose",
            format!(
                "memmodel models transposes of the last three dims only (dims {d0}, {d1} of {})",
                x.shape()
            ),
        )),
    }
    Ok(out)
}

/// `TransposeHCTiledInterleavedProgramFactory`: one input tile buffer, plus a row of padding
/// when the channel dim is not tile aligned.
fn transpose_hc_program(ex: &mut Exec<'_>, x4: &TensorSpec) {
    let d = ex.device();
    let dims = x4.shape.dims();
    let ts = tile_size(x4.dtype);
    let out_tiles = dims[0] * dims[2] * dims[1].div_ceil(TILE) * dims[3].div_ceil(TILE);
    let w = grid::split_work(d, out_tiles, false);
    let cores = grid::merge_ranges(&w.all);
    let mut p = Program::new(
        "TransposeDeviceOperation",
        "TransposeHCTiledInterleavedProgramFactory",
    )
    .cb(CbKind::Dataflow, 2 * ts, &cores);
    if !dims[1].is_multiple_of(TILE) {
        p = p.cb(
            CbKind::Dataflow,
            16 * x4.dtype.row_major_element_bytes() * 16,
            &cores,
        );
    }
    ex.b.run(p);
}

/// `ttnn.permute` (permute.cpp): no-ops, the transposes it delegates to, and the permute device
/// operation's tiled factories.
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
        return Ok(if mem == x.memory {
            ex.b.share(x, out_spec)
        } else {
            move_to(ex, x, mem)?
        });
    }
    // Ranks below 4 are permuted as 4D views.
    let pad = 4usize.saturating_sub(rank);
    let perm4: Vec<usize> = (0..pad).chain(perm.iter().map(|&p| p + pad)).collect();
    let x4 = spec_with(x, to_4d(x.dims()))?;
    if perm4.len() == 4 {
        match perm4.as_slice() {
            [0, 1, 3, 2] => {
                let t = transpose(ex, x, -2, -1, mem)?;
                return Ok(t);
            }
            [0, 2, 1, 3] => {
                let out =
                    ex.b.tensor("output", BufferRole::Temporary, out_spec, mem)?;
                transpose_hc_program(ex, &x4);
                return Ok(out);
            }
            _ => {}
        }
    }
    let r = perm4.len();
    let out =
        ex.b.tensor("output", BufferRole::Temporary, out_spec, mem)?;
    let d = ex.device();
    let ts = tile_size(x.dtype());
    let o4 = {
        let od: Vec<u64> = perm4.iter().map(|&p| x4.shape.dims()[p]).collect();
        TensorSpec::new(Shape::from_dims(od)?, x.dtype(), x.layout())
    };
    if x.layout() == Layout::RowMajor {
        return Err(invalid(f, "memmodel models TILE permutes only"));
    }
    let (last, second) = (perm4[r - 1], perm4[r - 2]);
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
        let in4 = x4.shape.dims();
        let mut in_shape = in4.to_vec();
        let mut pdims = perm4.clone();
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
        let a1 = grid::split_work(d, num_tiles, false);
        let a2 = grid::split_work(d, padded_num, false);
        let all = if a1.num_cores > a2.num_cores {
            a1.all
        } else {
            a2.all
        };
        let cores = grid::merge_ranges(&all);
        p = Program::new("PermuteDeviceOperation", "MultiCoreTileRowInvariant").cb(
            CbKind::Dataflow,
            2 * ts,
            &cores,
        );
        let output_h = in_shape[pdims[r - 2]];
        if output_h % TILE != 0 {
            p = p.cb(
                CbKind::Dataflow,
                16 * x.dtype().row_major_element_bytes(),
                &cores,
            );
        }
        if swap_hw {
            p = p.cb(CbKind::Dataflow, 2 * ts, &cores);
        }
    } else {
        return Err(invalid(
            f,
            format!("memmodel does not model permutes that move both tiled dims ({dims:?})"),
        ));
    }
    ex.b.run(p);
    Ok(out)
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

/// `ttnn.to_memory_config` to another interleaved memory: a copy.
fn move_to(ex: &mut Exec<'_>, x: &DevTensor, mem: BufferType) -> Result<DevTensor, CaseError> {
    let out =
        ex.b.tensor("output", BufferRole::Temporary, x.spec.clone(), mem)?;
    let d = ex.device();
    let w = grid::split_work(d, tiles(&x.spec), false);
    ex.b.run(Program::new("CopyDeviceOperation", "DefaultTilized").cb(
        CbKind::Circular,
        2 * tile_size(x.dtype()),
        &grid::merge_ranges(&w.all),
    ));
    Ok(out)
}

/// The zero-cost reshape rule of the pinned runtime's `ttnn.reshape`.
fn reshape_is_view(from: &[u64], to: &[u64], layout: Layout) -> bool {
    crate::ops::reshape_is_view(
        &Shape::from_dims(from.to_vec()).expect("valid"),
        &Shape::from_dims(to.to_vec()).expect("valid"),
        layout,
    )
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
    if reshape_is_view(x.dims(), target.dims(), x.layout()) && mem == x.memory {
        return Ok(ex.b.share(x, spec));
    }
    if x.layout() != Layout::Tile {
        return Err(invalid(f, "memmodel models TILE reshapes only"));
    }
    let out = ex.b.tensor("output", BufferRole::Temporary, spec, mem)?;
    let d = ex.device();
    let in3 = squeeze_3d(x.dims());
    let out3 = squeeze_3d(target.dims());
    let out_pages = tiles(&TensorSpec::new(
        Shape::from_dims(out3.to_vec())?,
        x.dtype(),
        Layout::Tile,
    ));
    let segments = reshape_map_segments(in3, out3);
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
    let cores = grid::full(d);
    let ts = tile_size(x.dtype());
    let mut p = Program::new(
        "ReshapeViewDeviceOperation",
        "ReshapeViewTiledProgramFactory",
    )
    .cb(CbKind::Dataflow, page, &cores)
    .cb(CbKind::Dataflow, ts, &cores);
    p.push(Cb::new(CbKind::Scratchpad, ts, cores));
    ex.b.run(p);
    ex.b.release(DevTensor {
        spec: TensorSpec::new(Shape::from_dims(vec![1])?, DType::Uint32, Layout::RowMajor),
        memory: BufferType::Dram,
        buffer: map,
    });
    Ok(out)
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
pub fn reshape_map_segments(input: [u64; 3], output: [u64; 3]) -> u64 {
    use std::collections::{HashMap, HashSet};
    let [c1, h1, w1] = input;
    let [c2, h2, w2] = output;
    let period = h1 * w1;
    let th2 = h2.div_ceil(TILE);
    let tw2 = w2.div_ceil(TILE);
    let tw1 = w1.div_ceil(TILE);
    let tc1 = h1.div_ceil(TILE) * tw1;
    let mut seen: HashSet<(u64, u64, u64)> = HashSet::new();
    let mut best = 0u64;
    let _ = c1;
    for c in 0..c2 {
        for th in 0..th2 {
            for tw in 0..tw2 {
                let ho0 = th * TILE;
                let wo0 = tw * TILE;
                let hsz = (h2 - ho0).min(TILE);
                let wsz = (w2 - wo0).min(TILE);
                let flat0 = c * h2 * w2 + ho0 * w2 + wo0;
                let key = (flat0 % period, hsz, wsz);
                if !seen.insert(key) {
                    continue;
                }
                // Segments per input tile (keyed by the tile's index relative to this phase).
                let mut groups: HashMap<u64, u64> = HashMap::new();
                let base_c = flat0 / period;
                for r in 0..hsz {
                    let row_flat = flat0 + r * w2;
                    let mut col = 0;
                    while col < wsz {
                        let fl = row_flat + col;
                        let ci = fl / period - base_c;
                        let p = fl % period;
                        let hi = p / w1;
                        let wi = p % w1;
                        // The run ends at the output face edge, the input face edge and the input
                        // row's end.
                        let out_face_end = if col < 16 { 16 } else { 32 };
                        let run = (out_face_end.min(wsz) - col).min(16 - wi % 16).min(w1 - wi);
                        let page = ci * tc1 + (hi / TILE) * tw1 + wi / TILE;
                        *groups.entry(page).or_insert(0) += 1;
                        col += run;
                    }
                }
                let max_group = groups.values().copied().max().unwrap_or(0);
                best = best.max(max_group * groups.len() as u64);
            }
        }
    }
    best
}

/// `ttnn.concat` of interleaved tensors.
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
        total += x.dims()[i];
    }
    let mut out_dims = first.dims().to_vec();
    out_dims[i] = total;
    let out_spec = spec_with(first, out_dims)?;
    let aligned = i + 2 < rank.max(2) || xs.iter().all(|x| x.dims()[i] % TILE == 0);
    if first.layout() == Layout::Tile && aligned {
        let out =
            ex.b.tensor("output", BufferRole::Temporary, out_spec.clone(), mem)?;
        let dev = ex.device();
        let w = grid::split_work(dev, tiles(&out_spec), false);
        ex.b.run(
            Program::new("ConcatDeviceOperation", "ConcatProgramFactory").cb(
                CbKind::Dataflow,
                2 * tile_size(first.dtype()),
                &grid::merge_ranges(&w.all),
            ),
        );
        return Ok(out);
    }
    Err(invalid(
        f,
        format!(
            "memmodel does not model concatenating unaligned tiled dims yet ({})",
            first.shape()
        ),
    ))
}
