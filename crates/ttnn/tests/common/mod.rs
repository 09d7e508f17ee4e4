//! The harness of the runtime tests: one trial at a time (one device per process), and every
//! trial reported *ignored* — with a line naming `cargo xtask setup` — when the runtime is not
//! set up. When it is set up but fails to start, the trials fail. `TTNN_OOM_REQUIRE_RUNTIME=1`
//! turns "not set up" into failures too.

#![allow(dead_code)]

use libtest_mimic::{Arguments, Failed, Trial};
use memmodel::{
    BufferType, Case, DType, DeviceLayout, DeviceSpec, Expectation, Layout, Params, Shape,
};
use ttnn::metal::{state_dir, Manifest, Runtime};

pub type TestResult = Result<(), Failed>;

pub struct Test {
    pub name: String,
    pub run: Box<dyn FnOnce(&Runtime) -> TestResult + Send>,
}

pub fn test(
    name: impl Into<String>,
    f: impl FnOnce(&Runtime) -> TestResult + Send + 'static,
) -> Test {
    Test {
        name: name.into(),
        run: Box::new(f),
    }
}

pub fn main_with(tests: Vec<Test>) -> ! {
    let mut args = Arguments::from_args();
    args.test_threads = Some(1);
    let set_up = Manifest::path_in(&state_dir()).exists();
    let required = std::env::var_os("TTNN_OOM_REQUIRE_RUNTIME").is_some_and(|v| v != "0");
    let runtime = if set_up || required {
        Some(Runtime::discover().map_err(|e| e.to_string()))
    } else {
        eprintln!(
            "SKIPPED: these {} tests need the real TT-NN runtime, which is not set up in {} — run `cargo xtask setup` (they are reported as ignored)",
            tests.len(),
            state_dir().display()
        );
        None
    };
    let trials = tests
        .into_iter()
        .map(|t| match &runtime {
            Some(Ok(rt)) => {
                let rt = rt.clone();
                let run = t.run;
                Trial::test(t.name, move || run(&rt))
            }
            Some(Err(e)) => {
                let e = e.clone();
                Trial::test(t.name, move || {
                    Err(format!("the runtime did not start: {e}").into())
                })
            }
            None => Trial::test(t.name, || Err("not set up: run `cargo xtask setup`".into()))
                .with_ignored_flag(true),
        })
        .collect();
    libtest_mimic::run(&args, trials).exit()
}

/// Fails the trial with a message unless `cond`.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+).into());
        }
    };
}

/// `a == b` or a failure showing both.
pub fn eq<T: PartialEq + std::fmt::Debug>(what: &str, got: T, want: T) -> TestResult {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: got {got:?}, want {want:?}").into())
    }
}

