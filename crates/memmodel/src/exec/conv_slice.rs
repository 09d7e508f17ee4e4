//! `ttnn.conv2d`'s `slice_config` (tt-metal `determine_conv2d_execution_path`, `conv2d_DRAM`,
//! `op_slicing::run_sliced_op`; docs/conv2d.md "DRAM slicing"). `slice_config` L1_FULL takes
//! the L1 path whatever the input's memory: a DRAM interleaved input is resharded into L1 as
//! an L1 one is ([`super::conv`]'s plan). DRAM slicing (a DRAM input without slice_config, or
//! DRAM_HEIGHT / DRAM_WIDTH) is [`plan`]ned here, depthwise convs (planned as groups 1: 0.81.1
//! prepares their weights as a full block-diagonal matrix) and inputs whose `[N, H, W, C]`
//! reshape copies included.

use super::conv::{Conv, Scheme, UNPLANNED};
use super::pool::{sharded, Bound};
use super::{invalid, unmodeled, Args, DevTensor, Exec, Val};
use crate::device::{BufferType, DeviceSpec};
use crate::dtype::DType;
use crate::error::CaseError;
use crate::layout::Layout;
use crate::plan::sharded_placement;
use crate::plan::BufferRole;
use crate::program::{CbKind, Program};
use crate::shape::Shape;
use crate::size;
use crate::tensor::{TensorSpec, TILE};

/// Whether the call passes `slice_config=ttnn.Conv2dL1FullSliceConfig` with a DRAM interleaved
/// input: the L1 path, the input resharded from DRAM.
pub(super) fn l1_full_of_dram(a: &Args<'_>, x: &DevTensor) -> bool {
    x.memory == BufferType::Dram
        && x.shard.is_none()
        && matches!(
            a.kw.get("slice_config"),
            Some(Val::Attr("Conv2dL1FullSliceConfig"))
        )
}

/// The axis a DRAM-sliced conv cuts its output along (`Op2DSliceConfig::SliceType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Axis {
    Height,
    Width,
}

impl Axis {
    fn index(self) -> usize {
        match self {
            Axis::Height => 0,
            Axis::Width => 1,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Axis::Height => "height",
            Axis::Width => "width",
        }
    }

    fn other(self) -> Axis {
        match self {
            Axis::Height => Axis::Width,
            Axis::Width => Axis::Height,
        }
    }
}

/// The slicing a call asks for: the axis (`None`: `best_guess_slice_type`, then the other
/// axis if none fits) and the count (0: the fewest that fit free L1).
#[derive(Debug, Clone, Copy)]
pub(super) struct Request {
    axis: Option<Axis>,
    count: u64,
    /// A depthwise conv one kernel row tall without bias: a slice of one input row of it takes
    /// the runtime's 1-D depthwise path (`is_1d_deptwise_conv`), which is not planned.
    one_row_depthwise: bool,
}

impl Request {
    /// The request for a conv that is (or is not) depthwise, one kernel row tall, unbiased.
    pub(super) fn of_one_row_depthwise(self, one_row_depthwise: bool) -> Request {
        Request {
            one_row_depthwise,
            ..self
        }
    }

    /// The runtime's refusal of a slice count told past what the output allows (one slice per
    /// output row, or per tile of output columns), which it raises before any L1 estimate of
    /// the slices: p150 `[1,320,6,5]` dilation 2 in 5 height slices (2 allowed) and
    /// `[1,480,11,6]` 5×5 in 8 (7 allowed), WIDTH_SHARDED with act_block_h 224 / 64 (seed
    /// 1212401). `None` when the count is the runtime's or within the bound.
    pub(super) fn told_count_refusal(&self, whole: &Conv) -> Option<String> {
        let axis = self.axis?;
        let win = whole.win;
        let max = if axis == Axis::Width {
            win.wo.div_ceil(TILE)
        } else {
            [win.ho, win.wo][axis.index()]
        };
        (self.count > max).then(|| slice_count_refusal(self.count, max))
    }

    /// Whether the call tells the slice count (the runtime searches for none).
    pub(super) fn count_told(&self) -> bool {
        self.axis.is_some() && self.count > 0
    }

    /// Whether the call tells a count of one slice: the runtime still scores the auto-shard
    /// candidates then (n150 `[1,224,6,11]` depthwise 1×1 stride 2, act_block_h 192,
    /// `num_slices` 1: "Conv2d output block size 6 exceeds the per-core output size 1"; with
    /// 2 it ran; seed 1218003).
    pub(super) fn one_slice_told(&self) -> bool {
        self.axis.is_some() && self.count == 1
    }
}

fn slice_count_refusal(count: u64, max: u64) -> String {
    format!(
        "Number of slices ({count}) exceeds the maximum allowed ({max}) for the given output \
         dimension and alignment."
    )
}

/// The DRAM slicing of a call (`determine_conv2d_execution_path`): a DRAM interleaved input
/// without slice_config, or with DRAM_HEIGHT / DRAM_WIDTH; `None` for the L1 path.
pub(super) fn dram_request(a: &Args<'_>, x: &DevTensor) -> Result<Option<Request>, CaseError> {
    let f = a.function;
    let request = match a.kw.get("slice_config") {
        None | Some(Val::None) => Request {
            axis: None,
            count: 0,
            one_row_depthwise: false,
        },
        Some(Val::Attr("Conv2dL1FullSliceConfig")) => return Ok(None),
        Some(Val::Object { kwargs, .. }) => {
            let axis = match kwargs.get("slice_type") {
                Some(Val::Attr("Conv2dDRAMSliceHeight")) => Axis::Height,
                Some(Val::Attr("Conv2dDRAMSliceWidth")) => Axis::Width,
                other => {
                    return Err(invalid(
                        f,
                        format!("`slice_config.slice_type` is {other:?}"),
                    ))
                }
            };
            let count = match kwargs.get("num_slices") {
                None => 0,
                Some(Val::Int(n)) => u64::try_from(*n)
                    .map_err(|_| invalid(f, "`slice_config.num_slices` is negative"))?,
                Some(other) => {
                    return Err(invalid(
                        f,
                        format!("`slice_config.num_slices` is {other:?}"),
                    ))
                }
            };
            Request {
                axis: Some(axis),
                count,
                one_row_depthwise: false,
            }
        }
        Some(other) => return Err(invalid(f, format!("`slice_config` is {other:?}"))),
    };
    if x.shard.is_none() && (x.memory == BufferType::Dram || request.axis.is_some()) {
        // An L1 interleaved input with DRAM_HEIGHT / DRAM_WIDTH takes the DRAM path too, which
        // refuses it once reshaped ([`plan`]).
        return Ok(Some(request));
    }
    if request.axis.is_some() {
        // A sharded input with DRAM_HEIGHT / DRAM_WIDTH: not measured.
        return Err(unmodeled(
            f,
            format!("{UNPLANNED}: DRAM slicing of a sharded input"),
        ));
    }
    Ok(None)
}

/// A slice whose first output window ends before the input (a kernel reach of 1 under padding 2,
/// one output row): the runtime's input-slice end is negative there and wraps as a `uint32_t`
/// (`OpSliceAttr::IOShape`), so it is not skipped and runs on a slice nobody measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct WrappedSlice;

/// The convs of the slices of `whole` cut along `axis` into `count` parts, as `run_sliced_op`
/// (and `compute_L1_usage_for_slice_config`, the count's estimate) walks them: a TILE output
/// cut by width in whole tiles of columns, `⌈dim / step⌉ / count` steps each and one more for
/// the first `remainder`. A slice whose windows read no input row (its clamped input range is
/// empty: windows wholly in the padding at an edge) is skipped *without* moving the start, so
/// the next slice index (maybe one step shorter) starts where it did. Lazy: the count search
/// stops at the first slice that does not fit, so building all `count` of them each time made it
/// quadratic.
fn slices(
    whole: &Conv,
    axis: Axis,
    count: u64,
) -> impl Iterator<Item = Result<Conv, WrappedSlice>> + '_ {
    let win = &whole.win;
    let i = axis.index();
    let out_dim = [win.ho, win.wo][i];
    let step = if axis == Axis::Width { TILE } else { 1 };
    let units = out_dim.div_ceil(step);
    let (min, rem) = (units / count.max(1), units % count.max(1));
    let mut start = 0;
    (0..count).filter_map(move |k| {
        if start >= out_dim {
            return None;
        }
        let len = step * (min + u64::from(k < rem));
        let end = (start + len).min(out_dim);
        if end <= start {
            return None;
        }
        match input_span(whole, axis, start, end) {
            Err(wrapped) => {
                // Not skipped: the runtime moves on past it.
                start += len;
                Some(Err(wrapped))
            }
            Ok(None) => None,
            Ok(Some(_)) => {
                let conv = slice_conv(whole, axis, start, end);
                start += len;
                Some(Ok(conv))
            }
        }
    })
}

/// The input rows / columns `[lo, hi)` the output slice `[out_start, out_end)` reads
/// (`Conv2dSliceAttr::get_input_slice`, clamped again by `run_sliced_op`): clamped to the input,
/// the whole input's edge where the slice is at the output's edge; `Ok(None)` when empty (the
/// runtime skips the slice), `Err` where its end is negative (wraps, see [`WrappedSlice`]).
fn input_span(
    whole: &Conv,
    axis: Axis,
    out_start: u64,
    out_end: u64,
) -> Result<Option<(u64, u64)>, WrappedSlice> {
    let win = whole.win;
    let i = axis.index();
    let size = [win.h, win.w][i] as i128;
    let out_dim = [win.ho, win.wo][i];
    let first = (out_start * win.stride[i]) as i128 - win.pad[i] as i128;
    let last = ((out_end - 1) * win.stride[i]) as i128 - win.pad[i] as i128 + win.reach(i) as i128;
    let lo = if out_start == 0 { 0 } else { first.max(0) };
    let hi = if out_end == out_dim {
        size
    } else {
        last.min(size)
    };
    if hi < 0 {
        return Err(WrappedSlice);
    }
    Ok((lo < hi).then_some((lo as u64, hi as u64)))
}

/// The conv of one slice (whose input span is not empty): the input rows / columns its windows
/// read, clamped to the input, with the clamped part as its own padding (the edge slices keep
/// the conv's); a TILE output slice that is not whole tiles wide (not the whole input) gets more
/// right padding to round its width up (`run_L1_op`).
fn slice_conv(whole: &Conv, axis: Axis, out_start: u64, out_end: u64) -> Conv {
    let win = whole.win;
    let i = axis.index();
    let size = [win.h, win.w][i];
    let out_dim = [win.ho, win.wo][i];
    let reach = win.reach(i);
    let first = (out_start * win.stride[i]) as i128 - win.pad[i] as i128;
    let last = ((out_end - 1) * win.stride[i]) as i128 - win.pad[i] as i128 + reach as i128;
    let mut pad_start = (-first).max(0) as u64;
    let mut pad_end = (last - size as i128).max(0) as u64;
    let mut lo = first.clamp(0, size as i128) as u64;
    let mut hi = last.clamp(0, size as i128) as u64;
    if out_start == 0 {
        pad_start = win.pad[i];
        lo = 0;
    }
    if out_end == out_dim {
        pad_end = win.pad_end[i];
        hi = size;
    }
    let mut w = win;
    w.pad[i] = pad_start;
    w.pad_end[i] = pad_end;
    if axis == Axis::Height {
        w.h = hi.saturating_sub(lo);
    } else {
        w.w = hi.saturating_sub(lo);
    }
    let single = w.h == win.h && w.w == win.w;
    let out_w = if axis == Axis::Width {
        out_end - out_start
    } else {
        win.wo
    };
    if !single && !out_w.is_multiple_of(TILE) {
        w.pad_end[1] += (TILE - out_w % TILE) * win.stride[1];
    }
    w.ho = (w.h + w.pad[0] + w.pad_end[0]).saturating_sub(w.reach(0)) / w.stride[0] + 1;
    w.wo = (w.w + w.pad[1] + w.pad_end[1]).saturating_sub(w.reach(1)) / w.stride[1] + 1;
    // PaddedSlice writes the slice row-major: the slice's conv aligns its channels as a
    // ROW_MAJOR input's (8), whatever the input's layout (captures, n150, `[1,384,272,480]`
    // TILE: 8 input-channel cores of 48 channels, where a TILE input's 32 would give 6 of 64).
    // The whole input as one slice is sharded as an L1 input is (`get_input_memory_config`:
    // `single_slice ? L1 : DRAM`).
    Conv {
        win: w,
        tiled: whole.tiled && single,
        ..*whole
    }
}

