//! The call space of every op: what a user may pass to the TT-NN call an op maps to — each
//! parameter with its domain, the dtypes and page layouts it takes, the memory configs of its
//! inputs and of its output (`default`: the call omits `memory_config`), the ranks of its
//! inputs — declared once, next to the catalog ([`crate::ops`]).
//!
//! It serves two ends. Users read it (`cargo xtask space`) to know what a case may say. And
//! `cargo xtask diff --random` draws cases from it ([`sample`]) to hold memmodel and the `sim`
//! backend to the runtime's answers on calls nobody wrote down: sizes log-uniform, half of them
//! near the board's L1, last dims not tile-aligned half the time, parameters from their domains.
//!
//! Sampling is deterministic per seed ([`Rng`], SplitMix64): a failure is reproduced by its seed
//! and index.

use crate::case::Case;
use crate::device::{BufferType, DeviceSpec};
use crate::dtype::DType;
use crate::layout::{DeviceLayout, Layout};
use crate::ops::{supported_dtypes, Family, OpDef, OPS};
use crate::params::{ParamValue, Params};
use crate::shape::Shape;
use crate::shard::{MemoryConfig, ShardStrategy};
use crate::tensor::TILE;
use serde::Serialize;

/// A parameter's domain. Dims are the device tensor's; negative dims are drawn too.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Domain {
    /// Any dim of the input: `-rank..rank`.
    Dim,
    /// Any insertion position: `-(rank+1)..=rank` (unsqueeze, stack).
    InsertDim,
    /// A list of distinct dims, or none (all dims).
    Dims,
    /// A permutation of all dims.
    Permutation,
    Bool,
    Int {
        min: i64,
        max: i64,
    },
    Float {
        min: f64,
        max: f64,
    },
    Choice {
        values: &'static [&'static str],
    },
    /// A multiple of `step` in `min..=max` (conv2d's `act_block_h`: whole tile rows).
    Multiple {
        step: i64,
        min: i64,
        max: i64,
    },
    /// `[h, w]`, each in `min..=max`.
    Pair {
        min: i64,
        max: i64,
    },
    /// A target shape with the input's element count.
    ReshapeTarget,
    /// `split_size` in 1..=extent, `split_sizes` summing to the extent, or `chunks`: one of the three.
    SplitOf,
    /// `k` in 1..=the extent of `dim` (at most 64 drawn).
    TopK,
}

/// One parameter of an op's call.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ParamSpace {
    pub name: &'static str,
    pub domain: Domain,
    /// What the catalog passes when the case does not say.
    pub default: &'static str,
}

const fn param(name: &'static str, domain: Domain, default: &'static str) -> ParamSpace {
    ParamSpace {
        name,
        domain,
        default,
    }
}

/// Where an op's output goes, as a case may say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputMemory {
    /// `memory_config=` this interleaved buffer type.
    Interleaved(BufferType),
    /// No `memory_config`: the function's default ([`OpDef::default_output_memory`]).
    Default,
}

/// Everything a call of one op may vary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallSpace {
    #[serde(skip)]
    pub op: &'static OpDef,
    pub name: &'static str,
    /// Ranks of the (device) input tensor.
    pub ranks: (usize, usize),
    /// How many input shapes a case may give (binary: 1 or 2, concat/stack: 1..=4).
    pub shapes: (usize, usize),
    pub dtypes: Vec<DType>,
    pub layouts: Vec<Layout>,
    pub device_layouts: Vec<DeviceLayout>,
    #[serde(serialize_with = "memory_names")]
    pub input_memories: Vec<MemoryConfig>,
    pub output_memories: Vec<OutputMemory>,
    pub params: Vec<ParamSpace>,
}

fn memory_names<S: serde::Serializer>(m: &[MemoryConfig], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(m.iter().map(|c| c.name()))
}

