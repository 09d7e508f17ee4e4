//! Device specifications: the numbers tt-metal's allocator works with, as measured on the real
//! runtime (ttnn 0.81.1, `ttnn.get_memory_view` on a mock device; see DESIGN.md). These are the
//! single source of truth for every crate: the estimate, the `sim` backend and the cluster
//! descriptors `cargo xtask setup` writes for the mock devices all read them from here.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Chip architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arch {
    WormholeB0,
    Blackhole,
}

impl Arch {
    /// The name tt-umd cluster descriptors and `ttnn` use.
    pub fn name(self) -> &'static str {
        match self {
            Arch::WormholeB0 => "wormhole_b0",
            Arch::Blackhole => "blackhole",
        }
    }
}

/// A memory a buffer can live in (`ttnn.BufferType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BufferType {
    Dram,
    L1,
    L1Small,
}

impl BufferType {
    /// The spelling tt-metal uses in its messages ("L1", "DRAM", "L1_SMALL").
    pub fn tt_name(self) -> &'static str {
        match self {
            BufferType::Dram => "DRAM",
            BufferType::L1 => "L1",
            BufferType::L1Small => "L1_SMALL",
        }
    }

    /// The lower-case spelling of flags and reports.
    pub fn name(self) -> &'static str {
        match self {
            BufferType::Dram => "dram",
            BufferType::L1 => "l1",
            BufferType::L1Small => "l1_small",
        }
    }
}

impl fmt::Display for BufferType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for BufferType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "dram" => Ok(BufferType::Dram),
            "l1" => Ok(BufferType::L1),
            "l1_small" | "l1-small" => Ok(BufferType::L1Small),
            _ => Err(format!(
                "unknown buffer type `{s}` (known: dram, l1, l1_small)"
            )),
        }
    }
}

/// What a tt-umd cluster descriptor needs to describe this board as a mock device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MockDescriptor {
    pub board_id: u64,
    /// Harvested Tensix rows (bit mask); determines the worker grid the runtime reports.
    pub harvest_mask: u32,
    pub dram_harvesting_mask: u32,
    pub eth_harvesting_mask: u32,
    pub pcie_harvesting_mask: u32,
    /// Blackhole descriptors carry a chip unique id and a PCI address.
    pub chip_unique_id: Option<u64>,
}

/// One Tenstorrent board with one chip (meshes compose these).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DeviceSpec {
    /// Board name used in flags and shapes.toml (`n150`, `p150`).
    pub name: &'static str,
    pub arch: Arch,
    /// Worker (Tensix compute-with-storage) grid, x × y.
    pub grid_x: u32,
    pub grid_y: u32,
    /// L1 banks for interleaved buffers (one per worker core).
    pub l1_banks: u64,
    /// Allocatable bytes per L1 bank when the device is opened with `l1_small_size = 0`.
    pub l1_bank_bytes: u64,
    /// Bytes of L1 per core in all (the firmware-reserved bottom included).
    pub l1_bytes_per_core: u64,
    /// Lowest allocatable L1 address: circular buffers grow up from here.
    pub l1_unreserved_base: u64,
    pub dram_banks: u64,
    pub dram_bank_bytes: u64,
    /// Lowest allocatable DRAM address (DRAM buffers grow up from here in every bank).
    pub dram_unreserved_base: u64,
    pub l1_alignment: u64,
    pub dram_alignment: u64,
    pub mock: MockDescriptor,
}

/// n150: one Wormhole B0, 8×8 workers (measured: ttnn 0.81.1, mock device).
pub const N150: DeviceSpec = DeviceSpec {
    name: "n150",
    arch: Arch::WormholeB0,
    grid_x: 8,
    grid_y: 8,
    l1_banks: 64,
    l1_bank_bytes: 1_393_312,
    l1_bytes_per_core: 1_499_136,
    l1_unreserved_base: 1_499_136 - 1_393_312,
    dram_banks: 12,
    dram_bank_bytes: 1_072_693_184,
    dram_unreserved_base: 1_048_640,
    l1_alignment: 16,
    dram_alignment: 32,
    mock: MockDescriptor {
        board_id: 72_059_269_368_820_857,
        harvest_mask: 64,
        dram_harvesting_mask: 0,
        eth_harvesting_mask: 0,
        pcie_harvesting_mask: 0,
        chip_unique_id: None,
    },
};

/// p150: one Blackhole, 11×10 workers (measured: ttnn 0.81.1, mock device).
pub const P150: DeviceSpec = DeviceSpec {
    name: "p150",
    arch: Arch::Blackhole,
    grid_x: 11,
    grid_y: 10,
    l1_banks: 110,
    l1_bank_bytes: 1_461_120,
    l1_bytes_per_core: 1_572_864,
    l1_unreserved_base: 1_572_864 - 1_461_120,
    dram_banks: 8,
    dram_bank_bytes: 4_277_141_376,
    dram_unreserved_base: 1_048_704,
    l1_alignment: 16,
    dram_alignment: 64,
    mock: MockDescriptor {
        board_id: 4_402_341_478_400,
        harvest_mask: 192,
        dram_harvesting_mask: 0,
        eth_harvesting_mask: 288,
        pcie_harvesting_mask: 2,
        chip_unique_id: Some(4_476_187_513_037),
    },
};

