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
ttnn.close_device(dev)
try:
    existing = json.load(open(out_path))
except FileNotFoundError:
    existing = {"runtime": "ttnn 0.81.1 (mock device)", "cases": []}
existing["cases"] = [c for c in existing["cases"] if c["device"] != device_name] + rows
json.dump(existing, open(out_path, "w"), indent=1)
print(f"{device_name}: {len(rows)} cases")
