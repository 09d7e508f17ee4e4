//! `cargo xtask diff`: the selected cases on the `sim` backend, on the real runtime (`metal`, in
//! worker processes) and in memmodel's estimate, side by side:
//! - verdict agreement (fits / oom / l1_small / cb_clash / error) between sim and metal, and
//!   between memmodel's estimate and metal;
//! - for every failure both report alike, the numbers of tt-metal's message (per-bank bytes of
//!   the failing buffer and the allocator's allocated / free / largest free block, or the
//!   clash's addresses), parsed by the same parser;
//! - per-core peak circular-buffer bytes of the NO_DISPATCH capture (metal's, or the golden
//!   calibration's for cases metal is not measured on in this run).
//!
//! Every disagreement is listed; the run fails on one that `model-gaps.toml` (memmodel::gaps) does not
//! list with a reason.

use crate::calibrate::{calibrate_on_metal, golden_dir};
use crate::select::CaseArgs;
use anyhow::{bail, Context, Result};
use clap::Args;
use memmodel::gaps::KnownGaps;
use memmodel::Case;
use oom_suite::calibration::{calibrate_case, Calibration};
use oom_suite::worker::WorkerKey;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use ttnn::message::parse_runtime_error;
use ttnn::Error;

#[derive(Args, Debug)]
pub struct DiffArgs {
    #[command(flatten)]
    pub cases: CaseArgs,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Where metal's answers come from: `live` (the real runtime, now) or `golden` (the
    /// calibration files `cargo xtask calibrate` wrote; instant, no runtime needed).
    #[arg(long, default_value = "live")]
    pub metal: String,
    /// Also measure, on metal, the copying reshapes whose capture takes tens of seconds (by
    /// default their peaks come from the golden calibration).
    #[arg(long)]
    pub measure_slow: bool,
    /// The disagreements accepted, with reasons.
    #[arg(long, value_name = "FILE")]
    pub allowlist: Option<PathBuf>,
    /// Worker threads for metal.
    #[arg(long, default_value_t = 2)]
    pub jobs: usize,
    /// Seconds one metal case may take before its worker is killed.
    #[arg(long, default_value_t = 600)]
    pub timeout: u64,
    /// Instead of the matrix, N cases drawn at random from each op's declared call space
    /// (memmodel::space), filtered by --op, --dtype, --layout, --memory, --device.
    #[arg(long, value_name = "N")]
    pub random: Option<u64>,
    /// The random stream (default: from the clock; printed either way, so a run can be repeated).
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
    /// With --random: every tile-padded dim in whole tiles (a conv2d input's width too, so its
    /// TILE input views as [N, H, W, C] and DRAM slicing is planned), to reach such regions.
    #[arg(long)]
    pub tile_aligned: bool,
    /// Largest primary input a random case makes, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 1024)]
    pub max_mib: u64,
    /// Cases saved earlier (JSON lines of case specs, as --save-cases writes) instead of the matrix.
    #[arg(long, value_name = "FILE")]
    pub cases_file: Option<PathBuf>,
    /// Answer inside memmodel's unmodeled regions too (memmodel::coverage), to see how far off
    /// its plans are there while working on them. Never for a verdict users rely on.
    #[arg(long)]
    pub ungated: bool,
    /// Pass while at least this percent of the modeled cases agree in everything (verdict,
    /// numbers, CB peaks); default: every disagreement not in model-gaps.toml fails the run.
    /// For CI's random slice, where the call space still has known residual regions.
    #[arg(long, value_name = "PCT")]
    pub min_agreement: Option<f64>,
    /// Write the cases that disagree (JSON lines) here: regression cases for --cases-file.
    #[arg(long, value_name = "FILE")]
    pub save_cases: Option<PathBuf>,
    /// Only slice K of N of the selected cases (every N-th by id, as `cargo xtask oom
    /// --partition`): CI's live whole-matrix check runs a slice chosen by the commit.
    #[arg(long, value_name = "K/N")]
    pub partition: Option<String>,
}

