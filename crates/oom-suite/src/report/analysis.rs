//! Every number of the report, computed once from the records. The Markdown and HTML renderings
//! only lay these out, so they cannot disagree.
//!
//! Definitions the report states in its text:
//! - a case's **device bytes**: the larger of the primary tensor as the device allocates it
//!   (`allocated_bytes`: tile-padded, in its device layout) and the allocation that failed
//!   (`total_bytes`). Memory categories and "critical" use these, never the logical size;
//! - a failed case's **need per bank**: what was already allocated in the bank plus what the
//!   failing buffer needed there (`bank_allocated_bytes + per_bank_bytes`), against
//!   `bank_bytes`; their ratio is the **factor over the bank**;
//! - a **shape** is the case's first input shape as written (model order) with its dtype.

use crate::record::{CaseRecord, Class, Report, Totals};
use memmodel::{size, BufferType, DType, DeviceSpec, Layout, Shape, TensorSpec};
use std::collections::{BTreeMap, BTreeSet, HashMap};

pub const MIB: u64 = 1 << 20;
pub const GIB: u64 = 1 << 30;

/// Memory categories of seed 002, by device bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Category {
    Small,
    Medium,
    Large,
    Critical,
}

impl Category {
    pub const ALL: [Category; 4] = [
        Category::Small,
        Category::Medium,
        Category::Large,
        Category::Critical,
    ];

    /// small < 100 MiB ≤ medium < 500 MiB ≤ large ≤ 1 GiB < critical.
    pub fn of(bytes: u64) -> Category {
        if bytes < 100 * MIB {
            Category::Small
        } else if bytes < 500 * MIB {
            Category::Medium
        } else if bytes <= GIB {
            Category::Large
        } else {
            Category::Critical
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Category::Small => "small",
            Category::Medium => "medium",
            Category::Large => "large",
            Category::Critical => "critical",
        }
    }

    pub fn range(self) -> &'static str {
        match self {
            Category::Small => "< 100 MiB",
            Category::Medium => "100 MiB to < 500 MiB",
            Category::Large => "500 MiB to 1 GiB",
            Category::Critical => "> 1 GiB",
        }
    }
}

// ---- per-case helpers ------------------------------------------------------------------------

/// The case's device bytes (see the module docs).
pub fn device_bytes(c: &CaseRecord) -> u64 {
    c.allocated_bytes.max(c.total_bytes)
}

/// What the failing allocation needed per bank, counting what the bank already held; `None`
/// when the record carries no failing allocation.
pub fn need_per_bank(c: &CaseRecord) -> Option<u64> {
    if c.per_bank_bytes == 0 || c.bank_bytes == 0 {
        return None;
    }
    size::add(c.bank_allocated_bytes, c.per_bank_bytes, "need per bank").ok()
}

/// Need per bank over the bank size.
pub fn factor_over_bank(c: &CaseRecord) -> Option<f64> {
    need_per_bank(c).map(|n| n as f64 / c.bank_bytes as f64)
}

/// The first input shape as written, or the device shape for ops without inputs.
pub fn primary_shape(c: &CaseRecord) -> &[u64] {
    c.shapes
        .first()
        .map(Vec::as_slice)
        .unwrap_or(c.device_shape.as_slice())
}

/// The memory of the inputs (`dram->l1` → DRAM).
pub fn input_memory(c: &CaseRecord) -> Option<BufferType> {
    c.memory.split("->").next()?.trim().parse().ok()
}

/// The memory of the outputs (`dram->l1` → L1).
pub fn output_memory(c: &CaseRecord) -> Option<BufferType> {
    c.memory.rsplit("->").next()?.trim().parse().ok()
}

/// The memory the failure happened in (the record's buffer type, else the output memory).
pub fn failing_memory(c: &CaseRecord) -> Option<BufferType> {
    c.buffer_type
        .as_deref()
        .and_then(|b| b.parse().ok())
        .or_else(|| output_memory(c))
}

pub fn device_spec(c: &CaseRecord) -> Option<&'static DeviceSpec> {
    DeviceSpec::by_name(&c.device).ok()
}

/// Bytes per bank of the primary device tensor in its input memory, computed from the record's
/// device shape, dtype and layout with memmodel's placement (exact for interleaved tensors).
pub fn primary_per_bank(c: &CaseRecord) -> Option<(BufferType, u64)> {
    let spec = device_spec(c)?;
    let memory = input_memory(c)?;
    let shape = Shape::from_dims(c.device_shape.clone()).ok()?;
    let dtype: DType = c.dtype.parse().ok()?;
    let layout: Layout = c.layout.parse().ok()?;
    let placement = TensorSpec::new(shape, dtype, layout)
        .interleaved(spec, memory)
        .ok()?;
    Some((memory, placement.per_bank_bytes))
}

/// The point a case contributes to the "bytes needed per bank" chart: for a failed allocation
/// what it needed (with what the bank held), otherwise the primary tensor's bytes per bank.
pub fn chart_need(c: &CaseRecord) -> Option<(BufferType, u64, u64)> {
    let spec = device_spec(c);
    if let (Some(need), Some(mem)) = (need_per_bank(c), failing_memory(c)) {
        return Some((mem, need, c.bank_bytes));
    }
    let (mem, per_bank) = primary_per_bank(c)?;
    let bank = spec?.bank_bytes(mem, 0);
    Some((mem, per_bank, bank))
}

/// A stable 64-bit hash of a key (SipHash with fixed keys): what the analysis's look-ups keep
/// instead of the key itself, so an index over 100k cases stays a few MB.
pub(crate) fn key_hash<T: std::hash::Hash + ?Sized>(key: &T) -> u64 {
    use std::hash::{DefaultHasher, Hasher};
    let mut h = DefaultHasher::new();
    key.hash(&mut h);
    h.finish()
}

/// The set of cases that differ only in memory and device, as a hash.
fn variant(c: &CaseRecord) -> u64 {
    key_hash(&(
        &c.op,
        &c.shapes,
        &c.device_layout,
        &c.dtype,
        &c.layout,
        &c.params,
    ))
}

/// min / median / max of a sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    pub min: f64,
    pub median: f64,
    pub max: f64,
    pub n: usize,
}

impl Spread {
    pub fn of(mut xs: Vec<f64>) -> Option<Spread> {
        xs.retain(|x| x.is_finite());
        if xs.is_empty() {
            return None;
        }
        xs.sort_by(f64::total_cmp);
        let n = xs.len();
        let median = if n % 2 == 1 {
            xs[n / 2]
        } else {
            (xs[n / 2 - 1] + xs[n / 2]) / 2.0
        };
        Some(Spread {
            min: xs[0],
            median,
            max: xs[n - 1],
            n,
        })
    }
}

