//! Every operator of memmodel's catalog runs on a mock n150 at a small shape, in L1 and in DRAM,
//! and returns ok with the outputs memmodel predicts, leaving no memory behind — with the
//! catalog's defaults, and again with shapes.toml's op parameters and device layouts; and every
//! n150 case of shapes.toml's `canary` set (one-element tensors, which must fit) fits. This is
//! what keeps the op mapping honest: an invocation the runtime rejects fails here.

mod common;

use common::{eq, main_with, test, TestResult};
use memmodel::device::N150;
use memmodel::ops::{Family, OutputStorage};
use memmodel::{BufferType, Case, DType, Expectation, Layout, Params, Shape, OPS};
use ttnn::metal::{Device, DeviceOptions, Runtime};
use ttnn::{run_case, DeviceApi, Outcome};

fn small_shape(family: Family) -> &'static str {
    match family {
        Family::Addmm => "64,64",
        Family::Matmul { .. } | Family::Linear => "2,64,64",
        _ => "1,32,64,64",
    }
}

fn small_case(
    op: &'static memmodel::OpDef,
    params: Params,
    device_layout: memmodel::DeviceLayout,
    memory: BufferType,
) -> Result<Case, libtest_mimic::Failed> {
    Ok(Case {
        op,
        shape_set: None,
        model_inputs: vec![Shape::parse(small_shape(op.family))?],
        device_layout,
        params,
        dtype: DType::Bfloat16,
        layout: Layout::Tile,
        input_memory: memory,
        output_memory: memory,
        default_output_memory: false,
        sharding: None,
        device: &N150,
        expect: Expectation::Any,
    })
}

fn run_ok(rt: &Runtime, case: &Case) -> TestResult {
    let memory = case.output_memory;
    let sig = case.signature()?;
    // The runtime answers whether memmodel plans the call or not (conv2d has no plan yet).
    let dev = Device::open(rt, &N150, DeviceOptions::with_l1_small(sig.l1_small_bytes))?;
    let out = run_case(&dev, case)?;
    dev.close().map_err(|(_, e)| e)?;
    if out.outcome != Outcome::Ok {
        return Err(format!(
            "{}: {} — {:?} at {:?}",
            sig.invocation.render(),
            out.outcome,
            out.error,
            out.failed_at
        )
        .into());
    }
    eq("leaks", out.leaks.clone(), vec![])?;
    eq("number of outputs", out.outputs.len(), sig.outputs.len())?;
    for (i, (got, want)) in out.outputs.iter().zip(&sig.outputs).enumerate() {
        eq(
            &format!("output {i} shape"),
            got.shape.clone(),
            want.shape.dims().to_vec(),
        )?;
        if want.storage == OutputStorage::New {
            eq(
                &format!("output {i} memory"),
                got.buffer_type.clone(),
                Some(memory.name().to_string()),
            )?;
        }
    }
    Ok(())
}

/// memmodel's dtype table is the runtime's word: each dtype it says the op rejects, the runtime
/// rejects (inputs of that dtype through the op's bfloat16 invocation, in DRAM), with an error
/// that is not a memory failure.
fn dtype_rejected(rt: &Runtime, name: &str, dtypes: &[DType]) -> TestResult {
    let op = memmodel::find_op(name)?;
    let case = small_case(
        op,
        Params::default(),
        op.default_device_layout,
        BufferType::Dram,
    )?;
    let sig = case.signature()?;
    let dev = Device::open(rt, &N150, DeviceOptions::with_l1_small(sig.l1_small_bytes))?;
    let mut accepted = Vec::new();
    for &dtype in dtypes {
        let inputs = sig
            .inputs
            .iter()
            .map(|i| {
                dev.empty(&ttnn::TensorDesc {
                    shape: i.shape.dims().to_vec(),
                    dtype,
                    layout: i.layout,
                    buffer_type: BufferType::Dram,
                    sharding: None,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let refs: Vec<_> = inputs.iter().collect();
        match dev.run(&sig.invocation, &refs) {
            Ok(_) => accepted.push(dtype.name()),
            Err(e) if e.outcome() != Outcome::Error => {
                return Err(
                    format!("{name} {dtype}: a memory failure, not a dtype error: {e}").into(),
                )
            }
            Err(_) => {}
        }
    }
    drop(dev.close());
    if accepted.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{name}: the runtime accepts {} which memmodel's DTYPE_REJECTIONS rejects",
            accepted.join(", ")
        )
        .into())
    }
}

fn main() {
    let mut tests = Vec::new();
    for op in OPS {
        for memory in [BufferType::L1, BufferType::Dram] {
            tests.push(test(
                format!("catalog/{}/{}", op.name, memory.name()),
                move |rt: &Runtime| {
                    run_ok(
                        rt,
                        &small_case(op, Params::default(), op.default_device_layout, memory)?,
                    )
                },
            ));
        }
    }
    for &(name, dtypes, _) in memmodel::ops::DTYPE_REJECTIONS {
        tests.push(test(
            format!("dtype_rejections/{name}"),
            move |rt: &Runtime| dtype_rejected(rt, name, dtypes),
        ));
    }
    let path = ttnn::metal::workspace_root().join("shapes.toml");
    let matrix = std::fs::read_to_string(&path)
        .map_err(|e| e.to_string())
        .and_then(|text| memmodel::config::parse(&text, "shapes.toml").map_err(|e| e.to_string()));
    match matrix {
        Ok(matrix) => {
            for entry in matrix.ops {
                for memory in [BufferType::L1, BufferType::Dram] {
                    let (op, params, layout) =
                        (entry.op, entry.params.clone(), entry.device_layout);
                    tests.push(test(
                        format!("shapes_toml/{}/{}", op.name, memory.name()),
                        move |rt: &Runtime| run_ok(rt, &small_case(op, params, layout, memory)?),
                    ));
                }
            }
            for case in matrix.cases {
                if case.shape_set.as_deref() == Some("canary") && case.device.name == N150.name {
                    tests.push(test(
                        format!("canary/{}", case.id()),
                        move |rt: &Runtime| run_ok(rt, &case),
                    ));
                }
            }
        }
        Err(e) => tests.push(test("shapes_toml", move |_: &Runtime| {
            Err(format!("{}: {e}", path.display()).into())
        })),
    }
    main_with(tests)
}
