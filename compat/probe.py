"""Runs inside a cell's environment: which Python, which packages, which devices.

Stdlib only (the cell has whatever its pins brought), Python 3.9 syntax.
Prints one JSON object. Importing torch can fail in a broken cell: that is
recorded, not raised.
"""

from __future__ import annotations

import importlib.metadata as metadata
import json
import platform
import sys
from typing import Any

#: Distributions whose versions every result records.
WATCHED = ("TTS", "coqui-tts", "coqui-tts-trainer", "trainer", "torch", "torchaudio",
           "torchcodec", "transformers", "tokenizers", "numpy", "scipy", "librosa",
           "soundfile", "huggingface-hub", "accelerate", "pytest", "pytest-benchmark")


def versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for name in WATCHED:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def devices() -> dict[str, Any]:
    """Devices torch sees: cpu always, cuda:N and mps when present."""
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
    return info


def probe() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
        "platform": f"{sys.platform}-{platform.machine()}",
        "versions": versions(),
        **devices(),
    }


if __name__ == "__main__":
    print(json.dumps(probe()))