fn class_index(class: Class) -> usize {
    Class::ALL
        .iter()
        .position(|c| *c == class)
        .expect("every class is in Class::ALL")
}

/// Counts by class, indexable by [`Class`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClassCounts(pub [usize; Class::ALL.len()]);

impl ClassCounts {
    pub fn add(&mut self, class: Class) {
        self.0[class_index(class)] += 1;
    }
    pub fn get(&self, class: Class) -> usize {
        self.0[class_index(class)]
    }
    pub fn total(&self) -> usize {
        self.0.iter().sum()
    }
    /// Everything but `fits` and `unmodeled` (no verdict is not a failure).
    pub fn failures(&self) -> usize {
        self.total() - self.get(Class::Fits) - self.get(Class::Unmodeled)
    }
    /// Failures that are not a real out-of-memory error.
    pub fn other(&self) -> usize {
        self.failures() - self.get(Class::Oom)
    }
}

// ---- the aggregates --------------------------------------------------------------------------

/// Cases listed by id in a group before the rest is counted.
pub const MAX_LISTED_CASES: usize = 10;
/// Model disagreements listed in the integrity section.
pub const MAX_DISAGREEMENTS: usize = 50;
/// Cases with a verified fix listed one by one.
pub const MAX_FIXED_CASES: usize = 100;
/// Leaks, failed canaries, suspicious OOMs and broken expectations each listed (the rest are
/// counted): the analysis stays bounded when a whole run goes wrong.
pub const MAX_FINDINGS: usize = 500;

/// The first items of a list (at most its cap) and how long the whole list is: what the
/// analysis keeps of a list that grows with the run.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed<T> {
    pub shown: Vec<T>,
    pub total: usize,
    cap: usize,
}

impl<T> Listed<T> {
    pub fn new(cap: usize) -> Self {
        Listed {
            shown: Vec::new(),
            total: 0,
            cap,
        }
    }

    /// Count one more; keep it (made only then) while there is room.
    pub fn push_with(&mut self, item: impl FnOnce() -> T) {
        self.total += 1;
        if self.shown.len() < self.cap {
            self.shown.push(item());
        }
    }

    /// The whole list's length.
    pub fn len(&self) -> usize {
        self.total
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The items kept.
    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.shown.iter()
    }

    /// How many were counted but not kept.
    pub fn more(&self) -> usize {
        self.total - self.shown.len()
    }
}

impl<'l, T> IntoIterator for &'l Listed<T> {
    type Item = &'l T;
    type IntoIter = std::slice::Iter<'l, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.shown.iter()
    }
}

/// A case the analysis keeps whole (the worst of an op, the smallest OOM of a device, ...):
/// without the fields no rendering shows.
fn kept(c: &CaseRecord) -> CaseRecord {
    crate::spill::slim(c.clone(), false)
}

/// One operator.
#[derive(Debug, Clone)]
pub struct OpStats {
    pub op: String,
    pub counts: ClassCounts,
    /// The OOM case with the largest factor over the bank (ties: more device bytes).
    pub worst: Option<CaseRecord>,
    /// The OOM case with the fewest device bytes.
    pub smallest_oom: Option<CaseRecord>,
    /// The fitting case with the most device bytes.
    pub largest_fit: Option<CaseRecord>,
    /// `overhead_factor` (actual / theoretical) over the cases that carry one.
    pub overhead: Option<Spread>,
    /// Allocated over logical bytes of the primary tensor.
    pub padding: Option<Spread>,
    /// Cases whose numbers come from a device measurement (NO_DISPATCH peaks present).
    pub measured: usize,
    pub peak_cb_max: Option<u64>,
    pub leaks: usize,
}

/// One shape (first input as written, with its dtype).
#[derive(Debug, Clone)]
pub struct ShapeStats {
    pub shape: Vec<u64>,
    pub dtype: String,
    pub logical_bytes: u64,
    /// Device bytes over the shape's cases: least and most (layouts and ops differ).
    pub device_bytes_min: u64,
    pub device_bytes_max: u64,
    /// Most device bytes among the shape's OOM cases (0 when none).
    pub oom_device_bytes_max: u64,
    pub device_layouts: BTreeSet<String>,
    pub cases: usize,
    pub oom: usize,
    pub ops: BTreeSet<String>,
    pub oom_ops: BTreeSet<String>,
    pub oom_devices: BTreeSet<String>,
    pub max_factor: Option<f64>,
}

impl ShapeStats {
    /// The category the shape's OOM cases fall in (by their largest device bytes).
    pub fn category(&self) -> Category {
        Category::of(if self.oom > 0 {
            self.oom_device_bytes_max
        } else {
            self.device_bytes_max
        })
    }
}

/// One shape in one device layout: what the device holds.
#[derive(Debug, Clone)]
pub struct LayoutRow {
    pub shape: Vec<u64>,
    pub dtype: String,
    pub layout: String,
    pub device_layout: String,
    pub device_shape: Vec<u64>,
    pub logical_bytes: u64,
    pub allocated_bytes: u64,
    pub cases: usize,
    pub oom: usize,
}

impl LayoutRow {
    pub fn padding(&self) -> f64 {
        self.allocated_bytes as f64 / self.logical_bytes.max(1) as f64
    }
}

/// OOM cases in one memory category.
#[derive(Debug, Clone)]
pub struct CategoryStats {
    pub category: Category,
    pub oom: usize,
    pub ops: usize,
    pub shapes: usize,
    /// Shapes whose logical size would put them in a smaller category: padding moved them here.
    pub moved_up_by_padding: usize,
}

/// High-resolution tiers of the 8K impact section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tier {
    /// An input dim of 4320 or 7680.
    EightK,
    /// Not 8K, and an input dim of 2160, 3840 or 2176.
    FourK,
}

impl Tier {
    pub fn of(c: &CaseRecord) -> Option<Tier> {
        let dims = || c.shapes.iter().flatten().copied();
        if dims().any(|d| d == 4320 || d == 7680) {
            Some(Tier::EightK)
        } else if dims().any(|d| d == 2160 || d == 3840 || d == 2176) {
            Some(Tier::FourK)
        } else {
            None
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Tier::EightK => "8K (a dim of 4320 or 7680)",
            Tier::FourK => "4K / half-8K (a dim of 2160, 3840 or 2176)",
        }
    }
}

