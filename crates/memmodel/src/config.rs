//! `shapes.toml`: the case matrix users edit — named shape sets, the operators with their
//! parameters and the sets they run on, and the dtypes, layouts, memory configs and devices of
//! the matrix. Every case is validated at load time; any problem is reported with the file, line,
//! column and field it comes from.
//!
//! ```toml
//! [matrix]                      # defaults for every op
//! dtypes = ["bfloat16"]
//! layouts = ["tile"]
//! memories = ["l1", "dram"]
//! devices = ["n150", "p150"]
//!
//! [shape_sets.yolov12_1280]
//! about = "seed 000: YOLOv12 at 1280x1280"
//! shapes = [[1, 3, 1280, 1280], [1, 64, 1280, 800]]
//! entries = [{ shape = [1, 96, 64, 64], params = { dim = 1 }, expect = "oom" },
//!            { inputs = [[64000, 128], [128, 256]] }]
//!
//! [shape_sets.seed_9720482_add]
//! shapes = [[1, 64, 640, 400]]
//! extra_memories = ["l1->default"]   # also run as the original suite called it: inputs uploaded
//!                                    # to L1, the op called without memory_config
//! # memories = ["l1->default"]       # (instead of the op's memories, for this set only)
//!
//! [ops.add]
//! sets = ["yolov12_1280"]
//! params = {}                   # op-level parameters (entries may override)
//! device_layout = "nhwc"        # as-given | nhwc | nhwc-flat (default: the op's, see memmodel::ops)
//! ```

use crate::case::{Case, Expectation};
use crate::device::{BufferType, DeviceSpec};
use crate::dtype::DType;
use crate::layout::{DeviceLayout, Layout};
use crate::ops::{self, OpDef};
use crate::params::{ParamValue, Params};
use crate::shape::Shape;
use crate::shard::{ShardStrategy, SHARDED_MEMORIES};
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::ops::Range;
use toml::Spanned;

/// A problem in shapes.toml, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    /// 1-based line and column of the offending text.
    pub line: usize,
    pub column: usize,
    /// Dotted path of the field (`ops.add.sets[2]`).
    pub field: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

/// One entry of a shape set after parsing.
#[derive(Debug, Clone, PartialEq)]
pub struct ShapeEntry {
    /// One shape for most ops; several for ops with distinct operands (matmul pairs, addmm
    /// triples, concat of unequal inputs).
    pub inputs: Vec<Shape>,
    pub params: Params,
    pub expect: Option<Expectation>,
    /// Recorded but not run, with the reason (e.g. a seed-suite shape the op cannot take).
    pub skip: Option<String>,
}

/// A named shape set.
#[derive(Debug, Clone, PartialEq)]
pub struct ShapeSet {
    pub name: String,
    pub about: String,
    /// Overrides the op's device layout for this set (the seed suites record theirs).
    pub device_layout: Option<DeviceLayout>,
    pub expect: Option<Expectation>,
    /// The memory configs the set's entries run in instead of the op's `memories` (interleaved
    /// runs only; `None`: the op's).
    pub memories: Option<Vec<MatrixMemory>>,
    /// Memory configs the set's entries run in besides those (interleaved runs only): how the
    /// original suite called the op, e.g. `l1->default`.
    pub extra_memories: Vec<MatrixMemory>,
    pub entries: Vec<ShapeEntry>,
}

/// A memory config of the matrix (`memories`, `extra_memories`): inputs and output in one
/// memory (`l1`, `dram`), or inputs in `input` and a call without `memory_config`
/// (`l1->default`, `dram->default`): the output then goes where the op's function puts it by
/// default ([`Case::with_default_output_memory`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MatrixMemory {
    pub input: BufferType,
    pub default_output: bool,
}

/// The values `memories` and `extra_memories` take.
pub const MATRIX_MEMORIES: &[&str] = &["l1", "dram", "l1->default", "dram->default"];

impl MatrixMemory {
    pub const fn explicit(memory: BufferType) -> Self {
        MatrixMemory {
            input: memory,
            default_output: false,
        }
    }

    /// `l1`, `dram`, `l1->default`, `dram->default`.
    pub fn name(self) -> String {
        match self.default_output {
            true => format!("{}->default", self.input.name()),
            false => self.input.name().to_string(),
        }
    }
}

impl fmt::Display for MatrixMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// An op entry after parsing.
#[derive(Debug, Clone, PartialEq)]
pub struct OpEntry {
    pub op: &'static OpDef,
    pub sets: Vec<String>,
    pub params: Params,
    pub device_layout: DeviceLayout,
    pub dtypes: Vec<DType>,
    pub layouts: Vec<Layout>,
    pub memories: Vec<MatrixMemory>,
    /// Sets run in sharded memory configs (inputs and outputs sharded in L1).
    pub sharded_sets: Vec<String>,
    /// The sharded memory configs of `sharded_sets`.
    pub sharded_memories: Vec<ShardStrategy>,
    pub devices: Vec<&'static DeviceSpec>,
}

/// The whole matrix.
#[derive(Debug, Clone)]
pub struct Matrix {
    pub file: String,
    pub sets: BTreeMap<String, ShapeSet>,
    pub ops: Vec<OpEntry>,
    /// Every case, de-duplicated by [`Case::id`], in file order (op, set, entry, dtype, layout,
    /// memory, device).
    pub cases: Vec<Case>,
}

// ---- raw TOML form -------------------------------------------------------------------------

type SpannedInts = Spanned<Vec<Spanned<i64>>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    matrix: RawMatrix,
    #[serde(default)]
    shape_sets: BTreeMap<Spanned<String>, Spanned<RawSet>>,
    #[serde(default)]
    ops: BTreeMap<Spanned<String>, Spanned<RawOp>>,
    #[serde(default)]
    expect: Vec<Spanned<RawExpect>>,
}

