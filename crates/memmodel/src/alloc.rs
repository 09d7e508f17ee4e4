//! tt-metal's device allocator, modeled: one banked free list per buffer type, as
//! `BankManager` (tt_metal/impl/allocator/bank_manager.cpp) builds it over `FreeListOpt`
//! (algorithms/free_list_opt.cpp) with the `FIRST` search policy in ttnn 0.81.1.
//!
//! The rules, each checked on the real runtime (mock n150 / p150; see `tests` below):
//! - Every bank of a buffer type shares one address space: an interleaved buffer reserves the
//!   same per-bank range in all banks, so one free list stands for all of them.
//! - A buffer needs `ceil(pages / banks) × round_up(page_size, buffer alignment)` bytes per bank
//!   (L1 alignment 16, DRAM alignment 32 on Wormhole, 64 on Blackhole); the free list rounds that
//!   up again to its own alignment, which is the *DRAM* alignment for every buffer type
//!   (`init_allocators` passes `hal.get_alignment(DRAM)`), so a 48 B-per-bank L1 buffer takes
//!   64 B of the bank.
//! - `FIRST` takes, among the free blocks large enough, the one at the lowest address when
//!   allocating bottom-up (DRAM) and the highest when allocating top-down (L1, L1_SMALL);
//!   top-down allocations take the top of their block. Freed blocks merge with free neighbours.
//! - The statistics the OOM message prints are per bank: allocated = sum of allocated blocks
//!   (after the free list's rounding), free = the rest, largest free block; an allocator with
//!   nothing allocated reports its whole size as free.
//! - L1 lives in `[l1_unreserved_base, l1_unreserved_base + bank)` with L1_SMALL carved off the
//!   top at device open; DRAM starts at the DRAM unreserved base.
//!
//! [`DeviceMemory`] puts the three together with the program checks of `program.cpp`
//! (circular buffers against the lowest L1 buffer, and against the end of L1). It is the one
//! model the estimate ([`crate::case::Case::estimate`]) and the `sim` backend both run.

use crate::device::{BufferType, DeviceSpec};
use crate::program::{CbKind, CoreRange, Program};
use crate::size;
use serde::Serialize;

/// One block of a free list (addresses relative to the list's offset).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Block {
    addr: u64,
    size: u64,
    allocated: bool,
}

/// What a free list holds, per bank.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Stats {
    pub total: u64,
    pub allocated: u64,
    pub free: u64,
    pub largest_free: u64,
}

/// `FreeListOpt` with the `FIRST` policy: blocks sorted by address, covering the whole range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreeList {
    offset: u64,
    max_size: u64,
    alignment: u64,
    blocks: Vec<Block>,
}

impl FreeList {
    /// A list of `max_size` bytes starting at absolute address `offset`, rounding every request
    /// up to `alignment` (also the minimum allocation).
    pub fn new(max_size: u64, offset: u64, alignment: u64) -> FreeList {
        let mut list = FreeList {
            offset,
            max_size,
            alignment: alignment.max(1),
            blocks: Vec::with_capacity(8),
        };
        list.clear();
        list
    }

    /// Frees everything.
    pub fn clear(&mut self) {
        self.blocks.clear();
        if self.max_size > 0 {
            self.blocks.push(Block {
                addr: 0,
                size: self.max_size,
                allocated: false,
            });
        }
    }

    /// Bytes a request of `size` takes in the list.
    pub fn block_size(&self, size: u64) -> Option<u64> {
        let size = size.max(self.alignment);
        size.checked_add(self.alignment - 1)
            .map(|s| s / self.alignment * self.alignment)
    }

