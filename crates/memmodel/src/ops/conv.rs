//! `ttnn.conv2d` in the catalog: its inputs, output and call, with the optional settings
//! (`Conv2dConfig`, `slice_config`, the output dtype) a case may give.

use super::{check_window, invalid, Builder, CaseError, Signature, CONV2D_L1_SMALL};
use crate::dtype::DType;
use crate::invoke::{Call, Value};
use crate::layout::{DeviceLayout, Layout};
use crate::params::{ParamError, Params};
use crate::shape::Shape;
use std::collections::BTreeMap;

impl Builder<'_, '_> {
    /// `ttnn.conv2d`: the input, the output, the call (see the catalog's note) and the
    /// L1_SMALL it needs.
    pub(super) fn conv2d(&self) -> Result<Signature, CaseError> {
        let name = self.name();
        let p = self.params();
        let model = &self.model(&[1])?[0];
        let &[n, c_in, h, w] = model.dims() else {
            return Err(invalid(
                name,
                format!("conv2d needs a 4D [N,C,H,W] shape, got {model}"),
            ));
        };
        if self.req.device_layout == DeviceLayout::AsGiven {
            return Err(invalid(
                name,
                "ttnn.conv2d takes channels-last input: use device_layout nhwc or nhwc-flat",
            ));
        }
        let x = self.device(model)?;
        let c_out = p.int_or(name, "out_channels", c_in as i64)?;
        let kernel = p.pair_or(name, "kernel_size", [3, 3])?;
        let stride = p.pair_or(name, "stride", [1, 1])?;
        let padding = p.pair_or(name, "padding", [kernel[0] / 2, kernel[1] / 2])?;
        let dilation = p.pair_or(name, "dilation", [1, 1])?;
        let groups = p.int_or(name, "groups", 1)?;
        let bias = p.bool_or(name, "bias", true)?;
        check_window(name, kernel, stride, padding, dilation)?;
        if !(1..=1 << 16).contains(&c_out) {
            return Err(CaseError::Param(ParamError::new(
                name,
                "out_channels",
                format!("is {c_out}; must be in 1..=65536"),
            )));
        }
        let c_out = c_out as u64;
        if groups < 1 || !c_in.is_multiple_of(groups as u64) || !c_out.is_multiple_of(groups as u64)
        {
            return Err(CaseError::Param(ParamError::new(
                name,
                "groups",
                format!("is {groups}; must divide in_channels ({c_in}) and out_channels ({c_out})"),
            )));
        }
        let out_dim = |size: u64, axis: usize| -> Result<u64, CaseError> {
            let eff = dilation[axis] as u64 * (kernel[axis] as u64 - 1) + 1;
            let span = size + 2 * padding[axis] as u64;
            if span < eff {
                return Err(invalid(
                    name,
                    format!("kernel {kernel:?} with dilation {dilation:?} does not fit the padded input {h}x{w}"),
                ));
            }
            Ok((span - eff) / stride[axis] as u64 + 1)
        };
        let (ho, wo) = (out_dim(h, 0)?, out_dim(w, 1)?);
        let rows = crate::size::product([n, ho, wo], "conv2d output rows")?;
        let config = conv2d_config(name, p)?;
        // The op writes tiles (Conv2dConfig.output_layout defaults to TILE) of the input's dtype
        // unless `dtype` names another.
        let mut out = self.output("output", Shape::from_dims(vec![1, 1, rows, c_out])?);
        out.layout = Layout::Tile;
        if let Some(dtype) = config.output_dtype {
            out.dtype = dtype;
        }
        // Host weights are bfloat16 or float32 (the runtime's table): float32 for a float32 input.
        let host_dtype = if self.req.dtype == DType::Float32 {
            DType::Float32
        } else {
            DType::Bfloat16
        };
        let host = |shape: Vec<u64>| Value::HostTensor {
            shape,
            dtype: host_dtype,
            layout: Layout::RowMajor,
        };
        let weight = host(vec![
            c_out,
            c_in / groups as u64,
            kernel[0] as u64,
            kernel[1] as u64,
        ]);
        let call = Call::new("ttnn.conv2d")
            .kwarg("input_tensor", Value::Input(0))
            .kwarg("weight_tensor", weight)
            .kwarg(
                "bias_tensor",
                if bias {
                    host(vec![1, 1, 1, c_out])
                } else {
                    Value::None
                },
            )
            .kwarg("device", Value::Device)
            .kwarg("in_channels", Value::Int(c_in as i64))
            .kwarg("out_channels", Value::Int(c_out as i64))
            .kwarg("batch_size", Value::Int(n as i64))
            .kwarg("input_height", Value::Int(h as i64))
            .kwarg("input_width", Value::Int(w as i64))
            .kwarg("kernel_size", Value::ints(&kernel))
            .kwarg("stride", Value::ints(&stride))
            .kwarg("padding", Value::ints(&padding))
            .kwarg("dilation", Value::ints(&dilation))
            .kwarg("groups", Value::Int(groups))
            .kwarg("memory_config", self.mem());
        let call = config.apply(call);
        Ok(Signature {
            l1_small_bytes: CONV2D_L1_SMALL,
            ..self.one_call(x, out, call)
        })
    }
}

