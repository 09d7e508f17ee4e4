//! The operator catalog: every operator name the suite knows (the seed report's 44, plus the
//! original suite's `linear` and `mm`), the TT-NN call each one maps to and why where it is not
//! one-to-one, its parameters, the inputs it needs and the outputs it allocates.
//!
//! This is the one place the mapping is written down. shapes.toml chooses which ops run on which
//! shapes with which parameters; the `metal` backend runs the [`Invocation`] built here; the
//! estimate and the `sim` backend allocate the outputs described here.
//!
//! This module holds the catalog ([`OPS`], [`Family`]), the signature types, the dtype table and
//! the builder's shared helpers; [`OpDef::signature`] checks what every op checks, then the
//! builder dispatches on the op's [`Family`] to one method a family, each in its group's module:
//! `eltwise` (unary, binary, ones, copy, clone, dropout), `data_movement` (transpose, permute,
//! reshape, unsqueeze, concat and stack, split, expand, to_layout, to_memory_config),
//! `reduction` (softmax, mean, topk, the vector norm, batch_norm), `matmul` (matmul, linear,
//! addmm, sdpa, concatenate_heads), `conv` (conv2d and its settings) and `pool` (max_pool2d,
//! upsample).

use crate::device::BufferType;
use crate::dtype::DType;
use crate::invoke::{Call, Invocation, Value};
use crate::layout::{DeviceLayout, Layout};
use crate::params::{ParamError, Params};
use crate::shape::Shape;

mod conv;
mod data_movement;
mod eltwise;
mod matmul;
mod pool;
mod reduction;
pub use conv::conv2d_has_settings;

/// The TT-NN function family an operator belongs to; decides inputs, outputs and the call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Family {
    /// `ttnn.<function>(x, **float_kwargs, memory_config=...)`.
    Unary {
        function: &'static str,
        float_kwargs: &'static [(&'static str, f64)],
    },
    /// `ttnn.<function>(x, output_tensor=x)`: writes into its input, allocates no output.
    UnaryInPlace {
        function: &'static str,
    },
    /// `ttnn.<function>(a, b, memory_config=...)`, broadcasting.
    Binary {
        function: &'static str,
    },
    Transpose,
    Permute,
    /// `ttnn.reshape`: a view when TT-NN can reinterpret the pages, a copy otherwise.
    Reshape,
    Unsqueeze,
    Concat,
    Stack,
    /// `ttnn.split` with `split_size` (int) or `split_sizes` (list).
    Split,
    Softmax,
    Upsample,
    MaxPool2d,
    /// `ttnn.conv2d` on a channels-last input, weights and bias given on the host.
    Conv2d,
    Mean,
    TopK,
    /// `ttnn.matmul(a, b)`; with one shape given, `b` is derived as described.
    Matmul {
        derive_other: DeriveOther,
    },
    Linear,
    Addmm,
    BatchNorm,
    Ones,
    Copy,
    Expand,
    Clone,
    Dropout,
    /// No `ttnn.norm` exists in the pinned runtime: sqrt(sum(square(x))).
    VectorNorm,
    /// `ttnn.to_layout(x, layout, dtype=, memory_config=)`: tilize or untilize into a new tensor.
    ToLayout,
    /// `ttnn.to_memory_config(x, memory_config, dtype=)`: the tensor moved (copied) to another
    /// memory.
    ToMemoryConfig,
    /// `ttnn.transformer.scaled_dot_product_attention(q, k, v, is_causal=False, ...)`:
    /// FlashAttention-2 in chunks, no attention matrix in memory.
    Sdpa,
    /// `ttnn.transformer.concatenate_heads(x)`: [B, H, S, D] → [B, S, H·D].
    ConcatenateHeads,
}

/// How a matmul's second operand is derived when a shape set gives only the first, `[..,M,K]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeriveOther {
    /// `[..,K,M]`: attention-style `Q @ Kᵀ`, output `[..,M,M]`.
    Transposed,
    /// `[K,K]`: a projection, output `[..,M,K]`.
    SquareK,
}

/// One operator of the suite.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OpDef {
    /// The suite's name (the seed report's spelling, e.g. `native_batch_norm`).
    pub name: &'static str,
    pub family: Family,
    /// How the original suite held 4D inputs on device; shapes.toml may override it per op.
    pub default_device_layout: DeviceLayout,
    /// Why the mapping is what it is, where it is not a one-to-one TT-NN call.
    pub note: &'static str,
}

const NHWC: DeviceLayout = DeviceLayout::Nhwc;
const AS_GIVEN: DeviceLayout = DeviceLayout::AsGiven;

const fn op(
    name: &'static str,
    family: Family,
    default_device_layout: DeviceLayout,
    note: &'static str,
) -> OpDef {
    OpDef {
        name,
        family,
        default_device_layout,
        note,
    }
}

const fn unary(name: &'static str, function: &'static str, note: &'static str) -> OpDef {
    op(
        name,
        Family::Unary {
            function,
            float_kwargs: &[],
        },
        NHWC,
        note,
    )
}

