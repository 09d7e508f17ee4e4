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
