//! The report of an OOM run, from fixture reports made with memmodel (no device): every number
//! the renderings show is checked against a count made here from the records, never against a
//! number typed in.

mod report_fixtures;

use memmodel::size::{gib, mib};
use oom_suite::record::{CaseRecord, Class, Totals};
use oom_suite::report::{self, analysis, merge::split, Error};
use report_fixtures::*;
use std::path::{Path, PathBuf};

/// The one way this file takes snapshots.
macro_rules! assert_report_snapshot {
    ($name:expr, $value:expr) => {{
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path("snapshots");
        settings.set_prepend_module_to_snapshot(false);
        settings.set_omit_expression(true);
        settings.bind(|| insta::assert_snapshot!($name, $value));
    }};
}

fn gib_bytes() -> u64 {
    1 << 30
}

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("report-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn fixture_is_realistic() {
    let r = full_report();
    let t = &r.totals;
    assert!(t.cases > 1000, "{} cases", t.cases);
    assert!(t.oom > 0 && t.fits > 0, "{t:?}");
    for class in Class::ALL {
        assert!(
            r.cases.iter().any(|c| c.class == class),
            "no `{}` record in the fixture",
            class.name()
        );
    }
    assert_eq!(t.leaks, 1);
}

#[test]
fn summary_counts_are_the_data() {
    let r = full_report();
    let md = report::render_markdown(r);
    let s = md_section(&md, "Executive summary");
    let count = |class: Class| r.cases.iter().filter(|c| c.class == class).count();
    assert_eq!(
        md_number(&md_row(s, "Cases run").unwrap()[1]),
        r.cases.len()
    );
    assert_eq!(md_number(&md_row(s, "Fit").unwrap()[1]), count(Class::Fits));
    assert_eq!(
        md_number(&md_row(s, "**Out of memory**").unwrap()[1]),
        count(Class::Oom)
    );
    let other = r
        .cases
        .iter()
        .filter(|c| !matches!(c.class, Class::Fits | Class::Oom | Class::Unmodeled))
        .count();
    assert_eq!(
        md_number(&md_row(s, "Other failures (not OOM)").unwrap()[1]),
        other
    );
    for (label, class) in [
        ("· circular-buffer clash", Class::CbClash),
        ("· L1_SMALL too small", Class::L1Small),
        ("· error", Class::Error),
        ("· crashed", Class::Crashed),
        ("· timed out", Class::TimedOut),
        ("Unmodeled (no verdict)", Class::Unmodeled),
    ] {
        let row = md_row(s, label).unwrap_or_else(|| panic!("no row `{label}`:\n{s}"));
        assert_eq!(md_number(&row[1]), count(class), "{label}");
    }
    let leaks = r.cases.iter().filter(|c| c.leaked_bytes > 0).count();
    assert_eq!(md_number(&md_row(s, "Leaks").unwrap()[1]), leaks);
    let ops: std::collections::BTreeSet<&str> = r.cases.iter().map(|c| c.op.as_str()).collect();
    let ops_oom: std::collections::BTreeSet<&str> = r
        .cases
        .iter()
        .filter(|c| c.class == Class::Oom)
        .map(|c| c.op.as_str())
        .collect();
    assert_eq!(
        md_row(s, "Operators affected by OOM").unwrap()[1],
        format!("{} / {}", ops_oom.len(), ops.len())
    );
}

#[test]
fn oom_count_per_operator_in_the_markdown_is_the_data() {
    let r = full_report();
    let md = report::render_markdown(r);
    let s = md_section(&md, "Failures by operator");
    let ops: std::collections::BTreeSet<&str> = r.cases.iter().map(|c| c.op.as_str()).collect();
    for op in ops {
        let name = format!("**{op}**");
        let row = md_row(s, &name).unwrap_or_else(|| panic!("no row for {op}"));
        let all = r.cases.iter().filter(|c| c.op == op).count();
        assert_eq!(md_number(&row[1]), all, "{op}: cases");
        assert_eq!(md_number(&row[2]), count(r, op, Class::Fits), "{op}: fit");
        assert_eq!(md_number(&row[3]), count(r, op, Class::Oom), "{op}: OOM");
    }
}

