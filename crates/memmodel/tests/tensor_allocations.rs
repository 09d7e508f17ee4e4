//! memmodel's tensor sizes against what the real runtime allocated, to the byte.
//!
//! `golden/tensor_allocations.json` was produced by the real TT-NN runtime (ttnn 0.81.1 from PyPI)
//! on mock n150 and p150 devices, with the recipe of ../shared/reference/ttnn-mock (V = a venv
//! with `pip install ttnn==0.81.1`, R = the mock root from setup_mock_root.sh):
//!
//! ```text
//! for d in n150 p150; do
//!   TT_METAL_RUNTIME_ROOT=$R/ TT_METAL_MOCK_CLUSTER_DESC_PATH=$REF/$d.yaml TT_METAL_CACHE=$C \
//!     $V/bin/python crates/memmodel/tests/golden/tensor_allocations.py $d \
//!     crates/memmodel/tests/golden/tensor_allocations.json
//! done
//! ```
//!
//! Each case is one `ttnn.empty` on a device opened with `l1_small_size=0`; the numbers are the
//! graph capture's `buffer_allocate` size and max_size_per_bank, or, for the ones that did not
//! fit, the runtime's "Out of Memory" message. The sharded cases (`l1_height_sharded`, ...) give
//! the runtime memmodel's shard spec for the device's grid (the script computes it the same
//! way and records the shard shape): their numbers — bytes, bytes per core, cores used, and the
//! bytes the allocator is asked for when it fails — are the runtime's.

use memmodel::{DType, DeviceSpec, Layout, MemoryConfig, Shape, TensorSpec};
use serde_json::Value;

#[test]
fn tensor_sizes_match_the_runtime_to_the_byte() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/golden/tensor_allocations.json"
    ))
    .unwrap();
    let golden: Value = serde_json::from_str(&text).unwrap();
    let cases = golden["cases"].as_array().unwrap();
    assert!(
        cases.len() >= 20,
        "need at least 20 golden cases, have {}",
        cases.len()
    );
    let mut ooms = 0;
    let mut sharded = 0;
    for case in cases {
        let device = DeviceSpec::by_name(case["device"].as_str().unwrap()).unwrap();
        let dims: Vec<i64> = case["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_i64().unwrap())
            .collect();
        let dtype: DType = case["dtype"].as_str().unwrap().parse().unwrap();
        let layout: Layout = case["layout"].as_str().unwrap().parse().unwrap();
        let config: MemoryConfig = case["memory"].as_str().unwrap().parse().unwrap();
        let memory = config.buffer_type();
        let label = format!("{} {:?} {dtype} {layout} {config}", device.name, dims);
        let tensor = TensorSpec::new(Shape::new(&dims).unwrap(), dtype, layout);
        let placement = match config {
            MemoryConfig::Interleaved(b) => tensor.interleaved(device, b).unwrap(),
            MemoryConfig::Sharded(s) => {
                sharded += 1;
                let (p, spec) = tensor.sharded(device, s).unwrap();
                // The shard spec the golden script gave the runtime is memmodel's.
                let golden_shard: Vec<u64> = case["shard_shape"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| d.as_u64().unwrap())
                    .collect();
                assert_eq!(
                    spec.shard_shape.to_vec(),
                    golden_shard,
                    "shard shape, {label}"
                );
                // Every sharded buffer: the cores it uses are its banks.
                assert_eq!(p.banks, case["banks"].as_u64().unwrap(), "shards, {label}");
                if case["outcome"] == "ok" {
                    assert_eq!(
                        case["tensor_layout"].as_str().unwrap(),
                        s.tt_layout(),
                        "layout, {label}"
                    );
                }
                // What the allocator is asked for: the OOM message's "allocate X B".
                if case["outcome"] == "oom" {
                    assert_eq!(
                        p.request().aligned_size,
                        case["total_bytes"].as_u64().unwrap(),
                        "requested bytes, {label}"
                    );
                }
                p
            }
        };
        let bank = device.bank_bytes(memory, 0);
        if !(placement.sharded && case["outcome"] == "oom") {
            assert_eq!(
                placement.total_bytes,
                case["total_bytes"].as_u64().unwrap(),
                "allocated bytes, {label}"
            );
        }
        assert_eq!(
            placement.per_bank_bytes,
            case["per_bank_bytes"].as_u64().unwrap(),
            "per-bank bytes, {label}"
        );
        assert_eq!(
            bank,
            case["bank_bytes"].as_u64().unwrap(),
            "bank size, {label}"
        );
        let fits = placement.per_bank_bytes <= bank;
        assert_eq!(fits, case["outcome"] == "ok", "verdict, {label}");
        if case["outcome"] == "oom" {
            ooms += 1;
            assert_eq!(
                placement.banks,
                case["banks"].as_u64().unwrap(),
                "banks, {label}"
            );
        }
    }
    assert!(ooms > 0, "the golden set should hold some OOM cases");
    assert!(sharded >= 20, "need sharded golden cases, have {sharded}");
}
