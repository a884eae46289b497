"""Packaging failures are data, and the engine is still tested: the repair round's policy.

A fresh resolve can fail for reasons that say nothing about the engine: a package imports
a module it never declared (an engine and ``six``, spaCy and ``click``), or an unpinned
install pairs a torch with a torchaudio of another release. The bare verdict records
that failure with its diagnosis; the repair round then reruns the cell in a second
environment with the smallest change that mends it, so the engine's tiers still run:

- ``add:DIST``: the knowledge-base entry names the missing distribution; ``add:DIST<V``
  adds it within a bound, or pins it there when the installed one is outside (setuptools
  82 removed the ``pkg_resources`` an old librosa imports);
- a ``No module named 'X'`` for a top-level module no installed distribution provides:
  add the distribution of that name (``MODULE_DISTRIBUTIONS`` maps the few that differ);
- ``align:torch=torchaudio``: pin torch to torchaudio's release (they ship in step; the
  newest torchaudio lags the newest torch).

Pure functions over tier results and the frozen package list: no installs here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from compat.incell.status import RAISED
from compat.result import diagnosis

FAILED = RAISED  # a divergence is not a packaging failure
MISSING_MODULE = re.compile(r"No module named '([A-Za-z_][A-Za-z0-9_]*)'")
#: Import names whose distribution is called otherwise.
MODULE_DISTRIBUTIONS = {"yaml": "PyYAML", "sklearn": "scikit-learn", "cv2": "opencv-python",
                        "PIL": "pillow", "dateutil": "python-dateutil", "bs4": "beautifulsoup4",
                        "google": "protobuf", "attr": "attrs", "jwt": "PyJWT"}
#: At most this many repair rounds: each can only reveal the next missing piece.
MAX_ROUNDS = 3


@dataclass(frozen=True)
class Fix:
    """One change to the cell's requirements and the failure it answers."""

    action: str  # "add" or "pin"
    requirement: str
    tier: str
    diagnosis: str  # the entry whose repair it is, or unclassified (a module added by name)
    message: str
    exc_type: str = ""  # with the message, what the report classifies when it reads it

    def as_dict(self) -> dict[str, str]:
        return {"action": self.action, "requirement": self.requirement, "tier": self.tier,
                "diagnosis": self.diagnosis, "message": self.message,
                "exc_type": self.exc_type}


@dataclass
class Plan:
    fixes: list[Fix] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.fixes)


def frozen_versions(freeze: Iterable[str]) -> dict[str, str]:
    """{canonical name: version} from ``uv pip freeze`` lines."""
    out: dict[str, str] = {}
    for line in freeze:
        name, sep, version = line.partition("==")
        if sep:
            out[canonicalize_name(name.strip())] = version.strip()
    return out


def _fixes_for(tier_name: str, tier: Mapping[str, Any], installed: Mapping[str, str],
               engine: str | None = None) -> list[Fix]:
    exc_type, message = tier.get("exc_type") or "", tier.get("message") or ""
    entry = diagnosis.repair_for(exc_type, message, engine)
    first = (message.strip().splitlines() or [""])[0][:300]
    found = entry.id if entry else diagnosis.UNCLASSIFIED
    how = entry.repair if entry else ""
    if how.startswith("add:"):
        wanted = Requirement(how[len("add:"):])
        have = installed.get(canonicalize_name(wanted.name))
        if have is None:
            return [Fix("add", str(wanted), tier_name, found, first, exc_type)]
        if wanted.specifier and not wanted.specifier.contains(_release(have), prereleases=True):
            return [Fix("pin", str(wanted), tier_name, found, first, exc_type)]
        return []
    if how.startswith("align:"):
        # Both sides pinned: the target to the source's release, and the source to the
        # version it had. A fresh resolution would otherwise move the source (torchaudio
        # 2.11.1 beside torch 2.11.0 cannot load its library: measured on the canary).
        target, _, source = how[len("align:"):].partition("=")
        version = installed.get(canonicalize_name(source))
        if version:
            release = _release(version)
            return [Fix("pin", f"{target}=={release}", tier_name, found, first, exc_type),
                    Fix("pin", f"{source}=={release}", tier_name, found, first, exc_type)]
        return []
    match = MISSING_MODULE.search(message) if exc_type.endswith("ModuleNotFoundError") else None
    if match:
        module = match.group(1)
        dist = MODULE_DISTRIBUTIONS.get(module, module)
        if canonicalize_name(dist) not in installed:
            return [Fix("add", dist, tier_name, found, first, exc_type)]
    return []


def _release(version: str) -> str:
    """``2.11.0+cu130`` -> ``2.11.0``."""
    try:
        return Version(version).public
    except InvalidVersion:
        return version.split("+")[0]


def plan(tiers: Mapping[str, Mapping[str, Any]], freeze: Iterable[str],
         already: Iterable[Fix] = (), engine: str | None = None) -> Plan:
    """The fixes the failed tiers call for (in the engine's knowledge base) that were not
    made already."""
    installed = frozen_versions(freeze)
    done = {f.requirement for f in already}
    out = Plan()
    for name, tier in tiers.items():
        if tier.get("status") not in FAILED:
            continue
        for fix in _fixes_for(name, tier, installed, engine):
            if fix.requirement not in done:
                out.fixes.append(fix)
                done.add(fix.requirement)
    return out


def apply(requirements: list[str], fixes: Iterable[Fix]) -> list[str]:
    """The cell's requirement lines with each fix made: a pin replaces the line of its
    distribution, an addition is appended."""
    out = list(requirements)
    for fix in fixes:
        name = canonicalize_name(Requirement(fix.requirement).name)
        if fix.action == "pin":
            out = [line for line in out if _name(line) != name]
        out.append(fix.requirement)
    return out


def _name(line: str) -> str:
    try:
        return canonicalize_name(Requirement(line).name)
    except InvalidRequirement:
        return line
