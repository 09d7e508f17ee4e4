//! Case and parameter validation: random ops, shapes (any rank, edge and huge dims), dtypes,
//! layouts, memories, devices and parameters (known and unknown names, any value kind) through
//! `OpDef::signature` and `Case::estimate` / `plan`. Every case is formed or refused with an
//! error naming the op; nothing panics (the build has overflow checks on, so unchecked size
//! arithmetic that overflows is a crash here).
#![no_main]

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use memmodel::{
    BufferType, Case, DType, DeviceLayout, Expectation, Layout, ParamValue, Params, Shape, OPS,
};

fn dim(u: &mut Unstructured) -> Result<i64> {
    Ok(match u.int_in_range(0u8..=9)? {
        0 => 1,
        1 => 31,
        2 => 32,
        3 => 33,
        4 => i64::from(u.int_in_range(1u16..=4096)?),
        5 => i64::from(u.int_in_range(1u32..=u32::MAX)?),
        6 => u.arbitrary::<i64>()?,
        7 => i64::MAX,
        8 => 0,
        _ => -i64::from(u.int_in_range(1u8..=64)?),
    })
}

fn shape(u: &mut Unstructured) -> Result<Vec<i64>> {
    let rank = u.int_in_range(0usize..=9)?;
    (0..rank).map(|_| dim(u)).collect()
}

fn value(u: &mut Unstructured) -> Result<ParamValue> {
    Ok(match u.int_in_range(0u8..=5)? {
        0 => ParamValue::Bool(u.arbitrary()?),
        1 => ParamValue::Int(i64::from(u.int_in_range(-10i8..=10)?)),
        2 => ParamValue::Int(u.arbitrary()?),
        3 => ParamValue::Float(u.arbitrary()?),
        4 => {
            let n = u.int_in_range(0usize..=6)?;
            ParamValue::Ints(
                (0..n)
                    .map(|_| dim(u))
                    .collect::<Result<Vec<_>>>()?,
            )
        }
        _ => ParamValue::Str(u.arbitrary::<String>()?),
    })
}

fn one(u: &mut Unstructured) -> Result<()> {
    let op = u.choose(OPS)?;
    let n_shapes = u.int_in_range(0usize..=3)?;
    let mut model_inputs = Vec::new();
    for _ in 0..n_shapes {
        let dims = shape(u)?;
        match Shape::new(&dims) {
            Ok(s) => {
                assert!(s.dims().iter().all(|&d| d >= 1));
                model_inputs.push(s);
            }
            Err(e) => {
                // Refused shapes say why; the case goes on without them.
                assert!(!e.to_string().is_empty());
            }
        }
    }
    let mut params = Params::default();
    let names = op.param_names();
    for _ in 0..u.int_in_range(0usize..=4)? {
        let name = if !names.is_empty() && u.ratio(4u8, 5u8)? {
            u.choose(&names)?.to_string()
        } else {
            u.arbitrary::<String>()?
        };
        params.set(&name, value(u)?);
    }
    let device_layout = *u.choose(&[
        DeviceLayout::AsGiven,
        DeviceLayout::Nhwc,
        DeviceLayout::NhwcFlat,
    ])?;
    let memories = [BufferType::L1, BufferType::Dram, BufferType::L1Small];
    let case = Case {
        op,
        shape_set: None,
        model_inputs,
        device_layout,
        params,
        dtype: *u.choose(&DType::ALL)?,
        layout: *u.choose(&[Layout::Tile, Layout::RowMajor])?,
        input_memory: *u.choose(&memories)?,
        output_memory: *u.choose(&memories)?,
        default_output_memory: false,
        sharding: None,
        device: *u.choose(&memmodel::device::DEVICES)?,
        expect: Expectation::Any,
    };
    let _ = case.memory_label();
    // Triage: `FUZZ_SHOW_CASE=1 fuzz/target/.../case_params <artifact>` names the case.
    if std::env::var_os("FUZZ_SHOW_CASE").is_some() {
        eprintln!("case {} params {}", case.id(), case.params.compact());
    }
    match case.signature() {
        Err(e) => {
            let shown = e.to_string();
            assert!(!shown.is_empty());
        }
        Ok(sig) => {
            let _ = sig.invocation.render();
            let _ = sig.invocation.to_json();
            match case.estimate_from(&sig) {
                Ok(est) => {
                    let _ = (est.verdict.name(), est.placement.per_bank_bytes);
                }
                Err(e) => assert!(!e.to_string().is_empty()),
            }
            let _ = case.plan_from(&sig);
            let spec = case.to_spec();
            let back = spec.to_case().expect("a formed case round-trips through CaseSpec");
            assert_eq!(back.id(), case.id());
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let _ = one(&mut u);
    // Shapes from text, as `--shape` takes them.
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Shape::parse(text);
    }
});
