"""Reading an interpreter: which Python, which packages, which devices. The one owner of
that fact: a cell's probe, the doctor and ``here`` all read an environment through it.

The module runs inside the interpreter it reads (``python -I compat/incell/probe.py NAMES``):
stdlib only (the environment has whatever its pins brought), Python 3.9 syntax, run by
path so nothing of this repository needs to be importable there. Prints one JSON object.
With ``--devices`` it lists the devices torch can use: on a machine with no accelerator
driver that is the CPU alone, said without importing torch (2-3 s of a cell's probe, for
an answer known beforehand); with a driver it asks torch, and a broken torch is recorded,
not raised. :func:`read` is the harness side.
"""

from __future__ import annotations

import argparse
import csv
import importlib.metadata as metadata
import json
import os
import platform
import subprocess
import sys
import sysconfig
from collections.abc import Iterable
from pathlib import Path
from typing import Any

#: The file the shim installer puts in site-packages (``python -m patches install``).
PATCHES_PTH = "xtts_compat_patches.pth"


def versions(names: Iterable[str]) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def requires(name: str) -> list[str]:
    try:
        return list(metadata.requires(name) or [])
    except metadata.PackageNotFoundError:
        return []


#: What on a machine says torch might see more than the CPU: NVIDIA's driver, AMD's ROCm
#: driver, WSL's GPU bridge. Apple silicon (MPS) is told by the platform.
ACCELERATOR_SIGNS = ("/proc/driver/nvidia", "/dev/nvidiactl", "/dev/nvidia0", "/dev/kfd",
                     "/dev/dxg")


def accelerator_possible() -> str | None:
    """The first sign of an accelerator torch could use here, or None: then torch, CUDA
    build or not, can only use the CPU."""
    if sys.platform == "darwin" and platform.machine() == "arm64":
        return "Apple silicon (MPS)"
    return next((sign for sign in ACCELERATOR_SIGNS if os.path.exists(sign)), None)


def devices() -> dict[str, Any]:
    """Devices torch sees: cpu always, cuda:N and mps when present. Without a sign of an
    accelerator on the machine, cpu alone, with torch not imported."""
    if accelerator_possible() is None:
        return {"devices": ["cpu"], "torch_imported": False,
                "why": "no accelerator driver on this machine "
                       f"(none of {', '.join(ACCELERATOR_SIGNS)})"}
    try:
        import torch
    except Exception as exc:  # a broken torch is data
        return {"devices": ["cpu"], "torch_error": f"{type(exc).__name__}: {exc}"}
    found = ["cpu"]
    info: dict[str, Any] = {"cuda_build": getattr(torch.version, "cuda", None)}
    try:
        if torch.cuda.is_available():
            for n in range(torch.cuda.device_count()):
                found.append(f"cuda:{n}")
            info["cuda_devices"] = [torch.cuda.get_device_name(n)
                                    for n in range(torch.cuda.device_count())]
    except Exception as exc:
        info["cuda_error"] = f"{type(exc).__name__}: {exc}"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    info["devices"] = found
    info["threads"] = torch.get_num_threads()
    info["torch_imported"] = True
    return info


#: RECORD entries that are not module files: metadata, caches, scripts outside the tree.
_NOT_MODULES = (".dist-info/", ".egg-info/", "__pycache__/")


def shared_files(path: list[str] | None = None) -> list[dict[str, Any]]:
    """Module files that two installed distributions both own with different contents,
    read from their RECORD files with nothing imported: one entry per pair of owners,
    ``{"owners": [A, B], "files": N, "examples": [...]}``.

    A fork published under another name beside the original (both install the same
    package folder) is the common case: whichever was installed last wins, and a
    later reinstall or removal of the other silently changes or breaks the engine. No
    single resolution shows it; environments built by successive installs do. A file
    every owner lists with the same hash is harmless whoever wins (the empty
    ``nvidia/__init__.py`` of every CUDA library, gruut's and gruut-ipa's
    ``tests/__init__.py``): not reported."""
    owners: dict[str, dict[str, str | None]] = {}
    for dist in metadata.distributions(path=path if path is not None else sys.path):
        name = dist.metadata["Name"] or "?"
        # The RECORD read as CSV: ``dist.files`` gives the same rows 7-9x slower (2 s in
        # an environment with torch and CUDA libraries, measured).
        for row in csv.reader((dist.read_text("RECORD") or "").splitlines()):
            text = row[0] if row else ""
            if (text.endswith(".py") and not text.startswith("..")
                    and not any(part in text for part in _NOT_MODULES)):
                owners.setdefault(text, {})[name] = (row[1] or None) if len(row) > 1 else None
    pairs: dict[tuple[str, ...], list[str]] = {}
    for text, by_owner in owners.items():
        hashes = set(by_owner.values())
        if len(by_owner) > 1 and (len(hashes) > 1 or None in hashes):
            pairs.setdefault(tuple(sorted(by_owner, key=str.lower)), []).append(text)
    return [{"owners": list(names), "files": len(files), "examples": sorted(files)[:3]}
            for names, files in sorted(pairs.items())]


def probe(names: Iterable[str], with_devices: bool = True) -> dict[str, Any]:
    site = sysconfig.get_paths()["purelib"]
    found = {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
        "prefix": sys.prefix,
        "platform": f"{sys.platform}-{platform.machine()}",
        "versions": versions(names),
        "torch_requires": requires("torch"),
        "patches_installed": os.path.exists(os.path.join(site, PATCHES_PTH)),
        "shared_files": shared_files(),
    }
    if with_devices:
        found.update(devices())
    return found


def read(python: str, names: Iterable[str], *, with_devices: bool = False,
         timeout: float = 120.0) -> dict[str, Any]:
    """What :func:`probe` finds in the interpreter ``python`` (harness side), from package
    metadata alone unless ``with_devices``. RuntimeError naming the interpreter when it
    cannot run or read its metadata."""
    cmd = [python, "-I", str(Path(__file__).resolve()), *names]
    if with_devices:
        cmd.insert(3, "--devices")
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RuntimeError(f"{python}: cannot run it: {exc}") from None
    if out.returncode:
        raise RuntimeError(f"{python}: cannot read its package metadata: "
                           f"{out.stderr.strip().splitlines()[-1:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--devices", action="store_true", help="import torch, list devices")
    parser.add_argument("names", nargs="*", help="distributions whose versions to read")
    args = parser.parse_args(argv)
    print(json.dumps(probe(args.names, args.devices)))


if __name__ == "__main__":
    main()
