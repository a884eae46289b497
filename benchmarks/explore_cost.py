"""Benchmark: what the exploratory matrix costs on this machine: cells, wall time, disk.

    python benchmarks/explore_cost.py [-k EXPR | --cells FILE] [--results DIR] [-- ARGS]

runs ``nox -s matrix -t explore`` (its cells' own tiers: import, load, synth), with ``-k``
or ``--cells`` (a file of cell ids, one a line, run in that order) to run a part of it,
and samples the free disk every five seconds meanwhile. Prints a table: cells selected,
results written, run now, wall time, minutes per cell run, free disk before, lowest
during (the peak use) and after. Cells keep no environment (``keep-env = false``), so
the peak is one cell's environments plus uv's cache.
Run it on a quiet machine; the figures are data, never assertions.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
GIB = 2**30


def sessions(keyword: str | None, cells: list[str]) -> list[str]:
    """nox's selection: every exploratory cell, those ``-k`` matches, or the ones named
    (nox ignores ``-s`` names when ``-t`` is given: named cells load the file itself,
    through COMPAT_MATRIX)."""
    if cells:
        return ["-s", *(f"matrix(cell='{c}')" for c in cells)]
    return ["-t", "explore", *(["-k", keyword] if keyword else [])]


def environment(cells: list[str], results: Path) -> dict[str, str]:
    chosen = {"COMPAT_MATRIX": str(REPO / "matrices" / "explore.toml")} if cells else {}
    return {**os.environ, "COMPAT_RESULTS": str(results), **chosen}


def selected(keyword: str | None, cells: list[str]) -> list[str]:
    cmd = [sys.executable, "-m", "nox", "-l", "--json", *sessions(keyword, cells)]
    out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=True,
                         env=environment(cells, REPO / "results"))
    return [s["call_spec"]["cell"] for s in json.loads(out.stdout) if s["name"] == "matrix"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-k", dest="keyword", default=None)
    parser.add_argument("--cells", type=Path, default=None)
    parser.add_argument("--results", type=Path, default=REPO / "results")
    parser.add_argument("rest", nargs="*")
    args = parser.parse_args()
    named = args.cells.read_text().split() if args.cells else []
    cells = selected(args.keyword, named)
    before = {c: (args.results / f"{c}.json").stat().st_mtime
              for c in cells if (args.results / f"{c}.json").exists()}
    free = [shutil.disk_usage(REPO).free]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(5):
            free.append(shutil.disk_usage(REPO).free)

    threading.Thread(target=sample, daemon=True).start()
    start = time.monotonic()
    cmd = [sys.executable, "-m", "nox", *sessions(args.keyword, named)]
    code = subprocess.run([*cmd, *(["--", *args.rest] if args.rest else [])], cwd=REPO,
                          env=environment(named, args.results)).returncode
    seconds = time.monotonic() - start
    done.set()
    free.append(shutil.disk_usage(REPO).free)
    written = [c for c in cells if (args.results / f"{c}.json").exists()]
    ran = [c for c in written if (args.results / f"{c}.json").stat().st_mtime
           > before.get(c, 0)]
    print("\n| cells selected | results | run now | wall (min) | min per cell run | "
          "free before (GiB) | lowest free (GiB) | free after (GiB) | nox exit |")
    print("|---|---|---|---|---|---|---|---|---|")
    per = f"{seconds / 60 / len(ran):.2f}" if ran else "-"
    print(f"| {len(cells)} | {len(written)} | {len(ran)} | {seconds / 60:.1f} | {per} | "
          f"{free[0] / GIB:.1f} | {min(free) / GIB:.1f} | {free[-1] / GIB:.1f} | {code} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