/// The catalog, in the seed report's order, then the original suite's extra ops.
pub const OPS: &[OpDef] = &[
    op("transpose", Family::Transpose, NHWC, "ttnn.transpose(x, dim0, dim1); the seed suite swapped the last two dims of the NHWC tensor"),
    op("div", Family::Binary { function: "ttnn.div" }, NHWC, ""),
    op("hardtanh", Family::Unary { function: "ttnn.hardtanh", float_kwargs: &[("min_val", -1.0), ("max_val", 1.0)] }, NHWC, "PyTorch defaults min_val=-1, max_val=1"),
    op("leakyrelu", Family::Unary { function: "ttnn.leaky_relu", float_kwargs: &[("negative_slope", 0.01)] }, NHWC, "negative_slope is required by TT-NN; the seed suite omitted it (every case failed with a type error). PyTorch's default 0.01 is used"),
    op("maxpool2d", Family::MaxPool2d, DeviceLayout::NhwcFlat, "ttnn.max_pool2d takes a flattened NHWC input [1,1,N·H·W,C] plus N, H, W, C, kernel, stride, padding, dilation (the seed suite passed none of them); needs L1_SMALL at device open"),
    op("mul", Family::Binary { function: "ttnn.mul" }, NHWC, ""),
    op("native_batch_norm", Family::BatchNorm, AS_GIVEN, "ttnn.batch_norm(x, running_mean=, running_var=, weight=, bias=, training=False); TT-NN wants [N,C,H,W] with [1,C,1,1] statistics, keyword-only (the seed suite passed them positionally and NHWC)"),
    op("splitwithsizes", Family::Split, NHWC, "ttnn.split(x, split_sizes, dim); the seed suite gave no sizes. Default: two equal halves of the last (channel) dim"),
    op("add", Family::Binary { function: "ttnn.add" }, NHWC, ""),
    op("sub", Family::Binary { function: "ttnn.sub" }, NHWC, ""),
    op("cat", Family::Concat, NHWC, "torch.cat → ttnn.concat"),
    unary("mish", "ttnn.mish", ""),
    unary("relu", "ttnn.relu", ""),
    op("softplus", Family::Unary { function: "ttnn.softplus", float_kwargs: &[("beta", 1.0), ("threshold", 20.0)] }, NHWC, "PyTorch defaults beta=1, threshold=20"),
    op("clone", Family::Clone, NHWC, ""),
    op("concat", Family::Concat, NHWC, ""),
    unary("identity", "ttnn.identity", "TT-NN's identity copies (an SFPU pass), unlike torch.nn.Identity"),
    op("permute", Family::Permute, NHWC, "the seed suite permuted the NHWC tensor back to NCHW: dims (0,3,1,2); other ranks (which it only uploaded) swap their last two dims"),
    unary("sigmoid", "ttnn.sigmoid", ""),
    unary("silu", "ttnn.silu", ""),
    unary("tanh", "ttnn.tanh", ""),
    op("unsafeview", Family::Reshape, NHWC, "torch's _unsafe_view → ttnn.reshape to the model (NCHW) shape, as the seed suite did; a view when pages can be reinterpreted, a copy otherwise"),
    op("unsqueeze", Family::Unsqueeze, NHWC, "a metadata-only view in TT-NN: no output allocation"),
    op("view", Family::Reshape, NHWC, "torch view → ttnn.reshape to the model (NCHW) shape, as the seed suite did"),
    op("clampmin", Family::Unary { function: "ttnn.clamp", float_kwargs: &[("min", 0.0)] }, NHWC, "torch.clamp_min → ttnn.clamp(x, min=0.0); the seed suite called ttnn.clip with no bounds (TT_FATAL)"),
    op("expand", Family::Expand, NHWC, "ttnn.expand(x, output_shape) copies (no strided views in TT-NN). The case's shape is the expanded one; the input has size 1 in `dim`, one dim or a list of them expanded at once (default: the last, the channels of NHWC). The seed suite gave no target shape"),
    op("linalgvectornorm", Family::VectorNorm, NHWC, "no ttnn.norm in the pinned runtime (the seed suite's call raised AttributeError): composed as ttnn.sqrt(ttnn.sum(ttnn.square(x))), with a full-size temporary"),
    op("silu_inplace", Family::UnaryInPlace { function: "ttnn.silu" }, NHWC, "torch silu_ → ttnn.silu(x, output_tensor=x): no output allocation"),
    op("stack", Family::Stack, NHWC, "torch.stack → ttnn.unsqueeze views of each input, then ttnn.concat(views, dim, memory_config): what ttnn.stack does inside, spelled out because ttnn.stack takes no memory_config (checked on the runtime: its output lands in DRAM even for L1 inputs); dim is required (the seed suite omitted it)"),
    unary("gelu", "ttnn.gelu", ""),
    op("ones", Family::Ones, NHWC, "ttnn.ones(shape, dtype, layout, device, memory_config): no input, one output"),
    op("copy", Family::Copy, NHWC, "ttnn.copy(a, b) writes a into b: two inputs, no output allocation"),
    op("dropout", Family::Dropout, NHWC, "no ttnn.dropout in the pinned runtime (the seed suite's call raised AttributeError): ttnn.experimental.dropout(x, probability, scale, seed)"),
    op("softmax", Family::Softmax, NHWC, ""),
    op("upsample_nearest2d", Family::Upsample, NHWC, "ttnn.upsample(x, scale_factor, mode='nearest') on an NHWC input; a TILE input must have W and C multiples of 32, so the matrix runs it ROW_MAJOR as TT-NN vision models do (the seed suite's TILE uploads failed for C=3 and W=1280/400/...)"),
    op("clamp", Family::Unary { function: "ttnn.clamp", float_kwargs: &[("min", -1.0), ("max", 1.0)] }, NHWC, "ttnn.clamp(x, min, max); the seed suite called ttnn.clip with no bounds (TT_FATAL). Default bounds [-1, 1]"),
    op("mean", Family::Mean, NHWC, "ttnn.mean(x) over all dims unless `dim` is given, as the seed suite did"),
    op("topk", Family::TopK, NHWC, "ttnn.topk(x, k, dim, largest, sorted): values plus uint16 indices; k is required (the seed suite omitted it). Default k = min(32, size of the last dim)"),
    unary("geluactivation", "ttnn.gelu", "transformers' GELUActivation → ttnn.gelu"),
    op("split", Family::Split, NHWC, "ttnn.split(x, split_size, dim); default: two equal chunks of the last (channel) dim"),
    op("split_with_sizes", Family::Split, NHWC, "ttnn.split(x, split_sizes, dim); default: two equal halves of the last (channel) dim"),
    op("bmm", Family::Matmul { derive_other: DeriveOther::Transposed }, AS_GIVEN, "ttnn.matmul; with one shape [..,M,K] the second operand is [..,K,M] (the seed suite multiplied two same-shape tensors, valid only when square)"),
    unary("log", "ttnn.log", ""),
    op("addmm", Family::Addmm, AS_GIVEN, "ttnn.addmm(input, mat1, mat2); with one shape [M,K]: mat2 is [K,N] and input [M,N], N = `out_features` (default K). The seed suite passed three same-shape tensors"),
    op("linear", Family::Linear, AS_GIVEN, "ttnn.linear(x, weight[, bias]); with one shape [..,M,K] the weight is [K,N], N = `out_features` (default K), as the original suite did"),
    op("mm", Family::Matmul { derive_other: DeriveOther::SquareK }, AS_GIVEN, "ttnn.matmul; with one shape [M,K] the second operand is [K,K] (a projection; the seed suite multiplied two same-shape tensors, a shape mismatch unless square)"),
    op("to_layout", Family::ToLayout, AS_GIVEN, "ttnn.to_layout(x, layout, dtype=, memory_config=): `layout` is the target (default: the other one), `dtype` an optional output dtype; YOLO models untilize before upsample and reshape"),
    op("to_memory_config", Family::ToMemoryConfig, AS_GIVEN, "ttnn.to_memory_config(x, memory_config, dtype=): the tensor copied into the output memory (models move skip tensors between L1 and DRAM); `dtype` an optional output dtype"),
    op("sdpa", Family::Sdpa, AS_GIVEN, "ttnn.transformer.scaled_dot_product_attention(q, k, v, is_causal=False, memory_config=): q [B,H,S,D]; k and v the same shape unless given; q_chunk_size / k_chunk_size set an SDPAProgramConfig on the device's grid (YOLOv12x's area attention uses 256 / 512 from 512 tokens)"),
    op("concatenate_heads", Family::ConcatenateHeads, AS_GIVEN, "ttnn.transformer.concatenate_heads(x, memory_config=): [B,H,S,D] → [B,S,H·D]"),
    op("conv2d", Family::Conv2d, DeviceLayout::NhwcFlat, "ttnn.conv2d(input_tensor=[1,1,N·H·W,C] (or [N,H,W,C]), weight_tensor=[C_out,C_in/groups,kh,kw] and bias_tensor=[1,1,1,C_out] as zero-filled host tensors the op prepares on the device itself, device, in_channels, out_channels, batch_size, input_height, input_width, kernel_size, stride, padding, dilation, groups); the case's shape is the model's [N,C_in,H,W]; default Conv2dConfig (the runtime picks the sharding); padding defaults to kernel//2 (ultralytics' autopad); needs L1_SMALL at device open (halo and conv config tensors)"),
];

