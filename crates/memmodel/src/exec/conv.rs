//! `ttnn.conv2d`. What the pinned runtime does (ttnn 0.81.1 on the mock device, measured with
//! NO_DISPATCH graph captures; the details and the probe script are in docs/conv2d.md) is a
//! sequence of device operations whose buffers depend on a sharding the runtime chooses itself
//! when `Conv2dConfig.shard_layout` is unset:
//!
//! 1. the L1 interleaved input is resharded (`InterleavedToShardedDeviceOperation`) to the
//!    chosen layout (`shard_or_reshard_tensor_if_required`);
//! 2. weights and bias are prepared into DRAM (tilized, K padded per input-channel core);
//! 3. `HaloDeviceOperation` (UntilizeWithHalo) allocates the halo output plus four config
//!    tensors in L1_SMALL (the graph capture reports their type as `L1`); with the default
//!    `reallocate_halo_output` the halo output is allocated once more after the resharded input
//!    and the first copy are freed;
//! 4. `Conv2dDeviceOperation` (Conv2dShardedProgramFactory) allocates the output shards and its
//!    reader-indices config tensor (L1_SMALL), with 9 circular buffers, four bound to tensors.
//!
//! memmodel plans an L1 interleaved input (bfloat16, float32, bfloat8_b; ROW_MAJOR or TILE),
//! groups 1 or depthwise, the output left sharded or copied to an interleaved `memory_config`,
//! height, block or width sharded by the runtime's choice; a 1×1 stride-1 conv of an L1 or DRAM
//! interleaved input runs as a matmul ([`super::conv_matmul`]). Every other call is `unmodeled`
//! with the reason (DRAM inputs run in DRAM slices, 1-D depthwise convs, sharded inputs and
//! sharded memory configs are not planned).

use super::grid;
use super::pool::{
    divisor_with_padding, halo_configs, sharded, too_many_cb_pages, Bound, Window, MAX_CB_PAGES,
};
use super::{invalid, unmodeled, Args, Exec, Val};
use crate::device::{BufferType, DeviceSpec};
use crate::dtype::DType;
use crate::error::CaseError;
use crate::layout::Layout;
use crate::plan::sharded_placement;
use crate::plan::BufferRole;
use crate::program::{CbKind, CoreRange, CoreRangeSet, Program};
use crate::shape::Shape;
use crate::shard::{ShardOrientation, ShardSpec, ShardStrategy};
use crate::size;
use crate::tensor::{TensorSpec, TILE};

/// Why memmodel gives no verdict for the conv2d calls it does not plan.
pub const UNPLANNED: &str = "no memmodel plan for this conv2d call yet (memmodel plans an L1 \
     interleaved input, groups 1 or depthwise, a 1×1 stride-1 conv of an L1 or DRAM interleaved \
     input as the runtime's matmul, an interleaved or no memory_config; docs/conv2d.md)";

/// L1 scratchpad CB of the conv program (`l1_scratchpad_CB_size`).
const L1_SCRATCHPAD: u64 = 64;

pub(super) fn call(ex: &mut Exec<'_>, name: &str, a: &Args<'_>) -> Result<Option<Val>, CaseError> {
    match name {
        "conv2d" => {
            a.tensor(usize::MAX, "input_tensor")?;
            match a.get(usize::MAX, "weight_tensor") {
                Some(Val::Host(_)) => {}
                other => {
                    return Err(invalid(
                        a.function,
                        format!("`weight_tensor` must be a host tensor, got {other:?}"),
                    ))
                }
            }
            conv2d(ex, a).map(Some)
        }
        _ => Ok(None),
    }
}

/// How the runtime shards a conv (`determine_parallel_config`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    Height,
    Block,
    Width,
}

impl Scheme {
    /// The sharding it gives a tensor.
    pub fn strategy(self) -> ShardStrategy {
        match self {
            Scheme::Height => ShardStrategy::Height,
            Scheme::Block => ShardStrategy::Block,
            Scheme::Width => ShardStrategy::Width,
        }
    }
}

/// The per-core geometry of one sharding of a conv: `determine_parallel_config`,
/// `determine_output_parallel_config`, `get_conv_configs` and
/// `determine_per_core_conv_block_config` with the default Conv2dConfig.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sharding {
    pub scheme: Scheme,
    /// Cores along N·H·W (the grid's rows for block sharding).
    pub nhw_cores: u64,
    /// Cores along the input channels (the grid's columns for block sharding).
    pub in_c_cores: u64,
    /// Cores along the output channels.
    pub out_c_cores: u64,
    /// Input channels padded to the channel cores × the channel alignment.
    pub in_c_padded: u64,
    /// Input shard: rows (sticks) and channels.
    pub in_shard_h: u64,
    pub in_shard_w: u64,
    /// Output rows per NHW core (whole tiles) and output tiles along channels per core.
    pub out_shard_h: u64,
    pub out_w_tiles: u64,
    /// Output channels padded to the output channel cores × 32.
    pub out_c_padded: u64,
    /// The activation block: its height (the whole output shard unless
    /// `act_block_h_override`) and width, in tiles.
    pub act_h_tiles: u64,
    pub act_w_tiles: u64,
}

/// The activation block's width in channels (`get_conv_configs`): a height-sharded conv's
/// row of the kernel over all channels, a block-sharded one's over its channel core's, a
/// width-sharded one's whole kernel over its channel core's.
fn act_width(scheme: Scheme, in_c_padded: u64, in_c_cores: u64, kernel: [u64; 2]) -> u64 {
    let [kh, kw] = kernel;
    match scheme {
        Scheme::Height => in_c_padded * kw,
        Scheme::Block => in_c_padded / in_c_cores * kw,
        Scheme::Width => in_c_padded * kh * kw / in_c_cores,
    }
}

impl Sharding {
    /// The prepared weights' K in tiles: each channel core's activation block width, times the
    /// kernel rows where that block holds one kernel row (height / block sharding); a
    /// width-sharded block already holds every kernel row (probes, n150, `[1,40,30,64]` and
    /// `[1,400,300,64]` → 64 3×3 WIDTH_SHARDED, L1 and DRAM slices: 18 K tiles, 73,728 B).
    pub fn weight_k_tiles(&self, kernel_h: u64) -> u64 {
        let rows = if self.scheme == Scheme::Width {
            1
        } else {
            kernel_h
        };
        self.in_c_cores * rows * self.act_w_tiles
    }

    /// The same grid with `c` input channels padded to `align` per channel core, the
    /// activation block widened with them: `calculate_L1_usage_for_conv_op`'s blocks when its
    /// alignment is not the one the grid was found with.
    pub fn channels_aligned(mut self, c: u64, align: u64, kernel: [u64; 2]) -> Sharding {
        let step = self.in_c_cores * align;
        self.in_c_padded = c.div_ceil(step) * step;
        self.in_shard_w = self.in_c_padded / self.in_c_cores;
        self.act_w_tiles =
            act_width(self.scheme, self.in_c_padded, self.in_c_cores, kernel).div_ceil(TILE);
        self
    }
}

/// The conv's shape: the sliding window over its input (channels are the input's).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Conv {
    pub win: Window,
    pub c_out: u64,
    pub bias: bool,
    /// A TILE input (channels aligned to 32); ROW_MAJOR aligns them to 8 (a depthwise conv's
    /// too: measured, 32 → 32 channels in groups of one shard 8 channels per core).
    pub tiled: bool,
    /// The input's dtype.
    pub dtype: DType,
    /// The output's (`dtype=`; default the input's) and the prepared weights' and bias's
    /// (`Conv2dConfig.weights_dtype`; default the halo's: float32 or bfloat16).
    pub out_dtype: DType,
    pub weights_dtype: DType,
    /// `act_block_h_override` in tiles (0: the whole output shard).
    pub act_block_h: u64,
    /// `enable_act_double_buffer`, `enable_weights_double_buffer`.
    pub act_double: bool,
    pub weights_double: bool,
    /// `reallocate_halo_output` (default true): the halo output is allocated anew once the
    /// resharded input and the halo's config tensors are freed; false leaves it where it was.
    pub reallocate_halo: bool,
    /// `deallocate_activation` with an L1 input: the runtime frees the caller's input once the
    /// conv has taken it (resharded, tilized or read). A DRAM input is kept whatever the setting
    /// (measured: DRAM slices, L1_FULL and the 1×1 matmul path alike).
    pub free_l1_input: bool,
}

/// `find_closest_largest_divisor_with_num_padding_and_mult` with mult 1: like
/// `find_closest_largest_divisor_with_num_padding`, but never below 1.
fn nhw_cores(tiles: u64, start: u64) -> u64 {
    divisor_with_padding(tiles, start).max(1)
}

/// `find_closest_largest_divisor_with_num_padding_and_mult`: the most cores from `start` down
/// whose padding of `tiles` to `cores × mult` leaves less than one core's share empty.
pub(super) fn nhw_cores_mult(tiles: u64, start: u64, mult: u64) -> u64 {
    if mult <= 1 {
        return nhw_cores(tiles, start);
    }
    let mut cores = start.max(1);
    loop {
        let padded = tiles.div_ceil(cores * mult) * cores * mult;
        if cores <= 1 || padded - tiles < padded / cores {
            return cores;
        }
        cores -= 1;
    }
}

impl Conv {
    /// Bytes of one element the halo writes and the conv reads: float32 stays float32, every
    /// other dtype becomes bfloat16 row-major sticks.
    fn conv_in_elem(&self) -> u64 {
        if self.dtype == DType::Float32 {
            4
        } else {
            2
        }
    }

    /// The dtype the halo writes and the conv reads (`conv_input_dtype`): float32 for a
    /// float32 input, else bfloat16.
    pub fn conv_in_dtype(&self) -> DType {
        if self.dtype == DType::Float32 {
            DType::Float32
        } else {
            DType::Bfloat16
        }
    }

    /// `fp32_dest_acc_en` of conv2d's default compute config: a float32 input with float32
    /// weights (`get_conv_default_compute_kernel_config`).
    pub fn fp32_dest_acc(&self) -> bool {
        self.dtype == DType::Float32 && self.weights_dtype == DType::Float32
    }

    /// Tile bytes of the conv's activation input (`conv_input_dtype`).
    fn conv_in_tile(&self) -> u64 {
        self.conv_in_elem() * TILE * TILE
    }

    /// Tile bytes of the weights and bias (`weights_dtype`; by default the halo's dtype:
    /// measured, a bfloat8_b input's weights are prepared as bfloat16 tiles).
    fn weights_tile(&self) -> u64 {
        super::util::tile_size(self.weights_dtype)
    }

    /// Whether a block-sharded conv keeps its row-major activation in CBs of its own: when the
    /// halo's dtype is not the output's (a bfloat8_b output), else they overlap the activation
    /// CB.
    fn row_major_act(&self) -> bool {
        self.out_dtype != self.conv_in_dtype()
    }

    /// Tile bytes of the output.
    fn out_tile(&self) -> u64 {
        super::util::tile_size(self.out_dtype)
    }

    /// Tile bytes of the input (a TILE input's reshard pages).
    fn in_tile(&self) -> u64 {
        super::util::tile_size(self.dtype)
    }

    /// Output tiles per activation block: `act_block_h_override` when it divides the shard's
    /// tiles, else its largest divisor below (`determine_per_core_conv_block_config`).
    fn act_block_tiles(&self, shard_tiles: u64) -> u64 {
        if self.act_block_h == 0 || shard_tiles == 0 {
            return shard_tiles;
        }
        (1..=self.act_block_h.min(shard_tiles))
            .rev()
            .find(|d| shard_tiles.is_multiple_of(*d))
            .unwrap_or(1)
    }

    /// A width-sharded conv's activation block height (`get_conv_configs`): its output shard is
    /// the whole N·H·W unpadded (`create_sharded_memory_config_from_parallel_config` pads only the
    /// other schemes), so `determine_per_core_conv_block_config` sees `⌊N·H·W / 32⌋` tiles where
    /// the program has `⌈N·H·W / 32⌉`: an override dividing the floor (0 included) is taken as
    /// it is, else its largest divisor of the floor.
    fn width_act_block_tiles(&self, out_nhw: u64) -> u64 {
        let ceil = out_nhw.div_ceil(TILE);
        if self.act_block_h == 0 {
            return ceil;
        }
        let floor = out_nhw / TILE;
        if floor.is_multiple_of(self.act_block_h) {
            return self.act_block_h;
        }
        (1..=self.act_block_h.min(floor))
            .rev()
            .find(|d| floor.is_multiple_of(*d))
            .unwrap_or(1)
    }

    /// The auto-shard estimate's refusal (`get_cb_info`: `output_block_num_tiles <=
    /// per_core_out_ntiles`): the width candidate, scored whatever wins, with an activation block
    /// taller than its output ([`Conv::width_act_block_tiles`]: an override of two or more tiles
    /// on fewer than 32 output rows). Seen on p150 (seed 61042): `[1,52,5,7]` 3×3 stride 2
    /// with act_block_h 64, raised before any buffer.
    ///
    /// A conv the runtime runs as a matmul (`mm_conv`: 1×1 stride 1 unpadded, or folded into
    /// one) keeps the input's channel cores for its output (`determine_output_parallel_config`
    /// with `is_mm_conv`), so its output block is `⌈C_out / (cores · 32)⌉` tiles wide: n150
    /// `[1,81,2,5]` 1×1 → 372, act_block_h 64, in L1: "Conv2d output block size 8 exceeds the
    /// per-core output size 4" (3 channel cores of 4 output tiles, not 12 of 1; random
    /// differential seed 1260003).
    pub fn auto_shard_refusal(&self, d: &DeviceSpec, mm_conv: bool) -> Option<String> {
        let s = self.sharding(d, Scheme::Width);
        let out_w_tiles = if mm_conv {
            self.c_out.div_ceil(s.in_c_cores.saturating_mul(TILE))
        } else {
            s.out_w_tiles
        };
        let out_h = s.out_shard_h / TILE;
        (s.act_h_tiles > out_h).then(|| {
            format!(
                "Conv2d output block size {} exceeds the per-core output size {}",
                s.act_h_tiles * out_w_tiles,
                out_h * out_w_tiles
            )
        })
    }

    /// Tiles of the weights CB: one block of `out_w × act_w`; a height-sharded conv with
    /// several activation blocks holds the kernel's rows of them (fully buffered weights),
    /// else `enable_weights_double_buffer` doubles it.
    fn weights_cb_tiles(&self, s: &Sharding) -> u64 {
        let block = s.out_w_tiles * s.act_w_tiles;
        let act_blocks = (s.out_shard_h / TILE).div_ceil(s.act_h_tiles.max(1));
        if s.scheme == Scheme::Height && act_blocks > 1 {
            block * self.win.kernel[0]
        } else if self.weights_double {
            block * 2
        } else {
            block
        }
    }

