"""Disk, a resource the matrix uses up: what a run will need, what a cell needs, and what
can go.

PyPI's Linux torch wheels are CUDA builds: 3-5 GB each with their libraries in uv's
cache; a cell's environment hard-links into the cache and costs little beside it. So a
cell needs about ``TORCH_BUILD`` when its torch build (version and Python tag) is not in
uv's cache yet, plus ``ENVIRONMENT`` either way. Before the first cell the run says what
it will need and what is free; a cell that cannot fit is not started (its result says
why, and the next run retries it), so the disk never fills halfway through an install
of one cell and takes the others' results with it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

GIB = 2**30
#: A torch build not in uv's cache yet: the wheel and its CUDA libraries (measured 3-5 GB).
TORCH_BUILD = 5 * GIB
#: A cell's environment beside the cache (hard links, metadata, the tier run's scratch:
#: the model copies and a 310 MB fine-tune checkpoint) and its results.
ENVIRONMENT = 1 * GIB
#: Left free after a cell, so the machine stays usable (``COMPAT_DISK_RESERVE_GIB``).
RESERVE = 2 * GIB


def reserve() -> int:
    value = os.environ.get("COMPAT_DISK_RESERVE_GIB")
    return int(float(value) * GIB) if value else RESERVE


def uv_cache_dir() -> Path | None:
    from compat.env.install import uv_executable

    uv = uv_executable()
    if not uv:
        return None
    out = subprocess.run([uv, "cache", "dir"], capture_output=True, text=True, timeout=60)
    return Path(out.stdout.strip()) if out.returncode == 0 and out.stdout.strip() else None


def torch_cached(version: str, python: str, cache: Path | None) -> bool:
    """Whether uv's cache holds torch ``version`` for CPython ``python`` (``3.11``)."""
    if cache is None or not version or version == "latest" or not version[0].isdigit():
        return False
    tag = "cp" + python.replace(".", "")
    return any(p.is_dir() for p in cache.glob(f"wheels-v*/pypi/torch/{version}-{tag}-*"))


@dataclass(frozen=True)
class Need:
    cell: str
    bytes: int
    why: str


def cell_need(cell_id: str, torch: str, python: str, cache: Path | None,
              has_env: bool = False) -> Need:
    """What one cell will take: a torch build unless cached, an environment unless there."""
    parts, total = [], 0
    if not torch_cached(torch, python, cache):
        total += TORCH_BUILD
        parts.append(f"torch {torch} for Python {python} is not in uv's cache "
                     f"(~{TORCH_BUILD // GIB} GiB)")
    if not has_env:
        total += ENVIRONMENT
        parts.append(f"its environment (~{ENVIRONMENT // GIB} GiB)")
    return Need(cell_id, total, "; ".join(parts) or "environment and wheels in place")


def free(path: Path) -> int:
    path = Path(path)
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free


def run_need(needs: Iterable[Need]) -> tuple[int, int]:
    """The whole run: bytes, counting each uncached torch build once."""
    items = list(needs)
    torch_builds = {n.why.split(" is not in")[0] for n in items if "not in uv's cache" in n.why}
    envs = sum(ENVIRONMENT for n in items if "its environment" in n.why)
    return len(torch_builds) * TORCH_BUILD + envs, len(torch_builds)


def refusal(need: Need, available: int) -> str | None:
    """Why a cell must not start (the numbers), or None when it fits."""
    if need.bytes + reserve() <= available:
        return None
    return (f"not started: the disk cannot fit it. It needs about {need.bytes / GIB:.1f} GiB "
            f"({need.why}) and {reserve() / GIB:.0f} GiB kept free, but {available / GIB:.1f} "
            "GiB are free. Free space (`nox -s clean`, `uv cache prune`) and run it again")


def human(n: int) -> str:
    return f"{n / GIB:.1f} GiB"
