//! Matrix multiplies: `ttnn.matmul`, `ttnn.linear`, `ttnn.addmm`.

use super::grid;
use super::util::{out_memory, tile_size};
use super::{invalid, Args, Exec, Val};
use crate::device::{BufferType, DeviceSpec};
use crate::dtype::DType;
use crate::error::CaseError;
use crate::layout::Layout;
use crate::plan::BufferRole;
use crate::plan::DevTensor;
use crate::program::{CbKind, CoreRange, CoreRangeSet, Program};
use crate::shape::Shape;
use crate::tensor::{TensorSpec, TILE};

pub(super) fn call(ex: &mut Exec<'_>, name: &str, a: &Args<'_>) -> Result<Option<Val>, CaseError> {
    Ok(Some(match name {
        "matmul" | "linear" => {
            let x = a.tensor(0, "input_tensor_a")?;
            let w = a.tensor(1, "input_tensor_b")?;
            let mem = out_memory(a, x.memory)?;
            let bias = a.opt_tensor(usize::MAX, "bias")?;
            // `get_post_process_bias`: the factories fuse a bias only where the program config
            // is sure to be a multicast one, every operand and the output DRAM interleaved;
            // elsewhere `ttnn::add` writes the sum to a new tensor.
            let fuse = |b: &DevTensor| {
                b.shape().dims().iter().rev().nth(1).copied().unwrap_or(1) <= TILE
                    && [x, w]
                        .iter()
                        .all(|t| t.memory == BufferType::Dram && t.shard.is_none())
                    && mem == BufferType::Dram
            };
            let fused = bias.filter(|b| fuse(b));
            let out = matmul(ex, a.function, x, w, mem, fused)?;
            match bias {
                Some(b) if fused.is_none() => Val::T(bias_sum(ex, out, b, mem)?),
                _ => Val::T(out),
            }
        }
        "addmm" => {
            let bias = a.tensor(0, "input_tensor")?;
            let m1 = a.tensor(1, "mat1_tensor")?;
            let m2 = a.tensor(2, "mat2_tensor")?;
            let mem = out_memory(a, m1.memory)?;
            let out = matmul(ex, a.function, m1, m2, mem, None)?;
            // `AddmmOperation::invoke`: the product is scaled in place; a beta other than 1
            // scales the input into a new tensor first (in the input's memory), which lives
            // until the in-place sum.
            let beta = match a.get(usize::MAX, "beta") {
                Some(Val::Float(v)) => *v,
                Some(Val::Int(v)) => *v as f64,
                _ => 1.0,
            };
            let alpha = match a.get(usize::MAX, "alpha") {
                Some(Val::Float(v)) => *v,
                Some(Val::Int(v)) => *v as f64,
                _ => 1.0,
            };
            if alpha != 1.0 {
                scale(ex, &out);
            }
            if beta != 0.0 {
                if beta != 1.0 {
                    let scaled = ex.b.tensor(
                        "scaled input",
                        BufferRole::Temporary,
                        bias.spec.clone(),
                        bias.memory,
                    )?;
                    scale(ex, &scaled);
                    bias_add(ex, &out, &scaled);
                    ex.b.release(scaled);
                } else {
                    bias_add(ex, &out, bias);
                }
            }
            Val::T(out)
        }
        _ => return Ok(None),
    }))
}

fn matmul_shape(f: &str, a: &Shape, b: &Shape) -> Result<Shape, CaseError> {
    if a.rank() < 2 || b.rank() < 2 {
        return Err(invalid(
            f,
            format!("matmul operands need 2 dims, got {a} and {b}"),
        ));
    }
    let (ad, bd) = (a.dims(), b.dims());
    let (m, k) = (ad[ad.len() - 2], ad[ad.len() - 1]);
    let (k2, n) = (bd[bd.len() - 2], bd[bd.len() - 1]);
    if k != k2 {
        return Err(invalid(f, format!("inner dims differ: {a} @ {b}")));
    }
    let mut dims = ad[..ad.len() - 2].to_vec();
    if dims.len() < bd.len() - 2 {
        dims = bd[..bd.len() - 2].to_vec();
    }
    dims.push(m);
    dims.push(n);
    Ok(Shape::from_dims(dims)?)
}

