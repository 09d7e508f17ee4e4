//! The `metal` backend on a mock n150, for real. Expected numbers come from memmodel (computed)
//! or from the device's own memory view; the one literal runtime text is the smoke test's, so a
//! wheel bump that changes tt-metal's wording fails here loudly.

mod common;

use common::{case, eq, main_with, test, TestResult};
use memmodel::device::N150;
use memmodel::invoke::{Call, Invocation, Value};
use memmodel::{BufferType, DType, Layout, Verdict};
use ttnn::metal::{selftest, Device, DeviceOptions, Runtime, Tensor, TTNN_VERSION};
use ttnn::metal::{
    TTNN_SELFTEST_CXX_EXCEPTION, TTNN_SELFTEST_PYTHON_EXCEPTION, TTNN_SELFTEST_UNKNOWN_EXCEPTION,
};
use ttnn::{measure_case, run_case, DeviceApi, Error, MemoryView, Outcome, TensorDesc};

/// What ttnn 0.81.1 says when `add` of two [1,64,640,400] bf16 L1 tensors on an n150 cannot
/// place its output (read from the runtime; bank_manager.cpp's wording).
const ADD_L1_OOM_TEXT: &str = "Out of Memory: Not enough space to allocate 34078720 B L1 buffer across 64 banks, where each bank needs to store 532480 B, but bank size is 1393312 B (allocated: 1064960 B, free: 328352 B, largest free block: 328352 B).";

fn open(rt: &Runtime, l1_small: u64) -> Result<Device, Error> {
    Device::open(rt, &N150, DeviceOptions::with_l1_small(l1_small))
}

fn views(dev: &Device) -> Result<Vec<MemoryView>, Error> {
    [BufferType::Dram, BufferType::L1]
        .into_iter()
        .map(|b| dev.memory_view(b))
        .collect()
}

fn close(dev: Device) -> TestResult {
    dev.close().map_err(|(_, e)| format!("close: {e}").into())
}

fn tensor(dev: &Device, shape: &[u64], buffer_type: BufferType) -> Result<Tensor, Error> {
    dev.empty(&TensorDesc {
        shape: shape.to_vec(),
        dtype: DType::Bfloat16,
        layout: Layout::Tile,
        buffer_type,
        sharding: None,
    })
}

fn memory_views_match_memmodel(rt: &Runtime) -> TestResult {
    eq("runtime version", rt.version()?, TTNN_VERSION.to_string())?;
    for l1_small in [0, 32 * 1024] {
        let dev = open(rt, l1_small)?;
        for bt in [BufferType::Dram, BufferType::L1] {
            let v = dev.memory_view(bt)?;
            eq(&format!("{bt} banks"), v.banks, N150.banks(bt))?;
            eq(
                &format!("{bt} bytes per bank (l1_small {l1_small})"),
                v.bank_bytes,
                N150.bank_bytes(bt, l1_small),
            )?;
            eq(&format!("{bt} allocated at open"), v.allocated_per_bank, 0)?;
        }
        if l1_small > 0 {
            eq(
                "L1_SMALL bank",
                dev.memory_view(BufferType::L1Small)?.bank_bytes,
                l1_small,
            )?;
        }
        close(dev)?;
    }
    Ok(())
}

/// Sharded tensors: what each L1 bank holds and the OOM message's numbers are memmodel's.
fn sharded_tensors_match_memmodel(rt: &Runtime) -> TestResult {
    let dev = open(rt, 0)?;
    for strategy in memmodel::ShardStrategy::ALL {
        for dims in [[1u64, 1, 4000, 64], [1, 640, 400, 64]] {
            let desc = TensorDesc {
                shape: dims.to_vec(),
                dtype: DType::Bfloat16,
                layout: Layout::Tile,
                buffer_type: BufferType::L1,
                sharding: Some(strategy),
            };
            let spec = memmodel::TensorSpec::new(
                memmodel::Shape::from_dims(dims.to_vec())?,
                DType::Bfloat16,
                Layout::Tile,
            );
            let (placement, _) = spec.sharded(&N150, strategy).map_err(|e| e.to_string())?;
            let label = format!("{strategy} {dims:?}");
            match dev.empty(&desc) {
                Ok(t) => {
                    if placement.per_bank_bytes > N150.l1_bank_bytes {
                        return Err(format!("{label}: memmodel says it does not fit").into());
                    }
                    eq(
                        &format!("{label}: L1 per bank"),
                        dev.memory_view(BufferType::L1)?.allocated_per_bank,
                        placement.per_bank_bytes,
                    )?;
                    drop(t);
                }
                Err(Error::OutOfMemory {
                    per_bank_bytes,
                    banks,
                    ..
                }) => {
                    eq(
                        &format!("{label}: OOM per bank"),
                        per_bank_bytes,
                        placement.per_bank_bytes,
                    )?;
                    eq(&format!("{label}: OOM banks"), banks, placement.banks)?;
                    if placement.per_bank_bytes <= N150.l1_bank_bytes {
                        return Err(format!("{label}: memmodel says it fits").into());
                    }
                }
                Err(e) => return Err(format!("{label}: {e}").into()),
            }
            eq(
                &format!("{label}: L1 after free"),
                dev.memory_view(BufferType::L1)?.allocated_per_bank,
                0,
            )?;
        }
    }
    close(dev)
}

