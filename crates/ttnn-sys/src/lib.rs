//! # ttnn-sys — raw, unsafe FFI to the TT-NN runtime
//!
//! A small C API (`include/ttnn_shim.h`) implemented by a C++ shim that embeds CPython (loaded
//! with `dlopen` at run time, so building needs no Python headers) and drives the official `ttnn`
//! package. Every entry point catches every exception and Python error and returns a status
//! code; the message is kept in thread-local storage. Safe wrappers live in the `ttnn` crate.
