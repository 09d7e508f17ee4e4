//! `--fix` for whole models on sim ([`ttnn::model::fix_on_sim`]): a model that runs out of
//! memory gets changes until it fits, and the fixed model file, read back and replayed from
//! its first call on a fresh device, fits; where sim has no verdict the plan says how far it is
//! verified and claims nothing beyond.

use memmodel::device::{N150, P150};
use memmodel::model::{builtin, ModelFile};
use memmodel::model_fix::{Edit, Ending};
use memmodel::DeviceSpec;

const BLOCK: &str = include_str!("../../../models/c2f-block.toml");

fn replay_fixed(text: &str, device: &'static DeviceSpec) -> ttnn::model::ModelRun {
    let model = ModelFile::parse(text, "fixed.toml")
        .and_then(|f| f.build(None, device))
        .unwrap_or_else(|e| panic!("the fixed file does not build: {e}"));
    ttnn::model::run_on_sim(&model).unwrap()
}

#[test]
fn c2f_block_that_runs_out_of_l1_is_fixed_until_it_fits_on_both_boards() {
    for device in [&N150, &P150] {
        let plan =
            ttnn::model::fix_on_sim(BLOCK, "c2f-block.toml", Some([2176, 3840]), device).unwrap();
        let original = plan.original.failure.as_ref().expect("fails unchanged");
        assert_ne!(original.outcome, "unmodeled");
        assert_eq!(
            plan.ending,
            Ending::Fits,
            "{}: {}",
            device.name,
            plan.summary()
        );
        assert!(!plan.fixes.is_empty());
        // Each kept change gets past the call that failed before it.
        for f in &plan.fixes {
            let next = f.after.failure.as_ref().map_or(usize::MAX, |x| x.number);
            assert!(
                next > f.call,
                "{}: {} did not get past it",
                f.label,
                f.change.detail
            );
            assert_eq!(f.before.failure.as_ref().map(|x| x.number), Some(f.call));
        }
        // The file written replays on a fresh device, every call, at the resolution it names.
        let run = replay_fixed(&plan.fixed_text, device);
        assert_eq!(run.failure, None, "{}", device.name);
        assert_eq!(run.resolution, [2176, 3840]);
        assert_eq!(run.steps.len(), 6);
        assert_eq!(run.leaked_per_bank, 0);
        assert_eq!(plan.fixed.calls_run, 6);
        assert!(plan.fixed_text.contains("# --fix: "));
    }
    // On an n150 the first silu cannot hold its input and output in L1: the input goes to DRAM
    // first (one memory config, before the op's own changes).
    let n150 = ttnn::model::fix_on_sim(BLOCK, "c2f-block.toml", Some([2176, 3840]), &N150).unwrap();
    assert_eq!(n150.fixes[0].call, 1);
    assert_eq!(
        n150.fixes[0].change.edits,
        vec![Edit::TensorToDram { tensor: "x".into() }]
    );
}

#[test]
fn a_model_that_fits_needs_no_change() {
    let plan = ttnn::model::fix_on_sim(BLOCK, "c2f-block.toml", Some([640, 640]), &N150).unwrap();
    assert_eq!(plan.ending, Ending::Fits);
    assert!(plan.fixes.is_empty());
    assert_eq!(plan.replays, 1);
}

