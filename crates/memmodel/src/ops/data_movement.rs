//! The data-movement families of the catalog: transpose, permute, reshape, unsqueeze,
//! concat and stack, split, expand, to_layout and to_memory_config: how each builds its
//! inputs, outputs and TT-NN call.

use super::{invalid, reshape_is_view, Builder, CaseError, Family, OutputStorage, Signature};
use crate::dtype::DType;
use crate::invoke::{Call, Invocation, Value};
use crate::layout::Layout;
use crate::params::{ParamError, Params};
use crate::shape::Shape;

impl Builder<'_, '_> {
    /// `ttnn.transpose(x, dim0, dim1)`.
    pub(super) fn transpose(&self) -> Result<Signature, CaseError> {
        let name = self.name();
        let p = self.params();
        let x = self.one_input()?;
        let d0 = p.int_or(name, "dim0", -2)?;
        let d1 = p.int_or(name, "dim1", -1)?;
        let (i0, i1) = (self.dim(&x, "dim0", d0)?, self.dim(&x, "dim1", d1)?);
        let mut dims = x.dims().to_vec();
        dims.swap(i0, i1);
        let out = Shape::from_dims(dims)?;
        let call = Call::new("ttnn.transpose")
            .arg(Value::Input(0))
            .arg(Value::Int(d0))
            .arg(Value::Int(d1))
            .kwarg("memory_config", self.mem());
        Ok(self.one_call(x, self.output("output", out), call))
    }

    /// `ttnn.permute(x, dims)`.
    pub(super) fn permute(&self) -> Result<Signature, CaseError> {
        let name = self.name();
        let p = self.params();
        let x = self.one_input()?;
        // 4D: NHWC back to NCHW, as the seed suite did. Other ranks (which the suite only
        // uploaded): swap the last two dims, the permute such tensors see in models.
        let default: Vec<i64> = match x.rank() {
            4 => vec![0, 3, 1, 2],
            r if r >= 2 => {
                let mut d: Vec<i64> = (0..r as i64).collect();
                d.swap(r - 1, r - 2);
                d
            }
            r => (0..r as i64).collect(),
        };
        let perm = p.ints(name, "dims")?.unwrap_or(default);
        let mut seen = vec![false; x.rank()];
        let mut dims = Vec::with_capacity(perm.len());
        if perm.len() != x.rank() {
            return Err(CaseError::Param(ParamError::new(
                name,
                "dims",
                format!(
                    "has {} entries; the device tensor {x} has {} dims",
                    perm.len(),
                    x.rank()
                ),
            )));
        }
        for &d in &perm {
            let i = self.dim(&x, "dims", d)?;
            if std::mem::replace(&mut seen[i], true) {
                return Err(CaseError::Param(ParamError::new(
                    name,
                    "dims",
                    format!("repeats dim {d}: not a permutation"),
                )));
            }
            dims.push(x.dims()[i]);
        }
        let out = Shape::from_dims(dims)?;
        let call = Call::new("ttnn.permute")
            .arg(Value::Input(0))
            .arg(Value::ints(&perm))
            .kwarg("memory_config", self.mem());
        Ok(self.one_call(x, self.output("output", out), call))
    }

    /// `ttnn.reshape(x, shape)`: a view where the pages can be reinterpreted, else a copy.
    pub(super) fn reshape(&self) -> Result<Signature, CaseError> {
        let name = self.name();
        let p = self.params();
        let model = &self.model(&[1])?[0];
        let x = self.device(model)?;
        let target = match p.ints(name, "shape")? {
            Some(dims) => Shape::new(&dims)?,
            None => model.clone(),
        };
        if target.elements() != x.elements() {
            return Err(CaseError::Param(ParamError::new(
                name,
                "shape",
                format!(
                    "{target} has {} elements; the input {x} has {}",
                    target.elements(),
                    x.elements()
                ),
            )));
        }
        let mut out = self.output("output", target.clone());
        if reshape_is_view(&x, &target, self.req.layout) {
            out.storage = OutputStorage::AliasOfInput(0);
        }
        let call = Call::new("ttnn.reshape")
            .arg(Value::Input(0))
            .arg(Value::dims(target.dims()))
            .kwarg("memory_config", self.mem());
        Ok(self.one_call(x, out, call))
    }

