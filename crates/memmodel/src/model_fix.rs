//! `--fix` for a whole model: the cheapest set of per-call changes that makes a model fit, each
//! verified by replaying the changed model from its first call, and the changed model written
//! out as a model file users can read and replay.
//!
//! The search is greedy over the model's first failing call: replay, take the first call that
//! fails, try its changes cheapest first (each on the whole changed model, from the start: the
//! allocator's state between calls, fragmentation included, decides), keep the first that gets
//! past that call, and replay again for the next failure. Each kept change moves the first
//! failure later, so the search ends: the model fits, or a call has no change that helps, or the
//! replaying device has no verdict on a call (`unmodeled` on sim) and no change of that call
//! gives it one (a conv's `act_block_h_override` above one tile dropped, 5.) — then the plan is
//! verified only up to that call and says so; it never claims the rest fits.
//!
//! The changes, cheapest first (what it costs the model to take them):
//! 1. a tensor held in DRAM instead of L1 — the failing call's input (not a conv's: for a conv
//!    that is its DRAM slicing, 2.) or a skip tensor alive across the call, largest first: one
//!    `memory_config` where the tensor is made, the ops unchanged; costs DRAM bandwidth for that
//!    tensor only;
//! 2. the failing call's own changes from the single-op planner ([`crate::fix::candidates`],
//!    the one source of them, in its order): for conv2d DRAM slicing (its input in DRAM, the
//!    runtime slicing the output into the fewest slices its L1 estimate fits: every slice
//!    re-reads its halo from DRAM), another shard layout (a different parallelization of the
//!    same work), `act_block_h` 32 (more, smaller blocks: more loop overhead), bfloat8_b output
//!    and weights (lossy, so last); for other ops the output / inputs / both in DRAM. Changes a
//!    model file cannot state as a change of that one call (chunking an op into pieces, more
//!    chips, sharding an eltwise op's inputs, another input dtype) are left out.
//!    Last, for a call that takes L1_SMALL, the program cache cleared before it (frees what
//!    earlier calls' cached programs hold there; later calls compile again), then more L1_SMALL
//!    reserved at device open (the model's `l1_small_size`: 4 KiB, 16 KiB more, twice as much;
//!    less L1 for every call).
//!    2b. a change of 2. that gets to the call and then finds L1_SMALL full there (the config
//!    tensors of earlier calls' cached programs fill it): the same with the program cache
//!    cleared before the call (YOLOv12x 4320×7680 n150 #693 with L1_SMALL raised at #688:
//!    block sharding; the search from the start clears the cache at #688 instead).
//! 3. when no single change gets past the call: every L1 tensor alive across it in DRAM together
//!    with each change of 2. (or alone), then each of those moves dropped again while the call
//!    still passes — the fewest moves that fit.
//! 4. when a call finds L1_SMALL full and nothing above gets past it: the least raise of the
//!    L1_SMALL the device opens with (2.'s last changes, up to [`L1_SMALL_CAP`]), kept even when
//!    the L1 it takes makes an earlier call fail: the search then fixes that call again. The
//!    L1_SMALL only grows, so the search still ends.
//! 5. when the replaying device has no verdict on a call: a conv's `act_block_h_override`
//!    above one tile dropped (the runtime's default block), as a user slicing the conv would
//!    (the DRAM slicings of 2. also come with and without it).
//!
//! Replays are the caller's ([`plan`] takes a `replay` function): sim for the search,
//! the runtime to verify the result.

use crate::case::Case;
use crate::device::{BufferType, DeviceSpec};
use crate::fix::FixKind;
use crate::model::{BuiltModel, ModelFile, TensorDef};
use crate::ops::{Family, OutputStorage};
use crate::params::ParamValue;
use crate::shard::MemoryConfig;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// One edit of a model file.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "edit", rename_all = "snake_case")]
pub enum Edit {
    /// The tensor is held in DRAM: the model input's `memory`, or the `memory` of the call that
    /// makes it.
    TensorToDram { tensor: String },
    /// A call's `memory` (where its outputs go): `l1`, `dram` or `default`.
    CallMemory { call: usize, memory: String },
    /// A call's parameter set to a value, or removed (`None`).
    CallParam {
        call: usize,
        param: String,
        value: Option<ParamValue>,
    },
    /// The L1_SMALL per bank the device opens with (the model's `l1_small_size`).
    L1SmallSize { bytes: u64 },
    /// `device.clear_program_cache()` before the call (the call's `clear_program_cache`).
    ClearProgramCache { call: usize },
}

impl std::fmt::Display for Edit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Edit::TensorToDram { tensor } => write!(f, "`{tensor}` in DRAM"),
            Edit::CallMemory { call, memory } => write!(f, "#{call} memory = {memory}"),
            Edit::L1SmallSize { bytes } => write!(f, "L1_SMALL = {bytes} B per bank"),
            Edit::ClearProgramCache { call } => write!(f, "#{call} clear_program_cache = true"),
            Edit::CallParam {
                call,
                param,
                value: Some(v),
            } => write!(f, "#{call} {param} = {v}"),
            Edit::CallParam {
                call,
                param,
                value: None,
            } => write!(f, "#{call} {param} unset"),
        }
    }
}

/// A change the search may keep: one or more edits, for one failing call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub kind: &'static str,
    pub detail: String,
    pub edits: Vec<Edit>,
}

/// How a replay of a model went, as far as the search needs it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Replay {
    /// Calls that ran.
    pub calls_run: usize,
    pub failure: Option<ReplayFailure>,
    /// The most bytes per bank alive between calls (L1, DRAM).
    pub peak_l1_per_bank: u64,
    pub peak_dram_per_bank: u64,
}

/// The call a replay stopped at (0: making the model's inputs).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplayFailure {
    pub number: usize,
    pub label: String,
    /// `oom`, `cb_clash`, `l1_small`, `error`, ... or `unmodeled` (no verdict).
    pub outcome: String,
    pub message: String,
}

/// The outcome of a call that finds L1_SMALL full.
pub const L1_SMALL_OUTCOME: &str = "l1_small";

/// The most L1_SMALL per bank `--fix` opens a device with: each raise of step 4 of the module's
/// doc is kept for good, so the search ends.
pub const L1_SMALL_CAP: u64 = 128 * 1024;

/// The outcome name of a call a device has no verdict on.
pub const UNMODELED: &str = "unmodeled";

/// [`Attempt::outcome`] of a change whose edits do not apply or change nothing.
pub const NOT_APPLIED: &str = "not_applied";