/// `[[expect]]`: what given cases must end as, with the reason (e.g. a known circular-buffer
/// clash). Every field but `class` and `reason` narrows the match; a rule must match a case.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpect {
    op: Option<Spanned<String>>,
    shape_set: Option<String>,
    shape: Option<SpannedInts>,
    memory: Option<Spanned<String>>,
    device: Option<Spanned<String>>,
    dtype: Option<Spanned<String>>,
    class: Spanned<String>,
    reason: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawMatrix {
    dtypes: Option<Vec<Spanned<String>>>,
    layouts: Option<Vec<Spanned<String>>>,
    memories: Option<Vec<Spanned<String>>>,
    /// Sharded memory configs the ops' `sharded_sets` run in (default: all three).
    sharded_memories: Option<Vec<Spanned<String>>>,
    devices: Option<Vec<Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSet {
    #[serde(default)]
    about: String,
    device_layout: Option<Spanned<String>>,
    expect: Option<Spanned<String>>,
    memories: Option<Vec<Spanned<String>>>,
    extra_memories: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    shapes: Vec<SpannedInts>,
    #[serde(default)]
    entries: Vec<Spanned<RawEntry>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    shape: Option<SpannedInts>,
    inputs: Option<Vec<SpannedInts>>,
    params: Option<Spanned<toml::Table>>,
    expect: Option<Spanned<String>>,
    skip: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOp {
    /// Optional, for readers: the TT-NN function; checked against memmodel's mapping.
    ttnn: Option<Spanned<String>>,
    sets: Vec<Spanned<String>>,
    params: Option<Spanned<toml::Table>>,
    device_layout: Option<Spanned<String>>,
    dtypes: Option<Vec<Spanned<String>>>,
    layouts: Option<Vec<Spanned<String>>>,
    memories: Option<Vec<Spanned<String>>>,
    /// Sets that run in sharded memory configs (eltwise ops only), besides `sets`.
    #[serde(default)]
    sharded_sets: Vec<Spanned<String>>,
    sharded_memories: Option<Vec<Spanned<String>>>,
    devices: Option<Vec<Spanned<String>>>,
}

// ---- loading -------------------------------------------------------------------------------

/// A TOML file being read: its name and text, for errors that name file, line and field.
pub(crate) struct Ctx<'a> {
    pub(crate) file: &'a str,
    pub(crate) text: &'a str,
}

impl Ctx<'_> {
    pub(crate) fn err(
        &self,
        span: Range<usize>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> ConfigError {
        let (line, column) = line_col(self.text, span.start);
        ConfigError {
            file: self.file.to_string(),
            line,
            column,
            field: field.into(),
            message: message.into(),
        }
    }
}

impl Ctx<'_> {
    /// The whole file into `T`; a syntax or type error names its line, column and field.
    pub(crate) fn deserialize<T: serde::de::DeserializeOwned>(&self) -> Result<T, ConfigError> {
        let deserializer = toml::Deserializer::new(self.text);
        serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let field = e.path().to_string();
            let inner = e.into_inner();
            let span = inner.span().unwrap_or(0..0);
            let field = if field == "." { String::new() } else { field };
            // toml gives some syntax errors no message (`key =` with nothing after it) and others
            // over several lines: one line, never empty.
            let message = inner
                .message()
                .lines()
                .map(str::trim)
                .collect::<Vec<_>>()
                .join("; ");
            let message = if message.trim().is_empty() {
                "invalid TOML here: expected a value (a string, number, boolean, array or table)"
                    .to_string()
            } else {
                message
            };
            self.err(span, field, message)
        })
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// Parse and validate shapes.toml. `file` is only used in error messages.
pub fn parse(text: &str, file: &str) -> Result<Matrix, ConfigError> {
    let (matrix, mut invalid) = parse_lenient(text, file)?;
    match invalid.is_empty() {
        true => Ok(matrix),
        false => Err(invalid.swap_remove(0)),
    }
}

