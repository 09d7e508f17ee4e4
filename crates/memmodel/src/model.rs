//! Model files: a whole model as an ordered list of TT-NN calls on named tensors, parameterized
//! by the input resolution, and the builder that turns one into the calls a device runs.
//!
//! ```toml
//! [model]
//! name = "block"
//! resolution = [640, 640]          # default H x W; `--resolution` overrides it
//! outputs = ["z"]                  # alive at the end (every other tensor dies)
//! l1_small_size = 65536            # L1_SMALL per bank at device open (default: what the calls need)
//!
//! [symbols]                        # integer expressions of H, W and earlier symbols
//! N = "H * W / 64"
//!
//! [[input]]                        # tensors on the device before the first call
//! name = "x"
//! shape = [1, 1, "N", 96]          # integers or expressions: + - * / (floor) % ( ) cdiv(a, b)
//! dtype = "bfloat16"               # default bfloat16
//! layout = "tile"                  # default tile
//! memory = "l1"                    # l1 (default) or dram
//!
//! [[call]]
//! op = "silu"                      # an op of the catalog (memmodel::ops), on device shapes
//! inputs = ["x"]
//! outputs = ["y"]
//! memory = "l1"                    # the output's memory: l1, dram, or default (no memory_config)
//! params = { }                     # the op's parameters, as in shapes.toml
//! param_exprs = { }                # integer ones computed: { shape = [1, "H / 32", 20, 768] }
//! deallocate = ["x"]               # ttnn.deallocate after the call
//! clear_program_cache = true       # device.clear_program_cache() before the call (default false)
//!
//! [[call]]
//! op = "conv2d"                    # ops on channels-last images (conv2d, maxpool2d) take the
//! inputs = ["y"]                   # image's batch, height and width: the tensor holds it as
//! nhw = [1, "H", "W"]              # [1, 1, N*H*W, C] or [N, H, W, C]
//! params = { out_channels = 96, kernel_size = 3, stride = 2 }
//! outputs = ["z"]
//! ```
//!
//! Lifetimes: a tensor dies at its `deallocate` or after its last use (as Python frees a tensor
//! whose last reference goes), unless it is one of the model's `outputs`. Inputs an op takes
//! beyond the named ones (a linear's weight, a matmul's derived operand) are the model's
//! parameters: created before the call in its input memory and kept to the end, as uploaded
//! weights are.
//!
//! Shapes are device shapes (the catalog's `as-given` layout): a model states what it holds on
//! the device.

use crate::case::Case;
use crate::config::{ConfigError, Ctx};
use crate::device::{BufferType, DeviceSpec};
use crate::dtype::DType;
use crate::layout::{DeviceLayout, Layout};
use crate::ops::{InputSpec, OutputStorage, Signature};
use crate::params::ParamValue;
use crate::shape::Shape;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use toml::Spanned;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    model: RawModel,
    #[serde(default)]
    symbols: BTreeMap<String, Spanned<toml::Value>>,
    #[serde(default)]
    input: Vec<Spanned<RawInput>>,
    #[serde(default)]
    call: Vec<Spanned<RawCall>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModel {
    name: String,
    #[serde(default)]
    about: String,
    resolution: Option<Spanned<[u64; 2]>>,
    #[serde(default)]
    outputs: Vec<Spanned<String>>,
    /// L1_SMALL per bank the device opens with, at least (`--fix` may raise it).
    l1_small_size: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInput {
    name: Spanned<String>,
    shape: Spanned<Vec<Spanned<toml::Value>>>,
    dtype: Option<Spanned<String>>,
    layout: Option<Spanned<String>>,
    memory: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCall {
    op: Spanned<String>,
    inputs: Spanned<Vec<Spanned<String>>>,
    outputs: Spanned<Vec<Spanned<String>>>,
    memory: Option<Spanned<String>>,
    params: Option<Spanned<toml::Table>>,
    /// Integer parameters computed from expressions (an integer or a list of them), e.g. a
    /// reshape's target `shape = [1, "H / 32", "W / 32", 768]`; merged into `params`.
    param_exprs: Option<Spanned<toml::Table>>,
    /// Batch, height and width of the image a channels-last input holds, for ops that take
    /// them as arguments (conv2d, maxpool2d): `nhw = [1, "H / 2", "W / 2"]`.
    nhw: Option<Spanned<Vec<Spanned<toml::Value>>>>,
    #[serde(default)]
    deallocate: Vec<Spanned<String>>,
    /// `device.clear_program_cache()` before the call: frees what the cached programs of
    /// earlier calls hold (conv2d's and max_pool2d's config tensors in L1_SMALL).
    #[serde(default)]
    clear_program_cache: bool,
}

/// The models that come with memmodel, by name (`cargo xtask model --model yolov12x`): their
/// files live in the workspace's `models/` (yolov12x.toml is written by models/yolov12x.py).
pub const BUILTIN: &[(&str, &str)] = &[
    ("yolov12x", include_str!("../../../models/yolov12x.toml")),
    ("c2f-block", include_str!("../../../models/c2f-block.toml")),
];

/// A built-in model's file text.
pub fn builtin(name: &str) -> Option<&'static str> {
    BUILTIN
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| *text)
}

/// A model file, read and checked for structure; [`ModelFile::build`] makes it concrete for a
/// resolution and a device.
#[derive(Debug, Clone)]
pub struct ModelFile {
    file: String,
    text: String,
    raw: RawFile,
}