    /// Allocates `size` bytes; the absolute address, or `None` when no free block is large enough.
    pub fn allocate(&mut self, size: u64, bottom_up: bool) -> Option<u64> {
        let want = self.block_size(size)?;
        let fits = |b: &Block| !b.allocated && b.size >= want;
        let index = if bottom_up {
            self.blocks.iter().position(fits)?
        } else {
            self.blocks.iter().rposition(fits)?
        };
        let block = self.blocks[index];
        // The block splits into at most two: the allocation at its bottom (bottom-up) or top
        // (top-down) and the free rest on the other side; edited in place, one insert at most
        // (this runs on every buffer sim places).
        let rest = block.size - want;
        let taken = Block {
            addr: if bottom_up {
                block.addr
            } else {
                block.addr + rest
            },
            size: want,
            allocated: true,
        };
        let addr = taken.addr;
        if rest == 0 {
            self.blocks[index] = taken;
        } else if bottom_up {
            self.blocks[index] = taken;
            self.blocks.insert(
                index + 1,
                Block {
                    addr: addr + want,
                    size: rest,
                    allocated: false,
                },
            );
        } else {
            self.blocks[index].size = rest;
            self.blocks.insert(index + 1, taken);
        }
        Some(addr + self.offset)
    }

    /// Frees the allocation at absolute address `address`; false when nothing is allocated there
    /// (tt-metal ignores such frees too).
    pub fn deallocate(&mut self, address: u64) -> bool {
        let Some(rel) = address.checked_sub(self.offset) else {
            return false;
        };
        let Some(mut i) = self
            .blocks
            .iter()
            .position(|b| b.allocated && b.addr == rel)
        else {
            return false;
        };
        self.blocks[i].allocated = false;
        if i + 1 < self.blocks.len() && !self.blocks[i + 1].allocated {
            self.blocks[i].size += self.blocks[i + 1].size;
            self.blocks.remove(i + 1);
        }
        if i > 0 && !self.blocks[i - 1].allocated {
            self.blocks[i - 1].size += self.blocks[i].size;
            self.blocks.remove(i);
            i -= 1;
        }
        let _ = i;
        true
    }

    /// `get_statistics()`.
    pub fn stats(&self) -> Stats {
        let mut s = Stats {
            total: self.max_size,
            ..Stats::default()
        };
        for b in &self.blocks {
            if b.allocated {
                s.allocated += b.size;
            } else {
                s.free += b.size;
                s.largest_free = s.largest_free.max(b.size);
            }
        }
        if s.allocated == 0 {
            s.free = self.max_size;
            s.largest_free = self.max_size;
        }
        s
    }

    /// The lowest allocated absolute address.
    pub fn lowest_occupied(&self) -> Option<u64> {
        self.blocks
            .iter()
            .find(|b| b.allocated)
            .map(|b| b.addr + self.offset)
    }

    /// Allocated ranges, absolute `[start, end)`, by address.
    pub fn allocated_ranges(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.blocks
            .iter()
            .filter(|b| b.allocated)
            .map(|b| (b.addr + self.offset, b.addr + self.offset + b.size))
    }

    pub fn max_size(&self) -> u64 {
        self.max_size
    }

    /// The absolute address just past the list's range (where top-down allocation starts).
    pub fn end(&self) -> u64 {
        self.offset.saturating_add(self.max_size)
    }
}

/// One buffer to place: the numbers `BankManager::allocate_buffer` works with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BufferRequest {
    pub buffer_type: BufferType,
    /// What the OOM message calls the buffer's size: pages × aligned page size.
    pub aligned_size: u64,
    /// Banks the buffer spreads over (all banks when interleaved, the shard count when sharded).
    pub banks: u64,
    /// Bytes each bank must hold (before the free list's own rounding).
    pub per_bank: u64,
}

/// The allocator refused a buffer: the numbers of tt-metal's "Out of Memory" message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutOfMemory {
    pub buffer_type: BufferType,
    pub size: u64,
    pub banks: u64,
    pub per_bank: u64,
    pub bank_size: u64,
    pub allocated: u64,
    pub free: u64,
    pub largest_free_block: u64,
}

impl OutOfMemory {
    /// tt-metal's text (bank_manager.cpp), with the hint the pinned runtime appends to an
    /// L1_SMALL one (`l1_small_hint`: one for an empty region, another for a full one).
    pub fn message(&self) -> String {
        let mut m = oom_message(
            self.size,
            self.buffer_type,
            self.banks,
            self.per_bank,
            self.bank_size,
            self.allocated,
            self.free,
            self.largest_free_block,
        );
        if self.buffer_type == BufferType::L1Small {
            m.push_str(if self.bank_size == 0 {
                L1_SMALL_HINT
            } else {
                L1_SMALL_FULL_HINT
            });
        }
        m
    }
}

