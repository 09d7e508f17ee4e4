//! Bring your own model: a capture of a user's TT-NN script (its top-level TT-NN calls, recorded
//! on a mock device by `crates/ttnn/src/metal/capture.py`) turned into a model file
//! ([`crate::model`]).
//!
//! - Calls that make device tensors from nothing device-side (`ttnn.zeros`, `ttnn.from_buffer`
//!   with `device=`, `ttnn.to_device`, ...) make the model's `[[input]]`s.
//! - Every other call that takes a device tensor is one `[[call]]`: its TT-NN function mapped to
//!   the catalog's op ([`crate::ops`], the one place the mapping lives: an op is found by the
//!   function it calls) with its arguments as the op's parameters. A call that cannot be mapped
//!   is named with its arguments and the reason; the import refuses rather than drop it.
//! - Lifetimes come from the capture: a tensor dies where its buffer was freed (`ttnn.deallocate`,
//!   or its last Python reference dropped; tensors alive when `model` returns and not returned die
//!   after the last call, as the function's locals do). Returned tensors are the model's outputs.
//! - Calls that make no device tensor and take none (host-side work) and calls that read a device
//!   tensor back to the host make no device memory: they are listed as ignored.
//!
//! The model file is then built and each call's outputs checked against what the script's call
//! made (shape, dtype, layout, memory): a mapping that does not reproduce the call is refused.

use crate::device::{BufferType, DeviceSpec};
use crate::dtype::DType;
use crate::layout::Layout;
use crate::model::ModelFile;
use crate::ops::{Family, OpDef, OPS};
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// What the capture helper writes.
#[derive(Debug, Clone, Deserialize)]
pub struct Capture {
    pub script: String,
    #[serde(default)]
    pub calls: Vec<CapturedCall>,
    /// Device buffers allocated and freed during the capture, in order.
    #[serde(default)]
    pub allocs: Vec<CapturedBuffer>,
    #[serde(default)]
    pub frees: Vec<CapturedBuffer>,
    /// Tensors `model` returned.
    #[serde(default)]
    pub returned: Vec<u64>,
    /// Every tensor the calls took or made, by id.
    #[serde(default)]
    pub tensors: BTreeMap<String, CapturedTensor>,
    /// The script's failure (a traceback), when it raised.
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub l1_small_size: u64,
}

/// One top-level TT-NN call: its arguments as values (`{"tensor": id}`, `{"memory_config":
/// {...}}`, `{"dtype": ...}`, `{"layout": ...}`, `{"device": true}`, `{"object": type, "repr":
/// text}`, or plain JSON).
#[derive(Debug, Clone, Deserialize)]
pub struct CapturedCall {
    pub function: String,
    #[serde(default)]
    pub args: Vec<Value>,
    #[serde(default)]
    pub kwargs: BTreeMap<String, Value>,
    #[serde(default)]
    pub outputs: Vec<u64>,
    /// What the call raised, if it did (and the script went on).
    #[serde(default)]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CapturedTensor {
    pub shape: Vec<u64>,
    pub dtype: String,
    pub layout: String,
    pub on_device: bool,
    #[serde(default)]
    pub buffer_type: Option<String>,
    #[serde(default)]
    pub memory_layout: Option<String>,
    #[serde(default)]
    pub address: Option<u64>,
}

/// A device buffer allocated or freed during the capture.
#[derive(Debug, Clone, Deserialize)]
pub struct CapturedBuffer {
    /// The top-level call it happened in or after (index into `calls`; -1: before the first).
    pub after_call: i64,
    /// Inside that call (the op did it) rather than after it.
    pub inside: bool,
    /// `l1`, `dram`, `l1_small`.
    pub buffer_type: String,
    pub address: u64,
    #[serde(default)]
    pub max_size_per_bank: u64,
}

/// A call the import cannot express, named as the script made it.
#[derive(Debug, Clone, PartialEq)]
pub struct Unmapped {
    /// 1-based, counting every top-level call of the script.
    pub number: usize,
    /// `ttnn.add(t5, 1.0, memory_config=L1)`.
    pub call: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ImportError {
    #[error("{0}")]
    Script(String),
    #[error("{} call(s) of the script cannot be expressed in a model file (nothing was written):\n{}", .0.len(), .0.iter().map(|u| format!("  call {}: {}\n    {}", u.number, u.call, u.reason)).collect::<Vec<_>>().join("\n"))]
    Unmapped(Vec<Unmapped>),
    #[error("the script made no TT-NN call on a device tensor: nothing to import")]
    Empty,
    #[error("the written model file does not build: {0}")]
    Build(String),
}

/// A capture made into a model file.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    /// The model file (TOML).
    pub text: String,
    pub inputs: usize,
    pub calls: usize,
    /// Calls that make no device memory, and why.
    pub ignored: Vec<String>,
    /// Per call of the model file: the bytes per bank (L1, DRAM) the script's own run held after
    /// it (its buffers and frees as captured) — what a replay of the file must hold too.
    pub script_memory: Vec<(u64, u64)>,
}

/// A top-level call the model file states.
struct Draft {
    number: usize,
    op: &'static OpDef,
    function: String,
    inputs: Vec<String>,
    outputs: Vec<String>,
    /// The captured outputs, to check the built call against.
    made: Vec<u64>,
    params: toml::Table,
    memory: &'static str,
    /// The image a channels-last input holds (conv2d): batch, height, width.
    nhw: Option<[i64; 3]>,
    deallocate: Vec<String>,
}

