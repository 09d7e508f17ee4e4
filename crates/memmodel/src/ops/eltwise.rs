//! The eltwise families of the catalog: unary (in place or not), binary, ones, copy, clone
//! and dropout: how each builds its inputs, outputs and TT-NN call.

use super::{broadcast, invalid, Builder, CaseError, OutputStorage, Signature};
use crate::invoke::{Call, Invocation, Value};
use crate::params::ParamError;

impl Builder<'_, '_> {
    /// `ttnn.<function>(x, **float_kwargs)`: one output of the input's shape.
    pub(super) fn unary(
        &self,
        function: &'static str,
        float_kwargs: &'static [(&'static str, f64)],
    ) -> Result<Signature, CaseError> {
        let name = self.name();
        let p = self.params();
        let x = self.one_input()?;
        let mut call = Call::new(function).arg(Value::Input(0));
        for (k, default) in float_kwargs {
            call = call.kwarg(k, Value::Float(p.float_or(name, k, *default)?));
        }
        call = call.kwarg("memory_config", self.mem());
        Ok(self.one_call(x.clone(), self.output("output", x), call))
    }

    /// `ttnn.<function>(x, output_tensor=x)`: the output is the input's buffer.
    pub(super) fn unary_in_place(&self, function: &'static str) -> Result<Signature, CaseError> {
        let x = self.one_input()?;
        let mut out = self.output("output", x.clone());
        out.storage = OutputStorage::AliasOfInput(0);
        let call = Call::new(function)
            .arg(Value::Input(0))
            .kwarg("output_tensor", Value::Input(0));
        Ok(self.one_call(x, out, call))
    }

    /// `ttnn.<function>(a, b)`: the broadcast shape of the two inputs.
    pub(super) fn binary(&self, function: &'static str) -> Result<Signature, CaseError> {
        let name = self.name();
        let (a, b) = self.input_and_other()?;
        let out = broadcast(name, &a, &b)?;
        let call = Call::new(function)
            .arg(Value::Input(0))
            .arg(Value::Input(1))
            .kwarg("memory_config", self.mem());
        Ok(Signature::new(
            vec![self.input("input", a), self.input("other", b)],
            vec![self.output("output", out)],
            Invocation::single(call),
        ))
    }

    /// `ttnn.ones(shape)`: no input, one output.
    pub(super) fn ones(&self) -> Result<Signature, CaseError> {
        let x = self.one_input()?;
        let call = Call::new("ttnn.ones")
            .arg(Value::dims(x.dims()))
            .kwarg("dtype", Value::DType(self.req.dtype))
            .kwarg("layout", Value::Layout(self.req.layout))
            .kwarg("device", Value::Device)
            .kwarg("memory_config", self.mem());
        Ok(Signature::new(
            vec![],
            vec![self.output("output", x)],
            Invocation::single(call),
        ))
    }

    /// `ttnn.copy(input, destination)`: writes into the destination's buffer.
    pub(super) fn copy(&self) -> Result<Signature, CaseError> {
        let name = self.name();
        let (a, b) = self.input_and_other()?;
        if a != b {
            return Err(invalid(
                name,
                format!("ttnn.copy needs equal shapes, got {a} and {b}"),
            ));
        }
        let mut out = self.output("output", b.clone());
        out.storage = OutputStorage::AliasOfInput(1);
        let call = Call::new("ttnn.copy")
            .arg(Value::Input(0))
            .arg(Value::Input(1));
        Ok(Signature::new(
            vec![self.input("input", a), self.input("destination", b)],
            vec![out],
            Invocation::single(call),
        ))
    }

    /// `ttnn.clone(x)`: a new tensor of the input's shape.
    pub(super) fn clone_tensor(&self) -> Result<Signature, CaseError> {
        let x = self.one_input()?;
        let call = Call::new("ttnn.clone")
            .arg(Value::Input(0))
            .kwarg("memory_config", self.mem());
        Ok(self.one_call(x.clone(), self.output("output", x), call))
    }

    /// `ttnn.experimental.dropout(x, probability, scale, seed)`.
    pub(super) fn dropout(&self) -> Result<Signature, CaseError> {
        let name = self.name();
        let p = self.params();
        let x = self.one_input()?;
        let prob = p.float_or(name, "probability", 0.1)?;
        if !(0.0..1.0).contains(&prob) {
            return Err(CaseError::Param(ParamError::new(
                name,
                "probability",
                format!("is {prob}; must be in [0, 1)"),
            )));
        }
        let seed = p.int_or(name, "seed", 42)?;
        let call = Call::new("ttnn.experimental.dropout")
            .arg(Value::Input(0))
            .kwarg("probability", Value::Float(prob))
            .kwarg("scale", Value::Float(1.0 / (1.0 - prob)))
            .kwarg("seed", Value::Int(seed))
            .kwarg("memory_config", self.mem());
        Ok(self.one_call(x.clone(), self.output("output", x), call))
    }
}

#[cfg(test)]
mod tests {
    use crate::layout::DeviceLayout;
    use crate::ops::tests::sig;
    use crate::params::Params;

    #[test]
    fn binary_nhwc() {
        let s = sig(
            "add",
            &["1,64,640,400"],
            &Params::default(),
            DeviceLayout::Nhwc,
        )
        .unwrap();
        assert_eq!(s.inputs.len(), 2);
        assert_eq!(s.outputs[0].shape.to_string(), "[1,640,400,64]");
        assert_eq!(
            s.invocation.render(),
            "ttnn.add(in0, in1, memory_config=L1_MEMORY_CONFIG)"
        );
    }
}
