//! The `sim` backend: an in-process device built on memmodel. It needs nothing installed and
//! answers in microseconds.
//!
//! - Memory is [`memmodel::alloc::DeviceMemory`]: tt-metal's banked free lists (FIRST fit, L1
//!   top-down, DRAM bottom-up, L1_SMALL at the top of L1, every request rounded to the DRAM
//!   alignment) and the program checks of `program.cpp` (circular buffers against the lowest L1
//!   buffer and against the end of L1).
//! - [`DeviceApi::run`] interprets the same [`Invocation`] the `metal` backend runs, through
//!   memmodel's per-op plans ([`memmodel::exec`]), and replays the plan's allocations, frees and
//!   programs on that memory.
//! - Failures carry tt-metal's own wording and numbers, typed from their numbers
//!   ([`crate::message::out_of_memory_error`]: the same error the real runtime's parser,
//!   [`crate::message::parse_runtime_error`], makes of that text); a failed call gives back every
//!   buffer it allocated, so memory returns to where it was.
//! - [`Device::begin_capture`] gives NO_DISPATCH semantics: nothing is allocated or checked and
//!   the capture reports per-core peaks and every allocation, like TT-NN's graph capture.
//! - [`Device::fail_nth_allocation`] makes a later allocation fail (fault injection).

use crate::api::{
    Capture, CapturedBuffer, CapturedCircularBuffer, CoreUsage, DeviceApi, MemoryView, TensorDesc,
    TensorInfo,
};
use crate::error::{Error, Result};
use crate::message::{circular_buffer_error, out_of_memory_error, parse_runtime_error};
use memmodel::alloc::{CbLayout, DeviceMemory, FreeList, OutOfMemory};
use memmodel::invoke::Invocation;
use memmodel::plan::{DevTensor, PlanBuilder, Step};
use memmodel::program::{CbKind, Program};
use memmodel::tensor::Placement;
use memmodel::trace::Event;
use memmodel::{BufferType, DeviceSpec, Layout, TensorSpec};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// A fast, non-cryptographic hasher (the Fx hash rustc uses) for the device's own maps: buffer
/// ids and plan keys come from this process, never from an adversary, and SipHash was a tenth
/// of a cached sim case's time.
#[derive(Default, Clone, Copy)]
struct FxHasher(u64);

