//! A plan: everything a case (or a whole model, later) does to device memory, in order —
//! buffers allocated and freed, and programs run with their circular buffers. Plans are built by
//! [`PlanBuilder`] (the op models of [`crate::exec`] drive it) and replayed on the allocator
//! model ([`crate::alloc::DeviceMemory`]) by the estimate and by the `sim` backend alike.

use crate::alloc::{BufferRequest, DeviceMemory, FreeList, MemoryError};
use crate::device::{BufferType, DeviceSpec};
use crate::dtype::DType;
use crate::error::CaseError;
use crate::layout::Layout;
use crate::program::{Peaks, Program};
use crate::shape::Shape;
use crate::shard::{MemoryConfig, ShardSpec, ShardStrategy};
use crate::size;
use crate::tensor::{Placement, TensorSpec};
use serde::Serialize;
use std::sync::Arc;

/// One thing a plan does.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Allocate buffer `i` of [`crate::case::Plan::buffers`].
    Alloc(usize),
    /// Free buffer `i`.
    Free(usize),
    /// Lay out a program's circular buffers and run it.
    Run(Program),
}

/// A tensor on the device while a plan is built: its spec, where it lives and its buffer.
#[derive(Debug, Clone, PartialEq)]
pub struct DevTensor {
    pub spec: TensorSpec,
    pub memory: BufferType,
    /// Its shard spec when it is sharded (in L1): a sharded memory config's
    /// ([`crate::shard::shard_spec`]) or the op's own (a conv's output in its parallel config).
    pub shard: Option<Arc<ShardSpec>>,
    /// Index of its buffer in the builder (shared by views).
    pub buffer: usize,
}

impl DevTensor {
    /// The memory config it is in.
    pub fn config(&self) -> MemoryConfig {
        MemoryConfig::of(self.memory, self.strategy())
    }
    /// How it is sharded, if it is.
    pub fn strategy(&self) -> Option<ShardStrategy> {
        self.shard.as_ref().map(|s| s.strategy)
    }
    pub fn shape(&self) -> &Shape {
        &self.spec.shape
    }
    pub fn dims(&self) -> &[u64] {
        self.spec.shape.dims()
    }
    pub fn dtype(&self) -> DType {
        self.spec.dtype
    }
    pub fn layout(&self) -> Layout {
        self.spec.layout
    }
}

/// Builds a plan: allocations with reference counts (views share a buffer; a buffer is freed
/// when its last tensor is released), programs in order.
#[derive(Debug, Clone)]
pub struct PlanBuilder {
    pub device: &'static DeviceSpec,
    pub buffers: Vec<PlannedBuffer>,
    pub steps: Vec<Step>,
    refs: Vec<u32>,
    /// Buffers freed by [`PlanBuilder::deallocate`] while tensors still referred to them.
    deallocated: Vec<usize>,
    counters: [usize; 3],
    /// The per-bank bytes of the L1 buffers not yet freed, kept as buffers come and go (a sum
    /// over `buffers` would make a call of many pieces, such as a split into thousands,
    /// quadratic). u128: a sum of u64s that cannot overflow.
    live_l1_per_bank: u128,
    /// Whether the plan read the live L1 ([`PlanBuilder::live_l1_per_bank`]): its program
    /// choice may then depend on L1 held outside the call.
    read_live_l1: ReadFlag,
    /// Whether the plan read the device's free L1 outside a program choice
    /// ([`PlanBuilder::l1_total_free_per_bank`]): a host decision made anew on every call, so
    /// not kept by the program cache, but the plan holds for that L1 state only.
    read_device_l1: ReadFlag,
    /// The L1 bank as the call's buffers are placed on it, top-down as the L1 allocator places
    /// them: the device's free list as the call finds it ([`PlanBuilder::set_l1_state`]: its
    /// inputs and every other live L1 buffer placed), or, for a call alone on the device, an
    /// empty bank on which the call's inputs are placed first. The free L1 a factory reads
    /// (`get_max_l1_space`, up to the lowest occupied address) is then the bank's, holes
    /// included.
    l1_list: FreeList,
    /// Whether `l1_list` is the device's L1 state (other live L1 buffers placed).
    on_device_l1: bool,
    /// The device run stopped: an L1 buffer of the call did not fit in `l1_list`, or a program
    /// was refused or its static buffers clash with the L1 buffers. Later programs are the
    /// capture's alone and the layout after it is unknown ([`PlanBuilder::l1_free_below_lowest`]).
    device_run_stopped: bool,
    /// Where each buffer sits in `l1_list` (by buffer index; `None` outside L1 or unplaced).
    l1_at: Vec<Option<u64>>,
    /// The inputs placed by [`PlanBuilder::place_capture_input`] (by buffer index) with the
    /// bytes each takes in `l1_list`: L1 the device run held but the capture does not.
    capture_inputs: Vec<(usize, u64)>,
    /// The plan is a NO_DISPATCH capture's ([`PlanBuilder::set_capture`]).
    capture: bool,
}

/// A flag set through a shared reference (plans read the live L1 through `&PlanBuilder`);
/// atomic so that a built plan can be shared between threads.
#[derive(Debug, Default)]
struct ReadFlag(std::sync::atomic::AtomicBool);

impl Clone for ReadFlag {
    fn clone(&self) -> Self {
        ReadFlag(std::sync::atomic::AtomicBool::new(
            self.0.load(std::sync::atomic::Ordering::Relaxed),
        ))
    }
}

fn role_slot(role: BufferRole) -> usize {
    match role {
        BufferRole::Input => 0,
        BufferRole::Temporary => 1,
        BufferRole::Output => 2,
    }
}

impl PlanBuilder {
    pub fn new(device: &'static DeviceSpec) -> PlanBuilder {
        PlanBuilder::with_l1_small(device, 0)
    }

    /// A builder for a call alone on a device opened with `l1_small` bytes of L1_SMALL per
    /// bank: L1_SMALL takes the top of every bank, so the L1 allocator's buffers stack down
    /// from below it (p150, l1_small_size 32,768: a conv2d's L1 input uploaded at 1,314,880,
    /// 225,216 B under 1,540,096).
    pub fn with_l1_small(device: &'static DeviceSpec, l1_small: u64) -> PlanBuilder {
        PlanBuilder {
            device,
            buffers: Vec::with_capacity(8),
            steps: Vec::with_capacity(16),
            refs: Vec::with_capacity(8),
            deallocated: Vec::new(),
            counters: [0; 3],
            live_l1_per_bank: 0,
            read_live_l1: ReadFlag::default(),
            read_device_l1: ReadFlag::default(),
            capture_inputs: Vec::new(),
            capture: false,
            l1_list: FreeList::new(
                device.bank_bytes(BufferType::L1, l1_small),
                device.l1_unreserved_base,
                device.dram_alignment,
            ),
            on_device_l1: false,
            device_run_stopped: false,
            l1_at: Vec::with_capacity(8),
        }
    }

