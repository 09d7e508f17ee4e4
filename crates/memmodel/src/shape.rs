//! Tensor shapes: validation (no zero, negative or overflowing dims) and the model → device
//! layout transform.

use crate::layout::DeviceLayout;
use crate::size::{self, Overflow};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The most dims a shape may have (TT-NN supports up to 8; the seed suite uses up to 6).
pub const MAX_RANK: usize = 8;

/// A validated tensor shape: 0 to [`MAX_RANK`] dims, each ≥ 1, with an element count that fits
/// in u64 even at 4 bytes per element (so byte counts of any dtype cannot overflow later).
/// Stored inline (no heap allocation): cases clone shapes freely.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "Vec<i64>", into = "Vec<u64>")]
pub struct Shape {
    /// Dims beyond `rank` are zero, so derived comparisons and hashes see only real dims.
    dims: [u64; MAX_RANK],
    rank: u8,
}

impl fmt::Debug for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Shape({self})")
    }
}

/// Why a shape was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    #[error("dimension {index} is {value}: dims must be at least 1")]
    NotPositive { index: usize, value: i64 },
    #[error("shape has {rank} dims; at most {MAX_RANK} are supported")]
    TooManyDims { rank: usize },
    #[error("the shape's element count overflows u64 (as bytes: at 4 bytes per element)")]
    Overflow,
    #[error(
        "`{text}` is not a shape: expected comma-separated positive integers like 1,96,2160,3840"
    )]
    Syntax { text: String },
}

impl Shape {
    /// Validate dims given as signed integers (as read from TOML or flags).
    pub fn new(dims: &[i64]) -> Result<Self, ShapeError> {
        if dims.len() > MAX_RANK {
            return Err(ShapeError::TooManyDims { rank: dims.len() });
        }
        let mut out = Vec::with_capacity(dims.len());
        for (index, &value) in dims.iter().enumerate() {
            if value < 1 {
                return Err(ShapeError::NotPositive { index, value });
            }
            out.push(value as u64);
        }
        Self::from_dims(out)
    }

    /// Validate unsigned dims.
    pub fn from_dims(dims: Vec<u64>) -> Result<Self, ShapeError> {
        Self::from_slice(&dims)
    }

    /// Validate unsigned dims (borrowed).
    pub fn from_slice(dims: &[u64]) -> Result<Self, ShapeError> {
        if dims.len() > MAX_RANK {
            return Err(ShapeError::TooManyDims { rank: dims.len() });
        }
        if let Some(index) = dims.iter().position(|&d| d == 0) {
            return Err(ShapeError::NotPositive { index, value: 0 });
        }
        // Reserve headroom: element count × 4 bytes × tile padding must stay representable.
        let elements =
            size::product(dims.iter().copied(), "elements").map_err(|_| ShapeError::Overflow)?;
        if elements.checked_mul(64).is_none() {
            return Err(ShapeError::Overflow);
        }
        // Tile padding of the last two dims can grow each by up to 31.
        let padded = dims
            .iter()
            .enumerate()
            .map(|(i, &d)| {
                if i + 2 >= dims.len() {
                    d.saturating_add(31)
                } else {
                    d
                }
            })
            .try_fold(1u64, |acc, d| acc.checked_mul(d));
        if padded.and_then(|p| p.checked_mul(64)).is_none() {
            return Err(ShapeError::Overflow);
        }
        let mut inline = [0u64; MAX_RANK];
        inline[..dims.len()].copy_from_slice(dims);
        Ok(Shape {
            dims: inline,
            rank: dims.len() as u8,
        })
    }

    /// Parse `1,96,2160,3840` (also accepts `[1, 96, 2160, 3840]` and `1x96x2160x3840`).
    pub fn parse(text: &str) -> Result<Self, ShapeError> {
        let trimmed = text.trim().trim_start_matches('[').trim_end_matches(']');
        if trimmed.trim().is_empty() {
            return Err(ShapeError::Syntax {
                text: text.to_string(),
            });
        }
        let dims = trimmed
            .split([',', 'x', 'X'])
            .map(|part| part.trim().parse::<i64>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| ShapeError::Syntax {
                text: text.to_string(),
            })?;
        Self::new(&dims)
    }

    pub fn dims(&self) -> &[u64] {
        &self.dims[..self.rank as usize]
    }

    pub fn rank(&self) -> usize {
        self.rank as usize
    }

    /// Number of elements (1 for a rank-0 scalar).
    pub fn elements(&self) -> u64 {
        // Validated at construction.
        self.dims().iter().product()
    }

