"""ttnn-oom driver: the Python half of the ttnn-sys shim.

The C++ shim (shim.cpp) embeds this file at build time, loads it as the module
`ttnn_oom_driver` and calls its functions with plain ints and strings. Everything the shim
hands out is an integer id into the tables below; the shim never touches a ttnn object itself.

Status codes match include/ttnn_shim.h.
"""

import json
import os
import sys

OK = 0
ERR_RUNTIME = 1
ERR_INVALID_ARGUMENT = 2
ERR_UNAVAILABLE = 3
ERR_PYTHON = 4
ERR_CXX = 5
ERR_UNSUPPORTED = 6
ERR_STATE = 7

ttnn = None
graph = None

_devices = {}  # id -> ttnn device
_tensors = {}  # id -> (device id, ttnn.Tensor)
_next_id = 1
_capturing = None  # device id of the running NO_DISPATCH capture


class DriverError(Exception):
    """An error the driver raises on purpose, with its status code."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def _new_id():
    global _next_id
    i = _next_id
    _next_id += 1
    return i


# ---------------------------------------------------------------------------------------------
# Errors


def _runtime_text(text):
    """The message of a tt-metal error: the part between `info:` and `backtrace:`."""
    i = text.find("info:")
    if i >= 0:
        text = text[i + len("info:"):]
    j = text.find("backtrace:")
    if j >= 0:
        text = text[:j]
    return text.strip()


def error_info(exc):
    """(status code, message) for an exception raised by the driver or the runtime."""
    if isinstance(exc, DriverError):
        return (exc.code, str(exc))
    name = type(exc).__name__
    if isinstance(exc, (ImportError, ModuleNotFoundError)):
        return (ERR_UNAVAILABLE, "%s: %s" % (name, exc))
    if isinstance(exc, RuntimeError):
        return (ERR_RUNTIME, _runtime_text(str(exc)))
    if isinstance(exc, AttributeError):
        return (ERR_UNSUPPORTED, "%s: %s" % (name, exc))
    if isinstance(exc, (TypeError, ValueError, KeyError, IndexError)):
        return (ERR_INVALID_ARGUMENT, "%s: %s" % (name, _runtime_text(str(exc))))
    return (ERR_PYTHON, "%s: %s" % (name, exc))


# ---------------------------------------------------------------------------------------------
# Runtime


def init(site_packages):
    """Adds the venv's site-packages and imports ttnn (environment already set by the shim)."""
    global ttnn, graph
    import site

    if not getattr(sys, "argv", None):
        sys.argv = ["ttnn-oom"]
    if site_packages:
        site.addsitedir(site_packages)
    import ttnn as _ttnn
    import ttnn._ttnn.graph as _graph

    ttnn = _ttnn
    graph = _graph
    return OK


def version():
    try:
        from importlib import metadata

        return metadata.version("ttnn")
    except Exception:
        return str(getattr(ttnn, "__version__", "unknown"))


class SelfTestError(Exception):
    """Raised by selftest_python: an ordinary Python exception that is none of the runtime's."""


def selftest_python():
    raise SelfTestError("selftest: a Python exception raised on purpose inside the driver")


# ---------------------------------------------------------------------------------------------
# Devices


def _device(dev_id):
    dev = _devices.get(dev_id)
    if dev is None:
        raise DriverError(ERR_INVALID_ARGUMENT, "no open device with handle %d" % dev_id)
    return dev


def device_open(device_id, l1_small_size, env_json):
    if _devices:
        raise DriverError(ERR_STATE, "a device is already open in this process (one at a time)")
    if env_json:
        for k, v in json.loads(env_json).items():
            os.environ[str(k)] = str(v)
    dev = ttnn.open_device(device_id=device_id, l1_small_size=l1_small_size)
    i = _new_id()
    _devices[i] = dev
    return i


def device_close(dev_id):
    global _capturing
    dev = _device(dev_id)
    if _capturing == dev_id:
        try:
            graph.end_graph_capture()
        finally:
            _capturing = None
    for tid in [t for t, (d, _) in _tensors.items() if d == dev_id]:
        tensor_free(tid)
    ttnn.close_device(dev)
    del _devices[dev_id]
    return OK


