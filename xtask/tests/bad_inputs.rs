//! A catalogue of bad inputs, each run through the real `xtask` binary: every one must exit
//! non-zero within a time limit, without a panic or a backtrace, with an error that names the
//! problem and where it is (file:line:column, the flag, the op and the allowed values), and
//! leave no report file behind. Cases that start the runtime are marked and skip themselves
//! (with a note) where `cargo xtask setup` has not been run.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(120);
const REPORT_FILES: [&str; 4] = ["report.json", "report.md", "report.html", "junit.xml"];

/// One bad input.
struct Bad {
    name: &'static str,
    /// Arguments after the binary; `{dir}` is the case's scratch directory, `{out}` its
    /// output directory.
    args: &'static [&'static str],
    /// Files to write into `{dir}` first: (name, contents).
    files: Vec<(&'static str, &'static str)>,
    /// Every one of these must appear in stderr (`{dir}` expanded).
    expect: &'static [&'static str],
    /// Needs the real runtime set up.
    runtime: bool,
    /// Extra environment (`{dir}` expanded).
    env: &'static [(&'static str, &'static str)],
}

fn bad(name: &'static str, args: &'static [&'static str], expect: &'static [&'static str]) -> Bad {
    Bad {
        name,
        args,
        files: vec![],
        expect,
        runtime: false,
        env: &[],
    }
}

fn toml(name: &'static str, file: &'static str, expect: &'static [&'static str]) -> Bad {
    Bad {
        name,
        args: &["estimate", "--shapes", "{dir}/bad.toml"],
        files: vec![("bad.toml", file)],
        expect,
        runtime: false,
        env: &[],
    }
}

fn catalogue() -> Vec<Bad> {
    vec![
        // ---- shapes.toml: located errors (file:line:column, field, allowed values)
        toml("toml_unclosed_table", "[matrix\ndtypes = []\n", &["bad.toml:1:", "invalid table header"]),
        toml("toml_missing_value", "[matrix]\ndtypes =", &["bad.toml:2:", "invalid TOML"]),
        toml(
            "toml_unknown_op",
            concat!("[matrix]\ndtypes = [\"bfloat16\"]\nlayouts = [\"tile\"]\nmemories = [\"l1\"]\ndevices = [\"n150\"]\n",
                "[shape_sets.s]\nshapes = [[1, 3, 64, 64]]\n[ops.sillu]\nsets = [\"s\"]\n"),
            &["bad.toml:8:", "unknown op `sillu`", "silu"],
        ),
        toml(
            "toml_unknown_shape_set",
            concat!("[matrix]\ndtypes = [\"bfloat16\"]\nlayouts = [\"tile\"]\nmemories = [\"l1\"]\ndevices = [\"n150\"]\n",
                "[shape_sets.s]\nshapes = [[1, 3, 64, 64]]\n[ops.silu]\nsets = [\"nope\"]\n"),
            &["bad.toml:9:", "nope"],
        ),
        toml(
            "toml_negative_dim",
            concat!("[matrix]\ndtypes = [\"bfloat16\"]\nlayouts = [\"tile\"]\nmemories = [\"l1\"]\ndevices = [\"n150\"]\n",
                "[shape_sets.s]\nshapes = [[1, -3, 64, 64]]\n[ops.silu]\nsets = [\"s\"]\n"),
            &["bad.toml:7:", "-3", "at least 1"],
        ),
        toml(
            "toml_zero_dim",
            concat!("[matrix]\ndtypes = [\"bfloat16\"]\nlayouts = [\"tile\"]\nmemories = [\"l1\"]\ndevices = [\"n150\"]\n",
                "[shape_sets.s]\nshapes = [[1, 0, 64, 64]]\n[ops.silu]\nsets = [\"s\"]\n"),
            &["bad.toml:7:", "at least 1"],
        ),
        toml(
            "toml_dims_overflow_u64",
            concat!("[matrix]\ndtypes = [\"bfloat16\"]\nlayouts = [\"tile\"]\nmemories = [\"l1\"]\ndevices = [\"n150\"]\n",
                "[shape_sets.s]\nshapes = [[4294967296, 4294967296, 4294967296]]\n[ops.silu]\nsets = [\"s\"]\n"),
            &["bad.toml:7:", "overflows u64"],
        ),
        toml(
            "toml_dim_beyond_i64",
            concat!("[matrix]\ndtypes = [\"bfloat16\"]\nlayouts = [\"tile\"]\nmemories = [\"l1\"]\ndevices = [\"n150\"]\n",
                "[shape_sets.s]\nshapes = [[1, 99999999999999999999]]\n[ops.silu]\nsets = [\"s\"]\n"),
            &["bad.toml:7:"],
        ),
        toml(
            "toml_unknown_dtype",
            "[matrix]\ndtypes = [\"float64\"]\nlayouts = [\"tile\"]\nmemories = [\"l1\"]\ndevices = [\"n150\"]\n",
            &["bad.toml:2:", "float64", "bfloat16"],
        ),
        toml(
            "toml_unknown_device",
            "[matrix]\ndtypes = [\"bfloat16\"]\nlayouts = [\"tile\"]\nmemories = [\"l1\"]\ndevices = [\"n300\"]\n",
            &["bad.toml:5:", "n300", "n150"],
        ),
        toml(
            "toml_dtype_the_op_does_not_take",
            concat!("[matrix]\ndtypes = [\"uint32\"]\nlayouts = [\"tile\"]\nmemories = [\"l1\"]\ndevices = [\"n150\"]\n",
                "[shape_sets.s]\nshapes = [[1, 3, 64, 64]]\n[ops.silu]\nsets = [\"s\"]\n"),
            &["bad.toml:", "silu", "dtype uint32 is not supported", "supported: bfloat16"],
        ),
        toml(
            "toml_split_sizes_do_not_sum",
            concat!("[matrix]\ndtypes = [\"bfloat16\"]\nlayouts = [\"tile\"]\nmemories = [\"l1\"]\ndevices = [\"n150\"]\n",
                "[shape_sets.s]\nshapes = [[1, 64, 32, 32]]\n[ops.split_with_sizes]\nparams = { split_sizes = [10, 10] }\nsets = [\"s\"]\n"),
            &["bad.toml:", "split_sizes", "sum to 20"],
        ),
        toml(
            "toml_wrong_param_type",
            concat!("[matrix]\ndtypes = [\"bfloat16\"]\nlayouts = [\"tile\"]\nmemories = [\"l1\"]\ndevices = [\"n150\"]\n",
                "[shape_sets.s]\nshapes = [[1, 64, 32, 32]]\n[ops.softmax]\nparams = { dim = \"last\" }\nsets = [\"s\"]\n"),
            &["bad.toml:", "dim"],
        ),
        toml("toml_unknown_field", "[matrix]\ndtypez = [\"bfloat16\"]\n", &["bad.toml:2:", "dtypez"]),
        // ---- sharded memory configs in shapes.toml
        toml(
            "toml_sharded_config_in_memories",
            "[matrix]\ndtypes = [\"bfloat16\"]\nlayouts = [\"tile\"]\nmemories = [\"l1_height_sharded\"]\n",
            &["bad.toml:4:", "matrix.memories[0]", "sharded_sets", "known here: l1, dram"],
        ),
        toml(
            "toml_unknown_sharded_memory",
            "[shape_sets.s]\nshapes = [[1, 32, 64, 64]]\n[ops.silu]\nsets = [\"s\"]\nsharded_sets = [\"s\"]\nsharded_memories = [\"l1_diagonal_sharded\"]\n",
            &["bad.toml:6:", "ops.silu.sharded_memories[0]", "l1_diagonal_sharded", "l1_height_sharded, l1_width_sharded, l1_block_sharded"],
        ),
        toml(
            "toml_interleaved_in_sharded_memories",
            "[matrix]\nsharded_memories = [\"l1\"]\n",
            &["bad.toml:2:", "matrix.sharded_memories[0]", "not a sharded memory config", "l1_block_sharded"],
        ),
        toml(
            "toml_sharded_sets_on_an_op_that_does_not_shard",
            "[shape_sets.s]\nshapes = [[1, 32, 64, 64]]\n[ops.softmax]\nsets = [\"s\"]\nsharded_sets = [\"s\"]\n",
            &["bad.toml:5:", "ops.softmax.sharded_sets", "does not run in sharded memory configs", "silu"],
        ),
        toml(
            "toml_unknown_sharded_set",
            "[shape_sets.s]\nshapes = [[1, 32, 64, 64]]\n[ops.silu]\nsets = [\"s\"]\nsharded_sets = [\"nope\"]\n",
            &["bad.toml:5:", "ops.silu.sharded_sets[0]", "unknown shape set `nope`", "known: s"],
        ),
        toml(
            "toml_unknown_expect_memory",
            "[shape_sets.s]\nshapes = [[1, 32, 64, 64]]\n[ops.silu]\nsets = [\"s\"]\n[[expect]]\nmemory = \"l1_sharded\"\nclass = \"oom\"\nreason = \"x\"\n",
            &["bad.toml:6:", "expect[0].memory", "l1_height_sharded"],
        ),
        bad("shapes_file_missing", &["estimate", "--shapes", "{dir}/none.toml"], &["none.toml"]),
        // ---- ad-hoc cases: the flag, the op, the allowed values
        bad("shape_zero_dim", &["estimate", "--op", "silu", "--shape", "1,0,32"], &["--shape 1,0,32", "at least 1"]),
        bad("shape_negative_dim", &["estimate", "--op", "silu", "--shape=-1,32"], &["--shape -1,32", "at least 1"]),
        bad("shape_not_numbers", &["estimate", "--op", "silu", "--shape", "1,x,32"], &["--shape 1,x,32", "not a shape"]),
        bad("shape_too_many_dims", &["estimate", "--op", "silu", "--shape", "1,1,1,1,1,1,1,1,1"], &["--shape", "at most 8"]),
        bad("shape_overflows_u64", &["estimate", "--op", "silu", "--shape", "4294967296,4294967296,4294967296"], &["--shape", "overflows u64"]),
        bad("unknown_op", &["estimate", "--op", "sillu"], &["--op", "unknown op `sillu`", "silu"]),
        bad("wrong_arity", &["estimate", "--op", "silu", "--shape", "1,32", "--shape", "1,32"], &["silu", "takes 1 input shape(s), got 2"]),
        bad("dim_out_of_range", &["estimate", "--op", "softmax", "--shape", "1,32,64,64", "--param", "dim=7"], &["softmax", "dim", "is 7, out of range"]),
        bad("split_sizes_do_not_sum", &["estimate", "--op", "split_with_sizes", "--shape", "1,32,64,64", "--param", "split_sizes=10,10"], &["split_with_sizes", "split_sizes", "sum to 20"]),
        bad("dtype_the_op_does_not_take", &["estimate", "--op", "softmax", "--shape", "1,32,64,64", "--dtype", "int32"], &["softmax", "dtype int32 is not supported", "supported: bfloat16, float32, bfloat8_b"]),
        bad("unknown_dtype", &["estimate", "--dtype", "float64"], &["--dtype", "float64", "bfloat16"]),
        bad("unknown_device", &["estimate", "--device", "n300"], &["--device", "n300", "n150"]),
        bad("unknown_memory", &["estimate", "--memory", "sram"], &["--memory", "dram"]),
        bad("l1_small_is_not_a_memory_config", &["estimate", "--memory", "l1_small"], &["--memory", "not a tensor memory config"]),
        bad("unknown_layout", &["estimate", "--layout", "nchw"], &["--layout", "nchw"]),
        bad("unknown_sharded_memory", &["estimate", "--memory", "l1_diagonal_sharded"], &["--memory", "l1_diagonal_sharded", "l1_height_sharded, l1_width_sharded, l1_block_sharded"]),
        bad("sharded_op_that_does_not_shard", &["estimate", "--op", "softmax", "--shape", "1,32,64,64", "--memory", "l1_height_sharded"], &["softmax", "l1_height_sharded is modeled for the eltwise ops only", "silu"]),
        bad("sharded_row_major", &["estimate", "--op", "silu", "--shape", "1,32,64,64", "--memory", "l1_block_sharded", "--layout", "row_major"], &["silu", "l1_block_sharded needs TILE layout"]),
        bad("sharded_input_memory_flag", &["estimate", "--op", "silu", "--shape", "1,32,64,64", "--input-memory", "l1_width_sharded"], &["--input-memory", "use --memory"]),
        bad("sharded_with_dram_output", &["estimate", "--op", "silu", "--shape", "1,32,64,64", "--memory", "l1_height_sharded", "--output-memory", "dram"], &["silu", "l1_height_sharded needs inputs and outputs in L1"]),
        bad("unknown_device_layout", &["estimate", "--op", "silu", "--shape", "1,3,32,32", "--device-layout", "chw"], &["--device-layout", "chw"]),
        bad("unknown_param", &["estimate", "--op", "softmax", "--shape", "1,32,64,64", "--param", "axis=1"], &["softmax", "axis", "is not a parameter of this op (known: dim)"]),
        bad("param_without_value", &["estimate", "--op", "softmax", "--shape", "1,32,64,64", "--param", "dim"], &["--param `dim`", "NAME=VALUE"]),
        bad("param_list_not_integers", &["estimate", "--op", "split_with_sizes", "--shape", "1,32,64,64", "--param", "split_sizes=1,a"], &["--param", "a list must hold integers"]),
        bad("param_out_of_bounds", &["estimate", "--op", "maxpool2d", "--shape", "1,32,64,64", "--device-layout", "nhwc-flat", "--param", "kernel_size=2000"], &["maxpool2d", "kernel_size", "1..=1024"]),
        bad("param_without_shape", &["estimate", "--op", "softmax", "--param", "dim=1"], &["--param applies to ad-hoc cases"]),
        bad("unknown_shape_set", &["estimate", "--shape-set", "nope"], &["--shape-set", "unknown shape set `nope`", "yolov12_1280"]),
        bad("shape_and_shape_set", &["estimate", "--shape", "1,32", "--shape-set", "canary"], &["--shape and --shape-set exclude each other"]),
        // ---- cargo xtask oom
        bad("partition_not_k_of_n", &["oom", "--op", "silu", "--partition", "3", "--out", "{out}"], &["--partition 3", "K/N"]),
        bad("partition_zero", &["oom", "--op", "silu", "--partition", "0/3", "--out", "{out}"], &["--partition 0/3", "1 <= K <= N"]),
        bad("partition_k_above_n", &["oom", "--op", "silu", "--partition", "5/4", "--out", "{out}"], &["--partition 5/4", "1 <= K <= N"]),
        bad("partition_not_numbers", &["oom", "--op", "silu", "--partition", "a/b", "--out", "{out}"], &["--partition a/b", "not a number"]),
        bad("jobs_zero", &["oom", "--op", "silu", "--jobs", "0", "--out", "{out}"], &["--jobs must be at least 1"]),
        bad("unknown_backend", &["oom", "--op", "silu", "--backend", "cuda", "--out", "{out}"], &["--backend", "unknown backend `cuda`", "metal"]),
        Bad {
            name: "baseline_bad_json",
            args: &["oom", "--op", "silu", "--baseline", "{dir}/base.json", "--out", "{out}"],
            files: vec![("base.json", "{\"tool\": \"x\", \"cases\": [")],
            expect: &["--baseline", "base.json:1:"],
            runtime: false,
            env: &[],
        },
        bad("baseline_missing", &["oom", "--op", "silu", "--baseline", "{dir}/none.json", "--out", "{out}"], &["--baseline", "none.json"]),
        Bad {
            name: "output_dir_is_a_file",
            args: &["oom", "--op", "silu", "--shape", "1,32,32,32", "--device", "n150", "--out", "{dir}/file"],
            files: vec![("file", "not a directory")],
            expect: &["report directory", "file"],
            runtime: true,
            env: &[],
        },
        Bad {
            name: "output_dir_read_only",
            args: &["oom", "--op", "silu", "--shape", "1,32,32,32", "--device", "n150", "--out", "{readonly}/out"],
            files: vec![],
            expect: &["report directory", "out"],
            runtime: true,
            env: &[],
        },
        Bad {
            name: "missing_runtime",
            args: &["probe", "--op", "silu", "--shape", "1,32,32,32", "--device", "n150"],
            files: vec![],
            expect: &["no TT-NN runtime set up", "cargo xtask setup"],
            runtime: false,
            env: &[("TTNN_OOM_HOME", "{dir}/empty-home")],
        },
        // ---- cargo xtask report
        Bad {
            name: "report_truncated_json",
            args: &["report", "--input", "{dir}/report.json", "--out", "{out}"],
            files: vec![("report.json", "{\"tool\": \"ttnn-oom\", \"cases\": [ {\"id\": ")],
            expect: &["report.json:1:"],
            runtime: false,
            env: &[],
        },
        Bad {
            name: "report_wrong_field",
            args: &["report", "--input", "{dir}/report.json", "--out", "{out}"],
            files: vec![("report.json", "{\"tool\": 7}")],
            expect: &["report.json:1:", "tool"],
            runtime: false,
            env: &[],
        },
        bad("report_input_missing", &["report", "--input", "{dir}/none.json", "--out", "{out}"], &["cannot read", "none.json"]),
        Bad {
            name: "report_output_read_only",
            args: &["report", "--from-model", "--op", "silu", "--shape", "1,32,32,32", "--out", "{readonly}/out"],
            files: vec![],
            expect: &["cannot write", "out"],
            runtime: false,
            env: &[],
        },
        bad("report_filters_without_from_model", &["report", "--op", "silu", "--input", "{dir}/r.json"], &["case filters apply to --from-model only"]),
        // ---- cargo xtask fuzz
        bad("fuzz_unknown_target", &["fuzz", "--target", "nope"], &["--target", "unknown fuzz target `nope`", "shapes_toml"]),
    ]
}

fn runtime_ready() -> bool {
    let home = std::env::var_os("TTNN_OOM_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.ttnn-oom"));
    home.join("runtime.json").is_file()
}

