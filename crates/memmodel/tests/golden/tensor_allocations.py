# Produces tensor_allocations.json: what the real TT-NN runtime (ttnn 0.81.1 on a mock device)
# allocates for single device tensors. Run once per device with the mock recipe of
# ../shared/reference/ttnn-mock (see tensor_allocations.rs for the exact command). Appends to the
# JSON file given as argv[2].
import json, re, sys
import ttnn
import ttnn._ttnn.graph as G

device_name, out_path = sys.argv[1], sys.argv[2]
DT = {"bfloat16": ttnn.bfloat16, "float32": ttnn.float32, "bfloat8_b": ttnn.bfloat8_b,
      "bfloat4_b": ttnn.bfloat4_b, "uint8": ttnn.uint8, "uint16": ttnn.uint16, "uint32": ttnn.uint32}
LAY = {"tile": ttnn.TILE_LAYOUT, "row_major": ttnn.ROW_MAJOR_LAYOUT}
MEM = {"l1": ttnn.L1_MEMORY_CONFIG, "dram": ttnn.DRAM_MEMORY_CONFIG}
CASES = [
    ([1, 64, 640, 400], "bfloat16", "tile", "l1"),
    ([1, 64, 640, 400], "bfloat16", "tile", "dram"),
    ([1, 96, 2160, 3840], "bfloat16", "tile", "l1"),
    ([1, 96, 2160, 3840], "bfloat16", "tile", "dram"),
    ([1, 2160, 3840, 96], "bfloat16", "tile", "l1"),
    ([1, 3, 1280, 1280], "bfloat16", "tile", "l1"),
    ([1, 1280, 1280, 3], "bfloat16", "tile", "l1"),
    ([1, 1280, 1280, 3], "bfloat16", "tile", "dram"),
    ([1, 1280, 1280, 3], "bfloat16", "row_major", "l1"),
    ([1, 1280, 1280, 3], "bfloat16", "row_major", "dram"),
    ([1, 3, 1280, 1280], "bfloat16", "row_major", "dram"),
    ([1, 1280, 1280, 3], "float32", "row_major", "l1"),
    ([1, 1280, 1280, 3], "bfloat8_b", "tile", "l1"),
    ([1, 1280, 1280, 3], "bfloat4_b", "tile", "dram"),
    ([1, 1280, 1280, 3], "uint8", "row_major", "dram"),
    ([1, 1280, 1280, 3], "uint32", "tile", "l1"),
    ([1, 128, 640, 400], "bfloat16", "tile", "l1"),
    ([1, 256, 320, 200], "bfloat16", "tile", "l1"),
    ([12, 8160, 8160], "bfloat16", "tile", "l1"),
    ([12, 8160, 8160], "bfloat16", "tile", "dram"),
    ([1, 12, 8160, 8160], "float32", "tile", "dram"),
    ([64000, 512], "bfloat16", "tile", "l1"),
    ([1, 1, 2088960, 96], "bfloat16", "tile", "l1"),
    ([1, 96, 4320, 7680], "float32", "tile", "dram"),
    ([1, 3, 4320, 7680], "bfloat16", "tile", "l1"),
    ([1], "bfloat16", "tile", "l1"),
    ([1], "bfloat16", "row_major", "l1"),
    ([1], "bfloat16", "row_major", "dram"),
    ([7], "bfloat16", "tile", "dram"),
    ([1, 1, 3, 5], "bfloat16", "row_major", "l1"),
    ([1, 10, 8, 7, 8, 512], "bfloat16", "tile", "l1"),
    ([1334, 4, 49, 49], "bfloat16", "tile", "dram"),
    ([1334, 49, 49, 4], "bfloat16", "tile", "dram"),
]
# Sharded: the shard spec memmodel::shard computes for the device's whole grid (ROW_MAJOR
# orientation): the tensor as [prod(padded dims[:-1]), padded W]; height: rows over all cores,
# width: columns over all cores, block: rows over the grid's rows and columns over its columns;
# each shard rounded up to whole tiles; only the cores holding a shard are used.
SHARDED = [
    ([1, 1, 100, 64], "bfloat16", "height"),
    ([1, 1, 100, 64], "bfloat16", "width"),
    ([1, 1, 100, 64], "bfloat16", "block"),
    ([1, 1, 4000, 64], "bfloat16", "height"),
    ([1, 640, 400, 64], "bfloat16", "height"),
    ([1, 640, 400, 64], "bfloat16", "width"),
    ([1, 640, 400, 64], "bfloat16", "block"),
    ([1, 135, 240, 96], "bfloat16", "height"),
    ([1, 135, 240, 96], "bfloat16", "width"),
    ([1, 135, 240, 96], "bfloat16", "block"),
    ([1, 1280, 1280, 3], "bfloat16", "height"),
    ([1, 1280, 1280, 3], "bfloat16", "block"),
    ([1, 544, 1280, 32], "bfloat16", "height"),
    ([1, 544, 1280, 32], "bfloat16", "block"),
    ([1, 2160, 3840, 96], "bfloat16", "height"),
    ([12, 8160, 8160], "bfloat16", "block"),
    ([1, 160, 100, 128], "float32", "block"),
    ([1, 640, 400, 64], "bfloat8_b", "height"),
    ([1, 3, 50, 70], "bfloat16", "block"),
]


