//! `ttnn.transformer.scaled_dot_product_attention`: FlashAttention-2 in Q / K chunks
//! (`SDPAOperation`, `SDPAProgramFactory`). No attention matrix is ever in memory: the output
//! and the circular buffers of one program are all it allocates.
//!
//! Read from tt-metal's sdpa_device_operation.cpp / sdpa_program_factory.cpp and checked against
//! the pinned runtime (ttnn 0.81.1, NO_DISPATCH captures on mock n150 and p150): the factory
//! takes the streaming compute path (no `fp32_dest_acc_en` without a compute kernel config),
//! spreads the B·NQH·q_num_chunks Q chunks over the whole grid, and gives every core of the grid
//! the same buffers, sized by the chunks' tiles.

use super::util::{out_memory, tile_size};
use super::{unmodeled, Args, Exec, Val};
use crate::dtype::DType;
use crate::error::CaseError;
use crate::layout::Layout;
use crate::plan::BufferRole;
use crate::plan::DevTensor;
use crate::program::{CbKind, CoreRange, CoreRangeSet, Program};
use crate::shape::Shape;
use crate::size;
use crate::tensor::{TensorSpec, TILE};

const FUNCTION: &str = "ttnn.transformer.scaled_dot_product_attention";

/// Keyword arguments memmodel plans; any other (a compute kernel config, a sliding window, an
/// attention sink, paged / chunked or windowed attention) changes the buffers and is
/// `unmodeled`.
const PLANNED_KWARGS: [&str; 5] = [
    "is_causal",
    "scale",
    "memory_config",
    "program_config",
    "attn_mask",
];

/// The data formats of the intermediate buffers (`im_df`, statistics, scalars, the mask
/// palette): Float16_b whatever the inputs are.
const IM_TILE_BYTES: u64 = 2048;

/// The tile size of the compute's destination register without `fp32_dest_acc_en`.
const DST_SIZE: u64 = 8;

pub(super) fn call(ex: &mut Exec<'_>, name: &str, a: &Args<'_>) -> Result<Option<Val>, CaseError> {
    if name != "transformer.scaled_dot_product_attention" {
        return Ok(None);
    }
    if let Some(k) = a.kw.keys().find(|k| !PLANNED_KWARGS.contains(k)) {
        return Err(unmodeled(FUNCTION, format!("the `{k}` argument")));
    }
    let q = a.tensor(0, "input_tensor_q")?;
    let k = a.tensor(1, "input_tensor_k")?;
    let v = a.tensor(2, "input_tensor_v")?;
    if a.opt_tensor(usize::MAX, "attn_mask")?.is_some() {
        return Err(unmodeled(FUNCTION, "a provided attn_mask"));
    }
    // The binding's default is causal attention.
    let causal = a.bool_or(usize::MAX, "is_causal", true)?;
    let config = program_config(a)?;
    let mem = out_memory(a, q.memory)?;
    Ok(Some(sdpa(ex, q, k, v, causal, config, mem)?))
}

/// An `SDPAProgramConfig`: the grid and the chunk sizes (`exp_approx_mode` changes no buffer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdpaConfig {
    pub grid: (u64, u64),
    pub q_chunk_size: i64,
    pub k_chunk_size: i64,
}