#[derive(Debug, Clone)]
pub struct TierStats {
    pub tier: Tier,
    pub cases: usize,
    pub oom: usize,
    pub ops_affected: usize,
    /// The tier's shapes with at least one OOM, most device bytes first.
    pub shapes: Vec<ShapeStats>,
}

/// One device.
#[derive(Debug, Clone)]
pub struct DeviceStats {
    pub device: String,
    pub spec: Option<&'static DeviceSpec>,
    pub totals: Totals,
    pub by_memory: Vec<(String, ClassCounts)>,
    pub ops: usize,
    pub ops_affected: usize,
    pub smallest_oom: Option<CaseRecord>,
    pub largest_fit: Option<CaseRecord>,
    pub points: Vec<ChartPoint>,
}

/// One shape × memory on one device in the bytes-per-bank chart.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartPoint {
    pub label: String,
    pub memory: BufferType,
    pub need_per_bank: u64,
    pub bank_bytes: u64,
    /// Whether any case of the point failed on memory.
    pub failed: bool,
}

/// A change that would make a failed case fit, computed from its record.
#[derive(Debug, Clone, PartialEq)]
pub struct Fix {
    pub need: u64,
    pub bank: u64,
    pub factor: f64,
    pub memory: Option<BufferType>,
    /// The same case with DRAM memory: measured (another record of the run) or estimated.
    pub dram: Option<DramOption>,
    /// bfloat16 → bfloat8_b: the need scaled by the tile sizes (1088 / 2048).
    pub bf8_need: Option<u64>,
    /// Chunks so that each chunk's need fits the bank: ceil(need / bank).
    pub chunks: u64,
    /// Chunks in DRAM, when moving to DRAM alone does not fit.
    pub dram_chunks: Option<u64>,
    /// Devices where the same case (same memory) fitted in this run.
    pub fits_on: Vec<String>,
    /// The smallest change, in words.
    pub smallest: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum DramOption {
    /// The run has the same case in DRAM, and it ended so.
    Measured { class: Class, id: String },
    /// All the case's buffers over the device's DRAM banks (≈ within a page per buffer).
    Estimated { per_bank: u64, bank: u64 },
}

impl DramOption {
    pub fn fits(&self) -> bool {
        match self {
            DramOption::Measured { class, .. } => *class == Class::Fits,
            DramOption::Estimated { per_bank, bank } => per_bank <= bank,
        }
    }
}

/// What the fixes of every OOM case add up to (the headline of the recommendations).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FixTotals {
    /// OOM cases whose record carries the numbers of a fix.
    pub cases: usize,
    /// Of them, those that failed in L1.
    pub l1: usize,
    /// L1 cases that would fit in DRAM (measured in this run, or estimated).
    pub l1_fit_in_dram: usize,
    /// Cases that bfloat8_b alone would make fit.
    pub bf8_fits: usize,
    /// The most chunks any case needs.
    pub max_chunks: u64,
}

impl FixTotals {
    fn add(&mut self, f: &Fix) {
        self.cases += 1;
        if f.memory == Some(BufferType::L1) {
            self.l1 += 1;
            if f.dram.as_ref().is_some_and(DramOption::fits) {
                self.l1_fit_in_dram += 1;
            }
        }
        if f.bf8_need.is_some_and(|b| b <= f.bank) {
            self.bf8_fits += 1;
        }
        self.max_chunks = self.max_chunks.max(f.chunks);
    }
}

/// Which op fails first on a device and memory: its smallest OOM and largest fit.
#[derive(Debug, Clone)]
pub struct FirstFailure {
    pub op: String,
    pub device: String,
    pub memory: String,
    pub oom: usize,
    pub cases: usize,
    pub smallest_oom: CaseRecord,
    pub largest_fit: Option<CaseRecord>,
    pub fix: Option<Fix>,
}

/// Failures that are not OOM, grouped by class and message.
#[derive(Debug, Clone)]
pub struct MessageGroup {
    pub class: Class,
    /// The message with numbers blanked: what the group has in common.
    pub signature: String,
    /// Cases in the group.
    pub cases: usize,
    /// The ids of its first cases (at most [`MAX_LISTED_CASES`]), in report order.
    pub ids: Vec<String>,
    /// The raw message of its first case.
    pub message: String,
    pub ops: BTreeSet<String>,
}

/// The cases that carry a fix (`cargo xtask oom --fix`).
#[derive(Debug, Clone)]
pub struct FixedCases {
    /// The first of them (at most [`MAX_FIXED_CASES`]).
    pub cases: Listed<CaseRecord>,
    /// Per fix kind: cases, verified.
    pub by_kind: BTreeMap<String, (usize, usize)>,
    pub verified: usize,
}

/// The whole analysis: bounded summaries folded from the records (two passes over them, one
/// record at a time), so a 100k-case run is analysed in a few MB.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// The report's header fields and thresholds (its `cases` are not kept).
    pub head: Report,
    /// Recomputed from the cases.
    pub totals: Totals,
    /// Whether `report.totals` agrees with the cases.
    pub totals_consistent: bool,
    pub counts: ClassCounts,
    pub devices_seen: Vec<String>,
    pub ops: Vec<OpStats>,
    pub shapes: Vec<ShapeStats>,
    pub layouts: Vec<LayoutRow>,
    pub categories: Vec<CategoryStats>,
    pub tiers: Vec<TierStats>,
    pub devices: Vec<DeviceStats>,
    pub first_failures: Vec<FirstFailure>,
    /// Fix for each op's worst case, by op name.
    pub worst_fixes: BTreeMap<String, Fix>,
    /// The fixes of every OOM case that carries allocation numbers, added up.
    pub oom_fixes: FixTotals,
    pub not_oom: Vec<MessageGroup>,
    pub leaks: Listed<CaseRecord>,
    pub canary_failures: Listed<CaseRecord>,
    /// Cases that leaked or whose canary failed.
    pub broken: usize,
    /// The calls without memory_config against their explicit-memory cases.
    pub default_calls: super::default_calls::DefaultCalls,
    /// OOM records whose numbers say the allocation should have fitted, or at one element.
    pub suspicious: Listed<(CaseRecord, String)>,
    pub expectation_broken: Listed<(CaseRecord, String)>,
    /// Cases whose memmodel prediction (`fits`/`oom`) was compared with a fits/oom outcome.
    pub compared: usize,
    pub disagreements: Listed<CaseRecord>,
    pub fixed: FixedCases,
    pub case_time_ms: f64,
}

