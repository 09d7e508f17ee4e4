//! What TT-NN does to device memory when it runs an [`Invocation`]: the interpreter behind every
//! plan. Each `ttnn.*` function the op catalog calls is modeled after its implementation in the
//! pinned runtime (ttnn/cpp/ttnn/operations/...): the device operations it launches, the
//! buffers each allocates and frees, and the circular buffers of each program factory, checked
//! against the runtime's graph captures (`cargo xtask calibrate`, tests/calibration.rs).
//!
//! The interpreter mirrors the `metal` backend's driver: arguments are resolved (inputs, earlier
//! steps' results), each step's function runs, and a step's result is released after its last
//! use; results nobody used are released at the end.

mod attention;
mod conv;
mod conv_matmul;
mod conv_slice;
mod data_movement;
mod eltwise;
pub mod grid;
mod matmul;
mod pool;
mod reduction;
pub mod sdpa;
pub(crate) mod util;

pub(crate) use attention::concat_heads_head_size;
pub use conv::UNPLANNED as CONV2D_UNPLANNED;
pub use conv_matmul::is_matmul_conv as conv2d_is_matmul;
pub use conv_slice::conv2d_auto_slice_type;
pub use data_movement::reshape_is_view;
pub(crate) use data_movement::RESHAPE_DTYPE_REFUSAL;
pub(crate) use pool::{dram_pool_is_sliced, padding_refusal};
pub use util::default_output_memory;

use crate::device::{BufferType, DeviceSpec};
use crate::dtype::DType;
use crate::error::CaseError;
use crate::invoke::{Call, Invocation, Value};
use crate::layout::Layout;
use crate::plan::{DevTensor, PlanBuilder};
use std::collections::BTreeMap;

/// A value while interpreting: tensors, lists, scalars.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    T(DevTensor),
    List(Vec<Val>),
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
    Mem(BufferType),
    /// A sharded L1 memory config (an input's, passed on to the output).
    MemSharded(crate::shard::ShardStrategy),
    DType(DType),
    Layout(Layout),
    Device,
    None,
    /// A tensor on the host: no device memory until an op moves it there.
    Host(crate::tensor::TensorSpec),
    /// An attribute of the `ttnn` module (an enum member, a predefined config), by its path.
    Attr(&'static str),
    /// A config object (`Conv2dConfig`, `UnaryWithParam`): its class and arguments.
    Object {
        class: &'static str,
        args: Vec<Val>,
        kwargs: std::collections::BTreeMap<&'static str, Val>,
    },
}

impl Val {
    /// Every tensor in the value, in order.
    pub fn tensors(&self) -> Vec<&DevTensor> {
        let mut out = Vec::new();
        fn walk<'a>(v: &'a Val, out: &mut Vec<&'a DevTensor>) {
            match v {
                Val::T(t) => out.push(t),
                Val::List(items) => items.iter().for_each(|i| walk(i, out)),
                _ => {}
            }
        }
        walk(self, &mut out);
        out
    }

    fn into_tensors(self, out: &mut Vec<DevTensor>) {
        match self {
            Val::T(t) => out.push(t),
            Val::List(items) => items.into_iter().for_each(|i| i.into_tensors(out)),
            _ => {}
        }
    }
}

/// A call's arguments, resolved.
#[derive(Debug, Clone)]
pub struct Args<'c> {
    pub function: &'c str,
    pub pos: Vec<Val>,
    pub kw: BTreeMap<&'c str, Val>,
}

pub(crate) fn invalid(function: &str, problem: impl Into<String>) -> CaseError {
    CaseError::Invalid {
        op: function.to_string(),
        problem: problem.into(),
    }
}

impl<'c> Args<'c> {
    fn err(&self, problem: impl Into<String>) -> CaseError {
        invalid(self.function, problem)
    }

    /// Positional `i` or keyword `name`.
    pub fn get(&self, i: usize, name: &str) -> Option<&Val> {
        self.pos.get(i).or_else(|| self.kw.get(name))
    }

    pub fn tensor(&self, i: usize, name: &str) -> Result<&DevTensor, CaseError> {
        match self.get(i, name) {
            Some(Val::T(t)) => Ok(t),
            Some(other) => Err(self.err(format!("`{name}` must be a tensor, got {other:?}"))),
            None => Err(self.err(format!("missing tensor argument `{name}`"))),
        }
    }

    pub fn opt_tensor(&self, i: usize, name: &str) -> Result<Option<&DevTensor>, CaseError> {
        match self.get(i, name) {
            None | Some(Val::None) => Ok(None),
            Some(Val::T(t)) => Ok(Some(t)),
            Some(other) => Err(self.err(format!("`{name}` must be a tensor, got {other:?}"))),
        }
    }

    pub fn tensors(&self, i: usize, name: &str) -> Result<Vec<&DevTensor>, CaseError> {
        match self.get(i, name) {
            Some(Val::List(items)) => items
                .iter()
                .map(|v| match v {
                    Val::T(t) => Ok(t),
                    other => Err(self.err(format!("`{name}` must hold tensors, got {other:?}"))),
                })
                .collect(),
            Some(other) => {
                Err(self.err(format!("`{name}` must be a list of tensors, got {other:?}")))
            }
            None => Err(self.err(format!("missing argument `{name}`"))),
        }
    }

