"""Benchmark: the culprit finder on the legacy line, cold and warm.

    nox -s bisect -- --cell tts0.22.0-torch2.5.1-tf4.46.2-py3.11 --package transformers
        --good 4.46.2 --bad 4.57.3 --tier import

run twice into one fresh answers folder: ``cold`` (no trial run before; uv's cache may
hold some wheels) and ``warm`` (every trial already run: each is read from its result,
the fingerprint current). Prints a table of trials run, trials reused and wall time, and
the boundary found. Run it on a quiet machine; the figures are data, never assertions.

    python benchmarks/bisect_legacy.py [--results DIR] [--keep]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CELL = "tts0.22.0-torch2.5.1-tf4.46.2-py3.11"
ARGS = ["--cell", CELL, "--package", "transformers", "--good", "4.46.2", "--bad", "4.57.3",
        "--tier", "import"]


def timed(results: Path) -> tuple[float, int, dict]:
    start = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "nox", "-s", "bisect", "--", *ARGS,
                          "--results", str(results)], cwd=REPO)
    seconds = time.monotonic() - start
    answers = sorted(results.glob("*.json"), key=lambda p: p.stat().st_mtime)
    return seconds, out.returncode, json.loads(answers[-1].read_text()) if answers else {}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the answers folder")
    args = parser.parse_args()
    results = args.results or Path(tempfile.mkdtemp(prefix="bisect-bench-"))
    rows = []
    for name in ("cold", "warm"):
        seconds, code, answer = timed(results)
        rows.append((name, code, answer.get("trials_run"), answer.get("trials_reused"),
                     answer.get("at_most"), seconds, answer.get("last_good"),
                     answer.get("first_bad")))
    print(f"\n{'run':<6}{'exit':>5}{'trials run':>12}{'reused':>8}{'at most':>9}"
          f"{'wall':>9}   boundary")
    for name, code, ran, reused, at_most, seconds, good, bad in rows:
        print(f"{name:<6}{code:>5}{ran!s:>12}{reused!s:>8}{at_most!s:>9}"
              f"{seconds / 60:>8.1f}m   {good} -> {bad}")
    print(f"warm/cold: {rows[1][5] / rows[0][5]:.3f}")
    if not args.keep and args.results is None:
        shutil.rmtree(results, ignore_errors=True)
    else:
        print(f"answers and trials in {results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
