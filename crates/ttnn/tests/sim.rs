//! The `sim` backend against numbers read from the real runtime (ttnn 0.81.1 on mock n150 /
//! p150 devices): allocator addresses and statistics after allocations and frees, tt-metal's
//! OOM and circular-buffer texts with their numbers, typed errors, memory back at its baseline
//! after every failure, NO_DISPATCH captures, and fault injection.

use memmodel::device::{N150, P150};
use memmodel::invoke::{Call, Invocation, Value};
use memmodel::{
    BufferType, Case, DType, DeviceLayout, DeviceSpec, Expectation, Layout, Params, Shape,
};
use ttnn::sim::{Device, DeviceOptions};
use ttnn::{measure_case, run_case, DeviceApi, Error, MemoryView, Outcome, TensorDesc};

fn open(spec: &'static DeviceSpec, l1_small: u64) -> Device {
    Device::open(spec, DeviceOptions::with_l1_small(l1_small)).unwrap()
}

fn tiles(dev: &Device, rows: u64, cols: u64, bt: BufferType) -> Result<ttnn::sim::Tensor, Error> {
    dev.empty(&TensorDesc {
        shape: vec![1, 1, rows, cols],
        dtype: DType::Bfloat16,
        layout: Layout::Tile,
        buffer_type: bt,
        sharding: None,
    })
}

fn views(dev: &Device) -> Vec<MemoryView> {
    [BufferType::Dram, BufferType::L1, BufferType::L1Small]
        .into_iter()
        .map(|b| dev.memory_view(b).unwrap())
        .collect()
}

fn case(op: &str, shape: &str, memory: BufferType, device: &'static DeviceSpec) -> Case {
    Case {
        op: memmodel::find_op(op).unwrap(),
        shape_set: None,
        model_inputs: vec![Shape::parse(shape).unwrap()],
        device_layout: DeviceLayout::AsGiven,
        params: Params::default(),
        dtype: DType::Bfloat16,
        layout: Layout::Tile,
        input_memory: memory,
        output_memory: memory,
        default_output_memory: false,
        sharding: None,
        device,
        expect: Expectation::Any,
    }
}

/// The runtime's addresses for a (1 tile/bank), b (3), c (2), then d (1) after freeing b.
#[test]
fn addresses_follow_the_runtime() {
    for (spec, l1_small, abc, d_at) in [
        (&N150, 0, [1_497_088, 1_490_944, 1_486_848], 1_495_040),
        (&P150, 32768, [1_538_048, 1_531_904, 1_527_808], 1_536_000),
    ] {
        let dev = open(spec, l1_small);
        let w = 32 * spec.l1_banks;
        let a = tiles(&dev, 32, w, BufferType::L1).unwrap();
        let b = tiles(&dev, 96, w, BufferType::L1).unwrap();
        let c = tiles(&dev, 64, w, BufferType::L1).unwrap();
        let got = [&a, &b, &c].map(|t| dev.address(t).unwrap());
        assert_eq!(got, abc, "{}", spec.name);
        drop(b);
        let d = tiles(&dev, 32, w, BufferType::L1).unwrap();
        assert_eq!(dev.address(&d), Some(d_at));
        assert_eq!(
            dev.tensor_info(&d).unwrap().address,
            Some(d_at),
            "tensor_info reports the address"
        );
    }
}

#[test]
fn fragmented_oom_reports_the_runtimes_numbers() {
    let dev = open(&N150, 0);
    let w = 32 * 64;
    let _a = tiles(&dev, 32, w, BufferType::L1).unwrap();
    let b = tiles(&dev, 96, w, BufferType::L1).unwrap();
    let _c = tiles(&dev, 64, w, BufferType::L1).unwrap();
    drop(b);
    let _d = tiles(&dev, 32, w, BufferType::L1).unwrap();
    let before = views(&dev);
    let err = tiles(&dev, 32 * 675, w, BufferType::L1).unwrap_err();
    assert_eq!(
        err.raw(),
        "Out of Memory: Not enough space to allocate 88473600 B L1 buffer across 64 banks, where each bank needs to store 1382400 B, but bank size is 1393312 B (allocated: 8192 B, free: 1385120 B, largest free block: 1381024 B)."
    );
    assert!(matches!(
        err,
        Error::OutOfMemory {
            allocated: 8192,
            largest_free_block: 1_381_024,
            ..
        }
    ));
    assert_eq!(views(&dev), before, "a refused allocation changes nothing");
}