fn program_config(a: &Args<'_>) -> Result<Option<SdpaConfig>, CaseError> {
    let kwargs = match a.kw.get("program_config") {
        None | Some(Val::None) => return Ok(None),
        Some(Val::Object {
            class: "SDPAProgramConfig",
            kwargs,
            ..
        }) => kwargs,
        Some(other) => {
            return Err(super::invalid(
                FUNCTION,
                format!("`program_config` must be an SDPAProgramConfig, got {other:?}"),
            ))
        }
    };
    let int = |key: &str| match kwargs.get(key) {
        Some(Val::Int(v)) => Ok(*v),
        other => Err(super::invalid(
            FUNCTION,
            format!("SDPAProgramConfig needs an integer `{key}`, got {other:?}"),
        )),
    };
    if let Some(key) = kwargs.keys().find(|k| {
        !matches!(
            **k,
            "compute_with_storage_grid_size" | "q_chunk_size" | "k_chunk_size" | "exp_approx_mode"
        )
    }) {
        return Err(unmodeled(FUNCTION, format!("SDPAProgramConfig `{key}`")));
    }
    let grid = match kwargs.get("compute_with_storage_grid_size") {
        Some(Val::List(xy)) => match xy.as_slice() {
            [Val::Int(x), Val::Int(y)] if *x > 0 && *y > 0 => (*x as u64, *y as u64),
            _ => return Err(unmodeled(FUNCTION, "an empty or malformed grid")),
        },
        other => {
            return Err(super::invalid(
                FUNCTION,
                format!(
                "SDPAProgramConfig needs `compute_with_storage_grid_size` [x, y], got {other:?}"
            ),
            ))
        }
    };
    Ok(Some(SdpaConfig {
        grid,
        q_chunk_size: int("q_chunk_size")?,
        k_chunk_size: int("k_chunk_size")?,
    }))
}

/// `DataType::X` as the runtime prints it.
fn data_type_name(d: DType) -> String {
    format!("DataType::{}", d.name().to_uppercase())
}

/// `SDPAOperation::validate_on_program_cache_miss`: the runtime's words for the first check the
/// call fails, in the runtime's order (seen on the runtime: the shape checks before the head-dim
/// padding check, the causal one first of those).
pub fn validation_error(
    q: (&[u64], DType, Layout, bool),
    k: (&[u64], DType, Layout, bool),
    v: (&[u64], DType, Layout, bool),
    causal: bool,
    chunks: Option<(i64, i64)>,
) -> Option<String> {
    for (_, dtype, layout, sharded) in [q, k, v] {
        if layout != Layout::Tile {
            return Some("Inputs to SDPA must be tilized".into());
        }
        if !matches!(dtype, DType::Bfloat16 | DType::Bfloat8B | DType::Bfloat4B) {
            return Some(format!(
                "Data type of input tensor must be BFLOAT16, BFLOAT8_B, or BFLOAT4_B and is {}",
                data_type_name(dtype)
            ));
        }
        if sharded {
            return Some("Operands to SDPA need to be DRAM/L1 interleaved".into());
        }
    }
    let (&[b, nqh, sq, dh], &[kb, nkv, sk, kd], &[vb, nvh, sv, vd]) = (q.0, k.0, v.0) else {
        return Some("SDPA takes 4-D [B, H, S, D] tensors".into());
    };
    if causal && sq != sk {
        return Some(format!(
            "Causal SDPA requires Q and K to have the same sequence length. Got Q: {sq}, K: {sk}"
        ));
    }
    if kb != b || vb != b {
        return Some(format!("K and V batch must match. Got K: {kb}, V: {vb}"));
    }
    if nvh != nkv {
        return Some(format!(
            "K and V num_heads must match. Got K: {nkv}, V: {nvh}"
        ));
    }
    if sv != sk {
        return Some(format!(
            "K and V sequence length must match. Got K: {sk}, V: {sv}"
        ));
    }
    if kd != dh || vd != dh {
        return Some(format!(
            "K and V hidden dim must match. Got K: {kd}, V: {vd}"
        ));
    }
    if nkv == 0 || nqh < nkv || nqh % nkv != 0 {
        return Some(format!(
            "Q num_heads must be >= K num_heads and divisible by K num_heads, and K num_heads must be greater than 0. Got Q: {nqh}, K: {nkv}"
        ));
    }
    if let Some((qc, kc)) = chunks {
        for (name, c) in [("q_chunk_size", qc), ("k_chunk_size", kc)] {
            if c <= 0 || c % TILE as i64 != 0 {
                return Some(format!(
                    "{name} must be a positive multiple of TILE_SIZE. Got {name}: {c}, TILE_SIZE: {TILE}"
                ));
            }
        }
    }
    if dh % TILE != 0 {
        return Some("Padding is not supported on the head_dim dimension".into());
    }
    None
}

