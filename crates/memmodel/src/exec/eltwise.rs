//! Element-wise ops: unary (`UnaryDeviceOperation`), binary (`BinaryNgDeviceOperation`),
//! clone, copy, dropout, batch norm, and tensor creation.

use super::grid;
use super::util::{out_memory, tile_size, tiles};
use super::{invalid, Args, Exec, Val};
use crate::error::CaseError;
use crate::layout::Layout;
use crate::plan::BufferRole;
use crate::plan::DevTensor;
use crate::program::{Cb, CbKind, CoreRangeSet, Program};
use crate::shape::Shape;
use crate::shard::ShardSpec;
use crate::tensor::TensorSpec;

/// The unary functions of the catalog (one SFPU program each).
const UNARY: &[&str] = &[
    "relu",
    "silu",
    "sigmoid",
    "tanh",
    "gelu",
    "log",
    "mish",
    "identity",
    "hardtanh",
    "leaky_relu",
    "softplus",
    "clamp",
    "clip",
    "square",
    "sqrt",
    "exp",
    "neg",
    "abs",
    "rsqrt",
    "recip",
    "reciprocal",
];

pub(super) fn call(ex: &mut Exec<'_>, name: &str, a: &Args<'_>) -> Result<Option<Val>, CaseError> {
    Ok(Some(match name {
        n if UNARY.contains(&n) => unary(ex, a)?,
        "add" | "sub" | "mul" | "div" | "subtract" | "multiply" | "divide" => binary(ex, a)?,
        "clone" => clone(ex, a)?,
        "copy" => copy(ex, a)?,
        "experimental.dropout" => dropout(ex, a)?,
        "batch_norm" => batch_norm(ex, a)?,
        "ones" | "zeros" | "full" | "empty" => create(ex, a)?,
        _ => return Ok(None),
    }))
}

/// An element-wise op's output: in `memory_config` if given; else in the input's own memory
/// config, its shard spec included (a conv's output stays in the conv's shards).
fn output_like(
    ex: &mut Exec<'_>,
    a: &Args<'_>,
    x: &DevTensor,
    spec: TensorSpec,
) -> Result<DevTensor, CaseError> {
    let given = !matches!(a.kw.get("memory_config"), None | Some(Val::None));
    match &x.shard {
        Some(shard) if !given && spec.shape == x.spec.shape => {
            ex.b.tensor_sharded("output", BufferRole::Temporary, spec, shard.clone())
        }
        _ => {
            let config = a.memory_config(x.config())?;
            ex.b.tensor_in("output", BufferRole::Temporary, spec, config)
        }
    }
}

/// Bytes of one shard of a sharded tensor.
pub(super) fn shard_bytes(spec: &ShardSpec, dtype: crate::dtype::DType) -> u64 {
    spec.shard_tiles().saturating_mul(tile_size(dtype))
}

fn unary(ex: &mut Exec<'_>, a: &Args<'_>) -> Result<Val, CaseError> {
    let x = a.tensor(0, "input_tensor")?;
    // ttnn.clamp / ttnn.clip with float bounds on an int32 tensor typecast it to float32 first
    // (ExecuteUnaryCompositeClamp: `ttnn::typecast(a, FLOAT32, output_mem_config)`), then clamp
    // that copy; the copy lives until the call ends (traced on the runtime, both boards, every
    // memory: Typecast, then the unary, then the copy freed).
    let is_clamp = matches!(a.function, "ttnn.clamp" | "ttnn.clip");
    if is_clamp && x.dtype() == crate::dtype::DType::Int32 {
        let cast = typecast_for_clamp(ex, a, x)?;
        let out = unary_on(ex, a, &cast)?;
        ex.b.release(cast);
        return Ok(out);
    }
    unary_on(ex, a, x)
}

