//! Report fixtures made without a device: memmodel's predictions over shapes.toml (or over a
//! few explicit cases) turned into records (backend `model`), plus hand-made records of the
//! classes a model never predicts (error, cb_clash, l1_small, crashed, timed_out, a leak, a
//! failed canary).

#![allow(dead_code)]

use memmodel::config::{self, Matrix};
use memmodel::{
    BufferType, Case, DType, DeviceLayout, DeviceSpec, Expectation, Layout, Params, Shape,
};
use oom_suite::record::{CaseRecord, Class, Report, Totals};
use oom_suite::report::model;
use std::path::PathBuf;
use std::sync::OnceLock;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn matrix() -> Matrix {
    let text = std::fs::read_to_string(root().join("shapes.toml")).expect("shapes.toml");
    config::parse(&text, "shapes.toml").unwrap_or_else(|e| panic!("{e}"))
}

/// Every case of shapes.toml as memmodel predicts it (cached: the matrix has thousands).
pub fn model_report() -> &'static Report {
    static R: OnceLock<Report> = OnceLock::new();
    R.get_or_init(|| {
        let m = matrix();
        model::report_from_cases(
            &m.cases,
            "shapes.toml",
            "fixture: memmodel over shapes.toml",
        )
    })
}

/// The model report plus the hand-made records of the other classes.
pub fn full_report() -> &'static Report {
    static R: OnceLock<Report> = OnceLock::new();
    R.get_or_init(|| with_other_classes(model_report().clone()))
}

/// The raw message of the hand-made `error` record: tt-metal style, with characters every
/// rendering must escape and a terminal colour code.
pub const RAW_ERROR: &str = "TT_FATAL @ ttnn/cpp/ttnn/operations/eltwise/unary/unary.cpp:123: min.has_value() || max.has_value()\ninfo:\nOnly one of 'min' or \"max\" can be None: pass <at least one> bound & retry \u{1b}[0m";

pub const RAW_CB_CLASH: &str = "Statically allocated circular buffers in program 4 clash with L1 buffers on core range [0-0 - 7-7]. L1 buffer allocated at 110592 and static circular buffer region ends at 118112";

pub const RAW_L1_SMALL: &str = "Out of Memory: Not enough space to allocate 4096 B L1_SMALL buffer across 64 banks, where each bank needs to store 64 B, but bank size is 0 B (allocated: 0 B, free: 0 B, largest free block: 0 B). The L1_SMALL region is 0 B because it is reserved at device open; set l1_small_size large enough for this allocation when opening the device.";

fn template(report: &Report, op: &str, class: Class) -> CaseRecord {
    report
        .cases
        .iter()
        .find(|c| c.op == op && c.class == class)
        .or_else(|| report.cases.iter().find(|c| c.class == class))
        .or_else(|| report.cases.first())
        .cloned()
        .expect("a non-empty report")
}

fn handmade(mut c: CaseRecord, tag: &str, class: Class, message: &str) -> CaseRecord {
    c.id = format!("{}#{tag}", c.id);
    c.class = class;
    c.message = message.to_string();
    c.elapsed_ms = 1.5;
    if !matches!(class, Class::Oom | Class::L1Small) {
        c.buffer_type = None;
        c.total_bytes = 0;
        c.banks = 0;
        c.per_bank_bytes = 0;
        c.bank_allocated_bytes = 0;
        c.bank_bytes = 0;
    }
    c
}

/// Add one record of every class a model cannot produce, and a leak and a failed canary.
pub fn with_other_classes(mut r: Report) -> Report {
    let mut extra = vec![
        handmade(
            template(&r, "clamp", Class::Fits),
            "error",
            Class::Error,
            RAW_ERROR,
        ),
        // Same message but other numbers: grouped with the first.
        handmade(
            template(&r, "clampmin", Class::Fits),
            "error2",
            Class::Error,
            &RAW_ERROR.replace("123", "456"),
        ),
        handmade(
            template(&r, "softmax", Class::Fits),
            "cb",
            Class::CbClash,
            RAW_CB_CLASH,
        ),
        {
            let mut c = handmade(
                template(&r, "maxpool2d", Class::Fits),
                "l1small",
                Class::L1Small,
                RAW_L1_SMALL,
            );
            c.buffer_type = Some("L1_SMALL".into());
            c
        },
        handmade(
            template(&r, "permute", Class::Fits),
            "unmodeled",
            Class::Unmodeled,
            "ttnn.permute: unmodeled: memmodel models TILE permutes only",
        ),
        handmade(
            template(&r, "topk", Class::Fits),
            "crash",
            Class::Crashed,
            "worker process died: signal 6 (SIGABRT) while running the case",
        ),
        handmade(
            template(&r, "upsample_nearest2d", Class::Fits),
            "timeout",
            Class::TimedOut,
            "worker process did not finish within 300 s",
        ),
    ];
    let mut leak = template(&r, "add", Class::Oom);
    leak.id = format!("{}#leak", leak.id);
    leak.leaked_bytes = 4096;
    leak.canary_ok = Some(true);
    extra.push(leak);
    let mut canary = template(&r, "mul", Class::Oom);
    canary.id = format!("{}#canary", canary.id);
    canary.canary_ok = Some(false);
    extra.push(canary);
    r.cases.extend(extra);
    r.totals = Totals::of(&r.cases);
    r
}

