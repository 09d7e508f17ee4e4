//! Sharded L1 memory configs: a tensor cut into shards, one shard per worker core, each core
//! holding its shard in its own L1 bank (TT-NN `TensorMemoryLayout::{HEIGHT,WIDTH,BLOCK}_SHARDED`).
//!
//! The shard spec is the one TT-NN ops compute for a grid (`ttnn.create_sharded_memory_config`
//! with the device's whole compute grid, extended to shapes that do not divide evenly): the
//! tensor is seen as a 2D matrix of `prod(dims[..-1]) × W` (TILE: every batch's H and W padded
//! up to 32, as the buffer holds them), and
//! - **height**: rows split over all `gx·gy` cores, the shard height rounded up to a tile row;
//!   shard = `[round_up(ceil(H2 / cores), 32), W]`;
//! - **width**: columns split over all cores; shard = `[H2, round_up(ceil(W / cores), 32)]`;
//! - **block**: rows over the grid's `gy` rows and columns over its `gx` columns;
//!   shard = `[round_up(ceil(H2 / gy), 32), round_up(ceil(W / gx), 32)]`.
//!
//! The buffer uses only the cores that hold a shard — `ceil(H2 / shard_h) × ceil(W / shard_w)`
//! of them (height and width: the first ones, row by row; block: a rectangle from core (0,0)) —
//! and reserves a whole shard on each (the last shards may be partly empty). That is what the
//! runtime allocates (checked against `ttnn.empty` on the mock devices, see
//! `tests/tensor_allocations.rs`): per-bank bytes = shard bytes, banks = shard count, and the
//! allocator asks for `shards × shard bytes` ([`crate::plan::sharded_placement`]).

use crate::device::{BufferType, DeviceSpec};
use crate::exec::grid;
use crate::layout::Layout;
use crate::program::{CoreRange, CoreRangeSet};
use crate::size::{self, Overflow};
use crate::tensor::{Placement, TensorSpec, TILE};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// How a tensor is cut into shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShardStrategy {
    Height,
    Width,
    Block,
}

/// The sharded memory configs shapes.toml and the flags accept.
pub const SHARDED_MEMORIES: [&str; 3] =
    ["l1_height_sharded", "l1_width_sharded", "l1_block_sharded"];

impl ShardStrategy {
    pub const ALL: [ShardStrategy; 3] = [
        ShardStrategy::Height,
        ShardStrategy::Width,
        ShardStrategy::Block,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ShardStrategy::Height => "height",
            ShardStrategy::Width => "width",
            ShardStrategy::Block => "block",
        }
    }

    /// The memory config's name: `l1_height_sharded`.
    pub fn memory_name(self) -> &'static str {
        match self {
            ShardStrategy::Height => SHARDED_MEMORIES[0],
            ShardStrategy::Width => SHARDED_MEMORIES[1],
            ShardStrategy::Block => SHARDED_MEMORIES[2],
        }
    }

    /// TT-NN's `TensorMemoryLayout` (`HEIGHT_SHARDED`), as the graph capture spells it.
    pub fn tt_layout(self) -> &'static str {
        match self {
            ShardStrategy::Height => "HEIGHT_SHARDED",
            ShardStrategy::Width => "WIDTH_SHARDED",
            ShardStrategy::Block => "BLOCK_SHARDED",
        }
    }

    /// `l1_height_sharded` (or `height`) to a strategy.
    pub fn from_memory_name(s: &str) -> Option<ShardStrategy> {
        let s = s.trim().to_ascii_lowercase();
        ShardStrategy::ALL
            .into_iter()
            .find(|k| s == k.memory_name() || s == k.name())
    }
}

impl fmt::Display for ShardStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ShardStrategy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ShardStrategy::from_memory_name(s).ok_or_else(|| {
            format!(
                "unknown sharded memory config `{s}` (known: {})",
                SHARDED_MEMORIES.join(", ")
            )
        })
    }
}

/// A tensor memory config: interleaved in a buffer type, or sharded in L1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemoryConfig {
    Interleaved(BufferType),
    Sharded(ShardStrategy),
}

impl MemoryConfig {
    /// The config of a tensor in `buffer_type` with `sharding`: sharded configs live in L1, so
    /// a sharding elsewhere does not apply.
    pub fn of(buffer_type: BufferType, sharding: Option<ShardStrategy>) -> MemoryConfig {
        match (buffer_type, sharding) {
            (BufferType::L1, Some(s)) => MemoryConfig::Sharded(s),
            (b, _) => MemoryConfig::Interleaved(b),
        }
    }