pub fn case(op: &str, shapes: &[&str], memory: BufferType, device: &'static DeviceSpec) -> Case {
    let op = memmodel::find_op(op).expect("op in the catalog");
    Case {
        op,
        shape_set: None,
        model_inputs: shapes
            .iter()
            .map(|s| Shape::parse(s).expect("shape"))
            .collect(),
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

/// The example model file (models/c2f-block.toml) built at `resolution` for `device`.
#[allow(dead_code)]
pub fn c2f_block(device: &'static DeviceSpec, resolution: [u64; 2]) -> memmodel::model::BuiltModel {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/c2f-block.toml");
    let text = std::fs::read_to_string(path).expect("models/c2f-block.toml");
    memmodel::model::ModelFile::parse(&text, path)
        .and_then(|f| f.build(Some(resolution), device))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The calls of YOLOv12x at 640x640 sim plans and equals the runtime on, on both boards: all
/// 735 (memory per bank and live tensors after each call).
pub const YOLOV12X_640_EQUAL_CALLS: usize = 735;

/// The calls whose capture (per-core CB, dataflow, L1 and total peaks, the buffers they make)
/// sim also equals, on both boards: all 735 (#682's halo configs are found in the program cache
/// by the halo's own key, as #677's, a halo of the same resharded tensor, left them).
pub const YOLOV12X_640_MEASURED_EQUAL_CALLS: usize = 735;

/// YOLOv12x as TT-NN's demo calls it (models/yolov12x.toml) at 640x640 on the runtime: the demo
/// runs there on both boards (~33 FPS on n150, ~64 on p150), so every call must fit, with nothing
/// left allocated; and sim, which plans only part of it, must equal the runtime call by call up
/// to where it stops, and say `unmodeled` there rather than answer. Returns the runtime's run.
#[allow(dead_code)]
pub fn yolov12x_fits_at_640_as_the_demo_does(
    rt: &ttnn::metal::Runtime,
    device: &'static DeviceSpec,
) -> Result<ttnn::model::ModelRun, Failed> {
    let text = memmodel::model::builtin("yolov12x").expect("built in");
    let model = memmodel::model::ModelFile::parse(text, "yolov12x.toml")
        .and_then(|f| f.build(Some([640, 640]), device))
        .map_err(|e| e.to_string())?;
    let dev = ttnn::metal::Device::open(
        rt,
        device,
        ttnn::metal::DeviceOptions::with_l1_small(model.l1_small_bytes()),
    )?;
    // Measured: each call captured (NO_DISPATCH) before it runs, for its per-core peaks and
    // buffers.
    let run = ttnn::model::run_model_with(&dev, &model, true)?;
    dev.close().map_err(|(_, e)| e)?;
    if let Some(f) = &run.failure {
        return Err(format!(
            "#{} failed on the runtime: {} {}",
            f.number, f.outcome, f.message
        )
        .into());
    }
    eq("calls run", run.steps.len(), model.steps.len())?;
    eq("leaked on the runtime", run.leaked_per_bank, 0)?;
    let sim_dev = ttnn::sim::Device::open(
        device,
        ttnn::sim::DeviceOptions::with_l1_small(model.l1_small_bytes()),
    )?;
    let sim = ttnn::model::run_model_with(&sim_dev, &model, true)?;
    // Call by call as far as sim plans: the same L1 and DRAM per bank and live tensors after
    // every call (a conv's sharded output kept in the conv's shards between calls), and where
    // sim stops it says `unmodeled` (never a verdict of its own: the demo fits).
    let unmeasured = |run: &ttnn::model::ModelRun| {
        let mut run = run.clone();
        for step in &mut run.steps {
            step.peaks = None;
        }
        run
    };
    let traced = ttnn::model::compare_runs(&unmeasured(&sim), &unmeasured(&run));
    if let Some(d) = traced.before_sim_stops(&sim) {
        return Err(format!(
            "{} differs ({} calls equal before it): {}: sim {}, runtime {}",
            d.label, traced.equal_calls, d.what, d.left, d.right
        )
        .into());
    }
    // How far sim plans the model: a change that stops it earlier fails here.
    if traced.equal_calls < YOLOV12X_640_EQUAL_CALLS {
        return Err(format!(
            "sim equals the runtime through {} calls on {}, fewer than {YOLOV12X_640_EQUAL_CALLS}",
            traced.equal_calls, device.name
        )
        .into());
    }
    // And each call's capture: the same per-core CB, dataflow, L1 and total peaks and buffers,
    // at least as far as they were found equal.
    let measured = ttnn::model::compare_runs(&sim, &run);
    if measured.equal_calls < YOLOV12X_640_MEASURED_EQUAL_CALLS {
        let d = measured.difference.as_ref();
        return Err(format!(
            "sim's captures equal the runtime's through {} calls on {}, fewer than \
             {YOLOV12X_640_MEASURED_EQUAL_CALLS}{}",
            measured.equal_calls,
            device.name,
            d.map(|d| format!(
                ": {} differs: {}: sim {}, runtime {}",
                d.label, d.what, d.left, d.right
            ))
            .unwrap_or_default()
        )
        .into());
    }
    Ok(run)
}

/// A whole model replayed on the runtime (`rt`'s board) and on sim: the same memory per bank
/// after every call, the same first failure with the same message, nothing left allocated.
/// Returns the runtime's run.
#[allow(dead_code)]
pub fn model_on_metal_equals_sim(
    rt: &ttnn::metal::Runtime,
    model: &memmodel::model::BuiltModel,
) -> Result<ttnn::model::ModelRun, Failed> {
    let (metal, sim) = run_model_on_metal_and_sim(rt, model, true)?;
    eq("leaked on the runtime", metal.leaked_per_bank, 0)?;
    eq("leaked on sim", sim.leaked_per_bank, 0)?;
    let compared = ttnn::model::compare_runs(&sim, &metal);
    if let Some(d) = compared.difference {
        return Err(format!(
            "{} differs ({} calls equal before it): {}: sim {}, runtime {}",
            d.label, compared.equal_calls, d.what, d.left, d.right
        )
        .into());
    }
    Ok(metal)
}

/// A whole model replayed on the runtime (`rt`'s board, the device closed after it) and on
/// sim, each opened with the model's L1_SMALL; `measure` also captures each call's peaks.
/// Returns (the runtime's run, sim's run).
#[allow(dead_code)]
pub fn run_model_on_metal_and_sim(
    rt: &ttnn::metal::Runtime,
    model: &memmodel::model::BuiltModel,
    measure: bool,
) -> Result<(ttnn::model::ModelRun, ttnn::model::ModelRun), Failed> {
    let l1_small = model.l1_small_bytes();
    let metal = {
        let dev = ttnn::metal::Device::open(
            rt,
            model.device,
            ttnn::metal::DeviceOptions::with_l1_small(l1_small),
        )?;
        let run = ttnn::model::run_model_with(&dev, model, measure)?;
        dev.close().map_err(|(_, e)| e)?;
        run
    };
    let sim_dev = ttnn::sim::Device::open(
        model.device,
        ttnn::sim::DeviceOptions::with_l1_small(l1_small),
    )?;
    let sim = ttnn::model::run_model_with(&sim_dev, model, measure)?;
    Ok((metal, sim))
}

/// A TT-NN script of models/scripts/ (it defines `model(device)`) imported as `cargo xtask
/// model-import` does: run on a mock `device` in the runtime's Python, its calls captured and
/// mapped to the catalog.
#[allow(dead_code)]
pub fn import_script(
    rt: &ttnn::metal::Runtime,
    device: &'static DeviceSpec,
    script: &std::path::Path,
) -> Result<memmodel::capture::Imported, memmodel::capture::ImportError> {
    let capture = ttnn::metal::capture_script(
        rt.manifest(),
        device.name,
        script,
        memmodel::ops::CONV2D_L1_SMALL,
    )
    .unwrap_or_else(|e| panic!("{}: {e}", script.display()));
    memmodel::capture::import(&capture, "imported", device)
}

/// The path of a file of models/scripts/.
#[allow(dead_code)]
pub fn model_script(name: &str) -> std::path::PathBuf {
    std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/scripts")).join(name)
}

/// A script of models/scripts/ imported and built for `device`, with what the script's own run
/// held after each call ([`memmodel::capture::Imported::script_memory`]).
#[allow(dead_code)]
pub fn imported_model(
    rt: &ttnn::metal::Runtime,
    device: &'static DeviceSpec,
    script: &str,
) -> Result<(memmodel::model::BuiltModel, Vec<(u64, u64)>), Failed> {
    let imported = import_script(rt, device, &model_script(script)).map_err(|e| e.to_string())?;
    let model = memmodel::model::ModelFile::parse(&imported.text, script)
        .and_then(|f| f.build(None, device))
        .map_err(|e| e.to_string())?;
    Ok((model, imported.script_memory))
}

/// Bring your own model: a TT-NN script imported from its capture on the mock device replays on
/// sim with the runtime's trace — memory per bank and live tensors after each call, per-call CB
/// peaks and buffers, nothing left allocated — and the replay holds after each call what the
/// script's own run held.
#[allow(dead_code)]
pub fn imported_script_replays_as_on_sim(
    rt: &ttnn::metal::Runtime,
    device: &'static DeviceSpec,
) -> TestResult {
    let (model, script_memory) = imported_model(rt, device, "attention-block.py")?;
    let ops: Vec<&str> = model.steps.iter().map(|s| s.case.op.name).collect();
    eq(
        "the calls the script makes",
        ops,
        vec![
            "linear",
            "linear",
            "permute",
            "bmm",
            "softmax",
            "bmm",
            "add",
            "silu",
            "to_memory_config",
            "linear",
            "to_memory_config",
            "concat",
            "view",
        ],
    )?;
    for (model, script_memory) in [
        (model, script_memory),
        imported_model(rt, device, "ops-tour.py")?,
    ] {
        let run = model_on_metal_equals_sim(rt, &model)?;
        if let Some(f) = &run.failure {
            return Err(format!("{}: #{} failed: {}", model.name, f.number, f.message).into());
        }
        eq("calls run", run.steps.len(), model.steps.len())?;
        let replayed: Vec<(u64, u64)> = run
            .steps
            .iter()
            .map(|s| (s.l1_per_bank, s.dram_per_bank))
            .collect();
        eq(
            "per-bank L1 and DRAM after each call: the replay vs the script's own run",
            replayed,
            script_memory,
        )?;
    }
    Ok(())
}

/// `--fix` verified on the runtime: the model file `text` planned on sim at `resolution` for
/// `rt`'s board must end fitting, and the fixed file it writes, replayed on the runtime from its
/// first call, runs every call with sim's trace (memory per bank and live tensors after each
/// call, per-call CB peaks and buffers, nothing left allocated). Returns the plan.
#[allow(dead_code)]
pub fn fixed_model_fits_on_metal(
    rt: &ttnn::metal::Runtime,
    device: &'static DeviceSpec,
    text: &str,
    resolution: Option<[u64; 2]>,
) -> Result<memmodel::model_fix::ModelFixPlan, Failed> {
    let plan = ttnn::model::fix_on_sim(text, "model.toml", resolution, device)?;
    if plan.ending != memmodel::model_fix::Ending::Fits || plan.fixes.is_empty() {
        return Err(format!("{}: {}", device.name, plan.summary()).into());
    }
    let fixed = memmodel::model::ModelFile::parse(&plan.fixed_text, "fixed.toml")
        .and_then(|f| f.build(None, device))
        .map_err(|e| e.to_string())?;
    let run = model_on_metal_equals_sim(rt, &fixed)?;
    if let Some(f) = run.failure {
        return Err(format!(
            "the fixed model fails on the runtime at {}: {}",
            f.label, f.message
        )
        .into());
    }
    eq(
        "calls run on the runtime",
        run.steps.len(),
        fixed.steps.len(),
    )?;
    Ok(plan)
}