/// conv2d's optional settings: the output dtype and what `ttnn.Conv2dConfig` / `slice_config`
/// carry. Unset ones are left out of the call, so the runtime's defaults apply (0.81.1:
/// docs/conv2d.md).
#[derive(Debug, Default)]
struct Conv2dSettings {
    output_dtype: Option<DType>,
    config: BTreeMap<&'static str, Value>,
    slice: Option<Value>,
}

impl Conv2dSettings {
    fn apply(self, mut call: Call) -> Call {
        if let Some(dtype) = self.output_dtype {
            call = call.kwarg("dtype", Value::DType(dtype));
        }
        if !self.config.is_empty() {
            call = call.kwarg(
                "conv_config",
                Value::Object {
                    class: "Conv2dConfig",
                    args: Vec::new(),
                    kwargs: self.config,
                },
            );
        }
        if let Some(slice) = self.slice {
            call = call.kwarg("slice_config", slice);
        }
        call
    }

    /// Whether every setting is the runtime's default (nothing set).
    fn is_default(&self) -> bool {
        self.output_dtype.is_none() && self.config.is_empty() && self.slice.is_none()
    }
}

/// Whether a conv2d case sets any of `Conv2dConfig`, `slice_config` or the output dtype.
pub fn conv2d_has_settings(params: &Params) -> bool {
    conv2d_config("conv2d", params).map_or(true, |c| !c.is_default())
}

