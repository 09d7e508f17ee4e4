//! `cargo xtask diff` over the whole default matrix, both boards: sim against the real runtime
//! (mock n150 and p150, worker processes) and against memmodel's estimate. Fails on any
//! disagreement `model-gaps.toml` does not list with a reason, and prints the figures.
//!
//! What CI pays: every case runs on metal in normal mode (~2.5 min per board) and in a
//! NO_DISPATCH capture (~2 min per board), except the capture of the copying reshapes whose host
//! page map takes tens of seconds each (~18 min per board in all); their CB peaks come from the
//! golden calibration (`cargo xtask calibrate`), which measured them with the same runtime. The
//! two boards run in parallel workers: ~6 minutes of the hour CI may take.
//!
//! `TTNN_OOM_DIFF_PARTITION=K/N` runs slice K of N of the matrix instead (every N-th case by
//! id): CI sets a slice chosen by the commit, since the suite's `oom/` and `estimate/` trials
//! already run every case of the matrix on the same runtime, and running them all again here
//! doubled the time CI spends on the runtime. The whole matrix live: this test without it, or
//! `cargo xtask diff`.
//!
//! Reports itself skipped (and passes) where `cargo xtask setup` has not been run, like the
//! other runtime tests; `TTNN_OOM_REQUIRE_RUNTIME=1` makes that a failure.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn runtime_ready() -> bool {
    let home = std::env::var_os("TTNN_OOM_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.ttnn-oom"));
    let ready = home.join("runtime.json").is_file();
    if !ready {
        assert!(
            std::env::var_os("TTNN_OOM_REQUIRE_RUNTIME").is_none_or(|v| v == "0"),
            "TTNN_OOM_REQUIRE_RUNTIME is set but the runtime is not set up"
        );
        println!("skipped: the real TT-NN runtime is not set up; run `cargo xtask setup`");
    }
    ready
}

#[test]
fn sim_agrees_with_the_real_runtime_on_the_whole_matrix() {
    if !runtime_ready() {
        return;
    }
    let partition = std::env::var("TTNN_OOM_DIFF_PARTITION")
        .ok()
        .filter(|p| !p.trim().is_empty());
    let mut args = vec!["diff".to_string(), "--json".to_string()];
    if let Some(p) = &partition {
        println!("slice {p} of the matrix (TTNN_OOM_DIFF_PARTITION)");
        args.extend(["--partition".to_string(), p.clone()]);
    }
    let slices: u64 = partition
        .as_deref()
        .and_then(|p| p.split_once('/'))
        .and_then(|(_, n)| n.trim().parse().ok())
        .unwrap_or(1);
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(&args)
        .env_remove("TTNN_OOM_WORKER_FAULT")
        .output()
        .expect("running xtask diff");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let v: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("xtask diff --json printed no JSON ({e}):\n{stdout}\n{stderr}"));
    println!(
        "cases {} · verdict agreement {} % · model agreement {} % · per-bank mismatches {} · CB peak mismatches {} ({} compared) · sim {} s, metal {} s",
        v["cases"],
        v["verdict_agreement_pct"],
        v["model_verdict_agreement_pct"],
        v["per_bank_mismatches"],
        v["cb_peak_mismatches"],
        v["cb_peaks_compared"],
        v["sim_seconds"],
        v["metal_seconds"]
    );
    assert!(
        v["cases"].as_u64().unwrap_or(0) > 9000 / slices.max(1),
        "the whole matrix (or its slice {partition:?}): {}",
        v["cases"]
    );
    let unlisted: Vec<String> = v["disagreements"]
        .as_array()
        .expect("a list")
        .iter()
        .filter(|d| d.get("allowed").is_none())
        .map(|d| {
            format!(
                "[{}] {}\n    sim:   {}\n    metal: {}",
                d["kind"].as_str().unwrap_or("?"),
                d["case"].as_str().unwrap_or("?"),
                d["sim"].as_str().unwrap_or(""),
                d["metal"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert!(
        unlisted.is_empty() && out.status.success(),
        "{} disagreement(s) not in model-gaps.toml (exit {}):\n{}\n{stderr}",
        unlisted.len(),
        out.status,
        unlisted.join("\n")
    );
}