/// The float32 copy ttnn.clamp makes of an int32 input: in `memory_config` if given, else in
/// the input's memory (its shard spec included); `TypecastProgramFactory` on interleaved
/// tiles, `TypecastShardedProgramFactory` (input and output shards as its two dataflow
/// buffers, on the shard grid) on sharded ones.
fn typecast_for_clamp(
    ex: &mut Exec<'_>,
    a: &Args<'_>,
    x: &DevTensor,
) -> Result<DevTensor, CaseError> {
    let row_major = x.layout() != Layout::Tile;
    let spec = TensorSpec::new(x.shape().clone(), crate::dtype::DType::Float32, x.layout());
    let cast = output_like(ex, a, x, spec)?;
    match (&x.shard, &cast.shard) {
        (None, None) if row_major => typecast_row_major_program(ex, x, &cast)?,
        (None, None) => super::reduction::typecast_program(ex, x, &cast),
        _ if row_major => {
            return Err(super::unmodeled(
                a.function,
                "the float32 typecast of a sharded ROW_MAJOR int32 input (not traced on the runtime)",
            ))
        }
        (Some(from), Some(to)) if from.cores == to.cores => {
            let mut p = Program::new("TypecastDeviceOperation", "TypecastShardedProgramFactory");
            for (spec, dtype) in [(from, x.dtype()), (to, cast.dtype())] {
                let mut cb = Cb::new(CbKind::Dataflow, shard_bytes(spec, dtype), spec.cores.clone());
                cb.global = true;
                p.push(cb);
            }
            ex.b.run(p);
        }
        _ => {
            return Err(super::unmodeled(
                a.function,
                "the float32 typecast of an int32 input between sharded and interleaved memory (not traced on the runtime)",
            ))
        }
    }
    Ok(cast)
}

/// `TypecastRowMajorChunkedProgramFactory`: rows split over the grid (row-wise), a row read in
/// chunks of up to one tile's elements; its two dataflow buffers hold two chunk pages each, a
/// page one whole tile's elements (the LLK reads and packs whole tiles) aligned to its buffer.
fn typecast_row_major_program(
    ex: &mut Exec<'_>,
    from: &DevTensor,
    to: &DevTensor,
) -> Result<(), CaseError> {
    let rows = from.spec.pages()?;
    let split = grid::split_work(ex.device(), rows, true);
    let cores = grid::merge_ranges(&split.all);
    let tile_elements = crate::tensor::TILE * crate::tensor::TILE;
    let page = |t: &DevTensor| {
        let align = ex.device().alignment(t.memory);
        (tile_elements * t.dtype().row_major_element_bytes()).next_multiple_of(align)
    };
    let (page_in, page_out) = (page(from), page(to));
    ex.b.run(
        Program::new(
            "TypecastDeviceOperation",
            "TypecastRowMajorChunkedProgramFactory",
        )
        .cb(CbKind::Dataflow, 2 * page_in, &cores)
        .cb(CbKind::Dataflow, 2 * page_out, &cores),
    );
    Ok(())
}

fn unary_on(ex: &mut Exec<'_>, a: &Args<'_>, x: &DevTensor) -> Result<Val, CaseError> {
    let d = ex.device();
    // Sharded input and output with whole shards only: the factory's two dataflow buffers
    // borrow the tensors' shards (`borrows_memory`, sized one shard, on the whole grid) and
    // take no room; uneven shards run the interleaved kernels with 2-tile buffers (measured on
    // the runtime: tests/golden/calibration).
    let out_config = a.memory_config(x.config())?;
    let borrowed = match (&x.shard, out_config.sharding()) {
        (Some(spec), Some(_)) => spec.even().then(|| shard_bytes(spec, x.dtype())),
        _ => None,
    };
    let program = match borrowed {
        Some(bytes) => {
            let mut p = Program::new("UnaryDeviceOperation", "ProgramFactory");
            for _ in 0..2 {
                let mut cb = Cb::new(CbKind::Dataflow, bytes, grid::full(d));
                cb.global = true;
                p.push(cb);
            }
            p
        }
        None => interleaved_unary_program(d, x.dtype()),
    };
    let out = match a.opt_tensor(usize::MAX, "output_tensor")? {
        Some(o) => ex.b.share(o, o.spec.clone()),
        None => output_like(ex, a, x, x.spec.clone())?,
    };
    ex.b.run(program);
    Ok(Val::T(out))
}

