//! Where memmodel's answer can be trusted, and where the runtime refuses a call memmodel would
//! otherwise plan. Both are found by the random differential (`cargo xtask diff --random`), which
//! draws cases from each op's whole call space ([`crate::space`]) and compares memmodel and the
//! `sim` backend with the real runtime.
//!
//! - **Refusals** carry the runtime's own words (ttnn 0.81.1): estimate and sim refuse the call
//!   as the runtime does, never "fits". The `metal` backend is not gated: it asks the runtime.
//! - **Unmodeled regions** are parts of the call space where memmodel's plan was seen to differ
//!   from the runtime (a verdict, the failing buffer's numbers, or the per-core CB peak): there
//!   memmodel gives no verdict (`unmodeled`, with the reason) rather than a confident wrong one.
//!   Each region shrinks as its plan is made exact; the differential then shows it.

use crate::case::Case;
use crate::device::BufferType;
use crate::dtype::DType;
use crate::layout::{DeviceLayout, Layout};
use crate::ops::{CaseError, Family, Signature};
use crate::tensor::TensorSpec;

static REGIONS_ENFORCED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Whether the unmodeled regions apply (they do, unless a developer turns them off to see what
/// memmodel's plans would answer there: `cargo xtask diff --ungated`).
pub fn enforce_regions(on: bool) {
    REGIONS_ENFORCED.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// 1-D inputs up to this many elements are planned exactly; longer ones take other paths.
const LONG_1D: u64 = 1024;

fn unmodeled(case: &Case, what: impl Into<String>) -> CaseError {
    CaseError::Unmodeled {
        function: case.op.ttnn_function().to_string(),
        what: format!(
            "{} (memmodel's plan differs from the runtime here; `--backend metal` answers it)",
            what.into()
        ),
    }
}

/// Whether memmodel answers `case` (its signature already built): `Ok`, or `Unmodeled` with the
/// reason.
pub fn check(case: &Case, sig: &Signature) -> Result<(), CaseError> {
    gate(case, sig).map(|_| ())
}

/// [`check`] and [`refusal`] in one pass, for a caller that needs both (sim's case runner):
/// `Ok(Some(refusal))` where the runtime refuses the call (that is the answer, modeled or
/// not), `Ok(None)` where memmodel answers it, `Unmodeled` with the reason where it does not.
pub fn gate(case: &Case, sig: &Signature) -> Result<Option<Refusal>, CaseError> {
    let refused = refusal(case, sig);
    if refused.is_none() && REGIONS_ENFORCED.load(std::sync::atomic::Ordering::Relaxed) {
        regions(case, sig)?;
    }
    Ok(refused)
}

/// The runtime's words when it refuses the call once its inputs exist (ttnn 0.81.1): the inputs
/// are allocated first (and may run out of memory), then the op raises this. `sig` is the
/// case's signature (the caller has it already).
pub fn refusal(case: &Case, sig: &Signature) -> Option<Refusal> {
    let after_outputs = matches!(
        case.op.family,
        Family::Dropout
            | Family::BatchNorm
            | Family::Softmax
    ) && case.layout == Layout::RowMajor
        // The reshape device operation validates its dtype after making its output.
        || matches!(case.op.family, Family::Reshape | Family::Unsqueeze)
        // So does a stack's first unsqueeze (the only refusal a stack has here).
        || case.op.family == Family::Stack
        // Its padding tilize allocates the output before it refuses uint8 (seen on p150: a
        // [8,11728,3150] uint8 one to L1 ran out of L1 at its output first).
        || case.op.family == Family::ToLayout && case.layout == Layout::RowMajor
        // The NLP concat-heads factory converts its dtype once its output exists (its head
        // size is validated before).
        || case.op.family == Family::ConcatenateHeads
            && head_dim(sig).is_some_and(|d| d % crate::tensor::TILE == 0);
    refusals(case, sig).err().map(|reason| Refusal {
        reason,
        after_outputs,
    })
}

/// Whether a reshape (or an unsqueeze, which is `ttnn::reshape` in the input's memory) runs the
/// reshape device operation: the shape changes and it is no view (`this_is_view`: the last dim
/// kept, in the input's memory, ROW_MAJOR or with the tiles' padding unchanged). The same shape
/// into another memory is a `to_memory_config`, unless the tiles pad it: the request's padded
/// shape is its logical one, so the runtime's same-shape shortcut (`same_logical_and_padded`)
/// misses and the device operation copies it (seen on the runtime, mock n150 and p150: uint8 and
/// uint16 [1,3,30,30] between L1 and DRAM refused in the device operation's words).
fn reshape_copies(case: &Case, sig: &Signature) -> bool {
    let (Some(input), Some(output)) = (sig.inputs.first(), sig.outputs.first()) else {
        return false;
    };
    let moved = case.output_memory != case.input_memory;
    matches!(case.op.family, Family::Reshape | Family::Unsqueeze)
        && if input.shape == output.shape {
            moved
                && case.layout == Layout::Tile
                && TensorSpec::new(input.shape.clone(), case.dtype, Layout::Tile).padded_dims()
                    != input.shape.dims()
        } else {
            moved || !crate::ops::reshape_is_view(&input.shape, &output.shape, case.layout)
        }
}

/// A uint16 / uint8 reshape or unsqueeze that runs the reshape device operation: it refuses the
/// dtype once it has allocated its output (seen on the runtime, mock n150: [1,3,32,32] uint16
/// TILE to [3,32,8,4]; ROW_MAJOR ones alike).
fn reshape_refused(case: &Case, sig: &Signature) -> bool {
    matches!(case.dtype, DType::Uint16 | DType::Uint8)
        && case.sharding.is_none()
        && reshape_copies(case, sig)
}

/// The outputs a refused call allocates before it raises (where [`Refusal::after_outputs`]),
/// with their layout and memory: the reshape device operation's one output in the input's
/// layout (the signature of a view-shaped one holds no new output), a stack's first unsqueezed
/// input in the input's memory, else the signature's new outputs as TILE (softmax, batch_norm
/// and dropout make TILE outputs whatever the input's layout).
pub fn refused_outputs(case: &Case, sig: &Signature) -> RefusedOutputs {
    if let Some((step, step_sig)) = stack_refused_unsqueeze(case, sig) {
        return RefusedOutputs {
            layout: case.layout,
            outputs: step_sig.outputs.into_iter().take(1).collect(),
            in_input_memory: step.output_memory == case.input_memory,
        };
    }
    if reshape_copies(case, sig) {
        return RefusedOutputs {
            layout: case.layout,
            outputs: sig.outputs.iter().take(1).cloned().collect(),
            in_input_memory: false,
        };
    }
    RefusedOutputs {
        layout: Layout::Tile,
        outputs: sig
            .outputs
            .iter()
            .filter(|o| o.storage == crate::ops::OutputStorage::New)
            .cloned()
            .collect(),
        in_input_memory: false,
    }
}

/// What [`refused_outputs`] answers.
#[derive(Debug, Clone, PartialEq)]
pub struct RefusedOutputs {
    /// The outputs' page layout.
    pub layout: Layout,
    pub outputs: Vec<crate::ops::OutputSpec>,
    /// Allocated in the inputs' memory config (a stack's unsqueeze), not the output's.
    pub in_input_memory: bool,
}

/// The dtypes `AddmmOperation::validate` accepts.
fn addmm_dtype(dtype: DType) -> bool {
    matches!(dtype, DType::Bfloat16 | DType::Float32 | DType::Bfloat8B)
}

/// A call the runtime refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The runtime's words.
    pub reason: String,
    /// Whether the op allocates its outputs before it raises (seen on the runtime: ROW_MAJOR
    /// softmax / batch_norm / dropout run out of L1 at their output first when it does not
    /// fit; ROW_MAJOR matmuls too, exec/matmul.rs refuses those).
    pub after_outputs: bool,
}

/// Rank of the call's first (device) input.
fn input_rank(sig: &Signature) -> usize {
    sig.inputs.first().map_or(0, |i| i.shape.rank())
}

fn refusals(case: &Case, sig: &Signature) -> Result<(), String> {
    let rm = case.layout == Layout::RowMajor;
    match case.op.family {
        // `AddmmOperation::invoke` checks alpha before anything else (seen on the runtime, random
        // differential seed 1211142 p150: a uint8 addmm with alpha 0 raised this, not its dtype).
        Family::Addmm if case.params.float_or(case.op.name, "alpha", 1.0) == Ok(0.0) => {
            return Err(String::from("alpha parameter cannot be 0"))
        }
        Family::Addmm if !addmm_dtype(case.dtype) => {
            return Err(String::from(
                "only ttnn.bfloat16, ttnn.float32 and ttnn.bfloat8_b types are supported for input_tensor",
            ))
        }
        Family::Dropout if rm && case.sharding.is_none() => {
            return Err(String::from("Dropout operation requires tensor to be in Tile layout when working with non-sharded input tensor. Input tensor layout: 0"))
        }
        Family::BatchNorm if rm => return Err(String::from("Input tensor must be must be tilized")),
        // The padding tilize (tilize_with_val_padding) refuses uint8; tile-aligned uint8
        // tensors tilize (seen on the runtime: [7,385,3587] refused, [2,448,768] runs).
        Family::ToLayout
            if rm
                && case.dtype == DType::Uint8
                && case.params.str_or(case.op.name, "layout", "tile") == Ok("tile")
                && sig.inputs.first().is_some_and(|i| {
                    TensorSpec::new(i.shape.clone(), case.dtype, Layout::Tile)
                        .padded_dims()
                        .as_slice()
                        != i.shape.dims()
                }) =>
        {
            return Err(String::from(
                "Can only tilize bfloat16/float32 or int32/uint32/uint16 or fp8_e4m3 tensors",
            ))
        }
        Family::ConcatenateHeads if head_dim(sig).is_some_and(|d| d % crate::tensor::TILE != 0) => {
            return Err(crate::exec::concat_heads_head_size(head_dim(sig).unwrap_or(0)));
        }
        // `datatype_to_dataformat_converter` in NLPConcatHeadsProgramFactory (seen on the
        // runtime, seed 33105: uint8, uint16, uint32, int32 and bfloat4_b).
        Family::ConcatenateHeads
            if !matches!(
                case.dtype,
                DType::Bfloat16 | DType::Float32 | DType::Bfloat8B
            ) =>
        {
            return Err(String::from("Unsupported data format"))
        }
        // Untilizing on device keeps the dtype, but for bfloat8_b → bfloat16.
        Family::ToLayout => {
            let p = &case.params;
            let to_row_major = p.str_or(case.op.name, "layout", "row_major") == Ok("row_major");
            let dtype = p
                .str_or(case.op.name, "dtype", case.dtype.ttnn_name())
                .ok()
                .and_then(|d| d.parse::<DType>().ok());
            let untilize_cast = case.dtype == DType::Bfloat8B && dtype == Some(DType::Bfloat16);
            if case.layout == Layout::Tile
                && to_row_major
                && dtype.is_some_and(|d| d != case.dtype)
                && !untilize_cast
            {
                return Err(String::from("dtype cannot be different from tensor dtype when converting to ROW_MAJOR_LAYOUT on device (allowed exception: BFLOAT8_B -> BFLOAT16, which untilize handles natively)!"));
            }
            // bfloat4_b has no native untilize: its ROW_MAJOR output spec is refused (seen on
            // the runtime, tensor_spec.cpp, for every shape).
            if case.layout == Layout::Tile && to_row_major && case.dtype == DType::Bfloat4B {
                return Err(String::from(
                    "Only TILE layout is supported for BFLOAT8_B dtype!",
                ));
            }
        }
        Family::Reshape | Family::Unsqueeze if reshape_refused(case, sig) => {
            return Err(String::from(crate::exec::RESHAPE_DTYPE_REFUSAL))
        }
        // Its first unsqueeze, a copying uint8 / uint16 reshape, refuses in those words (seen
        // on the runtime, mock n150: [4,35738,118] uint16 TILE stacked along dim 3).
        Family::Stack if stack_refused_unsqueeze(case, sig).is_some() => {
            return Err(String::from(crate::exec::RESHAPE_DTYPE_REFUSAL))
        }
        // `softmax()` formats (tilizes) its input only when the dim, taken on the 4-D view,
        // equals rank - 1 (rank 4 over the last dim, rank 3 over the second-to-last); every
        // other ROW_MAJOR softmax reaches `SoftmaxDeviceOperation::validate` as it is (seen on
        // the runtime; exec/reduction.rs).
        Family::Softmax
            if rm
                && input_rank(sig) <= 4
                && !case.params.int_or(case.op.name, "dim", -1).is_ok_and(|d| {
                    let rank = input_rank(sig) as i64;
                    let dim_4d = if d < 0 { d + 4 } else { d + 4 - rank };
                    dim_4d == rank - 1
                }) =>
        {
            return Err(String::from("Inputs to softmax must be tilized"))
        }
        Family::MaxPool2d => {
            let p = &case.params;
            let name = case.op.name;
            let (Ok(kernel), Ok(padding)) = (
                p.pair_or(name, "kernel_size", [2, 2]),
                p.pair_or(name, "padding", [0, 0]),
            ) else {
                return Ok(());
            };
            // A bfloat4_b DRAM pool too large for L1 is run in slices, each first copied out as
            // a row-major slice of the input's dtype: bfloat4_b has none, and the runtime says
            // so (in bfloat8_b's words) before the pool validates its padding; pooled whole, its
            // padding is refused. exec/pool.rs decides which (its slice count takes ceil_mode).
            if case.dtype == DType::Bfloat4B && case.input_memory == BufferType::Dram {
                return Ok(());
            }
            if (0..2).any(|i| 2 * padding[i] > kernel[i]) {
                // A DRAM pool in slices first reshapes a flat input to [N, H, W, C]: for a
                // uint8 / uint16 TILE one a copy where the tiles' padding changes, refused in
                // the reshape's words before the pool sees its padding (seen on n150:
                // nhwc-flat [1,1,182,3140] and [1,64,600,600] in DRAM, kernel 3 padding 2, and
                // seed 1211021; p150 pools both whole and refuses the padding, as both boards
                // do for 4-D inputs, ROW_MAJOR ones and flat ones whose reshape is a view).
                // Near the slicing margin which comes first is not modeled: the dtype's
                // region answers `unmodeled` there. So does a ROW_MAJOR DRAM one, whose
                // slicing is not modeled (seen on n150: uint8 [1,323,3,8517] nhwc-flat and
                // [4,520,3,1364] refused "Output row size 328 (520) must be aligned to the
                // destination buffer BufferType::L1 alignment 16" first, seed 1207921).
                if matches!(case.dtype, DType::Uint8 | DType::Uint16)
                    && case.input_memory == BufferType::Dram
                {
                    if case.layout == Layout::RowMajor {
                        return Ok(());
                    }
                    match max_pool_dram_sliced(case, kernel, padding) {
                        None => return Ok(()),
                        Some(true) if flat_tile_input_copied_to_4d(case, sig) => {
                            return Err(String::from(crate::exec::RESHAPE_DTYPE_REFUSAL))
                        }
                        Some(_) => {}
                    }
                }
                // A float32 DRAM pool with a stride of 1 in slices may clash in its first
                // slice's halo before the pool checks the padding (seen on p150:
                // [4,1024,5,1472] kernel 1x1 padding 2, random differential seed 1207512);
                // exec/pool.rs answers such slices `unmodeled`.
                if case.dtype == DType::Float32
                    && case.input_memory == BufferType::Dram
                    && p.pair_or(name, "stride", kernel).map_or(true, |s| s.contains(&1))
                    && max_pool_dram_sliced(case, kernel, padding) != Some(false)
                {
                    return Ok(());
                }
                // Its text prints the padding as (top, bottom, left).
                return Err(crate::exec::padding_refusal(
                    [padding[0], padding[0], padding[1]],
                    kernel,
                ));
            }
        }
        _ => {}
    }
    Ok(())
}

/// Whether a max_pool2d's device input is flat ([1, 1, N·H·W, C]) and TILE, and its reshape to
/// [N, H, W, C] (what the DRAM slicing starts with) changes the tiles' padding: a copy.
fn flat_tile_input_copied_to_4d(case: &Case, sig: &Signature) -> bool {
    let (Some(input), Some(&[n, c, h, w])) = (
        sig.inputs.first(),
        case.model_inputs.first().map(|s| s.dims()),
    ) else {
        return false;
    };
    let Ok(nhwc) = crate::shape::Shape::from_dims(vec![n, h, w, c]) else {
        return false;
    };
    case.layout == Layout::Tile
        && input.shape != nhwc
        && !crate::exec::reshape_is_view(&input.shape, &nhwc, Layout::Tile)
}

/// Whether the runtime pools this max_pool2d case's DRAM input in slices (exec/pool.rs decides;
/// `None` where its parameters do not make a window).
fn max_pool_dram_sliced(case: &Case, kernel: [i64; 2], padding: [i64; 2]) -> Option<bool> {
    let p = &case.params;
    let name = case.op.name;
    let stride = p.pair_or(name, "stride", kernel).ok()?;
    let dilation = p.pair_or(name, "dilation", [1, 1]).ok()?;
    let &[n, c, h, w] = case.model_inputs.first()?.dims() else {
        return None;
    };
    let unsigned = |v: [i64; 2]| -> Option<[u64; 2]> {
        Some([u64::try_from(v[0]).ok()?, u64::try_from(v[1]).ok()?])
    };
    crate::exec::dram_pool_is_sliced(
        case.device,
        [n, h, w, c],
        unsigned(kernel)?,
        unsigned(stride)?,
        unsigned(padding)?,
        unsigned(dilation)?,
        case.layout,
        case.dtype == DType::Float32,
    )
}

/// A bfloat4_b DRAM max_pool2d with ceil_mode and a padding over half its kernel: the runtime's
/// slice estimate for such a window reads past its op trace (a Python capture of p150 NHWC
/// [1,291,2,8337] dilation [1,2] padding [2,0] ceil_mode crashed in
/// `generate_op_trace_metadata` under `calculate_L1_usage_for_pool2d_slice`), and it sliced
/// pools memmodel's estimate runs whole (random differential seed 1260202, p150: that case and
/// nhwc-flat [1,1024,2,4896] kernel 1x1 padding [2,0] refused for the dtype, not the padding).
fn bfloat4_b_pool_slicing_unpinned(case: &Case) -> bool {
    if case.op.family != Family::MaxPool2d
        || case.dtype != DType::Bfloat4B
        || case.input_memory != BufferType::Dram
    {
        return false;
    }
    let (p, name) = (&case.params, case.op.name);
    let (Ok(kernel), Ok(padding), Ok(ceil_mode)) = (
        p.pair_or(name, "kernel_size", [2, 2]),
        p.pair_or(name, "padding", [0, 0]),
        p.bool_or(name, "ceil_mode", false),
    ) else {
        return true;
    };
    ceil_mode && (0..2).any(|i| 2 * padding[i] > kernel[i])
}

/// Why a ROW_MAJOR call of `family` has no plan: what the runtime runs there, where a capture
/// showed it (n150, ttnn 0.81.1).
fn row_major_unplanned(family: Family) -> &'static str {
    match family {
        // Interleaved ones are planned (exec/reduction.rs).
        Family::Mean => "a ROW_MAJOR mean of a sharded input (not checked)",
        Family::VectorNorm => "a ROW_MAJOR vector norm of a sharded input (not checked)",
        Family::Split => "a ROW_MAJOR split of a sharded input (its SliceRm programs read the shards; not checked)",
        _ => "ROW_MAJOR pages for this op",
    }
}

