//! Programs and their circular buffers: what an op's program factory creates per core, where
//! tt-metal places it in L1, and the per-core peaks TT-NN's graph capture reports.
//!
//! - A circular buffer (CB) — or, in program factories ported to the newer API, a dataflow
//!   buffer (DFB) — lives on a set of cores for as long as its program runs. Its size is per core.
//! - `ProgramImpl::allocate_circular_buffers` (tt_metal/impl/program/program.cpp) keeps one
//!   region per distinct core range; each CB goes at the highest end among the regions of its
//!   core ranges, rounded up to the DRAM alignment, and extends those regions.
//!   Globally allocated CBs (bound to a tensor's own L1 buffer) take no room.
//! - `extract_resource_usage_per_core` (ttnn graph_trace_utils.cpp) sums the sizes of a
//!   program's non-global CBs (and, separately, DFBs and scratchpads) regardless of their core
//!   ranges: that sum is the "peak CB per core" this crate reports and calibrates.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A rectangle of worker cores, inclusive: `[x0-y0 - x1-y1]` in tt-metal's notation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CoreRange {
    pub x0: u32,
    pub y0: u32,
    pub x1: u32,
    pub y1: u32,
}

impl CoreRange {
    pub const fn new(x0: u32, y0: u32, x1: u32, y1: u32) -> CoreRange {
        CoreRange { x0, y0, x1, y1 }
    }

    /// The whole `gx × gy` grid.
    pub const fn grid(gx: u32, gy: u32) -> CoreRange {
        CoreRange::new(0, 0, gx - 1, gy - 1)
    }

    pub fn cores(&self) -> u64 {
        u64::from(self.x1 - self.x0 + 1) * u64::from(self.y1 - self.y0 + 1)
    }

    pub fn intersects(&self, o: &CoreRange) -> bool {
        self.x0 <= o.x1 && o.x0 <= self.x1 && self.y0 <= o.y1 && o.y0 <= self.y1
    }
}

impl fmt::Display for CoreRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}-{} - {}-{}]", self.x0, self.y0, self.x1, self.y1)
    }
}

/// Several core ranges (`{[0-0 - 7-6], [0-7 - 3-7]}`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct CoreRangeSet(pub Vec<CoreRange>);

impl CoreRangeSet {
    pub fn one(r: CoreRange) -> CoreRangeSet {
        CoreRangeSet(vec![r])
    }

    pub fn cores(&self) -> u64 {
        self.0.iter().map(CoreRange::cores).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Columns and rows of the set's bounding box (tt-metal's `bounding_box().grid_size()`);
    /// (0, 0) for an empty set.
    pub fn bounding_size(&self) -> (u32, u32) {
        let (Some(x0), Some(x1), Some(y0), Some(y1)) = (
            self.0.iter().map(|r| r.x0).min(),
            self.0.iter().map(|r| r.x1).max(),
            self.0.iter().map(|r| r.y0).min(),
            self.0.iter().map(|r| r.y1).max(),
        ) else {
            return (0, 0);
        };
        (x1 - x0 + 1, y1 - y0 + 1)
    }

    /// The union of two sets (ranges of `other` not already present are appended).
    pub fn merged(&self, other: &CoreRangeSet) -> CoreRangeSet {
        let mut out = self.0.clone();
        for r in &other.0 {
            if !out.contains(r) {
                out.push(*r);
            }
        }
        CoreRangeSet(out)
    }

    /// Parses tt-metal's rendering, `{[0-0 - 7-7], [0-8 - 3-9]}`.
    pub fn parse(text: &str) -> Option<CoreRangeSet> {
        let inner = text.trim().strip_prefix('{')?.strip_suffix('}')?;
        let mut out = Vec::new();
        for part in inner.split("],") {
            let part = part.trim().trim_start_matches('[').trim_end_matches(']');
            if part.is_empty() {
                continue;
            }
            let (a, b) = part.split_once(" - ")?;
            let xy = |s: &str| -> Option<(u32, u32)> {
                let (x, y) = s.trim().split_once('-')?;
                Some((x.parse().ok()?, y.parse().ok()?))
            };
            let (x0, y0) = xy(a)?;
            let (x1, y1) = xy(b)?;
            out.push(CoreRange::new(x0, y0, x1, y1));
        }
        Some(CoreRangeSet(out))
    }
}

impl fmt::Display for CoreRangeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, r) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{r}")?;
        }
        f.write_str("}")
    }
}

