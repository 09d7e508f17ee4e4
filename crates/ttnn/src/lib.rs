//! # ttnn — safe TT-NN devices, tensors and ops with typed errors
//!
//! Two backends behind one API: `metal` (the real TT-NN runtime through `ttnn-sys`, on hardware
//! or a mock device) and `sim` (an in-process device built on `memmodel`).