/// A directory no process here can create files in: a read-only bind is not available, and
/// root ignores permission bits, so use a mode-0555 directory when that stops us, else /proc.
fn read_only_dir(scratch: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch.join("read-only");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).unwrap();
    if std::fs::write(dir.join("probe"), b"").is_err() {
        return dir;
    }
    let _ = std::fs::remove_file(dir.join("probe"));
    PathBuf::from("/proc/ttnn-oom-read-only")
}

fn expand(s: &str, dir: &Path, out: &Path, readonly: &Path) -> String {
    s.replace("{dir}", &dir.display().to_string())
        .replace("{out}", &out.display().to_string())
        .replace("{readonly}", &readonly.display().to_string())
}

/// Runs one bad input; Err says what was wrong with how it failed.
fn check(b: &Bad, scratch: &Path) -> Result<String, String> {
    let dir = scratch.join(b.name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("empty-home")).unwrap();
    let out = dir.join("out");
    let readonly = read_only_dir(&dir);
    for (name, contents) in &b.files {
        std::fs::write(dir.join(name), contents).unwrap();
    }
    let args: Vec<String> = b
        .args
        .iter()
        .map(|a| expand(a, &dir, &out, &readonly))
        .collect();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.args(&args)
        .env("RUST_BACKTRACE", "1")
        .env_remove("TTNN_OOM_WORKER_FAULT")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in b.env {
        cmd.env(k, expand(v, &dir, &out, &readonly));
    }
    let started = Instant::now();
    let mut child = cmd.spawn().map_err(|e| format!("spawning xtask: {e}"))?;
    let status = loop {
        if let Some(s) = child.try_wait().map_err(|e| e.to_string())? {
            break s;
        }
        if started.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("hung: no exit within {LIMIT:?}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = child.wait_with_output().map_err(|e| e.to_string())?;
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    if status.success() {
        return Err(format!("exited 0; stderr: {stderr}"));
    }
    if status.code() == Some(101) || stderr.contains("panicked") {
        return Err(format!("panicked: {stderr}"));
    }
    if stderr.contains("Stack backtrace") || stderr.contains("stack backtrace") {
        return Err(format!("printed a backtrace: {stderr}"));
    }
    for want in b.expect {
        let want = expand(want, &dir, &out, &readonly);
        if !stderr.contains(&want) {
            return Err(format!("stderr lacks `{want}`: {stderr}"));
        }
    }
    for name in REPORT_FILES {
        if out.join(name).exists() {
            return Err(format!("left {} behind", out.join(name).display()));
        }
    }
    // No temporary report files either.
    if let Ok(entries) = std::fs::read_dir(&out) {
        let left: Vec<String> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        if !left.is_empty() {
            return Err(format!("left files in {}: {left:?}", out.display()));
        }
    }
    Ok(stderr.trim().lines().last().unwrap_or("").to_string())
}

#[test]
fn every_bad_input_fails_clearly_and_leaves_no_report() {
    let scratch = std::env::temp_dir().join(format!("ttnn-oom-bad-inputs-{}", std::process::id()));
    let cases = catalogue();
    assert!(
        cases.len() >= 30,
        "the catalogue holds {} bad inputs",
        cases.len()
    );
    let ready = runtime_ready();
    let mut failures = Vec::new();
    let mut ran = 0;
    for b in &cases {
        if b.runtime && !ready {
            println!("skip {:<36} (needs `cargo xtask setup`)", b.name);
            continue;
        }
        ran += 1;
        match check(b, &scratch) {
            Ok(line) => println!("ok   {:<36} {line}", b.name),
            Err(why) => {
                println!("FAIL {:<36} {why}", b.name);
                failures.push(format!("{}: {why}", b.name));
            }
        }
    }
    // The read-only directories must be writable again to be removed.
    use std::os::unix::fs::PermissionsExt;
    for b in &cases {
        let _ = std::fs::set_permissions(
            scratch.join(b.name).join("read-only"),
            std::fs::Permissions::from_mode(0o755),
        );
    }
    let _ = std::fs::remove_dir_all(&scratch);
    println!("{ran} of {} bad inputs ran", cases.len());
    assert!(
        failures.is_empty(),
        "{} bad input(s) handled badly:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