#[test]
fn the_suite_calls_section_counts_each_call_against_its_explicit_case() {
    // Counted here from the records: a call without memory_config (`l1->default`) and the same
    // id with memory_config=L1.
    let r = model_report();
    let md = report::render_markdown(r);
    let s = md_section(&md, "The original suite's calls (no memory_config)");
    let by_id: std::collections::HashMap<&str, &CaseRecord> =
        r.cases.iter().map(|c| (c.id.as_str(), c)).collect();
    let calls = |op: &'static str| {
        r.cases.iter().filter(move |c| {
            c.op == op
                && c.memory == "l1->default"
                && !c.shape_set.as_deref().unwrap_or("").ends_with("_upload")
        })
    };
    for op in ["linear", "bmm", "add", "split"] {
        let row = md_row(s, &format!("`{op}`")).unwrap_or_else(|| panic!("no row for {op}"));
        let (mut same, mut n) = (0, 0);
        for c in calls(op) {
            n += 1;
            let explicit = by_id[c.id.replace("/l1->default/", "/l1/").as_str()];
            same += usize::from(explicit.class == c.class);
        }
        assert!(n > 0, "{op}");
        assert_eq!(md_number(&row[1]), n, "{op}: cases");
        assert_eq!(md_number(&row[3]), same, "{op}: same outcome");
    }
    // The matmul family's default output is DRAM: some of its L1 OOMs fit as the suite called it.
    let linear = md_row(s, "`linear`").unwrap();
    assert!(
        linear[4].contains("oom → fits") && linear[6].contains("DRAM"),
        "{linear:?}"
    );
    // The upload stand-ins are compared with the op the suite meant.
    assert!(md_row(s, "`permute (upload only)`").is_some(), "{s}");
    assert!(
        md_row(s, "`native_batch_norm (upload only)`").is_some(),
        "{s}"
    );
}

#[test]
fn critical_means_device_bytes_over_one_gib() {
    let r = full_report();
    let md = report::render_markdown(r);
    let s = md_section(&md, "Critical shapes (> 1 GiB)");
    // A shape of about 1.48 GiB logical ([1,96,2160,3840] bf16 in the seeds) is critical.
    let c = r
        .cases
        .iter()
        .find(|c| c.class == Class::Oom && (1.47..1.49).contains(&gib(c.logical_bytes)))
        .expect("a ~1.48 GiB OOM case in shapes.toml");
    assert!(c.allocated_bytes > gib_bytes());
    let shape = oom_suite::report::fmt::dims(analysis::primary_shape(c));
    let row = md_row(s, &format!("`{shape}`")).unwrap_or_else(|| panic!("{shape} not critical"));
    assert!(
        row[2].starts_with(&format!("{:.2} GiB", gib(c.logical_bytes))),
        "{row:?}"
    );
    // Both logical and allocated are shown, and the allocated column is the larger device size.
    assert!(row[3].contains("GiB") && row[3].contains("MiB"), "{row:?}");

    // A shape whose logical size is under 1 GiB but whose device layout pads it over: critical
    // by allocated bytes (seed 002 put [1,3,4320,7680] at 0.19 GB).
    let padded = r
        .cases
        .iter()
        .find(|c| {
            c.class == Class::Oom
                && c.logical_bytes < gib_bytes()
                && c.allocated_bytes > gib_bytes()
        })
        .expect("an OOM case critical only by padding (NHWC of a 3-channel 8K input)");
    let shape = oom_suite::report::fmt::dims(analysis::primary_shape(padded));
    let row =
        md_row(s, &format!("`{shape}`")).unwrap_or_else(|| panic!("{shape} not critical:\n{s}"));
    assert!(row[2].starts_with(&format!("{:.2} GiB", gib(padded.logical_bytes))));
    let a = analysis::Analysis::of(r);
    assert!(a
        .critical_shapes()
        .iter()
        .all(|s| s.oom_device_bytes_max > gib_bytes()));
}

