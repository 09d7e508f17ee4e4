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