    /// Places an L1 buffer of `placement` in [`PlanBuilder::l1_list`] (top-down, first fit);
    /// its address, `None` outside L1 or where it does not fit.
    fn place_l1(&mut self, placement: &Placement) -> Option<u64> {
        if placement.buffer_type != BufferType::L1 {
            return None;
        }
        let at = self.l1_list.allocate(placement.per_bank_bytes, false);
        if at.is_none() {
            self.device_run_stopped = true;
        }
        at
    }

    /// The L1 a program made now finds free on a core: from the allocator's base up to the
    /// lowest occupied address (`get_max_l1_space`), which a freed buffer above a live one does
    /// not lower. `None` once the device run stopped (an L1 buffer of the call did not fit, a
    /// program was refused or clashed): the layout is then not known.
    pub fn l1_free_below_lowest(&self) -> Option<u64> {
        self.read_live_l1
            .0
            .store(true, std::sync::atomic::Ordering::Relaxed);
        if self.device_run_stopped {
            return None;
        }
        Some(match self.l1_list.lowest_occupied() {
            Some(a) => a.saturating_sub(self.device.l1_unreserved_base),
            None => self.l1_list.max_size(),
        })
    }

    /// Whether the device run already stopped: an L1 buffer of the call did not fit, or a
    /// program was refused or clashed. What follows no longer decides the case.
    pub fn device_run_stopped(&self) -> bool {
        self.device_run_stopped
    }

    /// Allocates a buffer for `placement`.
    pub fn alloc(
        &mut self,
        what: &'static str,
        role: BufferRole,
        tensor: TensorSpec,
        placement: Placement,
    ) -> usize {
        let slot = role_slot(role);
        let index = self.counters[slot];
        self.counters[slot] += 1;
        let i = self.buffers.len();
        self.count_live(placement.buffer_type, placement.per_bank_bytes, true);
        // Placed top-down as the L1 allocator places it; an allocation the device cannot make
        // stops the call before any program reads the free L1 (the replay says so).
        let at = self.place_l1(&placement);
        self.l1_at.push(at);
        self.buffers.push(PlannedBuffer {
            index,
            what,
            role,
            tensor,
            placement,
            freed_before: None,
            program_cached: false,
            program_key: None,
        });
        self.refs.push(1);
        self.steps.push(Step::Alloc(i));
        i
    }

    /// Allocates an interleaved tensor.
    pub fn tensor(
        &mut self,
        what: &'static str,
        role: BufferRole,
        spec: TensorSpec,
        memory: BufferType,
    ) -> Result<DevTensor, CaseError> {
        let placement = spec.interleaved(self.device, memory)?;
        let buffer = self.alloc(what, role, spec.clone(), placement);
        Ok(DevTensor {
            spec,
            memory,
            shard: None,
            buffer,
        })
    }

    /// Allocates a tensor in a memory config (interleaved, or sharded in L1).
    pub fn tensor_in(
        &mut self,
        what: &'static str,
        role: BufferRole,
        spec: TensorSpec,
        config: MemoryConfig,
    ) -> Result<DevTensor, CaseError> {
        let shard = shard_of_config(&spec, self.device, config)?;
        let placement = placement_of(&spec, self.device, config.buffer_type(), shard.as_deref())?;
        let buffer = self.alloc(what, role, spec.clone(), placement);
        Ok(DevTensor {
            spec,
            memory: config.buffer_type(),
            shard,
            buffer,
        })
    }

    /// Allocates a tensor sharded by `shard` (an op's own shard spec, such as its output's).
    pub fn tensor_sharded(
        &mut self,
        what: &'static str,
        role: BufferRole,
        spec: TensorSpec,
        shard: Arc<ShardSpec>,
    ) -> Result<DevTensor, CaseError> {
        let placement = shard.placement(&spec, self.device)?;
        let buffer = self.alloc(what, role, spec.clone(), placement);
        Ok(DevTensor {
            spec,
            memory: BufferType::L1,
            shard: Some(shard),
            buffer,
        })
    }

    /// Marks `t`'s buffer (placed by the op itself, e.g. a conv's output) as sharded by `shard`.
    pub fn with_shard(&mut self, mut t: DevTensor, shard: ShardSpec) -> DevTensor {
        t.shard = Some(Arc::new(shard));
        t
    }

    /// A tensor that already lives on the device (allocated before the plan starts, owned by
    /// the caller): it has a buffer entry but no `Alloc` step, and the plan never frees it.
    pub fn external(
        &mut self,
        what: &'static str,
        spec: TensorSpec,
        memory: BufferType,
    ) -> Result<DevTensor, CaseError> {
        self.external_in(what, spec, MemoryConfig::Interleaved(memory))
    }

    /// [`PlanBuilder::external`] for a tensor in any memory config.
    pub fn external_in(
        &mut self,
        what: &'static str,
        spec: TensorSpec,
        config: MemoryConfig,
    ) -> Result<DevTensor, CaseError> {
        let shard = shard_of_config(&spec, self.device, config)?;
        self.external_with(what, spec, config.buffer_type(), shard)
    }

    /// [`PlanBuilder::external`] for a tensor in `memory`, sharded by `shard` if given (a tensor
    /// an earlier call left sharded as it made it).
    pub fn external_with(
        &mut self,
        what: &'static str,
        spec: TensorSpec,
        memory: BufferType,
        shard: Option<Arc<ShardSpec>>,
    ) -> Result<DevTensor, CaseError> {
        let placement = placement_of(&spec, self.device, memory, shard.as_deref())?;
        let slot = role_slot(BufferRole::Input);
        let index = self.counters[slot];
        self.counters[slot] += 1;
        let i = self.buffers.len();
        self.count_live(placement.buffer_type, placement.per_bank_bytes, true);
        // On the device's L1 state the input is already placed: its address comes from the
        // caller ([`PlanBuilder::set_input_l1_address`]); alone on the device, the call's
        // inputs are the first buffers of the bank.
        let at = if self.on_device_l1 {
            None
        } else {
            self.place_l1(&placement)
        };
        self.l1_at.push(at);
        self.buffers.push(PlannedBuffer {
            index,
            what,
            role: BufferRole::Input,
            tensor: spec.clone(),
            placement,
            freed_before: None,
            program_cached: false,
            program_key: None,
        });
        // One reference stays with the caller for good.
        self.refs.push(2);
        Ok(DevTensor {
            spec,
            memory,
            shard,
            buffer: i,
        })
    }

    /// A new tensor that shares `t`'s buffer (a view, an in-place result).
    pub fn share(&mut self, t: &DevTensor, spec: TensorSpec) -> DevTensor {
        self.refs[t.buffer] += 1;
        DevTensor {
            spec,
            memory: t.memory,
            shard: t.shard.clone(),
            buffer: t.buffer,
        }
    }