/// Turns a capture into a model file named `name`, checked by building it for `device`.
pub fn import(
    capture: &Capture,
    name: &str,
    device: &'static DeviceSpec,
) -> Result<Imported, ImportError> {
    if let Some(e) = &capture.error {
        return Err(ImportError::Script(e.trim_end().to_string()));
    }
    let tensor = |id: u64| capture.tensors.get(&id.to_string());
    let mut names: BTreeMap<u64, String> = BTreeMap::new();
    let mut inputs: Vec<(String, CapturedTensor)> = Vec::new();
    let mut drafts: Vec<Draft> = Vec::new();
    let mut unmapped = Vec::new();
    let mut ignored = Vec::new();
    // Named tensors alive at each buffer (views share their input's).
    let mut at: BTreeMap<(String, u64), Vec<u64>> = BTreeMap::new();
    let mut dead: BTreeSet<u64> = BTreeSet::new();
    let mut frees = capture.frees.iter().peekable();
    // Frees of named tensors before any call of the model: those inputs are never used.
    let free_buffer = |f: &CapturedBuffer,
                       at: &mut BTreeMap<(String, u64), Vec<u64>>,
                       drafts: &mut Vec<Draft>,
                       dead: &mut BTreeSet<u64>,
                       names: &BTreeMap<u64, String>| {
        for id in at
            .remove(&(f.buffer_type.clone(), f.address))
            .unwrap_or_default()
        {
            dead.insert(id);
            if let (Some(d), Some(n)) = (drafts.last_mut(), names.get(&id)) {
                if !d.deallocate.contains(n) {
                    d.deallocate.push(n.clone());
                }
            }
        }
    };
    for (index, call) in capture.calls.iter().enumerate() {
        let number = index + 1;
        let device_ins: Vec<u64> = tensor_ids(call)
            .into_iter()
            .filter(|id| tensor(*id).is_some_and(|t| t.on_device))
            .collect();
        let device_outs: Vec<u64> = call
            .outputs
            .iter()
            .copied()
            .filter(|id| tensor(*id).is_some_and(|t| t.on_device))
            .collect();
        // Frees the op made itself come before its outputs take their buffers.
        while let Some(f) = frees.next_if(|f| f.after_call == index as i64 && f.inside) {
            free_buffer(f, &mut at, &mut drafts, &mut dead, &names);
        }
        let rendered = render(call, &names);
        if let Some(e) = &call.error {
            ignored.push(format!(
                "call {number}: {rendered}: raised ({e}); the script went on"
            ));
        } else if call.function == "ttnn.deallocate" {
            // Its free is in the capture (above).
        } else if device_ins.is_empty() && !device_outs.is_empty() {
            for id in &device_outs {
                let t = tensor(*id).expect("filtered on it");
                let n = format!("input{}", inputs.len());
                names.insert(*id, n.clone());
                if let (Some(bt), Some(a)) = (&t.buffer_type, t.address) {
                    at.entry((bt.clone(), a)).or_default().push(*id);
                }
                inputs.push((n, t.clone()));
            }
        } else if device_outs.is_empty() {
            let why = if device_ins.is_empty() {
                "host-side only"
            } else {
                "makes no device tensor"
            };
            ignored.push(format!("call {number}: {rendered}: {why}"));
        } else {
            let base = call.function.rsplit('.').next().unwrap_or("out");
            let outputs: Vec<String> = (0..device_outs.len())
                .map(|j| match device_outs.len() {
                    1 => format!("{base}{number}"),
                    _ => format!("{base}{number}_{j}"),
                })
                .collect();
            let mapped = map_call(call, &capture.tensors, &names);
            // Named even when unmapped, so later calls are judged on their own.
            for (id, n) in device_outs.iter().zip(&outputs) {
                names.insert(*id, n.clone());
                let t = tensor(*id).expect("filtered on it");
                if let (Some(bt), Some(a)) = (&t.buffer_type, t.address) {
                    at.entry((bt.clone(), a)).or_default().push(*id);
                }
            }
            match mapped {
                Err(reason) => unmapped.push(Unmapped {
                    number,
                    call: rendered,
                    reason,
                }),
                Ok(m) => drafts.push(Draft {
                    number,
                    op: m.op,
                    function: call.function.clone(),
                    inputs: m.inputs,
                    outputs,
                    made: device_outs.clone(),
                    params: m.params,
                    memory: m.memory,
                    nhw: m.nhw,
                    deallocate: Vec::new(),
                }),
            }
        }
        while let Some(f) = frees.next_if(|f| f.after_call <= index as i64) {
            free_buffer(f, &mut at, &mut drafts, &mut dead, &names);
        }
    }
    if !unmapped.is_empty() {
        return Err(ImportError::Unmapped(unmapped));
    }
    if drafts.is_empty() {
        return Err(ImportError::Empty);
    }
    // Alive at the end: what `model` returned, and anything it kept (a global, a cache).
    let mut outputs: Vec<String> = Vec::new();
    for id in capture.returned.iter().chain(names.keys()) {
        if let Some(n) = names.get(id) {
            if !dead.contains(id) && !outputs.contains(n) {
                outputs.push(n.clone());
            }
        }
    }
    let text = write_file(name, &capture.script, &inputs, &drafts, &outputs);
    check_built(&text, name, device, &drafts, capture)?;
    // A call of the file stands for the script's calls up to the next one it states (a
    // ttnn.deallocate after it, host-side work).
    let script_memory = drafts
        .iter()
        .enumerate()
        .map(|(k, _)| {
            let until = drafts
                .get(k + 1)
                .map_or(i64::MAX, |next| next.number as i64 - 2);
            held_after(capture, device, until)
        })
        .collect();
    Ok(Imported {
        text,
        inputs: inputs.len(),
        calls: drafts.len(),
        ignored,
        script_memory,
    })
}