fn broadcast(f: &str, a: &Shape, b: &Shape) -> Result<Shape, CaseError> {
    let rank = a.rank().max(b.rank());
    let at = |s: &Shape, i: usize| {
        let off = rank - s.rank();
        if i < off {
            1
        } else {
            s.dims()[i - off]
        }
    };
    let mut dims = Vec::with_capacity(rank);
    for i in 0..rank {
        let (x, y) = (at(a, i), at(b, i));
        dims.push(match (x, y) {
            _ if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return Err(invalid(f, format!("shapes {a} and {b} do not broadcast"))),
        });
    }
    Ok(Shape::from_dims(dims)?)
}

/// The last two dims, a missing one counting as 1.
fn last_two(s: &Shape) -> [u64; 2] {
    let d = s.dims();
    let at = |back: usize| {
        if d.len() >= back {
            d[d.len() - back]
        } else {
            1
        }
    };
    [at(2), at(1)]
}

fn binary(ex: &mut Exec<'_>, a: &Args<'_>) -> Result<Val, CaseError> {
    let x = a.tensor(0, "input_tensor_a")?;
    let y = a.tensor(1, "input_tensor_b")?;
    let d = ex.device();
    let shape = broadcast(a.function, x.shape(), y.shape())?;
    let spec = TensorSpec::new(shape, x.dtype(), x.layout());
    let out = output_like(ex, a, x, spec)?;
    let cores = grid::full(d);
    // Both inputs and the output sharded alike: three circular buffers bound to the tensors'
    // shards (`globally_allocated`, one shard each, on the whole grid), even for partial shards
    // (measured on the runtime).
    // Operands of different shapes (a broadcast) take the interleaved kernels' buffers even when
    // sharded (measured on the runtime by the random differential).
    let same_shape = x.shape() == y.shape();
    let program = match (&x.shard, &y.shard, &out.shard) {
        (Some(sx), Some(sy), Some(so)) if same_shape => {
            let mut p = Program::new("BinaryNgDeviceOperation", "ProgramFactory");
            for (t, s) in [(x, sx), (y, sy), (&out, so)] {
                let bytes = shard_bytes(s, t.dtype());
                let mut cb = Cb::new(CbKind::Circular, bytes, cores.clone());
                cb.global = true;
                p.push(cb);
            }
            p
        }
        _ => interleaved_binary_program(x, y, &cores),
    };
    ex.b.run(program);
    Ok(Val::T(out))
}

/// The unary program on interleaved buffers: two tiles in and out on every core.
pub(super) fn interleaved_unary_program(
    d: &crate::device::DeviceSpec,
    dtype: crate::dtype::DType,
) -> Program {
    let ts = tile_size(dtype);
    Program::new("UnaryDeviceOperation", "ProgramFactory")
        .cb(CbKind::Dataflow, 2 * ts, &grid::full(d))
        .cb(CbKind::Dataflow, 2 * ts, &grid::full(d))
}

/// The binary program on interleaved buffers: two tiles of each operand and of the output.
pub(super) fn interleaved_binary_program(
    x: &DevTensor,
    y: &DevTensor,
    cores: &CoreRangeSet,
) -> Program {
    let p = Program::new("BinaryNgDeviceOperation", "ProgramFactory")
        .cb(CbKind::Circular, 2 * tile_size(x.dtype()), cores)
        .cb(CbKind::Circular, 2 * tile_size(y.dtype()), cores)
        .cb(CbKind::Circular, 2 * tile_size(x.dtype()), cores);
    // A broadcast within the tiles (row, column or scalar: the operands' last two dims
    // differ) takes one more double-buffered tile CB, in the broadcast operand's format
    // (seen on n150: a bfloat8_b 1×1 conv's product plus its bfloat16 bias row, 2 × 2,048 B);
    // a broadcast of outer dims does not (found by the random differential, every kind the
    // same on both boards).
    let (xs, ys) = (last_two(x.shape()), last_two(y.shape()));
    if xs != ys {
        let broadcast = if ys[0] <= xs[0] && ys[1] <= xs[1] {
            y
        } else {
            x
        };
        p.cb(CbKind::Circular, 2 * tile_size(broadcast.dtype()), cores)
    } else {
        p
    }
}