/// The matmul device operation: its output, and one program whose buffers hold blocks of
/// both operands and of the output. The program config is the one TT-NN generates when the
/// caller gives none (matmul_op.cpp, `generate_matmul_program_config`): interleaved operands
/// and no core grid go to `create_simple_matmul_program_config`.
fn matmul(
    ex: &mut Exec<'_>,
    f: &str,
    x: &DevTensor,
    w: &DevTensor,
    mem: crate::device::BufferType,
    bias: Option<&DevTensor>,
) -> Result<DevTensor, CaseError> {
    let output = MatmulOutput {
        dtype: x.dtype(),
        packer_l1_acc: true,
        fp32_dest_acc: false,
        l1_bank: ex.device().l1_bank_bytes,
    };
    matmul_as(ex, f, x, w, mem, bias, output)
}

/// What a caller's matmul writes where it differs from `ttnn.matmul`'s defaults.
#[derive(Debug, Clone, Copy)]
pub(super) struct MatmulOutput {
    /// The output's dtype (`dtype=`; `ttnn.matmul`'s default is the input's).
    pub dtype: DType,
    /// `packer_l1_acc` of the compute kernel config (on by default for `ttnn.matmul`; conv2d's
    /// default config turns it off: a bfloat8_b 1×1 conv has no partials buffer).
    pub packer_l1_acc: bool,
    /// `fp32_dest_acc_en` of the compute kernel config (off for `ttnn.matmul` here; conv2d's
    /// default config turns it on for a float32 input with float32 weights).
    pub fp32_dest_acc: bool,
    /// The L1 bank the device leaves beside its L1_SMALL region (`get_max_l1_space` reads up to
    /// it: a conv's device is opened with L1_SMALL).
    pub l1_bank: u64,
}

/// [`matmul`] with the caller's output dtype and packer setting.
pub(super) fn matmul_as(
    ex: &mut Exec<'_>,
    f: &str,
    x: &DevTensor,
    w: &DevTensor,
    mem: crate::device::BufferType,
    bias: Option<&DevTensor>,
    output: MatmulOutput,
) -> Result<DevTensor, CaseError> {
    let shape = matmul_shape(f, x.shape(), w.shape())?;
    let d = ex.device();
    let dims = MatmulDims::of(x, w)?;
    let all_dram =
        x.memory == BufferType::Dram && w.memory == BufferType::Dram && mem == BufferType::Dram;
    let sizes = TileSizes {
        in0: tile_size(x.dtype()),
        in1: tile_size(w.dtype()),
        // `estimate_interm_tile_size`: float32 with fp32 accumulation, else the output's tile
        // and bfloat16 at least (the packer's); seed 1207111 (p150 probe): a bfloat16 1×1 conv
        // with a float32 output takes 8-tile blocks where the input's tile gives 16.
        interm: if output.fp32_dest_acc {
            DType::Float32.tile_bytes()
        } else {
            tile_size(output.dtype).max(DType::Bfloat16.tile_bytes())
        },
        bias: bias.map_or(0, |b| tile_size(b.dtype())),
    };
    // `get_max_l1_space`: from the allocator base up to the lowest occupied L1 address. A
    // NO_DISPATCH graph capture allocates no buffer for real, so it sees the whole bank (the
    // golden captures pick 16-tile blocks next to L1 operands that leave less); a device run
    // sees the operands, which interleaved L1 stacks down from the top of every bank (the
    // golden normal-mode outcomes fit where the capture's config would clash).
    let grid = (d.grid_x, d.grid_y);
    let captured = simple_config(&dims, grid, all_dram, &sizes, output.l1_bank)?;
    let live = output
        .l1_bank
        .saturating_sub(super::data_movement::live_l1_per_bank(ex));
    let on_device = simple_config(&dims, grid, all_dram, &sizes, live)?;
    if x.layout() == Layout::RowMajor || w.layout() == Layout::RowMajor {
        // The runtime makes its TILE output, then checks the config it picked and validates
        // the operands (seen on the runtime: ROW_MAJOR matmuls too large for L1 run out of it
        // at their output first); either refuses a ROW_MAJOR call.
        let spec = TensorSpec::new(shape, output.dtype, Layout::Tile);
        let out = ex.b.tensor("output", BufferRole::Temporary, spec, mem)?;
        let reason = config_refusal(&on_device).unwrap_or("Inputs to matmul must be tilized");
        ex.b.run(
            Program::new("MatmulDeviceOperation", factory(&on_device)).refused(reason.to_string()),
        );
        return Ok(out);
    }
    let spec = TensorSpec::new(shape.clone(), output.dtype, x.layout());
    let out = ex.b.tensor("output", BufferRole::Temporary, spec, mem)?;
    let tout = tile_size(output.dtype);
    let acc = (output.packer_l1_acc, output.fp32_dest_acc);
    let mut program = program(d, &dims, &sizes, tout, acc, captured)?;
    if on_device != captured {
        program = program.on_device(self::program(d, &dims, &sizes, tout, acc, on_device)?);
    }
    ex.b.run(program);
    Ok(out)
}

