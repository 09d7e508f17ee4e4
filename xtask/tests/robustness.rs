//! `cargo xtask oom` against a runtime that hangs, one that aborts and a user who interrupts
//! it, and the regression baseline — through the real binary on the real runtime (mock n150),
//! on four small ad-hoc cases (silu and relu at [1,1,32,32], L1 and DRAM).
//!
//! The hang and the abort come from the workers' test-only fault hook
//! (`TTNN_OOM_WORKER_FAULT=hang:<case id>` / `abort:<case id>`, inert unless set). Each test
//! reports itself skipped (and passes) where `cargo xtask setup` has not been run.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const FAULTY: &str = "silu/[1,1,32,32]/as-given/bfloat16/tile/l1/n150";
const CASES: &[&str] = &[
    "oom",
    "--backend",
    "metal",
    "--op",
    "silu,relu",
    "--shape",
    "1,1,32,32",
    "--memory",
    "l1,dram",
    "--device",
    "n150",
];
/// A hang costs this many seconds.
const TIMEOUT: &[&str] = &["--timeout", "3"];

fn runtime_ready() -> bool {
    let home = std::env::var_os("TTNN_OOM_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.ttnn-oom"));
    let ready = home.join("runtime.json").is_file();
    if !ready {
        println!("skipped: the real TT-NN runtime is not set up; run `cargo xtask setup`");
    }
    ready
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ttnn-oom-robustness-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn xtask(args: &[&str], out: &Path, env: &[(&str, String)]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_xtask"));
    c.args(args)
        .arg("--out")
        .arg(out)
        .env_remove("TTNN_OOM_WORKER_FAULT")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

fn run(args: &[&str], out: &Path, env: &[(&str, String)]) -> (Output, Duration) {
    let start = Instant::now();
    let output = xtask(args, out, env).output().expect("xtask runs");
    (output, start.elapsed())
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn report(out: &Path) -> Value {
    let text = std::fs::read_to_string(out.join("report.json")).expect("report.json written");
    serde_json::from_str(&text).unwrap()
}

fn class_of<'a>(r: &'a Value, id: &str) -> &'a str {
    r["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("{id} is not in the report"))["class"]
        .as_str()
        .unwrap()
}

/// The run survives the fault: it finishes, writes all four files, reports the faulty case
/// `want`, runs every other case to the runtime's own verdict, and exits non-zero naming it.
fn survives(fault: &str, want: &str) {
    if !runtime_ready() {
        return;
    }
    let out = scratch(fault);
    let (o, took) = run(
        &[CASES, TIMEOUT].concat(),
        &out,
        &[("TTNN_OOM_WORKER_FAULT", format!("{fault}:{FAULTY}"))],
    );
    let all = text(&o);
    assert!(!o.status.success(), "a {fault} must fail the run: {all}");
    assert_ne!(o.status.code(), Some(101), "panicked: {all}");
    let summary = if want == "crashed" {
        "1 case(s) crashed and 0 timed out"
    } else {
        "0 case(s) crashed and 1 timed out"
    };
    assert!(all.contains(summary), "{all}");
    assert!(took < Duration::from_secs(90), "the run took {took:?}");
    for f in ["report.json", "report.md", "report.html", "junit.xml"] {
        assert!(out.join(f).is_file(), "{f} was not written: {all}");
    }
    let r = report(&out);
    assert_eq!(r["cases"].as_array().unwrap().len(), 4);
    assert_eq!(class_of(&r, FAULTY), want, "{all}");
    for other in [
        "silu/[1,1,32,32]/as-given/bfloat16/tile/dram/n150",
        "relu/[1,1,32,32]/as-given/bfloat16/tile/l1/n150",
        "relu/[1,1,32,32]/as-given/bfloat16/tile/dram/n150",
    ] {
        assert_eq!(
            class_of(&r, other),
            "fits",
            "{other} after the {fault}: {all}"
        );
    }
    assert_eq!(r["totals"][want], 1);
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        md.contains(want) || md.contains(&want.replace('_', " ")),
        "report.md does not show the {want} case"
    );
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn oom_run_survives_a_hanging_runtime() {
    survives("hang", "timed_out");
}

#[test]
fn oom_run_survives_an_aborting_runtime() {
    survives("abort", "crashed");
}

/// SIGTERM (and SIGINT) in the middle of a run: it exits promptly with status 130, kills its
/// workers, and leaves no report file (complete or partial) behind.
#[test]
fn an_interrupted_run_stops_promptly_and_leaves_no_report() {
    if !runtime_ready() {
        return;
    }
    for signal in ["TERM", "INT"] {
        let out = scratch(&format!("interrupt-{signal}"));
        // A case that hangs keeps the run busy until the signal comes.
        let mut child = xtask(
            &[CASES, &["--timeout", "300"]].concat(),
            &out,
            &[("TTNN_OOM_WORKER_FAULT", format!("hang:{FAULTY}"))],
        )
        .spawn()
        .unwrap();
        let pid = child.id();
        // Wait until a worker is running (the run is under way), at most 60 s.
        let t0 = Instant::now();
        let workers = || -> Vec<String> {
            let o = Command::new("pgrep")
                .args(["-P", &pid.to_string()])
                .output();
            o.map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .split_whitespace()
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default()
        };
        while workers().is_empty() && t0.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(100));
        }
        let running = workers();
        assert!(!running.is_empty(), "no worker started");
        std::thread::sleep(Duration::from_millis(500));
        let sent = Instant::now();
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let mut exited = None;
        while sent.elapsed() < Duration::from_secs(10) {
            if let Some(s) = child.try_wait().unwrap() {
                exited = Some(s);
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let Some(status) = exited else {
            let _ = child.kill();
            panic!("SIG{signal}: the run did not exit within 10 s");
        };
        let took = sent.elapsed();
        let o = child.wait_with_output().unwrap();
        assert_eq!(status.code(), Some(130), "SIG{signal}: {}", text(&o));
        assert!(text(&o).contains("no report written"), "{}", text(&o));
        assert!(
            took < Duration::from_secs(5),
            "SIG{signal}: exit took {took:?}"
        );
        let left: Vec<_> = std::fs::read_dir(&out)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name())
            .collect();
        assert!(
            left.is_empty(),
            "SIG{signal}: left {left:?} in the output directory"
        );
        for w in running {
            assert!(
                !Path::new(&format!("/proc/{w}")).exists()
                    || std::fs::read_to_string(format!("/proc/{w}/stat"))
                        .is_ok_and(|s| s.contains(") Z ")),
                "SIG{signal}: worker {w} still runs"
            );
        }
        println!("SIG{signal}: exit 130 after {took:?}, no report, workers gone");
        let _ = std::fs::remove_dir_all(&out);
    }
}

