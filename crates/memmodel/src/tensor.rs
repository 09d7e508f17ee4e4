//! One device tensor: its logical ("theoretical") bytes, its padded pages, and how an interleaved
//! buffer spreads those pages over a device's banks.
//!
//! tt-metal rules (allocator.hpp, dataflow_api_addrgen.h; checked on the real runtime):
//! - TILE pads the last two dims up to multiples of 32; a page is one tile.
//! - ROW_MAJOR pages are one row (the last dim) of the tensor.
//! - An interleaved buffer of `pages` pages puts page i in bank i mod N; each bank reserves
//!   `ceil(pages / N) × round_up(page_size, alignment)` bytes. The buffer's size is
//!   `pages × page_size` (that is the "allocate X B" of the OOM message).

use crate::device::{BufferType, DeviceSpec};
use crate::dtype::DType;
use crate::layout::Layout;
use crate::shape::Shape;
use crate::size::{self, Overflow};
use serde::{Deserialize, Serialize};

/// Tile edge in elements.
pub const TILE: u64 = 32;

/// A tensor as TT-NN holds it on device: device shape, dtype, page layout.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TensorSpec {
    pub shape: Shape,
    pub dtype: DType,
    pub layout: Layout,
}

/// Where an interleaved buffer's bytes go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Placement {
    pub buffer_type: BufferType,
    pub banks: u64,
    /// Bytes of one page as TT-NN stores it.
    pub page_size: u64,
    /// The page rounded up to the bank's alignment.
    pub aligned_page_size: u64,
    pub pages: u64,
    /// `pages × page_size`: what tt-metal reports as the buffer size.
    pub total_bytes: u64,
    /// Bytes every bank reserves: `ceil(pages / banks) × aligned_page_size`.
    pub per_bank_bytes: u64,
    /// A sharded buffer: `banks` is its shard count and each shard reserves `per_bank_bytes`;
    /// the allocator asks for `banks × per_bank_bytes` (see [`crate::plan::sharded_placement`]).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub sharded: bool,
    /// The memory the runtime's graph capture names this buffer by, when it differs from where
    /// the buffer lives (it reports sliding-window config tensors, placed in L1_SMALL, as L1).
    /// Used for traces and capture peaks only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traced_as: Option<BufferType>,
    /// The sharding of a tensor in a sharded memory config ([`crate::shard`]); `None` for
    /// interleaved tensors and for ops' own sharded buffers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strategy: Option<crate::shard::ShardStrategy>,
}

impl TensorSpec {
    pub fn new(shape: Shape, dtype: DType, layout: Layout) -> Self {
        Self {
            shape,
            dtype,
            layout,
        }
    }

    /// Element count × element size: what the seed suite called "theoretical" memory.
    pub fn logical_bytes(&self) -> Result<u64, Overflow> {
        self.dtype
            .logical_bytes(self.shape.elements())
            .ok_or_else(|| Overflow::new(format!("logical bytes of {}", self.shape)))
    }

    /// The shape with TILE padding applied (last two dims up to 32; rank < 2 counts missing dims
    /// as 1). ROW_MAJOR tensors are not padded.
    pub fn padded_dims(&self) -> Vec<u64> {
        let dims = self.shape.dims();
        match self.layout {
            Layout::RowMajor => dims.to_vec(),
            Layout::Tile => {
                let mut padded: Vec<u64> = dims.to_vec();
                while padded.len() < 2 {
                    padded.insert(0, 1);
                }
                let n = padded.len();
                for d in &mut padded[n - 2..] {
                    *d = size::ceil_div(*d, TILE) * TILE;
                }
                padded
            }
        }
    }

    /// Bytes of one page (a tile, or one row).
    pub fn page_size(&self) -> Result<u64, Overflow> {
        match self.layout {
            Layout::Tile => Ok(self.dtype.tile_bytes()),
            Layout::RowMajor => {
                let width = self.shape.dims().last().copied().unwrap_or(1);
                size::mul(
                    width,
                    self.dtype.row_major_element_bytes(),
                    "row-major page size",
                )
            }
        }
    }

    /// Number of pages.
    pub fn pages(&self) -> Result<u64, Overflow> {
        // From the dims as `padded_dims` pads them (without building them: every buffer sim
        // places asks this).
        let dims = self.shape.dims();
        let n = dims.len();
        match self.layout {
            Layout::Tile => {
                let outer =
                    size::product(dims[..n.saturating_sub(2)].iter().copied(), "tile count")?;
                // A missing dim (rank < 2) counts as 1: one tile.
                let tiles = |i: Option<usize>| i.map_or(1, |i| size::ceil_div(dims[i], TILE));
                let tiles_2d = tiles(n.checked_sub(2)) * tiles(n.checked_sub(1));
                size::mul(outer, tiles_2d, "tile count")
            }
            Layout::RowMajor => {
                if n == 0 {
                    return Ok(1);
                }
                size::product(dims[..n - 1].iter().copied(), "row count")
            }
        }
    }