    /// `ttnn.unsqueeze(x, dim)`: a view of its input.
    pub(super) fn unsqueeze(&self) -> Result<Signature, CaseError> {
        let name = self.name();
        let p = self.params();
        let x = self.one_input()?;
        let d = p.int_or(name, "dim", 0)?;
        let rank = x.rank() as i64 + 1;
        let at = if d < 0 { d + rank } else { d };
        if !(0..rank).contains(&at) {
            return Err(CaseError::Param(ParamError::new(
                name,
                "dim",
                format!(
                    "is {d}, out of range for unsqueezing the {}-dim tensor {x}",
                    x.rank()
                ),
            )));
        }
        let mut dims = x.dims().to_vec();
        dims.insert(at as usize, 1);
        let mut out = self.output("output", Shape::from_dims(dims)?);
        out.storage = OutputStorage::AliasOfInput(0);
        let call = Call::new("ttnn.unsqueeze")
            .arg(Value::Input(0))
            .arg(Value::Int(d));
        Ok(self.one_call(x, out, call))
    }

    /// `ttnn.concat`, and stack spelled out as unsqueeze views then one concat.
    pub(super) fn concat(&self) -> Result<Signature, CaseError> {
        let name = self.name();
        let p = self.params();
        let stacking = matches!(self.op.family, Family::Stack);
        let shapes = self.model(&[1, 2, 3, 4, 5, 6, 7, 8])?;
        let count = p.int_or(name, "inputs", shapes.len().max(2) as i64)?;
        if !(2..=64).contains(&count) || (shapes.len() > 1 && count != shapes.len() as i64) {
            return Err(CaseError::Param(ParamError::new(
                name,
                "inputs",
                format!(
                    "is {count}; must be 2..=64 and match the number of shapes given ({})",
                    shapes.len()
                ),
            )));
        }
        let devs: Vec<Shape> = if shapes.len() == 1 {
            vec![self.device(&shapes[0])?; count as usize]
        } else {
            shapes
                .iter()
                .map(|s| self.device(s))
                .collect::<Result<_, _>>()?
        };
        let first = &devs[0];
        let d = p.int_or(name, "dim", 0)?;
        let out = if stacking {
            if devs.iter().any(|s| s != first) {
                return Err(invalid(name, "stack needs inputs of equal shape"));
            }
            let rank = first.rank() as i64 + 1;
            let at = if d < 0 { d + rank } else { d };
            if !(0..rank).contains(&at) {
                return Err(CaseError::Param(ParamError::new(
                    name,
                    "dim",
                    format!(
                        "is {d}, out of range for stacking {}-dim tensors",
                        first.rank()
                    ),
                )));
            }
            let mut dims = first.dims().to_vec();
            dims.insert(at as usize, devs.len() as u64);
            Shape::from_dims(dims)?
        } else {
            let i = self.dim(first, "dim", d)?;
            let mut total = 0u64;
            for s in &devs {
                if s.rank() != first.rank()
                    || s.dims()
                        .iter()
                        .enumerate()
                        .any(|(j, &v)| j != i && v != first.dims()[j])
                {
                    return Err(invalid(
                        name,
                        format!("inputs {first} and {s} differ outside dim {d}"),
                    ));
                }
                total = crate::size::add(total, s.dims()[i], "concat size")?;
            }
            first.with_dim(i, total)?
        };
        let n = devs.len();
        let invocation = if stacking {
            // ttnn.stack takes no memory_config (its output lands in DRAM whatever the
            // inputs): spell out what it does — unsqueeze views, then one concat — so
            // the case's output memory applies.
            let at = self.dim(&out, "dim", d)? as i64;
            let mut steps: Vec<Call> = (0..n)
                .map(|i| {
                    Call::new("ttnn.unsqueeze")
                        .arg(Value::Input(i))
                        .arg(Value::Int(at))
                })
                .collect();
            steps.push(
                Call::new("ttnn.concat")
                    .arg(Value::List((0..n).map(Value::Step).collect()))
                    .arg(Value::Int(at))
                    .kwarg("memory_config", self.mem()),
            );
            Invocation {
                steps,
                output_step: n,
            }
        } else {
            Invocation::single(
                Call::new("ttnn.concat")
                    .arg(Value::List((0..n).map(Value::Input).collect()))
                    .arg(Value::Int(d))
                    .kwarg("memory_config", self.mem()),
            )
        };
        // A block float taking the row-major route is untilized to bfloat16 and tilized
        // back as bfloat16 (seen on n150: bfloat8_b [1,1,6400,64] and [1,1,6400,80]
        // along dim 3 make a bfloat16 TILE output).
        let at = self.dim(&out, "dim", d)?;
        let joined: Vec<Shape> = if stacking {
            devs.iter()
                .map(|s| {
                    let mut dims = s.dims().to_vec();
                    dims.insert(at, 1);
                    Shape::from_dims(dims)
                })
                .collect::<Result<_, _>>()?
        } else {
            devs.clone()
        };
        let mut output = self.output("output", out);
        if self.req.layout == Layout::Tile
            && self.req.dtype.is_block_float()
            && concat_pads_dim(&joined, at)
        {
            output.dtype = DType::Bfloat16;
        }
        let inputs = devs.into_iter().map(|s| self.input("input", s)).collect();
        Ok(Signature::new(inputs, vec![output], invocation))
    }

