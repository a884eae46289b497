"""Benchmark: the matrix after a change to one tier's test, against a full rerun.

Two runs of ``nox -s matrix`` on the same matrix, one after the other, on a quiet machine:
  full     every cell rerun (``-- --force``), environments already there (warm)
  changed  one tier test file edited (a comment appended, restored afterwards): only
           that tier and the tiers that need it rerun, in each cell (per-tier versions)

Needs every cell's result current before it starts (run the matrix once). Prints a table
with the ratio; the figures are data, never assertions. ``--full-seconds`` takes the full
run's time from an earlier run in the same session instead of running it again.

    python benchmarks/rerun_changed.py [--matrix matrices/default.toml]
        [--tier-test compat/engines/xtts/tiers/test_stream.py] [--full-seconds S]
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
    env = {**os.environ, "COMPAT_MATRIX": matrix}
    start = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "nox", "-s", "matrix", "--", *extra],
                         cwd=REPO, env=env)
    return time.monotonic() - start, out.returncode


def reran(results: Path) -> dict[str, list[str]]:
    """Per cell, the tiers the last run reran (``rerun.tiers``; all when rerun whole)."""
    out = {}
    for path in sorted(results.glob("*.json")):
        data = json.loads(path.read_text())
        out[data["cell"]["id"]] = (data.get("rerun") or {}).get("tiers") or ["all"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--matrix", default="matrices/default.toml")
    parser.add_argument("--tier-test", default="compat/engines/xtts/tiers/test_stream.py")
    parser.add_argument("--full-seconds", type=float, default=None)
    args = parser.parse_args()
    test = REPO / args.tier_test
    original = test.read_bytes()
    full = args.full_seconds
    if full is None:
        full, code = timed_matrix(args.matrix, "--force")
        if code:
            raise SystemExit(f"the full run failed (exit {code})")
    try:
        test.write_bytes(original + b"\n# benchmarks/rerun_changed.py: a changed tier test\n")
        changed, code = timed_matrix(args.matrix)
    finally:
        test.write_bytes(original)
    if code:
        raise SystemExit(f"the run after the change failed (exit {code})")
    results = Path(os.environ.get("COMPAT_RESULTS", REPO / "results"))
    print()
    print(f"| run | seconds | vs full |\n|---|---:|---:|\n| full (--force) | {full:.0f} | 1.00 |"
          f"\n| after changing {test.name} | {changed:.0f} | {changed / full:.2f} |")
    print("\ntiers rerun per cell:")
    for cell, tiers in reran(results).items():
        print(f"  {cell}: {', '.join(tiers)}")


if __name__ == "__main__":
    main()