/// YOLOv12x at 1280x1280: #1 conv2d runs out of L1 (its reshard of the L1 image), the image in
/// DRAM (the conv's DRAM slicing) gets past it, and the search goes on as far as sim has a
/// verdict: where it stops — a call sim does not plan, or one no change tried gets past — the
/// plan says so, verified through the call before, and the fixed model's replay stops at that
/// same call the same way; only a replay that runs every call may say the model fits.
#[test]
fn yolov12x_is_fixed_only_as_far_as_sim_has_a_verdict() {
    let text = builtin("yolov12x").unwrap();
    for device in [&N150, &P150] {
        let plan =
            ttnn::model::fix_on_sim(text, "yolov12x.toml", Some([1280, 1280]), device).unwrap();
        assert_eq!(plan.original.failure.as_ref().map(|f| f.number), Some(1));
        let run = replay_fixed(&plan.fixed_text, device);
        let (call, outcome) = match &plan.ending {
            Ending::Fits => {
                assert_eq!(run.failure, None, "{}: {}", device.name, plan.summary());
                continue;
            }
            Ending::Unmodeled { call, .. } => (*call, "unmodeled"),
            Ending::NoFix { call, outcome, .. } => (*call, outcome.as_str()),
        };
        assert!(call > 1, "{}: {}", device.name, plan.summary());
        if outcome == "unmodeled" {
            assert!(plan
                .summary()
                .contains(&format!("verified through call #{}", call - 1)));
        }
        let stop = run.failure.expect("sim stops");
        assert_eq!(
            (stop.number, stop.outcome.as_str()),
            (call, outcome),
            "{}: {}",
            device.name,
            plan.summary()
        );
        assert_eq!(run.steps.len(), call - 1);
    }
}

/// The search resumes each replay from the last call the changed model shares with the one
/// replayed before it ([`ttnn::model::SimReplayer`]): every replay it answers equals a replay of
/// the whole model from its first call on a fresh device, so the plan is the one a search
/// replaying from the start finds, with fewer calls run.
#[test]
fn resumed_replays_equal_replays_from_the_first_call() {
    let text = builtin("yolov12x").unwrap();
    for device in [&N150, &P150] {
        let mut resumed = ttnn::model::SimReplayer::default();
        let (mut replays, mut fresh_calls) = (0usize, 0usize);
        let plan =
            memmodel::model_fix::plan(text, "yolov12x.toml", Some([1280, 1280]), device, |m| {
                let fresh = ttnn::model::run_on_sim(m).map_err(|e| e.to_string())?;
                let fresh = ttnn::model::replay_of(&fresh);
                let got = resumed.replay(m).map_err(|e| e.to_string())?;
                assert_eq!(got, fresh, "{} replay {replays}", device.name);
                replays += 1;
                fresh_calls += fresh.calls_run + usize::from(fresh.failure.is_some());
                Ok(got)
            })
            .unwrap();
        assert!(!plan.fixes.is_empty(), "{}", device.name);
        assert_eq!(plan.replays, replays);
        assert_eq!(
            plan,
            ttnn::model::fix_on_sim(text, "yolov12x.toml", Some([1280, 1280]), device).unwrap()
        );
        // Under half the calls: a candidate replays only up to the call it must get past.
        assert!(
            resumed.calls_run * 2 < fresh_calls,
            "{}: {} calls resumed against {fresh_calls} from the start",
            device.name,
            resumed.calls_run
        );
    }
}

/// Measuring a model (`--measure`: each call first captured NO_DISPATCH, then run) never
/// changes how its run ends: a capture's plan is derived as if the call were alone on the
/// device, so the real run after it derives its own on the device's L1. Before, the fixed
/// YOLOv12x 1280² n150 plan clashed at #8 on sim when measured (the capture's DRAM slicing,
/// fewer slices on an emptier L1, reused by the run) while it ran every call measured or not
/// on the runtime.
#[test]
fn measuring_a_fixed_model_does_not_change_its_run() {
    let text = builtin("yolov12x").unwrap();
    for device in [&N150, &P150] {
        let plan =
            ttnn::model::fix_on_sim(text, "yolov12x.toml", Some([1280, 1280]), device).unwrap();
        let model = ModelFile::parse(&plan.fixed_text, "fixed.toml")
            .and_then(|f| f.build(None, device))
            .unwrap();
        let run = |measure: bool| {
            let dev = ttnn::sim::Device::open(
                device,
                ttnn::sim::DeviceOptions::with_l1_small(model.l1_small_bytes()),
            )
            .unwrap();
            ttnn::model::run_model_with(&dev, &model, measure).unwrap()
        };
        let (plain, measured) = (run(false), run(true));
        assert_eq!(
            (measured.steps.len(), measured.failure),
            (plain.steps.len(), plain.failure),
            "{}",
            device.name
        );
    }
}
