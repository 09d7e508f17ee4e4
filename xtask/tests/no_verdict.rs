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
    let (ok, text) = xtask(&[
        "probe",
        "--backend",
        "sim",
        "--op",
        "permute",
        "--shape",
        "1,64,100,100",
        "--layout",
        "row_major",
        "--no-measure",
    ]);
    assert!(
        ok && text.contains("UNMODELED") && text.contains("ROW_MAJOR"),
        "{text}"
    );
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
    let (ok, text) = xtask(&[
        "estimate",
        "--json",
        "--op",
        "permute,silu",
        "--shape",
        "1,64,100,100",
        "--layout",
        "row_major",
        "--memory",
        "l1",
        "--device",
        "n150",
    ]);
    assert!(ok, "{text}");
    let rows: Vec<serde_json::Value> = serde_json::from_str(&text).expect("one JSON array");
    assert_eq!(rows.len(), 2, "{text}");
    let permute = rows.iter().find(|r| r["op"] == "permute").unwrap();
    assert_eq!(permute["verdict"], "unmodeled", "{text}");
    assert!(permute["reason"].as_str().unwrap().contains("ROW_MAJOR"));
    let silu = rows.iter().find(|r| r["op"] == "silu").unwrap();
    assert_eq!(silu["verdict"], "fits", "{text}");
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