#[test]
fn add_in_l1_fails_like_the_runtime_and_returns_to_baseline() {
    // ttnn 0.81.1 on a mock n150 (the metal smoke test's text).
    let c = case("add", "1,64,640,400", BufferType::L1, &N150);
    let dev = open(&N150, 0);
    let base = views(&dev);
    let out = run_case(&dev, &c).unwrap();
    assert_eq!(out.outcome, Outcome::Oom);
    assert_eq!(out.failed_at.as_deref(), Some("run"));
    assert_eq!(
        out.error.unwrap().raw(),
        "Out of Memory: Not enough space to allocate 34078720 B L1 buffer across 64 banks, where each bank needs to store 532480 B, but bank size is 1393312 B (allocated: 1064960 B, free: 328352 B, largest free block: 328352 B)."
    );
    assert!(out.leaks.is_empty());
    assert_eq!(views(&dev), base);
    assert_eq!(dev.live_buffers().0, 0);
}

#[test]
fn circular_buffer_clash_numbers() {
    // The runtime's region ends with L1 filled to one free tile per bank (ttnn 0.81.1):
    // silu 114016 (n150) / 119936 (p150), add 118112 / 124032.
    for (spec, silu_end, add_end, fill_at) in [
        (&N150, 114_016, 118_112, 108_544),
        (&P150, 119_936, 124_032, 114_688),
    ] {
        let dev = open(spec, 0);
        let bank = dev.memory_view(BufferType::L1).unwrap().bank_bytes;
        let fill = tiles(
            &dev,
            32 * (bank / 2048 - 1),
            32 * spec.l1_banks,
            BufferType::L1,
        )
        .unwrap();
        assert_eq!(dev.address(&fill), Some(fill_at));
        let x = tiles(&dev, 32, 32, BufferType::Dram).unwrap();
        let y = tiles(&dev, 32, 32, BufferType::Dram).unwrap();
        let before = views(&dev);
        let silu = Invocation::single(
            Call::new("ttnn.silu")
                .arg(Value::Input(0))
                .kwarg("memory_config", Value::MemoryConfig(BufferType::Dram)),
        );
        let err = dev.run(&silu, &[&x]).unwrap_err();
        match &err {
            Error::CircularBufferClash {
                l1_buffer_at,
                cb_region_end,
                dataflow,
                ..
            } => assert_eq!(
                (*l1_buffer_at, *cb_region_end, *dataflow),
                (fill_at, silu_end, true)
            ),
            other => panic!("{other:?}"),
        }
        assert!(err.raw().contains("clash with L1 buffers on core range"));
        let add = Invocation::single(
            Call::new("ttnn.add")
                .arg(Value::Input(0))
                .arg(Value::Input(1))
                .kwarg("memory_config", Value::MemoryConfig(BufferType::Dram)),
        );
        match dev.run(&add, &[&x, &y]).unwrap_err() {
            Error::CircularBufferClash {
                cb_region_end,
                dataflow: false,
                ..
            } => assert_eq!(cb_region_end, add_end),
            other => panic!("{other:?}"),
        }
        assert_eq!(views(&dev), before, "a clash gives back the op's output");
    }
}

#[test]
fn capture_allocates_nothing_and_reports_peaks() {
    // add [1,64,640,400] bf16 in L1 on a mock n150, NO_DISPATCH: peak CB 12288, L1 3 × 532480.
    let c = case("add", "1,64,640,400", BufferType::L1, &N150);
    let dev = open(&N150, 0);
    let base = views(&dev);
    let cap = measure_case(&dev, &c).unwrap();
    assert_eq!(views(&dev), base);
    assert_eq!(cap.per_core.peak_cb, 12_288);
    assert_eq!(cap.per_core.peak_l1, 1_597_440);
    assert_eq!(cap.per_core.peak_total, 1_609_728);
    assert_eq!(cap.buffers.len(), 3);
    assert_eq!(cap.circular_buffers.len(), 3);
}

