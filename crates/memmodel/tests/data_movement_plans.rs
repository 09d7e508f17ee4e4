//! memmodel's transpose / permute / split / reshape plans against what the real runtime did.
//!
//! Each number below was measured on ttnn 0.81.1 with a NO_DISPATCH graph capture on a mock
//! device (per-core peaks of the circular / dataflow buffers, the failing buffer of an OOM);
//! the case is named beside it.

use memmodel::device::{N150, P150};
use memmodel::{BufferType, Case, DType, DeviceSpec, Layout, ParamValue, Shape, Verdict};

fn case(
    op: &str,
    shape: &str,
    dtype: DType,
    (input, output): (BufferType, BufferType),
    device: &'static DeviceSpec,
    params: &[(&str, ParamValue)],
) -> Case {
    let mut c = Case::new(
        memmodel::find_op(op).unwrap(),
        vec![Shape::parse(shape).unwrap()],
        device,
    );
    c.dtype = dtype;
    c.layout = Layout::Tile;
    c.input_memory = input;
    c.output_memory = output;
    for (k, v) in params {
        c.params.set(k, v.clone());
    }
    c
}

fn dataflow_peak(c: &Case) -> u64 {
    let e = c
        .estimate()
        .unwrap_or_else(|e| panic!("{}: {e}", c.op.name));
    assert_eq!(e.peaks.cb, 0, "{}: no circular buffers", c.op.name);
    e.peaks.dataflow
}

const L1: (BufferType, BufferType) = (BufferType::L1, BufferType::L1);
const DRAM_TO_L1: (BufferType, BufferType) = (BufferType::Dram, BufferType::L1);
const DRAM: (BufferType, BufferType) = (BufferType::Dram, BufferType::Dram);