impl CallSpace {
    /// The declared space of `op`.
    pub fn of(op: &'static OpDef) -> CallSpace {
        use Domain::*;
        let mut ranks = (1, 4);
        let mut shapes = (1, 1);
        let mut layouts = vec![Layout::Tile, Layout::RowMajor];
        let mut device_layouts = vec![DeviceLayout::AsGiven];
        let params: Vec<ParamSpace> = match op.family {
            Family::Unary { float_kwargs, .. } => float_kwargs
                .iter()
                .map(|(k, _)| {
                    let domain = match *k {
                        "min_val" | "min" => Float {
                            min: -4.0,
                            max: 0.0,
                        },
                        "negative_slope" => Float { min: 0.0, max: 0.5 },
                        "threshold" => Float {
                            min: 1.0,
                            max: 40.0,
                        },
                        _ => Float { min: 0.1, max: 4.0 },
                    };
                    param(k, domain, "the PyTorch default")
                })
                .collect(),
            Family::UnaryInPlace { .. } | Family::Clone | Family::Ones | Family::Copy => vec![],
            Family::Binary { .. } => {
                shapes = (1, 2);
                vec![]
            }
            Family::Transpose => {
                ranks = (2, 4);
                vec![param("dim0", Dim, "-2"), param("dim1", Dim, "-1")]
            }
            Family::Permute => {
                ranks = (2, 4);
                vec![param(
                    "dims",
                    Permutation,
                    "(0,3,1,2) for 4D, else the last two swapped",
                )]
            }
            Family::Reshape => {
                ranks = (2, 4);
                vec![param("shape", ReshapeTarget, "the model (NCHW) shape")]
            }
            Family::Unsqueeze => vec![param("dim", InsertDim, "0")],
            Family::Concat => {
                shapes = (1, 4);
                vec![
                    param("dim", Dim, "0"),
                    param("inputs", Int { min: 2, max: 4 }, "2"),
                ]
            }
            Family::Stack => {
                shapes = (1, 1);
                vec![
                    param("dim", InsertDim, "0"),
                    param("inputs", Int { min: 2, max: 4 }, "2"),
                ]
            }
            Family::Split => {
                ranks = (2, 4);
                vec![
                    param("dim", Dim, "-1"),
                    param("split_size", SplitOf, "chunks=2"),
                ]
            }
            Family::Softmax => vec![param("dim", Dim, "-1")],
            Family::Upsample => {
                ranks = (4, 4);
                vec![
                    param("scale_factor", Int { min: 1, max: 4 }, "2"),
                    param(
                        "mode",
                        Choice {
                            values: &["nearest", "bilinear"],
                        },
                        "nearest",
                    ),
                ]
            }
            Family::MaxPool2d => {
                ranks = (4, 4);
                device_layouts = vec![DeviceLayout::Nhwc, DeviceLayout::NhwcFlat];
                vec![
                    param("kernel_size", Pair { min: 1, max: 5 }, "[2,2]"),
                    param("stride", Pair { min: 1, max: 3 }, "kernel_size"),
                    param("padding", Pair { min: 0, max: 2 }, "[0,0]"),
                    param("dilation", Pair { min: 1, max: 2 }, "[1,1]"),
                    param("ceil_mode", Bool, "false"),
                ]
            }
            Family::Conv2d => {
                ranks = (4, 4);
                device_layouts = vec![DeviceLayout::NhwcFlat, DeviceLayout::Nhwc];
                vec![
                    param("out_channels", Int { min: 1, max: 1024 }, "in_channels"),
                    param("kernel_size", Pair { min: 1, max: 5 }, "[3,3]"),
                    param("stride", Pair { min: 1, max: 2 }, "[1,1]"),
                    param("padding", Pair { min: 0, max: 2 }, "kernel_size // 2"),
                    param("dilation", Pair { min: 1, max: 2 }, "[1,1]"),
                    // Drawn as depthwise (groups = in_channels = out_channels): the grouped conv
                    // YOLO models use.
                    param("groups", Int { min: 1, max: 1024 }, "1"),
                    param("bias", Bool, "true"),
                    // The output dtype and Conv2dConfig: what YOLO-class models set.
                    param(
                        "dtype",
                        Choice {
                            values: &["bfloat16", "bfloat8_b", "float32"],
                        },
                        "the input's",
                    ),
                    param(
                        "weights_dtype",
                        Choice {
                            values: &["bfloat16", "bfloat8_b"],
                        },
                        "the input's (bfloat16 for float32)",
                    ),
                    param(
                        "shard_layout",
                        Choice {
                            values: &["height", "block", "width"],
                        },
                        "the runtime's choice",
                    ),
                    param(
                        "act_block_h",
                        Multiple {
                            step: 32,
                            min: 32,
                            max: 256,
                        },
                        "the runtime's choice",
                    ),
                    param(
                        "activation",
                        Choice {
                            values: &["silu", "relu", "sigmoid", "gelu"],
                        },
                        "none",
                    ),
                    param("deallocate_activation", Bool, "false"),
                    param("reallocate_halo_output", Bool, "true"),
                    param("enable_act_double_buffer", Bool, "false"),
                    param("enable_weights_double_buffer", Bool, "false"),
                    // slice_config: L1_FULL, or DRAM slices by height / width, with a count
                    // (0: the runtime's) drawn only beside a DRAM slice type.
                    param(
                        "slice",
                        Choice {
                            values: &["l1_full", "dram_height", "dram_width"],
                        },
                        "none (DRAM slices of a DRAM input, the L1 path of an L1 one)",
                    ),
                    param(
                        "num_slices",
                        Int { min: 0, max: 8 },
                        "0 (the runtime's count)",
                    ),
                ]
            }
            Family::Mean => vec![param("dim", Dims, "all"), param("keepdim", Bool, "false")],
            Family::TopK => vec![
                param("dim", Dim, "-1"),
                param("k", TopK, "min(32, extent)"),
                param("largest", Bool, "true"),
                param("sorted", Bool, "true"),
            ],
            Family::Matmul { .. } => {
                ranks = (2, 4);
                vec![]
            }
            Family::Linear => {
                ranks = (2, 4);
                vec![
                    param("out_features", Int { min: 1, max: 4096 }, "K"),
                    param("bias", Bool, "false"),
                ]
            }
            Family::Addmm => {
                ranks = (2, 2);
                vec![
                    param("out_features", Int { min: 1, max: 4096 }, "K"),
                    param("alpha", Float { min: 0.0, max: 2.0 }, "1"),
                    param("beta", Float { min: 0.0, max: 2.0 }, "1"),
                ]
            }
            Family::BatchNorm => {
                ranks = (4, 4);
                vec![param(
                    "eps",
                    Float {
                        min: 1e-6,
                        max: 1e-3,
                    },
                    "1e-5",
                )]
            }
            // One dim or several expanded at once; rank 5 too, where codegen (ranks 2 to 4)
            // leaves every expand to repeat_native.
            Family::Expand => {
                ranks = (1, 5);
                vec![param("dim", Dims, "-1")]
            }
            Family::Dropout => vec![
                param("probability", Float { min: 0.0, max: 0.9 }, "0.1"),
                param(
                    "seed",
                    Int {
                        min: 0,
                        max: 1 << 20,
                    },
                    "42",
                ),
            ],
            Family::VectorNorm => vec![],
            Family::ToLayout => vec![
                param(
                    "layout",
                    Choice {
                        values: &["tile", "row_major"],
                    },
                    "the other layout",
                ),
                param(
                    "dtype",
                    Choice {
                        values: &["bfloat16", "bfloat8_b", "float32"],
                    },
                    "the input's",
                ),
            ],
            Family::ToMemoryConfig => vec![param(
                "dtype",
                Choice {
                    values: &["bfloat16", "bfloat8_b", "float32"],
                },
                "the input's",
            )],
            Family::Sdpa => {
                // q alone (k and v its copies), or q, k and v: k / v with their own sequence
                // length and a head count dividing q's (GQA). TILE only: the runtime refuses
                // ROW_MAJOR inputs ("Inputs to SDPA must be tilized", exec/sdpa.rs; checked by
                // the random differential, seeds 51002-51005).
                ranks = (4, 4);
                shapes = (1, 3);
                layouts = vec![Layout::Tile];
                vec![
                    param("is_causal", Bool, "false"),
                    // Set together: an SDPAProgramConfig on the 8×8 grid; drawn as whole tiles
                    // mostly (the runtime refuses the others).
                    param(
                        "q_chunk_size",
                        Int { min: 32, max: 512 },
                        "32 (no program config)",
                    ),
                    param(
                        "k_chunk_size",
                        Int { min: 32, max: 512 },
                        "32 (no program config)",
                    ),
                    param(
                        "scale",
                        Float {
                            min: 0.01,
                            max: 1.0,
                        },
                        "1/sqrt(D)",
                    ),
                ]
            }
            Family::ConcatenateHeads => {
                ranks = (4, 4);
                layouts = vec![Layout::Tile];
                vec![]
            }
        };
        if matches!(op.family, Family::Ones) {
            layouts = vec![Layout::Tile, Layout::RowMajor];
        }
        let mut input_memories = vec![
            MemoryConfig::Interleaved(BufferType::L1),
            MemoryConfig::Interleaved(BufferType::Dram),
        ];
        if op.takes_sharded_input() {
            input_memories.extend(ShardStrategy::ALL.iter().map(|s| MemoryConfig::Sharded(*s)));
        }
        let output_memories = match op.family {
            // No output of their own: the memory config is not an argument.
            Family::UnaryInPlace { .. } | Family::Copy | Family::Unsqueeze => {
                vec![OutputMemory::Default]
            }
            // The memory to move to is the call's point: it has no default.
            Family::ToMemoryConfig => vec![
                OutputMemory::Interleaved(BufferType::L1),
                OutputMemory::Interleaved(BufferType::Dram),
            ],
            _ => vec![
                OutputMemory::Interleaved(BufferType::L1),
                OutputMemory::Interleaved(BufferType::Dram),
                OutputMemory::Default,
            ],
        };
        let dtypes = match op.family {
            // The input dtypes ttnn.conv2d documents (FLOAT32, BFLOAT16, BFLOAT8_B).
            Family::Conv2d => vec![DType::Bfloat16, DType::Float32, DType::Bfloat8B],
            _ => supported_dtypes(op.name),
        };
        CallSpace {
            op,
            name: op.name,
            ranks,
            shapes,
            dtypes,
            layouts,
            device_layouts,
            input_memories,
            output_memories,
            params,
        }
    }

