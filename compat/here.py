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
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from compat.cellrun import REPO, CellRun, run_cell
from compat.engines import get_engine
from compat.install import InstallResult, uv_executable
from compat.matrix import Cell, cell_id
from compat.progress import Progress

OVERLAY_PACKAGES = ("pytest>=7", "pytest-timeout", "pytest-benchmark")
READ_ENV = ("import json, sys, sysconfig; from importlib import metadata as m\n"
            "def v(n):\n"
            "    try: return m.version(n)\n"
            "    except m.PackageNotFoundError: return None\n"
            "print(json.dumps({'python': '%d.%d' % sys.version_info[:2], 'prefix': sys.prefix,"
            " 'pkgs': {n: v(n) for n in ('TTS', 'coqui-tts', 'torch', 'transformers',"
            " 'torchaudio', 'torchcodec', 'pytest', 'pytest-benchmark', 'pytest-timeout')}}))")


def inspect(python: str) -> dict[str, Any]:
    out = subprocess.run([python, "-c", READ_ENV], capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise SystemExit(f"{python}: cannot read its packages: {out.stderr.strip()[-500:]}")
    return json.loads(out.stdout)


def current_cell(python: str, info: dict[str, Any]) -> Cell:
    pkgs = info["pkgs"]
    dist = "coqui-tts" if pkgs.get("coqui-tts") else "TTS" if pkgs.get("TTS") else None
    if dist is None:
        raise SystemExit(f"{python}: neither TTS nor coqui-tts is installed there")
    missing = [n for n in ("torch", "transformers") if not pkgs.get(n)]
    if missing:
        raise SystemExit(f"{python}: {', '.join(missing)} not installed there")
    pins = tuple((n, pkgs[n]) for n in ("torchaudio", "torchcodec") if pkgs.get(n))
    cell = Cell(id="", python=info["python"], tts=f"{dist}=={pkgs[dist]}",
                torch=pkgs["torch"], transformers=pkgs["transformers"], pins=pins,
                tags=("here",), source=f"the environment of {python}")
    return replace(cell, id=f"here-{cell_id(cell)}")


def pytest_overlay(info: dict[str, Any]) -> tuple[Path, ...]:
    """A folder holding pytest and its plugins for an interpreter that lacks them."""
    if all(info["pkgs"].get(n) for n in ("pytest", "pytest-benchmark", "pytest-timeout")):
        return ()
    from fixtures.store import cache_root

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
    python = python or sys.executable
    if only:
        os.environ["COMPAT_TIER_ONLY"] = ",".join(only)  # read by the tier plugin
    info = inspect(python)
    cell = current_cell(python, info)
    run = CellRun(cell=cell, engine=get_engine(cell.engine),
                  results_dir=results_dir or Path(os.environ.get("COMPAT_RESULTS",
                                                                  REPO / "results")),
                  interpreter=python, venv=Path(info["prefix"]), backend="none",
                  progress=Progress(log, cell.id, 1, 1), force=force,
                  installer=nothing_installed, cell_python=Path(python),
                  extra_path=pytest_overlay(info), shim_rounds=shim_rounds)
    try:
        return run_cell(run)
    finally:
        os.environ.pop("COMPAT_TIER_ONLY", None)


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
    args = parser.parse_args(argv)
    result = run_here(args.python, results_dir=args.results)
    if args.table:
        print(table(result))
    return 0
