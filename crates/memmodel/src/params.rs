//! Operator parameters (dims, split sizes, scale factors, kernel sizes, ...) as read from
//! shapes.toml or flags, with typed accessors that name the op and parameter in their errors.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// One parameter value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ParamValue {
    Bool(bool),
    Int(i64),
    Float(f64),
    Ints(Vec<i64>),
    Str(String),
}

impl fmt::Display for ParamValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamValue::Bool(b) => write!(f, "{b}"),
            ParamValue::Int(i) => write!(f, "{i}"),
            ParamValue::Float(x) => write!(f, "{x}"),
            ParamValue::Ints(v) => {
                let items: Vec<String> = v.iter().map(|i| i.to_string()).collect();
                write!(f, "[{}]", items.join(","))
            }
            ParamValue::Str(s) => write!(f, "{s}"),
        }
    }
}

/// Parameters of one case, by name (sorted, so names and snapshots are stable).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Params(pub BTreeMap<String, ParamValue>);

/// A parameter is missing, mistyped or out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{op}: parameter `{param}` {problem}")]
pub struct ParamError {
    pub op: String,
    pub param: String,
    pub problem: String,
}

impl Params {
    pub fn get(&self, name: &str) -> Option<&ParamValue> {
        self.0.get(name)
    }

    pub fn set(&mut self, name: &str, value: ParamValue) {
        self.0.insert(name.to_string(), value);
    }

    /// Values of `other` override ours.
    pub fn merged(&self, other: &Params) -> Params {
        let mut out = self.clone();
        for (k, v) in &other.0 {
            out.0.insert(k.clone(), v.clone());
        }
        out
    }

    fn err(op: &str, param: &str, problem: impl Into<String>) -> ParamError {
        ParamError {
            op: op.to_string(),
            param: param.to_string(),
            problem: problem.into(),
        }
    }

    pub fn int(&self, op: &str, name: &str) -> Result<Option<i64>, ParamError> {
        match self.get(name) {
            None => Ok(None),
            Some(ParamValue::Int(i)) => Ok(Some(*i)),
            Some(other) => Err(Self::err(
                op,
                name,
                format!("must be an integer, got {other}"),
            )),
        }
    }

    pub fn int_or(&self, op: &str, name: &str, default: i64) -> Result<i64, ParamError> {
        Ok(self.int(op, name)?.unwrap_or(default))
    }

    pub fn float_or(&self, op: &str, name: &str, default: f64) -> Result<f64, ParamError> {
        match self.get(name) {
            None => Ok(default),
            Some(ParamValue::Float(x)) => Ok(*x),
            Some(ParamValue::Int(i)) => Ok(*i as f64),
            Some(other) => Err(Self::err(
                op,
                name,
                format!("must be a number, got {other}"),
            )),
        }
    }

    pub fn bool_or(&self, op: &str, name: &str, default: bool) -> Result<bool, ParamError> {
        match self.get(name) {
            None => Ok(default),
            Some(ParamValue::Bool(b)) => Ok(*b),
            Some(other) => Err(Self::err(
                op,
                name,
                format!("must be true or false, got {other}"),
            )),
        }
    }

    pub fn ints(&self, op: &str, name: &str) -> Result<Option<Vec<i64>>, ParamError> {
        match self.get(name) {
            None => Ok(None),
            Some(ParamValue::Ints(v)) => Ok(Some(v.clone())),
            Some(ParamValue::Int(i)) => Ok(Some(vec![*i])),
            Some(other) => Err(Self::err(
                op,
                name,
                format!("must be a list of integers, got {other}"),
            )),
        }
    }

    /// A pair such as a kernel size: `[h, w]` or one integer for both.
    pub fn pair_or(&self, op: &str, name: &str, default: [i64; 2]) -> Result<[i64; 2], ParamError> {
        match self.ints(op, name)? {
            None => Ok(default),
            Some(v) if v.len() == 1 => Ok([v[0], v[0]]),
            Some(v) if v.len() == 2 => Ok([v[0], v[1]]),
            Some(v) => Err(Self::err(
                op,
                name,
                format!("must have 1 or 2 values, got {}", v.len()),
            )),
        }
    }

    pub fn str_or<'a>(
        &'a self,
        op: &str,
        name: &str,
        default: &'a str,
    ) -> Result<&'a str, ParamError> {
        match self.get(name) {
            None => Ok(default),
            Some(ParamValue::Str(s)) => Ok(s),
            Some(other) => Err(Self::err(
                op,
                name,
                format!("must be a string, got {other}"),
            )),
        }
    }

    /// `dim=-1,k=32` style, for names and tables; empty when there are none.
    pub fn compact(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl ParamError {
    pub fn new(op: &str, param: &str, problem: impl Into<String>) -> Self {
        Params::err(op, param, problem)
    }
}
