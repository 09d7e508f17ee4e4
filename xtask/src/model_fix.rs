//! `cargo xtask model --fix`: per board, the cheapest per-call changes that make the whole model
//! fit, searched on sim (`memmodel::model_fix`, the single-op fixes of `memmodel::fix` for the
//! failing call), the fixed model file written beside the report, and the fixed model replayed
//! end to end on sim and (`--backend metal`) on the runtime: only those replays verify it.

use crate::model::{
    metal_in_child_for, report_dir, run_on, write_report, write_visualizer_reports, ModelArgs,
};
use anyhow::{Context, Result};
use memmodel::model::ModelFile;
use memmodel::model_fix::{Ending, ModelFixPlan};
use memmodel::DeviceSpec;
use oom_suite::report::timeline::{ending, fix_section, FixReport};
use std::time::Instant;

fn kib(b: u64) -> String {
    format!("{:.1} KiB", b as f64 / 1024.0)
}

/// The plan in a few lines per change.
fn render(plan: &ModelFixPlan, elapsed_ms: f64) -> String {
    let mut out = format!(
        "{} at {}x{} on {}: fix search on sim, {} replays in {elapsed_ms:.0} ms\n",
        plan.model, plan.resolution[0], plan.resolution[1], plan.device, plan.replays
    );
    for (k, f) in plan.fixes.iter().enumerate() {
        let message = f.message.lines().next().unwrap_or_default();
        out.push_str(&format!(
            "  {}. {} failed: {}: {message}\n     change ({}): {}\n     edits: {}\n     peak per bank between calls: L1 {} -> {}, DRAM {} -> {}; calls run {} -> {}\n",
            k + 1,
            f.label,
            f.outcome,
            f.change.kind,
            f.change.detail,
            f.change
                .edits
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; "),
            kib(f.before.peak_l1_per_bank),
            kib(f.after.peak_l1_per_bank),
            kib(f.before.peak_dram_per_bank),
            kib(f.after.peak_dram_per_bank),
            f.before.calls_run,
            f.after.calls_run
        ));
    }
    out.push_str(&format!("  result: {}\n", plan.summary()));
    if let Ending::NoFix { attempts, .. } = &plan.ending {
        out.push_str("  why each change for it fails:\n");
        for a in attempts {
            let verdict = if a.unverified() {
                "no verdict on sim (a run on the runtime may keep it)"
            } else {
                a.outcome.as_str()
            };
            out.push_str(&format!(
                "    - ({}) {}\n      {verdict}: {}\n",
                a.kind, a.detail, a.why
            ));
        }
    }
    out
}

pub fn run(
    args: &ModelArgs,
    text: &str,
    resolution: Option<[u64; 2]>,
    devices: &[&'static DeviceSpec],
    backend: ttnn::Backend,
) -> Result<()> {
    let dir = report_dir(args);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let label = args.model.display().to_string();
    // The fixed model's replays are what --visualizer writes (with every live buffer).
    let record_buffers = args.visualizer.is_some();
    let mut runs = Vec::new();
    let mut reports = Vec::new();
    for &device in devices {
        let started = Instant::now();
        let plan = ttnn::model::fix_on_sim(text, &label, resolution, device)
            .map_err(|e| anyhow::anyhow!("{label} on {}: {e}", device.name))?;
        let elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
        let [h, w] = plan.resolution;
        let name = plan.model.trim_end_matches("-fixed");
        let path = dir.join(format!("{name}-{h}x{w}-{}-fixed.toml", device.name));
        std::fs::write(&path, &plan.fixed_text)
            .with_context(|| format!("writing {}", path.display()))?;
        let fixed = ModelFile::parse(&plan.fixed_text, &path.display().to_string())
            .map_err(|e| anyhow::anyhow!("the fixed model: {e}"))?;
        let mut verified = Vec::new();
        let sim = run_on(
            &fixed,
            Some(plan.resolution),
            device,
            ttnn::Backend::Sim,
            args.measure,
            record_buffers,
        )?;
        verified.push(("sim".to_string(), ending(&sim)));
        runs.push(sim);
        if backend == ttnn::Backend::Metal {
            let metal = metal_in_child_for(
                &path,
                Some(&format!("{h}x{w}")),
                device,
                args.measure,
                record_buffers,
            )?;
            verified.push(("metal".to_string(), ending(&metal)));
            runs.push(metal);
        }
        if !args.json {
            print!("{}", render(&plan, elapsed_ms));
            println!("  fixed model: {}", path.display());
            for (backend, how) in &verified {
                println!("  replayed on {backend}: {how}");
            }
            println!();
        }
        reports.push(FixReport {
            plan,
            fixed_file: path.display().to_string(),
            verified,
        });
    }
    let json = serde_json::to_string_pretty(&serde_json::json!({
        "runs": runs,
        "fix": reports,
    }))?;
    if args.json {
        println!("{json}");
    }
    let mut doc = oom_suite::report::timeline::document(&runs);
    // The fixes first: what to change, then the fixed model's timelines.
    let mut fixes = oom_suite::report::doc::Doc {
        title: doc.title.clone(),
        blocks: Vec::new(),
    };
    fix_section(&mut fixes, &reports);
    fixes.blocks.append(&mut doc.blocks);
    let written = write_report(&dir, &json, &fixes)?;
    if !args.json {
        println!("report:\n{written}");
    }
    write_visualizer_reports(args, &runs)
}