/// Where the analysis reads the records: case `i` (0-based, report order). Read in order, twice,
/// and a few again by index.
pub type Records<'r> = &'r mut dyn FnMut(usize) -> std::io::Result<CaseRecord>;

impl Analysis {
    pub fn of(report: &Report) -> Analysis {
        let mut record = |i: usize| Ok(report.cases[i].clone());
        match Analysis::streamed(report, report.cases.len(), &mut record) {
            Ok(a) => a,
            Err(e) => unreachable!("records in memory cannot fail to read: {e}"),
        }
    }

    /// The analysis of `len` records read from `record`; `head` gives the header (its cases are
    /// not read).
    pub fn streamed(head: &Report, len: usize, record: Records<'_>) -> std::io::Result<Analysis> {
        let mut index = Index::default();
        for i in 0..len {
            index.add(i, &record(i)?);
        }
        let mut fold = Fold::new();
        for i in 0..len {
            fold.add(&record(i)?, &index);
        }
        fold.finish(head, &index, record)
    }

    pub fn op(&self, name: &str) -> Option<&OpStats> {
        self.ops.iter().find(|o| o.op == name)
    }

    /// Shapes with at least one OOM.
    pub fn problem_shapes(&self) -> impl Iterator<Item = &ShapeStats> {
        self.shapes.iter().filter(|s| s.oom > 0)
    }

    /// Problem shapes whose OOM cases need more than 1 GiB of device bytes, most first.
    pub fn critical_shapes(&self) -> Vec<&ShapeStats> {
        let mut v: Vec<&ShapeStats> = self
            .problem_shapes()
            .filter(|s| s.category() == Category::Critical)
            .collect();
        v.sort_by(|a, b| {
            b.oom_device_bytes_max
                .cmp(&a.oom_device_bytes_max)
                .then_with(|| a.shape.cmp(&b.shape))
        });
        v
    }

    /// Ops with at least one OOM.
    pub fn ops_affected(&self) -> usize {
        self.ops
            .iter()
            .filter(|o| o.counts.get(Class::Oom) > 0)
            .count()
    }
}

/// The report without its cases.
fn head_of(r: &Report) -> Report {
    Report {
        tool: r.tool.clone(),
        generated_at: r.generated_at.clone(),
        command: r.command.clone(),
        backend: r.backend.clone(),
        runtime_version: r.runtime_version.clone(),
        shapes_file: r.shapes_file.clone(),
        partition: r.partition.clone(),
        wall_time_ms: r.wall_time_ms,
        totals: r.totals.clone(),
        cases: Vec::new(),
        thresholds: r.thresholds.clone(),
    }
}

// ---- pass 1: what one case needs to know of the others ---------------------------------------

/// Short names for the few distinct device and memory strings.
#[derive(Debug, Default)]
struct Syms {
    names: Vec<String>,
    ids: HashMap<String, u32>,
}

impl Syms {
    fn intern(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len() as u32;
        self.names.push(name.to_string());
        self.ids.insert(name.to_string(), id);
        id
    }
    fn get(&self, name: &str) -> Option<u32> {
        self.ids.get(name).copied()
    }
    fn name(&self, id: u32) -> &str {
        &self.names[id as usize]
    }
}

/// A case as its variant's other cases see it (for the fixes: the same case in DRAM, the
/// devices where it fitted).
#[derive(Debug)]
struct Sibling {
    index: u32,
    device: u32,
    memory: u32,
    class: Class,
    need: Option<u64>,
    bank: u64,
}

/// Pass 1: the cases of each variant, and the default calls' counterparts.
#[derive(Debug, Default)]
struct Index {
    syms: Syms,
    siblings: HashMap<u64, Vec<Sibling>>,
    calls: super::default_calls::CallIndex,
}

impl Index {
    fn add(&mut self, i: usize, c: &CaseRecord) {
        let sibling = Sibling {
            index: i as u32,
            device: self.syms.intern(&c.device),
            memory: self.syms.intern(&c.memory),
            class: c.class,
            need: need_per_bank(c),
            bank: c.bank_bytes,
        };
        self.siblings.entry(variant(c)).or_default().push(sibling);
        self.calls.add(i, c);
    }
}

// ---- pass 2: the fold ------------------------------------------------------------------------

/// The per-op numbers while the cases go by.
struct OpAcc {
    stats: OpStats,
    overheads: Vec<f64>,
    paddings: Vec<f64>,
}

impl OpAcc {
    fn new(op: &str) -> OpAcc {
        OpAcc {
            stats: OpStats {
                op: op.to_string(),
                counts: ClassCounts::default(),
                worst: None,
                smallest_oom: None,
                largest_fit: None,
                overhead: None,
                padding: None,
                measured: 0,
                peak_cb_max: None,
                leaks: 0,
            },
            overheads: Vec::new(),
            paddings: Vec::new(),
        }
    }

    fn add(&mut self, c: &CaseRecord) {
        let s = &mut self.stats;
        s.counts.add(c.class);
        match c.class {
            Class::Oom => {
                if s.worst.as_ref().is_none_or(|w| better_worst(c, w)) {
                    s.worst = Some(kept(c));
                }
                if s.smallest_oom
                    .as_ref()
                    .is_none_or(|m| device_bytes(c) < device_bytes(m))
                {
                    s.smallest_oom = Some(kept(c));
                }
            }
            Class::Fits
                if s.largest_fit
                    .as_ref()
                    .is_none_or(|l| device_bytes(c) > device_bytes(l)) =>
            {
                s.largest_fit = Some(kept(c));
            }
            _ => {}
        }
        if c.logical_bytes > 0 && c.overhead_factor > 0.0 {
            self.overheads.push(c.overhead_factor);
        }
        if c.logical_bytes > 0 && c.allocated_bytes > 0 {
            self.paddings
                .push(c.allocated_bytes as f64 / c.logical_bytes as f64);
        }
        if c.peak_l1_per_core.is_some() || c.peak_cb_per_core.is_some() {
            s.measured += 1;
        }
        if let Some(p) = c.peak_cb_per_core {
            s.peak_cb_max = Some(s.peak_cb_max.map_or(p, |m| m.max(p)));
        }
        if c.leaked_bytes > 0 {
            s.leaks += 1;
        }
    }

    fn finish(self) -> OpStats {
        OpStats {
            overhead: Spread::of(self.overheads),
            padding: Spread::of(self.paddings),
            ..self.stats
        }
    }
}