/// A kept change and what it did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AppliedFix {
    /// The call that failed before the change (0: the model's inputs).
    pub call: usize,
    pub label: String,
    /// How it failed.
    pub outcome: String,
    pub message: String,
    pub change: Change,
    /// The replay before the change (up to the failing call) and after it (the whole model).
    pub before: Replay,
    pub after: Replay,
}

/// Where the search ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "end", rename_all = "snake_case")]
pub enum Ending {
    /// Every call ran.
    Fits,
    /// The replaying device has no verdict on this call: the plan is verified up to the call
    /// before it, and nothing is said of the rest.
    Unmodeled {
        call: usize,
        label: String,
        reason: String,
    },
    /// This call fails and no change tried gets past it; `attempts` says, for each change
    /// considered, why it did not (those the replaying device had no verdict on, a device that
    /// has one may keep).
    NoFix {
        call: usize,
        label: String,
        outcome: String,
        message: String,
        tried: usize,
        attempts: Vec<Attempt>,
    },
}

/// A change considered for a failing call that the search did not keep, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attempt {
    pub kind: &'static str,
    pub detail: String,
    /// `unmodeled` (the replaying device has no verdict on the changed model), the outcome of
    /// the replay's failure (`oom`, `cb_clash`, ...), or `not_applied` (the edits do not apply
    /// to the file or change nothing in the built model).
    pub outcome: String,
    /// The replay's failing call and message, or why the edits did not apply.
    pub why: String,
}

impl Attempt {
    /// Whether a device with a verdict on the change might still keep it.
    pub fn unverified(&self) -> bool {
        self.outcome == UNMODELED
    }
}

/// The whole search's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelFixPlan {
    pub model: String,
    pub resolution: [u64; 2],
    pub device: String,
    pub fixes: Vec<AppliedFix>,
    /// The unchanged model's replay and the fixed one's.
    pub original: Replay,
    pub fixed: Replay,
    pub ending: Ending,
    /// Replays the search ran.
    pub replays: usize,
    /// The fixed model file.
    #[serde(skip)]
    pub fixed_text: String,
}

impl ModelFixPlan {
    /// One line: `fits with 2 change(s)`, or how far the plan is verified.
    pub fn summary(&self) -> String {
        let n = self.fixes.len();
        match &self.ending {
            Ending::Fits => format!("fits with {n} change(s): every call ran"),
            Ending::Unmodeled {
                call,
                label,
                reason,
            } => format!(
                "{n} change(s), verified through call #{}; no verdict on call {label}: {reason}",
                call.saturating_sub(1)
            ),
            Ending::NoFix {
                label,
                outcome,
                tried,
                ..
            } => format!(
                "{n} change(s); {label} still fails ({outcome}): none of {tried} change(s) tried gets past it"
            ),
        }
    }
}

/// Why a model cannot be planned at all.
pub type PlanError = String;

/// Finds the cheapest changes that make the model in `text` fit at `resolution` on `device`,
/// replaying each changed model with `replay` (`Err`: the device could not be asked). See the
/// module's doc for the order and the search.
pub fn plan(
    text: &str,
    file: &str,
    resolution: Option<[u64; 2]>,
    device: &'static DeviceSpec,
    mut replay: impl FnMut(&BuiltModel) -> Result<Replay, PlanError>,
) -> Result<ModelFixPlan, PlanError> {
    let original_file = ModelFile::parse(text, file).map_err(|e| e.to_string())?;
    let build = |f: &ModelFile| f.build(resolution, device).map_err(|e| e.to_string());
    let mut model = build(&original_file)?;
    let resolution = model.resolution;
    // Changes are tried on the parsed file (ModelFile::edited); the text is written once, at
    // the end, with every kept change.
    let mut current_file = original_file;
    let mut replays = 1;
    let original = replay(&model)?;
    let mut current = original.clone();
    let mut fixes: Vec<AppliedFix> = Vec::new();
    let ending = loop {
        let Some(failure) = current.failure.clone() else {
            break Ending::Fits;
        };
        let at = failure.number;
        // A call with no verdict is a failure only to fix with a change that gives it one
        // (`toward_a_verdict`); with none, the plan is verified up to it.
        let no_verdict = failure.outcome == UNMODELED;
        if no_verdict && toward_a_verdict(&model, at).is_empty() {
            break Ending::Unmodeled {
                call: failure.number,
                label: failure.label,
                reason: failure.message,
            };
        }
        // A candidate only has to get past the failing call: replay up to it (the model built
        // whole, so every tensor lives as long as the whole model keeps it).
        let mut tried = 0;
        // Shared with `try_change`, which records each change it does not keep.
        let attempts: std::cell::RefCell<Vec<Attempt>> = Default::default();
        let mut try_change = |change: &Change,
                              replays: &mut usize|
         -> Result<Option<(ModelFile, BuiltModel)>, PlanError> {
            let failed = |outcome: &str, why: String| {
                attempts.borrow_mut().push(Attempt {
                    kind: change.kind,
                    detail: change.detail.clone(),
                    outcome: outcome.to_string(),
                    why,
                });
                Ok(None)
            };
            let changed_file = match current_file.edited(&change.edits) {
                Ok(f) => f,
                Err(e) => {
                    return failed(
                        NOT_APPLIED,
                        format!("the model file takes no such edit: {e}"),
                    )
                }
            };
            let changed = match build(&changed_file) {
                Ok(m) => m,
                Err(e) => {
                    return failed(
                        NOT_APPLIED,
                        format!("the changed model does not build: {e}"),
                    )
                }
            };
            if !takes_effect(&model, &changed, &change.edits) {
                return failed(
                    NOT_APPLIED,
                    "changes nothing in the built model (a view stays where its input is)".into(),
                );
            }
            let prefix = changed.prefix(at);
            *replays += 1;
            tried += 1;
            let r = replay(&prefix)?;
            match r.failure {
                None => Ok(Some((changed_file, changed))),
                Some(f) => {
                    let first = f.message.lines().next().unwrap_or_default();
                    let at_call = if f.number == at {
                        "still fails".to_string()
                    } else {
                        format!("fails earlier, at {}", f.label)
                    };
                    failed(&f.outcome, format!("{at_call}: {first}"))
                }
            }
        };
        let singles = if no_verdict {
            toward_a_verdict(&model, at)
        } else {
            candidates(&model, at)
        };
        let mut kept = None;
        // Whether a change got as far as the call and then found L1_SMALL full there.
        let mut l1_small_full = false;
        let mut blocked_by_l1_small: Vec<&Change> = Vec::new();
        for change in &singles {
            if let Some(found) = try_change(change, &mut replays)? {
                kept = Some((change.clone(), found));
                break;
            }
            if attempts.borrow().last().is_some_and(finds_l1_small_full) {
                l1_small_full = true;
                blocked_by_l1_small.push(change);
            }
        }
        // Step 2b of the module's doc: such changes with the program cache cleared first.
        let clear = Edit::ClearProgramCache { call: at };
        if kept.is_none() && !no_verdict {
            for change in blocked_by_l1_small {
                let Some(with_clear) = with_cleared_cache(change, &clear) else {
                    continue;
                };
                if let Some(found) = try_change(&with_clear, &mut replays)? {
                    kept = Some((with_clear, found));
                    break;
                }
            }
        }
        if no_verdict && kept.is_none() {
            break Ending::Unmodeled {
                call: failure.number,
                label: failure.label,
                reason: failure.message,
            };
        }
        if kept.is_none() {
            // Step 3, with each op change also with the program cache cleared when L1_SMALL
            // was full at the call.
            let mut op_changes = singles.clone();
            if l1_small_full || failure.outcome == L1_SMALL_OUTCOME {
                op_changes.extend(
                    singles
                        .iter()
                        .filter(|c| {
                            !c.edits
                                .iter()
                                .any(|e| matches!(e, Edit::L1SmallSize { .. }))
                        })
                        .filter_map(|c| with_cleared_cache(c, &clear)),
                );
            }
            kept = combined(&model, at, &op_changes, &mut |c| {
                try_change(c, &mut replays)
            })?;
        }
        if kept.is_none() && failure.outcome == L1_SMALL_OUTCOME {
            // Step 4 of the module's doc: more L1_SMALL, though an earlier call then fails.
            let raise = singles.iter().find(|c| {
                c.edits.iter().all(|e| match e {
                    Edit::L1SmallSize { bytes } => *bytes <= L1_SMALL_CAP,
                    _ => false,
                })
            });
            if let Some(change) = raise {
                let changed_file = current_file.edited(&change.edits)?;
                let changed = build(&changed_file)?;
                kept = Some((change.clone(), (changed_file, changed)));
            }
        }
        let Some((change, (changed_file, changed))) = kept else {
            break Ending::NoFix {
                call: at,
                label: failure.label,
                outcome: failure.outcome,
                message: failure.message,
                tried,
                attempts: attempts.into_inner(),
            };
        };
        replays += 1;
        let after = replay(&changed)?;
        fixes.push(AppliedFix {
            call: at,
            label: failure.label,
            outcome: failure.outcome,
            message: failure.message,
            change,
            before: current,
            after: after.clone(),
        });
        current_file = changed_file;
        model = changed;
        current = after;
    };
    // One parse and one write for every kept change (a write per change was most of an 8K
    // search's time).
    let mut doc: toml_edit::DocumentMut = text.parse().map_err(|e| format!("{e}"))?;
    for f in &fixes {
        apply_to(&mut doc, &f.change.edits, &f.change.detail)?;
    }
    let fixed_text = doc.to_string();
    Ok(ModelFixPlan {
        model: model.name.clone(),
        resolution,
        device: device.name.to_string(),
        fixes,
        original,
        fixed: current,
        ending,
        replays,
        fixed_text: header(&fixed_text, &model, device),
    })
}

