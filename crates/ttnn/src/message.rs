//! Reading tt-metal's error texts: the allocator's "Out of Memory", the circular-buffer (and
//! dataflow-buffer) checks of `Program`, and the L1_SMALL hint. The templates are tt-metal's own
//! format strings (`bank_manager.cpp`, `program.cpp` of the pinned runtime) with `{}` where the
//! runtime puts a value; a text that matches none of them, or whose numbers do not parse, is
//! [`Error::Other`] — never an out-of-memory.

use crate::error::Error;
use memmodel::alloc::{CbError, OutOfMemory};
use memmodel::BufferType;

/// bank_manager.cpp; the trailing `{}` is an optional hint (the L1_SMALL explanation).
const OOM: &str = "Out of Memory: Not enough space to allocate {} B {} buffer across {} banks, where each bank needs to store {} B, but bank size is {} B (allocated: {} B, free: {} B, largest free block: {} B).{}";
/// bank_manager.cpp, when dependency-aware placement fails.
const OOM_WITH_DEPENDENCIES: &str = "Out of Memory: Not enough space after considering dependencies to allocate {} B {} across {} banks ({} B per bank), bank size is {} B (allocated: {} B, free: {} B, largest free block: {} B).{}";
/// program.cpp, circular buffers above the lowest L1 buffer.
const CB_CLASH: &str = "Statically allocated circular buffers in program {} clash with L1 buffers on core range {}. L1 buffer allocated at {} and static circular buffer region ends at {}";
/// program.cpp, the same check for programs built with dataflow buffers.
const DFB_CLASH: &str = "Statically allocated dataflow buffers in program {} clash with L1 buffers on core range {}. L1 buffer allocated at {} and static dataflow buffer region ends at {}";
/// program.cpp, circular buffers past the end of L1.
const CB_BEYOND_L1: &str =
    "Statically allocated circular buffers on core range {} grow to {} B which is beyond max L1 size of {} B";
const DFB_BEYOND_L1: &str =
    "Statically allocated dataflow buffers on core range {} grow to {} B which is beyond max L1 size of {} B";

/// Matches `text` against a template whose `{}` capture everything up to the next literal part
/// (the last one, when the template ends with `{}`, captures the rest). The first literal part
/// may start anywhere in `text` (tt-metal may prefix its message).
fn captures<'t>(text: &'t str, template: &str) -> Option<Vec<&'t str>> {
    let parts: Vec<&str> = template.split("{}").collect();
    let start = text.find(parts[0])?;
    let mut rest = &text[start + parts[0].len()..];
    let mut out = Vec::with_capacity(parts.len() - 1);
    for (i, lit) in parts.iter().enumerate().skip(1) {
        let last = i == parts.len() - 1;
        if lit.is_empty() {
            if last {
                out.push(rest);
                rest = "";
            } else {
                return None;
            }
        } else {
            let at = rest.find(lit)?;
            out.push(&rest[..at]);
            rest = &rest[at + lit.len()..];
        }
    }
    let _ = rest;
    Some(out)
}

fn number(s: &str) -> Option<u64> {
    s.trim().parse().ok()
}

/// The leading digits of `s` (for a value the template leaves open at the end).
fn leading_number(s: &str) -> Option<u64> {
    let s = s.trim_start();
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    s[..end].parse().ok()
}

fn buffer_type(s: &str) -> Option<BufferType> {
    // "L1", "DRAM", "L1_SMALL" (the dependency variant may say "L1 buffer").
    let word = s.split_whitespace().next()?;
    word.parse().ok()
}

/// Classifies a runtime error text (the `info:` part of a tt-metal exception).
pub fn parse_runtime_error(text: &str) -> Error {
    parse_known(text).unwrap_or_else(|| Error::Other(text.to_string()))
}

fn parse_known(text: &str) -> Option<Error> {
    let raw = text.to_string();
    for template in [OOM, OOM_WITH_DEPENDENCIES] {
        if let Some(c) = captures(text, template) {
            let bt = buffer_type(c[1])?;
            let total_bytes = number(c[0])?;
            let banks = number(c[2])?;
            let per_bank_bytes = number(c[3])?;
            let bank_bytes = number(c[4])?;
            let allocated = number(c[5])?;
            let free = number(c[6])?;
            let largest_free_block = number(c[7])?;
            let hint = c[8].trim();
            if bt == BufferType::L1Small || hint.contains("L1_SMALL") {
                return Some(Error::L1SmallTooSmall {
                    total_bytes,
                    banks,
                    per_bank_bytes,
                    l1_small_bytes: bank_bytes,
                    raw,
                });
            }
            return Some(Error::OutOfMemory {
                buffer_type: bt,
                total_bytes,
                banks,
                per_bank_bytes,
                bank_bytes,
                allocated,
                free,
                largest_free_block,
                raw,
            });
        }
    }
    for (template, dataflow) in [(CB_CLASH, false), (DFB_CLASH, true)] {
        if let Some(c) = captures(text, template) {
            return Some(Error::CircularBufferClash {
                program: number(c[0])?,
                core_range: c[1].trim().to_string(),
                l1_buffer_at: number(c[2])?,
                cb_region_end: leading_number(c[3])?,
                dataflow,
                raw,
            });
        }
    }
    for (template, dataflow) in [(CB_BEYOND_L1, false), (DFB_BEYOND_L1, true)] {
        // tt-metal's logger may wrap long lines: compare on single spaces.
        let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if let Some(c) = captures(&flat, template) {
            return Some(Error::CircularBuffersExceedL1 {
                core_range: c[0].trim().to_string(),
                cb_region_end: number(c[1])?,
                l1_bytes: number(c[2])?,
                dataflow,
                raw,
            });
        }
    }
    None
}

