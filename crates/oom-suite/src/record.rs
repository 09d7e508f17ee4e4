//! The data of an OOM run: one [`CaseRecord`] per case, collected into a [`Report`]. This is
//! `report.json`; the Markdown, HTML and JUnit renderings are computed from it, and partial
//! reports (`--partition`) merge back into one. Field names are a public interface: later
//! versions add fields, never rename these.

use serde::{Deserialize, Serialize};

/// How a case ended on the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// Every allocation fitted and the op ran.
    Fits,
    /// The allocator raised "Out of Memory" (DRAM, L1 or L1_SMALL buffers).
    Oom,
    /// Statically allocated circular buffers clashed with L1 buffers, or grew beyond L1.
    CbClash,
    /// The op needed L1_SMALL the device was not opened with.
    L1Small,
    /// Anything else the runtime raised (invalid argument, unsupported, ...).
    Error,
    /// The `sim` backend (memmodel) has no model of the call: no verdict; the runtime can
    /// answer (`--backend metal` or `auto`).
    Unmodeled,
    /// The op's worker process died (abort, signal) before reporting.
    Crashed,
    /// The op's worker process did not finish in time.
    TimedOut,
}

impl Class {
    pub const ALL: [Class; 8] = [
        Class::Fits,
        Class::Oom,
        Class::CbClash,
        Class::L1Small,
        Class::Error,
        Class::Unmodeled,
        Class::Crashed,
        Class::TimedOut,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Class::Fits => "fits",
            Class::Oom => "oom",
            Class::CbClash => "cb_clash",
            Class::L1Small => "l1_small",
            Class::Error => "error",
            Class::Unmodeled => "unmodeled",
            Class::Crashed => "crashed",
            Class::TimedOut => "timed_out",
        }
    }

    /// Out of memory in the wide sense a user cares about: the op does not fit as configured.
    pub fn is_memory_failure(self) -> bool {
        matches!(self, Class::Oom | Class::CbClash | Class::L1Small)
    }
}

/// One case's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseRecord {
    /// `memmodel::Case::id()`: stable and unique within a matrix.
    pub id: String,
    pub op: String,
    /// The TT-NN call, rendered (`ttnn.add(in0, in1, memory_config=L1_MEMORY_CONFIG)`).
    pub ttnn: String,
    pub shape_set: Option<String>,
    /// Input shapes as written (model order).
    pub shapes: Vec<Vec<u64>>,
    /// The primary device tensor's shape (after the device layout).
    pub device_shape: Vec<u64>,
    /// `as-given`, `nhwc`, `nhwc-flat`.
    pub device_layout: String,
    pub dtype: String,
    pub layout: String,
    /// `l1`, `dram`, or `dram->l1` when inputs and outputs differ.
    pub memory: String,
    pub device: String,
    pub params: String,
    /// `sim` or `metal`.
    pub backend: String,
    /// The runtime that answered (`ttnn 0.81.1 (mock)`, `sim 0.1.0`).
    pub runtime_version: String,
    pub class: Class,
    /// The raw message the runtime gave (empty when the case fitted).
    pub message: String,
    /// What shapes.toml expected: `any`, `must_oom`, `must_fit`.
    pub expect: String,

    // The failing allocation, as the OOM message carries it (0 when the case fitted).
    pub buffer_type: Option<String>,
    pub total_bytes: u64,
    pub banks: u64,
    pub per_bank_bytes: u64,
    pub bank_bytes: u64,
    /// Per-bank bytes already allocated when it failed (the case's earlier buffers).
    #[serde(default)]
    pub bank_allocated_bytes: u64,

    /// Element count × element size of the primary tensor (the seeds' "theoretical").
    pub logical_bytes: u64,
    /// The primary tensor as allocated (padded, paged).
    pub allocated_bytes: u64,
    /// memmodel's prediction: `fits` or `oom`.
    pub predicted: String,
    /// Per-core peaks of a NO_DISPATCH capture of the same case (None where not measured).
    pub peak_cb_per_core: Option<u64>,
    pub peak_l1_per_core: Option<u64>,
    /// Bytes all of the case's device buffers take (NO_DISPATCH capture, or the model).
    pub case_allocated_bytes: u64,
    /// Actual over theoretical: `case_allocated_bytes / logical_bytes`.
    pub overhead_factor: f64,

    /// Every device buffer the NO_DISPATCH capture saw (empty when not measured).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub captured_buffers: Vec<BufferRecord>,
    /// The cheapest change that makes the case fit (memory failures with `--fix`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<FixRecord>,
    /// Why the case was not measured, when it was asked to be and was not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measure_note: Option<String>,

    /// Device memory still allocated after the case, per bank, over the baseline (0 = no leak).
    pub leaked_bytes: u64,
    /// Whether the one-element canary run after this case passed (None when not run).
    pub canary_ok: Option<bool>,
    pub elapsed_ms: f64,
}