#[test]
fn the_one_element_canary_is_never_an_oom() {
    let r = model_report();
    let canaries: Vec<&CaseRecord> = r
        .cases
        .iter()
        .filter(|c| c.shapes.iter().all(|s| s.iter().product::<u64>() == 1))
        .collect();
    assert!(!canaries.is_empty(), "shapes.toml runs the [1] canary");
    assert!(canaries.iter().all(|c| c.class == Class::Fits));
    let md = report::render_markdown(r);
    let shapes = md_section(&md, "Most problematic shapes");
    assert!(
        md_row(shapes, "`[1]`").is_none(),
        "[1] listed as a problem shape"
    );
    let a = analysis::Analysis::of(r);
    assert!(
        a.suspicious.is_empty(),
        "suspicious OOMs: {:?}",
        a.suspicious
            .iter()
            .map(|(c, why)| format!("{}: {why}", c.id))
            .collect::<Vec<_>>()
    );

    // Had a device said OOM at [1] (seed 002's 44 failures), the report flags it.
    let mut bad = r.clone();
    let c = bad
        .cases
        .iter_mut()
        .find(|c| c.shapes == vec![vec![1]])
        .unwrap();
    c.class = Class::Oom;
    c.message = "Out of Memory: ...".into();
    let id = c.id.clone();
    bad.totals = Totals::of(&bad.cases);
    let md = report::render_markdown(&bad);
    let integrity = md_section(&md, "Leaks, canaries and suspicious results");
    assert!(
        integrity.contains("suspicious OOM") && integrity.contains(&id),
        "{integrity}"
    );
}

#[test]
fn memory_categories_count_oom_cases_by_device_bytes() {
    let r = full_report();
    let md = report::render_markdown(r);
    let s = md_section(&md, "Distribution by memory category");
    let mib_b = 1u64 << 20;
    let bytes = |c: &CaseRecord| c.allocated_bytes.max(c.total_bytes);
    let ooms: Vec<&CaseRecord> = r.cases.iter().filter(|c| c.class == Class::Oom).collect();
    let small = ooms.iter().filter(|c| bytes(c) < 100 * mib_b).count();
    let medium = ooms
        .iter()
        .filter(|c| (100 * mib_b..500 * mib_b).contains(&bytes(c)))
        .count();
    let large = ooms
        .iter()
        .filter(|c| (500 * mib_b..=gib_bytes()).contains(&bytes(c)))
        .count();
    let critical = ooms.iter().filter(|c| bytes(c) > gib_bytes()).count();
    let mut sum = 0;
    for (name, expected) in [
        ("small", small),
        ("medium", medium),
        ("large", large),
        ("critical", critical),
    ] {
        let row = md_row(s, &format!("**{name}**")).unwrap();
        assert_eq!(md_number(&row[2]), expected, "{name}");
        sum += md_number(&row[2]);
    }
    assert_eq!(sum, ooms.len());
}

#[test]
fn eight_k_impact_is_defined_and_counted() {
    let r = full_report();
    let md = report::render_markdown(r);
    let s = md_section(&md, "8K impact");
    assert!(s.contains("4320 or 7680") && s.contains("2160, 3840") && s.contains("2176"));
    let has = |c: &CaseRecord, ds: &[u64]| c.shapes.iter().flatten().any(|d| ds.contains(d));
    let eight: Vec<&CaseRecord> = r.cases.iter().filter(|c| has(c, &[4320, 7680])).collect();
    let four: Vec<&CaseRecord> = r
        .cases
        .iter()
        .filter(|c| !has(c, &[4320, 7680]) && has(c, &[2160, 3840, 2176]))
        .collect();
    let row8 = md_row(s, "8K (a dim of 4320 or 7680)").unwrap();
    assert_eq!(md_number(&row8[1]), eight.len());
    assert_eq!(
        md_number(&row8[2]),
        eight.iter().filter(|c| c.class == Class::Oom).count()
    );
    let row4 = md_row(s, "4K / half-8K (a dim of 2160, 3840 or 2176)").unwrap();
    assert_eq!(md_number(&row4[1]), four.len());
    assert_eq!(
        md_number(&row4[2]),
        four.iter().filter(|c| c.class == Class::Oom).count()
    );
}