/// The typed error of an allocator refusal, built from its numbers (the `sim` backend's hot
/// path: an OOM costs no text parsing). Equal to what [`parse_runtime_error`] makes of
/// `oom.message()`, tt-metal's text; the test `direct_errors_equal_parsed_text` checks it.
pub fn out_of_memory_error(oom: &OutOfMemory) -> Error {
    let raw = oom.message();
    if oom.buffer_type == BufferType::L1Small {
        return Error::L1SmallTooSmall {
            total_bytes: oom.size,
            banks: oom.banks,
            per_bank_bytes: oom.per_bank,
            l1_small_bytes: oom.bank_size,
            raw,
        };
    }
    Error::OutOfMemory {
        buffer_type: oom.buffer_type,
        total_bytes: oom.size,
        banks: oom.banks,
        per_bank_bytes: oom.per_bank,
        bank_bytes: oom.bank_size,
        allocated: oom.allocated,
        free: oom.free,
        largest_free_block: oom.largest_free_block,
        raw,
    }
}

/// The typed error of a circular-buffer check, built from its numbers; equal to what
/// [`parse_runtime_error`] makes of `cb.message()` (tested with [`out_of_memory_error`]).
pub fn circular_buffer_error(cb: &CbError) -> Error {
    let raw = cb.message();
    match cb {
        CbError::Clash {
            program,
            core_range,
            l1_buffer_at,
            cb_region_end,
            dataflow,
        } => Error::CircularBufferClash {
            program: *program,
            core_range: core_range.clone(),
            l1_buffer_at: *l1_buffer_at,
            cb_region_end: *cb_region_end,
            dataflow: *dataflow,
            raw,
        },
        CbError::BeyondL1 {
            core_range,
            cb_region_end,
            l1_bytes,
            dataflow,
        } => Error::CircularBuffersExceedL1 {
            core_range: core_range.clone(),
            cb_region_end: *cb_region_end,
            l1_bytes: *l1_bytes,
            dataflow: *dataflow,
            raw,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direct_errors_equal_parsed_text() {
        let mut ooms = Vec::new();
        for buffer_type in [BufferType::L1, BufferType::Dram, BufferType::L1Small] {
            for (bank_size, allocated) in [(1393312, 1064960), (0, 0), (1072693184, 12345)] {
                ooms.push(OutOfMemory {
                    buffer_type,
                    size: 34078720,
                    banks: 64,
                    per_bank: 532480,
                    bank_size,
                    allocated,
                    free: bank_size - allocated,
                    largest_free_block: (bank_size - allocated) / 2,
                });
            }
        }
        for oom in &ooms {
            assert_eq!(
                out_of_memory_error(oom),
                parse_runtime_error(&oom.message()),
                "{oom:?}"
            );
        }
        let cbs = [
            CbError::Clash {
                program: 10,
                core_range: "[0-0 - 7-7]".into(),
                l1_buffer_at: 110592,
                cb_region_end: 118112,
                dataflow: false,
            },
            CbError::Clash {
                program: 12,
                core_range: "[0-0 - 7-3]".into(),
                l1_buffer_at: 110592,
                cb_region_end: 267616,
                dataflow: true,
            },
            CbError::BeyondL1 {
                core_range: "[0-0 - 10-9]".into(),
                cb_region_end: 2247168,
                l1_bytes: 1572864,
                dataflow: false,
            },
            CbError::BeyondL1 {
                core_range: "[0-0 - 7-7]".into(),
                cb_region_end: 1600000,
                l1_bytes: 1499136,
                dataflow: true,
            },
        ];
        for cb in &cbs {
            assert_eq!(
                circular_buffer_error(cb),
                parse_runtime_error(&cb.message()),
                "{cb:?}"
            );
        }
    }

    // Texts as the pinned runtime (ttnn 0.81.1, mock n150) raised them.
    const ADD_L1: &str = "Out of Memory: Not enough space to allocate 34078720 B L1 buffer across 64 banks, where each bank needs to store 532480 B, but bank size is 1393312 B (allocated: 1064960 B, free: 328352 B, largest free block: 328352 B).";
    const MAXPOOL_NO_L1_SMALL: &str = "Out of Memory: Not enough space to allocate 1024 B L1_SMALL buffer across 64 banks, where each bank needs to store 16 B, but bank size is 0 B (allocated: 0 B, free: 0 B, largest free block: 0 B). The L1_SMALL region is 0 B because it is reserved at device open; set l1_small_size large enough for this allocation when opening the device.";
    const CLASH: &str = "Statically allocated circular buffers in program 10 clash with L1 buffers on core range [0-0 - 7-7]. L1 buffer allocated at 110592 and static circular buffer region ends at 118112";
    const DFB_CLASH_TEXT: &str = "Statically allocated dataflow buffers in program 12 clash with L1 buffers on core range [0-0 - 7-3]. L1 buffer allocated at 110592 and static dataflow buffer region ends at 267616";
    // Reported from Blackhole runs (public tt-metal bring-up logs), wrapped as logged.
    const BEYOND: &str = "Statically allocated circular buffers on core range [(x=0,y=0) - (x=10,y=9)] grow to 2247168 B\nwhich is beyond max L1 size of 1572864 B";

    #[test]
    fn oom_numbers() {
        let e = parse_runtime_error(ADD_L1);
        let Error::OutOfMemory {
            buffer_type,
            total_bytes,
            banks,
            per_bank_bytes,
            bank_bytes,
            allocated,
            free,
            largest_free_block,
            raw,
        } = e
        else {
            panic!("not an OOM: {e:?}")
        };
        assert_eq!(buffer_type, BufferType::L1);
        assert_eq!(
            (total_bytes, banks, per_bank_bytes, bank_bytes),
            (34_078_720, 64, 532_480, 1_393_312)
        );
        assert_eq!(
            (allocated, free, largest_free_block),
            (1_064_960, 328_352, 328_352)
        );
        assert_eq!(raw, ADD_L1);
    }

    #[test]
    fn oom_text_round_trips_memmodels_wording() {
        let text = memmodel::case::oom_message(131_072_000, BufferType::Dram, 12, 1, 2, 3, 4, 5);
        assert!(matches!(
            parse_runtime_error(&text),
            Error::OutOfMemory {
                buffer_type: BufferType::Dram,
                total_bytes: 131_072_000,
                banks: 12,
                ..
            }
        ));
    }

    #[test]
    fn l1_small() {
        let e = parse_runtime_error(MAXPOOL_NO_L1_SMALL);
        assert!(
            matches!(
                e,
                Error::L1SmallTooSmall {
                    total_bytes: 1024,
                    banks: 64,
                    per_bank_bytes: 16,
                    l1_small_bytes: 0,
                    ..
                }
            ),
            "{e:?}"
        );
        assert_eq!(e.outcome().name(), "l1_small");
    }

    #[test]
    fn clashes() {
        let e = parse_runtime_error(CLASH);
        assert_eq!(
            e,
            Error::CircularBufferClash {
                program: 10,
                core_range: "[0-0 - 7-7]".into(),
                l1_buffer_at: 110_592,
                cb_region_end: 118_112,
                dataflow: false,
                raw: CLASH.into()
            }
        );
        let e = parse_runtime_error(DFB_CLASH_TEXT);
        assert!(
            matches!(
                e,
                Error::CircularBufferClash {
                    program: 12,
                    cb_region_end: 267_616,
                    dataflow: true,
                    ..
                }
            ),
            "{e:?}"
        );
        assert_eq!(e.outcome().name(), "cb_clash");
    }

    #[test]
    fn beyond_l1() {
        let e = parse_runtime_error(BEYOND);
        assert!(
            matches!(
                &e,
                Error::CircularBuffersExceedL1 { cb_region_end: 2_247_168, l1_bytes: 1_572_864, dataflow: false, core_range, .. }
                    if core_range == "[(x=0,y=0) - (x=10,y=9)]"
            ),
            "{e:?}"
        );
        assert_eq!(e.raw(), BEYOND);
    }

    #[test]
    fn unknown_and_malformed_texts_are_other() {
        for text in [
            "batch_mean_shape[1] must be the same as input's channel size.",
            "DRAM Auto slice could not find valid slice configuration.",
            // Right words, numbers missing: not an OOM.
            "Out of Memory: Not enough space to allocate lots B L1 buffer across 64 banks, where each bank needs to store 1 B, but bank size is 1 B (allocated: 0 B, free: 1 B, largest free block: 1 B).",
            "Out of Memory: Cannot allocate at an address below 100. Allocation at 50",
            "",
        ] {
            let e = parse_runtime_error(text);
            assert_eq!(e, Error::Other(text.to_string()), "{text}");
            assert_eq!(e.outcome().name(), "error");
        }
    }

    #[test]
    fn template_captures() {
        assert_eq!(captures("x a1b2c", "a{}b{}"), Some(vec!["1", "2c"]));
        assert_eq!(captures("a1c", "a{}b{}"), None);
    }
}