/// `determine_largest_subblock_size`: the largest (h, w) with h·w ≤ `dst`, h ≤ `max_h`, dividing
/// the block, in the factory's order of candidates.
fn largest_subblock(block_h: u64, block_w: u64, dst: u64, max_h: u64) -> (u64, u64) {
    const CANDIDATES: [(u64, u64); 20] = [
        (2, 4),
        (4, 2),
        (1, 8),
        (8, 1),
        (1, 7),
        (7, 1),
        (2, 3),
        (3, 2),
        (1, 6),
        (6, 1),
        (1, 5),
        (5, 1),
        (2, 2),
        (1, 4),
        (4, 1),
        (1, 3),
        (3, 1),
        (1, 2),
        (2, 1),
        (1, 1),
    ];
    CANDIDATES
        .into_iter()
        .find(|&(h, w)| {
            h * w <= dst && h <= max_h && block_h.is_multiple_of(h) && block_w.is_multiple_of(w)
        })
        .unwrap_or((1, 1))
}

/// Whether each light / heavy pair of a causal head's Q chunks (chunk i with chunk n-1-i) reads
/// the same number of K chunks: Q chunk i reads the K chunks up to its last row,
/// ceil((i+1)·Sq_chunk_t / Sk_chunk_t) of the k_num_chunks (seen on p150: the factory chains
/// K/V prefixes only then; e.g. 1-tile Q chunks over 92 tiles chain with 4-tile K chunks, not
/// with 8-tile ones).
fn pairs_read_alike(
    q_num_chunks: u64,
    sq_chunk_t: u64,
    sk_chunk_t: u64,
    k_num_chunks: u64,
) -> Result<bool, CaseError> {
    // Past this many pairs the walk is not worth it for a shape no device holds.
    const MOST_PAIRS: u64 = 1 << 24;
    let pairs = q_num_chunks / 2;
    if pairs > MOST_PAIRS || sk_chunk_t == 0 {
        return Err(unmodeled(
            FUNCTION,
            format!("causal attention over {q_num_chunks} Q chunks (the K/V chain rule is walked up to {MOST_PAIRS} pairs)"),
        ));
    }
    let reads = |i: u64| {
        (i + 1)
            .saturating_mul(sq_chunk_t)
            .div_ceil(sk_chunk_t)
            .min(k_num_chunks)
    };
    let last = q_num_chunks.saturating_sub(1);
    let first = reads(0) + reads(last);
    Ok((1..pairs).all(|i| reads(i) + reads(last - i) == first))
}

/// `streaming_cb_out_tiles`: the output buffer is a 2-slot ping-pong of QKᵀV row groups.
fn streaming_out_tiles(sq_chunk_t: u64, vdht: u64) -> u64 {
    let (h, w) = largest_subblock(sq_chunk_t, vdht, DST_SIZE, 2);
    let row_group = if h == 1 && 2 * w <= DST_SIZE && sq_chunk_t >= 2 {
        2
    } else {
        h
    };
    2 * row_group * vdht
}

/// The circular buffers of `SDPAProgramFactory` on every core of its grid, in the order the
/// factory creates them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdpaBuffers {
    pub sizes: Vec<u64>,
}