/// The program the factory of `config` builds.
fn program(
    d: &DeviceSpec,
    dims: &MatmulDims,
    sizes: &TileSizes,
    tout: u64,
    (packer_l1_acc, fp32_dest_acc): (bool, bool),
    config: Config,
) -> Result<Program, CaseError> {
    let (ti0, ti1) = (sizes.in0, sizes.in1);
    Ok(match config {
        Config::MultiCore => {
            // matmul_op_multi_core_program_factory.cpp: output tiles split over the grid,
            // two tiles of each operand and of the output per core.
            let units = crate::size::mul(
                dims.batch,
                crate::size::mul(dims.mt, dims.nt, "output tiles")?,
                "output tiles",
            )?;
            let w = grid::split_work(d, units, false);
            let cores = grid::merge_ranges(&w.all);
            Program::new("MatmulDeviceOperation", factory(&config))
                .cb(CbKind::Dataflow, 2 * ti0, &cores)
                .cb(CbKind::Dataflow, 2 * ti1, &cores)
                .cb(CbKind::Dataflow, 2 * tout, &cores)
        }
        Config::Mcast {
            two_d,
            mcast_in0,
            per_core_m,
            per_core_n,
            in0_block_w,
            out_block_h,
            out_block_w,
        } => {
            let cores = if two_d {
                // The 2D factory: one core per (per_core_M x per_core_N) block of the output.
                let nby = dims.mt.div_ceil(per_core_m) as u32;
                let nbx = dims.nt.div_ceil(per_core_n) as u32;
                CoreRangeSet::one(CoreRange::grid(nbx, nby))
            } else {
                // The 1D factory: the blocks along N (in0 multicast) or M (in1 multicast)
                // laid out row by row over the grid (`num_cores_to_corerangeset(.., true)`).
                let blocks = if mcast_in0 {
                    dims.nt.div_ceil(per_core_n)
                } else {
                    dims.mt.div_ceil(per_core_m)
                };
                grid::num_cores_to_corerangeset((0, 0), blocks as u32, (d.grid_x, d.grid_y), true)
            };
            // in0/in1: blocks of in0_block_w tiles along K, double-buffered only when a core
            // reads more than one (`if (B * num_blocks > 1)` in both mcast factories); a
            // broadcast in1 (batch 1) is read once per K block, not once per batch. The output
            // block: the intermediate shares it (same format, no fused bias).
            let k_blocks = dims.kt.div_ceil(in0_block_w);
            let depth = |batch: u64| -> Result<u64, CaseError> {
                let blocks = crate::size::mul(batch, k_blocks, "blocks")?;
                Ok(if blocks > 1 {
                    MCAST_INPUT_BUFFERING_DEPTH
                } else {
                    1
                })
            };
            // The 2D factory double-buffers in1 by A's batch too (found by the random
            // differential: a batched linear with one K block, broadcast weight).
            let in1_batch = if two_d { dims.batch_a } else { dims.batch_b };
            let (d0, d1) = (depth(dims.batch_a)?, depth(in1_batch)?);
            let in0 = crate::size::product([out_block_h, in0_block_w, d0, ti0], "in0 CB")?;
            let in1 = crate::size::product([out_block_w, in0_block_w, d1, ti1], "in1 CB")?;
            let o = crate::size::product([out_block_h, out_block_w, tout], "output CB")?;
            let mut p = Program::new("MatmulDeviceOperation", factory(&config))
                .cb(CbKind::Dataflow, in0, &cores)
                .cb(CbKind::Dataflow, in1, &cores)
                .cb(CbKind::Dataflow, o, &cores);
            // The partials get a buffer of their own when their format is not the output's:
            // packer L1 accumulation (on by default) packs them as bfloat16 once a core walks
            // more than one K block (`packer_l1_acc_en` in both factories of ttnn 0.81.1;
            // later releases want three blocks in the 2D one).
            let l1_acc = packer_l1_acc && dims.kt / in0_block_w > 1;
            // fp32 outputs accumulate in fp32 (`fp32_dest_acc_en`), sharing the output's buffer;
            // with `fp32_dest_acc_en` the partials are float32 whatever the packer does, a
            // buffer of their own beside a narrower output (`interm0_data_format`; seed 1207111,
            // n150: a float32 1×1 conv with a bfloat16 output, 49,152 B of float32 partials).
            let acc_tile = if tout == DType::Float32.tile_bytes() || fp32_dest_acc {
                DType::Float32.tile_bytes()
            } else {
                DType::Bfloat16.tile_bytes()
            };
            if (l1_acc || fp32_dest_acc) && tout != acc_tile {
                let interm =
                    crate::size::product([out_block_h, out_block_w, acc_tile], "intermediate CB")?;
                p = p.cb(CbKind::Dataflow, interm, &cores);
            }
            // A fused bias: one row of tiles as wide as the output block (`in3_block_tiles`).
            if sizes.bias > 0 {
                let bias = crate::size::mul(out_block_w, sizes.bias, "bias CB")?;
                p = p.cb(CbKind::Dataflow, bias, &cores);
            }
            p
        }
    })
}