/// Whether a change was turned down because, at the failing call itself, L1_SMALL was full.
fn finds_l1_small_full(a: &Attempt) -> bool {
    a.outcome == L1_SMALL_OUTCOME && a.why.starts_with("still fails")
}

/// `change` with the program cache cleared before the failing call (`clear`), unless it has
/// that already or is only the cache cleared.
fn with_cleared_cache(change: &Change, clear: &Edit) -> Option<Change> {
    if change.edits.contains(clear) {
        return None;
    }
    let mut with_clear = change.clone();
    with_clear.edits.push(clear.clone());
    with_clear.detail = format!(
        "{}; and device.clear_program_cache() before the call (frees the L1_SMALL the cached \
         programs of earlier calls hold)",
        change.detail
    );
    Some(with_clear)
}

/// Step 3 of the module's doc: every L1 tensor alive across call `at` moved to DRAM, with each
/// single change (or alone, when there are two or more); the first that passes, then the fewest
/// of those moves it needs.
#[allow(clippy::type_complexity)]
fn combined(
    model: &BuiltModel,
    at: usize,
    singles: &[Change],
    try_change: &mut dyn FnMut(&Change) -> Result<Option<(ModelFile, BuiltModel)>, PlanError>,
) -> Result<Option<(Change, (ModelFile, BuiltModel))>, PlanError> {
    let mut moves: Vec<Edit> = Vec::new();
    for t in live_in_l1(model, at) {
        let edit = to_dram(model, at, &t.name);
        if !moves.contains(&edit) {
            moves.push(edit);
        }
    }
    if moves.is_empty() {
        return Ok(None);
    }
    let op_changes = singles.iter().filter(|c| {
        !c.edits
            .iter()
            .all(|e| matches!(e, Edit::TensorToDram { .. }))
    });
    let alone = Change {
        kind: "tensors_to_dram",
        detail: String::new(),
        edits: Vec::new(),
    };
    // One move alone was a single change already (YOLOv12x 8K n150 #687: only `il_721` in L1,
    // which must go to DRAM with the concat's output).
    let alone = (moves.len() > 1).then_some(&alone);
    for base in alone.into_iter().chain(op_changes) {
        let with = |moves: &[Edit]| {
            let mut edits = moves.to_vec();
            edits.extend(base.edits.iter().cloned());
            let names: Vec<String> = moves
                .iter()
                .map(|m| match m {
                    Edit::TensorToDram { tensor } => format!("`{tensor}`"),
                    other => other.to_string(),
                })
                .collect();
            let detail = if base.detail.is_empty() {
                format!("hold {} in DRAM", names.join(", "))
            } else {
                format!("{}; and hold {} in DRAM", base.detail, names.join(", "))
            };
            Change {
                kind: if base.detail.is_empty() {
                    "tensors_to_dram"
                } else {
                    base.kind
                },
                detail,
                edits,
            }
        };
        let all = with(&moves);
        let Some(mut found) = try_change(&all)? else {
            continue;
        };
        let mut needed = moves.clone();
        let mut i = 0;
        while i < needed.len() && needed.len() > 1 {
            let mut fewer = needed.clone();
            fewer.remove(i);
            let change = with(&fewer);
            match try_change(&change)? {
                Some(f) => {
                    needed = fewer;
                    found = f;
                }
                None => i += 1,
            }
        }
        return Ok(Some((with(&needed), found)));
    }
    Ok(None)
}