    pub fn int(&self, i: usize, name: &str) -> Result<Option<i64>, CaseError> {
        match self.get(i, name) {
            None | Some(Val::None) => Ok(None),
            Some(Val::Int(v)) => Ok(Some(*v)),
            Some(other) => Err(self.err(format!("`{name}` must be an integer, got {other:?}"))),
        }
    }

    pub fn ints(&self, i: usize, name: &str) -> Result<Option<Vec<i64>>, CaseError> {
        match self.get(i, name) {
            None | Some(Val::None) => Ok(None),
            Some(Val::Int(v)) => Ok(Some(vec![*v])),
            Some(Val::List(items)) => items
                .iter()
                .map(|v| match v {
                    Val::Int(x) => Ok(*x),
                    other => Err(self.err(format!("`{name}` must hold integers, got {other:?}"))),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(other) => Err(self.err(format!("`{name}` must be integers, got {other:?}"))),
        }
    }

    pub fn bool_or(&self, i: usize, name: &str, default: bool) -> Result<bool, CaseError> {
        match self.get(i, name) {
            None | Some(Val::None) => Ok(default),
            Some(Val::Bool(b)) => Ok(*b),
            Some(other) => Err(self.err(format!("`{name}` must be true or false, got {other:?}"))),
        }
    }

    /// The output memory: `memory_config` if given, else `default`.
    pub fn memory(&self, default: BufferType) -> Result<BufferType, CaseError> {
        match self.kw.get("memory_config") {
            None | Some(Val::None) => Ok(default),
            Some(Val::Mem(m)) => Ok(*m),
            Some(Val::MemSharded(s)) => Err(self.err(format!(
                "{} is modeled for the eltwise ops only",
                s.memory_name()
            ))),
            Some(other) => Err(self.err(format!(
                "`memory_config` must be a memory config, got {other:?}"
            ))),
        }
    }

    /// The output memory config: `memory_config` if given (interleaved or sharded), else
    /// `default`.
    pub fn memory_config(
        &self,
        default: crate::shard::MemoryConfig,
    ) -> Result<crate::shard::MemoryConfig, CaseError> {
        use crate::shard::MemoryConfig;
        match self.kw.get("memory_config") {
            Some(Val::MemSharded(s)) => Ok(MemoryConfig::Sharded(*s)),
            None | Some(Val::None) => Ok(default),
            _ => Ok(MemoryConfig::Interleaved(
                self.memory(default.buffer_type())?,
            )),
        }
    }
}

/// The interpreter's state for one invocation.
pub struct Exec<'b> {
    pub b: &'b mut PlanBuilder,
}

impl Exec<'_> {
    pub fn device(&self) -> &'static DeviceSpec {
        self.b.device
    }
}

fn resolve(
    v: &Value,
    inputs: &[DevTensor],
    results: &[Option<Val>],
    b: &mut PlanBuilder,
    function: &str,
) -> Result<Val, CaseError> {
    Ok(match v {
        Value::Input(i) => {
            let t = inputs
                .get(*i)
                .ok_or_else(|| invalid(function, format!("input {i} of {}", inputs.len())))?;
            Val::T(b.share(t, t.spec.clone()))
        }
        Value::Step(k) => {
            let r = results
                .get(*k)
                .and_then(|r| r.as_ref())
                .ok_or_else(|| invalid(function, format!("step {k} is not available here")))?;
            share_val(r, b)
        }
        Value::Int(i) => Val::Int(*i),
        Value::Float(x) => Val::Float(*x),
        Value::Bool(x) => Val::Bool(*x),
        Value::Str(s) => Val::Str(s.clone()),
        Value::List(items) => Val::List(
            items
                .iter()
                .map(|i| resolve(i, inputs, results, b, function))
                .collect::<Result<_, _>>()?,
        ),
        Value::MemoryConfig(m) => Val::Mem(*m),
        Value::MemoryConfigOf(i) => {
            let t = inputs
                .get(*i)
                .ok_or_else(|| invalid(function, format!("input {i} of {}", inputs.len())))?;
            match t.strategy() {
                Some(s) => Val::MemSharded(s),
                None => Val::Mem(t.memory),
            }
        }
        Value::DType(d) => Val::DType(*d),
        Value::Layout(l) => Val::Layout(*l),
        Value::Device => Val::Device,
        Value::None => Val::None,
        Value::HostTensor {
            shape,
            dtype,
            layout,
        } => Val::Host(crate::tensor::TensorSpec::new(
            crate::shape::Shape::from_dims(shape.clone())?,
            *dtype,
            *layout,
        )),
        Value::Attr(path) => Val::Attr(path),
        Value::Object {
            class,
            args,
            kwargs,
        } => Val::Object {
            class,
            args: args
                .iter()
                .map(|a| resolve(a, inputs, results, b, function))
                .collect::<Result<_, _>>()?,
            kwargs: kwargs
                .iter()
                .map(|(k, v)| Ok((*k, resolve(v, inputs, results, b, function)?)))
                .collect::<Result<_, CaseError>>()?,
        },
    })
}

