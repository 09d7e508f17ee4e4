//! RAII devices and tensors of the real runtime.

use super::ffi::{check, string_out};
use super::runtime::Runtime;
use crate::api::{Capture, CoreUsage, DeviceApi, MemoryView, TensorDesc, TensorInfo};
use crate::error::{Error, Result};
use memmodel::invoke::Invocation;
use memmodel::{BufferType, DType, DeviceSpec, Layout, ShardStrategy};
use std::ffi::CString;
use std::io::Write;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use ttnn_sys as sys;

/// Where the device comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Target {
    /// tt-metal's mock device described by the manifest's cluster descriptor of the board: the
    /// host runtime (allocator, program checks) runs for real, kernels do not.
    #[default]
    Mock,
    /// Real hardware: the runtime's own device discovery.
    Hardware,
}

/// How to open a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeviceOptions {
    /// L1_SMALL bytes reserved per bank at open (max_pool2d needs some).
    pub l1_small_size: u64,
    pub target: Target,
    pub device_id: i32,
}

impl DeviceOptions {
    pub fn with_l1_small(l1_small_size: u64) -> Self {
        DeviceOptions {
            l1_small_size,
            ..Default::default()
        }
    }
}

/// One device may be open per process (tt-metal's context is a process singleton).
static DEVICE_OPEN: AtomicBool = AtomicBool::new(false);
/// What this process's devices are (`a mock n150`, `hardware`): tt-metal sets up its cluster
/// (and reads a mock descriptor) once per process.
static PROCESS_TARGET: Mutex<Option<String>> = Mutex::new(None);

struct DeviceInner {
    raw: Option<NonNull<sys::ttnn_device>>,
    spec: &'static DeviceSpec,
    l1_small_size: u64,
}

// SAFETY: the handle is an id the shim resolves under the Python GIL, which every shim entry
// point takes; no state of the handle is touched outside the shim.
unsafe impl Send for DeviceInner {}
// SAFETY: as above: concurrent calls are serialized by the GIL inside the shim.
unsafe impl Sync for DeviceInner {}

impl DeviceInner {
    fn raw(&self) -> Result<*mut sys::ttnn_device> {
        self.raw
            .map(NonNull::as_ptr)
            .ok_or_else(|| Error::State("the device is closed".into()))
    }

    fn close_raw(&mut self) -> Result<()> {
        if let Some(raw) = self.raw {
            // SAFETY: `raw` is a live handle from ttnn_device_open; on success the shim frees it
            // and we forget it, on failure it stays valid.
            check(unsafe { sys::ttnn_device_close(raw.as_ptr()) })?;
            self.raw = None;
            DEVICE_OPEN.store(false, Ordering::SeqCst);
        }
        Ok(())
    }
}

impl Drop for DeviceInner {
    fn drop(&mut self) {
        if let Err(e) = self.close_raw() {
            // Drop cannot fail: say so (ignoring a closed stderr) and go on; the runtime keeps
            // the device and this process cannot open another.
            let _ = writeln!(
                std::io::stderr(),
                "ttnn: closing the {} device failed: {e}",
                self.spec.name
            );
        }
    }
}

/// An open device of the real runtime. Tensors keep it alive: it closes when the last of
/// `Device` and its tensors is dropped, or with [`Device::close`].
#[must_use = "dropping a Device closes it"]
pub struct Device {
    inner: Arc<DeviceInner>,
    runtime: Runtime,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("spec", &self.inner.spec.name)
            .field("l1_small_size", &self.inner.l1_small_size)
            .finish()
    }
}

fn dtype_code(d: DType) -> i32 {
    match d {
        DType::Bfloat16 => sys::TTNN_DTYPE_BFLOAT16,
        DType::Float32 => sys::TTNN_DTYPE_FLOAT32,
        DType::Bfloat8B => sys::TTNN_DTYPE_BFLOAT8_B,
        DType::Bfloat4B => sys::TTNN_DTYPE_BFLOAT4_B,
        DType::Uint8 => sys::TTNN_DTYPE_UINT8,
        DType::Uint16 => sys::TTNN_DTYPE_UINT16,
        DType::Uint32 => sys::TTNN_DTYPE_UINT32,
        DType::Int32 => sys::TTNN_DTYPE_INT32,
    }
}

