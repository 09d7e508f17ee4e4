//! The pooling and resampling families of the catalog: max_pool2d and upsample: how each builds
//! its inputs, outputs and TT-NN call.

use super::{check_window, invalid, Builder, CaseError, Signature, MAX_POOL_L1_SMALL};
use crate::invoke::{Call, Value};
use crate::layout::{DeviceLayout, Layout};
use crate::params::ParamError;
use crate::shape::Shape;

impl Builder<'_, '_> {
    /// `ttnn.upsample(x, scale_factor, mode=)` on an [N,H,W,C] device tensor.
    pub(super) fn upsample(&self) -> Result<Signature, CaseError> {
        let name = self.name();
        let p = self.params();
        let x = self.one_input()?;
        let &[n, h, w, c] = x.dims() else {
            return Err(invalid(
                name,
                format!("ttnn.upsample needs a 4D [N,H,W,C] device tensor, got {x}"),
            ));
        };
        let scale = p.int_or(name, "scale_factor", 2)?;
        if !(1..=64).contains(&scale) {
            return Err(CaseError::Param(ParamError::new(
                name,
                "scale_factor",
                format!("is {scale}; must be an integer in 1..=64"),
            )));
        }
        let mode = p.str_or(name, "mode", "nearest")?;
        if mode != "nearest" && mode != "bilinear" {
            return Err(CaseError::Param(ParamError::new(
                name,
                "mode",
                format!("is `{mode}` (allowed: nearest, bilinear)"),
            )));
        }
        if self.req.layout == Layout::Tile
            && (w % crate::tensor::TILE != 0 || c % crate::tensor::TILE != 0)
        {
            return Err(invalid(
                name,
                format!("ttnn.upsample takes a TILE input only when W and C are multiples of 32 (\"Tiled input must be tile-aligned\"); {x} is not: use row_major"),
            ));
        }
        let s = scale as u64;
        let out = Shape::from_dims(vec![
            n,
            crate::size::mul(h, s, "upsampled H")?,
            crate::size::mul(w, s, "upsampled W")?,
            c,
        ])?;
        let call = Call::new("ttnn.upsample")
            .arg(Value::Input(0))
            .arg(Value::Int(scale))
            .kwarg("mode", Value::Str(mode.to_string()))
            .kwarg("memory_config", self.mem());
        Ok(self.one_call(x, self.output("output", out), call))
    }

    /// `ttnn.max_pool2d` on a channels-last input; its config lives in L1_SMALL.
    pub(super) fn max_pool2d(&self) -> Result<Signature, CaseError> {
        let name = self.name();
        let p = self.params();
        let model = &self.model(&[1])?[0];
        let &[n, c, h, w] = model.dims() else {
            return Err(invalid(
                name,
                format!("max_pool2d needs a 4D [N,C,H,W] shape, got {model}"),
            ));
        };
        if self.req.device_layout == DeviceLayout::AsGiven {
            return Err(invalid(
                name,
                "ttnn.max_pool2d takes channels-last input: use device_layout nhwc or nhwc-flat",
            ));
        }
        let x = self.device(model)?;
        let kernel = p.pair_or(name, "kernel_size", [2, 2])?;
        let stride = p.pair_or(name, "stride", kernel)?;
        let padding = p.pair_or(name, "padding", [0, 0])?;
        let dilation = p.pair_or(name, "dilation", [1, 1])?;
        let ceil_mode = p.bool_or(name, "ceil_mode", false)?;
        check_window(name, kernel, stride, padding, dilation)?;
        let out_dim = |size: u64, axis: usize| -> Result<u64, CaseError> {
            let eff = dilation[axis] as u64 * (kernel[axis] as u64 - 1) + 1;
            let span = size + 2 * padding[axis] as u64;
            if span < eff {
                return Err(invalid(name, format!("kernel {kernel:?} with dilation {dilation:?} does not fit the padded input {h}x{w}")));
            }
            let steps = span - eff;
            let st = stride[axis] as u64;
            Ok(if ceil_mode {
                crate::size::ceil_div(steps, st)
            } else {
                steps / st
            } + 1)
        };
        let (ho, wo) = (out_dim(h, 0)?, out_dim(w, 1)?);
        let rows = crate::size::product([n, ho, wo], "pooled rows")?;
        let out = Shape::from_dims(vec![1, 1, rows, c])?;
        let call = Call::new("ttnn.max_pool2d")
            .arg(Value::Input(0))
            .arg(Value::Int(n as i64))
            .arg(Value::Int(h as i64))
            .arg(Value::Int(w as i64))
            .arg(Value::Int(c as i64))
            .arg(Value::ints(&kernel))
            .arg(Value::ints(&stride))
            .arg(Value::ints(&padding))
            .arg(Value::ints(&dilation))
            .kwarg("ceil_mode", Value::Bool(ceil_mode))
            .kwarg("memory_config", self.mem());
        Ok(Signature {
            l1_small_bytes: MAX_POOL_L1_SMALL,
            ..self.one_call(x, self.output("output", out), call)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::tests::sig;
    use crate::params::Params;

    #[test]
    fn maxpool_output_and_l1_small() {
        let s = sig(
            "maxpool2d",
            &["1,96,64,64"],
            &Params::default(),
            DeviceLayout::NhwcFlat,
        )
        .unwrap();
        assert_eq!(s.inputs[0].shape.to_string(), "[1,1,4096,96]");
        assert_eq!(s.outputs[0].shape.to_string(), "[1,1,1024,96]");
        assert_eq!(s.l1_small_bytes, MAX_POOL_L1_SMALL);
    }
}