#[test]
fn sizes_are_real_arithmetic_in_binary_units() {
    let r = full_report();
    let md = report::render_markdown(r);
    let s = md_section(&md, "Device layout of each shape");
    // Seed 000: "[1,3,1280,1280] - 19.5 MB theoretical". It is 9.38 MiB in bf16.
    let c = r
        .cases
        .iter()
        .find(|c| c.shapes == vec![vec![1, 3, 1280, 1280]] && c.dtype == "bfloat16")
        .expect("the seed's input shape is in shapes.toml");
    let logical = 3 * 1280 * 1280 * 2;
    assert_eq!(c.logical_bytes, logical);
    let expected = format!(
        "{:.2} MiB ({} B)",
        mib(logical),
        oom_suite::report::fmt::thousands(logical)
    );
    let rows: Vec<&str> = s
        .lines()
        .filter(|l| l.starts_with("| `[1,3,1280,1280]` |"))
        .collect();
    assert!(
        rows.iter().any(|row| row.contains(&expected)),
        "{expected} in {rows:#?}"
    );
    assert!(rows.iter().all(|row| !row.contains("19.5")), "{rows:#?}");
    // NHWC pads 3 channels to 32: the layout table shows the device's bytes.
    let nhwc = r
        .cases
        .iter()
        .find(|c| c.shapes == vec![vec![1, 3, 1280, 1280]] && c.device_layout == "nhwc")
        .expect("an NHWC case of the seed's input");
    assert!(rows.iter().any(|row| row.contains("nhwc")
        && row.contains(&oom_suite::report::fmt::thousands(nhwc.allocated_bytes))));
}

#[test]
fn recommendations_come_from_the_numbers() {
    let r = full_report();
    let a = analysis::Analysis::of(r);
    assert!(!a.first_failures.is_empty());
    for f in &a.first_failures {
        // The smallest OOM of the op on this device and memory really is the smallest.
        let smallest = r
            .cases
            .iter()
            .filter(|c| {
                c.op == f.op
                    && c.device == f.device
                    && c.memory == f.memory
                    && c.class == Class::Oom
            })
            .map(analysis::device_bytes)
            .min()
            .unwrap();
        assert_eq!(analysis::device_bytes(&f.smallest_oom), smallest);
        if let Some(fix) = &f.fix {
            let c = &f.smallest_oom;
            let need = c.bank_allocated_bytes + c.per_bank_bytes;
            assert_eq!(fix.need, need);
            assert_eq!(fix.chunks, need.div_ceil(c.bank_bytes).max(2));
            assert!((fix.factor - need as f64 / c.bank_bytes as f64).abs() < 1e-9);
            // bfloat8_b exists only in TILE layout.
            if c.dtype == "bfloat16" && c.layout == "tile" {
                assert_eq!(fix.bf8_need, Some((need * 1088).div_ceil(2048)));
            } else {
                assert_eq!(fix.bf8_need, None);
            }
            // DRAM is measured from the run whenever the same case ran in DRAM.
            if let Some(analysis::DramOption::Measured { id, class }) = &fix.dram {
                let dram = r.cases.iter().find(|x| &x.id == id).unwrap();
                assert_eq!(dram.memory, "dram");
                assert_eq!(dram.class, *class);
                if dram.class == Class::Oom {
                    let need_dram = dram.bank_allocated_bytes + dram.per_bank_bytes;
                    assert_eq!(
                        fix.dram_chunks,
                        Some(need_dram.div_ceil(dram.bank_bytes).max(2))
                    );
                }
            }
        }
    }
    // permute's worst case does not fit DRAM either: the fix says how many DRAM chunks.
    for (op, fix) in &a.worst_fixes {
        let w = a.op(op).unwrap().worst.as_ref().unwrap();
        assert_eq!(fix.need, w.bank_allocated_bytes + w.per_bank_bytes, "{op}");
        if fix.dram.as_ref().is_some_and(|d| !d.fits()) {
            assert!(fix.dram_chunks.is_some() || fix.bf8_need.is_some(), "{op}");
        }
    }
    let md = report::render_markdown(r);
    let s = md_section(&md, "Recommendations");
    assert!(s.contains("fails first"), "{s}");
    // The headline counts: every OOM case with allocation numbers, those in L1 recounted here.
    let with_numbers =
        |c: &&CaseRecord| c.class == Class::Oom && c.per_bank_bytes > 0 && c.bank_bytes > 0;
    let fixes = &a.oom_fixes;
    assert_eq!(fixes.cases, r.cases.iter().filter(with_numbers).count());
    let l1 = r
        .cases
        .iter()
        .filter(with_numbers)
        .filter(|c| analysis::failing_memory(c) == Some(memmodel::BufferType::L1))
        .count();
    assert_eq!(fixes.l1, l1);
    assert!(fixes.l1_fit_in_dram <= l1 && fixes.bf8_fits <= fixes.cases);
    assert!(s.contains(&format!(
        "Of {} L1 OOM cases, {} would fit in DRAM.",
        oom_suite::report::fmt::thousands(l1 as u64),
        oom_suite::report::fmt::thousands(fixes.l1_fit_in_dram as u64)
    )));
}