/// The per-core buffers for q [B, NQH, Sq, DH] against k / v [B, NKH, Sk, DH] (`dtype` the
/// inputs' and the output's), `cores` cores and the chunk sizes, on `arch`.
#[allow(clippy::too_many_arguments)]
pub fn buffers(
    q: &[u64],
    sk: u64,
    dtype: DType,
    causal: bool,
    q_chunk: u64,
    k_chunk: u64,
    cores: u64,
    arch: crate::device::Arch,
) -> Result<SdpaBuffers, CaseError> {
    let &[b, nqh, sq, dh] = q else {
        return Err(super::invalid(FUNCTION, "q must be 4-D"));
    };
    let padded_sq = size::mul(sq.div_ceil(q_chunk), q_chunk, "padded Sq")?;
    let padded_sk = size::mul(sk.div_ceil(k_chunk), k_chunk, "padded Sk")?;
    let (sq_chunk_t, sk_chunk_t, dht) = (q_chunk / TILE, k_chunk / TILE, dh / TILE);
    let q_num_chunks = padded_sq / q_chunk;
    // Global Q scheduling: the B·NQH·q_num_chunks chunks spread evenly over the cores, in pairs
    // (light and heavy) when causal with an even chunk count.
    let total = size::mul(size::mul(b, nqh, "B·NQH")?, q_num_chunks, "Q chunks")?;
    let most_per_core = if causal && q_num_chunks.is_multiple_of(2) {
        let pairs = total / 2;
        (pairs / cores) * 2 + if pairs % cores > 0 { 2 } else { 0 }
    } else {
        total / cores + u64::from(total % cores > 0)
    };
    let q_buffering = if most_per_core > 1 { 2 } else { 1 };
    // Blackhole chains the K/V prefix of causal heads from core to core when the Q chunks pair
    // up, are at most 4 tiles, and every light / heavy pair reads as many K chunks: a
    // forward-control CB of one 32 B entry per K/V slot and one more, and three K/V slots for
    // 3- and 4-tile Q chunks against K chunks of at most 8 tiles, else two (seen on p150
    // captures, every Q / K chunk pair up to 4 / 16 tiles).
    let k_num_chunks = padded_sk / k_chunk;
    let chain = arch == crate::device::Arch::Blackhole
        && causal
        && q_num_chunks.is_multiple_of(2)
        && sq_chunk_t <= 4
        && pairs_read_alike(q_num_chunks, sq_chunk_t, sk_chunk_t, k_num_chunks)?;
    let kv_slots = if chain && sq_chunk_t >= 3 && sk_chunk_t <= 8 {
        3
    } else {
        2
    };
    let padded_mask = !causal && (padded_sk != sk || padded_sq != sq);
    let tile = tile_size(dtype);
    let t = |tiles: u64, bytes: u64, what: &str| size::mul(tiles, bytes, what);
    let mut sizes = vec![
        t(sq_chunk_t * dht * q_buffering, tile, "Q buffer")?,
        t(sk_chunk_t * dht * kv_slots, tile, "K buffer")?,
        t(sk_chunk_t * dht * kv_slots, tile, "V buffer")?,
    ];
    if chain {
        sizes.push(32 * (kv_slots + 1));
    }
    if causal || padded_mask {
        // The streaming path's mask palette: a -inf tile, the causal diagonal, a partial K tile.
        let partial_k = padded_mask && !sk.is_multiple_of(TILE);
        let tiles = 1 + u64::from(causal) + u64::from(partial_k);
        sizes.push(tiles * IM_TILE_BYTES);
    }
    // The identity scalar, the identity column and the streaming reciprocal scratch.
    sizes.extend([IM_TILE_BYTES; 3]);
    sizes.push(t(sq_chunk_t * sk_chunk_t, IM_TILE_BYTES, "QKᵀ buffer")?);
    let out_im = t(sq_chunk_t * dht, IM_TILE_BYTES, "output accumulator")?;
    sizes.extend([out_im, out_im]);
    // Running max (two), running sum (two) and exp(max difference): a column each.
    let stats = t(sq_chunk_t, IM_TILE_BYTES, "statistics")?;
    sizes.extend([stats; 5]);
    sizes.push(t(
        streaming_out_tiles(sq_chunk_t, dht),
        tile,
        "output buffer",
    )?);
    Ok(SdpaBuffers { sizes })
}