/// The cases a diff runs: the matrix's, a saved list, or a random draw.
fn cases_of(args: &DiffArgs) -> Result<Vec<Case>> {
    if let Some(n) = args.random {
        let seed = args.seed.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
        let mut filter = args
            .cases
            .random_filter(Some(args.max_mib.max(1).saturating_mul(1 << 20)))?;
        filter.tile_aligned = args.tile_aligned;
        eprintln!(
            "random draw: {n} cases, seed {seed} (repeat with --random {n} --seed {seed} and the same filters)"
        );
        let pinned = args.cases.pinned_params()?;
        let mut out = Vec::with_capacity(n as usize);
        // With pinned params a draw the op rejects with them (a slice count above the output's
        // rows) is skipped: the next index is drawn instead, at most 20 times as many.
        let mut i = 0;
        while (out.len() as u64) < n {
            if i >= n.saturating_mul(20) {
                bail!(
                    "--param leaves too few valid draws ({} of {n}, seed {seed})",
                    out.len()
                );
            }
            match memmodel::space::sample(seed, i, &filter) {
                Some(mut c) => {
                    if pinned.0.is_empty() {
                        out.push(c);
                    } else {
                        c.params = c.params.merged(&pinned);
                        if c.signature().is_ok() {
                            out.push(c);
                        }
                    }
                }
                None => bail!("the filters leave nothing to draw (case {i} of seed {seed})"),
            }
            i += 1;
        }
        return Ok(out);
    }
    if let Some(path) = &args.cases_file {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        return text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
            .map(|(n, l)| {
                let spec: memmodel::case::CaseSpec = serde_json::from_str(l)
                    .with_context(|| format!("{}:{}", path.display(), n + 1))?;
                spec.to_case()
                    .map_err(|e| anyhow::anyhow!("{}:{}: {e}", path.display(), n + 1))
            })
            .collect();
    }
    args.cases.select()
}

/// What kind of disagreement (the kinds `model-gaps.toml` lists).
pub use memmodel::gaps::GapKind as Kind;

#[derive(Debug, Clone, Serialize)]
pub struct Disagreement {
    pub case: String,
    pub kind: Kind,
    pub sim: String,
    pub metal: String,
    /// The allowlist's reason, when listed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed: Option<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub cases: usize,
    /// Cases with a verdict from sim and memmodel (the agreement is over these).
    pub modeled_cases: usize,
    pub verdict_agreement_pct: f64,
    pub model_verdict_agreement_pct: f64,
    pub per_bank_mismatches: usize,
    pub cb_peak_mismatches: usize,
    /// Cases whose CB peaks were compared (metal measured, or the golden file has them).
    pub cb_peaks_compared: usize,
    /// Failures both backends report alike whose numbers were compared.
    pub failures_compared: usize,
    pub verdicts: BTreeMap<String, usize>,
    /// Captures the runtime itself could not take (its run agreed with sim): listed, not counted.
    pub runtime_capture_failures: Vec<String>,
    /// Cases sim or memmodel do not model, by reason: no verdict, not counted in the agreement.
    pub unmodeled: BTreeMap<String, usize>,
    pub disagreements: Vec<Disagreement>,
    /// Disagreements the allowlist does not list (the run fails when any).
    pub unlisted: usize,
    /// Allowlist entries that matched nothing in this run.
    pub stale_allowlist_entries: Vec<String>,
    pub sim_seconds: f64,
    pub metal_seconds: f64,
    pub metal_source: String,
}

fn default_allowlist() -> PathBuf {
    crate::paths::workspace_root().join("model-gaps.toml")
}

