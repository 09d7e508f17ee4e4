//! # ttnn — safe TT-NN devices, tensors and ops with typed errors
//!
//! Two backends behind one API ([`DeviceApi`]): `metal` (the real TT-NN runtime through
//! `ttnn-sys`, on hardware or a mock device; [`metal`]) and `sim` (an in-process device built on
//! `memmodel`; [`sim`]). Errors are typed ([`Error`]), parsed from tt-metal's own texts ([`message`]).
//! [`case::run_case`] runs one `memmodel::Case` on any backend.
//!
//! ```no_run
//! use ttnn::{metal, DeviceApi};
//! let rt = metal::Runtime::discover()?; // reads .ttnn-oom/runtime.json (`cargo xtask setup`)
//! let dev = metal::Device::open(&rt, &memmodel::device::N150, metal::DeviceOptions::default())?;
//! let l1 = dev.memory_view(memmodel::BufferType::L1)?;
//! assert_eq!(l1.banks, 64);
//! # Ok::<(), ttnn::Error>(())
//! ```

#![deny(clippy::undocumented_unsafe_blocks)]

pub mod api;
pub mod case;
pub mod error;
pub mod message;
pub mod metal;
pub mod model;
pub mod sim;

pub use api::{Backend, Capture, CoreUsage, DeviceApi, MemoryView, TensorDesc, TensorInfo};
pub use case::{measure_case, run_case, run_case_signed, CaseOutcome, Outputs};
pub use error::{Error, Outcome, Result};