#[test]
fn failures_that_are_not_oom_show_their_raw_messages_grouped() {
    let r = full_report();
    let a = analysis::Analysis::of(r);
    let errors: Vec<_> = a
        .not_oom
        .iter()
        .filter(|g| g.class == Class::Error)
        .collect();
    assert_eq!(
        errors.len(),
        1,
        "the two error messages differ only in numbers"
    );
    assert_eq!(errors[0].cases, 2);
    let md = report::render_markdown(r);
    let s = md_section(&md, "Failures that are not OOM");
    // The raw message, in a code block, as the runtime gave it (the ESC replaced).
    assert!(s.contains("pass <at least one> bound & retry"), "{s}");
    assert!(s.contains(RAW_CB_CLASH));
    assert!(s.contains("The L1_SMALL region is 0 B"));
    assert!(s.contains("signal 6 (SIGABRT)"));
    assert!(!md.contains('\u{1b}'));
    // None of them counts as OOM anywhere.
    let ops = md_section(&md, "Failures by operator");
    let clamp = md_row(ops, "**clamp**").unwrap();
    assert_eq!(md_number(&clamp[3]), count(r, "clamp", Class::Oom));
    assert!(clamp[4].contains("1 error"), "{clamp:?}");
}

#[test]
fn html_is_one_self_contained_escaped_page() {
    let r = full_report();
    let html = report::render_html(r);
    assert!(html.starts_with("<!DOCTYPE html>"));
    for forbidden in [
        "<script", "<link", " src=", "url(", "@import", "https://", "<iframe",
    ] {
        assert!(!html.contains(forbidden), "found {forbidden}");
    }
    // The only URL is the SVG namespace.
    assert_eq!(
        html.matches("http://").count(),
        html.matches("http://www.w3.org/2000/svg").count()
    );
    for h in oom_suite::report::browser::SECTION_HEADINGS {
        assert!(
            html.contains(&format!(">{}</h2>", oom_suite::report::fmt::escape_xml(h))),
            "no section {h}"
        );
    }
    // Charts: failures per op, one bank chart per device, overhead, categories.
    let devices: std::collections::BTreeSet<&str> =
        r.cases.iter().map(|c| c.device.as_str()).collect();
    assert!(html.matches("<svg").count() >= 3 + devices.len());
    assert!(html.contains("pass &lt;at least one&gt; bound &amp; retry"));
    assert!(!html.contains("<at least one>"));
    assert!(!html.contains('\u{1b}'));
    // Every SVG is well-formed XML on its own.
    for (i, part) in html.split("<svg").skip(1).enumerate() {
        let end = part.find("</svg>").expect("closed svg") + "</svg>".len();
        let svg = format!("<svg{}", &part[..end]);
        roxmltree::Document::parse(&svg).unwrap_or_else(|e| panic!("svg {i}: {e}"));
    }
}