/// Looks an operator up; the error lists every known name.
pub fn find(name: &str) -> Result<&'static OpDef, UnknownOp> {
    OPS.iter()
        .find(|o| o.name == name)
        .ok_or_else(|| UnknownOp(name.to_string()))
}

/// An operator name the catalog does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown op `{0}` (known: {known})", known = OPS.iter().map(|o| o.name).collect::<Vec<_>>().join(", "))]
pub struct UnknownOp(pub String);

pub use crate::error::CaseError;

fn invalid(op: &str, problem: impl Into<String>) -> CaseError {
    CaseError::Invalid {
        op: op.to_string(),
        problem: problem.into(),
    }
}

/// An input tensor the case creates before running the op.
#[derive(Debug, Clone, PartialEq)]
pub struct InputSpec {
    /// What the input is to the op (`input`, `other`, `weight`, `running_mean`, ...).
    pub role: &'static str,
    pub shape: Shape,
    pub dtype: DType,
    pub layout: Layout,
}

/// Where an output's memory comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputStorage {
    /// A new buffer in the case's output memory.
    New,
    /// The op reuses input i's buffer (views, in-place ops).
    AliasOfInput(usize),
}

/// An output tensor of the op.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputSpec {
    pub role: &'static str,
    pub shape: Shape,
    pub dtype: DType,
    pub layout: Layout,
    pub storage: OutputStorage,
}