fn smoke_exact_oom_text(rt: &Runtime) -> TestResult {
    let c = case("add", &["1,64,640,400"], BufferType::L1, &N150);
    let Verdict::Oom(predicted) = c.estimate()?.verdict else {
        return Err("memmodel should predict an OOM".into());
    };
    let dev = open(rt, 0)?;
    let out = run_case(&dev, &c)?;
    close(dev)?;
    eq("outcome", out.outcome, Outcome::Oom)?;
    eq("failed at", out.failed_at.as_deref(), Some("run"))?;
    eq("leaks", out.leaks.len(), 0)?;
    let err = out.error.ok_or("no error")?;
    eq(
        "raw text (a wheel bump changed tt-metal's wording?)",
        err.raw(),
        ADD_L1_OOM_TEXT,
    )?;
    eq(
        "raw text vs memmodel's rendering",
        err.raw().to_string(),
        predicted.message(),
    )?;
    let Error::OutOfMemory {
        buffer_type,
        total_bytes,
        banks,
        per_bank_bytes,
        bank_bytes,
        allocated,
        free,
        largest_free_block,
        ..
    } = err
    else {
        return Err(format!("not typed as OOM: {err:?}").into());
    };
    eq("buffer type", buffer_type, predicted.buffer_type)?;
    eq("total", total_bytes, predicted.total_bytes)?;
    eq("banks", banks, predicted.banks)?;
    eq("per bank", per_bank_bytes, predicted.per_bank_bytes)?;
    eq("bank", bank_bytes, predicted.bank_bytes)?;
    eq("allocated", allocated, predicted.allocated)?;
    eq("free", free, predicted.free)?;
    eq(
        "largest free block",
        largest_free_block,
        predicted.largest_free_block,
    )
}

fn dram_case_fits(rt: &Runtime) -> TestResult {
    let c = case("add", &["1,64,640,400"], BufferType::Dram, &N150);
    let dev = open(rt, 0)?;
    let out = run_case(&dev, &c)?;
    close(dev)?;
    eq("outcome", out.outcome, Outcome::Ok)?;
    eq("error", out.error, None)?;
    eq("leaks", out.leaks.len(), 0)?;
    eq("outputs", out.outputs.len(), 1)?;
    eq(
        "output shape",
        out.outputs[0].shape.clone(),
        vec![1, 64, 640, 400],
    )?;
    eq(
        "output memory",
        out.outputs[0].buffer_type.as_deref(),
        Some("dram"),
    )
}

