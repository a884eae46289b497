"""The host's own prerequisites: system libraries and programs an engine's stack loads at
run time, which no pin installs (FFmpeg's shared libraries for torchcodec, espeak-ng for
a phonemizer).

A cell's verdict must be the stack's, not the host's: on a host without FFmpeg a cell
with torchcodec fails for a reason no pin explains. Each prerequisite is probed before
the tiers run and recorded in the result; a failure that the knowledge base says a
missing prerequisite explains (its entry's ``host``) is then reported as
``host-missing: <name>`` with the install command, not as the stack's break.
"""

from __future__ import annotations

import ctypes.util
import platform
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from packaging.utils import canonicalize_name


@dataclass(frozen=True)
class Prerequisite:
    """A system component, how to find it, and how to install it."""

    name: str
    libraries: tuple[str, ...] = ()
    programs: tuple[str, ...] = ()
    apt: str = ""
    brew: str = ""

    def probe(self) -> dict[str, Any]:
        """Whether every library and program is found, and where (no import, no run)."""
        found: dict[str, str | None] = {}
        for lib in self.libraries:
            found[f"lib{lib}"] = ctypes.util.find_library(lib)
        for program in self.programs:
            found[program] = shutil.which(program)
        missing = sorted(name for name, where in found.items() if where is None)
        return {"found": not missing, "missing": missing,
                "where": {k: v for k, v in found.items() if v}, "install": self.install()}

    def install(self) -> str:
        if platform.system() == "Darwin" and self.brew:
            return f"brew install {self.brew}"
        return f"apt-get install {self.apt}" if self.apt else f"install {self.name}"


#: What the harness knows how to probe; engines name them.
KNOWN = {p.name: p for p in (
    Prerequisite("ffmpeg", libraries=("avutil", "avcodec", "avformat"), apt="ffmpeg",
                 brew="ffmpeg"),
    Prerequisite("espeak-ng", programs=("espeak-ng",), apt="espeak-ng", brew="espeak-ng"),
)}


def needed(rules: Mapping[str, Iterable[str]], installed: Iterable[str]) -> dict[str, str]:
    """{prerequisite: the installed distribution that needs it}, from an engine's rules
    (prerequisite -> distributions that load it)."""
    present = {canonicalize_name(d) for d in installed}
    out = {}
    for name, dists in rules.items():
        hit = next((d for d in dists if canonicalize_name(d) in present), None)
        if hit:
            out[name] = hit
    return out


def check(rules: Mapping[str, Iterable[str]], installed: Iterable[str]) -> dict[str, Any]:
    """Probe each prerequisite the installed distributions need; for the result."""
    return {name: {**KNOWN[name].probe(), "needed_by": dist}
            for name, dist in needed(rules, installed).items()}


def summary(names: Iterable[str]) -> list[str]:
    """One line per prerequisite: found where, or missing with the install command."""
    lines = []
    for name in sorted(set(names)):
        state = KNOWN[name].probe()
        if state["found"]:
            where = ", ".join(sorted(state["where"].values()))
            lines.append(f"host prerequisite {name}: found ({where})")
        else:
            lines.append(f"host prerequisite {name}: MISSING ({', '.join(state['missing'])}); "
                         f"cells that need it will report host-missing: {name}. "
                         f"Install: {state['install']}")
    return lines


def missing_explains(host: Mapping[str, Any] | None, prerequisite: str) -> bool:
    """True when a result's host probe found ``prerequisite`` needed and missing."""
    state = (host or {}).get(prerequisite)
    return bool(state) and not (state or {}).get("found", True)