/// Whether every edit shows in the built model (a tensor an op makes as a view of its input
/// stays where the input is, whatever the call's memory says).
fn takes_effect(before: &BuiltModel, after: &BuiltModel, edits: &[Edit]) -> bool {
    let memory = |m: &BuiltModel, name: &str| {
        m.inputs
            .iter()
            .chain(m.steps.iter().flat_map(|s| &s.outputs))
            .find(|t| t.name == name)
            .map(|t| t.memory)
    };
    edits.iter().all(|e| match e {
        Edit::TensorToDram { tensor } => memory(after, tensor) == Some(BufferType::Dram),
        _ => true,
    }) && before != after
}

/// Bytes per bank a tensor takes interleaved in its memory (for ranking moves).
fn per_bank(t: &TensorDef, device: &DeviceSpec) -> u64 {
    let spec = crate::tensor::TensorSpec::new(t.shape.clone(), t.dtype, t.layout);
    crate::plan::placement_in(&spec, device, MemoryConfig::Interleaved(t.memory))
        .map_or(0, |p| p.per_bank_bytes)
}

/// The tensor whose buffer `name` (alive when call `at` starts) is: a view (an output that
/// aliases an input) is its input's, followed to a tensor a call made or a model input. Holding
/// a view in DRAM is holding that tensor in DRAM: a view stays where its input is.
fn buffer_owner(model: &BuiltModel, at: usize, name: &str) -> String {
    let mut name = name.to_string();
    // Each alias leads to an earlier call, so the search ends.
    let mut before = at.saturating_sub(1).min(model.steps.len());
    while let Some((k, step)) = model.steps[..before]
        .iter()
        .enumerate()
        .rev()
        .find(|(_, s)| s.outputs.iter().any(|t| t.name == name))
    {
        let j = step.outputs.iter().position(|t| t.name == name);
        let source = j
            .and_then(|j| step.signature.outputs.get(j))
            .and_then(|o| match o.storage {
                OutputStorage::AliasOfInput(i) => step.inputs.get(i),
                OutputStorage::New => None,
            });
        match source {
            Some(src) => {
                name = src.clone();
                before = k;
            }
            None => break,
        }
    }
    name
}

/// Holding tensor `name` (alive when call `at` starts) in DRAM: the edit of the tensor that owns
/// its buffer ([`buffer_owner`]).
fn to_dram(model: &BuiltModel, at: usize, name: &str) -> Edit {
    Edit::TensorToDram {
        tensor: buffer_owner(model, at, name),
    }
}

/// The tensors in L1 alive when call `at` (1-based; 0: the model's inputs) starts, largest
/// first.
fn live_in_l1(model: &BuiltModel, at: usize) -> Vec<TensorDef> {
    let mut live: BTreeMap<&str, &TensorDef> =
        model.inputs.iter().map(|t| (t.name.as_str(), t)).collect();
    for name in &model.unused_inputs {
        live.remove(name.as_str());
    }
    for step in model.steps.iter().take(at.saturating_sub(1)) {
        for t in &step.outputs {
            live.insert(&t.name, t);
        }
        for n in &step.frees {
            live.remove(n.as_str());
        }
    }
    let mut out: Vec<TensorDef> = live
        .into_values()
        .filter(|t| t.memory == BufferType::L1)
        .cloned()
        .collect();
    out.sort_by_key(|t| std::cmp::Reverse(per_bank(t, model.device)));
    out
}

/// The changes that may give call `at`, which the replaying device has no verdict on, one: a
/// conv's `act_block_h_override` above one tile dropped (the runtime's default block). A conv
/// whose input an earlier change moved to DRAM runs in DRAM slices, where the runtime often
/// refuses such a block and memmodel has no verdict (exec/conv.rs); a user slicing the conv
/// drops it (YOLOv12x 1280² #38 after #37's matmul output lands in DRAM).
fn toward_a_verdict(model: &BuiltModel, at: usize) -> Vec<Change> {
    let Some(step) = at.checked_sub(1).and_then(|i| model.steps.get(i)) else {
        return Vec::new();
    };
    match step.case.params.get("act_block_h") {
        Some(v @ ParamValue::Int(n)) if step.case.op.family == Family::Conv2d && *n > 32 => {
            vec![Change {
                kind: FixKind::ActBlockH.name(),
                detail: format!(
                    "act_block_h_override={v} removed (the runtime's default block): no verdict \
                     on the conv with it (in DRAM slices, or without HEIGHT / BLOCK sharding told)"
                ),
                edits: vec![Edit::CallParam {
                    call: at,
                    param: "act_block_h".into(),
                    value: None,
                }],
            }]
        }
        _ => Vec::new(),
    }
}

