"""Opens TT-NN report folders in ttnn-visualizer's own server and checks it shows each run.

Runs in the visualizer venv. Each folder is opened as `ttnn-visualizer --profiler-path DIR`
opens it (an instance made from the local path), and the server's API answers what its pages
show: /api/operations (the operations list), /api/operation-buffers (the buffers view, the
memory map per operation), /api/tensors, /api/devices. What it must show comes from the run's
own record (expected.json, written next to db.sqlite by the exporter), not from the db: the
operation count, tensor count, errors, and per operation every buffer (address, bytes per bank,
buffer type).

usage: python visualizer_check.py APP_DATA_DIR REPORT_DIR...
prints one JSON object per folder: what the visualizer shows.
"""

import json
import logging
import os
import sys
from pathlib import Path


def main() -> int:
    app_data = Path(sys.argv[1])
    # The server keeps its own state (instances db, uploads): a scratch folder, not the user's.
    os.environ["APP_DATA_DIRECTORY"] = str(app_data)
    os.environ["REPORT_DATA_DIRECTORY"] = str(app_data / "reports")
    os.environ.setdefault("FLASK_ENV", "production")
    logging.disable(logging.INFO)
    from ttnn_visualizer.app import create_app
    from ttnn_visualizer.instances import create_instance_from_local_paths

    app = create_app()
    client = app.test_client()
    failed = False
    for folder in sys.argv[2:]:
        report = Path(folder).resolve()
        expected = json.loads((report / "expected.json").read_text())
        with app.app_context():
            instance_id = create_instance_from_local_paths(profiler_path=str(report), performance_path=None).instance_id

        def get(path):
            answer = client.get(f"/api/{path}?instanceId={instance_id}")
            if answer.status_code != 200:
                raise SystemExit(f"{report}: /api/{path} answered {answer.status_code}: {answer.get_data(as_text=True)[:500]}")
            return answer.get_json()

        operations = get("operations")
        buffers = get("operation-buffers")
        buffer_type_name = {0: "DRAM", 1: "L1", 2: "SYSTEM_MEMORY", 3: "L1_SMALL", 4: "TRACE"}
        shown_by_operation = {
            str(o["id"]): sorted([b["address"], b["size"], buffer_type_name.get(b["buffer_type"], b["buffer_type"])] for b in o["buffers"])
            for o in buffers
            if o["buffers"]
        }
        want_by_operation = {k: sorted(v) for k, v in expected.pop("buffers_by_operation").items() if v}
        seen = {
            "operations": len(operations),
            "buffers": sum(len(o["buffers"]) for o in buffers),
            "tensors": len(get("tensors")),
            "errors": sum(1 for o in operations if o.get("error")),
            "devices": len(get("devices")),
            "most_buffers_of_one_operation": max((len(o["buffers"]) for o in buffers), default=0),
            "first_operations": [f'{o["id"]} {o["name"]}' for o in operations[:3]],
        }
        differing = sorted(set(shown_by_operation) ^ set(want_by_operation)) + [
            k for k in want_by_operation if k in shown_by_operation and shown_by_operation[k] != want_by_operation[k]
        ]
        seen["buffers_checked"] = sum(len(v) for v in want_by_operation.values()) if not differing else 0
        problems = [
            f"{key}: the run recorded {want}, the visualizer shows {seen[key]}"
            for key, want in expected.items()
            if seen.get(key) != want
        ]
        for k in differing[:5]:
            problems.append(
                f"operation {k}: the run recorded buffers {want_by_operation.get(k)}, the visualizer shows {shown_by_operation.get(k)}"
            )
        if seen["devices"] != 1:
            problems.append(f"devices: the visualizer shows {seen['devices']}, expected 1")
        print(json.dumps({"report": str(report), **seen}), flush=True)
        if problems:
            failed = True
            print(f"{report}:\n  " + "\n  ".join(problems), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
