//! The `metal` backend on a mock p150 (its own process: tt-metal reads the mock cluster once).

mod common;

use common::{case, eq, main_with, test, TestResult};
use memmodel::device::P150;
use memmodel::{BufferType, Verdict};
use ttnn::metal::{Device, DeviceOptions, Runtime};
use ttnn::{run_case, DeviceApi, Error, Outcome};

fn silu_4k_in_l1_is_an_oom(rt: &Runtime) -> TestResult {
    let c = case("silu", &["1,96,2160,3840"], BufferType::L1, &P150);
    let Verdict::Oom(predicted) = c.estimate()?.verdict else {
        return Err("memmodel should predict an OOM".into());
    };
    let dev = Device::open(rt, &P150, DeviceOptions::default())?;
    eq(
        "L1 banks",
        dev.memory_view(BufferType::L1)?.banks,
        P150.l1_banks,
    )?;
    let out = run_case(&dev, &c)?;
    dev.close().map_err(|(_, e)| e)?;
    eq("outcome", out.outcome, Outcome::Oom)?;
    eq(
        "failed at",
        out.failed_at.as_deref(),
        Some("input 0 (input)"),
    )?;
    eq("leaks", out.leaks.len(), 0)?;
    let err = out.error.ok_or("no error")?;
    eq("text", err.raw().to_string(), predicted.message())?;
    match err {
        Error::OutOfMemory {
            banks,
            per_bank_bytes,
            bank_bytes,
            total_bytes,
            ..
        } => {
            eq("banks", banks, 110)?;
            eq("per bank", per_bank_bytes, predicted.per_bank_bytes)?;
            eq("total", total_bytes, predicted.total_bytes)?;
            eq("bank", bank_bytes, P150.l1_bank_bytes)
        }
        other => Err(format!("not an OOM: {other:?}").into()),
    }
}

fn dram_fits(rt: &Runtime) -> TestResult {
    let c = case("silu", &["1,96,2160,3840"], BufferType::Dram, &P150);
    let dev = Device::open(rt, &P150, DeviceOptions::default())?;
    let out = run_case(&dev, &c)?;
    dev.close().map_err(|(_, e)| e)?;
    eq("outcome", out.outcome, Outcome::Ok)?;
    eq("leaks", out.leaks.len(), 0)
}

fn a_whole_model_replays_as_on_sim(rt: &Runtime) -> TestResult {
    // 640x640 fits; at 2176x3840 the block fails part-way (on p150 at a concat whose buffer
    // finds enough free L1 per bank, but not in one block: fragmentation between calls).
    let small = common::model_on_metal_equals_sim(rt, &common::c2f_block(&P150, [640, 640]))?;
    ensure!(
        small.failure.is_none(),
        "640x640 should fit: {:?}",
        small.failure
    );
    let model = common::c2f_block(&P150, [2176, 3840]);
    let large = common::model_on_metal_equals_sim(rt, &model)?;
    ensure!(
        large.failure.as_ref().is_some_and(|f| f.number > 1),
        "expected a call after the first to fail: {:?}",
        large.failure
    );
    Ok(())
}

fn an_imported_script_replays_as_on_sim(rt: &Runtime) -> TestResult {
    common::imported_script_replays_as_on_sim(rt, &P150)
}

fn a_second_board_needs_its_own_process(rt: &Runtime) -> TestResult {
    match Device::open(rt, &memmodel::device::N150, DeviceOptions::default()) {
        Err(Error::Unsupported(m)) if m.contains("own process") => Ok(()),
        Ok(_) => Err("opened an n150 in a p150 process".into()),
        Err(e) => Err(format!("{e:?}").into()),
    }
}

fn yolov12x_fits_at_640_as_the_demo_does(rt: &Runtime) -> TestResult {
    common::yolov12x_fits_at_640_as_the_demo_does(rt, &P150)?;
    Ok(())
}

/// `--fix` verified on the runtime: models/c2f-block.toml at 2176x3840 runs out of L1 on a
/// p150; the changes sim finds make it fit, and the fixed model file replays on the runtime,
/// every call, with sim's trace (common::fixed_model_fits_on_metal).
fn a_fixed_model_fits_on_the_runtime(rt: &Runtime) -> TestResult {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../models/c2f-block.toml"
    ))?;
    common::fixed_model_fits_on_metal(rt, &P150, &text, Some([2176, 3840]))?;
    Ok(())
}

fn main() {
    main_with(vec![
        test("silu_4k_in_l1_is_an_oom", silu_4k_in_l1_is_an_oom),
        test("dram_fits", dram_fits),
        test(
            "an_imported_script_replays_as_on_sim",
            an_imported_script_replays_as_on_sim,
        ),
        test(
            "a_fixed_model_fits_on_the_runtime",
            a_fixed_model_fits_on_the_runtime,
        ),
        test(
            "a_whole_model_replays_as_on_sim",
            a_whole_model_replays_as_on_sim,
        ),
        test(
            "yolov12x_fits_at_640_as_the_demo_does",
            yolov12x_fits_at_640_as_the_demo_does,
        ),
        test(
            "a_second_board_needs_its_own_process",
            a_second_board_needs_its_own_process,
        ),
    ])
}