fn conv2d_config(name: &str, p: &Params) -> Result<Conv2dSettings, CaseError> {
    let bad = |param: &str, why: String| CaseError::Param(ParamError::new(name, param, why));
    let dtype_of = |param: &'static str| -> Result<Option<DType>, CaseError> {
        match p.get(param) {
            None => Ok(None),
            Some(_) => {
                let text = p.str_or(name, param, "")?;
                match text {
                    "bfloat16" => Ok(Some(DType::Bfloat16)),
                    "bfloat8_b" => Ok(Some(DType::Bfloat8B)),
                    "float32" if param == "dtype" => Ok(Some(DType::Float32)),
                    other => Err(bad(
                        param,
                        format!(
                            "is `{other}` (allowed: bfloat16, bfloat8_b{})",
                            if param == "dtype" { ", float32" } else { "" }
                        ),
                    )),
                }
            }
        }
    };
    let mut settings = Conv2dSettings {
        output_dtype: dtype_of("dtype")?,
        ..Conv2dSettings::default()
    };
    if let Some(w) = dtype_of("weights_dtype")? {
        settings.config.insert("weights_dtype", Value::DType(w));
    }
    if p.get("shard_layout").is_some() {
        let layout = match p.str_or(name, "shard_layout", "")? {
            "height" => "TensorMemoryLayout.HEIGHT_SHARDED",
            "block" => "TensorMemoryLayout.BLOCK_SHARDED",
            "width" => "TensorMemoryLayout.WIDTH_SHARDED",
            other => {
                return Err(bad(
                    "shard_layout",
                    format!("is `{other}` (allowed: height, block, width)"),
                ))
            }
        };
        settings.config.insert("shard_layout", Value::Attr(layout));
    }
    if p.get("act_block_h").is_some() {
        let rows = p.int_or(name, "act_block_h", 0)?;
        if rows < 0 || rows % 32 != 0 || rows > 1 << 16 {
            return Err(bad(
                "act_block_h",
                format!("is {rows}; must be a multiple of 32 (0: the runtime's choice)"),
            ));
        }
        settings
            .config
            .insert("act_block_h_override", Value::Int(rows));
    }
    if p.get("activation").is_some() {
        let op = match p.str_or(name, "activation", "")? {
            "silu" => "UnaryOpType.SILU",
            "relu" => "UnaryOpType.RELU",
            "sigmoid" => "UnaryOpType.SIGMOID",
            "gelu" => "UnaryOpType.GELU",
            other => {
                return Err(bad(
                    "activation",
                    format!("is `{other}` (allowed: silu, relu, sigmoid, gelu)"),
                ))
            }
        };
        settings.config.insert(
            "activation",
            Value::Object {
                class: "UnaryWithParam",
                args: vec![Value::Attr(op)],
                kwargs: BTreeMap::new(),
            },
        );
    }
    for flag in [
        "deallocate_activation",
        "reallocate_halo_output",
        "enable_act_double_buffer",
        "enable_weights_double_buffer",
        "reshard_if_not_optimal",
    ] {
        if p.get(flag).is_some() {
            settings
                .config
                .insert(flag, Value::Bool(p.bool_or(name, flag, false)?));
        }
    }
    let slices = match p.get("num_slices") {
        None => None,
        Some(_) => {
            let n = p.int_or(name, "num_slices", 0)?;
            if !(0..=4096).contains(&n) {
                return Err(bad(
                    "num_slices",
                    format!("is {n}; must be in 0..=4096 (0: the runtime picks)"),
                ));
            }
            Some(n)
        }
    };
    match (
        p.get("slice")
            .map(|_| p.str_or(name, "slice", ""))
            .transpose()?,
        slices,
    ) {
        (None, None) => {}
        (None, Some(_)) => {
            return Err(bad(
                "num_slices",
                "needs `slice` = dram_height or dram_width".into(),
            ))
        }
        (Some("l1_full"), None) => settings.slice = Some(Value::Attr("Conv2dL1FullSliceConfig")),
        (Some(kind @ ("dram_height" | "dram_width")), n) => {
            let slice_type = if kind == "dram_height" {
                "Conv2dDRAMSliceHeight"
            } else {
                "Conv2dDRAMSliceWidth"
            };
            let mut kwargs = BTreeMap::new();
            kwargs.insert("slice_type", Value::Attr(slice_type));
            kwargs.insert("num_slices", Value::Int(n.unwrap_or(0)));
            settings.slice = Some(Value::Object {
                class: "Conv2dSliceConfig",
                args: Vec::new(),
                kwargs,
            });
        }
        (Some("l1_full"), Some(_)) => {
            return Err(bad(
                "num_slices",
                "applies to DRAM slicing only (slice = dram_height or dram_width)".into(),
            ))
        }
        (Some(other), _) => {
            return Err(bad(
                "slice",
                format!("is `{other}` (allowed: l1_full, dram_height, dram_width)"),
            ))
        }
    }
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::tests::sig;

    #[test]
    fn conv2d_settings_reach_the_call_and_bad_ones_name_the_allowed_values() {
        use crate::params::ParamValue;
        let mut p = Params::default();
        for (k, v) in [
            ("dtype", "bfloat8_b"),
            ("weights_dtype", "bfloat8_b"),
            ("shard_layout", "block"),
            ("activation", "silu"),
            ("slice", "dram_width"),
        ] {
            p.set(k, ParamValue::Str(v.into()));
        }
        p.set("act_block_h", ParamValue::Int(64));
        p.set("enable_act_double_buffer", ParamValue::Bool(true));
        p.set("num_slices", ParamValue::Int(4));
        assert!(conv2d_has_settings(&p));
        assert!(!conv2d_has_settings(&Params::default()));
        let s = sig("conv2d", &["1,64,64,64"], &p, DeviceLayout::NhwcFlat).unwrap();
        assert_eq!(
            s.outputs[0].dtype,
            DType::Bfloat8B,
            "dtype sets the output's"
        );
        let call = s.invocation.steps[0].render();
        for part in [
            "dtype=ttnn.bfloat8_b",
            "act_block_h_override=64",
            "activation=ttnn.UnaryWithParam(ttnn.UnaryOpType.SILU)",
            "enable_act_double_buffer=True",
            "shard_layout=ttnn.TensorMemoryLayout.BLOCK_SHARDED",
            "weights_dtype=ttnn.bfloat8_b",
            "slice_config=ttnn.Conv2dSliceConfig(num_slices=4, slice_type=ttnn.Conv2dDRAMSliceWidth)",
        ] {
            assert!(call.contains(part), "{part} not in {call}");
        }
        for (k, v, allowed) in [
            (
                "shard_layout",
                ParamValue::Str("diagonal".into()),
                "height, block, width",
            ),
            ("activation", ParamValue::Str("swish".into()), "silu, relu"),
            (
                "slice",
                ParamValue::Str("dram".into()),
                "l1_full, dram_height, dram_width",
            ),
            ("act_block_h", ParamValue::Int(48), "multiple of 32"),
            (
                "weights_dtype",
                ParamValue::Str("float32".into()),
                "bfloat16, bfloat8_b",
            ),
        ] {
            let mut bad = Params::default();
            bad.set(k, v);
            let err = sig("conv2d", &["1,64,64,64"], &bad, DeviceLayout::NhwcFlat).unwrap_err();
            assert!(err.to_string().contains(allowed), "{k}: {err}");
        }
        let mut lone = Params::default();
        lone.set("num_slices", ParamValue::Int(2));
        let err = sig("conv2d", &["1,64,64,64"], &lone, DeviceLayout::NhwcFlat).unwrap_err();
        assert!(err.to_string().contains("dram_height"), "{err}");
    }

    #[test]
    fn conv2d_output_weights_and_l1_small() {
        let mut p = Params::default();
        p.set("out_channels", crate::params::ParamValue::Int(128));
        p.set("stride", crate::params::ParamValue::Ints(vec![2, 2]));
        let s = sig("conv2d", &["1,64,640,640"], &p, DeviceLayout::NhwcFlat).unwrap();
        assert_eq!(s.inputs.len(), 1, "weights and bias stay on the host");
        assert_eq!(s.inputs[0].shape.to_string(), "[1,1,409600,64]");
        // 3x3, padding 1 (autopad), stride 2: 320x320.
        assert_eq!(s.outputs[0].shape.to_string(), "[1,1,102400,128]");
        assert_eq!(s.outputs[0].layout, Layout::Tile);
        assert_eq!(s.l1_small_bytes, CONV2D_L1_SMALL);
        let call = &s.invocation.steps[0];
        assert_eq!(
            call.kwargs["weight_tensor"],
            Value::HostTensor {
                shape: vec![128, 64, 3, 3],
                dtype: DType::Bfloat16,
                layout: Layout::RowMajor
            }
        );
        p.set("groups", crate::params::ParamValue::Int(3));
        let err = sig("conv2d", &["1,64,64,64"], &p, DeviceLayout::NhwcFlat).unwrap_err();
        assert!(err.to_string().contains("groups"), "{err}");
        assert!(sig(
            "conv2d",
            &["1,64,64,64"],
            &Params::default(),
            DeviceLayout::AsGiven
        )
        .is_err());
    }
}