    /// `enable_act_double_buffer`'s factor on the activation CBs.
    fn act_factor(&self) -> u64 {
        if self.act_double {
            2
        } else {
            1
        }
    }

    /// Tile bytes of the activation CB: the conv input's for height sharding, the output's
    /// otherwise (`get_cb_info`).
    fn act_tile(&self, scheme: Scheme) -> u64 {
        if scheme == Scheme::Height {
            self.conv_in_tile()
        } else {
            self.out_tile()
        }
    }

    /// `get_input_channels_alignment`: a ROW_MAJOR input's channels align to half the L1
    /// alignment in bfloat16 elements (8), a TILE input's to 32; width sharding aligns to 32.
    fn channel_alignment(&self, d: &DeviceSpec, scheme: Scheme) -> u64 {
        if self.tiled || scheme == Scheme::Width {
            TILE
        } else {
            d.l1_alignment / 2
        }
    }

    pub fn sharding(&self, d: &DeviceSpec, scheme: Scheme) -> Sharding {
        let win = &self.win;
        let (gx, gy) = (u64::from(d.grid_x), u64::from(d.grid_y));
        let align = self.channel_alignment(d, scheme);
        let out_nhw = win.out_nhw();
        let out_nhw_tiles = out_nhw.div_ceil(TILE);
        let out_c_tiles = self.c_out.div_ceil(TILE);
        // With `act_block_h_override` the NHW cores split the rows into whole activation
        // blocks (`find_closest_largest_divisor_with_num_padding_and_mult`).
        let mult = self.act_block_h.max(1);
        let (nhw, in_c, out_c) = match scheme {
            Scheme::Height => (nhw_cores_mult(out_nhw_tiles, d.worker_cores(), mult), 1, 1),
            Scheme::Block => (
                nhw_cores_mult(out_nhw_tiles, gy, mult),
                divisor_with_padding(win.c.div_ceil(align), gx),
                divisor_with_padding(out_c_tiles, gx),
            ),
            Scheme::Width => (
                1,
                divisor_with_padding(win.c.div_ceil(TILE), d.worker_cores()),
                divisor_with_padding(out_c_tiles, d.worker_cores()),
            ),
        };
        let in_c_padded = win.c.div_ceil(in_c * align) * in_c * align;
        let in_rows = win.n * win.h * win.w;
        // determine_input_memory_config: a width-sharded ROW_MAJOR input's one shard is N·H·W
        // rows as they are (seen on n150: `[1,58,324,227]`, 73,548 rows), every other sharding's
        // rows are padded to whole tiles per core.
        let in_shard_h = if scheme == Scheme::Width && !self.tiled {
            in_rows
        } else {
            in_rows.div_ceil(nhw * TILE) * TILE
        };
        let out_shard_h = out_nhw.div_ceil(nhw * TILE) * TILE;
        let out_c_padded = self.c_out.div_ceil(out_c * TILE) * out_c * TILE;
        let in_shard_w = in_c_padded / in_c;
        let act_w = act_width(scheme, in_c_padded, in_c, win.kernel);
        Sharding {
            scheme,
            nhw_cores: nhw,
            in_c_cores: in_c,
            out_c_cores: out_c,
            in_c_padded,
            in_shard_h,
            in_shard_w,
            out_shard_h,
            out_w_tiles: out_c_padded / out_c / TILE,
            out_c_padded,
            act_h_tiles: if scheme == Scheme::Width {
                self.width_act_block_tiles(out_nhw)
            } else {
                self.act_block_tiles(out_shard_h / TILE)
            },
            act_w_tiles: act_w.div_ceil(TILE),
        }
    }

    /// A DRAM slice's sharding: `Conv2dSliceAttr::get_input_memory_config` shards the slice
    /// with `determine_input_memory_config`, which splits N·H·W over the cores without
    /// `act_block_h_override` as its multiple; the conv keeps that grid and takes the largest
    /// divisor of its shard's tiles up to the override as its block (n150, `[1,1024,72,114]`
    /// → 90 3×3 stride 2 BLOCK_SHARDED, act_block_h 96, 2 width slices: 8 NHW cores of 5
    /// tiles and one-tile blocks, where the L1 path's multiple of 3 gives 6 cores; random
    /// conv2d seed 1207301).
    pub fn slice_sharding(&self, d: &DeviceSpec, scheme: Scheme) -> Sharding {
        let mut s = Conv {
            act_block_h: 0,
            ..*self
        }
        .sharding(d, scheme);
        s.act_h_tiles = if scheme == Scheme::Width {
            self.width_act_block_tiles(self.win.out_nhw())
        } else {
            self.act_block_tiles(s.out_shard_h / TILE)
        };
        s
    }

    /// The halo's sticks per core: the longest padded-input span one NHW core's output shard
    /// reads (`generate_max_out_nsticks_per_core`).
    pub fn halo_sticks(&self, s: &Sharding) -> u64 {
        self.win
            .boundaries(s.nhw_cores, s.out_shard_h)
            .iter()
            .flatten()
            .map(|b| b.in_last - b.in_first + 1)
            .max()
            .unwrap_or(0)
    }

    /// `calculate_L1_usage_for_conv_op`'s total for one scheme: the conv program's CBs that are
    /// not bound to a tensor, its output shard and the halo output per core.
    pub fn l1_usage(&self, d: &DeviceSpec, scheme: Scheme) -> u64 {
        let s = self.sharding(d, scheme);
        self.l1_usage_of(&s, s.in_shard_w)
    }

    /// [`Conv::l1_usage`] of a given sharding `s` (its activation blocks and output shard), with
    /// a halo `halo_w` channels wide per core.
    pub fn l1_usage_of(&self, s: &Sharding, halo_w: u64) -> u64 {
        let (scheme, h, w) = (s.scheme, s.act_h_tiles, s.act_w_tiles);
        let act = h.saturating_mul(w);
        let row_major = match scheme {
            Scheme::Width => w.saturating_mul(2),
            Scheme::Block if self.row_major_act() => act.saturating_mul(self.act_factor()),
            _ => 0,
        };
        let bias = if self.bias { s.out_w_tiles } else { 0 };
        let (it, wt, ot) = (self.conv_in_tile(), self.weights_tile(), self.out_tile());
        // Saturating: this only ranks the schemes, and a total past u64 (a fuzzed conv2d of
        // [1,1,1,8725728421913761] overflowed here) fits no L1 whichever scheme it is.
        let sum = |terms: &[u64]| terms.iter().fold(0u64, |a, &t| a.saturating_add(t));
        let mul = |terms: &[u64]| terms.iter().fold(1u64, |a, &t| a.saturating_mul(t));
        let cbs = sum(&[
            mul(&[sum(&[self.weights_cb_tiles(s), bias]), wt]),
            mul(&[row_major, it]),
            mul(&[act, self.act_factor(), self.act_tile(scheme)]),
            mul(&[act, ot]),
        ]);
        let out = mul(&[s.out_shard_h / TILE, s.out_w_tiles, ot]);
        let halo = mul(&[self.halo_sticks(s), halo_w, self.conv_in_elem()]);
        sum(&[cbs, L1_SCRATCHPAD, out, halo])
    }

    /// `determine_conv_config_for_auto_shard`: height sharding unless block sharding takes
    /// less L1 per core and spreads over at least a grid row's worth of cores, then width
    /// sharding if it takes less still.
    pub fn auto_scheme(&self, d: &DeviceSpec) -> Scheme {
        self.auto_scheme_by(d, |scheme| self.l1_usage(d, scheme))
    }

    /// [`Conv::auto_scheme`] with each scheme's L1 per core given by `usage`.
    pub fn auto_scheme_by(&self, d: &DeviceSpec, usage: impl Fn(Scheme) -> u64) -> Scheme {
        let height = usage(Scheme::Height);
        let block = usage(Scheme::Block);
        let width = usage(Scheme::Width);
        let bs = self.sharding(d, Scheme::Block);
        let block_cores = bs.nhw_cores * bs.in_c_cores.max(bs.out_c_cores);
        let (mut scheme, mut best) = (Scheme::Height, height);
        if block < best && block_cores >= u64::from(d.grid_x) {
            (scheme, best) = (Scheme::Block, block);
        }
        if width < best {
            scheme = Scheme::Width;
        }
        scheme
    }

    /// Whether the conv program reads its activation with two readers (`enable_split_reader`
    /// in conv2d_op_sharded_program_factory.cpp: `is_split_reader_supported` and
    /// `is_split_reader_viable`, conv2d_op_program_factory_common.cpp). A block-sharded conv
    /// with two or more activation tiles of rows always does; a height-sharded one where the
    /// runtime's cycle estimate says two readers start the matmul sooner (the same f32
    /// arithmetic, its NoC rate lines and tilize cycle table). `None`: the table has no entry for
    /// the dtypes (the runtime throws).
    // The runtime's measured mcast rate 0.318 GB/s is not 1/π.
    #[allow(clippy::approx_constant)]
    pub fn split_reader(&self, d: &DeviceSpec, s: &Sharding) -> Option<bool> {
        let h = s.act_h_tiles;
        match s.scheme {
            Scheme::Block => return Some(h > 1),
            // The width-sharded factory has one activation reader
            // (activation_reader_width_sharded.cpp): its reader indices are one block's runs
            // (seen on n150: `[1,32,30,55]` told WIDTH_SHARDED, 120 B where two readers' would
            // be 128 B).
            Scheme::Width => return Some(false),
            Scheme::Height if h <= 1 => return Some(false),
            Scheme::Height => {}
        }
        let blackhole = d.arch == crate::device::Arch::Blackhole;
        // (linear growth threshold, rate at the L1 alignment, peak rate) in GB/s.
        let rate = |bytes: u64, (threshold, min, peak): (u64, f32, f32)| -> f32 {
            let floor = d.l1_alignment;
            let effective = bytes.clamp(floor, threshold);
            let per_byte = (peak - min) / (threshold - floor) as f32;
            min + per_byte * (effective - floor) as f32
        };
        let (local_l1, dram, mcast) = if blackhole {
            (
                (4096, 1.124f32, 80.48f32),
                (2048, 0.671f32, 80.885f32),
                (65536, 0.182f32, 57.677f32),
            )
        } else {
            (
                (1024, 0.868f32, 27.84f32),
                (2048, 0.436f32, 28.411f32),
                (65536, 0.318f32, 25.345f32),
            )
        };
        let clock: f32 = if blackhole { 1.35 } else { 1.0 };
        let halo_f32 = self.conv_in_dtype() == DType::Float32;
        let elem = self.conv_in_elem();
        let kw = self.win.kernel[1];
        let coalesced = if self.win.dilation[1] == 1 { kw } else { 1 };
        // Estimates in f32 as the runtime's: saturating products only ever feed a float.
        let product = |xs: &[u64]| xs.iter().fold(1u64, |a, x| a.saturating_mul(*x));
        let unit = product(&[elem, s.in_c_padded, coalesced]);
        let act_bytes = product(&[elem, h, TILE, s.in_c_padded, kw]);
        let act = clock * act_bytes as f32 / rate(unit, local_l1);
        let weights_tile = self.weights_tile();
        let weight_bytes = product(&[weights_tile, s.out_w_tiles, s.act_w_tiles]);
        let weights = clock
            * weight_bytes as f32
            * (1.0 / rate(weights_tile, dram) + 1.0 / rate(weight_bytes, mcast));
        // get_conv_default_compute_kernel_config: fp32 accumulation for float32 input and
        // weights.
        let fp32_acc =
            usize::from(self.dtype == DType::Float32 && self.weights_dtype == DType::Float32);
        let cycles: [u64; 2] = match (blackhole, halo_f32, self.out_dtype) {
            (true, true, DType::Float32) => [132, 132],
            (true, true, DType::Bfloat16) => [132, 80],
            (true, true, DType::Bfloat8B) => [132, 77],
            (true, false, DType::Float32) => [105, 128],
            (true, false, DType::Bfloat16) => [72, 72],
            (true, false, DType::Bfloat8B) => [60, 60],
            (false, true, DType::Float32) => [107, 128],
            (false, true, DType::Bfloat16) => [74, 74],
            (false, true, DType::Bfloat8B) => [74, 70],
            (false, false, DType::Float32) => [92, 117],
            (false, false, DType::Bfloat16) => [61, 68],
            (false, false, DType::Bfloat8B) => [40, 43],
            _ => return None,
        };
        let tilize = product(&[cycles[fp32_acc], s.act_w_tiles, h]) as f32;
        Some(act / 2.0 + weights.max(tilize) < (act + tilize).max(weights))
    }

    /// Per-core bytes of the conv's reader-indices config (`generate_sliding_window_op_config`
    /// for a conv): per activation block a segment count, an alignment word and a (first, last)
    /// pair of top-left indices per run of windows `stride_w` apart; with the split reader
    /// ([`Conv::split_reader`]) the blocks alternate between the two readers' halves (⌈h/2⌉
    /// and ⌊h/2⌋ tiles). The longest core's, padded to an even length.
    pub fn reader_config_bytes(&self, s: &Sharding, split: bool) -> u64 {
        let win = &self.win;
        let total = win.out_nhw();
        let h = s.act_h_tiles;
        let readers = if split {
            [h.div_ceil(2) * TILE, h / 2 * TILE]
        } else {
            [h * TILE, h * TILE]
        };
        // Whether output pixel `i` (> 0) starts a new run: its window is not `stride_w` past
        // its predecessor's.
        let breaks = |i: u64| win.top_left(i) != win.top_left(i - 1) + win.stride[1];
        let mut longest = 0;
        for k in 0..s.nhw_cores {
            let first = k * s.out_shard_h;
            if first >= total {
                break;
            }
            let last = ((k + 1) * s.out_shard_h).min(total) - 1;
            let (mut start, mut words, mut r) = (first, 0u64, 0usize);
            while start <= last {
                let end = (start + readers[r] - 1).min(last);
                // Runs start at row starts (multiples of wo) inside the block, where breaks.
                let mut runs = 1;
                let mut row = (start / win.wo + 1) * win.wo;
                while row <= end {
                    if breaks(row) {
                        runs += 1;
                    }
                    row += win.wo;
                }
                words += 2 + 2 * runs;
                start = end + 1;
                r ^= 1;
            }
            longest = longest.max(words);
        }
        longest.div_ceil(2) * 2 * 2
    }
}