/// The program factory that runs `config`.
fn factory(config: &Config) -> &'static str {
    match config {
        Config::MultiCore => "MatmulMultiCoreProgramFactory",
        Config::Mcast { two_d: true, .. } => "MatmulMultiCoreReuseMcast2DProgramFactory",
        Config::Mcast { two_d: false, .. } => "MatmulMultiCoreReuseMcast1DProgramFactory",
    }
}

/// The first sanity check of `get_program_config` that `config` fails (ttnn 0.81.1 checks a
/// multicast config's in0_block_w, subblocks, per_core_M and per_core_N, in that order; the
/// subblocks are chosen to divide the per-core block, so never fail first). A ROW_MAJOR
/// operand's dims are not tile-padded, so a dim under a tile is 0 tiles there.
fn config_refusal(config: &Config) -> Option<&'static str> {
    match *config {
        Config::MultiCore => None,
        Config::Mcast {
            in0_block_w,
            per_core_m,
            per_core_n,
            ..
        } => {
            if in0_block_w == 0 {
                Some("in0_block_w must be greater than 0!")
            } else if per_core_m == 0 {
                Some("per_core_M must be greater than 0!")
            } else if per_core_n == 0 {
                Some("per_core_N must be greater than 0!")
            } else {
                None
            }
        }
    }
}

/// `MCAST_INPUT_BUFFERING_DEPTH` (matmul_op.hpp): operand blocks are double-buffered.
const MCAST_INPUT_BUFFERING_DEPTH: u64 = 2;

/// The operands as the config functions read their padded shapes: TILE ones padded to whole
/// tiles, ROW_MAJOR ones as they are (so their tile counts round down).
#[derive(Debug, Clone, Copy)]
struct MatmulDims {
    /// M and N in elements of the padded shapes (`is_narrow_shape` and the 1D configs read
    /// them).
    m: u64,
    n: u64,
    /// `get_batch_size` of the output (the larger batch of the two operands).
    batch: u64,
    /// `get_batch_size` of input A: the factories loop over it.
    batch_a: u64,
    /// `get_batch_size` of input B (1: broadcast over A's batch).
    batch_b: u64,
    mt: u64,
    kt: u64,
    nt: u64,
}

impl MatmulDims {
    fn of(a: &DevTensor, b: &DevTensor) -> Result<MatmulDims, CaseError> {
        let (ad, bd) = (a.dims(), b.dims());
        let m = ad[ad.len() - 2];
        let k = ad[ad.len() - 1];
        let n = bd[bd.len() - 1];
        let ba = crate::size::product(ad[..ad.len() - 2].iter().copied(), "batch")?;
        let bb = crate::size::product(bd[..bd.len() - 2].iter().copied(), "batch")?;
        let padded = |t: &DevTensor, v: u64| {
            if t.layout() == Layout::Tile {
                v.div_ceil(TILE).saturating_mul(TILE)
            } else {
                v
            }
        };
        let (m, k, n) = (padded(a, m), padded(a, k), padded(b, n));
        Ok(MatmulDims {
            m,
            n,
            batch: ba.max(bb),
            batch_a: ba,
            batch_b: bb,
            mt: m / TILE,
            kt: k / TILE,
            nt: n / TILE,
        })
    }
}

/// Tile bytes of the buffers `get_estimated_size_of_cbs` counts.
struct TileSizes {
    in0: u64,
    in1: u64,
    interm: u64,
    bias: u64,
}

/// The program config TT-NN picks, reduced to what sizes the factory's buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Config {
    /// `MatmulMultiCoreProgramConfig`.
    MultiCore,
    /// `MatmulMultiCoreReuseMultiCastProgramConfig` (2D) or `...MultiCast1DProgramConfig`.
    Mcast {
        two_d: bool,
        mcast_in0: bool,
        per_core_m: u64,
        per_core_n: u64,
        in0_block_w: u64,
        out_block_h: u64,
        out_block_w: u64,
    },
}

