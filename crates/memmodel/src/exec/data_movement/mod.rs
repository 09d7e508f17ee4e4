//! Data movement: the dispatch of every data-movement function and the helpers its families
//! share. Each family has its own module: `layout` (to_memory_config, to_layout), `permute`
//! (transpose, permute), `reshape` (reshape, unsqueeze: view or copy), `concat` (concat, stack),
//! `tilize` (tilize / untilize and their program cache), `slice` (slice, split) and `expand`.

mod concat;
mod expand;
mod layout;
mod permute;
mod reshape;
mod slice;
mod tilize;

pub(super) use concat::*;
pub(super) use expand::*;
pub(super) use layout::*;
pub(super) use permute::*;
pub use reshape::reshape_is_view;
pub(crate) use reshape::RESHAPE_DTYPE_REFUSAL;
pub(super) use reshape::*;
pub(super) use slice::*;
pub(super) use tilize::*;

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
pub(in crate::exec) const TILIZE_DTYPE_REFUSAL: &str =
    "Can only tilize bfloat16/float32 or int32/uint32/uint16 or fp8_e4m3 tensors";

/// The padding tilize of a uint8 tensor: the runtime allocates its TILE output of `shape`
/// in `mem`, then `TilizeWithValPadding` refuses the dtype ([`TILIZE_DTYPE_REFUSAL`]). The
/// caller frees its own rows after, as the runtime does.
pub(in crate::exec) fn refused_padding_tilize(
    ex: &mut Exec<'_>,
    shape: &Shape,
    dtype: DType,
    mem: BufferType,
) -> Result<DevTensor, CaseError> {
    let tiled = ex.b.tensor(
        "tilized",
        BufferRole::Temporary,
        TensorSpec::new(shape.clone(), dtype, Layout::Tile),
        mem,
    )?;
    ex.b.run(
        Program::new(
            "TilizeWithValPaddingDeviceOperation",
            "TilizeWithValPaddingMultiCoreDefaultFactory",
        )
        .refused(TILIZE_DTYPE_REFUSAL.to_string()),
    );
    Ok(tiled)
}

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
pub(in crate::exec) fn opt_dtype(a: &Args<'_>) -> Result<Option<DType>, CaseError> {
    match a.kw.get("dtype") {
        None | Some(Val::None) => Ok(None),
        Some(Val::DType(d)) => Ok(Some(*d)),
        Some(other) => Err(invalid(a.function, format!("`dtype` is {other:?}"))),
    }
}

pub(in crate::exec) fn norm_dim(f: &str, rank: usize, d: i64) -> Result<usize, CaseError> {
    let r = rank as i64;
    let i = if d < 0 { d + r } else { d };
    if (0..r).contains(&i) {
        Ok(i as usize)
    } else {
        Err(invalid(f, format!("dim {d} out of range for rank {rank}")))
    }
}

pub(in crate::exec) fn spec_with(x: &DevTensor, dims: Vec<u64>) -> Result<TensorSpec, CaseError> {
    Ok(TensorSpec::new(
        Shape::from_dims(dims)?,
        x.dtype(),
        x.layout(),
    ))
}

/// The 4D view TT-NN makes of a lower-rank tensor (`unsqueeze_to_4D`).
pub(in crate::exec) fn to_4d(dims: &[u64]) -> Vec<u64> {
    let mut d = dims.to_vec();
    while d.len() < 4 {
        d.insert(0, 1);
    }
    d
}

#[cfg(test)]
mod tests {
    use super::closest_square_larger_than;

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
