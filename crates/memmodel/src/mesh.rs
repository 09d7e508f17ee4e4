//! Meshes of chips: n300 (2 Wormhole chips), T3K (8) and Galaxy (32). A tensor on a mesh is
//! either replicated (every chip holds all of it) or sharded along a dim (every chip holds
//! `ceil(dim / chips)` of it); each chip then runs the op on its piece with its own banks, so a
//! mesh case's verdict is the verdict of its largest per-chip case on the chip.
//!
//! Each chip is modeled as an n150-class Wormhole (8×8 workers, the same L1 and DRAM banks).
//! For n300 that is checked on the real runtime: a mock n300 ([`MeshSpec::mock_cluster_descriptor`])
//! opens as a 1×2 mesh whose chips have n150's banks, and a replicated tensor takes memmodel's
//! per-chip bytes on each chip (`crates/ttnn/tests/mock_mesh.rs`). T3K and Galaxy are modeled
//! only (their ethernet topologies are not described here). Multi-chip communication buffers
//! (fabric, CCL) are not modeled.

use crate::case::Case;
use crate::device::{DeviceSpec, N150};
use crate::shape::Shape;
use serde::Serialize;

/// A mesh of identical chips.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MeshSpec {
    pub name: &'static str,
    /// What each chip is, memory-wise.
    #[serde(skip)]
    pub chip: &'static DeviceSpec,
    pub chips: u64,
}

pub const N300: MeshSpec = MeshSpec {
    name: "n300",
    chip: &N150,
    chips: 2,
};
pub const T3K: MeshSpec = MeshSpec {
    name: "t3k",
    chip: &N150,
    chips: 8,
};
pub const GALAXY: MeshSpec = MeshSpec {
    name: "galaxy",
    chip: &N150,
    chips: 32,
};

/// Every mesh, smallest first.
pub const MESHES: [&MeshSpec; 3] = [&N300, &T3K, &GALAXY];

impl MeshSpec {
    pub fn by_name(name: &str) -> Result<&'static MeshSpec, String> {
        let wanted = name.trim().to_ascii_lowercase();
        MESHES
            .into_iter()
            .find(|m| m.name == wanted)
            .ok_or_else(|| {
                format!(
                    "unknown mesh `{name}` (known: {})",
                    MESHES.iter().map(|m| m.name).collect::<Vec<_>>().join(", ")
                )
            })
    }

    /// A mock cluster descriptor of the mesh for tt-metal (`TT_METAL_MOCK_CLUSTER_DESC_PATH`):
    /// n300 only — two Wormhole chips with the n150 chip's harvesting, joined by two ethernet
    /// links (chip 0 channels 8 and 9 to chip 1 channels 0 and 1), chip 0 on PCIe.
    pub fn mock_cluster_descriptor(&self) -> Option<String> {
        if self.name != N300.name {
            return None;
        }
        let m = &self.chip.mock;
        let mut y = String::new();
        y.push_str("arch:\n  0: wormhole_b0\n  1: wormhole_b0\n");
        y.push_str("chips:\n  0:\n    - 0\n    - 0\n    - 0\n    - 0\n  1:\n    - 1\n    - 0\n    - 0\n    - 0\n");
        y.push_str("ethernet_connections:\n");
        for (a, b) in [(8, 0), (9, 1)] {
            y.push_str(&format!(
                "  - - chip: 0\n      chan: {a}\n    - chip: 1\n      chan: {b}\n"
            ));
        }
        y.push_str("chips_with_mmio:\n  - 0: 0\nharvesting:\n");
        for chip in 0..2 {
            y.push_str(&format!(
                "  {chip}:\n    noc_translation: true\n    harvest_mask: {}\n    dram_harvesting_mask: {}\n    eth_harvesting_mask: {}\n    pcie_harvesting_mask: {}\n",
                m.harvest_mask, m.dram_harvesting_mask, m.eth_harvesting_mask, m.pcie_harvesting_mask
            ));
        }
        y.push_str(&format!(
            "boards:\n  -\n    - board_id: {}\n    - board_type: n300\n    - chips:\n        - 0\n        - 1\n",
            m.board_id
        ));
        Some(y)
    }

    /// L1 bytes of the whole mesh (all chips' L1 banks).
    pub fn l1_bytes(&self) -> u64 {
        self.chips
            .saturating_mul(self.chip.l1_banks)
            .saturating_mul(self.chip.l1_bank_bytes)
    }
}

/// How a case's tensors are laid over the chips.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Distribution {
    /// Every chip holds the whole tensor: no memory relief, only throughput.
    Replicated,
    /// Model dim `dim` of the first input is split over the chips.
    Sharded { dim: usize },
}

/// The case one chip runs: the chip's share of `case` on `mesh`, or `None` when the op cannot
/// take that share (e.g. a dim smaller than the chip count, or a share the op rejects).
pub fn per_chip_case(case: &Case, mesh: &MeshSpec, distribution: Distribution) -> Option<Case> {
    let mut chip_case = match distribution {
        Distribution::Replicated => case.clone(),
        Distribution::Sharded { dim } => {
            let extent = *case.model_inputs.first()?.dims().get(dim)?;
            if extent < mesh.chips {
                return None;
            }
            crate::fix::chunk_case(case, dim, extent.div_ceil(mesh.chips))?
        }
    };
    chip_case.device = mesh.chip;
    chip_case.signature().ok()?;
    Some(chip_case)
}

/// The per-chip share of a shape along `dim`.
pub fn shard_shape(shape: &Shape, dim: usize, chips: u64) -> Option<Shape> {
    let extent = *shape.dims().get(dim)?;
    shape.with_dim(dim, extent.div_ceil(chips.max(1))).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::Verdict;
    use crate::device::BufferType;
    use crate::DeviceLayout;

    fn silu_4k() -> Case {
        let mut case = Case::new(
            crate::find_op("silu").unwrap(),
            vec![Shape::parse("1,96,2160,3840").unwrap()],
            &N150,
        );
        case.device_layout = DeviceLayout::Nhwc;
        case
    }

    #[test]
    fn sharding_divides_the_per_chip_bytes_and_replication_does_not() {
        let case = silu_4k();
        let whole = case.estimate().unwrap().placement.per_bank_bytes;
        let replicated = per_chip_case(&case, &GALAXY, Distribution::Replicated).unwrap();
        assert_eq!(
            replicated.estimate().unwrap().placement.per_bank_bytes,
            whole
        );
        let sharded = per_chip_case(&case, &GALAXY, Distribution::Sharded { dim: 2 }).unwrap();
        assert_eq!(sharded.model_inputs[0].dims(), &[1, 96, 68, 3840]);
        let per_chip = sharded.estimate().unwrap();
        assert!(
            per_chip.placement.per_bank_bytes * 31 < whole,
            "{} vs {whole}",
            per_chip.placement.per_bank_bytes
        );
        // 1/32 of a 4K map is 0.78 MB per bank: input and output together still exceed L1.
        assert!(per_chip.verdict.is_oom());
        let mut in_dram = sharded.clone();
        in_dram.output_memory = BufferType::Dram;
        assert_eq!(in_dram.estimate().unwrap().verdict, Verdict::Fits);
    }

    #[test]
    fn a_dim_smaller_than_the_mesh_cannot_be_sharded() {
        let case = silu_4k();
        assert!(per_chip_case(&case, &GALAXY, Distribution::Sharded { dim: 0 }).is_none());
        assert!(MeshSpec::by_name("t3000").unwrap_err().contains("t3k"));
    }
}