    /// Every op's space, in catalog order.
    pub fn all() -> Vec<CallSpace> {
        OPS.iter().map(CallSpace::of).collect()
    }
}

/// SplitMix64: small, fast, and the same stream on every platform.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// A generator for item `index` of the stream `seed`: case i of a run is reproducible alone.
    pub fn for_item(seed: u64, index: u64) -> Rng {
        let mut r = Rng(seed ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03));
        r.next_u64();
        r
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        let span = (hi - lo) as u64 + 1;
        lo + (self.next_u64() % span) as i64
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.range(0, items.len() as i64 - 1) as usize]
    }

    /// Log-uniform in `[lo, hi]`.
    pub fn log_uniform(&mut self, lo: f64, hi: f64) -> f64 {
        (lo.ln() + self.unit() * (hi.ln() - lo.ln())).exp()
    }
}

/// What a random draw may take (every field empty = the whole declared space).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub ops: Vec<&'static OpDef>,
    pub dtypes: Vec<DType>,
    pub layouts: Vec<Layout>,
    /// Input memory configs; with a sharded one the output is sharded alike.
    pub memories: Vec<MemoryConfig>,
    pub devices: Vec<&'static DeviceSpec>,
    /// Largest input the draw makes, in bytes of the primary tensor (default 1 GiB: bigger ones
    /// only repeat the same plans and cost the runtime seconds).
    pub max_bytes: Option<u64>,
    /// Every dim the tiles pad in whole tiles, and a feature map's width too (a conv2d's TILE
    /// input views as `[N, H, W, C]` only then): draws into regions a random tile-alignment
    /// reaches once in dozens of draws.
    pub tile_aligned: bool,
}