#[test]
fn views_and_in_place_outputs_share_buffers() {
    let dev = open(&N150, 0);
    let x = tiles(&dev, 64, 64, BufferType::L1).unwrap();
    let one = dev.memory_view(BufferType::L1).unwrap().allocated_per_bank;
    let inplace = Invocation::single(
        Call::new("ttnn.silu")
            .arg(Value::Input(0))
            .kwarg("output_tensor", Value::Input(0)),
    );
    let outs = dev.run(&inplace, &[&x]).unwrap();
    assert_eq!(
        dev.memory_view(BufferType::L1).unwrap().allocated_per_bank,
        one
    );
    drop(x);
    assert_eq!(
        dev.memory_view(BufferType::L1).unwrap().allocated_per_bank,
        one,
        "the output keeps the buffer"
    );
    drop(outs);
    assert_eq!(
        dev.memory_view(BufferType::L1).unwrap().allocated_per_bank,
        0
    );
}

#[test]
fn fault_injection_fails_the_nth_allocation_and_leaves_memory_clean() {
    let c = case("add", "1,1,64,64", BufferType::L1, &N150);
    for n in 1..=3 {
        let dev = open(&N150, 0);
        let base = views(&dev);
        dev.fail_nth_allocation(Some(n)).unwrap();
        let out = run_case(&dev, &c).unwrap();
        assert_eq!(out.outcome, Outcome::Oom, "allocation {n}");
        assert!(
            matches!(out.error, Some(Error::OutOfMemory { .. })),
            "{:?}",
            out.error
        );
        let expected_at = if n <= 2 {
            format!("input {} (input)", n - 1).replace("input 1 (input)", "input 1 (other)")
        } else {
            "run".to_string()
        };
        assert_eq!(out.failed_at.as_deref(), Some(expected_at.as_str()));
        assert_eq!(views(&dev), base, "allocation {n}: memory back at baseline");
        assert_eq!(dev.live_buffers().0, 0);
        // The fault fires once.
        assert_eq!(run_case(&dev, &c).unwrap().outcome, Outcome::Ok);
    }
    let dev = open(&N150, 0);
    assert!(dev.fail_nth_allocation(Some(0)).is_err());
}

#[test]
fn l1_small_is_carved_off_the_top() {
    let dev = open(&N150, 32768);
    assert_eq!(
        dev.memory_view(BufferType::L1).unwrap().bank_bytes,
        1_360_544
    );
    assert_eq!(
        dev.memory_view(BufferType::L1Small).unwrap().bank_bytes,
        32768
    );
    let none = open(&N150, 0);
    assert_eq!(none.memory_view(BufferType::L1Small).unwrap().bank_bytes, 0);
}

/// A conv's halo and reader-index config tensors live in L1_SMALL, but the runtime's capture
/// reports them as L1 and counts them into its L1 peak (32×32, 64 → 64 3×3 ROW_MAJOR in L1 on
/// a mock n150, `cargo xtask probe --backend metal`: peak L1 13,536 B, total 34,080 B per core),
/// so a model's per-call trace on sim names the same buffers as the runtime's.
#[test]
fn capture_reports_l1_small_config_tensors_as_the_runtime_does() {
    let mut c = case("conv2d", "1,64,32,32", BufferType::L1, &N150);
    c.device_layout = DeviceLayout::NhwcFlat;
    c.layout = Layout::RowMajor;
    c.default_output_memory = true;
    c.params.set("out_channels", memmodel::ParamValue::Int(64));
    c.params
        .set("kernel_size", memmodel::ParamValue::Ints(vec![3, 3]));
    c.params
        .set("padding", memmodel::ParamValue::Ints(vec![1, 1]));
    let dev = open(&N150, 32768);
    let cap = measure_case(&dev, &c).unwrap();
    assert_eq!(cap.per_core.peak_cb, 20_544);
    assert_eq!(cap.per_core.peak_l1, 13_536);
    assert_eq!(cap.per_core.peak_total, 34_080);
    assert!(
        cap.buffers.iter().all(|b| b.buffer_type != "L1_SMALL"),
        "{:?}",
        cap.buffers
    );
}