impl std::hash::Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut b = [0u8; 8];
            b[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(b) ^ ((rest.len() as u64) << 56));
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.add(v);
    }
    fn write_usize(&mut self, v: usize) {
        self.add(v as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

impl FxHasher {
    fn add(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

type FastMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<FxHasher>>;

/// What `sim` reports as its runtime version.
pub const SIM_VERSION: &str = concat!("sim ", env!("CARGO_PKG_VERSION"));

/// How to open a sim device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeviceOptions {
    /// L1_SMALL bytes reserved per bank at open (rounded up to the DRAM alignment, as tt-metal
    /// does).
    pub l1_small_size: u64,
}

impl DeviceOptions {
    pub fn with_l1_small(l1_small_size: u64) -> Self {
        DeviceOptions { l1_small_size }
    }
}

type BufId = u64;

/// Where a buffer is: placed at an address, or only recorded by a capture (its allocation
/// ordinal in the capture's trace).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Addr {
    At(u64),
    Captured(usize),
}

impl Addr {
    fn placed(self) -> Option<u64> {
        match self {
            Addr::At(a) => Some(a),
            Addr::Captured(_) => None,
        }
    }
}

#[derive(Debug, Clone)]
struct LiveBuffer {
    buffer_type: BufferType,
    address: Addr,
    size: u64,
    page_size: u64,
    /// Tensors referring to it.
    refs: u32,
}

/// One event of a NO_DISPATCH capture.
#[derive(Debug, Clone)]
enum CaptureEvent {
    /// A buffer, with its sharding (a tensor in a sharded memory config) and shard count.
    Alloc(CapturedBuffer, Option<memmodel::ShardStrategy>, u64),
    Free {
        ordinal: usize,
    },
    Program(Program),
}

#[derive(Debug, Clone)]
struct State {
    spec: &'static DeviceSpec,
    mem: DeviceMemory,
    buffers: FastMap<BufId, LiveBuffer>,
    next_id: BufId,
    capture: Option<Vec<CaptureEvent>>,
    /// Allocations made so far (placed ones; captures do not count).
    allocations: u64,
    /// Fail the allocation with this number (1-based, counted with `allocations`).
    fail_at: Option<u64>,
    /// Calls whose programs the runtime has cached (run for real once), and the buffers those
    /// programs hold ([`memmodel::case::PlannedBuffer::program_cached`]) until the cache is
    /// cleared.
    program_cache: std::collections::HashSet<Arc<PlanKey>, std::hash::BuildHasherDefault<FxHasher>>,
    /// Programs the runtime has cached by their own hash, found from any call
    /// ([`memmodel::case::PlannedBuffer::program_key`]).
    cached_programs: std::collections::HashSet<u64, std::hash::BuildHasherDefault<FxHasher>>,
    held_by_programs: Vec<(BufferType, Addr)>,
    /// The plan of the first real run of each call whose program choice read the free L1 (the
    /// programs the runtime's cache keeps for it; [`Device::check_program_cache_l1`]).
    l1_choices: HashMap<Arc<PlanKey>, Arc<Plan>>,
    /// The plan of the first real run of each call whose program choice read the free L1,
    /// whether it ran to the end or not: its programs (as a capture after it records them:
    /// [`Program`] itself, not [`Program::as_run`]) are the ones the runtime's cache holds when
    /// a NO_DISPATCH capture of the same call follows ([`capture_programs`]).
    device_run_plans: HashMap<Arc<PlanKey>, Arc<Plan>>,
    /// [`DeviceApi::run`]'s record of where each buffer of the plan it replays is, kept between
    /// calls for its allocation ([`State::keep_placed`]).
    placed: Vec<Option<Addr>>,
    /// A discarded fork ([`Device::fork`]): its tensors drop without giving their buffers back
    /// (nobody reads its memory again).
    detached: bool,
}

impl State {
    /// Keeps `placed` for the next call, unless a very large plan grew it.
    fn keep_placed(&mut self, placed: Vec<Option<Addr>>) {
        const KEPT: usize = 4096;
        if placed.capacity() <= KEPT {
            self.placed = placed;
        }
    }

    fn view(&self, buffer_type: BufferType) -> MemoryView {
        let s = self.mem.stats(buffer_type);
        MemoryView {
            buffer_type,
            banks: self.spec.banks(buffer_type),
            bank_bytes: s.total,
            allocated_per_bank: s.allocated,
            free_per_bank: s.free,
            largest_free_block_per_bank: s.largest_free,
        }
    }

    /// Places a buffer (or, while capturing, records it); the injected fault fails here.
    fn allocate(&mut self, p: &Placement) -> Result<Addr> {
        if let Some(events) = &mut self.capture {
            let ordinal = events
                .iter()
                .filter(|e| matches!(e, CaptureEvent::Alloc(..)))
                .count();
            events.push(CaptureEvent::Alloc(
                CapturedBuffer {
                    size: p.total_bytes,
                    max_size_per_bank: p.per_bank_bytes,
                    page_size: p.page_size,
                    // The runtime's capture names some buffers by another memory than they
                    // live in (conv2d's and max_pool2d's config tensors sit in L1_SMALL and
                    // are reported, and counted in its L1 peak, as L1).
                    buffer_type: p.traced_type().tt_name().to_string(),
                },
                p.strategy,
                p.banks,
            ));
            return Ok(Addr::Captured(ordinal));
        }
        self.allocations += 1;
        let req = p.request();
        if self.fail_at == Some(self.allocations) {
            self.fail_at = None;
            let s = self.mem.stats(p.buffer_type);
            let oom = OutOfMemory {
                buffer_type: p.buffer_type,
                size: req.aligned_size,
                banks: req.banks,
                per_bank: req.per_bank,
                bank_size: s.total,
                allocated: s.allocated,
                free: s.free,
                largest_free_block: s.largest_free,
            };
            return Err(out_of_memory_error(&oom));
        }
        self.mem
            .allocate(&req)
            .map(Addr::At)
            .map_err(|o| out_of_memory_error(&o))
    }

    fn release(&mut self, buffer_type: BufferType, address: Addr) {
        match address {
            Addr::At(a) => {
                self.mem.deallocate(buffer_type, a);
            }
            Addr::Captured(ordinal) => {
                if let Some(events) = &mut self.capture {
                    events.push(CaptureEvent::Free { ordinal });
                }
            }
        }
    }

    /// Runs `program`, whose circular buffers lay out as `layout` on this device.
    fn run_program(&mut self, program: &Program, layout: &CbLayout) -> Result<()> {
        // A device run raises its own program's words where both are refused (an untilize's
        // block limit beside its output, where the capture sees the whole bank).
        if self.capture.is_none() {
            if let Some(message) = &program.as_run().refused {
                return Err(parse_runtime_error(message));
            }
        }
        // tt-metal refuses some programs whatever the memory (a capture too ends there).
        if let Some(message) = &program.refused {
            return Err(parse_runtime_error(message));
        }
        if let Some(events) = &mut self.capture {
            events.push(CaptureEvent::Program(program.clone()));
            return Ok(());
        }
        // The device run's own program may be refused where the capture's is not (a tilize
        // whose blocks follow the L1 left free).
        if let Some(message) = &program.as_run().refused {
            return Err(parse_runtime_error(message));
        }
        self.mem
            .run_laid_out(layout)
            .map_err(|e| circular_buffer_error(&e))
    }

    /// Frees a live buffer whatever refers to it (an op that deallocates its input): the
    /// tensors still holding it find it gone.
    fn deallocate(&mut self, id: BufId) {
        if let Some(b) = self.buffers.remove(&id) {
            self.release(b.buffer_type, b.address);
        }
    }

    fn drop_ref(&mut self, id: BufId) {
        if self.detached {
            return;
        }
        let Some(b) = self.buffers.get_mut(&id) else {
            return;
        };
        b.refs = b.refs.saturating_sub(1);
        if b.refs == 0 {
            let b = self.buffers.remove(&id).expect("present");
            self.release(b.buffer_type, b.address);
        }
    }
}

struct Inner {
    state: Mutex<State>,
    /// Plans already derived on this device and its forks ([`PlanCache`]: a plan depends on
    /// its key and the L1 state it records, never on which device derived it).
    plans: Arc<Mutex<PlanCache>>,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A simulated device. Cheap to clone handles are not offered: one `Device` per board, as with
/// the real runtime; tensors keep it alive.
pub struct Device {
    inner: Arc<Inner>,
    spec: &'static DeviceSpec,
    l1_small_size: u64,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("sim::Device")
            .field("spec", &self.spec.name)
            .field("l1_small_size", &self.l1_small_size)
            .finish()
    }
}

/// A tensor of a sim device. Dropping it frees its buffer unless another tensor shares it.
pub struct Tensor {
    device: Arc<Inner>,
    buffer: Option<BufId>,
    spec: TensorSpec,
    memory: BufferType,
    /// Sharded in L1 with this shard spec (a memory config's, or the op's own that made it).
    shard: Option<Arc<memmodel::shard::ShardSpec>>,
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("sim::Tensor")
            .field("shape", &self.spec.shape)
            .field("memory", &self.memory)
            .finish_non_exhaustive()
    }
}

impl Drop for Tensor {
    fn drop(&mut self) {
        if let Some(id) = self.buffer {
            self.device.lock().drop_ref(id);
        }
    }
}

impl Tensor {
    pub fn shape(&self) -> &[u64] {
        self.spec.shape.dims()
    }
    pub fn spec(&self) -> &TensorSpec {
        &self.spec
    }
}

impl Device {
    /// Opens a sim `spec` with `options.l1_small_size` bytes of L1_SMALL per bank.
    pub fn open(spec: &'static DeviceSpec, options: DeviceOptions) -> Result<Device> {
        let mem =
            DeviceMemory::open(spec, options.l1_small_size).map_err(Error::InvalidArgument)?;
        let l1_small_size = mem.l1_small_size;
        Ok(Device {
            inner: Arc::new(Inner {
                plans: Arc::new(Mutex::new(PlanCache::default())),
                state: Mutex::new(State {
                    spec,
                    mem,
                    buffers: FastMap::default(),
                    next_id: 1,
                    capture: None,
                    allocations: 0,
                    fail_at: None,
                    program_cache: Default::default(),
                    l1_choices: HashMap::new(),
                    device_run_plans: HashMap::new(),
                    cached_programs: Default::default(),
                    held_by_programs: Vec::new(),
                    placed: Vec::new(),
                    detached: false,
                }),
            }),
            spec,
            l1_small_size,
        })
    }

    /// Fault injection: the `n`-th allocation from now (1 = the next one) fails with an
    /// out-of-memory error carrying the allocator's real numbers at that point; the call that
    /// made it gives back everything it allocated. `None` clears a pending fault.
    pub fn fail_nth_allocation(&self, n: Option<u64>) -> Result<()> {
        let mut s = self.inner.lock();
        s.fail_at = match n {
            None => None,
            Some(0) => {
                return Err(Error::InvalidArgument(
                    "fail_nth_allocation counts from 1 (the next allocation)".into(),
                ))
            }
            Some(n) => Some(s.allocations + n),
        };
        Ok(())
    }

    /// Allocations this device has placed so far (for fault-injection sweeps).
    pub fn allocations(&self) -> u64 {
        self.inner.lock().allocations
    }

    /// The absolute address of a tensor's buffer (none while capturing).
    pub fn address(&self, t: &Tensor) -> Option<u64> {
        let s = self.inner.lock();
        t.buffer
            .and_then(|id| s.buffers.get(&id))
            .and_then(|b| b.address.placed())
    }

    /// A copy of this device as it is now (memory, buffers, program caches, sharing its plan
    /// cache), with `tensors` — every tensor alive on it, each once — as handles on the copy:
    /// the copy then runs on exactly as this device would, and this one is left as it is. `Err`
    /// when `tensors` are not this device's live tensors, each once (the copy's buffers would
    /// not be freed as this device's are).
    pub fn fork<'a>(
        &self,
        tensors: impl IntoIterator<Item = &'a Tensor>,
    ) -> Result<(Device, Vec<Tensor>)> {
        let state = self.inner.lock().clone();
        if state.capture.is_some() {
            return Err(Error::InvalidArgument("a capture is under way".into()));
        }
        let tensors: Vec<&Tensor> = tensors.into_iter().collect();
        let mut handles: FastMap<BufId, u32> = FastMap::default();
        for t in &tensors {
            if !self.owns(t) {
                return Err(Error::InvalidArgument("a tensor of another device".into()));
            }
            // A buffer an op deallocated is gone from both devices whoever still names it.
            if let Some(id) = t.buffer.filter(|id| state.buffers.contains_key(id)) {
                *handles.entry(id).or_default() += 1;
            }
        }
        let all_given = handles.len() == state.buffers.len()
            && state
                .buffers
                .iter()
                .all(|(id, b)| handles.get(id) == Some(&b.refs));
        if !all_given {
            return Err(Error::InvalidArgument(
                "the tensors given are not the device's live tensors, each once".into(),
            ));
        }
        let fork = Device {
            inner: Arc::new(Inner {
                plans: Arc::clone(&self.inner.plans),
                state: Mutex::new(State {
                    placed: Vec::new(),
                    ..state
                }),
            }),
            spec: self.spec,
            l1_small_size: self.l1_small_size,
        };
        let out = tensors
            .iter()
            .map(|t| fork.adopt(t.buffer, t.spec.clone(), t.memory, t.shard.clone()))
            .collect();
        Ok((fork, out))
    }

    /// Marks a fork discarded: its tensors then drop without freeing anything, which saves
    /// the frees of a copy nobody reads again.
    pub fn detach(&self) {
        self.inner.lock().detached = true;
    }

    fn owns(&self, t: &Tensor) -> bool {
        Arc::ptr_eq(&self.inner, &t.device)
    }

    fn adopt(
        &self,
        buffer: Option<BufId>,
        spec: TensorSpec,
        memory: BufferType,
        shard: Option<Arc<memmodel::shard::ShardSpec>>,
    ) -> Tensor {
        Tensor {
            device: Arc::clone(&self.inner),
            buffer,
            spec,
            memory,
            shard,
        }
    }
}