/// The sharding scheme of a slice's conv (`Conv2dSliceAttr::get_input_memory_config`): the
/// call's, else `determine_conv_config_for_auto_shard` on the slice with the *input's* layout
/// (a TILE input's channels aligned to 32 there), though the slice is then sharded row-major.
/// That estimate's halo is the input slice's under the *whole* conv's padding, with the output
/// that padding gives it (`calculate_precise_halo_output_elems` on a window config of the input
/// slice and `padding_n4`): p150 `[4,192,320,320]` → 192 3×3, 16 height slices of 20 output
/// rows: a 21-row input slice padded top and bottom computes 21 rows a core, and its image
/// seams make height sharding's halo larger than block's (the slice's own padding would keep
/// height sharding).
fn slice_scheme(d: &DeviceSpec, whole: &Conv, slice: &Conv, scheme: Option<Scheme>) -> Scheme {
    if let Some(scheme) = scheme {
        return scheme;
    }
    let conv = Conv {
        tiled: whole.tiled,
        ..*slice
    };
    let mut halo_win = slice.win;
    halo_win.pad = whole.win.pad;
    halo_win.pad_end = whole.win.pad_end;
    let out = |axis: usize| {
        let size = [halo_win.h, halo_win.w][axis];
        (size + halo_win.pad[axis] + halo_win.pad_end[axis])
            .checked_sub(halo_win.reach(axis))
            .map(|span| span / halo_win.stride[axis] + 1)
    };
    let (Some(ho), Some(wo)) = (out(0), out(1)) else {
        return conv.auto_scheme(d);
    };
    halo_win.ho = ho;
    halo_win.wo = wo;
    let elem = if conv.dtype == DType::Float32 { 4 } else { 2 };
    conv.auto_scheme_by(d, |scheme| {
        let s = conv.sharding(d, scheme);
        let shard = halo_win.out_nhw().div_ceil(s.nhw_cores * TILE) * TILE;
        let sticks = halo_win
            .boundaries(s.nhw_cores, shard)
            .iter()
            .flatten()
            .map(|b| b.in_last - b.in_first + 1)
            .max()
            .unwrap_or(0);
        // The conv's CBs and output with no halo, then this halo.
        conv.l1_usage_of(&s, 0)
            .saturating_add(sticks.saturating_mul(s.in_shard_w).saturating_mul(elem))
    })
}

/// A slice's sharding: its conv's, but a width-sharded slice of a TILE input has its one shard's
/// rows padded to whole tiles as a TILE input's are, though PaddedSlice writes it row-major
/// (probes, n150, `[1,400,300,64]` → 64 3×3 WIDTH_SHARDED: slices of 1,200 and 1,500 rows in
/// shards of 1,216 and 1,504 from a TILE input, of 1,200 and 1,500 from a ROW_MAJOR one).
fn slice_sharding(
    d: &DeviceSpec,
    whole: &Conv,
    conv: &Conv,
    scheme: Scheme,
) -> super::conv::Sharding {
    let mut s = conv.slice_sharding(d, scheme);
    if scheme == Scheme::Width && whole.tiled && !conv.tiled {
        s.in_shard_h = s.in_shard_h.div_ceil(TILE) * TILE;
    }
    s
}

/// What `Conv2dSliceAttr::get_L1_usage` costs a slice: the larger of the halo's input and output
/// shards and `calculate_L1_usage_for_conv_op`'s total. That total takes the slice's grid and
/// halo input shards as they are (row-major, channels aligned to 8) but pads the channels to
/// the *input's* alignment per channel core for its blocks (a TILE input: 32; p150,
/// `[1,384,272,480]` → 768: 10 channel cores of 40 channels, blocks of 64: 4 slices where 40
/// would allow 3).
fn slice_l1(d: &DeviceSpec, whole: &Conv, conv: &Conv, scheme: Scheme) -> u64 {
    let s = slice_sharding(d, whole, conv, scheme);
    let elem = if conv.dtype == DType::Float32 { 4 } else { 2 };
    let divider = if conv.dtype == DType::Bfloat8B { 2 } else { 1 };
    let halo_in = s.in_shard_h * s.in_shard_w * elem / divider;
    let halo_out = conv.halo_sticks(&s) * s.in_shard_w * elem;
    let blocks = if whole.tiled && scheme != Scheme::Width {
        s.channels_aligned(conv.win.c, TILE, conv.win.kernel)
    } else {
        s
    };
    (halo_in + halo_out).max(conv.l1_usage_of(&blocks, s.in_shard_w))
}

/// The pages (one shard-wide stick each) of a slice's PaddedSlice output, whose size is its
/// spec's, not cores × shard (`PaddedSliceDeviceOperation::compute_output_specs`): `[1, 1,
/// N·h·w, C]` with C the shard width when height-sharded and N·h·w the shard height when
/// width-sharded; a row-major sharded tensor's width is aligned to the shard width unless
/// height-sharded, its height not at all (`RowMajorPageConfig::create_default_alignment`).
/// p150 `[1,96,540,960]` → 96, a slice of 540 × 161: 86,940 sticks of 192 B, where the
/// shards hold 87,360.
fn sliced_input_pages(conv: &Conv, s: &super::conv::Sharding) -> Result<u64, size::Overflow> {
    let rows = size::mul(
        size::mul(conv.win.n, conv.win.h, "slice rows")?,
        conv.win.w,
        "slice rows",
    )?;
    let sticks_per_row = conv.win.c.div_ceil(s.in_shard_w.max(1));
    match s.scheme {
        Scheme::Height => Ok(rows),
        Scheme::Block => size::mul(rows, sticks_per_row, "slice pages"),
        Scheme::Width => size::mul(s.in_shard_h, sticks_per_row, "slice pages"),
    }
}

/// Where the count search stops without the runtime's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SearchGap {
    /// Past [`MAX_SLICE_CHECKS`] slices.
    TooManyChecks,
    /// A [`WrappedSlice`] among the counts tried.
    Wrapped,
}

/// `determine_slice_config`: the fewest slices along the axis whose every slice's L1 estimate
/// fits the free L1 (`total_free_bytes` of the bank now); the runtime's own axis first, the other
/// if none fits. `Err(message)`: the runtime's error when none does.
fn slice_count(
    d: &DeviceSpec,
    whole: &Conv,
    request: Request,
    scheme: Option<Scheme>,
    free: u64,
    max_checks: &mut u64,
) -> Result<Result<(Axis, u64), String>, SearchGap> {
    let win = &whole.win;
    if request.count > 0 {
        let axis = request.axis.unwrap_or(Axis::Width);
        return Ok(Ok((axis, request.count)));
    }
    // `best_guess_slice_type` for a TILE output (conv2d_DRAM's default output_layout).
    let best_guess = if conv2d_auto_slice_type(win.h, win.w, Layout::Tile) == "height" {
        Axis::Height
    } else {
        Axis::Width
    };
    let mut axis = request.axis.unwrap_or(best_guess);
    let mut retry = request.axis.is_none();
    loop {
        let i = axis.index();
        let out_dim = [win.ho, win.wo][i];
        let max = if axis == Axis::Width {
            out_dim.div_ceil(TILE)
        } else {
            out_dim
        };
        for n in 1..=max {
            let mut fits = true;
            let mut wrapped = false;
            for sl in slices(whole, axis, n) {
                let Ok(sl) = sl else {
                    // Its estimate is not known; another slice that does not fit fails the
                    // count whatever it is (the estimate is the slices' largest).
                    wrapped = true;
                    continue;
                };
                if *max_checks == 0 {
                    return Err(SearchGap::TooManyChecks);
                }
                *max_checks -= 1;
                let sc = slice_scheme(d, whole, &sl, scheme);
                if slice_l1(d, whole, &sl, sc) > free {
                    fits = false;
                    break;
                }
            }
            if fits && wrapped {
                return Err(SearchGap::Wrapped);
            }
            if fits {
                return Ok(Ok((axis, n)));
            }
        }
        if !retry {
            return Ok(Err(format!(
                "DRAM Auto slice could not find valid slice configuration. Tried up to {max} \
                 slices for {}-slicing on output dimension {out_dim}. Available L1: {free} \
                 bytes. Operation requires more memory than available even with maximum slicing.",
                axis.name()
            )));
        }
        retry = false;
        axis = axis.other();
    }
}

/// Slices the count search may cost in all: a bound on a search quadratic in the output size.
const MAX_SLICE_CHECKS: u64 = 1 << 12;

/// Slices one plan may lay out (each a halo, a conv and two copies): a bound on the work of a
/// fixed `slice_config` count, above the counts a model needs (YOLOv12x at 4320x7680 on n150:
/// 540 width slices of a width-sharded conv, #38).
const MAX_PLANNED_SLICES: u64 = 1024;