/// The known gaps (`model-gaps.toml`); none when the file does not exist.
pub fn load_allowlist(path: &std::path::Path) -> Result<KnownGaps> {
    if !path.exists() {
        return Ok(KnownGaps::default());
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    KnownGaps::parse(&text, &path.display().to_string()).map_err(anyhow::Error::msg)
}

/// The numbers of a failure's message that must agree (everything but the program number).
fn failure_numbers(c: &Calibration) -> Option<String> {
    if c.message.is_empty() {
        return None;
    }
    Some(match parse_runtime_error(&c.message) {
        Error::OutOfMemory {
            buffer_type,
            total_bytes,
            banks,
            per_bank_bytes,
            bank_bytes,
            allocated,
            free,
            largest_free_block,
            ..
        } => format!(
            "{} {total_bytes} B in {banks} banks, {per_bank_bytes} B per bank of {bank_bytes}; allocated {allocated}, free {free}, largest free block {largest_free_block}",
            buffer_type.tt_name()
        ),
        Error::CircularBufferClash {
            core_range,
            l1_buffer_at,
            cb_region_end,
            dataflow,
            ..
        } => format!(
            "clash on {core_range}: L1 buffer at {l1_buffer_at}, CB region ends at {cb_region_end}{}",
            if dataflow { " (dataflow)" } else { "" }
        ),
        Error::CircularBuffersExceedL1 {
            core_range,
            cb_region_end,
            l1_bytes,
            ..
        } => format!("CBs beyond L1 on {core_range}: end {cb_region_end} of {l1_bytes}"),
        Error::L1SmallTooSmall {
            total_bytes,
            banks,
            per_bank_bytes,
            l1_small_bytes,
            ..
        } => format!(
            "L1_SMALL {total_bytes} B in {banks} banks, {per_bank_bytes} B per bank of {l1_small_bytes}"
        ),
        other => other.raw().to_string(),
    })
}

fn verdict_text(c: &Calibration) -> String {
    match failure_numbers(c) {
        Some(n) => format!(
            "{} at {}: {n}",
            c.outcome,
            c.failed_at.as_deref().unwrap_or("?")
        ),
        None => c.outcome.clone(),
    }
}

/// Compares one case; returns its disagreements.
fn compare(
    case: &Case,
    sim: &Calibration,
    metal: &Calibration,
    golden: Option<&Calibration>,
    summary: &mut Summary,
) -> Vec<Disagreement> {
    let id = case.id();
    let mut out = Vec::new();
    let mut push = |kind, sim: String, metal: String| {
        out.push(Disagreement {
            case: id.clone(),
            kind,
            sim,
            metal,
            allowed: None,
        })
    };
    let (model, model_reason) = match case.estimate() {
        Ok(e) => (e.verdict.name().to_string(), String::new()),
        Err(e) if memmodel::exec::is_unmodeled(&e) => ("unmodeled".to_string(), e.to_string()),
        // A call memmodel refuses: the runtime must refuse it too.
        Err(e) => ("error".to_string(), e.to_string()),
    };
    if sim.outcome == "unmodeled" || model == "unmodeled" {
        // No verdict to compare: counted apart, with the reason.
        *summary
            .unmodeled
            .entry(if model_reason.is_empty() {
                sim.message.clone()
            } else {
                model_reason
            })
            .or_default() += 1;
        return out;
    }
    *summary.verdicts.entry(metal.outcome.clone()).or_default() += 1;
    if sim.outcome != metal.outcome {
        push(Kind::Verdict, verdict_text(sim), verdict_text(metal));
    } else if metal.outcome != "fits" {
        summary.failures_compared += 1;
        if failure_numbers(sim) != failure_numbers(metal) || sim.failed_at != metal.failed_at {
            summary.per_bank_mismatches += 1;
            push(Kind::PerBank, verdict_text(sim), verdict_text(metal));
        }
    }
    // Metal's capture, or the golden calibration's for a case not measured in this run.
    let measured = if metal.peaks.is_some() {
        Some(metal)
    } else {
        golden.filter(|g| g.peaks.is_some())
    };
    if let (Some(s), Some(m)) = (sim.peaks, measured.and_then(|m| m.peaks)) {
        summary.cb_peaks_compared += 1;
        let capture_error = |c: &Calibration| c.capture_error.clone().unwrap_or_default();
        let m_err = measured.map(capture_error).unwrap_or_default();
        let same_refusal = !m_err.is_empty() && capture_error(sim) == m_err;
        if same_refusal {
            // Both captures end at the same refusal: what the runtime built before raising
            // (programs it validates late) is not a peak of a call that runs.
        } else if !m_err.is_empty() && capture_error(sim).is_empty() && sim.outcome == metal.outcome
        {
            // The runtime's own capture failed where its run did not: nothing to compare.
            summary
                .runtime_capture_failures
                .push(format!("{id}: {m_err}"));
        } else if !m_err.is_empty() && sim.outcome == metal.outcome && sim.outcome != "fits" {
            // Both captures fail, each at its own error, on a call that does not run (its
            // inputs run out first, say): no peak of a call that runs to compare. Listed.
            summary.runtime_capture_failures.push(format!(
                "{id}: {m_err} (memmodel's capture: {})",
                capture_error(sim)
            ));
        } else if (s.cb, s.dataflow) != (m.cb, m.dataflow) || capture_error(sim) != m_err {
            summary.cb_peak_mismatches += 1;
            let show = |p: memmodel::program::Peaks, err: String| {
                let mut t = format!("cb {}, dataflow {}", p.cb, p.dataflow);
                if !err.is_empty() {
                    t.push_str(&format!(" (capture failed: {err})"));
                }
                t
            };
            push(Kind::CbPeak, show(s, capture_error(sim)), show(m, m_err));
        }
    }
    let model_agrees = model == metal.outcome;
    if !model_agrees {
        let shown = if model_reason.is_empty() {
            model
        } else {
            format!("{model}: {model_reason}")
        };
        push(Kind::Model, shown, verdict_text(metal));
    }
    out
}

fn load_golden(cases: &[Case]) -> Result<HashMap<String, Calibration>> {
    let dir = golden_dir();
    let mut ops: Vec<&str> = cases.iter().map(|c| c.op.name).collect();
    ops.sort_unstable();
    ops.dedup();
    let mut out = HashMap::new();
    for op in ops {
        let path = dir.join(format!("{op}.jsonl"));
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            let c: Calibration = serde_json::from_str(line)
                .with_context(|| format!("{}:{}", path.display(), n + 1))?;
            out.insert(c.id.clone(), c);
        }
    }
    Ok(out)
}