/// Like [`parse`], but cases the op cannot form are left out and returned as errors instead of
/// stopping the load (structural problems still stop it).
pub fn parse_lenient(text: &str, file: &str) -> Result<(Matrix, Vec<ConfigError>), ConfigError> {
    let mut invalid = Vec::new();
    let cx = Ctx { file, text };
    let raw: RawFile = cx.deserialize()?;

    let matrix_dtypes = list(&cx, "matrix.dtypes", raw.matrix.dtypes.as_deref(), |s| {
        s.parse::<DType>().map_err(|e| e.to_string())
    })?
    .unwrap_or_else(|| vec![DType::Bfloat16]);
    let matrix_layouts = list(&cx, "matrix.layouts", raw.matrix.layouts.as_deref(), |s| {
        s.parse::<Layout>()
    })?
    .unwrap_or_else(|| vec![Layout::Tile]);
    let matrix_memories = list(
        &cx,
        "matrix.memories",
        raw.matrix.memories.as_deref(),
        parse_memory,
    )?
    .unwrap_or_else(|| {
        vec![
            MatrixMemory::explicit(BufferType::L1),
            MatrixMemory::explicit(BufferType::Dram),
        ]
    });
    let matrix_devices = list(&cx, "matrix.devices", raw.matrix.devices.as_deref(), |s| {
        DeviceSpec::by_name(s)
    })?
    .unwrap_or_else(|| vec![&crate::device::N150, &crate::device::P150]);
    let matrix_sharded = list(
        &cx,
        "matrix.sharded_memories",
        raw.matrix.sharded_memories.as_deref(),
        parse_sharded,
    )?
    .unwrap_or_else(|| ShardStrategy::ALL.to_vec());

    let mut sets = BTreeMap::new();
    for (name, set) in &raw.shape_sets {
        let field = format!("shape_sets.{}", name.get_ref());
        let parsed = parse_set(&cx, &field, name.get_ref(), set.get_ref())?;
        if parsed.entries.is_empty() {
            return Err(cx.err(
                set.span(),
                field,
                "shape set has no shapes (give `shapes` or `entries`)",
            ));
        }
        sets.insert(name.get_ref().clone(), parsed);
    }

    let mut ops_out = Vec::new();
    let mut cases = Vec::new();
    let mut seen = HashSet::new();
    for (name, raw_op) in &raw.ops {
        seen.clear();
        let field = format!("ops.{}", name.get_ref());
        let op = ops::find(name.get_ref())
            .map_err(|e| cx.err(name.span(), field.clone(), e.to_string()))?;
        let r = raw_op.get_ref();
        if let Some(ttnn) = &r.ttnn {
            if ttnn.get_ref() != op.ttnn_function() {
                return Err(cx.err(
                    ttnn.span(),
                    format!("{field}.ttnn"),
                    format!(
                        "`{}` maps to `{}` (memmodel::ops), not `{}`",
                        op.name,
                        op.ttnn_function(),
                        ttnn.get_ref()
                    ),
                ));
            }
        }
        let params = match &r.params {
            Some(t) => to_params(&cx, &format!("{field}.params"), t)?,
            None => Params::default(),
        };
        op.check_param_names(&params).map_err(|e| {
            cx.err(
                r.params.as_ref().map_or(raw_op.span(), |p| p.span()),
                format!("{field}.params"),
                e.to_string(),
            )
        })?;
        let device_layout = match &r.device_layout {
            Some(s) => s
                .get_ref()
                .parse::<DeviceLayout>()
                .map_err(|e| cx.err(s.span(), format!("{field}.device_layout"), e))?,
            None => op.default_device_layout,
        };
        let entry = OpEntry {
            op,
            sets: Vec::new(),
            params,
            device_layout,
            dtypes: list(&cx, &format!("{field}.dtypes"), r.dtypes.as_deref(), |s| {
                s.parse::<DType>().map_err(|e| e.to_string())
            })?
            .unwrap_or_else(|| matrix_dtypes.clone()),
            layouts: list(
                &cx,
                &format!("{field}.layouts"),
                r.layouts.as_deref(),
                |s| s.parse::<Layout>(),
            )?
            .unwrap_or_else(|| matrix_layouts.clone()),
            memories: list(
                &cx,
                &format!("{field}.memories"),
                r.memories.as_deref(),
                parse_memory,
            )?
            .unwrap_or_else(|| matrix_memories.clone()),
            sharded_sets: Vec::new(),
            sharded_memories: list(
                &cx,
                &format!("{field}.sharded_memories"),
                r.sharded_memories.as_deref(),
                parse_sharded,
            )?
            .unwrap_or_else(|| matrix_sharded.clone()),
            devices: list(
                &cx,
                &format!("{field}.devices"),
                r.devices.as_deref(),
                DeviceSpec::by_name,
            )?
            .unwrap_or_else(|| matrix_devices.clone()),
        };
        let mut entry = entry;
        if r.sets.is_empty() {
            return Err(cx.err(
                raw_op.span(),
                format!("{field}.sets"),
                "an op needs at least one shape set",
            ));
        }
        if let Some(first) = r.sharded_sets.first() {
            if !op.supports_sharding() {
                return Err(cx.err(
                    first.span(),
                    format!("{field}.sharded_sets"),
                    format!(
                        "`{}` does not run in sharded memory configs here (ops that do: {})",
                        op.name,
                        ops::sharding_ops().join(", ")
                    ),
                ));
            }
        }
        let mut sharded_seen = HashSet::new();
        let all_sets = r
            .sets
            .iter()
            .enumerate()
            .map(|(i, s)| (format!("{field}.sets[{i}]"), s, false))
            .chain(
                r.sharded_sets
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (format!("{field}.sharded_sets[{i}]"), s, true)),
            );
        for (set_field, set_name, sharded) in all_sets {
            let Some(set) = sets.get(set_name.get_ref()) else {
                let known: Vec<&str> = sets.keys().map(String::as_str).collect();
                return Err(cx.err(
                    set_name.span(),
                    set_field,
                    format!(
                        "unknown shape set `{}` (known: {})",
                        set_name.get_ref(),
                        known.join(", ")
                    ),
                ));
            };
            if sharded {
                entry.sharded_sets.push(set.name.clone());
            } else {
                entry.sets.push(set.name.clone());
            }
            let raw_set = raw
                .shape_sets
                .iter()
                .find(|(k, _)| k.get_ref() == set_name.get_ref())
                .map(|(_, v)| v.get_ref());
            for (j, shape_entry) in set.entries.iter().enumerate() {
                if shape_entry.skip.is_some() {
                    continue;
                }
                let entry_span = raw_set
                    .and_then(|rs| entry_span(rs, j))
                    .unwrap_or_else(|| set_name.span());
                let case_field = format!("shape_sets.{}[{j}] (op {})", set.name, op.name);
                let params = entry.params.merged(&shape_entry.params);
                let expect = shape_entry.expect.or(set.expect).unwrap_or_default();
                let device_layout = set.device_layout.unwrap_or(entry.device_layout);
                // A sharded set runs in L1, sharded with each of the op's sharded memories;
                // an interleaved one in the set's memories (default: the op's), then its extra
                // ones.
                let memories: Vec<(MatrixMemory, Option<ShardStrategy>)> = if sharded {
                    entry
                        .sharded_memories
                        .iter()
                        .map(|&s| (MatrixMemory::explicit(BufferType::L1), Some(s)))
                        .collect()
                } else {
                    let mut m: Vec<(MatrixMemory, Option<ShardStrategy>)> = set
                        .memories
                        .as_ref()
                        .unwrap_or(&entry.memories)
                        .iter()
                        .map(|&m| (m, None))
                        .collect();
                    for &x in &set.extra_memories {
                        if !m.contains(&(x, None)) {
                            m.push((x, None));
                        }
                    }
                    m
                };
                // The same entry in two sets of one op is one case per memory config (the
                // first set that runs it in that memory names it).
                let key = (shape_entry.inputs.clone(), params.compact(), device_layout);
                let seen = if sharded {
                    &mut sharded_seen
                } else {
                    &mut seen
                };
                let memories: Vec<_> = memories
                    .into_iter()
                    .filter(|(m, s)| seen.insert((key.clone(), *m, *s)))
                    .collect();
                let Some(&(first_memory, first_sharding)) = memories.first() else {
                    continue;
                };
                for &dtype in &entry.dtypes {
                    for &layout in &entry.layouts {
                        let case = Case {
                            op,
                            shape_set: Some(set.name.clone()),
                            model_inputs: shape_entry.inputs.clone(),
                            device_layout,
                            params: params.clone(),
                            dtype,
                            layout,
                            input_memory: first_memory.input,
                            output_memory: first_memory.input,
                            default_output_memory: false,
                            sharding: first_sharding,
                            device: entry.devices[0],
                            expect,
                        };
                        // Whether an op can take a case depends on the shapes, params, dtype
                        // and layout (block floats need TILE), not on the memory or device.
                        let sig = match case.signature() {
                            Ok(sig) => sig,
                            Err(e) => {
                                let error =
                                    cx.err(entry_span.clone(), case_field.clone(), e.to_string());
                                if !invalid.contains(&error) {
                                    invalid.push(error);
                                }
                                continue;
                            }
                        };
                        // A call that takes no memory_config (unsqueeze, copy, an in-place op)
                        // is the same call without one: its explicit case stands for both.
                        let takes_memory_config = sig
                            .invocation
                            .steps
                            .iter()
                            .any(|s| s.kwargs.contains_key("memory_config"));
                        for &(memory, sharding) in &memories {
                            if memory.default_output && !takes_memory_config {
                                continue;
                            }
                            for &device in &entry.devices {
                                let mut c = case.clone();
                                c.input_memory = memory.input;
                                c.output_memory = memory.input;
                                c.sharding = sharding;
                                c.device = device;
                                if memory.default_output {
                                    c = c.with_default_output_memory();
                                }
                                cases.push(c);
                            }
                        }
                    }
                }
            }
        }
        ops_out.push(entry);
    }
    apply_expect_rules(&cx, &raw.expect, &mut cases)?;
    let matrix = Matrix {
        file: file.to_string(),
        sets,
        ops: ops_out,
        cases,
    };
    Ok((matrix, invalid))
}

