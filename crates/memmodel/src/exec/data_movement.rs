//! Not modeled yet: calls fall through to the next family.
use super::{Args, Exec, Val};
use crate::ops::CaseError;

pub(super) fn call(
    _ex: &mut Exec<'_>,
    _name: &str,
    _a: &Args<'_>,
) -> Result<Option<Val>, CaseError> {
    Ok(None)
}