/// Shapes (first input as written, with its dtype) while the cases go by.
#[derive(Default)]
struct ShapeAcc(BTreeMap<(Vec<u64>, String), ShapeStats>);

impl ShapeAcc {
    fn add(&mut self, c: &CaseRecord) {
        let key = (primary_shape(c).to_vec(), c.dtype.clone());
        let s = self.0.entry(key).or_insert_with_key(|key| ShapeStats {
            shape: key.0.clone(),
            dtype: key.1.clone(),
            logical_bytes: 0,
            device_bytes_min: u64::MAX,
            device_bytes_max: 0,
            oom_device_bytes_max: 0,
            device_layouts: BTreeSet::new(),
            cases: 0,
            oom: 0,
            ops: BTreeSet::new(),
            oom_ops: BTreeSet::new(),
            oom_devices: BTreeSet::new(),
            max_factor: None,
        });
        let db = device_bytes(c);
        s.logical_bytes = s.logical_bytes.max(c.logical_bytes);
        s.device_bytes_min = s.device_bytes_min.min(db);
        s.device_bytes_max = s.device_bytes_max.max(db);
        if !s.device_layouts.contains(&c.device_layout) {
            s.device_layouts.insert(c.device_layout.clone());
        }
        s.cases += 1;
        if !s.ops.contains(&c.op) {
            s.ops.insert(c.op.clone());
        }
        if c.class == Class::Oom {
            s.oom += 1;
            if !s.oom_ops.contains(&c.op) {
                s.oom_ops.insert(c.op.clone());
            }
            if !s.oom_devices.contains(&c.device) {
                s.oom_devices.insert(c.device.clone());
            }
            s.oom_device_bytes_max = s.oom_device_bytes_max.max(db);
            if let Some(f) = factor_over_bank(c) {
                s.max_factor = Some(s.max_factor.map_or(f, |m: f64| m.max(f)));
            }
        }
    }

    /// Most operators with an OOM first, then most OOM cases, most device bytes, by shape.
    fn finish(self) -> Vec<ShapeStats> {
        let mut v: Vec<ShapeStats> = self.0.into_values().collect();
        v.sort_by(|a, b| {
            b.oom_ops
                .len()
                .cmp(&a.oom_ops.len())
                .then_with(|| b.oom.cmp(&a.oom))
                .then_with(|| b.device_bytes_max.cmp(&a.device_bytes_max))
                .then_with(|| a.shape.cmp(&b.shape))
        });
        v
    }
}

/// (shape, dtype, page layout, device layout, device shape).
type LayoutKey = (Vec<u64>, String, String, String, Vec<u64>);

#[derive(Default)]
struct LayoutAcc(BTreeMap<LayoutKey, LayoutRow>);

impl LayoutAcc {
    fn add(&mut self, c: &CaseRecord) {
        let key = (
            primary_shape(c).to_vec(),
            c.dtype.clone(),
            c.layout.clone(),
            c.device_layout.clone(),
            c.device_shape.clone(),
        );
        let r = self.0.entry(key).or_insert_with_key(|k| LayoutRow {
            shape: k.0.clone(),
            dtype: k.1.clone(),
            layout: k.2.clone(),
            device_layout: k.3.clone(),
            device_shape: k.4.clone(),
            logical_bytes: 0,
            allocated_bytes: 0,
            cases: 0,
            oom: 0,
        });
        r.logical_bytes = r.logical_bytes.max(c.logical_bytes);
        r.allocated_bytes = r.allocated_bytes.max(c.allocated_bytes);
        r.cases += 1;
        if c.class == Class::Oom {
            r.oom += 1;
        }
    }

    fn finish(self) -> Vec<LayoutRow> {
        let mut v: Vec<LayoutRow> = self.0.into_values().collect();
        v.sort_by(|a, b| {
            b.allocated_bytes
                .cmp(&a.allocated_bytes)
                .then_with(|| a.shape.cmp(&b.shape))
                .then_with(|| a.device_layout.cmp(&b.device_layout))
        });
        v
    }
}

/// OOM cases of one memory category.
#[derive(Default)]
struct CategoryAcc {
    oom: usize,
    ops: BTreeSet<String>,
    shapes: BTreeSet<(Vec<u64>, String)>,
    moved: BTreeSet<(Vec<u64>, String)>,
}

#[derive(Default)]
struct TierAcc {
    cases: usize,
    oom: usize,
    ops_affected: BTreeSet<String>,
    shapes: ShapeAcc,
}

/// One device while the cases go by.
#[derive(Default)]
struct DeviceAcc {
    totals: Totals,
    by_memory: BTreeMap<String, ClassCounts>,
    points: BTreeMap<(String, BufferType), ChartPoint>,
    ops: BTreeSet<String>,
    ops_affected: BTreeSet<String>,
    smallest_oom: Option<CaseRecord>,
    largest_fit: Option<CaseRecord>,
}

/// The first case of the fewest device bytes (ties by id).
fn smaller(c: &CaseRecord, current: &Option<CaseRecord>) -> bool {
    current
        .as_ref()
        .is_none_or(|m| (device_bytes(c), &c.id) < (device_bytes(m), &m.id))
}

/// The last case of the most device bytes (ties: the smaller id).
fn larger(c: &CaseRecord, current: &Option<CaseRecord>) -> bool {
    current.as_ref().is_none_or(|m| {
        (device_bytes(c), std::cmp::Reverse(&c.id)) >= (device_bytes(m), std::cmp::Reverse(&m.id))
    })
}

impl DeviceAcc {
    fn add(&mut self, c: &CaseRecord) {
        self.totals.add(c);
        self.by_memory
            .entry(c.memory.clone())
            .or_default()
            .add(c.class);
        // Chart points: one per shape (with device layout) and memory, the largest need.
        if let Some((memory, need, bank)) = chart_need(c) {
            if memory != BufferType::L1Small && bank != 0 {
                let label = format!(
                    "{} {} {}",
                    crate::report::fmt::dims(primary_shape(c)),
                    c.device_layout,
                    c.dtype
                );
                let failed = c.class.is_memory_failure();
                let p = self
                    .points
                    .entry((label, memory))
                    .or_insert_with_key(|(label, _)| ChartPoint {
                        label: label.clone(),
                        memory,
                        need_per_bank: need,
                        bank_bytes: bank,
                        failed,
                    });
                if need > p.need_per_bank {
                    p.need_per_bank = need;
                    p.bank_bytes = bank;
                }
                p.failed |= failed;
            }
        }
        if !self.ops.contains(&c.op) {
            self.ops.insert(c.op.clone());
        }
        match c.class {
            Class::Oom => {
                if !self.ops_affected.contains(&c.op) {
                    self.ops_affected.insert(c.op.clone());
                }
                if smaller(c, &self.smallest_oom) {
                    self.smallest_oom = Some(kept(c));
                }
            }
            Class::Fits if larger(c, &self.largest_fit) => self.largest_fit = Some(kept(c)),
            _ => {}
        }
    }