/// What an `[[expect]]` rule's `memory` matches.
#[derive(Clone, Copy)]
enum RuleMemory {
    /// Where the output is (`l1`, `dram`, a sharded config), whether the call gave it or not.
    Output(crate::shard::MemoryConfig),
    /// Calls without memory_config whose inputs are in this memory (`l1->default`).
    Call(MatrixMemory),
}

fn apply_expect_rules(
    cx: &Ctx<'_>,
    rules: &[Spanned<RawExpect>],
    cases: &mut [Case],
) -> Result<(), ConfigError> {
    for (i, rule) in rules.iter().enumerate() {
        let field = format!("expect[{i}]");
        let r = rule.get_ref();
        let class = parse_expect(cx, &format!("{field}.class"), &r.class)?;
        if r.reason.trim().is_empty() {
            return Err(cx.err(
                rule.span(),
                format!("{field}.reason"),
                "say why the case ends this way",
            ));
        }
        let op = match &r.op {
            Some(name) => Some(
                ops::find(name.get_ref())
                    .map_err(|e| cx.err(name.span(), format!("{field}.op"), e.to_string()))?
                    .name,
            ),
            None => None,
        };
        let shape = r
            .shape
            .as_ref()
            .map(|dims| parse_shape(cx, &format!("{field}.shape"), dims))
            .transpose()?;
        // `l1`, `dram` or a sharded config: where the output is (a call without memory_config
        // included); `l1->default`: only calls without memory_config, inputs in L1.
        let memory = match &r.memory {
            Some(m) if m.get_ref().contains("->") => Some(RuleMemory::Call(
                parse_memory(m.get_ref())
                    .map_err(|e| cx.err(m.span(), format!("{field}.memory"), e))?,
            )),
            Some(m) => Some(RuleMemory::Output(
                m.get_ref()
                    .parse::<crate::shard::MemoryConfig>()
                    .map_err(|e| {
                        cx.err(
                            m.span(),
                            format!("{field}.memory"),
                            format!("{e}, l1->default, dram->default"),
                        )
                    })?,
            )),
            None => None,
        };
        let device = match &r.device {
            Some(d) => Some(
                DeviceSpec::by_name(d.get_ref())
                    .map_err(|e| cx.err(d.span(), format!("{field}.device"), e))?
                    .name,
            ),
            None => None,
        };
        let dtype = match &r.dtype {
            Some(d) => Some(
                d.get_ref()
                    .parse::<DType>()
                    .map_err(|e| cx.err(d.span(), format!("{field}.dtype"), e.to_string()))?,
            ),
            None => None,
        };
        let mut matched = 0usize;
        for case in cases.iter_mut() {
            let hit = op.is_none_or(|o| o == case.op.name)
                && r.shape_set
                    .as_ref()
                    .is_none_or(|s| case.shape_set.as_ref() == Some(s))
                && shape
                    .as_ref()
                    .is_none_or(|s| case.model_inputs.first() == Some(s))
                && memory.is_none_or(|m| match m {
                    RuleMemory::Output(config) => config == case.output_config(),
                    RuleMemory::Call(m) => {
                        case.default_output_memory && case.input_memory == m.input
                    }
                })
                && device.is_none_or(|d| d == case.device.name)
                && dtype.is_none_or(|d| d == case.dtype);
            if hit {
                case.expect = class;
                matched += 1;
            }
        }
        if matched == 0 {
            return Err(cx.err(
                rule.span(),
                field,
                "this rule matches no case of the matrix (stale?)",
            ));
        }
    }
    Ok(())
}

