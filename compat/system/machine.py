"""What machine a result came from: CPU, cores, memory, GPUs. Runs in the harness."""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

import psutil


def machine_info() -> dict[str, Any]:
    """CPU model, cores, memory and NVIDIA GPUs (name, driver, CUDA version). The name is
    ``COMPAT_MACHINE_NAME`` when set (CI runners: one name per runner)."""
    return {
        "hostname": os.environ.get("COMPAT_MACHINE_NAME") or socket.gethostname(),
        "system": platform.system(),
        "release": platform.release(),
        "arch": platform.machine(),
        "cpu_model": _cpu_model(),
        "cores": psutil.cpu_count(logical=True),
        "physical_cores": psutil.cpu_count(logical=False),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "gpus": _nvidia_gpus(),
    }


def kernel_settings() -> list[str]:
    """The ``ATEN_CPU_CAPABILITY`` values this CPU can run, and ``host`` (the variable
    unset: torch's own choice). One machine stands in for others with them: ``default``
    (no vector kernels), ``avx2``, ``avx512`` where the CPU has it. Elsewhere (ARM): the
    default and the host's own."""
    flags = set()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags.update(line.split(":", 1)[1].split())
                break
    found = ["default"]
    if "avx2" in flags:
        found.append("avx2")
    if "avx512f" in flags:
        found.append("avx512")
    return [*found, "host"]


def machine_key(info: dict[str, Any]) -> str:
    """A short stable name for a machine, so results of several machines sit side by side."""
    gpus = "+".join(g["name"] for g in info.get("gpus", [])) or "nogpu"
    return f"{info.get('hostname')}|{info.get('cpu_model')}|{info.get('cores')}|{gpus}"


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.lower().startswith(("model name", "hardware")):
                return line.split(":", 1)[1].strip()
    if platform.system() == "Darwin":
        try:
            return subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"],
                                  capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            pass
    return platform.processor() or "unknown"


def _nvidia_gpus() -> list[dict[str, Any]]:
    smi = shutil.which("nvidia-smi")
    if not smi:
        return []
    try:
        out = subprocess.run(
            [smi, "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=30,
        )
        header = subprocess.run([smi], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    cuda = None
    for token in header.split("CUDA Version:")[1:2]:
        cuda = token.split()[0]
    gpus = []
    for line in out.stdout.strip().splitlines():
        name, driver, memory = [p.strip() for p in line.split(",")]
        gpus.append({"name": name, "driver": driver, "memory": memory, "cuda": cuda})
    return gpus
