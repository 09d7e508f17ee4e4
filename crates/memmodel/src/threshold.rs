//! The largest input that fits: a binary search over one dim of a case's first shape (exact to
//! one element of that dim — for H of an activation, one row; in TILE layout that is one tile
//! row when H is tiled), on the model's verdict. Fitting is monotone in every dim: a larger
//! tensor never needs fewer bytes per bank.

use crate::case::{Case, Verdict};
use serde::Serialize;

/// One side of the boundary.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub extent: u64,
    pub case: Case,
    /// Bytes per bank of the primary tensor, and what the verdict saw at the failing buffer.
    pub per_bank_bytes: u64,
    /// For the OOM side: per-bank bytes already allocated plus the failing buffer's.
    pub needed_per_bank: u64,
    pub bank_bytes: u64,
}

/// The boundary along one dim.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    pub dim: usize,
    /// The largest extent that fits (None: not even the smallest does).
    pub last_fit: Option<Probe>,
    /// The smallest extent that does not (None: even the largest searched fits).
    pub first_oom: Option<Probe>,
}

/// JSON form of a probe.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeRow {
    pub shape: Vec<u64>,
    pub device_shape: Vec<u64>,
    pub per_bank_bytes: u64,
    pub needed_per_bank: u64,
    pub bank_bytes: u64,
}

impl Probe {
    pub fn row(&self) -> ProbeRow {
        let device_shape = self
            .case
            .signature()
            .ok()
            .and_then(|s| s.inputs.first().map(|i| i.shape.dims().to_vec()))
            .unwrap_or_default();
        ProbeRow {
            shape: self.case.model_inputs[0].dims().to_vec(),
            device_shape,
            per_bank_bytes: self.per_bank_bytes,
            needed_per_bank: self.needed_per_bank,
            bank_bytes: self.bank_bytes,
        }
    }
}

fn probe(template: &Case, dim: usize, extent: u64) -> Option<(bool, Probe)> {
    let mut case = template.clone();
    case.model_inputs[0] = case.model_inputs.first()?.with_dim(dim, extent).ok()?;
    let e = case.estimate().ok()?;
    let (fits, needed) = match &e.verdict {
        Verdict::Fits => (
            true,
            e.peak_l1_per_bank_bytes.max(e.peak_dram_per_bank_bytes),
        ),
        Verdict::Oom(d) => (false, d.allocated.saturating_add(d.per_bank_bytes)),
        // The buffers fit; the program's circular buffers do not fit below them.
        Verdict::CbClash(_) => (false, e.peak_l1_per_bank_bytes),
    };
    Some((
        fits,
        Probe {
            extent,
            per_bank_bytes: e.placement.per_bank_bytes,
            needed_per_bank: needed,
            bank_bytes: e.bank_bytes,
            case,
        },
    ))
}

/// Search extents `1..=max` of model dim `dim` of `template`'s first input.
pub fn search(template: &Case, dim: usize, max: u64) -> Option<Threshold> {
    template.model_inputs.first()?.dims().get(dim)?;
    let (fits_one, one) = probe(template, dim, 1)?;
    if !fits_one {
        return Some(Threshold {
            dim,
            last_fit: None,
            first_oom: Some(one),
        });
    }
    let (fits_max, top) = probe(template, dim, max)?;
    if fits_max {
        return Some(Threshold {
            dim,
            last_fit: Some(top),
            first_oom: None,
        });
    }
    // Invariant: lo fits, hi does not.
    let (mut lo, mut hi) = (1u64, max);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        match probe(template, dim, mid)? {
            (true, _) => lo = mid,
            (false, _) => hi = mid,
        }
    }
    Some(Threshold {
        dim,
        last_fit: Some(probe(template, dim, lo)?.1),
        first_oom: Some(probe(template, dim, hi)?.1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::N150;
    use crate::{DeviceLayout, Shape};

    #[test]
    fn the_boundary_is_exact() {
        let mut template = Case::new(
            crate::find_op("silu").unwrap(),
            vec![Shape::parse("1,96,2160,3840").unwrap()],
            &N150,
        );
        template.device_layout = DeviceLayout::Nhwc;
        let t = search(&template, 2, 1 << 16).unwrap();
        let fit = t.last_fit.unwrap();
        let oom = t.first_oom.unwrap();
        assert_eq!(oom.extent, fit.extent + 1);
        assert!(fit.needed_per_bank <= fit.bank_bytes);
        assert!(oom.needed_per_bank > oom.bank_bytes);
        // Input and output of [1,H,3840,96]: 2 x ceil(H*120*3 / 64) tiles of 2 KiB per bank.
        let per_bank = |h: u64| (h * 120 * 3).div_ceil(64) * 2048;
        assert!(2 * per_bank(fit.extent) <= 1_393_312 && 2 * per_bank(oom.extent) > 1_393_312);
    }
}