/// `conv2d_DRAM`: the DRAM output `[N, Ho, Wo, C_out]` (TILE) allocated first, the slice count
/// found, then per slice `PaddedSliceDeviceOperation` (the input slice into L1 shards of the
/// slice's own sharding), the L1 conv on it (exec/conv.rs's halo and conv steps, with
/// `deallocate_activation` and `reallocate_halo_output` forced; weights and bias prepared on the
/// first slice and kept) and `SliceWriteDeviceOperation` into the output. One slice: the output
/// is freed and the L1 conv runs on the whole input, its output copied to DRAM.
pub(super) fn plan(
    ex: &mut Exec<'_>,
    a: &Args<'_>,
    whole: &Conv,
    scheme: Option<Scheme>,
    reshard: bool,
    x: &DevTensor,
    request: Request,
) -> Result<Val, CaseError> {
    let f = a.function;
    let one_row_depthwise = request.one_row_depthwise;
    let d = ex.device();
    // `run_L1_op` forces `reallocate_halo_output` (and `deallocate_activation`) on every slice's
    // conv, the single slice's too (n150, `[2,1024,152,113]` 2×3 stride 2 told
    // `reallocate_halo_output=False`, 2 height slices: each halo output moved; seed 1207921).
    let whole = &Conv {
        reallocate_halo: true,
        ..*whole
    };
    let win = whole.win;
    // A bfloat8_b input's slices are bfloat16 sticks (PaddedSlice's output spec); its untilize
    // CBs hold bfloat8_b tiles in, bfloat16 ones out (random differential, `--dtype bfloat8_b
    // --param groups=1 --tile-aligned`: seeds 60111 n150, 30 modeled; 60112 p150, 34 modeled;
    // the output CB's dtype from seed 1207914).
    // A window wholly in the padding (padding at least the kernel's reach) can leave an edge
    // slice reading no input: the runtime skips it without moving on (`slices`).
    let nhwc = Shape::from_dims(vec![win.n, win.h, win.w, win.c])?;
    let out_nhwc = Shape::from_dims(vec![win.n, win.ho, win.wo, whole.c_out])?;
    let out_flat = Shape::from_dims(vec![1, 1, win.out_nhw(), whole.c_out])?;
    // `ttnn::reshape` to [N, H, W, C]: an [N, H, W, C] input is kept as it is; a flat one
    // whose reshape is not a view (a TILE input whose width is not whole tiles) is copied
    // into [N, H, W, C] in DRAM first (ReshapeView; probes, n150, `[1,64,400,300]` and
    // `[1,64,100,100]`: the copy, then the output, the slices reading the copy, which dies
    // after the output's copy back). A TILE [N, H, W, C] input of such a width is not copied
    // here (`[1,400,300,64]`, 2 slices); one slice flattens it by a copy (below).
    let nhwc_copy = if x.shape() == &nhwc || super::reshape_is_view(x.shape(), &nhwc, x.layout()) {
        None
    } else {
        let dims = [win.n, win.h, win.w, win.c].map(|v| v as i64);
        Some(super::data_movement::reshape(ex, x, &dims, x.memory)?)
    };
    if x.memory != BufferType::Dram {
        // conv2d_DRAM reshapes its input to [N, H, W, C], then refuses any but a DRAM one,
        // whatever the slice count (probes, n150: `[1,32,64,64]` ROW_MAJOR L1 with DRAM_HEIGHT
        // and 0, 1 or 2 slices; `[1,32,64,50]` TILE L1 with DRAM_WIDTH after its copying
        // reshape, whose page map the program cache keeps).
        release_copy(ex, nhwc_copy);
        ex.b.run(
            Program::new("Conv2D", "DRAM slicing")
                .refused("Conv DRAM expects the input tensor to be in DRAM.".to_string()),
        );
        return Ok(Val::None);
    }
    // The output back to [1, 1, N·Ho·Wo, C]: a view when its width is whole tiles, else a
    // copying ReshapeView (measured: the copy, then the 4-D output and the weights freed),
    // modeled as `data_movement::reshape` (block floats through bfloat16, as there).
    let out_view = super::reshape_is_view(&out_nhwc, &out_flat, Layout::Tile);
    let out_spec = TensorSpec::new(out_nhwc, whole.out_dtype, Layout::Tile);
    let output =
        ex.b.tensor("output", BufferRole::Temporary, out_spec, BufferType::Dram)?;
    let l1_bank = d
        .l1_bank_bytes
        .saturating_sub(crate::device::CONV2D_L1_SMALL);
    // `determine_slice_config` reads the device's L1 `total_free_bytes`: other live L1
    // tensors of a model count (YOLOv12x 4320x7680 n150 #693).
    let Some(free) = ex.b.l1_total_free_per_bank(l1_bank) else {
        release_copy(ex, nhwc_copy);
        ex.b.release(output);
        return Err(unmodeled(
            f,
            format!("{UNPLANNED}: the free L1 after an earlier buffer of the call did not fit"),
        ));
    };
    let mut checks = MAX_SLICE_CHECKS;
    let (axis, count) = match slice_count(d, whole, request, scheme, free, &mut checks) {
        Ok(Ok(v)) => v,
        // Every height slicing tried ends in slices of one output row: with a kernel one row
        // tall those read one input row, which the runtime estimates on its 1-D depthwise path.
        Ok(Err(_))
            if win.kernel == [1, 1]
                && win.stride == [1, 1]
                && win.dilation == [1, 1]
                && (win.pad[0] == 0) != (win.pad[1] == 0) =>
        {
            // Every count up to one output row a slice: some slice lost the padding.
            release_copy(ex, nhwc_copy);
            ex.b.release(output);
            return Err(unmodeled(
                f,
                format!(
                    "{UNPLANNED}: a 1×1 stride-1 conv padded on one axis only in DRAM slices, \
                     no slice count fitting (the runtime estimates unpadded slices on its \
                     matmul path)"
                ),
            ));
        }
        Ok(Err(_)) if one_row_depthwise && request.axis != Some(Axis::Width) => {
            release_copy(ex, nhwc_copy);
            ex.b.release(output);
            return Err(one_row_depthwise_slices(f));
        }
        Ok(Err(message)) => {
            ex.b.run(Program::new("Conv2D", "DRAM slicing").refused(message));
            ex.b.release(output);
            release_copy(ex, nhwc_copy);
            return Ok(Val::None);
        }
        Err(SearchGap::TooManyChecks) => {
            return Err(unmodeled(
                f,
                format!("{UNPLANNED}: a slice count search past {MAX_SLICE_CHECKS} slices"),
            ))
        }
        Err(SearchGap::Wrapped) => return Err(wrapped_slice(f)),
    };
    let max = if axis == Axis::Width {
        win.wo.div_ceil(TILE)
    } else {
        [win.ho, win.wo][axis.index()]
    };
    if count > max {
        ex.b.run(Program::new("Conv2D", "DRAM slicing").refused(slice_count_refusal(count, max)));
        ex.b.release(output);
        release_copy(ex, nhwc_copy);
        return Ok(Val::None);
    }
    if count > MAX_PLANNED_SLICES {
        ex.b.release(output);
        return Err(unmodeled(
            f,
            format!("{UNPLANNED}: a plan of {count} DRAM slices (memmodel plans up to {MAX_PLANNED_SLICES})"),
        ));
    }
    // A depthwise conv one kernel row tall takes the runtime's 1-D depthwise path (its own
    // weights and CBs, not planned) on a slice of one input row: the slicing is planned only
    // where no slice of the counts the runtime tried (the told one, or 1 up to the one found)
    // reads a single input row (seed 1212161, n150: `[1,1024,56,89]` 1×4 padding 1 in 29 height
    // slices, the first reading one row: its weights 262,144 B where the dense plan prepares
    // 8,388,608 B, and the count differs).
    if one_row_depthwise {
        let first = if request.count_told() { count } else { 1 };
        // Width slices found after every height count failed: those reached one output row.
        let height_searched_first = request.axis.is_none()
            && axis == Axis::Width
            && conv2d_auto_slice_type(win.h, win.w, Layout::Tile) == "height";
        let one_row = height_searched_first
            || (axis == Axis::Height
                && (first..=count)
                    .any(|n| slices(whole, axis, n).any(|sl| sl.is_ok_and(|sl| sl.win.h == 1))));
        if one_row {
            release_copy(ex, nhwc_copy);
            ex.b.release(output);
            return Err(one_row_depthwise_slices(f));
        }
    }
    // A 1×1 stride-1 conv padded on one axis only: a slice cut away from the padding (no
    // padding left, its output whole tiles wide) is an unpadded 1×1 conv, which the runtime
    // hands to its matmul path on the slice's row-major shards ([`matmul_slice`]). A told
    // count is planned so; the count search is not: its L1 estimate of such a slice is the
    // matmul path's (not modeled). Where every slice the runtime tries keeps some padding it
    // is the halo path's (`[1,608,76,90]`: each slice's width padded to 96 runs), and so is
    // every slice of a told WIDTH_SHARDED conv (no matmul path: its estimate is the halo
    // bypass's; `cargo xtask probe --trace`, n150 `[1,256,256,256]` padding [1, 0], 13 slices,
    // and p150 `[4,167,289,347]` unpadded, 97 slices: traces equal).
    let one_by_one = win.kernel == [1, 1] && win.stride == [1, 1] && win.dilation == [1, 1];
    if one_by_one && !request.count_told() && scheme != Some(Scheme::Width) {
        let first = 1;
        let searched_other_axis = request.axis.is_none()
            && request.count == 0
            && (axis == Axis::Width)
                == (conv2d_auto_slice_type(win.h, win.w, Layout::Tile) == "height");
        let unpadded = searched_other_axis
            || (first..=count).any(|n| {
                slices(whole, axis, n)
                    .any(|sl| sl.is_ok_and(|sl| sl.win.pad == [0, 0] && sl.win.pad_end == [0, 0]))
            });
        if unpadded {
            release_copy(ex, nhwc_copy);
            ex.b.release(output);
            return Err(unmodeled(
                f,
                format!(
                    "{UNPLANNED}: a 1×1 stride-1 conv in DRAM slices of a count the runtime \
                     searches, a slice without padding among the counts tried (its L1 estimate \
                     on the runtime's matmul path)"
                ),
            ));
        }
    }
    // A searched count whose slices all read only padding (the first one output row under a
    // kernel no taller than the padding) runs none: `compute_L1_usage_for_slice_config` skips
    // such a slice without moving the start, as `run_sliced_op` does, so its estimate is 0 and
    // the count fits; the output is allocated and flattened, no slice is run (probes, traces
    // equal to the plan's: p150 `[1,544,94,97]` ROW_MAJOR 2×2 padding [2, 0], 97 height
    // slices; n150 `[4,1024,38,22]` ROW_MAJOR 2×2 dilation [1, 2] padding 2 to bfloat8_b,
    // `[1,288,50,51]` bfloat8_b TILE 2×5 stride 2, `[1,1024,64,50]` 1×1 dilation 2 padding 2).
    // (Seed 1212161's `[1,1024,56,89]` 1×4 depthwise, where the runtime fit 57 slices and the
    // plan searched on to 58, is the 1-D depthwise estimate, unmodeled above.)
    if count == 1 {
        // The output is freed and the L1 op runs on the whole input (its reshard from DRAM),
        // copied to DRAM interleaved.
        ex.b.release(output);
        let scheme = scheme.unwrap_or_else(|| whole.auto_scheme(d));
        let s = whole.sharding(d, scheme);
        let input_use = super::conv::InputUse {
            keep_sharded: false,
            deallocate_activation: true,
        };
        // The L1 path flattens its input to [1, 1, N·H·W, C]: a copy where that is not a view
        // (probes, n150: `[1,64,100,100]` flat, its [N, H, W, C] copy copied back;
        // `[1,200,100,48]` TILE [N, H, W, C]), resharded and freed; the [N, H, W, C] copy
        // is freed after the conv.
        let source = nhwc_copy.as_ref().unwrap_or(x);
        let flat = Shape::from_dims(vec![1, 1, win.n * win.h * win.w, win.c])?;
        let flattened = if source.shape() == &flat
            || super::reshape_is_view(source.shape(), &flat, source.layout())
        {
            None
        } else {
            let dims = flat.dims().iter().map(|&v| v as i64).collect::<Vec<_>>();
            Some(super::data_movement::reshape(
                ex,
                source,
                &dims,
                BufferType::Dram,
            )?)
        };
        let out = super::conv::plan(
            ex,
            whole,
            &s,
            source,
            input_use,
            flattened,
            Some(BufferType::Dram),
        )?;
        release_copy(ex, nhwc_copy);
        return Ok(out);
    }
    let mut prepared: Option<(DevTensor, Option<DevTensor>)> = None;
    let mut cached_windows = Vec::new();
    // `get_input_memory_config` writes the first slice's auto scheme into the conv_config it
    // holds by reference: every later slice keeps it (p150 `[1,192,544,960]` → 384 s2, 8 width
    // slices: the last, 32 output columns, would choose block sharding on its own, and runs
    // height-sharded as the first).
    let mut run_scheme = scheme;
    for conv in slices(whole, axis, count) {
        let conv = conv.map_err(|_| wrapped_slice(f))?;
        if run_scheme.is_none() && request.count_told() {
            // The first slice's auto-shard estimate (`get_input_memory_config`; a told count
            // searches none) scores the width candidate on that slice's output: its activation
            // block may exceed the output (`Conv::auto_shard_refusal`), where a first slice
            // reading the whole input keeps the output's own width (probes, n150 and p150,
            // act_block_h 64 / 96, 2 height slices: `[1,32,3,3]` and `[1,83,3,3]` 3×3 padding 1
            // refused "Conv2d output block size 2 (3) exceeds the per-core output size 1";
            // `[1,32,4,10]`, `[1,32,6,6]` stride 2 and `[1,32,3,3]` 2×2 / 1×3, whose first slices
            // are rounded to 32 columns, ran).
            let estimated = Conv {
                tiled: whole.tiled,
                ..conv
            };
            if let Some(message) =
                estimated.auto_shard_refusal(d, is_matmul_slice(&estimated, Scheme::Height))
            {
                ex.b.run(
                    Program::new("Conv2dDeviceOperation", "Conv2dShardedProgramFactory")
                        .refused(message),
                );
                ex.b.release(output);
                release_copy(ex, nhwc_copy);
                return Ok(Val::None);
            }
        }
        let slice_scheme = slice_scheme(d, whole, &conv, run_scheme);
        run_scheme = Some(slice_scheme);
        let s = slice_sharding(d, whole, &conv, slice_scheme);
        if reshard && conv.sharding(d, slice_scheme).nhw_cores != s.nhw_cores {
            // reshard_if_not_optimal: the slice's conv would reshard its input to the grid
            // `act_block_h_override` gives the L1 path (not measured).
            return Err(unmodeled(
                f,
                format!(
                    "{UNPLANNED}: a DRAM slice sharded over other NHW cores than \
                     act_block_h_override gives, with reshard_if_not_optimal"
                ),
            ));
        }
        if prepared.is_none() && is_matmul_slice(&conv, slice_scheme) {
            // The weights would be prepared for the matmul (K unpadded per kernel row): never
            // seen, as the first slice keeps the conv's padding on the axis it is cut along.
            return Err(unmodeled(
                f,
                format!("{UNPLANNED}: a first DRAM slice on the 1×1 matmul path"),
            ));
        }
        // 1. PaddedSlice: the slice's input sticks, row-major, in the slice's shards (only those
        //    holding rows); a TILE input untilized through two CBs of four tile rows.
        let rows = conv.win.n * conv.win.h * conv.win.w;
        let used_nhw = rows.div_ceil(s.in_shard_h);
        let used = used_nhw * s.in_c_cores;
        let elem = if conv.dtype == DType::Float32 { 4 } else { 2 };
        let stick = s.in_shard_w * elem;
        let slice_in = sharded(
            ex,
            "sliced input",
            TensorSpec::new(
                Shape::from_dims(vec![1, 1, s.in_shard_h * s.nhw_cores, s.in_c_padded])?,
                conv.conv_in_dtype(),
                Layout::RowMajor,
            ),
            sharded_placement(
                d,
                BufferType::L1,
                sliced_input_pages(&conv, &s)?,
                stick,
                used,
                s.in_shard_h,
            )?,
        );
        let slice_bytes = ex.b.buffers[slice_in.buffer].placement.per_bank_bytes;
        let grid = super::conv::shard_grid(d, s.scheme, s.nhw_cores, s.in_c_cores);
        let mut p = Program::new(
            "PaddedSliceDeviceOperation",
            if whole.tiled {
                "PaddedSliceTileProgramFactory"
            } else {
                "PaddedSliceRMProgramFactory"
            },
        );
        if whole.tiled {
            // The input's tiles, then the untilized ones in the slice's dtype (p150,
            // `[1,320,250,479]` bfloat8_b: 43,520 B of bfloat8_b tiles and 81,920 B of
            // bfloat16 ones; seed 1207914).
            let row_tiles = 4 * tiles_per_shard_row(s.in_shard_w, s.in_c_cores);
            p = p
                .cb(
                    CbKind::Circular,
                    row_tiles * super::util::tile_size(whole.dtype),
                    &grid,
                )
                .cb(
                    CbKind::Circular,
                    row_tiles * super::util::tile_size(conv.conv_in_dtype()),
                    &grid,
                );
        }
        p = p.cb(CbKind::Circular, slice_bytes, &grid).bound();
        if whole.tiled {
            p = p.cb(CbKind::Circular, stick, &grid);
        }
        ex.b.run(p);
        // 2. Weights and bias, prepared by the first slice's conv and kept.
        if prepared.is_none() {
            let k_tiles = s.weight_k_tiles(conv.win.kernel[0]);
            prepared = Some(super::conv::prepared_weights(
                ex,
                &conv,
                k_tiles * TILE,
                s.out_c_padded,
            )?);
        }
        // 3. Halo and conv on the slice. A slice of the same geometry as an earlier one (the
        //    inner slices) runs the programs the first one cached: the config tensors that
        //    program holds are not made again (n150, `[1,3,4320,7680]` → 96 stride 2: 120 width
        //    slices, 118 of them alike, fit the 32 KiB L1_SMALL).
        let first_buffer = ex.b.buffers.len();
        let done = if is_matmul_slice(&conv, slice_scheme) {
            matmul_slice(ex, &conv, &s, slice_in, used_nhw)?
        } else {
            super::conv::halo_and_conv(ex, &conv, &s, slice_in, slice_bytes, false, true)?
        };
        let Some(done) = done else {
            break;
        };
        if cached_windows.contains(&conv.win) {
            ex.b.unmark_program_cached_from(first_buffer);
        } else {
            cached_windows.push(conv.win);
        }
        // 4. SliceWrite: its one CB is the output shard.
        ex.b.run(
            Program::new(
                "SliceWriteDeviceOperation",
                "SliceWriteTiledShardedInputProgramFactory",
            )
            .cb(CbKind::Circular, done.out_bytes, &done.out_grid)
            .bound(),
        );
        ex.b.release(done.out);
        if let Some(input) = done.halo {
            // The slice the conv read with no halo (its own buffer, kept through SliceWrite).
            ex.b.release(input);
        }
    }
    let flat = if out_view {
        ex.b.share(
            &output,
            TensorSpec::new(out_flat, whole.out_dtype, Layout::Tile),
        )
    } else {
        let dims = [1, 1, win.out_nhw() as i64, whole.c_out as i64];
        super::data_movement::reshape(ex, &output, &dims, BufferType::Dram)?
    };
    ex.b.release(output);
    release_copy(ex, nhwc_copy);
    if let Some((weights, bias)) = prepared {
        ex.b.release(weights);
        if let Some(b) = bias {
            ex.b.release(b);
        }
    }
    Ok(Val::T(flat))
}