/// Bytes per bank (L1, DRAM) the script's buffers held after call `index` (0-based) and the
/// frees that followed it, before the next call.
fn held_after(capture: &Capture, device: &DeviceSpec, index: i64) -> (u64, u64) {
    // The capture names L1_SMALL buffers (conv2d's config tensors) `L1`; L1_SMALL is the top of
    // each L1 bank, above the allocatable L1.
    let l1_small_from =
        (device.l1_unreserved_base + device.l1_bank_bytes).saturating_sub(capture.l1_small_size);
    fn kind_of(e: &CapturedBuffer, l1_small: bool, l1_small_from: u64) -> &str {
        match e.buffer_type.as_str() {
            "l1" if l1_small && e.address >= l1_small_from => "l1_small",
            other => other,
        }
    }
    let l1_small = capture.l1_small_size > 0;
    let sum = |events: &[CapturedBuffer], kind: &str| -> u64 {
        events
            .iter()
            .filter(|e| e.after_call <= index && kind_of(e, l1_small, l1_small_from) == kind)
            .map(|e| e.max_size_per_bank)
            .sum()
    };
    let held = |kind: &str| sum(&capture.allocs, kind).saturating_sub(sum(&capture.frees, kind));
    (held("l1"), held("dram"))
}

/// The ids of every tensor a call takes, in argument order.
fn tensor_ids(call: &CapturedCall) -> Vec<u64> {
    fn walk(v: &Value, out: &mut Vec<u64>) {
        match v {
            Value::Object(o) => {
                if let Some(id) = o.get("tensor").and_then(Value::as_u64) {
                    out.push(id);
                }
            }
            Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    call.args
        .iter()
        .chain(call.kwargs.values())
        .for_each(|v| walk(v, &mut out));
    out
}

/// `ttnn.add(linear3, 1.0, memory_config=L1)`: a call as the script made it.
pub fn render(call: &CapturedCall, names: &BTreeMap<u64, String>) -> String {
    fn value(v: &Value, names: &BTreeMap<u64, String>) -> String {
        match v {
            Value::Object(o) => {
                if let Some(id) = o.get("tensor").and_then(Value::as_u64) {
                    return names
                        .get(&id)
                        .cloned()
                        .unwrap_or_else(|| format!("tensor#{id}"));
                }
                if let Some(mc) = o.get("memory_config") {
                    let s = |k: &str| mc.get(k).and_then(Value::as_str).unwrap_or("?").to_string();
                    return match s("memory_layout").as_str() {
                        "interleaved" => s("buffer_type").to_uppercase(),
                        layout => format!("{}({layout})", s("buffer_type").to_uppercase()),
                    };
                }
                for k in ["dtype", "layout"] {
                    if let Some(s) = o.get(k).and_then(Value::as_str) {
                        return s.to_string();
                    }
                }
                if o.contains_key("device") {
                    return "device".into();
                }
                if let Some(r) = o.get("repr").and_then(Value::as_str) {
                    return r.to_string();
                }
                v.to_string()
            }
            Value::Array(items) => format!(
                "[{}]",
                items
                    .iter()
                    .map(|i| value(i, names))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Value::Null => "None".into(),
            Value::Bool(b) => if *b { "True" } else { "False" }.into(),
            other => other.to_string(),
        }
    }
    let args = call
        .args
        .iter()
        .map(|a| value(a, names))
        .chain(
            call.kwargs
                .iter()
                .map(|(k, v)| format!("{k}={}", value(v, names))),
        )
        .collect::<Vec<_>>()
        .join(", ");
    format!("{}({args})", call.function)
}

/// A call mapped to the catalog.
struct Mapped {
    op: &'static OpDef,
    inputs: Vec<String>,
    params: toml::Table,
    memory: &'static str,
    nhw: Option<[i64; 3]>,
}

/// The arguments of a call, taken one by one; what is left over is not modeled.
struct Args<'a> {
    call: &'a CapturedCall,
    positional_taken: usize,
    taken: BTreeSet<String>,
}

impl<'a> Args<'a> {
    /// The argument `name` (by keyword: `a|b` names its spellings; else at `position`, when it
    /// has one); JSON null counts as absent.
    fn get(&mut self, name: &str, position: Option<usize>) -> Option<&'a Value> {
        let call = self.call;
        let mut found = None;
        for spelling in name.split('|') {
            self.taken.insert(spelling.to_string());
            found = found.or_else(|| call.kwargs.get(spelling));
        }
        if let Some(p) = position {
            self.positional_taken = self.positional_taken.max(p + 1);
            found = found.or_else(|| call.args.get(p));
        }
        found.filter(|v| !v.is_null())
    }

    fn int(&mut self, name: &str, position: usize) -> Result<Option<i64>, String> {
        match self.get(name, Some(position)) {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .map(Some)
                .ok_or_else(|| format!("`{name}` = {v}: an integer is expected")),
        }
    }

    fn ints(&mut self, name: &str, position: usize) -> Result<Option<Vec<i64>>, String> {
        match self.get(name, Some(position)) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| {
                    i.as_i64()
                        .ok_or_else(|| format!("`{name}`: {i} is not an integer"))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(v) => Err(format!("`{name}` = {v}: a list of integers is expected")),
        }
    }

    /// Everything not taken: the call sets something the catalog does not model.
    fn rest(&self) -> Result<(), String> {
        let mut extra: Vec<String> = Vec::new();
        for (i, v) in self
            .call
            .args
            .iter()
            .enumerate()
            .skip(self.positional_taken)
        {
            extra.push(format!("positional argument {i} = {v}"));
        }
        for (k, v) in &self.call.kwargs {
            if !self.taken.contains(k) && !v.is_null() {
                extra.push(format!("`{k}` = {v}"));
            }
        }
        if extra.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{} not modeled for this call: {}",
                if extra.len() == 1 {
                    "an argument is"
                } else {
                    "arguments are"
                },
                extra.join(", ")
            ))
        }
    }
}