/// A fix for a case that did not fit: what to change, and whether the changed case was run and
/// fitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FixRecord {
    /// `shard`, `outputs_to_dram`, `inputs_to_dram`, `dram`, `chunk`, `bfloat8_b`, `more_chips`.
    pub kind: String,
    /// What to change, in words a user can apply.
    pub detail: String,
    /// True only when the changed case was re-run and fitted.
    pub verified: bool,
    /// The backend(s) it was re-run on (`sim`, `metal`).
    #[serde(default)]
    pub verified_on: Vec<String>,
    /// The changed case that was (or would be) run.
    pub case_id: String,
    /// Chunks or chips, where the fix has a count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pieces: Option<u64>,
    /// Why it is not verified, when it is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The largest input of one op that fits on one board (`cargo xtask threshold`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdRecord {
    pub op: String,
    pub device: String,
    pub memory: String,
    pub dtype: String,
    pub device_layout: String,
    /// The model dim searched.
    pub dim: usize,
    pub last_fit: Option<ThresholdProbe>,
    pub first_oom: Option<ThresholdProbe>,
    /// What the real runtime (metal) said of the two boundary cases (`fits`, `oom`, ...), when
    /// confirmed there.
    pub confirmed_last_fit: Option<String>,
    pub confirmed_first_oom: Option<String>,
    /// What sim said of them, when confirmed there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sim_last_fit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sim_first_oom: Option<String>,
    /// Every backend that was asked agreed: the last fit fits and the first OOM does not.
    pub confirmed: Option<bool>,
    /// Why there is no boundary (then both sides are None): the class (`invalid`, `refused`,
    /// `unmodeled`) and the reason, with the extent where the model gave no verdict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsearched: Option<String>,
}

/// `sim: fits · oom; metal: fits · oom` — what each backend asked said of the boundary cases.
pub fn threshold_confirmations(r: &ThresholdRecord) -> String {
    let mut parts = Vec::new();
    for (backend, fit, oom) in [
        ("sim", &r.sim_last_fit, &r.sim_first_oom),
        ("metal", &r.confirmed_last_fit, &r.confirmed_first_oom),
    ] {
        if fit.is_some() || oom.is_some() {
            parts.push(format!(
                "{backend}: {} · {}",
                fit.as_deref().unwrap_or("-"),
                oom.as_deref().unwrap_or("-")
            ));
        }
    }
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join("; ")
    }
}

/// One side of a threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdProbe {
    pub shape: Vec<u64>,
    pub device_shape: Vec<u64>,
    pub per_bank_bytes: u64,
    /// Bytes per bank the case needs (all its buffers alive together, or up to the failure).
    pub needed_per_bank: u64,
    pub bank_bytes: u64,
}

/// One buffer a captured case allocated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BufferRecord {
    /// `L1`, `DRAM`, `L1_SMALL`.
    pub buffer_type: String,
    pub size: u64,
    pub per_bank_bytes: u64,
}