_graveyard = []


def shutdown():
    """Closes every device still open (the shim calls this at process exit). Tensors still in
    the table are kept referenced, not freed: at exit some of tt-metal's singletons may already
    be gone, and a tensor's destructor would touch them; closing the device frees its memory."""
    global _capturing
    _graveyard.extend(t for (_, t) in _tensors.values())
    _tensors.clear()
    if _capturing is not None:
        try:
            graph.end_graph_capture()
        except Exception:
            pass
        _capturing = None
    for dev_id in list(_devices):
        try:
            ttnn.close_device(_devices.pop(dev_id))
        except Exception:
            pass
    return OK


def device_describe(dev_id, l1_small_size):
    dev = _device(dev_id)
    grid = dev.compute_with_storage_grid_size()
    arch = str(dev.arch())
    return json.dumps(
        {
            "arch": arch.split(".")[-1].lower(),
            "grid_x": int(grid.x),
            "grid_y": int(grid.y),
            "l1_small_size": int(l1_small_size),
        }
    )


def device_clear_program_cache(dev_id):
    _device(dev_id).clear_program_cache()
    return OK


def _buffer_type(code):
    bt = ttnn.BufferType
    try:
        return {0: bt.DRAM, 1: bt.L1, 2: bt.L1_SMALL}[code]
    except KeyError:
        raise DriverError(ERR_INVALID_ARGUMENT, "unknown buffer type code %r" % (code,))


def memory_view(dev_id, buffer_type):
    m = ttnn.get_memory_view(_device(dev_id), _buffer_type(buffer_type))
    return (
        int(m.num_banks),
        int(m.total_bytes_per_bank),
        int(m.total_bytes_allocated_per_bank),
        int(m.total_bytes_free_per_bank),
        int(m.largest_contiguous_bytes_free_per_bank),
    )


# ---------------------------------------------------------------------------------------------
# Tensors

_DTYPES = ["bfloat16", "float32", "bfloat8_b", "bfloat4_b", "uint8", "uint16", "uint32", "int32"]


def _dtype(code_or_name):
    name = _DTYPES[code_or_name] if isinstance(code_or_name, int) else code_or_name
    if isinstance(code_or_name, int) and not 0 <= code_or_name < len(_DTYPES):
        raise DriverError(ERR_INVALID_ARGUMENT, "unknown dtype code %r" % (code_or_name,))
    return getattr(ttnn, name)


def _layout(code_or_name):
    names = {0: "tile", 1: "row_major"}
    name = names.get(code_or_name, code_or_name)
    if name == "tile":
        return ttnn.TILE_LAYOUT
    if name == "row_major":
        return ttnn.ROW_MAJOR_LAYOUT
    raise DriverError(ERR_INVALID_ARGUMENT, "unknown layout %r" % (code_or_name,))


_SHARDED = {3: "height", 4: "width", 5: "block"}


def _cdiv(a, b):
    return (a + b - 1) // b