    /// `ttnn.split(x, split_size or split_sizes, dim)`: one output a piece.
    pub(super) fn split(&self) -> Result<Signature, CaseError> {
        let name = self.name();
        let p = self.params();
        let x = self.one_input()?;
        let d = p.int_or(name, "dim", -1)?;
        let i = self.dim(&x, "dim", d)?;
        let extent = x.dims()[i];
        let sizes: Vec<u64> = match (
            p.ints(name, "split_sizes")?,
            p.int(name, "split_size")?,
            p.int(name, "chunks")?,
        ) {
            (Some(sizes), None, None) => {
                if sizes.iter().any(|&s| s < 1) {
                    return Err(CaseError::Param(ParamError::new(
                        name,
                        "split_sizes",
                        "must all be at least 1",
                    )));
                }
                // Checked: the sizes come from the user (all >= 1 here).
                let sum = sizes
                    .iter()
                    .try_fold(0u64, |acc, &s| acc.checked_add(s.unsigned_abs()));
                if sum != Some(extent) {
                    let sum = sum.map_or("more than u64 holds".to_string(), |s| s.to_string());
                    return Err(CaseError::Param(ParamError::new(
                        name,
                        "split_sizes",
                        format!("sum to {sum}, but dim {d} of {x} is {extent}"),
                    )));
                }
                sizes.iter().map(|&s| s as u64).collect()
            }
            (None, Some(size), None) => {
                if size < 1 {
                    return Err(CaseError::Param(ParamError::new(
                        name,
                        "split_size",
                        "must be at least 1",
                    )));
                }
                chunk_sizes(extent, size as u64, name)?
            }
            (None, None, chunks) => {
                let chunks = chunks.unwrap_or(2);
                if chunks < 1 {
                    return Err(CaseError::Param(ParamError::new(
                        name,
                        "chunks",
                        "must be at least 1",
                    )));
                }
                let size = crate::size::ceil_div(extent, chunks as u64).max(1);
                chunk_sizes(extent, size, name)?
            }
            _ => {
                return Err(CaseError::Param(ParamError::new(
                    name,
                    "split_size",
                    "give only one of split_size, split_sizes, chunks",
                )))
            }
        };
        if sizes.len() > 4096 {
            return Err(invalid(
                name,
                format!(
                    "would make {} outputs; at most 4096 are supported",
                    sizes.len()
                ),
            ));
        }
        let outputs = sizes
            .iter()
            .map(|&s| Ok(self.output("output", x.with_dim(i, s)?)))
            .collect::<Result<Vec<_>, CaseError>>()?;
        let split_arg = if p.get("split_sizes").is_some() {
            Value::dims(&sizes)
        } else {
            Value::Int(sizes[0] as i64)
        };
        let call = Call::new("ttnn.split")
            .arg(Value::Input(0))
            .arg(split_arg)
            .arg(Value::Int(d))
            .kwarg("memory_config", self.mem());
        Ok(Signature::new(
            vec![self.input("input", x)],
            outputs,
            Invocation::single(call),
        ))
    }

