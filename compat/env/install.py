"""Install a cell's pins into its virtual environment with uv (or pip), and reuse an
environment whose pins have not changed.

An environment that installed successfully carries a stamp holding the hash of its
requirements and install options; the next run with the same hash skips the install
altogether. That is what makes a warm cell ready in well under 10 s.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from compat.cells import InstallOptions
from compat.env.cellenv import install_environment
from compat.system.supervise import Outcome, supervise

STAMP = ".xtts-compat-install.json"
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass
class InstallResult:
    ok: bool
    reused: bool
    seconds: float
    backend: str
    command: list[str]
    message: str = ""
    outcome: Outcome | None = None
    freeze: list[str] = field(default_factory=list)


def install_key(requirements: list[str], options: InstallOptions) -> str:
    blob = json.dumps({"requirements": requirements, "options": options.as_dict()},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def stamp(venv: Path) -> dict | None:
    try:
        return json.loads((venv / STAMP).read_text())
    except (OSError, ValueError):
        return None


def is_ready(venv: Path, key: str) -> bool:
    """True when the environment was installed successfully with exactly these pins."""
    found = stamp(venv)
    return bool(found and found.get("key") == key and _python(venv).exists())


def uv_executable() -> str | None:
    found = shutil.which("uv")
    if found:
        return found
    try:
        from uv import find_uv_bin  # the uv wheel ships its binary

        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        return None


def install_command(backend: str, venv: Path, requirements: list[str],
                    options: InstallOptions) -> list[str]:
    """The install command for ``backend`` (``uv`` or ``virtualenv``/``venv``: pip)."""
    if backend == "uv":
        uv = uv_executable()
        if uv is None:
            raise FileNotFoundError("uv is not installed (pip install uv)")
        cmd = [uv, "pip", "install", "--python", str(_python(venv))]
        if options.index_strategy:
            cmd += ["--index-strategy", options.index_strategy]
        if options.pre:
            cmd += ["--prerelease", "allow"]
    else:
        cmd = [str(_python(venv)), "-m", "pip", "install", "--disable-pip-version-check"]
        if options.pre:
            cmd.append("--pre")
    return cmd + index_args(options) + list(requirements)


def index_args(options: InstallOptions) -> list[str]:
    """Where packages come from, as pip's and uv's shared flags."""
    cmd = ["--index-url", options.index_url] if options.index_url else []
    for url in options.extra_index_urls:
        cmd += ["--extra-index-url", url]
    for url in options.find_links:
        cmd += ["--find-links", url]
    return cmd


def install(
    venv: Path,
    backend: str,
    requirements: list[str],
    options: InstallOptions,
    *,
    log_path: Path,
    timeout: float | None = None,
    on_tick: Callable[[float], None] | None = None,
) -> InstallResult:
    """Install ``requirements`` into ``venv``; reuse it when its stamp matches."""
    key = install_key(requirements, options)
    cmd = install_command(backend, venv, requirements, options)
    if is_ready(venv, key):
        return InstallResult(True, True, 0.0, backend, cmd, "environment unchanged; reused",
                             freeze=(stamp(venv) or {}).get("freeze", []))
    (venv / STAMP).unlink(missing_ok=True)
    env = {**install_environment()[0], "VIRTUAL_ENV": str(venv), "UV_PYTHON_DOWNLOADS": "never",
           "PIP_DISABLE_PIP_VERSION_CHECK": "1", "NO_COLOR": "1"}
    outcome = supervise(cmd, log_path=log_path, env=env, timeout=timeout, on_tick=on_tick)
    if not outcome.ok:
        return InstallResult(False, False, outcome.seconds, backend, cmd,
                             resolver_message(outcome.output_tail) or outcome.detail, outcome)
    frozen = freeze(backend, venv)
    if backend == "uv":
        prune_cache()
    (venv / STAMP).write_text(json.dumps({"key": key, "requirements": requirements,
                                          "freeze": frozen}, indent=1))
    return InstallResult(True, False, outcome.seconds, backend, cmd, "", outcome, frozen)


def prune_cache() -> None:
    """Drop what uv's cache no longer needs (sdist build trees above all: 44 GiB of them
    after the default matrix here, which filled the disk). Installed environments keep
    their hard links; the archives they came from stay."""
    uv = uv_executable()
    if uv:
        subprocess.run([uv, "cache", "prune", "--quiet"], capture_output=True, timeout=600)


#: Below this much free disk after a one-off cell, the CUDA wheels leave uv's cache too.
LOW_DISK = 20 * 2**30
#: The packages that make a torch stack 3-5 GB: what leaves uv's cache when disk runs low.
HEAVY = re.compile(r"^(torch|triton|nvidia-.*|cuda-.*)$")


def linked(archive: Path) -> bool:
    """Whether an environment hard-links a file of this unpacked wheel (uv installs by
    hard links): removing such a wheel from the cache frees nothing, and the next
    environment that needs it downloads it again."""
    for root, _dirs, files in os.walk(archive):
        for name in files:
            with contextlib.suppress(OSError):
                if os.lstat(os.path.join(root, name)).st_nlink > 1:
                    return True
    return False


def unlinked_heavy(cache: Path) -> list[str]:
    """The CUDA-sized packages of uv's cache (``HEAVY``) whose unpacked wheels no
    environment links: the ones whose removal gives disk back. A package with one linked
    version is kept whole (``uv cache clean`` removes a package, not a version)."""
    names: set[str] = set()
    for package in cache.glob("wheels-v*/pypi/*"):
        if not (HEAVY.match(package.name) and package.is_dir()):
            continue
        archives = [entry.resolve() for entry in package.iterdir() if entry.is_symlink()]
        if not any(linked(a) for a in archives if a.is_dir()):
            names.add(package.name)
    return sorted(names)


def remove_environments(venv: Path, say: Callable[[str], None] = print) -> None:
    """Remove a one-off cell's environments (``keep-env = false``: the exploratory matrix)
    and prune uv's cache; when the disk is still low, drop from the cache the CUDA wheels
    that no kept environment links (the next cell that needs them downloads them again;
    a linked one would free nothing: 39 GiB were downloaded again for nothing when every
    one was dropped, 2026-12-05)."""
    gone = [p for p in (venv, venv.with_name(f"{venv.name}-repaired")) if p.exists()]
    for path in gone:
        shutil.rmtree(path, ignore_errors=True)
    prune_cache()
    uv = uv_executable()
    free = shutil.disk_usage(venv.parent).free
    heavy: list[str] = []
    if uv and free < LOW_DISK:
        cache = subprocess.run([uv, "cache", "dir"], capture_output=True, text=True,
                               timeout=60).stdout.strip()
        heavy = unlinked_heavy(Path(cache)) if cache else []
        if heavy:
            subprocess.run([uv, "cache", "clean", *heavy], capture_output=True, timeout=600)
    after = shutil.disk_usage(venv.parent).free
    say(f"keep-env = false: removed {len(gone)} environment(s)"
        + (f", and {len(heavy)} CUDA packages no environment uses from uv's cache"
           if heavy else "")
        + f"; {after / 2**30:.1f} GiB free")


def freeze(backend: str, venv: Path) -> list[str]:
    uv = uv_executable()
    if backend == "uv" and uv:
        cmd = [uv, "pip", "freeze", "--python", str(_python(venv))]
    else:
        cmd = [str(_python(venv)), "-m", "pip", "freeze", "--all"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    return sorted(line for line in out.stdout.splitlines() if line and not line.startswith("#"))


EXCEPTION_LINE = re.compile(r"^\s*[A-Za-z_.]*(Error|Exception): .+")


def resolver_message(output: str, max_lines: int = 12) -> str:
    """The resolver's own explanation, from its first error line on, with the
    exception a failed build raised (``RuntimeError: TTS requires python ...``) first."""
    lines = [ANSI.sub("", line).rstrip() for line in output.splitlines()]
    start = next((n for n, line in enumerate(lines)
                  if line.strip().startswith(("×", "error:", "ERROR:"))), None)
    block = [x for x in lines[start if start is not None else -max_lines:] if x.strip()]
    raised = [x.strip() for x in block if EXCEPTION_LINE.match(x)]
    head = [raised[-1]] if raised else []
    return "\n".join(head + block[:max_lines])


def _python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
