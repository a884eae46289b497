"""Benchmark: where a matrix run's time goes, and what ``--jobs`` gains (issue 27).

Two parts, each printing a table; the figures are data, never assertions, and only
ratios within one run mean anything (a busy machine makes every figure meaningless):

``phases``  reads a results folder (no run): per cell, the seconds of each phase the cell
            recorded (install, probe, each round of tiers) and of each tier, the share of
            the largest tier, and the whole selection's sum.

``jobs``    runs the same cells with ``--jobs 1`` and then ``--jobs N`` (``--force``; each
            run installs from uv's warm cache as its cells' environments are removed
            after them), each into its own results folder, and prints both wall times,
            the ratio, and whether every tier's status agreed.

    python benchmarks/cell_speed.py phases [--results results]
    python benchmarks/cell_speed.py jobs --cells ID,ID[,...] [--jobs 2] [--matrix FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def load_results(folder: Path) -> dict[str, dict]:
    out = {}
    for path in sorted(folder.glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and "cell" in data and "tiers" in data:
            out[data["cell"]["id"]] = data
    return out


def phases_table(folder: Path) -> str:
    rows = ["| cell | install | probe | tiers (every round) | largest tier | share | total |",
            "|---|---:|---:|---:|---|---:|---:|"]
    totals = [0.0, 0.0, 0.0, 0.0]
    for cell_id, data in load_results(folder).items():
        phases = data.get("phases") or {}
        if not phases:
            continue
        install = phases.get("install", 0.0)
        probe = phases.get("probe", 0.0)
        tiers = sum(v for k, v in phases.items() if k.startswith("tiers"))
        total = sum(phases.values())
        timed = {n: t.get("seconds") or 0.0 for n, t in data["tiers"].items() if n != "install"}
        big = max(timed, key=lambda n: timed[n]) if timed else "-"
        share = timed.get(big, 0.0) / tiers if tiers else 0.0
        rows.append(f"| {cell_id} | {install:.1f} | {probe:.1f} | {tiers:.1f} | "
                    f"{big} {timed.get(big, 0.0):.1f} | {share:.0%} | {total:.1f} |")
        for i, value in enumerate((install, probe, tiers, total)):
            totals[i] += value
    rows.append(f"| **all ({len(rows) - 2} cells)** | {totals[0]:.0f} | {totals[1]:.0f} | "
                f"{totals[2]:.0f} | | | {totals[3]:.0f} |")
    return "\n".join(rows)


def timed_matrix(matrix: str, cells: list[str], results: Path, jobs: int) -> float:
    env = {**os.environ, "COMPAT_MATRIX": matrix, "COMPAT_RESULTS": str(results),
           "COMPAT_REPORTS": str(results / "reports"), "COMPAT_NO_REPORT": "1"}
    sessions = [f"matrix(cell='{c}')" for c in cells]
    start = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "nox", "-s", *sessions, "--", "--force",
                          "--jobs", str(jobs)], cwd=REPO, env=env)
    if out.returncode:
        raise SystemExit(f"the --jobs {jobs} run failed (exit {out.returncode})")
    return time.monotonic() - start


def verdicts(folder: Path) -> dict[str, dict[str, str]]:
    return {c: {n: t["status"] for n, t in d["tiers"].items()}
            for c, d in load_results(folder).items()}


def jobs_table(matrix: str, cells: list[str], jobs: int) -> str:
    from compat.plan.matrixfile import load_matrix

    kept = {c.id: c.keep_env for c in load_matrix(matrix).cells}
    how = ("environments kept between runs" if all(kept[c] for c in cells) else
           "each cell installed from uv's warm cache in each run (keep-env = false)")
    with tempfile.TemporaryDirectory(prefix="cell-speed-") as tmp:
        one = timed_matrix(matrix, cells, Path(tmp) / "one", 1)
        many = timed_matrix(matrix, cells, Path(tmp) / "many", jobs)
        same = verdicts(Path(tmp) / "one") == verdicts(Path(tmp) / "many")
    return "\n".join([
        f"{len(cells)} cells ({', '.join(cells)}), {os.cpu_count()} cores, {how}",
        "",
        "| run | wall s | ratio to --jobs 1 |", "|---|---:|---:|",
        f"| --jobs 1 | {one:.0f} | 1.00 |",
        f"| --jobs {jobs} | {many:.0f} | {many / one:.2f} |",
        "",
        f"every tier's status the same: {same}"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="part", required=True)
    ph = sub.add_parser("phases")
    ph.add_argument("--results", type=Path, default=REPO / "results")
    jb = sub.add_parser("jobs")
    jb.add_argument("--cells", required=True, help="cell ids, comma-separated")
    jb.add_argument("--jobs", type=int, default=2)
    jb.add_argument("--matrix", default=str(REPO / "matrices" / "default.toml"))
    args = parser.parse_args()
    if args.part == "phases":
        print(phases_table(args.results))
    else:
        print(jobs_table(args.matrix, [c for c in args.cells.split(",") if c], args.jobs))


if __name__ == "__main__":
    main()