    /// `ttnn.expand(x, shape)` from size 1 in each `dim`.
    pub(super) fn expand(&self) -> Result<Signature, CaseError> {
        let name = self.name();
        let p = self.params();
        let out = self.one_input()?;
        // `dim` is one dim or a list of them: the input has size 1 in each, and one
        // call expands them all to the case's shape (ttnn.expand takes the full target).
        let dims = p.ints(name, "dim")?.unwrap_or_else(|| vec![-1]);
        let mut x = out.clone();
        for d in dims {
            let i = self.dim(&out, "dim", d)?;
            x = x.with_dim(i, 1)?;
        }
        let call = Call::new("ttnn.expand")
            .arg(Value::Input(0))
            .arg(Value::dims(out.dims()))
            .kwarg("memory_config", self.mem());
        Ok(self.one_call(x, self.output("output", out), call))
    }

    /// `ttnn.to_layout(x, layout, dtype=)`: tilize or untilize into a new tensor.
    pub(super) fn to_layout(&self) -> Result<Signature, CaseError> {
        let name = self.name();
        let p = self.params();
        let x = self.one_input()?;
        let other = match self.req.layout {
            Layout::Tile => "row_major",
            Layout::RowMajor => "tile",
        };
        let target: Layout = p
            .str_or(name, "layout", other)?
            .parse()
            .map_err(|e: String| CaseError::Param(ParamError::new(name, "layout", e)))?;
        let dtype = optional_dtype(name, p, "dtype")?;
        let mut out = self.output("output", x.clone());
        out.layout = target;
        let mut call = Call::new("ttnn.to_layout")
            .arg(Value::Input(0))
            .arg(Value::Layout(target));
        if let Some(d) = dtype {
            out.dtype = d;
            call = call.kwarg("dtype", Value::DType(d));
        }
        if target == Layout::RowMajor && out.dtype.is_block_float() {
            // Block floats have no ROW_MAJOR form: untilizing gives bfloat16 (seen on
            // the runtime, with or without `dtype`).
            out.dtype = DType::Bfloat16;
        }
        let call = call.kwarg("memory_config", self.mem());
        Ok(self.one_call(x, out, call))
    }

    /// `ttnn.to_memory_config(x, memory_config, dtype=)`: a copy in another memory.
    pub(super) fn to_memory_config(&self) -> Result<Signature, CaseError> {
        let name = self.name();
        let p = self.params();
        let x = self.one_input()?;
        if self.req.default_output_memory {
            return Err(invalid(
                name,
                "ttnn.to_memory_config takes the memory to move to: give the output memory (l1 or dram)",
            ));
        }
        let mut out = self.output("output", x.clone());
        let mut call = Call::new("ttnn.to_memory_config")
            .arg(Value::Input(0))
            .kwarg("memory_config", self.mem());
        if let Some(d) = optional_dtype(name, p, "dtype")? {
            out.dtype = d;
            call = call.kwarg("dtype", Value::DType(d));
        }
        Ok(self.one_call(x, out, call))
    }
}

/// Whether `ttnn.concat` of TILE inputs of these shapes along `at` (non-negative) takes the
/// row-major route (`build_untilize_rm_retilize_concat`): 1-D inputs always, else a dim of the
/// last two that the tiles pad in some input.
fn concat_pads_dim<'a>(shapes: impl IntoIterator<Item = &'a Shape>, at: usize) -> bool {
    shapes.into_iter().any(|s| {
        let rank = s.rank();
        rank < 2
            || (at.saturating_add(2) >= rank
                && s.dims()
                    .get(at)
                    .is_some_and(|v| !v.is_multiple_of(crate::tensor::TILE)))
    })
}

/// Most outputs a split may make (the bound `split_sizes` lists are held to as well).
const MAX_SPLIT_OUTPUTS: u64 = 4096;

/// The sizes of the `ceil(extent / size)` pieces of `size` that cut `extent`, the last one
/// shorter. Refuses more than [`MAX_SPLIT_OUTPUTS`] pieces before making them: a split of a
/// huge dim into small pieces would otherwise build billions of sizes (found by
/// `cargo xtask fuzz --target case_params`).
fn chunk_sizes(extent: u64, size: u64, op: &str) -> Result<Vec<u64>, CaseError> {
    let pieces = crate::size::ceil_div(extent, size.max(1));
    if pieces > MAX_SPLIT_OUTPUTS {
        return Err(invalid(
            op,
            format!("would make {pieces} outputs; at most {MAX_SPLIT_OUTPUTS} are supported"),
        ));
    }
    let mut out = Vec::new();
    let mut left = extent;
    while left > 0 {
        let s = size.min(left);
        out.push(s);
        left -= s;
    }
    Ok(out)
}