/// The op's inputs and outputs for one case, with its TT-NN call.
#[derive(Debug, Clone, PartialEq)]
pub struct Signature {
    pub inputs: Vec<InputSpec>,
    pub outputs: Vec<OutputSpec>,
    /// Full-size temporaries a composite allocates between its steps (shape, in output memory).
    pub temporaries: Vec<OutputSpec>,
    pub invocation: Invocation,
    /// L1_SMALL bytes the op needs at device open (max_pool2d keeps its indices/config there).
    pub l1_small_bytes: u64,
}

impl Signature {
    /// The inputs, outputs and call of an op that needs no temporaries and no L1_SMALL.
    fn new(inputs: Vec<InputSpec>, outputs: Vec<OutputSpec>, invocation: Invocation) -> Self {
        Signature {
            inputs,
            outputs,
            temporaries: Vec::new(),
            invocation,
            l1_small_bytes: 0,
        }
    }
}

/// What a case asks of an op (everything but the device).
#[derive(Debug, Clone, PartialEq)]
pub struct OpRequest<'a> {
    /// Shapes as written in shapes.toml or `--shape` (model order).
    pub model_inputs: &'a [Shape],
    pub device_layout: DeviceLayout,
    pub params: &'a Params,
    pub dtype: DType,
    pub layout: Layout,
    pub output_memory: BufferType,
    /// The call omits `memory_config`: the runtime puts the output where the function's default
    /// says ([`crate::exec::default_output_memory`]), which `output_memory` then holds.
    pub default_output_memory: bool,
    /// A sharded memory config of the L1 sides ([`crate::shard`]); eltwise ops only.
    pub sharding: Option<crate::shard::ShardStrategy>,
}

pub use crate::device::{CONV2D_L1_SMALL, MAX_POOL_L1_SMALL};

/// The ops that run in sharded memory configs.
pub fn sharding_ops() -> Vec<&'static str> {
    OPS.iter()
        .filter(|o| o.supports_sharding())
        .map(|o| o.name)
        .collect()
}

impl OpDef {
    /// Whether the op runs in a sharded memory config: the unary (SFPU) and binary eltwise ops,
    /// whose program factories bind their buffers to the tensors' shards.
    pub fn supports_sharding(&self) -> bool {
        matches!(self.family, Family::Unary { .. } | Family::Binary { .. })
    }

    /// Whether the op takes a sharded input: the eltwise ops (their output sharded alike), and
    /// `to_memory_config`, which moves a sharded tensor into the interleaved memory it is given.
    pub fn takes_sharded_input(&self) -> bool {
        self.supports_sharding() || self.family == Family::ToMemoryConfig
    }

    /// Where the op's output goes when the call omits `memory_config` and its inputs are in
    /// `input` (the function that makes the output decides: concat for stack, sqrt for the
    /// vector norm).
    pub fn default_output_memory(&self, input: BufferType) -> BufferType {
        let function = match self.family {
            Family::Stack => "ttnn.concat",
            Family::VectorNorm => "ttnn.sqrt",
            _ => self.ttnn_function(),
        };
        crate::exec::default_output_memory(function, input)
    }