#[test]
fn junit_is_valid_xml_with_one_testcase_per_case() {
    let r = full_report();
    let xml = report::render_junit(r);
    let doc = roxmltree::Document::parse(&xml).expect("junit.xml parses");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let attr = |n: roxmltree::Node, a: &str| n.attribute(a).unwrap().parse::<usize>().unwrap();
    let oom_clean = r
        .cases
        .iter()
        .filter(|c| {
            // OOMs are expected; unmodeled cases have no verdict: both skipped.
            matches!(c.class, Class::Oom | Class::Unmodeled)
                && c.leaked_bytes == 0
                && c.canary_ok != Some(false)
        })
        .count();
    let passing = r
        .cases
        .iter()
        .filter(|c| c.class == Class::Fits && c.leaked_bytes == 0)
        .count();
    assert_eq!(attr(root, "tests"), r.cases.len());
    assert_eq!(attr(root, "skipped"), oom_clean);
    assert_eq!(attr(root, "failures"), r.cases.len() - oom_clean - passing);
    let cases: Vec<roxmltree::Node> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), r.cases.len());
    for suite in root.children().filter(|n| n.has_tag_name("testsuite")) {
        let n = suite
            .children()
            .filter(|n| n.has_tag_name("testcase"))
            .count();
        assert_eq!(attr(suite, "tests"), n);
    }
    let by_id: std::collections::HashMap<&str, &CaseRecord> =
        r.cases.iter().map(|c| (c.id.as_str(), c)).collect();
    for tc in cases {
        let c = by_id[tc.attribute("name").unwrap()];
        assert_eq!(tc.attribute("classname"), Some(c.op.as_str()));
        let child = tc.children().find(|n| n.is_element());
        match (c.class, c.leaked_bytes > 0 || c.canary_ok == Some(false)) {
            (Class::Fits, false) => assert!(child.is_none()),
            (Class::Oom, false) => {
                let s = child.unwrap();
                assert!(s.has_tag_name("skipped"));
                assert!(s
                    .attribute("message")
                    .unwrap()
                    .starts_with("Expected OOM: "));
            }
            (Class::Unmodeled, false) => {
                let s = child.unwrap();
                assert!(s.has_tag_name("skipped"));
                assert!(s
                    .attribute("message")
                    .unwrap()
                    .starts_with("No verdict (unmodeled): "));
            }
            _ => {
                let f = child.unwrap();
                assert!(f.has_tag_name("failure"), "{}", c.id);
                if c.leaked_bytes == 0 && c.canary_ok != Some(false) {
                    // The raw message, unescaped by the parser, minus the ESC XML cannot hold.
                    assert_eq!(f.text().unwrap(), c.message.replace('\u{1b}', "\u{fffd}"));
                }
            }
        }
    }
}

#[test]
fn merge_of_the_slices_is_the_whole() {
    let whole = full_report().clone();
    let mut sorted = whole.clone();
    sorted.cases.sort_by(|a, b| a.id.cmp(&b.id));
    for n in [1, 2, 3, 7] {
        let mut slices = split(&whole, n);
        slices.reverse();
        let merged = report::merge(slices).unwrap();
        assert_eq!(merged.cases, sorted.cases, "n = {n}");
        assert_eq!(merged.totals, whole.totals, "n = {n}");
        assert_eq!(merged.partition, None);
    }
}

#[test]
fn merge_rejects_conflicts_and_missing_slices() {
    let whole = small_report();
    // The same case twice with the same data (timing aside) is fine.
    let mut again = whole.clone();
    for c in &mut again.cases {
        c.elapsed_ms += 10.0;
    }
    let merged = report::merge(vec![whole.clone(), again]).unwrap();
    assert_eq!(merged.cases.len(), whole.cases.len());
    // With different results it is an error naming the case and the field.
    let mut other = whole.clone();
    other.cases[0].class = Class::Error;
    let id = other.cases[0].id.clone();
    let e = report::merge(vec![whole.clone(), other])
        .unwrap_err()
        .to_string();
    assert!(e.contains(&id) && e.contains("class"), "{e}");
    // Slices must all be there.
    let mut slices = split(&whole, 3);
    slices.remove(1);
    let e = report::merge(slices).unwrap_err().to_string();
    assert!(e.contains("2/3"), "{e}");
    let mut mixed = split(&whole, 2);
    mixed.push(split(&whole, 3).remove(2));
    assert!(report::merge(mixed).is_err());
    assert!(report::merge(Vec::new()).is_err());
    // Wall time: the longest slice.
    let mut slices = split(&whole, 2);
    slices[0].wall_time_ms = 10.0;
    slices[1].wall_time_ms = 25.0;
    assert_eq!(report::merge(slices).unwrap().wall_time_ms, 25.0);
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect()
}