/// An explicit case (not from shapes.toml).
pub fn case(
    op: &str,
    dims: &[i64],
    device_layout: DeviceLayout,
    memory: BufferType,
    device: &str,
) -> Case {
    Case {
        op: memmodel::find_op(op).unwrap_or_else(|e| panic!("{e}")),
        shape_set: Some("fixture".into()),
        model_inputs: vec![Shape::new(dims).unwrap()],
        device_layout,
        params: Params::default(),
        dtype: DType::Bfloat16,
        layout: Layout::Tile,
        input_memory: memory,
        output_memory: memory,
        default_output_memory: false,
        sharding: None,
        device: DeviceSpec::by_name(device).unwrap(),
        expect: Expectation::Any,
    }
}

/// A small report with fixed inputs: a few ops at seed shapes on both devices and memories,
/// the canary, and the hand-made classes. Stable enough for snapshots.
pub fn small_report() -> Report {
    let mut cases = Vec::new();
    let shapes: [(&[i64], DeviceLayout); 4] = [
        (&[1], DeviceLayout::AsGiven),
        (&[1, 3, 1280, 1280], DeviceLayout::Nhwc),
        (&[1, 64, 640, 400], DeviceLayout::AsGiven),
        (&[1, 96, 2160, 3840], DeviceLayout::Nhwc),
    ];
    for op in ["silu", "add"] {
        for (dims, layout) in shapes {
            for memory in [BufferType::L1, BufferType::Dram] {
                for device in ["n150", "p150"] {
                    cases.push(case(op, dims, layout, memory, device));
                }
            }
        }
    }
    cases.push(case(
        "silu",
        &[1, 3, 4320, 7680],
        DeviceLayout::Nhwc,
        BufferType::L1,
        "n150",
    ));
    let mut r = model::report_from_cases(&cases, "fixture", "fixture: small report");
    r = with_other_classes(r);
    r.wall_time_ms = 1234.0;
    r
}

/// Count of cases of `op` with `class`, straight from the data.
pub fn count(r: &Report, op: &str, class: Class) -> usize {
    r.cases
        .iter()
        .filter(|c| c.op == op && c.class == class)
        .count()
}

/// The text of a Markdown section: from its heading line to the next heading of the same or a
/// higher level.
pub fn md_section<'a>(md: &'a str, heading: &str) -> &'a str {
    let start = md
        .find(&format!("</a>{heading}\n"))
        .unwrap_or_else(|| panic!("no section `{heading}` in the Markdown"));
    let line_start = md[..start].rfind('\n').map_or(0, |i| i + 1);
    let level = md[line_start..].chars().take_while(|c| *c == '#').count();
    let rest = &md[start..];
    let body_start = rest.find('\n').map_or(rest.len(), |i| i + 1);
    let body = &rest[body_start..];
    let mut end = body.len();
    let mut offset = 0;
    for line in body.split_inclusive('\n') {
        let hashes = line.chars().take_while(|c| *c == '#').count();
        if hashes > 0 && hashes <= level && line[hashes..].starts_with(' ') {
            end = offset;
            break;
        }
        offset += line.len();
    }
    &body[..end]
}

/// The cells of the Markdown table row whose first cell is `first` (cell text trimmed).
pub fn md_row(section: &str, first: &str) -> Option<Vec<String>> {
    section.lines().find_map(|l| {
        let cells: Vec<String> = l
            .trim()
            .strip_prefix('|')?
            .strip_suffix('|')?
            .split(" | ")
            .map(|s| s.trim().to_string())
            .collect();
        (cells.first().map(String::as_str) == Some(first)).then_some(cells)
    })
}

/// `1,234` → 1234.
pub fn md_number(cell: &str) -> usize {
    cell.trim_matches('*')
        .replace(',', "")
        .parse()
        .unwrap_or_else(|e| panic!("`{cell}` is not a number: {e}"))
}