fn entry_span(set: &RawSet, index: usize) -> Option<Range<usize>> {
    if index < set.shapes.len() {
        set.shapes.get(index).map(|s| s.span())
    } else {
        set.entries.get(index - set.shapes.len()).map(|e| e.span())
    }
}

fn parse_sharded(s: &str) -> Result<ShardStrategy, String> {
    match s.parse::<crate::shard::MemoryConfig>() {
        Ok(crate::shard::MemoryConfig::Sharded(k)) => Ok(k),
        _ => Err(format!(
            "`{s}` is not a sharded memory config (known: {})",
            SHARDED_MEMORIES.join(", ")
        )),
    }
}

fn parse_memory(s: &str) -> Result<MatrixMemory, String> {
    let known = MATRIX_MEMORIES.join(", ");
    let t = s.trim();
    if let Some((input, output)) = t.split_once("->") {
        if !output.trim().eq_ignore_ascii_case("default") {
            return Err(format!(
                "`{s}`: a memory config with `->` names the inputs' memory and `default` (the \
                 call without memory_config); known here: {known}"
            ));
        }
        return match input.trim().to_ascii_lowercase().as_str() {
            "l1" => Ok(BufferType::L1),
            "dram" => Ok(BufferType::Dram),
            _ => Err(format!(
                "`{s}`: the inputs' memory must be l1 or dram; known here: {known}"
            )),
        }
        .map(|input| MatrixMemory {
            input,
            default_output: true,
        });
    }
    if let Ok(crate::shard::MemoryConfig::Sharded(_)) = t.parse::<crate::shard::MemoryConfig>() {
        return Err(format!(
            "`{s}` is a sharded memory config: list the sets that run sharded in the op's \
             `sharded_sets` (configs in `sharded_memories`); known here: {known}"
        ));
    }
    match t.parse::<BufferType>() {
        Ok(BufferType::L1Small) => Err(format!(
            "l1_small is not a memory config for tensors (known: {known})"
        )),
        Ok(b) => Ok(MatrixMemory::explicit(b)),
        Err(_) => Err(format!("unknown memory config `{s}` (known: {known})")),
    }
}

fn list<T, E: fmt::Display>(
    cx: &Ctx<'_>,
    field: &str,
    items: Option<&[Spanned<String>]>,
    parse: impl Fn(&str) -> Result<T, E>,
) -> Result<Option<Vec<T>>, ConfigError> {
    let Some(items) = items else { return Ok(None) };
    if items.is_empty() {
        return Err(ConfigError {
            file: cx.file.to_string(),
            line: 1,
            column: 1,
            field: field.to_string(),
            message: "must not be empty".into(),
        });
    }
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        out.push(
            parse(item.get_ref())
                .map_err(|e| cx.err(item.span(), format!("{field}[{i}]"), e.to_string()))?,
        );
    }
    Ok(Some(out))
}

fn parse_expect(
    cx: &Ctx<'_>,
    field: &str,
    s: &Spanned<String>,
) -> Result<Expectation, ConfigError> {
    match s.get_ref().as_str() {
        "oom" => Ok(Expectation::MustOom),
        "cb_clash" => Ok(Expectation::MustCbClash),
        "fit" | "fits" => Ok(Expectation::MustFit),
        "any" => Ok(Expectation::Any),
        other => Err(cx.err(
            s.span(),
            field,
            format!("unknown expectation `{other}` (known: oom, fit, cb_clash, any)"),
        )),
    }
}

fn parse_shape(cx: &Ctx<'_>, field: &str, dims: &SpannedInts) -> Result<Shape, ConfigError> {
    let values: Vec<i64> = dims.get_ref().iter().map(|d| *d.get_ref()).collect();
    Shape::new(&values).map_err(|e| {
        // Point at the offending dim when there is one.
        let span = match &e {
            crate::shape::ShapeError::NotPositive { index, .. } => {
                dims.get_ref().get(*index).map_or(dims.span(), |d| d.span())
            }
            _ => dims.span(),
        };
        cx.err(span, field, e.to_string())
    })
}