    /// Drops a tensor; its buffer is freed with its last tensor.
    pub fn release(&mut self, t: DevTensor) {
        if self.deallocated.contains(&t.buffer) {
            return;
        }
        let r = &mut self.refs[t.buffer];
        debug_assert!(*r > 0, "buffer {} released too often", t.buffer);
        *r = r.saturating_sub(1);
        if *r == 0 {
            self.free_buffer(t.buffer);
        }
    }

    /// `Tensor::deallocate(force=true)`: frees `t`'s buffer now, whatever other tensors still
    /// refer to it (conv2d's `deallocate_activation` frees its caller's input); releasing any of
    /// them later does nothing.
    pub fn deallocate(&mut self, t: &DevTensor) {
        if self.refs[t.buffer] == 0 || self.deallocated.contains(&t.buffer) {
            return;
        }
        self.refs[t.buffer] = 0;
        self.deallocated.push(t.buffer);
        self.free_buffer(t.buffer);
    }

    fn free_buffer(&mut self, i: usize) {
        self.buffers[i].freed_before = Some(self.steps.len());
        let placement = &self.buffers[i].placement;
        let (buffer_type, bytes) = (placement.buffer_type, placement.per_bank_bytes);
        self.count_live(buffer_type, bytes, false);
        if let Some(at) = self.l1_at[i].take() {
            self.l1_list.deallocate(at);
        }
        self.capture_inputs.retain(|(input, _)| *input != i);
        self.steps.push(Step::Free(i));
    }

    /// Marks `t`'s buffer as held by the runtime's cached program
    /// ([`PlannedBuffer::program_cached`]).
    pub fn mark_program_cached(&mut self, t: &DevTensor) {
        self.buffers[t.buffer].program_cached = true;
    }

    /// Marks `t`'s buffer as held by a cached program the runtime finds by `key`, its program
    /// hash, from any call ([`PlannedBuffer::program_key`]).
    pub fn mark_program_cached_by(&mut self, t: &DevTensor, key: u64) {
        let b = &mut self.buffers[t.buffer];
        b.program_cached = true;
        b.program_key = Some(key);
    }

    /// Buffers `from..` were made by a program the runtime finds in its cache (an earlier
    /// program of the same call with equal attributes): a real run makes none of them anew,
    /// so none is held with the cache.
    pub fn unmark_program_cached_from(&mut self, from: usize) {
        for b in self.buffers.iter_mut().skip(from) {
            b.program_cached = false;
            b.program_key = None;
        }
    }

    /// Marks the buffers of `t` as an output of the case (for naming).
    pub fn mark_output(&mut self, t: &DevTensor) {
        let b = &mut self.buffers[t.buffer];
        if b.role == BufferRole::Temporary {
            b.role = BufferRole::Output;
            b.index = self.counters[2];
            self.counters[2] += 1;
        }
    }

    pub fn run(&mut self, program: Program) {
        // A device run stops at a program it refuses or whose static buffers clash with the
        // lowest L1 buffer or pass the core's L1 (seen on p150: two float32 [62112] concatenated
        // in L1 clash at the concat, and the capture builds its tilize back on the whole bank).
        let run = program.as_run();
        let clashes = || {
            let end = run
                .cb_regions(self.device.l1_unreserved_base, self.device.dram_alignment)
                .iter()
                .map(|r| r.1)
                .max()
                .unwrap_or(0);
            end > self.device.l1_bytes_per_core
                || self
                    .l1_list
                    .lowest_occupied()
                    .is_some_and(|lowest| end > lowest)
        };
        if run.refused.is_some() || clashes() {
            self.device_run_stopped = true;
        }
        self.steps.push(Step::Run(program));
    }

    /// The bytes from the lowest occupied L1 address up to the top of the L1 allocator, holes
    /// included: what `get_max_l1_space` leaves out of the bank. On the device's L1 state
    /// ([`PlanBuilder::set_l1_state`]) or alone on the device alike: a buffer freed above a
    /// live one leaves a hole a factory cannot use (p150, `[2,352,207,132]` bfloat8_b conv2d
    /// in L1: the bfloat8_b copy at 354,688 under its freed bfloat16 round trip picks the
    /// device run's matmul blocks, which fit, where the sum of the live buffers would pick the
    /// capture's, which clash). Where an L1 buffer of the call did not fit (the device run
    /// stopped), the sum of the live buffers (whole DRAM-alignment granules each), saturating
    /// at u64::MAX.
    pub fn live_l1_per_bank(&self) -> u64 {
        self.read_live_l1
            .0
            .store(true, std::sync::atomic::Ordering::Relaxed);
        if self.on_device_l1 || !self.device_run_stopped {
            return self
                .l1_list
                .lowest_occupied()
                .map_or(0, |at| self.l1_list.end().saturating_sub(at));
        }
        u64::try_from(self.live_l1_per_bank).unwrap_or(u64::MAX)
    }

    /// [`PlanBuilder::live_l1_per_bank`] as a choice the capture makes itself (one the program
    /// cache does not keep, such as concat's route) reads it: without the capture's own inputs
    /// ([`PlanBuilder::place_capture_input`]), which it allocates for nobody (random concat
    /// seed 1207774 on p150: four bfloat16 [4,34168,93] in L1 along dim -1 are captured
    /// band-wise, though the L1 the inputs leave would route them row-major). A capture's plan
    /// ([`PlanBuilder::set_capture`]) on the device's L1 leaves out the call's own buffers too:
    /// the allocator `get_max_l1_space` reads holds none of them (p150 seed 1219323: a
    /// [1,3,1228,270] pair in L1 stacked on dim -1 is captured band-wise beside its two
    /// unsqueezed copies, which route the device run row-major).
    pub fn capture_live_l1_per_bank(&self) -> u64 {
        if self.on_device_l1 && (self.capture || !self.capture_inputs.is_empty()) {
            self.read_live_l1
                .0
                .store(true, std::sync::atomic::Ordering::Relaxed);
            // The capture's own buffers: its unplaced inputs and what the call allocated.
            let own: Vec<u64> = self
                .l1_at
                .iter()
                .enumerate()
                .filter_map(|(i, at)| {
                    let at = (*at)?;
                    let capture_input = self.capture_inputs.iter().any(|(b, _)| *b == i);
                    (capture_input || self.buffers[i].role != BufferRole::Input).then_some(at)
                })
                .collect();
            return self
                .l1_list
                .allocated_ranges()
                .map(|(start, _)| start)
                .find(|start| !own.contains(start))
                .map_or(0, |at| self.l1_list.end().saturating_sub(at));
        }
        let capture_inputs: u64 = self.capture_inputs.iter().map(|(_, b)| b).sum();
        self.live_l1_per_bank().saturating_sub(capture_inputs)
    }