fn memory_returns_to_baseline(rt: &Runtime) -> TestResult {
    let dev = open(rt, 0)?;
    let base = views(&dev)?;
    let c = case("add", &["1,64,640,400"], BufferType::L1, &N150);
    let plan = c.plan()?;
    let per_bank = plan.buffers[0].placement.per_bank_bytes;
    {
        let a = tensor(&dev, &[1, 64, 640, 400], BufferType::L1)?;
        let b = tensor(&dev, &[1, 64, 640, 400], BufferType::L1)?;
        eq(
            "L1 allocated with two inputs",
            dev.memory_view(BufferType::L1)?.allocated_per_bank,
            2 * per_bank,
        )?;
        let sig = c.signature()?;
        let err = dev
            .run(&sig.invocation, &[&a, &b])
            .err()
            .ok_or("the add should not fit")?;
        ensure!(
            matches!(err, Error::OutOfMemory { .. }),
            "not an OOM: {err:?}"
        );
        eq(
            "L1 allocated after the OOM",
            dev.memory_view(BufferType::L1)?.allocated_per_bank,
            2 * per_bank,
        )?;
    }
    eq("after dropping the inputs", views(&dev)?, base.clone())?;

    // Outputs that share their input's buffer: in place, and a view. Either order of drops.
    let x = tensor(&dev, &[1, 32, 64, 64], BufferType::L1)?;
    let one = dev.memory_view(BufferType::L1)?.allocated_per_bank;
    let inplace = memmodel::find_op("silu_inplace")?;
    let sig = case(inplace.name, &["1,32,64,64"], BufferType::L1, &N150).signature()?;
    let outs = dev.run(&sig.invocation, &[&x])?;
    eq(
        "in-place allocates nothing",
        dev.memory_view(BufferType::L1)?.allocated_per_bank,
        one,
    )?;
    drop(outs);
    eq(
        "dropping the in-place output keeps the input",
        dev.memory_view(BufferType::L1)?.allocated_per_bank,
        one,
    )?;
    x.shape()?;
    let sig = case("unsqueeze", &["1,32,64,64"], BufferType::L1, &N150).signature()?;
    let mut views_out = dev.run(&sig.invocation, &[&x])?;
    eq(
        "a view allocates nothing",
        dev.memory_view(BufferType::L1)?.allocated_per_bank,
        one,
    )?;
    drop(x);
    let v = views_out.pop().ok_or("no view")?;
    eq(
        "the view outlives its input",
        v.shape()?,
        vec![1, 1, 32, 64, 64],
    )?;
    eq(
        "its buffer too",
        dev.memory_view(BufferType::L1)?.allocated_per_bank,
        one,
    )?;
    drop(v);
    eq("after dropping every alias", views(&dev)?, base)?;
    close(dev)
}

fn python_and_cpp_exceptions_are_errors(_: &Runtime) -> TestResult {
    match selftest(TTNN_SELFTEST_PYTHON_EXCEPTION) {
        Err(Error::Python(m)) if m.contains("SelfTestError") && m.contains("on purpose") => {}
        other => return Err(format!("python exception: {other:?}").into()),
    }
    match selftest(TTNN_SELFTEST_CXX_EXCEPTION) {
        Err(Error::Cpp(m)) if m.contains("on purpose") => {}
        other => return Err(format!("C++ exception: {other:?}").into()),
    }
    match selftest(TTNN_SELFTEST_UNKNOWN_EXCEPTION) {
        Err(Error::Cpp(m)) if m.contains("unknown type") => {}
        other => return Err(format!("non-std C++ exception: {other:?}").into()),
    }
    match selftest(99) {
        Err(Error::InvalidArgument(_)) => Ok(()),
        other => Err(format!("unknown selftest: {other:?}").into()),
    }
}

fn bad_invocations_are_typed_errors(rt: &Runtime) -> TestResult {
    let dev = open(rt, 0)?;
    let base = views(&dev)?;
    let x = tensor(&dev, &[1, 1, 32, 32], BufferType::Dram)?;
    let missing = Invocation::single(Call::new("ttnn.no_such_operation").arg(Value::Input(0)));
    match dev.run(&missing, &[&x]) {
        Err(Error::Unsupported(m)) if m.contains("no_such_operation") => {}
        other => return Err(format!("missing function: {other:?}").into()),
    }
    let bad_kwarg = Invocation::single(
        Call::new("ttnn.silu")
            .arg(Value::Input(0))
            .kwarg("no_such_kwarg", Value::Int(1)),
    );
    match dev.run(&bad_kwarg, &[&x]) {
        Err(Error::InvalidArgument(_)) => {}
        other => return Err(format!("bad kwarg: {other:?}").into()),
    }
    let outside = Invocation::single(Call::new("os.getcwd"));
    match dev.run(&outside, &[]) {
        Err(Error::InvalidArgument(m)) if m.contains("ttnn") => {}
        other => return Err(format!("function outside ttnn: {other:?}").into()),
    }
    let missing_input = Invocation::single(Call::new("ttnn.silu").arg(Value::Input(3)));
    match dev.run(&missing_input, &[&x]) {
        Err(Error::InvalidArgument(_)) => {}
        other => return Err(format!("missing input: {other:?}").into()),
    }
    drop(x);
    eq("memory after failed calls", views(&dev)?, base)?;
    close(dev)
}