#[test]
fn writes_are_atomic_and_errors_name_the_path() {
    let r = small_report();
    let dir = scratch("write");
    let out = dir.join("nested/out");
    let written = report::write_all(&r, &out).unwrap();
    assert_eq!(written.files.len(), 4);
    for name in ["report.json", "report.md", "report.html", "junit.xml"] {
        let p = out.join(name);
        assert!(p.is_file(), "{name}");
        assert_eq!(written.path(name), Some(p.as_path()));
    }
    assert!(leftovers(&out).is_empty());
    // report.json reads back as the same report.
    assert_eq!(report::load(&out.join("report.json")).unwrap(), r);
    // ... and gzipped (how the regression baseline is kept in the repo).
    let json = std::fs::read(out.join("report.json")).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut gz, &json).unwrap();
    std::fs::write(dir.join("report.json.gz"), gz.finish().unwrap()).unwrap();
    assert_eq!(report::load(&dir.join("report.json.gz")).unwrap(), r);

    // A rename that fails (a directory where junit.xml goes): an error naming it, no temp file.
    let blocked = dir.join("blocked");
    std::fs::create_dir_all(blocked.join("junit.xml")).unwrap();
    let e = report::write_all(&r, &blocked).unwrap_err();
    assert!(
        e.to_string()
            .contains(&blocked.join("junit.xml").display().to_string()),
        "{e}"
    );
    assert!(leftovers(&blocked).is_empty(), "{:?}", leftovers(&blocked));

    // The output path is a file.
    let file = dir.join("a-file");
    std::fs::write(&file, "x").unwrap();
    let e = report::write_all(&r, &file).unwrap_err();
    assert!(e.to_string().contains(&file.display().to_string()), "{e}");

    // A read-only directory. Root ignores permission bits, so where a probe write succeeds,
    // use a directory nobody can create files in.
    let ro = dir.join("read-only");
    std::fs::create_dir_all(&ro).unwrap();
    let mut perms = std::fs::metadata(&ro).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o555);
    std::fs::set_permissions(&ro, perms).unwrap();
    let target = if std::fs::write(ro.join("probe"), "x").is_ok() {
        PathBuf::from("/proc/ttnn-oom-report")
    } else {
        ro.clone()
    };
    let e = report::write_all(&r, &target).unwrap_err();
    assert!(matches!(e, Error::Write { .. }));
    assert!(e.to_string().contains(&target.display().to_string()), "{e}");

    // A single file whose parent directory is missing.
    let missing = dir.join("no/such/dir/report.md");
    let e = report::write::write_atomic(&missing, b"x").unwrap_err();
    assert!(
        e.to_string().contains(&missing.display().to_string()),
        "{e}"
    );
    assert!(e.to_string().contains("does not exist"), "{e}");
}