fn sdpa(
    ex: &mut Exec<'_>,
    q: &DevTensor,
    k: &DevTensor,
    v: &DevTensor,
    causal: bool,
    config: Option<SdpaConfig>,
    mem: crate::device::BufferType,
) -> Result<Val, CaseError> {
    fn facts(t: &DevTensor) -> (&[u64], DType, Layout, bool) {
        (t.dims(), t.dtype(), t.layout(), t.shard.is_some())
    }
    let op = "SDPAOperation";
    let factory = "SDPAProgramFactory";
    // The output exists before the operation validates its inputs (seen on the runtime: a
    // ROW_MAJOR or an unaligned-head call out of L1 fails at its tile-padded output, not with
    // the refusal).
    let out_spec = TensorSpec::new(
        Shape::from_dims(q.dims().to_vec())?,
        q.dtype(),
        Layout::Tile,
    );
    let out = ex.b.tensor("output", BufferRole::Output, out_spec, mem)?;
    if let Some(reason) = validation_error(
        facts(q),
        facts(k),
        facts(v),
        causal,
        config.map(|c| (c.q_chunk_size, c.k_chunk_size)),
    ) {
        ex.b.run(Program::new(op, factory).refused(reason));
        return Ok(Val::T(out));
    }
    if k.dtype() != q.dtype() || v.dtype() != q.dtype() {
        return Err(unmodeled(FUNCTION, "inputs of different dtypes"));
    }
    let d = ex.device();
    let (gx, gy) = config.map_or((u64::from(d.grid_x), u64::from(d.grid_y)), |c| c.grid);
    let cores = size::mul(gx, gy, "SDPA grid")?;
    let program = Program::new(op, factory);
    if cores > d.worker_cores() {
        ex.b.run(program.refused(format!(
            "Provided grid must not contain more cores than the device. Got {cores} cores, expected at most {} cores.",
            d.worker_cores()
        )));
        return Ok(Val::T(out));
    }
    let (q_chunk, k_chunk) = config.map_or((TILE, TILE), |c| {
        (c.q_chunk_size as u64, c.k_chunk_size as u64)
    });
    let sk = k.dims()[2];
    let bufs = buffers(
        q.dims(),
        sk,
        q.dtype(),
        causal,
        q_chunk,
        k_chunk,
        cores,
        d.arch,
    )?;
    let grid = CoreRangeSet::one(CoreRange::new(0, 0, gx as u32 - 1, gy as u32 - 1));
    let program = bufs
        .sizes
        .iter()
        .fold(program, |p, &s| p.cb(CbKind::Circular, s, &grid));
    ex.b.run(program);
    Ok(Val::T(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    const WH: crate::device::Arch = crate::device::Arch::WormholeB0;

    fn sum(b: &SdpaBuffers) -> u64 {
        b.sizes.iter().sum()
    }

    #[test]
    fn buffers_match_the_runtime_captures() {
        // NO_DISPATCH captures, ttnn 0.81.1, mock n150 (8×8 = 64 cores): each program's CBs.
        let yolo = buffers(
            &[4, 12, 400, 32],
            400,
            DType::Bfloat16,
            false,
            128,
            256,
            64,
            WH,
        )
        .unwrap();
        let mut want = vec![16384, 32768, 32768, 4096, 2048, 2048, 2048, 65536];
        want.extend([8192; 8]);
        assert_eq!(yolo.sizes, want);
        assert_eq!(sum(&yolo), 223_232);
        let default = buffers(
            &[4, 12, 400, 32],
            400,
            DType::Bfloat16,
            false,
            32,
            32,
            64,
            WH,
        )
        .unwrap();
        assert_eq!(sum(&default), 43_008);
        let causal = buffers(&[1, 2, 64, 64], 64, DType::Bfloat16, true, 32, 32, 64, WH).unwrap();
        assert_eq!(sum(&causal), 63_488);
        let bf8 = buffers(&[1, 2, 64, 64], 64, DType::Bfloat8B, false, 32, 32, 64, WH).unwrap();
        assert_eq!(sum(&bf8), 41_856);
        let long = buffers(
            &[1, 1, 1024, 64],
            1024,
            DType::Bfloat16,
            true,
            128,
            256,
            64,
            WH,
        )
        .unwrap();
        assert_eq!(sum(&long), 329_728);
    }

    /// Blackhole's causal K/V prefix chain (mock p150 captures): a 96 B control CB with two
    /// K/V slots for 1-tile Q chunks, 128 B and three slots for 4-tile ones, none past 4 tiles.
    #[test]
    fn blackhole_causal_chain_buffers() {
        let bh = crate::device::Arch::Blackhole;
        let short = buffers(&[1, 1, 64, 32], 64, DType::Bfloat16, true, 32, 32, 110, bh).unwrap();
        assert_eq!(&short.sizes[..4], &[4096, 4096, 4096, 96]);
        assert_eq!(sum(&short), 43_104);
        let four = buffers(
            &[1, 1, 1024, 64],
            1024,
            DType::Bfloat16,
            true,
            128,
            128,
            64,
            bh,
        )
        .unwrap();
        assert_eq!(&four.sizes[..4], &[32768, 49152, 49152, 128]);
        assert_eq!(sum(&four), 264_320);
        let eight = buffers(
            &[1, 1, 1024, 64],
            1024,
            DType::Bfloat16,
            true,
            256,
            256,
            64,
            bh,
        )
        .unwrap();
        assert_eq!(sum(&eight), 501_760);
    }

    /// The chain needs every light / heavy pair of Q chunks to read as many K chunks, and keeps
    /// a third K/V slot only for K chunks of at most 8 tiles (mock p150 captures, ttnn 0.81.1).
    #[test]
    fn blackhole_chains_only_where_the_pairs_read_alike() {
        let bh = crate::device::Arch::Blackhole;
        let bufs = |s: u64, q: u64, k: u64| {
            buffers(&[1, 1, s, 64], s, DType::Bfloat16, true, q, k, 64, bh).unwrap()
        };
        // [1,1,2943,64], 1-tile Q chunks: 4-tile K chunks chain, 8-tile ones do not (the pair
        // (0, 91) reads 1 + 12 K chunks, the pair (4, 87) 1 + 11): 192,512 B measured.
        assert_eq!(bufs(2943, 32, 128).sizes[3], 96);
        let unchained = bufs(2943, 32, 256);
        assert_eq!(&unchained.sizes[..3], &[8192, 65536, 65536]);
        assert_eq!(sum(&unchained), 192_512);
        // [1,1,1000,64], 2-tile Q chunks: 11-tile K chunks chain (every pair reads 4), 12-tile
        // ones do not.
        assert_eq!(bufs(1000, 64, 352).sizes[3], 96);
        assert_ne!(bufs(1000, 64, 384).sizes[3], 96);
        // [1,1,1024,64], 4-tile Q chunks against 16-tile K chunks: chained with two K/V slots,
        // 526,432 B measured (three slots and a 128 B control CB for 8-tile K chunks).
        let wide = bufs(1024, 128, 512);
        assert_eq!(&wide.sizes[..4], &[32768, 131072, 131072, 96]);
        assert_eq!(sum(&wide), 526_432);
        assert_eq!(bufs(1024, 128, 256).sizes[3], 128);
    }

    #[test]
    fn refusals_carry_the_runtime_words() {
        let t = |d: &'static [u64]| (d, DType::Bfloat16, Layout::Tile, false);
        assert_eq!(
            validation_error(
                t(&[1, 2, 64, 48]),
                t(&[1, 2, 64, 48]),
                t(&[1, 2, 64, 48]),
                false,
                None
            )
            .as_deref(),
            Some("Padding is not supported on the head_dim dimension")
        );
        // The causal check comes before the head-dim padding (seen on the runtime).
        assert_eq!(
            validation_error(
                t(&[1, 2, 64, 48]),
                t(&[1, 2, 96, 48]),
                t(&[1, 2, 96, 48]),
                true,
                None
            )
            .as_deref(),
            Some("Causal SDPA requires Q and K to have the same sequence length. Got Q: 64, K: 96")
        );
        let fp32 = (&[1u64, 2, 64, 64][..], DType::Float32, Layout::Tile, false);
        assert_eq!(
            validation_error(fp32, fp32, fp32, false, None).as_deref(),
            Some("Data type of input tensor must be BFLOAT16, BFLOAT8_B, or BFLOAT4_B and is DataType::FLOAT32")
        );
        assert_eq!(
            validation_error(t(&[1, 3, 64, 64]), t(&[1, 2, 64, 64]), t(&[1, 2, 64, 64]), false, None)
                .as_deref(),
            Some("Q num_heads must be >= K num_heads and divisible by K num_heads, and K num_heads must be greater than 0. Got Q: 3, K: 2")
        );
        assert_eq!(
            validation_error(t(&[1, 2, 64, 64]), t(&[1, 2, 64, 64]), t(&[1, 2, 64, 64]), false, Some((32, 48)))
                .as_deref(),
            Some("k_chunk_size must be a positive multiple of TILE_SIZE. Got k_chunk_size: 48, TILE_SIZE: 32")
        );
        assert_eq!(
            validation_error(
                t(&[1, 2, 64, 64]),
                t(&[1, 1, 96, 64]),
                t(&[1, 1, 96, 64]),
                false,
                None
            ),
            None
        );
    }
}

#[cfg(test)]
mod case_tests {
    use crate::case::{Case, Verdict};
    use crate::device::{BufferType, N150, P150};
    use crate::ops::{find, CaseError};
    use crate::params::ParamValue;
    use crate::shape::Shape;

    fn sdpa(shape: &str, device: &'static crate::device::DeviceSpec) -> Case {
        Case::new(
            find("sdpa").unwrap(),
            vec![Shape::parse(shape).unwrap()],
            device,
        )
    }

    /// YOLOv12x's area attention at 640 ([4,12,400,32], 128 / 256 chunks): the CB peak the
    /// runtime's capture reports on both boards (223,232 B per core).
    #[test]
    fn yolo_area_attention_plans_the_captured_cbs() {
        for device in [&N150, &P150] {
            let mut c = sdpa("4,12,400,32", device);
            c.params.set("q_chunk_size", ParamValue::Int(128));
            c.params.set("k_chunk_size", ParamValue::Int(256));
            let e = c.estimate().unwrap();
            assert_eq!(e.verdict, Verdict::Fits, "{}", device.name);
            assert_eq!(e.peaks.cb, 223_232, "{}", device.name);
        }
    }

    /// Without `memory_config` the output goes to DRAM, L1 inputs or not (seen on the runtime).
    #[test]
    fn default_output_is_dram() {
        let c = sdpa("1,2,64,64", &N150).with_default_output_memory();
        assert_eq!(c.output_memory, BufferType::Dram);
    }

    /// A head size off the tile is refused, but only once its tile-padded output exists: out of
    /// L1 that output is the failure (seen on n150: [1,7,12812,107] causal fails at a
    /// 22,994,944 B output, not with the refusal).
    #[test]
    fn refusals_come_after_the_output() {
        let small = sdpa("1,2,64,48", &N150);
        match small.estimate() {
            Err(CaseError::Refused { reason, .. }) => {
                assert_eq!(reason, "Padding is not supported on the head_dim dimension")
            }
            other => panic!("expected the refusal, got {other:?}"),
        }
        let mut big = sdpa("1,7,12812,107", &N150);
        big.params.set("is_causal", ParamValue::Bool(true));
        match big.estimate().unwrap().verdict {
            Verdict::Oom(o) => assert_eq!(o.total_bytes, 22_994_944),
            other => panic!("expected the output's OOM, got {other:?}"),
        }
    }

    /// Causal attention is planned on both boards, Blackhole's K/V prefix chain included: a
    /// 64-row head in two 1-tile Q chunks chains on p150 (its 96 B control CB: 63,584 B per
    /// core measured, 63,488 on n150).
    #[test]
    fn blackhole_causal_pairs_are_planned() {
        let peak = |device| {
            let mut c = sdpa("1,2,64,64", device);
            c.params.set("is_causal", ParamValue::Bool(true));
            c.estimate().expect("a verdict").peaks.cb
        };
        assert_eq!(peak(&N150), 63_488);
        assert_eq!(peak(&P150), 63_584);
    }
}