/// Runs every case on sim (one device per board and L1_SMALL, in process).
pub fn run_sim(cases: &[Case]) -> Result<Vec<Calibration>> {
    let mut devices: BTreeMap<WorkerKey, ttnn::sim::Device> = BTreeMap::new();
    let mut out = Vec::with_capacity(cases.len());
    for case in cases {
        let key = WorkerKey::of(case);
        if !devices.contains_key(&key) {
            let dev = ttnn::sim::Device::open(
                case.device,
                ttnn::sim::DeviceOptions::with_l1_small(key.l1_small_size),
            )
            .with_context(|| format!("opening a sim {}", case.device.name))?;
            devices.insert(key.clone(), dev);
        }
        out.push(calibrate_case(&devices[&key], case, true));
    }
    Ok(out)
}

pub fn run(args: DiffArgs) -> Result<()> {
    if args.ungated {
        memmodel::coverage::enforce_regions(false);
    }
    let mut cases = cases_of(&args)?;
    if let Some(p) = &args.partition {
        let (k, n) = crate::oom::parse_partition(p)?;
        cases = crate::oom::partition(cases, k, n);
    }
    if cases.is_empty() {
        bail!("no case selected");
    }
    let allowlist_path = args.allowlist.clone().unwrap_or_else(default_allowlist);
    let allowlist = load_allowlist(&allowlist_path)?;
    let golden = load_golden(&cases)?;

    let t = Instant::now();
    let sim = run_sim(&cases)?;
    let sim_seconds = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let metal: Vec<Calibration> = match args.metal.as_str() {
        "live" => {
            let mut got: Vec<Option<Calibration>> = vec![None; cases.len()];
            let total = cases.len();
            let mut n = 0usize;
            calibrate_on_metal(
                &cases,
                args.measure_slow,
                args.jobs,
                Duration::from_secs(args.timeout.max(1)),
                |i, c, _| {
                    n += 1;
                    if !args.json && (n.is_multiple_of(1000) || n == total) {
                        eprintln!("  metal: {n}/{total} cases, {:.0} s", t.elapsed().as_secs_f64());
                    }
                    got[i] = Some(c);
                },
            )?;
            got.into_iter()
                .map(|c| c.context("a case got no answer from metal"))
                .collect::<Result<_>>()?
        }
        "golden" => cases
            .iter()
            .map(|c| {
                golden.get(&c.id()).cloned().with_context(|| {
                    format!(
                        "{} is not in the golden calibration; run `cargo xtask calibrate` (or --metal live)",
                        c.id()
                    )
                })
            })
            .collect::<Result<_>>()?,
        other => bail!("--metal {other}: expected live or golden"),
    };
    let metal_seconds = t.elapsed().as_secs_f64();

    let mut summary = Summary {
        cases: cases.len(),
        sim_seconds: (sim_seconds * 1000.0).round() / 1000.0,
        metal_seconds: (metal_seconds * 10.0).round() / 10.0,
        metal_source: args.metal.clone(),
        ..Summary::default()
    };
    let (mut agree, mut model_agree, mut modeled) = (0usize, 0usize, 0usize);
    let mut to_save = Vec::new();
    for ((case, s), m) in cases.iter().zip(&sim).zip(&metal) {
        let before: usize = summary.unmodeled.values().sum();
        let found = compare(case, s, m, golden.get(&m.id), &mut summary);
        if summary.unmodeled.values().sum::<usize>() > before {
            continue;
        }
        modeled += 1;
        if !found.is_empty() {
            to_save.push(case.to_spec());
        }
        if s.outcome == m.outcome {
            agree += 1;
        }
        if !found.iter().any(|d| d.kind == Kind::Model) {
            model_agree += 1;
        }
        summary.disagreements.extend(found);
    }
    summary.modeled_cases = modeled;
    let pct = |n: usize| (n as f64 * 10000.0 / modeled.max(1) as f64).round() / 100.0;
    if let Some(path) = &args.save_cases {
        let mut text = String::new();
        for spec in &to_save {
            text.push_str(&serde_json::to_string(spec)?);
            text.push('\n');
        }
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
        eprintln!(
            "{} disagreeing case(s) written to {}",
            to_save.len(),
            path.display()
        );
    }
    summary.verdict_agreement_pct = pct(agree);
    summary.model_verdict_agreement_pct = pct(model_agree);
    let mut used = vec![false; allowlist.gap.len()];
    for d in &mut summary.disagreements {
        if let Some(i) = allowlist.find(&d.case, d.kind) {
            used[i] = true;
            d.allowed = Some(allowlist.gap[i].reason.clone());
        }
    }
    // A `cb_peak` entry also covers plans whose trace (programs, buffers) differs from the
    // golden capture while the peaks agree: memmodel's calibration test needs those entries,
    // so they are not stale.
    for case in &cases {
        let id = case.id();
        let Some(i) = allowlist.find(&id, Kind::CbPeak) else {
            continue;
        };
        if used[i] {
            continue;
        }
        if let (Some(g), Ok(plan)) = (golden.get(&id), case.plan()) {
            let want = memmodel::trace::normalize(&g.trace);
            if !g.trace.is_empty() && want != memmodel::trace::normalize(&plan.trace()) {
                used[i] = true;
            }
        }
    }
    summary.unlisted = summary
        .disagreements
        .iter()
        .filter(|d| d.allowed.is_none())
        .count();
    let selected_ops: Vec<&str> = cases.iter().map(|c| c.op.name).collect();
    summary.stale_allowlist_entries = allowlist
        .gap
        .iter()
        .zip(&used)
        .filter(|(e, used)| {
            !**used
                && selected_ops
                    .iter()
                    .any(|op| e.case.starts_with(&format!("{op}/")))
        })
        .map(|(e, _)| format!("{} ({})", e.case, e.kind.name()))
        .collect();

    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print_table(&summary, &allowlist_path);
    }
    if let Some(min) = args.min_agreement {
        let clean = summary.modeled_cases.saturating_sub(to_save.len());
        let pct = clean as f64 * 100.0 / summary.modeled_cases.max(1) as f64;
        eprintln!(
            "{clean} of {} modeled cases agree in everything ({pct:.2} %, at least {min} % required)",
            summary.modeled_cases
        );
        if pct < min {
            bail!("agreement {pct:.2} % is below {min} % (seed and cases above)");
        }
        return Ok(());
    }
    if summary.unlisted > 0 {
        bail!(
            "{} disagreement(s) not in {}",
            summary.unlisted,
            allowlist_path.display()
        );
    }
    Ok(())
}

