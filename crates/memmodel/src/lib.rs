//! # memmodel — how much memory a TT-NN operator needs, without a device
//!
//! Pure Rust, no I/O beyond parsing text it is given, no `unsafe`. It knows:
//! - tensors: logical ("theoretical") bytes, TILE padding, pages, page sizes and bank alignment
//!   ([`tensor`]);
//! - devices: bank counts and sizes measured on the real runtime ([`device`]);
//! - operators: the TT-NN call each suite operator maps to, its inputs and outputs ([`ops`]);
//! - cases: one op call at a shape / dtype / layout / memory / device, its plan of buffers and
//!   a predicted verdict with the numbers tt-metal's OOM message would carry ([`case`]);
//! - the case matrix users edit, `shapes.toml` ([`config`]).
//!
//! All size arithmetic is `u64` with checked operations ([`size`]).

pub mod alloc;
pub mod capture;
pub mod case;
pub mod config;
pub mod coverage;
pub mod device;
pub mod dtype;
pub mod error;
pub mod estimate;
pub mod exec;
pub mod fix;
pub mod gaps;
pub mod invoke;
pub mod layout;
pub mod mesh;
pub mod model;
pub mod model_fix;
pub mod ops;
pub mod params;
pub mod plan;
pub mod program;
pub mod shape;
pub mod shard;
pub mod size;
pub mod space;
pub mod tensor;
pub mod threshold;
pub mod trace;

pub use case::{Case, Estimate, Expectation, OomDetail, Plan, Verdict};
pub use device::{BufferType, DeviceSpec};
pub use dtype::DType;
pub use layout::{DeviceLayout, Layout};
pub use ops::{find as find_op, OpDef, OPS};
pub use params::{ParamValue, Params};
pub use shape::Shape;
pub use shard::{MemoryConfig, ShardStrategy};
pub use tensor::TensorSpec;