/// `--baseline`: a run compared with itself passes; against a baseline in which one case was
/// smaller (so the run's case grew) or fitted (so it now fails) it fails, naming the case.
#[test]
fn the_baseline_check_fails_on_a_grown_case() {
    if !runtime_ready() {
        return;
    }
    let dir = scratch("baseline");
    let first = dir.join("first");
    // Cases with real OOMs and fits: silu at [1,96,2160,3840] OOMs in L1, fits in DRAM.
    let args: &[&str] = &[
        "oom",
        "--backend",
        "metal",
        "--op",
        "silu,relu",
        "--shape",
        "1,96,2160,3840",
        "--memory",
        "l1,dram",
        "--device",
        "n150",
    ];
    let (o, _) = run(args, &first, &[]);
    assert!(o.status.success(), "{}", text(&o));
    let saved = first.join("report.json");

    // The same run against itself: no regression.
    let (o, _) = run(
        &[args, &["--baseline", saved.to_str().unwrap()]].concat(),
        &dir.join("same"),
        &[],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("no regression"), "{}", text(&o));

    // A baseline in which the DRAM silu case held fewer bytes per bank (the run's case grew)
    // and the L1 silu case fitted (it now fails).
    let mut base: Value = serde_json::from_str(&std::fs::read_to_string(&saved).unwrap()).unwrap();
    let grown = "silu/[1,96,2160,3840]/as-given/bfloat16/tile/dram/n150";
    let now_fails = "silu/[1,96,2160,3840]/as-given/bfloat16/tile/l1/n150";
    let mut touched = 0;
    for c in base["cases"].as_array_mut().unwrap() {
        if c["id"] == grown {
            assert_eq!(c["class"], "fits", "the runtime says {grown} fits");
            let buffers = c["captured_buffers"].as_array_mut().expect("measured");
            assert!(!buffers.is_empty(), "{grown} was measured");
            for b in buffers {
                let v = b["per_bank_bytes"].as_u64().unwrap();
                b["per_bank_bytes"] = (v - 2048).into();
            }
            touched += 1;
        }
        if c["id"] == now_fails {
            assert_eq!(
                c["class"], "oom",
                "the runtime says {now_fails} does not fit"
            );
            c["class"] = "fits".into();
            touched += 1;
        }
    }
    assert_eq!(touched, 2);
    let edited = dir.join("baseline.json");
    std::fs::write(&edited, serde_json::to_string_pretty(&base).unwrap()).unwrap();
    let (o, _) = run(
        &[args, &["--baseline", edited.to_str().unwrap()]].concat(),
        &dir.join("check"),
        &[],
    );
    let all = text(&o);
    assert!(!o.status.success(), "the baseline check must fail: {all}");
    assert!(
        all.contains(&format!("REGRESSION [grew] {grown}: DRAM buffers per bank")),
        "{all}"
    );
    assert!(
        all.contains(&format!("REGRESSION [fitted, now fails] {now_fails}")),
        "{all}"
    );
    assert!(all.contains("regression(s) against the baseline"), "{all}");
    // The report of the run is still written.
    assert!(dir.join("check/report.json").is_file());
    println!(
        "{}",
        all.lines()
            .filter(|l| l.contains("REGRESSION") || l.contains("baseline"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let _ = std::fs::remove_dir_all(&dir);
}