/// How a program's per-core buffer is declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CbKind {
    /// `CreateCircularBuffer` (graph node `circular_buffer_allocate`).
    Circular,
    /// A dataflow buffer of the newer program API (`dataflow_buffer_allocate`).
    Dataflow,
    /// A program scratchpad (`scratchpad_allocate`).
    Scratchpad,
}

/// One circular / dataflow buffer of a program.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cb {
    pub kind: CbKind,
    /// Bytes per core.
    pub size: u64,
    pub cores: CoreRangeSet,
    /// Bound to a tensor's L1 buffer (`globally_allocated` / `borrows_memory`): takes no room.
    pub global: bool,
    /// Whether the graph capture reports it (a few factories add small buffers the capture does
    /// not list; they still take room in the region).
    pub traced: bool,
}

impl Cb {
    pub fn new(kind: CbKind, size: u64, cores: CoreRangeSet) -> Cb {
        Cb {
            kind,
            size,
            cores,
            global: false,
            traced: true,
        }
    }
}

/// One program an op runs, with its buffers in creation order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Program {
    /// The device operation (`BinaryNgDeviceOperation`).
    pub op: &'static str,
    /// Its program factory (`ProgramFactory`, `SliceTileProgramFactory`, ...).
    pub factory: &'static str,
    pub cbs: Vec<Cb>,
    /// The program a device run builds where it differs from what a NO_DISPATCH graph capture
    /// records (matmul's auto config reads the lowest occupied L1 address, and a capture
    /// allocates no buffer for real): the allocator model runs this one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_device: Option<Box<Program>>,
    /// tt-metal refuses to create this program (a TT_FATAL that is no memory check, e.g. a CB
    /// of more than 65535 pages), with its message: the op raises here. Such a program has no
    /// buffers and the graph capture records nothing of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
}

/// Per-core peaks of a run of programs and buffers, as the graph capture computes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Peaks {
    pub cb: u64,
    pub dataflow: u64,
    pub l1: u64,
    pub total: u64,
}

impl Program {
    pub fn new(op: &'static str, factory: &'static str) -> Program {
        Program {
            op,
            factory,
            cbs: Vec::new(),
            on_device: None,
            refused: None,
        }
    }

    /// The same op, refused by tt-metal with `message` when it is created.
    pub fn refused(mut self, message: String) -> Program {
        self.refused = Some(message);
        self
    }

    /// The same op with `device` as the program a device run builds.
    pub fn on_device(mut self, device: Program) -> Program {
        self.on_device = Some(Box::new(device));
        self
    }

    /// The program a device run builds: [`Program::on_device`] if set, else this one.
    pub fn as_run(&self) -> &Program {
        self.on_device.as_deref().unwrap_or(self)
    }

    pub fn cb(mut self, kind: CbKind, size: u64, cores: &CoreRangeSet) -> Program {
        self.cbs.push(Cb::new(kind, size, cores.clone()));
        self
    }

    pub fn push(&mut self, cb: Cb) {
        self.cbs.push(cb);
    }

    /// The kind that names the program's buffers in tt-metal's messages.
    /// Bytes of its circular / dataflow buffers and scratchpads summed over every core they
    /// live on (buffers bound to a tensor's L1 take no room of their own and are left out).
    pub fn cb_bytes(&self) -> u64 {
        self.cbs.iter().filter(|c| !c.global).fold(0u64, |acc, c| {
            acc.saturating_add(c.size.saturating_mul(c.cores.cores()))
        })
    }

    pub fn kind(&self) -> CbKind {
        if self.cbs.is_empty() || self.cbs.iter().any(|c| c.kind == CbKind::Circular) {
            CbKind::Circular
        } else {
            CbKind::Dataflow
        }
    }

    /// Bytes per core the graph capture reports for this program: (CB, DFB, scratchpad).
    pub fn traced_sums(&self) -> (u64, u64, u64) {
        let mut s = (0, 0, 0);
        for c in self.cbs.iter().filter(|c| c.traced && !c.global) {
            match c.kind {
                CbKind::Circular => s.0 += c.size,
                CbKind::Dataflow => s.1 += c.size,
                CbKind::Scratchpad => s.2 += c.size,
            }
        }
        s
    }