fn clone(ex: &mut Exec<'_>, a: &Args<'_>) -> Result<Val, CaseError> {
    let x = a.tensor(0, "input")?;
    let d = ex.device();
    let mem = out_memory(a, x.memory)?;
    let out =
        ex.b.tensor("output", BufferRole::Temporary, x.spec.clone(), mem)?;
    let (units, unit) = copy_units(d, x)?;
    let w = grid::split_work(d, units, false);
    let program = Program::new("CloneOperation", "CloneProgramFactory").cb(
        CbKind::Dataflow,
        crate::size::mul(2, unit, "clone buffer")?,
        &grid::merge_ranges(&w.all),
    );
    ex.b.run(program);
    Ok(Val::T(out))
}

/// The units the clone and copy factories split over the grid, and one unit's bytes in their
/// double-buffered input: tiles of a TILE tensor; rows of a ROW_MAJOR one (`padded_shape[-1]`
/// elements aligned to the input buffer's alignment, seen on the runtime: a [19,286] bfloat16
/// clone from L1 to DRAM on p150 takes 2 × 576 B, the L1 input's 16 B alignment).
fn copy_units(d: &crate::device::DeviceSpec, x: &DevTensor) -> Result<(u64, u64), CaseError> {
    Ok(match x.layout() {
        Layout::Tile => (tiles(&x.spec), tile_size(x.dtype())),
        Layout::RowMajor => {
            let w = x.dims().last().copied().unwrap_or(1).max(1);
            let rows = x.shape().elements() / w;
            let row = crate::size::round_up(
                crate::size::mul(w, x.dtype().row_major_element_bytes(), "copy row")?,
                d.alignment(x.memory),
                "copy row",
            )?;
            (rows, row)
        }
    })
}

/// The ROW_MAJOR copy's chunked variant: two chunks of 256 KiB per core, taken when two aligned
/// rows reach the L1 bank (seen on the runtime: 2 × 696,640 B rows stay whole on n150's
/// 1,393,312 B bank, 2 × 696,656 B ones are chunked; on p150 2 × 730,496 B stay whole,
/// 2 × 730,560 B are chunked).
pub(super) const COPY_ROW_CHUNK_BUFFER: u64 = 2 * 256 * 1024;

fn copy(ex: &mut Exec<'_>, a: &Args<'_>) -> Result<Val, CaseError> {
    let x = a.tensor(0, "input_a")?;
    let dst = a.tensor(1, "input_b")?;
    let d = ex.device();
    let (units, unit) = copy_units(d, x)?;
    let cores = grid::merge_ranges(&grid::split_work(d, units, false).all);
    let buffer = crate::size::mul(2, unit, "copy buffer")?;
    let program = if x.layout() == Layout::RowMajor && buffer >= d.l1_bank_bytes {
        Program::new("CopyDeviceOperation", "RowChunked").cb(
            CbKind::Dataflow,
            COPY_ROW_CHUNK_BUFFER,
            &cores,
        )
    } else {
        Program::new("CopyDeviceOperation", "SameMemoryConfig").cb(CbKind::Circular, buffer, &cores)
    };
    ex.b.run(program);
    Ok(Val::T(ex.b.share(dst, dst.spec.clone())))
}