/// YOLOv12x's a2c2f_cv1 and qkv at 640×640 as the demo chains them (models/yolov12x.toml #74-#76:
/// a 3×3 stride-2 block conv, then 1×1 convs): the buffers each call makes and its per-core
/// peaks, read from NO_DISPATCH captures on ttnn 0.81.1 of the same chain. a2c2f_cv1
/// (BLOCK_SHARDED, reshard_if_not_optimal off) runs on l5's own 8-column grid, 12 output tiles
/// as 2 per channel core, its weights padded to 16; qkv (told HEIGHT_SHARDED) finds 384
/// channels on 8 × 64-channel shards and is resharded block-sharded onto 6 channel cores.
#[test]
fn one_by_one_convs_on_a_block_sharded_input_follow_the_runtime() {
    const CHAIN: &str = r#"
[model]
name = "a2c2f-head"
resolution = [80, 80]

[[input]]
name = "x"
shape = [1, 1, "H * W", 768]
dtype = "bfloat8_b"

[[call]]
op = "conv2d"
inputs = ["x"]
nhw = [1, "H", "W"]
params = { out_channels = 768, kernel_size = 3, stride = 2, padding = 1, groups = 1, dtype = "bfloat8_b", weights_dtype = "bfloat8_b", shard_layout = "block", reshard_if_not_optimal = true, activation = "silu" }
outputs = ["l5"]
memory = "default"

[[call]]
op = "conv2d"
inputs = ["l5"]
nhw = [1, "H / 2", "W / 2"]
params = { out_channels = 384, kernel_size = 1, stride = 1, padding = 0, groups = 1, dtype = "bfloat8_b", weights_dtype = "bfloat8_b", shard_layout = "block", reshard_if_not_optimal = false, activation = "silu", act_block_h = 32 }
outputs = ["cv1"]
memory = "default"

[[call]]
op = "conv2d"
inputs = ["cv1"]
nhw = [1, "H / 2", "W / 2"]
params = { out_channels = 1152, kernel_size = 1, stride = 1, padding = 0, groups = 1, dtype = "bfloat8_b", weights_dtype = "bfloat8_b", shard_layout = "height", reshard_if_not_optimal = true }
outputs = ["qkv"]
memory = "default"
"#;
    type Call = (Vec<(&'static str, u64)>, [u64; 4]);
    let expected: [(&'static DeviceSpec, [Call; 2]); 2] = [
        (
            &N150,
            [
                (
                    vec![("DRAM", 34_816), ("DRAM", 2_176), ("L1", 15_232)],
                    [0, 60_928, 15_232, 76_160],
                ),
                (
                    vec![
                        ("L1", 15_232),
                        ("DRAM", 39_168),
                        ("DRAM", 3_264),
                        ("L1", 45_696),
                    ],
                    [0, 63_104, 60_928, 124_032],
                ),
            ],
        ),
        (
            &P150,
            [
                (
                    vec![("DRAM", 52_224), ("DRAM", 2_176), ("L1", 10_880)],
                    [0, 47_872, 10_880, 58_752],
                ),
                (
                    vec![
                        ("L1", 10_880),
                        ("DRAM", 58_752),
                        ("DRAM", 5_440),
                        ("L1", 32_640),
                    ],
                    [0, 54_400, 43_520, 97_920],
                ),
            ],
        ),
    ];
    for (spec, calls) in expected {
        let model = memmodel::model::ModelFile::parse(CHAIN, "a2c2f-head.toml")
            .and_then(|f| f.build(None, spec))
            .unwrap();
        let dev = open(spec, model.l1_small_bytes());
        let run = ttnn::model::run_model_with(&dev, &model, true).unwrap();
        assert!(run.failure.is_none(), "{}: {:?}", spec.name, run.failure);
        for (step, (buffers, [cb, dataflow, l1, total])) in run.steps[1..].iter().zip(calls) {
            let made: Vec<(&str, u64)> =
                step.buffers.iter().map(|(t, b)| (t.as_str(), *b)).collect();
            assert_eq!(made, buffers, "{} {}", spec.name, step.label);
            let p = step.peaks.expect("measured");
            assert_eq!(
                (p.peak_cb, p.peak_dataflow_buffer, p.peak_l1, p.peak_total),
                (cb, dataflow, l1, total),
                "{} {}",
                spec.name,
                step.label
            );
        }
    }
}

/// The runtime's program cache keys SliceRm on the slice, not on the free L1 its factory read:
/// a NO_DISPATCH capture after the device run runs the programs that run built. Read from the
/// runtime (ttnn 0.81.1, mock p150): a ROW_MAJOR float32 [96,108128] in L1 split by 88031
/// (random draw, issue 11) reads its first piece in 16,384 B chunks beside the input and that
/// piece on the device run, and its capture peaks at the second piece's 160,832 B of whole
/// rows; the capture's own build on a bank it sees free would read 704,256 B of rows.
#[test]
fn a_capture_after_a_device_run_runs_the_slices_it_cached() {
    let mut c = case("split_with_sizes", "96,108128", BufferType::L1, &P150);
    c.dtype = DType::Float32;
    c.layout = Layout::RowMajor;
    c.params
        .set("split_size", memmodel::ParamValue::Int(88_031));
    let dev = open(&P150, 0);
    assert_eq!(run_case(&dev, &c).unwrap().outcome, Outcome::Ok);
    let cap = measure_case(&dev, &c).unwrap();
    assert_eq!(cap.per_core.peak_dataflow_buffer, 160_832);
    assert_eq!(cap.per_core.peak_l1, 865_040);
}

/// `concat_impl` joins more than 47 interleaved inputs in batches of 47 before a final concat.
/// Read from the runtime (ttnn 0.81.1, mock n150): a bfloat8_b [41544544] pair stacked along
/// dim -1 from DRAM concatenates 61 chunks of rows as 47 + 14 and runs out at the final
/// 2,658,850,816 B output with 969,477,888 B allocated (largest free block 56,371,392 B).
#[test]
fn a_concat_of_more_than_47_inputs_goes_in_batches() {
    let mut c = case("stack", "41544544", BufferType::Dram, &N150);
    c.dtype = DType::Bfloat8B;
    c.params.set("dim", memmodel::ParamValue::Int(-1));
    let dev = open(&N150, 0);
    let out = run_case(&dev, &c).unwrap();
    let message = out.error.map(|e| e.to_string()).unwrap_or_default();
    assert!(
        message.contains(
            "2658850816 B DRAM buffer across 12 banks, where each bank needs to store 221571072 B, but bank size is 1072693184 B (allocated: 969477888 B, free: 103215296 B, largest free block: 56371392 B)"
        ),
        "{message}"
    );
}

/// A case's capture runs after its device run, whose untilize the capture takes from the
/// program cache: that run's blocks are capped by the L1 its input and output left, though the
/// capture itself allocates neither. Measured on n150 (ttnn 0.81.1): TILE bfloat16 in L1 to
/// ROW_MAJOR, [363973] in blocks of 60 tiles (dataflow peak 389,120 B; 90 tiles beside the
/// output alone), [1,303264] and [303264] in blocks of 75 (417,792 B; 151 beside the output).
#[test]
fn capture_untilizes_in_the_blocks_its_device_run_built() {
    for (shape, dataflow) in [
        ("363973", 389_120),
        ("303264", 417_792),
        ("1,303264", 417_792),
    ] {
        let mut c = case("to_layout", shape, BufferType::L1, &N150);
        c.params
            .set("layout", memmodel::ParamValue::Str("row_major".into()));
        let dev = open(&N150, 0);
        let cap = measure_case(&dev, &c).unwrap();
        assert_eq!(cap.per_core.peak_dataflow_buffer, dataflow, "[{shape}]");
    }
}

/// Concat's route is the capture's own choice, not a cached program: it reads the capture's L1,
/// without the capture's own inputs. Measured on p150 (ttnn 0.81.1): four bfloat16
/// [4,34168,93] in L1 along dim -1 are captured band-wise (`ConcatTiledUnalignedProgramFactory`,
/// CB peak 147,456 B, no dataflow buffers), though the L1 the inputs leave would route them
/// row-major.
#[test]
fn capture_routes_a_concat_on_its_own_l1() {
    let mut c = case("concat", "4,34168,93", BufferType::L1, &P150);
    c.model_inputs = vec![Shape::parse("4,34168,93").unwrap(); 4];
    c.params.set("dim", memmodel::ParamValue::Int(-1));
    let dev = open(&P150, 0);
    let cap = measure_case(&dev, &c).unwrap();
    assert_eq!(
        (cap.per_core.peak_cb, cap.per_core.peak_dataflow_buffer),
        (147_456, 0)
    );
}