    pub fn buffer_type(self) -> BufferType {
        match self {
            MemoryConfig::Interleaved(b) => b,
            MemoryConfig::Sharded(_) => BufferType::L1,
        }
    }
    pub fn sharding(self) -> Option<ShardStrategy> {
        match self {
            MemoryConfig::Interleaved(_) => None,
            MemoryConfig::Sharded(s) => Some(s),
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            MemoryConfig::Interleaved(b) => b.name(),
            MemoryConfig::Sharded(s) => s.memory_name(),
        }
    }
}

impl fmt::Display for MemoryConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for MemoryConfig {
    type Err = String;
    /// `l1`, `dram`, `l1_height_sharded`, `l1_width_sharded`, `l1_block_sharded`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(k) = ShardStrategy::from_memory_name(s) {
            if s.trim().to_ascii_lowercase().starts_with("l1_") {
                return Ok(MemoryConfig::Sharded(k));
            }
        }
        match s.trim().to_ascii_lowercase().as_str() {
            "l1" => Ok(MemoryConfig::Interleaved(BufferType::L1)),
            "dram" => Ok(MemoryConfig::Interleaved(BufferType::Dram)),
            _ => Err(format!(
                "unknown memory config `{s}` (known: l1, dram, {})",
                SHARDED_MEMORIES.join(", ")
            )),
        }
    }
}

/// In which order a shard grid's cores take the shards (TT-NN's `ShardOrientation`): along
/// rows of cores first, or along columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum ShardOrientation {
    RowMajor,
    ColMajor,
}

/// The shard spec of one tensor on one device: what a sharded tensor keeps between calls (an
/// op's own output, such as a conv's in its parallel config, or a memory config's).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct ShardSpec {
    pub strategy: ShardStrategy,
    /// The tensor as a 2D matrix (rows, columns), padded as its buffer holds it.
    pub physical: [u64; 2],
    /// Elements of one shard (rows, columns), whole tiles.
    pub shard_shape: [u64; 2],
    /// Shards along rows and columns; `grid[0] × grid[1]` cores hold one each.
    pub grid: [u64; 2],
    /// The cores holding a shard, as tt-metal renders a `CoreRangeSet`.
    pub cores: CoreRangeSet,
    pub orientation: ShardOrientation,
}

impl ShardSpec {
    /// Number of shards (= cores used = banks of the buffer).
    pub fn shards(&self) -> u64 {
        self.grid[0].saturating_mul(self.grid[1])
    }

    /// Whether every shard is full (no partial shard at the bottom or the right edge): the
    /// unary program factory binds its buffers to the tensor's shards only then.
    pub fn even(&self) -> bool {
        self.physical[0].is_multiple_of(self.shard_shape[0])
            && self.physical[1].is_multiple_of(self.shard_shape[1])
    }

    /// Tiles of one shard.
    pub fn shard_tiles(&self) -> u64 {
        (self.shard_shape[0] / TILE).saturating_mul(self.shard_shape[1] / TILE)
    }

    /// `height shard [640, 416] on 64 cores {[0-0 - 7-7]}`.
    pub fn describe(&self) -> String {
        format!(
            "{} shard [{}, {}] on {} cores {}",
            self.strategy,
            self.shard_shape[0],
            self.shard_shape[1],
            self.shards(),
            self.cores
        )
    }
}

/// Why a tensor cannot be sharded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShardError {
    /// Only TILE tensors are modeled sharded.
    RowMajor,
    Overflow(Overflow),
}

impl fmt::Display for ShardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShardError::RowMajor => {
                f.write_str("sharded memory configs are modeled for TILE tensors only")
            }
            ShardError::Overflow(o) => write!(f, "{o}"),
        }
    }
}

impl From<Overflow> for ShardError {
    fn from(o: Overflow) -> Self {
        ShardError::Overflow(o)
    }
}

fn u32_of(v: u64, what: &str) -> Result<u32, Overflow> {
    u32::try_from(v).map_err(|_| Overflow::new(what.to_string()))
}