    fn finish(self, device: String) -> DeviceStats {
        let mut points: Vec<ChartPoint> = self.points.into_values().collect();
        points.sort_by(|a, b| {
            a.need_per_bank
                .cmp(&b.need_per_bank)
                .then_with(|| a.label.cmp(&b.label))
        });
        DeviceStats {
            spec: DeviceSpec::by_name(&device).ok(),
            device,
            totals: self.totals,
            by_memory: self.by_memory.into_iter().collect(),
            ops: self.ops.len(),
            ops_affected: self.ops_affected.len(),
            smallest_oom: self.smallest_oom,
            largest_fit: self.largest_fit,
            points,
        }
    }
}

/// One op on one device and memory.
#[derive(Default)]
struct FirstAcc {
    cases: usize,
    oom: usize,
    smallest_oom: Option<CaseRecord>,
    largest_fit: Option<CaseRecord>,
}

/// Pass 2: every aggregate, one case at a time.
struct Fold {
    totals: Totals,
    counts: ClassCounts,
    devices_seen: BTreeSet<String>,
    ops: BTreeMap<String, OpAcc>,
    shapes: ShapeAcc,
    layouts: LayoutAcc,
    categories: [CategoryAcc; 4],
    tiers: [TierAcc; 2],
    devices: BTreeMap<String, DeviceAcc>,
    first: BTreeMap<(String, String, String), FirstAcc>,
    oom_fixes: FixTotals,
    not_oom: BTreeMap<(Class, String), MessageGroup>,
    leaks: Listed<CaseRecord>,
    canary_failures: Listed<CaseRecord>,
    broken: usize,
    calls: super::default_calls::CallFold,
    suspicious: Listed<(CaseRecord, String)>,
    expectation_broken: Listed<(CaseRecord, String)>,
    compared: usize,
    disagreements: Listed<CaseRecord>,
    fixed: FixedCases,
    case_time_ms: f64,
}

impl Fold {
    fn new() -> Fold {
        Fold {
            totals: Totals::default(),
            counts: ClassCounts::default(),
            devices_seen: BTreeSet::new(),
            ops: BTreeMap::new(),
            shapes: ShapeAcc::default(),
            layouts: LayoutAcc::default(),
            categories: Default::default(),
            tiers: Default::default(),
            devices: BTreeMap::new(),
            first: BTreeMap::new(),
            oom_fixes: FixTotals::default(),
            not_oom: BTreeMap::new(),
            leaks: Listed::new(MAX_FINDINGS),
            canary_failures: Listed::new(MAX_FINDINGS),
            broken: 0,
            calls: super::default_calls::CallFold::default(),
            suspicious: Listed::new(MAX_FINDINGS),
            expectation_broken: Listed::new(MAX_FINDINGS),
            compared: 0,
            disagreements: Listed::new(MAX_DISAGREEMENTS),
            fixed: FixedCases {
                cases: Listed::new(MAX_FIXED_CASES),
                by_kind: BTreeMap::new(),
                verified: 0,
            },
            case_time_ms: 0.0,
        }
    }

    fn add(&mut self, c: &CaseRecord, index: &Index) {
        self.totals.add(c);
        self.counts.add(c.class);
        if !self.devices_seen.contains(&c.device) {
            self.devices_seen.insert(c.device.clone());
        }
        self.ops
            .entry(c.op.clone())
            .or_insert_with_key(|op| OpAcc::new(op))
            .add(c);
        self.shapes.add(c);
        self.layouts.add(c);
        let oom = c.class == Class::Oom;
        if oom {
            let cat = Category::of(device_bytes(c));
            let acc = &mut self.categories[cat as usize];
            acc.oom += 1;
            if !acc.ops.contains(&c.op) {
                acc.ops.insert(c.op.clone());
            }
            let shape = (primary_shape(c).to_vec(), c.dtype.clone());
            if Category::of(c.logical_bytes) < cat {
                acc.moved.insert(shape.clone());
            }
            acc.shapes.insert(shape);
        }
        if let Some(tier) = Tier::of(c) {
            let acc = &mut self.tiers[tier as usize];
            acc.cases += 1;
            if oom {
                acc.oom += 1;
                if !acc.ops_affected.contains(&c.op) {
                    acc.ops_affected.insert(c.op.clone());
                }
            }
            acc.shapes.add(c);
        }
        self.devices.entry(c.device.clone()).or_default().add(c);
        let first = self
            .first
            .entry((c.device.clone(), c.memory.clone(), c.op.clone()))
            .or_default();
        first.cases += 1;
        match c.class {
            Class::Oom => {
                first.oom += 1;
                if smaller(c, &first.smallest_oom) {
                    first.smallest_oom = Some(kept(c));
                }
                if let Some((fix, _)) = fix_numbers(c, index) {
                    self.oom_fixes.add(&fix);
                }
            }
            Class::Fits if larger(c, &first.largest_fit) => first.largest_fit = Some(kept(c)),
            _ => {}
        }
        if !matches!(c.class, Class::Fits | Class::Oom) {
            let signature = message_signature(&c.message);
            let g = self.not_oom.entry((c.class, signature)).or_insert_with_key(
                |(class, signature)| MessageGroup {
                    class: *class,
                    signature: signature.clone(),
                    cases: 0,
                    ids: Vec::new(),
                    message: c.message.clone(),
                    ops: BTreeSet::new(),
                },
            );
            g.cases += 1;
            if g.ids.len() < MAX_LISTED_CASES {
                g.ids.push(c.id.clone());
            }
            if !g.ops.contains(&c.op) {
                g.ops.insert(c.op.clone());
            }
        }
        if c.leaked_bytes > 0 {
            self.leaks.push_with(|| kept(c));
        }
        if c.canary_ok == Some(false) {
            self.canary_failures.push_with(|| kept(c));
        }
        if c.leaked_bytes > 0 || c.canary_ok == Some(false) {
            self.broken += 1;
        }
        self.calls.add(c, &index.calls);
        if let Some(why) = suspicious(c) {
            self.suspicious.push_with(|| (kept(c), why));
        }
        if let Some(why) = c.expectation_broken() {
            self.expectation_broken.push_with(|| (kept(c), why));
        }
        let actual = match c.class {
            Class::Fits => Some("fits"),
            Class::Oom => Some("oom"),
            _ => None,
        };
        if let Some(actual) = actual {
            if c.predicted == "fits" || c.predicted == "oom" {
                self.compared += 1;
                if c.predicted != actual {
                    self.disagreements.push_with(|| kept(c));
                }
            }
        }
        if let Some(f) = &c.fix {
            self.fixed.cases.push_with(|| kept(c));
            let e = self.fixed.by_kind.entry(f.kind.clone()).or_default();
            e.0 += 1;
            e.1 += usize::from(f.verified);
            self.fixed.verified += usize::from(f.verified);
        }
        self.case_time_ms += c.elapsed_ms.max(0.0);
    }