/// The conv program's refusal of a reader-indices config larger than the CB the program
/// sizes for it (`get_cb_info`: two bytes per output row of the shard, its worst case): seen
/// on n150 for `[4,352,24,12]` 3×5 dilation 2 stride 2 HEIGHT_SHARDED (68 B of indices, one
/// tile of output rows), raised before any circular buffer is checked.
fn reader_indices_refusal(reader_bytes: u64, s: &Sharding) -> Option<String> {
    let worst = s.out_shard_h.saturating_mul(2);
    (reader_bytes > worst).then(|| {
        format!(
            "Reader indices buffer page size {reader_bytes} exceeds worst-case CB size {worst} \
             (config tensor layout changed?)"
        )
    })
}

/// The width-sharded factory's refusals of an activation block taller than the output block,
/// or that does not divide the activation matrix's height: the block comes from the floor of N·H·W in tiles
/// ([`Conv::width_act_block_tiles`]), the matrix has its ceiling (`act_matrix_height_ntiles 7
/// should be divisible by act_block_h_ntiles 6`, seed 1207911). Height and block sharding take
/// a divisor of the shard's tiles: never refused.
fn act_matrix_refusal(conv: &Conv, s: &Sharding) -> Option<String> {
    if s.scheme != Scheme::Width || s.act_h_tiles == 0 {
        return None;
    }
    let height = conv.win.out_nhw().div_ceil(TILE);
    if s.act_h_tiles > height {
        // Checked first: an override above the N·H·W tiles (fewer than 32 output rows take
        // it whole; seeds 1207311 n150, 1207312 p150).
        return Some(format!(
            "Output block height (in # of tiles) ({height}) should be greater than or equal to \
             activation block height (in # of tiles) ({})",
            s.act_h_tiles
        ));
    }
    (!height.is_multiple_of(s.act_h_tiles)).then(|| {
        format!(
            "act_matrix_height_ntiles {height} should be divisible by act_block_h_ntiles {}",
            s.act_h_tiles
        )
    })
}

/// The cores a sharding's shards live on: height sharding row-major over the grid, block
/// sharding a `channel cores × NHW cores` rectangle.
pub(super) fn shard_grid(d: &DeviceSpec, scheme: Scheme, nhw: u64, c: u64) -> CoreRangeSet {
    match scheme {
        Scheme::Block => CoreRangeSet::one(CoreRange::new(0, 0, (c - 1) as u32, (nhw - 1) as u32)),
        _ => grid::num_cores_to_corerangeset((0, 0), (nhw * c) as u32, (d.grid_x, d.grid_y), true),
    }
}

/// get_conv_padded_input_shape_and_mem_config's "reshard or not" for an input `x` that may be
/// sharded: `Ok(true)` when it is in the conv's parallel config (its grid `cores`, `scheme`,
/// row-major orientation) and is used as it is; `Ok(false)` when it is interleaved, or sharded
/// otherwise and resharded (`reshard_if_not_optimal`: the same buffers as sharding an
/// interleaved input, seen on YOLOv12x's #2); unmodeled when the conv would run on the input's
/// own grid or on a shard shape not its own.
pub(super) fn keep_sharded_input(
    x: &super::DevTensor,
    scheme: Scheme,
    cores: CoreRangeSet,
    shard_shape: [u64; 2],
    reshard: bool,
) -> Result<bool, CaseError> {
    let Some(xs) = &x.shard else {
        return Ok(false);
    };
    let f = "ttnn.conv2d";
    let same_config = xs.strategy == scheme.strategy()
        && xs.orientation == ShardOrientation::RowMajor
        && xs.cores == cores;
    if same_config && xs.shard_shape != shard_shape {
        return Err(unmodeled(
            f,
            format!(
                "{UNPLANNED}: a sharded input in the conv's grid with another shard shape ({} \
                 where the conv's is {shard_shape:?})",
                xs.describe()
            ),
        ));
    }
    if !same_config && !reshard {
        return Err(unmodeled(
            f,
            format!(
                "{UNPLANNED}: a sharded input ({}) outside the conv's parallel config without \
                 reshard_if_not_optimal",
                xs.describe()
            ),
        ));
    }
    if x.layout() != Layout::Tile {
        return Err(unmodeled(
            f,
            format!("{UNPLANNED}: a ROW_MAJOR sharded input"),
        ));
    }
    Ok(same_config)
}

/// `ttnn::move` of `t` as the runtime does it once its input is gone: the buffer freed, then
/// allocated anew (lowest first-fit address, where the freed input was).
pub(super) fn reallocated(ex: &mut Exec<'_>, t: super::DevTensor) -> super::DevTensor {
    let b = &ex.b.buffers[t.buffer];
    let (what, tensor, placement) = (b.what, b.tensor.clone(), b.placement);
    let (spec, memory, shard) = (t.spec.clone(), t.memory, t.shard.clone());
    ex.b.release(t);
    let buffer = ex.b.alloc(what, BufferRole::Temporary, tensor, placement);
    super::DevTensor {
        spec,
        memory,
        shard,
        buffer,
    }
}

/// The program that shards `x` into `resharded` on `cores`: InterleavedToSharded, or, where a
/// buffer cannot have been allocated (the case's OOM in normal mode), CopyDeviceOperation as the
/// capture shows.
pub(super) fn reshard_into(
    ex: &mut Exec<'_>,
    x: &super::DevTensor,
    resharded: &super::DevTensor,
    page: u64,
    cores: &CoreRangeSet,
) {
    // The L1 bank left once the device is opened with conv2d's L1_SMALL.
    let l1_bank = ex
        .device()
        .l1_bank_bytes
        .saturating_sub(crate::device::CONV2D_L1_SMALL);
    let input_per_bank = ex.b.buffers[x.buffer].placement.per_bank_bytes;
    let shard_bytes = ex.b.buffers[resharded.buffer].placement.per_bank_bytes;
    // to_memory_config copies where InterleavedToSharded's CBs would not fit the bank: the
    // shard and its reader's scratch of 4 transaction ids, align(page + DRAM alignment) each
    // (measured on n150, `[1,1024,H,159]` TILE from DRAM in L1_FULL, 3×3 stride 2 → 161: the
    // 166-tile-row shards of H 266, 1,359,872 B, are copied, whose run clashes with the shards
    // at 106,496; those of H 265, 1,351,680 B, resharded).
    let scratch = reshard_scratch(ex.device(), page);
    let cbs_overflow = x.shard.is_none() && shard_bytes.saturating_add(scratch) >= l1_bank;
    let by_copy = (x.memory == BufferType::L1 && input_per_bank > l1_bank)
        || shard_bytes > l1_bank
        || cbs_overflow;
    let run_as = (!by_copy)
        .then(|| run_copy_instead(ex, x, shard_bytes, page))
        .flatten();
    super::pool::reshard_program_run_as(
        ex,
        by_copy,
        page,
        shard_bytes,
        cores,
        // A ROW_MAJOR input's page is one stick of the shard's channels.
        (x.layout() == Layout::RowMajor).then_some(page),
        run_as,
    );
}

/// InterleavedToSharded's reader scratch: 4 transaction ids of align(page + DRAM alignment).
fn reshard_scratch(d: &DeviceSpec, page: u64) -> u64 {
    let align = d.dram_alignment.max(1);
    page.div_ceil(align)
        .saturating_add(1)
        .saturating_mul(align)
        .saturating_mul(4)
}

/// The CopyDeviceOperation a device run shards interleaved `x` with in place of the
/// InterleavedToSharded the NO_DISPATCH capture records, if it does: call with the shard of
/// `shard_bytes` (pages of `page` bytes) just allocated. A device run chooses on the L1 it finds
/// free below the lowest buffer (the shard's own), where the capture sees the whole bank: it
/// copies where shard + scratch ([`reshard_scratch`]) >= that
/// (p150, float32 [1,1024,39,112] ROW_MAJOR in L1, depthwise 4×5 width-sharded, filler below
/// the input: reshards with 559,888 B free, copies with 559,872 = 559,104 + 768; TILE alike;
/// seed 1212162's copy clashed).
pub(super) fn run_copy_instead(
    ex: &Exec<'_>,
    x: &super::DevTensor,
    shard_bytes: u64,
    page: u64,
) -> Option<Program> {
    let scratch = reshard_scratch(ex.device(), page);
    let copies = x.shard.is_none()
        && ex
            .b
            .l1_free_below_lowest()
            .is_some_and(|free| shard_bytes.saturating_add(scratch) >= free);
    copies.then(|| run_copy_program(ex.device(), x, page))
}

