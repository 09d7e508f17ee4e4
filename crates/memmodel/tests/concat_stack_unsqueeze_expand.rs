//! memmodel's plans of concat, stack, unsqueeze and expand against facts measured on the real
//! runtime (ttnn 0.81.1, mock boards, NO_DISPATCH captures through `cargo xtask diff`), one
//! case per path; the random differential (`cargo xtask diff --random N --op
//! concat,stack,unsqueeze,expand`) checks the rest.

use memmodel::device::{N150, P150};
use memmodel::{find_op, BufferType, Case, DeviceSpec, Layout, ParamValue, Shape, Verdict};

fn case(op: &str, shape: &str, device: &'static DeviceSpec) -> Case {
    let mut c = Case::new(
        find_op(op).unwrap(),
        vec![Shape::parse(shape).unwrap()],
        device,
    );
    c.layout = Layout::Tile;
    c.input_memory = BufferType::Dram;
    c.output_memory = BufferType::Dram;
    c
}

/// Found by the random differential (seed 61206): expanding [1,2,228,1] to a last dim of
/// 175,513 from and to DRAM on p150 runs the repeat codegen factory with 4 slots of 351,040 B
/// (1,404,160 B, fits), where 8 slots would grow the CBs past L1.
#[test]
fn expand_takes_as_many_repeat_slots_as_the_l1_holds() {
    let mut c = case("expand", "1,2,228,175513", &P150);
    c.params.set("dim", ParamValue::Int(-1));
    let e = c.estimate().expect("modeled");
    assert!(matches!(e.verdict, Verdict::Fits), "{:?}", e.verdict);
    assert_eq!(e.peaks.cb, 1_404_160);
}

/// Found by the random differential (seed 60333): expanding [634,1] to [634,33820] in L1 on
/// n150 tilizes with padding; the device run caps the blocks by its 36,976 B of free L1, but
/// the capture's `enough_space_width` differs from the device run's, so it builds its own
/// program on the whole bank: blocks of 20 tiles (2 × 40,960 B) and a 17-tile cliff
/// (2 × 34,816 B), 151,552 B of dataflow buffers traced.
#[test]
fn padded_tilize_of_an_expand_is_captured_on_the_whole_bank_when_its_width_flag_differs() {
    let mut c = case("expand", "634,33820", &N150);
    c.input_memory = BufferType::L1;
    c.output_memory = BufferType::L1;
    c.params.set("dim", ParamValue::Int(-1));
    let e = c.estimate().expect("modeled");
    assert!(matches!(e.verdict, Verdict::Fits), "{:?}", e.verdict);
    assert_eq!(e.peaks.cb, 541_184);
    assert_eq!(e.peaks.dataflow, 151_552);
}

/// Found by the random differential (seed 60371): a TILE expand from DRAM into L1 untilizes
/// into DRAM (the input's memory), so its repeat's L1 output is the first L1 buffer and the
/// one that runs out, with nothing else allocated.
#[test]
fn expand_from_dram_into_l1_untilizes_in_dram() {
    let mut c = case("expand", "6,17152,480", &N150);
    c.output_memory = BufferType::L1;
    c.params.set("dim", ParamValue::Int(-1));
    let e = c.estimate().expect("modeled");
    let Verdict::Oom(d) = &e.verdict else {
        panic!("expected an OOM, got {:?}", e.verdict)
    };
    assert_eq!((d.per_bank_bytes, d.allocated), (1_543_680, 0));
}

fn row_major(op: &str, shape: &str, device: &'static DeviceSpec, memory: BufferType) -> Case {
    let mut c = case(op, shape, device);
    c.layout = Layout::RowMajor;
    c.input_memory = memory;
    c.output_memory = memory;
    c
}

/// Measured on the mock p150: a ROW_MAJOR concat stages two output rows while they fit half
/// the core's L1, one past that ([1,1,1376,180608] pairs along the last dim: 722,432 B rows;
/// [1,1,1376,1808] ones: 2 × 7,232 B).
#[test]
fn row_major_concat_stages_one_row_when_two_would_pass_half_the_l1() {
    let mut c = row_major("concat", "1,1,1376,180608", &P150, BufferType::L1);
    c.params.set("dim", ParamValue::Int(-1));
    assert_eq!(c.estimate().expect("modeled").peaks.dataflow, 722_432);
    let mut narrow = row_major("concat", "1,1,1376,1808", &P150, BufferType::L1);
    narrow.params.set("dim", ParamValue::Int(-1));
    assert_eq!(
        narrow.estimate().expect("modeled").peaks.dataflow,
        2 * 7_232
    );
}

