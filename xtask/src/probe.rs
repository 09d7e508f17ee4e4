//! `cargo xtask probe`: one case on a device — what the runtime says (ok, or the typed error
//! with tt-metal's numbers) and what a NO_DISPATCH capture of the same case measures per core.
//! Also the hidden `cargo xtask device-check` that `setup` runs once per board.

use crate::select::CaseArgs;
use anyhow::{bail, Context, Result};
use clap::Args;
use memmodel::{BufferType, Case, DeviceSpec};
use serde::{Deserialize, Serialize};
use std::time::Instant;
use ttnn::metal::{Device, DeviceOptions, Runtime, Target};
use ttnn::{Backend, Capture, CaseOutcome, DeviceApi, Error};

#[derive(Args, Debug)]
pub struct ProbeArgs {
    #[command(flatten)]
    pub cases: CaseArgs,
    /// Which implementation runs the case: metal (the real runtime) or sim.
    #[arg(long, default_value = "metal")]
    pub backend: String,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Skip the NO_DISPATCH measurement.
    #[arg(long = "no-measure")]
    pub no_measure: bool,
    /// Open the real board the runtime finds instead of the mock device.
    #[arg(long)]
    pub hardware: bool,
    /// Also print the NO_DISPATCH capture's allocation trace (buffers, frees, programs and
    /// their CBs, as memmodel::trace normalizes it), to diff one backend's against the other's.
    #[arg(long)]
    pub trace: bool,
    /// On sim: answer inside memmodel's unmodeled regions too (memmodel::coverage), to see how
    /// far off its plan is there while working on it. Never for a verdict users rely on.
    #[arg(long)]
    pub ungated: bool,
}

/// The probe's JSON object.
#[derive(Debug, Serialize)]
pub struct ProbeReport {
    pub case: String,
    pub backend: String,
    pub device: String,
    pub call: String,
    /// "ok" | "oom" | "cb_clash" | "l1_small" | "error".
    pub outcome: String,
    /// The error's kind (`out_of_memory`, `circular_buffer_clash`, ...); null when ok.
    pub kind: Option<String>,
    /// Where it failed: `input 0 (input)` or `run`.
    pub failed_at: Option<String>,
    pub buffer_type: Option<String>,
    pub total_bytes: Option<u64>,
    pub banks: Option<u64>,
    pub per_bank_bytes: Option<u64>,
    pub bank_bytes: Option<u64>,
    pub allocated: Option<u64>,
    pub free: Option<u64>,
    pub largest_free_block: Option<u64>,
    /// tt-metal's raw text.
    pub message: Option<String>,
    pub peak_cb_per_core: Option<u64>,
    pub peak_dataflow_buffer_per_core: Option<u64>,
    pub peak_l1_per_core: Option<u64>,
    pub peak_total_per_core: Option<u64>,
    /// Why the NO_DISPATCH measurement failed, if it did.
    pub measure_error: Option<String>,
    pub elapsed_ms: f64,
    /// Memories whose allocations did not return to their baseline (must be empty).
    pub leaks: Vec<ttnn::case::Leak>,
    /// Memory the op's cached program kept (released by clearing the program cache).
    pub held_by_program_cache: Vec<ttnn::case::Leak>,
    pub l1_small_size: u64,
    pub runtime_version: String,
}

impl ProbeReport {
    fn new(
        case: &Case,
        backend: Backend,
        outcome: &CaseOutcome,
        measured: &Result<Capture, String>,
        l1_small: u64,
        version: String,
    ) -> Self {
        let mut r = ProbeReport {
            case: case.id(),
            backend: backend.name().into(),
            device: case.device.name.into(),
            call: case
                .signature()
                .map(|s| s.invocation.render())
                .unwrap_or_default(),
            outcome: outcome.outcome.name().into(),
            kind: outcome.error.as_ref().map(|e| e.kind().to_string()),
            failed_at: outcome.failed_at.clone(),
            buffer_type: None,
            total_bytes: None,
            banks: None,
            per_bank_bytes: None,
            bank_bytes: None,
            allocated: None,
            free: None,
            largest_free_block: None,
            message: outcome.error.as_ref().map(|e| e.raw().to_string()),
            peak_cb_per_core: None,
            peak_dataflow_buffer_per_core: None,
            peak_l1_per_core: None,
            peak_total_per_core: None,
            measure_error: None,
            elapsed_ms: outcome.elapsed.as_secs_f64() * 1000.0,
            leaks: outcome.leaks.clone(),
            held_by_program_cache: outcome.held_by_program_cache.clone(),
            l1_small_size: l1_small,
            runtime_version: version,
        };
        match &outcome.error {
            Some(Error::OutOfMemory {
                buffer_type,
                total_bytes,
                banks,
                per_bank_bytes,
                bank_bytes,
                allocated,
                free,
                largest_free_block,
                ..
            }) => {
                r.buffer_type = Some(buffer_type.name().into());
                r.total_bytes = Some(*total_bytes);
                r.banks = Some(*banks);
                r.per_bank_bytes = Some(*per_bank_bytes);
                r.bank_bytes = Some(*bank_bytes);
                r.allocated = Some(*allocated);
                r.free = Some(*free);
                r.largest_free_block = Some(*largest_free_block);
            }
            Some(Error::L1SmallTooSmall {
                total_bytes,
                banks,
                per_bank_bytes,
                l1_small_bytes,
                ..
            }) => {
                r.buffer_type = Some(BufferType::L1Small.name().into());
                r.total_bytes = Some(*total_bytes);
                r.banks = Some(*banks);
                r.per_bank_bytes = Some(*per_bank_bytes);
                r.bank_bytes = Some(*l1_small_bytes);
            }
            _ => {}
        }
        match measured {
            Ok(c) => {
                r.peak_cb_per_core = Some(c.per_core.peak_cb);
                r.peak_dataflow_buffer_per_core = Some(c.per_core.peak_dataflow_buffer);
                r.peak_l1_per_core = Some(c.per_core.peak_l1);
                r.peak_total_per_core = Some(c.per_core.peak_total);
            }
            Err(e) => r.measure_error = Some(e.clone()),
        }
        r
    }