    fn finish(
        self,
        head: &Report,
        index: &Index,
        record: Records<'_>,
    ) -> std::io::Result<Analysis> {
        let mut ops: Vec<OpStats> = self.ops.into_values().map(OpAcc::finish).collect();
        ops.sort_by(|a, b| {
            b.counts
                .get(Class::Oom)
                .cmp(&a.counts.get(Class::Oom))
                .then_with(|| b.counts.failures().cmp(&a.counts.failures()))
                .then_with(|| a.op.cmp(&b.op))
        });
        let mut worst_fixes = BTreeMap::new();
        for o in &ops {
            if let Some(w) = &o.worst {
                if let Some(fix) = fix_for(w, index, record)? {
                    worst_fixes.insert(o.op.clone(), fix);
                }
            }
        }
        let categories = Category::ALL
            .iter()
            .zip(self.categories)
            .map(|(&category, acc)| CategoryStats {
                category,
                oom: acc.oom,
                ops: acc.ops.len(),
                shapes: acc.shapes.len(),
                moved_up_by_padding: acc.moved.len(),
            })
            .collect();
        let tiers = [Tier::EightK, Tier::FourK]
            .into_iter()
            .zip(self.tiers)
            .map(|(tier, acc)| {
                let mut shapes: Vec<ShapeStats> = acc
                    .shapes
                    .finish()
                    .into_iter()
                    .filter(|s| s.oom > 0)
                    .collect();
                shapes.sort_by(|a, b| {
                    b.oom_device_bytes_max
                        .cmp(&a.oom_device_bytes_max)
                        .then_with(|| a.shape.cmp(&b.shape))
                });
                TierStats {
                    tier,
                    cases: acc.cases,
                    oom: acc.oom,
                    ops_affected: acc.ops_affected.len(),
                    shapes,
                }
            })
            .collect();
        let mut first_failures = Vec::new();
        for ((device, memory, op), acc) in self.first {
            let Some(smallest_oom) = acc.smallest_oom else {
                continue;
            };
            first_failures.push(FirstFailure {
                fix: fix_for(&smallest_oom, index, record)?,
                oom: acc.oom,
                cases: acc.cases,
                op,
                device,
                memory,
                smallest_oom,
                largest_fit: acc.largest_fit,
            });
        }
        first_failures.sort_by(|a, b| {
            (a.device.as_str(), a.memory.as_str())
                .cmp(&(b.device.as_str(), b.memory.as_str()))
                .then_with(|| device_bytes(&a.smallest_oom).cmp(&device_bytes(&b.smallest_oom)))
                .then_with(|| a.op.cmp(&b.op))
        });
        let mut not_oom: Vec<MessageGroup> = self.not_oom.into_values().collect();
        not_oom.sort_by(|a, b| {
            a.class
                .cmp(&b.class)
                .then_with(|| b.cases.cmp(&a.cases))
                .then_with(|| a.signature.cmp(&b.signature))
        });
        Ok(Analysis {
            head: head_of(head),
            totals_consistent: self.totals == head.totals,
            totals: self.totals,
            counts: self.counts,
            devices_seen: self.devices_seen.into_iter().collect(),
            ops,
            shapes: self.shapes.finish(),
            layouts: self.layouts.finish(),
            categories,
            tiers,
            devices: self
                .devices
                .into_iter()
                .map(|(device, acc)| acc.finish(device))
                .collect(),
            first_failures,
            worst_fixes,
            oom_fixes: self.oom_fixes,
            not_oom,
            leaks: self.leaks,
            canary_failures: self.canary_failures,
            broken: self.broken,
            default_calls: self.calls.finish(record)?,
            suspicious: self.suspicious,
            expectation_broken: self.expectation_broken,
            compared: self.compared,
            disagreements: self.disagreements,
            fixed: self.fixed,
            case_time_ms: self.case_time_ms,
        })
    }
}

fn better_worst(candidate: &CaseRecord, current: &CaseRecord) -> bool {
    let f = |c: &CaseRecord| factor_over_bank(c).unwrap_or(0.0);
    match f(candidate).total_cmp(&f(current)) {
        std::cmp::Ordering::Greater => true,
        std::cmp::Ordering::Less => false,
        std::cmp::Ordering::Equal => device_bytes(candidate) > device_bytes(current),
    }
}

/// The fix for one failed case with the id of its DRAM case read back, or `None` when the
/// record carries no numbers to compute it.
fn fix_for(c: &CaseRecord, index: &Index, record: Records<'_>) -> std::io::Result<Option<Fix>> {
    let Some((mut fix, dram_case)) = fix_numbers(c, index) else {
        return Ok(None);
    };
    if let (Some(DramOption::Measured { id, .. }), Some(i)) = (&mut fix.dram, dram_case) {
        *id = record(i as usize)?.id;
    }
    Ok(Some(fix))
}