fn dims(d0: i64, d1: i64) -> [(&'static str, ParamValue); 2] {
    [("dim0", ParamValue::Int(d0)), ("dim1", ParamValue::Int(d1))]
}

/// bfloat8_b transposes other than WH and CN run on a bfloat16 copy: the typecasts' buffers
/// (2 × 1088 + 2 × 2048 B) are the peak, and the transposed bfloat16 tensor is what runs out.
#[test]
fn bfloat8_b_transposes_go_through_bfloat16_except_wh_and_cn() {
    let bf8 = DType::Bfloat8B;
    // [1,2,64,96] on n150, L1: HC 6272 B; WH 4352 B (its own tiles, no typecast).
    let hc = case("transpose", "1,2,64,96", bf8, L1, &N150, &dims(1, 2));
    assert_eq!(dataflow_peak(&hc), 6272);
    let wh = case("transpose", "1,2,64,96", bf8, L1, &N150, &dims(2, 3));
    assert_eq!(dataflow_peak(&wh), 4352);
    // [3,5,97,65] on p150, DRAM: CN 2 × 1088 B (no typecast).
    let cn = case("transpose", "3,5,97,65", bf8, DRAM, &P150, &dims(0, 1));
    assert_eq!(dataflow_peak(&cn), 2176);
    // [3,2,224,11360] on n150, L1, dim1=1 (HC): the bfloat16 output of the transpose fails
    // after the input and its bfloat16 copy.
    let big = case(
        "transpose",
        "3,2,224,11360",
        bf8,
        L1,
        &N150,
        &[("dim1", ParamValue::Int(1))],
    );
    match big.estimate().unwrap().verdict {
        Verdict::Oom(o) => {
            assert_eq!(
                (o.total_bytes, o.per_bank_bytes, o.allocated),
                (488_570_880, 7_634_944, 730_688)
            )
        }
        other => panic!("expected an OOM, got {other:?}"),
    }
}

/// Transposes involving dim 0 and permutes moving both tiled dims: the CN factory, or the
/// permute device operation's generic tiled factory (three buffers of two tiles, each widened
/// by the input's alignment past a face line, and a face line when the new height pads).
#[test]
fn dim_0_transposes_and_generic_permutes_take_the_runtimes_buffers() {
    let bf16 = DType::Bfloat16;
    // [1,2,64,96] bfloat16, DRAM → L1, n150: transpose(0, 3) 3 × 4096 B.
    let nw = case(
        "transpose",
        "1,2,64,96",
        bf16,
        DRAM_TO_L1,
        &N150,
        &dims(0, 3),
    );
    assert_eq!(dataflow_peak(&nw), 12_288);
    // [3,5,97,65] bfloat16 in p150's DRAM (64 B aligned): 3 × 2 × (2048 + 32) + 32 B.
    let cw = case("transpose", "3,5,97,65", bf16, DRAM, &P150, &dims(1, 3));
    assert_eq!(dataflow_peak(&cw), 12_512);
    let p = case(
        "permute",
        "3,5,97,65",
        bf16,
        DRAM,
        &P150,
        &[("dims", ParamValue::Ints(vec![2, 3, 0, 1]))],
    );
    assert_eq!(dataflow_peak(&p), 12_512);
    // [2,70,35] bfloat16 in L1 on n150, permute (2, 1, 0): 3 × 4096 + 32 B.
    let r3 = case(
        "permute",
        "2,70,35",
        bf16,
        L1,
        &N150,
        &[("dims", ParamValue::Ints(vec![2, 1, 0]))],
    );
    assert_eq!(dataflow_peak(&r3), 12_320);
    // bfloat8_b [1,2,64,32] in L1 on n150, permute (0, 3, 1, 2): the row-invariant factory on
    // the bfloat16 copy, 2 × 2048 + 32 + 2 × 2048 B.
    let bf8 = case(
        "permute",
        "1,2,64,32",
        DType::Bfloat8B,
        L1,
        &N150,
        &[("dims", ParamValue::Ints(vec![0, 3, 1, 2]))],
    );
    assert_eq!(dataflow_peak(&bf8), 8224);
}

/// A dim with itself, and the identity permutation: the input itself in its memory, else a
/// copy of two tiles in a dataflow buffer; a bfloat8_b identity transpose still typecasts
/// there and back.
#[test]
fn identity_transposes_and_permutes_copy_only_into_another_memory() {
    let f32_move = case(
        "permute",
        "2,97,65",
        DType::Float32,
        DRAM_TO_L1,
        &P150,
        &[("dims", ParamValue::Ints(vec![0, 1, 2]))],
    );
    assert_eq!(dataflow_peak(&f32_move), 8192);
    let same = case(
        "transpose",
        "1,2,64,96",
        DType::Bfloat16,
        DRAM,
        &N150,
        &dims(2, 2),
    );
    assert_eq!(dataflow_peak(&same), 0);
    let bf8 = case(
        "transpose",
        "2,97,65",
        DType::Bfloat8B,
        DRAM,
        &P150,
        &dims(1, 1),
    );
    assert_eq!(dataflow_peak(&bf8), 6272);
}

fn shape(dims: &[i64]) -> [(&'static str, ParamValue); 1] {
    [("shape", ParamValue::Ints(dims.to_vec()))]
}

/// A copying bfloat8_b reshape runs on a bfloat16 copy whose padding is filled before the
/// typecast back: the fill's four buffers (2 × 2048 + 2048 + 2048 + 2 × 2048 B) are the peak.
#[test]
fn block_float_reshapes_copy_through_bfloat16_and_fill_the_padding() {
    let c = case(
        "view",
        "1,5,526,713",
        DType::Bfloat8B,
        DRAM_TO_L1,
        &N150,
        &shape(&[1, 1, 2630, 713]),
    );
    assert_eq!(dataflow_peak(&c), 12_288);
    // The same reshape in bfloat16: the page map's row (1792 B) and one tile.
    let c = case(
        "view",
        "1,5,526,713",
        DType::Bfloat16,
        DRAM_TO_L1,
        &N150,
        &shape(&[1, 1, 2630, 713]),
    );
    assert_eq!(dataflow_peak(&c), 3840);
}

/// The same shape into another memory: a plain copy when nothing pads, else the tiled reshape
/// (the runtime asks for the logical shape as the padded one).
#[test]
fn same_shape_reshapes_into_another_memory_copy_as_the_runtime_does() {
    let to_dram = (BufferType::L1, BufferType::Dram);
    let aligned = case(
        "view",
        "1,3,32,32",
        DType::Uint16,
        to_dram,
        &N150,
        &shape(&[1, 3, 32, 32]),
    );
    assert_eq!(dataflow_peak(&aligned), 4096);
    let padded = case(
        "view",
        "1,3,32,40",
        DType::Bfloat16,
        to_dram,
        &N150,
        &shape(&[1, 3, 32, 40]),
    );
    assert_eq!(dataflow_peak(&padded), 3296);
}

/// uint16 / uint8 reshapes that move pages are refused with the runtime's words.
#[test]
fn copying_uint16_reshapes_are_refused() {
    let c = case(
        "view",
        "1,3,32,32",
        DType::Uint16,
        (BufferType::L1, BufferType::Dram),
        &N150,
        &shape(&[3, 32, 8, 4]),
    );
    match c.estimate() {
        Err(memmodel::ops::CaseError::Refused { reason, .. }) => assert_eq!(
            reason,
            "Can only work with bfloat16/float32 or int32/uint32 tensors"
        ),
        other => panic!("expected the refusal, got {other:?}"),
    }
}

/// A one-piece split along a tile-aligned last dim runs the split kernel (a copy, two tiles per
/// core); other one-piece splits hand the input back.
#[test]
fn one_piece_splits_copy_only_where_the_split_kernel_takes_them() {
    let sizes = |v: i64, dim: i64| {
        [
            ("split_sizes", ParamValue::Ints(vec![v])),
            ("dim", ParamValue::Int(dim)),
        ]
    };
    let f32 = DType::Float32;
    let kernel = case(
        "split_with_sizes",
        "3,192,160",
        f32,
        L1,
        &N150,
        &sizes(160, 2),
    );
    assert_eq!(dataflow_peak(&kernel), 8192);
    let e = kernel.estimate().unwrap();
    assert_eq!(e.peak_l1_per_bank_bytes, 2 * 8192, "input and its copy");
    for (shape, size, dim) in [
        ("3,192,150", 150, 2),
        ("3,20,160", 160, 2),
        ("3,192,160", 192, 1),
        ("3,2,5344,224", 224, 3),
    ] {
        let view = case("split_with_sizes", shape, f32, L1, &N150, &sizes(size, dim));
        assert_eq!(dataflow_peak(&view), 0, "{shape} along {dim}");
    }
}

/// Found by the random differential (CI's slice, seed 73265932109816): a bfloat16 split of
/// [4,1,736,6336] along dim 2 into 368s starts its second piece off a tile, so it untilizes
/// first. `supported_by_codegen` refuses the input (two CBs of a 198-tile row exceed its
/// 800 000 B wide-tensor threshold), so the runtime untilizes with the native block factory
/// (dataflow peak 73,728 B, no circular buffers) where the codegen plan clashed (1,727,840 B).
#[test]
fn wide_unaligned_splits_untilize_natively() {
    let sizes = [
        ("split_sizes", ParamValue::Ints(vec![368, 368])),
        ("dim", ParamValue::Int(2)),
    ];
    let c = case(
        "split_with_sizes",
        "4,1,736,6336",
        DType::Bfloat16,
        DRAM,
        &N150,
        &sizes,
    );
    let e = c.estimate().unwrap();
    assert_eq!(e.verdict, Verdict::Fits);
    assert_eq!(dataflow_peak(&c), 73_728);
}

/// The untilize codegen's CB plan (`pages_for_builder`) on the runtime, n150, bfloat16 DRAM
/// split of [1,1,96,6240] into 48s (three tile rows, Wt 195) cuts each row into 15 pieces of 13
/// tiles: CB peak 2 × 2 × 13 × 2048 = 106,496 B, dataflow 28,672 B (the old plan: 2 × 2 × 195).
#[test]
fn untilize_codegen_cuts_few_rows_into_column_pieces() {
    let sizes = [
        ("split_sizes", ParamValue::Ints(vec![48, 48])),
        ("dim", ParamValue::Int(2)),
    ];
    let c = case(
        "split_with_sizes",
        "1,1,96,6240",
        DType::Bfloat16,
        DRAM,
        &N150,
        &sizes,
    );
    let e = c.estimate().unwrap();
    assert_eq!((e.peaks.cb, e.peaks.dataflow), (106_496, 28_672));
}

fn peaks(c: &Case) -> memmodel::program::Peaks {
    c.plan()
        .unwrap_or_else(|e| panic!("{}: {e}", c.op.name))
        .peaks()
}

/// A bfloat8_b split's unaligned piece untilizes to bfloat16 (the runtime's untilize converts
/// natively), is sliced and tilized as bfloat16: the piece comes back bfloat16. Measured on
/// n150: [1,2,94,86] split by 46 along the last dim (L1 and DRAM alike): 3,264 B of bfloat8_b input tiles
/// beside 6,144 B of bfloat16 output tiles in the untilize, 4,096 B in the tilize; dataflow
/// peak 9,408 B (it was sized as bfloat8_b throughout: 6,528 B).
#[test]
fn bfloat8_b_split_pieces_untilize_to_bfloat16() {
    let c = case(
        "split",
        "1,2,94,86",
        DType::Bfloat8B,
        DRAM,
        &N150,
        &[("split_size", ParamValue::Int(46))],
    );
    assert_eq!(dataflow_peak(&c), 9408);
}

/// Only two equal halves take the two-chunk split kernel: [1,9984,256] bfloat8_b split by 205
/// (pieces 205 and 51) slices on the runtime (n150, DRAM: a codegen untilize of 50,176 B of
/// circular buffers), where the kernel's 2,176 B were planned.
#[test]
fn unequal_two_piece_splits_slice() {
    let c = case(
        "split",
        "1,9984,256",
        DType::Bfloat8B,
        DRAM,
        &N150,
        &[("split_size", ParamValue::Int(205))],
    );
    let p = peaks(&c);
    assert_eq!((p.cb, p.dataflow), (50_176, 8192));
}

/// `plan_cb_depths` of the untilize codegen: where four rows of 2048 B tiles exceed the usable
/// L1, the output CB keeps one row. Measured on p150: [5792,6112] bfloat8_b split along dim 1
/// from DRAM (Wt 191): 415,616 B input and 391,168 B output circular buffers.
#[test]
fn codegen_untilize_single_buffers_its_output_when_l1_is_short() {
    let c = case(
        "split",
        "5792,6112",
        DType::Bfloat8B,
        DRAM,
        &P150,
        &[("dim", ParamValue::Int(1))],
    );
    assert_eq!(peaks(&c).cb, 415_616 + 391_168);
}

/// The untilize block factories cap their block by the free L1 (`cb_block_size_limit`, an
/// input and an output tile per block tile). Measured on p150: [138,620215] bfloat8_b split
/// along dim 0 from L1 to DRAM (958,528 B of L1 per bank taken) untilizes in blocks of 59
/// tiles (64,192 B + 120,832 B), not 178: dataflow peak 606,208 B. (Unaligned pieces of L1
/// inputs stay unmodeled: this is the plan under that gate.)
#[test]
fn untilize_blocks_are_capped_by_the_free_l1() {
    let c = case(
        "split",
        "138,620215",
        DType::Bfloat8B,
        (BufferType::L1, BufferType::Dram),
        &P150,
        &[("dim", ParamValue::Int(-2))],
    );
    assert_eq!(peaks(&c).dataflow, 606_208);
}

/// `UntilizeSingleCoreProgramFactory` sizes its block by an input and an output tile per block
/// tile, though its route (`get_pf_type`) weighs two input tiles. Measured on p150: a
/// [5,1888,13952] bfloat8_b split along its width from DRAM (Wt 436, too wide for two half-L1
/// CBs) untilizes in blocks of 109 tiles, 118,592 B of bfloat8_b and 223,232 B of bfloat16:
/// dataflow peak 341,824 B (218 tiles, 683,648 B, planned before; random split seed 1207732).
#[test]
fn single_core_untilize_blocks_weigh_input_and_output_tiles() {
    let mut c = case(
        "split",
        "5,1888,13952",
        DType::Bfloat8B,
        DRAM,
        &P150,
        &[
            ("dim", ParamValue::Int(2)),
            (
                "split_sizes",
                ParamValue::Ints(vec![1130, 699, 5980, 281, 239, 5623]),
            ),
        ],
    );
    c.device_layout = memmodel::DeviceLayout::AsGiven;
    assert_eq!(peaks(&c).dataflow, 341_824);
}
