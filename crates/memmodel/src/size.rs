//! Checked `u64` arithmetic for sizes. Shapes such as `[1,96,4320,7680]` in float32 are far from
//! overflowing u64, but user input (shapes.toml, `--shape`) is not trusted: every product, sum and
//! round-up goes through these helpers and reports overflow instead of wrapping.

use thiserror::Error;

/// A size computation overflowed `u64`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("size arithmetic overflows u64 while computing {what}")]
pub struct Overflow {
    /// What was being computed (e.g. "element count of [..]").
    pub what: String,
}

impl Overflow {
    pub fn new(what: impl Into<String>) -> Self {
        Self { what: what.into() }
    }
}

pub fn mul(a: u64, b: u64, what: &str) -> Result<u64, Overflow> {
    a.checked_mul(b).ok_or_else(|| Overflow::new(what))
}

pub fn add(a: u64, b: u64, what: &str) -> Result<u64, Overflow> {
    a.checked_add(b).ok_or_else(|| Overflow::new(what))
}

/// `ceil(a / b)`; `b` must be non-zero (callers pass bank counts and tile sizes, never zero).
pub fn ceil_div(a: u64, b: u64) -> u64 {
    debug_assert!(b != 0);
    a / b + u64::from(!a.is_multiple_of(b))
}

/// Round `value` up to a multiple of `multiple` (non-zero).
pub fn round_up(value: u64, multiple: u64, what: &str) -> Result<u64, Overflow> {
    mul(ceil_div(value, multiple), multiple, what)
}

/// Product of all items, checked.
pub fn product(items: impl IntoIterator<Item = u64>, what: &str) -> Result<u64, Overflow> {
    items.into_iter().try_fold(1u64, |acc, x| mul(acc, x, what))
}

/// Bytes shown as MiB with two decimals (binary units; the seed's "MB" were MiB computed wrongly).
pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Bytes shown as GiB (the seed report's "Memory (GB)" column is logical bytes in GiB).
pub fn gib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0 * 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceil_div_and_round_up() {
        assert_eq!(ceil_div(16640, 64), 260);
        assert_eq!(ceil_div(16641, 64), 261);
        assert_eq!(ceil_div(0, 64), 0);
        assert_eq!(round_up(10, 16, "t").unwrap(), 16);
        assert_eq!(round_up(32, 16, "t").unwrap(), 32);
    }

    #[test]
    fn overflow_is_reported_not_wrapped() {
        let err = product([u64::MAX, 2], "elements").unwrap_err();
        assert!(err.to_string().contains("elements"));
        assert!(round_up(u64::MAX, 16, "x").is_err());
    }
}