/// Draws case `index` of the stream `seed` from the declared space under `filter`. Draws that the
/// catalog itself cannot form (say, a broadcast the op's shapes forbid) are redrawn, so every
/// case returned reaches the TT-NN call; `None` when the filter leaves nothing to draw.
pub fn sample(seed: u64, index: u64, filter: &Filter) -> Option<Case> {
    let mut rng = Rng::for_item(seed, index);
    let ops: Vec<&'static OpDef> = if filter.ops.is_empty() {
        OPS.iter().collect()
    } else {
        filter.ops.clone()
    };
    for _attempt in 0..64 {
        let op = *rng.pick(&ops);
        let space = CallSpace::of(op);
        if let Some(case) = draw(&mut rng, &space, filter) {
            if case.signature().is_ok() {
                return Some(case);
            }
        }
    }
    None
}

fn pick_filtered<T: Copy + PartialEq>(rng: &mut Rng, domain: &[T], filter: &[T]) -> Option<T> {
    let allowed: Vec<T> = domain
        .iter()
        .copied()
        .filter(|d| filter.is_empty() || filter.contains(d))
        .collect();
    (!allowed.is_empty()).then(|| *rng.pick(&allowed))
}

fn draw(rng: &mut Rng, space: &CallSpace, filter: &Filter) -> Option<Case> {
    let device = match filter.devices.as_slice() {
        [] => *rng.pick(&crate::device::DEVICES),
        some => *rng.pick(some),
    };
    // bfloat16 is what models run; the others are drawn often enough to be checked.
    let dtype = if filter.dtypes.is_empty() {
        let weighted = [
            DType::Bfloat16,
            DType::Bfloat16,
            DType::Bfloat16,
            DType::Float32,
            DType::Bfloat8B,
            *rng.pick(&DType::ALL),
        ];
        let d = *rng.pick(&weighted);
        if !space.dtypes.contains(&d) {
            return None;
        }
        d
    } else {
        pick_filtered(rng, &space.dtypes, &filter.dtypes)?
    };
    let layout = if dtype.is_block_float() {
        // Block floats exist only as tiles.
        if !filter.layouts.is_empty() && !filter.layouts.contains(&Layout::Tile) {
            return None;
        }
        Layout::Tile
    } else {
        pick_filtered(rng, &space.layouts, &filter.layouts)?
    };
    let input_memory = pick_filtered(rng, &space.input_memories, &filter.memories)?;
    if matches!(input_memory, MemoryConfig::Sharded(_)) && layout != Layout::Tile {
        return None;
    }
    let device_layout = *rng.pick(&space.device_layouts);
    let elements_bytes = dtype.logical_bytes(1).unwrap_or(2).max(1);
    let l1_total = device
        .banks(BufferType::L1)
        .saturating_mul(device.bank_bytes(BufferType::L1, 0));
    let mut max_bytes = filter.max_bytes.unwrap_or(1 << 30);
    if matches!(space.op.family, Family::Conv2d) {
        // Past a few L1s a conv2d runs in DRAM slices, a program per slice: seconds per case on
        // the runtime for what smaller draws already show.
        max_bytes = max_bytes.min(256 << 20);
    }
    if matches!(space.op.family, Family::Ones) {
        // ttnn.ones fills on the host (as float32, then converts): gigabytes of host memory
        // and seconds per case for what a 64 MiB case already shows.
        max_bytes = max_bytes.min(64 << 20);
    }
    // Half the draws near the board's L1 (where verdicts flip), half anywhere.
    let target = if rng.chance(0.5) {
        l1_total as f64 * rng.log_uniform(1.0 / 16.0, 2.0)
    } else {
        rng.log_uniform(2048.0, max_bytes as f64)
    }
    .min(max_bytes as f64);
    let elements = (target / elements_bytes as f64).max(1.0) as u64;
    let rank = rng.range(space.ranks.0 as i64, space.ranks.1 as i64) as usize;
    let dims = draw_dims(rng, space.op, rank, elements, filter.tile_aligned)?;
    let device_shape = Shape::from_dims(dims).ok()?;
    // The shape as written: max_pool2d's is NCHW, held NHWC on device.
    let model = match device_layout {
        DeviceLayout::AsGiven => device_shape.clone(),
        _ => {
            let d = device_shape.dims();
            Shape::from_dims(vec![d[0], d[3], d[1], d[2]]).ok()?
        }
    };
    let mut model_inputs = vec![model.clone()];
    let params = draw_params(rng, space, &device_shape, &mut model_inputs)?;
    let (sharding, input_buffer) = match input_memory {
        MemoryConfig::Sharded(s) => (Some(s), BufferType::L1),
        MemoryConfig::Interleaved(b) => (None, b),
    };
    let output = if sharding.is_some() && space.op.supports_sharding() {
        OutputMemory::Interleaved(BufferType::L1)
    } else if sharding.is_some() {
        // A sharded tensor moved into an interleaved memory (to_memory_config).
        let explicit: Vec<OutputMemory> = space
            .output_memories
            .iter()
            .copied()
            .filter(|o| *o != OutputMemory::Default)
            .collect();
        if explicit.is_empty() {
            return None;
        }
        *rng.pick(&explicit)
    } else {
        // The default memory a quarter of the time: model code mostly omits it.
        let outputs = &space.output_memories;
        if outputs.contains(&OutputMemory::Default) && (outputs.len() == 1 || rng.chance(0.25)) {
            OutputMemory::Default
        } else {
            let explicit: Vec<OutputMemory> = outputs
                .iter()
                .copied()
                .filter(|o| *o != OutputMemory::Default)
                .collect();
            // Mostly the input's memory, as the matrix does; sometimes the other one.
            if rng.chance(0.7) {
                OutputMemory::Interleaved(input_buffer)
            } else {
                *rng.pick(&explicit)
            }
        }
    };
    let mut case = Case::new(space.op, model_inputs, device);
    case.device_layout = device_layout;
    case.params = params;
    case.dtype = dtype;
    case.layout = layout;
    case.input_memory = input_buffer;
    case.output_memory = input_buffer;
    case.sharding = sharding;
    match output {
        OutputMemory::Default => case = case.with_default_output_memory(),
        OutputMemory::Interleaved(b) => case.output_memory = b,
    }
    Some(case)
}

