//! Why a call cannot be planned: the one error type the op models ([`crate::exec`]), the plan
//! builder and the catalog ([`crate::ops`]) share. It sits below all of them so the
//! interpreter does not import the catalog.

use crate::params::ParamError;

/// Why a case cannot be formed (wrong arity, a dim out of range, sizes that do not add up, ...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaseError {
    #[error(transparent)]
    Param(#[from] ParamError),
    #[error("{op}: {problem}")]
    Invalid { op: String, problem: String },
    /// The runtime refuses the call (its words) once the inputs exist.
    #[error("{reason}")]
    Refused { function: String, reason: String },
    /// A call (or this use of a function) memmodel does not model: no verdict, the reason.
    #[error("{function}: unmodeled: {what}")]
    Unmodeled { function: String, what: String },
    #[error(transparent)]
    Shape(#[from] crate::shape::ShapeError),
    #[error(transparent)]
    Overflow(#[from] crate::size::Overflow),
}