def sharded_config(shape, strategy, gx, gy):
    rup = lambda a, b: (a + b - 1) // b * b
    cdiv = lambda a, b: (a + b - 1) // b
    *batch, h, w = shape
    rows = 1
    for d in batch:
        rows *= d
    rows *= rup(h, 32)
    cols = rup(w, 32)
    if strategy == "height":
        sh, sw = rup(cdiv(rows, gx * gy), 32), cols
    elif strategy == "width":
        sh, sw = rows, rup(cdiv(cols, gx * gy), 32)
    else:
        sh, sw = rup(cdiv(rows, gy), 32), rup(cdiv(cols, gx), 32)
    ny, nx = cdiv(rows, sh), cdiv(cols, sw)
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
    layout = {"height": ttnn.TensorMemoryLayout.HEIGHT_SHARDED, "width": ttnn.TensorMemoryLayout.WIDTH_SHARDED,
              "block": ttnn.TensorMemoryLayout.BLOCK_SHARDED}[strategy]
    spec = ttnn.ShardSpec(ttnn.CoreRangeSet(set(ranges)), [sh, sw], ttnn.ShardOrientation.ROW_MAJOR)
    return ttnn.MemoryConfig(layout, ttnn.BufferType.L1, spec), [sh, sw], nx * ny


OOM = re.compile(r"allocate (\d+) B (\w+) buffer across (\d+) banks, where each bank needs to store (\d+) B, but bank size is (\d+) B")
dev = ttnn.open_device(device_id=0)
bank = {m: ttnn.get_memory_view(dev, mc.buffer_type).total_bytes_per_bank for m, mc in MEM.items()}
rows = []
for shape, dtype, layout, memory in CASES:
    row = {"device": device_name, "shape": shape, "dtype": dtype, "layout": layout, "memory": memory,
           "bank_bytes": bank[memory]}
    G.begin_graph_capture(G.RunMode.NORMAL)
    try:
        t = ttnn.empty(shape, dtype=DT[dtype], layout=LAY[layout], device=dev, memory_config=MEM[memory])
        g = G.end_graph_capture()
        alloc = [n["params"] for n in g if n["node_type"] == "buffer_allocate"][0]
        row.update(outcome="ok", total_bytes=int(alloc["size"]), per_bank_bytes=int(alloc["max_size_per_bank"]))
        ttnn.deallocate(t)
    except RuntimeError as e:
        G.end_graph_capture()
        m = OOM.search(str(e))
        if not m:
            raise
        row.update(outcome="oom", total_bytes=int(m.group(1)), per_bank_bytes=int(m.group(4)),
                   bank_bytes=int(m.group(5)), banks=int(m.group(3)))
    rows.append(row)
grid = dev.compute_with_storage_grid_size()
for shape, dtype, strategy in SHARDED:
    mc, shard_shape, shards = sharded_config(shape, strategy, grid.x, grid.y)
    row = {"device": device_name, "shape": shape, "dtype": dtype, "layout": "tile",
           "memory": "l1_%s_sharded" % strategy, "bank_bytes": bank["l1"], "shard_shape": shard_shape}
    G.begin_graph_capture(G.RunMode.NORMAL)
    try:
        t = ttnn.empty(shape, dtype=DT[dtype], layout=ttnn.TILE_LAYOUT, device=dev, memory_config=mc)
        g = G.end_graph_capture()
        alloc = [n["params"] for n in g if n["node_type"] == "buffer_allocate"][0]
        row.update(outcome="ok", total_bytes=int(alloc["size"]), per_bank_bytes=int(alloc["max_size_per_bank"]),
                   banks=int(alloc["num_cores"]), tensor_layout=str(alloc["layout"]))
        ttnn.deallocate(t)
    except RuntimeError as e:
        G.end_graph_capture()
        m = OOM.search(str(e))
        if not m:
            raise
        row.update(outcome="oom", total_bytes=int(m.group(1)), per_bank_bytes=int(m.group(4)),
                   bank_bytes=int(m.group(5)), banks=int(m.group(3)))
    rows.append(row)
ttnn.close_device(dev)
try:
    existing = json.load(open(out_path))
except FileNotFoundError:
    existing = {"runtime": "ttnn 0.81.1 (mock device)", "cases": []}
existing["cases"] = [c for c in existing["cases"] if c["device"] != device_name] + rows
json.dump(existing, open(out_path, "w"), indent=1)
print(f"{device_name}: {len(rows)} cases")
