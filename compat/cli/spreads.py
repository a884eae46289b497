"""The run-to-run spread of each benchmark figure the gate compares, measured by a command.

A figure is compared by the bump gate only when its spread on a quiet machine is known:
a slowdown fails the gate only past both the threshold and that spread. The spreads were
constants in code (1.07, 1.08, 1.19: nobody could remake them) and one engine had none,
so its figures were never gated (issue 26). This command measures them::

    python -m compat spreads --engine NAME --python ENV/bin/python [--runs 5]

It runs the tiers the figures come from in that environment ``runs`` times, one after
another (``python -m compat here``, installing nothing), and writes, for every *best-of*
figure (the fastest round of a benchmark, the fastest fine-tune step: a mean carries the
machine's noise), the largest over the smallest value seen, to
``compat/engines/<engine>/spreads.json``; the engine reads its spreads from there. The
machine must be quiet (a busy run's figures are refused, and the command says so); the
file names the machine, the environment, the runs and the date.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from compat.engines import Engine, Figure, get_engine
from compat.engines.base import spreads_path
from compat.incell.atomicio import write_json_atomic
from compat.system.machine import machine_info

#: The statistics and reductions that make a best-of figure (the ones worth gating).
BEST = ("min_s", "min_s_per_audio_s")


def gated(figure: Figure) -> bool:
    """Whether the gate compares ``figure`` once its spread is known: a best-of time."""
    return figure.stat in BEST or (figure.prop is not None and figure.reduce == "min")


def needed_tiers(engine: Engine) -> list[str]:
    """The figures' tiers and every tier they need, in the engine's order."""
    wanted = {t for f in engine.figures if gated(f) for t in (*engine.needed(f.tier), f.tier)}
    return [t.name for t in engine.tiers if t.name in wanted]


def figures_of(result: dict[str, Any], engine: Engine) -> dict[str, float]:
    """The gated figures of one run's result (its first device), as the report reads them."""
    from compat.report.model import _bench
    from compat.result.model import from_dict

    by_device = _bench(from_dict(result), engine)
    device = "cpu" if "cpu" in by_device else next(iter(by_device), None)
    found = by_device.get(device, {}) if device else {}
    return {f.name: found[f.name] for f in engine.figures if gated(f) and f.name in found}


def spreads(runs: list[dict[str, float]]) -> dict[str, float]:
    """Per figure, max/min over the runs that have it (rounded up to 0.01)."""
    names = sorted({n for run in runs for n in run})
    out = {}
    for name in names:
        values = [run[name] for run in runs if run.get(name)]
        if len(values) >= 2:
            out[name] = math.ceil(round(max(values) / min(values) * 100, 6)) / 100
    return out


def measure(engine: Engine, python: str, runs: int, log=print) -> dict[str, Any]:
    tiers = needed_tiers(engine)
    seen: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="spreads-") as tmp:
        for n in range(1, runs + 1):
            folder = Path(tmp) / f"run{n}"
            log(f"spreads: run {n}/{runs} of {', '.join(tiers)} ({runs - n} left after it)")
            done = subprocess.run([sys.executable, "-m", "compat", "here", "--python", python,
                                   "--tiers", ",".join(tiers), "--results", str(folder),
                                   "--no-shim-rounds"], capture_output=True, text=True)
            found = sorted(folder.glob("here-*.json"))
            if done.returncode or not found:
                raise SystemExit(f"spreads: run {n} failed (exit {done.returncode}):\n"
                                 f"{done.stderr[-2000:]}")
            result = json.loads(found[0].read_text())
            failed = [t for t in tiers if result["tiers"].get(t, {}).get("status") != "pass"]
            if failed:
                raise SystemExit(f"spreads: run {n}: {', '.join(failed)} did not pass; "
                                 "measure in an environment where every tier passes")
            if (result.get("bench") or {}).get("busy"):
                raise SystemExit(f"spreads: run {n} ran on a busy machine "
                                 f"({result['bench']['busy']}): its figures mean nothing; "
                                 "measure on a quiet machine")
            seen.append(figures_of(result, engine))
            log(f"spreads: run {n}: " + ", ".join(f"{k} {v:.4g}" for k, v in seen[-1].items()))
            cell = result["cell"]["id"]
    machine = machine_info()
    return {"engine": engine.name, "spreads": spreads(seen), "runs": runs, "cell": cell,
            "values": seen, "measured_at": result.get("finished_at"),
            "machine": {k: machine.get(k) for k in ("cpu_model", "cores", "memory_gib")},
            "command": f"python -m compat spreads --engine {engine.name} --runs {runs} "
                       "--python ENV/bin/python"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m compat spreads", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", required=True)
    parser.add_argument("--python", required=True, help="an environment where every tier passes")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    if args.runs < 2:
        parser.error("--runs must be at least 2 (a spread is a ratio of runs)")
    try:
        engine = get_engine(args.engine)
    except KeyError:
        parser.error(f"no engine {args.engine!r}")
    data = measure(engine, args.python, args.runs)
    if not data["spreads"]:
        print("spreads: no gated figure was measured", file=sys.stderr)
        return 2
    write_json_atomic(spreads_path(engine), data)
    print(f"spreads: {spreads_path(engine)}: "
          + ", ".join(f"{k} {v:.2f}x" for k, v in data["spreads"].items()))
    return 0
