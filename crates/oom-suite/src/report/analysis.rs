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
use std::collections::{BTreeMap, BTreeSet};

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

/// A set of cases that differ only in memory and device.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Variant {
    op: String,
    shapes: Vec<Vec<u64>>,
    device_layout: String,
    dtype: String,
    layout: String,
    params: String,
}

fn variant(c: &CaseRecord) -> Variant {
    Variant {
        op: c.op.clone(),
        shapes: c.shapes.clone(),
        device_layout: c.device_layout.clone(),
        dtype: c.dtype.clone(),
        layout: c.layout.clone(),
        params: c.params.clone(),
    }
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

/// One operator.
#[derive(Debug, Clone)]
pub struct OpStats<'a> {
    pub op: String,
    pub counts: ClassCounts,
    /// The OOM case with the largest factor over the bank (ties: more device bytes).
    pub worst: Option<&'a CaseRecord>,
    /// The OOM case with the fewest device bytes.
    pub smallest_oom: Option<&'a CaseRecord>,
    /// The fitting case with the most device bytes.
    pub largest_fit: Option<&'a CaseRecord>,
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
pub struct DeviceStats<'a> {
    pub device: String,
    pub spec: Option<&'static DeviceSpec>,
    pub totals: Totals,
    pub by_memory: Vec<(String, ClassCounts)>,
    pub ops: usize,
    pub ops_affected: usize,
    pub smallest_oom: Option<&'a CaseRecord>,
    pub largest_fit: Option<&'a CaseRecord>,
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

/// Which op fails first on a device and memory: its smallest OOM and largest fit.
#[derive(Debug, Clone)]
pub struct FirstFailure<'a> {
    pub op: String,
    pub device: String,
    pub memory: String,
    pub oom: usize,
    pub cases: usize,
    pub smallest_oom: &'a CaseRecord,
    pub largest_fit: Option<&'a CaseRecord>,
    pub fix: Option<Fix>,
}

/// Failures that are not OOM, grouped by class and message.
#[derive(Debug, Clone)]
pub struct MessageGroup<'a> {
    pub class: Class,
    /// The message with numbers blanked: what the group has in common.
    pub signature: String,
    pub cases: Vec<&'a CaseRecord>,
    pub ops: BTreeSet<String>,
}