fn layout_code(l: Layout) -> i32 {
    match l {
        Layout::Tile => sys::TTNN_LAYOUT_TILE,
        Layout::RowMajor => sys::TTNN_LAYOUT_ROW_MAJOR,
    }
}

fn buffer_code(b: BufferType) -> i32 {
    match b {
        BufferType::Dram => sys::TTNN_BUFFER_DRAM,
        BufferType::L1 => sys::TTNN_BUFFER_L1,
        BufferType::L1Small => sys::TTNN_BUFFER_L1_SMALL,
    }
}

/// The shim's code for a tensor's memory config (interleaved buffer type, or sharded in L1).
/// The driver's code for where a tensor is created (buffer type, or the L1 sharding strategy).
pub fn driver_memory_code(desc: &TensorDesc) -> i32 {
    match desc.sharding {
        None => buffer_code(desc.buffer_type),
        Some(ShardStrategy::Height) => sys::TTNN_BUFFER_L1_HEIGHT_SHARDED,
        Some(ShardStrategy::Width) => sys::TTNN_BUFFER_L1_WIDTH_SHARDED,
        Some(ShardStrategy::Block) => sys::TTNN_BUFFER_L1_BLOCK_SHARDED,
    }
}

impl Device {
    /// Opens `spec` (a memmodel board) on this runtime. Fails with [`Error::State`] while another
    /// device is open in the process, and with [`Error::Unsupported`] for a mock board other
    /// than the one this process already used.
    pub fn open(
        runtime: &Runtime,
        spec: &'static DeviceSpec,
        options: DeviceOptions,
    ) -> Result<Device> {
        if DEVICE_OPEN
            .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return Err(Error::State(
                "a device is already open in this process (one at a time: close it first)".into(),
            ));
        }
        let opened = Self::open_inner(runtime, spec, options);
        if opened.is_err() {
            DEVICE_OPEN.store(false, Ordering::SeqCst);
        }
        opened
    }

    fn open_inner(
        runtime: &Runtime,
        spec: &'static DeviceSpec,
        options: DeviceOptions,
    ) -> Result<Device> {
        let this = match options.target {
            Target::Mock => format!("a mock {}", spec.name),
            Target::Hardware => "hardware".to_string(),
        };
        let mut first = PROCESS_TARGET.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(first) = first.as_ref().filter(|f| **f != this) {
            return Err(Error::Unsupported(format!(
                "this process already runs {first}; tt-metal sets up its cluster once per process, so {this} needs its own process"
            )));
        }
        let env = runtime
            .manifest()
            .device_environment(match options.target {
                Target::Mock => Some(spec.name),
                Target::Hardware => None,
            })?;
        *first = Some(this);
        drop(first);
        let env_json =
            serde_json::to_string(&env).map_err(|e| Error::InvalidArgument(e.to_string()))?;
        let env_c =
            CString::new(env_json).map_err(|_| Error::InvalidArgument("NUL in a path".into()))?;
        let mut raw: *mut sys::ttnn_device = std::ptr::null_mut();
        // SAFETY: env_c outlives the call and `raw` is a valid out-pointer.
        check(unsafe {
            sys::ttnn_device_open(
                options.device_id,
                options.l1_small_size,
                env_c.as_ptr(),
                &mut raw,
            )
        })?;
        let raw = NonNull::new(raw)
            .ok_or_else(|| Error::Cpp("ttnn_device_open returned no handle".into()))?;
        let device = Device {
            inner: Arc::new(DeviceInner {
                raw: Some(raw),
                spec,
                l1_small_size: options.l1_small_size,
            }),
            runtime: runtime.clone(),
        };
        device.check_board()?;
        Ok(device)
    }

    /// The runtime must agree on the board: same arch and worker grid as memmodel's spec.
    fn check_board(&self) -> Result<()> {
        let d = self.describe()?;
        let arch = d["arch"].as_str().unwrap_or("");
        let (gx, gy) = (
            d["grid_x"].as_u64().unwrap_or(0),
            d["grid_y"].as_u64().unwrap_or(0),
        );
        let spec = self.inner.spec;
        if arch != spec.arch.name() || gx != u64::from(spec.grid_x) || gy != u64::from(spec.grid_y)
        {
            return Err(Error::Unsupported(format!(
                "the runtime opened a {arch} with a {gx}x{gy} worker grid, not the {} memmodel describes ({}, {}x{})",
                spec.name,
                spec.arch.name(),
                spec.grid_x,
                spec.grid_y
            )));
        }
        Ok(())
    }

    /// The runtime's description of the device (arch, worker grid, l1_small_size).
    pub fn describe(&self) -> Result<serde_json::Value> {
        let raw = self.inner.raw()?;
        // SAFETY: `raw` is a live device handle; the out-pointer is valid for the call.
        let text = string_out(|out| unsafe { sys::ttnn_device_describe(raw, out) })?;
        serde_json::from_str(&text).map_err(|e| Error::Python(format!("device description: {e}")))
    }

    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// Closes the device now. Fails (giving the device back) while tensors of it are alive or
    /// when the runtime refuses.
    pub fn close(self) -> std::result::Result<(), (Device, Error)> {
        let Device { inner, runtime } = self;
        match Arc::try_unwrap(inner) {
            Ok(mut owned) => match owned.close_raw() {
                Ok(()) => Ok(()),
                Err(e) => Err((
                    Device {
                        inner: Arc::new(owned),
                        runtime,
                    },
                    e,
                )),
            },
            Err(shared) => {
                let alive = Arc::strong_count(&shared) - 1;
                Err((
                    Device {
                        inner: shared,
                        runtime,
                    },
                    Error::State(format!("{alive} tensor(s) of this device are still alive")),
                ))
            }
        }
    }

    fn adopt(&self, raw: *mut sys::ttnn_tensor) -> Result<Tensor> {
        let raw = NonNull::new(raw)
            .ok_or_else(|| Error::Cpp("the shim returned a NULL tensor".into()))?;
        Ok(Tensor {
            raw,
            device: Arc::clone(&self.inner),
        })
    }

    fn owns(&self, t: &Tensor) -> bool {
        Arc::ptr_eq(&self.inner, &t.device)
    }
}

