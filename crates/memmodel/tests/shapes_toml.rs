//! The project's own shapes.toml loads, and covers what the seeds name.

use memmodel::config::{self, Matrix};
use memmodel::Shape;
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn load() -> Matrix {
    let path = root().join("shapes.toml");
    let text = std::fs::read_to_string(&path).expect("shapes.toml at the workspace root");
    config::parse(&text, "shapes.toml").unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn loads_and_every_op_of_the_catalog_runs() {
    let m = load();
    for op in memmodel::OPS {
        assert!(
            m.ops.iter().any(|e| e.op.name == op.name),
            "shapes.toml has no [ops.{}]",
            op.name
        );
    }
    assert!(m.cases.len() > 1000, "{} cases", m.cases.len());
}

#[test]
fn covers_every_shape_the_seeds_name() {
    let m = load();
    let all: Vec<&Shape> = m
        .sets
        .values()
        .flat_map(|s| s.entries.iter().flat_map(|e| e.inputs.iter()))
        .collect();
    // Seed 000's four shapes, the YOLOv12x pyramid, and every shape seed 002's report names.
    let named = [
        "1,3,1280,1280",
        "1,64,1280,800",
        "1,128,640,400",
        "1,256,320,200",
        "1,3,2176,3840",
        "1,96,1088,1920",
        "1,192,544,960",
        "1,384,272,480",
        "1,768,136,240",
        "1,1152,68,120",
        "1,96,2160,3840",
        "1,192,1080,1920",
        "1,384,540,960",
        "1,768,270,480",
        "1,1536,135,240",
        "1,96,1080,1920",
        "1,192,540,960",
        "1,384,270,480",
        "1,96,2160,1920",
        "1,192,1080,960",
        "1,384,540,480",
        "1,768,270,240",
        "1,96,540,960",
        "1,3,4320,7680",
        "1,96,4320,1920",
        "1,96,2176,3840",
        "1,192,2176,1920",
        "1,768,135,240",
        "12,8160,8160",
        "1,12,8160,8160",
        "64000,512",
        "1",
    ];
    for s in named {
        let shape = Shape::parse(s).unwrap();
        assert!(all.contains(&&shape), "no shape set holds [{s}]");
    }
}

#[test]
fn covers_every_entry_of_the_original_suite() {
    let m = load();
    let text = std::fs::read_to_string(root().join("data/seed_suite_cases.json")).unwrap();
    let data: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut checked = 0;
    for (rev, ops) in data["suites"].as_object().unwrap() {
        for (op, v) in ops.as_object().unwrap() {
            let set = m.sets.get(&format!("seed_{rev}_{op}"));
            let shapes = v["shapes"].as_array().unwrap();
            if shapes.is_empty() {
                continue;
            }
            let set = set.unwrap_or_else(|| panic!("no shape set seed_{rev}_{op}"));
            assert_eq!(set.entries.len(), shapes.len(), "seed_{rev}_{op}");
            for (entry, shape) in set.entries.iter().zip(shapes) {
                let dims: Vec<i64> = shape
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| d.as_i64().unwrap())
                    .collect();
                let shape = Shape::new(&dims).unwrap();
                // Linear entries give [1,M,K] with its weight, as the suite built them.
                let first = &entry.inputs[0];
                assert!(
                    first == &shape || first.dims().ends_with(&[shape.dims()[shape.rank() - 1]]),
                    "seed_{rev}_{op}: {first} vs {shape}"
                );
                checked += 1;
            }
            assert!(
                m.ops
                    .iter()
                    .any(|e| e.op.name == op && e.sets.contains(&set.name)),
                "op {op} does not run seed_{rev}_{op}"
            );
        }
    }
    assert_eq!(checked, 1606);
}

/// Prints the cases shapes.toml cannot form as JSON lines (set, entry index, message); used when
/// regenerating the seed-suite sets: `cargo test -p memmodel --test shapes_toml -- --ignored --nocapture list_invalid`.
#[test]
#[ignore = "a tool, not a check"]
fn list_invalid() {
    let text = std::fs::read_to_string(root().join("shapes.toml")).unwrap();
    let (_, invalid) = config::parse_lenient(&text, "shapes.toml").unwrap();
    for e in invalid {
        println!(
            "INVALID {}",
            serde_json::json!({"line": e.line, "field": e.field, "message": e.message})
        );
    }
}

#[test]
fn the_default_matrix_is_large_and_deduplicated() {
    let m = load();
    let mut ids: Vec<String> = m.cases.iter().map(|c| c.id()).collect();
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n);
    println!("{n} cases");
}