/// The changes for the failing call `at` (0: the model's inputs), cheapest first (1. and 2. of
/// the module's doc).
pub fn candidates(model: &BuiltModel, at: usize) -> Vec<Change> {
    let mut out: Vec<Change> = Vec::new();
    let mut push = |c: Change| {
        if !c.edits.is_empty() && !out.iter().any(|o| o.edits == c.edits) {
            out.push(c);
        }
    };
    let step = at.checked_sub(1).and_then(|i| model.steps.get(i));
    let conv = step.is_some_and(|s| s.case.op.family == Family::Conv2d);
    let inputs: BTreeSet<&str> = step.map_or_else(
        || model.inputs.iter().map(|t| t.name.as_str()).collect(),
        |s| s.inputs.iter().map(String::as_str).collect(),
    );
    let live = live_in_l1(model, at);
    let moves = live
        .iter()
        .filter(|t| !(conv && inputs.contains(t.name.as_str())));
    for t in moves {
        let (kind, role) = if inputs.contains(t.name.as_str()) {
            (FixKind::InputsToDram.name(), "an input of the call")
        } else {
            ("skip_to_dram", "alive across the call")
        };
        let owner = buffer_owner(model, at, &t.name);
        let what = if owner == t.name {
            format!("`{owner}`")
        } else {
            format!("`{owner}` (whose view is `{}`)", t.name)
        };
        push(Change {
            kind,
            detail: format!(
                "hold {what} ({role}, {} B per bank in L1) in DRAM",
                per_bank(t, model.device)
            ),
            edits: vec![Edit::TensorToDram { tensor: owner }],
        });
    }
    let Some(step) = step else {
        return out;
    };
    let named: Vec<&TensorDef> = step
        .inputs
        .iter()
        .filter_map(|n| live.iter().find(|t| &t.name == n))
        .collect();
    for f in crate::fix::candidates(&step.case) {
        if let Some(edits) = edits_of(model, step.number, &step.case, &f.case, &named) {
            push(Change {
                kind: f.kind.name(),
                detail: f.detail,
                edits,
            });
        }
    }
    if let Some((change, chain)) = reshape_on_tiles(model, step) {
        // On tiles a single-row tensor is padded 32×: also with every tensor from the
        // to_layout's input to the reshape held in DRAM (YOLOv12x 8K on p150: the TILE permute before
        // it, from an L1 input into an L1 output, does not fit).
        let mut in_dram = change.clone();
        for name in &chain {
            let edit = to_dram(model, step.number, name);
            if !in_dram.edits.contains(&edit) {
                in_dram.edits.push(edit);
            }
        }
        in_dram.detail = format!(
            "{}; and {} in DRAM",
            change.detail,
            chain
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        push(change);
        push(in_dram);
    }
    // Last: a call that takes L1_SMALL (buffers kept there by earlier calls may fill it): first
    // the program cache cleared before it, which frees the config tensors the cached programs
    // of earlier convs and pools hold there (costs only recompiling the programs later calls
    // repeat); then more reserved at device open, least first: it costs as much L1 per bank
    // for every call.
    let l1_small = model.l1_small_bytes();
    if step.signature.l1_small_bytes > 0 {
        push(Change {
            kind: "clear_program_cache",
            detail: "device.clear_program_cache() before the call: frees the L1_SMALL the \
                     cached programs of earlier calls hold (their config tensors); later calls \
                     compile their programs again"
                .into(),
            edits: vec![Edit::ClearProgramCache { call: at }],
        });
        let more = [
            l1_small.checked_add(4096),
            l1_small.checked_add(16384),
            l1_small.checked_mul(2),
        ];
        for bytes in more.into_iter().flatten() {
            push(Change {
                kind: "l1_small_size",
                detail: format!(
                    "open the device with {bytes} B of L1_SMALL per bank (was {l1_small} B): \
                     that much less L1 for every call"
                ),
                edits: vec![Edit::L1SmallSize { bytes }],
            });
        }
    }
    out
}

/// A ROW_MAJOR view / reshape that changes the last dim copies rows (the runtime's
/// `reshape_rm`: a source page and dest slots of a whole row each in every core's scratch), so a
/// long row cannot fit however the tensors are placed (YOLOv12x's DFL `[1,1,1,4A] -> [1,4,A]`
/// past 1280²). The change: the `to_layout(row_major)` it comes from (through permutes, views
/// and moves) keeps TILE instead, so those calls and the reshape run on tiles, as a user would
/// move the to_layout after the reshape (the later to_layout(tile) calls become no-ops).
/// Also the tensors from the to_layout's input to the reshape's input.
fn reshape_on_tiles(
    model: &BuiltModel,
    step: &crate::model::Step,
) -> Option<(Change, Vec<String>)> {
    use crate::layout::Layout;
    if !matches!(step.case.op.name, "view" | "reshape") || step.case.layout != Layout::RowMajor {
        return None;
    }
    let last = |s: &crate::shape::Shape| s.dims().last().copied();
    let input = step.case.model_inputs.first()?;
    let output = step.outputs.first()?;
    if last(input) == last(&output.shape) {
        return None;
    }
    let mut name = step.inputs.first()?.clone();
    let mut chain = vec![name.clone()];
    let mut before = step.number.checked_sub(1)?;
    // Each hop leads to an earlier call, so the walk ends.
    loop {
        let (k, made_by) = model.steps[..before.min(model.steps.len())]
            .iter()
            .enumerate()
            .rev()
            .find(|(_, s)| s.outputs.iter().any(|t| t.name == name))?;
        match made_by.case.op.name {
            "to_layout" => {
                let to_row_major = matches!(
                    made_by.case.params.get("layout"),
                    Some(ParamValue::Str(l)) if l == "row_major"
                );
                let change = to_row_major.then(|| Change {
                    kind: "reshape_on_tiles",
                    detail: format!(
                        "keep TILE at #{} (to_layout layout=tile, not row_major): the calls up to \
                         and with this {} run on tiles; a ROW_MAJOR reshape that changes the last \
                         dim copies whole rows ({} elements) through each core's L1",
                        made_by.number,
                        step.case.op.name,
                        last(input).unwrap_or_default()
                    ),
                    edits: vec![Edit::CallParam {
                        call: made_by.number,
                        param: "layout".into(),
                        value: Some(ParamValue::Str("tile".into())),
                    }],
                });
                // Kept TILE, the to_layout may hand on its input as it is: that too.
                chain.extend(made_by.inputs.first().cloned());
                return change.map(|c| (c, chain));
            }
            "permute" | "view" | "reshape" | "to_memory_config" if made_by.inputs.len() == 1 => {
                name = made_by.inputs[0].clone();
                chain.push(name.clone());
                before = k;
            }
            _ => return None,
        }
    }
}

/// The edits of the model file that turn call `call`'s case `from` into `to`; `None` when the
/// change is not one of that call (chunks, chips, sharded eltwise inputs, another input dtype).
fn edits_of(
    model: &BuiltModel,
    call: usize,
    from: &Case,
    to: &Case,
    l1_inputs: &[&TensorDef],
) -> Option<Vec<Edit>> {
    if to.model_inputs != from.model_inputs
        || to.sharding != from.sharding
        || to.dtype != from.dtype
        || to.layout != from.layout
        || to.device.name != from.device.name
    {
        return None;
    }
    let mut edits = Vec::new();
    if to.input_memory != from.input_memory {
        if to.input_memory != BufferType::Dram || l1_inputs.is_empty() {
            return None;
        }
        for t in l1_inputs {
            let edit = to_dram(model, call, &t.name);
            if !edits.contains(&edit) {
                edits.push(edit);
            }
        }
    }
    if to.output_memory != from.output_memory
        || to.default_output_memory != from.default_output_memory
    {
        let memory = if to.default_output_memory {
            "default"
        } else if to.output_memory == BufferType::Dram {
            "dram"
        } else {
            "l1"
        };
        edits.push(Edit::CallMemory {
            call,
            memory: memory.into(),
        });
    }
    let keys: BTreeSet<&String> = from.params.0.keys().chain(to.params.0.keys()).collect();
    for key in keys {
        let (a, b) = (from.params.get(key), to.params.get(key));
        if a != b {
            edits.push(Edit::CallParam {
                call,
                param: key.clone(),
                value: b.cloned(),
            });
        }
    }
    Some(edits)
}

/// A parameter's value as the model file's TOML holds it.
pub(crate) fn toml_of(v: &ParamValue) -> toml::Value {
    match v {
        ParamValue::Bool(b) => toml::Value::Boolean(*b),
        ParamValue::Int(i) => toml::Value::Integer(*i),
        ParamValue::Float(x) => toml::Value::Float(*x),
        ParamValue::Ints(v) => toml::Value::Array(v.iter().map(|&i| i.into()).collect()),
        ParamValue::Str(s) => toml::Value::String(s.clone()),
    }
}

fn toml_value(v: &ParamValue) -> toml_edit::Value {
    match v {
        ParamValue::Bool(b) => (*b).into(),
        ParamValue::Int(i) => (*i).into(),
        ParamValue::Float(x) => (*x).into(),
        ParamValue::Ints(v) => v.iter().copied().collect::<toml_edit::Array>().into(),
        ParamValue::Str(s) => s.as_str().into(),
    }
}

/// `text` with `edits` made, each changed table marked with a `# --fix:` comment giving
/// `detail`. Comments and layout of the rest stay as they are.
pub fn apply(text: &str, edits: &[Edit], detail: &str) -> Result<String, String> {
    let mut doc: toml_edit::DocumentMut = text.parse().map_err(|e| format!("{e}"))?;
    apply_to(&mut doc, edits, detail)?;
    Ok(doc.to_string())
}

/// [`apply`] on a parsed document.
fn apply_to(doc: &mut toml_edit::DocumentMut, edits: &[Edit], detail: &str) -> Result<(), String> {
    let mark = |t: &mut toml_edit::Table| {
        let prefix = t
            .decor()
            .prefix()
            .and_then(|p| p.as_str())
            .unwrap_or("")
            .to_string();
        let line = format!("# --fix: {detail}\n");
        if !prefix.contains(&line) {
            t.decor_mut().set_prefix(format!("{prefix}{line}"));
        }
    };
    fn tables<'a>(
        doc: &'a mut toml_edit::DocumentMut,
        key: &str,
    ) -> Option<&'a mut toml_edit::ArrayOfTables> {
        doc.get_mut(key)?.as_array_of_tables_mut()
    }
    for edit in edits {
        match edit {
            Edit::TensorToDram { tensor } => {
                let is = |t: &toml_edit::Table, key: &str| match t.get(key) {
                    Some(item) => match item.as_str() {
                        Some(s) => s == tensor,
                        None => item
                            .as_array()
                            .is_some_and(|a| a.iter().any(|v| v.as_str() == Some(tensor))),
                    },
                    None => false,
                };
                let found = tables(doc, "input")
                    .and_then(|a| a.iter_mut().find(|t| is(t, "name")))
                    .map(|t| {
                        t["memory"] = toml_edit::value("dram");
                        mark(t);
                    })
                    .or_else(|| {
                        tables(doc, "call")
                            .and_then(|a| a.iter_mut().find(|t| is(t, "outputs")))
                            .map(|t| {
                                t["memory"] = toml_edit::value("dram");
                                mark(t);
                            })
                    });
                if found.is_none() {
                    return Err(format!("no input or call makes `{tensor}`"));
                }
            }
            Edit::CallMemory { call, memory } => {
                let t = tables(doc, "call")
                    .and_then(|a| a.get_mut(call.wrapping_sub(1)))
                    .ok_or_else(|| format!("no call #{call}"))?;
                t["memory"] = toml_edit::value(memory.as_str());
                mark(t);
            }
            Edit::L1SmallSize { bytes } => {
                let t = doc
                    .get_mut("model")
                    .and_then(|m| m.as_table_mut())
                    .ok_or("no [model] table")?;
                let bytes = i64::try_from(*bytes).map_err(|e| e.to_string())?;
                t["l1_small_size"] = toml_edit::value(bytes);
                mark(t);
            }
            Edit::ClearProgramCache { call } => {
                let t = tables(doc, "call")
                    .and_then(|a| a.get_mut(call.wrapping_sub(1)))
                    .ok_or_else(|| format!("no call #{call}"))?;
                t["clear_program_cache"] = toml_edit::value(true);
                mark(t);
            }
            Edit::CallParam { call, param, value } => {
                let t = tables(doc, "call")
                    .and_then(|a| a.get_mut(call.wrapping_sub(1)))
                    .ok_or_else(|| format!("no call #{call}"))?;
                if t.get("params").is_none() {
                    t["params"] = toml_edit::value(toml_edit::InlineTable::new());
                }
                let params = t["params"]
                    .as_inline_table_mut()
                    .ok_or_else(|| format!("call #{call}: params is not an inline table"))?;
                match value {
                    Some(v) => {
                        params.insert(param.as_str(), toml_value(v));
                    }
                    None => {
                        params.remove(param);
                    }
                }
                mark(t);
            }
        }
    }
    Ok(())
}