/// Counts by class.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub cases: usize,
    pub fits: usize,
    pub oom: usize,
    pub cb_clash: usize,
    pub l1_small: usize,
    pub error: usize,
    /// Cases sim does not model (counted apart: no verdict).
    #[serde(default)]
    pub unmodeled: usize,
    pub crashed: usize,
    pub timed_out: usize,
    /// Cases whose memory did not return to the baseline.
    pub leaks: usize,
}

impl Totals {
    /// Counts over records, owned or borrowed.
    pub fn of<'a>(cases: impl IntoIterator<Item = &'a CaseRecord>) -> Totals {
        let mut t = Totals::default();
        for c in cases {
            t.add(c);
        }
        t
    }

    /// Counts one more record (a running total, as records arrive).
    pub fn add(&mut self, c: &CaseRecord) {
        self.count(c.class, c.leaked_bytes > 0);
    }

    /// Counts one more case of `class`, which leaked or not.
    pub fn count(&mut self, class: Class, leaked: bool) {
        self.cases += 1;
        match class {
            Class::Fits => self.fits += 1,
            Class::Oom => self.oom += 1,
            Class::CbClash => self.cb_clash += 1,
            Class::L1Small => self.l1_small += 1,
            Class::Error => self.error += 1,
            Class::Unmodeled => self.unmodeled += 1,
            Class::Crashed => self.crashed += 1,
            Class::TimedOut => self.timed_out += 1,
        }
        if leaked {
            self.leaks += 1;
        }
    }
}

/// A whole run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// `ttnn-oom <version>`.
    pub tool: String,
    /// When the run started, RFC 3339 UTC.
    pub generated_at: String,
    /// The command line that produced it.
    pub command: String,
    pub backend: String,
    pub runtime_version: String,
    /// The shapes file the matrix came from.
    pub shapes_file: String,
    /// `k/n` when this is one slice of a partitioned run; None for a whole run.
    pub partition: Option<String>,
    pub wall_time_ms: f64,
    pub totals: Totals,
    pub cases: Vec<CaseRecord>,
    /// Largest inputs that fit, per op and board (`cargo xtask threshold`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub thresholds: Vec<ThresholdRecord>,
}

impl CaseRecord {
    /// Whether the case ended otherwise than shapes.toml says it must, and how.
    pub fn expectation_broken(&self) -> Option<String> {
        let wanted = match self.expect.as_str() {
            "must_oom" => Class::Oom,
            "must_fit" => Class::Fits,
            "must_cb_clash" => Class::CbClash,
            _ => return None,
        };
        (self.class != wanted).then(|| {
            format!(
                "shapes.toml says this case must end {}, but it ended {}",
                wanted.name(),
                self.class.name()
            )
        })
    }

    /// `Expected OOM: [1,96,2160,3840] L1 needs 25067520 B per bank, bank has 1393312 B` —
    /// what the suite shows for a case the device refused.
    pub fn expected_oom_message(&self) -> String {
        let shapes = self
            .shapes
            .iter()
            .map(|s| {
                format!(
                    "[{}]",
                    s.iter()
                        .map(|d| d.to_string())
                        .collect::<Vec<_>>()
                        .join(",")
                )
            })
            .collect::<Vec<_>>()
            .join("x");
        match &self.buffer_type {
            Some(buffer_type) if self.per_bank_bytes > 0 && self.bank_allocated_bytes > 0 => format!(
                "Expected OOM: {shapes} {buffer_type} needs {} B per bank on top of {} B already allocated, bank has {} B ({} on {}, {})",
                self.per_bank_bytes, self.bank_allocated_bytes, self.bank_bytes, self.op, self.device, self.memory
            ),
            Some(buffer_type) if self.per_bank_bytes > 0 => format!(
                "Expected OOM: {shapes} {buffer_type} needs {} B per bank, bank has {} B ({} on {}, {})",
                self.per_bank_bytes, self.bank_bytes, self.op, self.device, self.memory
            ),
            _ => format!("Expected OOM: {shapes} ({} on {}, {}): {}", self.op, self.device, self.memory, self.message),
        }
    }
}
