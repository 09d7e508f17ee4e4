//! The `metal` backend: the official TT-NN runtime (the pinned `ttnn` wheel) through `ttnn-sys`,
//! on hardware or on tt-metal's mock device.

mod device;
mod ffi;
mod runtime;

pub use device::{Device, DeviceOptions, Target, Tensor};
pub use ffi::selftest;
pub use runtime::{
    state_dir, workspace_root, Manifest, Runtime, MANIFEST_FILE, MANIFEST_FORMAT, TTNN_VERSION,
};
pub use ttnn_sys::{
    TTNN_SELFTEST_CXX_EXCEPTION, TTNN_SELFTEST_PYTHON_EXCEPTION, TTNN_SELFTEST_UNKNOWN_EXCEPTION,
};

use crate::error::Result;
use memmodel::DeviceSpec;

/// Starts the runtime `cargo xtask setup` installed and opens a mock `spec`.
pub fn open_mock(spec: &'static DeviceSpec, l1_small_size: u64) -> Result<Device> {
    let rt = Runtime::discover()?;
    Device::open(&rt, spec, DeviceOptions::with_l1_small(l1_small_size))
}