/// The whole analysis.
#[derive(Debug, Clone)]
pub struct Analysis<'a> {
    pub report: &'a Report,
    /// Recomputed from the cases.
    pub totals: Totals,
    /// Whether `report.totals` agrees with the cases.
    pub totals_consistent: bool,
    pub counts: ClassCounts,
    pub devices_seen: Vec<String>,
    pub ops: Vec<OpStats<'a>>,
    pub shapes: Vec<ShapeStats>,
    pub layouts: Vec<LayoutRow>,
    pub categories: Vec<CategoryStats>,
    pub tiers: Vec<TierStats>,
    pub devices: Vec<DeviceStats<'a>>,
    pub first_failures: Vec<FirstFailure<'a>>,
    /// Fix for each op's worst case, by op name.
    pub worst_fixes: BTreeMap<String, Fix>,
    /// The fix of every OOM case that carries allocation numbers.
    pub oom_fixes: Vec<Fix>,
    pub not_oom: Vec<MessageGroup<'a>>,
    pub leaks: Vec<&'a CaseRecord>,
    pub canary_failures: Vec<&'a CaseRecord>,
    /// The calls without memory_config against their explicit-memory cases.
    pub default_calls: super::default_calls::DefaultCalls<'a>,
    /// OOM records whose numbers say the allocation should have fitted, or at one element.
    pub suspicious: Vec<(&'a CaseRecord, String)>,
    pub expectation_broken: Vec<(&'a CaseRecord, String)>,
    /// Cases whose memmodel prediction (`fits`/`oom`) was compared with a fits/oom outcome.
    pub compared: usize,
    pub disagreements: Vec<&'a CaseRecord>,
    pub case_time_ms: f64,
}

impl<'a> Analysis<'a> {
    pub fn of(report: &'a Report) -> Analysis<'a> {
        let cases: Vec<&CaseRecord> = report.cases.iter().collect();
        let totals = Totals::of(&report.cases);
        let mut counts = ClassCounts::default();
        for c in &cases {
            counts.add(c.class);
        }
        let devices_seen: Vec<String> = cases
            .iter()
            .map(|c| c.device.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let siblings = siblings(&cases);
        let ops = op_stats(&cases);
        let shapes = shape_stats(&cases);
        let worst_fixes = ops
            .iter()
            .filter_map(|o| Some((o.op.clone(), fix_for(o.worst?, &siblings)?)))
            .collect();
        let mut a = Analysis {
            report,
            totals_consistent: totals == report.totals,
            totals,
            counts,
            devices_seen,
            layouts: layout_rows(&cases),
            categories: category_stats(&cases),
            tiers: tier_stats(&cases),
            devices: device_stats(&cases),
            first_failures: first_failures(&cases, &siblings),
            worst_fixes,
            oom_fixes: cases
                .iter()
                .filter(|c| c.class == Class::Oom)
                .filter_map(|c| fix_for(c, &siblings))
                .collect(),
            not_oom: message_groups(&cases),
            leaks: cases
                .iter()
                .copied()
                .filter(|c| c.leaked_bytes > 0)
                .collect(),
            canary_failures: cases
                .iter()
                .copied()
                .filter(|c| c.canary_ok == Some(false))
                .collect(),
            default_calls: super::default_calls::default_calls(&cases),
            suspicious: suspicious(&cases),
            expectation_broken: cases
                .iter()
                .filter_map(|c| c.expectation_broken().map(|why| (*c, why)))
                .collect(),
            compared: 0,
            disagreements: Vec::new(),
            case_time_ms: cases.iter().map(|c| c.elapsed_ms.max(0.0)).sum(),
            ops,
            shapes,
        };
        for c in &cases {
            let actual = match c.class {
                Class::Fits => "fits",
                Class::Oom => "oom",
                _ => continue,
            };
            if c.predicted == "fits" || c.predicted == "oom" {
                a.compared += 1;
                if c.predicted != actual {
                    a.disagreements.push(c);
                }
            }
        }
        a
    }

    pub fn op(&self, name: &str) -> Option<&OpStats<'a>> {
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

type Siblings<'a> = BTreeMap<Variant, Vec<&'a CaseRecord>>;

fn siblings<'a>(cases: &[&'a CaseRecord]) -> Siblings<'a> {
    let mut m: Siblings<'a> = BTreeMap::new();
    for c in cases {
        m.entry(variant(c)).or_default().push(c);
    }
    m
}

fn better_worst(candidate: &CaseRecord, current: &CaseRecord) -> bool {
    let f = |c: &CaseRecord| factor_over_bank(c).unwrap_or(0.0);
    match f(candidate).total_cmp(&f(current)) {
        std::cmp::Ordering::Greater => true,
        std::cmp::Ordering::Less => false,
        std::cmp::Ordering::Equal => device_bytes(candidate) > device_bytes(current),
    }
}

fn op_stats<'a>(cases: &[&'a CaseRecord]) -> Vec<OpStats<'a>> {
    let mut by_op: BTreeMap<&str, Vec<&'a CaseRecord>> = BTreeMap::new();
    for c in cases {
        by_op.entry(c.op.as_str()).or_default().push(c);
    }
    let mut out: Vec<OpStats<'a>> = by_op
        .into_iter()
        .map(|(op, cs)| {
            let mut counts = ClassCounts::default();
            let mut worst: Option<&CaseRecord> = None;
            let mut smallest_oom: Option<&CaseRecord> = None;
            let mut largest_fit: Option<&CaseRecord> = None;
            for c in &cs {
                counts.add(c.class);
                match c.class {
                    Class::Oom => {
                        if worst.is_none_or(|w| better_worst(c, w)) {
                            worst = Some(c);
                        }
                        if smallest_oom.is_none_or(|s| device_bytes(c) < device_bytes(s)) {
                            smallest_oom = Some(c);
                        }
                    }
                    Class::Fits
                        if largest_fit.is_none_or(|s| device_bytes(c) > device_bytes(s)) =>
                    {
                        largest_fit = Some(c);
                    }
                    _ => {}
                }
            }
            OpStats {
                op: op.to_string(),
                counts,
                worst,
                smallest_oom,
                largest_fit,
                overhead: Spread::of(
                    cs.iter()
                        .filter(|c| c.logical_bytes > 0 && c.overhead_factor > 0.0)
                        .map(|c| c.overhead_factor)
                        .collect(),
                ),
                padding: Spread::of(
                    cs.iter()
                        .filter(|c| c.logical_bytes > 0 && c.allocated_bytes > 0)
                        .map(|c| c.allocated_bytes as f64 / c.logical_bytes as f64)
                        .collect(),
                ),
                measured: cs
                    .iter()
                    .filter(|c| c.peak_l1_per_core.is_some() || c.peak_cb_per_core.is_some())
                    .count(),
                peak_cb_max: cs.iter().filter_map(|c| c.peak_cb_per_core).max(),
                leaks: cs.iter().filter(|c| c.leaked_bytes > 0).count(),
            }
        })
        .collect();
    out.sort_by(|a, b| {
        b.counts
            .get(Class::Oom)
            .cmp(&a.counts.get(Class::Oom))
            .then_with(|| b.counts.failures().cmp(&a.counts.failures()))
            .then_with(|| a.op.cmp(&b.op))
    });
    out
}

