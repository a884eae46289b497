"""``nox -l --json | python -m compat fanout``: the matrix cells as a GitHub Actions job
matrix, the runner chosen by the cell's tags (``gpu`` -> GPU runner).

GitHub Actions caps one matrix at 256 jobs, and the exploration alone has 225 cells and
grows with every release. Up to ``--max-jobs`` cells, each cell is its own job; past it,
cells that share a runner and a Python are packed into batches (one job runs its cells
one after another), as evenly as the cap allows, so no cell is dropped.

Prints ``{"include": [{"name", "sessions", "cells", "python", "runner", "artifact"}, ...]}``;
``sessions`` holds one nox session name per line (the workflow reads them into an array,
never into shell text).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path
from typing import Any

#: GitHub Actions' limit on the jobs one matrix may generate.
GITHUB_MAX_JOBS = 256


def cells(listing: list[dict[str, Any]], cpu_runner: str, gpu_runner: str
          ) -> list[dict[str, str]]:
    """The matrix cells of a ``nox -l --json`` listing: session, cell, python, runner."""
    found = []
    for item in listing:
        if item.get("name") != "matrix":
            continue
        tags = item.get("tags", [])
        python = next((t[2:] for t in tags if re.fullmatch(r"py\d+\.\d+", t)), "3.11")
        found.append({"session": item["session"], "cell": item["call_spec"]["cell"],
                      "python": python, "runner": gpu_runner if "gpu" in tags else cpu_runner})
    return found


def batches(found: list[dict[str, str]], max_jobs: int) -> list[list[dict[str, str]]]:
    """The cells in at most ``max_jobs`` groups: one cell per group while they fit, else
    cells of one (runner, python) packed together, each group's cells in listing order."""
    if len(found) <= max_jobs:
        return [[c] for c in found]
    groups: dict[tuple[str, str], list[dict[str, str]]] = {}
    for c in found:
        groups.setdefault((c["runner"], c["python"]), []).append(c)
    if len(groups) > max_jobs:
        raise ValueError(f"{len(groups)} (runner, python) pairs cannot share {max_jobs} jobs")
    # The smallest batch size whose jobs fit: each group takes ceil(len / size) jobs.
    size = 1
    while sum(math.ceil(len(g) / size) for g in groups.values()) > max_jobs:
        size += 1
    out = []
    for group in groups.values():
        n = math.ceil(len(group) / size)  # as even as the group allows
        out += [group[i::n] for i in range(n)]
    return out


def job(batch: list[dict[str, str]], number: int) -> dict[str, Any]:
    first = batch[0]
    name = (first["cell"] if len(batch) == 1
            else f"batch {number} ({len(batch)} cells, py{first['python']})")
    tag = first["cell"] if len(batch) == 1 else f"batch-{number}"
    return {"name": name, "sessions": "\n".join(c["session"] for c in batch),
            "cells": [c["cell"] for c in batch], "python": first["python"],
            "runner": first["runner"], "artifact": "result-" + re.sub(r"[^A-Za-z0-9._-]", "_", tag)}


def jobs(listing: list[dict[str, Any]], cpu_runner: str, gpu_runner: str,
         max_jobs: int = GITHUB_MAX_JOBS) -> dict[str, Any]:
    groups = batches(cells(listing, cpu_runner, gpu_runner), max_jobs)
    return {"include": [job(batch, n) for n, batch in enumerate(groups, 1)]}


def without_current(listing: list[dict[str, Any]], atlas_data: dict[str, Any]
                    ) -> list[dict[str, Any]]:
    """The listing less the matrix sessions of cells current in the atlas's data."""
    from compat.plan.matrixfile import known_cells
    from compat.report.atlas import current_cells

    done = current_cells(atlas_data, known_cells())
    return [item for item in listing if item.get("name") != "matrix"
            or (item.get("call_spec") or {}).get("cell") not in done]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m compat fanout", description=__doc__)
    parser.add_argument("--cpu-runner", default="ubuntu-latest")
    parser.add_argument("--gpu-runner", default="gpu", help="runner label for cells tagged gpu")
    parser.add_argument("--max-jobs", type=int, default=GITHUB_MAX_JOBS,
                        help=f"jobs at most; more cells are batched (default {GITHUB_MAX_JOBS}, "
                             "GitHub's limit per matrix)")
    parser.add_argument("--skip-current", type=Path, metavar="ATLAS_JSON",
                        help="leave out the cells whose row in this atlas data is still "
                             "current (the scheduled exploration runs the others)")
    args = parser.parse_args(argv)
    if args.max_jobs < 1:
        parser.error("--max-jobs must be at least 1")
    try:
        listing = json.load(sys.stdin)
    except ValueError as exc:
        print(f"fanout: stdin is not `nox -l --json` output: {exc}", file=sys.stderr)
        return 2
    if args.skip_current:
        try:
            listing = without_current(listing, json.loads(args.skip_current.read_text(
                encoding="utf-8")))
        except (OSError, ValueError) as exc:
            print(f"fanout: {args.skip_current}: unreadable atlas data ({exc})", file=sys.stderr)
            return 2
    try:
        found = jobs(listing, args.cpu_runner, args.gpu_runner, args.max_jobs)
    except ValueError as exc:
        print(f"fanout: {exc}", file=sys.stderr)
        return 2
    if not found["include"]:
        if args.skip_current:  # every cell current: nothing to run is an answer
            print(json.dumps({"include": []}, separators=(",", ":")))
            return 0
        print("fanout: no matrix(cell=...) session in the listing", file=sys.stderr)
        return 2
    print(json.dumps(found, separators=(",", ":")))
    return 0