    /// Marks the plan as a NO_DISPATCH capture's: the call's own buffers are recorded, not
    /// allocated, so the free L1 its choices read ([`PlanBuilder::capture_live_l1_per_bank`])
    /// holds only the buffers alive outside the call.
    pub fn set_capture(&mut self) {
        self.capture = true;
    }

    /// Where `t`'s buffer sits in L1 (its lowest address), as the plan places it: on the
    /// device's L1 state, or alone on the device. Read as a program choice does (the answer
    /// depends on the L1 outside the call).
    pub fn l1_address(&self, t: &DevTensor) -> Option<u64> {
        self.read_live_l1
            .0
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self.l1_at.get(t.buffer).copied().flatten()
    }

    /// The per-bank bytes of the call's own live L1 buffers (not read as a program choice).
    pub fn own_live_l1_per_bank(&self) -> u64 {
        u64::try_from(self.live_l1_per_bank).unwrap_or(u64::MAX)
    }

    /// The L1 allocator's `total_free_bytes` per bank (`get_statistics(L1)`, read by
    /// `op_slicing::determine_slice_config`): with the device's L1 state
    /// ([`PlanBuilder::set_l1_state`]), the free bytes of its list, every other live L1
    /// buffer of the model taken out (YOLOv12x 4320x7680 n150 #693: the runtime's "Available
    /// L1" is the bank less the model's live L1); for a call alone, `bank` less the call's own
    /// live L1. `None` once the device run stopped (the layout is then not known). Not a
    /// program choice the program cache keeps: the host decides it anew on every call.
    pub fn l1_total_free_per_bank(&self, bank: u64) -> Option<u64> {
        if !self.on_device_l1 {
            return Some(bank.saturating_sub(self.own_live_l1_per_bank()));
        }
        self.read_device_l1
            .0
            .store(true, std::sync::atomic::Ordering::Relaxed);
        if self.device_run_stopped {
            return None;
        }
        let capture_inputs: u64 = self.capture_inputs.iter().map(|(_, b)| b).sum();
        Some(self.l1_list.stats().free.saturating_add(capture_inputs))
    }

