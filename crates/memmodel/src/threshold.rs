//! The largest input that fits: a binary search over one dim of a case's first shape (exact to
//! one element of that dim — for H of an activation, one row; in TILE layout that is one tile
//! row when H is tiled), on the model's verdict. Fitting is monotone in every dim: a larger
//! tensor never needs fewer bytes per bank.

use crate::case::{Case, Verdict};
use crate::ops::CaseError;
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

/// Why a search has no boundary: the template has no such dim, or the model gives no verdict at
/// some extent (the call is invalid there, the runtime refuses it, or memmodel does not model
/// it). A record for the user, never the end of a run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{reason}", extent.map(|e| format!("at extent {e}: ")).unwrap_or_default())]
pub struct SearchError {
    /// The extent whose case had no verdict (None: the template itself).
    pub extent: Option<u64>,
    /// `invalid`, `refused` or `unmodeled` (the classes of [`CaseError`]).
    pub class: &'static str,
    pub reason: String,
}

impl SearchError {
    /// For a table cell: the class once, the extent, the reason.
    pub fn describe(&self) -> String {
        match (self.class, self.extent) {
            // The reason says `unmodeled` itself.
            ("unmodeled", _) => self.to_string(),
            (class, Some(_)) => format!("{class} {self}"),
            (class, None) => format!("{class}: {self}"),
        }
    }

    fn at(extent: u64, e: &CaseError) -> SearchError {
        SearchError {
            extent: Some(extent),
            class: match e {
                CaseError::Refused { .. } => "refused",
                CaseError::Unmodeled { .. } => "unmodeled",
                _ => "invalid",
            },
            reason: e.to_string(),
        }
    }
}

fn probe(template: &Case, dim: usize, extent: u64) -> Result<(bool, Probe), SearchError> {
    let mut case = template.clone();
    let first = case.model_inputs.first().ok_or_else(|| SearchError {
        extent: None,
        class: "invalid",
        reason: "the template has no input".into(),
    })?;
    case.model_inputs[0] = first
        .with_dim(dim, extent)
        .map_err(|e| SearchError::at(extent, &CaseError::from(e)))?;
    let e = case.estimate().map_err(|e| SearchError::at(extent, &e))?;
    let (fits, needed) = match &e.verdict {
        Verdict::Fits => (
            true,
            e.peak_l1_per_bank_bytes.max(e.peak_dram_per_bank_bytes),
        ),
        Verdict::Oom(d) => (false, d.allocated.saturating_add(d.per_bank_bytes)),
        // The buffers fit; the program's circular buffers do not fit below them.
        Verdict::CbClash(_) => (false, e.peak_l1_per_bank_bytes),
    };
    Ok((
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
pub fn search(template: &Case, dim: usize, max: u64) -> Result<Threshold, SearchError> {
    let shape = template.model_inputs.first();
    if shape.and_then(|s| s.dims().get(dim)).is_none() {
        return Err(SearchError {
            extent: None,
            class: "invalid",
            reason: format!(
                "no dim {dim} in {}",
                shape.map_or("no input".to_string(), |s| s.to_string())
            ),
        });
    }
    let (fits_one, one) = probe(template, dim, 1)?;
    if !fits_one {
        return Ok(Threshold {
            dim,
            last_fit: None,
            first_oom: Some(one),
        });
    }
    let (fits_max, top) = probe(template, dim, max)?;
    if fits_max {
        return Ok(Threshold {
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
    Ok(Threshold {
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

    #[test]
    fn a_search_without_a_verdict_says_why_and_where() {
        let template = Case::new(
            crate::find_op("silu").unwrap(),
            vec![Shape::parse("1,96,64,3840").unwrap()],
            &N150,
        );
        let e = search(&template, 4, 1 << 16).unwrap_err();
        assert_eq!((e.class, e.extent), ("invalid", None));
        assert!(e.reason.contains("no dim 4"), "{e}");

        // The runtime refuses a ROW_MAJOR softmax over the last dim below rank 4: no boundary.
        let mut template = Case::new(
            crate::find_op("softmax").unwrap(),
            vec![Shape::parse("64,3840").unwrap()],
            &N150,
        );
        template.layout = crate::Layout::RowMajor;
        let e = search(&template, 0, 1 << 16).unwrap_err();
        assert_eq!((e.class, e.extent), ("refused", Some(1)), "{e}");
        assert!(e.describe().starts_with("refused at extent 1: "), "{e}");
    }

    #[test]
    fn unmodeled_calls_keep_their_class() {
        let e = SearchError::at(
            7,
            &CaseError::Unmodeled {
                function: "ttnn.mean".into(),
                what: "a mean over chosen dims".into(),
            },
        );
        assert_eq!((e.class, e.extent), ("unmodeled", Some(7)));
        assert_eq!(
            e.to_string(),
            "at extent 7: ttnn.mean: unmodeled: a mean over chosen dims"
        );
    }
}
