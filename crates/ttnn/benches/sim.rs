//! One case on the embedded `sim` device, as `cargo xtask oom` runs it and `cargo xtask bench`
//! times it (`ttnn::run_case_signed` on the case's signature, built once outside the timing as
//! the runner builds it for the record's estimate; inputs, the op, frees, the allocator checks
//! before and after; outputs not described): the first case of every op on each board, one
//! benchmark per op. `cargo xtask bench` puts the same cases side by side
//! with the real runtime; this one needs nothing installed and shows where sim's time goes.
//!
//! Also the whole-model plans the issue times: YOLOv12x at 4320x7680 on each board, built and
//! replayed on sim, and the same with `--fix`'s search (`ttnn::model::fix_on_sim`, every
//! changed model built and replayed): each must take under a second.
//!
//! `cargo bench -p ttnn --bench sim` (`-- yolov12x` for the model plans alone)

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
        let sig = case.signature().unwrap();
        let l1_small = sig.l1_small_bytes;
        let device = ttnn::sim::Device::open(
            case.device,
            ttnn::sim::DeviceOptions::with_l1_small(l1_small),
        )
        .unwrap();
        group.bench_function(case.id(), |b| {
            b.iter(|| {
                ttnn::run_case_signed(&device, black_box(case), &sig, ttnn::Outputs::Skip)
                    .unwrap()
                    .outcome
            })
        });
    }
    group.finish();
}

fn yolov12x_at_8k(c: &mut Criterion) {
    let text = memmodel::model::builtin("yolov12x").unwrap();
    let mut group = c.benchmark_group("yolov12x 4320x7680");
    group.sample_size(10);
    for device in [&memmodel::device::N150, &memmodel::device::P150] {
        group.bench_function(format!("plan on sim, {}", device.name), |b| {
            b.iter(|| {
                let model = memmodel::model::ModelFile::parse(text, "yolov12x.toml")
                    .and_then(|f| f.build(Some([4320, 7680]), device))
                    .unwrap();
                ttnn::model::run_on_sim(black_box(&model)).unwrap().failure
            })
        });
        group.bench_function(
            format!("plan and --fix search on sim, {}", device.name),
            |b| {
                b.iter(|| {
                    ttnn::model::fix_on_sim(
                        black_box(text),
                        "yolov12x.toml",
                        Some([4320, 7680]),
                        device,
                    )
                    .unwrap()
                    .replays
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, one_case_per_op, yolov12x_at_8k);
criterion_main!(benches);