    /// Whether the plan depends on the device's L1 state: a program choice read the live L1
    /// ([`PlanBuilder::read_live_l1`]) or a host decision read its free bytes.
    pub fn depends_on_device_l1(&self) -> bool {
        self.read_live_l1()
            || self
                .read_device_l1
                .0
                .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Plans the call on the device's L1 as it is: `list` is the L1 allocator's free list with
    /// the call's inputs and every other live L1 buffer placed. Set before the inputs are
    /// added; L1 inputs then need their addresses ([`PlanBuilder::set_input_l1_address`]).
    pub fn set_l1_state(&mut self, list: FreeList) {
        self.l1_list = list;
        self.on_device_l1 = true;
    }

    /// Places L1 input `buffer` in the device's L1 state, which lacks it: a NO_DISPATCH
    /// capture's own input, allocated for nobody, but which the device run before the capture
    /// held there as the allocator places it, and that run built the programs the capture takes
    /// from the program cache (seen on n150: to_layout of a [363973] bfloat16 TILE tensor in L1
    /// to ROW_MAJOR captures untilize blocks of 60 tiles, capped by the L1 its input and output
    /// leave, not the 90 the L1 beside its output alone gives). The capture's own host decisions
    /// ([`PlanBuilder::l1_total_free_per_bank`]) still see the L1 without it. An input that does
    /// not fit is left out, as before: its upload failed, and so did the device run.
    pub fn place_capture_input(&mut self, buffer: usize) {
        if !self.on_device_l1 || self.l1_at.get(buffer).is_none_or(|at| at.is_some()) {
            return;
        }
        let placement = &self.buffers[buffer].placement;
        if placement.buffer_type != BufferType::L1 {
            return;
        }
        let per_bank = placement.per_bank_bytes;
        let Some(at) = self.l1_list.allocate(per_bank, false) else {
            return;
        };
        self.l1_at[buffer] = Some(at);
        let taken = self.l1_list.block_size(per_bank).unwrap_or(per_bank);
        self.capture_inputs.push((buffer, taken));
    }

    /// Where input `buffer` sits in the device's L1 (so that the call can free it, as conv2d's
    /// `deallocate_activation` does).
    pub fn set_input_l1_address(&mut self, buffer: usize, address: u64) {
        if let Some(at) = self.l1_at.get_mut(buffer) {
            *at = Some(address);
        }
    }

    /// Whether the plan so far read the live L1 (its choices may depend on L1 held outside
    /// the call).
    pub fn read_live_l1(&self) -> bool {
        self.read_live_l1
            .0
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    fn count_live(&mut self, buffer_type: BufferType, per_bank_bytes: u64, allocated: bool) {
        if buffer_type == BufferType::L1 {
            // The L1 free list takes blocks in multiples of the DRAM alignment (bank_manager.cpp;
            // seen on n150: a reshape's L1 budget 16 B under the pages' sum beside a
            // 1,159,024 B-per-bank output).
            let bytes = allocated_per_bank(per_bank_bytes, self.device.dram_alignment);
            self.live_l1_per_bank = if allocated {
                self.live_l1_per_bank + bytes
            } else {
                self.live_l1_per_bank - bytes
            };
        }
    }

    /// Live references of a buffer (for tests).
    pub fn refs(&self, buffer: usize) -> u32 {
        self.refs[buffer]
    }
}

/// Bytes the L1 free list takes for a buffer of `per_bank_bytes` per bank: whole granules of
/// `granule` (the DRAM alignment), at least one.
fn allocated_per_bank(per_bank_bytes: u64, granule: u64) -> u128 {
    let g = u128::from(granule.max(1));
    u128::from(per_bank_bytes).max(1).div_ceil(g) * g
}

/// Where a tensor in `config` goes: interleaved pages, or one shard per core.
pub fn placement_in(
    spec: &TensorSpec,
    device: &DeviceSpec,
    config: MemoryConfig,
) -> Result<Placement, CaseError> {
    let shard = shard_of_config(spec, device, config)?;
    placement_of(spec, device, config.buffer_type(), shard.as_deref())
}

/// The shard spec a memory config gives `spec` (none for an interleaved one): derived in this one
/// place for every tensor put in a sharded memory config.
pub fn shard_of_config(
    spec: &TensorSpec,
    device: &DeviceSpec,
    config: MemoryConfig,
) -> Result<Option<Arc<ShardSpec>>, CaseError> {
    match config {
        MemoryConfig::Interleaved(_) => Ok(None),
        MemoryConfig::Sharded(s) => match crate::shard::shard_spec(spec, device, s) {
            Ok(spec) => Ok(Some(Arc::new(spec))),
            Err(crate::shard::ShardError::Overflow(o)) => Err(o.into()),
            Err(e) => Err(CaseError::Invalid {
                op: "ttnn.empty".to_string(),
                problem: e.to_string(),
            }),
        },
    }
}

/// Where a tensor in `memory` goes: interleaved pages, or the shards of `shard` (in L1).
pub fn placement_of(
    spec: &TensorSpec,
    device: &DeviceSpec,
    memory: BufferType,
    shard: Option<&ShardSpec>,
) -> Result<Placement, CaseError> {
    match shard {
        Some(s) if memory == BufferType::L1 => Ok(s.placement(spec, device)?),
        _ => Ok(spec.interleaved(device, memory)?),
    }
}

/// A placement for a buffer that is not an interleaved tensor: `pages` pages of `page_size`
/// bytes over `banks` banks (the shard count for sharded buffers).
pub fn raw_placement(
    device: &DeviceSpec,
    buffer_type: BufferType,
    pages: u64,
    page_size: u64,
    banks: u64,
) -> Result<Placement, size::Overflow> {
    let aligned_page_size = size::round_up(
        page_size,
        device.alignment(buffer_type),
        "aligned page size",
    )?;
    Ok(Placement {
        buffer_type,
        banks,
        page_size,
        aligned_page_size,
        pages,
        total_bytes: size::mul(pages, page_size, "buffer size")?,
        per_bank_bytes: size::mul(
            size::ceil_div(pages, banks.max(1)),
            aligned_page_size,
            "bytes per bank",
        )?,
        sharded: false,
        traced_as: None,
        strategy: None,
    })
}

/// A sharded buffer: `pages` pages of `page_size` bytes (its size as the graph capture reports
/// it) in `shards` shards of `shard_pages` pages each, one shard per core. tt-metal's
/// `BufferDistributionSpec` reserves a whole shard (pages rounded up to the L1 alignment) on
/// every core it uses and the allocator asks for `shards × shard bytes`: that is the
/// "allocate X B across N banks" of its OOM message.
pub fn sharded_placement(
    device: &DeviceSpec,
    buffer_type: BufferType,
    pages: u64,
    page_size: u64,
    shards: u64,
    shard_pages: u64,
) -> Result<Placement, size::Overflow> {
    // Interleaved over `shards` banks, but each bank reserves a whole shard (at least the
    // interleaved share: `shards × shard_pages` covers every page).
    let mut p = raw_placement(device, buffer_type, pages, page_size, shards)?;
    p.per_bank_bytes = size::mul(shard_pages, p.aligned_page_size, "bytes per shard")?;
    p.sharded = true;
    Ok(p)
}

impl Placement {
    /// The memory the graph capture reports the buffer in.
    pub fn traced_type(&self) -> BufferType {
        self.traced_as.unwrap_or(self.buffer_type)
    }

    /// What the allocator is asked for: the OOM message's "allocate X B".
    pub fn request(&self) -> BufferRequest {
        let aligned_size = if self.sharded {
            self.banks.saturating_mul(self.per_bank_bytes)
        } else {
            self.pages.saturating_mul(self.aligned_page_size)
        };
        BufferRequest {
            buffer_type: self.buffer_type,
            aligned_size,
            banks: self.banks,
            per_bank: self.per_bank_bytes,
        }
    }
}

/// Where a replay stopped.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Failure {
    /// Index in the plan's steps.
    pub step: usize,
    pub error: MemoryError,
}

/// Per-core peaks of a sequence of steps as the graph capture computes them (NO_DISPATCH: no
/// allocation is refused): L1 buffers by their per-bank size, each program's traced CBs until
/// the next program starts.
pub fn peaks(buffers: &[PlannedBuffer], steps: &[Step]) -> Peaks {
    let mut p = Peaks::default();
    let (mut l1, mut cb, mut dfb, mut sp) = (0u64, 0u64, 0u64, 0u64);
    for s in steps {
        match s {
            Step::Alloc(i) | Step::Free(i) => {
                let b = &buffers[*i];
                if b.placement.traced_type() == BufferType::L1 {
                    if matches!(s, Step::Alloc(_)) {
                        l1 = l1.saturating_add(b.placement.per_bank_bytes);
                    } else {
                        l1 = l1.saturating_sub(b.placement.per_bank_bytes);
                    }
                }
            }
            // A refused program never lays out its buffers, and the op raises there: nothing
            // after it runs.
            Step::Run(program) if program.refused.is_some() => break,
            Step::Run(program) => {
                (cb, dfb, sp) = program.traced_sums();
            }
        }
        p.cb = p.cb.max(cb);
        p.dataflow = p.dataflow.max(dfb);
        p.l1 = p.l1.max(l1);
        p.total = p
            .total
            .max(l1.saturating_add(cb).saturating_add(dfb).saturating_add(sp));
    }
    p
}

/// Replays steps on `memory`. On the first refusal every buffer the replay allocated and has
/// not freed is freed again (as tt-metal's tensors are when the op's exception unwinds), so the
/// device is back where it started; the failure says which step failed and why.
pub fn replay(
    memory: &mut DeviceMemory,
    buffers: &[PlannedBuffer],
    steps: &[Step],
    addresses: &mut Vec<Option<u64>>,
) -> Result<(), Failure> {
    addresses.clear();
    addresses.resize(buffers.len(), None);
    // A device's first run keeps the buffers its programs hold with the program cache (freed at
    // the end of the replay, as the call's others); a later program of the same hash finds its
    // program there and makes none (a stack's equal unsqueezes, one page map between them).
    let mut held_keys: Vec<u64> = Vec::new();
    let mut held: Vec<usize> = Vec::new();
    for (k, s) in steps.iter().enumerate() {
        let result = match s {
            Step::Alloc(i)
                if buffers[*i]
                    .program_key
                    .is_some_and(|k| held_keys.contains(&k)) =>
            {
                Ok(())
            }
            Step::Alloc(i) => {
                let p = &buffers[*i].placement;
                memory
                    .allocate(&p.request())
                    .map(|a| addresses[*i] = Some(a))
                    .map_err(MemoryError::OutOfMemory)
            }
            Step::Free(i) if buffers[*i].program_cached => {
                if addresses[*i].is_some() {
                    held.push(*i);
                    held_keys.extend(buffers[*i].program_key);
                }
                Ok(())
            }
            Step::Free(i) => {
                if let Some(a) = addresses[*i].take() {
                    memory.deallocate(buffers[*i].placement.buffer_type, a);
                }
                Ok(())
            }
            Step::Run(program) => {
                let run = program.as_run();
                memory
                    .run_laid_out(&crate::alloc::CbLayout::of(run, memory.device))
                    .map_err(MemoryError::Cb)
            }
        };
        if let Err(error) = result {
            for (i, a) in addresses.iter_mut().enumerate() {
                if let Some(a) = a.take() {
                    memory.deallocate(buffers[i].placement.buffer_type, a);
                }
            }
            return Err(Failure { step: k, error });
        }
    }
    for i in held {
        if let Some(a) = addresses[i].take() {
            memory.deallocate(buffers[i].placement.buffer_type, a);
        }
    }
    Ok(())
}

/// What a buffer is to the case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BufferRole {
    Input,
    Temporary,
    Output,
}