/// `rank` dims holding about `elements` elements: the last two carry most of it (as activations
/// do), tile-aligned half the time.
fn draw_dims(
    rng: &mut Rng,
    op: &OpDef,
    rank: usize,
    elements: u64,
    tile_aligned: bool,
) -> Option<Vec<u64>> {
    let total = (elements.max(1) as f64).ln();
    // Shares of ln(elements): leading dims small, the last two large.
    let mut shares: Vec<f64> = (0..rank)
        .map(|i| {
            if rank >= 3 && i < rank - 2 {
                rng.unit() * 0.3
            } else {
                0.5 + rng.unit()
            }
        })
        .collect();
    let sum: f64 = shares.iter().sum();
    shares.iter_mut().for_each(|s| *s /= sum);
    let aligned = rng.chance(0.5) || tile_aligned;
    let mut dims: Vec<u64> = shares
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut d = (total * s).exp().round().max(1.0) as u64;
            if i + 2 >= rank && aligned {
                d = d.div_ceil(TILE) * TILE;
            }
            d.max(1)
        })
        .collect();
    if rank == 4 && rng.chance(0.7) {
        // Batch 1, as vision models run.
        dims[0] = 1;
    }
    match op.family {
        // NHWC channels are what TT-NN vision models have: at most a few thousand.
        Family::Conv2d => {
            // A feature map: channels as above, batch at most 4, and H and W of like size (an
            // aspect ratio within 1:2..2:1) holding the rest of the drawn elements.
            let total = dims.iter().fold(1u64, |a, &d| a.saturating_mul(d));
            let c = dims[3].clamp(1, 1024);
            dims[3] = if aligned { c.div_ceil(TILE) * TILE } else { c };
            dims[0] = dims[0].min(4);
            let hw = (total / dims[0].saturating_mul(dims[3]).max(1)).max(1) as f64;
            let h = (hw * rng.log_uniform(0.5, 2.0)).sqrt().round().max(1.0);
            dims[1] = h as u64;
            dims[2] = (hw / h).round().max(1.0) as u64;
            if tile_aligned {
                dims[2] = dims[2].div_ceil(TILE) * TILE;
            }
        }
        Family::MaxPool2d | Family::Upsample => {
            let c = dims[3].clamp(1, 1024);
            dims[3] = if aligned { c.div_ceil(TILE) * TILE } else { c };
            dims[0] = dims[0].min(4);
        }
        Family::BatchNorm => dims[1] = dims[1].clamp(1, 1024),
        // Attention heads: a head size of at most 256 (YOLOv12x's is 32), whole tiles mostly
        // (the runtime refuses the others), the sequence the rest.
        Family::Sdpa => {
            let d = dims[3].clamp(1, 256);
            dims[3] = if aligned || rng.chance(0.6) {
                d.div_ceil(TILE) * TILE
            } else {
                d
            };
        }
        // The runtime's matmul plans over M×K×N: keep K sane.
        Family::Matmul { .. } | Family::Linear | Family::Addmm => {
            let k = dims[rank - 1].min(8192);
            dims[rank - 1] = k;
        }
        _ => {}
    }
    Some(dims)
}