/// The catalog op a TT-NN function maps to: the op that calls it; where several do (aliases of
/// the seed suite's), the one named like the function, else the shortest name (`view` for
/// ttnn.reshape).
fn op_for(function: &str) -> Option<&'static OpDef> {
    let short = function.rsplit('.').next().unwrap_or(function);
    let candidates: Vec<&'static OpDef> = OPS
        .iter()
        .filter(|o| {
            o.ttnn_function() == function && !matches!(o.family, Family::UnaryInPlace { .. })
        })
        .collect();
    candidates
        .iter()
        .find(|o| o.name == short)
        .or_else(|| candidates.iter().min_by_key(|o| o.name.len()))
        .copied()
}

fn memory_of(v: Option<&Value>) -> Result<&'static str, String> {
    let Some(v) = v else {
        return Ok("default");
    };
    let mc = v
        .get("memory_config")
        .ok_or_else(|| format!("memory_config = {v}: not a MemoryConfig"))?;
    let s = |k: &str| mc.get(k).and_then(Value::as_str).unwrap_or_default();
    if s("memory_layout") != "interleaved" {
        return Err(format!(
            "memory_config {} {}: only interleaved memory configs are in the model format",
            s("buffer_type"),
            s("memory_layout")
        ));
    }
    match s("buffer_type") {
        "l1" => Ok("l1"),
        "dram" => Ok("dram"),
        other => Err(format!(
            "memory_config in `{other}`: the model format has l1 and dram"
        )),
    }
}