fn share_val(v: &Val, b: &mut PlanBuilder) -> Val {
    match v {
        Val::T(t) => Val::T(b.share(t, t.spec.clone())),
        Val::List(items) => Val::List(items.iter().map(|i| share_val(i, b)).collect()),
        other => other.clone(),
    }
}

fn release_val(v: Val, b: &mut PlanBuilder) {
    let mut ts = Vec::new();
    v.into_tensors(&mut ts);
    for t in ts {
        b.release(t);
    }
}

fn step_refs(v: &Value, out: &mut Vec<usize>) {
    match v {
        Value::Step(k) => out.push(*k),
        Value::List(items) => items.iter().for_each(|i| step_refs(i, out)),
        _ => {}
    }
}

/// Runs an invocation on tensors already on the device: the plan gets every allocation, free
/// and program of the call; the output step's tensors are returned (owned by the caller, who
/// releases them). The inputs stay owned by the caller.
pub fn run_invocation(
    b: &mut PlanBuilder,
    inv: &Invocation,
    inputs: &[DevTensor],
) -> Result<Vec<DevTensor>, CaseError> {
    let n = inv.steps.len();
    if inv.output_step >= n {
        return Err(invalid(
            "invocation",
            format!("output step {} of {n} steps", inv.output_step),
        ));
    }
    let mut last_use: Vec<Option<usize>> = vec![None; n];
    for (k, call) in inv.steps.iter().enumerate() {
        let mut refs = Vec::new();
        call.args.iter().for_each(|a| step_refs(a, &mut refs));
        call.kwargs.values().for_each(|a| step_refs(a, &mut refs));
        for r in refs {
            if r < n {
                last_use[r] = Some(k);
            }
        }
    }
    let mut results: Vec<Option<Val>> = Vec::with_capacity(n);
    for (k, call) in inv.steps.iter().enumerate() {
        let value = call_function(b, call, inputs, &results)?;
        results.push(Some(value));
        for j in 0..k {
            if j != inv.output_step && last_use[j] == Some(k) {
                if let Some(v) = results[j].take() {
                    release_val(v, b);
                }
            }
        }
    }
    let mut outputs = Vec::new();
    let output = results[inv.output_step].take();
    for r in results.into_iter().flatten() {
        release_val(r, b);
    }
    if let Some(v) = output {
        v.into_tensors(&mut outputs);
    }
    for t in &outputs {
        b.mark_output(t);
    }
    Ok(outputs)
}

fn call_function(
    b: &mut PlanBuilder,
    call: &Call,
    inputs: &[DevTensor],
    results: &[Option<Val>],
) -> Result<Val, CaseError> {
    let f = call.function;
    let mut args = Args {
        function: f,
        pos: Vec::with_capacity(call.args.len()),
        kw: BTreeMap::new(),
    };
    for a in &call.args {
        let v = resolve(a, inputs, results, b, f)?;
        args.pos.push(v);
    }
    for (k, a) in &call.kwargs {
        let v = resolve(a, inputs, results, b, f)?;
        args.kw.insert(k, v);
    }
    let mut ex = Exec { b };
    let out = dispatch(&mut ex, &args);
    // The arguments' references die with the call (Python drops them when it returns).
    let Args { pos, kw, .. } = args;
    for v in pos.into_iter().chain(kw.into_values()) {
        release_val(v, ex.b);
    }
    out
}

/// Whether an error says a function (or this use of it) is not modeled, rather than that the
/// case is invalid.
pub fn is_unmodeled(e: &CaseError) -> bool {
    matches!(e, CaseError::Unmodeled { .. })
}

/// An error for a use of a function the interpreter does not model.
pub(crate) fn unmodeled(function: &str, what: impl Into<String>) -> CaseError {
    CaseError::Unmodeled {
        function: function.to_string(),
        what: what.into(),
    }
}

fn dispatch(ex: &mut Exec<'_>, a: &Args<'_>) -> Result<Val, CaseError> {
    let name = a.function.strip_prefix("ttnn.").unwrap_or(a.function);
    if let Some(v) = eltwise::call(ex, name, a)? {
        return Ok(v);
    }
    if let Some(v) = data_movement::call(ex, name, a)? {
        return Ok(v);
    }
    if let Some(v) = reduction::call(ex, name, a)? {
        return Ok(v);
    }
    if let Some(v) = matmul::call(ex, name, a)? {
        return Ok(v);
    }
    if let Some(v) = pool::call(ex, name, a)? {
        return Ok(v);
    }
    if let Some(v) = conv::call(ex, name, a)? {
        return Ok(v);
    }
    if let Some(v) = attention::call(ex, name, a)? {
        return Ok(v);
    }
    if let Some(v) = sdpa::call(ex, name, a)? {
        return Ok(v);
    }
    Err(unmodeled(
        a.function,
        "memmodel has no model of this TT-NN function",
    ))
}
