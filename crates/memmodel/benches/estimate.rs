//! The whole-matrix estimate: parse shapes.toml and estimate every case, as `cargo xtask
//! estimate` does (minus printing). Goal: under 50 ms for the default matrix (> 10k cases).
//!
//! `cargo bench -p memmodel --bench estimate`

use criterion::{criterion_group, criterion_main, Criterion};
use memmodel::{config, estimate};
use std::hint::black_box;

fn whole_matrix(c: &mut Criterion) {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shapes.toml")).unwrap();
    let matrix = config::parse(&text, "shapes.toml").unwrap();
    println!("default matrix: {} cases", matrix.cases.len());
    let mut group = c.benchmark_group("estimate");
    group.sample_size(20);
    group.bench_function("parse shapes.toml", |b| {
        b.iter(|| {
            config::parse(black_box(&text), "shapes.toml")
                .unwrap()
                .cases
                .len()
        })
    });
    group.bench_function("estimate every case", |b| {
        b.iter(|| estimate::rows(black_box(&matrix.cases)).len())
    });
    group.bench_function("parse + estimate", |b| {
        b.iter(|| {
            let m = config::parse(black_box(&text), "shapes.toml").unwrap();
            estimate::rows(&m.cases).len()
        })
    });
    group.finish();
}

criterion_group!(benches, whole_matrix);
criterion_main!(benches);