/// The CopyDeviceOperation a device run shards interleaved `x` with (shard pages of
/// `out_page` bytes). TILE: two tiles on the whole grid, as the capture's copy. ROW_MAJOR
/// (copy_default_row_major_program_factory.cpp): the rows split over the grid, each core with
/// a dataflow buffer of two L1-aligned output pages, then a scratchpad of one unaligned input
/// row, both at most 256 KiB (p150 clash messages, interleaved → width- / height-sharded L1:
/// the region ends at 2 × align(page, 16) + row past the base, each start 64-aligned: a 16 B
/// shard stick of 128 B rows 192, a 2,000 B row height-sharded 6,032, seed 1212162's 128 B
/// sticks of 4,096 B rows 4,352); where there are fewer rows than cores it moves whole common
/// pages instead.
fn run_copy_program(d: &DeviceSpec, x: &super::DevTensor, out_page: u64) -> Program {
    if x.layout() != Layout::RowMajor {
        return Program::new("CopyDeviceOperation", "DefaultTilized").cb(
            CbKind::Dataflow,
            out_page.saturating_mul(2),
            &grid::full(d),
        );
    }
    let es = x.dtype().row_major_element_bytes().max(1);
    let width = x.dims().last().copied().unwrap_or(1).max(1);
    let row = width.saturating_mul(es);
    let rows = x.shape().elements() / width;
    let max_subblock = super::eltwise::COPY_ROW_CHUNK_BUFFER / 2;
    let grid_cores = u64::from(d.grid_x).saturating_mul(u64::from(d.grid_y));
    let out_elements = (out_page / es).max(1);
    let common = gcd(width, out_elements).saturating_mul(es);
    if rows < grid_cores
        && common < row
        && common <= max_subblock
        && common.is_multiple_of(d.alignment(x.memory).max(d.l1_alignment).max(1))
    {
        let units = rows.saturating_mul(width.div_ceil((common / es).max(1)));
        let cores = grid::merge_ranges(&grid::split_work(d, units, false).all);
        return Program::new("CopyDeviceOperation", "DefaultRowMajor").cb(
            CbKind::Dataflow,
            common.saturating_mul(2),
            &cores,
        );
    }
    let cores = grid::merge_ranges(&grid::split_work(d, rows, false).all);
    let aligned_out = out_page
        .div_ceil(d.l1_alignment.max(1))
        .saturating_mul(d.l1_alignment.max(1))
        .min(max_subblock);
    Program::new("CopyDeviceOperation", "DefaultRowMajor")
        .cb(CbKind::Dataflow, aligned_out.saturating_mul(2), &cores)
        .cb(CbKind::Scratchpad, row.min(max_subblock), &cores)
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// The conv program's cores: the bounding box of its input and output grids.
fn program_grid(d: &DeviceSpec, s: &Sharding) -> CoreRangeSet {
    let (x, y) = match s.scheme {
        Scheme::Block => (s.in_c_cores.max(s.out_c_cores), s.nhw_cores),
        _ => {
            let gx = u64::from(d.grid_x);
            // The width-sharded factory runs on the larger of the input and output grids
            // (`[2,64,33,19]` → 254 on n150: 8 output channel cores, 2 input ones).
            let n = match s.scheme {
                Scheme::Width => s.in_c_cores.max(s.out_c_cores),
                _ => s.nhw_cores * s.in_c_cores,
            };
            if n <= gx {
                (n, 1)
            } else {
                (gx, n.div_ceil(gx))
            }
        }
    };
    CoreRangeSet::one(CoreRange::new(0, 0, (x - 1) as u32, (y - 1) as u32))
}

/// The `Conv2dConfig` fields and the output dtype a plan follows; any other field set is
/// `unmodeled`.
#[derive(Debug, Clone, Copy, Default)]
struct Settings {
    out_dtype: Option<DType>,
    weights_dtype: Option<DType>,
    shard_layout: Option<Scheme>,
    /// `act_block_h_override` in rows (0: none).
    act_block_h: u64,
    act_double: bool,
    weights_double: bool,
    deallocate_activation: bool,
    /// A fused `activation` (the 1×1 matmul path runs it as a unary of its own).
    activation: bool,
    /// `reallocate_halo_output` (the runtime's default: true).
    reallocate_halo: bool,
    /// `reshard_if_not_optimal`: a sharded input not in the conv's parallel config is resharded
    /// into it (else the conv runs on the input's grid: not planned).
    reshard: bool,
}

impl Settings {
    fn of(a: &Args<'_>) -> Result<Settings, CaseError> {
        let f = a.function;
        let mut out = Settings {
            reallocate_halo: true,
            ..Settings::default()
        };
        match a.kw.get("dtype") {
            None | Some(Val::None) => {}
            Some(Val::DType(d)) => out.out_dtype = Some(*d),
            Some(other) => return Err(invalid(f, format!("`dtype` is {other:?}"))),
        }
        let config = match a.kw.get("conv_config") {
            None | Some(Val::None) => return Ok(out),
            Some(Val::Object { kwargs, .. }) => kwargs,
            Some(other) => return Err(invalid(f, format!("`conv_config` is {other:?}"))),
        };
        for (key, value) in config {
            match (*key, value) {
                ("weights_dtype", Val::DType(d)) => out.weights_dtype = Some(*d),
                ("shard_layout", Val::Attr(layout)) => {
                    out.shard_layout = Some(match *layout {
                        "TensorMemoryLayout.HEIGHT_SHARDED" => Scheme::Height,
                        "TensorMemoryLayout.BLOCK_SHARDED" => Scheme::Block,
                        "TensorMemoryLayout.WIDTH_SHARDED" => Scheme::Width,
                        other => {
                            return Err(unmodeled(f, format!("{UNPLANNED}: shard_layout {other}")))
                        }
                    })
                }
                ("act_block_h_override", Val::Int(rows)) => {
                    out.act_block_h = u64::try_from(*rows)
                        .map_err(|_| invalid(f, "`act_block_h_override` is negative"))?
                }
                // A fused activation runs in the conv's compute kernel: no buffer of its own.
                ("activation", v) => out.activation = !matches!(v, Val::None),
                ("enable_act_double_buffer", Val::Bool(b)) => out.act_double = *b,
                ("enable_weights_double_buffer", Val::Bool(b)) => out.weights_double = *b,
                ("deallocate_activation", Val::Bool(b)) => out.deallocate_activation = *b,
                ("reallocate_halo_output", Val::Bool(b)) => out.reallocate_halo = *b,
                // Only an input already sharded is resharded or not by it.
                ("reshard_if_not_optimal", Val::Bool(b)) => out.reshard = *b,
                (other, _) => {
                    return Err(unmodeled(f, format!("{UNPLANNED}: Conv2dConfig.{other}")))
                }
            }
        }
        Ok(out)
    }
}

fn conv2d(ex: &mut Exec<'_>, a: &Args<'_>) -> Result<Val, CaseError> {
    let f = a.function;
    let x = a.tensor(usize::MAX, "input_tensor")?.clone();
    let int = |name: &str| -> Result<u64, CaseError> {
        a.int(usize::MAX, name)?
            .and_then(|v| u64::try_from(v).ok())
            .filter(|v| *v >= 1)
            .ok_or_else(|| invalid(f, format!("`{name}` must be a positive integer")))
    };
    let pair = |name: &str, min: u64| -> Result<[u64; 2], CaseError> {
        let v = a
            .ints(usize::MAX, name)?
            .ok_or_else(|| invalid(f, format!("`{name}` is required")))?;
        match v.as_slice() {
            [p, q] if *p >= min as i64 && *q >= min as i64 => Ok([*p as u64, *q as u64]),
            _ => Err(invalid(
                f,
                format!("`{name}` must be two integers >= {min}, got {v:?}"),
            )),
        }
    };
    let (n, h, w, c_in, c_out, groups) = (
        int("batch_size")?,
        int("input_height")?,
        int("input_width")?,
        int("in_channels")?,
        int("out_channels")?,
        int("groups")?,
    );
    let kernel = pair("kernel_size", 1)?;
    let stride = pair("stride", 1)?;
    let pad = pair("padding", 0)?;
    let dilation = pair("dilation", 1)?;
    let bias = !matches!(a.get(usize::MAX, "bias_tensor"), None | Some(Val::None));
    let settings = Settings::of(a)?;
    let folds = folds_kernel_stride(&x, [h, w], kernel, stride, pad, dilation);
    // Folding is planned for a DRAM interleaved input (ROW_MAJOR padded or not, TILE
    // unpadded), any groups (the folded matmul's weights are the full block-diagonal matrix,
    // as for groups 1), deallocate_activation and slice_config alike (the fold of a DRAM input
    // runs unsliced and keeps the input: traces equal with and without), with the runtime's
    // own sharding (exec/conv_matmul.rs `plan_folded`). Told a shard_layout the runtime folds
    // and refuses the matmul, its weights prepared K·kh tall (n150 `[1,32,64,64]` 2×2
    // HEIGHT_SHARDED: "K dimension in tiles must match between input A (4) and input B (8)";
    // a 1×2 kernel runs): not pinned.
    let fold_planned =
        x.memory == BufferType::Dram && x.shard.is_none() && settings.shard_layout.is_none();
    if folds && !fold_planned {
        return Err(unmodeled(
            f,
            format!(
                "{UNPLANNED}: kernel stride folding (kernel = stride ≠ 1×1 on a DRAM input \
                 that is ROW_MAJOR or unpadded, or a height-sharded one: the runtime folds it \
                 and runs a matmul) of a sharded input or told a shard_layout (the runtime \
                 refuses most of those at the matmul, K apart; not pinned)"
            ),
        ));
    }
    // Without memory_config the output stays in the conv's L1 shards; an interleaved
    // memory_config copies it there (ShardedToInterleaved).
    let out_memory = match a.kw.get("memory_config") {
        None | Some(Val::None) => None,
        Some(Val::Mem(m)) => Some(*m),
        Some(_) => {
            return Err(unmodeled(
                f,
                format!("{UNPLANNED}: a sharded memory_config"),
            ))
        }
    };
    // `slice_config` L1_FULL runs the L1 path on a DRAM input too (exec/conv_slice.rs).
    let l1_full_of_dram = super::conv_slice::l1_full_of_dram(a, &x);
    // A DRAM input without slice_config (or DRAM_HEIGHT / DRAM_WIDTH) runs in DRAM slices.
    let dram_slicing = super::conv_slice::dram_request(a, &x)?;
    // The runtime runs a 1×1 stride-1 conv as a matmul, never in DRAM slices
    // (exec/conv_matmul.rs).
    let mm_conv = super::conv_matmul::is_matmul_conv(
        kernel,
        stride,
        pad,
        dilation,
        settings.shard_layout == Some(Scheme::Width),
    );
    // A sharded input (another conv's output in its parallel config) is planned on the halo path
    // below: kept when it is in this conv's parallel config, resharded when
    // reshard_if_not_optimal says so.
    let sharded_in = x.shard.is_some() || ex.b.buffers[x.buffer].placement.sharded;
    if mm_conv
        && sharded_in
        && !matches!(settings.shard_layout, Some(Scheme::Height | Scheme::Block))
    {
        return Err(unmodeled(
            f,
            format!(
                "{UNPLANNED}: a sharded input to the 1×1 stride-1 matmul path without \
                 shard_layout HEIGHT_SHARDED or BLOCK_SHARDED"
            ),
        ));
    }
    if x.memory != BufferType::L1 && !l1_full_of_dram && !mm_conv && dram_slicing.is_none() {
        return Err(unmodeled(
            f,
            format!(
                "{UNPLANNED}: a DRAM input (DRAM inputs run in DRAM slices unless slice_config \
                 is L1_FULL)"
            ),
        ));
    }
    if sharded_in && x.shard.is_none() {
        return Err(unmodeled(
            f,
            format!("{UNPLANNED}: a sharded buffer without its shard spec"),
        ));
    }
    if !matches!(
        x.dtype(),
        DType::Bfloat16 | DType::Float32 | DType::Bfloat8B
    ) {
        return Err(unmodeled(f, format!("{UNPLANNED}: a {} input", x.dtype())));
    }
    let depthwise = groups == c_in && groups == c_out && groups > 1;
    if groups != 1 && !depthwise && !folds {
        return Err(unmodeled(
            f,
            format!("{UNPLANNED}: groups {groups} (not depthwise)"),
        ));
    }
    // The runtime's 1-D depthwise path takes any kernel one row tall on a one-row input (n150,
    // `[1,1024,1,89]` 1×4 padding [0, 1] height-sharded: it fits where the dense plan clashed).
    let one_row_depthwise = depthwise && kernel[0] == 1 && !bias;
    if one_row_depthwise && h == 1 {
        return Err(unmodeled(
            f,
            format!("{UNPLANNED}: a 1-D depthwise conv (its own height-sharded path)"),
        ));
    }
    // The 1×1 matmul path with double buffers, act_block_h_override or mixed dtype and
    // weights_dtype, and 1×1 halo-path convs with bfloat8_b weights, are planned (random
    // differential, 0 mismatches: seeds 1207111, 1207121 n150 and 1207122 p150 on 1×1 stride 1;
    // 1207135 p150 stride 2 and 1207136 n150 dilation 2 with bfloat8_b weights).
    let rows = size::product([n, h, w], "N·H·W")?;
    if x.dims() != [1, 1, rows, c_in] && x.dims() != [n, h, w, c_in] {
        return Err(invalid(
            f,
            format!(
                "needs a [1, 1, {rows}, {c_in}] or [{n}, {h}, {w}, {c_in}] input, got {}",
                x.shape()
            ),
        ));
    }
    if x.shard.is_some() && x.dims() != [1, 1, rows, c_in] {
        return Err(unmodeled(
            f,
            format!("{UNPLANNED}: a sharded [N, H, W, C] input"),
        ));
    }
    let win = Window::new([n, h, w, c_in], kernel, stride, pad, dilation)
        .ok_or_else(|| invalid(f, "the kernel does not fit the padded input"))?;
    let conv = Conv {
        win,
        c_out,
        bias,
        tiled: x.layout() == Layout::Tile,
        dtype: x.dtype(),
        out_dtype: settings.out_dtype.unwrap_or(x.dtype()),
        weights_dtype: DType::Bfloat16,
        act_block_h: settings.act_block_h / TILE,
        act_double: settings.act_double,
        weights_double: settings.weights_double,
        reallocate_halo: settings.reallocate_halo,
        free_l1_input: settings.deallocate_activation && x.memory == BufferType::L1,
    };
    let conv = Conv {
        weights_dtype: settings.weights_dtype.unwrap_or(conv.conv_in_dtype()),
        ..conv
    };
    // deallocate_activation on the matmul path of an interleaved L1 input is planned (its
    // HEIGHT_SHARDED and BLOCK_SHARDED reshards in conv_matmul.rs); a sharded input, which the
    // call space cannot give a single conv2d, has not been captured.
    if mm_conv && conv.free_l1_input && sharded_in {
        return Err(unmodeled(
            f,
            format!(
                "{UNPLANNED}: deallocate_activation on the 1×1 matmul path with a sharded input \
                 (not measured)"
            ),
        ));
    }
    // conv2d_DRAM hands a 1×1 stride-1 conv of an L1 input back to the matmul path as it is:
    // slice_config changes nothing (NO_DISPATCH traces equal to the unsliced plan, n150 and
    // p150, TILE and ROW_MAJOR, HEIGHT / BLOCK / the runtime's own, memory_config L1 or DRAM).
    // The matmul path (a folded conv's too) with shard_layout unset still scores the auto-shard
    // candidates first, slice_config or not, and refuses an act_block_h_override taller than the
    // width candidate's output shard before any buffer (n150 `[1,32,5,6]` 1×1 act_block_h 256:
    // "Conv2d output block size 8 exceeds the per-core output size 1" in L1, in DRAM, with
    // L1_FULL and with 1, 2 or 6 told slices; `[1,32,8,8]` 2×2 stride 2 folded, act_block_h 64;
    // HEIGHT_SHARDED or BLOCK_SHARDED told, it ran; seed 1230112 found it).
    if (mm_conv || folds) && settings.shard_layout.is_none() {
        if let Some(message) = conv.auto_shard_refusal(ex.device(), true) {
            ex.b.run(
                Program::new("Conv2dDeviceOperation", "Conv2dShardedProgramFactory")
                    .refused(message),
            );
            return Ok(Val::None);
        }
    }
    if folds {
        return super::conv_matmul::plan_folded(ex, &conv, &x, settings.activation, out_memory);
    }
    if mm_conv {
        return super::conv_matmul::plan(
            ex,
            &conv,
            &x,
            settings.activation,
            settings.shard_layout,
            settings.reshard,
            out_memory,
        );
    }
    // The halo's config tensors are built per padded input row (exec/pool.rs, as for
    // max_pool2d): past max_pool2d's bound the plan is not built (a fuzz input, N = 4,143,883,425
    // and H = 2,113, took minutes and GBs).
    let padded_rows = h.saturating_add(pad[0].saturating_mul(2)).saturating_mul(n);
    if padded_rows > super::pool::MAX_POOL_ROWS {
        return Err(unmodeled(
            f,
            format!(
                "{UNPLANNED}: {padded_rows} padded input rows (N·(H + 2·padding)); memmodel builds \
                 the halo configs per row and models up to {}",
                super::pool::MAX_POOL_ROWS
            ),
        ));
    }
    let d = ex.device();
    if settings.shard_layout.is_none() && dram_slicing.is_none() {
        if let Some(message) = conv.auto_shard_refusal(d, false) {
            ex.b.run(
                Program::new("Conv2dDeviceOperation", "Conv2dShardedProgramFactory")
                    .refused(message),
            );
            return Ok(Val::None);
        }
    }
    let width_or_auto = !matches!(settings.shard_layout, Some(Scheme::Height | Scheme::Block));
    if let (true, true, Some(request)) = (
        settings.act_block_h > TILE && width_or_auto,
        x.memory == BufferType::Dram,
        &dram_slicing,
    ) {
        // A slice count told past the output's bound is refused before anything else.
        if let Some(message) = request.told_count_refusal(&conv) {
            ex.b.run(Program::new("Conv2D", "DRAM slicing").refused(message));
            return Ok(Val::None);
        }
    }
    // An L1 input told DRAM slices is refused by the slicing itself, before any estimate (p150
    // `[1,32,10,6]` TILE in L1, act_block_h 64, DRAM_HEIGHT: `Conv DRAM expects the input
    // tensor to be in DRAM.`; seed 1207142): exec/conv_slice.rs plans that refusal.
    if settings.act_block_h > TILE
        && width_or_auto
        && dram_slicing.is_some()
        && x.memory == BufferType::Dram
    {
        // In DRAM slices the runtime's L1 estimates score the width candidate (`get_cb_info`)
        // first: fewer than 32 output rows refuse an override of two tiles or more in its
        // words (seeds 1207322-1207324, WIDTH_SHARDED told or not). Not with a slice count
        // told: p150 `[2,117,9,5]` 5×5 WIDTH_SHARDED, act_block_h 224, 2 height slices of a
        // 5×1 output fits on the runtime (seed 1212401). An output under 32 columns is planned
        // as a wider one: each slice's width is rounded up to a whole tile (`run_L1_op`,
        // exec/conv_slice.rs), and a slice's own refusal is the L1 path's (random `--memory
        // dram --param act_block_h=H`: seeds 1215001-1215004, n150 and p150, 0 mismatches).
        let count_told = dram_slicing
            .as_ref()
            .is_some_and(|r| r.count_told() && !r.one_slice_told());
        // One slice told with a shard_layout told searches nothing and estimates nothing: the
        // slice meets the L1 path's own check instead (n150 `[1,16,7,6]` float32 depthwise 2×2
        // stride 2, WIDTH_SHARDED, act_block_h 64, one DRAM_HEIGHT or DRAM_WIDTH slice: "Output
        // block height (in # of tiles) (1) should be greater than or equal to activation block
        // height (in # of tiles) (2)", as with L1_FULL; shard_layout unset, or no count told,
        // the estimate's words; random draw seed 1240101).
        let one_slice_told_sharded = settings.shard_layout.is_some()
            && dram_slicing.as_ref().is_some_and(|r| r.one_slice_told());
        // With a count of two or more told, the refusal is the first slice's auto-shard
        // estimate's, on that slice's output (exec/conv_slice.rs).
        if let Some(message) = conv
            .auto_shard_refusal(d, false)
            .filter(|_| !count_told && !one_slice_told_sharded)
        {
            ex.b.run(
                Program::new("Conv2dDeviceOperation", "Conv2dShardedProgramFactory")
                    .refused(message),
            );
            return Ok(Val::None);
        }
    }
    let scheme = settings.shard_layout.unwrap_or_else(|| conv.auto_scheme(d));
    if settings.act_block_h % TILE != 0 {
        // The catalog refuses these (`Config Error: act_block_h_override must be a multiple of
        // 32`); a model file could still pass one.
        return Err(unmodeled(
            f,
            format!(
                "{UNPLANNED}: act_block_h_override {} (not a multiple of 32)",
                settings.act_block_h
            ),
        ));
    }
    if let Some(request) = dram_slicing {
        return super::conv_slice::plan(
            ex,
            a,
            &conv,
            settings.shard_layout,
            settings.reshard,
            &x,
            request.of_one_row_depthwise(one_row_depthwise),
        );
    }
    let s = conv.sharding(d, scheme);
    // get_conv_padded_input_shape_and_mem_config: a sharded input whose grid, scheme and
    // orientation are the conv's parallel config is the halo's input as it is; any other is
    // resharded into it when reshard_if_not_optimal says so (the same buffers as sharding an
    // interleaved input, seen on YOLOv12x's #2), else the conv runs on the input's own grid.
    let keep_input = keep_sharded_input(
        &x,
        s.scheme,
        shard_grid(d, s.scheme, s.nhw_cores, s.in_c_cores),
        [s.in_shard_h, s.in_shard_w],
        settings.reshard,
    )?;
    // `flatten_4d_shape`: an [N, H, W, C] input is reshaped to [1, 1, N·H·W, C] first, a copy
    // (ReshapeView) for a TILE input whose padded shape changes.
    let flat = [1, 1, rows, c_in];
    let flat_shape = Shape::from_dims(flat.to_vec())?;
    let flattened =
        if x.dims() == flat || super::reshape_is_view(x.shape(), &flat_shape, x.layout()) {
            None
        } else if x.layout() == Layout::Tile {
            // The copy stays in the input's memory: a DRAM input's (slice_config L1_FULL) in
            // DRAM, as the one-slice DRAM path's (exec/conv_slice.rs).
            Some(super::data_movement::reshape(
                ex,
                &x,
                &flat.map(|v| v as i64),
                x.memory,
            )?)
        } else {
            return Err(unmodeled(
                f,
                format!("{UNPLANNED}: a copying ROW_MAJOR reshape"),
            ));
        };
    let input_use = InputUse {
        keep_sharded: keep_input,
        deallocate_activation: false,
    };
    plan(ex, &conv, &s, &x, input_use, flattened, out_memory)
}

/// `auto_enable_kernel_folding` with `enable_kernel_stride_folding` unset: a kernel equal to its
/// stride (not 1×1), no dilation, the padded input a whole number of strides, on a DRAM input
/// that is ROW_MAJOR or unpadded, or a height-sharded one. The runtime then folds the input
/// (untilize, `Fold` MultiCoreDRAMFold, tilize) and runs a matmul (n150, `[1,21,20,11]`
/// bfloat8_b TILE depthwise 2×1 stride 2×1, seed 1207901; `[1,32,64,64]` ROW_MAJOR 2×2 stride
/// 2 padding 1: the Fold program, where a TILE input with that padding is not folded).
fn folds_kernel_stride(
    x: &super::DevTensor,
    [h, w]: [u64; 2],
    kernel: [u64; 2],
    stride: [u64; 2],
    pad: [u64; 2],
    dilation: [u64; 2],
) -> bool {
    let whole_strides = (0..2).all(|i| {
        let padded = [h, w][i].saturating_add(pad[i].saturating_mul(2));
        stride[i] > 0 && padded % stride[i] == 0
    });
    let dram = x.memory == BufferType::Dram && x.shard.is_none();
    let height_sharded = x
        .shard
        .as_ref()
        .is_some_and(|sh| sh.strategy == ShardStrategy::Height);
    kernel == stride
        && stride != [1, 1]
        && dilation == [1, 1]
        && whole_strides
        && ((dram && (x.layout() == Layout::RowMajor || pad == [0, 0])) || height_sharded)
}

/// The Conv2d program factory the runtime picks for a sharding: its own for width sharding
/// (seen in the runtime's traces, L1 and DRAM slices alike).
fn conv_factory(scheme: Scheme) -> &'static str {
    if scheme == Scheme::Width {
        "Conv2dWidthShardedProgramFactory"
    } else {
        "Conv2dShardedProgramFactory"
    }
}

