"""Benchmark: the matrix after a change to one tier's test, against a full rerun.

Two runs of ``nox -s matrix`` on the same matrix, one after the other, on a quiet machine:
  full     every cell rerun (``-- --force``), environments already there (warm)
  changed  one tier test file edited (a comment appended, restored afterwards): only
           that tier and the tiers that need it rerun, in each cell (per-tier versions)

  restored (with ``--jobs N``) the file put back and the matrix run again with ``--jobs
           N``: the same tiers rerun as after the change (their version changed back), so
           this run and the last do the same work, one cell at a time and N at a time

Needs every cell's result current before it starts (run the matrix once); with ``--jobs``
it also leaves them current. Prints a table with the ratios; the figures are data, never
assertions. ``--full-seconds`` takes the full run's time from an earlier run in the same
session instead of running it again.

    python benchmarks/rerun_changed.py [--matrix FILE (default: the default selection)]
        [--tier-test compat/engines/xtts/tiers/test_stream.py] [--full-seconds S] [--jobs N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def timed_matrix(matrix: str, *extra: str) -> tuple[float, int]:
    env = {k: v for k, v in os.environ.items() if k != "COMPAT_MATRIX"}
    if matrix:  # else nox's default selection: every matrix file in it
        env["COMPAT_MATRIX"] = matrix
    start = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "nox", "-s", "matrix", "--", *extra],
                         cwd=REPO, env=env)
    return time.monotonic() - start, out.returncode


def reran(results: Path, cells: set[str], since: float) -> dict[str, list[str]]:
    """Per cell of the matrix, the tiers the last run reran (``rerun.tiers``; all when
    rerun whole; none when its result was written before the run began at ``since``)."""
    import datetime as dt

    out = {}
    for path in sorted(results.glob("*.json")):
        data = json.loads(path.read_text())
        if data["cell"]["id"] not in cells:
            continue
        finished = dt.datetime.fromisoformat(data.get("finished_at") or "1970-01-01T00:00:00+00:00")
        if finished.timestamp() < since:
            out[data["cell"]["id"]] = ["(not rerun: its tiers did not change)"]
        else:
            out[data["cell"]["id"]] = (data.get("rerun") or {}).get("tiers") or ["all"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--matrix", default="",
                        help="one matrix file (default: the default selection, every file "
                             "in it, as nox -s matrix runs)")
    parser.add_argument("--tier-test", default="compat/engines/xtts/tiers/test_stream.py")
    parser.add_argument("--full-seconds", type=float, default=None)
    parser.add_argument("--jobs", type=int, default=1,
                        help="also run the restored file's rerun N cells at a time")
    args = parser.parse_args()
    test = REPO / args.tier_test
    original = test.read_bytes()
    results = Path(os.environ.get("COMPAT_RESULTS", REPO / "results"))
    sys.path.insert(0, str(REPO))
    from compat.plan.matrixfile import load_matrix
    from compat.system.paths import matrix_paths

    files = [REPO / args.matrix] if args.matrix else matrix_paths()
    cells = {c.id for f in files for c in load_matrix(f).cells}
    full = args.full_seconds
    if full is None:
        full, code = timed_matrix(args.matrix, "--force")
        if code:
            raise SystemExit(f"the full run failed (exit {code})")
    try:
        test.write_bytes(original + b"\n# benchmarks/rerun_changed.py: a changed tier test\n")
        since = time.time()
        changed, code = timed_matrix(args.matrix)
    finally:
        test.write_bytes(original)
    if code:
        raise SystemExit(f"the run after the change failed (exit {code})")
    rows = [("full (--force)", full), (f"after changing {test.name}", changed)]
    runs = {rows[1][0]: reran(results, cells, since)}
    if args.jobs > 1:
        since = time.time()
        restored, code = timed_matrix(args.matrix, "--jobs", str(args.jobs))
        if code:
            raise SystemExit(f"the run after restoring the file failed (exit {code})")
        rows.append((f"after restoring it, --jobs {args.jobs}", restored))
        runs[rows[2][0]] = reran(results, cells, since)
    print()
    print("| run | seconds | vs full | vs the change's rerun |\n|---|---:|---:|---:|")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.0f} | {seconds / full:.2f} | {seconds / changed:.2f} |")
    for name, per_cell in runs.items():
        print(f"\ntiers rerun per cell, {name}:")
        for cell, tiers in per_cell.items():
            print(f"  {cell}: {', '.join(tiers)}")


if __name__ == "__main__":
    main()
