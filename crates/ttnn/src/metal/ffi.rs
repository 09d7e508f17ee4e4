//! The thin layer over `ttnn-sys`: status codes to [`Error`]s, shim strings to Rust strings.

use crate::error::{Error, Result};
use crate::message::parse_runtime_error;
use std::ffi::{c_char, CStr};
use ttnn_sys as sys;

/// The shim's message for the last failed call on this thread.
pub(crate) fn last_error() -> String {
    // SAFETY: ttnn_last_error takes no arguments and returns a pointer to a NUL-terminated
    // thread-local string that stays valid until the next shim call on this thread; we copy it
    // before making any other call.
    unsafe {
        let p = sys::ttnn_last_error();
        if p.is_null() {
            String::new()
        } else {
            CStr::from_ptr(p).to_string_lossy().into_owned()
        }
    }
}

/// The error a status code stands for, with the thread's last message.
pub(crate) fn error_for(rc: i32, message: String) -> Error {
    match rc {
        sys::TTNN_ERR_RUNTIME => parse_runtime_error(&message),
        sys::TTNN_ERR_INVALID_ARGUMENT => Error::InvalidArgument(message),
        sys::TTNN_ERR_UNAVAILABLE => Error::RuntimeUnavailable(message),
        sys::TTNN_ERR_PYTHON => Error::Python(message),
        sys::TTNN_ERR_CXX => Error::Cpp(message),
        sys::TTNN_ERR_UNSUPPORTED => Error::Unsupported(message),
        sys::TTNN_ERR_STATE => Error::State(message),
        other => Error::Other(format!("unknown status {other} from the shim: {message}")),
    }
}

/// `Ok(())` for `TTNN_OK`, else the typed error of the status and the thread's message.
pub(crate) fn check(rc: i32) -> Result<()> {
    if rc == sys::TTNN_OK {
        Ok(())
    } else {
        Err(error_for(rc, last_error()))
    }
}

/// Takes ownership of a string the shim returned and frees it.
///
/// # Safety
/// `p` must be NULL or a string returned by the shim through a `char**` out-parameter that has
/// not been freed yet.
pub(crate) unsafe fn take_string(p: *mut c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: the caller guarantees `p` is a live NUL-terminated shim string.
    let s = unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned();
    // SAFETY: `p` came from the shim's allocator and is freed exactly once, here.
    unsafe { sys::ttnn_string_free(p) };
    s
}

/// Calls a shim function that returns a string through `char**`.
pub(crate) fn string_out(f: impl FnOnce(*mut *mut c_char) -> i32) -> Result<String> {
    let mut p: *mut c_char = std::ptr::null_mut();
    let rc = f(&mut p);
    // SAFETY: on any status the out-parameter is NULL or a fresh shim string we now own.
    let s = unsafe { take_string(p) };
    check(rc)?;
    Ok(s)
}

/// Provokes a failure inside the shim (`TTNN_SELFTEST_*`), for tests.
pub fn selftest(which: i32) -> Result<()> {
    // SAFETY: ttnn_selftest takes a plain integer and touches no caller memory.
    check(unsafe { sys::ttnn_selftest(which) })
}
