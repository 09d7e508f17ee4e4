//! The C API without a runtime, and the safe layer's argument checks.
//!
//! - Every entry point of `ttnn_shim.h` with arbitrary arguments: NULL, made-up and
//!   stack-address handles, NULL and valid out-pointers, any codes, shapes and ranks, arbitrary
//!   env_json. With no runtime loaded each call must come back with an error status and a
//!   message (never OK for a handle the shim did not issue, never a crash: the shim checks
//!   handles against its registry before touching them).
//! - `ttnn_runtime_init` with a libpython that does not exist and arbitrary env_json: parsed
//!   first, so malformed JSON is TTNN_ERR_INVALID_ARGUMENT and well-formed JSON reaches the
//!   load (TTNN_ERR_UNAVAILABLE).
//! - `TensorDesc::validate` (what the safe layer checks before calling the shim) on arbitrary
//!   shapes and codes: a clear error or Ok, and Ok means memmodel can size the tensor.
#![no_main]

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use std::ffi::{CStr, CString};
use ttnn_sys as sys;

const MISSING_LIBPYTHON: &CStr = c"/nonexistent/ttnn-oom-fuzz/libpython.so";

fn last_error() -> String {
    // SAFETY: ttnn_last_error returns a NUL-terminated thread-local string, valid until the next
    // shim call on this thread; it is copied at once.
    unsafe { CStr::from_ptr(sys::ttnn_last_error()) }
        .to_string_lossy()
        .into_owned()
}

fn expect_error(rc: i32, what: &str) {
    assert_ne!(rc, sys::TTNN_OK, "{what} succeeded without a runtime");
    assert!(!last_error().is_empty(), "{what}: no message (rc {rc})");
}

/// A handle-looking pointer: NULL, small integers, wild addresses, or the address of stack
/// memory (never a handle the shim issued: none can exist without a runtime).
fn handle<T>(u: &mut Unstructured, stack: *mut u64) -> Result<*mut T> {
    Ok(match u.int_in_range(0u8..=3)? {
        0 => std::ptr::null_mut(),
        1 => u.int_in_range(1usize..=4096)? as *mut T,
        2 => u.arbitrary::<usize>()?.max(1) as *mut T,
        _ => stack.cast(),
    })
}