/// `get_estimated_size_of_cbs` for interleaved inputs (no in2 block).
fn estimated_cbs(s: &TileSizes, m: u64, n: u64, k: u64) -> Result<u64, CaseError> {
    use crate::size::{add, mul};
    let in0 = mul(
        mul(m, k, "in0")?,
        MCAST_INPUT_BUFFERING_DEPTH * s.in0,
        "in0",
    )?;
    let in1 = mul(
        mul(n, k, "in1")?,
        MCAST_INPUT_BUFFERING_DEPTH * s.in1,
        "in1",
    )?;
    let out = mul(mul(m, n, "out")?, s.in0, "out")?;
    let interm = mul(mul(m, n, "interm")?, s.interm, "interm")?;
    // The bias term as ttnn 0.81.1 counts it: per_core_N tiles (found by the random
    // differential: a fused-bias linear [2147,8192] bf16 in DRAM on n150 picks 9x16 blocks
    // with K blocks of 4, which in0_block_w tiles would not give; per_core_N x in0_block_w
    // tiles picked bfloat8_b blocks smaller than the runtime's).
    let bias = mul(n, s.bias, "bias")?;
    Ok(add(
        add(add(in0, in1, "cbs")?, add(out, interm, "cbs")?, "cbs")?,
        bias,
        "cbs",
    )?)
}

/// `v`, 1, then `v`'s other divisors from the largest down, as `get_multi_dim_per_core_factor`
/// lists them (it tries v / 2 down to 2), keeping only those up to `most` (the caller's bound
/// on any block that can fit: the order of the rest is unchanged, and a huge per-core dim of a
/// fuzzed shape is never walked or factored whole).
fn divisors_largest_first(v: u64, most: u64) -> Vec<u64> {
    let mut f: Vec<u64> = [v, 1].into_iter().filter(|&d| d <= most).collect();
    f.extend(
        (2..v.min(most.saturating_add(1)))
            .rev()
            .filter(|d| v.is_multiple_of(*d)),
    );
    f
}

/// `get_multi_dim_per_core_factor`: the largest (out_block_h, out_block_w, in0_block_w) whose
/// buffers fit, blocks dividing per_core_M / per_core_N, the squarest for equal areas.
fn multi_dim_factor(
    s: &TileSizes,
    m: u64,
    n: u64,
    k: u64,
    max_l1: u64,
    adjust_k: bool,
) -> Result<(u64, u64, u64), CaseError> {
    if estimated_cbs(s, m, n, k)? < max_l1 {
        return Ok((m, n, k));
    }
    // Every block's output term alone holds fm × fn tiles of in0's size (and its in0 term
    // fm × fk), so no block of more tiles than this fits: only divisors up to it matter.
    let most_tiles = max_l1.saturating_sub(1) / s.in0.max(1);
    let (mf, nf) = (
        divisors_largest_first(m, most_tiles),
        divisors_largest_first(n, most_tiles),
    );
    // std::map<area, (m, n)>: a later pair replaces an earlier one unless that one is squarer.
    let mut factors: std::collections::BTreeMap<u64, (u64, u64)> =
        std::collections::BTreeMap::new();
    let ratio = |a: u64, b: u64| a.max(b) as f32 / a.min(b) as f32;
    for &fm in &mf {
        for &fn_ in &nf {
            let area = fm * fn_;
            let keep =
                matches!(factors.get(&area), Some(&(em, en)) if ratio(em, en) < ratio(fm, fn_));
            if !keep {
                factors.insert(area, (fm, fn_));
            }
        }
    }
    // ttnn 0.81.1 tries every in0_block_w for an area before a smaller area (the golden
    // captures keep the larger output block and halve the K block).
    let min_k = if adjust_k { 1 } else { k };
    for (&_, &(fm, fn_)) in factors.iter().rev() {
        for fk in (min_k..=k.min(most_tiles)).rev() {
            if !k.is_multiple_of(fk) {
                continue;
            }
            if estimated_cbs(s, fm, fn_, fk)? < max_l1 {
                return Ok((fm, fn_, fk));
            }
        }
    }
    Ok((1, 1, 1))
}

/// `is_narrow_shape`: one side over 8 times the other, or (all in DRAM) a side within a tile.
fn is_narrow(height: u64, width: u64, all_dram: bool) -> bool {
    let ratio = if height > width {
        height / width.max(1)
    } else {
        width / height.max(1)
    };
    ratio > 8 || (all_dram && (height <= TILE || width <= TILE))
}

