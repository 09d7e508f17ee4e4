//! Tensor layouts: the TT-NN page layout (TILE / ROW_MAJOR) and the order in which a model's
//! activation is held on device (as given, channels-last, or flattened channels-last).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The TT-NN page layout (`ttnn.TILE_LAYOUT` / `ttnn.ROW_MAJOR_LAYOUT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    Tile,
    RowMajor,
}

impl Layout {
    pub const ALL: [Layout; 2] = [Layout::Tile, Layout::RowMajor];

    pub fn name(self) -> &'static str {
        match self {
            Layout::Tile => "tile",
            Layout::RowMajor => "row_major",
        }
    }

    /// The `ttnn` attribute (`ttnn.TILE_LAYOUT`).
    pub fn ttnn_name(self) -> &'static str {
        match self {
            Layout::Tile => "TILE_LAYOUT",
            Layout::RowMajor => "ROW_MAJOR_LAYOUT",
        }
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Layout {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "tile" | "tile_layout" | "ttnn.tile_layout" => Ok(Layout::Tile),
            "row_major" | "rowmajor" | "rm" | "row_major_layout" | "ttnn.row_major_layout" => {
                Ok(Layout::RowMajor)
            }
            _ => Err(format!("unknown layout `{s}` (known: tile, row_major)")),
        }
    }
}

/// How a case's model shape (PyTorch order, NCHW for 4D activations) is laid out as the device
/// tensor. TT-NN vision models keep activations channels-last; TILE padding then pads C to 32,
/// which can change the allocated bytes by an order of magnitude.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeviceLayout {
    /// The device tensor has exactly the given shape.
    AsGiven,
    /// 4D `[N,C,H,W]` becomes `[N,H,W,C]` (as the seed suite's `permute(0,2,3,1)` before upload).
    /// Shapes that are not 4D stay as given.
    Nhwc,
    /// 4D `[N,C,H,W]` becomes `[1,1,N·H·W,C]` (the conv/pool input form). Others stay as given.
    NhwcFlat,
}

impl DeviceLayout {
    pub const ALL: [DeviceLayout; 3] = [
        DeviceLayout::AsGiven,
        DeviceLayout::Nhwc,
        DeviceLayout::NhwcFlat,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DeviceLayout::AsGiven => "as-given",
            DeviceLayout::Nhwc => "nhwc",
            DeviceLayout::NhwcFlat => "nhwc-flat",
        }
    }
}

impl fmt::Display for DeviceLayout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DeviceLayout {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "as-given" | "asgiven" | "given" | "nchw" => Ok(DeviceLayout::AsGiven),
            "nhwc" | "channels-last" => Ok(DeviceLayout::Nhwc),
            "nhwc-flat" | "flat-nhwc" | "flattened-nhwc" => Ok(DeviceLayout::NhwcFlat),
            _ => Err(format!(
                "unknown device layout `{s}` (known: as-given, nhwc, nhwc-flat)"
            )),
        }
    }
}