/// The shard spec of `tensor` on `device`'s whole compute grid (see the module docs).
pub fn shard_spec(
    tensor: &TensorSpec,
    device: &DeviceSpec,
    strategy: ShardStrategy,
) -> Result<ShardSpec, ShardError> {
    if tensor.layout != Layout::Tile {
        return Err(ShardError::RowMajor);
    }
    let padded = tensor.padded_dims();
    let n = padded.len();
    let rows = size::product(padded[..n - 1].iter().copied(), "sharded rows")?;
    let cols = padded[n - 1];
    let (gx, gy) = (u64::from(device.grid_x), u64::from(device.grid_y));
    let cores = gx.saturating_mul(gy);
    let tile_up = |v: u64, parts: u64| size::round_up(size::ceil_div(v, parts), TILE, "shard");
    let shard_shape = match strategy {
        ShardStrategy::Height => [tile_up(rows, cores)?, cols],
        ShardStrategy::Width => [rows, tile_up(cols, cores)?],
        ShardStrategy::Block => [tile_up(rows, gy)?, tile_up(cols, gx)?],
    };
    let grid = [
        size::ceil_div(rows, shard_shape[0]),
        size::ceil_div(cols, shard_shape[1]),
    ];
    let core_set = match strategy {
        ShardStrategy::Height | ShardStrategy::Width => grid::num_cores_to_corerangeset(
            (0, 0),
            u32_of(grid[0].saturating_mul(grid[1]), "shard count")?,
            (device.grid_x, device.grid_y),
            true,
        ),
        ShardStrategy::Block => CoreRangeSet::one(CoreRange::new(
            0,
            0,
            u32_of(grid[1], "shard columns")?.saturating_sub(1),
            u32_of(grid[0], "shard rows")?.saturating_sub(1),
        )),
    };
    Ok(ShardSpec {
        strategy,
        physical: [rows, cols],
        shard_shape,
        grid,
        cores: core_set,
        // Height and width shards go core after core along rows; block shards put rows on the
        // grid's rows (y) and columns on its columns (x).
        orientation: ShardOrientation::RowMajor,
    })
}

impl TensorSpec {
    /// Sharded placement in L1 on `device` (see the module docs).
    pub fn sharded(
        &self,
        device: &DeviceSpec,
        strategy: ShardStrategy,
    ) -> Result<(Placement, ShardSpec), ShardError> {
        let spec = shard_spec(self, device, strategy)?;
        Ok((spec.placement(self, device)?, spec))
    }
}

impl ShardSpec {
    /// Where `tensor` sharded by this spec lives in L1: one whole shard per core of the spec.
    pub fn placement(
        &self,
        tensor: &TensorSpec,
        device: &DeviceSpec,
    ) -> Result<Placement, Overflow> {
        let mut p = crate::plan::sharded_placement(
            device,
            BufferType::L1,
            tensor.pages()?,
            tensor.page_size()?,
            self.shards(),
            self.shard_tiles(),
        )?;
        p.strategy = Some(self.strategy);
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::{N150, P150};
    use crate::dtype::DType;
    use crate::shape::Shape;

    fn t(dims: &[i64]) -> TensorSpec {
        TensorSpec::new(Shape::new(dims).unwrap(), DType::Bfloat16, Layout::Tile)
    }

    #[test]
    fn names_round_trip_and_bad_names_list_the_known() {
        for k in ShardStrategy::ALL {
            assert_eq!(
                k.memory_name().parse::<MemoryConfig>(),
                Ok(MemoryConfig::Sharded(k))
            );
        }
        let e = "l1_diagonal_sharded".parse::<MemoryConfig>().unwrap_err();
        assert!(e.contains("l1_block_sharded") && e.contains("dram"), "{e}");
        assert!("height".parse::<MemoryConfig>().is_err());
    }

    #[test]
    fn partial_shards_use_only_the_cores_that_hold_data() {
        // 4000 rows in shards of a 64-core grid: 63 shards, the last one partial.
        let s = shard_spec(&t(&[1, 1, 4000, 64]), &N150, ShardStrategy::Height).unwrap();
        assert!(!s.even());
        assert_eq!(s.cores.cores(), s.shards());
        assert!(s.shards() < N150.worker_cores());
        let b = shard_spec(&t(&[1, 64, 640, 400]), &P150, ShardStrategy::Block).unwrap();
        assert_eq!(b.cores.cores(), b.shards());
    }

    #[test]
    fn row_major_is_refused() {
        let r = TensorSpec::new(
            Shape::new(&[1, 32, 32]).unwrap(),
            DType::Bfloat16,
            Layout::RowMajor,
        );
        assert_eq!(
            shard_spec(&r, &N150, ShardStrategy::Height),
            Err(ShardError::RowMajor)
        );
    }
}