fn draw_params(
    rng: &mut Rng,
    space: &CallSpace,
    x: &Shape,
    model_inputs: &mut Vec<Shape>,
) -> Option<Params> {
    let mut p = Params::default();
    let rank = x.rank() as i64;
    let dim = |rng: &mut Rng, extra: i64| -> i64 {
        let d = rng.range(0, rank + extra - 1);
        // Negative spellings half the time.
        if rng.chance(0.5) {
            d - (rank + extra)
        } else {
            d
        }
    };
    // Binary: a second, broadcast shape sometimes.
    if matches!(space.op.family, Family::Binary { .. }) && rng.chance(0.3) {
        let b: Vec<u64> = x
            .dims()
            .iter()
            .map(|&d| if rng.chance(0.5) { 1 } else { d })
            .collect();
        model_inputs.push(Shape::from_dims(b).ok()?);
    }
    for ps in &space.params {
        // Each parameter left at its default half the time.
        if rng.chance(0.5) && !matches!(ps.domain, Domain::SplitOf) {
            continue;
        }
        let value = match ps.domain {
            Domain::Dim => ParamValue::Int(dim(rng, 0)),
            Domain::InsertDim => ParamValue::Int(dim(rng, 1)),
            Domain::Dims => {
                let mut all: Vec<i64> = (0..rank).collect();
                let n = rng.range(1, rank) as usize;
                let mut out = Vec::new();
                for _ in 0..n {
                    let i = rng.range(0, all.len() as i64 - 1) as usize;
                    out.push(all.remove(i));
                }
                out.sort_unstable();
                ParamValue::Ints(out)
            }
            Domain::Permutation => {
                let mut perm: Vec<i64> = (0..rank).collect();
                for i in (1..perm.len()).rev() {
                    let j = rng.range(0, i as i64) as usize;
                    perm.swap(i, j);
                }
                ParamValue::Ints(perm)
            }
            Domain::Bool => ParamValue::Bool(rng.chance(0.5)),
            Domain::Int { min, max } => ParamValue::Int(rng.range(min, max)),
            Domain::Multiple { step, min, max } => {
                ParamValue::Int(rng.range(min / step, max / step) * step)
            }
            Domain::Float { min, max } => {
                // Short decimals: ids and shapes files stay readable.
                let v = min + rng.unit() * (max - min);
                ParamValue::Float((v * 1000.0).round() / 1000.0)
            }
            Domain::Choice { values } => ParamValue::Str(rng.pick(values).to_string()),
            Domain::Pair { min, max } => {
                let a = rng.range(min, max);
                let b = if rng.chance(0.5) {
                    a
                } else {
                    rng.range(min, max)
                };
                ParamValue::Ints(vec![a, b])
            }
            Domain::ReshapeTarget => ParamValue::Ints(reshape_target(rng, x)?),
            Domain::SplitOf => {
                let d = match p.get("dim") {
                    Some(ParamValue::Int(d)) => *d,
                    _ => -1,
                };
                let extent = x.dim(d)?;
                match rng.range(0, 3) {
                    0 => continue,
                    1 => {
                        p.set("split_size", ParamValue::Int(rng.range(1, extent as i64)));
                        continue;
                    }
                    2 => {
                        p.set("chunks", ParamValue::Int(rng.range(1, 8)));
                        continue;
                    }
                    _ => {
                        let parts = rng.range(1, 6.min(extent as i64));
                        let mut cuts: Vec<i64> = (0..parts - 1)
                            .map(|_| rng.range(1, extent as i64 - 1))
                            .collect();
                        cuts.sort_unstable();
                        cuts.dedup();
                        let mut sizes = Vec::new();
                        let mut last = 0;
                        for c in cuts.into_iter().chain([extent as i64]) {
                            sizes.push(c - last);
                            last = c;
                        }
                        p.set("split_sizes", ParamValue::Ints(sizes));
                        continue;
                    }
                }
            }
            Domain::TopK => {
                let d = match p.get("dim") {
                    Some(ParamValue::Int(d)) => *d,
                    _ => -1,
                };
                let extent = x.dim(d)? as i64;
                ParamValue::Int(rng.range(1, extent.min(64)))
            }
        };
        p.set(ps.name, value);
    }
    if matches!(space.op.family, Family::Sdpa) {
        sdpa_draw(rng, x, &mut p, model_inputs)?;
    }
    if matches!(space.op.family, Family::Conv2d)
        && !matches!(p.get("slice"), Some(ParamValue::Str(s)) if s.starts_with("dram_"))
    {
        // A slice count belongs to a DRAM slice type only (the catalog refuses it otherwise).
        p.0.remove("num_slices");
    }
    if matches!(space.op.family, Family::Conv2d) && p.get("groups").is_some() {
        // Depthwise: groups must divide both channel counts.
        let c = x.dims().last().copied()? as i64;
        p.set("groups", ParamValue::Int(c));
        p.set("out_channels", ParamValue::Int(c));
    }
    if let (Some(ParamValue::Int(n)), true) = (
        p.get("inputs").cloned(),
        matches!(space.op.family, Family::Concat),
    ) {
        // Concat: sometimes inputs of different sizes along the concat dim.
        if rng.chance(0.5) {
            let d = match p.get("dim") {
                Some(ParamValue::Int(d)) => *d,
                _ => 0,
            };
            let i = x.normalize_dim(d)?;
            let shapes: Vec<Shape> = (0..n)
                .map(|_| {
                    let extent = rng.range(1, x.dims()[i].max(1) as i64) as u64;
                    x.with_dim(i, extent).ok()
                })
                .collect::<Option<_>>()?;
            *model_inputs = shapes;
        }
    }
    Some(p)
}