/// A call's plan on given inputs: what [`memmodel::exec::run_invocation`] derives from the call
/// and the inputs' specs and memory configs alone (never from the device's state), so it is
/// derived once per device and replayed after.
#[derive(Debug)]
struct Plan {
    builder: PlanBuilder,
    outputs: Vec<DevTensor>,
    n_inputs: usize,
    /// The circular-buffer layout of each program the plan runs, in order (of the program as it
    /// runs on the device: [`Program::as_run`]).
    layouts: Vec<CbLayout>,
    /// Whether the runtime's program cache holds some of its buffers.
    program_caches: bool,
    /// Whether its program choice read the live L1 ([`PlanBuilder::read_live_l1`]): it then
    /// holds for the device's L1 state it was derived on only.
    reads_live_l1: bool,
    /// Whether it depends on the device's L1 state at all (a program choice or a host decision
    /// such as conv2d's DRAM slice count read it): it then holds for that state only.
    depends_on_l1: bool,
}

/// What a plan depends on: the call (encoded exactly, floats by their bits) and each input's
/// spec and memory config. The device spec is the cache's own.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct PlanKey {
    call: Vec<u8>,
    inputs: Vec<InputKey>,
}

/// What a plan depends on of one input: its spec, memory and shard spec.
type InputKey = (
    TensorSpec,
    BufferType,
    Option<Arc<memmodel::shard::ShardSpec>>,
);

