"""conv2d probe on the mock device (ttnn 0.81.1): buffers, CBs, OOM messages (docs/conv2d.md).

Run with the venv of `.ttnn-oom` and the mock-device environment the `ttnn` crate sets
(crates/ttnn/src/metal/runtime.rs: TT_METAL_RUNTIME_ROOT=<runtime_root>/, TT_METAL_CACHE=
<cache_dir>/mock, TT_METAL_MOCK_CLUSTER_DESC_PATH=<mock_devices.n150|p150>, from runtime.json):

    .ttnn-oom/venv/bin/python docs/conv2d_probe.py \
        '[{"n":1,"h":64,"w":64,"cin":64,"cout":128,"k":3,"s":2,"p":1}]'

Each case: the input [1,1,N*H*W,C] created in L1 or DRAM (`mem`), zero host weights
[C_out, C_in/groups, k, k] and bias [1,1,1,C_out], then ttnn.conv2d with the default
Conv2dConfig, once in a NO_DISPATCH graph capture (every buffer, CB and device operation) and
once for real (the output's memory config, or the runtime's error), with the memory views
before, after, after freeing the output and after clearing the program cache.
L1S=<bytes> sets l1_small_size at open (default 32768).
"""
import json, sys, os
import ttnn
import ttnn._ttnn.graph as graph

L1S = int(os.environ.get("L1S", 32768))
dev = ttnn.open_device(device_id=0, l1_small_size=L1S)
grid = dev.compute_with_storage_grid_size()
print("grid", grid.x, grid.y, "l1_small", L1S)

def mv(bt):
    m = ttnn.get_memory_view(dev, bt)
    return (m.num_banks, m.total_bytes_per_bank, m.total_bytes_allocated_per_bank)

def case(n, h, w, cin, cout, k, s, p, mem="l1", layout="row_major", bias=True, cfg=None, dtype=ttnn.bfloat16, groups=1, capture=True, run=True):
    shape = [1, 1, n * h * w, cin]
    lay = ttnn.ROW_MAJOR_LAYOUT if layout == "row_major" else ttnn.TILE_LAYOUT
    mc = ttnn.L1_MEMORY_CONFIG if mem == "l1" else ttnn.DRAM_MEMORY_CONFIG
    x = ttnn.empty(shape, dtype=dtype, layout=lay, device=dev, memory_config=mc)
    wt = ttnn.zeros([cout, cin // groups, k, k], dtype=ttnn.bfloat16, layout=ttnn.ROW_MAJOR_LAYOUT)
    bt = ttnn.zeros([1, 1, 1, cout], dtype=ttnn.bfloat16, layout=ttnn.ROW_MAJOR_LAYOUT) if bias else None
    kw = dict(input_tensor=x, weight_tensor=wt, bias_tensor=bt, device=dev, in_channels=cin, out_channels=cout,
              batch_size=n, input_height=h, input_width=w, kernel_size=(k, k), stride=(s, s), padding=(p, p),
              dilation=(1, 1), groups=groups)
    if cfg is not None:
        kw["conv_config"] = cfg
    print("=== case", dict(n=n, h=h, w=w, cin=cin, cout=cout, k=k, s=s, p=p, mem=mem, layout=layout, bias=bias, groups=groups))
    print("  before L1", mv(ttnn.BufferType.L1), "DRAM", mv(ttnn.BufferType.DRAM), "L1S", mv(ttnn.BufferType.L1_SMALL))
    if capture:
        graph.begin_graph_capture(graph.RunMode.NO_DISPATCH)
        err = None
        try:
            out = ttnn.conv2d(**kw)
        except Exception as e:
            err = e
        g = graph.end_graph_capture()
        u = graph.extract_resource_usage_per_core(g)
        print("  capture: peak_cb", u.peak_cb, "peak_l1", u.peak_l1, "peak_total", u.peak_total, "err", str(err)[:300] if err else None)
        for node in g:
            kind = node.get("node_type"); pr = node.get("params", {}) or {}
            if kind == "function_start":
                nm = str(pr.get("name", ""))
                fac = pr.get("program_factory_type", "")
                if fac or "conv" in nm.lower() or "halo" in nm.lower() or "sliding" in nm.lower() or "prepare" in nm.lower() or "move" in nm.lower():
                    print("   fn", nm, fac)
            elif kind == "buffer_allocate":
                print("   alloc", repr(pr.get("type")), pr.get("address"), pr.get("size"), "per_bank", pr.get("max_size_per_bank"), "page", pr.get("page_size"), pr.get("layout"), "cores", pr.get("num_cores"))
            elif kind == "buffer_deallocate":
                print("   free")
            elif kind in ("circular_buffer_allocate", "dataflow_buffer_allocate"):
                print("   cb", pr.get("size"), pr.get("core_range_set"), "global" if str(pr.get("globally_allocated")) == "1" else "")
            elif kind == "circular_buffer_deallocate_all":
                print("   cbs_free")
    if run:
        try:
            out = ttnn.conv2d(**kw)
            mc = out.memory_config()
            print("  run OK out", list(out.shape), out.layout, out.dtype, mc.memory_layout, mc.buffer_type, mc.shard_spec)
            print("  after L1", mv(ttnn.BufferType.L1), "DRAM", mv(ttnn.BufferType.DRAM), "L1S", mv(ttnn.BufferType.L1_SMALL))
            ttnn.deallocate(out)
        except Exception as e:
            t = str(e); i = t.find("info:"); j = t.find("backtrace:")
            print("  run ERR", type(e).__name__, t[i+5 if i>=0 else 0: j if j>=0 else None].strip()[:600])
        print("  after free L1", mv(ttnn.BufferType.L1), "DRAM", mv(ttnn.BufferType.DRAM), "L1S", mv(ttnn.BufferType.L1_SMALL))
        dev.clear_program_cache()
        print("  after cache clear L1", mv(ttnn.BufferType.L1), "DRAM", mv(ttnn.BufferType.DRAM), "L1S", mv(ttnn.BufferType.L1_SMALL))
    ttnn.deallocate(x)

cases = json.loads(sys.argv[1]) if len(sys.argv) > 1 else [
    dict(n=1, h=32, w=32, cin=64, cout=64, k=3, s=1, p=1),
]
for c in cases:
    case(**c)
ttnn.close_device(dev)
