"""Run the tiers in an environment that already exists, installing nothing into it.

This is how a user tests the stack they have, and how the CUDA tier runs on a machine
with a GPU and no network: ``python -m compat here [--python PATH] [--table]``, or
``nox -s here -- --python PATH``. The cell is read off the interpreter's installed
packages; the result is written like a matrix cell's, as ``results/here-<cell-id>.json``.
If that interpreter has no pytest, a pytest overlay (pytest, pytest-timeout,
pytest-benchmark) is put on its PYTHONPATH from a folder outside it.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from typing import Any

from compat import engines
from compat.cells import Cell
from compat.engines import get_engine
from compat.env.install import InstallResult, uv_executable
from compat.incell import probe
from compat.plan.stack import StackError, cell_from_versions
from compat.run.cell import CellRun, run_cell
from compat.system import paths
from compat.system.progress import Progress

OVERLAY_PACKAGES = ("pytest>=7", "pytest-timeout", "pytest-benchmark")


def inspect(python: str) -> dict[str, Any]:
    """The interpreter's Python and packages (metadata only; compat.incell.probe owns this)."""
    try:
        info = probe.read(python, engines.watched())
    except RuntimeError as exc:
        raise SystemExit(str(exc)) from None
    info["python"] = ".".join(info["python"].split(".")[:2])
    info["pkgs"] = info["versions"]
    return info


def current_cell(python: str, info: dict[str, Any]) -> Cell:
    try:
        return cell_from_versions(info["versions"], info["python"], tags=("here",),
                                  where=f"the environment of {python}", id_prefix="here-")
    except StackError as exc:
        raise SystemExit(str(exc)) from None


def pytest_overlay(info: dict[str, Any]) -> tuple[Path, ...]:
    """A folder holding pytest and its plugins for an interpreter that lacks them."""
    if all(info["pkgs"].get(n) for n in ("pytest", "pytest-benchmark", "pytest-timeout")):
        return ()
    from compat.incell.bundled import module

    cache_root = module("fixtures", "store").cache_root

    folder = cache_root() / f"pytest-overlay-py{info['python']}"
    if not (folder / "pytest").exists():
        uv = uv_executable()
        cmd = ([uv, "pip", "install", "--python-version", info["python"], "--target"]
               if uv else [sys.executable, "-m", "pip", "install", "--target"])
        subprocess.run([*cmd, str(folder), *OVERLAY_PACKAGES], check=True)
    return (folder,)


def nothing_installed(venv, backend, reqs, options, **_) -> InstallResult:
    return InstallResult(True, True, 0.0, "none", [],
                         "current environment: nothing installed")


def run_here(python: str | None = None, *, results_dir: Path | None = None,
             force: bool = True, log=print, only: tuple[str, ...] = (),
             shim_rounds: bool = True) -> dict[str, Any]:
    """Run the tiers (``only`` these, if given) in the environment of ``python``."""
    # Absolute: the cell's processes run in its work folder, where a relative path
    # (``.venv/bin/python``, as users type it) would name nothing.
    python = str(Path(python).absolute()) if python else sys.executable
    info = inspect(python)
    cell = current_cell(python, info)
    run = CellRun(cell=cell, engine=get_engine(cell.engine),
                  results_dir=paths.results_dir(results_dir),
                  interpreter=python, venv=Path(info["prefix"]), backend="none",
                  progress=Progress(log, cell.id, 1, 1), force=force,
                  installer=nothing_installed, cell_python=Path(python),
                  extra_path=pytest_overlay(info), shim_rounds=shim_rounds, only=only)
    return run_cell(run)


def table(result: dict[str, Any]) -> str:
    """One table: each tier's status per device, then the benchmark figures."""
    devices = result.get("devices", ["cpu"])
    lines = [f"cell {result['cell']['id']} on {result['machine']['cpu_model']}"
             f" ({', '.join(g['name'] for g in result['machine']['gpus']) or 'no GPU'})", "",
             "| tier | " + " | ".join(devices) + " | seconds | note |",
             "|---|" + "---|" * len(devices) + "---:|---|"]
    for name, tier in result["tiers"].items():
        per = tier.get("devices", {})
        cells = [per.get(d, tier)["status"] for d in devices]
        note = (tier.get("message") or tier.get("reason") or "").splitlines()[:1]
        seconds = tier.get("seconds")
        took = f"{seconds:.1f}" if isinstance(seconds, (int, float)) else ""
        lines.append(f"| {name} | " + " | ".join(cells) +
                     f" | {took} | {note[0][:80] if note else ''} |")
    bench = result.get("bench", {})
    if bench.get("benchmarks"):
        lines += ["", "| benchmark | device | mean s | stddev s | extra |",
                  "|---|---|---:|---:|---|"]
        for b in bench["benchmarks"]:
            extra = ", ".join(f"{k}={v:.3g}" for k, v in b.items()
                              if k in ("rtf", "audio_seconds") and isinstance(v, float))
            lines.append(f"| {b['name'].split('[')[0]} | {b.get('device', '')} | "
                         f"{b['mean_s']:.3f} | {b['stddev_s']:.3f} | {extra} |")
    for key, value in bench.get("recorded", {}).items():
        if "mib" in key:
            lines.append(f"- {key}: {value}")
    lines.append(f"- peak resident memory of the tier run: {bench.get('peak_rss_mib')} MiB")
    for tier, why in (bench.get("busy") or {}).items():
        lines.append(f"- the {tier} tier's figures were taken on a busy machine: {why}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m compat here", description=__doc__)
    parser.add_argument("--python", help="interpreter of the environment (default: this one)")
    parser.add_argument("--table", action="store_true", help="print a table of the result")
    parser.add_argument("--results", type=Path, help="results folder (default results/)")
    parser.add_argument("--tiers", default="",
                        help="run only these tiers, comma-separated (give the ones they need)")
    parser.add_argument("--no-shim-rounds", action="store_true",
                        help="judge the environment as it is: no rerun with shims")
    args = parser.parse_args(argv)
    only = tuple(t for t in args.tiers.split(",") if t)
    result = run_here(args.python, results_dir=args.results, only=only,
                      shim_rounds=not args.no_shim_rounds)
    if args.table:
        print(table(result))
    return 0