/// SDPA's chunk sizes come together (one program config), whole tiles nine times in ten; k and
/// v get their own shape a third of the time: another sequence length, and a head count that
/// divides q's mostly.
fn sdpa_draw(
    rng: &mut Rng,
    q: &Shape,
    p: &mut Params,
    model_inputs: &mut Vec<Shape>,
) -> Option<()> {
    let chunk = |rng: &mut Rng| {
        let c = rng.range(1, 512);
        if rng.chance(0.9) {
            ParamValue::Int((c + TILE as i64 - 1) / TILE as i64 * TILE as i64)
        } else {
            ParamValue::Int(c)
        }
    };
    if p.get("q_chunk_size").is_some() || p.get("k_chunk_size").is_some() {
        p.set("q_chunk_size", chunk(rng));
        p.set("k_chunk_size", chunk(rng));
    }
    if rng.chance(1.0 / 3.0) {
        let &[b, h, s, d] = q.dims() else {
            return None;
        };
        let divisors: Vec<u64> = (1..=h).filter(|k| h % k == 0).collect();
        let kv_heads = if rng.chance(0.9) {
            *rng.pick(&divisors)
        } else {
            rng.range(1, h as i64) as u64
        };
        let kv_len = rng.range(1, (4 * s).max(1) as i64) as u64;
        let kv = Shape::from_dims(vec![b, kv_heads, kv_len, d]).ok()?;
        model_inputs.push(kv.clone());
        model_inputs.push(kv);
    }
    Some(())
}