fn one_device_per_process(rt: &Runtime) -> TestResult {
    let dev = open(rt, 0)?;
    match open(rt, 0) {
        Err(Error::State(_)) => {}
        Ok(_) => return Err("a second device opened".into()),
        Err(e) => return Err(format!("second open: {e:?}").into()),
    }
    let t = tensor(&dev, &[1, 1, 32, 32], BufferType::L1)?;
    let dev = match dev.close() {
        Err((dev, Error::State(m))) if m.contains("alive") => dev,
        Err((_, e)) => return Err(format!("close with a live tensor: {e:?}").into()),
        Ok(()) => return Err("closed with a live tensor".into()),
    };
    drop(t);
    close(dev)?;
    let again = open(rt, 0)?;
    close(again)
}

fn tensor_keeps_device_alive(rt: &Runtime) -> TestResult {
    let dev = open(rt, 0)?;
    let t = tensor(&dev, &[1, 1, 64, 64], BufferType::L1)?;
    drop(dev);
    eq(
        "shape with the Device handle gone",
        t.shape()?,
        vec![1, 1, 64, 64],
    )?;
    ensure!(
        open(rt, 0).is_err(),
        "the device closed while a tensor was alive"
    );
    drop(t);
    let dev = open(rt, 0)?;
    eq(
        "a fresh device starts empty",
        dev.memory_view(BufferType::L1)?.allocated_per_bank,
        0,
    )?;
    close(dev)
}

fn capture_reports_peaks_and_allocations(rt: &Runtime) -> TestResult {
    let mut c = case("add", &["1,1,1024,1024"], BufferType::L1, &N150);
    c.input_memory = BufferType::Dram;
    let plan = c.plan()?;
    let output = plan.buffers.last().ok_or("no output")?;
    let dev = open(rt, 0)?;
    let base = views(&dev)?;
    let cap = measure_case(&dev, &c)?;
    eq("NO_DISPATCH allocates nothing", views(&dev)?, base)?;
    close(dev)?;
    let l1: Vec<_> = cap
        .buffers
        .iter()
        .filter(|b| b.buffer_type == "L1")
        .collect();
    eq("L1 buffers captured", l1.len(), 1)?;
    eq("output size", l1[0].size, output.placement.total_bytes)?;
    eq(
        "output per bank",
        l1[0].max_size_per_bank,
        output.placement.per_bank_bytes,
    )?;
    eq(
        "DRAM buffers captured (the inputs)",
        cap.buffers
            .iter()
            .filter(|b| b.buffer_type == "DRAM")
            .count(),
        2,
    )?;
    ensure!(
        !cap.circular_buffers.is_empty(),
        "no circular buffers captured"
    );
    let cb_sum: u64 = cap.circular_buffers.iter().map(|cb| cb.size).sum();
    ensure!(
        cap.per_core.peak_cb > 0 && cap.per_core.peak_cb <= cb_sum,
        "peak_cb {} vs CBs {cb_sum}",
        cap.per_core.peak_cb
    );
    eq(
        "peak L1 per core",
        cap.per_core.peak_l1,
        output.placement.per_bank_bytes,
    )?;
    ensure!(
        cap.per_core.peak_total >= cap.per_core.peak_l1 + cap.per_core.peak_cb,
        "peak_total {:?}",
        cap.per_core
    );
    Ok(())
}

fn cb_clash_is_typed(rt: &Runtime) -> TestResult {
    let dev = open(rt, 0)?;
    let base = views(&dev)?;
    let l1 = dev.memory_view(BufferType::L1)?;
    // Fill L1 down to two free tiles per bank: the add's circular buffers cannot fit below.
    let tiles = l1.bank_bytes / 2048 - 2;
    let fill = tensor(&dev, &[1, 1, 32 * tiles, 32 * l1.banks], BufferType::L1)?;
    let c = case("add", &["1,1,1024,1024"], BufferType::Dram, &N150);
    let out = run_case(&dev, &c)?;
    eq("outcome", out.outcome, Outcome::CbClash)?;
    match out.error {
        Some(Error::CircularBufferClash {
            l1_buffer_at,
            cb_region_end,
            ref core_range,
            ..
        }) => {
            ensure!(
                cb_region_end > l1_buffer_at,
                "clash {cb_region_end} <= {l1_buffer_at}"
            );
            ensure!(!core_range.is_empty(), "no core range");
            let top = N150.l1_unreserved_base + l1.bank_bytes;
            eq(
                "lowest L1 buffer = the fill's address",
                l1_buffer_at,
                top - tiles * 2048,
            )?;
        }
        ref other => return Err(format!("not a CB clash: {other:?}").into()),
    }
    drop(fill);
    eq("memory after the clash", views(&dev)?, base)?;
    close(dev)
}