/// `create_simple_matmul_program_config` (matmul_op.cpp), for interleaved operands.
fn simple_config(
    d: &MatmulDims,
    grid: (u32, u32),
    all_dram: bool,
    s: &TileSizes,
    max_l1: u64,
) -> Result<Config, CaseError> {
    let (gx, gy) = (u64::from(grid.0), u64::from(grid.1));
    let narrow = is_narrow(d.m, d.n, all_dram);
    let is_wide = narrow && d.n > d.m;
    let is_tall = narrow && !is_wide;
    let mut in0_block_w = 2;
    // `get_per_core_factor`: the largest square block (16, 8, 4, 2) whose buffers fit.
    let mut per_core = 1;
    for f in [16, 8, 4, 2] {
        if estimated_cbs(s, f, f, in0_block_w)? < max_l1 {
            per_core = f;
            break;
        }
    }
    let nby = d.mt.div_ceil(per_core);
    let nbx = d.nt.div_ceil(per_core);
    if (nby > 1 || nbx > 1) && !d.kt.is_multiple_of(in0_block_w) {
        in0_block_w = 1;
    }
    if !(all_dram || (nbx.saturating_mul(nby) <= gx * gy && d.kt.is_multiple_of(in0_block_w))) {
        return Ok(Config::MultiCore);
    }
    // `get_core_range`: the block grid when it fits the device and is not a single block.
    let (cx, cy) = if !(nby == 1 && nbx == 1) && nby <= gy && nbx <= gx {
        (nbx, nby)
    } else {
        (0, 0)
    };
    // With every buffer in DRAM, ttnn 0.81.1 goes 1D for narrow shapes only, else 2D (the
    // golden captures: a 9x1 block grid on p150 still runs the 2D factory).
    // A narrow shape goes 1D along its long side before the block grid is looked at (seen on
    // the runtime: a ROW_MAJOR [180,10] @ [10,10] in L1, one row of blocks, is refused for
    // its in1-multicast per_core_N of 0 tiles).
    if is_wide || (cy == 1 && !all_dram && !is_tall) {
        return mcast_1d(d, grid, s, max_l1, true);
    }
    if is_tall || (cx == 1 && !all_dram) {
        return mcast_1d(d, grid, s, max_l1, false);
    }
    if (cy > 0 && nbx <= gx && nby <= gy) || all_dram {
        let (mut pm, mut pn, mut bh, mut bw) = (per_core, per_core, per_core, per_core);
        if all_dram {
            in0_block_w = if d.kt.is_multiple_of(gx) {
                d.kt / gx
            } else {
                1
            };
            pm = d.mt.div_ceil(gy);
            pn = d.nt.div_ceil(gx);
            let (h, w, k) = multi_dim_factor(s, pm, pn, in0_block_w, max_l1, true)?;
            (bh, bw, in0_block_w) = (h, w, k);
        }
        return Ok(Config::Mcast {
            two_d: true,
            mcast_in0: false,
            per_core_m: pm,
            per_core_n: pn,
            in0_block_w,
            out_block_h: bh,
            out_block_w: bw,
        });
    }
    Ok(Config::MultiCore)
}

/// `get_mcast_1d_config` without batch fusion: the whole of N (in1 multicast) or of M (in0
/// multicast) per core, the other side split over every core of the grid.
fn mcast_1d(
    d: &MatmulDims,
    grid: (u32, u32),
    s: &TileSizes,
    max_l1: u64,
    mcast_in0: bool,
) -> Result<Config, CaseError> {
    let cores = u64::from(grid.0) * u64::from(grid.1);
    let (pm, pn) = if mcast_in0 {
        (d.mt, d.n.div_ceil(cores).div_ceil(TILE))
    } else {
        (d.m.div_ceil(cores).div_ceil(TILE), d.nt)
    };
    let in0_block_w = if d.kt.is_multiple_of(2) { 2 } else { 1 };
    let (bh, bw, _) = multi_dim_factor(s, pm, pn, in0_block_w, max_l1, false)?;
    Ok(Config::Mcast {
        two_d: false,
        mcast_in0,
        per_core_m: pm,
        per_core_n: pn,
        in0_block_w,
        out_block_h: bh,
        out_block_w: bw,
    })
}