fn print_table(s: &Summary, allowlist: &std::path::Path) {
    println!(
        "cases                      {} ({} modeled, {} unmodeled)",
        s.cases,
        s.modeled_cases,
        s.cases - s.modeled_cases
    );
    println!(
        "verdict agreement          {:.2} % (sim vs metal)",
        s.verdict_agreement_pct
    );
    println!(
        "model verdict agreement    {:.2} % (memmodel estimate vs metal)",
        s.model_verdict_agreement_pct
    );
    println!(
        "per-bank mismatches        {} of {} failures compared",
        s.per_bank_mismatches, s.failures_compared
    );
    println!(
        "CB peak mismatches         {} of {} cases compared",
        s.cb_peak_mismatches, s.cb_peaks_compared
    );
    let verdicts: Vec<String> = s.verdicts.iter().map(|(k, v)| format!("{k} {v}")).collect();
    println!("metal verdicts             {}", verdicts.join(", "));
    println!(
        "time                       sim {:.3} s, metal ({}) {:.1} s",
        s.sim_seconds, s.metal_source, s.metal_seconds
    );
    if !s.disagreements.is_empty() {
        println!("\ndisagreements ({}):", s.disagreements.len());
        for d in &s.disagreements {
            println!(
                "  [{}] {}\n      sim:   {}\n      metal: {}{}",
                d.kind.name(),
                d.case,
                d.sim,
                d.metal,
                d.allowed
                    .as_ref()
                    .map(|r| format!("\n      allowed: {r}"))
                    .unwrap_or_default()
            );
        }
    }
    if !s.runtime_capture_failures.is_empty() {
        println!(
            "\ncaptures the runtime itself could not take ({}, not counted):",
            s.runtime_capture_failures.len()
        );
        for f in &s.runtime_capture_failures {
            println!("  {}", f.chars().take(220).collect::<String>());
        }
    }
    if !s.unmodeled.is_empty() {
        println!("\nunmodeled (no verdict; the runtime answers them):");
        for (why, n) in &s.unmodeled {
            println!("  {n:>5}  {why}");
        }
    }
    for e in &s.stale_allowlist_entries {
        println!("note: {} lists {e}, which agrees now", allowlist.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cal(outcome: &str, message: &str) -> Calibration {
        Calibration {
            id: "x".into(),
            device: "n150".into(),
            l1_small: 0,
            outcome: outcome.into(),
            failed_at: Some("run".into()),
            message: message.into(),
            held_by_program_cache: BTreeMap::new(),
            peaks: None,
            capture_error: None,
            trace: Vec::new(),
        }
    }

    #[test]
    fn clash_messages_compare_without_the_program_number() {
        let a = cal("cb_clash", "Statically allocated circular buffers in program 69 clash with L1 buffers on core range [0-0 - 7-7]. L1 buffer allocated at 176128 and static circular buffer region ends at 405344");
        let b = cal("cb_clash", "Statically allocated circular buffers in program 659 clash with L1 buffers on core range [0-0 - 7-7]. L1 buffer allocated at 176128 and static circular buffer region ends at 405344");
        assert_eq!(failure_numbers(&a), failure_numbers(&b));
        let c = cal("cb_clash", "Statically allocated circular buffers in program 659 clash with L1 buffers on core range [0-0 - 7-7]. L1 buffer allocated at 176160 and static circular buffer region ends at 405344");
        assert_ne!(failure_numbers(&a), failure_numbers(&c));
    }

    #[test]
    fn a_gap_needs_a_reason_and_a_known_kind() {
        let dir = std::env::temp_dir().join(format!("ttnn-oom-allow-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("a.toml");
        std::fs::write(
            &p,
            "[[gap]]\ncase = \"x/*\"\nkind = \"verdict\"\nreason = \" \"\n",
        )
        .unwrap();
        let e = load_allowlist(&p).unwrap_err().to_string();
        assert!(e.contains("gives no reason"), "{e}");
        std::fs::write(
            &p,
            "[[gap]]\ncase = \"x/*\"\nkind = \"nope\"\nreason = \"r\"\n",
        )
        .unwrap();
        assert!(load_allowlist(&p).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