fn map_call(
    call: &CapturedCall,
    tensors: &BTreeMap<String, CapturedTensor>,
    names: &BTreeMap<u64, String>,
) -> Result<Mapped, String> {
    let Some(mut op) = op_for(&call.function) else {
        return Err(format!(
            "{} is not in the catalog (memmodel::ops); the catalog's functions: {}",
            call.function,
            OPS.iter()
                .map(|o| o.ttnn_function())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect::<Vec<_>>()
                .join(", ")
        ));
    };
    let mut a = Args {
        call,
        positional_taken: 0,
        taken: BTreeSet::new(),
    };
    let mut params = toml::Table::new();
    let tensor_arg = |a: &mut Args<'_>, name: &str, position: usize| -> Result<u64, String> {
        a.get(name, Some(position))
            .and_then(|v| v.get("tensor"))
            .and_then(Value::as_u64)
            .ok_or_else(|| format!("`{name}` (argument {position}) is not a tensor"))
    };
    let first_name = "input_tensor|input_tensor_a|input_tensor_q|tensor|input";
    let mut ins: Vec<u64> = Vec::new();
    let mut memory_arg = "memory_config";
    let mut nhw = None;
    match op.family {
        Family::Concat => {
            let list = a
                .get("tensors", Some(0))
                .and_then(Value::as_array)
                .ok_or("the tensors to concatenate are not a list")?;
            for t in list {
                ins.push(
                    t.get("tensor")
                        .and_then(Value::as_u64)
                        .ok_or_else(|| format!("{t} in the list is not a tensor"))?,
                );
            }
            params.insert("dim".into(), a.int("dim", 1)?.unwrap_or(0).into());
        }
        _ => ins.push(tensor_arg(&mut a, first_name, 0)?),
    }
    match op.family {
        Family::Unary {
            function,
            float_kwargs,
        } => {
            if function == "ttnn.clamp" {
                let has = |a: &mut Args<'_>, k: &str, p: usize| a.get(k, Some(p)).is_some();
                let (min, max) = (has(&mut a, "min", 1), has(&mut a, "max", 2));
                op = match (min, max) {
                    (true, true) => crate::ops::find("clamp").map_err(|e| e.to_string())?,
                    (true, false) => crate::ops::find("clampmin").map_err(|e| e.to_string())?,
                    _ => return Err("ttnn.clamp without `min` is not in the catalog".into()),
                };
            }
            let float_kwargs = match op.family {
                Family::Unary { float_kwargs, .. } => float_kwargs,
                _ => float_kwargs,
            };
            for (i, (k, _)) in float_kwargs.iter().enumerate() {
                if let Some(v) = a.get(k, Some(i + 1)) {
                    let f = v
                        .as_f64()
                        .ok_or_else(|| format!("`{k}` = {v}: a number is expected"))?;
                    params.insert((*k).into(), f.into());
                }
            }
            if function == "ttnn.silu" {
                if let Some(out) = a.get("output_tensor", None) {
                    if out.get("tensor").and_then(Value::as_u64) != Some(ins[0]) {
                        return Err("ttnn.silu writing into another tensor is not in the catalog".into());
                    }
                    op = crate::ops::find("silu_inplace").map_err(|e| e.to_string())?;
                }
            }
        }
        Family::Binary { .. } => {
            let b = a
                .get("input_tensor_b", Some(1))
                .ok_or("takes one tensor: the catalog's binary ops take two")?;
            ins.push(
                b.get("tensor")
                    .and_then(Value::as_u64)
                    .ok_or_else(|| format!("the second operand {b} is a scalar; the catalog's binary ops take two tensors"))?,
            );
        }
        Family::Matmul { .. } | Family::Linear => {
            ins.push(tensor_arg(&mut a, "input_tensor_b", 1)?);
            if op.family == Family::Linear && a.get("bias", Some(2)).is_some() {
                return Err("ttnn.linear with a bias tensor: the catalog's linear makes its bias itself ([1, N], as a model parameter), so the script's bias would be counted twice".into());
            }
            let rank = tensors
                .get(&ins[0].to_string())
                .map_or(0, |t| t.shape.len());
            if matches!(op.family, Family::Matmul { .. }) {
                op = crate::ops::find(if rank == 2 { "mm" } else { "bmm" })
                    .map_err(|e| e.to_string())?;
            }
        }
        Family::Transpose => {
            for (k, p) in [("dim0", 1), ("dim1", 2)] {
                let v = a.int(k, p)?.ok_or_else(|| format!("no `{k}`"))?;
                params.insert(k.into(), v.into());
            }
        }
        Family::Permute => {
            let dims = a.ints("dims|dim", 1)?.ok_or("no `dims`")?;
            params.insert("dims".into(), int_array(&dims));
        }
        Family::Reshape => {
            let shape = a.ints("shape", 1)?.ok_or("no `shape`")?;
            params.insert("shape".into(), int_array(&shape));
        }
        Family::Unsqueeze => {
            params.insert("dim".into(), a.int("dim", 1)?.ok_or("no `dim`")?.into());
        }
        Family::Split => {
            let dim = a.int("dim", 2)?.unwrap_or(0);
            match a.get("split_size", Some(1)) {
                Some(Value::Array(_)) => {
                    let sizes = a.ints("split_size", 1)?.unwrap_or_default();
                    params.insert("split_sizes".into(), int_array(&sizes));
                }
                Some(v) => {
                    let size = v
                        .as_i64()
                        .ok_or_else(|| format!("`split_size` = {v}: an integer is expected"))?;
                    params.insert("split_size".into(), size.into());
                }
                None => return Err("no `split_size`".into()),
            }
            params.insert("dim".into(), dim.into());
        }
        Family::Softmax => {
            params.insert("dim".into(), a.int("dim", 1)?.unwrap_or(-1).into());
        }
        Family::Upsample => {
            let scale = match a.get("scale_factor", Some(1)) {
                Some(Value::Array(items)) if items.len() == 2 && items[0] == items[1] => {
                    items[0].as_i64()
                }
                Some(v) => v.as_i64(),
                None => None,
            }
            .ok_or("`scale_factor` is not one integer (or a pair of equal ones)")?;
            params.insert("scale_factor".into(), scale.into());
            if let Some(mode) = a.get("mode", Some(2)) {
                let mode = mode.as_str().ok_or("`mode` is not a string")?;
                params.insert("mode".into(), mode.into());
            }
        }
        Family::Mean => {
            match a.get("dim", Some(1)) {
                Some(Value::Array(_)) => {
                    let dims = a.ints("dim", 1)?.unwrap_or_default();
                    params.insert("dim".into(), int_array(&dims));
                }
                Some(v) => {
                    let d = v.as_i64().ok_or("`dim` is not an integer")?;
                    params.insert("dim".into(), int_array(&[d]));
                }
                None => {}
            }
            if let Some(k) = a.get("keepdim", Some(2)) {
                params.insert("keepdim".into(), k.as_bool().ok_or("`keepdim`")?.into());
            }
        }
        Family::TopK => {
            params.insert("k".into(), a.int("k", 1)?.ok_or("no `k`")?.into());
            params.insert("dim".into(), a.int("dim", 2)?.unwrap_or(-1).into());
            for (k, p) in [("largest", 3), ("sorted", 4)] {
                if let Some(v) = a.get(k, Some(p)) {
                    params.insert(k.into(), v.as_bool().ok_or(k)?.into());
                }
            }
        }
        Family::ToLayout => {
            let layout = a
                .get("layout", Some(1))
                .and_then(|v| v.get("layout"))
                .and_then(Value::as_str)
                .ok_or("no target `layout`")?;
            params.insert("layout".into(), layout.into());
            if let Some(d) = a.get("dtype", Some(2)) {
                let d = d.get("dtype").and_then(Value::as_str).ok_or("`dtype`")?;
                params.insert("dtype".into(), d.into());
            }
            memory_arg = "memory_config";
        }
        Family::ToMemoryConfig => {
            memory_arg = "memory_config";
            if a.get("memory_config", Some(1)).is_none() {
                return Err("no `memory_config`".into());
            }
            if let Some(d) = a.get("dtype", Some(2)) {
                let d = d.get("dtype").and_then(Value::as_str).ok_or("`dtype`")?;
                params.insert("dtype".into(), d.into());
            }
        }
        Family::Sdpa => {
            ins.push(tensor_arg(&mut a, "input_tensor_k", 1)?);
            ins.push(tensor_arg(&mut a, "input_tensor_v", 2)?);
            if let Some(c) = a.get("is_causal", Some(3)) {
                params.insert("is_causal".into(), c.as_bool().ok_or("`is_causal`")?.into());
            }
            if let Some(s) = a.get("scale", None) {
                params.insert("scale".into(), s.as_f64().ok_or("`scale`")?.into());
            }
        }
        Family::Conv2d => {
            let input = tensors
                .get(&ins[0].to_string())
                .ok_or("the input was not recorded")?;
            let c_in = *input.shape.last().unwrap_or(&0) as i64;
            let given = a.int("in_channels", 3)?.ok_or("no `in_channels`")?;
            if given != c_in {
                return Err(format!("in_channels = {given}, but the input has {c_in} channels"));
            }
            let out_channels = a.int("out_channels", 4)?.ok_or("no `out_channels`")?;
            params.insert("out_channels".into(), out_channels.into());
            let mut image = [0i64; 3];
            for (slot, (k, p)) in image
                .iter_mut()
                .zip([("batch_size", 5), ("input_height", 6), ("input_width", 7)])
            {
                *slot = a.int(k, p)?.ok_or_else(|| format!("no `{k}`"))?;
            }
            nhw = Some(image);
            for (k, p, len) in [
                ("kernel_size", 8, 2),
                ("stride", 9, 2),
                ("padding", 10, 2),
                ("dilation", 11, 2),
            ] {
                let v = match a.get(k, Some(p)) {
                    None => continue,
                    Some(Value::Array(_)) => a.ints(k, p)?.unwrap_or_default(),
                    Some(v) => vec![v.as_i64().ok_or_else(|| format!("`{k}` = {v}"))?; len],
                };
                if v.len() != len {
                    return Err(format!("`{k}` = {v:?}: a pair is modeled (not per-side padding)"));
                }
                params.insert(k.into(), int_array(&v));
            }
            if let Some(g) = a.int("groups", 12)? {
                params.insert("groups".into(), g.into());
            }
            // Weights and bias are host tensors the op prepares on the device itself, as the
            // catalog's conv2d makes them.
            let host = |a: &mut Args<'_>, k: &str, p: usize| -> Result<Option<Vec<u64>>, String> {
                match a.get(k, Some(p)) {
                    None => Ok(None),
                    Some(v) => {
                        let id = v.get("tensor").and_then(Value::as_u64).ok_or_else(|| format!("`{k}` is not a tensor"))?;
                        let t = tensors.get(&id.to_string()).ok_or_else(|| format!("`{k}` was not recorded"))?;
                        if t.on_device {
                            return Err(format!("`{k}` is on the device; the catalog's conv2d takes host weights (prepared by the op)"));
                        }
                        Ok(Some(t.shape.clone()))
                    }
                }
            };
            host(&mut a, "weight_tensor", 1)?.ok_or("no `weight_tensor`")?;
            let bias = host(&mut a, "bias_tensor", 2)?.is_some();
            params.insert("bias".into(), bias.into());
            if let Some(d) = a.get("dtype", None) {
                let d = d.get("dtype").and_then(Value::as_str).ok_or("`dtype`")?;
                params.insert("dtype".into(), d.into());
            }
            let _ = a.get("device", None);
            let _ = a.get("return_output_dim", None);
            if a.get("return_weights_and_bias", None).and_then(Value::as_bool) == Some(true) {
                return Err("return_weights_and_bias=True: the prepared weights are not in the model format".into());
            }
        }
        Family::Clone | Family::ConcatenateHeads | Family::Concat => {}
        _ => {
            return Err(format!(
                "{} ({}) is not imported yet: write its [[call]] by hand (see crates/memmodel/src/model.rs)",
                call.function, op.name
            ))
        }
    }
    let position = match op.family {
        Family::ToMemoryConfig => Some(1),
        _ => None,
    };
    let memory = memory_of(a.get(memory_arg, position))?;
    a.rest()?;
    // The model format gives a call one dtype and layout: its first tensor's. (Each named tensor
    // keeps its own memory: an L1 activation times a DRAM weight is what models do.)
    let describe = |id: u64| -> Result<&CapturedTensor, String> {
        let t = tensors
            .get(&id.to_string())
            .ok_or_else(|| format!("tensor#{id} was not recorded"))?;
        if !t.on_device {
            return Err(format!("tensor#{id} is a host tensor"));
        }
        if t.memory_layout.as_deref() != Some("interleaved") {
            return Err(format!(
                "{} is {}: only interleaved tensors are in the model format",
                names.get(&id).cloned().unwrap_or(format!("tensor#{id}")),
                t.memory_layout.as_deref().unwrap_or("?")
            ));
        }
        Ok(t)
    };
    let first = describe(ins[0])?;
    let mut named = Vec::new();
    for id in &ins {
        let t = describe(*id)?;
        let n = names
            .get(id)
            .cloned()
            .ok_or_else(|| format!("tensor#{id} was made by no call the import saw"))?;
        if (&t.dtype, &t.layout) != (&first.dtype, &first.layout) {
            return Err(format!(
                "{n} is {} {} and {} is {} {}: a call of the model format takes tensors of one dtype and layout",
                t.dtype,
                t.layout,
                named.first().cloned().unwrap_or_default(),
                first.dtype,
                first.layout,
            ));
        }
        named.push(n);
    }
    Ok(Mapped {
        op,
        inputs: named,
        params,
        memory,
        nhw,
    })
}