    /// Dim `index`, counting from the end when negative (PyTorch style).
    pub fn dim(&self, index: i64) -> Option<u64> {
        self.normalize_dim(index).map(|i| self.dims[i])
    }

    /// Resolve a possibly negative dim index against this shape's rank.
    pub fn normalize_dim(&self, index: i64) -> Option<usize> {
        let rank = self.rank as usize as i64;
        let resolved = if index < 0 { index + rank } else { index };
        (0..rank).contains(&resolved).then_some(resolved as usize)
    }

    /// A copy with dim `index` (already normalized) replaced.
    pub fn with_dim(&self, index: usize, value: u64) -> Result<Shape, ShapeError> {
        let mut dims = self.dims().to_vec();
        dims[index] = value;
        Shape::from_dims(dims)
    }

    /// The device tensor's shape for a model shape held in `layout`.
    pub fn to_device(&self, layout: DeviceLayout) -> Result<Shape, ShapeError> {
        match (layout, self.dims()) {
            (DeviceLayout::Nhwc, &[n, c, h, w]) => Shape::from_dims(vec![n, h, w, c]),
            (DeviceLayout::NhwcFlat, &[n, c, h, w]) => {
                let rows = n
                    .checked_mul(h)
                    .and_then(|x| x.checked_mul(w))
                    .ok_or(ShapeError::Overflow)?;
                Shape::from_dims(vec![1, 1, rows, c])
            }
            _ => Ok(self.clone()),
        }
    }

    /// The element count checked against an extra factor (bytes per element etc.).
    pub fn elements_times(&self, factor: u64) -> Result<u64, Overflow> {
        size::mul(self.elements(), factor, "bytes of a shape")
    }
}

impl TryFrom<Vec<i64>> for Shape {
    type Error = ShapeError;
    fn try_from(dims: Vec<i64>) -> Result<Self, Self::Error> {
        Shape::new(&dims)
    }
}

impl From<Shape> for Vec<u64> {
    fn from(shape: Shape) -> Self {
        shape.dims().to_vec()
    }
}

impl fmt::Display for Shape {
    /// `[1,96,2160,3840]`: compact, as used in test names, tables and messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, d) in self.dims().iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{d}")?;
        }
        f.write_str("]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_dims() {
        assert!(matches!(
            Shape::new(&[1, 0, 3]),
            Err(ShapeError::NotPositive { index: 1, value: 0 })
        ));
        assert!(matches!(
            Shape::new(&[1, -5]),
            Err(ShapeError::NotPositive {
                index: 1,
                value: -5
            })
        ));
        assert!(matches!(
            Shape::new(&[i64::MAX, i64::MAX]),
            Err(ShapeError::Overflow)
        ));
        assert!(matches!(
            Shape::new(&[1; 9]),
            Err(ShapeError::TooManyDims { rank: 9 })
        ));
        assert!(Shape::parse("1,a").is_err());
        assert!(Shape::parse("").is_err());
    }

    #[test]
    fn parses_and_displays() {
        let s = Shape::parse("1, 96, 2160, 3840").unwrap();
        assert_eq!(s.to_string(), "[1,96,2160,3840]");
        assert_eq!(
            Shape::parse("[1,3,1280,1280]").unwrap().dims(),
            &[1, 3, 1280, 1280]
        );
        assert_eq!(Shape::parse("1x3x4").unwrap().dims(), &[1, 3, 4]);
    }

    #[test]
    fn device_layouts() {
        let s = Shape::parse("2,3,5,7").unwrap();
        assert_eq!(s.to_device(DeviceLayout::AsGiven).unwrap(), s);
        assert_eq!(
            s.to_device(DeviceLayout::Nhwc).unwrap().dims(),
            &[2, 5, 7, 3]
        );
        assert_eq!(
            s.to_device(DeviceLayout::NhwcFlat).unwrap().dims(),
            &[1, 1, 70, 3]
        );
        let s3 = Shape::parse("12,8160,8160").unwrap();
        assert_eq!(s3.to_device(DeviceLayout::Nhwc).unwrap(), s3);
    }

    #[test]
    fn large_float32_shape_does_not_overflow() {
        let s = Shape::parse("1,96,4320,7680").unwrap();
        assert_eq!(s.elements_times(4).unwrap(), 12_740_198_400);
    }

    #[test]
    fn negative_dims_index_from_end() {
        let s = Shape::parse("1,2,3").unwrap();
        assert_eq!(s.dim(-1), Some(3));
        assert_eq!(s.dim(0), Some(1));
        assert_eq!(s.dim(3), None);
        assert_eq!(s.dim(-4), None);
    }
}