/// The data-movement calls whose ROW_MAJOR plans the random differential found exact (both
/// boards, every dtype and memory the call space draws).
fn data_movement_row_major_modeled(case: &Case) -> bool {
    match case.op.family {
        // Rows of the input's aligned width, double-buffered (copy chunks rows that reach the
        // L1 bank).
        Family::Clone | Family::Copy => case.sharding.is_none(),
        // The permute device operation: rows kept whole when the last dim stays, else
        // 32 × 32 blocks.
        Family::Transpose | Family::Permute => case.sharding.is_none(),
        Family::Split => row_major_split(case),
        Family::Concat => row_major_concat(case),
        // `ttnn.reshape` to the new shape: a view, or the ROW_MAJOR reshape factory at every
        // row width (random differential, seeds 71101-71109 and 71111-71123, both boards, every
        // dtype: 5,600 cases, 5,545 modeled, 0 mismatches).
        Family::Unsqueeze => case.sharding.is_none(),
        Family::Expand => row_major_expand(case),
        // One program at the dtype's page sizes, the output ROW_MAJOR (bfloat16 for bfloat8_b):
        // exact on every dtype drawn, both layouts (TILE ungated: seeds 91671 n150, 91672
        // p150; all layouts: 91681 n150, 91682 p150).
        Family::Upsample => true,
        _ => false,
    }
}

/// An interleaved ROW_MAJOR mean or vector norm: exec/reduction.rs plans the reduces on the
/// ROW_MAJOR pages (and the permutes around them), and the tilize the runtime makes first for
/// the last two dims together and for a bfloat16 sum's outer dims. The mean was exact in the
/// random differential (`--layout row_major`, seeds 61041 n150 and 61042 p150: 299 modeled
/// cases, 0 mismatches; float32: 61043-61044).
fn row_major_reduction(case: &Case) -> bool {
    matches!(case.op.family, Family::Mean | Family::VectorNorm)
        && case.layout == Layout::RowMajor
        && case.sharding.is_none()
}

/// A ROW_MAJOR max_pool2d of an interleaved input: exec/pool.rs reshards whole rows in 8-channel
/// sticks (16 channels a core when width-sharded), runs the halo without its untilize and the
/// Pool2D on those sticks; a DRAM input near the runtime's slicing stays `unmodeled` there.
/// Exact in the random differential where modeled (`--layout row_major`, seeds 1211012 n150:
/// 146 modeled of 300, 1211013 p150: 167 of 300, 0 mismatches); exec/pool.rs answers
/// `unmodeled` for the shard choices it has not pinned.
fn row_major_max_pool(case: &Case) -> bool {
    case.op.family == Family::MaxPool2d
        && case.layout == Layout::RowMajor
        && case.sharding.is_none()
}

/// A bfloat8_b max_pool2d (TILE): exec/pool.rs reshards its own tiles and pools the halo's
/// bfloat16 sticks as for a bfloat16 input, DRAM slices included (PaddedSlice reads the input's
/// own tiles). Exact in the random differential where modeled (`--dtype bfloat8_b`, seeds
/// 1207331 n150: 131 modeled of 150, 1207332 p150: 135 of 150; `--memory dram`, seeds 1207334
/// n150: 125 of 150, 1207335 p150: 132 of 150; 0 verdict / per-bank / CB-peak mismatches).
/// A bfloat4_b one likewise (its own tiles resharded, bfloat16 from the halo on).
fn bfloat8_b_max_pool(case: &Case) -> bool {
    case.op.family == Family::MaxPool2d && matches!(case.dtype, DType::Bfloat8B | DType::Bfloat4B)
}

/// An integer max_pool2d. uint16: exec/pool.rs reshards and halos it as a bfloat16 one, then
/// Pool2D refuses it. uint8, uint32 and int32 are resharded in their own tiles or sticks and
/// pooled as bfloat16 (a ROW_MAJOR uint8 one refused by the halo's input CB, or in DRAM slices
/// by PaddedSlice where its sticks are not whole L1 words). A uint8 / uint16 padding over half
/// the kernel is refused (`refusals`: by the padding, or by the DRAM slicing's reshape first;
/// near the slicing margin exec/pool.rs decides, its slice count now the runtime's estimate):
/// ungated draws with such a padding, seeds 1260521 n150 (kernel 2x2 padding 2) and 1260522
/// p150 (3x3, [2, 1]), 392 modeled, 0 mismatches.
fn integer_max_pool(case: &Case) -> bool {
    case.op.family == Family::MaxPool2d
        && matches!(
            case.dtype,
            DType::Uint32 | DType::Int32 | DType::Uint16 | DType::Uint8
        )
}

/// An interleaved ROW_MAJOR expand: the RepeatCodegen program on the rows as they are (or
/// RepeatProgramFactoryLastDim where codegen declines a last-dim repeat), every dtype.
fn row_major_expand(case: &Case) -> bool {
    case.op.family == Family::Expand && case.layout == Layout::RowMajor && case.sharding.is_none()
}

/// An interleaved expand of either layout (exec/data_movement/expand.rs `expand`).
fn interleaved_expand(case: &Case) -> bool {
    case.op.family == Family::Expand && case.sharding.is_none()
}

/// An interleaved ROW_MAJOR concat: rows staged one or two at a time, unaligned last dims
/// between two WH transposes, exact for every dtype, dim, length and row width the differential
/// drew (its refusal of a row larger than L1 included).
fn row_major_concat(case: &Case) -> bool {
    case.op.family == Family::Concat
        && case.layout == Layout::RowMajor
        && case.sharding.is_none()
        && !case.dtype.is_block_float()
}

/// A ROW_MAJOR split of an interleaved input: one SliceRm program per piece (rows chunked where
/// two do not fit the free L1), more than 64 equal pieces sliced from windows of 64, an L1 input
/// moved to DRAM first when more than two pieces go there — exact for every size, dim, dtype and
/// memory the differential drew (seeds 60344-60345, both boards). Sharded inputs are not checked.
fn row_major_split(case: &Case) -> bool {
    case.op.family == Family::Split && case.layout == Layout::RowMajor && case.sharding.is_none()
}

/// A one-piece split of an interleaved TILE tensor: the input handed back, copied into another
/// memory, or (a last-dim piece the split kernel takes) copied by it — exact for every dtype the
/// differential drew, bfloat4_b too (`--ungated --dtype bfloat4_b --param chunks=1`, seeds
/// 1250043 n150 and 1250044 p150: 100 cases, 0 mismatches).
fn tile_split_one_piece(case: &Case, sig: &Signature) -> bool {
    case.op.family == Family::Split
        && case.layout == Layout::Tile
        && case.sharding.is_none()
        && sig.outputs.len() == 1
}

/// The data-movement calls the random differential found exact for block-float and integer
/// dtypes too (their plans scale with the dtype's tile or element bytes).
fn data_movement_dtype_modeled(case: &Case, sig: &Signature) -> bool {
    match case.op.family {
        Family::Copy => true,
        // The ROW_MAJOR permute device operation (integers; block floats are not drawn
        // ROW_MAJOR); TILE: the factories at the dtype's tile size, bfloat8_b through a
        // bfloat16 copy, bfloat4_b on its own tiles with its 1 B `element_size` in the face-line
        // buffers (random bfloat4_b transpose/permute/unsqueeze, seed 1211105 on n150 and p150).
        Family::Transpose | Family::Permute => match case.layout {
            Layout::RowMajor => !case.dtype.is_block_float(),
            Layout::Tile => true,
        },
        Family::Split => {
            row_major_split(case)
                || block_float_tile_split(case, sig)
                || wide_tile_split(case)
                || bfloat4_b_tile_split(case, sig)
        }
        // Views, the tiled reshape at the dtype's tile size (block floats through a bfloat16
        // copy), and the runtime's refusal of copying uint16 / uint8 reshapes.
        Family::Reshape => true,
        Family::Concat => row_major_concat(case) || tile_concat(case),
        // Views of every dtype; 32-bit integer tiles copy as bfloat16 ones do; the runtime's
        // copying reshape refuses uint8 / uint16 ([`reshape_refused`]). bfloat8_b copies
        // through bfloat16, exact since its untilize writes bfloat16 (random differential
        // ungated, seeds 41051 n150 and 41052 p150: 358 modeled cases, 0 mismatches), and
        // bfloat4_b alike (seed 1211105 on n150 and p150).
        Family::Unsqueeze => true,
        // Repeats at the dtype's page sizes; a block float's TILE round trip through bfloat16
        // rows (RepeatProgramFactoryLastDim), its outer-dim repeats on its own tiles. The
        // tilize back of a 4-byte or uint8 round trip caps its blocks by the L1 below the
        // lowest buffer (the freed untilized rows leave a hole above it) and takes the block
        // factory for uint8 on Blackhole: random differential ungated, seeds 1207911-1207916
        // and 1207921-1207924 (float32 / int32 / uint32, L1 pinned along each of the last two
        // dims), 1207931-1207932 (uint8), both boards, 0 mismatches.
        Family::Expand => interleaved_expand(case),
        // One program at the dtype's page sizes, the output ROW_MAJOR (bfloat16 for bfloat8_b):
        // exact on every dtype drawn, both layouts (TILE ungated: seeds 91671 n150, 91672
        // p150; all layouts: 91681 n150, 91682 p150).
        Family::Upsample => true,
        _ => false,
    }
}

/// An interleaved TILE concat of any dtype: tiles copied as they are (along a last dim whose
/// tile rows miss the buffer's alignment in a block float's one-byte elements, between two WH
/// transposes), band by band (bfloat16 / float32 along a last dim the tiles pad), or untilized
/// (block floats to bfloat16), concatenated ROW_MAJOR — in chunks of rows where the transposed
/// rows would exceed L1 — and tilized back (uint8 refused there; bfloat4_b refused at its
/// untilize). Exact in the random differential (ungated: seeds 1207301-1207308 and
/// 1207311-1207314; gated: 1207321-1207326 and 1207331-1207334 with stack; both boards, every
/// dtype; long 1-D inputs through L1 and 1-D bfloat8_b / uint8 ones on p150, whose massaged
/// concat transposes some 1-D rows and fails, since: seeds 1207901-1207915, `--ungated` and
/// gated, both boards).
fn tile_concat(case: &Case) -> bool {
    case.op.family == Family::Concat && case.layout == Layout::Tile && case.sharding.is_none()
}

/// A bfloat8_b split of an interleaved TILE tensor: the two-chunk kernel, tile slices, and the
/// untilize (to bfloat16) / slice / tilize of an unaligned piece, which leaves that piece
/// bfloat16 as the runtime does — exact for every size, dim and memory the differential drew
/// (seeds 41001-41002, 41011-41014, both boards; into and out of L1 since the round trips
/// follow the program cache and the call's L1 layout: 1207341 `--ungated` and 1207352, both
/// boards). More than 64 equal pieces, sliced from windows of 64 as for bfloat16, too: into
/// DRAM (random differential `--ungated` with split_size=1, seeds 1207761 n150 and 1207762
/// p150), into L1 since a later window's slices run the first window's cached buffers (p150
/// [992,3456] from L1 by 1 along dim -2 clashes on core (0,0) as the runtime does; seed
/// 2207041 `--ungated --memory l1 --param split_size=1`, both boards). More than 64 unequal
/// pieces are not checked.
fn block_float_tile_split(case: &Case, sig: &Signature) -> bool {
    if case.op.family != Family::Split
        || case.layout != Layout::Tile
        || case.dtype != DType::Bfloat8B
        || case.sharding.is_some()
        || (sig.outputs.len() > 64 && !many_equal_pieces(case, sig))
    {
        return false;
    }
    tile_split_pieces_modeled(case, sig)
}

/// Whether a split's pieces are equal along its dim but for a shorter last one (a split_size
/// split: the runtime slices more than 64 of them from windows of 64). `false` where the dim is
/// not an integer.
fn many_equal_pieces(case: &Case, sig: &Signature) -> bool {
    let rank = input_rank(sig) as i64;
    let Ok(d) = case.params.int_or(case.op.name, "dim", -1) else {
        return false;
    };
    let at = if d < 0 { d + rank } else { d };
    let Ok(at) = usize::try_from(at) else {
        return false;
    };
    let extents: Vec<u64> = sig
        .outputs
        .iter()
        .map(|o| o.shape.dims().get(at).copied().unwrap_or(0))
        .collect();
    match extents.split_last() {
        Some((last, rest)) => {
            rest.iter().all(|&e| Some(&e) == rest.first()) && rest.first().is_none_or(|f| last <= f)
        }
        None => false,
    }
}