fn same_inputs(key: &[InputKey], inputs: &[&Tensor]) -> bool {
    key.len() == inputs.len()
        && key.iter().zip(inputs).all(|((spec, memory, shard), t)| {
            *spec == t.spec && *memory == t.memory && *shard == t.shard
        })
}

/// Plans by key. Bounded: past [`PlanCache::CAPACITY`] entries it starts over (a matrix run
/// visits each case once or twice; the cache is for repeats: the run and its measurement,
/// canaries, benchmarks, threshold searches). A plan holds its allocation trace and circular
/// buffers (~10 KB): 4096 of them per device were 50 MB of a 93k-case run, so the repeats it
/// serves (the next few calls) set the capacity.
///
/// Looked up by the call's encoding, then by the inputs, so that a hit builds no key (the
/// encoding goes to a buffer the cache keeps).
#[derive(Debug, Default)]
struct PlanCache {
    by_call: FastMap<Vec<u8>, Vec<CachedPlan>>,
    /// Plans held (in all of `by_call`'s lists).
    len: usize,
    /// The encoding of the call being looked up.
    encoded: Vec<u8>,
}

#[derive(Debug)]
struct CachedPlan {
    key: Arc<PlanKey>,
    /// Whether it was derived for a NO_DISPATCH capture (whose own buffers are not in the L1
    /// its choices read).
    capture: bool,
    /// The L1 the plan holds for.
    l1: PlanL1,
    plan: std::result::Result<Arc<Plan>, Error>,
}

/// The device L1 a cached plan holds for.
#[derive(Debug)]
enum PlanL1 {
    /// Any: its program choice did not read the free L1.
    Any,
    /// The L1 free list it was derived on (a capture's plan too: the capture allocates
    /// nothing, but its factories read the allocator as it is).
    On(Option<FreeList>),
}

impl PlanCache {
    const CAPACITY: usize = 256;
}

/// An exact, unambiguous encoding of an invocation (tags, lengths, floats by bits).
fn encode_invocation(inv: &Invocation, out: &mut Vec<u8>) {
    use memmodel::invoke::Value;
    fn bytes(out: &mut Vec<u8>, b: &[u8]) {
        out.extend_from_slice(&(b.len() as u64).to_le_bytes());
        out.extend_from_slice(b);
    }
    fn value(out: &mut Vec<u8>, v: &Value) {
        match v {
            Value::Input(i) => {
                out.push(0);
                out.extend_from_slice(&(*i as u64).to_le_bytes());
            }
            Value::Step(i) => {
                out.push(1);
                out.extend_from_slice(&(*i as u64).to_le_bytes());
            }
            Value::Int(i) => {
                out.push(2);
                out.extend_from_slice(&i.to_le_bytes());
            }
            Value::Float(x) => {
                out.push(3);
                out.extend_from_slice(&x.to_bits().to_le_bytes());
            }
            Value::Bool(b) => out.extend_from_slice(&[4, u8::from(*b)]),
            Value::Str(s) => {
                out.push(5);
                bytes(out, s.as_bytes());
            }
            Value::List(items) => {
                out.push(6);
                out.extend_from_slice(&(items.len() as u64).to_le_bytes());
                items.iter().for_each(|i| value(out, i));
            }
            Value::MemoryConfig(b) => {
                out.push(7);
                bytes(out, b.name().as_bytes());
            }
            Value::MemoryConfigOf(i) => {
                out.push(8);
                out.extend_from_slice(&(*i as u64).to_le_bytes());
            }
            Value::DType(d) => {
                out.push(9);
                bytes(out, d.ttnn_name().as_bytes());
            }
            Value::Layout(l) => {
                out.push(10);
                bytes(out, l.ttnn_name().as_bytes());
            }
            Value::Device => out.push(11),
            Value::None => out.push(12),
            Value::HostTensor {
                shape,
                dtype,
                layout,
            } => {
                out.push(13);
                out.extend_from_slice(&(shape.len() as u64).to_le_bytes());
                shape
                    .iter()
                    .for_each(|d| out.extend_from_slice(&d.to_le_bytes()));
                bytes(out, dtype.ttnn_name().as_bytes());
                bytes(out, layout.ttnn_name().as_bytes());
            }
            Value::Attr(path) => {
                out.push(14);
                bytes(out, path.as_bytes());
            }
            Value::Object {
                class,
                args,
                kwargs,
            } => {
                out.push(15);
                bytes(out, class.as_bytes());
                out.extend_from_slice(&(args.len() as u64).to_le_bytes());
                args.iter().for_each(|a| value(out, a));
                out.extend_from_slice(&(kwargs.len() as u64).to_le_bytes());
                for (k, v) in kwargs {
                    bytes(out, k.as_bytes());
                    value(out, v);
                }
            }
        }
    }
    out.extend_from_slice(&(inv.output_step as u64).to_le_bytes());
    out.extend_from_slice(&(inv.steps.len() as u64).to_le_bytes());
    for call in &inv.steps {
        bytes(out, call.function.as_bytes());
        out.extend_from_slice(&(call.args.len() as u64).to_le_bytes());
        call.args.iter().for_each(|a| value(out, a));
        out.extend_from_slice(&(call.kwargs.len() as u64).to_le_bytes());
        for (k, v) in &call.kwargs {
            bytes(out, k.as_bytes());
            value(out, v);
        }
    }
}