/// The fixed file's text: named `<name>-fixed`, at the resolution it was fixed for, with a
/// header saying what it is.
fn header(text: &str, model: &BuiltModel, device: &DeviceSpec) -> String {
    let Ok(mut doc) = text.parse::<toml_edit::DocumentMut>() else {
        return text.to_string();
    };
    let [h, w] = model.resolution;
    if let Some(m) = doc.get_mut("model").and_then(|m| m.as_table_mut()) {
        let name = m.get("name").and_then(|n| n.as_str()).unwrap_or("model");
        if !name.ends_with("-fixed") {
            m["name"] = toml_edit::value(format!("{name}-fixed"));
        }
        let mut res = toml_edit::Array::new();
        res.push(h as i64);
        res.push(w as i64);
        m["resolution"] = toml_edit::value(res);
    }
    format!(
        "# Written by `cargo xtask model --fix` for {h}x{w} on {}: the changes are the\n\
         # `# --fix:` comments. Replay it: cargo xtask model --model <this file> --device {}\n\n{doc}",
        device.name, device.name
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::{N150, P150};

    const BLOCK: &str = include_str!("../../../models/c2f-block.toml");

    fn built(text: &str, res: [u64; 2], device: &'static DeviceSpec) -> BuiltModel {
        ModelFile::parse(text, "m.toml")
            .unwrap()
            .build(Some(res), device)
            .unwrap()
    }

    #[test]
    fn edits_change_the_file_where_the_tensor_is_made_and_keep_its_comments() {
        let edits = [
            Edit::TensorToDram { tensor: "x".into() },
            Edit::TensorToDram {
                tensor: "a2".into(),
            },
            Edit::CallMemory {
                call: 4,
                memory: "dram".into(),
            },
            Edit::CallParam {
                call: 2,
                param: "dim".into(),
                value: Some(ParamValue::Int(3)),
            },
        ];
        let text = apply(BLOCK, &edits, "test").unwrap();
        assert!(text.starts_with("# A C2f-style block"), "comments stay");
        // One mark per changed table: the split (#2) makes `a2` and has its parameter changed.
        assert_eq!(text.matches("# --fix: test").count(), 3, "{text}");
        let m = built(&text, [640, 640], &N150);
        assert_eq!(m.inputs[0].memory, BufferType::Dram);
        // `a2` is made by the split (#2): both its outputs go to DRAM.
        assert_eq!(m.steps[1].outputs[1].memory, BufferType::Dram);
        assert_eq!(m.steps[1].case.params.get("dim"), Some(&ParamValue::Int(3)));
        assert_eq!(m.steps[3].outputs[0].memory, BufferType::Dram);
        // The parsed file edited in place builds the same model as the text written.
        let edited = ModelFile::parse(BLOCK, "m.toml")
            .unwrap()
            .edited(&edits)
            .unwrap()
            .build(Some([640, 640]), &N150)
            .unwrap();
        let cases = |m: &BuiltModel| {
            m.steps
                .iter()
                .map(|s| (s.case.clone(), s.outputs.clone(), s.frees.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(cases(&edited), cases(&m));
        assert_eq!(edited.inputs, m.inputs);
        assert!(apply(
            BLOCK,
            &[Edit::TensorToDram {
                tensor: "nope".into()
            }],
            ""
        )
        .is_err());
        let unset = apply(
            &text,
            &[Edit::CallParam {
                call: 2,
                param: "dim".into(),
                value: None,
            }],
            "again",
        )
        .unwrap();
        assert!(!built(&unset, [640, 640], &N150).steps[1]
            .case
            .params
            .0
            .contains_key("dim"));
    }

    #[test]
    fn candidates_move_tensors_first_then_the_calls_own_changes() {
        // At 2176x3840 on a p150 the concat (#5) fails: its inputs and the skip `a1` in L1.
        let m = built(BLOCK, [2176, 3840], &P150);
        let all = candidates(&m, 5);
        assert!(!all.is_empty());
        assert!(all
            .iter()
            .take_while(|c| c.kind != "outputs_to_dram")
            .all(|c| matches!(c.edits[..], [Edit::TensorToDram { .. }])));
        assert!(all.iter().any(|c| c.edits
            == [Edit::CallMemory {
                call: 5,
                memory: "dram".into()
            }]));
        // The model's inputs: only moves.
        let inputs = candidates(&m, 0);
        assert_eq!(
            inputs.iter().map(|c| &c.edits).collect::<Vec<_>>(),
            vec![&vec![Edit::TensorToDram { tensor: "x".into() }]]
        );
    }

    #[test]
    fn more_l1_small_is_written_to_the_model_table_and_opens_the_device_with_it() {
        let edit = [Edit::L1SmallSize { bytes: 36864 }];
        let text = apply(BLOCK, &edit, "l1 small").unwrap();
        assert!(text.contains("l1_small_size = 36864"), "{text}");
        let m = built(&text, [640, 640], &N150);
        assert_eq!(m.l1_small_bytes(), 36864);
        let edited = ModelFile::parse(BLOCK, "m.toml")
            .unwrap()
            .edited(&edit)
            .unwrap()
            .build(Some([640, 640]), &N150)
            .unwrap();
        assert_eq!(edited.l1_small_bytes(), 36864);
        // A prefix opens the device its whole model opens.
        assert_eq!(m.prefix(1).l1_small_bytes(), 36864);
        // YOLOv12x's convs take L1_SMALL: raising it is among a conv's last changes.
        let y = built(
            crate::model::builtin("yolov12x").unwrap(),
            [640, 640],
            &N150,
        );
        let raises: Vec<u64> = candidates(&y, 1)
            .iter()
            .flat_map(|c| &c.edits)
            .filter_map(|e| match e {
                Edit::L1SmallSize { bytes } => Some(*bytes),
                _ => None,
            })
            .collect();
        let base = y.l1_small_bytes();
        assert_eq!(raises, [base + 4096, base + 16384, base * 2]);
    }

    #[test]
    fn a_view_is_held_in_dram_by_moving_the_tensor_it_views() {
        // YOLOv12x's #92 conv2d takes `v_flat_95`, a view of `v_cat_94` (#90): the view's own
        // memory changes nothing, its source's does.
        let text = crate::model::builtin("yolov12x").unwrap();
        let m = built(text, [2176, 3840], &N150);
        let conv = &m.steps[91];
        assert_eq!(conv.inputs, ["v_flat_95"]);
        assert_eq!(buffer_owner(&m, 92, "v_flat_95"), "v_cat_94");
        assert_eq!(buffer_owner(&m, 92, "v_cat_94"), "v_cat_94");
        let all = candidates(&m, 92);
        let moved: Vec<&str> = all
            .iter()
            .flat_map(|c| &c.edits)
            .filter_map(|e| match e {
                Edit::TensorToDram { tensor } => Some(tensor.as_str()),
                _ => None,
            })
            .collect();
        assert!(moved.contains(&"v_cat_94"), "{moved:?}");
        assert!(!moved.contains(&"v_flat_95") && !moved.contains(&"attn_flat_93"));
        // Each move takes effect in the built model: the view follows its source to DRAM.
        assert!(all.iter().any(|c| c.kind == "dram_slice"));
        for c in all.iter().filter(|c| c.kind == "dram_slice") {
            let changed = ModelFile::parse(text, "yolov12x.toml")
                .unwrap()
                .edited(&c.edits)
                .unwrap()
                .build(Some([2176, 3840]), &N150)
                .unwrap();
            assert!(takes_effect(&m, &changed, &c.edits), "{}", c.detail);
            assert_eq!(changed.steps[91].case.input_memory, BufferType::Dram);
        }
    }

    #[test]
    fn the_search_keeps_a_change_only_past_the_failing_call_and_stops_at_no_verdict() {
        // A replay that fails at call 1 while `x` is in L1 and has no verdict on call 3.
        let text = BLOCK;
        let replay = |m: &BuiltModel| -> Result<Replay, PlanError> {
            let fail = |number: usize, outcome: &str| ReplayFailure {
                number,
                label: format!("#{number}"),
                outcome: outcome.into(),
                message: "m".into(),
            };
            let failure = if m.inputs[0].memory == BufferType::L1 {
                Some(fail(1, "oom"))
            } else if m.steps.len() >= 3 {
                Some(fail(3, UNMODELED))
            } else {
                None
            };
            Ok(Replay {
                calls_run: failure.as_ref().map_or(m.steps.len(), |f| f.number - 1),
                failure,
                peak_l1_per_bank: 0,
                peak_dram_per_bank: 0,
            })
        };
        let p = plan(text, "m.toml", None, &N150, replay).unwrap();
        assert_eq!(p.fixes.len(), 1);
        assert_eq!(
            p.fixes[0].change.edits,
            vec![Edit::TensorToDram { tensor: "x".into() }]
        );
        assert!(
            matches!(&p.ending, Ending::Unmodeled { call: 3, .. }),
            "{:?}",
            p.ending
        );
        assert!(
            p.summary().contains("verified through call #2"),
            "{}",
            p.summary()
        );
        assert!(p.fixed_text.contains("name = \"c2f-block-fixed\""));
        assert!(p.fixed_text.contains("# --fix: hold `x`"));
    }

    #[test]
    fn a_tall_act_block_is_dropped_where_a_conv_is_sliced_or_has_no_verdict() {
        // YOLOv12x's #38 (3×3 s2, BLOCK sharded, act_block_h_override 160): each DRAM slicing
        // of it comes with and without the block; in DRAM slices memmodel has no verdict with
        // it, so the search needs the variant without.
        let y = built(
            crate::model::builtin("yolov12x").unwrap(),
            [1280, 1280],
            &N150,
        );
        let unset = Edit::CallParam {
            call: 38,
            param: "act_block_h".into(),
            value: None,
        };
        let all = candidates(&y, 38);
        let sliced: Vec<&Change> = all.iter().filter(|c| c.kind == "dram_slice").collect();
        assert!(sliced.iter().any(|c| !c.edits.contains(&unset)), "{all:?}");
        assert!(sliced.iter().any(|c| c.edits.contains(&unset)), "{all:?}");
        // Each variant without the block comes after the one with it, where both are offered
        // (a slicing the block leaves no fitting slice count for is offered without it only).
        for (i, without) in all.iter().enumerate() {
            let with: Vec<&Edit> = without.edits.iter().filter(|e| **e != unset).collect();
            if with.len() == without.edits.len() {
                continue;
            }
            if let Some(j) = all
                .iter()
                .position(|c| c.edits.iter().collect::<Vec<_>>() == with)
            {
                assert!(j < i, "{all:?}");
            }
        }
        assert_eq!(
            toward_a_verdict(&y, 38)
                .iter()
                .map(|c| &c.edits)
                .collect::<Vec<_>>(),
            [&vec![unset]]
        );
        // #37 (1×1, no act_block_h) and #1 (act_block_h 32): nothing to drop.
        assert!(toward_a_verdict(&y, 37).is_empty());
        assert!(toward_a_verdict(&y, 1).is_empty());
        assert!(toward_a_verdict(&y, 0).is_empty());
    }

    #[test]
    fn a_row_major_reshape_of_long_rows_is_tried_on_tiles() {
        // YOLOv12x's DFL: #719 to_layout(row_major), #720 permute, #721 view [1,1,1,4A] ->
        // [1,4,A] (ROW_MAJOR, the last dim changes: rows are copied).
        let y = built(
            crate::model::builtin("yolov12x").unwrap(),
            [2176, 3840],
            &N150,
        );
        assert_eq!(y.steps[720].case.op.name, "view");
        assert_eq!(y.steps[718].case.op.name, "to_layout");
        let tile = Edit::CallParam {
            call: 719,
            param: "layout".into(),
            value: Some(ParamValue::Str("tile".into())),
        };
        let all = candidates(&y, 721);
        let on_tiles: Vec<&Change> = all
            .iter()
            .filter(|c| c.kind == "reshape_on_tiles")
            .collect();
        assert_eq!(on_tiles.len(), 2, "{all:?}");
        assert_eq!(on_tiles[0].edits, std::slice::from_ref(&tile));
        assert_eq!(
            on_tiles[1].edits,
            [
                tile.clone(),
                Edit::TensorToDram {
                    tensor: "dfl_perm_756".into()
                },
                Edit::TensorToDram {
                    tensor: "dfl_rm_755".into()
                },
                Edit::TensorToDram {
                    tensor: "il_754".into()
                }
            ]
        );
        // The changed model runs #720 and #721 on tiles.
        let changed = ModelFile::parse(crate::model::builtin("yolov12x").unwrap(), "y.toml")
            .unwrap()
            .edited(&[tile])
            .unwrap()
            .build(Some([2176, 3840]), &N150)
            .unwrap();
        assert_eq!(changed.steps[720].case.layout, crate::layout::Layout::Tile);
        // A TILE call, or a ROW_MAJOR view keeping the last dim, gets no such change.
        assert!(reshape_on_tiles(&changed, &changed.steps[720]).is_none());
        assert!(candidates(&y, 720)
            .iter()
            .all(|c| c.kind != "reshape_on_tiles"));
    }

    #[test]
    fn a_cleared_program_cache_is_written_to_the_call_and_tried_before_more_l1_small() {
        let y_text = crate::model::builtin("yolov12x").unwrap();
        let edit = [Edit::ClearProgramCache { call: 2 }];
        let text = apply(y_text, &edit, "cache").unwrap();
        assert!(text.contains("clear_program_cache = true"), "{text}");
        let m = built(&text, [640, 640], &N150);
        let flags: Vec<usize> = m
            .steps
            .iter()
            .filter(|s| s.clear_program_cache)
            .map(|s| s.number)
            .collect();
        assert_eq!(flags, [2]);
        let edited = ModelFile::parse(y_text, "m.toml")
            .unwrap()
            .edited(&edit)
            .unwrap()
            .build(Some([640, 640]), &N150)
            .unwrap();
        // The same model from the parsed file's edit (the text's comment shifts lines only).
        assert!(edited
            .steps
            .iter()
            .zip(&m.steps)
            .all(|(a, b)| a.clear_program_cache == b.clear_program_cache && a.case == b.case));
        assert!(ModelFile::parse(y_text, "m.toml")
            .unwrap()
            .edited(&[Edit::ClearProgramCache { call: 100_000 }])
            .is_err());
        // A conv takes L1_SMALL: clearing the cache comes before the first raise of it.
        let y = built(y_text, [640, 640], &N150);
        let kinds: Vec<&str> = candidates(&y, 1).iter().map(|c| c.kind).collect();
        let clear = kinds.iter().position(|k| *k == "clear_program_cache");
        let raise = kinds.iter().position(|k| *k == "l1_small_size");
        assert!(clear.is_some() && clear < raise, "{kinds:?}");
    }
}
