//! Matrix multiplies: `ttnn.matmul`, `ttnn.linear`, `ttnn.addmm`.

use super::grid;
use super::util::{out_memory, tile_size};
use super::{invalid, Args, Exec, Val};
use crate::case::BufferRole;
use crate::ops::CaseError;
use crate::plan::DevTensor;
use crate::program::{CbKind, Program};
use crate::shape::Shape;
use crate::tensor::{TensorSpec, TILE};

pub(super) fn call(ex: &mut Exec<'_>, name: &str, a: &Args<'_>) -> Result<Option<Val>, CaseError> {
    Ok(Some(match name {
        "matmul" | "linear" => {
            let x = a.tensor(0, "input_tensor_a")?;
            let w = a.tensor(1, "input_tensor_b")?;
            let mem = out_memory(a, x.memory)?;
            let out = matmul(ex, a.function, x, w, mem)?;
            if let Some(bias) = a.opt_tensor(usize::MAX, "bias")? {
                bias_add(ex, &out, bias);
            }
            Val::T(out)
        }
        "addmm" => {
            let bias = a.tensor(0, "input_tensor")?;
            let m1 = a.tensor(1, "mat1_tensor")?;
            let m2 = a.tensor(2, "mat2_tensor")?;
            let mem = out_memory(a, m1.memory)?;
            let out = matmul(ex, a.function, m1, m2, mem)?;
            bias_add(ex, &out, bias);
            Val::T(out)
        }
        _ => return Ok(None),
    }))
}

fn matmul_shape(f: &str, a: &Shape, b: &Shape) -> Result<Shape, CaseError> {
    if a.rank() < 2 || b.rank() < 2 {
        return Err(invalid(
            f,
            format!("matmul operands need 2 dims, got {a} and {b}"),
        ));
    }
    let (ad, bd) = (a.dims(), b.dims());
    let (m, k) = (ad[ad.len() - 2], ad[ad.len() - 1]);
    let (k2, n) = (bd[bd.len() - 2], bd[bd.len() - 1]);
    if k != k2 {
        return Err(invalid(f, format!("inner dims differ: {a} @ {b}")));
    }
    let mut dims = ad[..ad.len() - 2].to_vec();
    if dims.len() < bd.len() - 2 {
        dims = bd[..bd.len() - 2].to_vec();
    }
    dims.push(m);
    dims.push(n);
    Ok(Shape::from_dims(dims)?)
}

/// The matmul device operation: its output, and one program whose buffers hold blocks of
/// both operands and of the output.
fn matmul(
    ex: &mut Exec<'_>,
    f: &str,
    x: &DevTensor,
    w: &DevTensor,
    mem: crate::device::BufferType,
) -> Result<DevTensor, CaseError> {
    let shape = matmul_shape(f, x.shape(), w.shape())?;
    let spec = TensorSpec::new(shape.clone(), x.dtype(), x.layout());
    let out = ex.b.tensor("output", BufferRole::Temporary, spec, mem)?;
    let d = ex.device();
    let ts = tile_size(x.dtype());
    let dims = shape.dims();
    let mt = dims[dims.len() - 2].div_ceil(TILE);
    let nt = dims[dims.len() - 1].div_ceil(TILE);
    let batch: u64 = dims[..dims.len() - 2].iter().product();
    let w = grid::split_work(d, batch * mt * nt, false);
    let cores = grid::merge_ranges(&w.all);
    ex.b.run(
        Program::new("MatmulDeviceOperation", "MatmulMultiCoreProgramFactory")
            .cb(CbKind::Dataflow, 2 * ts, &cores)
            .cb(CbKind::Dataflow, 2 * ts, &cores)
            .cb(CbKind::Dataflow, 2 * ts, &cores),
    );
    Ok(out)
}

/// The bias added in place into the product (`BinaryNgDeviceOperation` writing its output).
fn bias_add(ex: &mut Exec<'_>, out: &DevTensor, bias: &DevTensor) {
    let d = ex.device();
    let cores = grid::full(d);
    let ts = tile_size(out.dtype());
    let _ = bias;
    ex.b.run(
        Program::new("BinaryNgDeviceOperation", "ProgramFactory")
            .cb(CbKind::Circular, 2 * ts, &cores)
            .cb(CbKind::Circular, 2 * ts, &cores)
            .cb(CbKind::Circular, 2 * ts, &cores),
    );
}
