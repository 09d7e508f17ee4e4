//! The WorkerPool survives a runtime that hangs and one that aborts: the worker's test-only
//! fault hook (`TTNN_OOM_WORKER_FAULT=hang:<case id>` / `abort:<case id>`, set only on the
//! workers this test starts) makes the worker sleep forever or `abort()` inside a case. The case
//! must come back `timed_out` / `crashed` within its timeout, and the next cases must run in a
//! fresh worker with the runtime's own verdict.
//!
//! Reported ignored where `cargo xtask setup` has not been run (no runtime to start workers on).

use libtest_mimic::{Arguments, Completion, Failed, Trial};
use memmodel::{BufferType, Case, DType, DeviceLayout, Expectation, Layout, Params, Shape};
use oom_suite::record::Class;
use oom_suite::runner::RunOptions;
use oom_suite::worker::{WorkerCommand, WorkerPool, FAULT_ENV};
use std::time::{Duration, Instant};

const CASE_TIMEOUT: Duration = Duration::from_secs(3);

fn case(op: &str, memory: BufferType) -> Case {
    Case {
        op: memmodel::find_op(op).expect("in the catalog"),
        shape_set: None,
        model_inputs: vec![Shape::from_dims(vec![1, 1, 32, 32]).expect("a shape")],
        device_layout: DeviceLayout::AsGiven,
        params: Params::default(),
        dtype: DType::Bfloat16,
        layout: Layout::Tile,
        input_memory: memory,
        output_memory: memory,
        default_output_memory: false,
        sharding: None,
        device: &memmodel::device::N150,
        expect: Expectation::Any,
    }
}

fn options() -> RunOptions {
    RunOptions {
        backend: "metal".into(),
        runtime_version: String::new(),
        measure: false,
        canary: true,
        execute: true,
    }
}

fn pool_with_fault(fault: &str) -> WorkerPool {
    let mut command = WorkerCommand::current_exe(&[]).expect("the test binary can find itself");
    command.env.push((FAULT_ENV.to_string(), fault.to_string()));
    WorkerPool::new(command, Duration::from_secs(120), CASE_TIMEOUT)
}

/// The faulty case ends `want` in bounded time; the cases after it (same op and another op)
/// run in a restarted worker and fit; the pool shuts down.
fn survives(kind: &str, want: Class) -> Result<Completion, Failed> {
    if let Err(e) = ttnn::metal::Manifest::load(&ttnn::metal::state_dir()) {
        return Ok(Completion::ignored_with(format!(
            "skipped: the real TT-NN runtime is not set up ({e}); run `cargo xtask setup`"
        )));
    }
    let faulty = case("silu", BufferType::L1);
    let pool = pool_with_fault(&format!("{kind}:{}", faulty.id()));
    let opts = options();
    let before = pool.run(&case("silu", BufferType::Dram), &opts);
    if before.class != Class::Fits {
        return Err(format!(
            "the case before the fault: {:?} {}",
            before.class, before.message
        )
        .into());
    }
    let start = Instant::now();
    let record = pool.run(&faulty, &opts);
    let took = start.elapsed();
    if record.class != want {
        return Err(format!(
            "the faulty case ended {} ({}), want {}",
            record.class.name(),
            record.message,
            want.name()
        )
        .into());
    }
    // A hang costs the timeout (plus killing the worker); an abort costs less.
    if took > CASE_TIMEOUT + Duration::from_secs(10) {
        return Err(format!("the faulty case took {took:?}").into());
    }
    if record.id != faulty.id() || record.message.is_empty() {
        return Err(format!("the record must name the case and say why: {record:?}").into());
    }
    for next in [case("silu", BufferType::Dram), case("relu", BufferType::L1)] {
        let r = pool.run(&next, &opts);
        if r.class != Class::Fits || r.leaked_bytes != 0 {
            return Err(format!(
                "after the {kind}, {} ended {} ({}), leaked {} B",
                next.id(),
                r.class.name(),
                r.message,
                r.leaked_bytes
            )
            .into());
        }
    }
    pool.shutdown();
    println!(
        "{kind}: {} reported {} in {:.1} s; the next cases ran in a fresh worker",
        faulty.id(),
        record.class.name(),
        took.as_secs_f64()
    );
    Ok(Completion::Completed)
}

fn main() {
    if oom_suite::worker::serve_if_worker() {
        return;
    }
    let args = Arguments::from_args();
    let trials = vec![
        Trial::ignorable_test("worker_pool_survives_a_hang", || {
            survives("hang", Class::TimedOut)
        }),
        Trial::ignorable_test("worker_pool_survives_an_abort", || {
            survives("abort", Class::Crashed)
        }),
    ];
    libtest_mimic::run(&args, trials).exit();
}
