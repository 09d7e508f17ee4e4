//! The report's sections, laid out from an [`Analysis`]: seed 002's sections recomputed from
//! data, plus what the seed lacked (per device, device layouts, failures that are not OOM,
//! leaks). Markdown and HTML render this one document.

use super::analysis::{
    device_bytes, factor_over_bank, need_per_bank, primary_shape, Analysis, Category, DramOption,
    Fix, ShapeStats, Tier, MAX_DISAGREEMENTS, MAX_LISTED_CASES,
};
use super::doc::{
    code, col, num, strong, text, Bar, Block, Cell, Chart, Doc, Inline, Line, Point, Range, Series,
    Table,
};
use super::fmt::{self, bytes, dims, factor, in_gib, in_mib, percent, size, thousands};
use crate::record::{CaseRecord, Class};
use memmodel::BufferType;

/// Rows shown in the long tables before the rest is summarised.
const TOP_SHAPES: usize = 25;
const TOP_TIER_SHAPES: usize = 15;
const MAX_RAW_MESSAGE: usize = 4000;

/// Colours of the classes in charts.
pub fn class_color(class: Class) -> &'static str {
    match class {
        Class::Fits => "#2f9e44",
        Class::Oom => "#d9480f",
        Class::CbClash => "#f59f00",
        Class::L1Small => "#7048e8",
        Class::Error => "#868e96",
        Class::Unmodeled => "#74c0fc",
        Class::Crashed => "#212529",
        Class::TimedOut => "#a61e4d",
    }
}

pub fn class_label(class: Class) -> &'static str {
    match class {
        Class::Fits => "fits",
        Class::Oom => "out of memory",
        Class::CbClash => "circular-buffer clash",
        Class::L1Small => "L1_SMALL too small",
        Class::Error => "error",
        Class::Unmodeled => "unmodeled (no verdict)",
        Class::Crashed => "crashed",
        Class::TimedOut => "timed out",
    }
}

const FAILURE_CLASSES: [Class; 7] = [
    Class::Oom,
    Class::CbClash,
    Class::L1Small,
    Class::Error,
    Class::Unmodeled,
    Class::Crashed,
    Class::TimedOut,
];

const OTHER_CLASSES: [Class; 5] = [
    Class::CbClash,
    Class::L1Small,
    Class::Error,
    Class::Crashed,
    Class::TimedOut,
];

fn t(s: impl Into<String>) -> Cell {
    vec![text(s)]
}
fn c(s: impl Into<String>) -> Cell {
    vec![code(s)]
}
fn n(x: usize) -> Cell {
    vec![text(thousands(x as u64))]
}

/// `[1,96,2160,3840]` (plus the dtype when it is not bfloat16).
fn shape_label(shape: &[u64], dtype: &str) -> String {
    if dtype == "bfloat16" {
        dims(shape)
    } else {
        format!("{} {dtype}", dims(shape))
    }
}

/// A case in a few words: `[1,96,2160,3840] nhwc → [1,2160,3840,96], l1, n150`.
fn case_where(c: &CaseRecord) -> Vec<Inline> {
    vec![
        code(shape_label(primary_shape(c), &c.dtype)),
        text(format!(" {} → ", c.device_layout)),
        code(dims(&c.device_shape)),
        text(format!(", {}, {}", c.memory, c.device)),
    ]
}

fn gib_and_mib(b: u64) -> String {
    format!("{} ({})", in_gib(b), in_mib(b))
}

fn list_ops(ops: &std::collections::BTreeSet<String>, max: usize) -> String {
    let mut v: Vec<&str> = ops.iter().map(String::as_str).take(max).collect();
    if ops.len() > max {
        v.push("…");
    }
    v.join(", ")
}

fn need_cell(c: &CaseRecord) -> Cell {
    match need_per_bank(c) {
        Some(need) => t(format!("{} / {}", bytes(need), bytes(c.bank_bytes))),
        None => t("n/a"),
    }
}

fn factor_cell(c: &CaseRecord) -> Cell {
    match factor_over_bank(c) {
        Some(f) => vec![strong(factor(f))],
        None => t("n/a"),
    }
}

/// Build the document.
pub fn document(a: &Analysis) -> Doc {
    let mut d = Doc {
        title: "TT-NN operator out-of-memory report".into(),
        blocks: Vec::new(),
    };
    header(a, &mut d);
    summary(a, &mut d);
    critical(a, &mut d);
    by_operator(a, &mut d);
    shapes(a, &mut d);
    categories(a, &mut d);
    eight_k(a, &mut d);
    recommendations(a, &mut d);
    verified_fixes(a, &mut d);
    thresholds(a, &mut d);
    per_device(a, &mut d);
    overhead(a, &mut d);
    layouts(a, &mut d);
    suite_calls(a, &mut d);
    not_oom(a, &mut d);
    integrity(a, &mut d);
    d
}

fn header(a: &Analysis, d: &mut Doc) {
    let r = &a.head;
    let mut items = vec![
        vec![strong("Generated: "), text(r.generated_at.clone())],
        vec![
            strong("Backend: "),
            text(format!("{} ({})", r.backend, r.runtime_version)),
        ],
        vec![strong("Devices: "), text(a.devices_seen.join(", "))],
        vec![strong("Cases from: "), code(r.shapes_file.clone())],
        vec![
            strong("Wall time: "),
            text(format!(
                "{} (sum of per-case times: {})",
                fmt::duration_ms(r.wall_time_ms),
                fmt::duration_ms(a.case_time_ms)
            )),
        ],
    ];
    if !r.command.is_empty() {
        items.push(vec![strong("Command: "), code(r.command.clone())]);
    }
    if let Some(p) = &r.partition {
        items.push(vec![
            strong("Partition: "),
            text(format!(
                "{p} — this report holds one slice of the matrix; merge the slices with `cargo xtask report --merge`"
            )),
        ]);
    }
    items.push(vec![strong("Tool: "), text(r.tool.clone())]);
    d.push(Block::List {
        ordered: false,
        items,
    });
    d.p(vec![text(
        "Every number below is computed from the run's records (report.json). Sizes use binary units \
         (1 KiB = 1,024 B, 1 MiB = 1,024 KiB, 1 GiB = 1,024 MiB). \"Logical\" bytes are element count × \
         element size (what seed 000 called theoretical); \"allocated\" bytes are what the device \
         allocates for the tensor in its device layout (TILE pads the last two dims to 32, NHWC moves \
         channels last). A case's device bytes are the larger of its first tensor as allocated and the \
         allocation that failed; memory categories use device bytes. A failed case's need per bank is \
         what the bank already held plus what the failing buffer needed there, against the bank's \
         size; their ratio is the factor over the bank.",
    )]);
}