/// A tensor of the model: what it is on the device.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorDef {
    pub name: String,
    pub shape: Shape,
    pub dtype: DType,
    pub layout: Layout,
    pub memory: BufferType,
}

/// One call of a built model.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// 1-based, as users count calls.
    pub number: usize,
    /// The call's line in the model file.
    pub line: usize,
    /// The call as one case of the catalog (its named inputs first).
    pub case: Case,
    /// The case's signature (inputs, outputs, the TT-NN call), built once with the model.
    pub signature: Signature,
    /// The named tensors it takes, in order.
    pub inputs: Vec<String>,
    /// The model parameters it takes after them (created before the call, kept to the end).
    pub parameters: Vec<InputSpec>,
    /// The tensors it makes, with what they are.
    pub outputs: Vec<TensorDef>,
    /// Tensors that die after this call (their deallocate or last use).
    pub frees: Vec<String>,
    /// The program cache is cleared before the call (what earlier calls' cached programs
    /// hold is freed).
    pub clear_program_cache: bool,
}

impl Step {
    /// `#3 silu(x) -> y`.
    pub fn label(&self) -> String {
        format!(
            "#{} {}({}) -> {}",
            self.number,
            self.case.op.name,
            self.inputs.join(", "),
            self.outputs
                .iter()
                .map(|o| o.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

/// A model at one resolution on one device: what a device runs, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct BuiltModel {
    pub name: String,
    pub about: String,
    pub resolution: [u64; 2],
    pub device: &'static DeviceSpec,
    pub inputs: Vec<TensorDef>,
    pub steps: Vec<Step>,
    /// Inputs that no call uses die at once; these are alive at the end.
    pub outputs: Vec<String>,
    /// Model inputs no call takes (freed before the first call).
    pub unused_inputs: Vec<String>,
    /// L1_SMALL the device is opened with at least, whatever the calls declare: a
    /// [`BuiltModel::prefix`] runs on the device its whole model opens.
    pub l1_small_floor: u64,
}

impl BuiltModel {
    /// The model's first `calls` calls (its inputs and lifetimes as they are, on a device
    /// opened as for the whole model), copying only those.
    pub fn prefix(&self, calls: usize) -> BuiltModel {
        BuiltModel {
            name: self.name.clone(),
            about: self.about.clone(),
            resolution: self.resolution,
            device: self.device,
            inputs: self.inputs.clone(),
            steps: self.steps[..calls.min(self.steps.len())].to_vec(),
            outputs: self.outputs.clone(),
            unused_inputs: self.unused_inputs.clone(),
            l1_small_floor: self.l1_small_bytes(),
        }
    }

    /// L1_SMALL the device must be opened with (the largest any call declares).
    pub fn l1_small_bytes(&self) -> u64 {
        self.steps
            .iter()
            .map(|s| s.signature.l1_small_bytes)
            .max()
            .unwrap_or(0)
            .max(self.l1_small_floor)
    }
}

impl ModelFile {
    /// Reads a model file's text; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<ModelFile, ConfigError> {
        let cx = Ctx { file, text };
        let raw: RawFile = cx.deserialize()?;
        Ok(ModelFile {
            file: file.to_string(),
            text: text.to_string(),
            raw,
        })
    }

    pub fn name(&self) -> &str {
        &self.raw.model.name
    }

    /// The file with `edits` made (`--fix`'s changes, [`crate::model_fix::Edit`]), without
    /// writing and re-reading its text: the search tries many. Errors name what is missing.
    pub fn edited(&self, edits: &[crate::model_fix::Edit]) -> Result<ModelFile, String> {
        use crate::model_fix::Edit;
        let mut out = self.clone();
        let raw = &mut out.raw;
        let text = |s: &str| Some(Spanned::new(0..0, s.to_string()));
        for edit in edits {
            match edit {
                Edit::TensorToDram { tensor } => {
                    if let Some(input) = raw
                        .input
                        .iter_mut()
                        .find(|i| i.get_ref().name.get_ref() == tensor)
                    {
                        input.get_mut().memory = text("dram");
                    } else if let Some(call) = raw.call.iter_mut().find(|c| {
                        c.get_ref()
                            .outputs
                            .get_ref()
                            .iter()
                            .any(|o| o.get_ref() == tensor)
                    }) {
                        call.get_mut().memory = text("dram");
                    } else {
                        return Err(format!("no input or call makes `{tensor}`"));
                    }
                }
                Edit::CallMemory { call, memory } => {
                    let c = raw
                        .call
                        .get_mut(call.wrapping_sub(1))
                        .ok_or_else(|| format!("no call #{call}"))?;
                    c.get_mut().memory = text(memory);
                }
                Edit::L1SmallSize { bytes } => {
                    raw.model.l1_small_size = Some(*bytes);
                }
                Edit::ClearProgramCache { call } => {
                    raw.call
                        .get_mut(call.wrapping_sub(1))
                        .ok_or_else(|| format!("no call #{call}"))?
                        .get_mut()
                        .clear_program_cache = true;
                }
                Edit::CallParam { call, param, value } => {
                    let c = raw
                        .call
                        .get_mut(call.wrapping_sub(1))
                        .ok_or_else(|| format!("no call #{call}"))?
                        .get_mut();
                    let params = c
                        .params
                        .get_or_insert_with(|| Spanned::new(0..0, toml::Table::new()))
                        .get_mut();
                    match value {
                        Some(v) => {
                            params.insert(param.clone(), crate::model_fix::toml_of(v));
                        }
                        None => {
                            params.remove(param);
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    /// The resolution the file names (H, W), if any.
    pub fn default_resolution(&self) -> Option<[u64; 2]> {
        self.raw.model.resolution.as_ref().map(|r| *r.get_ref())
    }

    /// The model at `resolution` (H, W; default: the file's) on `device`: shapes resolved, every
    /// call checked against the catalog, lifetimes decided.
    pub fn build(
        &self,
        resolution: Option<[u64; 2]>,
        device: &'static DeviceSpec,
    ) -> Result<BuiltModel, ConfigError> {
        let cx = Ctx {
            file: &self.file,
            text: &self.text,
        };
        let raw = &self.raw;
        let resolution = match resolution.or(self.default_resolution()) {
            Some(r) => r,
            None => {
                return Err(cx.err(
                    0..0,
                    "model.resolution",
                    "no resolution: give one in the file ([model] resolution = [H, W]) or on the command line",
                ))
            }
        };
        let mut symbols: BTreeMap<String, i64> = BTreeMap::new();
        for (name, value) in [("H", resolution[0]), ("W", resolution[1])] {
            let v = i64::try_from(value)
                .map_err(|_| cx.err(0..0, "model.resolution", "resolution too large"))?;
            symbols.insert(name.into(), v);
        }
        // Symbols may use earlier ones: resolve in rounds until none is left.
        let mut pending: Vec<(&String, &Spanned<toml::Value>)> = raw.symbols.iter().collect();
        while !pending.is_empty() {
            let before = pending.len();
            let mut left = Vec::new();
            for (name, value) in pending {
                match eval_value(value.get_ref(), &symbols) {
                    Ok(v) => {
                        symbols.insert(name.clone(), v);
                    }
                    Err(Eval::Unknown(_)) => left.push((name, value)),
                    Err(e) => {
                        return Err(cx.err(value.span(), format!("symbols.{name}"), e.to_string()))
                    }
                }
            }
            if left.len() == before {
                let (name, value) = left[0];
                let e = eval_value(value.get_ref(), &symbols).unwrap_err();
                return Err(cx.err(value.span(), format!("symbols.{name}"), e.to_string()));
            }
            pending = left;
        }

        let mut live: BTreeMap<String, TensorDef> = BTreeMap::new();
        let mut inputs = Vec::new();
        for (i, input) in raw.input.iter().enumerate() {
            let input = input.get_ref();
            let field = |f: &str| format!("input[{i}].{f}");
            let name = input.name.get_ref().clone();
            if live.contains_key(&name) {
                return Err(cx.err(
                    input.name.span(),
                    field("name"),
                    format!("`{name}` is defined twice"),
                ));
            }
            let mut dims = Vec::new();
            for (d, dim) in input.shape.get_ref().iter().enumerate() {
                let v = eval_value(dim.get_ref(), &symbols).map_err(|e| {
                    cx.err(dim.span(), field(&format!("shape[{d}]")), e.to_string())
                })?;
                dims.push(v);
            }
            let shape = Shape::new(&dims)
                .map_err(|e| cx.err(input.shape.span(), field("shape"), e.to_string()))?;
            let dtype = parse_or(&cx, &input.dtype, &field("dtype"), DType::Bfloat16, |s| {
                s.parse::<DType>().map_err(|e| e.to_string())
            })?;
            let layout = parse_or(&cx, &input.layout, &field("layout"), Layout::Tile, |s| {
                s.parse::<Layout>()
            })?;
            let memory =
                parse_or(&cx, &input.memory, &field("memory"), BufferType::L1, |s| {
                    match s.parse::<BufferType>()? {
                        b @ (BufferType::L1 | BufferType::Dram) => Ok(b),
                        other => Err(format!("{other}: allowed values are l1, dram")),
                    }
                })?;
            let def = TensorDef {
                name: name.clone(),
                shape,
                dtype,
                layout,
                memory,
            };
            live.insert(name, def.clone());
            inputs.push(def);
        }

        let outputs: Vec<String> = raw
            .model
            .outputs
            .iter()
            .map(|o| o.get_ref().clone())
            .collect();
        let mut steps: Vec<Step> = Vec::new();
        let mut deallocated: BTreeSet<String> = BTreeSet::new();
        let mut lines = Lines::new(&self.text);
        for (k, call) in raw.call.iter().enumerate() {
            let span = call.span();
            let call = call.get_ref();
            let field = |f: &str| format!("call[{k}].{f}");
            let op = crate::ops::find(call.op.get_ref())
                .map_err(|e| cx.err(call.op.span(), field("op"), e.to_string()))?;
            let mut named = Vec::new();
            for (j, name) in call.inputs.get_ref().iter().enumerate() {
                let Some(t) = live.get(name.get_ref()) else {
                    let why = if deallocated.contains(name.get_ref()) {
                        format!("`{}` was freed before this call", name.get_ref())
                    } else {
                        format!(
                            "no tensor `{}` before this call (alive: {})",
                            name.get_ref(),
                            live.keys().cloned().collect::<Vec<_>>().join(", ")
                        )
                    };
                    return Err(cx.err(name.span(), field(&format!("inputs[{j}]")), why));
                };
                named.push(t.clone());
            }
            let Some(first) = named.first() else {
                return Err(cx.err(
                    call.inputs.span(),
                    field("inputs"),
                    format!("{}: a call takes at least one tensor", op.name),
                ));
            };
            let mut case = Case::new(op, named.iter().map(|t| t.shape.clone()).collect(), device);
            let image_op = op.default_device_layout != DeviceLayout::AsGiven
                && op.default_device_layout != DeviceLayout::Nhwc;
            match (&call.nhw, image_op) {
                (Some(nhw), true) => {
                    let mut dims = Vec::new();
                    for (d, dim) in nhw.get_ref().iter().enumerate() {
                        let v = eval_value(dim.get_ref(), &symbols).map_err(|e| {
                            cx.err(dim.span(), field(&format!("nhw[{d}]")), e.to_string())
                        })?;
                        dims.push(v);
                    }
                    let &[n, h, w] = dims.as_slice() else {
                        return Err(cx.err(
                            nhw.span(),
                            field("nhw"),
                            format!("is {} value(s); give [N, H, W]", dims.len()),
                        ));
                    };
                    let (image, layout) = image_of(&first.shape, [n, h, w]).map_err(|why| {
                        cx.err(nhw.span(), field("nhw"), format!("`{}`: {why}", first.name))
                    })?;
                    case.model_inputs = vec![image];
                    case.device_layout = layout;
                }
                (Some(nhw), false) => {
                    return Err(cx.err(
                        nhw.span(),
                        field("nhw"),
                        format!(
                            "{} takes its shape from the tensor; nhw is for conv2d and maxpool2d",
                            op.name
                        ),
                    ))
                }
                (None, true) => {
                    return Err(cx.err(
                        call.op.span(),
                        field("nhw"),
                        format!(
                            "{} takes a channels-last image ([1, 1, N*H*W, C] or [N, H, W, C]) and needs its batch, height and width: nhw = [N, H, W]",
                            op.name
                        ),
                    ))
                }
                (None, false) => {}
            }
            case.dtype = first.dtype;
            case.layout = first.layout;
            case.input_memory = first.memory;
            case.output_memory = first.memory;
            if let Some(p) = &call.params {
                case.params = crate::config::to_params(&cx, &field("params"), p)?;
            }
            if let Some(exprs) = &call.param_exprs {
                for (key, value) in exprs.get_ref() {
                    let at = format!("param_exprs.{key}");
                    let computed = match value {
                        toml::Value::Array(items) => items
                            .iter()
                            .map(|item| eval_value(item, &symbols))
                            .collect::<Result<Vec<_>, _>>()
                            .map(ParamValue::Ints),
                        other => eval_value(other, &symbols).map(ParamValue::Int),
                    }
                    .map_err(|e| cx.err(exprs.span(), field(&at), e.to_string()))?;
                    if case.params.get(key).is_some() {
                        return Err(cx.err(
                            exprs.span(),
                            field(&at),
                            format!("`{key}` is in params too: give it once"),
                        ));
                    }
                    case.params.set(key, computed);
                }
            }
            match call.memory.as_ref().map(|m| (m, m.get_ref().trim())) {
                None => case = case.with_default_output_memory(),
                Some((_, "default")) => case = case.with_default_output_memory(),
                Some((m, text)) => {
                    case.output_memory = match text.parse::<BufferType>() {
                        Ok(b @ (BufferType::L1 | BufferType::Dram)) => b,
                        _ => {
                            return Err(cx.err(
                                m.span(),
                                field("memory"),
                                format!("`{text}`: allowed values are l1, dram, default"),
                            ))
                        }
                    }
                }
            }
            let sig = case
                .signature()
                .map_err(|e| cx.err(span.clone(), field("op"), e.to_string()))?;
            if sig.inputs.len() < named.len() {
                return Err(cx.err(
                    call.inputs.span(),
                    field("inputs"),
                    format!(
                        "{} takes {} tensor(s), {} given",
                        op.name,
                        sig.inputs.len(),
                        named.len()
                    ),
                ));
            }
            let names = call.outputs.get_ref();
            if names.len() != sig.outputs.len() {
                return Err(cx.err(
                    call.outputs.span(),
                    field("outputs"),
                    format!(
                        "{} makes {} tensor(s) here, {} named",
                        op.name,
                        sig.outputs.len(),
                        names.len()
                    ),
                ));
            }
            let mut made = Vec::new();
            for (j, (name, spec)) in names.iter().zip(&sig.outputs).enumerate() {
                if live.contains_key(name.get_ref())
                    || made.iter().any(|t: &TensorDef| &t.name == name.get_ref())
                {
                    return Err(cx.err(
                        name.span(),
                        field(&format!("outputs[{j}]")),
                        format!(
                            "`{}` is already alive (name each tensor once)",
                            name.get_ref()
                        ),
                    ));
                }
                let memory = match spec.storage {
                    OutputStorage::New
                        if case.default_output_memory
                            && matches!(op.family, crate::ops::Family::Conv2d) =>
                    {
                        crate::fix::conv2d_default_output_memory(&case)
                    }
                    OutputStorage::New => case.output_memory,
                    OutputStorage::AliasOfInput(i) => {
                        named.get(i).map_or(case.input_memory, |t| t.memory)
                    }
                };
                made.push(TensorDef {
                    name: name.get_ref().clone(),
                    shape: spec.shape.clone(),
                    dtype: spec.dtype,
                    layout: spec.layout,
                    memory,
                });
            }
            for name in &call.deallocate {
                let n = name.get_ref();
                if !live.contains_key(n) && !made.iter().any(|t| &t.name == n) {
                    return Err(cx.err(
                        name.span(),
                        field("deallocate"),
                        format!("no tensor `{n}` alive to deallocate"),
                    ));
                }
                deallocated.insert(n.clone());
            }
            for t in &made {
                live.insert(t.name.clone(), t.clone());
            }
            steps.push(Step {
                number: k + 1,
                line: lines.line_of(span.start),
                parameters: sig.inputs[named.len()..].to_vec(),
                signature: sig,
                inputs: call
                    .inputs
                    .get_ref()
                    .iter()
                    .map(|n| n.get_ref().clone())
                    .collect(),
                outputs: made,
                frees: call
                    .deallocate
                    .iter()
                    .map(|n| n.get_ref().clone())
                    .collect(),
                clear_program_cache: call.clear_program_cache,
                case,
            });
            for n in &steps.last().expect("pushed").frees {
                live.remove(n);
            }
        }
        for (i, o) in raw.model.outputs.iter().enumerate() {
            if !live.contains_key(o.get_ref()) {
                return Err(cx.err(
                    o.span(),
                    format!("model.outputs[{i}]"),
                    format!("no tensor `{}` is alive at the end", o.get_ref()),
                ));
            }
        }
        // Last use: a tensor that is not an output dies after the last call that takes it (or
        // makes it, when nothing takes it).
        let mut last: BTreeMap<String, usize> = BTreeMap::new();
        for (k, step) in steps.iter().enumerate() {
            for t in &step.outputs {
                last.insert(t.name.clone(), k);
            }
            for n in &step.inputs {
                last.insert(n.clone(), k);
            }
        }
        let explicit: BTreeSet<String> = steps.iter().flat_map(|s| s.frees.clone()).collect();
        let mut dies: BTreeMap<usize, Vec<String>> = BTreeMap::new();
        for (name, k) in &last {
            if !outputs.iter().any(|o| o == name) && !explicit.contains(name) {
                dies.entry(*k).or_default().push(name.clone());
            }
        }
        for (k, names) in dies {
            steps[k].frees.extend(names);
        }
        let unused_inputs = inputs
            .iter()
            .filter(|t| !last.contains_key(&t.name) && !outputs.contains(&t.name))
            .map(|t| t.name.clone())
            .collect();
        Ok(BuiltModel {
            name: raw.model.name.clone(),
            about: raw.model.about.clone(),
            resolution,
            device,
            inputs,
            steps,
            outputs,
            unused_inputs,
            l1_small_floor: raw.model.l1_small_size.unwrap_or(0),
        })
    }
}

/// Line numbers of increasing offsets in one pass over the text (calls come in file order; a
/// count from the start for each made a 735-call model's build quadratic: 75 % of its time).
struct Lines<'a> {
    text: &'a str,
    offset: usize,
    line: usize,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str) -> Self {
        Lines {
            text,
            offset: 0,
            line: 1,
        }
    }

    /// 1-based line of `offset` (an offset before the last one asked counts from the start).
    fn line_of(&mut self, offset: usize) -> usize {
        let offset = offset.min(self.text.len());
        if offset < self.offset {
            (self.offset, self.line) = (0, 1);
        }
        let between = self
            .text
            .as_bytes()
            .get(self.offset..offset)
            .unwrap_or_default();
        self.line += between.iter().filter(|&&b| b == b'\n').count();
        self.offset = offset;
        self.line
    }
}

/// The image (`[N, C, H, W]`, the catalog's model shape) a channels-last device tensor holds,
/// and how it holds it: `[1, 1, N*H*W, C]` flattened or `[N, H, W, C]`.
fn image_of(device: &Shape, [n, h, w]: [i64; 3]) -> Result<(Shape, DeviceLayout), String> {
    let positive = |v: i64, what: &str| {
        u64::try_from(v)
            .ok()
            .filter(|&v| v > 0)
            .ok_or_else(|| format!("{what} is {v}; must be positive"))
    };
    let (n, h, w) = (positive(n, "N")?, positive(h, "H")?, positive(w, "W")?);
    let rows = crate::size::product([n, h, w], "N*H*W").map_err(|e| e.to_string())?;
    let image = |c: u64| Shape::from_dims(vec![n, c, h, w]).map_err(|e| e.to_string());
    match *device.dims() {
        [1, 1, r, c] if r == rows => Ok((image(c)?, DeviceLayout::NhwcFlat)),
        [dn, dh, dw, c] if [dn, dh, dw] == [n, h, w] => Ok((image(c)?, DeviceLayout::Nhwc)),
        _ => Err(format!(
            "is {device}, which does not hold an {n}x{h}x{w} image channels-last ([1, 1, {rows}, C] or [{n}, {h}, {w}, C])"
        )),
    }
}

fn parse_or<T>(
    cx: &Ctx<'_>,
    value: &Option<Spanned<String>>,
    field: &str,
    default: T,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<T, ConfigError> {
    match value {
        None => Ok(default),
        Some(v) => parse(v.get_ref()).map_err(|e| cx.err(v.span(), field, e)),
    }
}

/// Why an expression has no value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum Eval {
    #[error("unknown name `{0}` (H, W and the [symbols] defined so far)")]
    Unknown(String),
    #[error("{0}")]
    Bad(String),
}

fn eval_value(v: &toml::Value, symbols: &BTreeMap<String, i64>) -> Result<i64, Eval> {
    match v {
        toml::Value::Integer(i) => Ok(*i),
        toml::Value::String(s) => eval(s, symbols),
        other => Err(Eval::Bad(format!(
            "expected an integer or an expression string, found {}",
            other.type_str()
        ))),
    }
}

/// Integer expressions: `+ - * / % ( )`, `/` dividing down (floor), `cdiv(a, b)` up, and
/// `min(a, b)`, `max(a, b)`.
fn eval(text: &str, symbols: &BTreeMap<String, i64>) -> Result<i64, Eval> {
    let mut p = Parser {
        text,
        at: 0,
        symbols,
    };
    let v = p.sum()?;
    p.skip_space();
    if p.at != text.len() {
        return Err(Eval::Bad(format!(
            "`{text}`: unexpected `{}`",
            &text[p.at..]
        )));
    }
    Ok(v)
}

struct Parser<'a> {
    text: &'a str,
    at: usize,
    symbols: &'a BTreeMap<String, i64>,
}

impl Parser<'_> {
    fn skip_space(&mut self) {
        while self.text[self.at..].starts_with(' ') {
            self.at += 1;
        }
    }

    fn peek(&mut self) -> Option<char> {
        self.skip_space();
        self.text[self.at..].chars().next()
    }

    fn overflow(&self) -> Eval {
        Eval::Bad(format!("`{}`: the value overflows", self.text))
    }

    fn sum(&mut self) -> Result<i64, Eval> {
        let mut v = self.product()?;
        while let Some(op @ ('+' | '-')) = self.peek() {
            self.at += 1;
            let r = self.product()?;
            v = if op == '+' {
                v.checked_add(r)
            } else {
                v.checked_sub(r)
            }
            .ok_or_else(|| self.overflow())?;
        }
        Ok(v)
    }

    fn product(&mut self) -> Result<i64, Eval> {
        let mut v = self.atom()?;
        while let Some(op @ ('*' | '/' | '%')) = self.peek() {
            self.at += 1;
            let r = self.atom()?;
            if op != '*' && r == 0 {
                return Err(Eval::Bad(format!("`{}`: division by zero", self.text)));
            }
            v = match op {
                '*' => v.checked_mul(r),
                '/' => Some(v.div_euclid(r)),
                _ => Some(v.rem_euclid(r)),
            }
            .ok_or_else(|| self.overflow())?;
        }
        Ok(v)
    }

    fn atom(&mut self) -> Result<i64, Eval> {
        match self.peek() {
            Some('(') => {
                self.at += 1;
                let v = self.sum()?;
                self.expect(')')?;
                Ok(v)
            }
            Some('-') => {
                self.at += 1;
                self.atom()?.checked_neg().ok_or_else(|| self.overflow())
            }
            Some(c) if c.is_ascii_digit() => {
                let start = self.at;
                while self.text[self.at..].starts_with(|c: char| c.is_ascii_digit()) {
                    self.at += 1;
                }
                self.text[start..self.at]
                    .parse()
                    .map_err(|_| self.overflow())
            }
            Some(c) if c.is_ascii_alphabetic() || c == '_' => {
                let start = self.at;
                while self.text[self.at..]
                    .starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
                {
                    self.at += 1;
                }
                let name = &self.text[start..self.at];
                if matches!(name, "min" | "max") {
                    self.expect('(')?;
                    let a = self.sum()?;
                    self.expect(',')?;
                    let b = self.sum()?;
                    self.expect(')')?;
                    return Ok(if name == "min" { a.min(b) } else { a.max(b) });
                }
                if name == "cdiv" {
                    self.expect('(')?;
                    let a = self.sum()?;
                    self.expect(',')?;
                    let b = self.sum()?;
                    self.expect(')')?;
                    if b <= 0 {
                        return Err(Eval::Bad(format!(
                            "`{}`: cdiv needs a positive divisor",
                            self.text
                        )));
                    }
                    return Ok(a.div_euclid(b) + i64::from(a.rem_euclid(b) != 0));
                }
                self.symbols
                    .get(name)
                    .copied()
                    .ok_or_else(|| Eval::Unknown(name.to_string()))
            }
            other => Err(Eval::Bad(format!(
                "`{}`: expected a number, a name or `(` at {}",
                self.text,
                other.map_or("the end".to_string(), |c| format!("`{c}`"))
            ))),
        }
    }

    fn expect(&mut self, c: char) -> Result<(), Eval> {
        if self.peek() == Some(c) {
            self.at += 1;
            Ok(())
        } else {
            Err(Eval::Bad(format!("`{}`: expected `{c}`", self.text)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::N150;

    const BLOCK: &str = include_str!("../../../models/c2f-block.toml");

    fn build(text: &str) -> Result<BuiltModel, ConfigError> {
        ModelFile::parse(text, "m.toml")?.build(None, &N150)
    }

    /// `text` with `from` replaced by `to` (the replacement must happen).
    fn edit(from: &str, to: &str) -> String {
        assert!(BLOCK.contains(from), "{from}");
        BLOCK.replacen(from, to, 1)
    }

    #[test]
    fn shapes_follow_the_resolution_and_tensors_die_after_their_last_use() {
        let file = ModelFile::parse(BLOCK, "c2f-block.toml").unwrap();
        let m = file.build(Some([2176, 3840]), &N150).unwrap();
        assert_eq!(m.inputs[0].shape.dims(), &[1, 1, 272 * 480, 192]);
        let frees: Vec<Vec<&str>> = m
            .steps
            .iter()
            .map(|s| s.frees.iter().map(String::as_str).collect())
            .collect();
        // x after the first silu, a after the split, b after the add, the rest after the concat;
        // the output stays.
        assert_eq!(
            frees,
            vec![
                vec!["x"],
                vec!["a"],
                vec![],
                vec!["b"],
                vec!["a1", "a2", "c"],
                vec!["y"]
            ]
        );
        assert_eq!(m.steps[1].outputs[1].shape.dims(), &[1, 1, 272 * 480, 96]);
        assert_eq!(m.steps[1].label(), "#2 split(a) -> a1, a2");
        assert_eq!(m.outputs, vec!["out"]);
        let default = file.build(None, &N150).unwrap();
        assert_eq!(default.resolution, [640, 640]);
    }

    #[test]
    fn expressions_divide_down_cdiv_up_and_refuse_what_they_cannot_compute() {
        let symbols: BTreeMap<String, i64> =
            [("H".to_string(), 2160), ("W".to_string(), 3840)].into();
        assert_eq!(eval("H / 32", &symbols).unwrap(), 67);
        assert_eq!(eval("cdiv(H, 32)", &symbols).unwrap(), 68);
        assert_eq!(eval("(H + 2*1 - 3) / 2 + 1", &symbols).unwrap(), 1080);
        assert_eq!(eval("H % 32 - -1", &symbols).unwrap(), 17);
        assert_eq!(
            eval("min(H, W) + max(1, H / 4096)", &symbols).unwrap(),
            2161
        );
        assert_eq!(eval("32 + 96 * min(1, H / 4096)", &symbols).unwrap(), 32);
        assert_eq!(eval("Q", &symbols), Err(Eval::Unknown("Q".into())));
        for bad in [
            "H /",
            "H / 0",
            "9223372036854775807 * 2",
            "H)",
            "cdiv(H, 0)",
            "min(H)",
        ] {
            assert!(matches!(eval(bad, &symbols), Err(Eval::Bad(_))), "{bad}");
        }
    }

    #[test]
    fn mistakes_name_the_line_and_field() {
        let cases = [
            (
                edit("N = \"(H / 8) * (W / 8)\"", "N = \"(H / 8) * (V / 8)\""),
                "symbols.N",
                "unknown name `V`",
            ),
            (
                edit("inputs = [\"b\", \"a2\"]", "inputs = [\"b\", \"zz\"]"),
                "call[3].inputs[1]",
                "no tensor `zz` before this call",
            ),
            (
                edit("outputs = [\"a1\", \"a2\"]", "outputs = [\"a1\"]"),
                "call[1].outputs",
                "split makes 2 tensor(s) here, 1 named",
            ),
            (
                edit("op = \"concat\"", "op = \"concatenate\""),
                "call[4].op",
                "unknown op `concatenate`",
            ),
            (
                edit("outputs = [\"c\"]", "outputs = [\"a1\"]"),
                "call[3].outputs[0]",
                "`a1` is already alive",
            ),
            (
                edit(
                    "memory = \"l1\"\n\n[[call]]\nop = \"split\"",
                    "memory = \"l2\"\n\n[[call]]\nop = \"split\"",
                ),
                "call[0].memory",
                "allowed values are l1, dram, default",
            ),
            (
                edit(
                    "outputs = [\"out\"]\n\n[symbols]",
                    "outputs = [\"gone\"]\n\n[symbols]",
                ),
                "model.outputs[0]",
                "no tensor `gone` is alive at the end",
            ),
            (
                edit("shape = [1, 1, \"N\", 192]", "shape = [1, 1, \"N\", 1.5]"),
                "input[0].shape[3]",
                "expected an integer or an expression",
            ),
        ];
        for (text, field, message) in cases {
            let e = build(&text).unwrap_err();
            assert_eq!(e.field, field, "{e}");
            assert!(e.message.contains(message), "{e}");
            let line = text.lines().nth(e.line - 1).unwrap_or_default();
            assert!(!line.trim().is_empty(), "{e} points at an empty line");
        }
        // A tensor used after its deallocate is named as freed.
        let text = edit(
            "outputs = [\"b\"]\nmemory = \"l1\"",
            "outputs = [\"b\"]\nmemory = \"l1\"\ndeallocate = [\"a2\"]",
        );
        let e = build(&text).unwrap_err();
        assert!(e.message.contains("`a2` was freed before this call"), "{e}");
    }

    const CONV: &str = r#"
[model]
name = "stem"
resolution = [640, 640]

[[input]]
name = "x"
shape = [1, 1, "H * W", 16]
layout = "row_major"

[[call]]
op = "conv2d"
inputs = ["x"]
nhw = [1, "H", "W"]
params = { out_channels = 96, stride = 2, dtype = "bfloat8_b" }
outputs = ["y"]

[[call]]
op = "conv2d"
inputs = ["y"]
nhw = [1, "H / 2", "W / 2"]
params = { out_channels = 192, stride = 2 }
outputs = ["z"]
"#;

    #[test]
    fn image_ops_take_the_image_a_flattened_tensor_holds() {
        let m = ModelFile::parse(CONV, "stem.toml")
            .unwrap()
            .build(Some([1280, 1280]), &N150)
            .unwrap();
        let [first, second] = &m.steps[..] else {
            panic!("two steps")
        };
        assert_eq!(first.case.model_inputs[0].to_string(), "[1,16,1280,1280]");
        assert_eq!(first.case.device_layout, DeviceLayout::NhwcFlat);
        assert_eq!(first.outputs[0].shape.to_string(), "[1,1,409600,96]");
        assert_eq!(first.outputs[0].dtype, DType::Bfloat8B);
        // The second conv reads the first's output: its dtype and layout.
        assert_eq!(second.case.dtype, DType::Bfloat8B);
        assert_eq!(second.case.model_inputs[0].to_string(), "[1,96,640,640]");
        assert_eq!(second.outputs[0].shape.to_string(), "[1,1,102400,192]");
        assert_eq!(
            first.signature.inputs[0].shape, m.inputs[0].shape,
            "the call reads the tensor as it is"
        );

        for (from, to, field, message) in [
            (
                "nhw = [1, \"H\", \"W\"]\n",
                "",
                "call[0].nhw",
                "needs its batch, height and width",
            ),
            (
                "nhw = [1, \"H\", \"W\"]",
                "nhw = [1, \"H\", \"W / 2\"]",
                "call[0].nhw",
                "does not hold an 1x1280x640 image",
            ),
            (
                "nhw = [1, \"H\", \"W\"]",
                "nhw = [\"H\", \"W\"]",
                "call[0].nhw",
                "give [N, H, W]",
            ),
        ] {
            assert!(CONV.contains(from), "{from}");
            let text = CONV.replacen(from, to, 1);
            let e = ModelFile::parse(&text, "stem.toml")
                .unwrap()
                .build(Some([1280, 1280]), &N150)
                .unwrap_err();
            assert_eq!(e.field, field, "{e}");
            assert!(e.message.contains(message), "{e}");
        }
        let text = format!(
            "{CONV}\n[[call]]\nop = \"view\"\ninputs = [\"z\"]\nparam_exprs = {{ shape = [1, \"H / 4\", \"W / 4\", 192] }}\noutputs = [\"image\"]\n"
        );
        let m = ModelFile::parse(&text, "stem.toml")
            .unwrap()
            .build(Some([1280, 640]), &N150)
            .unwrap();
        assert_eq!(m.steps[2].outputs[0].shape.to_string(), "[1,320,160,192]");
        let e = ModelFile::parse(&text.replace("\"H / 4\"", "\"H / 0\""), "stem.toml")
            .unwrap()
            .build(None, &N150)
            .unwrap_err();
        assert_eq!(e.field, "call[2].param_exprs.shape", "{e}");
        assert!(e.message.contains("division by zero"), "{e}");
        let e = build(&edit(
            "params = { split_size = 96, dim = -1 }",
            "params = { split_size = 96, dim = -1 }\nnhw = [1, 2, 3]",
        ))
        .unwrap_err();
        assert!(e.message.contains("nhw is for conv2d and maxpool2d"), "{e}");
    }

    #[test]
    fn yolov12x_builds_at_every_resolution_the_issue_names_with_its_shapes_following() {
        let file = ModelFile::parse(builtin("yolov12x").unwrap(), "yolov12x.toml").unwrap();
        let mut calls = None;
        for device in [&N150, &crate::device::P150] {
            for (h, w, letterboxed) in [
                (640, 640, 640),
                (1280, 1280, 1280),
                (2176, 3840, 2176),
                (2160, 3840, 2176),
                (4320, 7680, 4320),
            ] {
                let m = file
                    .build(Some([h, w]), device)
                    .unwrap_or_else(|e| panic!("{e}"));
                // The same calls at every resolution; only shapes change.
                assert_eq!(*calls.get_or_insert(m.steps.len()), m.steps.len());
                assert_eq!(
                    m.inputs[0].shape.dims(),
                    &[1, 1, letterboxed * w, 16],
                    "the input letterboxed to a multiple of 32"
                );
                let (s8, s16, s32) = (
                    (letterboxed / 8) * (w / 8),
                    (letterboxed / 16) * (w / 16),
                    (letterboxed / 32) * (w / 32),
                );
                let last = m.steps.last().unwrap();
                assert_eq!(
                    last.outputs[0].shape.dims(),
                    &[1, 84, s8 + s16 + s32],
                    "4 box coordinates and 80 class scores per anchor"
                );
                // The area attention: 4 areas of a quarter of the stride-16 map's tokens.
                let sdpa = m.steps.iter().find(|s| s.case.op.name == "sdpa").unwrap();
                assert_eq!(sdpa.signature.inputs[0].shape.dims(), &[4, 12, s16 / 4, 32]);
                assert!(m.l1_small_bytes() > 0, "conv2d's halo needs L1_SMALL");
            }
        }
        assert!(calls.unwrap() > 700, "{calls:?}");
    }
}