/// An optional dtype parameter (`dtype = "bfloat8_b"`): any dtype the catalog knows.
fn optional_dtype(name: &str, p: &Params, param: &str) -> Result<Option<DType>, CaseError> {
    if p.get(param).is_none() {
        return Ok(None);
    }
    let text = p.str_or(name, param, "")?;
    text.parse::<DType>()
        .map(Some)
        .map_err(|e| CaseError::Param(ParamError::new(name, param, e.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::BufferType;
    use crate::layout::DeviceLayout;
    use crate::ops::tests::sig;
    use crate::ops::{find, OpRequest};

    /// A bfloat8_b TILE concat along a dim the tiles pad comes back bfloat16 (the runtime on
    /// n150: [1,1,6400,64] and [1,1,6400,80] along dim 3, L1 or DRAM); along whole tiles it
    /// stays bfloat8_b ([1,1,6400,64] twice).
    #[test]
    fn a_block_float_concat_along_a_padded_dim_comes_back_bfloat16() {
        let model = [
            Shape::parse("1,1,6400,64").unwrap(),
            Shape::parse("1,1,6400,80").unwrap(),
        ];
        let aligned = [model[0].clone(), model[0].clone()];
        let mut params = Params::default();
        params.set("dim", crate::params::ParamValue::Int(-1));
        for (inputs, want) in [(&model, DType::Bfloat16), (&aligned, DType::Bfloat8B)] {
            let s = find("concat")
                .unwrap()
                .signature(&OpRequest {
                    model_inputs: inputs,
                    device_layout: DeviceLayout::AsGiven,
                    params: &params,
                    dtype: DType::Bfloat8B,
                    layout: Layout::Tile,
                    output_memory: BufferType::L1,
                    default_output_memory: false,
                    sharding: None,
                })
                .unwrap();
            assert_eq!(s.outputs[0].dtype, want, "{inputs:?}");
        }
    }

    #[test]
    fn split_sizes_must_sum() {
        let mut p = Params::default();
        p.set("split_sizes", crate::params::ParamValue::Ints(vec![48, 40]));
        let err = sig("split_with_sizes", &["1,96,64,64"], &p, DeviceLayout::Nhwc)
            .unwrap_err()
            .to_string();
        assert!(err.contains("sum to 88") && err.contains("96"), "{err}");
    }

    /// Found by `cargo xtask fuzz --target case_params`: split sizes whose sum overflows i64
    /// panicked (overflow checks) or wrapped (release).
    #[test]
    fn split_sizes_that_overflow_are_refused() {
        let shape = Shape::parse("1,32,64,64").unwrap();
        let mut params = Params::default();
        params.set(
            "split_sizes",
            crate::params::ParamValue::Ints(vec![i64::MAX, i64::MAX, 2]),
        );
        let req = OpRequest {
            model_inputs: std::slice::from_ref(&shape),
            device_layout: DeviceLayout::AsGiven,
            params: &params,
            dtype: DType::Bfloat16,
            layout: Layout::Tile,
            output_memory: BufferType::L1,
            default_output_memory: false,
            sharding: None,
        };
        let e = find("split_with_sizes")
            .unwrap()
            .signature(&req)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("split_sizes") && e.contains("more than u64 holds"),
            "{e}"
        );
    }

    /// Found by `cargo xtask fuzz --target case_params`: a huge dim split into small pieces
    /// built billions of sizes (gigabytes, seconds) before refusing them.
    #[test]
    fn a_split_into_too_many_pieces_is_refused_before_it_is_made() {
        let shape = Shape::parse("1,4294967166").unwrap();
        let mut params = Params::default();
        params.set("split_size", crate::params::ParamValue::Int(9));
        let req = OpRequest {
            model_inputs: std::slice::from_ref(&shape),
            device_layout: DeviceLayout::AsGiven,
            params: &params,
            dtype: DType::Bfloat16,
            layout: Layout::RowMajor,
            output_memory: BufferType::Dram,
            default_output_memory: false,
            sharding: None,
        };
        let start = std::time::Instant::now();
        let e = find("split")
            .unwrap()
            .signature(&req)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("would make 477218574 outputs; at most 4096"),
            "{e}"
        );
        assert!(start.elapsed() < std::time::Duration::from_secs(1));
    }
}