fn int_array(v: &[i64]) -> toml::Value {
    toml::Value::Array(v.iter().map(|&i| toml::Value::Integer(i)).collect())
}

fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn toml_list(items: &[String]) -> String {
    format!(
        "[{}]",
        items
            .iter()
            .map(|s| toml_str(s))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

fn write_file(
    name: &str,
    script: &str,
    inputs: &[(String, CapturedTensor)],
    drafts: &[Draft],
    outputs: &[String],
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Imported by `cargo xtask model-import` from {script}: its TT-NN calls as captured on a mock\n\
         # device. Shapes are the captured ones (a resolution given to `cargo xtask model` does not\n\
         # change them). Run it: cargo xtask model --model FILE --backend sim|metal\n"
    );
    let _ = writeln!(out, "[model]\nname = {}", toml_str(name));
    let _ = writeln!(
        out,
        "about = {}",
        toml_str(&format!("imported from {script}"))
    );
    let _ = writeln!(out, "resolution = [1, 1]");
    let _ = writeln!(out, "outputs = {}", toml_list(outputs));
    for (n, t) in inputs {
        let _ = writeln!(out, "\n[[input]]\nname = {}", toml_str(n));
        let _ = writeln!(
            out,
            "shape = {}",
            int_array(&t.shape.iter().map(|&d| d as i64).collect::<Vec<_>>())
        );
        let _ = writeln!(out, "dtype = {}", toml_str(&t.dtype));
        let _ = writeln!(out, "layout = {}", toml_str(&t.layout));
        let _ = writeln!(
            out,
            "memory = {}",
            toml_str(t.buffer_type.as_deref().unwrap_or("l1"))
        );
    }
    for d in drafts {
        let _ = writeln!(out, "\n[[call]]  # call {}: {}", d.number, d.function);
        let _ = writeln!(out, "op = {}", toml_str(d.op.name));
        let _ = writeln!(out, "inputs = {}", toml_list(&d.inputs));
        if let Some(nhw) = d.nhw {
            let _ = writeln!(out, "nhw = {}", int_array(&nhw));
        }
        if !d.params.is_empty() {
            let _ = writeln!(out, "params = {}", toml::Value::Table(d.params.clone()));
        }
        let _ = writeln!(out, "memory = {}", toml_str(d.memory));
        let _ = writeln!(out, "outputs = {}", toml_list(&d.outputs));
        if !d.deallocate.is_empty() {
            let _ = writeln!(out, "deallocate = {}", toml_list(&d.deallocate));
        }
    }
    out
}

/// Builds the written file and holds each call's outputs to what the script's call made.
fn check_built(
    text: &str,
    name: &str,
    device: &'static DeviceSpec,
    drafts: &[Draft],
    capture: &Capture,
) -> Result<(), ImportError> {
    let built = ModelFile::parse(text, name)
        .and_then(|f| f.build(None, device))
        .map_err(|e| ImportError::Build(e.to_string()))?;
    let mut wrong = Vec::new();
    for (step, draft) in built.steps.iter().zip(drafts) {
        for (def, id) in step.outputs.iter().zip(&draft.made) {
            let Some(t) = capture.tensors.get(&id.to_string()) else {
                continue;
            };
            let want = (
                t.shape.clone(),
                t.dtype.parse::<DType>().ok(),
                t.layout.parse::<Layout>().ok(),
                t.buffer_type
                    .as_deref()
                    .and_then(|b| b.parse::<BufferType>().ok()),
            );
            let got = (
                def.shape.dims().to_vec(),
                Some(def.dtype),
                Some(def.layout),
                Some(def.memory),
            );
            if got != want {
                let show = |(s, d, l, m): &(
                    Vec<u64>,
                    Option<DType>,
                    Option<Layout>,
                    Option<BufferType>,
                )| {
                    format!(
                        "{s:?} {} {} in {}",
                        d.map_or("?".into(), |d| d.to_string()),
                        l.map_or("?".into(), |l| l.to_string()),
                        m.map_or("?".into(), |m| m.to_string())
                    )
                };
                wrong.push(Unmapped {
                    number: draft.number,
                    call: render(&capture.calls[draft.number - 1], &BTreeMap::new()),
                    reason: format!(
                        "the catalog's {} makes {} as {}; the script's call made {}",
                        draft.op.name,
                        def.name,
                        show(&got),
                        show(&want)
                    ),
                });
            }
        }
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(ImportError::Unmapped(wrong))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::N150;

    /// A real capture (ttnn 0.81.1, mock n150) of a block: linear, add, deallocate, softmax,
    /// permute, reshape, to_memory_config into DRAM.
    const BLOCK: &str = include_str!("../tests/golden/capture/block.json");

    fn block() -> Capture {
        serde_json::from_str(BLOCK).unwrap()
    }

    fn unmapped(capture: &Capture) -> Vec<Unmapped> {
        match import(capture, "block", &N150) {
            Err(ImportError::Unmapped(u)) => u,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_captured_block_becomes_the_catalogs_calls_with_the_scripts_lifetimes() {
        let imported = import(&block(), "block", &N150).unwrap_or_else(|e| panic!("{e}"));
        let m = ModelFile::parse(&imported.text, "block.toml")
            .unwrap()
            .build(None, &N150)
            .unwrap();
        let ops: Vec<&str> = m.steps.iter().map(|s| s.case.op.name).collect();
        assert_eq!(
            ops,
            [
                "linear",
                "add",
                "softmax",
                "permute",
                "view",
                "to_memory_config"
            ]
        );
        assert_eq!(imported.inputs, 2);
        assert!(imported.ignored.is_empty(), "{:?}", imported.ignored);
        // The weight stays in DRAM, the activation in L1, as the script made them.
        let memories: Vec<BufferType> = m.inputs.iter().map(|t| t.memory).collect();
        assert_eq!(memories, [BufferType::L1, BufferType::Dram]);
        // linear's output dies at the script's ttnn.deallocate (after the add); everything else
        // when `model` returns, after the last call; what it returned stays.
        let frees: Vec<Vec<&str>> = m
            .steps
            .iter()
            .map(|s| s.frees.iter().map(String::as_str).collect())
            .collect();
        assert_eq!(frees[0], Vec::<&str>::new());
        assert_eq!(frees[1], ["linear3"]);
        let mut last = frees[5].clone();
        last.sort_unstable();
        assert_eq!(
            last,
            ["add4", "input0", "input1", "permute7", "reshape8", "softmax6"]
        );
        assert_eq!(m.outputs, ["to_memory_config9"]);
        // What the script held after each call (KiB per bank, L1 and DRAM): x, w and linear's
        // output; the add's output and linear's deallocated; softmax's, permute's (the reshape
        // a view of it); at the end only the DRAM output.
        let kib: Vec<(u64, u64)> = imported
            .script_memory
            .iter()
            .map(|(l1, dram)| (l1 / 1024, dram / 1024))
            .collect();
        assert_eq!(kib, [(4, 6), (4, 6), (6, 6), (8, 6), (8, 6), (0, 12)]);
        assert!(m.steps[3].case.params.get("dims").is_some());
        assert_eq!(m.steps[5].outputs[0].memory, BufferType::Dram);
    }

    #[test]
    fn a_script_that_raised_is_refused_with_its_traceback() {
        let mut c = block();
        c.error = Some("the script raised:\nValueError: bad shape\n".into());
        let e = import(&c, "block", &N150).unwrap_err();
        assert_eq!(
            e,
            ImportError::Script("the script raised:\nValueError: bad shape".into())
        );
    }

    #[test]
    fn a_call_it_cannot_map_is_named_with_its_arguments_and_nothing_is_written() {
        let mut c = block();
        // ttnn.add(h, 1.0): a scalar operand.
        c.calls[3].args[1] = serde_json::json!(1.0);
        // A function the catalog does not have.
        c.calls[5].function = "ttnn.layer_norm".into();
        // A keyword the catalog's softmax does not model... on the permute.
        c.calls[6]
            .kwargs
            .insert("pad_value".into(), serde_json::json!(0.5));
        let u = unmapped(&c);
        assert_eq!(u.len(), 3, "{u:?}");
        assert_eq!(u[0].number, 4);
        assert_eq!(u[0].call, "ttnn.add(linear3, 1.0, memory_config=L1)");
        assert!(u[0].reason.contains("scalar"), "{}", u[0].reason);
        assert_eq!(u[1].number, 6);
        assert!(
            u[1].reason.contains("not in the catalog"),
            "{}",
            u[1].reason
        );
        assert!(u[2].reason.contains("`pad_value` = 0.5"), "{}", u[2].reason);
        let text = ImportError::Unmapped(u).to_string();
        assert!(
            text.starts_with("3 call(s) of the script cannot be expressed"),
            "{text}"
        );
    }

    #[test]
    fn sharded_and_mixed_inputs_and_wrong_outputs_are_refused() {
        // A sharded output memory.
        let mut c = block();
        c.calls[3].kwargs.insert(
            "memory_config".into(),
            serde_json::json!({"memory_config": {"buffer_type": "l1", "memory_layout": "height_sharded"}}),
        );
        assert!(unmapped(&c)[0].reason.contains("only interleaved"));
        // A bfloat8_b weight for a bfloat16 activation: one dtype per call in the model format.
        let mut c = block();
        c.tensors.get_mut("3").unwrap().dtype = "bfloat8_b".into();
        assert!(unmapped(&c)[0]
            .reason
            .contains("takes tensors of one dtype and layout"));
        // What the catalog's call makes must be what the script's made.
        let mut c = block();
        c.tensors.get_mut("15").unwrap().shape = vec![256, 256];
        let u = unmapped(&c);
        assert_eq!(u[0].number, 8);
        assert!(
            u[0].reason
                .contains("the catalog's view makes reshape8 as [1, 256, 256]"),
            "{}",
            u[0].reason
        );
    }

    /// A real capture of a 3x3 conv2d (host weights and bias, L1 interleaved input and output)
    /// followed by a relu.
    const CONV: &str = include_str!("../tests/golden/capture/conv.json");

    #[test]
    fn a_conv2d_names_the_image_its_input_holds_and_takes_its_weights_from_the_host() {
        let c: Capture = serde_json::from_str(CONV).unwrap();
        let imported = import(&c, "conv", &N150).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            imported.ignored.len(),
            2,
            "the host weight and bias: {:?}",
            imported.ignored
        );
        let m = ModelFile::parse(&imported.text, "conv.toml")
            .unwrap()
            .build(None, &N150)
            .unwrap();
        let conv = &m.steps[0];
        assert_eq!(conv.case.op.name, "conv2d");
        assert_eq!(conv.case.model_inputs[0].to_string(), "[1,32,64,64]");
        assert_eq!(conv.outputs[0].shape.to_string(), "[1,1,4096,64]");
        assert!(m.l1_small_bytes() > 0);
        // Per-side padding is not the catalog's; a device weight is not what it prepares.
        let mut c4 = c.clone();
        c4.calls[3]
            .kwargs
            .insert("padding".into(), serde_json::json!([1, 1, 0, 0]));
        let u = match import(&c4, "conv", &N150) {
            Err(ImportError::Unmapped(u)) => u,
            other => panic!("{other:?}"),
        };
        assert!(u[0].reason.contains("a pair is modeled"), "{}", u[0].reason);
        let mut on_device = c;
        on_device.tensors.get_mut("2").unwrap().on_device = true;
        on_device.tensors.get_mut("2").unwrap().memory_layout = Some("interleaved".into());
        let u = match import(&on_device, "conv", &N150) {
            Err(ImportError::Unmapped(u)) => u,
            other => panic!("{other:?}"),
        };
        assert!(
            u.iter().any(|u| u.reason.contains("takes host weights")),
            "{u:?}"
        );
    }
}
