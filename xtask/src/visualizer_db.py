"""Writes a ttnn-oom run as a TT-NN report database (db.sqlite) that ttnn-visualizer opens.

The schema is the pinned runtime's own: ttnn's graph_report.create_database_schema (what the
runtime writes with enable_logging + enable_graph_report + enable_detailed_buffer_report),
loaded from the runtime venv's ttnn package without importing ttnn itself (no device, no C++).
Rows follow what the runtime writes (checked against its db.sqlite of a few ops on the mock
device): one `operations` row per call in call order (name `ttnn.silu`, duration in seconds),
its arguments, its input / output tensors (`tensors` with `Shape([...])`, `DataType.BFLOAT16`,
`Layout.TILE`, the MemoryConfig as TT-NN prints it, `device_tensors`), and per operation every
device buffer alive at its end (`buffers`: address, max_size_per_bank, buffer_type as
tt-metal's BufferType number, buffer_layout as its TensorMemoryLayout number); a call that
failed is an `operations` row of duration 0 with its arguments, and an `errors` row
(`RuntimeError`, as the runtime raises TT_FATAL / TT_THROW). What the runtime also writes and a
simulated run has no source for is left out: captured_graph / nodes / edges (the call's
internal graph), buffer_chunks (pages per core), operation_executions.

usage: python visualizer_db.py TTNN_PACKAGE_DIR RUN_JSON OUT_DIR
"""

import importlib.util
import json
import sqlite3
import sys
from pathlib import Path

# tt-metal's BufferType enum (ttnn_visualizer.models.BufferType has the same numbers).
BUFFER_TYPE = {"DRAM": 0, "L1": 1, "SYSTEM_MEMORY": 2, "L1_SMALL": 3, "TRACE": 4}
# tt-metal's TensorMemoryLayout enum.
MEMORY_LAYOUT = {"INTERLEAVED": 0, "HEIGHT_SHARDED": 2, "WIDTH_SHARDED": 3, "BLOCK_SHARDED": 4}
# The device the runtime's report puts a single-chip run on is 0 here (one `devices` row).
DEVICE_ID = 0


def memory_config(b) -> str:
    # As TT-NN prints an interleaved MemoryConfig; a sharded one's shard spec is not recorded by
    # the run, so it is left out rather than guessed.
    spec = "std::nullopt" if b["memory_layout"] == "INTERLEAVED" else "?"
    return (
        f"MemoryConfig(memory_layout=TensorMemoryLayout::{b['memory_layout']},"
        f"buffer_type=BufferType::{b['buffer_type']},shard_spec={spec},nd_shard_spec=std::nullopt,"
        "created_with_nd_shard_spec=0,per_core_allocation=0,range_lockstep_allocation=0)"
    )


def tensor_row(tid: int, b) -> tuple:
    if b is None:  # not on the device (or not recorded)
        return (tid, "", None, None, None, None, None, None, 0, None)
    return (
        tid,
        f"Shape([{', '.join(str(d) for d in b['shape'])}])",
        f"DataType.{b['dtype'].upper()}",
        f"Layout.{b['layout'].upper()}",
        memory_config(b),
        DEVICE_ID,
        b["address"],
        BUFFER_TYPE[b["buffer_type"]],
        0,
        "DEVICE",
    )