/// What the pinned runtime appends to an L1_SMALL OOM when no L1_SMALL was reserved.
pub const L1_SMALL_HINT: &str = " The L1_SMALL region is 0 B because it is reserved at device open; set l1_small_size large enough for this allocation when opening the device.";

/// What the pinned runtime appends to an L1_SMALL OOM when the reserved region is full (seen
/// on the mock n150: max_pool2d on a device opened with `l1_small_size=64`).
pub const L1_SMALL_FULL_HINT: &str =
    " The L1_SMALL region is sized at device open; increase l1_small_size when opening the device.";

/// The banks of one buffer type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BankManager {
    pub buffer_type: BufferType,
    pub banks: u64,
    list: FreeList,
    bottom_up: bool,
}

impl BankManager {
    pub fn new(buffer_type: BufferType, banks: u64, list: FreeList) -> BankManager {
        BankManager {
            buffer_type,
            banks,
            list,
            bottom_up: buffer_type == BufferType::Dram,
        }
    }

    pub fn bank_size(&self) -> u64 {
        self.list.max_size()
    }

    /// Places a buffer; its absolute address, or the OOM numbers.
    pub fn allocate(&mut self, req: &BufferRequest) -> Result<u64, OutOfMemory> {
        self.list
            .allocate(req.per_bank, self.bottom_up)
            .ok_or_else(|| {
                let s = self.list.stats();
                OutOfMemory {
                    buffer_type: self.buffer_type,
                    size: req.aligned_size,
                    banks: req.banks,
                    per_bank: req.per_bank,
                    bank_size: self.list.max_size(),
                    allocated: s.allocated,
                    free: s.free,
                    largest_free_block: s.largest_free,
                }
            })
    }

    pub fn deallocate(&mut self, address: u64) -> bool {
        self.list.deallocate(address)
    }

    pub fn stats(&self) -> Stats {
        self.list.stats()
    }

    pub fn lowest_occupied(&self) -> Option<u64> {
        self.list.lowest_occupied()
    }

    /// The free list itself (a plan derives its program choices on a copy of the device's L1).
    pub fn list(&self) -> &FreeList {
        &self.list
    }

    pub fn clear(&mut self) {
        self.list.clear()
    }
}

/// A program's circular (or dataflow) buffers clash with an L1 buffer or grow past L1:
/// `program.cpp`'s `validate_circular_buffer_region`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CbError {
    Clash {
        program: u64,
        core_range: String,
        l1_buffer_at: u64,
        cb_region_end: u64,
        dataflow: bool,
    },
    BeyondL1 {
        core_range: String,
        cb_region_end: u64,
        l1_bytes: u64,
        dataflow: bool,
    },
}

impl CbError {
    /// tt-metal's text.
    pub fn message(&self) -> String {
        let word = |dataflow: bool| if dataflow { "dataflow" } else { "circular" };
        match self {
            CbError::Clash {
                program,
                core_range,
                l1_buffer_at,
                cb_region_end,
                dataflow,
            } => format!(
                "Statically allocated {w} buffers in program {program} clash with L1 buffers on core range {core_range}. L1 buffer allocated at {l1_buffer_at} and static {w} buffer region ends at {cb_region_end}",
                w = word(*dataflow)
            ),
            CbError::BeyondL1 {
                core_range,
                cb_region_end,
                l1_bytes,
                dataflow,
            } => format!(
                "Statically allocated {} buffers on core range {core_range} grow to {cb_region_end} B which is beyond max L1 size of {l1_bytes} B",
                word(*dataflow)
            ),
        }
    }
}

/// Any memory verdict of a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "error", rename_all = "snake_case")]
pub enum MemoryError {
    OutOfMemory(OutOfMemory),
    Cb(CbError),
}

impl MemoryError {
    pub fn message(&self) -> String {
        match self {
            MemoryError::OutOfMemory(o) => o.message(),
            MemoryError::Cb(c) => c.message(),
        }
    }
}