impl DeviceApi for Device {
    type Tensor = Tensor;

    fn spec(&self) -> &'static DeviceSpec {
        self.inner.spec
    }

    fn l1_small_size(&self) -> u64 {
        self.inner.l1_small_size
    }

    fn empty(&self, desc: &TensorDesc) -> Result<Tensor> {
        desc.validate()?;
        let raw_dev = self.inner.raw()?;
        let mut raw: *mut sys::ttnn_tensor = std::ptr::null_mut();
        // SAFETY: the shape slice is valid for `len` elements during the call; `raw` is a valid
        // out-pointer; the device handle is live.
        check(unsafe {
            sys::ttnn_tensor_empty(
                raw_dev,
                desc.shape.as_ptr(),
                desc.shape.len(),
                dtype_code(desc.dtype),
                layout_code(desc.layout),
                driver_memory_code(desc),
                &mut raw,
            )
        })?;
        self.adopt(raw)
    }

    fn run(&self, invocation: &Invocation, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        if let Some(i) = inputs.iter().position(|t| !self.owns(t)) {
            return Err(Error::InvalidArgument(format!(
                "input {i} belongs to another device"
            )));
        }
        let raw_dev = self.inner.raw()?;
        let json = CString::new(invocation.to_json())
            .map_err(|_| Error::InvalidArgument("NUL in the invocation".into()))?;
        let handles: Vec<*mut sys::ttnn_tensor> = inputs.iter().map(|t| t.raw.as_ptr()).collect();
        let mut list: *mut *mut sys::ttnn_tensor = std::ptr::null_mut();
        let mut n: usize = 0;
        // SAFETY: every pointer is valid for the call: the JSON string, the handle array of
        // `handles.len()` live tensors, the two out-pointers.
        let rc = unsafe {
            sys::ttnn_run(
                raw_dev,
                json.as_ptr(),
                handles.as_ptr(),
                handles.len(),
                &mut list,
                &mut n,
            )
        };
        check(rc)?;
        let mut outputs = Vec::with_capacity(n);
        let mut failure = None;
        for i in 0..n {
            // SAFETY: on success `list` holds `n` handles; each is read once and owned by us.
            let raw = unsafe { *list.add(i) };
            match self.adopt(raw) {
                Ok(t) => outputs.push(t),
                Err(e) => failure = Some(e),
            }
        }
        // SAFETY: `list` came from ttnn_run and is freed once; the handles now belong to Tensors.
        unsafe { sys::ttnn_tensor_list_free(list) };
        match failure {
            Some(e) => Err(e),
            None => Ok(outputs),
        }
    }

    fn tensor_info(&self, tensor: &Tensor) -> Result<TensorInfo> {
        tensor.info()
    }

    fn memory_view(&self, buffer_type: BufferType) -> Result<MemoryView> {
        let raw = self.inner.raw()?;
        let mut v = sys::ttnn_memory_view::default();
        // SAFETY: live device handle, valid out-struct.
        check(unsafe { sys::ttnn_memory_view_get(raw, buffer_code(buffer_type), &mut v) })?;
        Ok(MemoryView {
            buffer_type,
            banks: v.num_banks,
            bank_bytes: v.bytes_per_bank,
            allocated_per_bank: v.allocated_per_bank,
            free_per_bank: v.free_per_bank,
            largest_free_block_per_bank: v.largest_free_block_per_bank,
        })
    }

    fn clear_program_cache(&self) -> Result<()> {
        let raw = self.inner.raw()?;
        // SAFETY: live device handle.
        check(unsafe { sys::ttnn_device_clear_program_cache(raw) })
    }

    fn begin_capture(&self) -> Result<()> {
        let raw = self.inner.raw()?;
        // SAFETY: live device handle.
        check(unsafe { sys::ttnn_capture_begin(raw) })
    }

    fn end_capture(&self) -> Result<Capture> {
        let raw = self.inner.raw()?;
        let mut usage = sys::ttnn_core_usage::default();
        // SAFETY: live device handle, valid out-struct and out-pointer.
        let text = string_out(|out| unsafe { sys::ttnn_capture_end(raw, &mut usage, out) })?;
        let mut capture: Capture = serde_json::from_str(&text)
            .map_err(|e| Error::Python(format!("capture detail: {e}")))?;
        capture.per_core = CoreUsage {
            peak_cb: usage.peak_cb,
            peak_dataflow_buffer: usage.peak_dataflow_buffer,
            peak_l1: usage.peak_l1,
            peak_total: usage.peak_total,
        };
        Ok(capture)
    }
}