#[test]
fn malformed_json_errors_name_file_line_and_column() {
    let dir = scratch("load");
    let p = dir.join("bad.json");
    std::fs::write(&p, "{\n  \"tool\": \"x\",\n  oops\n}").unwrap();
    let e = report::load(&p).unwrap_err().to_string();
    assert!(e.starts_with(&format!("{}:3:", p.display())), "{e}");

    let mut v = serde_json::to_value(small_report()).unwrap();
    v["cases"][2]["class"] = serde_json::json!("exploded");
    let text = serde_json::to_string_pretty(&v).unwrap();
    let p = dir.join("bad-class.json");
    std::fs::write(&p, &text).unwrap();
    let e = report::load(&p).unwrap_err().to_string();
    assert!(
        e.contains(&p.display().to_string()) && e.contains("cases[2].class"),
        "{e}"
    );
    assert!(e.contains("exploded"), "{e}");

    let e = report::load(&dir.join("absent.json"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("absent.json"), "{e}");
}

#[test]
fn one_screen_summary() {
    let r = full_report();
    let s = r.summary();
    assert!(s.lines().count() <= 25, "{s}");
    assert!(s.contains(&format!(
        "OOM {}",
        oom_suite::report::fmt::thousands(r.totals.oom as u64)
    )));
    let a = analysis::Analysis::of(r);
    let top = a.ops.iter().find(|o| o.counts.failures() > 0).unwrap();
    assert!(s.contains(&top.op));
    assert!(s.contains("leaks 1"));
    let dir = scratch("summary");
    let written = report::write_all(&small_report(), &dir).unwrap();
    let s = small_report().summary_with(&written);
    assert!(
        s.contains(&dir.join("report.html").display().to_string()),
        "{s}"
    );
}

#[test]
fn small_report_snapshots() {
    let r = small_report();
    let rendered = report::render_all(&r);
    assert_report_snapshot!("small_report_md", rendered.markdown);
    assert_report_snapshot!("small_report_junit", rendered.junit);
    assert_report_snapshot!("small_report_summary", r.summary());
}

#[test]
fn whole_matrix_renders_quickly() {
    let r = full_report();
    let start = std::time::Instant::now();
    let rendered = report::render_all(r);
    let took = start.elapsed();
    assert!(
        rendered.html.len() < 8 * 1024 * 1024,
        "{} bytes",
        rendered.html.len()
    );
    assert!(took.as_secs() < 20, "{took:?}");
}

#[test]
fn an_empty_report_renders_every_file() {
    let r = oom_suite::report::model::report_from_records(Vec::new(), "none", "nothing ran");
    let rendered = report::render_all(&r);
    for h in oom_suite::report::browser::SECTION_HEADINGS {
        assert!(rendered.markdown.contains(h), "{h}");
    }
    let doc = roxmltree::Document::parse(&rendered.junit).unwrap();
    assert_eq!(doc.root_element().attribute("tests"), Some("0"));
    assert!(rendered.html.contains("no data"));
    assert!(r.summary().contains("0 cases"));
    let dir = scratch("empty");
    assert_eq!(report::write_all(&r, &dir).unwrap().files.len(), 4);
}

/// `cargo xtask oom` spills records to disk as they finish and builds the report from the spill,
/// one record at a time: every file must be byte for byte the in-memory report's.
#[test]
fn a_report_built_from_spilled_records_is_the_in_memory_one() {
    use oom_suite::record::{BufferRecord, FixRecord, Report, ThresholdRecord};
    use oom_suite::spill::Spill;
    let mut whole = full_report().clone();
    // Every optional field crosses the spill.
    let first = &mut whole.cases[0];
    first.captured_buffers = vec![BufferRecord {
        buffer_type: "L1".into(),
        size: 4096,
        per_bank_bytes: 64,
    }];
    first.measure_note = Some("not measured: a test".into());
    first.fix = Some(FixRecord {
        kind: "dram".into(),
        detail: "DRAM instead of L1".into(),
        verified: true,
        verified_on: vec!["sim".into()],
        case_id: "x".into(),
        pieces: Some(2),
        note: None,
    });
    whole.thresholds = vec![ThresholdRecord {
        op: "add".into(),
        device: "n150".into(),
        memory: "l1".into(),
        dtype: "bfloat16".into(),
        device_layout: "as-given".into(),
        dim: 3,
        last_fit: None,
        first_oom: None,
        confirmed_last_fit: None,
        confirmed_first_oom: None,
        sim_last_fit: None,
        sim_first_oom: None,
        confirmed: None,
        unsearched: Some("a test".into()),
    }];
    let n = whole.cases.len();
    let dir = scratch("spill");
    let mut spill = Spill::create(&dir, n).unwrap();
    // Out of order, as worker processes report.
    for i in (0..n).rev() {
        spill.push(i, &whole.cases[i]).unwrap();
    }
    assert_eq!(spill.totals(), &Totals::of(&whole.cases));
    let mut spilled = spill.finish().unwrap();
    // The head alone: the records come from the spill.
    let head = Report {
        cases: Vec::new(),
        ..whole.clone()
    };
    let out = dir.join("out");
    let mut whole_record = |i: usize| Ok(spilled.get(i)?.expect("spilled"));
    let (written, analysis) =
        report::write_all_streamed(&head, n, &mut whole_record, &out).unwrap();
    assert_eq!(analysis.summary(), whole.summary());
    let read = |name: &str| std::fs::read_to_string(written.path(name).unwrap()).unwrap();
    assert!(read(report::REPORT_JSON) == report::to_json(&whole).unwrap());
    let r = report::render_all(&whole);
    assert!(read(report::REPORT_MD) == r.markdown);
    assert!(read(report::REPORT_HTML) == r.html);
    assert!(read(report::JUNIT_XML) == r.junit);
    drop(spilled);
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".records-"))
        .collect();
    assert!(left.is_empty(), "the spill file outlived its reader");
}
