"""Benchmark: time to make one cell's environment ready, uv versus virtualenv+pip.

Scenarios, each on a new virtual environment unless it says reused:
  cold    an empty package cache (a fresh cache folder)
  warm    the cache filled by the cold run
  reused  the warm environment again, pins unchanged (the harness's install stamp)

Runs the harness's own installer (compat.env.install) on the release-era cell.
Prints a table; the figures are data, never assertions. Takes 5-10 minutes.

    python benchmarks/env_ready.py [--cell CELL_ID] [--matrix matrices/default.toml]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from compat.engines import get_engine
from compat.env.install import install, uv_executable
from compat.plan.matrixfile import load_matrix
from compat.system.interpreters import find_python


def make_venv(backend: str, python: str, path: Path) -> float:
    start = time.monotonic()
    if backend == "uv":
        cmd = [uv_executable(), "venv", "-q", "--python", python, str(path)]
    else:
        cmd = [sys.executable, "-m", "virtualenv", "-q", "--python", python, str(path)]
    subprocess.run(cmd, check=True)
    return time.monotonic() - start


def scenario(backend: str, python: str, venv: Path, reqs, options, log: Path,
             fresh: bool) -> tuple[float, bool]:
    created = make_venv(backend, python, venv) if fresh else 0.0
    result = install(venv, backend, reqs, options, log_path=log)
    if not result.ok:
        raise SystemExit(f"install failed ({backend}); see {log}:\n{result.message}")
    return created + result.seconds, result.reused


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--matrix", default="matrices/default.toml")
    parser.add_argument("--cell", default="tts0.22.0-torch2.1.2-tf4.35.2-py3.11")
    parser.add_argument("--backends", default="uv,virtualenv")
    args = parser.parse_args()
    cell = load_matrix(args.matrix).by_id()[args.cell]
    reqs = cell.requirements() + list(get_engine(cell.engine).harness_requirements)
    python = find_python(cell.python)
    if python is None:
        raise SystemExit(f"no Python {cell.python} here")
    rows: list[tuple[str, str, float]] = []
    with tempfile.TemporaryDirectory(prefix="env-ready-") as tmp:
        root = Path(tmp)
        for backend in args.backends.split(","):
            cache = root / f"cache-{backend}"
            var = "UV_CACHE_DIR" if backend == "uv" else "PIP_CACHE_DIR"
            os.environ[var] = str(cache)
            for name, fresh in (("cold", True), ("warm", True), ("reused", False)):
                venv = root / f"{backend}-{'warm' if name == 'reused' else name}"
                print(f"... {backend} {name}", flush=True)
                seconds, reused = scenario(backend, python, venv, reqs, cell.install,
                                           root / f"{backend}-{name}.log", fresh)
                assert reused == (name == "reused")
                rows.append((backend, name, seconds))
                if name == "warm":
                    continue
                if name == "cold":
                    shutil.rmtree(venv)
            del os.environ[var]
    base = next(s for b, n, s in rows if (b, n) == ("uv", "warm")) if any(
        b == "uv" for b, _, _ in rows) else rows[0][2]
    print(f"\nEnvironment ready for {args.cell} ({len(reqs)} requirements), "
          f"{os.cpu_count()} cores\n")
    print("| backend | cache | seconds | ratio to uv warm |\n|---|---|---:|---:|")
    for backend, name, seconds in rows:
        label = "virtualenv+pip" if backend == "virtualenv" else backend
        print(f"| {label} | {name} | {seconds:.2f} | {seconds / base:.3f} |")


if __name__ == "__main__":
    main()