fn l1_small_too_small(rt: &Runtime) -> TestResult {
    let mut c = case("maxpool2d", &["1,32,64,64"], BufferType::L1, &N150);
    c.device_layout = memmodel::DeviceLayout::NhwcFlat;
    let plan = c.plan()?;
    ensure!(
        plan.l1_small_bytes > 0,
        "memmodel says maxpool2d needs no L1_SMALL"
    );
    let dev = open(rt, 0)?;
    let out = run_case(&dev, &c)?;
    close(dev)?;
    eq("outcome without L1_SMALL", out.outcome, Outcome::L1Small)?;
    ensure!(
        matches!(
            out.error,
            Some(Error::L1SmallTooSmall {
                l1_small_bytes: 0,
                banks: 64,
                ..
            })
        ),
        "{:?}",
        out.error
    );
    let dev = open(rt, plan.l1_small_bytes)?;
    let out = run_case(&dev, &c)?;
    close(dev)?;
    eq("outcome with the plan's L1_SMALL", out.outcome, Outcome::Ok)?;
    eq("leaks", out.leaks, vec![])
}

/// conv2d keeps its halo and conv config tensors in L1_SMALL (docs/conv2d.md): without it the
/// runtime fails with the L1_SMALL text; with what the catalog declares it runs and leaves
/// nothing behind. The signature says it, as memmodel has no conv2d plan yet.
fn conv2d_needs_l1_small(rt: &Runtime) -> TestResult {
    let mut c = case("conv2d", &["1,64,32,32"], BufferType::L1, &N150);
    c.device_layout = memmodel::DeviceLayout::NhwcFlat;
    let l1_small = c.signature()?.l1_small_bytes;
    eq(
        "declared L1_SMALL",
        l1_small,
        memmodel::ops::CONV2D_L1_SMALL,
    )?;
    let dev = open(rt, 0)?;
    let out = run_case(&dev, &c)?;
    close(dev)?;
    eq("outcome without L1_SMALL", out.outcome, Outcome::L1Small)?;
    let dev = open(rt, l1_small)?;
    let out = run_case(&dev, &c)?;
    close(dev)?;
    eq(
        "outcome with the declared L1_SMALL",
        out.outcome,
        Outcome::Ok,
    )?;
    eq("leaks", out.leaks, vec![])
}

/// Child mode of `exiting_with_a_device_open_is_clean`: open, allocate, forget, exit.
const EXIT_CHILD: &str = "TTNN_TEST_EXIT_WITH_OPEN_DEVICE";

fn exit_with_open_device() -> ! {
    let rt = Runtime::discover().expect("runtime");
    let dev = open(&rt, 0).expect("open");
    let t = tensor(&dev, &[1, 1, 32, 32], BufferType::L1).expect("tensor");
    std::mem::forget(t);
    std::mem::forget(dev);
    std::process::exit(0)
}