/// A TILE split whose pieces start on a tile or take the untilize / slice / tilize round trip,
/// into or out of L1 as well: the round trips run the programs the runtime's program cache
/// holds, on the L1 the call's layout leaves free, and the block factories' orphan cliff
/// column is refused in the runtime's words (exec/data_movement/slice.rs and tilize.rs; random differential
/// `--ungated`, seeds 1207321 `--memory l1` and 1207331 the whole split space, both boards: 0
/// mismatches but one [6,10,64,6880] p150 block choice, now `unmodeled` by the plan). `false`
/// where the dim is not an integer.
fn tile_split_pieces_modeled(case: &Case, sig: &Signature) -> bool {
    split_unaligned_pieces(case, sig).is_some()
}

/// A float32, int32, uint32, uint16 or uint8 split of an interleaved TILE tensor: the same
/// programs as bfloat16's at the dtype's tile and row sizes, exact under the split regions
/// (random differential, seeds 60361 `--ungated`, 60364 n150, 60365 p150). A uint8 round trip's
/// tilize refuses the dtype ("Can only tilize bfloat16/float32 or int32/uint32/uint16 or
/// fp8_e4m3 tensors") after its untilize and slice, as the plan does (seeds 91693 n150, 91694
/// p150 ungated); its round trips through L1 stay gated (the `Family::Split` region).
fn wide_tile_split(case: &Case) -> bool {
    case.op.family == Family::Split
        && case.layout == Layout::Tile
        && case.sharding.is_none()
        && matches!(
            case.dtype,
            DType::Float32 | DType::Int32 | DType::Uint32 | DType::Uint16 | DType::Uint8
        )
}

/// A bfloat4_b split of an interleaved TILE tensor: tile slices, and the first piece starting
/// inside a tile refused by its untilize before anything of it exists ("Only TILE layout is
/// supported for BFLOAT8_B dtype!"; seeds 91693 n150, 91694 p150 ungated), so the round trip's
/// L1 buffer choices never come into play. More than 64 equal pieces are sliced from windows of
/// 64 as bfloat8_b's are (`--ungated --dtype bfloat4_b --param split_size=1`, seeds 1250043
/// n150 and 1250044 p150: 100 cases, 79 refusals, 0 mismatches); more than 64 unequal ones are
/// not checked.
fn bfloat4_b_tile_split(case: &Case, sig: &Signature) -> bool {
    case.op.family == Family::Split
        && case.layout == Layout::Tile
        && case.dtype == DType::Bfloat4B
        && case.sharding.is_none()
        && (sig.outputs.len() <= 64 || many_equal_pieces(case, sig))
        && split_unaligned_pieces(case, sig).is_some()
}

/// How many pieces of a TILE split start inside a tile of a tiled dim (the last two): those
/// take the runtime's untilize / slice / tilize; the others are tile slices. `None` where the
/// dim is not an integer.
fn split_unaligned_pieces(case: &Case, sig: &Signature) -> Option<usize> {
    let rank = input_rank(sig);
    let d = case.params.int_or(case.op.name, "dim", -1).ok()?;
    let at = if d < 0 { d + rank as i64 } else { d };
    let tiled = rank >= 2 && at >= rank as i64 - 2;
    let mut begin = 0u64;
    let mut unaligned = 0usize;
    for o in &sig.outputs {
        if tiled && !begin.is_multiple_of(crate::tensor::TILE) {
            unaligned += 1;
        }
        begin = begin.saturating_add(o.shape.dims().get(at as usize).copied().unwrap_or(0));
    }
    Some(unaligned)
}

/// The compute ops whose plans follow bfloat8_b / bfloat4_b (checked by the random
/// differential on both boards).
fn compute_block_float(family: Family) -> bool {
    matches!(
        family,
        Family::Matmul { .. }
            | Family::Linear
            | Family::Addmm
            | Family::Softmax
            | Family::TopK
            | Family::Mean
            | Family::VectorNorm
    )
}

/// The conv2d calls whose plan the random differential has not shown exact: none of those
/// exec/conv.rs plans (seeds 12003-12011, both boards) nor of the 1×1 matmul path of an
/// interleaved input exec/conv_matmul.rs plans (seeds 41004-41007, both boards); they answer
/// `unmodeled` themselves, with the reason, for the calls they do not plan (a sharded input,
/// ...). DRAM slicing (exec/conv_slice.rs) of a DRAM input without slice_config is exact in
/// the random differential: ROW_MAJOR inputs (`--memory dram --layout row_major`: seeds 42003
/// n150, 42004 p150), TILE inputs since the sliced inputs' sizes, the split reader's cost model,
/// the first slice's scheme for all slices and the auto-shard estimate's halo are planned
/// (`--memory dram --layout tile --param groups=1 --tile-aligned`: seeds 60104 p150, 200 draws,
/// 190 modeled; 60105 n150, 150 draws, 91 modeled; 0 verdict / per-bank / CB-peak mismatches;
/// the oom suite's estimate test on the matrix's DRAM TILE convs: every buffer).
/// DRAM_HEIGHT / DRAM_WIDTH with the count left to the runtime (`num_slices` 0) is the same
/// count search on the axis told: `--memory dram --param slice=dram_height --param
/// num_slices=0 --ungated`, seed 1207921 (n150, 80 draws, 41 modeled: one verdict off, the
/// slices' forced `reallocate_halo_output`, fixed) and `slice=dram_width`, seed 1207922 (p150,
/// 80 draws, 72 modeled, 0 mismatches). No gate is left here.
fn conv2d_region(_case: &Case) -> Result<(), CaseError> {
    Ok(())
}

/// A stack is what memmodel and the runtime both run for it: an unsqueeze of each input at the
/// new dim, then one concat of those along it ([`crate::ops`] spells the calls out). It is
/// modeled where both of those calls are: their own regions, on the unsqueeze's and the
/// concat's calls. Long 1-D inputs are no region of their own: stacked along dim 1 their
/// `[N, 1]` views make the concat's transposed row N elements long, and where that exceeds a
/// core's L1 the runtime chunks the rows (concat.cpp, issue 43371), which the concat itself
/// gates; along dim 0 their `[1, N]` rows are the concat's wide-row region (seeds 73111 p150
/// `--ungated`, 73121 n150, 73122 p150: no mismatch on what is modeled). A TILE stack along the last two
/// dims copies each input into the new tile padding (the unsqueezes' tiled reshapes share one
/// page map, held by the cached program to the call's end; `--layout tile` seeds 71201 n150 /
/// 71202 p150: 315 modeled cases, 0 mismatches; `--param dim=-2` 71212 p150: 14 modeled, 0).
/// (Earlier random differential: `--ungated`,
/// seed 61012, both boards, the 3 cases that differed were bfloat4_b and uint8 TILE stacks,
/// whose concat stays gated; then `--layout row_major` seeds 61021 n150 / 61022 p150 and
/// `--dtype bfloat8_b` 61023 n150 / 61024 p150: 316 modeled cases, 0 mismatches but one long
/// 1-D stack, gated again; every dtype, 61025 n150: one TILE stack along its last dim differed in
/// DRAM allocated at its OOM, gated again).
fn stack_region(case: &Case, sig: &Signature) -> Result<(), CaseError> {
    let Some(steps) = stack_steps(case, sig)? else {
        return Ok(());
    };
    for c in &steps {
        let step_sig = c.signature()?;
        match regions(c, &step_sig) {
            Err(CaseError::Unmodeled { function, what }) => {
                return Err(CaseError::Unmodeled {
                    function: case.op.ttnn_function().to_string(),
                    what: format!("its {function}: {what}"),
                })
            }
            other => other?,
        }
    }
    Ok(())
}

/// The two calls a stack makes: the unsqueeze of an input at the new dim (a view or a copy in
/// the input's memory) and the concat of those along it (`None` for a signature without them).
fn stack_steps(case: &Case, sig: &Signature) -> Result<Option<[Case; 2]>, CaseError> {
    let (Some(input), Some(output)) = (sig.inputs.first(), sig.outputs.first()) else {
        return Ok(None);
    };
    let out_rank = output.shape.rank() as i64;
    let d = case.params.int_or(case.op.name, "dim", 0)?;
    let at = if d < 0 { d + out_rank } else { d };
    let mut unsqueezed = input.shape.dims().to_vec();
    unsqueezed.insert(usize::try_from(at).unwrap_or(0).min(unsqueezed.len()), 1);
    let unsqueezed = crate::shape::Shape::from_dims(unsqueezed)?;
    let step = |op: &str, shape: crate::shape::Shape, params: &[(&str, i64)], output_memory| {
        let mut c = case.clone();
        c.op = crate::ops::find(op).expect("unsqueeze and concat are ops");
        c.model_inputs = vec![shape];
        c.device_layout = DeviceLayout::AsGiven;
        c.output_memory = output_memory;
        c.params = crate::params::Params::default();
        for &(k, v) in params {
            c.params.set(k, crate::params::ParamValue::Int(v));
        }
        c
    };
    let inputs = sig.inputs.len() as i64;
    Ok(Some([
        // The unsqueeze is a view (or a copy) in the input's memory.
        step(
            "unsqueeze",
            input.shape.clone(),
            &[("dim", at)],
            case.input_memory,
        ),
        step(
            "concat",
            unsqueezed,
            &[("dim", at), ("inputs", inputs)],
            case.output_memory,
        ),
    ]))
}

/// A stack whose first unsqueeze is a copying uint8 / uint16 reshape: `ttnn::stack` unsqueezes
/// its inputs one by one, and the first one's reshape device operation makes its output (the
/// unsqueezed input, in the input's memory) and refuses the dtype ([`reshape_refused`]); the
/// step's case and signature.
fn stack_refused_unsqueeze(case: &Case, sig: &Signature) -> Option<(Case, Signature)> {
    if case.op.family != Family::Stack {
        return None;
    }
    let [unsqueeze, _] = stack_steps(case, sig).ok()??;
    let step_sig = unsqueeze.signature().ok()?;
    reshape_refused(&unsqueeze, &step_sig).then_some((unsqueeze, step_sig))
}

fn regions(case: &Case, sig: &Signature) -> Result<(), CaseError> {
    let family = case.op.family;
    if family == Family::Conv2d {
        // exec/conv.rs plans part of the op and answers `unmodeled` for the rest; its settings
        // are planned once a random differential with them pinned showed them exact: dtype,
        // weights_dtype, activation, shard_layout, act_block_h, the two double buffers,
        // reshard_if_not_optimal (seeds 31103 n150, 31104 p150; the others in docs/conv2d.md),
        // `reallocate_halo_output=false` (31108, 41311 n150, 31109, 41312 p150),
        // `deallocate_activation` (61011, 61013 n150, 61012 p150), `slice_config` L1_FULL
        // (the L1 path, `determine_conv2d_execution_path`, a DRAM input resharded into L1 as an
        // L1 one is: 32001-32004, 32010-32012) and DRAM_HEIGHT / DRAM_WIDTH with a fixed
        // `num_slices` (exec/conv_slice.rs: 42009 n150, 42010 p150).
        return conv2d_region(case);
    }
    if tile_split_one_piece(case, sig)
        || block_float_tile_split(case, sig)
        || bfloat4_b_tile_split(case, sig)
    {
        return Ok(());
    }
    if matches!(family, Family::ToMemoryConfig | Family::ToLayout) {
        // Exact in the random differential (seeds 33002-33032, both boards, every dtype,
        // layout and interleaved memory drawn) but where the interpreter answers `unmodeled`
        // itself, once the inputs exist (exec/data_movement/).
        return Ok(());
    }
    if family == Family::ConcatenateHeads {
        // Exact in the random differential (seeds 33109-33110, both boards); the interpreter
        // answers `unmodeled` itself where it is not (exec/attention.rs).
        return Ok(());
    }
    if family == Family::Sdpa {
        // exec/sdpa.rs plans it, refusals included, and Blackhole's causal K/V prefix chain
        // (seed 51018 found it; the rule read off p150 captures of every Q / K chunk pair up to
        // 4 / 16 tiles, then random causal seeds 1211211 / 1211212 p150, 1211213 n150: 0
        // mismatches); it answers `unmodeled` itself where it is not exact.
        return Ok(());
    }
    if family == Family::Stack {
        return stack_region(case, sig);
    }
    let x = &sig.inputs.first().map(|i| i.shape.clone());
    let rank = x.as_ref().map_or(0, |s| s.rank());
    let eltwise = matches!(
        family,
        Family::Unary { .. } | Family::UnaryInPlace { .. } | Family::Ones | Family::Clone
    );
    if bfloat4_b_pool_slicing_unpinned(case) {
        return Err(unmodeled(
            case,
            "a bfloat4_b DRAM pool with ceil_mode and a padding over half its kernel (the runtime's slice estimate for such a window reads past its op trace: whether it slices, refusing the dtype before the padding, is not pinned)",
        ));
    }
    if case.dtype.is_block_float()
        && !(eltwise
            || matches!(family, Family::Binary { .. })
            || compute_block_float(family)
            || bfloat8_b_max_pool(case))
        && !data_movement_dtype_modeled(case, sig)
    {
        return Err(unmodeled(
            case,
            format!("{} outside the eltwise ops", case.dtype),
        ));
    }
    if matches!(
        case.dtype,
        DType::Uint8 | DType::Uint16 | DType::Uint32 | DType::Int32
    ) && !(eltwise || matches!(family, Family::Binary { .. }) || integer_max_pool(case))
        && !data_movement_dtype_modeled(case, sig)
    {
        return Err(unmodeled(
            case,
            format!("{} outside the eltwise ops and views", case.dtype),
        ));
    }
    // A ROW_MAJOR matmul is refused by exec/matmul.rs: by the first check its program config
    // fails, else `Inputs to matmul must be tilized` (a dim under a tile is 0 tiles in the
    // config; seed 23032 found the checks).
    if case.layout == Layout::RowMajor
        && matches!(
            family,
            Family::Matmul { .. } | Family::Linear | Family::Addmm
        )
    {
        return Ok(());
    }
    if case.layout == Layout::RowMajor
        && !matches!(
            family,
            Family::Unary { .. }
                | Family::UnaryInPlace { .. }
                | Family::Binary { .. }
                | Family::Ones
                | Family::Upsample
                | Family::Reshape
                | Family::Softmax
                | Family::TopK
        )
        && !data_movement_row_major_modeled(case)
        && !row_major_reduction(case)
        && !row_major_max_pool(case)
    {
        return Err(unmodeled(case, row_major_unplanned(family)));
    }
    if case.dtype == DType::Float32
        && !data_movement_dtype_modeled(case, sig)
        && matches!(family, Family::Split | Family::Concat)
    {
        return Err(unmodeled(
            case,
            if family == Family::Concat {
                "a float32 TILE concat of L1 or 1-D inputs, or along a dim the tiles pad"
            } else {
                "float32 for this op"
            },
        ));
    }
    match family {
        // A long 1-D TILE concat is exact: from DRAM to DRAM (random differential ungated,
        // seeds 1207301-1207314, both boards) and through L1 since its untilizes and tilize
        // back read the free L1 below the lowest buffer and share the cached program (seeds
        // 1207901-1207910 `--memory l1 --ungated`, both boards).
        Family::TopK if rank < 2 && sig.outputs[0].shape.elements() > LONG_1D => {
            return Err(unmodeled(case, "1-D tensors longer than 1024 elements"))
        }
        // The multi-core sort (a power-of-two padded width from 1024) is planned in
        // exec::reduction.
        // Every TILE split of an interleaved input is planned ([`tile_split_pieces_modeled`]):
        // uint8 round trips too, their tilize's output allocated before its refusal (seeds
        // 1207341 `--ungated` and 1207352, both boards).
        _ => {}
    }
    if case.sharding.is_some() && case.output_memory != BufferType::L1 {
        return Err(unmodeled(
            case,
            "a sharded input with an interleaved output",
        ));
    }
    Ok(())
}

/// The last dim of the first input (concatenate_heads' head dim).
fn head_dim(sig: &Signature) -> Option<u64> {
    sig.inputs
        .first()
        .and_then(|i| i.shape.dims().last().copied())
}

#[cfg(test)]
mod tests {
    use crate::case::{Case, Verdict};
    use crate::device::{BufferType, N150};
    use crate::dtype::DType;
    use crate::layout::Layout;
    use crate::ops::{find, CaseError};
    use crate::params::ParamValue;
    use crate::shape::Shape;