fn c_api(u: &mut Unstructured) -> Result<()> {
    let mut stack = [0u64; 16];
    let sp = stack.as_mut_ptr();
    let dims: Vec<u64> = (0..u.int_in_range(0usize..=12)?)
        .map(|_| u.arbitrary())
        .collect::<Result<_>>()?;
    // The rank may claim fewer dims than the buffer holds, never more (C contract).
    let rank = u.int_in_range(0..=dims.len())?;
    for _ in 0..u.int_in_range(1usize..=8)? {
        let dev = handle::<sys::ttnn_device>(u, sp)?;
        let t = handle::<sys::ttnn_tensor>(u, sp)?;
        let mut out_str: *mut std::ffi::c_char = std::ptr::null_mut();
        let mut out_dev: *mut sys::ttnn_device = std::ptr::null_mut();
        let mut out_t: *mut sys::ttnn_tensor = std::ptr::null_mut();
        let code: i32 = u.arbitrary()?;
        let code2: i32 = u.arbitrary()?;
        let code3: i32 = u.arbitrary()?;
        // SAFETY (every call below): pointers are NULL, point at live locals of the right type,
        // or are handle-looking values the shim must reject without dereferencing; lengths never
        // exceed the buffers passed with them.
        match u.int_in_range(0u8..=13)? {
            0 => expect_error(unsafe { sys::ttnn_runtime_version(&mut out_str) }, "version"),
            1 => expect_error(
                unsafe { sys::ttnn_device_open(code, u.arbitrary()?, std::ptr::null(), &mut out_dev) },
                "device_open",
            ),
            2 => expect_error(unsafe { sys::ttnn_device_close(dev) }, "device_close"),
            3 => expect_error(unsafe { sys::ttnn_device_describe(dev, &mut out_str) }, "describe"),
            4 => expect_error(
                unsafe { sys::ttnn_device_clear_program_cache(dev) },
                "clear_program_cache",
            ),
            5 => {
                let mut v = sys::ttnn_memory_view::default();
                expect_error(unsafe { sys::ttnn_memory_view_get(dev, code, &mut v) }, "memory_view")
            }
            6 => expect_error(
                unsafe {
                    sys::ttnn_tensor_empty(dev, dims.as_ptr(), rank, code, code2, code3, &mut out_t)
                },
                "tensor_empty",
            ),
            7 => {
                let rc = unsafe { sys::ttnn_tensor_free(t) };
                if t.is_null() {
                    assert_eq!(rc, sys::TTNN_OK, "freeing NULL is a no-op");
                } else {
                    assert_eq!(rc, sys::TTNN_ERR_INVALID_ARGUMENT, "{}", last_error());
                }
            }
            8 => {
                let mut out_dims = [0u64; 8];
                let mut r = 0usize;
                let cap = u.int_in_range(0usize..=8)?;
                expect_error(
                    unsafe { sys::ttnn_tensor_shape(t, out_dims.as_mut_ptr(), cap, &mut r) },
                    "tensor_shape",
                )
            }
            9 => expect_error(unsafe { sys::ttnn_tensor_describe(t, &mut out_str) }, "tensor_describe"),
            10 => {
                let json = CString::new(u.arbitrary::<String>()?.replace('\0', "")).unwrap_or_default();
                let inputs = [t, t];
                let n = u.int_in_range(0usize..=2)?;
                let mut outs: *mut *mut sys::ttnn_tensor = std::ptr::null_mut();
                let mut n_out = 0usize;
                expect_error(
                    unsafe { sys::ttnn_run(dev, json.as_ptr(), inputs.as_ptr(), n, &mut outs, &mut n_out) },
                    "run",
                );
                assert!(outs.is_null() && n_out == 0);
            }
            11 => expect_error(unsafe { sys::ttnn_capture_begin(dev) }, "capture_begin"),
            12 => {
                let mut usage = sys::ttnn_core_usage::default();
                expect_error(
                    unsafe { sys::ttnn_capture_end(dev, &mut usage, &mut out_str) },
                    "capture_end",
                )
            }
            _ => {
                let which = *u.choose(&[
                    sys::TTNN_SELFTEST_CXX_EXCEPTION,
                    sys::TTNN_SELFTEST_UNKNOWN_EXCEPTION,
                    sys::TTNN_SELFTEST_PYTHON_EXCEPTION,
                    code,
                ])?;
                expect_error(unsafe { sys::ttnn_selftest(which) }, "selftest")
            }
        }
        assert!(out_str.is_null() && out_dev.is_null() && out_t.is_null(), "an out-pointer was set on failure");
        assert_eq!(stack, [0u64; 16], "the shim wrote through a handle it did not issue");
    }
    // env_json, parsed before libpython is loaded.
    let env: String = u.arbitrary()?;
    let Ok(env_c) = CString::new(env.clone()) else {
        return Ok(());
    };
    // SAFETY: both strings are NUL-terminated and live for the call.
    let rc = unsafe { sys::ttnn_runtime_init(MISSING_LIBPYTHON.as_ptr(), c"".as_ptr(), env_c.as_ptr()) };
    assert!(
        rc == sys::TTNN_ERR_INVALID_ARGUMENT || rc == sys::TTNN_ERR_UNAVAILABLE,
        "init returned {rc} for env_json {env:?}: {}",
        last_error()
    );
    // SAFETY: no arguments.
    assert_eq!(unsafe { sys::ttnn_runtime_initialized() }, 0);
    Ok(())
}

fn tensor_desc(u: &mut Unstructured) -> Result<()> {
    use memmodel::{BufferType, DType, Layout};
    let shape: Vec<u64> = (0..u.int_in_range(0usize..=10)?)
        .map(|_| {
            Ok(match u.int_in_range(0u8..=3)? {
                0 => u.int_in_range(0u64..=64)?,
                1 => u.int_in_range(1u64..=1 << 20)?,
                2 => u64::from(u32::MAX) + u.int_in_range(0u64..=1)?,
                _ => u.arbitrary()?,
            })
        })
        .collect::<Result<_>>()?;
    let desc = ttnn::TensorDesc {
        shape,
        dtype: *u.choose(&DType::ALL)?,
        layout: *u.choose(&[Layout::Tile, Layout::RowMajor])?,
        buffer_type: *u.choose(&[BufferType::L1, BufferType::Dram, BufferType::L1Small])?,
        sharding: *u.choose(&[
            None,
            Some(memmodel::ShardStrategy::Height),
            Some(memmodel::ShardStrategy::Width),
            Some(memmodel::ShardStrategy::Block),
        ])?,
    };
    match desc.validate() {
        Err(e) => assert!(matches!(e, ttnn::Error::InvalidArgument(_)) && !e.to_string().is_empty()),
        Ok(()) => {
            let shape = memmodel::Shape::from_dims(desc.shape.clone()).expect("validated");
            let spec = memmodel::TensorSpec::new(shape, desc.dtype, desc.layout);
            spec.logical_bytes().expect("a validated tensor's logical bytes fit in u64");
            spec.padded_bytes().expect("a validated tensor's padded bytes fit in u64");
            for device in memmodel::device::DEVICES {
                memmodel::plan::placement_in(&spec, device, desc.config())
                    .expect("a validated tensor's placement fits in u64");
            }
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    if data.first().is_some_and(|b| b & 1 == 0) {
        let _ = c_api(&mut u);
    } else {
        let _ = tensor_desc(&mut u);
    }
});