/// The runtime refuses a ROW_MAJOR concat whose output row exceeds the core's unreserved L1,
/// after its inputs and output exist (seen on p150: four 1-D [9554528] bfloat16 inputs).
#[test]
fn row_major_concat_of_a_row_larger_than_l1_is_refused_with_the_runtimes_words() {
    let mut c = row_major("concat", "9554528", &P150, BufferType::Dram);
    c.params.set("inputs", ParamValue::Int(4));
    match c.estimate() {
        Err(memmodel::ops::CaseError::Refused { reason, .. }) => assert_eq!(
            reason,
            "ttnn.concat: required DFB entry size (76436224 B) exceeds per-core L1 capacity (1461120 B); op cannot fit on this device."
        ),
        other => panic!("expected the refusal, got {other:?}"),
    }
}

/// An unaligned last-dim concat transposes its inputs, concatenates and transposes back; the
/// transposed inputs stay allocated until the output exists (seen on p150: [4372,2774] pairs in
/// L1 run out at the 444,160 B-per-bank output with 1,345,728 B allocated).
#[test]
fn unaligned_row_major_concat_keeps_its_transposed_inputs_until_the_output_exists() {
    let mut c = row_major("concat", "4372,2774", &P150, BufferType::L1);
    c.params.set("dim", ParamValue::Int(-1));
    let e = c.estimate().expect("modeled");
    let Verdict::Oom(d) = &e.verdict else {
        panic!("expected an OOM, got {:?}", e.verdict)
    };
    assert_eq!((d.per_bank_bytes, d.allocated), (444_160, 1_345_728));
}

/// A TILE concat along a dim the tiles pad untilizes every input with
/// `untilize_with_unpadding`, those the tiles do not pad too: measured on the mock n150,
/// [3,14080,64] beside [3,4267,64] along dim 1 from DRAM, 2 × 8,192 B of dataflow buffers in
/// float32 and no circular buffer (bfloat16 alike: no codegen untilize).
#[test]
fn padded_tile_concat_untilizes_every_input_with_unpadding() {
    let concat = |dtype: memmodel::DType, shapes: &[&str], dim: i64| {
        let mut c = Case::new(
            find_op("concat").unwrap(),
            shapes.iter().map(|s| Shape::parse(s).unwrap()).collect(),
            &N150,
        );
        c.layout = Layout::Tile;
        c.dtype = dtype;
        c.input_memory = BufferType::Dram;
        c.output_memory = BufferType::Dram;
        c.params.set("dim", ParamValue::Int(dim));
        c.estimate()
    };
    let pair = ["3,14080,64", "3,4267,64"];
    let f32 = concat(memmodel::DType::Float32, &pair, 1).expect("modeled");
    assert_eq!((f32.peaks.cb, f32.peaks.dataflow), (0, 16_384));
    let bf16 = concat(memmodel::DType::Bfloat16, &pair, 1).expect("modeled");
    assert_eq!(bf16.peaks.cb, 0);
    // A long 1-D pair through L1: the second untilize runs the first one's cached program,
    // whose blocks were built beside less live L1, and clashes with its own output (seen on
    // n150, random seed 1207901: two float32 [101830], L1 buffer at 274,880, dataflow buffers
    // to 523,616).
    let mut long_1d_in_l1 = case("concat", "101830", &N150);
    long_1d_in_l1.dtype = memmodel::DType::Float32;
    long_1d_in_l1.input_memory = BufferType::L1;
    long_1d_in_l1.output_memory = BufferType::L1;
    let e = long_1d_in_l1.estimate().expect("modeled");
    let Verdict::CbClash(d) = &e.verdict else {
        panic!("expected a CB clash, got {:?}", e.verdict)
    };
    assert!(
        d.message().ends_with("region ends at 523616"),
        "{}",
        d.message()
    );
}

fn bfloat8_b_concat(shape: &str, dim: i64, device: &'static DeviceSpec) -> Case {
    let mut c = case("concat", shape, device);
    c.dtype = memmodel::DType::Bfloat8B;
    c.params.set("dim", ParamValue::Int(dim));
    c
}

/// `build_non_aligned_last_dim_concat` tests the inputs' padded width times `element_size()`
/// (1 B for bfloat8_b) against their buffer's alignment (64 B in p150's DRAM): two [32,96]
/// bfloat8_b along dim 1 transpose WH, concatenate along H and transpose back (measured on
/// p150: a dataflow peak of 4,352 B, 2 × 2,176 B in each TransposeWH), [64,1280] joins its
/// tiles as they are (2,176 B).
#[test]
fn bfloat8_b_concat_transposes_widths_that_miss_the_dram_alignment() {
    let peak = |c: &Case| c.estimate().expect("modeled").peaks.dataflow;
    assert_eq!(peak(&bfloat8_b_concat("32,96", 1, &P150)), 4352);
    assert_eq!(peak(&bfloat8_b_concat("64,1280", 1, &P150)), 2176);
}