/// A reshape of `x`: merge two neighbours, split one, or flatten to `[1,1,N,C]` as vision
/// models do.
fn reshape_target(rng: &mut Rng, x: &Shape) -> Option<Vec<i64>> {
    let d: Vec<i64> = x.dims().iter().map(|&v| v as i64).collect();
    let r = d.len();
    Some(match rng.range(0, 2) {
        0 if r >= 2 => {
            let i = rng.range(0, r as i64 - 2) as usize;
            let mut out = d.clone();
            let merged = out[i].checked_mul(out[i + 1])?;
            out.splice(i..=i + 1, [merged]);
            out.insert(0, 1);
            out
        }
        1 => {
            // Split a dim with a small factor of it.
            let i = rng.range(0, r as i64 - 1) as usize;
            let f = [2, 3, 4, 5, 8, 16, 32]
                .into_iter()
                .filter(|f| d[i] % f == 0 && d[i] > *f)
                .collect::<Vec<i64>>();
            if f.is_empty() {
                let mut out = d.clone();
                out.insert(0, 1);
                out
            } else {
                let f = *rng.pick(&f);
                let mut out = d.clone();
                out.splice(i..=i, [f, d[i] / f]);
                if out.len() > 4 && out[0] == 1 {
                    out.remove(0);
                }
                out
            }
        }
        _ => {
            let last = *d.last()?;
            let rest = d[..r - 1].iter().try_fold(1i64, |a, &v| a.checked_mul(v))?;
            vec![1, 1, rest, last]
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_op_declares_a_space_with_its_catalog_params() {
        for space in CallSpace::all() {
            let known = space.op.param_names();
            for p in &space.params {
                assert!(
                    known.contains(&p.name),
                    "{}: `{}` not a catalog param",
                    space.name,
                    p.name
                );
            }
            assert!(!space.dtypes.is_empty(), "{}", space.name);
        }
    }

    #[test]
    fn conv2d_draws_are_feature_maps_with_valid_groups() {
        let filter = Filter {
            ops: vec![crate::ops::find("conv2d").unwrap()],
            ..Filter::default()
        };
        for i in 0..300 {
            let c = sample(11, i, &filter).expect("a case");
            let &[n, ch, h, w] = c.model_inputs[0].dims() else {
                panic!("conv2d draws NCHW shapes, got {}", c.model_inputs[0])
            };
            assert!(n <= 4 && ch <= 1024, "{}", c.id());
            // Like-sized H and W (1:2..2:1 before rounding), not a strip.
            assert!(h <= 2 * w + 2 && w <= 2 * h + 2, "{}", c.id());
            if let Some(ParamValue::Int(g)) = c.params.get("groups") {
                assert_eq!(*g as u64, ch, "{}: depthwise", c.id());
                assert_eq!(c.params.get("out_channels"), Some(&ParamValue::Int(*g)));
            }
            // Conv2dConfig draws the catalog takes: whole tile rows of act_block_h, a slice
            // count only beside a DRAM slice type.
            if let Some(ParamValue::Int(rows)) = c.params.get("act_block_h") {
                assert!(*rows >= 32 && rows % 32 == 0, "{}", c.id());
            }
            if c.params.get("num_slices").is_some() {
                assert!(
                    matches!(c.params.get("slice"), Some(ParamValue::Str(s)) if s.starts_with("dram_")),
                    "{}",
                    c.id()
                );
            }
        }
    }

    #[test]
    fn draws_are_deterministic_and_reach_the_call() {
        let filter = Filter::default();
        for i in 0..300 {
            let a = sample(7, i, &filter).expect("a case");
            let b = sample(7, i, &filter).expect("a case");
            assert_eq!(a, b);
            a.signature().unwrap_or_else(|e| panic!("{}: {e}", a.id()));
        }
    }

    #[test]
    fn draws_cover_every_op_dtype_class_layout_and_default_memory() {
        let filter = Filter::default();
        let cases: Vec<Case> = (0..3000).filter_map(|i| sample(11, i, &filter)).collect();
        for op in OPS {
            assert!(cases.iter().any(|c| c.op.name == op.name), "{}", op.name);
        }
        for d in [DType::Bfloat16, DType::Float32, DType::Bfloat8B] {
            assert!(cases.iter().any(|c| c.dtype == d), "{d}");
        }
        assert!(cases.iter().any(|c| c.layout == Layout::RowMajor));
        assert!(cases.iter().any(|c| c.default_output_memory));
        assert!(cases.iter().any(|c| c.sharding.is_some()));
        let unaligned = cases
            .iter()
            .filter(|c| c.model_inputs[0].dims().last().is_some_and(|w| w % 32 != 0))
            .count();
        assert!(
            unaligned > cases.len() / 4,
            "{unaligned} of {}",
            cases.len()
        );
    }

    #[test]
    fn filters_hold() {
        let filter = Filter {
            ops: vec![crate::ops::find("softmax").unwrap()],
            dtypes: vec![DType::Float32],
            layouts: vec![Layout::Tile],
            memories: vec![MemoryConfig::Interleaved(BufferType::Dram)],
            devices: vec![&crate::device::P150],
            max_bytes: Some(1 << 20),
            tile_aligned: false,
        };
        for i in 0..50 {
            let c = sample(3, i, &filter).expect("a case");
            assert_eq!(c.op.name, "softmax");
            assert_eq!(c.dtype, DType::Float32);
            assert_eq!(c.input_memory, BufferType::Dram);
            assert_eq!(c.device.name, "p150");
        }
    }

    /// expand's space reaches rank 5 (codegen takes ranks 2 to 4, so every rank-5 expand runs
    /// repeat_native, planned: exec/data_movement/expand.rs `expand_native`), one dim and several.
    #[test]
    fn expand_draws_reach_rank_5_and_are_planned() {
        let filter = Filter {
            ops: vec![crate::ops::find("expand").unwrap()],
            ..Filter::default()
        };
        let rank5: Vec<Case> = (0..400)
            .filter_map(|i| sample(13, i, &filter))
            .filter(|c| c.model_inputs[0].rank() == 5)
            .collect();
        let several =
            |c: &Case| matches!(c.params.get("dim"), Some(ParamValue::Ints(d)) if d.len() > 1);
        assert!(rank5.iter().any(several), "several dims at rank 5");
        assert!(rank5.iter().any(|c| !several(c)), "one dim at rank 5");
        for c in &rank5 {
            if let Err(e) = c.estimate() {
                assert!(!crate::exec::is_unmodeled(&e), "{}: {e}", c.id());
            }
        }
    }
}