fn parse_set(cx: &Ctx<'_>, field: &str, name: &str, raw: &RawSet) -> Result<ShapeSet, ConfigError> {
    let device_layout = match &raw.device_layout {
        Some(s) => Some(
            s.get_ref()
                .parse::<DeviceLayout>()
                .map_err(|e| cx.err(s.span(), format!("{field}.device_layout"), e))?,
        ),
        None => None,
    };
    let expect = raw
        .expect
        .as_ref()
        .map(|s| parse_expect(cx, &format!("{field}.expect"), s))
        .transpose()?;
    let memories = list(
        cx,
        &format!("{field}.memories"),
        raw.memories.as_deref(),
        parse_memory,
    )?;
    let extra_memories = list(
        cx,
        &format!("{field}.extra_memories"),
        raw.extra_memories.as_deref(),
        parse_memory,
    )?
    .unwrap_or_default();
    let mut entries = Vec::new();
    for (i, dims) in raw.shapes.iter().enumerate() {
        let shape = parse_shape(cx, &format!("{field}.shapes[{i}]"), dims)?;
        entries.push(ShapeEntry {
            inputs: vec![shape],
            params: Params::default(),
            expect: None,
            skip: None,
        });
    }
    for (i, entry) in raw.entries.iter().enumerate() {
        let efield = format!("{field}.entries[{i}]");
        let e = entry.get_ref();
        let inputs = match (&e.shape, &e.inputs) {
            (Some(dims), None) => vec![parse_shape(cx, &format!("{efield}.shape"), dims)?],
            (None, Some(list)) if !list.is_empty() => list
                .iter()
                .enumerate()
                .map(|(k, dims)| parse_shape(cx, &format!("{efield}.inputs[{k}]"), dims))
                .collect::<Result<_, _>>()?,
            _ => {
                return Err(cx.err(
                    entry.span(),
                    efield,
                    "give exactly one of `shape` or a non-empty `inputs`",
                ))
            }
        };
        let params = match &e.params {
            Some(t) => to_params(cx, &format!("{efield}.params"), t)?,
            None => Params::default(),
        };
        let expect = e
            .expect
            .as_ref()
            .map(|s| parse_expect(cx, &format!("{efield}.expect"), s))
            .transpose()?;
        entries.push(ShapeEntry {
            inputs,
            params,
            expect,
            skip: e.skip.clone(),
        });
    }
    Ok(ShapeSet {
        name: name.to_string(),
        about: raw.about.clone(),
        device_layout,
        expect,
        memories,
        extra_memories,
        entries,
    })
}

