//! The `metal` backend: the official TT-NN runtime (the pinned `ttnn` wheel) through `ttnn-sys`,
//! on hardware or on tt-metal's mock device.

mod device;
mod ffi;
mod runtime;
mod script;

pub use device::{driver_memory_code, Device, DeviceOptions, Target, Tensor};
pub use ffi::selftest;
pub use runtime::{
    state_dir, workspace_root, Manifest, Runtime, MANIFEST_FILE, MANIFEST_FORMAT, TTNN_VERSION,
};
pub use script::capture_script;
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

#[cfg(test)]
mod tests {
    use memmodel::invoke::{Call, Invocation, Value};
    use memmodel::{BufferType, DType, Layout};

    /// Every kind of argument memmodel can write is one the Python driver interprets.
    #[test]
    fn the_driver_reads_every_value_kind() {
        let values = vec![
            Value::Input(0),
            Value::Step(0),
            Value::Int(1),
            Value::Float(0.5),
            Value::Bool(true),
            Value::Str("nearest".into()),
            Value::List(vec![Value::Int(1)]),
            Value::MemoryConfig(BufferType::L1),
            Value::DType(DType::Bfloat8B),
            Value::Layout(Layout::RowMajor),
            Value::Device,
            Value::None,
            Value::HostTensor {
                shape: vec![64, 3, 3, 3],
                dtype: DType::Bfloat16,
                layout: Layout::RowMajor,
            },
            Value::Attr("TensorMemoryLayout.HEIGHT_SHARDED"),
            Value::Object {
                class: "UnaryWithParam",
                args: vec![Value::Attr("UnaryOpType.SILU")],
                kwargs: Default::default(),
            },
        ];
        let mut call = Call::new("ttnn.add");
        for v in values {
            call = call.arg(v);
        }
        let json: serde_json::Value =
            serde_json::from_str(&Invocation::single(call).to_json()).unwrap();
        let driver = ttnn_sys::DRIVER_SOURCE;
        for arg in json["steps"][0]["args"].as_array().unwrap() {
            let kind = arg["kind"].as_str().unwrap();
            assert!(
                driver.contains(&format!("\"{kind}\"")),
                "the driver does not handle value kind `{kind}`"
            );
            // The names the driver maps to ttnn objects.
            let named = ["memory_config", "d_type", "layout"].contains(&kind);
            if let Some(v) = arg.get("value").and_then(|v| v.as_str()).filter(|_| named) {
                assert!(
                    driver.contains(&format!("\"{v}\"")),
                    "the driver does not know `{v}`"
                );
            }
        }
        assert_eq!(json["output_step"], 0);
    }
}