    /// Bytes of the padded tensor (`pages × page_size`).
    pub fn padded_bytes(&self) -> Result<u64, Overflow> {
        size::mul(self.pages()?, self.page_size()?, "padded bytes")
    }

    /// Interleaved placement on `device` in `buffer_type`.
    pub fn interleaved(
        &self,
        device: &DeviceSpec,
        buffer_type: BufferType,
    ) -> Result<Placement, Overflow> {
        let banks = device.banks(buffer_type);
        let page_size = self.page_size()?;
        let aligned_page_size = size::round_up(
            page_size,
            device.alignment(buffer_type),
            "aligned page size",
        )?;
        let pages = self.pages()?;
        let total_bytes = size::mul(pages, page_size, "buffer size")?;
        let per_bank_bytes = size::mul(
            size::ceil_div(pages, banks),
            aligned_page_size,
            "bytes per bank",
        )?;
        Ok(Placement {
            buffer_type,
            banks,
            page_size,
            aligned_page_size,
            pages,
            total_bytes,
            per_bank_bytes,
            sharded: false,
            traced_as: None,
            strategy: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::{N150, P150};

    fn spec(dims: &[i64], dtype: DType, layout: Layout) -> TensorSpec {
        TensorSpec::new(Shape::new(dims).unwrap(), dtype, layout)
    }

    // Numbers printed by the real runtime (DESIGN.md and the issue's acceptance case).
    #[test]
    fn wormhole_l1_example_from_design() {
        let p = spec(&[1, 64, 640, 400], DType::Bfloat16, Layout::Tile)
            .interleaved(&N150, BufferType::L1)
            .unwrap();
        assert_eq!(p.total_bytes, 34_078_720);
        assert_eq!(p.per_bank_bytes, 532_480);
        assert_eq!(p.banks, 64);
    }

    #[test]
    fn blackhole_silu_example_from_issue() {
        let p = spec(&[1, 96, 2160, 3840], DType::Bfloat16, Layout::Tile)
            .interleaved(&P150, BufferType::L1)
            .unwrap();
        assert_eq!(p.per_bank_bytes, 14_585_856);
        assert_eq!(p.banks, 110);
        assert_eq!(p.total_bytes, 1_604_321_280);
    }

    #[test]
    fn row_major_pages_are_rows_aligned_per_bank() {
        let t = spec(&[1, 1280, 1280, 3], DType::Bfloat16, Layout::RowMajor);
        let l1 = t.interleaved(&N150, BufferType::L1).unwrap();
        assert_eq!(
            (
                l1.page_size,
                l1.aligned_page_size,
                l1.total_bytes,
                l1.per_bank_bytes
            ),
            (6, 16, 9_830_400, 409_600)
        );
        let dram = t.interleaved(&N150, BufferType::Dram).unwrap();
        assert_eq!(dram.per_bank_bytes, 4_369_088);
    }

    #[test]
    fn nhwc_padding_grows_small_channel_tensors() {
        let nchw = spec(&[1, 3, 1280, 1280], DType::Bfloat16, Layout::Tile)
            .padded_bytes()
            .unwrap();
        let nhwc = spec(&[1, 1280, 1280, 3], DType::Bfloat16, Layout::Tile)
            .padded_bytes()
            .unwrap();
        assert_eq!(nchw, 9_830_400);
        assert_eq!(nhwc, 104_857_600);
    }

    #[test]
    fn rank_one_and_scalar_take_one_tile() {
        assert_eq!(
            spec(&[7], DType::Bfloat16, Layout::Tile)
                .padded_bytes()
                .unwrap(),
            2048
        );
        assert_eq!(
            spec(&[], DType::Bfloat16, Layout::Tile)
                .padded_bytes()
                .unwrap(),
            2048
        );
        let one = spec(&[1], DType::Bfloat16, Layout::RowMajor)
            .interleaved(&N150, BufferType::L1)
            .unwrap();
        assert_eq!((one.total_bytes, one.per_bank_bytes), (2, 16));
    }

    #[test]
    fn seed_000_theoretical_sizes_are_recomputed() {
        // Seed 000 printed 19.5 MB and 65.0 MB; the arithmetic gives 9.375 and 62.5 MiB.
        let a = spec(&[1, 3, 1280, 1280], DType::Bfloat16, Layout::Tile)
            .logical_bytes()
            .unwrap();
        let b = spec(&[1, 128, 640, 400], DType::Bfloat16, Layout::Tile)
            .logical_bytes()
            .unwrap();
        assert_eq!(size::mib(a), 9.375);
        assert_eq!(size::mib(b), 62.5);
    }

    #[test]
    fn float32_8k_does_not_overflow() {
        let t = spec(&[1, 96, 4320, 7680], DType::Float32, Layout::Tile);
        assert_eq!(t.logical_bytes().unwrap(), 12_740_198_400);
        assert!(t.interleaved(&N150, BufferType::L1).unwrap().per_bank_bytes > N150.l1_bank_bytes);
    }
}