/// One buffer the case allocates.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedBuffer {
    /// Index among the op's inputs, temporaries or outputs (by `role`).
    pub index: usize,
    /// What the buffer is to the op (`input`, `weight`, `indices`, `square`, ...).
    pub what: &'static str,
    pub role: BufferRole,
    pub tensor: TensorSpec,
    pub placement: Placement,
    /// Index in [`crate::case::Plan::steps`] of the step that frees it (`None` while it lives on).
    pub freed_before: Option<usize>,
    /// Held by the program the runtime caches (a conv's halo and reader config tensors): made
    /// by the first run of the call, kept with the cached program, not made again by the same
    /// call on the same inputs until the program cache is cleared.
    pub program_cached: bool,
    /// The cached program's own identity where the runtime finds it by its program hash from
    /// any call (a conv's reader indices: a Conv2d program with equal attributes, whatever fed
    /// its halo); `None`: only a repeat of the same call on the same inputs finds it.
    pub program_key: Option<u64>,
}

impl PlannedBuffer {
    /// `input 0 (input)`, `output 1 (indices)`, `temporary 0 (square)`.
    pub fn name(&self) -> String {
        let role = match self.role {
            BufferRole::Input => "input",
            BufferRole::Temporary => "temporary",
            BufferRole::Output => "output",
        };
        format!("{role} {} ({})", self.index, self.what)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::N150;

    /// A replay keeps a buffer its cached program holds to the end (a fresh device's first run),
    /// and a later program of the same hash makes none: on n150's 680-tile L1 bank, a held 1-tile
    /// map leaves room for 679 tiles, not 680, and a second map of its hash takes no more.
    #[test]
    fn replay_holds_program_cached_buffers_once_per_program_hash() {
        let tiles = |per_bank: i64| {
            let rows = 32 * 64 * per_bank;
            TensorSpec::new(
                Shape::new(&[1, 1, rows, 32]).unwrap(),
                DType::Bfloat16,
                Layout::Tile,
            )
        };
        let run = |maps: usize, rest: i64| {
            let mut b = PlanBuilder::new(&N150);
            for _ in 0..maps {
                let map = b
                    .tensor("map", BufferRole::Temporary, tiles(1), BufferType::L1)
                    .unwrap();
                b.mark_program_cached_by(&map, 7);
                b.release(map);
            }
            let rest = b
                .tensor("rest", BufferRole::Temporary, tiles(rest), BufferType::L1)
                .unwrap();
            b.release(rest);
            let mut memory = DeviceMemory::open(&N150, 0).unwrap();
            replay(&mut memory, &b.buffers, &b.steps, &mut Vec::new()).is_ok()
        };
        assert!(run(2, 679));
        assert!(!run(1, 680));
        assert!(run(0, 680));
    }

    /// A buffer of fewer bytes per bank than the DRAM alignment takes a whole granule of L1
    /// from the free list: what a factory reading the lowest occupied address sees.
    #[test]
    fn live_l1_counts_whole_allocation_granules() {
        let mut b = PlanBuilder::new(&N150);
        let rows = TensorSpec::new(
            Shape::new(&[3, 5]).unwrap(),
            DType::Bfloat16,
            Layout::RowMajor,
        );
        let t = b.external("input", rows, BufferType::L1).unwrap();
        assert_eq!(b.buffers[t.buffer].placement.per_bank_bytes, 16);
        assert_eq!(b.live_l1_per_bank(), N150.dram_alignment);
    }

    /// The running count of live L1 bytes equals the sum over the buffers not yet freed, as
    /// buffers in L1 and DRAM (external ones too) come and go; with no hole below the top,
    /// the free L1 a factory reads leaves out as much.
    #[test]
    fn live_l1_per_bank_follows_allocations_and_frees() {
        let live_sum = |b: &PlanBuilder| -> u64 {
            b.buffers
                .iter()
                .filter(|x| x.freed_before.is_none() && x.placement.buffer_type == BufferType::L1)
                .map(|x| {
                    let granule = u128::from(N150.dram_alignment);
                    u128::from(x.placement.per_bank_bytes).div_ceil(granule) * granule
                })
                .sum::<u128>() as u64
        };
        let spec = |dims: &[i64]| {
            TensorSpec::new(Shape::new(dims).unwrap(), DType::Bfloat16, Layout::Tile)
        };
        let mut b = PlanBuilder::new(&N150);
        let input = b
            .external("input", spec(&[1, 1, 64, 96]), BufferType::L1)
            .unwrap();
        let mut held = Vec::new();
        for (i, memory) in [BufferType::L1, BufferType::Dram, BufferType::L1]
            .into_iter()
            .cycle()
            .take(9)
            .enumerate()
        {
            let dims = [1, 1, 32 * (i as i64 + 1), 64];
            held.push(
                b.tensor("t", BufferRole::Temporary, spec(&dims), memory)
                    .unwrap(),
            );
            assert_eq!(b.own_live_l1_per_bank(), live_sum(&b));
            if i % 2 == 1 {
                b.release(held.remove(0));
                assert_eq!(b.own_live_l1_per_bank(), live_sum(&b));
            }
        }
        let view = b.share(&held[0], held[0].spec.clone());
        b.release(held.remove(0));
        assert_eq!(
            b.own_live_l1_per_bank(),
            live_sum(&b),
            "a shared buffer stays live"
        );
        b.release(view);
        for t in held {
            b.release(t);
        }
        assert_eq!(b.own_live_l1_per_bank(), live_sum(&b));
        assert!(
            b.own_live_l1_per_bank() > 0,
            "the caller's input stays live"
        );
        assert_eq!(
            b.live_l1_per_bank(),
            live_sum(&b),
            "no hole: the span is the sum"
        );
        b.release(input);
        assert_eq!(b.own_live_l1_per_bank(), live_sum(&b));
    }

    /// Alone on the device too, the free L1 a factory reads ends at the lowest occupied
    /// address: a buffer freed above a live one is a hole it cannot use. The runtime's numbers
    /// (p150, l1_small_size 32,768, `[2,352,207,132]` bfloat8_b conv2d in L1, normal-mode graph
    /// capture of the call on the mock device): the input at 1,314,880, its bfloat16 copy at
    /// 890,944 (423,936 B), the reshaped copy at 540,736 (350,208 B), the bfloat8_b copy at
    /// 354,688 (186,048 B); the two bfloat16 ones freed, the matmul's factory finds 242,944 B
    /// below the bfloat8_b copy.
    #[test]
    fn live_l1_alone_on_the_device_reads_the_lowest_address() {
        use crate::device::P150;
        let spec = |dtype| {
            TensorSpec::new(
                Shape::new(&[2, 207, 132, 352]).unwrap(),
                dtype,
                Layout::Tile,
            )
        };
        let mut b = PlanBuilder::with_l1_small(&P150, 32_768);
        let input = b
            .external("input", spec(DType::Bfloat8B), BufferType::L1)
            .unwrap();
        let wide = b
            .tensor(
                "typecast",
                BufferRole::Temporary,
                spec(DType::Bfloat16),
                BufferType::L1,
            )
            .unwrap();
        let reshaped = TensorSpec::new(
            Shape::new(&[1, 1, 54_648, 352]).unwrap(),
            DType::Bfloat16,
            Layout::Tile,
        );
        let reshaped = b
            .tensor("reshape", BufferRole::Temporary, reshaped, BufferType::L1)
            .unwrap();
        let narrow = TensorSpec::new(
            Shape::new(&[1, 1, 54_648, 352]).unwrap(),
            DType::Bfloat8B,
            Layout::Tile,
        );
        let narrow = b
            .tensor("typecast", BufferRole::Temporary, narrow, BufferType::L1)
            .unwrap();
        let at = |b: &PlanBuilder, t: &DevTensor| b.l1_address(t).unwrap();
        assert_eq!(
            [&input, &wide, &reshaped, &narrow].map(|t| at(&b, t)),
            [1_314_880, 890_944, 540_736, 354_688]
        );
        b.release(reshaped);
        b.release(wide);
        assert_eq!(b.own_live_l1_per_bank(), 225_216 + 186_048);
        assert_eq!(b.live_l1_per_bank(), 1_540_096 - 354_688);
        assert_eq!(b.l1_free_below_lowest(), Some(354_688 - 111_744));
        b.release(narrow);
        b.release(input);
    }

    /// On the device's L1 state the free L1 a factory reads ends at the lowest occupied
    /// address: a tensor outside the call below the input counts, and a hole the call leaves
    /// above its output does not give L1 back (the allocator's lowest address stays put).
    #[test]
    fn live_l1_on_the_device_state_reads_the_lowest_address() {
        let spec = |dims: &[i64]| {
            TensorSpec::new(Shape::new(dims).unwrap(), DType::Bfloat16, Layout::Tile)
        };
        let per_bank = |t: &DevTensor, b: &PlanBuilder| {
            allocated_per_bank(
                b.buffers[t.buffer].placement.per_bank_bytes,
                N150.dram_alignment,
            ) as u64
        };
        let memory = DeviceMemory::open(&N150, 0).unwrap();
        let mut list = memory.l1.list().clone();
        let input_at = list.allocate(2048, false).unwrap();
        let other = list.allocate(4096, false).unwrap();
        assert!(other < input_at);
        // A builder on `list` whose caller-owned input sits at `input_at`.
        let builder_with_input = || {
            let mut b = PlanBuilder::new(&N150);
            b.set_l1_state(list.clone());
            let input = b
                .external("input", spec(&[1, 1, 32, 32 * 64]), BufferType::L1)
                .unwrap();
            b.set_input_l1_address(input.buffer, input_at);
            (b, input)
        };
        let (mut b, input) = builder_with_input();
        let outside = list.end() - other;
        assert_eq!(b.live_l1_per_bank(), outside, "the other tensor counts");
        let temp = b
            .tensor(
                "temp",
                BufferRole::Temporary,
                spec(&[1, 1, 64, 64 * 64]),
                BufferType::L1,
            )
            .unwrap();
        let out = b
            .tensor(
                "out",
                BufferRole::Temporary,
                spec(&[1, 1, 32, 64 * 64]),
                BufferType::L1,
            )
            .unwrap();
        let with_both = outside + per_bank(&temp, &b) + per_bank(&out, &b);
        assert_eq!(b.live_l1_per_bank(), with_both);
        b.release(temp);
        assert_eq!(
            b.live_l1_per_bank(),
            with_both,
            "the hole stays below nothing"
        );
        b.release(input);
        assert_eq!(b.live_l1_per_bank(), with_both);
        assert!(
            b.own_live_l1_per_bank() < with_both,
            "the call's own bytes are fewer than the span"
        );
        // The input was the caller's: its address is freed only by a deallocation.
        let (mut b, input) = builder_with_input();
        b.deallocate(&input);
        assert_eq!(b.live_l1_per_bank(), outside);
    }

    /// One L1 list serves both figures: alone on the device the call's inputs are placed first
    /// (top-down), so the free L1 below the lowest address drops by the input and does not come
    /// back when a buffer above a live one is freed; on the device's state it is the bank less
    /// the span [`PlanBuilder::live_l1_per_bank`] reads.
    #[test]
    fn free_l1_below_lowest_reads_the_one_l1_list() {
        let spec = |rows: i64| {
            TensorSpec::new(
                Shape::new(&[1, 1, 32 * rows, 32 * 64]).unwrap(),
                DType::Bfloat16,
                Layout::Tile,
            )
        };
        let bytes = |t: &DevTensor, b: &PlanBuilder| {
            allocated_per_bank(
                b.buffers[t.buffer].placement.per_bank_bytes,
                N150.dram_alignment,
            ) as u64
        };
        let mut b = PlanBuilder::new(&N150);
        assert_eq!(b.l1_free_below_lowest(), Some(N150.l1_bank_bytes));
        let input = b.external("input", spec(1), BufferType::L1).unwrap();
        let after_input = N150.l1_bank_bytes - bytes(&input, &b);
        assert_eq!(b.l1_free_below_lowest(), Some(after_input));
        let upper = b
            .tensor("upper", BufferRole::Temporary, spec(2), BufferType::L1)
            .unwrap();
        let lower = b
            .tensor("lower", BufferRole::Temporary, spec(1), BufferType::L1)
            .unwrap();
        let below_all = after_input - bytes(&upper, &b) - bytes(&lower, &b);
        assert_eq!(b.l1_free_below_lowest(), Some(below_all));
        b.release(upper);
        assert_eq!(
            b.l1_free_below_lowest(),
            Some(below_all),
            "a hole above stays taken"
        );
        b.release(lower);
        assert_eq!(b.l1_free_below_lowest(), Some(after_input));
        // A buffer that does not fit stops the device run: the layout after it is unknown.
        let huge = TensorSpec::new(
            Shape::new(&[1, 1, 32 * 64 * 1024, 32]).unwrap(),
            DType::Bfloat16,
            Layout::Tile,
        );
        b.tensor("huge", BufferRole::Temporary, huge, BufferType::L1)
            .unwrap();
        assert_eq!(b.l1_free_below_lowest(), None);

        let memory = DeviceMemory::open(&N150, 0).unwrap();
        let mut list = memory.l1.list().clone();
        let input_at = list.allocate(4096, false).unwrap();
        list.allocate(8192, false).unwrap();
        let mut b = PlanBuilder::new(&N150);
        b.set_l1_state(list);
        let input = b.external("input", spec(1), BufferType::L1).unwrap();
        b.set_input_l1_address(input.buffer, input_at);
        let free = b.l1_free_below_lowest().unwrap();
        assert_eq!(free, N150.l1_bank_bytes - b.live_l1_per_bank());
        assert_eq!(free, N150.l1_bank_bytes - 4096 - 8192);
    }

    /// `determine_slice_config`'s free L1 (`total_free_bytes`): a call alone counts its own
    /// L1; on the device's state, every live L1 buffer of the model too, holes above included.
    #[test]
    fn total_free_l1_counts_the_model_s_other_live_l1_on_the_device() {
        let spec = TensorSpec::new(
            Shape::new(&[1, 1, 32, 32 * 64]).unwrap(),
            DType::Bfloat16,
            Layout::Tile,
        );
        let mut alone = PlanBuilder::new(&N150);
        let bank = N150.l1_bank_bytes;
        assert_eq!(alone.l1_total_free_per_bank(bank), Some(bank));
        alone
            .external("input", spec.clone(), BufferType::L1)
            .unwrap();
        assert_eq!(
            alone.l1_total_free_per_bank(bank),
            Some(bank - alone.own_live_l1_per_bank())
        );
        assert!(!alone.read_live_l1(), "not a program choice");

        let memory = DeviceMemory::open(&N150, 0).unwrap();
        let mut list = memory.l1.list().clone();
        let other = list.allocate(8192, false).unwrap();
        let hole = list.allocate(4096, false).unwrap();
        list.allocate(4096, false).unwrap();
        list.deallocate(hole);
        let mut b = PlanBuilder::new(&N150);
        b.set_l1_state(list);
        assert!(other > 0);
        assert_eq!(b.l1_total_free_per_bank(bank), Some(bank - 8192 - 4096));
        let t = b
            .tensor("own", BufferRole::Temporary, spec, BufferType::L1)
            .unwrap();
        let own = allocated_per_bank(
            b.buffers[t.buffer].placement.per_bank_bytes,
            N150.dram_alignment,
        ) as u64;
        assert_eq!(
            b.l1_total_free_per_bank(bank),
            Some(bank - 8192 - 4096 - own)
        );
        assert!(!b.read_live_l1(), "the host decides it on every call");
        assert!(b.depends_on_device_l1(), "a plan for this L1 state only");
        assert!(!alone.depends_on_device_l1());
    }

    /// A capture's own L1 input, which the device's L1 state lacks, is placed as the device run
    /// before the capture placed it: program choices read the L1 it leaves, the capture's host
    /// decisions the L1 without it, until the call frees it.
    #[test]
    fn capture_inputs_count_for_the_device_run_only() {
        // Four tiles per bank: 8 KiB, whole DRAM-alignment granules.
        let spec = |rows: i64| {
            TensorSpec::new(
                Shape::new(&[1, 1, 32 * rows, 32 * 64]).unwrap(),
                DType::Bfloat16,
                Layout::Tile,
            )
        };
        let memory = DeviceMemory::open(&N150, 0).unwrap();
        let mut list = memory.l1.list().clone();
        let other = list.allocate(8192, false).unwrap();
        let mut b = PlanBuilder::new(&N150);
        b.set_l1_state(list);
        let bank = N150.l1_bank_bytes;
        let before = b.l1_total_free_per_bank(bank).unwrap();
        let input = b.external("input", spec(4), BufferType::L1).unwrap();
        let dram = b.external("weights", spec(4), BufferType::Dram).unwrap();
        b.place_capture_input(input.buffer);
        b.place_capture_input(dram.buffer);
        let per_bank = b.buffers[input.buffer].placement.per_bank_bytes;
        assert_eq!(b.l1_address(&input), Some(other - per_bank));
        assert_eq!(b.live_l1_per_bank(), 8192 + per_bank);
        assert_eq!(b.l1_free_below_lowest(), Some(bank - 8192 - per_bank));
        assert_eq!(b.l1_total_free_per_bank(bank), Some(before));
        // Placed once only.
        b.place_capture_input(input.buffer);
        assert_eq!(b.live_l1_per_bank(), 8192 + per_bank);
        b.deallocate(&input);
        assert_eq!(b.live_l1_per_bank(), 8192);
        assert_eq!(b.l1_total_free_per_bank(bank), Some(before));
    }

    /// A capture's route reads the L1 below the lowest buffer alive outside the call: neither
    /// its unplaced inputs nor what the call allocated (a stack's unsqueezed copies) are in the
    /// allocator `get_max_l1_space` reads; a device run's plan counts both (p150 seed 1219323).
    #[test]
    fn a_capture_routes_without_the_calls_own_buffers() {
        let spec = TensorSpec::new(
            Shape::new(&[1, 1, 32 * 4, 32 * 64]).unwrap(),
            DType::Bfloat16,
            Layout::Tile,
        );
        let memory = DeviceMemory::open(&N150, 0).unwrap();
        let mut list = memory.l1.list().clone();
        let other = list.allocate(8192, false).unwrap();
        let plan = |capture: bool| {
            let mut b = PlanBuilder::new(&N150);
            let mut list = list.clone();
            let per_bank = 8192;
            let at = (!capture).then(|| list.allocate(per_bank, false).unwrap());
            b.set_l1_state(list);
            if capture {
                b.set_capture();
            }
            let input = b.external("input", spec.clone(), BufferType::L1).unwrap();
            assert_eq!(b.buffers[input.buffer].placement.per_bank_bytes, per_bank);
            match at {
                Some(at) => b.set_input_l1_address(input.buffer, at),
                None => b.place_capture_input(input.buffer),
            }
            let copy = b
                .tensor("copy", BufferRole::Temporary, spec.clone(), BufferType::L1)
                .unwrap();
            (b, input, copy, per_bank)
        };
        let (b, _, copy, per_bank) = plan(false);
        assert!(b.l1_address(&copy).is_some_and(|at| at < other - per_bank));
        assert_eq!(b.capture_live_l1_per_bank(), 8192 + 2 * per_bank);
        let (mut b, input, copy, _) = plan(true);
        assert_eq!(b.live_l1_per_bank(), 8192 + 2 * per_bank);
        assert_eq!(b.capture_live_l1_per_bank(), 8192);
        b.release(copy);
        b.release(input);
        assert_eq!(b.capture_live_l1_per_bank(), 8192);
    }
}