/// A tensor on a device of the real runtime. Dropping it frees its device buffer unless another
/// live tensor shares that buffer (a view, an in-place output).
pub struct Tensor {
    raw: NonNull<sys::ttnn_tensor>,
    device: Arc<DeviceInner>,
}

// SAFETY: the handle is an id the shim resolves under the GIL; see DeviceInner.
unsafe impl Send for Tensor {}
// SAFETY: as above.
unsafe impl Sync for Tensor {}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tensor")
            .field("device", &self.device.spec.name)
            .finish_non_exhaustive()
    }
}

impl Tensor {
    /// The logical shape.
    pub fn shape(&self) -> Result<Vec<u64>> {
        let mut dims = [0u64; 8];
        let mut rank = 0usize;
        // SAFETY: live tensor handle; `dims` has room for 8 values, `rank` is a valid out-pointer.
        check(unsafe {
            sys::ttnn_tensor_shape(self.raw.as_ptr(), dims.as_mut_ptr(), dims.len(), &mut rank)
        })?;
        if rank <= dims.len() {
            return Ok(dims[..rank].to_vec());
        }
        let mut more = vec![0u64; rank];
        // SAFETY: as above with a buffer of `rank` values.
        check(unsafe {
            sys::ttnn_tensor_shape(self.raw.as_ptr(), more.as_mut_ptr(), more.len(), &mut rank)
        })?;
        more.truncate(rank);
        Ok(more)
    }

    /// Shape, dtype, layout and placement as the runtime reports them.
    pub fn info(&self) -> Result<TensorInfo> {
        let raw = self.raw.as_ptr();
        // SAFETY: live tensor handle; the out-pointer is valid for the call.
        let text = string_out(|out| unsafe { sys::ttnn_tensor_describe(raw, out) })?;
        serde_json::from_str(&text).map_err(|e| Error::Python(format!("tensor description: {e}")))
    }
}

impl Drop for Tensor {
    fn drop(&mut self) {
        // SAFETY: `raw` is a live handle we own; ttnn_tensor_free releases it whatever it returns.
        let rc = unsafe { sys::ttnn_tensor_free(self.raw.as_ptr()) };
        if let Err(e) = check(rc) {
            let _ = writeln!(std::io::stderr(), "ttnn: freeing a tensor failed: {e}");
        }
    }
}