/// The identity of a conv's Conv2d program in the runtime's cache: its window, channels, dtypes,
/// blocks and shards (everything its plan derives from), with its reader indices' size.
fn conv_program_key(conv: &Conv, s: &Sharding, reader_bytes: u64) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    format!("{conv:?} {s:?} {reader_bytes}").hash(&mut h);
    h.finish()
}

/// The identity of a conv's halo program in the runtime's cache (`HaloParams` and its input's
/// spec): the window, the input's sharding, spec and memory (and what it was resharded from),
/// whether it untilizes, the compute
/// config's fp32 accumulation, with its config tensors' sizes. Not the conv's output channels:
/// convs of one tensor with different outputs share it.
fn halo_program_key(
    ex: &Exec<'_>,
    conv: &Conv,
    s: &Sharding,
    input: &super::DevTensor,
    source: &super::DevTensor,
    input_tiled: bool,
    configs_bytes: [u64; 4],
) -> u64 {
    use std::hash::{Hash, Hasher};
    let fp32_acc = conv.dtype == DType::Float32 && conv.weights_dtype == DType::Float32;
    // What the halo's input was resharded from: the runtime's keys differ by it though sim's
    // reshard is the same (seen on YOLOv12x at 640x640: #637 reshards another conv's shards and
    // makes its configs anew after #292 resharded an interleaved tensor to the same shards),
    // and agree for one tensor resharded twice (#682 after #677).
    let from = (
        &source.spec,
        source.memory,
        &source.shard,
        ex.b.buffers[source.buffer].placement,
    );
    let mut h = std::collections::hash_map::DefaultHasher::new();
    format!(
        "halo {:?} {:?} {} {} {} {} {} {} {input_tiled} {:?} {:?} {:?} {:?} {from:?} {fp32_acc} \
         {configs_bytes:?}",
        conv.win,
        s.scheme,
        s.nhw_cores,
        s.in_c_cores,
        s.in_c_padded,
        s.in_shard_h,
        s.in_shard_w,
        s.out_shard_h,
        conv.conv_in_dtype(),
        input.spec,
        input.memory,
        input.shard,
    )
    .hash(&mut h);
    h.finish()
}

/// The weights `[k, n]` and bias `[1, n]` the runtime prepares into DRAM tiles in
/// `weights_dtype` (the bias's one row padded to a tile).
pub(super) fn prepared_weights(
    ex: &mut Exec<'_>,
    conv: &Conv,
    k: u64,
    n: u64,
) -> Result<(super::DevTensor, Option<super::DevTensor>), CaseError> {
    let tiles = |rows: u64| -> Result<TensorSpec, CaseError> {
        Ok(TensorSpec::new(
            Shape::from_dims(vec![1, 1, rows, n])?,
            conv.weights_dtype,
            Layout::Tile,
        ))
    };
    let weights = ex.b.tensor(
        "weights",
        BufferRole::Temporary,
        tiles(k)?,
        BufferType::Dram,
    )?;
    let bias = if conv.bias {
        Some(ex.b.tensor("bias", BufferRole::Temporary, tiles(1)?, BufferType::Dram)?)
    } else {
        None
    };
    Ok((weights, bias))
}

/// How a conv's plan takes its input.
#[derive(Debug, Clone, Copy)]
pub(super) struct InputUse {
    /// The input is already in the conv's parallel config: the halo reads its shards as they
    /// are (no reshard).
    pub keep_sharded: bool,
    /// `deallocate_activation`: the conv frees the halo output before the output is moved.
    pub deallocate_activation: bool,
}

/// The buffers and programs of a height- or block-sharded conv of an L1 input.
pub(super) fn plan(
    ex: &mut Exec<'_>,
    conv: &Conv,
    s: &Sharding,
    x: &super::DevTensor,
    input_use: InputUse,
    flattened: Option<super::DevTensor>,
    out_memory: Option<BufferType>,
) -> Result<Val, CaseError> {
    let InputUse {
        keep_sharded: keep_input,
        deallocate_activation,
    } = input_use;
    let d = ex.device();
    let win = &conv.win;

    // 1. The input resharded: tile pages of a TILE input, one stick of the shard's channels
    //    per page of a ROW_MAJOR one.
    //    Only the shards holding rows are allocated (the NHW cores are chosen for the
    //    output's rows: padding can leave the last ones empty).
    let in_rows_padded = s.in_shard_h * s.nhw_cores;
    let used_nhw = (win.n * win.h * win.w)
        .div_ceil(TILE)
        .saturating_mul(TILE)
        .div_ceil(s.in_shard_h)
        .min(s.nhw_cores);
    let used = used_nhw * s.in_c_cores;
    let used_grid = shard_grid(d, s.scheme, used_nhw, s.in_c_cores);
    let dtype = conv.dtype;
    let (page, shard_pages) = if conv.tiled {
        (
            conv.in_tile(),
            (s.in_shard_h / TILE) * (s.in_shard_w / TILE),
        )
    } else {
        (s.in_shard_w * conv.conv_in_elem(), s.in_shard_h)
    };
    let in_pages = size::mul(shard_pages, used, "input pages")?;
    let resharded = if keep_input {
        ex.b.share(x, x.spec.clone())
    } else {
        sharded(
            ex,
            "sharded input",
            TensorSpec::new(
                Shape::from_dims(vec![1, 1, in_rows_padded, s.in_c_padded])?,
                dtype,
                x.layout(),
            ),
            sharded_placement(d, BufferType::L1, in_pages, page, used, shard_pages)?,
        )
    };
    let in_shard_bytes = ex.b.buffers[resharded.buffer].placement.per_bank_bytes;
    if !keep_input {
        // The reshaped copy, where there is one, is what the runtime reshards.
        reshard_into(
            ex,
            flattened.as_ref().unwrap_or(x),
            &resharded,
            page,
            &used_grid,
        );
    }
    // What the halo's input was made from (its program's key has it).
    let source = flattened.clone().unwrap_or_else(|| x.clone());
    let moved_input = conv.free_l1_input && !keep_input;
    if let Some(t) = flattened {
        // The reshaped copy dies once resharded (deallocate_activation frees it, not the
        // caller's input).
        ex.b.release(t);
    } else if moved_input {
        ex.b.deallocate(x);
    }
    let resharded = if moved_input {
        reallocated(ex, resharded)
    } else {
        resharded
    };

    // 2. Weights [K, N] tilized in DRAM (in `weights_dtype`): K is the kernel rows × each
    //    channel core's channels × kernel columns padded to a tile, N the output channels
    //    padded per core.
    let k_tiles = s.weight_k_tiles(win.kernel[0]);
    let (weights, bias) = prepared_weights(ex, conv, k_tiles * TILE, s.out_c_padded)?;

    let Some(done) = halo_and_conv_from(
        ex,
        conv,
        s,
        resharded,
        &source,
        in_shard_bytes,
        conv.tiled,
        deallocate_activation,
        false,
    )?
    else {
        ex.b.release(weights);
        if let Some(t) = bias {
            ex.b.release(t);
        }
        return Ok(Val::None);
    };
    let ConvOutput {
        out,
        out_bytes,
        out_grid,
        halo,
    } = done;
    let out_rows = win.out_nhw();
    let result = match out_memory {
        None => out,
        Some(memory) => {
            let copy = ex.b.tensor(
                "output",
                BufferRole::Temporary,
                TensorSpec::new(
                    Shape::from_dims(vec![1, 1, out_rows, conv.c_out])?,
                    conv.out_dtype,
                    Layout::Tile,
                ),
                memory,
            )?;
            super::pool::unshard_program(ex, out_bytes, &out_grid);
            ex.b.release(out);
            copy
        }
    };
    let mut ts: Vec<_> = halo.into_iter().collect();
    ts.push(weights);
    ts.extend(bias);
    for t in ts {
        ex.b.release(t);
    }
    Ok(Val::T(result))
}

/// A conv's output shards (`Conv2dDeviceOperation`'s), their bytes per core and grid, and the
/// halo output it read unless the conv freed it (`deallocate_activation`).
pub(super) struct ConvOutput {
    pub out: super::DevTensor,
    pub out_bytes: u64,
    pub out_grid: CoreRangeSet,
    pub halo: Option<super::DevTensor>,
}

/// Steps 3 and 4 of a conv whose input is in its shards (`input`, consumed: freed once the
/// halo has read it): the halo with its config tensors (L1_SMALL) and its reallocation, then
/// the conv program and its output shards. `input_tiled`: the shards hold tiles (the halo
/// untilizes them). `None` when a program refuses the call (its buffers released).
pub(super) fn halo_and_conv(
    ex: &mut Exec<'_>,
    conv: &Conv,
    s: &Sharding,
    resharded: super::DevTensor,
    in_shard_bytes: u64,
    input_tiled: bool,
    deallocate_activation: bool,
) -> Result<Option<ConvOutput>, CaseError> {
    let source = resharded.clone();
    halo_and_conv_from(
        ex,
        conv,
        s,
        resharded,
        &source,
        in_shard_bytes,
        input_tiled,
        deallocate_activation,
        true,
    )
}

