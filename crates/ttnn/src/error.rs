//! Typed errors. Runtime failures are classified from tt-metal's own text (see [`crate::message`]);
//! every variant keeps the text it came from.

use memmodel::BufferType;
use serde::Serialize;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong talking to a device.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Error {
    /// The allocator could not place a buffer (tt-metal bank_manager.cpp "Out of Memory").
    #[error("{raw}")]
    OutOfMemory {
        buffer_type: BufferType,
        total_bytes: u64,
        banks: u64,
        /// Bytes the buffer needs in each bank.
        per_bank_bytes: u64,
        /// Allocatable bytes of one bank.
        bank_bytes: u64,
        /// Per-bank bytes already allocated / free / in the largest free block at the time.
        allocated: u64,
        free: u64,
        largest_free_block: u64,
        raw: String,
    },
    /// A program's static circular (or dataflow) buffers reach above the lowest L1 buffer.
    #[error("{raw}")]
    CircularBufferClash {
        program: u64,
        core_range: String,
        l1_buffer_at: u64,
        cb_region_end: u64,
        /// The message spoke of "dataflow buffers" (newer program factories).
        dataflow: bool,
        raw: String,
    },
    /// A program's static circular (or dataflow) buffers grow past the end of L1.
    #[error("{raw}")]
    CircularBuffersExceedL1 {
        core_range: String,
        cb_region_end: u64,
        /// L1 bytes per core.
        l1_bytes: u64,
        dataflow: bool,
        raw: String,
    },
    /// An allocation in L1_SMALL did not fit the region reserved at device open.
    #[error("{raw}")]
    L1SmallTooSmall {
        total_bytes: u64,
        banks: u64,
        per_bank_bytes: u64,
        /// The L1_SMALL bytes per bank the device was opened with.
        l1_small_bytes: u64,
        raw: String,
    },
    /// The request was malformed or rejected by type (wrong argument names, bad handle, ...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The runtime lacks what was asked for (a function, a backend, a device kind).
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The `sim` backend has no model of this call (memmodel says why): no verdict, ask the
    /// runtime (`--backend metal` or `auto`).
    #[error("unmodeled: {0}")]
    Unmodeled(String),
    /// The runtime is not installed or cannot start.
    #[error("runtime unavailable: {0}")]
    RuntimeUnavailable(String),
    /// The call is not allowed now (a device already open, no capture running, ...).
    #[error("invalid state: {0}")]
    State(String),
    /// A Python exception that is not one of the runtime's own errors.
    #[error("python error: {0}")]
    Python(String),
    /// A C++ exception inside the shim.
    #[error("C++ exception: {0}")]
    Cpp(String),
    /// Any other runtime error, with tt-metal's text.
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// memmodel's refusal of a call as this crate's error: a call it does not model becomes
    /// [`Error::Unmodeled`] ("unmodeled: ttnn.op: reason", the class said once), anything else
    /// an invalid argument in memmodel's words.
    pub(crate) fn from_plan(e: memmodel::ops::CaseError) -> Self {
        match e {
            memmodel::ops::CaseError::Unmodeled { function, what } => {
                Error::Unmodeled(format!("{function}: {what}"))
            }
            other => Error::InvalidArgument(other.to_string()),
        }
    }

    /// The variant's name, snake_case (`out_of_memory`, `circular_buffer_clash`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Error::OutOfMemory { .. } => "out_of_memory",
            Error::CircularBufferClash { .. } => "circular_buffer_clash",
            Error::CircularBuffersExceedL1 { .. } => "circular_buffers_exceed_l1",
            Error::L1SmallTooSmall { .. } => "l1_small_too_small",
            Error::InvalidArgument(_) => "invalid_argument",
            Error::Unsupported(_) => "unsupported",
            Error::Unmodeled(_) => "unmodeled",
            Error::RuntimeUnavailable(_) => "runtime_unavailable",
            Error::State(_) => "state",
            Error::Python(_) => "python",
            Error::Cpp(_) => "cpp",
            Error::Other(_) => "other",
        }
    }

    /// The coarse outcome reports use: `oom`, `cb_clash` (both circular-buffer checks),
    /// `l1_small`, or `error` for everything that is not a memory verdict.
    pub fn outcome(&self) -> Outcome {
        match self {
            Error::OutOfMemory { .. } => Outcome::Oom,
            Error::CircularBufferClash { .. } | Error::CircularBuffersExceedL1 { .. } => {
                Outcome::CbClash
            }
            Error::L1SmallTooSmall { .. } => Outcome::L1Small,
            Error::Unmodeled(_) => Outcome::Unmodeled,
            _ => Outcome::Error,
        }
    }

    /// Whether the error is a memory verdict (OOM, a circular-buffer check, L1_SMALL).
    pub fn is_memory(&self) -> bool {
        matches!(
            self.outcome(),
            Outcome::Oom | Outcome::CbClash | Outcome::L1Small
        )
    }

    /// The text the error came from.
    pub fn raw(&self) -> &str {
        match self {
            Error::OutOfMemory { raw, .. }
            | Error::CircularBufferClash { raw, .. }
            | Error::CircularBuffersExceedL1 { raw, .. }
            | Error::L1SmallTooSmall { raw, .. } => raw,
            Error::InvalidArgument(s)
            | Error::Unsupported(s)
            | Error::Unmodeled(s)
            | Error::RuntimeUnavailable(s)
            | Error::State(s)
            | Error::Python(s)
            | Error::Cpp(s)
            | Error::Other(s) => s,
        }
    }
}

/// How a case ended, coarsely: what reports group by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    /// The allocator refused a buffer.
    Oom,
    /// A circular-buffer check failed (clash with L1 buffers, or beyond L1).
    CbClash,
    /// L1_SMALL too small for the op.
    L1Small,
    /// Anything else: not a memory verdict.
    Error,
    /// The sim backend does not model the call: no verdict.
    Unmodeled,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Oom => "oom",
            Outcome::CbClash => "cb_clash",
            Outcome::L1Small => "l1_small",
            Outcome::Error => "error",
            Outcome::Unmodeled => "unmodeled",
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unmodeled_plan_names_its_class_once() {
        let e = Error::from_plan(memmodel::ops::CaseError::Unmodeled {
            function: "ttnn.conv2d".into(),
            what: "a sharded input outside the conv's config".into(),
        });
        assert_eq!(e.kind(), "unmodeled");
        assert_eq!(
            e.to_string(),
            "unmodeled: ttnn.conv2d: a sharded input outside the conv's config"
        );
        let refused = Error::from_plan(memmodel::ops::CaseError::Invalid {
            op: "ttnn.add".into(),
            problem: "shapes do not broadcast".into(),
        });
        assert_eq!(refused.kind(), "invalid_argument");
    }
}
