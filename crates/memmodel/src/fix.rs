//! The fix planner: for a case that does not fit, the cheapest change that does — each a
//! concrete, changed case (or the largest piece of a split one) that a backend can run to verify
//! it. In order of cost to the user:
//!
//! 0. sharding (ops that run sharded: the eltwise ones): inputs and outputs stay in L1, each
//!    height / block / width sharded over the grid ([`crate::shard`]) — no DRAM traffic and no
//!    circular buffers of the op's own (the sharded factories bind them to the shards), at the
//!    cost of one memory config for both sides; `detail` gives the shard spec;
//! 1. outputs to DRAM (inputs stay in L1), 2. inputs to DRAM (outputs stay in L1), 3. everything
//!    in DRAM — one argument changes, at a bandwidth cost;
//! 4. chunking: split the op along a dim into the fewest `k` pieces that fit, `k` exact (the
//!    largest piece is the case to verify);
//! 5. bfloat8_b instead of bfloat16 where the op takes it (TILE only) — an accuracy cost;
//! 6. more chips: shard the tensors over an n300, a T3K or a Galaxy (modeled per chip; see
//!    [`crate::mesh`]).
//!
//! Candidates are ranked by the model; a caller verifies them on a device in that order and
//! keeps the first that really fits.

use crate::case::{Case, Verdict};
use crate::device::BufferType;
use crate::dtype::DType;
use crate::layout::Layout;
use crate::mesh::{self, Distribution, MeshSpec};
use crate::ops::{DeriveOther, Family};
use crate::shard::ShardStrategy;
use serde::Serialize;

/// What kind of change a fix is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FixKind {
    Shard,
    OutputsToDram,
    InputsToDram,
    Dram,
    Chunk,
    Bfloat8B,
    MoreChips,
}

impl FixKind {
    pub fn name(self) -> &'static str {
        match self {
            FixKind::Shard => "shard",
            FixKind::OutputsToDram => "outputs_to_dram",
            FixKind::InputsToDram => "inputs_to_dram",
            FixKind::Dram => "dram",
            FixKind::Chunk => "chunk",
            FixKind::Bfloat8B => "bfloat8_b",
            FixKind::MoreChips => "more_chips",
        }
    }
}

/// A proposed change.
#[derive(Debug, Clone, PartialEq)]
pub struct Fix {
    pub kind: FixKind,
    /// What to change, in words a user can apply (`chunk along H (model dim 2) into 5 pieces
    /// of [1,96,432,3840]`).
    pub detail: String,
    /// The case to run to verify it (for chunks, the largest piece; for meshes, one chip's).
    pub case: Case,
    /// Chunks or chips, where the fix has a count.
    pub pieces: Option<u64>,
    /// The mesh, for `more_chips`.
    pub mesh: Option<&'static MeshSpec>,
}

fn fits(case: &Case) -> bool {
    matches!(case.estimate(), Ok(e) if e.verdict == Verdict::Fits)
}

/// The model dim a case is split along: H for 4D activations (model order N,C,H,W), the rows
/// (second-last) for matrices, else the largest non-last dim. `None` for 1D shapes.
pub fn chunk_dim(case: &Case) -> Option<usize> {
    let shape = case.model_inputs.first()?;
    let dims = shape.dims();
    match dims.len() {
        0 | 1 => None,
        4 => Some(2),
        2 | 3 => Some(dims.len() - 2),
        n => (0..n - 1).max_by_key(|&i| (dims[i], std::cmp::Reverse(i))),
    }
}

