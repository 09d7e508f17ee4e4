//! tt-metal's error texts: any text classifies without panicking, and an out-of-memory text
//! made from the runtime's own template with any numbers parses back to exactly those numbers.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use ttnn::message::parse_runtime_error;
use ttnn::Error;

#[derive(Debug, Arbitrary)]
struct Oom {
    prefix: String,
    total: u64,
    buffer: u8,
    banks: u64,
    per_bank: u64,
    bank: u64,
    allocated: u64,
    free: u64,
    largest: u64,
    suffix: String,
}

fuzz_target!(|data: &[u8]| {
    // Raw text.
    if let Ok(text) = std::str::from_utf8(data) {
        let e = parse_runtime_error(text);
        let _ = (e.to_string(), e.outcome(), e.raw());
    }
    // The template with arbitrary numbers round-trips.
    let mut u = Unstructured::new(data);
    let Ok(o) = Oom::arbitrary(&mut u) else {
        return;
    };
    let buffer = ["L1", "DRAM"][usize::from(o.buffer & 1)];
    // A prefix that itself holds the template's first words would be a different message.
    if o.prefix.contains("Out of Memory") || o.suffix.contains("L1_SMALL") {
        return;
    }
    let text = format!(
        "{}Out of Memory: Not enough space to allocate {} B {buffer} buffer across {} banks, where each bank needs to store {} B, but bank size is {} B (allocated: {} B, free: {} B, largest free block: {} B).{}",
        o.prefix, o.total, o.banks, o.per_bank, o.bank, o.allocated, o.free, o.largest, o.suffix
    );
    match parse_runtime_error(&text) {
        Error::OutOfMemory {
            total_bytes,
            banks,
            per_bank_bytes,
            bank_bytes,
            allocated,
            free,
            largest_free_block,
            buffer_type,
            ..
        } => {
            assert_eq!(buffer_type.tt_name(), buffer);
            assert_eq!(
                (total_bytes, banks, per_bank_bytes, bank_bytes, allocated, free, largest_free_block),
                (o.total, o.banks, o.per_bank, o.bank, o.allocated, o.free, o.largest),
                "{text}"
            );
        }
        other => panic!("not parsed as an OOM: {other:?}\n{text}"),
    }
});
