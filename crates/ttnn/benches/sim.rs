//! One case on the embedded `sim` device, as `cargo xtask oom` runs it (`ttnn::run_case`:
//! inputs, the op, frees, the allocator checks before and after): the first case of every op
//! on each board, one benchmark per op. `cargo xtask bench` puts the same cases side by side
//! with the real runtime; this one needs nothing installed and shows where sim's time goes.
//!
//! `cargo bench -p ttnn --bench sim`

use criterion::{criterion_group, criterion_main, Criterion};
use memmodel::config;
use std::collections::BTreeSet;
use std::hint::black_box;

fn one_case_per_op(c: &mut Criterion) {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shapes.toml")).unwrap();
    let matrix = config::parse(&text, "shapes.toml").unwrap();
    let mut seen = BTreeSet::new();
    let mut group = c.benchmark_group("sim run_case");
    group.sample_size(20);
    for case in &matrix.cases {
        if !seen.insert((case.op.name, case.device.name)) {
            continue;
        }
        let l1_small = case.signature().map(|s| s.l1_small_bytes).unwrap_or(0);
        let device = ttnn::sim::Device::open(
            case.device,
            ttnn::sim::DeviceOptions::with_l1_small(l1_small),
        )
        .unwrap();
        group.bench_function(case.id(), |b| {
            b.iter(|| ttnn::run_case(&device, black_box(case)).unwrap().outcome)
        });
    }
    group.finish();
}

criterion_group!(benches, one_case_per_op);
criterion_main!(benches);