/// `case` with model dim `dim` of its first input cut to `size` (the largest chunk). Operands
/// derived from the first input that a chunk would not change (a matmul's second operand) are
/// pinned explicitly. `None` when the op cannot take the chunk.
pub fn chunk_case(case: &Case, dim: usize, size: u64) -> Option<Case> {
    let first = case.model_inputs.first()?;
    let chunked = first.with_dim(dim, size).ok()?;
    let mut out = case.clone();
    out.model_inputs[0] = chunked;
    if let Family::Matmul {
        derive_other: DeriveOther::Transposed,
    } = case.op.family
    {
        if case.model_inputs.len() == 1 {
            // Q @ Kᵀ with one shape given: splitting Q's rows leaves Kᵀ whole.
            let sig = case.signature().ok()?;
            out.model_inputs.push(sig.inputs.get(1)?.shape.clone());
        }
    }
    out.signature().ok()?;
    Some(out)
}

/// The fewest pieces along `dim` for which the largest piece fits, and that piece's case.
fn fewest_chunks(case: &Case, dim: usize) -> Option<(u64, Case)> {
    let extent = *case.model_inputs.first()?.dims().get(dim)?;
    if extent < 2 {
        return None;
    }
    let piece = |k: u64| chunk_case(case, dim, extent.div_ceil(k));
    // Fitting is monotone in the piece size: binary search the smallest k whose piece fits.
    let (mut lo, mut hi) = (2u64, extent);
    if !piece(hi).as_ref().is_some_and(fits) {
        return None;
    }
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if piece(mid).as_ref().is_some_and(fits) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    // Pieces of equal size can come from several k; report the smallest k with that size.
    Some((lo, piece(lo)?))
}

fn dim_name(case: &Case, dim: usize) -> String {
    match (case.model_inputs.first().map(|s| s.rank()), dim) {
        (Some(4), 0) => "N".into(),
        (Some(4), 1) => "C".into(),
        (Some(4), 2) => "H".into(),
        (Some(4), 3) => "W".into(),
        (Some(r), d) if r >= 2 && d == r - 2 => "rows".into(),
        _ => format!("dim {dim}"),
    }
}

/// `height-shard inputs and outputs in L1 (memory_config=l1_height_sharded): shard [640, 416]
/// on 64 cores {[0-0 - 7-7]}, 532480 B per core`.
fn shard_detail(case: &Case, strategy: ShardStrategy) -> Option<String> {
    let sig = case.signature().ok()?;
    let input = sig.inputs.first()?;
    let tensor = crate::tensor::TensorSpec::new(input.shape.clone(), input.dtype, input.layout);
    let (placement, spec) = tensor.sharded(case.device, strategy).ok()?;
    Some(format!(
        "{}-shard inputs and outputs in L1 (memory_config={}): shard [{}, {}] on {} cores {}, {} B per core",
        strategy,
        strategy.memory_name(),
        spec.shard_shape[0],
        spec.shard_shape[1],
        spec.shards(),
        spec.cores,
        placement.per_bank_bytes
    ))
}