    /// Where each core range's static buffers end, in order of first use: `allocate_circular_
    /// buffers` with CBs starting at `base` (the L1 unreserved base) and aligned to `align` (the
    /// DRAM alignment).
    pub fn cb_regions(&self, base: u64, align: u64) -> Vec<(CoreRange, u64)> {
        // One allocator per distinct core range, in order of first appearance; each keeps its
        // regions as a list of [start, end) and reports the end of the last one.
        let mut allocators: Vec<(CoreRange, Vec<(u64, u64)>)> = Vec::new();
        for cb in &self.cbs {
            for r in &cb.cores.0 {
                if !allocators.iter().any(|(c, _)| c == r) {
                    allocators.push((*r, Vec::new()));
                }
            }
        }
        let end_of = |regions: &Vec<(u64, u64)>| regions.last().map_or(base, |r| r.1);
        for cb in self.cbs.iter().filter(|c| !c.global) {
            let mut addr = base;
            for r in &cb.cores.0 {
                if let Some((_, regions)) = allocators.iter().find(|(c, _)| c == r) {
                    addr = addr.max(end_of(regions));
                }
            }
            addr = addr.div_ceil(align) * align;
            for r in &cb.cores.0 {
                for (c, regions) in allocators.iter_mut() {
                    if !c.intersects(r) {
                        continue;
                    }
                    if c != r && addr < end_of(regions) {
                        continue;
                    }
                    if regions.is_empty() {
                        regions.push((base, base));
                    }
                    let last = regions.last_mut().expect("just pushed");
                    if addr == last.1 {
                        last.1 += cb.size;
                    } else {
                        regions.push((addr, addr + cb.size));
                    }
                }
            }
        }
        allocators
            .into_iter()
            .filter(|(_, regions)| !regions.is_empty())
            .map(|(c, regions)| (c, regions.last().map_or(base, |r| r.1)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid() -> CoreRangeSet {
        CoreRangeSet::one(CoreRange::grid(8, 8))
    }

    #[test]
    fn regions_match_the_runtime_clash_messages() {
        // Region ends read from the runtime's clash messages (ttnn 0.81.1, mock n150 / p150,
        // L1 filled to one free tile per bank): silu 2 × 4096 DFBs, add 3 × 4096 CBs.
        let silu = Program::new("UnaryDeviceOperation", "ProgramFactory")
            .cb(CbKind::Dataflow, 4096, &grid())
            .cb(CbKind::Dataflow, 4096, &grid());
        assert_eq!(
            silu.cb_regions(105_824, 32),
            vec![(CoreRange::grid(8, 8), 114_016)]
        );
        assert_eq!(silu.kind(), CbKind::Dataflow);
        let add = Program::new("BinaryNgDeviceOperation", "ProgramFactory")
            .cb(CbKind::Circular, 4096, &grid())
            .cb(CbKind::Circular, 4096, &grid())
            .cb(CbKind::Circular, 4096, &grid());
        assert_eq!(add.cb_regions(111_744, 64)[0].1, 124_032);
        assert_eq!(add.traced_sums(), (12_288, 0, 0));
    }

    #[test]
    fn unaligned_sizes_push_the_next_buffer_to_the_alignment() {
        let p = Program::new("x", "y")
            .cb(CbKind::Dataflow, 4096, &grid())
            .cb(CbKind::Dataflow, 32, &grid())
            .cb(CbKind::Dataflow, 4096, &grid());
        // 105824 + 4096 = 109920; + 32 = 109952; aligned to 64 on Blackhole-like alignment.
        assert_eq!(p.cb_regions(105_824, 32)[0].1, 105_824 + 4096 + 32 + 4096);
        assert_eq!(p.cb_regions(111_744, 64)[0].1, 111_744 + 4096 + 64 + 4096);
    }

    #[test]
    fn disjoint_ranges_keep_their_own_regions() {
        let a = CoreRangeSet::one(CoreRange::new(0, 0, 7, 6));
        let b = CoreRangeSet::one(CoreRange::new(0, 7, 3, 7));
        let p = Program::new("x", "y")
            .cb(CbKind::Circular, 4096, &a.merged(&b))
            .cb(CbKind::Circular, 2048, &a)
            .cb(CbKind::Circular, 1024, &b);
        let r = p.cb_regions(1000, 32);
        assert_eq!(
            r,
            vec![(a.0[0], 1024 + 4096 + 2048), (b.0[0], 1024 + 4096 + 1024)]
        );
    }

    #[test]
    fn core_range_sets_round_trip() {
        let text = "{[0-0 - 7-6], [0-7 - 3-7]}";
        let s = CoreRangeSet::parse(text).unwrap();
        assert_eq!(s.to_string(), text);
        assert_eq!(s.cores(), 60);
        assert_eq!(CoreRangeSet::parse("{[0-0 - 10-9]}").unwrap().cores(), 110);
    }
}