/// Whether the runtime runs this slice's conv as a matmul (`conv2d_L1`'s
/// `use_matmul_for_1x1_conv` on the slice's own padding): a 1×1 stride-1 slice with no padding
/// left (one cut away from a conv's one-axis padding, its output whole tiles wide), not width
/// sharded (a width-sharded one bypasses the halo instead).
fn is_matmul_slice(conv: &Conv, scheme: Scheme) -> bool {
    let win = &conv.win;
    win.pad_end == [0, 0]
        && super::conv_matmul::is_matmul_conv(
            win.kernel,
            win.stride,
            win.pad,
            win.dilation,
            scheme == Scheme::Width,
        )
}

/// The conv of a [`is_matmul_slice`] slice on the runtime's matmul path, its input the slice's
/// row-major shards (`slice_in`, `used_nhw` NHW cores holding rows): `tilize_with_optional_
/// deallocation` tilizes them in place (TilizeMultiCoreSharded, both CBs bound; the slice
/// freed), which a shard not whole tiles refuses in TensorLayout's words (p150 `[1,608,76,96]`
/// padding [1, 0], 7 height slices, block-sharded 128 × 56: "Physical shard shape (128, 56)
/// must be tile {32, 32} sized!"); then the height-sharded matmul with the conv's 1D program
/// config into output shards of the slice's grid (exec/conv_matmul.rs's
/// `MatmulMultiCoreReuseMcast1DProgramFactory` CBs), the tilized input freed before
/// SliceWrite (n150 `[1,64,64,64]` padding [1, 0], 4 height slices: `cargo xtask probe --trace`
/// of the two inner slices). Block-sharded slices of whole tiles are not planned (not seen).
fn matmul_slice(
    ex: &mut Exec<'_>,
    conv: &Conv,
    s: &super::conv::Sharding,
    slice_in: DevTensor,
    used_nhw: u64,
) -> Result<Option<super::conv::ConvOutput>, CaseError> {
    let d = ex.device();
    let grid = super::conv::shard_grid(d, s.scheme, used_nhw, s.in_c_cores);
    let whole_tiles = [s.in_shard_h, s.in_shard_w].map(|v| v.is_multiple_of(TILE));
    if s.scheme == Scheme::Block && whole_tiles == [true, false] {
        ex.b.run(
            Program::new(
                "TilizeDeviceOperation",
                "TilizeMultiCoreShardedProgramFactory",
            )
            .refused(format!(
                "Physical shard shape ({}, {}) must be tile {{32, 32}} sized!",
                s.in_shard_h, s.in_shard_w
            )),
        );
        ex.b.release(slice_in);
        return Ok(None);
    }
    if s.scheme != Scheme::Height || !whole_tiles[0] {
        return Err(unmodeled(
            "ttnn.conv2d",
            format!(
                "{UNPLANNED}: a {} DRAM slice of {} × {} shards on the 1×1 matmul path",
                s.scheme.strategy().name(),
                s.in_shard_h,
                s.in_shard_w
            ),
        ));
    }
    let rows = size::product([conv.win.n, conv.win.h, conv.win.w], "slice rows")?;
    let dtype = slice_in.dtype();
    let tile_page = super::util::tile_size(dtype);
    let k_tiles = s.in_shard_w.div_ceil(TILE);
    let shard_tiles = size::mul(s.in_shard_h / TILE, k_tiles, "input shard tiles")?;
    // Height shards of channels not whole tiles are resharded to the matmul's channels, padded
    // to a tile (ReshardSameWidthFactory, the new shard bound to its CB), the slice freed and
    // the copy moved (n150 `[1,40,128,64]` padding [1, 0], 4 height slices: 64 × 40 shards
    // resharded to 64 × 64).
    let slice_in = if whole_tiles[1] {
        slice_in
    } else {
        let stick = size::mul(
            k_tiles * TILE,
            dtype.row_major_element_bytes(),
            "matmul stick",
        )?;
        let resharded = sharded(
            ex,
            "sharded input",
            TensorSpec::new(
                Shape::from_dims(vec![1, 1, rows, k_tiles * TILE])?,
                dtype,
                Layout::RowMajor,
            ),
            sharded_placement(d, BufferType::L1, rows, stick, used_nhw, s.in_shard_h)?,
        );
        let shard_bytes = ex.b.buffers[resharded.buffer].placement.per_bank_bytes;
        ex.b.run(
            Program::new("ReshardDeviceOperation", "ReshardSameWidthFactory<true>")
                .cb(CbKind::Dataflow, shard_bytes, &grid)
                .bound(),
        );
        ex.b.deallocate(&slice_in);
        ex.b.release(slice_in);
        super::conv::reallocated(ex, resharded)
    };
    let slice_bytes = ex.b.buffers[slice_in.buffer].placement.per_bank_bytes;
    let tilized = sharded(
        ex,
        "tilized input",
        TensorSpec::new(
            Shape::from_dims(vec![1, 1, rows, s.in_shard_w])?,
            dtype,
            Layout::Tile,
        ),
        sharded_placement(
            d,
            BufferType::L1,
            size::mul(rows.div_ceil(TILE), k_tiles, "input tiles")?,
            tile_page,
            used_nhw,
            shard_tiles,
        )?,
    );
    let act_bytes = ex.b.buffers[tilized.buffer].placement.per_bank_bytes;
    ex.b.run(
        Program::new(
            "TilizeDeviceOperation",
            "TilizeMultiCoreShardedProgramFactory",
        )
        .cb(CbKind::Dataflow, slice_bytes, &grid)
        .bound()
        .cb(CbKind::Dataflow, act_bytes, &grid)
        .bound(),
    );
    ex.b.deallocate(&slice_in);
    ex.b.release(slice_in);
    let (out, out_bytes) = super::conv_matmul::height_sharded_matmul(
        ex, conv, s, rows, used_nhw, k_tiles, act_bytes, &grid,
    )?;
    ex.b.deallocate(&tilized);
    ex.b.release(tilized);
    Ok(Some(super::conv::ConvOutput {
        out,
        out_bytes,
        out_grid: grid,
        halo: None,
    }))
}

/// Why DRAM height slices of one input row of a depthwise conv one kernel row tall are not
/// planned.
fn one_row_depthwise_slices(f: &str) -> CaseError {
    unmodeled(
        f,
        format!(
            "{UNPLANNED}: DRAM height slices of a depthwise conv one kernel row tall, a slice of \
             one input row among the counts tried (such a slice takes the 1-D depthwise path)"
        ),
    )
}

/// Why a slicing with a [`WrappedSlice`] is not planned: a told count runs it, and the runtime
/// refuses it in words its overflowed `uint32_t` sizes pick (probes, told `num_slices` of
/// one-row slices: n150 `[1,32,8,8]` 1×1 padding 2 "Shard shape must be greater than 0 in each
/// sharded dim, got [0, 32]", `[1,32,8,3000]` "Ends 4294967295 must be less than or equal to the
/// shape of the tensor 8", p150 `[3,48,10,13]` padding 3 WIDTH_SHARDED "Ends 4294967294 ...");
/// a searched count whose other slices fit hangs on that slice's estimate, not pinned.
fn wrapped_slice(f: &str) -> CaseError {
    unmodeled(
        f,
        format!(
            "{UNPLANNED}: a DRAM slice whose windows end before the input (the runtime's input \
             slice end wraps below 0), in a told count or a searched one whose other slices fit \
             (the runtime's words and estimate then follow its overflowed sizes)"
        ),
    )
}

/// The most input tiles one channel core's shard row spans (`max_num_tiles_per_row` of the
/// PaddedSlice TILE factory): a shard `width` channels wide that is not whole tiles starts
/// inside a tile on some cores (p150, `[3,539,7,14]` depthwise BLOCK_SHARDED, 10 channel cores
/// of 56: 3 tiles, 24,576 B untilize CBs, where 56 channels alone are 2; seed 1207912).
fn tiles_per_shard_row(width: u64, channel_cores: u64) -> u64 {
    (0..channel_cores.max(1))
        .map(|i| {
            let start = i * width;
            (start + width).div_ceil(TILE) - start / TILE
        })
        .max()
        .unwrap_or(0)
}

/// Frees the input's [N, H, W, C] copy, where there is one.
fn release_copy(ex: &mut Exec<'_>, copy: Option<DevTensor>) {
    if let Some(copy) = copy {
        ex.b.release(copy);
    }
}