fn summary(a: &Analysis, d: &mut Doc) {
    d.h(2, "Executive summary", "summary");
    let tot = &a.totals;
    let ops_total = a.ops.len();
    let ops_any = a.ops.iter().filter(|o| o.counts.failures() > 0).count();
    let problem = a.problem_shapes().count();
    let critical = a.critical_shapes().len();
    let other = a.counts.other();
    let mut rows: Vec<Vec<Cell>> = vec![
        vec![
            t("Cases run"),
            n(tot.cases),
            t("operator × shape × memory × device"),
        ],
        vec![t("Fit"), n(tot.fits), t(percent(tot.fits, tot.cases))],
        vec![
            vec![strong("Out of memory")],
            vec![strong(thousands(tot.oom as u64))],
            t(format!(
                "{} — the allocator raised \"Out of Memory\"",
                percent(tot.oom, tot.cases)
            )),
        ],
        vec![
            t("Other failures (not OOM)"),
            n(other),
            t("listed with their raw messages under \"Failures that are not OOM\""),
        ],
    ];
    for class in OTHER_CLASSES {
        rows.push(vec![
            t(format!("· {}", class_label(class))),
            n(a.counts.get(class)),
            vec![text("class "), code(class.name())],
        ]);
    }
    rows.push(vec![
        t("Unmodeled (no verdict)"),
        n(a.counts.get(Class::Unmodeled)),
        t("sim has no model of the call; `--backend metal` answers it"),
    ]);
    rows.extend([
        vec![
            t("Operators affected by OOM"),
            t(format!("{} / {}", a.ops_affected(), ops_total)),
            t(percent(a.ops_affected(), ops_total)),
        ],
        vec![
            t("Operators with any failure"),
            t(format!("{ops_any} / {ops_total}")),
            t(percent(ops_any, ops_total)),
        ],
        vec![
            t("Unique problem shapes"),
            n(problem),
            t("first input shapes with at least one OOM"),
        ],
        vec![
            t("Critical shapes (> 1 GiB device bytes)"),
            n(critical),
            t("see \"Critical shapes\""),
        ],
        vec![
            t("Leaks"),
            n(tot.leaks),
            t("cases whose device memory did not return to its baseline"),
        ],
        vec![
            t("Canary failures"),
            n(a.canary_failures.len()),
            t("one-element case after a memory failure that did not pass"),
        ],
        vec![
            t("Suspicious OOMs"),
            n(a.suspicious.len()),
            t("OOM at one element, or with numbers that fit the bank"),
        ],
    ]);
    if a.compared > 0 {
        rows.push(vec![
            t("Model agreement"),
            t(format!(
                "{} / {}",
                thousands((a.compared - a.disagreements.len()) as u64),
                thousands(a.compared as u64)
            )),
            t("memmodel's predicted fits/OOM against the outcome"),
        ]);
    }
    d.push(Block::Table(Table {
        columns: vec![col("Metric"), num("Value"), col("Note")],
        rows,
    }));
    if !a.totals_consistent {
        d.p(vec![
            strong("Note: "),
            text("the totals stored in report.json do not match its cases; the numbers above are recounted from the cases."),
        ]);
    }
}

fn critical(a: &Analysis, d: &mut Doc) {
    d.h(2, "Critical shapes (> 1 GiB)", "critical");
    let crit = a.critical_shapes();
    let by_padding = crit
        .iter()
        .filter(|s| Category::of(s.logical_bytes) != Category::Critical)
        .count();
    d.p(vec![text(format!(
        "Shapes with at least one OOM case whose device bytes exceed 1 GiB: {}. {} of them are critical only \
         because of how the device holds them (their logical size is at most 1 GiB; padding in their device \
         layout takes them over).",
        crit.len(),
        by_padding
    ))]);
    d.push(Block::Table(shape_table(&crit, true)));
}

