//! The reduction and normalization families of the catalog: softmax, mean, topk, the vector
//! norm and batch_norm: how each builds its inputs, outputs and TT-NN call.

use super::{invalid, Builder, CaseError, Signature};
use crate::dtype::DType;
use crate::invoke::{Call, Invocation, Value};
use crate::params::ParamError;
use crate::shape::Shape;

impl Builder<'_, '_> {
    /// `ttnn.softmax(x, dim=)`.
    pub(super) fn softmax(&self) -> Result<Signature, CaseError> {
        let name = self.name();
        let p = self.params();
        let x = self.one_input()?;
        let d = p.int_or(name, "dim", -1)?;
        self.dim(&x, "dim", d)?;
        let call = Call::new("ttnn.softmax")
            .arg(Value::Input(0))
            .kwarg("dim", Value::Int(d))
            .kwarg("memory_config", self.mem());
        Ok(self.one_call(x.clone(), self.output("output", x), call))
    }

    /// `ttnn.mean(x, dim=, keepdim=)`.
    pub(super) fn mean(&self) -> Result<Signature, CaseError> {
        let name = self.name();
        let p = self.params();
        let x = self.one_input()?;
        let keepdim = p.bool_or(name, "keepdim", false)?;
        let dims = p.ints(name, "dim")?;
        let (out, dim_arg) = match &dims {
            None => (
                Shape::from_dims(if keepdim { vec![1; x.rank()] } else { vec![] })?,
                Value::None,
            ),
            Some(ds) => {
                let mut reduce = vec![false; x.rank()];
                for &d in ds {
                    reduce[self.dim(&x, "dim", d)?] = true;
                }
                let kept: Vec<u64> = x
                    .dims()
                    .iter()
                    .zip(&reduce)
                    .filter_map(|(&v, &r)| if r { keepdim.then_some(1) } else { Some(v) })
                    .collect();
                (
                    Shape::from_dims(kept)?,
                    if ds.len() == 1 {
                        Value::Int(ds[0])
                    } else {
                        Value::ints(ds)
                    },
                )
            }
        };
        let call = Call::new("ttnn.mean")
            .arg(Value::Input(0))
            .kwarg("dim", dim_arg)
            .kwarg("keepdim", Value::Bool(keepdim))
            .kwarg("memory_config", self.mem());
        Ok(self.one_call(x, self.output("output", out), call))
    }

    /// `ttnn.topk(x, k, dim=)`: values and uint16 indices.
    pub(super) fn topk(&self) -> Result<Signature, CaseError> {
        let name = self.name();
        let p = self.params();
        let x = self.one_input()?;
        let d = p.int_or(name, "dim", -1)?;
        let i = self.dim(&x, "dim", d)?;
        // k=32 (one tile of results) unless the dim is shorter.
        let k = p.int_or(name, "k", x.dims()[i].min(32) as i64)?;
        if k < 1 || k as u64 > x.dims()[i] {
            return Err(CaseError::Param(ParamError::new(
                name,
                "k",
                format!("is {k}; must be in 1..={} (dim {d} of {x})", x.dims()[i]),
            )));
        }
        let out_shape = x.with_dim(i, k as u64)?;
        let values = self.output("values", out_shape.clone());
        let mut indices = self.output("indices", out_shape);
        indices.dtype = DType::Uint16;
        let call = Call::new("ttnn.topk")
            .arg(Value::Input(0))
            .arg(Value::Int(k))
            .kwarg("dim", Value::Int(d))
            .kwarg("largest", Value::Bool(p.bool_or(name, "largest", true)?))
            .kwarg("sorted", Value::Bool(p.bool_or(name, "sorted", true)?))
            .kwarg("memory_config", self.mem());
        Ok(Signature::new(
            vec![self.input("input", x)],
            vec![values, indices],
            Invocation::single(call),
        ))
    }

    /// `ttnn.batch_norm` in inference: four [1,C,1,1] statistics inputs.
    pub(super) fn batch_norm(&self) -> Result<Signature, CaseError> {
        let name = self.name();
        let p = self.params();
        let x = self.one_input()?;
        if x.rank() != 4 {
            return Err(invalid(
                name,
                format!("ttnn.batch_norm needs a 4D [N,C,H,W] device tensor, got {x}"),
            ));
        }
        let stat = Shape::from_dims(vec![1, x.dims()[1], 1, 1])?;
        let eps = p.float_or(name, "eps", 1e-5)?;
        let call = Call::new("ttnn.batch_norm")
            .arg(Value::Input(0))
            .kwarg("running_mean", Value::Input(1))
            .kwarg("running_var", Value::Input(2))
            .kwarg("weight", Value::Input(3))
            .kwarg("bias", Value::Input(4))
            .kwarg("training", Value::Bool(false))
            .kwarg("eps", Value::Float(eps))
            .kwarg("memory_config", self.mem());
        let inputs = vec![
            self.input("input", x.clone()),
            self.input("running_mean", stat.clone()),
            self.input("running_var", stat.clone()),
            self.input("weight", stat.clone()),
            self.input("bias", stat),
        ];
        Ok(Signature::new(
            inputs,
            vec![self.output("output", x)],
            Invocation::single(call),
        ))
    }

    /// sqrt(sum(square(x))): no `ttnn.norm` in the pinned runtime; two temporaries.
    pub(super) fn vector_norm(&self) -> Result<Signature, CaseError> {
        let x = self.one_input()?;
        let temporaries = vec![
            self.output("square", x.clone()),
            self.output("sum", Shape::from_dims(vec![])?),
        ];
        let steps = vec![
            Call::new("ttnn.square")
                .arg(Value::Input(0))
                .kwarg("memory_config", self.mem()),
            Call::new("ttnn.sum")
                .arg(Value::Step(0))
                .kwarg("memory_config", self.mem()),
            Call::new("ttnn.sqrt")
                .arg(Value::Step(1))
                .kwarg("memory_config", self.mem()),
        ];
        let out = self.output("output", Shape::from_dims(vec![])?);
        Ok(Signature {
            temporaries,
            ..Signature::new(
                vec![self.input("input", x)],
                vec![out],
                Invocation {
                    steps,
                    output_step: 2,
                },
            )
        })
    }
}