fn dropout(ex: &mut Exec<'_>, a: &Args<'_>) -> Result<Val, CaseError> {
    let x = a.tensor(0, "input")?;
    let d = ex.device();
    let mem = out_memory(a, x.memory)?;
    let out =
        ex.b.tensor("output", BufferRole::Temporary, x.spec.clone(), mem)?;
    let w = grid::merge_ranges(&grid::split_work(d, tiles(&x.spec), false).all);
    let ts = tile_size(x.dtype());
    let program = Program::new("DropoutDeviceOperation", "DropoutMeshWorkloadFactory")
        .cb(CbKind::Dataflow, 2 * ts, &w)
        .cb(CbKind::Dataflow, 2 * ts, &w);
    ex.b.run(program);
    Ok(Val::T(out))
}

fn batch_norm(ex: &mut Exec<'_>, a: &Args<'_>) -> Result<Val, CaseError> {
    let x = a.tensor(0, "input")?;
    let d = ex.device();
    let mem = out_memory(a, x.memory)?;
    let out =
        ex.b.tensor("output", BufferRole::Temporary, x.spec.clone(), mem)?;
    let cores = grid::full(d);
    let ts = tile_size(x.dtype());
    let mut program = Program::new("BatchNormOperation", "BatchNormFactory");
    for _ in 0..9 {
        program = program.cb(CbKind::Dataflow, 2 * ts, &cores);
    }
    ex.b.run(program);
    Ok(Val::T(out))
}

fn create(ex: &mut Exec<'_>, a: &Args<'_>) -> Result<Val, CaseError> {
    let dims = a
        .ints(0, "shape")?
        .ok_or_else(|| invalid(a.function, "missing `shape`"))?;
    let dtype = match a.get(usize::MAX, "dtype") {
        Some(Val::DType(d)) => *d,
        _ => crate::dtype::DType::Bfloat16,
    };
    let layout = match a.get(usize::MAX, "layout") {
        Some(Val::Layout(l)) => *l,
        _ => crate::layout::Layout::RowMajor,
    };
    let spec = TensorSpec::new(Shape::new(&dims)?, dtype, layout);
    let mem = a.memory(crate::device::BufferType::Dram)?;
    let out = ex.b.tensor("output", BufferRole::Temporary, spec, mem)?;
    Ok(Val::T(out))
}

#[cfg(test)]
mod tests {
    use crate::device::BufferType;
    use crate::dtype::DType;
    use crate::shape::Shape;

    fn clamp_case(dtype: DType) -> crate::case::Case {
        let op = crate::ops::find("clamp").unwrap();
        let mut c = crate::case::Case::new(
            op,
            vec![Shape::parse("3,736,640").unwrap()],
            &crate::device::P150,
        );
        c.dtype = dtype;
        c.input_memory = BufferType::L1;
        c.output_memory = BufferType::L1;
        c
    }

    #[test]
    fn an_int32_clamp_holds_its_float32_copy_beside_input_and_output() {
        // clamp [3,736,640] int32 in L1 on p150, measured per core on the runtime
        // (NO_DISPATCH): 159,744 B of L1 buffers = input, the float32 typecast and the output
        // (53,248 per bank each); a float32 clamp holds two of them.
        let int32 = clamp_case(DType::Int32).estimate().expect("a verdict");
        assert_eq!(int32.peaks.l1, 159_744);
        let float32 = clamp_case(DType::Float32).estimate().expect("a verdict");
        assert_eq!(float32.peaks.l1, 2 * 53_248);
        // ROW_MAJOR (TypecastRowMajorChunkedProgramFactory): 161,280 B of L1 buffers (53,760
        // per bank each), dataflow 16,384 (two pages of 1,024 int32 elements per buffer).
        let mut row_major = clamp_case(DType::Int32);
        row_major.layout = crate::layout::Layout::RowMajor;
        let row_major = row_major.estimate().expect("a verdict");
        assert_eq!(row_major.peaks.l1, 161_280);
        assert_eq!(row_major.peaks.dataflow, 16_384);
    }
}