/// [`halo_and_conv`] of `resharded`, made from `source` (the tensor the call resharded, or the
/// halo's input itself): the halo's program is found in the cache by both. `slice_input`: a
/// DRAM slice's, which its slicing loop frees.
#[allow(clippy::too_many_arguments)]
fn halo_and_conv_from(
    ex: &mut Exec<'_>,
    conv: &Conv,
    s: &Sharding,
    resharded: super::DevTensor,
    source: &super::DevTensor,
    in_shard_bytes: u64,
    input_tiled: bool,
    deallocate_activation: bool,
    slice_input: bool,
) -> Result<Option<ConvOutput>, CaseError> {
    let d = ex.device();
    let win = &conv.win;
    let cores = s.nhw_cores * s.in_c_cores;
    let in_grid = shard_grid(d, s.scheme, s.nhw_cores, s.in_c_cores);
    let conv_grid = program_grid(d, s);
    let conv_dtype = conv.conv_in_dtype();
    // 3. Halo: each core's window rows as row-major sticks of its channels.
    let sticks = conv.halo_sticks(s);
    // A width-sharded conv without padding runs with no halo at all (conv2d.cpp `bypass_halo`:
    // its one NHW shard holds every window row): it reads its row-major input shards as they
    // are, and frees them as it would free the halo output (seen on the runtime: [1,64,56,56]
    // ROW_MAJOR 3×3 in L1 on n150; seeds 1207134 / 1207135, p150: a 3×3 stride-3 and a 1×1
    // stride-2 conv of DRAM inputs in L1_FULL). A DRAM slice's padding is its own: the inner
    // width slices of p150 [1,64,218,288] 4×2 (3 slices) and [1,135,203,400] bfloat8_b 2×2
    // (6 slices, seed 1207142; their shards tile-rounded past the window rows) bypass it, the
    // last one, right-padded to whole output tiles, is haloed.
    let bypass_halo =
        s.scheme == Scheme::Width && win.pad == [0, 0] && win.pad_end == [0, 0] && !input_tiled;
    let stick = s.in_shard_w * conv.conv_in_elem();
    let aligned_stick = stick.div_ceil(d.l1_alignment) * d.l1_alignment;
    let halo_spec = TensorSpec::new(
        Shape::from_dims(vec![
            1,
            1,
            size::mul(sticks, s.nhw_cores, "halo rows")?,
            s.in_c_padded,
        ])?,
        conv_dtype,
        Layout::RowMajor,
    );
    let halo_placement = sharded_placement(
        d,
        BufferType::L1,
        size::mul(cores, sticks, "halo sticks")?,
        stick,
        cores,
        sticks,
    )?;
    let block = s.scheme == Scheme::Block;
    let bounds = win.boundaries(s.nhw_cores, s.out_shard_h);
    let configs_bytes = halo_configs(
        win,
        &bounds,
        s.out_shard_h,
        s.in_shard_h,
        input_tiled,
        block,
        u64::from(d.grid_x),
    );
    // The halo program hashes its attributes and its input's spec: a halo equal to an earlier
    // one (another conv of the same tensor with the same window and input sharding) finds its
    // program, config tensors included, in the cache (seen on YOLOv12x at 640x640: #682, a 3×3
    // conv of the L1 tensor the depthwise #677 took, makes no config tensors).
    let halo_key = halo_program_key(ex, conv, s, &resharded, source, input_tiled, configs_bytes);
    let cfg = |ex: &mut Exec<'_>,
               what: &'static str,
               bytes: u64|
     -> Result<super::DevTensor, CaseError> {
        let spec = TensorSpec::new(
            Shape::from_dims(vec![1, cores, bytes / 2])?,
            DType::Uint16,
            Layout::RowMajor,
        );
        // One row per core in L1_SMALL, which the graph capture reports as L1.
        let mut p = sharded_placement(d, BufferType::L1Small, cores, bytes, cores, 1)?;
        p.traced_as = Some(BufferType::L1);
        let t = sharded(ex, what, spec, p);
        // The halo's cached program keeps them (seen on YOLOv12x at 640x640: a conv repeating
        // an earlier call on equal inputs captures none).
        ex.b.mark_program_cached_by(&t, halo_key);
        Ok(t)
    };
    let release_all = |ex: &mut Exec<'_>, ts: Vec<super::DevTensor>| {
        for t in ts {
            ex.b.release(t);
        }
    };
    let (halo, halo_shard_bytes) = if bypass_halo {
        let bytes = ex.b.buffers[resharded.buffer].placement.per_bank_bytes;
        (resharded, bytes)
    } else {
        let halo = sharded(ex, "halo", halo_spec.clone(), halo_placement);
        let [pad0, pad1, gather0, gather1] = configs_bytes;
        let configs = [
            cfg(ex, "pad config", pad0)?,
            cfg(ex, "pad config", pad1)?,
            cfg(ex, "gather config", gather0)?,
            cfg(ex, "gather config", gather1)?,
        ];
        if sticks > MAX_CB_PAGES {
            ex.b.run(
                Program::new("HaloDeviceOperation", "UntilizeWithHaloProgramFactory")
                    .refused(too_many_cb_pages(1, sticks)),
            );
            let mut ts: Vec<_> = configs.into_iter().collect();
            ts.extend([halo, resharded]);
            release_all(ex, ts);
            return Ok(None);
        }
        let halo_shard_bytes = ex.b.buffers[halo.buffer].placement.per_bank_bytes;
        // Untilize: two blocks of the shard's channel tiles.
        let untilize = input_tiled.then(|| 2 * (s.in_shard_w / TILE) * conv.conv_in_tile());
        ex.b.run(super::pool::halo_program(
            &in_grid,
            [in_shard_bytes, halo_shard_bytes, aligned_stick],
            untilize,
            [pad0, pad1, gather0, gather1],
        ));
        if conv.free_l1_input {
            // deallocate_activation: the halo's input goes whoever else holds it (a sharded input
            // the conv took as it was: the caller's).
            ex.b.deallocate(&resharded);
        }
        let mut ts: Vec<_> = configs.into_iter().collect();
        ts.push(resharded);
        let halo = if conv.reallocate_halo {
            // reallocate_halo_output: the halo shards anew.
            ts.push(halo);
            release_all(ex, ts);
            sharded(ex, "halo", halo_spec, halo_placement)
        } else {
            release_all(ex, ts);
            halo
        };
        (halo, halo_shard_bytes)
    };

    // 4. The conv: output tile shards, its reader indices, 9 CBs.
    let out_grid = shard_grid(d, s.scheme, s.nhw_cores, s.out_c_cores);
    let out_cores = s.nhw_cores * s.out_c_cores;
    let out_shard_tiles = s.out_shard_h / TILE * s.out_w_tiles;
    let out_rows = win.out_nhw();
    let out = sharded(
        ex,
        "output",
        TensorSpec::new(
            Shape::from_dims(vec![1, 1, out_rows, conv.c_out])?,
            conv.out_dtype,
            Layout::Tile,
        ),
        sharded_placement(
            d,
            BufferType::L1,
            // The buffer's size is the tensor's tiles (its rows in whole tiles, its channels as
            // the channel cores hold them), not every shard full: the last NHW shard is partly
            // empty (seen on n150: 160x160x192 output, 9,830,400 B over 62 cores of 78 tiles).
            size::mul(
                out_rows.div_ceil(crate::tensor::TILE),
                size::mul(s.out_w_tiles, s.out_c_cores, "output width tiles")?,
                "output tiles",
            )?
            .min(size::mul(out_shard_tiles, out_cores, "output tiles")?),
            conv.out_tile(),
            out_cores,
            out_shard_tiles,
        )?,
    );
    // The output stays in the conv's shards between calls: its parallel config is the next
    // conv's "reshard or not".
    let out = ex.b.with_shard(
        out,
        ShardSpec {
            strategy: s.scheme.strategy(),
            physical: [
                size::round_up(out_rows, TILE, "output rows")?,
                size::mul(
                    s.out_w_tiles,
                    size::mul(s.out_c_cores, TILE, "output width")?,
                    "output width",
                )?,
            ],
            shard_shape: [
                s.out_shard_h,
                size::mul(s.out_w_tiles, TILE, "output shard width")?,
            ],
            grid: match s.scheme {
                Scheme::Width => [1, s.out_c_cores],
                _ => [s.nhw_cores, s.out_c_cores],
            },
            cores: out_grid.clone(),
            orientation: ShardOrientation::RowMajor,
        },
    );
    let Some(split) = conv.split_reader(d, s) else {
        return Err(unmodeled(
            "ttnn.conv2d",
            format!(
                "{UNPLANNED}: the split reader's tilize cycles of a {:?} output (the runtime \
                 has no entry for it)",
                conv.out_dtype
            ),
        ));
    };
    let reader_bytes = conv.reader_config_bytes(s, split);
    let reader = cfg(ex, "reader indices", reader_bytes)?;
    // The Conv2d program hashes its attributes and its input's (the halo output's) spec, not
    // what fed the halo: a conv equal to an earlier one finds its program, reader indices
    // included, in the cache though its halo runs anew (seen on YOLOv12x at 640x640: #637, a
    // 3×3 stride-2 conv of another conv's shards, makes no reader indices after #292, the same
    // conv of an interleaved input).
    ex.b.mark_program_cached_by(&reader, conv_program_key(conv, s, reader_bytes));
    if let Some(message) =
        reader_indices_refusal(reader_bytes, s).or_else(|| act_matrix_refusal(conv, s))
    {
        ex.b.run(Program::new("Conv2dDeviceOperation", conv_factory(s.scheme)).refused(message));
        release_all(ex, vec![reader, out, halo]);
        return Ok(None);
    }
    let (h, w) = (s.act_h_tiles, s.act_w_tiles);
    let (it, wt, at, ot) = (
        conv.conv_in_tile(),
        conv.weights_tile(),
        conv.act_tile(s.scheme),
        conv.out_tile(),
    );
    // enable_act_double_buffer doubles the activation CBs (`get_cb_info`).
    let af = conv.act_factor();
    let out_bytes = out_shard_tiles * ot;
    let mut p = Program::new("Conv2dDeviceOperation", conv_factory(s.scheme))
        .cb(CbKind::Circular, conv.weights_cb_tiles(s) * wt, &conv_grid)
        .cb(CbKind::Circular, out_bytes, &conv_grid)
        .bound();
    // A block-sharded conv with one input and one output channel core multicasts no
    // activation: it makes no activation CB, only the row-major halves below (measured, n150:
    // 64×48×8 → 32 3×3 BLOCK_SHARDED, bfloat16 and bfloat8_b outputs).
    // The same for a width-sharded conv (`conv_skip_mcast`; seen on n150: `[1,32,30,55]`
    // depthwise told WIDTH_SHARDED, one 434,176 B activation block where a multicast would
    // take two).
    let skip_act = matches!(s.scheme, Scheme::Block | Scheme::Width)
        && s.in_c_cores == 1
        && s.out_c_cores == 1;
    if s.scheme == Scheme::Height && split {
        // The split reader: two activation CBs of half the rows each.
        p = p
            .cb(CbKind::Circular, h.div_ceil(2) * w * at * af, &conv_grid)
            .cb(CbKind::Circular, h / 2 * w * at * af, &conv_grid);
    } else if !skip_act {
        p = p.cb(CbKind::Circular, h * w * at * af, &conv_grid);
    }
    // A block-sharded bfloat8_b conv's row-major activation, split between the two readers
    // (measured: 4×3 activation tiles make two 6-tile bfloat16 CBs, 1×3 one of 3).
    let row_major = s.scheme == Scheme::Block && (conv.row_major_act() || skip_act);
    debug_assert!(s.scheme != Scheme::Width || !row_major);
    let halves = if h > 1 {
        [h.div_ceil(2), h / 2]
    } else {
        [h, 0]
    };
    if row_major && halves[1] > 0 {
        p = p.cb(CbKind::Circular, halves[1] * w * it * af, &conv_grid);
    }
    p = p.cb(CbKind::Circular, h * w * ot, &conv_grid);
    if conv.bias {
        p = p.cb(CbKind::Circular, s.out_w_tiles * wt, &conv_grid);
    }
    if row_major {
        p = p.cb(CbKind::Circular, halves[0] * w * it * af, &conv_grid);
    }
    if s.scheme == Scheme::Width {
        // Width sharding's row-major activation: two blocks of the activation width.
        p = p.cb(CbKind::Circular, 2 * w * it, &conv_grid);
    }
    p = p
        .cb(CbKind::Circular, out_bytes, &conv_grid)
        .bound()
        .cb(CbKind::Circular, reader_bytes, &conv_grid)
        .bound()
        .cb(CbKind::Circular, L1_SCRATCHPAD, &conv_grid)
        .cb(CbKind::Circular, halo_shard_bytes, &conv_grid)
        .bound();
    ex.b.run(p);
    ex.b.release(reader);
    // A DRAM slice read with no halo stays until its SliceWrite has run (p150, [1,64,218,288]
    // 4×2 width slices): the slicing loop frees it, not the conv.
    let halo = if deallocate_activation && !(bypass_halo && slice_input) {
        // The conv frees its input, the halo output, before the call goes on (measured in the
        // DRAM-slice captures, where conv2d_DRAM forces deallocate_activation).
        ex.b.release(halo);
        None
    } else {
        Some(halo)
    };
    Ok(Some(ConvOutput {
        out,
        out_bytes,
        out_grid,
        halo,
    }))
}