fn shape_stats(cases: &[&CaseRecord]) -> Vec<ShapeStats> {
    let mut m: BTreeMap<(Vec<u64>, String), ShapeStats> = BTreeMap::new();
    for c in cases {
        let key = (primary_shape(c).to_vec(), c.dtype.clone());
        let s = m.entry(key.clone()).or_insert_with(|| ShapeStats {
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
        s.device_layouts.insert(c.device_layout.clone());
        s.cases += 1;
        s.ops.insert(c.op.clone());
        if c.class == Class::Oom {
            s.oom += 1;
            s.oom_ops.insert(c.op.clone());
            s.oom_devices.insert(c.device.clone());
            s.oom_device_bytes_max = s.oom_device_bytes_max.max(db);
            if let Some(f) = factor_over_bank(c) {
                s.max_factor = Some(s.max_factor.map_or(f, |m: f64| m.max(f)));
            }
        }
    }
    let mut v: Vec<ShapeStats> = m.into_values().collect();
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

fn layout_rows(cases: &[&CaseRecord]) -> Vec<LayoutRow> {
    type Key = (Vec<u64>, String, String, String, Vec<u64>);
    let mut m: BTreeMap<Key, LayoutRow> = BTreeMap::new();
    for c in cases {
        let key = (
            primary_shape(c).to_vec(),
            c.dtype.clone(),
            c.layout.clone(),
            c.device_layout.clone(),
            c.device_shape.clone(),
        );
        let r = m.entry(key).or_insert_with(|| LayoutRow {
            shape: primary_shape(c).to_vec(),
            dtype: c.dtype.clone(),
            layout: c.layout.clone(),
            device_layout: c.device_layout.clone(),
            device_shape: c.device_shape.clone(),
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
    let mut v: Vec<LayoutRow> = m.into_values().collect();
    v.sort_by(|a, b| {
        b.allocated_bytes
            .cmp(&a.allocated_bytes)
            .then_with(|| a.shape.cmp(&b.shape))
            .then_with(|| a.device_layout.cmp(&b.device_layout))
    });
    v
}

fn category_stats(cases: &[&CaseRecord]) -> Vec<CategoryStats> {
    Category::ALL
        .iter()
        .map(|&cat| {
            let in_cat: Vec<&&CaseRecord> = cases
                .iter()
                .filter(|c| c.class == Class::Oom && Category::of(device_bytes(c)) == cat)
                .collect();
            let shapes: BTreeSet<(Vec<u64>, String)> = in_cat
                .iter()
                .map(|c| (primary_shape(c).to_vec(), c.dtype.clone()))
                .collect();
            let moved: BTreeSet<(Vec<u64>, String)> = in_cat
                .iter()
                .filter(|c| Category::of(c.logical_bytes) < cat)
                .map(|c| (primary_shape(c).to_vec(), c.dtype.clone()))
                .collect();
            CategoryStats {
                category: cat,
                oom: in_cat.len(),
                ops: in_cat
                    .iter()
                    .map(|c| c.op.as_str())
                    .collect::<BTreeSet<_>>()
                    .len(),
                shapes: shapes.len(),
                moved_up_by_padding: moved.len(),
            }
        })
        .collect()
}

fn tier_stats(cases: &[&CaseRecord]) -> Vec<TierStats> {
    [Tier::EightK, Tier::FourK]
        .iter()
        .map(|&tier| {
            let in_tier: Vec<&CaseRecord> = cases
                .iter()
                .copied()
                .filter(|c| Tier::of(c) == Some(tier))
                .collect();
            let mut shapes: Vec<ShapeStats> = shape_stats(&in_tier)
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
                cases: in_tier.len(),
                oom: in_tier.iter().filter(|c| c.class == Class::Oom).count(),
                ops_affected: in_tier
                    .iter()
                    .filter(|c| c.class == Class::Oom)
                    .map(|c| c.op.as_str())
                    .collect::<BTreeSet<_>>()
                    .len(),
                shapes,
            }
        })
        .collect()
}

fn device_stats<'a>(cases: &[&'a CaseRecord]) -> Vec<DeviceStats<'a>> {
    let mut by_dev: BTreeMap<&str, Vec<&'a CaseRecord>> = BTreeMap::new();
    for c in cases {
        by_dev.entry(c.device.as_str()).or_default().push(c);
    }
    by_dev
        .into_iter()
        .map(|(dev, cs)| {
            let totals = Totals::of(cs.iter().copied());
            let mut by_memory: BTreeMap<String, ClassCounts> = BTreeMap::new();
            for c in &cs {
                by_memory.entry(c.memory.clone()).or_default().add(c.class);
            }
            // Chart points: one per shape (with device layout) and memory, the largest need.
            let mut points: BTreeMap<(String, BufferType), ChartPoint> = BTreeMap::new();
            for c in &cs {
                let Some((memory, need, bank)) = chart_need(c) else {
                    continue;
                };
                if memory == BufferType::L1Small || bank == 0 {
                    continue;
                }
                let label = format!(
                    "{} {} {}",
                    crate::report::fmt::dims(primary_shape(c)),
                    c.device_layout,
                    c.dtype
                );
                let failed = c.class.is_memory_failure();
                let p = points
                    .entry((label.clone(), memory))
                    .or_insert_with(|| ChartPoint {
                        label,
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
            let mut points: Vec<ChartPoint> = points.into_values().collect();
            points.sort_by(|a, b| {
                a.need_per_bank
                    .cmp(&b.need_per_bank)
                    .then_with(|| a.label.cmp(&b.label))
            });
            let ops: BTreeSet<&str> = cs.iter().map(|c| c.op.as_str()).collect();
            let ops_affected: BTreeSet<&str> = cs
                .iter()
                .filter(|c| c.class == Class::Oom)
                .map(|c| c.op.as_str())
                .collect();
            DeviceStats {
                device: dev.to_string(),
                spec: DeviceSpec::by_name(dev).ok(),
                totals,
                by_memory: by_memory.into_iter().collect(),
                ops: ops.len(),
                ops_affected: ops_affected.len(),
                smallest_oom: cs
                    .iter()
                    .copied()
                    .filter(|c| c.class == Class::Oom)
                    .min_by_key(|c| (device_bytes(c), c.id.clone())),
                largest_fit: cs
                    .iter()
                    .copied()
                    .filter(|c| c.class == Class::Fits)
                    .max_by_key(|c| (device_bytes(c), std::cmp::Reverse(c.id.clone()))),
                points,
            }
        })
        .collect()
}

/// The fix for one failed case, or `None` when the record carries no numbers to compute it.
pub fn fix_for_case(c: &CaseRecord, report: &Report) -> Option<Fix> {
    let cases: Vec<&CaseRecord> = report.cases.iter().collect();
    fix_for(c, &siblings(&cases))
}

fn fix_for(c: &CaseRecord, siblings: &Siblings<'_>) -> Option<Fix> {
    let need = need_per_bank(c)?;
    let bank = c.bank_bytes;
    let memory = failing_memory(c);
    let same = siblings.get(&variant(c));
    let dram_case = same.and_then(|v| {
        v.iter()
            .find(|s| s.device == c.device && s.memory == "dram")
            .copied()
    });
    let dram = if memory == Some(BufferType::L1) {
        let measured = dram_case.map(|s| DramOption::Measured {
            class: s.class,
            id: s.id.clone(),
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
            .and_then(|d| Some((need_per_bank(d)?, d.bank_bytes)))
            .map(|(n, b)| size::ceil_div(n, b.max(1)).max(2)),
        Some(DramOption::Estimated { per_bank, bank }) if per_bank > bank => {
            Some(size::ceil_div(*per_bank, (*bank).max(1)).max(2))
        }
        _ => None,
    };
    let fits_on: Vec<String> = same
        .map(|v| {
            v.iter()
                .filter(|s| s.device != c.device && s.memory == c.memory && s.class == Class::Fits)
                .map(|s| s.device.clone())
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
    Some(Fix {
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
    })
}

fn first_failures<'a>(cases: &[&'a CaseRecord], sib: &Siblings<'a>) -> Vec<FirstFailure<'a>> {
    let mut groups: BTreeMap<(String, String, String), Vec<&'a CaseRecord>> = BTreeMap::new();
    for c in cases {
        groups
            .entry((c.device.clone(), c.memory.clone(), c.op.clone()))
            .or_default()
            .push(c);
    }
    let mut out: Vec<FirstFailure<'a>> = groups
        .into_iter()
        .filter_map(|((device, memory, op), cs)| {
            let smallest_oom = cs
                .iter()
                .copied()
                .filter(|c| c.class == Class::Oom)
                .min_by_key(|c| (device_bytes(c), c.id.clone()))?;
            let largest_fit = cs
                .iter()
                .copied()
                .filter(|c| c.class == Class::Fits)
                .max_by_key(|c| (device_bytes(c), std::cmp::Reverse(c.id.clone())));
            Some(FirstFailure {
                fix: fix_for(smallest_oom, sib),
                oom: cs.iter().filter(|c| c.class == Class::Oom).count(),
                cases: cs.len(),
                op,
                device,
                memory,
                smallest_oom,
                largest_fit,
            })
        })
        .collect();
    out.sort_by(|a, b| {
        (a.device.as_str(), a.memory.as_str())
            .cmp(&(b.device.as_str(), b.memory.as_str()))
            .then_with(|| device_bytes(a.smallest_oom).cmp(&device_bytes(b.smallest_oom)))
            .then_with(|| a.op.cmp(&b.op))
    });
    out
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

fn message_groups<'a>(cases: &[&'a CaseRecord]) -> Vec<MessageGroup<'a>> {
    let mut m: BTreeMap<(Class, String), MessageGroup<'a>> = BTreeMap::new();
    for c in cases {
        if matches!(c.class, Class::Fits | Class::Oom) {
            continue;
        }
        let sig = message_signature(&c.message);
        let g = m
            .entry((c.class, sig.clone()))
            .or_insert_with(|| MessageGroup {
                class: c.class,
                signature: sig,
                cases: Vec::new(),
                ops: BTreeSet::new(),
            });
        g.cases.push(c);
        g.ops.insert(c.op.clone());
    }
    let mut v: Vec<MessageGroup<'a>> = m.into_values().collect();
    v.sort_by(|a, b| {
        a.class
            .cmp(&b.class)
            .then_with(|| b.cases.len().cmp(&a.cases.len()))
            .then_with(|| a.signature.cmp(&b.signature))
    });
    v
}

fn suspicious<'a>(cases: &[&'a CaseRecord]) -> Vec<(&'a CaseRecord, String)> {
    cases
        .iter()
        .filter(|c| c.class == Class::Oom)
        .filter_map(|c| {
            let one_element = |s: &Vec<u64>| {
                s.iter()
                    .try_fold(1u64, |acc, &d| acc.checked_mul(d))
                    .is_some_and(|n| n <= 1)
            };
            if !c.shapes.is_empty() && c.shapes.iter().all(one_element) {
                return Some((
                    *c,
                    "one-element tensors cannot exhaust memory: a leak before this case or a misclassified error".into(),
                ));
            }
            // A case whose own earlier buffers are in the bank can fail below the bank size
            // (its temporaries leave holes: expand on p150 does); a first allocation that an
            // empty bank holds cannot.
            match need_per_bank(c) {
                Some(n) if n <= c.bank_bytes && c.bank_allocated_bytes == 0 => Some((
                    *c,
                    format!(
                        "the case's first allocation needed {} per bank and the bank has {}: memory left by an earlier case",
                        crate::report::fmt::bytes(n),
                        crate::report::fmt::bytes(c.bank_bytes)
                    ),
                )),
                _ => None,
            }
        })
        .collect()
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
    fn categories_have_the_seed_boundaries() {
        assert_eq!(Category::of(100 * MIB - 1), Category::Small);
        assert_eq!(Category::of(100 * MIB), Category::Medium);
        assert_eq!(Category::of(500 * MIB), Category::Large);
        assert_eq!(Category::of(GIB), Category::Large);
        assert_eq!(Category::of(GIB + 1), Category::Critical);
    }
}