impl Device {
    /// The plan of `invocation` on `inputs`, from the cache or derived (and cached), with its
    /// key.
    fn plan(
        &self,
        invocation: &Invocation,
        inputs: &[&Tensor],
    ) -> Result<(Arc<Plan>, Arc<PlanKey>)> {
        // The device's L1 as the call finds it, and where its L1 inputs sit in it: the plans
        // whose program choice reads the free L1 are derived on it (as the runtime's factories
        // read it) and hold for it only.
        let (l1, input_l1_at, capture) = {
            let s = self.inner.lock();
            let at: Vec<Option<u64>> = inputs
                .iter()
                .map(|t| {
                    t.buffer
                        .and_then(|id| s.buffers.get(&id))
                        .filter(|b| b.buffer_type == BufferType::L1)
                        .and_then(|b| b.address.placed())
                })
                .collect();
            // A capture allocates nothing for real, but the runtime's factories read the
            // allocator as it is, the buffers alive beside the call included (a model's
            // `--measure`: YOLOv12x 1280² n150 #8 captured its conv's blocks on the L1 its
            // skip tensors leave).
            (Some(s.mem.l1.list().clone()), at, s.capture.is_some())
        };
        let mut guard = self.lock_plans();
        let cache = &mut *guard;
        cache.encoded.clear();
        encode_invocation(invocation, &mut cache.encoded);
        let hit = cache
            .by_call
            .get(cache.encoded.as_slice())
            .and_then(|plans| {
                plans.iter().find(|p| {
                    same_inputs(&p.key.inputs, inputs)
                        && p.capture == capture
                        && match &p.l1 {
                            PlanL1::Any => true,
                            PlanL1::On(at) => *at == l1,
                        }
                })
            });
        if let Some(hit) = hit {
            return hit.plan.clone().map(|p| (p, Arc::clone(&hit.key)));
        }
        let key = Arc::new(PlanKey {
            call: cache.encoded.clone(),
            inputs: inputs
                .iter()
                .map(|t| (t.spec.clone(), t.memory, t.shard.clone()))
                .collect(),
        });
        drop(guard);
        let derived = derive_plan(
            self.spec,
            invocation,
            inputs,
            l1.as_ref(),
            &input_l1_at,
            capture,
        )
        .map(Arc::new);
        // A refusal that read the free L1 holds for this L1 only too.
        let reads_l1 = match &derived {
            Ok(p) => p.depends_on_l1,
            Err(_) => true,
        };
        let mut cache = self.lock_plans();
        if cache.len >= PlanCache::CAPACITY {
            cache.by_call.clear();
            cache.len = 0;
        }
        cache
            .by_call
            .entry(key.call.clone())
            .or_default()
            .push(CachedPlan {
                key: Arc::clone(&key),
                capture,
                l1: if reads_l1 {
                    PlanL1::On(l1)
                } else {
                    PlanL1::Any
                },
                plan: derived.clone(),
            });
        cache.len += 1;
        derived.map(|p| (p, key))
    }

    /// The runtime's program cache keys a call's programs on its attributes, inputs and
    /// factory, not on the free L1 a block factory read when it built them (`make_block_plan`
    /// runs on a cache miss only): a repeat of a call whose program choice read the free L1
    /// runs the programs of its first run where it picks the same factory. Where the plan on
    /// the L1 as it is now has a program of the same factory that differs from that run's, it
    /// is unmodeled (the runtime's reuse is not followed here); a different factory is a miss,
    /// built anew as planned. The untilize codegen factory hashes the free L1 itself.
    fn check_program_cache_l1(
        &self,
        plan: &Arc<Plan>,
        key: &PlanKey,
        invocation: &Invocation,
    ) -> Result<()> {
        if !plan.reads_live_l1 {
            return Ok(());
        }
        let s = self.inner.lock();
        if s.capture.is_some() {
            return Ok(());
        }
        match s.l1_choices.get(key) {
            None => Ok(()),
            Some(first) if Arc::ptr_eq(first, plan) || same_cached_programs(first, plan) => Ok(()),
            Some(_) => Err(Error::Unmodeled(format!(
                "{}: a repeat of a call whose program choice read the free L1, which differs from its first run's (the runtime's program cache reuses the first run's programs; not followed)",
                invocation.steps.first().map_or("call", |c| c.function)
            ))),
        }
    }