/// A device's memory: DRAM, L1 and L1_SMALL bank managers plus the circular-buffer checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceMemory {
    pub device: &'static DeviceSpec,
    pub l1_small_size: u64,
    pub dram: BankManager,
    pub l1: BankManager,
    pub l1_small: BankManager,
    /// Programs run so far (tt-metal numbers programs per process; see [`CbError::Clash`]).
    pub programs: u64,
}

impl DeviceMemory {
    /// The device as `open_device(l1_small_size=...)` leaves it. tt-metal rounds `l1_small_size`
    /// up to the DRAM alignment.
    pub fn open(device: &'static DeviceSpec, l1_small_size: u64) -> Result<DeviceMemory, String> {
        let align = device.dram_alignment;
        let l1_small =
            size::round_up(l1_small_size, align, "l1_small_size").map_err(|e| e.to_string())?;
        if l1_small >= device.l1_bank_bytes {
            return Err(format!(
                "l1_small_size {l1_small_size} B leaves no L1 on a {} (bank of {} B)",
                device.name, device.l1_bank_bytes
            ));
        }
        let l1_bytes = device.l1_bank_bytes - l1_small;
        Ok(DeviceMemory {
            device,
            l1_small_size: l1_small,
            dram: BankManager::new(
                BufferType::Dram,
                device.dram_banks,
                FreeList::new(device.dram_bank_bytes, device.dram_unreserved_base, align),
            ),
            l1: BankManager::new(
                BufferType::L1,
                device.l1_banks,
                FreeList::new(l1_bytes, device.l1_unreserved_base, align),
            ),
            l1_small: BankManager::new(
                BufferType::L1Small,
                device.l1_banks,
                FreeList::new(l1_small, device.l1_unreserved_base + l1_bytes, align),
            ),
            programs: 0,
        })
    }

    pub fn manager(&self, buffer_type: BufferType) -> &BankManager {
        match buffer_type {
            BufferType::Dram => &self.dram,
            BufferType::L1 => &self.l1,
            BufferType::L1Small => &self.l1_small,
        }
    }

    fn manager_mut(&mut self, buffer_type: BufferType) -> &mut BankManager {
        match buffer_type {
            BufferType::Dram => &mut self.dram,
            BufferType::L1 => &mut self.l1,
            BufferType::L1Small => &mut self.l1_small,
        }
    }

    pub fn allocate(&mut self, req: &BufferRequest) -> Result<u64, OutOfMemory> {
        self.manager_mut(req.buffer_type).allocate(req)
    }

    pub fn deallocate(&mut self, buffer_type: BufferType, address: u64) -> bool {
        self.manager_mut(buffer_type).deallocate(address)
    }

    pub fn stats(&self, buffer_type: BufferType) -> Stats {
        self.manager(buffer_type).stats()
    }

    /// Everything freed (a fresh device with the same L1_SMALL).
    pub fn clear(&mut self) {
        self.dram.clear();
        self.l1.clear();
        self.l1_small.clear();
    }

    /// Lays out a program's circular buffers and checks them against L1, as `Program` does
    /// before it runs (`allocate_circular_buffers` + `validate_circular_buffer_region`).
    /// Counts the program whatever the outcome.
    pub fn run_program(&mut self, program: &Program) -> Result<(), CbError> {
        self.run_laid_out(&CbLayout::of(program, self.device))
    }

    /// [`DeviceMemory::run_program`] with the program's layout already made (for this device).
    pub fn run_laid_out(&mut self, layout: &CbLayout) -> Result<(), CbError> {
        let id = self.programs;
        self.programs += 1;
        let lowest = self.l1.lowest_occupied();
        for &(range, end) in &layout.regions {
            if end > self.device.l1_bytes_per_core {
                return Err(CbError::BeyondL1 {
                    core_range: range.to_string(),
                    cb_region_end: end,
                    l1_bytes: self.device.l1_bytes_per_core,
                    dataflow: layout.dataflow,
                });
            }
            if let Some(at) = lowest.filter(|&at| at < end) {
                return Err(CbError::Clash {
                    program: id,
                    core_range: range.to_string(),
                    l1_buffer_at: at,
                    cb_region_end: end,
                    dataflow: layout.dataflow,
                });
            }
        }
        Ok(())
    }
}