def _sharded_memory_config(dev, shape, strategy):
    """The shard spec memmodel::shard computes (crates/memmodel/src/shard.rs; checked against the
    runtime by memmodel's tensor_allocations goldens): the tensor as [prod(padded dims[:-1]),
    padded W] over the device's whole grid, each shard rounded up to whole tiles, only the cores
    holding a shard used (height / width: the first ones row by row; block: a rectangle)."""
    grid = dev.compute_with_storage_grid_size()
    gx, gy = int(grid.x), int(grid.y)
    dims = [int(d) for d in shape]
    while len(dims) < 2:
        dims.insert(0, 1)
    rup = lambda a: _cdiv(a, 32) * 32
    rows = 1
    for d in dims[:-2]:
        rows *= d
    rows *= rup(dims[-2])
    cols = rup(dims[-1])
    if strategy == "height":
        sh, sw = rup(_cdiv(rows, gx * gy)), cols
    elif strategy == "width":
        sh, sw = rows, rup(_cdiv(cols, gx * gy))
    else:
        sh, sw = rup(_cdiv(rows, gy)), rup(_cdiv(cols, gx))
    ny, nx = _cdiv(rows, sh), _cdiv(cols, sw)
    C = ttnn.CoreCoord
    if strategy == "block":
        ranges = [ttnn.CoreRange(C(0, 0), C(nx - 1, ny - 1))]
    else:
        n = nx * ny
        ranges = []
        if n // gx:
            ranges.append(ttnn.CoreRange(C(0, 0), C(gx - 1, n // gx - 1)))
        if n % gx:
            ranges.append(ttnn.CoreRange(C(0, n // gx), C(n % gx - 1, n // gx)))
    layout = {
        "height": ttnn.TensorMemoryLayout.HEIGHT_SHARDED,
        "width": ttnn.TensorMemoryLayout.WIDTH_SHARDED,
        "block": ttnn.TensorMemoryLayout.BLOCK_SHARDED,
    }[strategy]
    spec = ttnn.ShardSpec(ttnn.CoreRangeSet(set(ranges)), [sh, sw], ttnn.ShardOrientation.ROW_MAJOR)
    return ttnn.MemoryConfig(layout, ttnn.BufferType.L1, spec)


def _memory_config(buffer_type):
    if buffer_type in (0, "dram"):
        return ttnn.DRAM_MEMORY_CONFIG
    if buffer_type in (1, "l1"):
        return ttnn.L1_MEMORY_CONFIG
    if buffer_type in (2, "l1_small"):
        return ttnn.MemoryConfig(ttnn.TensorMemoryLayout.INTERLEAVED, ttnn.BufferType.L1_SMALL)
    raise DriverError(ERR_INVALID_ARGUMENT, "unknown buffer type %r" % (buffer_type,))


def _register(dev_id, tensor):
    i = _new_id()
    _tensors[i] = (dev_id, tensor)
    return i


def _tensor(tid):
    entry = _tensors.get(tid)
    if entry is None:
        raise DriverError(ERR_INVALID_ARGUMENT, "no live tensor with handle %d" % tid)
    return entry


def tensor_empty(dev_id, shape_json, dtype, layout, buffer_type):
    dev = _device(dev_id)
    shape = [int(d) for d in json.loads(shape_json)]
    if buffer_type in _SHARDED:
        memory_config = _sharded_memory_config(dev, shape, _SHARDED[buffer_type])
    else:
        memory_config = _memory_config(buffer_type)
    t = ttnn.empty(
        shape,
        dtype=_dtype(dtype),
        layout=_layout(layout),
        device=dev,
        memory_config=memory_config,
    )
    return _register(dev_id, t)


def _on_device(t):
    try:
        return bool(ttnn.is_tensor_storage_on_device(t)) and bool(t.is_allocated())
    except Exception:
        return False


def _buffer_key(t):
    """What identifies a device buffer: (buffer type, address); None when not on device."""
    if not _on_device(t):
        return None
    try:
        return (str(t.memory_config().buffer_type), int(t.buffer_address()))
    except Exception:
        return None


def _shares_buffer(a, b):
    if a is b:
        return True
    ka = _buffer_key(a)
    return ka is not None and ka == _buffer_key(b)


def tensor_free(tid):
    _, t = _tensor(tid)
    del _tensors[tid]
    if _on_device(t) and not any(_shares_buffer(t, o) for (_, o) in _tensors.values()):
        ttnn.deallocate(t)
    return OK


def tensor_shape(tid):
    _, t = _tensor(tid)
    return tuple(int(d) for d in t.shape)


def tensor_describe(tid):
    _, t = _tensor(tid)
    on_device = _on_device(t)
    info = {
        "shape": [int(d) for d in t.shape],
        "dtype": str(t.dtype).split(".")[-1].lower(),
        "layout": str(t.layout).split(".")[-1].lower().replace("_layout", ""),
        "on_device": on_device,
    }
    if on_device:
        info["buffer_type"] = str(t.memory_config().buffer_type).split(".")[-1].lower()
        info["address"] = int(t.buffer_address())
    return json.dumps(info)


# ---------------------------------------------------------------------------------------------
# Invocations (memmodel::invoke::Invocation, serialized by serde)


def _resolve(path):
    parts = path.split(".")
    if len(parts) < 2 or parts[0] != "ttnn":
        raise DriverError(ERR_INVALID_ARGUMENT, "function `%s` is not below the ttnn module" % path)
    obj = ttnn
    for i, p in enumerate(parts[1:]):
        if not hasattr(obj, p):
            raise DriverError(
                ERR_UNSUPPORTED,
                "the runtime has no `%s` (no attribute `%s` in `%s`)" % (path, p, ".".join(parts[: i + 1])),
            )
        obj = getattr(obj, p)
    if not callable(obj):
        raise DriverError(ERR_INVALID_ARGUMENT, "`%s` is not callable" % path)
    return obj


def _attr(path):
    obj = ttnn
    for p in str(path).split("."):
        if not p or p.startswith("_") or not hasattr(obj, p):
            raise DriverError(ERR_INVALID_ARGUMENT, "ttnn has no `%s`" % path)
        obj = getattr(obj, p)
    return obj


def _value(v, dev, inputs, results):
    kind = v.get("kind")
    val = v.get("value")
    if kind == "input":
        if not 0 <= val < len(inputs):
            raise DriverError(ERR_INVALID_ARGUMENT, "input %d of %d" % (val, len(inputs)))
        return inputs[val]
    if kind == "step":
        if not 0 <= val < len(results):
            raise DriverError(ERR_INVALID_ARGUMENT, "step %d refers to a later step" % val)
        return results[val]
    if kind in ("int", "float", "bool", "str"):
        return val
    if kind == "list":
        return [_value(x, dev, inputs, results) for x in val]
    if kind == "memory_config":
        return _memory_config(val)
    if kind == "memory_config_of":
        if not 0 <= val < len(inputs):
            raise DriverError(ERR_INVALID_ARGUMENT, "input %d of %d" % (val, len(inputs)))
        return inputs[val].memory_config()
    if kind == "d_type":
        return _dtype(val)
    if kind == "layout":
        return _layout(val)
    if kind == "device":
        return dev
    if kind == "none":
        return None
    if kind == "host_tensor":
        # On the host (no device argument): conv2d prepares such weights on the device itself.
        shape = [int(d) for d in val["shape"]]
        return ttnn.zeros(shape, dtype=_dtype(val["dtype"]), layout=_layout(val["layout"]))
    if kind == "attr":
        # An enum member or a predefined config of the ttnn module, e.g.
        # TensorMemoryLayout.HEIGHT_SHARDED.
        return _attr(val)
    if kind == "object":
        # A config object made from arguments: Conv2dConfig(...), UnaryWithParam(...).
        cls = _attr(val["class"])
        args = [_value(x, dev, inputs, results) for x in val["args"]]
        kwargs = {k: _value(x, dev, inputs, results) for k, x in val["kwargs"].items()}
        return cls(*args, **kwargs)
    raise DriverError(ERR_INVALID_ARGUMENT, "unknown value kind %r" % (kind,))


def _step_refs(v, out):
    kind = v.get("kind")
    if kind == "step":
        out.append(v["value"])
    elif kind == "list":
        for x in v["value"]:
            _step_refs(x, out)


def _flatten(result):
    if isinstance(result, (list, tuple)):
        out = []
        for r in result:
            out.extend(_flatten(r))
        return out
    if result is None:
        return []
    return [result]


def _release(tensors, keep):
    """Deallocates device tensors that share no buffer with any tensor of `keep` or the table."""
    live = list(keep) + [o for (_, o) in _tensors.values()]
    for t in tensors:
        if _on_device(t) and not any(_shares_buffer(t, k) for k in live):
            ttnn.deallocate(t)


def run(dev_id, invocation_json, input_ids_json):
    dev = _device(dev_id)
    inv = json.loads(invocation_json)
    inputs = [_tensor(int(i))[1] for i in json.loads(input_ids_json)]
    steps = inv["steps"]
    output_step = int(inv["output_step"])
    if not 0 <= output_step < len(steps):
        raise DriverError(ERR_INVALID_ARGUMENT, "output_step %d of %d steps" % (output_step, len(steps)))
    last_use = {}
    for k, call in enumerate(steps):
        refs = []
        for a in call.get("args", []):
            _step_refs(a, refs)
        for a in call.get("kwargs", {}).values():
            _step_refs(a, refs)
        for r in refs:
            last_use[r] = k
    results = []
    done = False
    try:
        for k, call in enumerate(steps):
            fn = _resolve(call["function"])
            args = [_value(a, dev, inputs, results) for a in call.get("args", [])]
            kwargs = {n: _value(a, dev, inputs, results) for n, a in call.get("kwargs", {}).items()}
            results.append(fn(*args, **kwargs))
            # Temporaries die after their last use, as TT-NN composites free theirs.
            for j in range(k):
                if j != output_step and last_use.get(j) == k and results[j] is not None:
                    _release(_flatten(results[j]), inputs + _flatten(results[k]))
                    results[j] = None
        outs = _flatten(results[output_step])
        for t in outs:
            if not hasattr(t, "shape"):
                raise DriverError(ERR_INVALID_ARGUMENT, "output step returned a %s, not tensors" % type(t).__name__)
        ids = tuple(_register(dev_id, t) for t in outs)
        done = True
        return ids
    finally:
        if not done:
            for r in results:
                if r is not None:
                    try:
                        _release(_flatten(r), inputs)
                    except Exception:
                        pass
        results = None


# ---------------------------------------------------------------------------------------------
# NO_DISPATCH graph capture


def capture_begin(dev_id):
    global _capturing
    _device(dev_id)
    if _capturing is not None:
        raise DriverError(ERR_STATE, "a graph capture is already running")
    graph.begin_graph_capture(graph.RunMode.NO_DISPATCH)
    _capturing = dev_id
    return OK


def _int(x):
    try:
        return int(x)
    except (TypeError, ValueError):
        return 0


def capture_end(dev_id):
    global _capturing
    _device(dev_id)
    if _capturing != dev_id:
        raise DriverError(ERR_STATE, "no graph capture is running on this device")
    _capturing = None
    g = graph.end_graph_capture()
    u = graph.extract_resource_usage_per_core(g)
    buffers = []
    cbs = []
    # The allocation trace (memmodel::trace::Event): programs, allocations, frees (by the ordinal
    # of their allocation in this capture) and each program's circular / dataflow buffers.
    trace = []
    ordinals = {}
    for node in g:
        kind = node.get("node_type")
        p = node.get("params", {}) or {}
        links = node.get("connections") or []
        if kind == "function_start":
            factory = str(p.get("program_factory_type", "") or "")
            if factory:
                trace.append(["op", str(p.get("name", "")), factory.split("::")[-1]])
        elif kind == "buffer_allocate":
            buffers.append(
                {
                    "size": _int(p.get("size")),
                    "max_size_per_bank": _int(p.get("max_size_per_bank")),
                    "page_size": _int(p.get("page_size")),
                    "buffer_type": str(p.get("type", "")),
                }
            )
            if links:
                ordinals[links[0]] = len(ordinals)
            trace.append(
                [
                    "alloc",
                    str(p.get("type", "")),
                    _int(p.get("size")),
                    _int(p.get("max_size_per_bank")),
                    _int(p.get("page_size")),
                    str(p.get("layout", "") or ""),
                    _int(p.get("num_cores")),
                ]
            )
        elif kind == "buffer_deallocate":
            if links and links[0] in ordinals:
                trace.append(["free", ordinals[links[0]]])
        elif kind == "circular_buffer_allocate":
            cbs.append({"size": _int(p.get("size")), "core_range_set": str(p.get("core_range_set", ""))})
            trace.append(
                ["cb", _int(p.get("size")), str(p.get("core_range_set", "")), str(p.get("globally_allocated")) == "1"]
            )
        elif kind == "dataflow_buffer_allocate":
            trace.append(
                ["dfb", _int(p.get("size")), str(p.get("core_range_set", "")), str(p.get("borrows_memory")) == "1"]
            )
        elif kind == "scratchpad_allocate":
            trace.append(["scratch", _int(p.get("size")), str(p.get("core_range_set", "")), False])
        elif kind == "circular_buffer_deallocate_all":
            trace.append(["cbs_free"])
    detail = json.dumps({"buffers": buffers, "circular_buffers": cbs, "trace": trace})
    return (
        int(u.peak_cb),
        int(getattr(u, "peak_dataflow_buffer", 0)),
        int(u.peak_l1),
        int(u.peak_total),
        detail,
    )
