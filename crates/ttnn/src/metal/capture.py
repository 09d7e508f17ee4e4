"""Runs a user's TT-NN script on a mock device and records its top-level TT-NN calls with TT-NN's
graph capture, for `cargo xtask model-import` (memmodel::capture turns the record into a model
file).

argv: site-packages, the script, the JSON file to write, the L1_SMALL bytes to open the device
with (the script's `L1_SMALL_SIZE` wins when it sets one).

The script defines `model(device)`: it makes its inputs on the device (ttnn.zeros, ttnn.ones,
ttnn.from_buffer, ... with `device=`), calls TT-NN on them and returns its output tensor(s).

Why the calls are tracked here: with ttnn's fast runtime mode (the default) a top-level call such
as ttnn.linear emits a function_start node only while ttnn.graph's Python I/O recording is on, and
that recording imports torch (not installed). So each top-level TT-NN operation called while the
capture runs is wrapped: its name goes into the graph (`track_function_start`, the call TT-NN's own
decorators make) and its arguments are recorded here as values; buffers, tensors and frees come
from the capture itself.
"""

import importlib.util
import inspect
import json
import os
import site
import sys
import traceback


def main():
    site_packages, script, out_path, l1_small = sys.argv[1:5]
    if not getattr(sys, "argv", None):
        sys.argv = ["ttnn-oom-capture"]
    site.addsitedir(site_packages)
    import ttnn
    import ttnn._ttnn.graph as graph
    from ttnn.decorators import FastOperation

    record = {"script": script, "calls": [], "frees": [], "returned": [], "error": None}
    tensors = {}

    def describe(t):
        """A tensor as the model file states it; never reads its data."""
        tid = int(t.tensor_id)
        on_device = t.storage_type() == ttnn.StorageType.DEVICE
        info = {
            "shape": [int(d) for d in t.shape],
            "dtype": str(t.dtype).split(".")[-1].lower(),
            "layout": str(t.layout).split(".")[-1].lower(),
            "on_device": bool(on_device),
        }
        if on_device:
            mc = t.memory_config()
            info["buffer_type"] = str(mc.buffer_type).split(".")[-1].lower()
            info["memory_layout"] = str(mc.memory_layout).split(".")[-1].lower()
            if t.is_allocated():
                # Views share their input's buffer: frees are matched to tensors by address.
                info["address"] = int(t.buffer_address())
        tensors[str(tid)] = info
        return tid

    def value(v, depth=0):
        if isinstance(v, ttnn.Tensor):
            return {"tensor": describe(v)}
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        if isinstance(v, (list, tuple)) and depth < 4:
            return [value(e, depth + 1) for e in v]
        if isinstance(v, ttnn.MemoryConfig):
            return {
                "memory_config": {
                    "buffer_type": str(v.buffer_type).split(".")[-1].lower(),
                    "memory_layout": str(v.memory_layout).split(".")[-1].lower(),
                }
            }
        if isinstance(v, ttnn.DataType):
            return {"dtype": str(v).split(".")[-1].lower()}
        if isinstance(v, ttnn.Layout):
            return {"layout": str(v).split(".")[-1].lower()}
        if isinstance(v, ttnn.Shape):
            return [int(d) for d in v]
        if isinstance(v, (ttnn.MeshDevice,)) or type(v).__name__ in ("Device", "MeshDevice"):
            return {"device": True}
        try:
            text = str(v)
        except Exception as e:  # a binding whose repr fails must not stop the capture
            text = "<unprintable: %s>" % e
        return {"object": type(v).__name__, "repr": text[:300]}

    def flatten(result):
        if isinstance(result, ttnn.Tensor):
            return [result]
        if isinstance(result, (list, tuple)):
            return [t for r in result for t in flatten(r)]
        if isinstance(result, dict):
            return [t for r in result.values() for t in flatten(r)]
        return []

    depth = [0]
    original = FastOperation.__call__

    def traced(self, *args, **kwargs):
        if depth[0] > 0 or not graph.is_graph_capture_active():
            return original(self, *args, **kwargs)
        call = {
            "function": self.python_fully_qualified_name,
            "args": [value(a) for a in args],
            "kwargs": {k: value(v) for k, v in kwargs.items()},
            "outputs": [],
        }
        record["calls"].append(call)
        depth[0] += 1
        graph.track_function_start(call["function"])
        try:
            result = original(self, *args, **kwargs)
        except BaseException as e:
            call["error"] = "%s: %s" % (type(e).__name__, e)
            raise
        finally:
            graph.track_function_end()
            depth[0] -= 1
        call["outputs"] = [describe(t) for t in flatten(result)]
        return result

    # As `python script.py` would: the script's folder first on the path (its own helpers).
    sys.path.insert(0, os.path.dirname(script))
    spec = importlib.util.spec_from_file_location("ttnn_oom_user_model", script)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except BaseException:
        record["error"] = "importing the script failed:\n" + script_error(script)
        return write(out_path, record, tensors)
    entry = getattr(module, "model", None)
    if not callable(entry):
        record["error"] = "the script defines no `model(device)` function (see the README: Bring your own model)"
        return write(out_path, record, tensors)
    if len(inspect.signature(entry).parameters) != 1:
        record["error"] = "`model` must take one argument, the device: def model(device)"
        return write(out_path, record, tensors)

    l1_small = int(getattr(module, "L1_SMALL_SIZE", l1_small))
    device = ttnn.open_device(device_id=0, l1_small_size=l1_small)
    record["l1_small_size"] = l1_small
    FastOperation.__call__ = traced
    returned = None
    graph.begin_graph_capture(graph.RunMode.NORMAL)
    try:
        returned = entry(device)
    except BaseException:
        record["error"] = "the script raised:\n" + script_error(script)
    finally:
        nodes = graph.end_graph_capture()
        FastOperation.__call__ = original
    try:
        record["returned"] = [describe(t) for t in flatten(returned)]
        record["allocs"], record["frees"] = buffer_events(nodes, record["calls"])
    finally:
        returned = None
        ttnn.close_device(device)
    write(out_path, record, tensors)