/// A tensor times a scalar (`BinaryNgDeviceOperation` with a scalar operand): two tiles in and
/// out, and one tile holding the scalar (bfloat16; fp32 for fp32 tensors). Measured: a
/// bfloat8_b addmm's beta multiply clashes with 6,400 B of buffers per core.
fn scale(ex: &mut Exec<'_>, t: &DevTensor) {
    let cores = grid::full(ex.device());
    let ts = tile_size(t.dtype());
    let scalar = if t.dtype() == DType::Float32 {
        ts
    } else {
        DType::Bfloat16.tile_bytes()
    };
    ex.b.run(
        Program::new("BinaryNgDeviceOperation", "ProgramFactory")
            .cb(CbKind::Circular, 2 * ts, &cores)
            .cb(CbKind::Circular, scalar, &cores)
            .cb(CbKind::Circular, 2 * ts, &cores),
    );
}

/// `ttnn::add(product, bias)` into a new tensor in `mem`; the product is dropped.
pub(super) fn bias_sum(
    ex: &mut Exec<'_>,
    product: DevTensor,
    bias: &DevTensor,
    mem: BufferType,
) -> Result<DevTensor, CaseError> {
    let cores = grid::full(ex.device());
    let sum =
        ex.b.tensor("output", BufferRole::Temporary, product.spec.clone(), mem)?;
    ex.b.run(super::eltwise::interleaved_binary_program(
        &product, bias, &cores,
    ));
    ex.b.release(product);
    Ok(sum)
}

/// The bias added in place into the product (`BinaryNgDeviceOperation` writing its output).
fn bias_add(ex: &mut Exec<'_>, out: &DevTensor, bias: &DevTensor) {
    let d = ex.device();
    let cores = grid::full(d);
    let ts = tile_size(out.dtype());
    let _ = bias;
    ex.b.run(
        Program::new("BinaryNgDeviceOperation", "ProgramFactory")
            .cb(CbKind::Circular, 2 * ts, &cores)
            .cb(CbKind::Circular, 2 * ts, &cores)
            .cb(CbKind::Circular, 2 * ts, &cores),
    );
}

