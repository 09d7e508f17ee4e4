//! The matmul families of the catalog: matmul, linear, addmm and the transformer ops (sdpa,
//! concatenate_heads): how each builds its inputs, outputs and TT-NN call.

use super::{broadcast, invalid, Builder, CaseError, DeriveOther, Signature};
use crate::invoke::{Call, Invocation, Value};
use crate::layout::Layout;
use crate::params::ParamError;
use crate::shape::Shape;
use std::collections::BTreeMap;

impl Builder<'_, '_> {
    /// `ttnn.matmul(a, b)`; with one shape given, `b` derived as `derive_other` says.
    pub(super) fn matmul(&self, derive_other: DeriveOther) -> Result<Signature, CaseError> {
        let name = self.name();
        let shapes = self.model(&[1, 2])?;
        let a = self.device(&shapes[0])?;
        if a.rank() < 2 {
            return Err(invalid(
                name,
                format!("matmul operands need at least 2 dims, got {a}"),
            ));
        }
        let b = match (shapes.get(1), derive_other) {
            (Some(s), _) => self.device(s)?,
            (None, DeriveOther::Transposed) => {
                let mut dims = a.dims().to_vec();
                let n = dims.len();
                dims.swap(n - 1, n - 2);
                Shape::from_dims(dims)?
            }
            (None, DeriveOther::SquareK) => {
                let k = a.dims()[a.rank() - 1];
                Shape::from_dims(vec![k, k])?
            }
        };
        let out = matmul_shape(name, &a, &b)?;
        let call = Call::new("ttnn.matmul")
            .arg(Value::Input(0))
            .arg(Value::Input(1))
            .kwarg("memory_config", self.mem());
        Ok(Signature::new(
            vec![self.input("input", a), self.input("other", b)],
            vec![self.output("output", out)],
            Invocation::single(call),
        ))
    }

    /// `ttnn.linear(x, weight, bias=)`.
    pub(super) fn linear(&self) -> Result<Signature, CaseError> {
        let name = self.name();
        let p = self.params();
        let shapes = self.model(&[1, 2])?;
        let a = self.device(&shapes[0])?;
        let k = *a
            .dims()
            .last()
            .ok_or_else(|| invalid(name, "linear needs an input with at least 1 dim"))?;
        let w = match shapes.get(1) {
            Some(s) => self.device(s)?,
            None => {
                let n = p.int_or(name, "out_features", k as i64)?;
                if n < 1 {
                    return Err(CaseError::Param(ParamError::new(
                        name,
                        "out_features",
                        "must be at least 1",
                    )));
                }
                Shape::from_dims(vec![k, n as u64])?
            }
        };
        let out = matmul_shape(name, &a, &w)?;
        let n = *w.dims().last().unwrap_or(&1);
        let mut inputs = vec![self.input("input", a), self.input("weight", w)];
        let mut call = Call::new("ttnn.linear")
            .arg(Value::Input(0))
            .arg(Value::Input(1));
        if p.bool_or(name, "bias", false)? {
            inputs.push(self.input("bias", Shape::from_dims(vec![1, n])?));
            call = call.kwarg("bias", Value::Input(2));
        }
        call = call.kwarg("memory_config", self.mem());
        Ok(Signature::new(
            inputs,
            vec![self.output("output", out)],
            Invocation::single(call),
        ))
    }

    /// `ttnn.addmm(input, mat1, mat2, alpha=, beta=)`.
    pub(super) fn addmm(&self) -> Result<Signature, CaseError> {
        let name = self.name();
        let p = self.params();
        let shapes = self.model(&[1, 3])?;
        let (bias, m1, m2) = if shapes.len() == 3 {
            (
                self.device(&shapes[0])?,
                self.device(&shapes[1])?,
                self.device(&shapes[2])?,
            )
        } else {
            let m1 = self.device(&shapes[0])?;
            let &[m, k] = m1.dims() else {
                return Err(invalid(
                    name,
                    format!("addmm needs a 2D [M,K] shape, got {m1}"),
                ));
            };
            let n = p.int_or(name, "out_features", k as i64)?;
            if n < 1 {
                return Err(CaseError::Param(ParamError::new(
                    name,
                    "out_features",
                    "must be at least 1",
                )));
            }
            (
                Shape::from_dims(vec![m, n as u64])?,
                m1,
                Shape::from_dims(vec![k, n as u64])?,
            )
        };
        let out = matmul_shape(name, &m1, &m2)?;
        if bias != out {
            return Err(invalid(
                name,
                format!("input {bias} must have the product's shape {out}"),
            ));
        }
        let call = Call::new("ttnn.addmm")
            .arg(Value::Input(0))
            .arg(Value::Input(1))
            .arg(Value::Input(2))
            .kwarg("alpha", Value::Float(p.float_or(name, "alpha", 1.0)?))
            .kwarg("beta", Value::Float(p.float_or(name, "beta", 1.0)?))
            .kwarg("memory_config", self.mem());
        Ok(Signature::new(
            vec![
                self.input("input", bias),
                self.input("mat1", m1),
                self.input("mat2", m2),
            ],
            vec![self.output("output", out)],
            Invocation::single(call),
        ))
    }