/// Every change the model predicts would make `case` fit, cheapest first (empty when nothing
/// helps). It does not ask whether `case` itself fits: a device may refuse a case the model
/// accepts, and the changes are then still worth trying there.
pub fn candidates(case: &Case) -> Vec<Fix> {
    let mut out = Vec::new();
    let mut push = |kind: FixKind,
                    detail: String,
                    changed: Case,
                    pieces: Option<u64>,
                    mesh: Option<&'static MeshSpec>| {
        if changed.signature().is_ok() && fits(&changed) {
            out.push(Fix {
                kind,
                detail,
                case: changed,
                pieces,
                mesh,
            });
        }
    };
    let in_l1 = |b: BufferType| b == BufferType::L1;
    if case.op.supports_sharding() && in_l1(case.input_memory) && in_l1(case.output_memory) {
        for strategy in [
            ShardStrategy::Height,
            ShardStrategy::Block,
            ShardStrategy::Width,
        ] {
            if case.sharding == Some(strategy) {
                continue;
            }
            let mut c = case.clone();
            c.sharding = Some(strategy);
            let Some(detail) = shard_detail(&c, strategy) else {
                continue;
            };
            push(FixKind::Shard, detail, c, None, None);
        }
    }
    if in_l1(case.output_memory) {
        let mut c = case.clone();
        c.output_memory = BufferType::Dram;
        push(
            FixKind::OutputsToDram,
            "outputs to DRAM (memory_config=ttnn.DRAM_MEMORY_CONFIG); inputs stay in L1".into(),
            c,
            None,
            None,
        );
    }
    if in_l1(case.input_memory) {
        let mut c = case.clone();
        c.input_memory = BufferType::Dram;
        push(
            FixKind::InputsToDram,
            "inputs to DRAM; outputs stay in L1".into(),
            c,
            None,
            None,
        );
    }
    if in_l1(case.input_memory) && in_l1(case.output_memory) {
        let mut c = case.clone();
        c.input_memory = BufferType::Dram;
        c.output_memory = BufferType::Dram;
        c.sharding = None;
        push(
            FixKind::Dram,
            "inputs and outputs in DRAM (interleaved)".into(),
            c,
            None,
            None,
        );
    }
    if let Some(dim) = chunk_dim(case) {
        if let Some((k, piece)) = fewest_chunks(case, dim) {
            let detail = format!(
                "split along {} (model dim {dim}) into {k} pieces; the largest is {}",
                dim_name(case, dim),
                piece.shapes_label()
            );
            push(FixKind::Chunk, detail, piece, Some(k), None);
        }
    }
    if case.dtype == DType::Bfloat16
        && case.layout == Layout::Tile
        && crate::ops::rejected_dtype(case.op.name, DType::Bfloat8B).is_none()
    {
        let mut c = case.clone();
        c.dtype = DType::Bfloat8B;
        push(
            FixKind::Bfloat8B,
            "bfloat8_b instead of bfloat16 (1088 B per tile instead of 2048; lossy)".into(),
            c,
            None,
            None,
        );
    }
    if let Some(dim) = chunk_dim(case) {
        for m in mesh::MESHES {
            if let Some(chip_case) = mesh::per_chip_case(case, m, Distribution::Sharded { dim }) {
                let detail = format!(
                    "shard over {} ({} chips) along {} (model dim {dim}): {} per chip (modeled)",
                    m.name,
                    m.chips,
                    dim_name(case, dim),
                    chip_case.shapes_label()
                );
                let fits_now = fits(&chip_case);
                push(
                    FixKind::MoreChips,
                    detail,
                    chip_case,
                    Some(m.chips),
                    Some(m),
                );
                if fits_now {
                    break;
                }
            }
        }
    }
    out
}