/// A conv for unit tests of other modules (exec/conv_slice.rs).
#[cfg(test)]
pub(super) mod tests_support {
    pub(in crate::exec) fn conv(nhwc: [u64; 4], c_out: u64, ksp: [u64; 3]) -> super::Conv {
        super::tests::conv(nhwc, c_out, ksp, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::{N150, P150};
    use crate::params::ParamValue;

    /// A conv of `[n, h, w, c]` to `c_out` channels with a square `[kernel, stride, padding]`.
    pub(super) fn conv(
        [n, h, w, c]: [u64; 4],
        c_out: u64,
        [k, s, p]: [u64; 3],
        tiled: bool,
    ) -> Conv {
        let out = |x: u64| (x + 2 * p - k) / s + 1;
        Conv {
            win: Window {
                n,
                h,
                w,
                c,
                kernel: [k, k],
                stride: [s, s],
                pad: [p, p],
                pad_end: [p, p],
                dilation: [1, 1],
                ho: out(h),
                wo: out(w),
            },
            c_out,
            bias: true,
            tiled,
            dtype: DType::Bfloat16,
            out_dtype: DType::Bfloat16,
            weights_dtype: DType::Bfloat16,
            act_block_h: 0,
            act_double: false,
            weights_double: false,
            reallocate_halo: true,
            free_l1_input: false,
        }
    }

    fn case(
        layout: crate::layout::Layout,
        memory: BufferType,
        device: &'static DeviceSpec,
    ) -> crate::case::Case {
        let mut c = crate::case::Case::new(
            crate::ops::find("conv2d").unwrap(),
            vec![Shape::parse("1,64,32,32").unwrap()],
            device,
        );
        c.device_layout = crate::layout::DeviceLayout::NhwcFlat;
        c.layout = layout;
        c.input_memory = memory;
        c.output_memory = memory;
        c.default_output_memory = true;
        c
    }

    /// The per-core CB peaks of the NO_DISPATCH captures of a 32×32, 64 → 64 3×3 conv on n150
    /// (docs/conv2d.md): 20,544 B block-sharded (ROW_MAJOR input), 53,312 B height-sharded
    /// (TILE input).
    #[test]
    fn whole_conv_cb_peaks_match_the_capture() {
        for (layout, cb) in [(Layout::RowMajor, 20_544), (Layout::Tile, 53_312)] {
            let e = case(layout, BufferType::L1, &N150).estimate().unwrap();
            assert_eq!(e.verdict, crate::case::Verdict::Fits);
            assert_eq!(e.peaks.cb, cb, "{layout:?}");
        }
    }

    /// A conv whose halo configs would be built over billions of rows (the fuzzer's
    /// [4143883425,1,2113,1], p150) is `unmodeled` at once, not minutes of host work.
    #[test]
    fn a_conv_past_the_halo_row_bound_is_unmodeled() {
        let mut c = case(Layout::Tile, BufferType::L1, &P150);
        c.model_inputs = vec![Shape::parse("4143883425,1,2113,1").unwrap()];
        c.device_layout = crate::layout::DeviceLayout::Nhwc;
        c.params
            .set("out_channels", crate::params::ParamValue::Int(1));
        let err = c.estimate().expect_err("no verdict");
        assert!(crate::exec::is_unmodeled(&err), "{err}");
        assert!(err.to_string().contains("padded input rows"), "{err}");
    }

    /// Kernel stride folding: an unpadded TILE input folds and is planned (exec/conv_matmul.rs
    /// `plan_folded`), so is a padded ROW_MAJOR one; a padded TILE one does not fold (the halo
    /// path). Told a shard_layout the runtime folds and then refuses the matmul, K apart
    /// (n150 `[1,32,64,64]` 2×2 HEIGHT_SHARDED: "K dimension in tiles must match between input
    /// A (4) and input B (8)"; WIDTH_SHARDED: "The width of tensor a needs to match the height
    /// of tensor b"): not planned, `unmodeled`.
    /// `cargo xtask probe --op conv2d --shape 1,32,64,64 --device-layout nhwc-flat --memory
    /// dram --param kernel_size=2,2 --param stride=2,2 --param padding=0,0 --param
    /// shard_layout=height --device n150 --backend metal`
    #[test]
    fn kernel_stride_folding_told_a_shard_layout_is_unmodeled() {
        let conv = |layout: Layout, pad: i64, shard_layout: Option<&str>| {
            let mut c = case(layout, BufferType::Dram, &N150);
            c.model_inputs = vec![Shape::parse("1,32,64,64").unwrap()];
            c.device_layout = crate::layout::DeviceLayout::Nhwc;
            for (name, v) in [
                ("kernel_size", vec![2, 2]),
                ("stride", vec![2, 2]),
                ("padding", vec![pad, pad]),
            ] {
                c.params.set(name, ParamValue::Ints(v));
            }
            c.params.set("out_channels", ParamValue::Int(32));
            if let Some(s) = shard_layout {
                c.params.set("shard_layout", ParamValue::Str(s.into()));
            }
            c.estimate()
        };
        for layout in [Layout::Tile, Layout::RowMajor] {
            let err = conv(layout, 0, Some("height")).expect_err("no verdict");
            assert!(crate::exec::is_unmodeled(&err), "{err}");
            assert!(err.to_string().contains("folding"), "{err}");
            assert!(conv(layout, 0, None).is_ok());
        }
        assert!(conv(Layout::RowMajor, 1, None).is_ok());
        assert!(conv(Layout::Tile, 1, None).is_ok());
    }

    /// An [N, H, W, C] TILE input too large for the L1 bank, whose flattened copy fits it: the
    /// runtime reshards the copy with InterleavedToSharded, not a CopyDeviceOperation (NO_DISPATCH
    /// capture, n150, `[4,1024,91,56]` float32 depthwise 3×3 stride 2: the input 1,490,944 B per
    /// bank, the copy 1,306,624 B; dataflow peak 5,632 B, the reshape's page map row and a tile;
    /// seed 81011 saw the plan's copy's 8,192 B).
    #[test]
    fn the_flattened_copy_is_what_is_resharded() {
        let mut c = case(Layout::Tile, BufferType::L1, &N150);
        c.model_inputs = vec![Shape::parse("4,1024,91,56").unwrap()];
        c.device_layout = crate::layout::DeviceLayout::Nhwc;
        c.dtype = crate::dtype::DType::Float32;
        for (name, v) in [
            ("out_channels", ParamValue::Int(1024)),
            ("groups", ParamValue::Int(1024)),
            ("stride", ParamValue::Ints(vec![2, 2])),
        ] {
            c.params.set(name, v);
        }
        let e = c.estimate().unwrap();
        assert_eq!((e.peaks.cb, e.peaks.dataflow), (2_277_440, 5_632));
    }

    /// CB peaks of `cargo xtask probe` on ttnn 0.81.1 (n150, 64×64, 64 → 128, 3×3 padding 1,
    /// ROW_MAJOR L1 input, no memory_config): 69,696 B with the default Conv2dConfig; 68,160 B
    /// with a bfloat8_b output and weights, SiLU and HEIGHT_SHARDED; 70,912 B with a bfloat8_b
    /// output and weights, BLOCK_SHARDED and double-buffered weights.
    #[test]
    fn conv_config_cb_peaks_match_the_runtime() {
        let settings: [(&[(&str, &str)], u64); 3] = [
            (&[], 69_696),
            (
                &[
                    ("dtype", "bfloat8_b"),
                    ("weights_dtype", "bfloat8_b"),
                    ("activation", "silu"),
                    ("shard_layout", "height"),
                ],
                68_160,
            ),
            (
                &[
                    ("dtype", "bfloat8_b"),
                    ("weights_dtype", "bfloat8_b"),
                    ("shard_layout", "block"),
                    ("enable_weights_double_buffer", "true"),
                ],
                70_912,
            ),
        ];
        for (params, cb) in settings {
            let mut c = case(Layout::RowMajor, BufferType::L1, &N150);
            c.model_inputs = vec![Shape::parse("1,64,64,64").unwrap()];
            c.params.set("out_channels", ParamValue::Int(128));
            c.params.set("kernel_size", ParamValue::Ints(vec![3, 3]));
            c.params.set("padding", ParamValue::Ints(vec![1, 1]));
            for (name, value) in params {
                let v = match *value {
                    "true" => ParamValue::Bool(true),
                    s => ParamValue::Str(s.to_string()),
                };
                c.params.set(name, v);
            }
            let e = c.estimate().unwrap();
            assert_eq!(e.verdict, crate::case::Verdict::Fits, "{params:?}");
            assert_eq!(e.peaks.cb, cb, "{params:?}");
        }
    }

    /// The split reader as the runtime decides it (YOLOv12x 640's bottleneck 3×3 conv, #44 of
    /// models/yolov12x.toml, captured on both mock boards): [1,80,80,96] → 96 bfloat8_b,
    /// HEIGHT on 50 cores of 128 rows, activation blocks of 4 × 9 tiles. On an n150 one reader
    /// takes each whole block (one 73,728 B activation CB; reader indices 8 words: the longest
    /// core's block crosses two image rows); a p150 splits them between two readers.
    #[test]
    fn the_split_reader_follows_the_runtime_cost_estimate() {
        let mut c = conv([1, 80, 80, 96], 96, [3, 1, 1], true);
        (c.out_dtype, c.weights_dtype) = (DType::Bfloat8B, DType::Bfloat8B);
        let s = c.sharding(&N150, Scheme::Height);
        assert_eq!((s.nhw_cores, s.out_shard_h), (50, 128));
        assert_eq!((s.act_h_tiles, s.act_w_tiles, s.out_w_tiles), (4, 9, 3));
        assert_eq!(c.split_reader(&N150, &s), Some(false));
        assert_eq!(c.reader_config_bytes(&s, false), 16);
        let s = c.sharding(&P150, Scheme::Height);
        assert_eq!(c.split_reader(&P150, &s), Some(true));
        // The cost table has no bfloat4_b output: the runtime throws, memmodel has no plan.
        c.out_dtype = DType::Bfloat4B;
        assert_eq!(c.split_reader(&P150, &s), None);
    }

    /// Told WIDTH_SHARDED (capture, n150): `[1,32,30,55]` TILE depthwise 2×2 padding [0, 2] to
    /// L1: one core, no activation multicast (one 434,176 B block, no second activation CB),
    /// the row-major CB of two activation widths, one reader's 120 B of indices.
    #[test]
    fn told_width_matches_the_capture() {
        let mut c = case(Layout::Tile, BufferType::L1, &N150);
        c.model_inputs = vec![Shape::parse("1,32,30,55").unwrap()];
        c.default_output_memory = false;
        for (name, v) in [
            ("bias", ParamValue::Bool(false)),
            ("groups", ParamValue::Int(32)),
            ("out_channels", ParamValue::Int(32)),
            ("kernel_size", ParamValue::Ints(vec![2, 2])),
            ("padding", ParamValue::Ints(vec![0, 2])),
            ("stride", ParamValue::Ints(vec![1, 1])),
            ("shard_layout", ParamValue::Str("width".into())),
        ] {
            c.params.set(name, v);
        }
        let e = c.estimate().unwrap();
        assert_eq!(e.peaks.cb, 458_816);
    }

    #[test]
    fn auto_shard_width_estimate_refuses_an_act_block_past_the_output() {
        // Seed 61042, p150: 8 output rows, act_block_h 64. The width candidate's block is the
        // override (⌊8 / 32⌋ = 0 rows of tiles divide by anything), its output one tile.
        let mut c = case(Layout::Tile, BufferType::L1, &P150);
        c.model_inputs = vec![Shape::parse("1,52,5,7").unwrap()];
        c.default_output_memory = false;
        for (name, v) in [
            ("act_block_h", ParamValue::Int(64)),
            ("dilation", ParamValue::Ints(vec![2, 1])),
            ("stride", ParamValue::Ints(vec![2, 2])),
        ] {
            c.params.set(name, v);
        }
        let err = c.estimate().expect_err("refused");
        assert!(
            err.to_string()
                .contains("Conv2d output block size 2 exceeds the per-core output size 1"),
            "{err}"
        );
        // One tile of override fits the one output tile: planned.
        c.params.set("act_block_h", ParamValue::Int(32));
        c.estimate().unwrap();
    }

    /// The runtime refuses a conv whose reader indices outgrow the CB it sizes for them (two
    /// bytes per output row of the shard): n150, `[4,352,24,12]` NHWC ROW_MAJOR in L1 to 820
    /// channels, 3×5 dilation 2 stride 2, HEIGHT_SHARDED, bfloat8_b output and weights
    /// (`cargo xtask probe`, with or without act_block_h 32: `Reader indices buffer page size 68
    /// exceeds worst-case CB size 64`). The plan used to reach its CBs, beyond L1.
    #[test]
    fn reader_indices_past_their_cb_are_refused() {
        for act_block_h in [None, Some(32)] {
            let mut c = case(Layout::RowMajor, BufferType::L1, &N150);
            c.model_inputs = vec![Shape::parse("4,352,24,12").unwrap()];
            c.device_layout = crate::layout::DeviceLayout::Nhwc;
            c.default_output_memory = false;
            for (name, v) in [
                ("out_channels", ParamValue::Int(820)),
                ("kernel_size", ParamValue::Ints(vec![3, 5])),
                ("dilation", ParamValue::Ints(vec![2, 2])),
                ("stride", ParamValue::Ints(vec![2, 2])),
                ("padding", ParamValue::Ints(vec![0, 0])),
                ("dtype", ParamValue::Str("bfloat8_b".into())),
                ("weights_dtype", ParamValue::Str("bfloat8_b".into())),
                ("shard_layout", ParamValue::Str("height".into())),
                ("activation", ParamValue::Str("silu".into())),
                ("reshard_if_not_optimal", ParamValue::Bool(true)),
            ] {
                c.params.set(name, v);
            }
            if let Some(rows) = act_block_h {
                c.params.set("act_block_h", ParamValue::Int(rows));
            }
            let err = c.estimate().expect_err("refused");
            assert!(
                err.to_string()
                    .contains("Reader indices buffer page size 68 exceeds worst-case CB size 64"),
                "{act_block_h:?}: {err}"
            );
        }
    }

    /// YOLOv12x's first conv as the demo calls it (`[1,16,640,640]` ROW_MAJOR in L1 to 96
    /// channels, 3×3 stride 2, bfloat8_b output and weights, SiLU, HEIGHT_SHARDED,
    /// act_block_h_override 32): CB peak 29,184 B per core on both boards (`cargo xtask probe
    /// --backend metal`, and the model's first call on `--backend metal --measure`).
    /// act_block_h 32 was `unmodeled`.
    #[test]
    fn yolov12x_first_conv_with_act_block_h_matches_the_runtime() {
        for d in [&N150, &P150] {
            let mut c = case(Layout::RowMajor, BufferType::L1, d);
            c.model_inputs = vec![Shape::parse("1,16,640,640").unwrap()];
            for (name, v) in [
                ("out_channels", ParamValue::Int(96)),
                ("kernel_size", ParamValue::Ints(vec![3, 3])),
                ("stride", ParamValue::Ints(vec![2, 2])),
                ("padding", ParamValue::Ints(vec![1, 1])),
                ("dtype", ParamValue::Str("bfloat8_b".into())),
                ("weights_dtype", ParamValue::Str("bfloat8_b".into())),
                ("shard_layout", ParamValue::Str("height".into())),
                ("activation", ParamValue::Str("silu".into())),
                ("reshard_if_not_optimal", ParamValue::Bool(true)),
                ("act_block_h", ParamValue::Int(32)),
            ] {
                c.params.set(name, v);
            }
            let e = c.estimate().unwrap();
            assert_eq!(e.verdict, crate::case::Verdict::Fits, "{}", d.name);
            assert_eq!(e.peaks.cb, 29_184, "{}", d.name);
        }
    }

    /// An ad-hoc conv2d case: a ROW_MAJOR bfloat16 `[N, C, H, W]` input held as `[1, 1, NHW, C]`
    /// in L1, no memory_config, bfloat8_b output and weights, `params` on top.
    fn yolo_case(
        d: &'static DeviceSpec,
        shape: &str,
        params: &[(&str, ParamValue)],
    ) -> crate::case::Case {
        let mut c = case(Layout::RowMajor, BufferType::L1, d);
        c.model_inputs = vec![Shape::parse(shape).unwrap()];
        c.params.set("dtype", ParamValue::Str("bfloat8_b".into()));
        c.params
            .set("weights_dtype", ParamValue::Str("bfloat8_b".into()));
        for (name, v) in params {
            c.params.set(name, v.clone());
        }
        c
    }

    /// Told BLOCK_SHARDED, a conv with one input and one output channel core makes no
    /// activation CB, only the two row-major halves: `[1,8,64,48]` → 32 3×3 padding 1, CB peak
    /// 39,872 B (n150) and 33,600 B (p150) per `cargo xtask probe` on ttnn 0.81.1 (the
    /// activation CB would add 13,056 B on n150).
    #[test]
    fn block_with_one_channel_core_each_has_no_activation_cb() {
        for (d, cb) in [(&N150, 39_872), (&P150, 33_600)] {
            let c = yolo_case(
                d,
                "1,8,64,48",
                &[
                    ("out_channels", ParamValue::Int(32)),
                    ("kernel_size", ParamValue::Ints(vec![3, 3])),
                    ("padding", ParamValue::Ints(vec![1, 1])),
                    ("shard_layout", ParamValue::Str("block".into())),
                ],
            );
            let e = c.estimate().unwrap();
            assert_eq!(e.verdict, crate::case::Verdict::Fits, "{}", d.name);
            assert_eq!(e.peaks.cb, cb, "{}", d.name);
        }
    }

    /// YOLOv12x's L3 (`[1,384,160,160]` → 384 3×3 stride 2, BLOCK_SHARDED, SiLU,
    /// act_block_h_override 160: five tiles of rows per block, which divide the shard's 25
    /// (n150) and 20 (p150) tiles): CB peaks 118,720 B and 95,424 B per `cargo xtask probe`.
    #[test]
    fn yolov12x_l3_act_block_h_160_matches_the_runtime() {
        for (d, cb) in [(&N150, 118_720), (&P150, 95_424)] {
            let c = yolo_case(
                d,
                "1,384,160,160",
                &[
                    ("out_channels", ParamValue::Int(384)),
                    ("kernel_size", ParamValue::Ints(vec![3, 3])),
                    ("stride", ParamValue::Ints(vec![2, 2])),
                    ("padding", ParamValue::Ints(vec![1, 1])),
                    ("shard_layout", ParamValue::Str("block".into())),
                    ("activation", ParamValue::Str("silu".into())),
                    ("reshard_if_not_optimal", ParamValue::Bool(true)),
                    ("act_block_h", ParamValue::Int(160)),
                ],
            );
            let e = c.estimate().unwrap();
            assert_eq!(e.verdict, crate::case::Verdict::Fits, "{}", d.name);
            assert_eq!(e.peaks.cb, cb, "{}", d.name);
        }
    }

    /// The probe's 64×64, 64 → 128 3×3 padding 1 conv of an L1 ROW_MAJOR input.
    fn conv_64x64_to_128(device: &'static DeviceSpec) -> crate::case::Case {
        let mut c = case(Layout::RowMajor, BufferType::L1, device);
        c.model_inputs = vec![Shape::parse("1,64,64,64").unwrap()];
        c.params.set("out_channels", ParamValue::Int(128));
        c.params.set("kernel_size", ParamValue::Ints(vec![3, 3]));
        c.params.set("padding", ParamValue::Ints(vec![1, 1]));
        c
    }

    /// `reallocate_halo_output=False` leaves the halo output where it was and the per-core peaks
    /// as they are (`cargo xtask probe`, n150, 64×64, 64 → 128 3×3 padding 1, ROW_MAJOR, either
    /// setting: CB 69,696 B, L1 51,568 B, total 121,264 B), and it is planned, not gated.
    #[test]
    fn reallocate_halo_output_keeps_the_peaks() {
        for reallocate in [true, false] {
            let mut c = conv_64x64_to_128(&N150);
            c.params
                .set("reallocate_halo_output", ParamValue::Bool(reallocate));
            let e = c.estimate().unwrap();
            assert_eq!(e.verdict, crate::case::Verdict::Fits, "{reallocate}");
            assert_eq!(
                (e.peaks.cb, e.peaks.l1, e.peaks.total),
                (69_696, 51_568, 121_264),
                "{reallocate}"
            );
        }
    }

    /// `deallocate_activation=True` frees the caller's L1 input once resharded and moves the
    /// resharded input into its place: the same capture's L1 peak 8,192 B (the input's shard)
    /// lower (measured: 43,376 B where the default has 51,568 B, CB peak 69,696 B either way),
    /// and the input is freed before the conv's program runs.
    #[test]
    fn deallocate_activation_frees_the_input_after_the_reshard() {
        let mut c = conv_64x64_to_128(&N150);
        c.params
            .set("deallocate_activation", ParamValue::Bool(true));
        let e = c.estimate().unwrap();
        assert_eq!(e.verdict, crate::case::Verdict::Fits);
        assert_eq!((e.peaks.cb, e.peaks.l1), (69_696, 43_376));
        let plan = c.plan().unwrap();
        let input_freed = plan
            .steps
            .iter()
            .position(|s| matches!(s, crate::plan::Step::Free(0)))
            .expect("the input is freed by the call");
        let conv_runs = plan
            .steps
            .iter()
            .position(|s| matches!(s, crate::plan::Step::Run(p) if p.op == "Conv2dDeviceOperation"))
            .unwrap();
        assert!(input_freed < conv_runs);
    }

    /// `act_block_h_override` picks the largest divisor of the shard's tiles up to it, and with
    /// several activation blocks a height-sharded conv buffers the kernel's rows of weights.
    #[test]
    fn act_block_h_splits_the_shard() {
        let mut c = conv([1, 64, 64, 64], 128, [3, 1, 1], false);
        c.act_block_h = 4;
        assert_eq!(c.act_block_tiles(6), 3);
        assert_eq!(c.act_block_tiles(8), 4);
        c.act_block_h = 1;
        // 4096 rows on 64 cores: 2 tiles each, two blocks of one.
        let s = c.sharding(&N150, Scheme::Height);
        assert_eq!((s.out_shard_h, s.act_h_tiles), (64, 1));
        assert_eq!(c.weights_cb_tiles(&s), 3 * s.out_w_tiles * s.act_w_tiles);
        c.act_block_h = 0;
        let s = c.sharding(&N150, Scheme::Height);
        assert_eq!(c.weights_cb_tiles(&s), s.out_w_tiles * s.act_w_tiles);
    }

    /// The runtime's choices and shard shapes, measured on ttnn 0.81.1 (docs/conv2d.md's
    /// table and the captures named there).
    #[test]
    fn auto_shard_matches_the_runtime() {
        // 64×64, 3 → 64, 3×3 s2, ROW_MAJOR: HEIGHT on 32 cores, output [32, 64].
        let c = conv([1, 64, 64, 3], 64, [3, 2, 1], false);
        for d in [&N150, &P150] {
            assert_eq!(c.auto_scheme(d), Scheme::Height);
            let s = c.sharding(d, Scheme::Height);
            assert_eq!((s.nhw_cores, s.out_shard_h, s.out_w_tiles), (32, 32, 2));
            // Halo 3,152 B per core (197 sticks of 8 channels).
            assert_eq!(c.halo_sticks(&s) * s.in_shard_w * 2, 3152);
        }
        // 32×32, 64 → 64, ROW_MAJOR: BLOCK 8 input channel cores, output 2×8 [128, 32];
        // TILE: HEIGHT on 32 cores.
        let c = conv([1, 32, 32, 64], 64, [3, 1, 1], false);
        assert_eq!(c.auto_scheme(&N150), Scheme::Block);
        let s = c.sharding(&N150, Scheme::Block);
        assert_eq!((s.nhw_cores, s.in_c_cores, s.out_c_cores), (8, 8, 2));
        assert_eq!((s.out_shard_h, s.out_w_tiles, s.in_shard_w), (128, 1, 8));
        assert_eq!(c.halo_sticks(&s), 204);
        // Reader indices 24 B: two readers' blocks of two output rows each.
        assert_eq!(
            c.reader_config_bytes(&s, c.split_reader(&N150, &s).unwrap()),
            24
        );
        let t = conv([1, 32, 32, 64], 64, [3, 1, 1], true);
        assert_eq!(t.auto_scheme(&N150), Scheme::Height);
        // 640×640, 3 → 96 s2: HEIGHT, 64 cores [1600, 96] on n150, 88 [960, 96]... on p150.
        let c = conv([1, 640, 640, 3], 96, [3, 2, 1], false);
        assert_eq!(c.auto_scheme(&N150), Scheme::Height);
        let s = c.sharding(&N150, Scheme::Height);
        assert_eq!((s.nhw_cores, s.out_shard_h), (64, 1600));
        assert_eq!(
            c.reader_config_bytes(&s, c.split_reader(&N150, &s).unwrap()),
            32
        );
        // 64×64, 128 → 128 s1: BLOCK 4×8 [512, 32] on n150.
        let c = conv([1, 64, 64, 128], 128, [3, 1, 1], false);
        assert_eq!(c.auto_scheme(&N150), Scheme::Block);
        let s = c.sharding(&N150, Scheme::Block);
        assert_eq!((s.out_shard_h, s.out_c_cores, s.act_w_tiles), (512, 4, 2));
        assert_eq!(
            c.reader_config_bytes(&s, c.split_reader(&N150, &s).unwrap()),
            40
        );
        // A ROW_MAJOR depthwise conv shards like any other (p150, 9×11, 96 channels in 96
        // groups): BLOCK, 6 input channel cores of 16 channels, output 3×4.
        let c = conv([1, 9, 11, 96], 96, [3, 1, 1], false);
        assert_eq!(c.auto_scheme(&P150), Scheme::Block);
        let s = c.sharding(&P150, Scheme::Block);
        assert_eq!((s.nhw_cores, s.in_c_cores, s.out_c_cores), (4, 6, 3));
        assert_eq!(s.in_shard_w, 16);
        // 3×3, 1024 → 1024, TILE on n150: WIDTH on 32 cores of 32 channels, a 25-stick halo
        // (the whole padded input), activation block 9 tiles.
        let c = conv([1, 3, 3, 1024], 1024, [3, 1, 1], true);
        assert_eq!(c.auto_scheme(&N150), Scheme::Width);
        let s = c.sharding(&N150, Scheme::Width);
        assert_eq!((s.in_c_cores, s.out_c_cores, s.act_w_tiles), (32, 32, 9));
        assert_eq!(c.halo_sticks(&s), 25);
    }

    /// An interleaved input whose shard and InterleavedToSharded's reader scratch overflow the
    /// bank is resharded by a copy (to_memory_config's fallback), whose run clashes with the
    /// shards: n150, `[1,1024,H,159]` TILE from DRAM in L1_FULL, 3×3 stride 2 → 161, H 266 a
    /// CB clash as on the runtime, H 265 resharded and out of L1 at the halo as on the runtime.
    #[test]
    fn a_shard_with_no_room_for_the_reshard_scratch_is_copied() {
        let verdict = |h: i64| {
            let mut c = case(Layout::Tile, BufferType::Dram, &N150);
            c.model_inputs = vec![Shape::from_dims(vec![1, 1024, h as u64, 159]).unwrap()];
            c.params.set("out_channels", ParamValue::Int(161));
            c.params.set("kernel_size", ParamValue::Ints(vec![3, 3]));
            c.params.set("stride", ParamValue::Ints(vec![2, 2]));
            c.params.set("padding", ParamValue::Ints(vec![1, 1]));
            c.params.set("slice", ParamValue::Str("l1_full".into()));
            c.estimate().unwrap().verdict
        };
        assert!(matches!(verdict(266), crate::case::Verdict::CbClash(_)));
        assert!(matches!(verdict(265), crate::case::Verdict::Oom(_)));
    }

    /// The width-sharded factory checks the activation block against the output block (N·H·W
    /// in tiles, rounded up) before anything else: n150 `[1,48,8,4]` ROW_MAJOR in L1 → 382 2×2
    /// WIDTH_SHARDED, act_block_h 96: 21 output rows take the override whole (⌊21 / 32⌋ = 0),
    /// three tiles over one (random conv2d seed 1207311, the runtime's words); one tile fits.
    #[test]
    fn width_sharded_act_block_h_past_the_output_is_refused() {
        let mut c = case(Layout::RowMajor, BufferType::L1, &N150);
        c.model_inputs = vec![Shape::parse("1,48,8,4").unwrap()];
        for (name, v) in [
            ("act_block_h", ParamValue::Int(96)),
            ("out_channels", ParamValue::Int(382)),
            ("kernel_size", ParamValue::Ints(vec![2, 2])),
            ("padding", ParamValue::Ints(vec![0, 0])),
            ("shard_layout", ParamValue::Str("width".into())),
        ] {
            c.params.set(name, v);
        }
        let err = c.estimate().expect_err("refused");
        assert!(
            err.to_string().contains(
                "Output block height (in # of tiles) (1) should be greater than or equal to \
                 activation block height (in # of tiles) (3)"
            ),
            "{err}"
        );
        c.params.set("act_block_h", ParamValue::Int(32));
        c.estimate().unwrap();
    }

    /// Seed 1212162 (p150): a float32 ROW_MAJOR `[1,1024,77,112]` flat input in L1, depthwise
    /// 4×5 width-sharded. The capture reshards it with InterleavedToSharded (a 768 B
    /// scratchpad in the 896 B left below the shard); a device run finds that too little for the
    /// shard and its scratch and copies instead, whose 256 + 4,096 B region clashes with the
    /// shard (the runtime's message, below). With 5 rows fewer the run copies into room enough
    /// and runs out of L1 at the halo, as the runtime does.
    #[test]
    fn a_run_copies_where_the_reshard_finds_too_little_l1() {
        let conv = |h: u64| {
            let mut c = case(Layout::RowMajor, BufferType::L1, &P150);
            c.model_inputs = vec![Shape::parse(&format!("1,1024,{h},112")).unwrap()];
            c.dtype = DType::Float32;
            c.default_output_memory = false;
            for (name, v) in [
                ("out_channels", ParamValue::Int(1024)),
                ("groups", ParamValue::Int(1024)),
                ("kernel_size", ParamValue::Ints(vec![4, 5])),
                ("padding", ParamValue::Ints(vec![0, 1])),
                ("bias", ParamValue::Bool(false)),
                ("enable_act_double_buffer", ParamValue::Bool(true)),
                ("enable_weights_double_buffer", ParamValue::Bool(false)),
                ("weights_dtype", ParamValue::Str("bfloat16".into())),
                ("shard_layout", ParamValue::Str("width".into())),
            ] {
                c.params.set(name, v);
            }
            c.estimate().expect("modeled")
        };
        let e = conv(77);
        match &e.verdict {
            crate::case::Verdict::CbClash(d) => {
                assert!(
                    d.message().ends_with(
                        "L1 buffer allocated at 112640 and static dataflow buffer region ends at 116096"
                    ),
                    "{}",
                    d.message()
                );
            }
            other => panic!("expected a clash, got {other:?}"),
        }
        // The capture's peaks are the InterleavedToSharded plan's.
        assert_eq!(e.peaks.cb, 62_873_664);
        assert!(matches!(conv(72).verdict, crate::case::Verdict::Oom(_)));
    }
}
