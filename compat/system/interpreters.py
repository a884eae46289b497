"""Find a Python interpreter that really runs, for a "major.minor" version.

A pyenv shim on PATH can exist and still fail ("version not installed"), so each
candidate is run once before it is trusted. Looked in, in order: the
``COMPAT_PYTHON_<MAJOR>_<MINOR>`` variable, pyenv's versions folder, uv's managed
pythons, then ``pythonX.Y`` on PATH.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path


@functools.cache
def find_python(version: str) -> str | None:
    """Absolute path of a working ``python{version}``, or None."""
    for candidate in _candidates(version):
        if _runs_as(candidate, version):
            return str(candidate)
    return None


def _candidates(version: str) -> Iterator[Path]:
    """Candidates, cheapest first; later ones are only looked up if earlier ones fail."""
    override = os.environ.get(f"COMPAT_PYTHON_{version.replace('.', '_')}")
    if override:
        yield Path(override)
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    versions = pyenv_root / "versions"
    if versions.is_dir():
        for prefix in sorted(versions.glob(f"{version}.*"), key=_patch_key, reverse=True):
            yield prefix / "bin" / f"python{version}"
    uv = shutil.which("uv")
    if uv:
        try:
            out = subprocess.run([uv, "python", "find", "--no-python-downloads", version],
                                 capture_output=True, text=True, timeout=30)
            if out.returncode == 0 and out.stdout.strip():
                yield Path(out.stdout.strip())
        except (OSError, subprocess.TimeoutExpired):
            pass
    on_path = shutil.which(f"python{version}")
    if on_path:
        yield Path(on_path)


def _patch_key(prefix: Path) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in prefix.name.split("."))
    except ValueError:
        return (-1,)


def _runs_as(python: Path, version: str) -> bool:
    try:
        out = subprocess.run(
            [str(python), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True, text=True, timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and out.stdout.strip() == version