def load_runtime_module(package_dir: Path, name: str):
    # ttnn's package directory holds modules (types.py, ...) that shadow the standard library,
    # so it cannot go on sys.path: load the two modules by file.
    spec = importlib.util.spec_from_file_location(name, package_dir / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def main() -> int:
    package_dir, run_path, out_dir = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    load_runtime_module(package_dir, "stack_trace_source")
    graph_report = load_runtime_module(package_dir, "graph_report")
    run = json.loads(run_path.read_text())
    out_dir.mkdir(parents=True, exist_ok=True)
    db_path = out_dir / "db.sqlite"
    db_path.unlink(missing_ok=True)
    con = sqlite3.connect(db_path)
    cur = con.cursor()
    graph_report.create_database_schema(cur)
    graph_report.save_database_schema_version(cur)
    dev = run["device"]
    graph_report.import_devices(cur, [dev])
    metadata = {"report_name": run["report_name"], **{f"ttnn_oom_{k}": str(v) for k, v in run["about"].items()}}
    cur.executemany("INSERT OR REPLACE INTO report_metadata VALUES (?, ?)", metadata.items())

    tensor_ids: dict[str, int] = {}  # name -> the id of its current version
    tensor_rows = []

    def operation(op, duration):
        op_id = op["operation_id"]
        by_name = {b["tensor"]: b for b in op.get("buffers", [])}
        cur.execute("INSERT INTO operations VALUES (?, ?, ?, 0)", (op_id, op["name"], duration))
        cur.executemany(
            "INSERT INTO operation_arguments VALUES (?, ?, ?, 0)",
            [(op_id, k, v) for k, v in op["arguments"]],
        )
        cur.execute(
            "INSERT INTO stack_traces (operation_id, stack_trace, rank) VALUES (?, ?, 0)",
            (op_id, op["stack_trace"]),
        )
        for i, name in enumerate(op.get("inputs", [])):
            b = by_name.get(name)
            if name not in tensor_ids and b:
                # A model input: no call made it (the runtime would show the op that did).
                tid = len(tensor_rows) + 1
                tensor_ids[name] = tid
                tensor_rows.append(tensor_row(tid, b))
                cur.execute("INSERT INTO device_tensors VALUES (?, ?, ?, 0)", (tid, DEVICE_ID, b["address"]))
            if name in tensor_ids:
                cur.execute("INSERT INTO input_tensors VALUES (?, ?, ?, 0)", (op_id, i, tensor_ids[name]))
                cur.execute("INSERT OR IGNORE INTO tensor_consumers VALUES (?, ?, ?, 0)", (tensor_ids[name], op_id, i))

    for op in run["operations"]:
        op_id = op["operation_id"]
        operation(op, op["duration"])
        by_name = {b["tensor"]: b for b in op["buffers"]}
        for i, name in enumerate(op["outputs"]):
            tid = len(tensor_rows) + 1
            tensor_ids[name] = tid
            b = by_name.get(name)
            tensor_rows.append(tensor_row(tid, b))
            if b:
                cur.execute("INSERT INTO device_tensors VALUES (?, ?, ?, 0)", (tid, DEVICE_ID, b["address"]))
            cur.execute("INSERT INTO output_tensors VALUES (?, ?, ?, 0)", (op_id, i, tid))
            cur.execute("INSERT OR IGNORE INTO tensor_producers VALUES (?, ?, ?, 0)", (tid, op_id, i))
        cur.executemany(
            "INSERT INTO buffers VALUES (?, ?, ?, ?, ?, ?, 0)",
            [
                (
                    op_id,
                    DEVICE_ID,
                    b["address"],
                    b["max_size_per_bank"],
                    BUFFER_TYPE[b["buffer_type"]],
                    MEMORY_LAYOUT[b["memory_layout"]],
                )
                for b in op["buffers"]
            ],
        )
    cur.executemany(graph_report._TENSORS_INSERT_SQL, tensor_rows)
    err = run.get("error")
    if err:
        # As the runtime records a call that raised: the operation (duration 0, no buffers) and
        # its error.
        operation(err, 0.0)
        # The runtime raises every TT_FATAL / TT_THROW (out of memory, a refused call) as a
        # RuntimeError; a call sim does not model was never run, so it says that instead.
        error_type = "Unmodeled" if err["outcome"] == "unmodeled" else "RuntimeError"
        cur.execute(
            "INSERT INTO errors VALUES (?, ?, ?, ?, ?, '', 0)",
            (err["operation_id"], err["name"], error_type, err["message"], err["stack_trace"]),
        )
    con.commit()
    con.close()
    print(db_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
