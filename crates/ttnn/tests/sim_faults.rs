//! Fault injection on the `sim` backend, SQLite-style: for every operator of the catalog, at a
//! small shape, in L1 and in DRAM (and for the eltwise ops in the three sharded L1 configs), on
//! both boards, the case is first run cleanly to count the
//! allocations it makes (K); then for k = 1..=K the k-th allocation is made to fail
//! (`sim::Device::fail_nth_allocation`). Each faulted run must
//! - come back as a typed out-of-memory outcome — of its buffer's memory: an L1_SMALL buffer
//!   (max_pool2d's config tensors) fails as `l1_small` — never a panic, an `Err`, or success,
//! - leave the allocator exactly at its baseline (allocated bytes *and* the free list's largest
//!   block, per memory),
//! - leave the device usable: the case run again without a fault ends as the clean run did.
//!
//! The number of injection points exercised is printed and must be positive for every op.

use memmodel::ops::Family;
use memmodel::{
    BufferType, Case, DType, DeviceSpec, Expectation, Layout, Params, Shape, ShardStrategy, OPS,
};
use ttnn::sim::{Device, DeviceOptions};
use ttnn::{run_case, DeviceApi, MemoryView, Outcome};

fn small_shape(family: Family) -> &'static str {
    match family {
        Family::Addmm => "64,64",
        Family::Matmul { .. } | Family::Linear => "2,64,64",
        _ => "1,32,64,64",
    }
}

/// A shape most ops cannot hold in L1 (the seed's 4K map), to sweep cases that end in an OOM.
fn large_shape(family: Family) -> &'static str {
    match family {
        Family::Addmm => "8192,8192",
        Family::Matmul { .. } | Family::Linear => "8,8192,8192",
        _ => "1,96,2160,3840",
    }
}

fn case(
    op: &'static memmodel::OpDef,
    shape: &str,
    memory: BufferType,
    device: &'static DeviceSpec,
) -> Case {
    Case {
        op,
        shape_set: None,
        model_inputs: vec![Shape::parse(shape).unwrap()],
        device_layout: op.default_device_layout,
        params: Params::default(),
        dtype: DType::Bfloat16,
        // memmodel models upsample ROW_MAJOR (as the matrix runs it); TILE is unmodeled.
        layout: if matches!(op.family, Family::Upsample) {
            Layout::RowMajor
        } else {
            Layout::Tile
        },
        input_memory: memory,
        output_memory: memory,
        default_output_memory: false,
        sharding: None,
        device,
        expect: Expectation::Any,
    }
}

/// What the allocator looks like: per memory, allocated bytes and the largest free block.
fn state(dev: &Device) -> Vec<(BufferType, u64, u64)> {
    let mut v = vec![BufferType::Dram, BufferType::L1];
    if dev.l1_small_size() > 0 {
        v.push(BufferType::L1Small);
    }
    v.into_iter()
        .map(|b| {
            let m: MemoryView = dev.memory_view(b).unwrap();
            (b, m.allocated_per_bank, m.largest_free_block_per_bank)
        })
        .collect()
}

/// Sweeps one case; returns the number of injection points (K) or what went wrong.
fn sweep(c: &Case) -> Result<u64, String> {
    let id = c.id();
    let sig = c.signature().map_err(|e| format!("{id}: {e}"))?;
    let dev = Device::open(c.device, DeviceOptions::with_l1_small(sig.l1_small_bytes))
        .map_err(|e| format!("{id}: open: {e}"))?;
    let baseline = state(&dev);
    let before = dev.allocations();
    let clean = run_case(&dev, c).map_err(|e| format!("{id}: clean run: {e}"))?;
    let k_total = dev.allocations() - before;
    if state(&dev) != baseline {
        return Err(format!(
            "{id}: the clean run did not return to the baseline"
        ));
    }
    if k_total == 0 && clean.outcome == Outcome::Ok {
        return Err(format!("{id}: a case that fits allocated nothing"));
    }
    for k in 1..=k_total {
        dev.fail_nth_allocation(Some(k)).unwrap();
        let faulted =
            run_case(&dev, c).map_err(|e| format!("{id}: fault {k}/{k_total}: Err {e}"))?;
        dev.fail_nth_allocation(None).unwrap();
        // Once the clean run failed for memory at allocation j, faults after j never fire.
        let fired = clean.outcome == Outcome::Ok || k < k_total;
        if fired && !matches!(faulted.outcome, Outcome::Oom | Outcome::L1Small) {
            return Err(format!(
                "{id}: fault {k}/{k_total} ended {:?} ({:?} at {:?}), want a typed out-of-memory",
                faulted.outcome, faulted.error, faulted.failed_at
            ));
        }
        if !faulted.leaks.is_empty() {
            return Err(format!(
                "{id}: fault {k}/{k_total} leaked {:?}",
                faulted.leaks
            ));
        }
        let now = state(&dev);
        if now != baseline {
            return Err(format!(
                "{id}: fault {k}/{k_total}: the allocator is at {now:?}, not the baseline {baseline:?}"
            ));
        }
        let again = run_case(&dev, c).map_err(|e| format!("{id}: after fault {k}: Err {e}"))?;
        if again.outcome != clean.outcome || !again.leaks.is_empty() {
            return Err(format!(
                "{id}: after fault {k}/{k_total} the device is not usable: {:?} ({:?}), clean run {:?}",
                again.outcome, again.error, clean.outcome
            ));
        }
    }
    Ok(k_total)
}

#[test]
fn every_op_survives_every_failed_allocation() {
    let mut points = 0u64;
    let mut cases = 0usize;
    let mut failures = Vec::new();
    for op in OPS {
        let mut op_points = 0;
        for device in memmodel::device::DEVICES {
            // Interleaved in L1 and DRAM; the eltwise ops sharded in L1 too.
            let mut memories = vec![(BufferType::L1, None), (BufferType::Dram, None)];
            if op.family == Family::Conv2d {
                // memmodel plans conv2d's L1 inputs (exec/conv.rs); a DRAM input runs in DRAM
                // slices it does not plan.
                memories.truncate(1);
            }
            if op.supports_sharding() {
                memories.extend(ShardStrategy::ALL.map(|s| (BufferType::L1, Some(s))));
            }
            for (memory, sharding) in memories {
                for (shape, large) in [
                    (small_shape(op.family), false),
                    (large_shape(op.family), true),
                ] {
                    let mut c = case(op, shape, memory, device);
                    c.sharding = sharding;
                    // Not every op takes the large shape (a plan memmodel does not model, a
                    // dim it cannot split): those cases are skipped, the small ones never.
                    if large && (c.signature().is_err() || c.plan().is_err()) {
                        continue;
                    }
                    match sweep(&c) {
                        Ok(k) => {
                            op_points += k;
                            cases += 1;
                        }
                        Err(e) => failures.push(e),
                    }
                }
            }
        }
        if op_points == 0 {
            failures.push(format!("{}: no injection point exercised", op.name));
        }
        points += op_points;
    }
    println!(
        "fault injection on sim: {} ops, {cases} cases, {points} injection points exercised, {} failures",
        OPS.len(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} case(s) mishandled a failed allocation:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