    /// The TT-NN function the op calls first (for tables).
    pub fn ttnn_function(&self) -> &'static str {
        match self.family {
            Family::Unary { function, .. }
            | Family::UnaryInPlace { function }
            | Family::Binary { function } => function,
            Family::Transpose => "ttnn.transpose",
            Family::Permute => "ttnn.permute",
            Family::Reshape => "ttnn.reshape",
            Family::Unsqueeze => "ttnn.unsqueeze",
            Family::Concat => "ttnn.concat",
            Family::Stack => "ttnn.unsqueeze+ttnn.concat",
            Family::Split => "ttnn.split",
            Family::Softmax => "ttnn.softmax",
            Family::Upsample => "ttnn.upsample",
            Family::MaxPool2d => "ttnn.max_pool2d",
            Family::Conv2d => "ttnn.conv2d",
            Family::Mean => "ttnn.mean",
            Family::TopK => "ttnn.topk",
            Family::Matmul { .. } => "ttnn.matmul",
            Family::Linear => "ttnn.linear",
            Family::Addmm => "ttnn.addmm",
            Family::BatchNorm => "ttnn.batch_norm",
            Family::Ones => "ttnn.ones",
            Family::Copy => "ttnn.copy",
            Family::Expand => "ttnn.expand",
            Family::Clone => "ttnn.clone",
            Family::Dropout => "ttnn.experimental.dropout",
            Family::VectorNorm => "ttnn.square+ttnn.sum+ttnn.sqrt",
            Family::ToLayout => "ttnn.to_layout",
            Family::ToMemoryConfig => "ttnn.to_memory_config",
            Family::Sdpa => "ttnn.transformer.scaled_dot_product_attention",
            Family::ConcatenateHeads => "ttnn.transformer.concatenate_heads",
        }
    }

    /// Parameter names the op understands (others are rejected, naming these).
    pub fn param_names(&self) -> Vec<&'static str> {
        match self.family {
            Family::Unary { float_kwargs, .. } => float_kwargs.iter().map(|(k, _)| *k).collect(),
            Family::UnaryInPlace { .. }
            | Family::Ones
            | Family::Copy
            | Family::Clone
            | Family::Matmul { .. } => vec![],
            Family::Binary { .. } => vec![],
            Family::Transpose => vec!["dim0", "dim1"],
            Family::Permute => vec!["dims"],
            Family::Reshape => vec!["shape"],
            Family::Unsqueeze => vec!["dim"],
            Family::Concat | Family::Stack => vec!["dim", "inputs"],
            Family::Split => vec!["dim", "split_size", "split_sizes", "chunks"],
            Family::Softmax => vec!["dim"],
            Family::Upsample => vec!["scale_factor", "mode"],
            Family::MaxPool2d => vec!["kernel_size", "stride", "padding", "dilation", "ceil_mode"],
            Family::Conv2d => vec![
                "out_channels",
                "kernel_size",
                "stride",
                "padding",
                "dilation",
                "groups",
                "bias",
                "dtype",
                "weights_dtype",
                "shard_layout",
                "act_block_h",
                "activation",
                "deallocate_activation",
                "reallocate_halo_output",
                "enable_act_double_buffer",
                "enable_weights_double_buffer",
                "reshard_if_not_optimal",
                "slice",
                "num_slices",
            ],
            Family::Mean => vec!["dim", "keepdim"],
            Family::ToLayout => vec!["layout", "dtype"],
            Family::ToMemoryConfig => vec!["dtype"],
            Family::Sdpa => vec!["is_causal", "q_chunk_size", "k_chunk_size", "scale"],
            Family::ConcatenateHeads => vec![],
            Family::TopK => vec!["k", "dim", "largest", "sorted"],
            Family::Linear => vec!["out_features", "bias"],
            Family::Addmm => vec!["out_features", "alpha", "beta"],
            Family::BatchNorm => vec!["eps"],
            Family::Expand => vec!["dim"],
            Family::Dropout => vec!["probability", "seed"],
            Family::VectorNorm => vec![],
        }
    }

    /// Reject parameters the op does not take.
    pub fn check_param_names(&self, params: &Params) -> Result<(), CaseError> {
        let known = self.param_names();
        for name in params.0.keys() {
            if !known.contains(&name.as_str()) {
                let list = if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                };
                return Err(CaseError::Param(ParamError::new(
                    self.name,
                    name,
                    format!("is not a parameter of this op (known: {list})"),
                )));
            }
        }
        Ok(())
    }

    /// Inputs, outputs, temporaries and the TT-NN call for one case.
    pub fn signature(&self, req: &OpRequest<'_>) -> Result<Signature, CaseError> {
        self.check_param_names(req.params)?;
        if req.dtype.is_block_float() && req.layout == Layout::RowMajor {
            return Err(invalid(
                self.name,
                format!(
                    "{} needs TILE layout (TT-NN: \"Only TILE layout is supported for {} dtype\")",
                    req.dtype,
                    req.dtype.name().to_uppercase()
                ),
            ));
        }
        if let Some(reason) = rejected_dtype(self.name, req.dtype) {
            return Err(invalid(
                self.name,
                format!(
                    "dtype {} is not supported (TT-NN: \"{reason}\"); supported: {}",
                    req.dtype,
                    supported_dtypes(self.name)
                        .iter()
                        .map(|d| d.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        if let Some(strategy) = req.sharding {
            if !self.takes_sharded_input() {
                return Err(invalid(
                    self.name,
                    format!(
                        "{} is modeled for the eltwise ops only (unary and binary: {})",
                        strategy.memory_name(),
                        sharding_ops().join(", ")
                    ),
                ));
            }
            if req.layout != Layout::Tile {
                return Err(invalid(
                    self.name,
                    format!("{} needs TILE layout", strategy.memory_name()),
                ));
            }
        }
        let b = Builder { op: self, req };
        b.build()
    }
}

/// Dtypes the pinned runtime rejects per op, with its own words. Read from ttnn 0.81.1 on the
/// mock n150: every op at [1,2,64,64] in TILE and ROW_MAJOR, every dtype, DRAM (`cargo xtask
/// oom --shape 1,2,64,64 --dtype D --layout L --memory dram --no-measure`); an op/dtype is
/// listed when the runtime raised a dtype error for it. Ops that could not take that shape
/// (`maxpool2d`, `addmm`) are not listed: nothing is assumed about them. The `ttnn` crate's
/// runtime test `dtype_rejections` re-checks every row.
pub const DTYPE_REJECTIONS: &[(&str, &[DType], &str)] = {
    use DType::*;
    const INTS: &[DType] = &[Uint8, Uint16, Uint32, Int32];
    const UINTS: &[DType] = &[Uint8, Uint16, Uint32];
    const REDUCE: &[DType] = &[Bfloat4B, Uint8, Uint16, Uint32, Int32];
    const UNARY_INT: &str = "Unary: UnaryOpType does not support integer input dtype";
    &[
        ("gelu", INTS, UNARY_INT),
        ("geluactivation", INTS, UNARY_INT),
        ("hardtanh", INTS, UNARY_INT),
        ("log", INTS, UNARY_INT),
        ("mish", INTS, UNARY_INT),
        ("sigmoid", INTS, UNARY_INT),
        ("silu", INTS, UNARY_INT),
        ("silu_inplace", INTS, UNARY_INT),
        ("softplus", INTS, UNARY_INT),
        ("tanh", INTS, UNARY_INT),
        ("leakyrelu", &[Int32], UNARY_INT),
        ("clamp", UINTS, "Unary: UnaryOpType::CLAMP_TSS does not support integer input dtype"),
        ("clampmin", UINTS, "Unary: UnaryOpType::CLAMP_TSS does not support integer input dtype"),
        ("add", &[Uint8], "Input tensor A dtype is not supported for binary operation"),
        ("sub", &[Uint8], "Input tensor A dtype is not supported for binary operation"),
        ("mul", &[Uint8], "Input tensor A dtype is not supported for binary operation"),
        ("div", UINTS, "Input tensor A dtype is not supported for binary operation BinaryOpType::DIV"),
        ("bmm", INTS, "Unsupported data format for input A"),
        ("mm", INTS, "Unsupported data format for input A"),
        ("linear", INTS, "Unsupported data format for input A"),
        ("dropout", &[Float32, Bfloat8B, Bfloat4B, Uint8, Uint16, Uint32, Int32], "Dropout operation requires input and output data types to match (its output is bfloat16)"),
        ("expand", &[Bfloat4B], "Only TILE layout is supported for BFLOAT8_B dtype!"),
        ("upsample_nearest2d", &[Bfloat4B], "Only TILE layout is supported for BFLOAT8_B dtype!"),
        ("linalgvectornorm", REDUCE, "Only FLOAT32, BFLOAT16, BFLOAT8_B, and UINT32 are supported for generic reduction; integer unary ops are not supported"),
        ("mean", REDUCE, "Only FLOAT32, BFLOAT16, BFLOAT8_B, and UINT32 are supported for generic reduction; ttnn.mean does not support integer inputs"),
        ("softmax", REDUCE, "Input tensor must be FLOAT32, BFLOAT16, or BFLOAT8_B"),
        ("topk", REDUCE, "Input tensor must be BFLOAT16, BFLOAT8_B, or FLOAT32"),
        ("native_batch_norm", &[Bfloat8B, Bfloat4B, Uint8, Uint16, Uint32, Int32], "batch_norm only supports bfloat16, float32"),
        ("sdpa", &[Float32, Uint8, Uint16, Uint32, Int32], "Data type of input tensor must be BFLOAT16, BFLOAT8_B, or BFLOAT4_B"),
    ]
};

/// The runtime's reason when it rejects `dtype` for the op `name` ([`DTYPE_REJECTIONS`]).
pub fn rejected_dtype(name: &str, dtype: DType) -> Option<&'static str> {
    DTYPE_REJECTIONS
        .iter()
        .find(|(op, dtypes, _)| *op == name && dtypes.contains(&dtype))
        .map(|(_, _, reason)| *reason)
}

/// The dtypes the op `name` takes (all but those in [`DTYPE_REJECTIONS`]).
pub fn supported_dtypes(name: &str) -> Vec<DType> {
    DType::ALL
        .iter()
        .copied()
        .filter(|d| rejected_dtype(name, *d).is_none())
        .collect()
}

/// Builds one case's [`Signature`]: the helpers every family uses are here, one method a family
/// in its group's module, and [`Builder::build`] picks the method.
struct Builder<'a, 'b> {
    op: &'a OpDef,
    req: &'a OpRequest<'b>,
}

impl Builder<'_, '_> {
    fn name(&self) -> &'static str {
        self.op.name
    }

    fn params(&self) -> &Params {
        self.req.params
    }

    fn input(&self, role: &'static str, shape: Shape) -> InputSpec {
        InputSpec {
            role,
            shape,
            dtype: self.req.dtype,
            layout: self.req.layout,
        }
    }

    fn output(&self, role: &'static str, shape: Shape) -> OutputSpec {
        OutputSpec {
            role,
            shape,
            dtype: self.req.dtype,
            layout: self.req.layout,
            storage: OutputStorage::New,
        }
    }

    fn mem(&self) -> Value {
        match (self.req.output_memory, self.req.sharding) {
            // A sharded output takes its (first) input's sharded memory config.
            (BufferType::L1, Some(_)) if self.op.supports_sharding() => Value::MemoryConfigOf(0),
            (m, _) => Value::MemoryConfig(m),
        }
    }

    /// The model shapes, checking how many the op takes.
    fn model(&self, allowed: &[usize]) -> Result<&[Shape], CaseError> {
        let n = self.req.model_inputs.len();
        if allowed.contains(&n) {
            Ok(self.req.model_inputs)
        } else {
            let list: Vec<String> = allowed.iter().map(|a| a.to_string()).collect();
            Err(invalid(
                self.name(),
                format!("takes {} input shape(s), got {n}", list.join(" or ")),
            ))
        }
    }

    fn device(&self, shape: &Shape) -> Result<Shape, CaseError> {
        Ok(shape.to_device(self.req.device_layout)?)
    }

    /// The device tensor of the op's one input shape.
    fn one_input(&self) -> Result<Shape, CaseError> {
        self.device(&self.model(&[1])?[0])
    }

    /// The device tensors of the op's one or two input shapes; one given stands for both.
    fn input_and_other(&self) -> Result<(Shape, Shape), CaseError> {
        let shapes = self.model(&[1, 2])?;
        let a = self.device(&shapes[0])?;
        let b = match shapes.get(1) {
            Some(s) => self.device(s)?,
            None => a.clone(),
        };
        Ok((a, b))
    }

    /// The signature of one call on one input tensor that makes one output.
    fn one_call(&self, input: Shape, output: OutputSpec, call: Call) -> Signature {
        Signature::new(
            vec![self.input("input", input)],
            vec![output],
            Invocation::single(call),
        )
    }

    fn dim(&self, shape: &Shape, param: &str, index: i64) -> Result<usize, CaseError> {
        shape.normalize_dim(index).ok_or_else(|| {
            CaseError::Param(ParamError::new(
                self.name(),
                param,
                format!(
                    "is {index}, out of range for the {}-dim device tensor {shape}",
                    shape.rank()
                ),
            ))
        })
    }

    /// The family's inputs, outputs and call; without `memory_config` where the case says so.
    fn build(&self) -> Result<Signature, CaseError> {
        let mut signature = match self.op.family {
            Family::Unary {
                function,
                float_kwargs,
            } => self.unary(function, float_kwargs),
            Family::UnaryInPlace { function } => self.unary_in_place(function),
            Family::Binary { function } => self.binary(function),
            Family::Transpose => self.transpose(),
            Family::Permute => self.permute(),
            Family::Reshape => self.reshape(),
            Family::Unsqueeze => self.unsqueeze(),
            Family::Concat | Family::Stack => self.concat(),
            Family::Split => self.split(),
            Family::Softmax => self.softmax(),
            Family::Upsample => self.upsample(),
            Family::MaxPool2d => self.max_pool2d(),
            Family::Conv2d => self.conv2d(),
            Family::Mean => self.mean(),
            Family::TopK => self.topk(),
            Family::Matmul { derive_other } => self.matmul(derive_other),
            Family::Linear => self.linear(),
            Family::Addmm => self.addmm(),
            Family::BatchNorm => self.batch_norm(),
            Family::Ones => self.ones(),
            Family::Copy => self.copy(),
            Family::Expand => self.expand(),
            Family::Clone => self.clone_tensor(),
            Family::ToLayout => self.to_layout(),
            Family::ToMemoryConfig => self.to_memory_config(),
            Family::Sdpa => self.sdpa(),
            Family::ConcatenateHeads => self.concatenate_heads(),
            Family::Dropout => self.dropout(),
            Family::VectorNorm => self.vector_norm(),
        }?;
        if self.req.default_output_memory {
            // What model code usually writes: no memory_config, the function's default applies.
            for step in &mut signature.invocation.steps {
                step.kwargs.remove("memory_config");
            }
        }
        Ok(signature)
    }
}

/// A sliding window's kernel, stride, padding and dilation (pools, convolutions): each value in
/// a range the runtime's sliding-window configs take.
fn check_window(
    name: &str,
    kernel: [i64; 2],
    stride: [i64; 2],
    padding: [i64; 2],
    dilation: [i64; 2],
) -> Result<(), CaseError> {
    for (param, v, min) in [
        ("kernel_size", kernel, 1),
        ("stride", stride, 1),
        ("padding", padding, 0),
        ("dilation", dilation, 1),
    ] {
        if v.iter().any(|&x| x < min || x > 1024) {
            return Err(CaseError::Param(ParamError::new(
                name,
                param,
                format!("is {v:?}; each value must be in {min}..=1024"),
            )));
        }
    }
    Ok(())
}

/// NumPy broadcasting of two shapes.
fn broadcast(op: &str, a: &Shape, b: &Shape) -> Result<Shape, CaseError> {
    let rank = a.rank().max(b.rank());
    let at = |s: &Shape, i: usize| -> u64 {
        let offset = rank - s.rank();
        if i < offset {
            1
        } else {
            s.dims()[i - offset]
        }
    };
    let mut dims = Vec::with_capacity(rank);
    for i in 0..rank {
        let (x, y) = (at(a, i), at(b, i));
        dims.push(match (x, y) {
            _ if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return Err(invalid(op, format!("shapes {a} and {b} do not broadcast"))),
        });
    }
    Ok(Shape::from_dims(dims)?)
}

pub use crate::exec::reshape_is_view;

#[cfg(test)]
mod tests {
    use super::*;

    /// The signature of `op` on the model shapes, bfloat16 TILE into L1.
    pub(super) fn sig(
        op: &str,
        shapes: &[&str],
        params: &Params,
        layout: DeviceLayout,
    ) -> Result<Signature, CaseError> {
        let model: Vec<Shape> = shapes.iter().map(|s| Shape::parse(s).unwrap()).collect();
        find(op).unwrap().signature(&OpRequest {
            model_inputs: &model,
            device_layout: layout,
            params,
            dtype: DType::Bfloat16,
            layout: Layout::Tile,
            output_memory: BufferType::L1,
            default_output_memory: false,
            sharding: None,
        })
    }

    #[test]
    fn catalog_has_the_seed_ops_plus_linear_mm_conv2d_and_the_yolo_moves() {
        assert_eq!(OPS.len(), 51);
        let mut names: Vec<_> = OPS.iter().map(|o| o.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 51, "duplicate op names");
        let err = find("silly").unwrap_err().to_string();
        assert!(err.contains("silu") && err.contains("maxpool2d"), "{err}");
    }

    #[test]
    fn every_op_builds_a_signature_for_a_small_shape() {
        for op in OPS {
            let shape = match op.family {
                Family::Addmm => "64,32",
                Family::Matmul { .. } | Family::Linear => "2,64,32",
                _ => "1,32,64,64",
            };
            let s = sig(
                op.name,
                &[shape],
                &Params::default(),
                op.default_device_layout,
            )
            .unwrap_or_else(|e| panic!("{}: {e}", op.name));
            assert!(!s.outputs.is_empty(), "{}", op.name);
            assert!(
                s.invocation.render().starts_with("ttnn.") || s.invocation.steps.len() > 1,
                "{}",
                op.name
            );
        }
    }

    #[test]
    fn dims_out_of_range_are_named() {
        let mut p = Params::default();
        p.set("dim", crate::params::ParamValue::Int(7));
        let err = sig("softmax", &["1,2,3,4"], &p, DeviceLayout::AsGiven)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("softmax") && err.contains("`dim`") && err.contains("out of range"),
            "{err}"
        );
    }

    #[test]
    fn unknown_params_list_known_ones() {
        let mut p = Params::default();
        p.set("dimm", crate::params::ParamValue::Int(1));
        let err = sig("transpose", &["1,2,3,4"], &p, DeviceLayout::AsGiven)
            .unwrap_err()
            .to_string();
        assert!(err.contains("dimm") && err.contains("dim0, dim1"), "{err}");
    }

    #[test]
    fn views_and_inplace_allocate_nothing() {
        for op in ["unsqueeze", "silu_inplace", "copy"] {
            let s = sig(op, &["1,32,64,64"], &Params::default(), DeviceLayout::Nhwc).unwrap();
            assert!(
                matches!(s.outputs[0].storage, OutputStorage::AliasOfInput(_)),
                "{op}"
            );
        }
        // NHWC [1,64,64,32] → NCHW [1,32,64,64] changes the last dim: a copy.
        let s = sig(
            "view",
            &["1,32,64,64"],
            &Params::default(),
            DeviceLayout::Nhwc,
        )
        .unwrap();
        assert_eq!(s.outputs[0].storage, OutputStorage::New);
    }

    #[test]
    fn block_float_row_major_is_rejected() {
        let model = vec![Shape::parse("1,32,32,32").unwrap()];
        let err = find("silu")
            .unwrap()
            .signature(&OpRequest {
                model_inputs: &model,
                device_layout: DeviceLayout::AsGiven,
                params: &Params::default(),
                dtype: DType::Bfloat8B,
                layout: Layout::RowMajor,
                output_memory: BufferType::L1,
                default_output_memory: false,
                sharding: None,
            })
            .unwrap_err()
            .to_string();
        assert!(err.contains("TILE"), "{err}");
    }
}

#[cfg(test)]
mod dtype_tests {
    use super::*;

    #[test]
    fn dtype_rejections_name_catalog_ops_and_say_what_is_supported() {
        for (name, dtypes, _) in DTYPE_REJECTIONS {
            assert!(find(name).is_ok(), "{name} is not in the catalog");
            assert!(
                !dtypes.contains(&DType::Bfloat16),
                "{name}: bfloat16 runs everywhere"
            );
        }
        let shape = Shape::parse("1,32,64,64").unwrap();
        let params = Params::default();
        let req = |dtype| OpRequest {
            model_inputs: std::slice::from_ref(&shape),
            device_layout: DeviceLayout::AsGiven,
            params: &params,
            dtype,
            layout: Layout::Tile,
            output_memory: BufferType::L1,
            default_output_memory: false,
            sharding: None,
        };
        let silu = find("silu").unwrap();
        let e = silu.signature(&req(DType::Uint32)).unwrap_err().to_string();
        assert!(
            e.contains("silu")
                && e.contains("uint32")
                && e.contains("supported: bfloat16, float32, bfloat8_b, bfloat4_b"),
            "{e}"
        );
        assert!(silu.signature(&req(DType::Float32)).is_ok());
        assert!(find("relu").unwrap().signature(&req(DType::Int32)).is_ok());
    }
}
