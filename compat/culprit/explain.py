"""Explaining a boundary: the first bad release's error against the engine's knowledge
base. Where an entry matches, its ``affects`` must hold for the first bad trial and not for
the last good one, or the entry's stated boundary disagrees with the measured one (a
knowledge-base bug, reported). Where none matches, a draft entry for a person to
complete, in the knowledge base's own format (it parses: a test checks)."""

from __future__ import annotations

import re
from typing import Any

from compat.cells import Cell
from compat.culprit.trials import State
from compat.result import diagnosis

PATH = re.compile(r"\(?/[^\s'\"]+\)?")


def signature(message: str) -> str:
    """A regular expression for the first line of ``message``, paths made wild (they name
    the user's environment, not the break)."""
    line = message.strip().splitlines()[0] if message.strip() else ""
    parts = PATH.split(line)
    return ".*".join(re.escape(p) for p in parts).strip()[:300]


def explain(cell: Cell, package: str, last_good: State, first_bad: State,
            last_good_version: str, first_bad_version: str) -> dict[str, Any]:
    """The knowledge base's word on a boundary: the entry (and whether its boundary agrees)
    or a draft entry."""
    entry = diagnosis.classify(first_bad.exc_type, first_bad.message, cell.engine)
    if entry is not None:
        bad_hit = entry.affected(_versions(cell, first_bad))
        good_hit = entry.affected(_versions(cell, last_good))
        agrees = bad_hit and not good_hit
        out: dict[str, Any] = {"entry": entry.id, "diagnosis": entry.diagnosis,
                               "remedy": entry.remedy, "boundary_stated": entry.boundary,
                               "agrees": agrees}
        if not agrees:
            out["disagreement"] = (
                f"the knowledge base's entry {entry.id!r} says {entry.boundary!r} (affects "
                f"{list(entry.affects)}), which "
                + ("does not cover the first bad release " if not bad_hit else
                   "already covers the last good release ")
                + f"measured: {package} {last_good_version} good, {first_bad_version} bad")
        return out
    return {"entry": None, "draft": draft(cell, package, first_bad, last_good_version,
                                          first_bad_version)}


def _versions(cell: Cell, state: State) -> dict[str, str | None]:
    """The trial's versions as its interpreter saw them, and its Python."""
    return {**state.resolved, "python": cell.python}


def draft(cell: Cell, package: str, first_bad: State, last_good_version: str,
          first_bad_version: str) -> str:
    """A ``[[breakage]]`` entry with what was measured filled in and what a person must
    judge marked TODO."""
    dist = cell.tts_distribution
    line = next((k for k in first_bad.resolved if k.lower() == dist.lower()), dist)
    engine_version = cell.tts_version or first_bad.resolved.get(line, "")
    first_line = first_bad.message.strip().splitlines()[0] if first_bad.message.strip() else ""
    error = f"{first_bad.exc_type}: {first_line}" if first_bad.exc_type else first_line
    slug = re.sub(r"[^a-z0-9]+", "-", f"{package}-{first_bad_version}-{first_bad.tier}".lower())
    older = _older(last_good_version, first_bad_version)
    op = ">=" if older == last_good_version else "<="
    affects = {line: f"=={engine_version}" if engine_version else ">=0",
               package: f"{op}{first_bad_version}"}
    return diagnosis.render_entry({
        "id": slug.strip("-"),
        "tier": first_bad.tier,
        "exc_type": re.escape(first_bad.exc_type.split(".")[-1]) if first_bad.exc_type else "",
        "pattern": signature(first_bad.message) or re.escape(first_bad.status),
        "error": error or first_bad.status,
        "diagnosis": f"TODO: {package} {op} {first_bad_version}: what breaks, in a few words",
        "cause": "TODO: why it happens (the upstream change)",
        "boundary": f"{package} {op} {first_bad_version} with {line} {engine_version} "
                    f"(last good {last_good_version}; measured by nox -s bisect on {cell.id})",
        "affects": [affects],
        "shim": "",
        "pin": f"{package}{'<' if op == '>=' else '>'}{first_bad_version}",
        "reference": "",
    })


def _older(a: str, b: str) -> str:
    from packaging.version import Version

    return a if Version(a) < Version(b) else b