/// A program's circular buffers as `allocate_circular_buffers` lays them out on a device: where
/// each core range's buffers end, in order of first use. It depends on the program and the
/// device alone, so a caller that runs the same program again (sim replaying a cached plan)
/// makes it once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CbLayout {
    regions: Vec<(CoreRange, u64)>,
    /// Whether tt-metal's messages call them dataflow buffers.
    dataflow: bool,
}

impl CbLayout {
    pub fn of(program: &Program, device: &DeviceSpec) -> CbLayout {
        CbLayout {
            regions: program.cb_regions(device.l1_unreserved_base, device.dram_alignment),
            dataflow: program.kind() != CbKind::Circular,
        }
    }
}

/// tt-metal's "Out of Memory" text (bank_manager.cpp in the pinned runtime).
#[allow(clippy::too_many_arguments)]
pub fn oom_message(
    total: u64,
    buffer_type: BufferType,
    banks: u64,
    per_bank: u64,
    bank: u64,
    allocated: u64,
    free: u64,
    largest: u64,
) -> String {
    format!(
        "Out of Memory: Not enough space to allocate {total} B {} buffer across {banks} banks, where each bank needs to store {per_bank} B, but bank size is {bank} B (allocated: {allocated} B, free: {free} B, largest free block: {largest} B).",
        buffer_type.tt_name()
    )
}

#[cfg(test)]
mod tests {
    //! Sequences probed on the real runtime (ttnn 0.81.1, mock devices, `ttnn.empty` /
    //! `ttnn.deallocate` / `buffer_address()` / `ttnn.get_memory_view`); the expected numbers
    //! are the runtime's.
    use super::*;
    use crate::device::{N150, P150};

    fn tiles(device: &DeviceSpec, tiles_per_bank: u64) -> BufferRequest {
        let per_bank = tiles_per_bank * 2048;
        BufferRequest {
            buffer_type: BufferType::L1,
            aligned_size: per_bank * device.l1_banks,
            banks: device.l1_banks,
            per_bank,
        }
    }

    #[test]
    fn l1_is_top_down_and_reuses_the_highest_hole() {
        // n150, l1_small 0: a (1 tile/bank), b (3), c (2); free b; d (1).
        for (device, l1_small, addrs, d_at) in [
            (&N150, 0, [1_497_088, 1_490_944, 1_486_848], 1_495_040),
            (&N150, 32768, [1_464_320, 1_458_176, 1_454_080], 1_462_272),
            (&P150, 0, [1_570_816, 1_564_672, 1_560_576], 1_568_768),
            (&P150, 32768, [1_538_048, 1_531_904, 1_527_808], 1_536_000),
        ] {
            let mut m = DeviceMemory::open(device, l1_small).unwrap();
            let a = m.allocate(&tiles(device, 1)).unwrap();
            let b = m.allocate(&tiles(device, 3)).unwrap();
            let c = m.allocate(&tiles(device, 2)).unwrap();
            assert_eq!([a, b, c], addrs, "{} {l1_small}", device.name);
            assert!(m.deallocate(BufferType::L1, b));
            let s = m.stats(BufferType::L1);
            assert_eq!(s.allocated, 6144);
            let d = m.allocate(&tiles(device, 1)).unwrap();
            assert_eq!(d, d_at, "{}", device.name);
        }
    }

    #[test]
    fn oom_after_fragmentation_reports_the_runtime_numbers() {
        // The runtime's text after a, c, d above and a request one tile larger than the largest
        // free block.
        let mut m = DeviceMemory::open(&N150, 0).unwrap();
        let _a = m.allocate(&tiles(&N150, 1)).unwrap();
        let b = m.allocate(&tiles(&N150, 3)).unwrap();
        let _c = m.allocate(&tiles(&N150, 2)).unwrap();
        m.deallocate(BufferType::L1, b);
        let _d = m.allocate(&tiles(&N150, 1)).unwrap();
        let err = m.allocate(&tiles(&N150, 1_381_024 / 2048 + 1)).unwrap_err();
        assert_eq!(
            err.message(),
            "Out of Memory: Not enough space to allocate 88473600 B L1 buffer across 64 banks, where each bank needs to store 1382400 B, but bank size is 1393312 B (allocated: 8192 B, free: 1385120 B, largest free block: 1381024 B)."
        );
    }