    fn lock_plans(&self) -> MutexGuard<'_, PlanCache> {
        self.inner.plans.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The programs a plan runs, in order.
fn run_programs(plan: &Plan) -> Vec<&Program> {
    plan.builder
        .steps
        .iter()
        .filter_map(|step| match step {
            Step::Run(program) => Some(program),
            _ => None,
        })
        .collect()
}

/// The programs a NO_DISPATCH capture of a call runs after a real run of it whose program
/// choice read the free L1 (`first`): the runtime looks each program up in its cache, keyed on
/// the call's attributes and inputs, not on the free L1 the device run's factory read, so the
/// capture runs what the device run built (memmodel's plan says, per program, what a capture
/// after its device run records), where the capture's own plan (`now`, derived on the L1 a
/// capture sees: its inputs unplaced) runs the same factories in the same order. Seen on p150:
/// a ROW_MAJOR float32 [96,108128] split by 88031 in L1 captures its first piece's reads in
/// the 16,384 B chunks its device run built beside the input and that piece, where a build on
/// the capture's L1 reads whole 352,128 B rows. An untilize codegen program hashes the free L1
/// itself (a miss: the capture builds its own).
fn capture_programs<'a>(first: &'a Plan, now: &'a Plan) -> Option<Vec<&'a Program>> {
    let (first, now) = (run_programs(first), run_programs(now));
    let same_factories = first.len() == now.len()
        && first
            .iter()
            .zip(&now)
            .all(|(a, b)| a.op == b.op && a.factory == b.factory);
    same_factories.then(|| {
        first
            .into_iter()
            .zip(now)
            .map(|(a, b)| {
                if a.factory == "UntilizeCodegenProgramFactory" {
                    b
                } else {
                    a
                }
            })
            .collect()
    })
}

/// Whether a repeat's plan runs the programs the runtime's cache kept from the first run's:
/// program for program, either the same or of another factory (a cache miss).
fn same_cached_programs(first: &Plan, now: &Plan) -> bool {
    let (first, now) = (run_programs(first), run_programs(now));
    first.len() == now.len()
        && first.iter().zip(&now).all(|(a, b)| {
            a == b
                || a.as_run().factory != b.as_run().factory
                || a.as_run().factory == "UntilizeCodegenProgramFactory"
        })
}

/// Derives a call's plan on inputs as they are (specs and memory configs), on the device's L1
/// as the call finds it (`l1`, with input `i` at `input_l1_at[i]` where it is in L1; `None`:
/// as if its inputs were the only L1 buffers), for a NO_DISPATCH capture where `capture`.
fn derive_plan(
    spec: &'static DeviceSpec,
    invocation: &Invocation,
    inputs: &[&Tensor],
    l1: Option<&FreeList>,
    input_l1_at: &[Option<u64>],
    capture: bool,
) -> Result<Plan> {
    let mut b = PlanBuilder::new(spec);
    if let Some(l1) = l1 {
        b.set_l1_state(l1.clone());
    }
    if capture {
        b.set_capture();
    }
    let mut devs = Vec::with_capacity(inputs.len());
    for (t, at) in inputs.iter().zip(input_l1_at) {
        let d = b
            .external_with("input", t.spec.clone(), t.memory, t.shard.clone())
            .map_err(|e| Error::InvalidArgument(e.to_string()))?;
        match at {
            Some(at) => b.set_input_l1_address(d.buffer, *at),
            // An L1 input not placed is a capture's own: the device run before the capture
            // placed it, and built the programs the capture takes from the program cache there.
            None if l1.is_some() => b.place_capture_input(d.buffer),
            None => {}
        }
        devs.push(d);
    }
    let outputs =
        memmodel::exec::run_invocation(&mut b, invocation, &devs).map_err(Error::from_plan)?;
    let reads_live_l1 = b.read_live_l1();
    let depends_on_l1 = b.depends_on_device_l1();
    let layouts = b
        .steps
        .iter()
        .filter_map(|step| match step {
            Step::Run(program) => Some(CbLayout::of(program.as_run(), spec)),
            _ => None,
        })
        .collect();
    let program_caches = b.buffers.iter().any(|x| x.program_cached);
    Ok(Plan {
        builder: b,
        outputs,
        n_inputs: devs.len(),
        layouts,
        program_caches,
        reads_live_l1,
        depends_on_l1,
    })
}

impl DeviceApi for Device {
    type Tensor = Tensor;

    fn runs_memmodel(&self) -> bool {
        true
    }

    fn spec(&self) -> &'static DeviceSpec {
        self.spec
    }

    fn l1_small_size(&self) -> u64 {
        self.l1_small_size
    }

    fn empty(&self, desc: &TensorDesc) -> Result<Tensor> {
        let shape = memmodel::Shape::from_slice(&desc.shape)
            .map_err(|e| Error::InvalidArgument(format!("shape {:?}: {e}", desc.shape)))?;
        if desc.dtype.is_block_float() && desc.layout == Layout::RowMajor {
            return Err(Error::InvalidArgument(format!(
                "{} needs TILE layout",
                desc.dtype
            )));
        }
        let spec = TensorSpec::new(shape, desc.dtype, desc.layout);
        desc.check_sharding()?;
        let shard = memmodel::plan::shard_of_config(&spec, self.spec, desc.config())
            .map_err(|e| Error::InvalidArgument(e.to_string()))?;
        let placement =
            memmodel::plan::placement_of(&spec, self.spec, desc.buffer_type, shard.as_deref())
                .map_err(|e| Error::InvalidArgument(e.to_string()))?;
        let mut s = self.inner.lock();
        let address = s.allocate(&placement)?;
        let id = s.next_id;
        s.next_id += 1;
        s.buffers.insert(
            id,
            LiveBuffer {
                buffer_type: desc.buffer_type,
                address,
                size: placement.total_bytes,
                page_size: placement.page_size,
                refs: 1,
            },
        );
        drop(s);
        Ok(self.adopt(Some(id), spec, desc.buffer_type, shard))
    }