/// The fix for one failed case (a measured DRAM option's id left empty) and the index of the
/// run's same case in DRAM, if any.
fn fix_numbers(c: &CaseRecord, index: &Index) -> Option<(Fix, Option<u32>)> {
    let need = need_per_bank(c)?;
    let bank = c.bank_bytes;
    let memory = failing_memory(c);
    let same = index.siblings.get(&variant(c));
    let device = index.syms.get(&c.device);
    let dram_memory = index.syms.get("dram");
    let dram_case = same.and_then(|v| {
        v.iter()
            .find(|s| Some(s.device) == device && Some(s.memory) == dram_memory)
    });
    let dram = if memory == Some(BufferType::L1) {
        let measured = dram_case.map(|s| DramOption::Measured {
            class: s.class,
            id: String::new(),
        });
        measured.or_else(|| {
            let spec = device_spec(c)?;
            let footprint = c
                .case_allocated_bytes
                .max(c.total_bytes)
                .max(c.allocated_bytes);
            Some(DramOption::Estimated {
                per_bank: size::ceil_div(footprint, spec.dram_banks.max(1)),
                bank: spec.dram_bank_bytes,
            })
        })
    } else {
        None
    };
    let bf8_need = if c.dtype == "bfloat16" && c.layout == "tile" {
        let scaled = u128::from(need) * u128::from(DType::Bfloat8B.tile_bytes());
        u64::try_from(scaled.div_ceil(u128::from(DType::Bfloat16.tile_bytes()))).ok()
    } else {
        None
    };
    let chunks = size::ceil_div(need, bank.max(1)).max(2);
    // DRAM is still too small: how many chunks there (from the DRAM case's own numbers).
    let dram_chunks = match &dram {
        Some(DramOption::Measured { class, .. }) if *class != Class::Fits => dram_case
            .and_then(|d| Some((d.need?, d.bank)))
            .map(|(n, b)| size::ceil_div(n, b.max(1)).max(2)),
        Some(DramOption::Estimated { per_bank, bank }) if per_bank > bank => {
            Some(size::ceil_div(*per_bank, (*bank).max(1)).max(2))
        }
        _ => None,
    };
    let memory_id = index.syms.get(&c.memory);
    let fits_on: Vec<String> = same
        .map(|v| {
            v.iter()
                .filter(|s| {
                    Some(s.device) != device
                        && Some(s.memory) == memory_id
                        && s.class == Class::Fits
                })
                .map(|s| index.syms.name(s.device).to_string())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect()
        })
        .unwrap_or_default();
    let mem_name = memory.map_or("its memory", |m| m.tt_name());
    let smallest = match (&dram, bf8_need) {
        (Some(d), _) if d.fits() => match d {
            DramOption::Measured { .. } => "DRAM instead of L1 (the run's DRAM case fits)".into(),
            DramOption::Estimated { per_bank, bank } => format!(
                "DRAM instead of L1 (≈{} per DRAM bank of {})",
                crate::report::fmt::size(*per_bank),
                crate::report::fmt::size(*bank)
            ),
        },
        (_, Some(b)) if b <= bank => format!(
            "bfloat8_b instead of bfloat16 ({} per bank of {})",
            crate::report::fmt::size(b),
            crate::report::fmt::size(bank)
        ),
        _ => match dram_chunks {
            Some(k) if k < chunks => {
                format!("DRAM instead of L1, in {k} chunks (in L1: {chunks} chunks)")
            }
            _ => format!("{chunks} chunks in {mem_name} (each needs ≤ the bank)"),
        },
    };
    let fix = Fix {
        need,
        bank,
        factor: need as f64 / bank as f64,
        memory,
        dram,
        bf8_need,
        chunks,
        dram_chunks,
        fits_on,
        smallest,
    };
    Some((fix, dram_case.map(|s| s.index)))
}

/// The message's first line with its numbers replaced by `N` (digit runs that are not part of a
/// word: `L1` and `sm_80` stay) and whitespace collapsed: what messages of one kind share.
pub fn message_signature(message: &str) -> String {
    let first = message.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let mut out = String::new();
    let mut in_word = false;
    let mut in_number = false;
    for ch in first.chars() {
        if ch.is_ascii_digit() {
            if in_word {
                out.push(ch);
            } else if !in_number {
                out.push('N');
                in_number = true;
            }
            continue;
        }
        in_number = false;
        in_word = ch.is_alphabetic() || ch == '_';
        if ch.is_whitespace() {
            if !out.ends_with(' ') {
                out.push(' ');
            }
        } else {
            out.push(ch);
        }
    }
    let s = out.trim().to_string();
    if s.is_empty() {
        "(no message)".into()
    } else {
        crate::report::fmt::truncate(&s, 200)
    }
}

/// Why an OOM record looks wrong (a one-element tensor, or numbers that fit an empty bank).
fn suspicious(c: &CaseRecord) -> Option<String> {
    if c.class != Class::Oom {
        return None;
    }
    let one_element = |s: &Vec<u64>| {
        s.iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .is_some_and(|n| n <= 1)
    };
    if !c.shapes.is_empty() && c.shapes.iter().all(one_element) {
        return Some(
            "one-element tensors cannot exhaust memory: a leak before this case or a misclassified error".into(),
        );
    }
    // A case whose own earlier buffers are in the bank can fail below the bank size (its
    // temporaries leave holes: expand on p150 does); a first allocation that an empty bank holds
    // cannot.
    match need_per_bank(c) {
        Some(n) if n <= c.bank_bytes && c.bank_allocated_bytes == 0 => Some(format!(
            "the case's first allocation needed {} per bank and the bank has {}: memory left by an earlier case",
            crate::report::fmt::bytes(n),
            crate::report::fmt::bytes(c.bank_bytes)
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_blank_numbers_not_names() {
        assert_eq!(
            message_signature("clash with L1 buffers at 110592 on core [0-0 - 7-7]\nmore"),
            "clash with L1 buffers at N on core [N-N - N-N]"
        );
        assert_eq!(message_signature("unary.cpp:123: x"), "unary.cpp:N: x");
        assert_eq!(message_signature("  \n"), "(no message)");
    }

    #[test]
    fn a_listed_list_keeps_its_first_items_and_counts_the_rest() {
        let mut l = Listed::new(2);
        let mut made = 0;
        for i in 0..5 {
            l.push_with(|| {
                made += 1;
                i
            });
        }
        assert_eq!((l.len(), l.more(), made), (5, 3, 2));
        assert_eq!(l.iter().copied().collect::<Vec<_>>(), vec![0, 1]);
        assert!(Listed::<u8>::new(2).is_empty());
    }

    #[test]
    fn categories_have_the_seed_boundaries() {
        assert_eq!(Category::of(100 * MIB - 1), Category::Small);
        assert_eq!(Category::of(100 * MIB), Category::Medium);
        assert_eq!(Category::of(500 * MIB), Category::Large);
        assert_eq!(Category::of(GIB), Category::Large);
        assert_eq!(Category::of(GIB + 1), Category::Critical);
    }
}