    fn case(op: &str, shape: &str, layout: Layout, memory: BufferType) -> Case {
        let mut c = Case::new(find(op).unwrap(), vec![Shape::parse(shape).unwrap()], &N150);
        c.layout = layout;
        c.input_memory = memory;
        c.output_memory = memory;
        c
    }

    /// A uint8 / uint16 reshape or unsqueeze that runs the reshape device operation is refused
    /// with the runtime's words, ROW_MAJOR as TILE; a ROW_MAJOR view (the last dim kept, in the
    /// input's memory) is not.
    #[test]
    fn copying_uint8_reshapes_and_unsqueezes_are_refused() {
        let refused = |c: &Case| match c.estimate() {
            Err(CaseError::Refused { reason, .. }) => {
                assert_eq!(
                    reason,
                    "Can only work with bfloat16/float32 or int32/uint32 tensors"
                );
                true
            }
            _ => false,
        };
        let reshape = |to: Vec<i64>, dtype: DType, output: BufferType| {
            let mut c = case("view", "6,40", Layout::RowMajor, BufferType::L1);
            c.device_layout = crate::layout::DeviceLayout::AsGiven;
            c.dtype = dtype;
            c.output_memory = output;
            c.params.set("shape", ParamValue::Ints(to));
            c
        };
        assert!(refused(&reshape(
            vec![12, 20],
            DType::Uint8,
            BufferType::L1
        )));
        assert!(refused(&reshape(
            vec![3, 2, 40],
            DType::Uint16,
            BufferType::Dram
        )));
        assert!(!refused(&reshape(
            vec![3, 2, 40],
            DType::Uint8,
            BufferType::L1
        )));
        assert!(!refused(&reshape(
            vec![12, 20],
            DType::Bfloat16,
            BufferType::L1
        )));
        // The same shape into another memory: a copy where tiles pad it (seen on the runtime:
        // [1,3,30,30] uint8 / uint16 between L1 and DRAM), else `to_memory_config`.
        let same_shape = |shape: &str, dtype: DType| {
            let mut c = case("view", shape, Layout::Tile, BufferType::L1);
            c.device_layout = crate::layout::DeviceLayout::AsGiven;
            c.dtype = dtype;
            c.output_memory = BufferType::Dram;
            let dims = Shape::parse(shape)
                .unwrap()
                .dims()
                .iter()
                .map(|&d| d as i64)
                .collect();
            c.params.set("shape", ParamValue::Ints(dims));
            c
        };
        assert!(refused(&same_shape("1,3,30,30", DType::Uint8)));
        assert!(refused(&same_shape("1,3,30,30", DType::Uint16)));
        assert!(!refused(&same_shape("1,3,32,64", DType::Uint8)));
        let mut u = case("unsqueeze", "6,40", Layout::RowMajor, BufferType::L1);
        u.device_layout = crate::layout::DeviceLayout::AsGiven;
        u.dtype = DType::Uint8;
        u.params.set("dim", ParamValue::Int(-1));
        assert!(refused(&u));
        u.params.set("dim", ParamValue::Int(0));
        assert!(!refused(&u));
    }

    /// A stack is modeled where its unsqueezes and its concat are: a ROW_MAJOR one along dim 0 is,
    /// and a bfloat4_b TILE one along the last dim (its unsqueezes copy, its concat refuses).
    #[test]
    fn a_stack_is_modeled_where_its_unsqueeze_and_concat_are() {
        let stack = |layout: Layout, dtype: DType, dim: i64| {
            let mut c = case("stack", "724,521", layout, BufferType::L1);
            c.device_layout = crate::layout::DeviceLayout::AsGiven;
            c.dtype = dtype;
            c.params.set("dim", ParamValue::Int(dim));
            c.params.set("inputs", ParamValue::Int(3));
            c.estimate()
        };
        let rm = stack(Layout::RowMajor, DType::Bfloat16, 0);
        assert!(rm.is_ok(), "{rm:?}");
        // Along the last dim the unsqueezes copy into the new tile padding: modeled (from DRAM:
        // [724,521] in L1 takes a concat route memmodel leaves to the runtime).
        let mut last = case("stack", "3,100,40", Layout::Tile, BufferType::Dram);
        last.device_layout = crate::layout::DeviceLayout::AsGiven;
        last.params.set("dim", ParamValue::Int(-1));
        last.params.set("inputs", ParamValue::Int(3));
        let last = last.estimate();
        assert!(last.is_ok(), "{last:?}");
        // bfloat4_b copying unsqueezes are planned too (random bfloat4_b draws, seed 1211105);
        // the concat of their tile-padded dim then untilizes, which bfloat4_b cannot.
        match stack(Layout::Tile, DType::Bfloat4B, -1) {
            Err(CaseError::Refused { function, reason }) => {
                assert_eq!(function, "ttnn.unsqueeze+ttnn.concat");
                assert_eq!(reason, "Only TILE layout is supported for BFLOAT8_B dtype!");
            }
            other => panic!("expected the concat's refusal, got {other:?}"),
        }
    }

    /// A long 1-D stack is no region of its own: along dim 1 its `[N, 1]` views are modeled,
    /// and long enough for the concat to chunk its transposed rows, the unsqueeze's ROW_MAJOR
    /// reshape refuses first, in the runtime's words (seen on n150: [1000000] pairs from DRAM,
    /// the same trace on sim).
    #[test]
    fn a_long_1d_stack_is_refused_by_its_unsqueeze_before_its_concat_chunks() {
        let stack = |n: &str| {
            let mut c = case("stack", n, Layout::RowMajor, BufferType::Dram);
            c.device_layout = crate::layout::DeviceLayout::AsGiven;
            c.params.set("dim", ParamValue::Int(1));
            c.params.set("inputs", ParamValue::Int(2));
            c.estimate()
        };
        let short = stack("5000");
        assert!(short.is_ok(), "{short:?}");
        match stack("1000000") {
            Err(CaseError::Refused { reason, .. }) => {
                assert!(
                    reason.starts_with("RM reshape dest staging does not fit in L1"),
                    "{reason}"
                );
            }
            other => panic!("expected the unsqueeze's refusal, got {other:?}"),
        }
    }

    /// `slice_config=L1_FULL` is the L1 path: of an L1 input the same answer as no
    /// slice_config; of a DRAM input the measured per-core CB peaks (`cargo xtask probe`, n150,
    /// ttnn 0.81.1): 20,544 B for 32×32, 64 → 64 ROW_MAJOR (fits), 1,904,704 B for 320×320,
    /// 96 → 96 TILE (CBs beyond L1). DRAM slicing of a ROW_MAJOR input without slice_config is
    /// planned (fits, as on the runtime), and with DRAM_WIDTH too; an L1 input with
    /// DRAM_HEIGHT is refused as on the runtime.
    #[test]
    fn conv2d_l1_full_is_the_l1_path() {
        let conv = |shape: &str, layout: Layout, memory: BufferType, slice: Option<&str>| {
            let mut c = case("conv2d", shape, layout, memory);
            c.device_layout = crate::layout::DeviceLayout::NhwcFlat;
            c.default_output_memory = true;
            if let Some(s) = slice {
                c.params.set("slice", ParamValue::Str(s.into()));
            }
            c
        };
        let small = "1,64,32,32";
        let plain = conv(small, Layout::RowMajor, BufferType::L1, None)
            .estimate()
            .expect("modeled");
        let l1_full = conv(small, Layout::RowMajor, BufferType::L1, Some("l1_full"))
            .estimate()
            .expect("modeled");
        assert_eq!(plain.verdict, l1_full.verdict);
        assert_eq!(plain.peaks.cb, l1_full.peaks.cb);
        let dram = conv(small, Layout::RowMajor, BufferType::Dram, Some("l1_full"))
            .estimate()
            .expect("modeled");
        assert_eq!((dram.verdict, dram.peaks.cb), (Verdict::Fits, 20_544));
        let big = conv(
            "1,96,320,320",
            Layout::Tile,
            BufferType::Dram,
            Some("l1_full"),
        )
        .estimate()
        .expect("modeled");
        assert!(!matches!(big.verdict, Verdict::Fits), "{:?}", big.verdict);
        assert_eq!(big.peaks.cb, 1_904_704);
        let sliced = conv(small, Layout::RowMajor, BufferType::Dram, None)
            .estimate()
            .expect("modeled");
        assert_eq!(sliced.verdict, Verdict::Fits);
        // DRAM_WIDTH with the count left to the runtime slices a DRAM input; an L1 input is
        // refused as the runtime refuses it (`Conv DRAM expects the input tensor to be in
        // DRAM.`).
        let width = conv(
            small,
            Layout::RowMajor,
            BufferType::Dram,
            Some("dram_width"),
        )
        .estimate()
        .expect("modeled");
        assert_eq!(width.verdict, Verdict::Fits);
        let err = conv(small, Layout::RowMajor, BufferType::L1, Some("dram_height"))
            .estimate()
            .expect_err("refused");
        assert!(!crate::exec::is_unmodeled(&err), "{err}");
        assert!(err.to_string().contains("Conv DRAM expects"), "{err}");
    }

    /// A bfloat4_b max_pool2d whose DRAM input the runtime pools in slices is refused for its
    /// dtype before its padding is checked; one that fits L1 whole is refused for the padding
    /// (seen on the runtime, p150, kernel 2x2: [2,256,300,400] and [1,1024,2,13568] with
    /// padding 2 or 1 say "Only TILE layout is supported for BFLOAT8_B dtype!",
    /// [1,64,512,512] with padding 2 names the padding, with padding 1 it runs).
    #[test]
    fn a_sliced_bfloat4_b_pool_is_refused_for_its_dtype_before_its_padding() {
        let pool = |shape: &str, padding: i64| {
            let mut c = case("maxpool2d", shape, Layout::Tile, BufferType::Dram);
            c.device = &crate::device::P150;
            c.device_layout = crate::layout::DeviceLayout::NhwcFlat;
            c.dtype = DType::Bfloat4B;
            c.params.set("kernel_size", ParamValue::Ints(vec![2, 2]));
            c.params
                .set("padding", ParamValue::Ints(vec![padding, padding]));
            c.estimate()
        };
        let reason = |r: Result<crate::case::Estimate, CaseError>| match r {
            Err(CaseError::Refused { reason, .. }) => reason,
            other => panic!("expected a refusal, got {other:?}"),
        };
        for shape in ["2,256,300,400", "1,1024,2,13568"] {
            for padding in [2, 1] {
                assert_eq!(
                    reason(pool(shape, padding)),
                    "Only TILE layout is supported for BFLOAT8_B dtype!",
                    "{shape} padding {padding}"
                );
            }
        }
        assert_eq!(
            reason(pool("1,64,512,512", 2)),
            "Pool2D: Padding (2, 2, 2) should not exceed half of kernel size (2, 2)"
        );
        // With a padding it takes it is pooled whole, as the runtime did (p150: CB 16,640 B,
        // L1 504,272 B a core).
        let whole = pool("1,64,512,512", 1).expect("modeled");
        assert_eq!((whole.peaks.cb, whole.peaks.l1), (16_640, 504_272));
    }

    /// Stride-1 DRAM pools near the slicing threshold are modeled: memmodel takes the runtime's
    /// own slice estimate (exec/pool.rs `slice_l1_estimate`; the slice counts are tested
    /// there). p150, kernel 1x1: [1,1024,2,13568] runs in two slices, CB peak 526,336 B as on
    /// the runtime; [1,32,800,800] whole, 14,336 B of CBs, as on the runtime.
    #[test]
    fn stride_1_dram_pools_near_the_runtimes_slicing_are_modeled() {
        let pool = |shape: &str| {
            let mut c = case("maxpool2d", shape, Layout::Tile, BufferType::Dram);
            c.device = &crate::device::P150;
            c.device_layout = crate::layout::DeviceLayout::NhwcFlat;
            c.params.set("kernel_size", ParamValue::Ints(vec![1, 1]));
            c.estimate()
        };
        let sliced = pool("1,1024,2,13568").expect("modeled");
        assert_eq!((sliced.verdict, sliced.peaks.cb), (Verdict::Fits, 526_336));
        let whole = pool("1,32,800,800").expect("modeled");
        assert_eq!((whole.verdict, whole.peaks.cb), (Verdict::Fits, 14_336));
    }

    fn nhwc_pool(shape: &str, memory: BufferType, params: &[(&str, Vec<i64>)]) -> Case {
        let mut c = case("maxpool2d", shape, Layout::Tile, memory);
        c.device_layout = crate::layout::DeviceLayout::Nhwc;
        for (k, v) in params {
            c.params.set(k, ParamValue::Ints(v.clone()));
        }
        c
    }

    /// A 4-D [N,H,W,C] max_pool2d input is flattened by a reshape (a copy where W is not whole
    /// tiles) and resharded with the shard height of the rows it held (N·H·ceil32(W)); where one
    /// shard holds every row the runtime refuses the mismatch. Numbers from the runtime (mock
    /// n150, ttnn 0.81.1; random differential seeds 110502-110507).
    #[test]
    fn a_4d_nhwc_pool_flattens_and_shards_by_the_rows_it_held() {
        let oom = nhwc_pool(
            "4,1024,4,845",
            BufferType::L1,
            &[("kernel_size", vec![3, 3])],
        )
        .estimate()
        .expect("modeled");
        let Verdict::Oom(d) = &oom.verdict else {
            panic!("{:?}", oom.verdict)
        };
        assert_eq!(
            (d.total_bytes, d.per_bank_bytes, d.allocated),
            (76_185_600, 1_190_400, 884_736)
        );
        let width = nhwc_pool(
            "1,636,4,20",
            BufferType::Dram,
            &[("kernel_size", vec![3, 2]), ("padding", vec![0, 1])],
        );
        match width.estimate() {
            Err(CaseError::Refused { reason, .. }) => assert_eq!(
                reason,
                "Shard height 128 must match physical height 96 for width sharded"
            ),
            other => panic!("expected the refusal, got {other:?}"),
        }
    }

    /// addmm refuses an alpha of 0 before it looks at dtypes or layouts (measured: bfloat16
    /// and uint8 TILE, bfloat16 ROW_MAJOR alike).
    #[test]
    fn addmm_refuses_alpha_zero_first() {
        for (dtype, layout) in [
            (DType::Bfloat16, Layout::Tile),
            (DType::Uint8, Layout::Tile),
            (DType::Bfloat16, Layout::RowMajor),
        ] {
            let mut c = case("addmm", "64,10", layout, BufferType::Dram);
            c.dtype = dtype;
            c.params.set("alpha", crate::params::ParamValue::Float(0.0));
            match c.estimate() {
                Err(CaseError::Refused { reason, .. }) => {
                    assert_eq!(reason, "alpha parameter cannot be 0")
                }
                other => panic!("{dtype} {layout:?}: expected the refusal, got {other:?}"),
            }
        }
    }

    /// A ROW_MAJOR matmul is refused by the first check its program config fails, else as not
    /// tilized; a dim under a tile is 0 tiles there (each reason measured on the runtime, mock
    /// n150, ttnn 0.81.1).
    #[test]
    fn a_row_major_matmul_is_refused_by_its_program_config_first() {
        let reason = |op: &str, shape: &str, memory: BufferType| match case(
            op,
            shape,
            Layout::RowMajor,
            memory,
        )
        .estimate()
        {
            Err(CaseError::Refused { reason, .. }) => reason,
            other => panic!("{op} {shape}: expected a refusal, got {other:?}"),
        };
        // All in DRAM, not narrow: the 2D config splits K's 0 tiles over the columns.
        assert_eq!(
            reason("bmm", "589,28", BufferType::Dram),
            "in0_block_w must be greater than 0!"
        );
        // Wide (N over 8 times M): in0 multicast, per_core_M is M's 0 tiles.
        assert_eq!(
            reason("linear", "3,23,258", BufferType::L1),
            "per_core_M must be greater than 0!"
        );
        // Tall, one row of blocks: still in1 multicast, per_core_N is N's 0 tiles.
        assert_eq!(
            reason("addmm", "180,10", BufferType::L1),
            "per_core_N must be greater than 0!"
        );
        assert_eq!(
            reason("bmm", "31,55", BufferType::Dram),
            "per_core_N must be greater than 0!"
        );
        // K of 3 tiles in blocks of 2: the MultiCore config, which is not checked.
        assert_eq!(
            reason("mm", "2,19,121", BufferType::L1),
            "Inputs to matmul must be tilized"
        );
        // Its TILE output is made before any check: one too large for L1 runs out there.
        let mut c = case("linear", "1,16,64", Layout::RowMajor, BufferType::Dram);
        c.output_memory = BufferType::L1;
        c.params
            .set("out_features", crate::params::ParamValue::Int(3_000_000));
        let e = c.estimate().expect("a verdict");
        match e.verdict {
            Verdict::Oom(o) => assert_eq!(o.per_bank_bytes, 3_000_320),
            other => panic!("expected the output's OOM, got {other:?}"),
        }
    }