    fn human(&self) -> String {
        let mut s = format!("{} [{}]: ", self.case, self.backend);
        match (self.outcome.as_str(), self.total_bytes) {
            ("ok", _) => s.push_str("ok"),
            ("oom", Some(total)) => s.push_str(&format!(
                "OOM — {total} B of {} over {} banks needs {} B per bank, bank is {} B (allocated {} B, free {} B)",
                self.buffer_type.as_deref().unwrap_or("?").to_uppercase(),
                self.banks.unwrap_or(0),
                self.per_bank_bytes.unwrap_or(0),
                self.bank_bytes.unwrap_or(0),
                self.allocated.unwrap_or(0),
                self.free.unwrap_or(0),
            )),
            (other, _) => s.push_str(&other.to_uppercase()),
        }
        if let Some(at) = &self.failed_at {
            s.push_str(&format!(" at {at}"));
        }
        s.push_str(&format!(" ({:.1} ms)", self.elapsed_ms));
        match (self.peak_cb_per_core, self.peak_l1_per_core) {
            (Some(cb), Some(l1)) => s.push_str(&format!(
                "\n  NO_DISPATCH per core: CB {cb} B, dataflow buffers {} B, L1 buffers {l1} B, total {} B",
                self.peak_dataflow_buffer_per_core.unwrap_or(0),
                self.peak_total_per_core.unwrap_or(0)
            )),
            _ => {
                if let Some(e) = &self.measure_error {
                    s.push_str(&format!("\n  NO_DISPATCH measurement: {e}"));
                }
            }
        }
        if let Some(m) = &self.message {
            s.push_str(&format!("\n  runtime: {m}"));
        }
        if !self.leaks.is_empty() {
            s.push_str(&format!("\n  LEAK: {:?}", self.leaks));
        }
        s
    }
}

pub fn run(mut args: ProbeArgs) -> Result<()> {
    let backend: Backend = args
        .backend
        .parse()
        .map_err(|e: String| anyhow::anyhow!("--backend: {e}"))?;
    // Probe defaults: one board and one memory unless told otherwise.
    if args.cases.device.is_empty() {
        args.cases.device.push("n150".into());
    }
    if args.cases.memory.is_empty() {
        args.cases.memory.push("l1".into());
    }
    let cases = args.cases.select()?;
    let [case] = cases.as_slice() else {
        bail!(
            "probe runs one case; the filters select {}:\n  {}\nnarrow them (--op, --shape, --memory, --device, ...)",
            cases.len(),
            cases.iter().take(10).map(Case::id).collect::<Vec<_>>().join("\n  ")
        );
    };
    if args.ungated {
        memmodel::coverage::enforce_regions(false);
    }
    let measure = !args.no_measure || args.trace;
    let (report, measured) = match backend {
        Backend::Metal => probe_metal(case, measure, args.hardware)?,
        Backend::Sim => probe_sim(case, measure)?,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{}", report.human());
    }
    if args.trace {
        match &measured {
            Ok(c) => print!("{}", trace_lines(&c.trace)),
            Err(e) => println!("no trace: the NO_DISPATCH measurement {e}"),
        }
    }
    Ok(())
}

/// A capture's trace, normalized ([`memmodel::trace::normalize`]), one event per line: a
/// program, then its buffers indented.
fn trace_lines(trace: &[memmodel::trace::Event]) -> String {
    use memmodel::trace::Normal;
    let mut s = String::new();
    for e in memmodel::trace::normalize(trace) {
        match e {
            Normal::Alloc {
                memory,
                size,
                per_bank,
                page,
            } => s.push_str(&format!(
                "alloc {memory} {size} per bank {per_bank} page {page}\n"
            )),
            Normal::Free(n) => s.push_str(&format!("free #{n}\n")),
            Normal::Program { op, factory, cbs } => {
                s.push_str(&format!("program {op} {factory}\n"));
                for (kind, size, cores) in cbs {
                    s.push_str(&format!("  {kind:?} {size} {cores}\n"));
                }
            }
        }
    }
    s
}