/// The slicing the runtime tries first when it picks the slices itself (tt-metal
/// `op_slicing::best_guess_slice_type`, on the [N, H, W, C] input): a ROW_MAJOR output by
/// height only for an input over 3× taller than wide; a TILE output (the default) by height for
/// an input under 200 wide or taller than wide, else by width. Measured on n150 (the input
/// slices the capture's PaddedSlice ops read): TILE 400×300 by height, 300×400 by width;
/// ROW_MAJOR 700×240 by width (docs/conv2d.md).
pub fn conv2d_auto_slice_type(height: u64, width: u64, output_layout: Layout) -> &'static str {
    let by_height = match output_layout {
        Layout::RowMajor => height > width.saturating_mul(3),
        Layout::Tile => width < 200 || height > width,
    };
    if by_height {
        "height"
    } else {
        "width"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::{N150, P150};
    use crate::params::ParamValue;

    /// A conv2d of an NHWC-flat `shape` input in DRAM (output to the default memory), parameters
    /// to set.
    fn dram_case(shape: &str, d: &'static DeviceSpec, layout: Layout) -> crate::case::Case {
        let mut c = crate::case::Case::new(
            crate::ops::find("conv2d").unwrap(),
            vec![Shape::parse(shape).unwrap()],
            d,
        );
        c.device_layout = crate::layout::DeviceLayout::NhwcFlat;
        c.layout = layout;
        c.input_memory = BufferType::Dram;
        c.output_memory = BufferType::Dram;
        c.default_output_memory = true;
        c
    }

    /// `[1,96,320,320]` 96 → 96 3×3 padding 1, ROW_MAJOR bfloat16 in DRAM (NO_DISPATCH capture,
    /// ttnn 0.81.1, n150): two width slices of 160 output columns, each reading 161 input
    /// columns (padding 1 on the image's edge, none inside), height-sharded on 64 cores; per-core
    /// CB peak 983,104 B on n150, 614,464 B on p150 (the runtime's, `cargo xtask diff`).
    #[test]
    fn a_dram_input_runs_in_the_runtimes_slices() {
        for (d, cb) in [(&N150, 983_104), (&P150, 614_464)] {
            let mut c = dram_case("1,96,320,320", d, Layout::RowMajor);
            c.params.set("out_channels", ParamValue::Int(96));
            c.params.set("kernel_size", ParamValue::Ints(vec![3, 3]));
            c.params.set("padding", ParamValue::Ints(vec![1, 1]));
            let e = c.estimate().unwrap();
            assert_eq!(e.verdict, crate::case::Verdict::Fits, "{}", d.name);
            assert_eq!(e.peaks.cb, cb, "{}", d.name);
        }
        let whole = super::super::conv::tests_support::conv([1, 320, 320, 96], 96, [3, 1, 1]);
        let widths: Vec<_> = slices(&whole, Axis::Width, 2)
            .map(Result::unwrap)
            .map(|c| (c.win.w, c.win.wo, c.win.pad[1], c.win.pad_end[1]))
            .collect();
        assert_eq!(widths, [(161, 160, 1, 0), (161, 160, 0, 1)]);
        // A TILE output slice that is not whole tiles wide gets its width rounded up by more
        // right padding: 300 columns (10 tiles) in 3 width slices of 4, 3 and 3 tiles, the last
        // holding 76 columns, computed as 96.
        let whole = super::super::conv::tests_support::conv([1, 300, 300, 96], 96, [3, 1, 1]);
        let outs: Vec<_> = slices(&whole, Axis::Width, 3)
            .map(|c| c.unwrap().win.wo)
            .collect();
        assert_eq!(outs, [128, 96, 96]);
    }

    /// Padding that holds whole windows (2×2, padding 2: the first and last output rows read
    /// only padding): `run_sliced_op` skips a slice whose input span is empty without moving its
    /// start, so an empty first slice empties them all; a kernel reach of 1 under padding 2
    /// wraps the runtime's input end below 0 (not planned).
    #[test]
    fn slices_of_whole_padding_windows_skip_as_the_runtime() {
        let whole = super::super::conv::tests_support::conv([1, 8, 8, 32], 32, [2, 1, 2]);
        assert_eq!(whole.win.ho, 11);
        let rows = |count| -> Vec<(u64, u64, u64, u64)> {
            slices(&whole, Axis::Height, count)
                .map(Result::unwrap)
                .map(|c| (c.win.h, c.win.ho, c.win.pad[0], c.win.pad_end[0]))
                .collect()
        };
        // 2 slices of 6 and 5 rows: rows [0, 5) with 2 on top, [4, 8) with 2 below.
        assert_eq!(rows(2), [(5, 6, 2, 0), (4, 5, 0, 2)]);
        // 10 slices: the first 2 rows, then 1 each; the last (output row 10) reads nothing.
        let ten = rows(10);
        assert_eq!(ten.len(), 9);
        assert_eq!(ten[0], (1, 2, 2, 0));
        // 11 slices of one row: the first reads nothing, and so does every later one, which
        // starts where it did.
        assert!(rows(11).is_empty());
        let reach1 = super::super::conv::tests_support::conv([1, 8, 8, 32], 32, [1, 1, 2]);
        assert!(slices(&reach1, Axis::Height, reach1.win.ho).any(|c| c.is_err()));
        assert!(slices(&reach1, Axis::Height, 2).all(|c| c.is_ok()));
    }

    /// A searched count whose first slice wraps the runtime's input end below 0 fails where
    /// another of its slices does not fit, whatever the wrapped slice's estimate: p150 and n150
    /// `[1,1024,183,179]` ROW_MAJOR 1×1 stride 2 dilation 2 padding [2, 0] HEIGHT_SHARDED (seed
    /// 888002; `cargo xtask probe --op conv2d --shape 1,1024,183,179 --device-layout nhwc-flat
    /// --layout row_major --memory dram --param kernel_size=1,1 --param padding=2,0 --param
    /// dilation=2,2 --param stride=2,2 --param activation=silu --param shard_layout=height
    /// --device p150|n150 --backend metal`): 94 height slices (the first wrapped) do not fit,
    /// nor do width slices, refused in the runtime's words. Where every other slice fits, the
    /// count stays unmodeled.
    #[test]
    fn a_wrapped_first_slice_fails_with_its_count() {
        for (d, free) in [(&P150, 1_428_352), (&N150, 1_360_544)] {
            let mut c = dram_case("1,1024,183,179", d, Layout::RowMajor);
            c.default_output_memory = false;
            for (k, v) in [
                ("kernel_size", ParamValue::Ints(vec![1, 1])),
                ("padding", ParamValue::Ints(vec![2, 0])),
                ("dilation", ParamValue::Ints(vec![2, 2])),
                ("stride", ParamValue::Ints(vec![2, 2])),
                ("activation", ParamValue::Str("silu".into())),
                ("shard_layout", ParamValue::Str("height".into())),
            ] {
                c.params.set(k, v);
            }
            let err = c.estimate().expect_err("refused").to_string();
            assert!(
                err.contains(&format!(
                    "DRAM Auto slice could not find valid slice configuration. Tried up to 3 \
                     slices for width-slicing on output dimension 90. Available L1: {free} bytes."
                )),
                "{err}"
            );
        }
        // The count of one-row slices, the first wrapped: its other slices all fit.
        let whole = super::super::conv::tests_support::conv([1, 183, 179, 1024], 1024, [1, 2, 2]);
        let (wrapped, rest): (Vec<_>, Vec<_>) =
            slices(&whole, Axis::Height, whole.win.ho).partition(Result::is_err);
        // The last output row reads only the bottom padding: skipped.
        assert_eq!((wrapped.len(), rest.len()), (1, whole.win.ho as usize - 2));
    }

    /// `[1,64,400,300]` NHWC in DRAM → 64 3×3 padding 1 told WIDTH_SHARDED (NO_DISPATCH
    /// probes, ttnn 0.81.1, n150; traces equal the runtime's): a TILE input's slices are
    /// sharded with their rows padded to whole tiles (L1 peak 199,392 B), a ROW_MAJOR input's
    /// as they are (199,136 B); the weights' K is 18 tiles, not 54.
    #[test]
    fn width_sharded_slices_pad_a_tile_inputs_rows() {
        for (layout, l1) in [(Layout::Tile, 199_392), (Layout::RowMajor, 199_136)] {
            let mut c = dram_case("1,64,400,300", &N150, layout);
            c.device_layout = crate::layout::DeviceLayout::Nhwc;
            c.default_output_memory = false;
            c.params.set("out_channels", ParamValue::Int(64));
            c.params
                .set("shard_layout", ParamValue::Str("width".into()));
            let e = c.estimate().unwrap();
            assert_eq!(e.verdict, crate::case::Verdict::Fits, "{layout:?}");
            assert_eq!(
                [e.peaks.cb, e.peaks.l1, e.peaks.total],
                [1_163_328, l1, 1_327_824],
                "{layout:?}"
            );
        }
    }

    /// A TILE input in DRAM, slice count left to the runtime (NO_DISPATCH captures, ttnn
    /// 0.81.1): the slices are sharded row-major (channels aligned to 8) while the count's L1
    /// estimate pads them to 32 per channel core. `[1,384,272,480]` → 768 3×3 s2: 8 slices on
    /// n150 (8 channel cores of 48), 4 on p150 (10 of 40; 3 by the row-major sizes);
    /// `[1,3,640,640]` → 96 s2 on n150 (3 channels, 2 slices); `[1,3,4320,7680]` → 96 s2 on
    /// n150: 120 width slices, whose 118 inner ones reuse one cached program's L1_SMALL.
    #[test]
    fn a_tile_input_slices_as_the_runtime_counts() {
        let cases: [(&DeviceSpec, &str, i64, [u64; 3]); 4] = [
            (&N150, "1,384,272,480", 768, [385_088, 433_504, 711_280]),
            (&P150, "1,384,272,480", 768, [489_536, 580_944, 963_152]),
            (&N150, "1,3,640,640", 96, [114_752, 210_288, 325_040]),
            (&N150, "1,3,4320,7680", 96, [151_616, 281_888, 433_504]),
        ];
        for (d, shape, c_out, [cb, l1, total]) in cases {
            let mut c = dram_case(shape, d, Layout::Tile);
            c.params.set("out_channels", ParamValue::Int(c_out));
            c.params.set("kernel_size", ParamValue::Ints(vec![3, 3]));
            c.params.set("stride", ParamValue::Ints(vec![2, 2]));
            c.params.set("padding", ParamValue::Ints(vec![1, 1]));
            let e = c.estimate().unwrap();
            let what = format!("{shape} on {}", d.name);
            assert_eq!(e.verdict, crate::case::Verdict::Fits, "{what}");
            assert_eq!(
                [e.peaks.cb, e.peaks.l1, e.peaks.total],
                [cb, l1, total],
                "{what}"
            );
        }
    }

    /// A flat TILE input whose width is not whole tiles, in DRAM (`cargo xtask probe
    /// --backend metal --trace`, n150, 64 → 64 3×3): copied into [N, H, W, C] before the
    /// output; `[1,64,400,300]` runs in 2 slices reading the copy, `[1,64,100,100]` in one,
    /// its copy flattened back by another copy that is resharded. The runtime's per-core CB,
    /// dataflow, L1 and total peaks.
    #[test]
    fn a_flat_input_not_whole_tiles_wide_is_copied_first() {
        for (shape, peaks) in [
            ("1,64,400,300", [815_168, 3_840, 345_632, 1_160_800]),
            ("1,64,100,100", [151_616, 4_352, 68_112, 219_488]),
        ] {
            let mut c = dram_case(shape, &N150, Layout::Tile);
            c.params.set("out_channels", ParamValue::Int(64));
            let e = c.estimate().unwrap();
            assert_eq!(e.verdict, crate::case::Verdict::Fits, "{shape}");
            assert_eq!(
                [e.peaks.cb, e.peaks.dataflow, e.peaks.l1, e.peaks.total],
                peaks,
                "{shape}"
            );
            let copies = c
                .plan()
                .unwrap()
                .steps
                .iter()
                .filter(|step| {
                    matches!(step, crate::plan::Step::Run(p)
                        if p.factory == "ReshapeViewTiledProgramFactory")
                })
                .count();
            assert_eq!(copies, 2, "{shape}: the input's copy and one copy back");
        }
    }

    /// The buffers of p150 `[1,192,544,960]` → 384 3×3 s2, TILE in DRAM (NO_DISPATCH capture,
    /// the oom suite's estimate test): 8 width slices, all height-sharded as the first (the last,
    /// 32 output columns, would pick block sharding on its own); the last slice's input is 544 ×
    /// 65 sticks of 384 B, 13,578,240 B in all (not 91 cores × its 416-stick shard); one reader
    /// (the split reader's cost model), 16 B of reader indices per core.
    #[test]
    fn tile_slices_are_sized_as_the_runtime_sizes_them() {
        let mut c = dram_case("1,192,544,960", &P150, Layout::Tile);
        c.params.set("out_channels", ParamValue::Int(384));
        c.params.set("stride", ParamValue::Ints(vec![2, 2]));
        let plan = c.plan().unwrap();
        let sized = |what: &str| -> Vec<(u64, u64)> {
            plan.buffers
                .iter()
                .filter(|b| b.what == what)
                .map(|b| (b.placement.total_bytes, b.placement.per_bank_bytes))
                .collect()
        };
        let sliced = sized("sliced input");
        assert_eq!(sliced.len(), 8);
        assert_eq!(sliced[0], (26_738_688, 245_760));
        assert_eq!(sliced[7], (13_578_240, 159_744));
        assert!(sized("reader indices")
            .iter()
            .all(|&(total, per_bank)| per_bank == 16 && total < 2_000));
        // p150 `[4,192,320,320]` → 192 3×3 s1 (`cargo xtask diff`, seed 60102): 16 height
        // slices, block-sharded as the runtime's auto-shard estimate of the first slice (its
        // halo under the whole conv's padding) picks them; CB, L1 and total peaks per core.
        c.model_inputs = vec![Shape::parse("4,192,320,320").unwrap()];
        c.params.set("out_channels", ParamValue::Int(192));
        c.params.set("stride", ParamValue::Ints(vec![1, 1]));
        let e = c.estimate().unwrap();
        assert_eq!(
            [e.peaks.cb, e.peaks.l1, e.peaks.total],
            [991_296, 349_360, 1_340_656]
        );
    }

    /// A fixed count (`slice=dram_height`, `num_slices`), `[1,96,320,320]` TILE on n150 (`cargo
    /// xtask probe`, docs/conv2d.md): 2 height slices clash with L1 buffers, 3 fit with a
    /// 688,192 B CB peak, 4 with 540,736 B, as on the runtime.
    #[test]
    fn a_fixed_count_slices_as_told() {
        for (count, cb) in [(2, None), (3, Some(688_192)), (4, Some(540_736))] {
            let mut c = dram_case("1,96,320,320", &N150, Layout::Tile);
            c.params.set("out_channels", ParamValue::Int(96));
            c.params.set("kernel_size", ParamValue::Ints(vec![3, 3]));
            c.params.set("padding", ParamValue::Ints(vec![1, 1]));
            c.params.set("slice", ParamValue::Str("dram_height".into()));
            c.params.set("num_slices", ParamValue::Int(count));
            let e = c.estimate().unwrap();
            match cb {
                None => assert!(
                    matches!(e.verdict, crate::case::Verdict::CbClash(_)),
                    "{count}: {:?}",
                    e.verdict
                ),
                Some(cb) => {
                    assert_eq!(e.verdict, crate::case::Verdict::Fits, "{count}");
                    assert_eq!(e.peaks.cb, cb, "{count}");
                }
            }
        }
    }

    /// act_block_h_override in DRAM slices (`cargo xtask probe`, ttnn 0.81.1): the slice is
    /// sharded without the override's multiple, its conv takes the largest divisor of the
    /// shard's tiles. n150 `[1,1024,72,114]` TILE bfloat16 → 90 3×3 stride 2 BLOCK_SHARDED,
    /// act_block_h 96, bfloat8_b output and weights, 2 width slices: 8 NHW cores of 5 tiles,
    /// one-tile blocks, CB peak 65,792 B (the plan had 6 cores of 6 tiles and 3-tile blocks:
    /// 166,272 B; seed 1207301). YOLOv12x's L3 at 1280x1280 (`[1,384,320,320]` bfloat8_b
    /// → 384 3×3 stride 2, act_block_h 160, the runtime's slices): OOM on n150 with the
    /// runtime's 759,648 B halo per bank, fits on p150 with a 78,528 B CB peak.
    #[test]
    fn act_block_h_in_dram_slices_as_the_runtime() {
        let mut c = dram_case("1,1024,72,114", &N150, Layout::Tile);
        c.device_layout = crate::layout::DeviceLayout::Nhwc;
        for (k, v) in [
            ("out_channels", ParamValue::Int(90)),
            ("stride", ParamValue::Ints(vec![2, 2])),
            ("shard_layout", ParamValue::Str("block".into())),
            ("act_block_h", ParamValue::Int(96)),
            ("dtype", ParamValue::Str("bfloat8_b".into())),
            ("weights_dtype", ParamValue::Str("bfloat8_b".into())),
            ("bias", ParamValue::Bool(true)),
            ("slice", ParamValue::Str("dram_width".into())),
            ("num_slices", ParamValue::Int(2)),
        ] {
            c.params.set(k, v);
        }
        let e = c.estimate().unwrap();
        assert_eq!(e.verdict, crate::case::Verdict::Fits);
        assert_eq!(e.peaks.cb, 65_792);
        for (d, cb) in [(&N150, None), (&P150, Some(78_528))] {
            let mut c = dram_case("1,384,320,320", d, Layout::Tile);
            c.dtype = DType::Bfloat8B;
            for (k, v) in [
                ("out_channels", ParamValue::Int(384)),
                ("kernel_size", ParamValue::Ints(vec![3, 3])),
                ("stride", ParamValue::Ints(vec![2, 2])),
                ("padding", ParamValue::Ints(vec![1, 1])),
                ("shard_layout", ParamValue::Str("block".into())),
                ("act_block_h", ParamValue::Int(160)),
                ("weights_dtype", ParamValue::Str("bfloat8_b".into())),
                ("activation", ParamValue::Str("silu".into())),
                ("reshard_if_not_optimal", ParamValue::Bool(true)),
            ] {
                c.params.set(k, v);
            }
            let e = c.estimate().unwrap();
            match cb {
                None => assert!(
                    matches!(e.verdict, crate::case::Verdict::Oom(_)),
                    "{}: {:?}",
                    d.name,
                    e.verdict
                ),
                Some(cb) => {
                    assert_eq!(e.verdict, crate::case::Verdict::Fits, "{}", d.name);
                    assert_eq!(e.peaks.cb, cb, "{}", d.name);
                }
            }
        }
    }

    /// The halo bypass in DRAM width slices (`cargo xtask probe --trace`, p150, ttnn 0.81.1):
    /// `[1,135,203,400]` bfloat8_b TILE in DRAM, 2×2 padding 0 WIDTH_SHARDED, 6 width slices.
    /// The runtime runs no halo on the first five slices (their shards, tile-rounded, hold 21
    /// rows more than the windows read) and haloes the last, right-padded one; it runs out of
    /// L1 at the first slice's conv output, 659,328 B per bank (the plan haloed the first slice
    /// and ran out at its 1,260,224 B halo; seed 1207142).
    #[test]
    fn unpadded_width_slices_bypass_the_halo() {
        let mut c = dram_case("1,135,203,400", &P150, Layout::Tile);
        c.device_layout = crate::layout::DeviceLayout::Nhwc;
        c.dtype = DType::Bfloat8B;
        c.default_output_memory = false;
        for (k, v) in [
            ("kernel_size", ParamValue::Ints(vec![2, 2])),
            ("padding", ParamValue::Ints(vec![0, 0])),
            ("shard_layout", ParamValue::Str("width".into())),
            ("slice", ParamValue::Str("dram_width".into())),
            ("num_slices", ParamValue::Int(6)),
        ] {
            c.params.set(k, v);
        }
        let e = c.estimate().unwrap();
        match e.verdict {
            crate::case::Verdict::Oom(o) => assert_eq!(o.per_bank_bytes, 659_328),
            other => panic!("{other:?}"),
        }
    }

    /// A slice count told past the output's bound is refused before the width estimate's
    /// act_block_h refusal (p150, `cargo xtask diff`, seed 1212401): `[1,320,6,5]` float32
    /// ROW_MAJOR, 3×3 dilation 2 padding 0 WIDTH_SHARDED, act_block_h 224, 5 height slices of a
    /// 2-row output; a count within the bound (`[2,117,9,5]` 5×5 in 2 height slices, which
    /// fits on the runtime where the plan refused it) is planned as the runtime runs it (probe
    /// trace equal; CB peak 770,112 B per core measured by the runtime).
    #[test]
    fn a_told_slice_count_past_the_output_is_refused_first() {
        let mut c = dram_case("1,320,6,5", &P150, Layout::RowMajor);
        c.dtype = DType::Float32;
        for (k, v) in [
            ("act_block_h", ParamValue::Int(224)),
            ("dilation", ParamValue::Ints(vec![2, 2])),
            ("padding", ParamValue::Ints(vec![0, 0])),
            ("shard_layout", ParamValue::Str("width".into())),
            ("slice", ParamValue::Str("dram_height".into())),
            ("num_slices", ParamValue::Int(5)),
        ] {
            c.params.set(k, v);
        }
        let err = c.estimate().expect_err("refused").to_string();
        assert!(
            err.contains("Number of slices (5) exceeds the maximum allowed (2)"),
            "{err}"
        );
        let mut c = dram_case("2,117,9,5", &P150, Layout::Tile);
        c.default_output_memory = false;
        for (k, v) in [
            ("act_block_h", ParamValue::Int(224)),
            ("kernel_size", ParamValue::Ints(vec![5, 5])),
            ("padding", ParamValue::Ints(vec![0, 0])),
            ("shard_layout", ParamValue::Str("width".into())),
            ("slice", ParamValue::Str("dram_height".into())),
            ("num_slices", ParamValue::Int(2)),
        ] {
            c.params.set(k, v);
        }
        let e = c.estimate().expect("planned");
        assert_eq!(e.verdict, crate::case::Verdict::Fits);
        assert_eq!(e.peaks.cb, 770_112);
    }

    /// An L1 input told DRAM slices is refused by the slicing, not by the width estimate's
    /// act_block_h refusal (p150, `[1,32,10,6]` TILE in L1, 4×4 stride 2 padding 0 to 1011
    /// channels, WIDTH_SHARDED, act_block_h 64, DRAM_HEIGHT; seed 1207142).
    #[test]
    fn an_l1_input_in_dram_slices_is_refused_by_the_slicing() {
        let mut c = dram_case("1,32,10,6", &P150, Layout::Tile);
        c.device_layout = crate::layout::DeviceLayout::Nhwc;
        c.input_memory = BufferType::L1;
        c.output_memory = BufferType::L1;
        c.default_output_memory = false;
        for (k, v) in [
            ("act_block_h", ParamValue::Int(64)),
            ("kernel_size", ParamValue::Ints(vec![4, 4])),
            ("stride", ParamValue::Ints(vec![2, 2])),
            ("padding", ParamValue::Ints(vec![0, 0])),
            ("out_channels", ParamValue::Int(1011)),
            ("shard_layout", ParamValue::Str("width".into())),
            ("slice", ParamValue::Str("dram_height".into())),
        ] {
            c.params.set(k, v);
        }
        let err = c.estimate().expect_err("refused").to_string();
        assert!(
            err.contains("Conv DRAM expects the input tensor to be in DRAM"),
            "{err}"
        );
    }

    /// A searched count whose every slice reads only padding runs no slice: the output is
    /// allocated, flattened and freed (NO_DISPATCH traces equal to the plan's; `cargo xtask
    /// probe --op conv2d --shape S --device-layout nhwc-flat|nhwc --memory dram --param ...
    /// --backend metal --trace`). Runtime per-core peaks (CB, dataflow, L1): p150
    /// `[1,544,94,97]` ROW_MAJOR 2×2 padding [2, 0] (97 height slices): none at all; n150
    /// `[4,1024,38,22]` ROW_MAJOR → 107 2×2 dilation [1, 2] padding 2, bfloat8_b output:
    /// 10,240 B of dataflow buffers, the output's flattening (typecast, reshape, fill pad,
    /// typecast back).
    #[test]
    fn a_searched_count_of_only_padding_slices_runs_none() {
        let mut c = dram_case("1,544,94,97", &P150, Layout::RowMajor);
        c.default_output_memory = false;
        for (k, v) in [
            ("kernel_size", ParamValue::Ints(vec![2, 2])),
            ("padding", ParamValue::Ints(vec![2, 0])),
            ("deallocate_activation", ParamValue::Bool(true)),
            ("enable_weights_double_buffer", ParamValue::Bool(false)),
            ("reallocate_halo_output", ParamValue::Bool(true)),
            ("shard_layout", ParamValue::Str("height".into())),
            ("weights_dtype", ParamValue::Str("bfloat16".into())),
        ] {
            c.params.set(k, v);
        }
        let e = c.estimate().unwrap();
        assert_eq!(e.verdict, crate::case::Verdict::Fits);
        assert_eq!([e.peaks.cb, e.peaks.dataflow, e.peaks.l1], [0, 0, 0]);
        assert_eq!(c.plan().unwrap().programs().count(), 0);

        let mut c = dram_case("4,1024,38,22", &N150, Layout::RowMajor);
        c.default_output_memory = false;
        for (k, v) in [
            ("act_block_h", ParamValue::Int(64)),
            ("activation", ParamValue::Str("sigmoid".into())),
            ("bias", ParamValue::Bool(false)),
            ("dilation", ParamValue::Ints(vec![1, 2])),
            ("dtype", ParamValue::Str("bfloat8_b".into())),
            ("enable_act_double_buffer", ParamValue::Bool(true)),
            ("enable_weights_double_buffer", ParamValue::Bool(true)),
            ("kernel_size", ParamValue::Ints(vec![2, 2])),
            ("out_channels", ParamValue::Int(107)),
            ("padding", ParamValue::Ints(vec![2, 2])),
            ("shard_layout", ParamValue::Str("height".into())),
        ] {
            c.params.set(k, v);
        }
        let e = c.estimate().unwrap();
        assert_eq!(e.verdict, crate::case::Verdict::Fits);
        assert_eq!([e.peaks.cb, e.peaks.dataflow, e.peaks.l1], [0, 10_240, 0]);
        let plan = c.plan().unwrap();
        let ran: Vec<_> = plan.programs().map(|p| p.op).collect();
        assert_eq!(
            ran,
            [
                "TypecastDeviceOperation",
                "ReshapeViewDeviceOperation",
                "FillPadDeviceOperation",
                "TypecastDeviceOperation"
            ]
        );
    }

    /// Seed 1212161 (n150): `[1,1024,56,89]` NHWC ROW_MAJOR in DRAM, depthwise 1×4 padding 1,
    /// height-sharded, DRAM height slices of an automatic count. The runtime ran 57 slices (the
    /// first two output rows, then one each; the last reads only padding) where the plan's
    /// search (its dense estimate of the one-row slices) went on to 58, every slice of which
    /// reads only padding.
    #[test]
    fn one_row_depthwise_slices_are_unmodeled_searched_or_told() {
        let conv = |count: Option<i64>| {
            let mut c = dram_case("1,1024,56,89", &N150, Layout::RowMajor);
            c.device_layout = crate::layout::DeviceLayout::Nhwc;
            c.default_output_memory = false;
            for (k, v) in [
                ("out_channels", ParamValue::Int(1024)),
                ("groups", ParamValue::Int(1024)),
                ("kernel_size", ParamValue::Ints(vec![1, 4])),
                ("padding", ParamValue::Ints(vec![1, 1])),
                ("bias", ParamValue::Bool(false)),
                ("dtype", ParamValue::Str("bfloat8_b".into())),
                ("enable_act_double_buffer", ParamValue::Bool(true)),
                ("shard_layout", ParamValue::Str("height".into())),
                ("slice", ParamValue::Str("dram_height".into())),
            ] {
                c.params.set(k, v);
            }
            if let Some(n) = count {
                c.params.set("num_slices", ParamValue::Int(n));
            }
            c.estimate()
        };
        // The runtime's slices of one input row take the 1-D depthwise path (its compact
        // weights): unmodeled whether the count is searched or told (57: the runtime fits, the
        // dense plan clashed).
        for count in [None, Some(57)] {
            let err = conv(count).expect_err("unmodeled");
            assert!(crate::exec::is_unmodeled(&err), "{err}");
            assert!(err.to_string().contains("1-D depthwise"), "{err}");
        }
    }

    /// A whole depthwise conv one kernel row tall on a one-row input is the runtime's 1-D
    /// depthwise path (n150, `[1,1024,1,89]` 1×4 padding [0, 1] height-sharded: it fits where
    /// the dense plan clashed); with a bias, or two kernel rows, it is planned.
    #[test]
    fn a_one_row_depthwise_conv_is_unmodeled() {
        let conv = |kernel: Vec<i64>, pad: Vec<i64>, bias: bool| {
            let mut c = dram_case("1,1024,1,89", &N150, Layout::RowMajor);
            c.device_layout = crate::layout::DeviceLayout::Nhwc;
            c.input_memory = BufferType::L1;
            c.output_memory = BufferType::L1;
            c.default_output_memory = false;
            for (k, v) in [
                ("out_channels", ParamValue::Int(1024)),
                ("groups", ParamValue::Int(1024)),
                ("kernel_size", ParamValue::Ints(kernel)),
                ("padding", ParamValue::Ints(pad)),
                ("bias", ParamValue::Bool(bias)),
                ("shard_layout", ParamValue::Str("height".into())),
            ] {
                c.params.set(k, v);
            }
            c.estimate()
        };
        let err = conv(vec![1, 4], vec![0, 1], false).expect_err("unmodeled");
        assert!(err.to_string().contains("1-D depthwise"), "{err}");
        assert!(conv(vec![1, 4], vec![0, 1], true).is_ok());
        assert!(conv(vec![2, 4], vec![1, 1], false).is_ok());
    }

    /// act_block_h_override above a tile in DRAM height slices of an output under 32 columns,
    /// the runtime's own sharding (n150, `cargo xtask probe --backend metal`, ttnn 0.81.1; the
    /// sim's trace equal): each slice's width is rounded up to a whole tile, so the slices run
    /// as those of a 32-column output. `[1,64,8,8]` 3×3 padding 1, act_block_h 256, 2 slices of
    /// 4 rows: fits, CB peak 53,312 B; `[1,64,40,20]` act_block_h 128, the count the runtime's
    /// (one slice): fits, CB peak 57,408 B.
    #[test]
    fn act_block_h_in_slices_of_a_narrow_output_as_the_runtime() {
        for (shape, rows, count, cb) in
            [("1,64,8,8", 256, 2, 53_312), ("1,64,40,20", 128, 0, 57_408)]
        {
            let mut c = dram_case(shape, &N150, Layout::Tile);
            c.default_output_memory = false;
            for (k, v) in [
                ("act_block_h", ParamValue::Int(rows)),
                ("slice", ParamValue::Str("dram_height".into())),
                ("num_slices", ParamValue::Int(count)),
            ] {
                c.params.set(k, v);
            }
            let e = c.estimate().expect("planned");
            assert_eq!(e.verdict, crate::case::Verdict::Fits, "{shape}");
            assert_eq!(e.peaks.cb, cb, "{shape}");
        }
    }

    /// A told count of DRAM slices of a 1×1 stride-1 conv padded on one axis only: its slices
    /// away from the padding run on the matmul path, whose tilize refuses block shards not
    /// whole tiles in TensorLayout's words (`cargo xtask probe --backend metal`, ttnn 0.81.1:
    /// p150 `[1,608,76,96]` depthwise bfloat8_b padding [1, 0] in 7 height slices, "(128,
    /// 56)", seed 1215012; the same bfloat16 groups 1 on n150, "(160, 80)"; p150
    /// `[1,608,96,76]` padding [0, 1] in 3 width slices, "(320, 56)"; p150 `[1,512,64,64]`
    /// bfloat8_b in 4 height slices, "(128, 48)"). Padding [1, 1] is planned (it ran).
    #[test]
    fn one_by_one_slices_of_block_shards_not_whole_tiles_are_refused() {
        let cases = [
            (
                "1,608,76,96",
                &P150,
                608,
                "bfloat8_b",
                [1, 0],
                "dram_height",
                7,
                "(128, 56)",
            ),
            (
                "1,608,76,96",
                &N150,
                1,
                "bfloat16",
                [1, 0],
                "dram_height",
                7,
                "(160, 80)",
            ),
            (
                "1,608,96,76",
                &P150,
                1,
                "bfloat16",
                [0, 1],
                "dram_width",
                3,
                "(320, 56)",
            ),
        ];
        for (shape, d, groups, dtype, padding, slice, count, shard) in cases {
            let mut c = dram_case(shape, d, Layout::Tile);
            c.dtype = dtype.parse().unwrap();
            for (k, v) in [
                ("out_channels", ParamValue::Int(608)),
                ("groups", ParamValue::Int(groups)),
                ("kernel_size", ParamValue::Ints(vec![1, 1])),
                ("padding", ParamValue::Ints(padding.to_vec())),
                ("dtype", ParamValue::Str(dtype.into())),
                ("enable_act_double_buffer", ParamValue::Bool(true)),
                ("slice", ParamValue::Str(slice.into())),
                ("num_slices", ParamValue::Int(count)),
            ] {
                c.params.set(k, v);
            }
            let err = c.estimate().expect_err("refused");
            assert!(!crate::exec::is_unmodeled(&err), "{shape}: {err}");
            assert!(
                err.to_string().contains(&format!(
                    "Physical shard shape {shard} must be tile {{32, 32}} sized!"
                )),
                "{shape}: {err}"
            );
        }
        let mut c = dram_case("1,512,64,64", &P150, Layout::Tile);
        c.dtype = DType::Bfloat8B;
        for (k, v) in [
            ("out_channels", ParamValue::Int(512)),
            ("kernel_size", ParamValue::Ints(vec![1, 1])),
            ("padding", ParamValue::Ints(vec![1, 0])),
            ("slice", ParamValue::Str("dram_height".into())),
            ("num_slices", ParamValue::Int(4)),
        ] {
            c.params.set(k, v);
        }
        let err = c.estimate().expect_err("refused");
        assert!(err.to_string().contains("(128, 48) must be tile"), "{err}");
        // Padded on both axes: planned (the runtime ran it).
        let mut c = dram_case("1,608,76,96", &P150, Layout::Tile);
        for (k, v) in [
            ("out_channels", ParamValue::Int(608)),
            ("kernel_size", ParamValue::Ints(vec![1, 1])),
            ("padding", ParamValue::Ints(vec![1, 1])),
            ("slice", ParamValue::Str("dram_height".into())),
            ("num_slices", ParamValue::Int(7)),
        ] {
            c.params.set(k, v);
        }
        c.estimate().expect("planned");
    }

    /// Height-sharded 1×1 slices with no padding left run the matmul path: PaddedSlice, a
    /// channel reshard to whole tiles where the shard's are not, the sharded tilize, the 1D
    /// multicast matmul into the slice's output shards, SliceWrite (`cargo xtask probe --trace`,
    /// ttnn 0.81.1, traces equal to the sim's; NO_DISPATCH peaks CB / dataflow / L1): n150
    /// `[1,64,64,64]` → 64 padding [1, 0], 4 height slices: 32,896 / 12,288 / 8,256 B;
    /// `[1,40,128,64]` → 64, 4 height slices (64 × 40 shards resharded to 64 × 64): 32,848 /
    /// 12,288 / 16,384 B; `[2,24,64,96]` float32 ROW_MAJOR → 72 bfloat16 padding [0, 1], 3
    /// width slices: 49,216 / 49,152 / 36,880 B. The runtime's own count is not planned (its
    /// estimate of such slices is the matmul path's), nor block shards of whole tiles (n150
    /// `[1,256,96,64]` → 128 bfloat8_b, 3 height slices: a 2D multicast matmul).
    #[test]
    fn one_by_one_height_slices_without_padding_run_the_matmul_path() {
        let conv = |shape: &str, dtype: DType, layout: Layout, params: &[(&str, ParamValue)]| {
            let mut c = dram_case(shape, &N150, layout);
            c.dtype = dtype;
            c.params.set("kernel_size", ParamValue::Ints(vec![1, 1]));
            for (k, v) in params {
                c.params.set(k, v.clone());
            }
            c.estimate()
        };
        let height = |count: i64| {
            [
                ("padding", ParamValue::Ints(vec![1, 0])),
                ("slice", ParamValue::Str("dram_height".into())),
                ("num_slices", ParamValue::Int(count)),
            ]
        };
        let out = |c: i64| ("out_channels", ParamValue::Int(c));
        type Params = Vec<(&'static str, ParamValue)>;
        type Peaks = (u64, u64, u64);
        let cases: [(&str, DType, Layout, Params, Peaks); 3] = [
            (
                "1,64,64,64",
                DType::Bfloat16,
                Layout::Tile,
                [out(64)].into_iter().chain(height(4)).collect(),
                (32_896, 12_288, 8_256),
            ),
            (
                "1,40,128,64",
                DType::Bfloat16,
                Layout::Tile,
                [out(64)].into_iter().chain(height(4)).collect(),
                (32_848, 12_288, 16_384),
            ),
            (
                "2,24,64,96",
                DType::Float32,
                Layout::RowMajor,
                vec![
                    out(72),
                    ("dtype", ParamValue::Str("bfloat16".into())),
                    ("padding", ParamValue::Ints(vec![0, 1])),
                    ("slice", ParamValue::Str("dram_width".into())),
                    ("num_slices", ParamValue::Int(3)),
                ],
                (49_216, 49_152, 36_880),
            ),
        ];
        for (shape, dtype, layout, params, peaks) in cases {
            let e = conv(shape, dtype, layout, &params).unwrap_or_else(|e| panic!("{shape}: {e}"));
            assert_eq!(e.verdict, crate::case::Verdict::Fits, "{shape}");
            assert_eq!((e.peaks.cb, e.peaks.dataflow, e.peaks.l1), peaks, "{shape}");
        }
        // The runtime's own count: its search estimates the unpadded slices on the matmul path.
        let auto = conv(
            "1,256,512,512",
            DType::Bfloat16,
            Layout::Tile,
            &[out(256)].into_iter().chain(height(0)).collect::<Vec<_>>(),
        )
        .expect_err("unmodeled");
        assert!(crate::exec::is_unmodeled(&auto), "{auto}");
        assert!(
            auto.to_string().contains("of a count the runtime searches"),
            "{auto}"
        );
        let block = conv(
            "1,256,96,64",
            DType::Bfloat16,
            Layout::Tile,
            &[
                out(128),
                ("activation", ParamValue::Str("relu".into())),
                ("dtype", ParamValue::Str("bfloat8_b".into())),
                ("padding", ParamValue::Ints(vec![1, 0])),
                ("slice", ParamValue::Str("dram_height".into())),
                ("num_slices", ParamValue::Int(3)),
            ],
        )
        .expect_err("unmodeled");
        assert!(crate::exec::is_unmodeled(&block), "{block}");
        assert!(
            block.to_string().contains("on the 1×1 matmul path"),
            "{block}"
        );
    }

    /// The runtime's own count of a told WIDTH_SHARDED 1×1 stride-1 conv is planned: no slice
    /// takes the matmul path, unpadded ones bypass the halo (`cargo xtask probe --backend metal
    /// --trace`, ttnn 0.81.1, traces equal; NO_DISPATCH peaks CB / dataflow / L1): n150
    /// `[1,256,256,256]` → 128 padding [1, 0], 13 slices: 663,616 / 0 / 655,376 B;
    /// `[2,96,160,200]` → 96 unpadded, 15 slices: 639,040 / 3,584 / 630,800 B.
    #[test]
    fn width_sharded_one_by_one_convs_in_the_runtimes_slices_are_planned() {
        for (shape, c_out, padding, peaks) in [
            ("1,256,256,256", 128, [1, 0], (663_616, 0, 655_376)),
            ("2,96,160,200", 96, [0, 0], (639_040, 3_584, 630_800)),
        ] {
            let mut c = dram_case(shape, &N150, Layout::Tile);
            for (k, v) in [
                ("out_channels", ParamValue::Int(c_out)),
                ("kernel_size", ParamValue::Ints(vec![1, 1])),
                ("padding", ParamValue::Ints(padding.to_vec())),
                ("shard_layout", ParamValue::Str("width".into())),
            ] {
                c.params.set(k, v);
            }
            let e = c.estimate().unwrap_or_else(|e| panic!("{shape}: {e}"));
            assert_eq!(e.verdict, crate::case::Verdict::Fits, "{shape}");
            assert_eq!((e.peaks.cb, e.peaks.dataflow, e.peaks.l1), peaks, "{shape}");
        }
    }

    /// One told slice still meets the auto-shard estimate's refusal (seed 1218003, n150:
    /// `[1,224,6,11]` depthwise 1×1 stride 2, act_block_h 192, float32 output in L1, the
    /// runtime's "Conv2d output block size 6 exceeds the per-core output size 1"); two ran.
    #[test]
    fn one_told_slice_meets_the_auto_shard_refusal() {
        for (count, refused) in [(1, true), (2, false)] {
            let mut c = dram_case("1,224,6,11", &N150, Layout::Tile);
            c.output_memory = BufferType::L1;
            c.default_output_memory = false;
            for (k, v) in [
                ("out_channels", ParamValue::Int(224)),
                ("groups", ParamValue::Int(224)),
                ("kernel_size", ParamValue::Ints(vec![1, 1])),
                ("stride", ParamValue::Ints(vec![2, 2])),
                ("act_block_h", ParamValue::Int(192)),
                ("dtype", ParamValue::Str("float32".into())),
                ("slice", ParamValue::Str("dram_height".into())),
                ("num_slices", ParamValue::Int(count)),
            ] {
                c.params.set(k, v);
            }
            match c.estimate() {
                Ok(e) => {
                    assert!(!refused, "{count}: {:?}", e.verdict);
                    assert_eq!(e.verdict, crate::case::Verdict::Fits, "{count}");
                }
                Err(err) => {
                    assert!(refused, "{count}: {err}");
                    let m = err.to_string();
                    assert!(m.contains("exceeds the per-core output size 1"), "{m}");
                }
            }
        }
    }

    /// One told slice with a shard_layout told estimates nothing: the slice meets the L1 path's
    /// own check (seed 1240101, n150: `[1,16,7,6]` float32 depthwise 2×2 stride 2, act_block_h
    /// 64, WIDTH_SHARDED, one DRAM_HEIGHT slice: "Output block height (in # of tiles) (1) should
    /// be greater than or equal to activation block height (in # of tiles) (2)"); unset, the
    /// estimate refuses it in its own words (`cargo xtask probe --backend metal`, both).
    #[test]
    fn one_told_slice_with_a_shard_layout_meets_the_l1_paths_check() {
        for (shard_layout, words) in [
            (Some("width"), "Output block height (in # of tiles) (1) should be greater than or equal to activation block height (in # of tiles) (2)"),
            (None, "Conv2d output block size 2 exceeds the per-core output size 1"),
        ] {
            let mut c = dram_case("1,16,7,6", &N150, Layout::Tile);
            for (k, v) in [
                ("out_channels", ParamValue::Int(16)),
                ("groups", ParamValue::Int(16)),
                ("kernel_size", ParamValue::Ints(vec![2, 2])),
                ("stride", ParamValue::Ints(vec![2, 2])),
                ("bias", ParamValue::Bool(false)),
                ("act_block_h", ParamValue::Int(64)),
                ("dtype", ParamValue::Str("float32".into())),
                ("slice", ParamValue::Str("dram_height".into())),
                ("num_slices", ParamValue::Int(1)),
            ] {
                c.params.set(k, v);
            }
            c.dtype = crate::dtype::DType::Float32;
            if let Some(scheme) = shard_layout {
                c.params.set("shard_layout", ParamValue::Str(scheme.into()));
            }
            let err = c.estimate().unwrap_err().to_string();
            assert!(err.contains(words), "{shard_layout:?}: {err}");
        }
    }

    /// DRAM height slices of a depthwise conv one kernel row tall whose slices all read two
    /// input rows or more are planned (n150, `[1,64,64,48]` NHWC ROW_MAJOR, 1×3 padding [0, 1],
    /// no bias: 2 told slices, NO_DISPATCH peaks CB 34,880 B, dataflow 3,072 B, L1 20,640 B;
    /// the runtime's own count, CB 51,264 B, L1 31,024 B; as the plan's); told 64 slices of one
    /// row, unmodeled.
    #[test]
    fn height_slices_of_a_one_row_kernel_depthwise_conv_of_several_rows_are_planned() {
        let conv = |count: i64| {
            let mut c = dram_case("1,64,64,48", &N150, Layout::RowMajor);
            c.device_layout = crate::layout::DeviceLayout::Nhwc;
            for (k, v) in [
                ("out_channels", ParamValue::Int(64)),
                ("groups", ParamValue::Int(64)),
                ("kernel_size", ParamValue::Ints(vec![1, 3])),
                ("padding", ParamValue::Ints(vec![0, 1])),
                ("bias", ParamValue::Bool(false)),
                ("slice", ParamValue::Str("dram_height".into())),
                ("num_slices", ParamValue::Int(count)),
            ] {
                c.params.set(k, v);
            }
            c.estimate()
        };
        for (count, peaks) in [(2, (34_880, 3_072, 20_640)), (0, (51_264, 0, 31_024))] {
            let e = conv(count).unwrap_or_else(|e| panic!("{count}: {e}"));
            assert_eq!(e.verdict, crate::case::Verdict::Fits, "{count}");
            assert_eq!((e.peaks.cb, e.peaks.dataflow, e.peaks.l1), peaks, "{count}");
        }
        let err = conv(64).expect_err("unmodeled");
        assert!(crate::exec::is_unmodeled(&err), "{err}");
        assert!(err.to_string().contains("1-D depthwise"), "{err}");
    }

    /// A 1×1 stride-1 conv padded on one axis only whose every slice keeps some padding is
    /// planned: p150 `[1,608,76,90]` TILE padding [1, 0] in 7 height slices (each slice's
    /// 90-column output padded to 96: the halo path) ran with NO_DISPATCH peaks CB 49,264 B,
    /// dataflow 4,736 B, L1 30,736 B, as the plan's; `[1,608,76,96]` (unpadded middle slices:
    /// the runtime's matmul path) is refused in its words ("Physical shard shape (128, 56)
    /// must be tile {32, 32} sized!", `cargo xtask probe --backend metal`).
    #[test]
    fn one_axis_padded_one_by_one_slices_that_keep_padding_are_planned() {
        let conv = |shape: &str| {
            let mut c = dram_case(shape, &P150, Layout::Tile);
            for (k, v) in [
                ("out_channels", ParamValue::Int(608)),
                ("kernel_size", ParamValue::Ints(vec![1, 1])),
                ("padding", ParamValue::Ints(vec![1, 0])),
                ("slice", ParamValue::Str("dram_height".into())),
                ("num_slices", ParamValue::Int(7)),
            ] {
                c.params.set(k, v);
            }
            c.estimate()
        };
        let e = conv("1,608,76,90").unwrap();
        assert_eq!(e.verdict, crate::case::Verdict::Fits);
        assert_eq!(
            (e.peaks.cb, e.peaks.dataflow, e.peaks.l1),
            (49_264, 4_736, 30_736)
        );
        let err = conv("1,608,76,96").expect_err("refused");
        assert!(!crate::exec::is_unmodeled(&err), "{err}");
        assert!(
            err.to_string()
                .contains("Physical shard shape (128, 56) must be tile {32, 32} sized!"),
            "{err}"
        );
    }

    /// A told count of DRAM slices with no shard_layout: the first slice's auto-shard estimate
    /// scores the width candidate on that slice's output, and refuses an activation block
    /// taller than it. A first slice reading the whole input keeps the output's width (random
    /// conv2d draws: n150 `[3,459,3,4]` depthwise 3×3 stride [1, 2] padding 2, act_block_h 96,
    /// 2 height slices, seed 1220711, and p150 `[1,83,3,3]` 3×3 padding 1, seed 1220712: "Conv2d
    /// output block size 3 exceeds the per-core output size 1"; `cargo xtask probe --backend
    /// metal`, n150 act_block_h 64: `[1,32,3,3]` 3×3 padding 1, "size 2 exceeds ... 1"); a
    /// narrower first slice is rounded to 32 columns and runs (`[1,32,4,10]` 3×3, `[1,32,6,6]`
    /// 3×3 stride 2, `[1,32,3,3]` 2×2 padding 1, all of under 32 output rows).
    #[test]
    fn told_slices_meet_the_first_slices_auto_shard_refusal() {
        let depthwise: &[(&str, ParamValue)] = &[
            ("out_channels", ParamValue::Int(459)),
            ("groups", ParamValue::Int(459)),
            ("stride", ParamValue::Ints(vec![1, 2])),
            ("padding", ParamValue::Ints(vec![2, 2])),
            ("dtype", ParamValue::Str("float32".into())),
            ("weights_dtype", ParamValue::Str("bfloat8_b".into())),
            ("act_block_h", ParamValue::Int(96)),
        ];
        let plain: &[(&str, ParamValue)] = &[
            ("padding", ParamValue::Ints(vec![1, 1])),
            ("dtype", ParamValue::Str("bfloat8_b".into())),
            ("act_block_h", ParamValue::Int(96)),
        ];
        let small = |kernel: i64, stride: i64| {
            vec![
                ("out_channels", ParamValue::Int(32)),
                ("kernel_size", ParamValue::Ints(vec![kernel, kernel])),
                ("stride", ParamValue::Ints(vec![stride, stride])),
                ("padding", ParamValue::Ints(vec![1, 1])),
                ("act_block_h", ParamValue::Int(64)),
            ]
        };
        type Params = Vec<(&'static str, ParamValue)>;
        let cases: [(&str, &DeviceSpec, Params, Option<&str>); 6] = [
            (
                "3,459,3,4",
                &N150,
                depthwise.to_vec(),
                Some("size 3 exceeds"),
            ),
            ("1,83,3,3", &P150, plain.to_vec(), Some("size 3 exceeds")),
            ("1,32,3,3", &N150, small(3, 1), Some("size 2 exceeds")),
            ("1,32,4,10", &N150, small(3, 1), None),
            ("1,32,6,6", &N150, small(3, 2), None),
            ("1,32,3,3", &N150, small(2, 1), None),
        ];
        for (shape, device, params, refusal) in cases {
            let mut c = dram_case(shape, device, Layout::Tile);
            c.output_memory = BufferType::Dram;
            c.default_output_memory = false;
            for (k, v) in params.into_iter().chain([
                ("enable_act_double_buffer", ParamValue::Bool(true)),
                ("slice", ParamValue::Str("dram_height".into())),
                ("num_slices", ParamValue::Int(2)),
            ]) {
                c.params.set(k, v);
            }
            match (c.estimate(), refusal) {
                (Ok(e), None) => assert_eq!(e.verdict, crate::case::Verdict::Fits, "{shape}"),
                (Err(err), Some(words)) => {
                    assert!(!crate::exec::is_unmodeled(&err), "{shape}: {err}");
                    let m = err.to_string();
                    assert!(m.contains(words), "{shape}: {m}");
                    assert!(
                        m.contains("exceeds the per-core output size 1"),
                        "{shape}: {m}"
                    );
                }
                (Ok(e), Some(_)) => panic!("{shape}: {:?}", e.verdict),
                (Err(err), None) => panic!("{shape}: {err}"),
            }
        }
    }
}