    fn run(&self, invocation: &Invocation, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        if let Some(i) = inputs.iter().position(|t| !self.owns(t)) {
            return Err(Error::InvalidArgument(format!(
                "input {i} belongs to another device"
            )));
        }
        // The plan of the call, on the inputs as they are: derived once per (call, inputs).
        let (plan, key) = self.plan(invocation, inputs)?;
        // Said when the call reaches its first program: an allocation that fails before it is
        // the allocator's answer, whatever the program.
        let mut refused = self.check_program_cache_l1(&plan, &key, invocation).err();
        let Plan {
            builder: b,
            outputs,
            n_inputs,
            layouts,
            program_caches: caches,
            ..
        } = &*plan;
        let (n_inputs, caches) = (*n_inputs, *caches);
        // The outputs, made under the lock below: declared first, so that a panic there drops
        // the lock before them (a tensor's drop takes it).
        let mut out: Vec<Tensor> = Vec::with_capacity(outputs.len());
        // Replay it; on a failure, give back what this call placed.
        let mut s = self.inner.lock();
        // Buffers the cached programs of an earlier run of this call hold are not made again;
        // a first real run keeps them with its programs (a capture only records them).
        let cached = caches && s.program_cache.contains(&*key);
        // A buffer found with its program (as a repeat of this call, or by the program's own
        // hash from any call) is not made again.
        let found = |s: &State, i: usize| {
            let x = &b.buffers[i];
            x.program_cached
                && (cached
                    || x.program_key
                        .is_some_and(|k| s.cached_programs.contains(&k)))
        };
        let keeps = caches && !cached && s.capture.is_none();
        let mut kept: Vec<(BufferType, Addr)> = Vec::new();
        // Program hashes whose buffers this run keeps: a later program of the same hash in the
        // same call finds its program in the cache and makes none (a capture caches nothing).
        let mut kept_keys: Vec<u64> = Vec::new();
        // Where each buffer of the plan is while the call runs (the device's own vector, reused).
        let mut placed = std::mem::take(&mut s.placed);
        placed.clear();
        placed.resize(b.buffers.len(), None);
        let mut result = Ok(());
        let mut layouts = layouts.iter();
        let device_run_plan = if s.capture.is_some() {
            s.device_run_plans.get(&*key).cloned()
        } else {
            if plan.reads_live_l1 && !s.device_run_plans.contains_key(&*key) {
                s.device_run_plans
                    .insert(Arc::clone(&key), Arc::clone(&plan));
            }
            None
        };
        let from_device_run = device_run_plan
            .as_deref()
            .and_then(|first| capture_programs(first, &plan));
        let mut runs = 0usize;
        for step in &b.steps {
            let r = match step {
                Step::Alloc(i)
                    if found(&s, *i)
                        || b.buffers[*i]
                            .program_key
                            .is_some_and(|k| kept_keys.contains(&k)) =>
                {
                    Ok(())
                }
                Step::Alloc(i) => s
                    .allocate(&b.buffers[*i].placement)
                    .map(|a| placed[*i] = Some(a)),
                Step::Free(i) => {
                    if let Some(a) = placed[*i].take() {
                        let p = &b.buffers[*i].placement;
                        if keeps && b.buffers[*i].program_cached {
                            kept.push((p.buffer_type, a));
                            kept_keys.extend(b.buffers[*i].program_key);
                        } else {
                            s.release(p.buffer_type, a);
                        }
                    } else if let Some(id) = inputs.get(*i).and_then(|t| t.buffer) {
                        // An input the op deallocates (conv2d's deallocate_activation): gone
                        // for its caller too.
                        s.deallocate(id);
                    }
                    Ok(())
                }
                Step::Run(program) => match refused.take() {
                    Some(e) => Err(e),
                    None => {
                        let layout = layouts.next().expect("a layout per program");
                        let program = from_device_run
                            .as_ref()
                            .and_then(|programs| programs.get(runs).copied())
                            .unwrap_or(program);
                        runs += 1;
                        s.run_program(program, layout)
                    }
                },
            };
            if let Err(e) = r {
                result = Err(e);
                break;
            }
        }
        if result.is_ok() {
            if let Some(o) = outputs
                .iter()
                .find(|o| o.buffer >= n_inputs && placed[o.buffer].is_none())
            {
                result = Err(Error::Other(format!(
                    "memmodel's plan returns buffer {} without allocating it",
                    o.buffer
                )));
            }
        }
        if let Err(e) = result {
            for (i, a) in placed.iter_mut().enumerate() {
                if let Some(a) = a.take() {
                    let p = &b.buffers[i].placement;
                    s.release(p.buffer_type, a);
                }
            }
            for (buffer_type, a) in kept {
                s.release(buffer_type, a);
            }
            s.keep_placed(placed);
            return Err(e);
        }
        if plan.reads_live_l1 && s.capture.is_none() && !s.l1_choices.contains_key(&*key) {
            s.l1_choices.insert(Arc::clone(&key), Arc::clone(&plan));
        }
        if keeps {
            s.held_by_programs.extend(kept);
            s.program_cache.insert(key);
            s.cached_programs.extend(
                b.buffers
                    .iter()
                    .filter(|x| x.program_cached)
                    .filter_map(|x| x.program_key),
            );
        }
        // Outputs: views of inputs share their buffers; new buffers become live.
        for (k, o) in outputs.iter().enumerate() {
            let id = if o.buffer < n_inputs {
                let id = inputs[o.buffer].buffer;
                if let Some(id) = id {
                    if let Some(lb) = s.buffers.get_mut(&id) {
                        lb.refs += 1;
                    }
                }
                id
            } else {
                // An output already made (the same buffer returned twice).
                let made = outputs[..k]
                    .iter()
                    .position(|earlier| earlier.buffer == o.buffer)
                    .and_then(|j| out[j].buffer);
                let id = match made {
                    Some(id) => {
                        if let Some(lb) = s.buffers.get_mut(&id) {
                            lb.refs += 1;
                        }
                        id
                    }
                    None => {
                        let id = s.next_id;
                        s.next_id += 1;
                        let p = &b.buffers[o.buffer].placement;
                        let address = placed[o.buffer]
                            .take()
                            .expect("checked: outputs are placed");
                        s.buffers.insert(
                            id,
                            LiveBuffer {
                                buffer_type: p.buffer_type,
                                address,
                                size: p.total_bytes,
                                page_size: p.page_size,
                                refs: 1,
                            },
                        );
                        id
                    }
                };
                Some(id)
            };
            out.push(self.adopt(id, o.spec.clone(), o.memory, o.shard.clone()));
        }
        // Anything the plan left placed that is not an output would be a leak in the model: give
        // it back so the device stays consistent.
        for (i, a) in placed.iter_mut().enumerate() {
            if let Some(a) = a.take() {
                debug_assert!(false, "plan left buffer {i} allocated");
                let p = &b.buffers[i].placement;
                s.release(p.buffer_type, a);
            }
        }
        s.keep_placed(placed);
        drop(s);
        Ok(out)
    }

