//! The allocation trace of a case, as the real runtime's NO_DISPATCH graph capture reports it:
//! every buffer allocated and freed, every program (device operation and program factory) with
//! the circular / dataflow buffers it creates. `cargo xtask calibrate` writes the runtime's
//! traces into the golden files; [`Plan::trace`](crate::case::Plan) is memmodel's; both compare
//! through [`normalize`].
//!
//! Serialized as compact JSON arrays, one per event:
//! `["op", device_op, factory]`, `["alloc", memory, size, per_bank, page, layout, num_cores]`,
//! `["free", alloc ordinal]`, `["cbs_free"]`, `["cb" | "dfb" | "scratch", size, cores, global]`.

use crate::program::CbKind;
use serde::de::Error as _;
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One event of a trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A device operation starts, with the program factory it selected (graph node
    /// `function_start` with a `program_factory_type`).
    Op { op: String, factory: String },
    /// A device buffer is allocated.
    Alloc {
        /// `DRAM`, `L1`, `L1_SMALL`.
        memory: String,
        size: u64,
        per_bank: u64,
        page: u64,
        /// `INTERLEAVED`, `HEIGHT_SHARDED`, ...
        layout: String,
        /// Cores of a sharded buffer (0 when interleaved).
        num_cores: u64,
    },
    /// The buffer of the `n`-th allocation of the trace is freed.
    Free(usize),
    /// A program is about to lay out its circular buffers: the previous program's are gone.
    CbsFree,
    /// A circular / dataflow buffer / scratchpad of the current program (bytes per core).
    Cb {
        kind: CbKind,
        size: u64,
        cores: String,
        global: bool,
    },
}

fn kind_tag(k: CbKind) -> &'static str {
    match k {
        CbKind::Circular => "cb",
        CbKind::Dataflow => "dfb",
        CbKind::Scratchpad => "scratch",
    }
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Event::Op { op, factory } => ("op", op, factory).serialize(s),
            Event::Alloc {
                memory,
                size,
                per_bank,
                page,
                layout,
                num_cores,
            } => ("alloc", memory, size, per_bank, page, layout, num_cores).serialize(s),
            Event::Free(n) => ("free", n).serialize(s),
            Event::CbsFree => {
                let mut seq = s.serialize_seq(Some(1))?;
                seq.serialize_element("cbs_free")?;
                seq.end()
            }
            Event::Cb {
                kind,
                size,
                cores,
                global,
            } => (kind_tag(*kind), size, cores, global).serialize(s),
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Raw {
    One((String,)),
    Two((String, usize)),
    Three((String, String, String)),
    Four((String, u64, String, bool)),
    Seven((String, String, u64, u64, u64, String, u64)),
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Event, D::Error> {
        let bad = |tag: &str, n: usize| {
            D::Error::custom(format!("unknown trace event `{tag}` with {n} fields"))
        };
        Ok(match Raw::deserialize(d)? {
            Raw::One((tag,)) if tag == "cbs_free" => Event::CbsFree,
            Raw::One((tag,)) => return Err(bad(&tag, 1)),
            Raw::Two((tag, n)) if tag == "free" => Event::Free(n),
            Raw::Two((tag, _)) => return Err(bad(&tag, 2)),
            Raw::Three((tag, op, factory)) if tag == "op" => Event::Op { op, factory },
            Raw::Three((tag, ..)) => return Err(bad(&tag, 3)),
            Raw::Four((tag, size, cores, global)) => {
                let kind = match tag.as_str() {
                    "cb" => CbKind::Circular,
                    "dfb" => CbKind::Dataflow,
                    "scratch" => CbKind::Scratchpad,
                    _ => return Err(bad(&tag, 4)),
                };
                Event::Cb {
                    kind,
                    size,
                    cores,
                    global,
                }
            }
            Raw::Seven((tag, memory, size, per_bank, page, layout, num_cores))
                if tag == "alloc" =>
            {
                Event::Alloc {
                    memory,
                    size,
                    per_bank,
                    page,
                    layout,
                    num_cores,
                }
            }
            Raw::Seven((tag, ..)) => return Err(bad(&tag, 7)),
        })
    }
}

/// A trace in a form two sources agree on: the runtime announces an operation before its
/// outputs are allocated, memmodel's plans run programs after; what matters is the order of
/// allocations, frees and programs, and each program's buffers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Normal {
    Alloc {
        memory: String,
        size: u64,
        per_bank: u64,
        page: u64,
    },
    Free(usize),
    Program {
        op: String,
        factory: String,
        /// (kind, bytes per core, core range set) of every buffer the capture lists.
        cbs: Vec<(CbKind, u64, String)>,
    },
}

/// The comparable form of a trace: each program is named by the last `Op` before its
/// `CbsFree`; buffer layouts (sharding) are left out.
pub fn normalize(trace: &[Event]) -> Vec<Normal> {
    let mut out = Vec::new();
    let mut op = (String::new(), String::new());
    let mut current: Option<usize> = None;
    for e in trace {
        match e {
            Event::Op { op: o, factory } => op = (o.clone(), factory.clone()),
            Event::Alloc {
                memory,
                size,
                per_bank,
                page,
                ..
            } => out.push(Normal::Alloc {
                memory: memory.clone(),
                size: *size,
                per_bank: *per_bank,
                page: *page,
            }),
            Event::Free(n) => out.push(Normal::Free(*n)),
            Event::CbsFree => {
                current = Some(out.len());
                out.push(Normal::Program {
                    op: op.0.clone(),
                    factory: op.1.clone(),
                    cbs: Vec::new(),
                });
            }
            Event::Cb {
                kind, size, cores, ..
            } => {
                if let Some(Normal::Program { cbs, .. }) = current.and_then(|c| out.get_mut(c)) {
                    cbs.push((*kind, *size, cores.clone()));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_as_compact_arrays() {
        let text = r#"[["alloc","DRAM",18350080,1529856,2048,"INTERLEAVED",0],["op","BinaryNgDeviceOperation","ProgramFactory"],["cbs_free"],["cb",4096,"{[0-0 - 7-7]}",false],["scratch",16,"{[0-0 - 0-0]}",false],["free",0]]"#;
        let events: Vec<Event> = serde_json::from_str(text).unwrap();
        assert_eq!(events.len(), 6);
        assert_eq!(events[5], Event::Free(0));
        assert_eq!(serde_json::to_string(&events).unwrap(), text);
        let n = normalize(&events);
        assert_eq!(n.len(), 3);
        assert!(
            matches!(&n[1], Normal::Program { op, cbs, .. } if op == "BinaryNgDeviceOperation" && cbs.len() == 2)
        );
    }

    #[test]
    fn unknown_events_are_refused() {
        assert!(serde_json::from_str::<Event>(r#"["frobnicate"]"#).is_err());
        assert!(serde_json::from_str::<Event>(r#"["cbx",1,"{}",false]"#).is_err());
    }
}
