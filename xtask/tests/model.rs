//! `cargo xtask model` on sim (no runtime needed): a run per board, and a bad model file named
//! by file, line and field.

use std::process::Command;

fn xtask(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .expect("xtask runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_model_runs_on_sim_per_board_and_says_which_call_fails_first() {
    let (ok, out, err) = xtask(&[
        "model",
        "--model",
        "models/c2f-block.toml",
        "--resolution",
        "2176x3840",
        "--json",
    ]);
    assert!(ok, "{err}");
    let runs: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(runs.len(), 2, "{out}");
    for run in &runs {
        assert_eq!(run["backend"], "sim");
        assert_eq!(run["leaked_per_bank"], 0);
        let failure = &run["failure"];
        assert!(failure["number"].as_u64().is_some(), "{run}");
        assert!(
            failure["message"]
                .as_str()
                .unwrap_or_default()
                .contains("Out of Memory"),
            "{run}"
        );
        // Every call before the failing one ran and is reported.
        assert_eq!(
            run["steps"].as_array().unwrap().len() as u64 + 1,
            failure["number"].as_u64().unwrap(),
            "{run}"
        );
    }
}

#[test]
fn a_bad_model_file_is_named_by_line_and_field() {
    let dir = std::env::temp_dir().join(format!("ttnn-oom-model-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.toml");
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../models/c2f-block.toml"
    ))
    .unwrap()
    .replacen("inputs = [\"b\", \"a2\"]", "inputs = [\"b\", \"nope\"]", 1);
    std::fs::write(&path, &text).unwrap();
    let (ok, _, err) = xtask(&[
        "model",
        "--model",
        path.to_str().unwrap(),
        "--device",
        "n150",
    ]);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!ok);
    let line = text.lines().position(|l| l.contains("\"nope\"")).unwrap() + 1;
    assert!(
        err.contains(&format!("bad.toml:{line}:")) && err.contains("call[3].inputs[1]"),
        "{err}"
    );
}
