//! Cases memmodel does not model or that the runtime refuses: every command answers them with
//! their class and reason and goes on (no device needed: the `sim` backend and the estimate).

use std::process::Command;

fn xtask(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .output()
        .expect("xtask runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A call memmodel does not model today (op, layout, dtype, device layout on [1,64,100,100] in L1
/// on an n150, default parameters), found by asking memmodel, so the tests follow its regions as
/// they shrink.
fn an_unmodeled_call() -> (&'static str, &'static str, String, &'static str) {
    use memmodel::layout::DeviceLayout;
    use memmodel::{BufferType, Case, Layout, Shape};
    for (device_layout, device_layout_name) in [
        (DeviceLayout::AsGiven, "as-given"),
        (DeviceLayout::Nhwc, "nhwc"),
    ] {
        for op in memmodel::OPS {
            for layout in [Layout::RowMajor, Layout::Tile] {
                for dtype in memmodel::ops::supported_dtypes(op.name) {
                    let mut c = Case::new(
                        op,
                        vec![Shape::parse("1,64,100,100").unwrap()],
                        &memmodel::device::N150,
                    );
                    c.layout = layout;
                    c.dtype = dtype;
                    c.device_layout = device_layout;
                    c.input_memory = BufferType::L1;
                    c.output_memory = BufferType::L1;
                    if let Err(e) = c.estimate() {
                        if memmodel::exec::is_unmodeled(&e) {
                            return (
                                op.name,
                                layout.name(),
                                dtype.to_string(),
                                device_layout_name,
                            );
                        }
                    }
                }
            }
        }
    }
    panic!("memmodel models every op, layout and dtype on [1,64,100,100]: pick another example");
}

#[test]
fn probe_on_sim_answers_modeled_unmodeled_and_refused_calls() {
    let (ok, text) = xtask(&[
        "probe",
        "--backend",
        "sim",
        "--op",
        "silu",
        "--shape",
        "1,64,640,400",
    ]);
    assert!(ok && text.contains("[sim]: ok"), "{text}");
    let (op, layout, dtype, device_layout) = an_unmodeled_call();
    let (ok, text) = xtask(&[
        "probe",
        "--backend",
        "sim",
        "--op",
        op,
        "--shape",
        "1,64,100,100",
        "--device-layout",
        device_layout,
        "--layout",
        layout,
        "--dtype",
        &dtype,
        "--memory",
        "l1",
        "--device",
        "n150",
        "--no-measure",
    ]);
    assert!(ok && text.contains("UNMODELED"), "{text}");
    let (ok, text) = xtask(&[
        "probe",
        "--backend",
        "sim",
        "--op",
        "mm",
        "--shape",
        "1,64,640,320",
        "--layout",
        "row_major",
        "--memory",
        "dram",
        "--no-measure",
    ]);
    assert!(
        ok && text.contains("Inputs to matmul must be tilized"),
        "{text}"
    );
}

#[test]
fn estimate_lists_cases_without_a_verdict_and_goes_on() {
    let (op, layout, dtype, device_layout) = an_unmodeled_call();
    // silu beside it, where silu takes the dtype (estimate refuses a dtype an op does not take).
    let silu_takes_it = memmodel::ops::supported_dtypes("silu")
        .into_iter()
        .any(|d| d.to_string() == dtype);
    let ops = if silu_takes_it {
        format!("{op},silu")
    } else {
        op.to_string()
    };
    let (ok, text) = xtask(&[
        "estimate",
        "--json",
        "--op",
        &ops,
        "--shape",
        "1,64,100,100",
        "--device-layout",
        device_layout,
        "--layout",
        layout,
        "--dtype",
        &dtype,
        "--memory",
        "l1",
        "--device",
        "n150",
    ]);
    assert!(ok, "{text}");
    let rows: Vec<serde_json::Value> = serde_json::from_str(&text).expect("one JSON array");
    let unmodeled = rows.iter().find(|r| r["op"] == op).unwrap();
    assert_eq!(unmodeled["verdict"], "unmodeled", "{text}");
    assert!(
        unmodeled["reason"].as_str().unwrap().contains("unmodeled"),
        "{text}"
    );
    // silu in the same layout and dtype has a verdict (when the dtype is one silu takes).
    if let Some(silu) = rows.iter().find(|r| r["op"] == "silu") {
        assert!(
            silu["verdict"] == "fits" || silu["verdict"] == "oom",
            "{text}"
        );
    }
}

#[test]
fn threshold_gives_every_op_a_row_and_goes_on_past_those_without_a_boundary() {
    let out = std::env::temp_dir().join(format!("ttnn-oom-threshold-{}", std::process::id()));
    let (ok, text) = xtask(&[
        "threshold",
        "--op",
        "add,addmm,maxpool2d",
        "--dtype",
        "uint32",
        "--device",
        "n150",
        "--confirm",
        "none",
        "--json",
        "--out",
        out.to_str().unwrap(),
    ]);
    let _ = std::fs::remove_dir_all(&out);
    assert!(ok, "{text}");
    let json = &text[text.find('[').unwrap()..=text.rfind(']').unwrap()];
    let rows: Vec<serde_json::Value> = serde_json::from_str(json).unwrap();
    let row = |op: &str| {
        rows.iter()
            .find(|r| r["op"] == op)
            .unwrap_or_else(|| panic!("{op}: {text}"))
    };
    // add is searched: a boundary on both sides.
    assert!(
        row("add")["last_fit"].is_object() && row("add")["first_oom"].is_object(),
        "{text}"
    );
    // The runtime refuses addmm on uint32 at any size: its words, where the search met them.
    let addmm = row("addmm")["unsearched"].as_str().unwrap_or_default();
    assert!(
        addmm.starts_with("refused at extent 1: only ttnn.bfloat16"),
        "{addmm}"
    );
    // maxpool2d's 2x2 kernel does not fit the default template's single row.
    let pool = row("maxpool2d")["unsearched"].as_str().unwrap_or_default();
    assert!(pool.starts_with("invalid: maxpool2d: kernel"), "{pool}");
}