pub(crate) fn to_params(
    cx: &Ctx<'_>,
    field: &str,
    table: &Spanned<toml::Table>,
) -> Result<Params, ConfigError> {
    let mut params = Params::default();
    for (key, value) in table.get_ref() {
        let bad = |what: &str| {
            cx.err(table.span(), format!("{field}.{key}"), format!("{what} (parameters are integers, floats, booleans, strings or lists of integers)"))
        };
        let v = match value {
            toml::Value::Integer(i) => ParamValue::Int(*i),
            toml::Value::Float(x) => ParamValue::Float(*x),
            toml::Value::Boolean(b) => ParamValue::Bool(*b),
            toml::Value::String(s) => ParamValue::Str(s.clone()),
            toml::Value::Array(items) => ParamValue::Ints(
                items
                    .iter()
                    .map(|item| {
                        item.as_integer()
                            .ok_or_else(|| bad("a list with a non-integer item"))
                    })
                    .collect::<Result<_, _>>()?,
            ),
            _ => return Err(bad("unsupported value")),
        };
        params.set(key, v);
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[matrix]
memories = ["l1", "dram"]
devices = ["n150"]

[shape_sets.small]
about = "two shapes"
shapes = [[1, 32, 64, 64], [1, 3, 1280, 1280]]

[shape_sets.pairs]
entries = [{ inputs = [[64, 32], [32, 16]] }, { shape = [1, 96, 64, 64], params = { dim = 1 }, expect = "fit" }]

[ops.add]
ttnn = "ttnn.add"
sets = ["small"]

[ops.mm]
sets = ["pairs"]
device_layout = "as-given"
"#;

    #[test]
    fn parses_a_small_matrix() {
        // mm's second entry has a `dim` param, which mm does not take.
        let err = parse(GOOD, "shapes.toml").unwrap_err();
        assert!(
            err.message.contains("`dim`") && err.field.contains("pairs[1]"),
            "{err}"
        );
        let fixed = GOOD.replace(", params = { dim = 1 }", "");
        let m = parse(&fixed, "shapes.toml").unwrap();
        // add: 2 shapes x 2 memories; mm: 2 entries x 2 memories.
        assert_eq!(m.cases.len(), 8);
        assert_eq!(
            m.cases[0].id(),
            "add/[1,32,64,64]/nhwc/bfloat16/tile/l1/n150"
        );
        assert_eq!(
            m.sets["pairs"].entries[1].expect,
            Some(Expectation::MustFit)
        );
    }

    fn error_of(text: &str) -> ConfigError {
        parse(text, "shapes.toml").unwrap_err()
    }

    #[test]
    fn unknown_op_lists_known_and_points_at_it() {
        let e = error_of("[shape_sets.s]\nshapes = [[1]]\n\n[ops.sillu]\nsets = [\"s\"]\n");
        assert_eq!((e.line, e.field.as_str()), (4, "ops.sillu"));
        assert!(
            e.message.contains("known:") && e.message.contains("silu"),
            "{e}"
        );
    }

    #[test]
    fn bad_dims_are_located() {
        let e = error_of("[shape_sets.s]\nshapes = [[1, 0, 3]]\n");
        assert_eq!((e.line, e.column), (2, 15));
        assert_eq!(e.field, "shape_sets.s.shapes[0]");
        assert!(e.message.contains("dimension 1 is 0"), "{e}");
        let e = error_of("[shape_sets.s]\nshapes = [[1, -3]]\n");
        assert!(e.message.contains("-3"), "{e}");
        let e = error_of("[shape_sets.s]\nshapes = [[4294967296, 4294967296, 4294967296]]\n");
        assert!(e.message.contains("overflow"), "{e}");
        let e = error_of("[shape_sets.s]\nshapes = [[99999999999999999999]]\n");
        assert_eq!(e.line, 2, "{e}");
    }

    #[test]
    fn syntax_and_type_errors_are_located() {
        let e = error_of("[shape_sets.s]\nshapes = [[1, 2 3]]\n");
        assert_eq!(e.line, 2, "{e}");
        let e = error_of("[shape_sets.s]\nshapes = \"1,2\"\n");
        assert_eq!(e.line, 2, "{e}");
        assert!(e.field.contains("shapes"), "{e}");
        let e = error_of("[shape_sets.s]\nshapez = [[1]]\n");
        assert!(e.message.contains("shapez"), "{e}");
    }

    #[test]
    fn unknown_set_device_dtype_are_named() {
        let base = "[shape_sets.s]\nshapes = [[1, 32, 32, 32]]\n\n[ops.silu]\n";
        let e = error_of(&format!("{base}sets = [\"t\"]\n"));
        assert!(
            e.message.contains("unknown shape set `t`") && e.message.contains("known: s"),
            "{e}"
        );
        let e = error_of(&format!("{base}sets = [\"s\"]\ndevices = [\"n151\"]\n"));
        assert!(
            e.message.contains("n150") && e.field == "ops.silu.devices[0]",
            "{e}"
        );
        let e = error_of(&format!("{base}sets = [\"s\"]\ndtypes = [\"half\"]\n"));
        assert!(e.message.contains("bfloat16"), "{e}");
        let e = error_of(&format!("{base}sets = [\"s\"]\nttnn = \"ttnn.relu\"\n"));
        assert!(e.message.contains("ttnn.silu"), "{e}");
    }

    #[test]
    fn invalid_cases_name_the_op_and_entry() {
        let e = error_of("[shape_sets.s]\nentries = [{ shape = [1, 96, 8, 8], params = { split_sizes = [48, 40] } }]\n\n[ops.split_with_sizes]\nsets = [\"s\"]\n");
        assert_eq!(e.line, 2);
        assert!(
            e.field.contains("op split_with_sizes") && e.message.contains("sum to 88"),
            "{e}"
        );
    }

    #[test]
    fn duplicate_cases_are_kept_once() {
        let m = parse("[shape_sets.a]\nshapes = [[1, 32, 32, 32]]\n[shape_sets.b]\nshapes = [[1, 32, 32, 32]]\n[ops.relu]\nsets = [\"a\", \"b\"]\n", "x.toml").unwrap();
        assert_eq!(m.cases.len(), 4);
    }

    #[test]
    fn expect_rules_narrow_and_must_match() {
        let base = "[shape_sets.s]\nshapes = [[1, 32, 32, 32], [1, 64, 32, 32]]\n[ops.add]\nsets = [\"s\"]\n";
        let rule = "[[expect]]\nop = \"add\"\nshape = [1, 64, 32, 32]\ndevice = \"p150\"\nmemory = \"l1\"\nclass = \"cb_clash\"\nreason = \"measured\"\n";
        let m = parse(&format!("{base}{rule}"), "x.toml").unwrap();
        let hits: Vec<String> = m
            .cases
            .iter()
            .filter(|c| c.expect == Expectation::MustCbClash)
            .map(|c| c.id())
            .collect();
        assert_eq!(
            hits,
            vec!["add/[1,64,32,32]/nhwc/bfloat16/tile/l1/p150".to_string()]
        );
        let stale = rule.replace("[1, 64, 32, 32]", "[1, 128, 32, 32]");
        let e = error_of(&format!("{base}{stale}"));
        assert!(
            e.message.contains("matches no case") && e.field == "expect[0]",
            "{e}"
        );
        let no_reason = rule.replace("reason = \"measured\"", "reason = \" \"");
        assert!(error_of(&format!("{base}{no_reason}"))
            .message
            .contains("why"));
        let bad_class = rule.replace("cb_clash", "crash");
        assert!(error_of(&format!("{base}{bad_class}"))
            .message
            .contains("known: oom"));
    }
}

#[cfg(test)]
mod default_output_memory {
    use super::*;

    const SETS: &str = "[matrix]\ndevices = [\"n150\"]\n[shape_sets.model]\nshapes = [[1, 32, 64, 64]]\n[shape_sets.suite]\nshapes = [[1, 32, 64, 64], [1, 64, 64, 64]]\nextra_memories = [\"l1->default\"]\n";

    fn ids(m: &Matrix) -> Vec<String> {
        m.cases.iter().map(|c| c.id()).collect()
    }

    #[test]
    fn a_set_adds_the_call_without_memory_config() {
        let m = parse(
            &format!("{SETS}[ops.add]\nsets = [\"model\", \"suite\"]\n"),
            "x.toml",
        )
        .unwrap();
        assert_eq!(
            ids(&m),
            [
                "add/[1,32,64,64]/nhwc/bfloat16/tile/l1/n150",
                "add/[1,32,64,64]/nhwc/bfloat16/tile/dram/n150",
                // The entry is `model`'s in l1 and dram; `suite` adds the suite's call.
                "add/[1,32,64,64]/nhwc/bfloat16/tile/l1->default/n150",
                "add/[1,64,64,64]/nhwc/bfloat16/tile/l1/n150",
                "add/[1,64,64,64]/nhwc/bfloat16/tile/dram/n150",
                "add/[1,64,64,64]/nhwc/bfloat16/tile/l1->default/n150",
            ]
        );
        let d = &m.cases[2];
        assert_eq!(d.shape_set.as_deref(), Some("suite"));
        assert!(d.default_output_memory);
        assert_eq!(
            d.output_memory,
            BufferType::L1,
            "binary ops keep the input's memory"
        );
        assert_eq!(m.sets["suite"].extra_memories[0].name(), "l1->default");
    }

    #[test]
    fn the_function_decides_where_the_output_goes() {
        let text = "[matrix]\ndevices = [\"n150\"]\n[shape_sets.s]\nshapes = [[1000, 1024]]\nextra_memories = [\"l1->default\"]\n[ops.linear]\nsets = [\"s\"]\n";
        let m = parse(text, "x.toml").unwrap();
        let d = m.cases.iter().find(|c| c.default_output_memory).unwrap();
        assert_eq!(
            d.id(),
            "linear/[1000,1024]/as-given/bfloat16/tile/l1->default/n150"
        );
        assert_eq!(d.output_memory, BufferType::Dram);
        let sig = d.signature().unwrap();
        assert!(
            !sig.invocation.render().contains("memory_config"),
            "{}",
            sig.invocation.render()
        );
    }

    #[test]
    fn a_call_without_memory_config_is_its_explicit_case() {
        // ttnn.unsqueeze takes no memory_config: the l1 case is already that call.
        let m = parse(
            &format!("{SETS}[ops.unsqueeze]\nsets = [\"suite\"]\n"),
            "x.toml",
        )
        .unwrap();
        assert!(
            m.cases.iter().all(|c| !c.default_output_memory),
            "{:?}",
            ids(&m)
        );
        assert_eq!(m.cases.len(), 4);
    }

    #[test]
    fn a_set_can_replace_the_op_memories() {
        let text = SETS.replace(
            "extra_memories = [\"l1->default\"]",
            "memories = [\"l1->default\"]",
        );
        let m = parse(&format!("{text}[ops.add]\nsets = [\"suite\"]\n"), "x.toml").unwrap();
        assert_eq!(
            ids(&m),
            [
                "add/[1,32,64,64]/nhwc/bfloat16/tile/l1->default/n150",
                "add/[1,64,64,64]/nhwc/bfloat16/tile/l1->default/n150",
            ]
        );
        let e = parse(
            &format!(
                "{}[ops.add]\nsets = [\"suite\"]\n",
                text.replace("l1->default", "l1->l2")
            ),
            "x.toml",
        )
        .unwrap_err();
        assert_eq!(e.field, "shape_sets.suite.memories[0]", "{e}");
    }

    #[test]
    fn op_memories_take_default_too() {
        let m = parse(
            &format!("{SETS}[ops.silu]\nsets = [\"model\"]\nmemories = [\"dram->default\"]\n"),
            "x.toml",
        )
        .unwrap();
        assert_eq!(
            ids(&m),
            ["silu/[1,32,64,64]/nhwc/bfloat16/tile/dram->default/n150"]
        );
        assert_eq!(m.cases[0].output_memory, BufferType::Dram);
    }

    #[test]
    fn bad_values_are_located_with_the_allowed_ones() {
        for (bad, what) in [
            ("l1->dram", "`default`"),
            ("l1_small->default", "l1 or dram"),
            ("l2", "unknown memory config `l2`"),
            ("l1_height_sharded", "sharded_sets"),
        ] {
            let text = SETS.replace("\"l1->default\"", &format!("\"{bad}\""));
            let e = parse(&format!("{text}[ops.add]\nsets = [\"suite\"]\n"), "x.toml").unwrap_err();
            assert_eq!((e.line, e.column), (7, 19), "{e}");
            assert_eq!(e.field, "shape_sets.suite.extra_memories[0]", "{e}");
            assert!(e.message.contains(what), "{e}");
            assert!(
                e.message.contains("l1, dram, l1->default, dram->default"),
                "{e}"
            );
        }
        let e = parse("[ops.add]\nsets = [\"s\"]\nmemories = [\"dram->nowhere\"]\n[shape_sets.s]\nshapes = [[1]]\n", "x.toml").unwrap_err();
        assert_eq!(
            (e.line, e.field.as_str()),
            (3, "ops.add.memories[0]"),
            "{e}"
        );
    }

    #[test]
    fn expect_rules_can_name_the_call() {
        let rule = "[[expect]]\nop = \"add\"\nshape = [1, 64, 64, 64]\nmemory = \"l1->default\"\nclass = \"fit\"\nreason = \"small\"\n";
        let m = parse(
            &format!("{SETS}[ops.add]\nsets = [\"suite\"]\n{rule}"),
            "x.toml",
        )
        .unwrap();
        let hits: Vec<String> = m
            .cases
            .iter()
            .filter(|c| c.expect == Expectation::MustFit)
            .map(|c| c.id())
            .collect();
        assert_eq!(
            hits,
            ["add/[1,64,64,64]/nhwc/bfloat16/tile/l1->default/n150"]
        );
        // `l1` is where the output is: it matches the call without memory_config too.
        let m = parse(
            &format!(
                "{SETS}[ops.add]\nsets = [\"suite\"]\n{}",
                rule.replace("l1->default", "l1")
            ),
            "x.toml",
        )
        .unwrap();
        assert_eq!(
            m.cases
                .iter()
                .filter(|c| c.expect == Expectation::MustFit)
                .count(),
            2
        );
        let e = parse(
            &format!(
                "{SETS}[ops.add]\nsets = [\"suite\"]\n{}",
                rule.replace("l1->default", "l1->l1")
            ),
            "x.toml",
        )
        .unwrap_err();
        assert_eq!(e.field, "expect[0].memory", "{e}");
    }
}

#[cfg(test)]
mod fuzz_regressions {
    /// Found by `cargo xtask fuzz --target shapes_toml`: toml reports `key =` with no value
    /// with an empty message.
    #[test]
    fn a_missing_value_has_a_message() {
        let e = super::parse("9=", "f.toml").unwrap_err();
        assert_eq!((e.line, e.column), (1, 3));
        assert!(e.to_string().starts_with("f.toml:1:3: invalid TOML"), "{e}");
        let e = super::parse("[x", "f.toml").unwrap_err().to_string();
        assert!(!e.contains('\n'), "{e}");
    }
}
