//! TT-NN data types and their storage sizes.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A TT-NN data type (`ttnn.DataType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DType {
    Bfloat16,
    Float32,
    Bfloat8B,
    Bfloat4B,
    Uint8,
    Uint16,
    Uint32,
    Int32,
}

impl DType {
    pub const ALL: [DType; 8] = [
        DType::Bfloat16,
        DType::Float32,
        DType::Bfloat8B,
        DType::Bfloat4B,
        DType::Uint8,
        DType::Uint16,
        DType::Uint32,
        DType::Int32,
    ];

    /// The name used in shapes.toml, flags and reports (`bfloat16`, `bfloat8_b`, ...).
    pub fn name(self) -> &'static str {
        match self {
            DType::Bfloat16 => "bfloat16",
            DType::Float32 => "float32",
            DType::Bfloat8B => "bfloat8_b",
            DType::Bfloat4B => "bfloat4_b",
            DType::Uint8 => "uint8",
            DType::Uint16 => "uint16",
            DType::Uint32 => "uint32",
            DType::Int32 => "int32",
        }
    }

    /// The `ttnn.DataType` attribute name (`ttnn.bfloat16`, ...).
    pub fn ttnn_name(self) -> &'static str {
        self.name()
    }

    /// Bytes of one 32×32 tile (`tt::tile_size`): block floats carry one shared exponent byte per
    /// 16 values, so bfloat8_b is 1024 + 64 and bfloat4_b 512 + 64.
    pub fn tile_bytes(self) -> u64 {
        match self {
            DType::Bfloat16 | DType::Uint16 => 2048,
            DType::Float32 | DType::Uint32 | DType::Int32 => 4096,
            DType::Uint8 => 1024,
            DType::Bfloat8B => 1088,
            DType::Bfloat4B => 576,
        }
    }

    /// Bytes of one element in a ROW_MAJOR page. Block floats cannot be row-major on device
    /// (TT-NN raises "Only TILE layout is supported"); their host row-major form is float32.
    pub fn row_major_element_bytes(self) -> u64 {
        match self {
            DType::Uint8 => 1,
            DType::Bfloat16 | DType::Uint16 => 2,
            DType::Float32 | DType::Uint32 | DType::Int32 | DType::Bfloat8B | DType::Bfloat4B => 4,
        }
    }

    /// Whether the type is a block float (needs TILE layout on device).
    pub fn is_block_float(self) -> bool {
        matches!(self, DType::Bfloat8B | DType::Bfloat4B)
    }

    /// Logical ("theoretical") bytes of `elements` values, as the seed suite computed them:
    /// element count × element size, with block floats at their tile density (1088/1024, 576/1024).
    pub fn logical_bytes(self, elements: u64) -> Option<u64> {
        match self {
            DType::Bfloat8B | DType::Bfloat4B => {
                let scaled = (elements as u128) * u128::from(self.tile_bytes());
                u64::try_from(scaled.div_ceil(1024)).ok()
            }
            _ => elements.checked_mul(self.row_major_element_bytes()),
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown dtype name; the message lists the known ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown dtype `{0}` (known: {known})", known = DType::ALL.map(|d| d.name()).join(", "))]
pub struct UnknownDType(pub String);

impl FromStr for DType {
    type Err = UnknownDType;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        let lower = lower.strip_prefix("ttnn.").unwrap_or(&lower);
        let found = match lower {
            "bf16" => Some(DType::Bfloat16),
            "fp32" | "f32" => Some(DType::Float32),
            "bfp8" | "bf8" | "bfloat8" => Some(DType::Bfloat8B),
            "bfp4" | "bf4" | "bfloat4" => Some(DType::Bfloat4B),
            other => DType::ALL.into_iter().find(|d| d.name() == other),
        };
        found.ok_or_else(|| UnknownDType(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for d in DType::ALL {
            assert_eq!(d.name().parse::<DType>().unwrap(), d);
        }
        assert_eq!("ttnn.bfloat8_b".parse::<DType>().unwrap(), DType::Bfloat8B);
        let err = "half".parse::<DType>().unwrap_err().to_string();
        assert!(err.contains("bfloat16") && err.contains("half"), "{err}");
    }

    #[test]
    fn block_float_logical_bytes_use_tile_density() {
        assert_eq!(DType::Bfloat8B.logical_bytes(1024), Some(1088));
        assert_eq!(DType::Bfloat16.logical_bytes(1024), Some(2048));
        assert_eq!(DType::Float32.logical_bytes(u64::MAX), None);
    }
}
