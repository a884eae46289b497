"""``nox -l --json | python -m compat fanout``: the matrix cells as a GitHub Actions job
matrix, one job per cell, the runner chosen by the cell's tags (``gpu`` -> GPU runner).

Prints ``{"include": [{"session", "cell", "python", "runner", "artifact"}, ...]}``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any


def jobs(listing: list[dict[str, Any]], cpu_runner: str, gpu_runner: str) -> dict[str, Any]:
    include = []
    for item in listing:
        if item.get("name") != "matrix":
            continue
        tags = item.get("tags", [])
        python = next((t[2:] for t in tags if re.fullmatch(r"py\d+\.\d+", t)), "3.11")
        cell = item["call_spec"]["cell"]
        include.append({"session": item["session"], "cell": cell, "python": python,
                        "runner": gpu_runner if "gpu" in tags else cpu_runner,
                        "artifact": "result-" + re.sub(r"[^A-Za-z0-9._-]", "_", cell)})
    return {"include": include}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m compat fanout", description=__doc__)
    parser.add_argument("--cpu-runner", default="ubuntu-latest")
    parser.add_argument("--gpu-runner", default="gpu", help="runner label for cells tagged gpu")
    args = parser.parse_args(argv)
    try:
        listing = json.load(sys.stdin)
    except ValueError as exc:
        print(f"fanout: stdin is not `nox -l --json` output: {exc}", file=sys.stderr)
        return 2
    found = jobs(listing, args.cpu_runner, args.gpu_runner)
    if not found["include"]:
        print("fanout: no matrix(cell=...) session in the listing", file=sys.stderr)
        return 2
    print(json.dumps(found, separators=(",", ":")))
    return 0
