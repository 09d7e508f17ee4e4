//! How a case is run on TT-NN: a short program of `ttnn` calls that the `metal` backend executes
//! through the embedded runtime. memmodel writes it (one source of truth for the op mapping); the
//! runtime side only interprets it, so a call is never spelled in two places.

use crate::device::BufferType;
use crate::dtype::DType;
use crate::layout::Layout;
use serde::Serialize;
use std::collections::BTreeMap;

/// One argument of a call.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Value {
    /// The case's i-th input tensor (created by the caller before the program runs).
    Input(usize),
    /// The result of an earlier step of the program.
    Step(usize),
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
    List(Vec<Value>),
    /// `ttnn.MemoryConfig` for an interleaved buffer of this type.
    MemoryConfig(BufferType),
    /// The memory config of the case's i-th input (`input.memory_config()`): how a sharded
    /// output gets its input's shard spec.
    MemoryConfigOf(usize),
    DType(DType),
    Layout(Layout),
    /// The open device.
    Device,
    None,
    /// A zero-filled tensor on the host (never on the device): what ttnn.conv2d takes as its
    /// weights and bias, which it prepares on the device itself.
    HostTensor {
        shape: Vec<u64>,
        dtype: DType,
        layout: Layout,
    },
    /// An attribute of the `ttnn` module by its dotted path below it: an enum member
    /// (`TensorMemoryLayout.HEIGHT_SHARDED`) or a predefined config (`Conv2dL1FullSliceConfig`).
    Attr(&'static str),
    /// A TT-NN config object made from arguments: `ttnn.Conv2dConfig(shard_layout=...)`,
    /// `ttnn.UnaryWithParam(ttnn.UnaryOpType.SILU)`. `class` is the dotted path below `ttnn`.
    Object {
        class: &'static str,
        args: Vec<Value>,
        kwargs: BTreeMap<&'static str, Value>,
    },
}

impl Value {
    pub fn ints(values: &[i64]) -> Value {
        Value::List(values.iter().map(|&v| Value::Int(v)).collect())
    }
    pub fn dims(values: &[u64]) -> Value {
        Value::List(values.iter().map(|&v| Value::Int(v as i64)).collect())
    }
}

/// One call: `function(*args, **kwargs)`, e.g. `ttnn.add`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Call {
    /// Dotted path below the `ttnn` module: `ttnn.add`, `ttnn.experimental.dropout`.
    pub function: &'static str,
    pub args: Vec<Value>,
    pub kwargs: BTreeMap<&'static str, Value>,
}

impl Call {
    pub fn new(function: &'static str) -> Self {
        Call {
            function,
            args: Vec::new(),
            kwargs: BTreeMap::new(),
        }
    }
    pub fn arg(mut self, value: Value) -> Self {
        self.args.push(value);
        self
    }
    pub fn kwarg(mut self, name: &'static str, value: Value) -> Self {
        self.kwargs.insert(name, value);
        self
    }

    /// Python-like rendering for tables and messages: `ttnn.add(in0, in1, memory_config=L1)`.
    pub fn render(&self) -> String {
        let mut parts: Vec<String> = self.args.iter().map(render_value).collect();
        parts.extend(
            self.kwargs
                .iter()
                .map(|(k, v)| format!("{k}={}", render_value(v))),
        );
        format!("{}({})", self.function, parts.join(", "))
    }
}

fn render_value(v: &Value) -> String {
    match v {
        Value::Input(i) => format!("in{i}"),
        Value::Step(i) => format!("t{i}"),
        Value::Int(i) => i.to_string(),
        Value::Float(x) => format!("{x:?}"),
        Value::Bool(b) => {
            if *b {
                "True".into()
            } else {
                "False".into()
            }
        }
        Value::Str(s) => format!("{s:?}"),
        Value::List(items) => format!(
            "[{}]",
            items
                .iter()
                .map(render_value)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::MemoryConfig(b) => format!("{}_MEMORY_CONFIG", b.tt_name()),
        Value::MemoryConfigOf(i) => format!("in{i}.memory_config()"),
        Value::DType(d) => format!("ttnn.{}", d.ttnn_name()),
        Value::Layout(l) => format!("ttnn.{}", l.ttnn_name()),
        Value::Device => "device".into(),
        Value::None => "None".into(),
        Value::HostTensor {
            shape,
            dtype,
            layout,
        } => format!(
            "ttnn.zeros({shape:?}, dtype=ttnn.{}, layout=ttnn.{})",
            dtype.ttnn_name(),
            layout.ttnn_name()
        ),
        Value::Attr(path) => format!("ttnn.{path}"),
        Value::Object {
            class,
            args,
            kwargs,
        } => {
            let mut parts: Vec<String> = args.iter().map(render_value).collect();
            parts.extend(
                kwargs
                    .iter()
                    .map(|(k, v)| format!("{k}={}", render_value(v))),
            );
            format!("ttnn.{class}({})", parts.join(", "))
        }
    }
}

/// The whole program. Step results that are not outputs are temporaries: the runtime frees each
/// after its last use, as TT-NN composites do.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Invocation {
    pub steps: Vec<Call>,
    /// The step whose result (a tensor, or a list/tuple of tensors) is the case's output.
    pub output_step: usize,
}

impl Invocation {
    pub fn single(call: Call) -> Self {
        Invocation {
            steps: vec![call],
            output_step: 0,
        }
    }

    pub fn render(&self) -> String {
        if self.steps.len() == 1 {
            return self.steps[0].render();
        }
        self.steps
            .iter()
            .enumerate()
            .map(|(i, c)| format!("t{i} = {}", c.render()))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("an invocation always serializes")
    }
}