/// concat's row-major route untilizes every input with `untilize_with_unpadding`, which takes
/// the codegen prim for bfloat16 alone, and sizes the untilized rows as bfloat16: two
/// [517,41808] bfloat8_b along dim 1 from DRAM on p150 (rows of 83,616 B, off the 64 B
/// alignment) untilize with the block factory and join between WH transposes: dataflow peak
/// 184,320 B (measured), not a 334,464 B row concat.
#[test]
fn bfloat8_b_concat_untilizes_to_bfloat16_rows() {
    let c = bfloat8_b_concat("517,41808", 1, &P150);
    assert_eq!(c.estimate().expect("modeled").peaks.dataflow, 184_320);
}

/// A last-dim concat whose transposed row would exceed a core's L1 goes in chunks of
/// `l1 / (2 × element size)` rows (concat.cpp, issue 43371), each a slice, a concat and the
/// transposes around it, then one concat along dim -2: measured on the mock p150, two
/// [1,1,2073600,48] bfloat16 ROW_MAJOR in DRAM (YOLOv12x 4320×7680's #18) stage one
/// 730,560 B row (365,280 rows × 2 B) at a time and fit; on the mock n150, int32 TILE
/// [400000,7] and [400000,9] (untilized, chunked by whole tiles) peak at 696,576 B per core.
#[test]
fn last_dim_concat_of_rows_too_tall_to_transpose_goes_in_chunks_of_rows() {
    let mut yolo = row_major("concat", "1,1,2073600,48", &P150, BufferType::Dram);
    yolo.params.set("dim", ParamValue::Int(3));
    let e = yolo.estimate().expect("modeled");
    assert!(matches!(e.verdict, Verdict::Fits), "{:?}", e.verdict);
    assert_eq!((e.peaks.dataflow, e.peaks.total), (730_560, 730_560));
    let mut int32 = Case::new(
        find_op("concat").unwrap(),
        vec![
            Shape::parse("400000,7").unwrap(),
            Shape::parse("400000,9").unwrap(),
        ],
        &N150,
    );
    int32.layout = Layout::Tile;
    int32.dtype = memmodel::DType::Int32;
    int32.input_memory = BufferType::Dram;
    int32.output_memory = BufferType::Dram;
    int32.params.set("dim", ParamValue::Int(1));
    let e = int32.estimate().expect("modeled");
    assert!(matches!(e.verdict, Verdict::Fits), "{:?}", e.verdict);
    assert_eq!(e.peaks.total, 696_576);
}

/// Where the runtime refuses a TILE concat's round trip, memmodel refuses with its words: a
/// uint8 one at the tilize back (seen on n150: four uint8 [*,12320] along dim 0 from DRAM), a
/// bfloat4_b one at its untilize (seen on p150: [209,218] pairs along dim 0).
#[test]
fn tile_concat_round_trips_the_runtime_refuses_are_refused_in_its_words() {
    let refusal = |dtype: memmodel::DType, shape: &str, device: &'static DeviceSpec| {
        let mut c = case("concat", shape, device);
        c.dtype = dtype;
        c.params.set("dim", ParamValue::Int(0));
        match c.estimate() {
            Err(memmodel::ops::CaseError::Refused { reason, .. }) => reason,
            other => panic!("expected a refusal, got {other:?}"),
        }
    };
    assert!(refusal(memmodel::DType::Uint8, "5676,12320", &N150)
        .contains("Can only tilize bfloat16/float32 or int32/uint32/uint16 or fp8_e4m3 tensors"));
    assert!(refusal(memmodel::DType::Bfloat4B, "209,218", &P150)
        .contains("Only TILE layout is supported for BFLOAT8_B dtype!"));
}

/// Rows wider than 256 KiB take the block-interleaved untilize and tilize of a padded concat
/// dim: measured on the mock n150, bfloat16 [9,368640] and [5,368640] along dim 0 from DRAM
/// (720 KiB rows) peak at 1,462,272 B of dataflow buffers, 1,485,248 B in all per core.
#[test]
fn wide_row_padded_concat_takes_the_block_untilize_and_tilize() {
    let mut c = Case::new(
        find_op("concat").unwrap(),
        vec![
            Shape::parse("9,368640").unwrap(),
            Shape::parse("5,368640").unwrap(),
        ],
        &N150,
    );
    c.layout = Layout::Tile;
    c.input_memory = BufferType::Dram;
    c.output_memory = BufferType::Dram;
    c.params.set("dim", ParamValue::Int(0));
    let e = c.estimate().expect("modeled");
    assert!(matches!(e.verdict, Verdict::Fits), "{:?}", e.verdict);
    assert_eq!((e.peaks.dataflow, e.peaks.total), (1_462_272, 1_485_248));
}
