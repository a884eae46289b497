"""The environment a cell's processes start from: an allowlist, not the caller's shell.

A verdict must mean the same on every host. The caller's environment leaked into cells:
``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` in a user's shell turned torch 2.6's refusal of
the released ``model.pth`` into a bare pass, and the fingerprint then cached that wrong
verdict. So a cell's probe and tier processes get only the variables below; everything
else is left out, and the ones known to change verdicts are named in the result as
dropped. A user who sets one on purpose names it in ``COMPAT_PASS_ENV`` (comma
separated): it then passes, its value is recorded in the result and enters the
fingerprint, so a stored verdict never stands for another setting.

The suite's own ``COMPAT_*`` variables are no exception: the harness sets those a cell
reads for each run (the tier plan, the round's shims, the tiers to run, where to write a
golden output), and the caller's are dropped and named. ``COMPAT_WRITE_GOLDEN`` in a
shell made every cell write a golden and pass unjudged; ``COMPAT_XTTS_DECODING`` or
``COMPAT_ALLOW_NETWORK`` change what a tier does. Passed on purpose with
``COMPAT_PASS_ENV``, they enter the fingerprint like any other.

``ATEN_CPU_CAPABILITY`` (``default``, ``avx2``, ``avx512``) makes torch use another CPU's
kernels: ``COMPAT_PASS_ENV=ATEN_CPU_CAPABILITY ATEN_CPU_CAPABILITY=default nox -s matrix``
shows the verdicts a host without vector kernels would get (docs/tiers.md).

Installs keep the caller's environment (certificates, proxies, uv's cache) less the
variables that change what the resolver picks (``UV_INDEX_URL``, ``PIP_FIND_LINKS``, ...):
a cell's packages come from its pins and its matrix ``install`` table alone.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: Passed to a cell's processes: the host's basics, locale, proxies, device selection,
#: thread counts and OpenBLAS's CPU workarounds.
ALLOWED = frozenset({
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "TERM", "TMPDIR", "TMP", "TEMP", "TZ",
    "LANG", "LANGUAGE", "LD_LIBRARY_PATH", "SYSTEMROOT",
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY",
    "http_proxy", "https_proxy", "no_proxy", "all_proxy",
    "CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", "NVIDIA_VISIBLE_DEVICES",
    "HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES",
    "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
})
ALLOWED_PREFIXES = ("LC_", "OPENBLAS_")
#: Known to change a verdict; dropped (and named) unless chosen with COMPAT_PASS_ENV.
VERDICT_CHANGING = re.compile(
    r"^(TORCH_FORCE_(NO_)?WEIGHTS_ONLY_LOAD|TORCH_.*|TRANSFORMERS_.*|HF_.*|HUGGINGFACE_.*|"
    r"COQUI_.*|TTS_.*|PYTORCH_.*|TOKENIZERS_.*|PYTHON(PATH|HOME|STARTUP|WARNINGS|HASHSEED)|"
    r"NUMBA_.*|ESPEAK_.*|PHONEMIZER_.*|ATEN_.*|COMPAT_.*)$")
#: Installer variables that change what gets installed; dropped from installs.
RESOLUTION = re.compile(
    r"^(UV_(INDEX.*|DEFAULT_INDEX|EXTRA_INDEX_URL|FIND_LINKS|PRERELEASE|RESOLUTION|"
    r"CONSTRAINT|OVERRIDE|EXCLUDE_NEWER|TORCH_BACKEND|NO_BUILD.*|NO_BINARY.*|ONLY_BINARY.*|"
    r"PYTHON|SYSTEM_PYTHON|BREAK_SYSTEM_PACKAGES|KEYRING_PROVIDER)|"
    r"PIP_(INDEX_URL|EXTRA_INDEX_URL|FIND_LINKS|PRE|CONSTRAINT|REQUIREMENT|NO_INDEX|"
    r"NO_BINARY|ONLY_BINARY|NO_DEPS|UPGRADE.*|USER|TARGET|PREFIX|EDITABLE|IGNORE_INSTALLED|"
    r"REQUIRE_VIRTUALENV|CONFIG_FILE)|PYTHONPATH|PYTHONHOME)$")
PASS_ENV = "COMPAT_PASS_ENV"


@dataclass(frozen=True)
class CellEnvironment:
    """What a cell's processes see of the caller's environment, and what was left out."""

    env: dict[str, str]
    passed: tuple[str, ...]
    dropped: tuple[str, ...]
    chosen: dict[str, str] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        """For the result: names only, except the values chosen on purpose."""
        return {"passed": list(self.passed), "dropped": list(self.dropped),
                "chosen": dict(self.chosen)}


def chosen_names(base: Mapping[str, str] | None = None) -> list[str]:
    """The variables the user asked to pass with ``COMPAT_PASS_ENV``."""
    raw = (os.environ if base is None else base).get(PASS_ENV, "")
    return [name.strip() for name in raw.split(",") if name.strip()]


def chosen(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Name and value of each chosen variable that is set: they enter the fingerprint."""
    base = os.environ if base is None else base
    return {name: base[name] for name in chosen_names(base) if name in base}


def allowed(name: str) -> bool:
    return name in ALLOWED or name.startswith(ALLOWED_PREFIXES)


def cell_environment(base: Mapping[str, str] | None = None) -> CellEnvironment:
    """The allowlisted part of ``base`` (default: this process's environment)."""
    base = dict(os.environ if base is None else base)
    picked = chosen(base)
    env = {k: v for k, v in base.items() if allowed(k) or k in picked}
    dropped = sorted(k for k in base if k not in env and VERDICT_CHANGING.match(k))
    return CellEnvironment(env, tuple(sorted(env)), tuple(dropped), picked)


def install_environment(base: Mapping[str, str] | None = None) -> tuple[dict[str, str], list[str]]:
    """The caller's environment for an installer, less what changes the resolution;
    returns it and the names dropped."""
    base = dict(os.environ if base is None else base)
    keep = set(chosen_names(base))
    dropped = sorted(k for k in base if RESOLUTION.match(k) and k not in keep)
    return {k: v for k, v in base.items() if k not in dropped}, dropped
