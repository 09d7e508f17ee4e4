//! Snapshots of `cargo xtask estimate`'s output: one per op over the default matrix (the table a
//! user sees), and focused JSON rows for the cases the issues and DESIGN.md name. A change in any
//! number shows up as a snapshot diff to review; CI runs with INSTA_UPDATE=no, so a pending
//! snapshot fails, and `snapshot_files_are_all_referenced` fails on stale ones.

use memmodel::config;
use memmodel::estimate::{self, EstimateRow};
use memmodel::{BufferType, Case, DType, DeviceLayout, Expectation, Layout, Params, Shape};
use std::collections::BTreeSet;
use std::path::PathBuf;

/// The one way this crate takes snapshots: stable paths, named per op and case.
macro_rules! assert_estimate_snapshot {
    ($name:expr, $value:expr) => {{
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path("snapshots");
        settings.set_prepend_module_to_snapshot(false);
        settings.set_omit_expression(true);
        // Paths differ between checkouts; none should reach a snapshot, but be safe.
        settings.add_filter(r"/[^\s]*/shapes\.toml", "[shapes.toml]");
        settings.bind(|| insta::assert_snapshot!($name, $value));
    }};
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn matrix() -> config::Matrix {
    let text = std::fs::read_to_string(root().join("shapes.toml")).unwrap();
    config::parse(&text, "shapes.toml").unwrap()
}

fn rows(cases: &[Case]) -> Vec<EstimateRow> {
    estimate::rows(cases)
        .into_iter()
        .map(|r| r.unwrap_or_else(|(id, e)| panic!("{id}: {e}")))
        .collect()
}

const FOCUSED: &[(&str, &str, &str, BufferType, &str, DeviceLayout)] = &[
    // The issue's acceptance case: the numbers real Wormhole hardware printed.
    (
        "add_1x64x640x400_l1_n150",
        "add",
        "1,64,640,400",
        BufferType::L1,
        "n150",
        DeviceLayout::AsGiven,
    ),
    (
        "add_1x64x640x400_dram_n150",
        "add",
        "1,64,640,400",
        BufferType::Dram,
        "n150",
        DeviceLayout::AsGiven,
    ),
    (
        "silu_1x96x2160x3840_l1_p150",
        "silu",
        "1,96,2160,3840",
        BufferType::L1,
        "p150",
        DeviceLayout::AsGiven,
    ),
    (
        "silu_1x3x1280x1280_nhwc_l1_n150",
        "silu",
        "1,3,1280,1280",
        BufferType::L1,
        "n150",
        DeviceLayout::Nhwc,
    ),
    (
        "softmax_1x12x8160x8160_dram_n150",
        "softmax",
        "1,12,8160,8160",
        BufferType::Dram,
        "n150",
        DeviceLayout::AsGiven,
    ),
    (
        "maxpool2d_1x96x1088x1920_flat_l1_n150",
        "maxpool2d",
        "1,96,1088,1920",
        BufferType::L1,
        "n150",
        DeviceLayout::NhwcFlat,
    ),
    (
        "topk_1x96x2160x3840_nhwc_l1_p150",
        "topk",
        "1,96,2160,3840",
        BufferType::L1,
        "p150",
        DeviceLayout::Nhwc,
    ),
    (
        "canary_relu_1_l1_n150",
        "relu",
        "1",
        BufferType::L1,
        "n150",
        DeviceLayout::AsGiven,
    ),
];

fn focused_case(
    op: &str,
    shape: &str,
    memory: BufferType,
    device: &str,
    layout: DeviceLayout,
) -> Case {
    Case {
        op: memmodel::find_op(op).unwrap(),
        shape_set: None,
        model_inputs: vec![Shape::parse(shape).unwrap()],
        device_layout: layout,
        params: Params::default(),
        dtype: DType::Bfloat16,
        layout: Layout::Tile,
        input_memory: memory,
        output_memory: memory,
        default_output_memory: false,
        sharding: None,
        device: memmodel::DeviceSpec::by_name(device).unwrap(),
        expect: Expectation::Any,
    }
}

#[test]
fn estimate_table_per_op() {
    let m = matrix();
    for op in memmodel::OPS {
        let cases: Vec<Case> = m
            .cases
            .iter()
            .filter(|c| c.op.name == op.name)
            .cloned()
            .collect();
        // Cases memmodel gives no verdict for (conv2d calls outside its plan) are listed by id:
        // they must stay unmodeled, not turn into a verdict unseen.
        let mut unmodeled = String::new();
        let mut with_verdict = Vec::new();
        for (case, row) in cases.iter().zip(estimate::rows(&cases)) {
            match row {
                Err((id, e)) if memmodel::exec::is_unmodeled(&e) => {
                    unmodeled.push_str(&format!("unmodeled {id}\n"))
                }
                _ => with_verdict.push(case.clone()),
            }
        }
        let rows = rows(&with_verdict);
        let text = format!(
            "{}{}\n{unmodeled}",
            estimate::render_table(&rows),
            estimate::summary(&rows)
        );
        assert_estimate_snapshot!(format!("estimate_table__{}", op.name), text);
    }
}

#[test]
fn estimate_json_focused_cases() {
    for (name, op, shape, memory, device, layout) in FOCUSED {
        let rows = rows(&[focused_case(op, shape, *memory, device, *layout)]);
        assert_estimate_snapshot!(
            format!("estimate_json__{name}"),
            estimate::render_json(&rows)
        );
    }
}

#[test]
fn snapshot_files_are_all_referenced() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots");
    let mut expected: BTreeSet<String> = memmodel::OPS
        .iter()
        .map(|o| format!("estimate_table__{}.snap", o.name))
        .collect();
    expected.extend(
        FOCUSED
            .iter()
            .map(|f| format!("estimate_json__{}.snap", f.0)),
    );
    let present: BTreeSet<String> = std::fs::read_dir(&dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".snap") && n.starts_with("estimate_"))
                .collect()
        })
        .unwrap_or_default();
    let stale: Vec<_> = present.difference(&expected).collect();
    assert!(
        stale.is_empty(),
        "unreferenced snapshots (delete them): {stale:?}"
    );
    let pending: Vec<String> = std::fs::read_dir(&dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".snap.new") || n.ends_with(".pending-snap"))
                .collect()
        })
        .unwrap_or_default();
    assert!(
        pending.is_empty(),
        "pending snapshots (review with cargo insta review): {pending:?}"
    );
}