fn shape_table(shapes: &[&ShapeStats], with_category: bool) -> Table {
    let mut columns = vec![
        col("Shape"),
        col("Device layouts"),
        num("Logical"),
        num("Device bytes (allocated)"),
        num("Max factor over bank"),
        num("Ops with OOM"),
        num("OOM cases"),
        col("Devices"),
        col("Operators"),
    ];
    if with_category {
        columns.push(col("Category"));
    }
    let rows = shapes
        .iter()
        .map(|s| {
            let db = if s.oom > 0 {
                s.oom_device_bytes_max
            } else {
                s.device_bytes_max
            };
            let mut row = vec![
                c(shape_label(&s.shape, &s.dtype)),
                t(s.device_layouts
                    .iter()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")),
                t(gib_and_mib(s.logical_bytes)),
                t(gib_and_mib(db)),
                t(s.max_factor.map_or("n/a".into(), factor)),
                n(s.oom_ops.len()),
                t(format!(
                    "{} of {}",
                    thousands(s.oom as u64),
                    thousands(s.cases as u64)
                )),
                t(s.oom_devices.iter().cloned().collect::<Vec<_>>().join(", ")),
                t(list_ops(&s.oom_ops, 8)),
            ];
            if with_category {
                row.push(t(s.category().name()));
            }
            row
        })
        .collect();
    Table { columns, rows }
}

fn by_operator(a: &Analysis, d: &mut Doc) {
    d.h(2, "Failures by operator", "operators");
    d.p(vec![text(
        "Every operator of the run, most OOM cases first. \"Other\" counts failures that are not an \
         out-of-memory error (circular-buffer clash, L1_SMALL, error, crash, timeout). The worst shape is \
         the OOM case with the largest factor over the bank.",
    )]);
    let series: Vec<Series> = FAILURE_CLASSES
        .iter()
        .map(|&c| Series {
            name: class_label(c).into(),
            color: class_color(c).into(),
        })
        .collect();
    let bars: Vec<Bar> = a
        .ops
        .iter()
        .filter(|o| o.counts.failures() > 0)
        .map(|o| Bar {
            label: o.op.clone(),
            segments: FAILURE_CLASSES
                .iter()
                .enumerate()
                .map(|(i, &c)| (i, o.counts.get(c) as f64))
                .collect(),
            note: format!("{} of {}", o.counts.failures(), o.counts.total()),
        })
        .collect();
    d.push(Block::Chart(Chart::Bars {
        title: "Failures per operator, by class".into(),
        series,
        bars,
        unit: "cases".into(),
    }));
    let rows = a
        .ops
        .iter()
        .map(|o| {
            let others: Vec<String> = OTHER_CLASSES
                .iter()
                .filter(|&&c| o.counts.get(c) > 0)
                .map(|&c| format!("{} {}", o.counts.get(c), c.name()))
                .collect();
            let mut row = vec![
                vec![strong(o.op.clone())],
                n(o.counts.total()),
                n(o.counts.get(Class::Fits)),
                n(o.counts.get(Class::Oom)),
                t(if others.is_empty() {
                    "0".to_string()
                } else {
                    others.join(", ")
                }),
            ];
            match &o.worst {
                Some(w) => row.extend([
                    case_where(w),
                    t(in_gib(w.logical_bytes)),
                    t(in_gib(device_bytes(w))),
                    need_cell(w),
                    factor_cell(w),
                    t(Category::of(device_bytes(w)).name()),
                ]),
                None => row.extend([t("—"), t(""), t(""), t(""), t(""), t("")]),
            }
            row
        })
        .collect();
    d.push(Block::Table(Table {
        columns: vec![
            col("Operator"),
            num("Cases"),
            num("Fit"),
            num("OOM"),
            col("Other"),
            col("Worst shape (layout → device shape, memory, device)"),
            num("Logical"),
            num("Device bytes"),
            num("Need per bank / bank"),
            num("Factor"),
            col("Category"),
        ],
        rows,
    }));
}

fn shapes(a: &Analysis, d: &mut Doc) {
    d.h(2, "Most problematic shapes", "shapes");
    let problem: Vec<&ShapeStats> = a.problem_shapes().collect();
    d.p(vec![text(format!(
        "Shapes (first input as written, with its dtype) by the number of operators that ran out of memory \
         on them; {} shown of {} shapes with an OOM.",
        problem.len().min(TOP_SHAPES),
        problem.len()
    ))]);
    let top: Vec<&ShapeStats> = problem.into_iter().take(TOP_SHAPES).collect();
    d.push(Block::Table(shape_table(&top, true)));
}

fn categories(a: &Analysis, d: &mut Doc) {
    d.h(2, "Distribution by memory category", "categories");
    let total_oom = a.totals.oom;
    d.p(vec![text(
        "OOM cases by device bytes (the tensor as the device allocates it, or the failing allocation when \
         larger): small < 100 MiB ≤ medium < 500 MiB ≤ large ≤ 1 GiB < critical. \"Moved up by padding\" \
         counts shapes that the logical size would put in a smaller category.",
    )]);
    let rows = a
        .categories
        .iter()
        .map(|c| {
            vec![
                vec![strong(c.category.name())],
                t(c.category.range()),
                n(c.oom),
                t(percent(c.oom, total_oom)),
                n(c.ops),
                n(c.shapes),
                n(c.moved_up_by_padding),
            ]
        })
        .collect();
    d.push(Block::Table(Table {
        columns: vec![
            col("Category"),
            col("Device bytes"),
            num("OOM cases"),
            num("Share"),
            num("Operators"),
            num("Shapes"),
            num("Moved up by padding"),
        ],
        rows,
    }));
    d.push(Block::Chart(Chart::Bars {
        title: "OOM cases by memory category (device bytes)".into(),
        series: vec![Series {
            name: "OOM cases".into(),
            color: class_color(Class::Oom).into(),
        }],
        bars: a
            .categories
            .iter()
            .map(|c| Bar {
                label: format!("{} ({})", c.category.name(), c.category.range()),
                segments: vec![(0, c.oom as f64)],
                note: percent(c.oom, total_oom),
            })
            .collect(),
        unit: "OOM cases".into(),
    }));
}

fn eight_k(a: &Analysis, d: &mut Doc) {
    d.h(2, "8K impact", "eight-k");
    d.p(vec![text(
        "Definition: a case is 8K when one of its input shapes (as written) has a dimension of 4320 or \
         7680 — the 8K UHD frame (7680 × 4320) or a map at its full height or width. It is 4K / half-8K \
         when it is not 8K and has a dimension of 2160, 3840 (4K UHD, half the 8K frame per side) or 2176 \
         (2160 rounded up to a multiple of 64, as YOLOv12x's 2176 × 3840 input). Downsampled maps (1080, \
         1920, 540, …) are not counted: those dimensions also come from 1080p inputs.",
    )]);
    let total_oom = a.totals.oom;
    let rows = a
        .tiers
        .iter()
        .map(|s| {
            vec![
                t(s.tier.name()),
                n(s.cases),
                n(s.oom),
                t(percent(s.oom, s.cases)),
                t(percent(s.oom, total_oom)),
                n(s.ops_affected),
                n(s.shapes.len()),
            ]
        })
        .collect();
    d.push(Block::Table(Table {
        columns: vec![
            col("Tier"),
            num("Cases"),
            num("OOM"),
            num("OOM rate in tier"),
            num("Share of all OOM"),
            num("Operators affected"),
            num("Shapes with OOM"),
        ],
        rows,
    }));
    for s in &a.tiers {
        let title = match s.tier {
            Tier::EightK => "Top 8K shapes",
            Tier::FourK => "Top 4K / half-8K shapes",
        };
        let id = match s.tier {
            Tier::EightK => "eight-k-shapes",
            Tier::FourK => "four-k-shapes",
        };
        d.h(3, title, id);
        let top: Vec<&ShapeStats> = s.shapes.iter().take(TOP_TIER_SHAPES).collect();
        d.push(Block::Table(shape_table(&top, true)));
    }
}

fn fix_words(f: &Fix) -> Vec<Inline> {
    let mut v = vec![text(format!(
        "needs {} per bank, bank has {} ({})",
        bytes(f.need),
        bytes(f.bank),
        factor(f.factor)
    ))];
    v.push(text(format!(
        "; smallest change: {}; chunks needed: {}",
        f.smallest, f.chunks
    )));
    v
}

fn dram_cell(f: &Fix) -> Cell {
    match &f.dram {
        None => t("—"),
        Some(DramOption::Measured { class, .. }) => t(match f.dram_chunks {
            Some(k) => format!("measured: {}; {k} chunks in DRAM", class.name()),
            None => format!("measured: {}", class.name()),
        }),
        Some(DramOption::Estimated { per_bank, bank }) => t(format!(
            "≈{} / {} per bank: {}",
            size(*per_bank),
            size(*bank),
            match f.dram_chunks {
                Some(k) if per_bank > bank => format!("no; {k} chunks in DRAM"),
                _ if per_bank <= bank => "fits".into(),
                _ => "no".into(),
            }
        )),
    }
}

fn bf8_cell(f: &Fix) -> Cell {
    match f.bf8_need {
        None => t("—"),
        Some(b) => t(format!(
            "{} per bank: {}",
            size(b),
            if b <= f.bank { "fits" } else { "no" }
        )),
    }
}

fn recommendations(a: &Analysis, d: &mut Doc) {
    d.h(2, "Recommendations", "recommendations");
    d.p(vec![text(
        "Derived from the numbers of each failed case. Factor = (bytes the bank already held + bytes the \
         failing buffer needed per bank) / bank size. Options, smallest change first: DRAM instead of L1 \
         (the same case in DRAM from this run when it was run, otherwise all the case's buffers spread over \
         the device's DRAM banks, ≈ within one page per buffer); bfloat8_b instead of bfloat16 (a tile takes \
         1,088 B instead of 2,048 B: × 0.53); k chunks with k = ceil(need / bank), each chunk then needs at \
         most one bank (circular buffers are not counted, so k is a lower bound).",
    )]);

    // Headline list.
    let mut items: Vec<Vec<Inline>> = Vec::new();
    let mut groups: Vec<(&str, &str)> = a
        .first_failures
        .iter()
        .map(|f| (f.device.as_str(), f.memory.as_str()))
        .collect();
    groups.dedup();
    for (dev, mem) in &groups {
        if let Some(first) = a
            .first_failures
            .iter()
            .find(|f| f.device == *dev && f.memory == *mem)
        {
            let mut item = vec![
                strong(format!("{dev}, {mem}: ")),
                code(first.op.clone()),
                text(" fails first, at "),
            ];
            item.extend(case_where(&first.smallest_oom));
            item.push(text(format!(
                " ({} device bytes)",
                size(device_bytes(&first.smallest_oom))
            )));
            if let Some(fix) = &first.fix {
                item.push(text("; "));
                item.extend(fix_words(fix));
            }
            item.push(text("."));
            items.push(item);
        }
    }
    let fixes = &a.oom_fixes;
    if fixes.cases > 0 {
        let max_k = fixes.max_chunks;
        items.push(vec![text(format!(
            "Of {} L1 OOM cases, {} would fit in DRAM.",
            thousands(fixes.l1 as u64),
            thousands(fixes.l1_fit_in_dram as u64)
        ))]);
        items.push(vec![text(format!(
            "bfloat8_b alone would make {} of {} OOM cases fit.",
            thousands(fixes.bf8_fits as u64),
            thousands(fixes.cases as u64)
        ))]);
        items.push(vec![text(format!(
            "Chunking needs up to {max_k} chunks (the largest factor over the bank, rounded up)."
        ))]);
    }
    if a.counts.other() > 0 {
        items.push(vec![text(format!(
            "{} failures are not out-of-memory errors: fix their invocation or report them upstream \
             (see \"Failures that are not OOM\"); they are not counted as OOM anywhere in this report.",
            thousands(a.counts.other() as u64)
        ))]);
    }
    if a.totals.leaks > 0 || !a.canary_failures.is_empty() {
        items.push(vec![text(format!(
            "Leaked cases: {}; failed canaries: {}. Results after them are suspect until the leak is fixed (see \"Leaks, canaries and suspicious results\").",
            a.totals.leaks,
            a.canary_failures.len()
        ))]);
    }
    if items.is_empty() {
        items.push(vec![text("No case failed: nothing to recommend.")]);
    }
    d.push(Block::List {
        ordered: true,
        items,
    });

    d.h(3, "Which operator fails first", "fails-first");
    d.p(vec![text(
        "Per device and memory, each operator's smallest OOM case (fewest device bytes) and its largest \
         case that fits; operators that fail at smaller sizes first.",
    )]);
    let rows = a
        .first_failures
        .iter()
        .map(|f| {
            let mut row = vec![
                t(f.device.clone()),
                t(f.memory.clone()),
                vec![strong(f.op.clone())],
                case_where(&f.smallest_oom),
                t(size(device_bytes(&f.smallest_oom))),
                need_cell(&f.smallest_oom),
                factor_cell(&f.smallest_oom),
                match &f.largest_fit {
                    Some(l) => {
                        let mut v = vec![code(shape_label(primary_shape(l), &l.dtype))];
                        v.push(text(format!(
                            " {} ({})",
                            l.device_layout,
                            size(device_bytes(l))
                        )));
                        v
                    }
                    None => t("none fits"),
                },
            ];
            row.push(match &f.fix {
                Some(fix) => t(fix.smallest.clone()),
                None => t("n/a (no allocation numbers)"),
            });
            row
        })
        .collect();
    d.push(Block::Table(Table {
        columns: vec![
            col("Device"),
            col("Memory"),
            col("Operator"),
            col("Smallest OOM"),
            num("Device bytes"),
            num("Need per bank / bank"),
            num("Factor"),
            col("Largest that fits"),
            col("Smallest change"),
        ],
        rows,
    }));

    d.h(3, "Fixes for each operator's worst case", "fixes");
    let rows: Vec<Vec<Cell>> = a
        .ops
        .iter()
        .filter_map(|o| {
            let w = o.worst.as_ref()?;
            let f = a.worst_fixes.get(&o.op)?;
            Some(vec![
                vec![strong(o.op.clone())],
                case_where(w),
                vec![strong(factor(f.factor))],
                dram_cell(f),
                bf8_cell(f),
                n(f.chunks as usize),
                t(if f.fits_on.is_empty() {
                    "—".to_string()
                } else {
                    f.fits_on.join(", ")
                }),
                t(f.smallest.clone()),
            ])
        })
        .collect();
    d.push(Block::Table(Table {
        columns: vec![
            col("Operator"),
            col("Worst case"),
            num("Factor"),
            col("DRAM instead of L1"),
            col("bfloat8_b"),
            num("Chunks k"),
            col("Fits on"),
            col("Smallest change"),
        ],
        rows,
    }));
}

fn per_device(a: &Analysis, d: &mut Doc) {
    d.h(2, "Per device", "devices");
    for dev in &a.devices {
        d.h(
            3,
            &format!("Device {}", dev.device),
            &format!("device-{}", slug(&dev.device)),
        );
        let mut para = vec![text(format!(
            "{} cases: {} fit, {} OOM, {} other failures, {} unmodeled (no verdict), {} leaks; {} of {} operators ran out of memory.",
            thousands(dev.totals.cases as u64),
            thousands(dev.totals.fits as u64),
            thousands(dev.totals.oom as u64),
            thousands(
                (dev.totals.cb_clash
                    + dev.totals.l1_small
                    + dev.totals.error
                    + dev.totals.crashed
                    + dev.totals.timed_out) as u64
            ),
            thousands(dev.totals.unmodeled as u64),
            dev.totals.leaks,
            dev.ops_affected,
            dev.ops
        ))];
        if let Some(s) = dev.spec {
            para.push(text(format!(
                " Banks: L1 {} × {} ({} in all), DRAM {} × {} ({} in all).",
                s.l1_banks,
                bytes(s.l1_bank_bytes),
                size(s.l1_banks.saturating_mul(s.l1_bank_bytes)),
                s.dram_banks,
                bytes(s.dram_bank_bytes),
                size(s.dram_banks.saturating_mul(s.dram_bank_bytes))
            )));
        }
        d.p(para);
        let mut rows: Vec<Vec<Cell>> = dev
            .by_memory
            .iter()
            .map(|(mem, counts)| {
                vec![
                    t(mem.clone()),
                    n(counts.total()),
                    n(counts.get(Class::Fits)),
                    n(counts.get(Class::Oom)),
                    n(counts.other()),
                ]
            })
            .collect();
        rows.push(vec![
            vec![strong("all")],
            n(dev.totals.cases),
            n(dev.totals.fits),
            n(dev.totals.oom),
            n(dev.totals.cases - dev.totals.fits - dev.totals.oom),
        ]);
        d.push(Block::Table(Table {
            columns: vec![
                col("Memory"),
                num("Cases"),
                num("Fit"),
                num("OOM"),
                num("Other"),
            ],
            rows,
        }));
        let mut items = Vec::new();
        if let Some(s) = &dev.smallest_oom {
            let mut v = vec![strong("Smallest OOM: "), code(s.op.clone()), text(" at ")];
            v.extend(case_where(s));
            v.push(text(format!(" — {} device bytes", size(device_bytes(s)))));
            items.push(v);
        }
        if let Some(l) = &dev.largest_fit {
            let mut v = vec![
                strong("Largest that fits: "),
                code(l.op.clone()),
                text(" at "),
            ];
            v.extend(case_where(l));
            v.push(text(format!(" — {} device bytes", size(device_bytes(l)))));
            items.push(v);
        }
        if !items.is_empty() {
            d.push(Block::List {
                ordered: false,
                items,
            });
        }
        let series = vec![
            Series {
                name: "fits (● L1, □ DRAM)".into(),
                color: class_color(Class::Fits).into(),
            },
            Series {
                name: "out of memory (● L1, □ DRAM)".into(),
                color: class_color(Class::Oom).into(),
            },
        ];
        let points = dev
            .points
            .iter()
            .map(|p| Point {
                value: p.need_per_bank as f64,
                series: usize::from(p.failed),
                square: p.memory == BufferType::Dram,
                tooltip: format!(
                    "{} in {}: {} per bank of {}{}",
                    p.label,
                    p.memory.tt_name(),
                    bytes(p.need_per_bank),
                    bytes(p.bank_bytes),
                    if p.failed { " — failed" } else { "" }
                ),
            })
            .collect();
        let mut lines = Vec::new();
        if let Some(s) = dev.spec {
            lines.push(Line {
                value: s.l1_bank_bytes as f64,
                label: format!("L1 bank {}", size(s.l1_bank_bytes)),
                color: "#1c7ed6".into(),
            });
            lines.push(Line {
                value: s.dram_bank_bytes as f64,
                label: format!("DRAM bank {}", size(s.dram_bank_bytes)),
                color: "#5f3dc4".into(),
            });
        }
        d.push(Block::Chart(Chart::LogScatter {
            title: format!(
                "{}: bytes needed per bank vs bank size, per shape (log scale)",
                dev.device
            ),
            y_label: "bytes per bank".into(),
            series,
            points,
            lines,
        }));
        d.p(vec![text(
            "Each point is one shape (with its device layout) in one memory: for failed cases what the \
             failing allocation needed per bank (with what the bank already held), otherwise the first \
             tensor's bytes per bank. Points above their bank's line cannot fit as one interleaved buffer.",
        )]);
    }
}

fn overhead(a: &Analysis, d: &mut Doc) {
    d.h(2, "Overhead factors (actual / theoretical)", "overhead");
    let measured: usize = a.ops.iter().map(|o| o.measured).sum();
    d.p(vec![text(format!(
        "Overhead factor = bytes of all the case's device buffers (the NO_DISPATCH capture where measured, \
         the model otherwise) / logical bytes of its first tensor. Padding = first tensor as allocated / its \
         logical bytes. {} of {} cases carry a device measurement.",
        thousands(measured as u64),
        thousands(a.totals.cases as u64)
    ))]);
    let with: Vec<_> = a.ops.iter().filter(|o| o.overhead.is_some()).collect();
    let mut sorted = with.clone();
    sorted.sort_by(|x, y| {
        let m = |o: &&super::analysis::OpStats| o.overhead.map_or(0.0, |s| s.median);
        m(y).total_cmp(&m(x)).then_with(|| x.op.cmp(&y.op))
    });
    d.push(Block::Chart(Chart::Ranges {
        title: "Overhead factor per operator (min, median, max)".into(),
        ranges: sorted
            .iter()
            .filter_map(|o| {
                let s = o.overhead?;
                Some(Range {
                    label: o.op.clone(),
                    min: s.min,
                    median: s.median,
                    max: s.max,
                    note: format!("median {}", factor(s.median)),
                })
            })
            .collect(),
        reference: Some((1.0, "1× = theoretical".into())),
        unit: "actual / theoretical bytes (log scale)".into(),
    }));
    let rows = sorted
        .iter()
        .map(|o| {
            let s = o.overhead.expect("filtered on overhead");
            vec![
                vec![strong(o.op.clone())],
                n(s.n),
                t(factor(s.min)),
                t(factor(s.median)),
                t(factor(s.max)),
                t(o.padding.map_or("n/a".into(), |p| factor(p.median))),
                n(o.measured),
                t(o.peak_cb_max.map_or("—".into(), bytes)),
            ]
        })
        .collect();
    d.push(Block::Table(Table {
        columns: vec![
            col("Operator"),
            num("Cases"),
            num("Min"),
            num("Median"),
            num("Max"),
            num("Padding (median)"),
            num("Measured"),
            num("Peak CB per core"),
        ],
        rows,
    }));
}

fn layouts(a: &Analysis, d: &mut Doc) {
    d.h(2, "Device layout of each shape", "layouts");
    d.p(vec![text(
        "How each shape is held on the device: as given, NHWC (channels last), or NHWC flattened to \
         [1,1,N·H·W,C]. TILE pads the last two dims to multiples of 32, so a 3-channel NHWC input takes \
         32/3 of its logical size. Largest allocation first.",
    )]);
    let rows: Vec<Vec<Cell>> = a
        .layouts
        .iter()
        .map(|r| {
            vec![
                c(shape_label(&r.shape, &r.dtype)),
                t(r.device_layout.clone()),
                c(dims(&r.device_shape)),
                t(r.layout.clone()),
                t(format!(
                    "{} ({})",
                    size(r.logical_bytes),
                    bytes(r.logical_bytes)
                )),
                t(format!(
                    "{} ({})",
                    size(r.allocated_bytes),
                    bytes(r.allocated_bytes)
                )),
                t(factor(r.padding())),
                t(format!(
                    "{} of {}",
                    thousands(r.oom as u64),
                    thousands(r.cases as u64)
                )),
            ]
        })
        .collect();
    let table = Block::Table(Table {
        columns: vec![
            col("Shape"),
            col("Device layout"),
            col("Device shape"),
            col("Page layout"),
            num("Logical"),
            num("Allocated"),
            num("Padding"),
            num("OOM cases"),
        ],
        rows,
    });
    if a.layouts.len() > 40 {
        d.push(Block::Details {
            summary: format!("{} shape × layout rows", a.layouts.len()),
            blocks: vec![table],
        });
    } else {
        d.push(table);
    }
}

/// The calls without memory_config (the original suite's), against the same shapes' cases
/// with memory_config given. Only when the run has such calls.
fn suite_calls(a: &Analysis, d: &mut Doc) {
    let dc = &a.default_calls;
    if dc.cases == 0 {
        return;
    }
    d.h(
        2,
        "The original suite's calls (no memory_config)",
        "suite-calls",
    );
    let compared: usize = dc.rows.iter().map(|r| r.compared).sum();
    let same: usize = dc.rows.iter().map(|r| r.same).sum();
    let apart: usize = dc.rows.iter().map(|r| r.not_compared).sum();
    d.p(vec![
        text(format!(
            "{} cases call their op as the original seed suite did: inputs uploaded to L1, the op \
             called without memory_config (memory ",
            thousands(dc.cases as u64)
        )),
        code("l1->default"),
        text(format!(
            "; the runtime then decides where the output goes). {} of them stand for what the suite \
             ran where no op ran at all (sets ",
            thousands(dc.upload_cases as u64)
        )),
        code("*_upload"),
        text(format!(
            ": the input's upload only). Against the same shape's case with memory_config=L1: {} \
             compared, {} end the same, {} differ; {} not compared (a side without a verdict, or \
             no such case).",
            thousands(compared as u64),
            thousands(same as u64),
            thousands((compared - same) as u64),
            thousands(apart as u64)
        )),
    ]);
    let rows: Vec<Vec<Cell>> = dc
        .rows
        .iter()
        .map(|r| {
            let changed = r
                .changed
                .iter()
                .map(|((from, to), k)| format!("{} {from} → {to}", thousands(*k as u64)))
                .collect::<Vec<_>>()
                .join(", ");
            vec![
                c(if r.upload {
                    format!("{} (upload only)", r.op)
                } else {
                    r.op.clone()
                }),
                n(r.cases),
                n(r.compared),
                n(r.same),
                t(if changed.is_empty() {
                    "—".to_string()
                } else {
                    changed
                }),
                n(r.not_compared),
                t(r.why.clone()),
            ]
        })
        .collect();
    d.push(Block::Table(Table {
        columns: vec![
            col("Op"),
            num("Cases"),
            num("Compared"),
            num("Same outcome"),
            col("Explicit L1 → suite's call"),
            num("Not compared"),
            col("Why"),
        ],
        rows,
    }));
    if !dc.differing.is_empty() {
        let items: Vec<Vec<Inline>> = dc
            .differing
            .iter()
            .take(MAX_LISTED_CASES)
            .map(|(e, c)| {
                vec![
                    code(c.id.clone()),
                    text(format!(
                        ": {} without memory_config, {} as ",
                        c.class.name(),
                        e.class.name()
                    )),
                    code(e.id.clone()),
                ]
            })
            .collect();
        let more = dc.differing.len().saturating_sub(MAX_LISTED_CASES);
        d.push(Block::List {
            ordered: false,
            items,
        });
        if more > 0 {
            d.p(vec![text(format!(
                "… and {} more (report.json: cases whose memory ends in ->default).",
                thousands(more as u64)
            ))]);
        }
    }
}

/// `cargo xtask oom --fix`: every failing case's cheapest change, re-run on the device.
fn verified_fixes(a: &Analysis, d: &mut Doc) {
    let fixed = &a.fixed;
    if fixed.cases.is_empty() {
        return;
    }
    d.h(2, "Fixes, verified on the device", "fixes");
    let verified = fixed.verified;
    let failing: usize = Class::ALL
        .iter()
        .filter(|c| c.is_memory_failure())
        .map(|&c| a.counts.get(c))
        .sum();
    d.p(vec![text(format!(
        "{} of {} failing cases have a fix that was re-run and fitted; each is the cheapest change the \
         planner found (outputs to DRAM, inputs to DRAM, all DRAM, the fewest chunks, bfloat8_b, more chips).",
        thousands(verified as u64),
        thousands(failing as u64)
    ))]);
    d.push(Block::Table(Table {
        columns: vec![col("Fix"), num("Cases"), num("Verified")],
        rows: fixed
            .by_kind
            .iter()
            .map(|(k, (n_all, n_ok))| vec![c(k.clone()), n(*n_all), n(*n_ok)])
            .collect(),
    }));
    let rows = fixed
        .cases
        .iter()
        .filter_map(|case| {
            let f = case.fix.as_ref()?;
            let status = if f.verified {
                format!("verified on {}", f.verified_on.join(", "))
            } else {
                format!(
                    "not verified{}",
                    f.note
                        .as_ref()
                        .map(|n| format!(": {n}"))
                        .unwrap_or_default()
                )
            };
            Some(vec![
                c(case.op.clone()),
                case_where(case),
                t(case.class.name()),
                c(f.kind.clone()),
                t(f.detail.clone()),
                t(status),
            ])
        })
        .collect();
    d.push(Block::Details {
        summary: format!(
            "Fix per case ({} cases)",
            thousands(fixed.cases.len() as u64)
        ),
        blocks: vec![Block::Table(Table {
            columns: vec![
                col("Operator"),
                col("Case"),
                col("Class"),
                col("Fix"),
                col("What to change"),
                col("Status"),
            ],
            rows,
        })],
    });
}

/// `cargo xtask threshold`: the largest input of each op that fits, per board.
fn thresholds(a: &Analysis, d: &mut Doc) {
    let rows = &a.head.thresholds;
    if rows.is_empty() {
        return;
    }
    d.h(2, "Largest input that fits, per operator", "thresholds");
    d.p(vec![text(
        "An exact search on one dim of a template shape (by default H of [1,96,H,3840]); the last \
         extent that fits and the next one, each confirmed on the device where shown.",
    )]);
    let devices: Vec<String> = {
        let mut v: Vec<String> = rows.iter().map(|r| r.device.clone()).collect();
        v.sort();
        v.dedup();
        v
    };
    let series: Vec<Series> = devices
        .iter()
        .enumerate()
        .map(|(i, dev)| Series {
            name: dev.clone(),
            color: ["#3b6ea8", "#d9822b", "#5a9e4b", "#8e5ea2"][i % 4].into(),
        })
        .collect();
    let bars = rows
        .iter()
        .filter_map(|r| {
            let fit = r.last_fit.as_ref()?;
            let extent = *fit.shape.get(r.dim)?;
            let i = devices.iter().position(|d| d == &r.device)?;
            Some(Bar {
                label: format!("{} {}", r.op, r.device),
                segments: vec![(i, extent as f64)],
                note: format!("{extent}"),
            })
        })
        .collect();
    d.push(Block::Chart(Chart::Bars {
        title: "Largest extent that fits".into(),
        series,
        bars,
        unit: "rows".into(),
    }));
    let probe = |p: &Option<crate::record::ThresholdProbe>| match p {
        Some(p) => t(format!(
            "{} ({} / {})",
            dims(&p.shape),
            bytes(p.needed_per_bank),
            bytes(p.bank_bytes)
        )),
        None => t("-"),
    };
    d.push(Block::Table(Table {
        columns: vec![
            col("Operator"),
            col("Board"),
            col("Memory"),
            col("Largest that fits (needs / bank)"),
            col("First that does not"),
            col("On the device"),
        ],
        rows: rows
            .iter()
            .map(|r| {
                let confirmed = match (&r.unsearched, r.confirmed) {
                    (Some(why), _) => format!("no boundary: {why}"),
                    (None, None) => "not run".to_string(),
                    (None, Some(ok)) => format!(
                        "{}{}",
                        crate::record::threshold_confirmations(r),
                        if ok { "" } else { " (disagrees)" }
                    ),
                };
                vec![
                    c(r.op.clone()),
                    t(r.device.clone()),
                    t(r.memory.clone()),
                    probe(&r.last_fit),
                    probe(&r.first_oom),
                    t(confirmed),
                ]
            })
            .collect(),
    }));
}

fn not_oom(a: &Analysis, d: &mut Doc) {
    d.h(2, "Failures that are not OOM", "not-oom");
    d.p(vec![text(format!(
        "{} cases failed for another reason than an out-of-memory error. They are grouped by class and \
         message (numbers blanked); each group shows one raw message as the runtime gave it.",
        thousands(a.counts.other() as u64)
    ))]);
    let rows = a
        .not_oom
        .iter()
        .enumerate()
        .map(|(i, g)| {
            vec![
                vec![super::doc::Inline::Anchor {
                    text: format!("#{}", i + 1),
                    id: format!("not-oom-{}", i + 1),
                }],
                t(g.class.name()),
                n(g.cases),
                t(list_ops(&g.ops, 8)),
                c(g.signature.clone()),
            ]
        })
        .collect();
    d.push(Block::Table(Table {
        columns: vec![
            col("Group"),
            col("Class"),
            num("Cases"),
            col("Operators"),
            col("Message"),
        ],
        rows,
    }));
    for (i, g) in a.not_oom.iter().enumerate() {
        d.h(
            4,
            &format!(
                "#{} {} — {} case{}",
                i + 1,
                class_label(g.class),
                g.cases,
                if g.cases == 1 { "" } else { "s" }
            ),
            &format!("not-oom-{}", i + 1),
        );
        let mut items: Vec<Vec<Inline>> = g
            .ids
            .iter()
            .take(MAX_LISTED_CASES)
            .map(|id| vec![code(id.clone())])
            .collect();
        if g.cases > MAX_LISTED_CASES {
            items.push(vec![text(format!(
                "… and {} more",
                g.cases - MAX_LISTED_CASES
            ))]);
        }
        d.push(Block::List {
            ordered: false,
            items,
        });
        let example = &g.message;
        let shown = if example.trim().is_empty() {
            "(the runtime gave no message)".to_string()
        } else {
            fmt::truncate(example, MAX_RAW_MESSAGE)
        };
        d.push(Block::Code(shown));
    }
}

fn integrity(a: &Analysis, d: &mut Doc) {
    d.h(2, "Leaks, canaries and suspicious results", "integrity");
    d.p(vec![text(
        "After every case the device's memory must be back at its baseline, and after every memory \
         failure a one-element canary must pass. Seed 002 counted 44 \"OOM failures\" at shape [1]: a \
         one-element tensor cannot exhaust memory, so such a result means memory leaked or an error was \
         misclassified. Any OOM at one element, or whose numbers fit its bank, is listed here.",
    )]);
    let mut rows: Vec<Vec<Cell>> = Vec::new();
    // Each list's first cases; a row says how many more there are.
    let more = |rows: &mut Vec<Vec<Cell>>, finding: &str, more: usize| {
        if more > 0 {
            rows.push(vec![
                t(finding),
                t(format!("… and {} more", thousands(more as u64))),
                t(""),
                t(""),
            ]);
        }
    };
    for c in &a.leaks {
        rows.push(vec![
            t("leak"),
            vec![code(c.id.clone())],
            t(c.class.name()),
            t(format!("{} per bank left allocated", bytes(c.leaked_bytes))),
        ]);
    }
    more(&mut rows, "leak", a.leaks.more());
    for c in &a.canary_failures {
        rows.push(vec![
            t("canary failed"),
            vec![code(c.id.clone())],
            t(c.class.name()),
            t("the one-element case after it did not pass"),
        ]);
    }
    more(&mut rows, "canary failed", a.canary_failures.more());
    for (c, why) in &a.suspicious {
        rows.push(vec![
            t("suspicious OOM"),
            vec![code(c.id.clone())],
            t(c.class.name()),
            t(why.clone()),
        ]);
    }
    more(&mut rows, "suspicious OOM", a.suspicious.more());
    for (c, why) in &a.expectation_broken {
        rows.push(vec![
            t("expectation broken"),
            vec![code(c.id.clone())],
            t(c.class.name()),
            t(why.clone()),
        ]);
    }
    more(&mut rows, "expectation broken", a.expectation_broken.more());
    for c in a.disagreements.iter().take(MAX_DISAGREEMENTS) {
        rows.push(vec![
            t("model disagrees"),
            vec![code(c.id.clone())],
            t(c.class.name()),
            t(format!("memmodel predicted `{}`", c.predicted)),
        ]);
    }
    if a.disagreements.len() > MAX_DISAGREEMENTS {
        rows.push(vec![
            t("model disagrees"),
            t(format!(
                "… and {} more",
                a.disagreements.len() - MAX_DISAGREEMENTS
            )),
            t(""),
            t(""),
        ]);
    }
    d.push(Block::Table(Table {
        columns: vec![col("Finding"), col("Case"), col("Class"), col("Detail")],
        rows,
    }));
}

fn slug(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}