    #[test]
    fn the_free_list_rounds_to_the_dram_alignment() {
        // A row-major [1,1,3·banks,3] bf16 tensor in L1: 3 rows of 6 B per bank, 16 B each →
        // 48 B per bank, which the free list rounds to 64 (32-B DRAM alignment on Wormhole,
        // 64 on Blackhole); the runtime's allocated total went from 8192 to 8256 on both.
        for device in [&N150, &P150] {
            let mut m = DeviceMemory::open(device, 0).unwrap();
            for t in [1, 2, 1] {
                m.allocate(&tiles(device, t)).unwrap();
            }
            let at = m
                .allocate(&BufferRequest {
                    buffer_type: BufferType::L1,
                    aligned_size: 3 * device.l1_banks * 16,
                    banks: device.l1_banks,
                    per_bank: 48,
                })
                .unwrap();
            assert_eq!(m.stats(BufferType::L1).allocated, 8256, "{}", device.name);
            assert_eq!(at % 64, 0);
        }
    }

    #[test]
    fn dram_is_bottom_up_from_the_unreserved_base() {
        for (device, base) in [(&N150, 1_048_640), (&P150, 1_048_704)] {
            let mut m = DeviceMemory::open(device, 0).unwrap();
            let page = |n: u64| BufferRequest {
                buffer_type: BufferType::Dram,
                aligned_size: n * 2048,
                banks: device.dram_banks,
                per_bank: 2048,
            };
            let x = m.allocate(&page(1)).unwrap();
            let y = m.allocate(&page(4)).unwrap();
            let z = m.allocate(&page(1)).unwrap();
            assert_eq!([x, y, z], [base, base + 2048, base + 4096]);
            m.deallocate(BufferType::Dram, y);
            assert_eq!(m.allocate(&page(1)).unwrap(), base + 2048);
            assert_eq!(m.stats(BufferType::Dram).allocated, 6144);
        }
    }

    #[test]
    fn empty_lists_report_their_whole_size() {
        let m = DeviceMemory::open(&P150, 32768).unwrap();
        let s = m.stats(BufferType::L1);
        assert_eq!(
            (s.total, s.free, s.largest_free),
            (1_428_352, 1_428_352, 1_428_352)
        );
        assert_eq!(m.stats(BufferType::L1Small).total, 32768);
        let none = DeviceMemory::open(&N150, 0).unwrap();
        assert_eq!(none.stats(BufferType::L1Small), Stats::default());
    }

    #[test]
    fn frees_merge_back_to_one_block() {
        let mut m = DeviceMemory::open(&N150, 0).unwrap();
        let addrs: Vec<u64> = (1..5)
            .map(|t| m.allocate(&tiles(&N150, t)).unwrap())
            .collect();
        for a in [addrs[1], addrs[3], addrs[0], addrs[2]] {
            assert!(m.deallocate(BufferType::L1, a));
        }
        assert!(
            !m.deallocate(BufferType::L1, addrs[0]),
            "a double free is ignored"
        );
        assert_eq!(m, DeviceMemory::open(&N150, 0).unwrap());
    }

    #[test]
    fn a_full_l1_small_says_what_the_runtime_says() {
        // The runtime's words on the mock n150 (max_pool2d, l1_small_size=64).
        let runtime = "Out of Memory: Not enough space to allocate 2048 B L1_SMALL buffer across 64 banks, where each bank needs to store 32 B, but bank size is 64 B (allocated: 64 B, free: 0 B, largest free block: 0 B). The L1_SMALL region is sized at device open; increase l1_small_size when opening the device.";
        let oom = OutOfMemory {
            buffer_type: BufferType::L1Small,
            size: 2048,
            banks: 64,
            per_bank: 32,
            bank_size: 64,
            allocated: 64,
            free: 0,
            largest_free_block: 0,
        };
        assert_eq!(oom.message(), runtime);
        let empty = OutOfMemory {
            bank_size: 0,
            allocated: 0,
            ..oom
        };
        assert!(empty.message().ends_with(L1_SMALL_HINT));
    }
}
