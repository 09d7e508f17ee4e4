//! # oom-suite — per-operator OOM tests generated from shapes.toml, and their report
//!
//! For every operator and case: an OOM test (fits → pass, out of memory → ignored with an
//! "Expected OOM" message, anything else → fail) and a memory-estimation test (theoretical vs
//! modeled vs actual). [`record`] holds the data of a run (`report.json`).

pub mod baseline;
pub mod calibration;
pub mod record;
pub mod report;
pub mod runner;
pub mod spill;
pub mod worker;