/// The cheapest fix the model predicts fits; `None` when the case fits already.
pub fn plan(case: &Case) -> Option<Fix> {
    if fits(case) {
        return None;
    }
    candidates(case).into_iter().next()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::Expectation;
    use crate::device::{N150, P150};
    use crate::{DeviceLayout, Params, Shape};

    fn case(op: &str, shape: &str, memory: BufferType, layout: DeviceLayout) -> Case {
        Case {
            op: crate::find_op(op).unwrap(),
            shape_set: None,
            model_inputs: vec![Shape::parse(shape).unwrap()],
            device_layout: layout,
            params: Params::default(),
            dtype: DType::Bfloat16,
            layout: Layout::Tile,
            input_memory: memory,
            output_memory: memory,
            default_output_memory: false,
            sharding: None,
            device: &N150,
            expect: Expectation::Any,
        }
    }

    #[test]
    fn a_fitting_case_needs_no_fix() {
        assert!(plan(&case(
            "silu",
            "1,32,64,64",
            BufferType::L1,
            DeviceLayout::Nhwc
        ))
        .is_none());
    }

    #[test]
    fn when_only_the_output_fails_outputs_to_dram_comes_first() {
        // Two [1,64,640,400] inputs fit in L1; the output does not.
        let fix = plan(&case(
            "add",
            "1,64,640,400",
            BufferType::L1,
            DeviceLayout::AsGiven,
        ))
        .unwrap();
        assert_eq!(fix.kind, FixKind::OutputsToDram);
        assert_eq!(fix.case.output_memory, BufferType::Dram);
        assert_eq!(fix.case.input_memory, BufferType::L1);
    }

    #[test]
    fn chunks_are_the_fewest_that_fit() {
        let c = case("silu", "1,96,2160,3840", BufferType::L1, DeviceLayout::Nhwc);
        let all = candidates(&c);
        let chunk = all
            .iter()
            .find(|f| f.kind == FixKind::Chunk)
            .expect("chunking helps silu");
        let k = chunk.pieces.unwrap();
        assert!(fits(&chunk.case));
        // One piece fewer does not fit: k is exact.
        let fewer = chunk_case(&c, 2, 2160u64.div_ceil(k - 1)).unwrap();
        assert!(!fits(&fewer), "k={k} is not the fewest");
        // The input alone overflows L1 and so would the output: only all-DRAM is a one-argument fix.
        assert_eq!(all[0].kind, FixKind::Dram);
        assert!(!all
            .iter()
            .any(|f| matches!(f.kind, FixKind::OutputsToDram | FixKind::InputsToDram)));
    }

    #[test]
    fn sharding_is_proposed_when_only_the_op_buffers_are_in_the_way() {
        // Interleaved in L1 the op's circular buffers push these over the bank; sharded, the
        // factory binds its buffers to the shards. Found by search, not assumed: the largest H
        // (at 32 channels, 1280 wide) whose interleaved case fails while a sharded one fits.
        let c = |h: u64| {
            case(
                "silu",
                &format!("1,32,{h},1280"),
                BufferType::L1,
                DeviceLayout::Nhwc,
            )
        };
        let h = (1..=2048u64)
            .find(|&h| {
                !fits(&c(h)) && {
                    let mut s = c(h);
                    s.sharding = Some(ShardStrategy::Height);
                    fits(&s)
                }
            })
            .expect("a size where only sharding fits in L1");
        let fix = plan(&c(h)).unwrap();
        assert_eq!(fix.kind, FixKind::Shard);
        assert!(fits(&fix.case) && fix.case.sharding.is_some());
        assert!(fix.detail.contains("memory_config=l1_"), "{}", fix.detail);
        // Ops that do not run sharded never get it.
        let mut other = c(h);
        other.op = crate::find_op("softmax").unwrap();
        assert!(candidates(&other).iter().all(|f| f.kind != FixKind::Shard));
    }

    #[test]
    fn a_sharded_case_that_does_not_fit_can_move_to_dram() {
        let mut c = case("silu", "1,96,1088,1920", BufferType::L1, DeviceLayout::Nhwc);
        c.sharding = Some(ShardStrategy::Width);
        let all = candidates(&c);
        let dram = all.iter().find(|f| f.kind == FixKind::Dram).unwrap();
        assert_eq!(dram.case.sharding, None);
        assert!(all.iter().all(|f| f.case.signature().is_ok()));
    }

    #[test]
    fn bmm_chunks_keep_the_second_operand_whole() {
        let mut c = case("bmm", "12,8160,8160", BufferType::L1, DeviceLayout::AsGiven);
        c.device = &P150;
        let piece = chunk_case(&c, 1, 1000).unwrap();
        assert_eq!(piece.model_inputs[1].dims(), &[12, 8160, 8160]);
        assert_eq!(piece.model_inputs[0].dims(), &[12, 1000, 8160]);
    }

    #[test]
    fn dram_overflow_goes_to_chunks_or_chips() {
        // 12.7 GB of float32 does not fit the n150's 12 GB of DRAM as input + output.
        let mut c = case(
            "silu",
            "1,96,4320,7680",
            BufferType::Dram,
            DeviceLayout::Nhwc,
        );
        c.dtype = DType::Float32;
        let all = candidates(&c);
        assert!(!all.is_empty());
        assert!(
            all.iter()
                .all(|f| matches!(f.kind, FixKind::Chunk | FixKind::MoreChips)),
            "{:?}",
            all.iter().map(|f| f.kind).collect::<Vec<_>>()
        );
    }
}
