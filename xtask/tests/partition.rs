//! Scale-out: n deterministic slices of a run (`cargo xtask oom --partition k/n`), merged with
//! `cargo xtask report --merge`, equal one whole run — the same cases with the same results and
//! totals (timings aside). Runs on the embedded sim, so it needs nothing installed.

use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn xtask(args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .output()
        .expect("running xtask");
    assert!(
        out.status.success(),
        "xtask {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The report's cases without what legitimately differs between runs.
fn cases(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    let report: Value = serde_json::from_str(&text).unwrap();
    let mut cases: Vec<Value> = report["cases"].as_array().unwrap().clone();
    for c in &mut cases {
        let c = c.as_object_mut().unwrap();
        c.remove("elapsed_ms");
        // tt-metal numbers programs per process (as sim does): the number depends on what ran
        // before in that process, not on the case.
        if let Some(Value::String(m)) = c.get_mut("message") {
            *m = blank_program_number(m);
        }
    }
    cases.sort_by_key(|c| c["id"].as_str().unwrap().to_string());
    cases
}

fn blank_program_number(message: &str) -> String {
    let mut out = String::new();
    let mut rest = message;
    while let Some(i) = rest.find("program ") {
        out.push_str(&rest[..i + "program ".len()]);
        rest = rest[i + "program ".len()..].trim_start_matches(|c: char| c.is_ascii_digit());
        out.push('N');
    }
    out.push_str(rest);
    out
}

/// A scratch directory removed when the test ends.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn slices_merged_equal_one_whole_run() {
    let root = std::env::temp_dir().join(format!("xtask-partition-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let dir = Scratch(root);
    let d = |name: &str| dir.path().join(name).display().to_string();
    let filters = [
        "--backend",
        "sim",
        "--op",
        "silu,add,softmax,maxpool2d,bmm",
        "--no-measure",
    ];
    let whole = d("whole");
    xtask(&[&["oom"][..], &filters, &["--out", &whole]].concat());
    let n = 3;
    let mut parts = Vec::new();
    for k in 1..=n {
        let out = d(&format!("part{k}"));
        let slice = format!("{k}/{n}");
        xtask(
            &[
                &["oom"][..],
                &filters,
                &["--partition", &slice, "--out", &out],
            ]
            .concat(),
        );
        parts.push(format!("{out}/report.json"));
    }
    let merged = d("merged");
    let mut args = vec!["report", "--out", &merged, "--merge"];
    args.extend(parts.iter().map(String::as_str));
    xtask(&args);

    let whole_cases = cases(&dir.path().join("whole/report.json"));
    let merged_cases = cases(&dir.path().join("merged/report.json"));
    assert!(whole_cases.len() > 100, "{} cases", whole_cases.len());
    assert_eq!(whole_cases.len(), merged_cases.len());
    for (w, m) in whole_cases.iter().zip(&merged_cases) {
        assert_eq!(
            w, m,
            "case {} differs between the whole run and the merged slices",
            w["id"]
        );
    }
    let totals = |p: &str| -> Value {
        let v: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join(p)).unwrap()).unwrap();
        v["totals"].clone()
    };
    assert_eq!(totals("whole/report.json"), totals("merged/report.json"));
    for f in ["report.md", "report.html", "junit.xml"] {
        assert!(
            dir.path().join("merged").join(f).is_file(),
            "merged {f} missing"
        );
    }
}