    fn tensor_info(&self, tensor: &Tensor) -> Result<TensorInfo> {
        let s = self.inner.lock();
        let live = tensor.buffer.and_then(|id| s.buffers.get(&id));
        Ok(TensorInfo {
            shape: tensor.spec.shape.dims().to_vec(),
            dtype: tensor.spec.dtype.to_string(),
            layout: tensor.spec.layout.to_string(),
            on_device: live.is_some(),
            buffer_type: live.map(|_| tensor.memory.name().to_string()),
            address: live.and_then(|b| b.address.placed()),
        })
    }

    fn memory_view(&self, buffer_type: BufferType) -> Result<MemoryView> {
        Ok(self.inner.lock().view(buffer_type))
    }

    fn memory_views(&self, buffer_types: &[BufferType]) -> Result<Vec<MemoryView>> {
        let s = self.inner.lock();
        Ok(buffer_types.iter().map(|&b| s.view(b)).collect())
    }

    fn clear_program_cache(&self) -> Result<()> {
        let mut s = self.inner.lock();
        s.program_cache.clear();
        s.cached_programs.clear();
        s.l1_choices.clear();
        s.device_run_plans.clear();
        for (buffer_type, a) in std::mem::take(&mut s.held_by_programs) {
            s.release(buffer_type, a);
        }
        Ok(())
    }

    fn begin_capture(&self) -> Result<()> {
        let mut s = self.inner.lock();
        if s.capture.is_some() {
            return Err(Error::State("a graph capture is already running".into()));
        }
        s.capture = Some(Vec::new());
        Ok(())
    }

    fn end_capture(&self) -> Result<Capture> {
        let mut s = self.inner.lock();
        let events = s
            .capture
            .take()
            .ok_or_else(|| Error::State("no graph capture is running on this device".into()))?;
        drop(s);
        Ok(capture_of(&events))
    }
}

/// What TT-NN's `extract_resource_usage_per_core` and the capture's node list give for these
/// events.
fn capture_of(events: &[CaptureEvent]) -> Capture {
    let mut c = Capture::default();
    let (mut l1, mut cb, mut dfb, mut sp) = (0u64, 0u64, 0u64, 0u64);
    let mut u = CoreUsage::default();
    // Per allocation (by ordinal): the bytes per bank it adds to the L1 peak, as reported.
    let mut l1_per_bank = Vec::new();
    for e in events {
        match e {
            CaptureEvent::Alloc(b, strategy, shards) => {
                let counted = if b.buffer_type == "L1" {
                    b.max_size_per_bank
                } else {
                    0
                };
                l1 = l1.saturating_add(counted);
                l1_per_bank.push(counted);
                c.buffers.push(b.clone());
                c.trace.push(Event::Alloc {
                    memory: b.buffer_type.clone(),
                    size: b.size,
                    per_bank: b.max_size_per_bank,
                    page: b.page_size,
                    layout: strategy.map_or("INTERLEAVED", |s| s.tt_layout()).into(),
                    num_cores: if strategy.is_some() { *shards } else { 0 },
                });
            }
            CaptureEvent::Free { ordinal } => {
                l1 = l1.saturating_sub(l1_per_bank.get(*ordinal).copied().unwrap_or(0));
                c.trace.push(Event::Free(*ordinal));
            }
            CaptureEvent::Program(p) => {
                c.trace.push(Event::Op {
                    op: p.op.to_string(),
                    factory: p.factory.to_string(),
                });
                c.trace.push(Event::CbsFree);
                c.trace
                    .extend(p.cbs.iter().filter(|x| x.traced).map(|x| Event::Cb {
                        kind: x.kind,
                        size: x.size,
                        cores: x.cores.to_string(),
                        global: x.global,
                    }));
                (cb, dfb, sp) = p.traced_sums();
                for x in p.cbs.iter().filter(|x| x.traced) {
                    if x.kind != CbKind::Scratchpad {
                        c.circular_buffers.push(CapturedCircularBuffer {
                            size: x.size,
                            core_range_set: x.cores.to_string(),
                        });
                    }
                }
            }
        }
        u.peak_cb = u.peak_cb.max(cb);
        u.peak_dataflow_buffer = u.peak_dataflow_buffer.max(dfb);
        u.peak_l1 = u.peak_l1.max(l1);
        u.peak_total = u.peak_total.max(l1 + cb + dfb + sp);
    }
    c.per_core = u;
    c
}

impl Device {
    /// Bytes live buffers hold, for leak checks in tests: (buffers, total bytes).
    pub fn live_buffers(&self) -> (usize, u64) {
        let s = self.inner.lock();
        (s.buffers.len(), s.buffers.values().map(|b| b.size).sum())
    }

    /// Page size of a tensor's buffer.
    pub fn page_size(&self, t: &Tensor) -> Option<u64> {
        let s = self.inner.lock();
        t.buffer
            .and_then(|id| s.buffers.get(&id))
            .map(|b| b.page_size)
    }
}