#[cfg(test)]
mod divisor_tests {
    #[test]
    fn divisors_are_the_runtimes_walk() {
        for v in 0..3000u64 {
            let mut walk = vec![v, 1];
            walk.extend((2..=v / 2).rev().filter(|d| v.is_multiple_of(*d)));
            for most in [0, 1, 2, 7, 64, 1000, u64::MAX] {
                let bounded: Vec<u64> = walk.iter().copied().filter(|&d| d <= most).collect();
                assert_eq!(
                    super::divisors_largest_first(v, most),
                    bounded,
                    "{v} up to {most}"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BF16: TileSizes = TileSizes {
        in0: 2048,
        in1: 2048,
        interm: 2048,
        bias: 0,
    };
    const N150: (u32, u32) = (8, 8);
    const P150: (u32, u32) = (11, 10);
    const N150_BANK: u64 = 1_393_312;

    fn dims(batch: u64, mt: u64, kt: u64, nt: u64) -> MatmulDims {
        MatmulDims {
            m: mt * TILE,
            n: nt * TILE,
            batch,
            batch_a: batch,
            batch_b: 1,
            mt,
            kt,
            nt,
        }
    }

    fn mcast(two_d: bool, mcast_in0: bool, pm: u64, pn: u64, k: u64, bh: u64, bw: u64) -> Config {
        Config::Mcast {
            two_d,
            mcast_in0,
            per_core_m: pm,
            per_core_n: pn,
            in0_block_w: k,
            out_block_h: bh,
            out_block_w: bw,
        }
    }

    // Configs read back from the golden captures (ttnn 0.81.1, tests/golden/calibration).
    #[test]
    fn all_dram_goes_2d_with_k_split_over_the_columns() {
        // mm [1000,1024] in DRAM on n150: 65536 / 65536 / 32768 B on 8x8.
        let c = simple_config(&dims(1, 32, 32, 32), N150, true, &BF16, N150_BANK).unwrap();
        assert_eq!(c, mcast(true, false, 4, 4, 4, 4, 4));
        // mm [4480,512] in DRAM on p150: a 9x1 block grid still runs the 2D factory.
        let c = simple_config(&dims(1, 140, 16, 16), P150, true, &BF16, 1_461_120).unwrap();
        assert_eq!(c, mcast(true, false, 14, 2, 1, 14, 2));
    }

    #[test]
    fn a_block_too_big_keeps_its_area_and_halves_k() {
        // bmm [1,64000,1000] in DRAM on n150: 81920 / 204800 / 512000 B.
        let c = simple_config(&dims(1, 2000, 32, 2000), N150, true, &BF16, N150_BANK).unwrap();
        assert_eq!(c, mcast(true, false, 250, 250, 2, 10, 25));
    }

    #[test]
    fn l1_shapes_pick_by_the_block_grid() {
        // mm [16000,256] in L1 on n150: tall, in1 multicast over 63 cores.
        let c = simple_config(&dims(1, 500, 8, 8), N150, false, &BF16, N150_BANK).unwrap();
        assert_eq!(c, mcast(false, false, 8, 8, 2, 8, 8));
        // mm [4480,512] in L1 on n150: 9x1 blocks do not fit an 8x8 grid.
        let c = simple_config(&dims(1, 140, 16, 16), N150, false, &BF16, N150_BANK).unwrap();
        assert_eq!(c, Config::MultiCore);
    }

    /// Bytes of the program's buffers on one core.
    fn per_core(p: &Program) -> u64 {
        p.cbs.iter().map(|c| c.size).sum()
    }

    #[test]
    fn block_float_partials_take_a_bfloat16_buffer_once_k_spans_two_blocks() {
        // mm [1120,128] bfloat8_b in L1 on p150: 1D in1 multicast, a 1x4 output block, K in
        // two blocks of 2 tiles; 34,304 B per core measured on the runtime: 4,352 + 17,408 of
        // operands, 4,352 of output and 4 bfloat16 partials.
        let bf8 = TileSizes {
            in0: 1088,
            in1: 1088,
            interm: 2048,
            bias: 0,
        };
        let d = dims(1, 35, 4, 4);
        let c = simple_config(&d, P150, false, &bf8, 1_461_120).unwrap();
        assert_eq!(c, mcast(false, false, 1, 4, 2, 1, 4));
        let p = program(&crate::device::P150, &d, &bf8, 1088, (true, false), c).unwrap();
        assert_eq!(per_core(&p), 34_304);
        // One K block: no accumulation in L1, the partials share the output's buffer.
        let d = dims(1, 35, 2, 4);
        let c = simple_config(&d, P150, false, &bf8, 1_461_120).unwrap();
        let p = program(&crate::device::P150, &d, &bf8, 1088, (true, false), c).unwrap();
        assert_eq!(p.cbs.len(), 3);
        // bfloat16 and float32 outputs hold their partials in the output's own format.
        let c = simple_config(&dims(1, 35, 4, 4), P150, false, &BF16, 1_461_120).unwrap();
        let p = program(
            &crate::device::P150,
            &dims(1, 35, 4, 4),
            &BF16,
            2048,
            (true, false),
            c,
        )
        .unwrap();
        assert_eq!(p.cbs.len(), 3);
    }

    #[test]
    fn the_2d_factory_double_buffers_a_broadcast_weight_over_a_batched_input() {
        // linear [2,1206,16] fp32 in DRAM on p150, out_features 3048 (no bias): 253,952 B
        // per core measured; one K block per batch, so only the batch makes it two reads.
        let f32s = TileSizes {
            in0: 4096,
            in1: 4096,
            interm: 4096,
            bias: 0,
        };
        let mut d = dims(2, 38, 1, 96);
        d.batch_b = 1;
        let c = simple_config(&d, P150, true, &f32s, 1_461_120).unwrap();
        let p = program(&crate::device::P150, &d, &f32s, 4096, (true, false), c).unwrap();
        assert_eq!(per_core(&p), 253_952);
    }

    #[test]
    fn a_fused_bias_reads_one_row_of_the_output_block() {
        let with_bias = TileSizes {
            in0: 2048,
            in1: 2048,
            interm: 2048,
            bias: 2048,
        };
        let d = dims(1, 32, 32, 32);
        let c = simple_config(&d, N150, true, &with_bias, N150_BANK).unwrap();
        let Config::Mcast { out_block_w, .. } = c else {
            panic!("all-DRAM operands take a multicast config: {c:?}")
        };
        let p = program(&crate::device::N150, &d, &with_bias, 2048, (true, false), c).unwrap();
        assert_eq!(p.cbs.last().map(|cb| cb.size), Some(out_block_w * 2048));
    }

    #[test]
    fn operands_in_l1_shrink_the_blocks_on_a_device() {
        // bmm [1,4000,512] in L1 on n150: the capture sees the whole bank (2D, 16-tile
        // blocks); a run sees 128 KiB of operands per bank and falls back to MultiCore.
        let d = dims(1, 125, 16, 125);
        let c = simple_config(&d, N150, false, &BF16, N150_BANK).unwrap();
        assert_eq!(c, mcast(true, false, 16, 16, 2, 16, 16));
        let c = simple_config(&d, N150, false, &BF16, N150_BANK - 131_072).unwrap();
        assert_eq!(c, Config::MultiCore);
    }
}