/// Every single-chip device memmodel knows.
pub const DEVICES: [&DeviceSpec; 2] = [&N150, &P150];

impl DeviceSpec {
    /// Look a device up by name; the error lists the known names.
    pub fn by_name(name: &str) -> Result<&'static DeviceSpec, String> {
        let wanted = name.trim().to_ascii_lowercase();
        DEVICES
            .into_iter()
            .find(|d| d.name == wanted)
            .ok_or_else(|| {
                format!(
                    "unknown device `{name}` (known: {})",
                    DEVICES
                        .iter()
                        .map(|d| d.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
    }

    /// Worker cores (= L1 banks for interleaved buffers).
    pub fn worker_cores(&self) -> u64 {
        u64::from(self.grid_x) * u64::from(self.grid_y)
    }

    /// Banks of a buffer type.
    pub fn banks(&self, buffer_type: BufferType) -> u64 {
        match buffer_type {
            BufferType::Dram => self.dram_banks,
            BufferType::L1 | BufferType::L1Small => self.l1_banks,
        }
    }

    /// Allocatable bytes per bank with the device opened with `l1_small_size` bytes of L1_SMALL
    /// (tt-metal carves L1_SMALL off the top of every L1 bank at device open).
    pub fn bank_bytes(&self, buffer_type: BufferType, l1_small_size: u64) -> u64 {
        match buffer_type {
            BufferType::Dram => self.dram_bank_bytes,
            BufferType::L1 => self.l1_bank_bytes.saturating_sub(l1_small_size),
            BufferType::L1Small => l1_small_size.min(self.l1_bank_bytes),
        }
    }

    /// Bank alignment of a buffer type (pages are rounded up to it in each bank).
    pub fn alignment(&self, buffer_type: BufferType) -> u64 {
        match buffer_type {
            BufferType::Dram => self.dram_alignment,
            BufferType::L1 | BufferType::L1Small => self.l1_alignment,
        }
    }

    /// The tt-umd cluster descriptor (YAML) that makes the runtime open this board as a mock
    /// device (`TT_METAL_MOCK_CLUSTER_DESC_PATH`).
    pub fn mock_cluster_descriptor(&self) -> String {
        let m = &self.mock;
        let mut y = String::new();
        y.push_str(&format!("arch:\n  0: {}\n", self.arch.name()));
        match self.arch {
            Arch::WormholeB0 => y.push_str("chips:\n  0:\n    - 0\n    - 0\n    - 0\n    - 0\n"),
            Arch::Blackhole => y.push_str("chips:\n  {}\n"),
        }
        if let Some(uid) = m.chip_unique_id {
            y.push_str(&format!("chip_unique_ids:\n  0: {uid}\n"));
        }
        y.push_str("ethernet_connections:\n  []\n");
        if m.chip_unique_id.is_some() {
            y.push_str("ethernet_connections_to_remote_devices:\n  []\n");
        }
        y.push_str("chips_with_mmio:\n  - 0: 0\n");
        if m.chip_unique_id.is_some() {
            y.push_str("io_device_type: PCIe\n");
        }
        y.push_str(&format!(
            "harvesting:\n  0:\n    noc_translation: true\n    harvest_mask: {}\n    dram_harvesting_mask: {}\n    eth_harvesting_mask: {}\n    pcie_harvesting_mask: {}\n",
            m.harvest_mask, m.dram_harvesting_mask, m.eth_harvesting_mask, m.pcie_harvesting_mask
        ));
        if m.chip_unique_id.is_some() {
            y.push_str("    l2cpu_harvesting_mask: 0\nchip_to_bus_id:\n  0: \"0x01\"\n");
        }
        y.push_str(&format!(
            "boards:\n  -\n    - board_id: {}\n    - board_type: {}\n    - chips:\n        - 0\n",
            m.board_id, self.name
        ));
        if m.chip_unique_id.is_some() {
            y.push_str("asic_locations:\n  0: 0\nchip_pci_bdfs:\n  0: 0000:01:00.0\n");
        }
        y
    }
}

/// L1_SMALL the pinned runtime's max_pool2d needs; the checked recipe opens with 32 KiB.
pub const MAX_POOL_L1_SMALL: u64 = 32 * 1024;

/// L1_SMALL the pinned runtime's conv2d is opened with: its halo and conv config tensors go there
/// (measured on ttnn 0.81.1, mock n150: 160 B per bank held by the program cache after a
/// 32×32×64 conv, 832 B after a 640×640×96 one in DRAM slices; with 0 B the call fails with the
/// L1_SMALL out-of-memory text). The same 32 KiB the max_pool2d recipe opens with.
pub const CONV2D_L1_SMALL: u64 = 32 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn l1_small_comes_off_the_l1_bank() {
        assert_eq!(N150.bank_bytes(BufferType::L1, 32768), 1_360_544);
        assert_eq!(P150.bank_bytes(BufferType::L1, 32768), 1_428_352);
        assert_eq!(N150.bank_bytes(BufferType::L1, 0), 1_393_312);
    }

    #[test]
    fn grid_matches_banks() {
        for d in DEVICES {
            assert_eq!(d.worker_cores(), d.l1_banks, "{}", d.name);
        }
    }

    #[test]
    fn unknown_device_lists_known() {
        let err = DeviceSpec::by_name("n300x").unwrap_err();
        assert!(err.contains("n150") && err.contains("p150"), "{err}");
    }
}