fn exiting_with_a_device_open_is_clean(_: &Runtime) -> TestResult {
    // tt-metal's completion-queue thread races its static destructors when a device is left
    // open at exit (about 1 exit in 10 aborted or crashed before the shim closed leftovers).
    // Checked in child processes, 20 times, so a regression shows.
    for run in 0..20 {
        let out = std::process::Command::new(std::env::current_exe()?)
            .env(EXIT_CHILD, "1")
            .output()?;
        ensure!(
            out.status.success(),
            "child {run} exited with {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

fn a_whole_model_replays_as_on_sim(rt: &Runtime) -> TestResult {
    // Fits at 640x640; at 2176x3840 its input alone does not fit an n150's L1.
    for resolution in [[640, 640], [1280, 1280], [2176, 3840]] {
        common::model_on_metal_equals_sim(rt, &common::c2f_block(&N150, resolution))?;
    }
    Ok(())
}

/// Bring your own model: models/scripts/attention-block.py imported and replayed on sim and on
/// the runtime (common::imported_script_replays_as_on_sim).
fn an_imported_script_replays_as_on_sim(rt: &Runtime) -> TestResult {
    common::imported_script_replays_as_on_sim(rt, &N150)
}

/// A script that raises, and one with a call the catalog cannot express, are refused with the
/// script's error and the call named with its arguments; nothing is imported.
fn a_failing_or_unmappable_script_is_refused(rt: &Runtime) -> TestResult {
    let dir = std::env::temp_dir().join(format!("ttnn-oom-import-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let head = "import ttnn

def model(device):
    x = ttnn.zeros([1, 1, 64, 64], dtype=ttnn.bfloat16, layout=ttnn.TILE_LAYOUT, device=device, memory_config=ttnn.L1_MEMORY_CONFIG)
";
    let raises = dir.join("raises.py");
    std::fs::write(&raises, format!("{head}    return ttnn.add(x, ttnn.zeros([1, 1, 32, 96], dtype=ttnn.bfloat16, layout=ttnn.TILE_LAYOUT, device=device))
"))?;
    let scalar = dir.join("scalar.py");
    std::fs::write(
        &scalar,
        format!(
            "{head}    y = ttnn.relu(x)
    return ttnn.add(y, 2.0)
"
        ),
    )?;
    let raised = common::import_script(rt, &N150, &raises);
    let unmapped = common::import_script(rt, &N150, &scalar);
    std::fs::remove_dir_all(&dir)?;
    match raised {
        Err(memmodel::capture::ImportError::Script(e)) => ensure!(
            e.starts_with("the script raised:") && e.contains("raises.py"),
            "{e}"
        ),
        other => return Err(format!("a script that raises: {other:?}").into()),
    }
    match unmapped {
        Err(memmodel::capture::ImportError::Unmapped(u)) => {
            eq("unmapped calls", u.len(), 1)?;
            eq("the call", u[0].call.as_str(), "ttnn.add(relu2, 2.0)")?;
            ensure!(u[0].reason.contains("scalar"), "{}", u[0].reason);
        }
        other => return Err(format!("a scalar add: {other:?}").into()),
    }
    Ok(())
}

/// models/yolov12x.toml is what models/yolov12x.py writes (run with the runtime's Python, which
/// `cargo xtask setup` installed: the generator needs only the standard library).
fn yolov12x_toml_is_its_generators_output(rt: &Runtime) -> TestResult {
    let models = concat!(env!("CARGO_MANIFEST_DIR"), "/../../models");
    let out = std::process::Command::new(&rt.manifest().python)
        .arg(format!("{models}/yolov12x.py"))
        .output()?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned().into());
    }
    let committed = std::fs::read_to_string(format!("{models}/yolov12x.toml"))?;
    if String::from_utf8_lossy(&out.stdout) != committed {
        return Err(
            "models/yolov12x.toml is stale: python3 models/yolov12x.py > models/yolov12x.toml"
                .into(),
        );
    }
    Ok(())
}

fn yolov12x_fits_at_640_as_the_demo_does(rt: &Runtime) -> TestResult {
    common::yolov12x_fits_at_640_as_the_demo_does(rt, &N150)?;
    Ok(())
}

/// `--fix` verified on the runtime: models/c2f-block.toml at 2176x3840 runs out of L1 on a
/// n150; the changes sim finds make it fit, and the fixed model file replays on the runtime,
/// every call, with sim's trace (common::fixed_model_fits_on_metal).
fn a_fixed_model_fits_on_the_runtime(rt: &Runtime) -> TestResult {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../models/c2f-block.toml"
    ))?;
    common::fixed_model_fits_on_metal(rt, &N150, &text, Some([2176, 3840]))?;
    // Bring your own model: models/scripts/skip-block.py runs on a p150 (imported there, in
    // its own process) and runs out of L1 on an n150; fixed for the n150, it fits here.
    let imported = common::import_script(
        rt,
        &memmodel::device::P150,
        &common::model_script("skip-block.py"),
    )
    .map_err(|e| e.to_string())?;
    let plan = common::fixed_model_fits_on_metal(rt, &N150, &imported.text, None)?;
    ensure!(
        plan.original.failure.is_some(),
        "the imported block should not fit an n150 unchanged"
    );
    Ok(())
}

/// A call whose program the runtime picks from the free L1, beside another live L1 tensor of
/// the model: tests/models/yolov12x-2176x3840-n150-first-54.toml. The runtime builds another
/// program at #53 than a plan of the call alone (and fails); sim plans the call on the
/// device's L1 as the model leaves it and equals the runtime on every call, #53's failure too.
fn other_live_l1_changes_a_free_l1_choice(rt: &Runtime) -> TestResult {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/models/yolov12x-2176x3840-n150-first-54.toml"
    );
    let text = std::fs::read_to_string(path)?;
    let model = memmodel::model::ModelFile::parse(&text, path)
        .and_then(|f| f.build(None, &N150))
        .map_err(|e| e.to_string())?;
    let (metal, sim) = common::run_model_on_metal_and_sim(rt, &model, false)?;
    let runtime_failure = metal
        .failure
        .as_ref()
        .ok_or("the runtime should fail at #53")?;
    let sim_failure = sim.failure.as_ref().ok_or("sim should fail at #53")?;
    eq("the runtime's failing call", runtime_failure.number, 53)?;
    // Sim plans #53 on the device's L1 as the model leaves it (its other live tensors below
    // the inputs), so its free-L1 choice is the runtime's: the same failure, the same text.
    eq("sim's failing call", sim_failure.number, 53)?;
    ensure!(
        sim_failure.outcome == runtime_failure.outcome,
        "sim's outcome {} ({}), the runtime's {} ({})",
        sim_failure.outcome,
        sim_failure.message,
        runtime_failure.outcome,
        runtime_failure.message
    );
    eq(
        "sim's message",
        sim_failure.message.as_str(),
        runtime_failure.message.as_str(),
    )?;
    let compared = ttnn::model::compare_runs(&sim, &metal);
    ensure!(
        compared.difference.is_none(),
        "sim differs from the runtime: {:?}",
        compared.difference
    );
    eq("calls equal before #53", compared.equal_calls, 52)?;
    Ok(())
}

fn main() {
    if std::env::var_os(EXIT_CHILD).is_some() {
        exit_with_open_device();
    }
    main_with(vec![
        test(
            "exiting_with_a_device_open_is_clean",
            exiting_with_a_device_open_is_clean,
        ),
        test("memory_views_match_memmodel", memory_views_match_memmodel),
        test("smoke_exact_oom_text", smoke_exact_oom_text),
        test("dram_case_fits", dram_case_fits),
        test(
            "a_whole_model_replays_as_on_sim",
            a_whole_model_replays_as_on_sim,
        ),
        test(
            "an_imported_script_replays_as_on_sim",
            an_imported_script_replays_as_on_sim,
        ),
        test(
            "a_fixed_model_fits_on_the_runtime",
            a_fixed_model_fits_on_the_runtime,
        ),
        test(
            "other_live_l1_changes_a_free_l1_choice",
            other_live_l1_changes_a_free_l1_choice,
        ),
        test(
            "a_failing_or_unmappable_script_is_refused",
            a_failing_or_unmappable_script_is_refused,
        ),
        test(
            "yolov12x_fits_at_640_as_the_demo_does",
            yolov12x_fits_at_640_as_the_demo_does,
        ),
        test(
            "yolov12x_toml_is_its_generators_output",
            yolov12x_toml_is_its_generators_output,
        ),
        test("memory_returns_to_baseline", memory_returns_to_baseline),
        test(
            "python_and_cpp_exceptions_are_errors",
            python_and_cpp_exceptions_are_errors,
        ),
        test(
            "bad_invocations_are_typed_errors",
            bad_invocations_are_typed_errors,
        ),
        test("one_device_per_process", one_device_per_process),
        test("tensor_keeps_device_alive", tensor_keeps_device_alive),
        test(
            "capture_reports_peaks_and_allocations",
            capture_reports_peaks_and_allocations,
        ),
        test("cb_clash_is_typed", cb_clash_is_typed),
        test("l1_small_too_small", l1_small_too_small),
        test("conv2d_needs_l1_small", conv2d_needs_l1_small),
        test(
            "sharded_tensors_match_memmodel",
            sharded_tensors_match_memmodel,
        ),
    ])
}