    /// `ttnn.transformer.scaled_dot_product_attention(q, k, v, ...)`.
    pub(super) fn sdpa(&self) -> Result<Signature, CaseError> {
        let name = self.name();
        let p = self.params();
        let model = self.model(&[1, 3])?;
        let q = self.device(&model[0])?;
        // k and v as given (the runtime refuses shapes that do not agree, in its words:
        // exec/sdpa.rs), else q's.
        let (k, v) = if model.len() == 3 {
            (self.device(&model[1])?, self.device(&model[2])?)
        } else {
            (q.clone(), q.clone())
        };
        for (role, t) in [("q", &q), ("k", &k), ("v", &v)] {
            if t.rank() != 4 {
                return Err(invalid(
                    name,
                    format!("{role} must be 4D [B, H, S, D], got {t}"),
                ));
            }
        }
        let causal = p.bool_or(name, "is_causal", false)?;
        let mut call = Call::new("ttnn.transformer.scaled_dot_product_attention")
            .arg(Value::Input(0))
            .arg(Value::Input(1))
            .arg(Value::Input(2))
            .kwarg("is_causal", Value::Bool(causal))
            .kwarg("memory_config", self.mem());
        if p.get("scale").is_some() {
            call = call.kwarg("scale", Value::Float(p.float_or(name, "scale", 1.0)?));
        }
        // Any size the binding takes (an unsigned int); the runtime refuses those that
        // are not whole tiles, in its words (exec/sdpa.rs).
        let chunk = |param: &str| -> Result<Option<i64>, CaseError> {
            if p.get(param).is_none() {
                return Ok(None);
            }
            let v = p.int_or(name, param, 32)?;
            if !(0..=1 << 16).contains(&v) {
                return Err(CaseError::Param(ParamError::new(
                    name,
                    param,
                    format!("is {v}; must be in 0..=65536"),
                )));
            }
            Ok(Some(v))
        };
        match (chunk("q_chunk_size")?, chunk("k_chunk_size")?) {
            (None, None) => {}
            (Some(qc), Some(kc)) => {
                // The 8×8 grid YOLOv12x's attention passes; both boards have it.
                let mut kwargs = BTreeMap::new();
                kwargs.insert("compute_with_storage_grid_size", Value::ints(&[8, 8]));
                kwargs.insert("q_chunk_size", Value::Int(qc));
                kwargs.insert("k_chunk_size", Value::Int(kc));
                call = call.kwarg(
                    "program_config",
                    Value::Object {
                        class: "SDPAProgramConfig",
                        args: Vec::new(),
                        kwargs,
                    },
                );
            }
            _ => {
                return Err(CaseError::Param(ParamError::new(
                    name,
                    "q_chunk_size",
                    "and k_chunk_size are set together",
                )))
            }
        }
        Ok(Signature::new(
            vec![
                self.input("q", q.clone()),
                self.input("k", k),
                self.input("v", v),
            ],
            vec![self.output("output", q)],
            Invocation::single(call),
        ))
    }

    /// `ttnn.transformer.concatenate_heads(x)`: [B, H, S, D] to [B, S, H·D].
    pub(super) fn concatenate_heads(&self) -> Result<Signature, CaseError> {
        let name = self.name();
        let x = self.one_input()?;
        let &[b, heads, seq, d] = x.dims() else {
            return Err(invalid(
                name,
                format!("takes a 4D [B, H, S, D] tensor, got {x}"),
            ));
        };
        let width = crate::size::mul(heads, d, "H·D")?;
        let mut out = self.output("output", Shape::from_dims(vec![b, seq, width])?);
        out.layout = Layout::Tile;
        let call = Call::new("ttnn.transformer.concatenate_heads")
            .arg(Value::Input(0))
            .kwarg("memory_config", self.mem());
        Ok(self.one_call(x, out, call))
    }
}

/// `[..., M, K] @ [..., K, N] → [..., M, N]` with broadcast batch dims.
fn matmul_shape(op: &str, a: &Shape, b: &Shape) -> Result<Shape, CaseError> {
    if a.rank() < 2 || b.rank() < 2 {
        return Err(invalid(
            op,
            format!("matmul operands need at least 2 dims, got {a} and {b}"),
        ));
    }
    let (ad, bd) = (a.dims(), b.dims());
    let (m, k) = (ad[ad.len() - 2], ad[ad.len() - 1]);
    let (k2, n) = (bd[bd.len() - 2], bd[bd.len() - 1]);
    if k != k2 {
        return Err(invalid(
            op,
            format!("inner dims differ: {a} @ {b} ({k} vs {k2})"),
        ));
    }
    let batch_a = Shape::from_dims(ad[..ad.len() - 2].to_vec())?;
    let batch_b = Shape::from_dims(bd[..bd.len() - 2].to_vec())?;
    let mut dims = broadcast(op, &batch_a, &batch_b)?.dims().to_vec();
    dims.push(m);
    dims.push(n);
    Ok(Shape::from_dims(dims)?)
}

#[cfg(test)]
mod tests {
    use crate::layout::DeviceLayout;
    use crate::ops::tests::sig;
    use crate::params::Params;

    #[test]
    fn matmul_second_operand_is_transposed_shape() {
        let s = sig(
            "bmm",
            &["12,8160,64"],
            &Params::default(),
            DeviceLayout::AsGiven,
        )
        .unwrap();
        assert_eq!(s.inputs[1].shape.to_string(), "[12,64,8160]");
        assert_eq!(s.outputs[0].shape.to_string(), "[12,8160,8160]");
    }
}