def buffer_events(nodes, calls):
    """The buffers allocated and freed during the capture, in order: where (after which
    top-level call, its index, -1 before the first; whether inside it), which buffer (type,
    address) and its bytes per bank."""
    allocs, frees = [], []
    depth = 0
    current = -1
    inside = False
    next_call = 0
    for n in nodes:
        kind = n.get("node_type")
        p = n.get("params") or {}
        if kind == "function_start":
            if depth == 0 and next_call < len(calls) and p.get("name", "") == calls[next_call]["function"]:
                current = next_call
                next_call += 1
                inside = True
            depth += 1
        elif kind == "function_end":
            depth = max(depth - 1, 0)
            if depth == 0:
                inside = False
        elif kind in ("buffer_allocate", "buffer_deallocate"):
            event = {
                "after_call": current,
                "inside": inside,
                "buffer_type": str(p.get("type", "")).lower(),
                "address": int(p.get("address", 0) or 0),
                "max_size_per_bank": int(p.get("max_size_per_bank", 0) or 0),
            }
            (allocs if kind == "buffer_allocate" else frees).append(event)
    return allocs, frees


def script_error(script):
    """The exception being handled, as the script's frames and the message (without tt-metal's
    C++ backtrace)."""
    kind, exc, tb = sys.exc_info()
    frames = [f for f in traceback.extract_tb(tb) if f.filename == script] or traceback.extract_tb(tb)[-1:]
    lines = traceback.format_list(frames)
    message = []
    for line in str(exc).splitlines():
        if line.strip() == "backtrace:":
            break
        message.append(line)
    return "".join(lines) + "%s: %s" % (kind.__name__, "\n".join(message).strip())


def write(path, record, tensors):
    record["tensors"] = tensors
    with open(path, "w") as f:
        json.dump(record, f, indent=1)


if __name__ == "__main__":
    main()
