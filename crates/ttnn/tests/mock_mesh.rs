//! memmodel's n300 mesh against the real runtime on a mock n300: tt-metal opens memmodel's
//! two-chip descriptor (`MeshSpec::mock_cluster_descriptor`) as a 1×2 mesh, each chip has the
//! n150 chip's L1 and DRAM banks, a replicated tensor takes memmodel's per-chip bytes per bank
//! on each chip, a tensor sharded over the two chips takes the per-chip case's, and an L1 tensor
//! too large for one chip fails with tt-metal's message carrying memmodel's per-chip numbers.
//!
//! The mesh runs in its own Python process (the venv `cargo xtask setup` made): one process can
//! only ever open one kind of cluster. Reported skipped where the runtime is not set up.

use memmodel::mesh::{per_chip_case, Distribution, N300};
use memmodel::{BufferType, Case, DType, DeviceLayout, Expectation, Layout, Params, Shape};
use serde_json::Value;
use ttnn::metal::{state_dir, Manifest};

const SCRIPT: &str = r#"
import json, sys
import ttnn
cases = json.loads(sys.argv[1])
mesh = ttnn.open_mesh_device(ttnn.MeshShape(1, 2))
out = {"devices": mesh.get_num_devices(), "banks": {}, "cases": []}
for name, bt in (("L1", ttnn.BufferType.L1), ("DRAM", ttnn.BufferType.DRAM)):
    mv = ttnn.get_memory_view(mesh, bt)
    out["banks"][name] = [mv.num_banks, mv.total_bytes_per_bank]
for c in cases:
    bt = ttnn.BufferType.L1 if c["memory"] == "L1" else ttnn.BufferType.DRAM
    mc = ttnn.L1_MEMORY_CONFIG if c["memory"] == "L1" else ttnn.DRAM_MEMORY_CONFIG
    before = ttnn.get_memory_view(mesh, bt).total_bytes_allocated_per_bank
    try:
        t = ttnn.empty(c["shape"], dtype=ttnn.bfloat16, layout=ttnn.TILE_LAYOUT, device=mesh, memory_config=mc)
        per_bank = ttnn.get_memory_view(mesh, bt).total_bytes_allocated_per_bank - before
        ttnn.deallocate(t)
        del t
        out["cases"].append({"per_bank": per_bank, "error": None})
    except Exception as e:
        # tt-metal's message, without the location line and the backtrace.
        out["cases"].append({"per_bank": None, "error": str(e).split("info:")[-1].split("backtrace:")[0].strip()})
    after = ttnn.get_memory_view(mesh, bt).total_bytes_allocated_per_bank
    out["cases"][-1]["leaked"] = after - before
ttnn.close_mesh_device(mesh)
print("MESH-JSON " + json.dumps(out))
"#;

fn silu(shape: &str, memory: BufferType) -> Case {
    Case {
        op: memmodel::find_op("silu").unwrap(),
        shape_set: None,
        model_inputs: vec![Shape::parse(shape).unwrap()],
        device_layout: DeviceLayout::Nhwc,
        params: Params::default(),
        dtype: DType::Bfloat16,
        layout: Layout::Tile,
        input_memory: memory,
        output_memory: memory,
        default_output_memory: false,
        sharding: None,
        device: N300.chip,
        expect: Expectation::Any,
    }
}