    /// ROW_MAJOR bfloat16 pools are planned, and float32 ones up to the halo the runtime
    /// allocates before it refuses the dtype: the OOM of each at the halo, as the runtime
    /// raised it (mock n150, ttnn 0.81.1, flattened NHWC input in L1, kernel 2x2).
    #[test]
    fn row_major_and_float32_pools_run_to_the_halo_as_the_runtime_does() {
        let pool = |shape: &str, layout: Layout, dtype: DType| {
            let mut c = case("maxpool2d", shape, layout, BufferType::L1);
            c.device_layout = crate::layout::DeviceLayout::NhwcFlat;
            c.dtype = dtype;
            let r = c.estimate().expect("modeled");
            let Verdict::Oom(d) = &r.verdict else {
                panic!("{shape}: {:?}", r.verdict)
            };
            (d.total_bytes, d.per_bank_bytes, d.allocated)
        };
        assert_eq!(
            pool("1,64,560,560", Layout::RowMajor, DType::Bfloat16),
            (47_595_520, 743_680, 1_254_400)
        );
        assert_eq!(
            pool("1,64,400,400", Layout::RowMajor, DType::Float32),
            (46_694_400, 729_600, 1_280_000)
        );
        assert_eq!(
            pool("1,64,400,400", Layout::Tile, DType::Float32),
            (46_694_400, 729_600, 1_290_240)
        );
        let mut small = case("maxpool2d", "1,20,10,13", Layout::RowMajor, BufferType::L1);
        small.device_layout = crate::layout::DeviceLayout::NhwcFlat;
        small.dtype = DType::Float32;
        match small.estimate() {
            Err(CaseError::Refused { reason, .. }) => {
                assert_eq!(reason, "Only BFLOAT16 supported for now")
            }
            other => panic!("expected the refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_refused_call_is_refused_with_the_runtimes_words_once_its_inputs_fit() {
        let c = case("mm", "1,64,640,320", Layout::RowMajor, BufferType::Dram);
        match c.estimate() {
            Err(CaseError::Refused { reason, .. }) => {
                assert_eq!(reason, "Inputs to matmul must be tilized")
            }
            other => panic!("expected the refusal, got {other:?}"),
        }
        // Inputs that do not fit run out of memory before the op can refuse anything.
        let big = case("mm", "1,64,6400,3200", Layout::RowMajor, BufferType::L1);
        let e = big.estimate().expect("a verdict");
        assert!(matches!(e.verdict, Verdict::Oom(_)), "{:?}", e.verdict);
    }

    /// Seen on the runtime (n150): unsqueezing [1,7,128,10752] at dim 3 tile-pads the new dim
    /// and copies, running out of L1; at dim 0 it is a view.
    #[test]
    fn unsqueeze_into_the_last_two_dims_is_a_copy_not_a_free_view() {
        let mut c = case("unsqueeze", "1,7,128,10752", Layout::Tile, BufferType::L1);
        c.params.set("dim", ParamValue::Int(3));
        let e = c.estimate().expect("modeled");
        assert!(matches!(e.verdict, Verdict::Oom(_)), "{:?}", e.verdict);
        c.params.set("dim", ParamValue::Int(0));
        assert_eq!(c.estimate().expect("modeled").verdict, Verdict::Fits);
    }

    /// A bfloat8_b expand is planned now (its bfloat16 rows: random differential seeds
    /// 1107122 n150 and 1107129 p150, 0 mismatches), as the eltwise ops are.
    #[test]
    fn bfloat8_b_expands_and_eltwise_ops_are_modeled() {
        let mut c = case("expand", "1,64,640,400", Layout::Tile, BufferType::Dram);
        c.dtype = DType::Bfloat8B;
        assert!(c.estimate().is_ok());
        let mut s = case("silu", "1,64,640,400", Layout::Tile, BufferType::Dram);
        s.dtype = DType::Bfloat8B;
        assert!(s.estimate().is_ok());
    }

    /// Measured on the runtime (NO_DISPATCH, mock boards): ROW_MAJOR clone double-buffers the
    /// input's aligned row; copy does too until two rows reach the L1 bank, then takes two
    /// 256 KiB chunks.
    #[test]
    fn row_major_clone_and_copy_are_modeled_with_their_row_buffers() {
        let mut c = case("clone", "19,286", Layout::RowMajor, BufferType::L1);
        c.output_memory = BufferType::Dram;
        c.device = &crate::device::P150;
        let e = c.estimate().expect("modeled");
        assert_eq!(e.peaks.dataflow, 2 * 576);
        for (width, cb, dataflow) in [(348_312, 1_393_280, 0), (348_328, 0, 524_288)] {
            let mut c = case(
                "copy",
                &format!("1,{width}"),
                Layout::RowMajor,
                BufferType::Dram,
            );
            c.output_memory = BufferType::Dram;
            let e = c.estimate().expect("modeled");
            assert_eq!(
                (e.peaks.cb, e.peaks.dataflow),
                (cb, dataflow),
                "width {width}"
            );
        }
    }

    /// Measured on the runtime (NO_DISPATCH, mock p150): ROW_MAJOR transposes of any two dims run
    /// the permute device operation's row-invariant factory (two of the input's aligned rows);
    /// an identity transpose into another memory copies rows aligned as its input, an identity
    /// permute rows aligned as its output.
    #[test]
    fn row_major_transposes_and_permutes_are_modeled_with_their_row_buffers() {
        let on_p150 = |op: &str, shape: &str, from: BufferType, to: BufferType| {
            let mut c = case(op, shape, Layout::RowMajor, from);
            c.output_memory = to;
            c.device = &crate::device::P150;
            c
        };
        let mut t = on_p150("transpose", "1,3,20128,672", BufferType::L1, BufferType::L1);
        t.params.set("dim0", ParamValue::Int(1));
        t.params.set("dim1", ParamValue::Int(2));
        assert_eq!(t.estimate().expect("modeled").peaks.dataflow, 2 * 1344);
        let mut t = on_p150("transpose", "1,70,35", BufferType::L1, BufferType::Dram);
        t.dtype = DType::Float32;
        t.params.set("dim1", ParamValue::Int(-2));
        assert_eq!(t.estimate().expect("modeled").peaks.dataflow, 2 * 144);
        let mut p = on_p150("permute", "81,22573", BufferType::Dram, BufferType::L1);
        p.params.set("dims", ParamValue::Ints(vec![0, 1]));
        assert_eq!(p.estimate().expect("modeled").peaks.dataflow, 2 * 45_152);
    }

    /// ROW_MAJOR splits of DRAM inputs are modeled, more than 64 pieces are not; one piece into
    /// another memory is a copy of rows aligned as the output (measured on the mock p150: a
    /// [2,101] bfloat16 one from DRAM to L1 takes 2 × 208 B).
    /// bfloat8_b splits are modeled but for more than 64 unequal pieces (unaligned pieces of L1
    /// inputs too since seeds 1207341 / 1207352; equal ones into DRAM since seeds 1207761 /
    /// 1207762, into L1 since seed 2207041);
    /// bfloat8_b unsqueezes are modeled (random
    /// differential, seeds 41011-41016, 41051-41052).
    #[test]
    fn bfloat8_b_split_and_unsqueeze_regions() {
        let bf8 = |shape: &str, memory: BufferType, params: &[(&str, i64)]| {
            let mut c = case("split", shape, Layout::Tile, memory);
            c.dtype = DType::Bfloat8B;
            for (k, v) in params {
                c.params.set(k, ParamValue::Int(*v));
            }
            c
        };
        let piece = &[("split_size", 46)];
        assert!(bf8("1,2,94,86", BufferType::Dram, piece).estimate().is_ok());
        assert!(bf8("1,2,94,86", BufferType::L1, piece).estimate().is_ok());
        assert!(bf8("1,2,94,96", BufferType::L1, &[("split_size", 32)])
            .estimate()
            .is_ok());
        let many = bf8("2,367,89", BufferType::Dram, &[("split_size", 1)]).estimate();
        assert!(many.is_ok(), "{many:?}");
        let into_l1 = bf8(
            "992,3456",
            BufferType::L1,
            &[("split_size", 1), ("dim", -2)],
        );
        assert!(into_l1.estimate().is_ok());
        let mut uneven = bf8("2,367,89", BufferType::Dram, &[]);
        // 88 pieces over 89 columns: a first piece of 2, then ones.
        let mut sizes = vec![1i64; 88];
        sizes[0] = 2;
        uneven.params.set("split_sizes", ParamValue::Ints(sizes));
        uneven.params.set("dim", ParamValue::Int(-1));
        assert!(crate::exec::is_unmodeled(&uneven.estimate().unwrap_err()));
        // bfloat4_b: one piece, and more than 64 equal pieces (the first unaligned one refused),
        // are modeled as bfloat8_b's are; more than 64 unequal ones are not.
        for params in [&[("chunks", 1)][..], &[("split_size", 3), ("dim", 0)][..]] {
            let mut bf4 = bf8("1504,2550", BufferType::Dram, params);
            bf4.dtype = DType::Bfloat4B;
            let got = bf4.estimate();
            assert!(
                !matches!(&got, Err(e) if crate::exec::is_unmodeled(e)),
                "{params:?}: {got:?}"
            );
        }
        uneven.dtype = DType::Bfloat4B;
        assert!(crate::exec::is_unmodeled(&uneven.estimate().unwrap_err()));
        let mut u = case("unsqueeze", "1,7,128,96", Layout::Tile, BufferType::Dram);
        u.dtype = DType::Bfloat8B;
        u.params.set("dim", ParamValue::Int(0));
        assert!(u.estimate().is_ok());
    }

    /// A TILE split's untilize / slice / tilize round trips in L1, as the runtime ran them (mock
    /// n150, seed 1207302): later pieces run the untilize the first built beside its L1
    /// ([1088,17984] bfloat16 into 5: 57,344 B of dataflow buffers, not a whole bank's 122,880);
    /// the hole a piece frees above the tiles it keeps is not free L1, so the second round trip
    /// of [72160,128] into [38,71,19] takes the block factory, whose cliff column beside no full
    /// core the runtime refuses; a uint8 round trip allocates its tilize's output before the
    /// tilize refuses the dtype ([1,1,6011,4246] halved from L1 runs out on its 201,728 B per
    /// bank, seed 1207341).
    #[test]
    fn split_round_trips_follow_the_program_cache_and_the_l1_layout() {
        let split = |shape: &str, dtype: DType, params: &[(&str, ParamValue)]| {
            let mut c = case("split", shape, Layout::Tile, BufferType::L1);
            c.dtype = dtype;
            for (k, v) in params {
                c.params.set(k, v.clone());
            }
            format!("{:?}", c.estimate())
        };
        let five = split(
            "1088,17984",
            DType::Bfloat16,
            &[("chunks", ParamValue::Int(5)), ("dim", ParamValue::Int(-1))],
        );
        assert!(five.contains("dataflow: 57344"), "{five}");
        let orphan = split(
            "72160,128",
            DType::Bfloat16,
            &[("split_sizes", ParamValue::Ints(vec![38, 71, 19]))],
        );
        assert!(
            orphan.contains("Kernel 'compute_cliff_col' references unknown DFB 'in_full'"),
            "{orphan}"
        );
        let uint8 = split(
            "1,1,6011,4246",
            DType::Uint8,
            &[("dim", ParamValue::Int(3))],
        );
        assert!(uint8.contains("201728"), "{uint8}");
    }

    /// Captured on the runtime (NO_DISPATCH, mock n150): a ROW_MAJOR expand runs RepeatCodegen
    /// on the rows as they are, 8 slots of the DRAM-aligned row ([1,2,80,1] to a last dim of
    /// 100: 8 × 224 B; [1,1,80,100] along dim 1 to 7 the same); a 1-D uint8 one takes
    /// RepeatProgramFactoryLastDim, which refuses the dtype; an identity expand into another
    /// memory copies two tiles per core.
    #[test]
    fn row_major_expands_are_modeled_with_the_repeat_programs() {
        let expand = |shape: &str, dim: i64, layout: Layout, dtype: DType| {
            let mut c = case("expand", shape, layout, BufferType::Dram);
            c.dtype = dtype;
            c.params.set("dim", ParamValue::Int(dim));
            c
        };
        let last = expand("1,2,80,100", -1, Layout::RowMajor, DType::Bfloat16);
        assert_eq!(last.estimate().expect("modeled").peaks.cb, 1792);
        let upper = expand("1,7,80,100", 1, Layout::RowMajor, DType::Bfloat16);
        assert_eq!(upper.estimate().expect("modeled").peaks.cb, 1792);
        match expand("643", -1, Layout::RowMajor, DType::Uint8).estimate() {
            Err(CaseError::Refused { reason, .. }) => assert_eq!(
                reason,
                "Can only work with UINT16, BFLOAT16, UINT32, INT32, FLOAT32 data types"
            ),
            other => panic!("expected the refusal, got {other:?}"),
        }
        let mut identity = expand("1,2,800,10400", 0, Layout::Tile, DType::Bfloat16);
        identity.input_memory = BufferType::L1;
        assert_eq!(identity.estimate().expect("modeled").peaks.dataflow, 4096);
    }

    /// Captured on the runtime (NO_DISPATCH, mock n150), expands of TILE tensors: a bfloat8_b
    /// last-dim expand repeats bfloat16 rows and tilizes them back ([1984,1] to 160 wide in
    /// L1: dataflow 15,680 B, L1 buffers 16,448 B); an outer dim repeats the tiles
    /// (RepeatCodegen: [1,1,64,96] to [1,7,64,96] in L1 one 2,048 B tile on 6 cores, L1
    /// buffers 4,096 B; [1,70,64,96] to [3,70,64,96] in DRAM 8 tiles, 16,384 B); the tilize
    /// back counts its row staging when it picks a factory (bfloat8_b [1792,10784] from DRAM to
    /// L1: the block factory, dataflow 103,488 B); a uint8 one is refused at that tilize when
    /// it pads.
    #[test]
    fn tile_expands_match_the_capture() {
        let expand = |shape: &str, dim: i64, dtype: DType, from: BufferType, to: BufferType| {
            let mut c = case("expand", shape, Layout::Tile, from);
            c.output_memory = to;
            c.dtype = dtype;
            c.params.set("dim", ParamValue::Int(dim));
            c
        };
        let (l1, dram) = (BufferType::L1, BufferType::Dram);
        let bf8 = expand("1984,160", -1, DType::Bfloat8B, l1, l1);
        let peaks = bf8.estimate().expect("modeled").peaks;
        assert_eq!((peaks.dataflow, peaks.l1), (15_680, 16_448));
        let outer = expand("1,7,64,96", 1, DType::Bfloat16, l1, l1);
        let peaks = outer.estimate().expect("modeled").peaks;
        assert_eq!((peaks.cb, peaks.l1), (2_048, 4_096));
        let to_dram = expand("3,70,64,96", 0, DType::Bfloat16, dram, dram);
        assert_eq!(to_dram.estimate().expect("modeled").peaks.cb, 16_384);
        let staged = expand("1792,10784", -1, DType::Bfloat8B, dram, l1);
        assert_eq!(staged.estimate().expect("modeled").peaks.dataflow, 103_488);
        match expand("1,5,4218,550", 3, DType::Uint8, dram, dram).estimate() {
            Err(CaseError::Refused { reason, .. }) => assert_eq!(
                reason,
                "Can only tilize bfloat16/float32 or int32/uint32/uint16 or fp8_e4m3 tensors"
            ),
            other => panic!("expected the refusal, got {other:?}"),
        }
        // Tile-aligned, the plain tilize takes uint8 (n150: dataflow 2 × 11,264 B); on p150
        // always its block factory (p150: [352,1] to 64 wide in L1, 2 × 1,024 B blocks where
        // the default factory's rows would take 2 × 2,048 B).
        let aligned = expand("1,155776,352", -1, DType::Uint8, dram, dram);
        assert_eq!(aligned.estimate().expect("modeled").peaks.dataflow, 22_528);
        let mut narrow = expand("352,64", -1, DType::Uint8, l1, l1);
        narrow.device = &crate::device::P150;
        assert_eq!(narrow.estimate().expect("modeled").peaks.dataflow, 2_048);
        // The tilize back caps its blocks by the L1 below the lowest buffer, the freed
        // untilized rows' hole above it not counted (p150: float32 [1,18464] to 960 rows in
        // L1, blocks of 4 tiles, 2 × 16,384 B; the live bytes would allow 5, 2 × 20,480 B).
        let mut capped = expand("960,18464", 0, DType::Float32, l1, l1);
        capped.device = &crate::device::P150;
        assert_eq!(capped.estimate().expect("modeled").peaks.dataflow, 57_344);
    }

    /// A tilize whose block does not fit the L1 its output leaves is refused in the runtime's
    /// words (measured on the mock n150: [10848,4096] and [10870,4096] bfloat16 ROW_MAJOR from
    /// DRAM to L1 TILE).
    #[test]
    fn a_tilize_without_a_block_is_refused_as_the_runtime_does() {
        for (rows, reason) in [
            ("10848,4096", "No solution found for single_block_size"),
            ("10870,4096", "single_block_size_limit must be at least 1"),
        ] {
            let mut c = case("to_layout", rows, Layout::RowMajor, BufferType::Dram);
            c.output_memory = BufferType::L1;
            match c.estimate() {
                Err(CaseError::Refused { reason: got, .. }) => assert_eq!(got, reason),
                other => panic!("expected the refusal, got {other:?}"),
            }
        }
    }

    /// On Blackhole a uint8 tilize always takes the block factory (measured on the mock p150:
    /// [11,4256,1312] ROW_MAJOR to TILE in L1, dataflow buffers 18,432 B).
    #[test]
    fn a_uint8_tilize_on_blackhole_takes_the_block_factory() {
        let mut c = case(
            "to_layout",
            "11,4256,1312",
            Layout::RowMajor,
            BufferType::L1,
        );
        c.device = &crate::device::P150;
        c.dtype = DType::Uint8;
        assert_eq!(c.estimate().expect("modeled").peaks.dataflow, 18_432);
    }

    /// A split's round trips look their programs up in the program cache before building: the
    /// seventh untilize of a [6,10,64,6880] bfloat16 split into 8 in L1 runs the first one's
    /// 2-tile blocks (2 × 4,096 B) beside the 7,680 B the pieces leave and clashes on p150 (as
    /// the runtime does), where a build would find no block.
    #[test]
    fn a_round_trip_runs_its_cached_program_where_a_build_finds_no_block() {
        let mut c = case("split", "6,10,64,6880", Layout::Tile, BufferType::L1);
        c.device = &crate::device::P150;
        c.params.set("dim", ParamValue::Int(-1));
        c.params.set("split_size", ParamValue::Int(860));
        let e = c.estimate().expect("modeled");
        match &e.verdict {
            Verdict::CbClash(detail) => assert!(
                detail
                    .message()
                    .ends_with("L1 buffer allocated at 119424 and static dataflow buffer region ends at 119936"),
                "{}",
                detail.message()
            ),
            other => panic!("expected the clash, got {other:?}"),
        }
    }

    /// ROW_MAJOR splits of interleaved inputs are modeled: one piece into another memory is a
    /// copy of rows aligned as the output (measured on the mock p150: a [2,101] bfloat16 one
    /// from DRAM to L1 takes 2 × 208 B); more than 64 equal pieces are sliced from windows of
    /// 64 (n150: [385,290] by 2 reads 2 × 4,096 B, [1854,141] float32 by 2, whose last piece
    /// is shorter, no windows: 2,048 B); an L1 input is moved to DRAM first when more than two
    /// pieces go there (n150: [704,11232] into 4, 2 × 22,464 B).
    #[test]
    fn row_major_splits_are_modeled() {
        let split = |shape: &str, from: BufferType, to: BufferType, dtype: DType| {
            let mut c = case("split", shape, Layout::RowMajor, from);
            c.output_memory = to;
            c.dtype = dtype;
            c
        };
        let mut one = split("2,101", BufferType::Dram, BufferType::L1, DType::Bfloat16);
        one.device = &crate::device::P150;
        one.params.set("dim", ParamValue::Int(0));
        one.params.set("split_size", ParamValue::Int(5));
        assert_eq!(one.estimate().expect("modeled").peaks.dataflow, 2 * 208);
        for (shape, dtype, dataflow) in [
            ("385,290", DType::Bfloat16, 8192),
            ("1854,141", DType::Float32, 2048),
        ] {
            let mut c = split(shape, BufferType::L1, BufferType::L1, dtype);
            c.params.set("dim", ParamValue::Int(-1));
            c.params.set("split_size", ParamValue::Int(2));
            assert_eq!(
                c.estimate().expect("modeled").peaks.dataflow,
                dataflow,
                "{shape}"
            );
        }
        let mut moved = split(
            "704,11232",
            BufferType::L1,
            BufferType::Dram,
            DType::Bfloat16,
        );
        moved.params.set("dim", ParamValue::Int(-1));
        moved.params.set("split_size", ParamValue::Int(2808));
        assert_eq!(moved.estimate().expect("modeled").peaks.dataflow, 44_928);
    }

    /// TILE splits: pieces starting on a tile are tile slices, modeled whatever their sizes;
    /// an untilize round trip is modeled into L1 too (captured on the mock n150:
    /// [1,15,672,1504] by 60 along dim 3 from DRAM into L1 fits, 385,024 B of CBs and 10,240 B
    /// of dataflow buffers per core; memmodel's CBs clashed before the round trips followed
    /// the program cache).
    #[test]
    fn tile_splits_into_l1_through_an_untilize_are_modeled() {
        let split = |shape: &str, to: BufferType, dim: i64, size: i64| {
            let mut c = case("split", shape, Layout::Tile, BufferType::Dram);
            c.output_memory = to;
            c.params.set("dim", ParamValue::Int(dim));
            c.params.set("split_size", ParamValue::Int(size));
            c.estimate()
        };
        let round_trip = split("1,15,672,1504", BufferType::L1, 3, 60).expect("modeled");
        assert_eq!(
            (round_trip.peaks.cb, round_trip.peaks.dataflow),
            (385_024, 10_240)
        );
        assert!(split("1,15,672,1504", BufferType::Dram, 3, 60).is_ok());
        assert!(split("1,15,672,1504", BufferType::L1, 3, 64).is_ok());
    }

    #[test]
    fn a_row_major_softmax_over_the_last_dim_by_its_index_is_refused_too() {
        // Seen on the runtime: [192,160] with dim=1 raises as dim=-1 does.
        let mut c = case("softmax", "192,160", Layout::RowMajor, BufferType::Dram);
        c.params.set("dim", ParamValue::Int(1));
        match c.estimate() {
            Err(CaseError::Refused { reason, .. }) => {
                assert_eq!(reason, "Inputs to softmax must be tilized")
            }
            other => panic!("expected the refusal, got {other:?}"),
        }
        // Over dim 0 too (seen on the runtime: [200,96]): only a 4-D dim of rank - 1 is
        // tilized first, which rank 2 never has.
        c.params.set("dim", ParamValue::Int(0));
        assert!(matches!(c.estimate(), Err(CaseError::Refused { .. })));
    }

    /// Seen on n150 (seed 23200): a 2017-wide topk row (2048 padded) runs the multi-core sort
    /// with the buffers of a row that is not whole tiles, planned now (exec::reduction); a
    /// 1000-wide one too.
    #[test]
    fn topk_rows_padded_to_a_power_of_two_from_2048_are_modeled() {
        let mut c = case("topk", "2017", Layout::Tile, BufferType::L1);
        c.params.set("k", ParamValue::Int(26));
        assert!(c.estimate().is_ok());
        let mut c = case("topk", "1000", Layout::Tile, BufferType::L1);
        c.params.set("k", ParamValue::Int(26));
        assert!(c.estimate().is_ok());
    }

    /// Found by the fuzzer: a ROW_MAJOR transpose of a rank-5 tensor indexed a 4-D permutation.
    /// Both run the permute device operation on the tensor as it is (`transpose_nd`), planned
    /// (ad-hoc [2,3,40,5,66] transposes of dims 1/4, 0/2, 3/4, 2/2 on both boards: equal).
    #[test]
    fn row_major_transposes_and_permutes_above_rank_4_are_planned() {
        for (op, param, value) in [
            ("transpose", "dim0", ParamValue::Int(3)),
            ("permute", "dims", ParamValue::Ints(vec![0, 1, 2, 4, 3])),
        ] {
            let mut c = case(op, "2,3,4,5,6", Layout::RowMajor, BufferType::L1);
            c.params.set(param, value);
            if op == "transpose" {
                c.params.set("dim1", ParamValue::Int(4));
            }
            if let Err(e) = c.estimate() {
                panic!("{op}: {e}");
            }
        }
    }

    /// A uint16 pool runs as a bfloat16 one up to Pool2D, which allocates its output before it
    /// refuses the dtype: the runtime ran out there (mock n150, ttnn 0.81.1, random
    /// differential seed 1207553: [1,1,19328,608] in L1, kernel 1x1, 367,232 B a bank).
    #[test]
    fn a_uint16_pool_runs_out_at_its_output_before_pool2d_refuses_it() {
        let mut c = case("maxpool2d", "1,608,2,9664", Layout::Tile, BufferType::L1);
        c.device_layout = crate::layout::DeviceLayout::NhwcFlat;
        c.dtype = DType::Uint16;
        c.params.set("kernel_size", ParamValue::Ints(vec![1, 1]));
        let r = c.estimate().expect("modeled");
        let Verdict::Oom(d) = &r.verdict else {
            panic!("{:?}", r.verdict)
        };
        assert_eq!((d.total_bytes, d.per_bank_bytes), (23_502_848, 367_232));
    }

    /// A float32 / uint16 pool whose halo shard exceeds the L1 bank runs out there, before
    /// Pool2D could refuse the dtype (mock n150, float32 / uint16 draws seeds 777001, 1230001,
    /// 1230005: 97 + 262 + 150 such cases, every one that OOM):
    /// `cargo xtask probe --op maxpool2d --shape 1,832,4,1952 --device-layout nhwc --dtype float32
    /// --param kernel_size=2,2 --param padding=1,1 --device n150 --backend metal` and
    /// `--shape 1,1024,4,1968 --device-layout nhwc-flat --dtype uint16 --param ceil_mode=true
    /// --param dilation=2,2 --param padding=1,1`.
    #[test]
    fn a_float32_or_uint16_pool_whose_halo_exceeds_the_bank_runs_out_at_the_halo() {
        let oom = |shape: &str,
                   dtype: DType,
                   layout: crate::layout::DeviceLayout,
                   params: &[(&str, ParamValue)]| {
            let mut c = case("maxpool2d", shape, Layout::Tile, BufferType::L1);
            c.device_layout = layout;
            c.dtype = dtype;
            for (k, v) in params {
                c.params.set(k, v.clone());
            }
            let r = c.estimate().expect("modeled");
            let Verdict::Oom(d) = &r.verdict else {
                panic!("{:?}", r.verdict)
            };
            (d.total_bytes, d.per_bank_bytes, d.allocated, d.free)
        };
        assert_eq!(
            oom(
                "1,832,4,1952",
                DType::Float32,
                crate::layout::DeviceLayout::Nhwc,
                &[
                    ("kernel_size", ParamValue::Ints(vec![2, 2])),
                    ("padding", ParamValue::Ints(vec![1, 1])),
                ],
            ),
            (851_968_000, 13_312_000, 835_584, 524_960)
        );
        assert_eq!(
            oom(
                "1,1024,4,1968",
                DType::Uint16,
                crate::layout::DeviceLayout::NhwcFlat,
                &[
                    ("ceil_mode", ParamValue::Bool(true)),
                    ("dilation", ParamValue::Ints(vec![2, 2])),
                    ("padding", ParamValue::Ints(vec![1, 1])),
                ],
            ),
            (109_035_520, 1_703_680, 505_856, 854_688)
        );
    }

    /// Where the L1 left below a pool's resharded input is too small for InterleavedToSharded
    /// (shard + scratch), a device run copies instead, and the copy's CBs clash with the shard
    /// at the allocator's base, before the halo (mock n150 / p150):
    /// `cargo xtask probe --op maxpool2d --shape 1,1024,3,2306 --device-layout nhwc --dtype
    /// float32 --param stride=1,1 --device n150 --backend metal` (L1 buffer at 110,592, region
    /// ends at 114,016; the plan without the copy ran out at the 1,477,120 B halo) and
    /// `--shape 1,159,4,19013 --device-layout nhwc-flat --dtype float32 --param kernel_size=4,4
    /// --param padding=1,1 --device p150` (118,784 / 119,936).
    #[test]
    fn a_pool_reshard_with_too_little_l1_below_it_copies_and_clashes_in_a_device_run() {
        let clash = |shape: &str,
                     device: &'static crate::device::DeviceSpec,
                     layout,
                     params: &[(&str, ParamValue)]| {
            let mut c = case("maxpool2d", shape, Layout::Tile, BufferType::L1);
            c.device = device;
            c.device_layout = layout;
            c.dtype = DType::Float32;
            for (k, v) in params {
                c.params.set(k, v.clone());
            }
            let r = c.estimate().expect("modeled");
            match r.verdict {
                Verdict::CbClash(d) => match d.error {
                    crate::alloc::CbError::Clash {
                        l1_buffer_at,
                        cb_region_end,
                        ..
                    } => (l1_buffer_at, cb_region_end),
                    other => panic!("{other:?}"),
                },
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(
            clash(
                "1,1024,3,2306",
                &N150,
                crate::layout::DeviceLayout::Nhwc,
                &[("stride", ParamValue::Ints(vec![1, 1]))],
            ),
            (110_592, 114_016)
        );
        assert_eq!(
            clash(
                "1,159,4,19013",
                &crate::device::P150,
                crate::layout::DeviceLayout::NhwcFlat,
                &[
                    ("kernel_size", ParamValue::Ints(vec![4, 4])),
                    ("padding", ParamValue::Ints(vec![1, 1])),
                ],
            ),
            (118_784, 119_936)
        );
    }

    /// uint8, uint32, int32 and bfloat4_b pools run as bfloat8_b ones do: their own tiles (or
    /// sticks) resharded, bfloat16 from the halo on. The runtime's NO_DISPATCH peaks (mock n150,
    /// [1,64,56,56] NHWC-flat in L1, kernel 2x2): uint8 TILE CB 16,640 / L1 29,184 B, int32
    /// ROW_MAJOR (its sticks resharded at 4 B, the halo reading them in 2-byte ones) CB 14,336 /
    /// L1 46,848 B; a uint8 ROW_MAJOR shard is smaller than the halo's input CB, refused.
    #[test]
    fn integer_and_bfloat4_b_pools_are_pooled_as_bfloat16_from_the_halo_on() {
        let pool = |dtype: DType, layout: Layout| {
            let mut c = case("maxpool2d", "1,64,56,56", layout, BufferType::L1);
            c.device_layout = crate::layout::DeviceLayout::NhwcFlat;
            c.dtype = dtype;
            c.estimate()
        };
        let peaks = |dtype: DType, layout: Layout| {
            let r = pool(dtype, layout).expect("modeled");
            assert_eq!(r.verdict, Verdict::Fits);
            (r.peaks.cb, r.peaks.l1)
        };
        assert_eq!(peaks(DType::Uint8, Layout::Tile), (16_640, 29_184));
        assert_eq!(peaks(DType::Int32, Layout::RowMajor), (14_336, 46_848));
        assert_eq!(peaks(DType::Uint32, Layout::RowMajor), (14_336, 46_848));
        assert!(pool(DType::Bfloat4B, Layout::Tile).is_ok());
        match pool(DType::Uint8, Layout::RowMajor) {
            Err(CaseError::Refused { reason, .. }) => assert_eq!(
                reason,
                "Cannot set circular buffer size to 6656. This is larger than the associated dynamically allocated L1 buffer bank size of 3328 B"
            ),
            other => panic!("{other:?}"),
        }
    }

    /// A uint32 pool in DRAM slices takes uint32 row-major slices (PaddedSlice's CBs in uint32
    /// tiles and sticks), haloed as a ROW_MAJOR uint32 input: the runtime's CB peak (mock n150,
    /// random differential seed 1207711: [1,608,6,1024] NHWC-flat, 2x2 stride 2) was 625,024 B
    /// where slices sized as bfloat16 gave 468,160.
    #[test]
    fn a_sliced_uint32_pool_slices_in_uint32() {
        let mut c = case("maxpool2d", "1,608,6,1024", Layout::Tile, BufferType::Dram);
        c.device_layout = crate::layout::DeviceLayout::NhwcFlat;
        c.dtype = DType::Uint32;
        c.params.set("stride", ParamValue::Ints(vec![2, 2]));
        let r = c.estimate().expect("modeled");
        assert_eq!(r.verdict, Verdict::Fits);
        assert_eq!((r.peaks.cb, r.peaks.l1), (625_024, 924_480));
    }

    /// A float32 DRAM pool in slices padded over half its kernel is refused by its first
    /// slice, after the slice's PaddedSlice, for the slice's (top, bottom, left) padding: an
    /// inner height slice has no bottom padding. A ROW_MAJOR one pooled whole is refused before anything, as an L1 one. The runtime's words
    /// (mock boards), e.g. `cargo xtask probe --op maxpool2d --shape 1,256,3000,200
    /// --device-layout nhwc-flat --dtype float32 --memory dram --param kernel_size=2,2 --param
    /// padding=2,1 --param stride=1,1 --device n150 --backend metal`.
    #[test]
    fn a_float32_dram_pool_padded_over_half_its_kernel_is_refused_for_its_first_slice() {
        let refusal = |shape: &str,
                       device: &'static crate::device::DeviceSpec,
                       layout: Layout,
                       params: &[(&str, ParamValue)]| {
            let mut c = case("maxpool2d", shape, layout, BufferType::Dram);
            c.device = device;
            c.device_layout = crate::layout::DeviceLayout::NhwcFlat;
            c.dtype = DType::Float32;
            for (k, v) in params {
                c.params.set(k, v.clone());
            }
            match c.estimate() {
                Err(CaseError::Refused { reason, .. }) => reason,
                other => panic!("{other:?}"),
            }
        };
        let ints = |v: [i64; 2]| ParamValue::Ints(v.to_vec());
        let p150 = &crate::device::P150;
        // Width slices.
        assert_eq!(
            refusal(
                "1,232,2,8979",
                &N150,
                Layout::Tile,
                &[("padding", ints([2, 2])), ("stride", ints([1, 1]))]
            ),
            "Pool2D: Padding (2, 2, 2) should not exceed half of kernel size (2, 2)"
        );
        // Height slices.
        assert_eq!(
            refusal(
                "1,256,3000,200",
                &N150,
                Layout::Tile,
                &[("padding", ints([2, 1])), ("stride", ints([1, 1]))]
            ),
            "Pool2D: Padding (2, 0, 1) should not exceed half of kernel size (2, 2)"
        );
        assert_eq!(
            refusal(
                "1,397,3,22415",
                p150,
                Layout::Tile,
                &[("padding", ints([0, 2])), ("stride", ints([2, 1]))]
            ),
            "Pool2D: Padding (0, 0, 2) should not exceed half of kernel size (2, 2)"
        );
        // ROW_MAJOR, pooled whole.
        assert_eq!(
            refusal(
                "4,1024,3,263",
                p150,
                Layout::RowMajor,
                &[("kernel_size", ints([1, 1])), ("padding", ints([1, 0]))]
            ),
            "Pool2D: Padding (1, 1, 0) should not exceed half of kernel size (1, 1)"
        );
    }

    /// An L1 pool striding past its window, height-sharded, whose halo shard exceeds the bank
    /// runs out at the halo as planned (random maxpool2d seeds 777001, 1240011, 1240012: 392
    /// such cases, 0 mismatches): `cargo xtask probe --op maxpool2d --shape 4,416,4,1600
    /// --device-layout nhwc --param ceil_mode=true --param stride=3,3 --device n150 --backend
    /// metal`.
    #[test]
    fn a_pool_striding_past_its_window_runs_out_at_its_height_sharded_halo() {
        let mut c = case("maxpool2d", "4,416,4,1600", Layout::Tile, BufferType::L1);
        c.device_layout = crate::layout::DeviceLayout::Nhwc;
        c.params.set("ceil_mode", ParamValue::Bool(true));
        c.params.set("stride", ParamValue::Ints(vec![3, 3]));
        let r = c.estimate().expect("modeled");
        let Verdict::Oom(d) = &r.verdict else {
            panic!("{:?}", r.verdict)
        };
        assert_eq!(
            (d.total_bytes, d.per_bank_bytes, d.allocated, d.free),
            (266_346_496, 4_161_664, 679_936, 680_608)
        );
    }

    /// A bfloat4_b DRAM pool with ceil_mode: exec/pool.rs's slice count (ceil_mode's window)
    /// decides, as the runtime does. In slices its first PaddedSlice refuses the row-major
    /// bfloat4_b slice (mock runtime, `cargo xtask probe --op maxpool2d --shape 2,256,300,400
    /// --device-layout nhwc-flat --dtype bfloat4_b --memory dram --param ceil_mode=true --param
    /// padding=1,1`, p150 kernel 2x2 and n150 `--param kernel_size=3,3`: "Only TILE layout is
    /// supported for BFLOAT8_B dtype!"); whole it runs (n150 `--shape 1,64,200,200` kernel 3x3
    /// padding 1: CB 16,640 B, L1 206,272 B a core). With a padding over half the kernel it is
    /// unmodeled (`bfloat4_b_pool_slicing_unpinned`).
    #[test]
    fn a_bfloat4_b_dram_pool_with_ceil_mode_is_refused_as_its_slicing_decides() {
        let pool = |shape: &str, device, kernel: i64, padding: i64| {
            let mut c = Case::new(
                find("maxpool2d").unwrap(),
                vec![Shape::parse(shape).unwrap()],
                device,
            );
            c.device_layout = crate::layout::DeviceLayout::NhwcFlat;
            c.input_memory = BufferType::Dram;
            c.output_memory = BufferType::Dram;
            c.dtype = DType::Bfloat4B;
            c.params.set("ceil_mode", ParamValue::Bool(true));
            c.params
                .set("kernel_size", ParamValue::Ints(vec![kernel, kernel]));
            c.params
                .set("padding", ParamValue::Ints(vec![padding, padding]));
            c.estimate()
        };
        for (device, kernel) in [(&crate::device::P150, 2), (&N150, 3)] {
            match pool("2,256,300,400", device, kernel, 1) {
                Err(CaseError::Refused { reason, .. }) => {
                    assert_eq!(reason, "Only TILE layout is supported for BFLOAT8_B dtype!")
                }
                other => panic!("expected a refusal, got {other:?}"),
            }
        }
        let whole = pool("1,64,200,200", &N150, 3, 1).expect("modeled");
        assert_eq!((whole.peaks.cb, whole.peaks.l1), (16_640, 206_272));
        // The runtime refused the dtype here (p150, seed 1260202) where memmodel's estimate
        // pools it whole: with ceil_mode, a padding over half the kernel stays unmodeled.
        let mut over = Case::new(
            find("maxpool2d").unwrap(),
            vec![Shape::parse("1,291,2,8337").unwrap()],
            &crate::device::P150,
        );
        over.device_layout = crate::layout::DeviceLayout::Nhwc;
        over.input_memory = BufferType::Dram;
        over.dtype = DType::Bfloat4B;
        over.params.set("ceil_mode", ParamValue::Bool(true));
        over.params.set("padding", ParamValue::Ints(vec![2, 0]));
        over.params.set("dilation", ParamValue::Ints(vec![1, 2]));
        let r = over.estimate();
        assert!(matches!(r, Err(CaseError::Unmodeled { .. })), "{r:?}");
    }

    /// uint8 / uint16 TILE DRAM pools in slices of a W not whole tiles are planned: a 4-D
    /// input's slices run as planned (mock n150, `cargo xtask probe --op maxpool2d --shape
    /// 1,2,2115,722 --device-layout nhwc --dtype uint16 --memory dram --device n150 --backend
    /// metal`: "Only BFLOAT16 supported for now"; uint8: its halo's input CB, 512,000 B over a
    /// 256,000 B bank); a flat one's copying reshape answers for it (`--device-layout
    /// nhwc-flat`: "Can only work with bfloat16/float32 or int32/uint32 tensors").
    #[test]
    fn integer_tile_dram_pool_slices_of_a_partial_tile_width_are_planned() {
        let pool = |dtype, layout| {
            let mut c = case("maxpool2d", "1,2,2115,722", Layout::Tile, BufferType::Dram);
            c.device_layout = layout;
            c.dtype = dtype;
            c.estimate()
        };
        use crate::layout::DeviceLayout::{Nhwc, NhwcFlat};
        let reason = |r: Result<crate::case::Estimate, CaseError>| match r {
            Err(CaseError::Refused { reason, .. }) => reason,
            other => panic!("expected a refusal, got {other:?}"),
        };
        assert_eq!(
            reason(pool(DType::Uint16, Nhwc)),
            "Only BFLOAT16 supported for now"
        );
        assert_eq!(
            reason(pool(DType::Uint8, Nhwc)),
            "Cannot set circular buffer size to 512000. This is larger than the associated dynamically allocated L1 buffer bank size of 256000 B"
        );
        for dtype in [DType::Uint8, DType::Uint16] {
            match pool(dtype, NhwcFlat) {
                Err(CaseError::Unmodeled { what, .. }) => {
                    assert!(what.contains("reshape"), "{what}")
                }
                Err(CaseError::Refused { reason, .. }) => assert_eq!(
                    reason,
                    "Can only work with bfloat16/float32 or int32/uint32 tensors"
                ),
                other => panic!("{other:?}"),
            }
        }
    }

    /// Fewer than 32 output rows are pooled on one NHW core, and a ROW_MAJOR pool whose
    /// channels split over cores writes pages of its shard sticks: the runtime's NO_DISPATCH
    /// L1 peaks (mock boards, kernel 2x2, NHWC-flat in L1): p150 [1,16,6,10] (15 output rows)
    /// 10,496 B on one core; n150 [2,40,4,6] ROW_MAJOR (40 channels on 3 cores of 16) 3,616 B,
    /// [1,40,8,16] ROW_MAJOR 9,456 B.
    #[test]
    fn small_outputs_pool_on_one_row_core_and_row_major_channel_shards_keep_their_sticks() {
        let l1 = |shape: &str, layout: Layout, device: &'static crate::device::DeviceSpec| {
            let mut c = case("maxpool2d", shape, layout, BufferType::L1);
            c.device = device;
            c.device_layout = crate::layout::DeviceLayout::NhwcFlat;
            let r = c.estimate().expect("modeled");
            assert_eq!(r.verdict, Verdict::Fits);
            (r.peaks.cb, r.peaks.l1)
        };
        let p150 = &crate::device::P150;
        assert_eq!(l1("1,16,6,10", Layout::Tile, p150), (14_336, 10_496));
        assert_eq!(l1("2,40,4,6", Layout::RowMajor, &N150), (14_336, 3_616));
        assert_eq!(l1("1,40,8,16", Layout::RowMajor, &N150), (14_336, 9_456));
    }

    /// A float32 pool's Pool2D output is bfloat16 (max_pool2d's `dtype` argument): the runtime
    /// allocates it, then refuses the dtype, so a float32 pool runs out there only where the
    /// bfloat16 output does not fit (mock n150, ttnn 0.81.1):
    /// `cargo xtask probe --op maxpool2d --shape 4,1024,4,352 --device-layout nhwc --dtype
    /// float32 --memory l1 --param kernel_size=3,2 --param stride=3,1 --param ceil_mode=true
    /// --device n150 --backend metal` refused "Only BFLOAT16 supported for now" (its capture:
    /// Pool2D's output of 704-byte pages, 352 bfloat16 channels, before the refusal), and
    /// `--shape 1,1024,10,448 --param dilation=2,2 --param stride=1,1` ran out at the
    /// output's 7,307,264 B, 114,176 B a bank with 90,784 B free. (Draw: 249 float32 L1 pools
    /// this gate held, seed 777123 both boards: all equal.)
    #[test]
    fn a_float32_pool_is_refused_after_its_bfloat16_output() {
        let pool = |shape: &str, params: &[(&str, ParamValue)]| {
            let mut c = case("maxpool2d", shape, Layout::Tile, BufferType::L1);
            c.device_layout = crate::layout::DeviceLayout::Nhwc;
            c.dtype = DType::Float32;
            for (k, v) in params {
                c.params.set(k, v.clone());
            }
            c.estimate()
        };
        match pool(
            "4,1024,4,352",
            &[
                ("ceil_mode", ParamValue::Bool(true)),
                ("kernel_size", ParamValue::Ints(vec![3, 2])),
                ("stride", ParamValue::Ints(vec![3, 1])),
            ],
        ) {
            Err(CaseError::Refused { reason, .. }) => {
                assert_eq!(reason, "Only BFLOAT16 supported for now")
            }
            other => panic!("{other:?}"),
        }
        let r = pool(
            "1,1024,10,448",
            &[
                ("dilation", ParamValue::Ints(vec![2, 2])),
                ("stride", ParamValue::Ints(vec![1, 1])),
            ],
        )
        .expect("modeled");
        let Verdict::Oom(d) = &r.verdict else {
            panic!("{:?}", r.verdict)
        };
        assert_eq!((d.total_bytes, d.per_bank_bytes), (7_307_264, 114_176));
    }

    /// A uint16 stack whose unsqueeze copies is refused by that unsqueeze's reshape, in its
    /// words, once it has made the unsqueezed input in the input's memory (seen on the runtime,
    /// mock n150: [4,300,118] refused from L1 and DRAM; [4,3000,118] out of L1 at its
    /// 98,304,000 B unsqueezed input from L1 to DRAM, refused from DRAM to L1).
    #[test]
    fn a_uint16_stack_is_refused_by_its_copying_unsqueeze() {
        let stack = |shape: &str, input: BufferType, output: BufferType| {
            let mut c = case("stack", shape, Layout::Tile, input);
            c.device_layout = crate::layout::DeviceLayout::AsGiven;
            c.dtype = DType::Uint16;
            c.output_memory = output;
            c.params.set("dim", ParamValue::Int(3));
            c.params.set("inputs", ParamValue::Int(2));
            c.estimate()
        };
        let words = "Can only work with bfloat16/float32 or int32/uint32 tensors";
        for (shape, input, output) in [
            ("4,300,118", BufferType::L1, BufferType::L1),
            ("4,300,118", BufferType::Dram, BufferType::Dram),
            ("4,3000,118", BufferType::Dram, BufferType::L1),
        ] {
            match stack(shape, input, output) {
                Err(CaseError::Refused { reason, .. }) => assert_eq!(reason, words),
                other => panic!("{shape} {input:?}: {other:?}"),
            }
        }
        let r = stack("4,3000,118", BufferType::L1, BufferType::Dram).expect("an OOM");
        let Verdict::Oom(d) = &r.verdict else {
            panic!("{:?}", r.verdict)
        };
        assert_eq!((d.total_bytes, d.per_bank_bytes), (98_304_000, 1_536_000));
        // A bfloat16 one is no refusal.
        let mut ok = case("stack", "4,300,118", Layout::Tile, BufferType::Dram);
        ok.device_layout = crate::layout::DeviceLayout::AsGiven;
        ok.params.set("dim", ParamValue::Int(3));
        assert!(ok.estimate().is_ok());
    }

    /// A block-float last-dim concat of long unaligned rows is planned: concat.cpp decides its
    /// row chunks on the one-byte `element_size()`, and what it does not chunk transposes its
    /// untilized bfloat16 rows whole (seen on the runtime: two [1359854] bfloat8_b stacked
    /// along dim 1 in L1 on p150 ran out of L1 at an 87,031,808 B buffer; three [6886951] in
    /// DRAM on n150 went in chunks, fitting with a 1,393,280 B dataflow peak).
    #[test]
    fn a_block_float_last_dim_concat_of_long_rows_is_planned() {
        let stack = |shape: &str,
                     memory: BufferType,
                     inputs: i64,
                     device: &'static crate::device::DeviceSpec| {
            let mut c = case("stack", shape, Layout::Tile, memory);
            c.device = device;
            c.device_layout = crate::layout::DeviceLayout::AsGiven;
            c.dtype = DType::Bfloat8B;
            c.params.set("dim", ParamValue::Int(1));
            c.params.set("inputs", ParamValue::Int(inputs));
            c.estimate()
        };
        let whole = stack("1359854", BufferType::L1, 2, &crate::device::P150).expect("modeled");
        let Verdict::Oom(d) = &whole.verdict else {
            panic!("{:?}", whole.verdict)
        };
        assert_eq!((d.total_bytes, d.per_bank_bytes), (87_031_808, 792_576));
        let chunked = stack("6886951", BufferType::Dram, 3, &N150).expect("modeled");
        assert_eq!(chunked.verdict, Verdict::Fits);
    }

    /// An expand of several dims at once is declared (`dim` a list: the input has size 1 in
    /// each). Several outer TILE dims are planned (one RepeatCodegen program over the target,
    /// measured on n150: [1,1,64,96] to [2,3,64,96] from DRAM, 16,384 B of CB); with one of
    /// the last two dims, the row-major legs (codegen's, or repeat_native's for bfloat8_b).
    #[test]
    fn expands_of_several_dims_are_declared_and_planned() {
        let mut c = case("expand", "2,3,64,96", Layout::Tile, BufferType::Dram);
        c.params.set("dim", ParamValue::Ints(vec![0, 1]));
        let sig = c.signature().unwrap();
        assert_eq!(sig.inputs[0].shape.dims(), &[1, 1, 64, 96]);
        c.output_memory = BufferType::Dram;
        assert_eq!(c.estimate().map(|e| e.peaks.cb).ok(), Some(16_384));
        c.params.set("dim", ParamValue::Ints(vec![0, 3]));
        assert!(c.estimate().is_ok(), "the row-major legs are planned");
        c.dtype = DType::Bfloat8B;
        assert!(c.estimate().is_ok(), "repeat_native's legs are planned");
        c.dtype = DType::Bfloat16;
        c.params.set("dim", ParamValue::Ints(vec![1]));
        assert!(c.estimate().is_ok());
    }

    /// A uint8 / uint16 max_pool2d with padding over half its kernel is refused for the
    /// padding, unless its DRAM input is pooled in slices and is flat TILE with a width not in
    /// whole tiles: the slicing's reshape to [N, H, W, C] copies it and refuses the dtype
    /// first (the runtime, kernel 3x3 padding 2: nhwc-flat [1,1,182,3140] and [1,64,600,600]
    /// in DRAM on n150 refused by the reshape, on p150 by the padding; nhwc, ROW_MAJOR L1 and
    /// nhwc-flat [1,32,64,64] / [1,32,60,50] ones by the padding on both boards). A ROW_MAJOR
    /// DRAM one is not refused here (seed 1207921: other refusals came first).
    #[test]
    fn small_integer_pools_with_wide_padding_are_refused_by_what_comes_first() {
        use crate::device::P150;
        let words = "Can only work with bfloat16/float32 or int32/uint32 tensors";
        let padding = "Pool2D: Padding (2, 2, 2) should not exceed half of kernel size (3, 3)";
        for (device, shape, flat, layout, memory, expected) in [
            (
                &N150,
                "1,1,182,3140",
                true,
                Layout::Tile,
                BufferType::Dram,
                words,
            ),
            (
                &N150,
                "1,64,600,600",
                true,
                Layout::Tile,
                BufferType::Dram,
                words,
            ),
            (
                &P150,
                "1,1,182,3140",
                true,
                Layout::Tile,
                BufferType::Dram,
                padding,
            ),
            (
                &P150,
                "1,64,600,600",
                true,
                Layout::Tile,
                BufferType::Dram,
                padding,
            ),
            (
                &N150,
                "1,1,182,3140",
                false,
                Layout::Tile,
                BufferType::Dram,
                padding,
            ),
            (
                &N150,
                "1,1,182,3140",
                true,
                Layout::RowMajor,
                BufferType::L1,
                padding,
            ),
            (
                &N150,
                "1,1,182,3140",
                true,
                Layout::Tile,
                BufferType::L1,
                padding,
            ),
            (
                &N150,
                "1,32,64,64",
                true,
                Layout::Tile,
                BufferType::Dram,
                padding,
            ),
            (
                &N150,
                "1,32,60,50",
                true,
                Layout::Tile,
                BufferType::Dram,
                padding,
            ),
        ] {
            for dtype in [DType::Uint8, DType::Uint16] {
                let mut c = Case::new(
                    crate::ops::find("maxpool2d").unwrap(),
                    vec![crate::shape::Shape::parse(shape).unwrap()],
                    device,
                );
                c.device_layout = if flat {
                    crate::layout::DeviceLayout::NhwcFlat
                } else {
                    crate::layout::DeviceLayout::Nhwc
                };
                c.dtype = dtype;
                c.layout = layout;
                c.input_memory = memory;
                c.output_memory = memory;
                c.params.set("kernel_size", ParamValue::Ints(vec![3, 3]));
                c.params.set("padding", ParamValue::Ints(vec![2, 2]));
                let sig = c.signature().unwrap();
                let refusal = super::refusal(&c, &sig).map(|r| r.reason);
                assert_eq!(
                    refusal.as_deref(),
                    Some(expected),
                    "{} {shape} {dtype:?} {layout:?} {memory:?} flat {flat}",
                    device.name
                );
            }
        }
    }

    /// A uint8 ROW_MAJOR DRAM pool with padding over half its kernel, in slices, is refused for
    /// its slice's row alignment before its padding, as the runtime refused [1,323,3,8517]
    /// nhwc-flat on n150 (seed 1207921; exec/pool.rs).
    #[test]
    fn row_major_dram_small_integer_pools_with_wide_padding_are_refused_for_alignment() {
        let mut c = Case::new(
            find("maxpool2d").unwrap(),
            vec![Shape::parse("1,323,3,8517").unwrap()],
            &N150,
        );
        c.device_layout = crate::layout::DeviceLayout::NhwcFlat;
        c.dtype = DType::Uint8;
        c.layout = Layout::RowMajor;
        c.input_memory = BufferType::Dram;
        c.output_memory = BufferType::Dram;
        c.params.set("padding", ParamValue::Ints(vec![2, 2]));
        c.params.set("ceil_mode", ParamValue::Bool(true));
        match c.estimate() {
            Err(CaseError::Refused { reason, .. }) => assert_eq!(
                reason,
                "Output row size 328 must be aligned to the destination buffer BufferType::L1 alignment 16"
            ),
            other => panic!("{other:?}"),
        }
    }

    /// The programs of a case's plan with their CB sizes and core ranges, in order.
    fn plan_programs(c: &Case) -> Vec<(String, Vec<(u64, String)>)> {
        let plan = c.plan().expect("planned");
        plan.steps
            .iter()
            .filter_map(|s| match s {
                crate::plan::Step::Run(p) => Some((
                    p.factory.to_string(),
                    p.cbs
                        .iter()
                        .map(|cb| (cb.size, cb.cores.to_string()))
                        .collect(),
                )),
                _ => None,
            })
            .collect()
    }

    /// Captured on the runtime (NO_DISPATCH, mock n150): RepeatCodegen's CB takes
    /// `split_work_to_cores`' ranges as they come, column by column, unmerged: 36 output tiles
    /// into DRAM ([1,1,64,96] to [2,3,64,96], dims 0 and 1), 20 input tiles into L1
    /// ([1,1,64,320] to [1,3,64,320]), 36 ROW_MAJOR rows ([1,36,1] to [1,36,50]).
    #[test]
    fn repeat_codegen_cbs_keep_the_work_split_ranges_unmerged() {
        let mut outer = case("expand", "2,3,64,96", Layout::Tile, BufferType::Dram);
        outer.params.set("dim", ParamValue::Ints(vec![0, 1]));
        assert_eq!(
            plan_programs(&outer),
            vec![(
                "RepeatCodegenProgramFactory".to_string(),
                vec![(16_384, "{[0-0 - 3-7], [4-0 - 4-3]}".to_string())]
            )]
        );
        let mut l1 = case("expand", "1,3,64,320", Layout::Tile, BufferType::L1);
        l1.params.set("dim", ParamValue::Int(1));
        assert_eq!(
            plan_programs(&l1)[0].1,
            vec![(2_048, "{[0-0 - 1-7], [2-0 - 2-3]}".to_string())]
        );
        let mut rows = case("expand", "1,36,50", Layout::RowMajor, BufferType::Dram);
        rows.params.set("dim", ParamValue::Int(-1));
        assert_eq!(
            plan_programs(&rows)[0].1,
            vec![(1_024, "{[0-0 - 3-7], [4-0 - 4-3]}".to_string())]
        );
    }

    /// Captured on the runtime (NO_DISPATCH), expands of several dims that repeat rows: the
    /// dims folded and repeated innermost first, one RepeatCodegen leg each, a TILE input
    /// untilized first and tilized back on the target's shape. n150: [1,1,1,1] TILE to
    /// [2,3,64,96] dims 0 and 3 in DRAM: legs of 1,536 B, the tilize's 6,144 B blocks;
    /// ROW_MAJOR [2,1,1,96] to [2,3,64,96] in L1: one leg (dims 1 and 2 folded). p150 (seed
    /// 1207502): [1,1,15047] to [8,1344,15047] from DRAM tilizes in 28,672 B blocks (the
    /// folded shape gave 81,920).
    #[test]
    fn expands_of_several_dims_run_the_row_major_legs() {
        let mut tile = case("expand", "2,3,64,96", Layout::Tile, BufferType::Dram);
        tile.params.set("dim", ParamValue::Ints(vec![0, 3]));
        let progs = plan_programs(&tile);
        let factories: Vec<&str> = progs.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            factories,
            [
                "UntilizeCodegenProgramFactory",
                "RepeatCodegenProgramFactory",
                "RepeatCodegenProgramFactory",
                "TilizeMultiCoreDefaultProgramFactory"
            ]
        );
        assert_eq!(progs[1].1, vec![(1_536, "{[0-0 - 7-7]}".to_string())]);
        assert_eq!(progs[3].1[0].0, 6_144);
        let mut rows = case("expand", "2,3,64,96", Layout::RowMajor, BufferType::L1);
        rows.params.set("dim", ParamValue::Ints(vec![1, 2]));
        let e = rows.estimate().expect("modeled");
        assert_eq!((e.peaks.cb, e.peaks.l1), (1_536, 1_344));
        let mut folded = case("expand", "8,1344,15047", Layout::Tile, BufferType::Dram);
        folded.device = &crate::device::P150;
        folded.params.set("dim", ParamValue::Ints(vec![0, 1, 2]));
        let progs = plan_programs(&folded);
        let tilize = progs.last().expect("a tilize");
        assert_eq!(
            tilize.0,
            "TilizeWithValPaddingMultiCoreBlockInterleavedFactory"
        );
        assert_eq!(tilize.1[0].0, 28_672);
    }

    /// Captured on the runtime (NO_DISPATCH), expands of several dims that codegen declines
    /// take `repeat_native`'s legs, innermost first, unfolded, each into the output's memory.
    /// n150, bfloat8_b [1,3,64,1] to [2,3,64,96] (dims 0 and 3) in L1: untilized to bfloat16
    /// rows, a LastDim leg (scratch 144 B), a HigherDim leg on the widened rows (320 B), tilized
    /// back to bfloat8_b; dataflow 9,408 B, L1 buffers 3,328 B. n150, rank 5 bfloat16
    /// [1,1,2,64,96] to [2,3,2,64,96] in L1: two tile-native HigherDim legs (2,176 B), L1
    /// buffers 8,192 B. n150, ROW_MAJOR [1,1,1] to [2,1,400000] in DRAM: the 800,000 B stick
    /// misses codegen's window, and the HigherDim leg's two scratchpads clash (grow to
    /// 1,706,080 B).
    #[test]
    fn expands_of_several_dims_outside_codegen_run_the_native_legs() {
        let mut bf8 = case("expand", "2,3,64,96", Layout::Tile, BufferType::L1);
        bf8.dtype = DType::Bfloat8B;
        bf8.params.set("dim", ParamValue::Ints(vec![0, 3]));
        let progs = plan_programs(&bf8);
        let factories: Vec<&str> = progs.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            factories,
            [
                "UntilizeWithUnpaddingMultiCoreInterleavedProgramFactory",
                "RepeatProgramFactoryLastDim",
                "RepeatProgramFactoryHigherDim",
                "TilizeMultiCoreDefaultProgramFactory"
            ]
        );
        assert_eq!(progs[1].1[0], (144, "{[0-0 - 7-7]}".to_string()));
        assert_eq!(progs[2].1[0], (320, "{[0-0 - 7-7]}".to_string()));
        let e = bf8.estimate().expect("modeled");
        assert_eq!((e.peaks.dataflow, e.peaks.l1), (9_408, 3_328));
        let mut rank5 = case("expand", "2,3,2,64,96", Layout::Tile, BufferType::L1);
        rank5.params.set("dim", ParamValue::Ints(vec![0, 1]));
        let progs = plan_programs(&rank5);
        assert_eq!(
            progs,
            vec![
                (
                    "RepeatProgramFactoryHigherDim".to_string(),
                    vec![(2_176, "{[0-0 - 7-7]}".to_string())]
                );
                2
            ]
        );
        assert_eq!(rank5.estimate().expect("modeled").peaks.l1, 8_192);
        let mut wide = case("expand", "2,1,400000", Layout::RowMajor, BufferType::Dram);
        wide.params.set("dim", ParamValue::Ints(vec![0, 2]));
        match wide.estimate().expect("modeled").verdict {
            Verdict::CbClash(detail) => assert_eq!(
                detail.message(),
                "Statically allocated dataflow buffers on core range [0-0 - 7-7] grow to 1706080 B \
                 which is beyond max L1 size of 1499136 B"
            ),
            other => panic!("expected the CB clash, got {other:?}"),
        }
    }