/// L1_SMALL the device opens with: what the op declares it needs (its signature), so the
/// runtime is asked whatever memmodel's plan says (or whether it has one).
fn l1_small_of(case: &Case) -> Result<u64> {
    Ok(case
        .signature()
        .map_err(|e| anyhow::anyhow!("{}: {e}", case.id()))?
        .l1_small_bytes)
}

/// The case on the embedded `sim` device (memmodel's plans on tt-metal's allocator rules).
fn probe_sim(case: &Case, measure: bool) -> Result<(ProbeReport, Result<Capture, String>)> {
    let l1_small = l1_small_of(case)?;
    let device = ttnn::sim::Device::open(
        case.device,
        ttnn::sim::DeviceOptions::with_l1_small(l1_small),
    )?;
    let outcome = ttnn::run_case(&device, case)?;
    let measured = if measure {
        ttnn::measure_case(&device, case).map_err(|e| format!("failed: {e}"))
    } else {
        Err("skipped (--no-measure)".to_string())
    };
    let report = ProbeReport::new(
        case,
        Backend::Sim,
        &outcome,
        &measured,
        l1_small,
        ttnn::sim::SIM_VERSION.to_string(),
    );
    Ok((report, measured))
}

fn probe_metal(
    case: &Case,
    measure: bool,
    hardware: bool,
) -> Result<(ProbeReport, Result<Capture, String>)> {
    let l1_small = l1_small_of(case)?;
    let rt = Runtime::discover()?;
    let options = DeviceOptions {
        l1_small_size: l1_small,
        target: if hardware {
            Target::Hardware
        } else {
            Target::Mock
        },
        device_id: 0,
    };
    let device = Device::open(&rt, case.device, options)?;
    let outcome = ttnn::run_case(&device, case)?;
    let measured = if measure {
        ttnn::measure_case(&device, case).map_err(|e| format!("failed: {e}"))
    } else {
        Err("skipped (--no-measure)".to_string())
    };
    let version = rt.version().unwrap_or_default();
    let report = ProbeReport::new(case, Backend::Metal, &outcome, &measured, l1_small, version);
    if let Err((_, e)) = device.close() {
        bail!("closing the device failed: {e}");
    }
    Ok((report, measured))
}

// ---- device-check ---------------------------------------------------------------------------

#[derive(Args, Debug)]
pub struct DeviceCheckArgs {
    /// The board to open (n150, p150).
    #[arg(long)]
    pub device: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ViewReport {
    pub banks: u64,
    pub bank_bytes: u64,
}

/// What `device-check` prints: the board as the runtime sees it.
#[derive(Debug, Serialize, Deserialize)]
pub struct DeviceReport {
    pub device: String,
    pub description: serde_json::Value,
    pub l1: ViewReport,
    pub dram: ViewReport,
    pub open_ms: f64,
    pub runtime_version: String,
}

impl DeviceReport {
    /// The runtime must agree with memmodel's measured spec.
    pub fn check_against(&self, spec: &DeviceSpec) -> Result<()> {
        let want = [
            ("L1 banks", spec.l1_banks, self.l1.banks),
            ("L1 bytes per bank", spec.l1_bank_bytes, self.l1.bank_bytes),
            ("DRAM banks", spec.dram_banks, self.dram.banks),
            (
                "DRAM bytes per bank",
                spec.dram_bank_bytes,
                self.dram.bank_bytes,
            ),
        ];
        for (what, expected, got) in want {
            if expected != got {
                bail!(
                    "the mock {} reports {got} {what}; memmodel's spec says {expected} (a different runtime version?)",
                    spec.name
                );
            }
        }
        Ok(())
    }
}

pub fn device_check(args: DeviceCheckArgs) -> Result<()> {
    let spec = DeviceSpec::by_name(&args.device).map_err(|e| anyhow::anyhow!("--device: {e}"))?;
    let rt = Runtime::discover()?;
    let t = Instant::now();
    let device = Device::open(&rt, spec, DeviceOptions::default())
        .with_context(|| format!("opening the mock {}", spec.name))?;
    let open_ms = t.elapsed().as_secs_f64() * 1000.0;
    let l1 = device.memory_view(BufferType::L1)?;
    let dram = device.memory_view(BufferType::Dram)?;
    let report = DeviceReport {
        device: spec.name.into(),
        description: device.describe()?,
        l1: ViewReport {
            banks: l1.banks,
            bank_bytes: l1.bank_bytes,
        },
        dram: ViewReport {
            banks: dram.banks,
            bank_bytes: dram.bank_bytes,
        },
        open_ms,
        runtime_version: rt.version()?,
    };
    if let Err((_, e)) = device.close() {
        bail!("closing the device failed: {e}");
    }
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