#[test]
fn the_mock_n300_is_two_n150_chips_and_holds_memmodels_per_chip_bytes() {
    let state = state_dir();
    let Ok(manifest) = Manifest::load(&state) else {
        if std::env::var_os("TTNN_OOM_REQUIRE_RUNTIME").is_some_and(|v| v != "0") {
            panic!("TTNN_OOM_REQUIRE_RUNTIME is set but the runtime is not set up");
        }
        println!("skipped: the real TT-NN runtime is not set up; run `cargo xtask setup`");
        return;
    };
    let dir = std::env::temp_dir().join(format!("ttnn-oom-mesh-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let descriptor = dir.join("n300.yaml");
    std::fs::write(&descriptor, N300.mock_cluster_descriptor().unwrap()).unwrap();

    // (case, how it is laid over the chips): the device tensor of each chip's share.
    let cases: Vec<(Case, Distribution)> = vec![
        (
            silu("1,96,1088,1920", BufferType::Dram),
            Distribution::Replicated,
        ),
        (
            silu("1,96,1088,1920", BufferType::Dram),
            Distribution::Sharded { dim: 2 },
        ),
        (
            silu("1,64,160,100", BufferType::L1),
            Distribution::Replicated,
        ),
        (
            silu("1,64,640,400", BufferType::L1),
            Distribution::Sharded { dim: 2 },
        ),
        // One chip's share still exceeds its L1: the mesh must fail like one chip.
        (
            silu("1,96,1088,1920", BufferType::L1),
            Distribution::Sharded { dim: 2 },
        ),
    ];
    let chip_cases: Vec<Case> = cases
        .iter()
        .map(|(c, d)| per_chip_case(c, &N300, *d).expect("a per-chip case"))
        .collect();
    let request: Vec<Value> = chip_cases
        .iter()
        .map(|c| {
            let e = c.estimate().unwrap();
            serde_json::json!({
                "shape": e.primary.shape.dims(),
                "memory": e.placement.buffer_type.tt_name(),
            })
        })
        .collect();

    let mut env = manifest.environment();
    env.extend(manifest.device_environment(Some("n150")).unwrap());
    env.insert(
        "TT_METAL_MOCK_CLUSTER_DESC_PATH".into(),
        descriptor.to_string_lossy().into_owned(),
    );
    let python = manifest.venv.join("bin/python");
    let out = std::process::Command::new(&python)
        .arg("-c")
        .arg(SCRIPT)
        .arg(serde_json::to_string(&request).unwrap())
        .envs(&env)
        .env_remove("PYTHONHOME")
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", python.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("MESH-JSON "))
        .unwrap_or_else(|| {
            panic!(
                "the mesh script printed no result ({}):\n{stdout}\n{stderr}",
                out.status
            )
        });
    let got: Value = serde_json::from_str(line).unwrap();
    let _ = std::fs::remove_dir_all(&dir);

    println!("mock n300: {got}");
    let chip = N300.chip;
    assert_eq!(got["devices"], 2, "a 1×2 mesh");
    assert_eq!(
        got["banks"]["L1"],
        serde_json::json!([chip.l1_banks, chip.l1_bank_bytes]),
        "each chip's L1 banks are the n150 chip's"
    );
    assert_eq!(
        got["banks"]["DRAM"],
        serde_json::json!([chip.dram_banks, chip.dram_bank_bytes]),
        "each chip's DRAM banks are the n150 chip's"
    );
    for ((case, dist), (chip_case, answer)) in cases
        .iter()
        .zip(chip_cases.iter().zip(got["cases"].as_array().unwrap()))
    {
        let what = format!("{} {:?} on n300", case.id(), dist);
        let e = chip_case.estimate().unwrap();
        assert_eq!(answer["leaked"], 0, "{what}: memory back at its baseline");
        let input = &e.plan.buffers[0].placement;
        let bank = chip_bank_bytes(input.buffer_type);
        match (&answer["error"], input.per_bank_bytes <= bank) {
            (Value::Null, true) => assert_eq!(
                answer["per_bank"].as_u64(),
                Some(input.per_bank_bytes),
                "{what}: per-bank bytes on each chip"
            ),
            (Value::String(msg), false) => {
                // The first allocation on an empty chip: nothing allocated, the whole bank free.
                let want = memmodel::case::oom_message(
                    input.total_bytes,
                    input.buffer_type,
                    input.banks,
                    input.per_bank_bytes,
                    bank,
                    0,
                    bank,
                    bank,
                );
                assert!(
                    msg.contains(&want),
                    "{what}: tt-metal's message\n  {msg}\nshould carry memmodel's per-chip numbers\n  {want}"
                );
            }
            (err, fits) => panic!("{what}: the runtime said {err}, memmodel says fits={fits}"),
        }
    }
}

fn chip_bank_bytes(bt: BufferType) -> u64 {
    match bt {
        BufferType::Dram => N300.chip.dram_bank_bytes,
        _ => N300.chip.l1_bank_bytes,
    }
}