    /// Captured on the runtime (NO_DISPATCH, mock n150 and p150): a uint8 expand of several
    /// dims through codegen's row-major legs is refused at the padding tilize back, as one dim
    /// is ([1,3,50,1] to [2,3,50,70] from DRAM); tile-aligned, the tilize takes it ([1,3,64,1]
    /// to [2,3,64,64] in L1 on p150: its block factory, CB 512 B, dataflow 2,048 B).
    #[test]
    fn uint8_expands_of_several_dims_refuse_the_padding_tilize_back() {
        let mut padded = case("expand", "2,3,50,70", Layout::Tile, BufferType::Dram);
        padded.dtype = DType::Uint8;
        padded.params.set("dim", ParamValue::Ints(vec![0, 3]));
        match padded.estimate() {
            Err(CaseError::Refused { reason, .. }) => assert_eq!(
                reason,
                "Can only tilize bfloat16/float32 or int32/uint32/uint16 or fp8_e4m3 tensors"
            ),
            other => panic!("expected the refusal, got {other:?}"),
        }
        let mut aligned = case("expand", "2,3,64,64", Layout::Tile, BufferType::L1);
        aligned.dtype = DType::Uint8;
        aligned.device = &crate::device::P150;
        aligned.params.set("dim", ParamValue::Ints(vec![0, 3]));
        let peaks = aligned.estimate().expect("modeled").peaks;
        assert_eq!((peaks.cb, peaks.dataflow), (512, 2_048));
    }
}
