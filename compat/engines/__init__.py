"""Engines under test. Each engine is a subpackage exposing ``ENGINE``; adding one is
adding a folder (its tiers, fixture hook, lines and figures), not changing the harness.

The questions the harness asks about engines in general (which engine a stack belongs
to, which packages to watch, which tiers exist) are answered here, from the engines'
declarations, and nowhere else."""

from __future__ import annotations

import functools
import importlib
import pkgutil
import re
from collections.abc import Mapping

from packaging.utils import canonicalize_name

from compat.engines.base import Engine, Figure, FixtureSpec, Line, Tier, with_measured_spreads

__all__ = ["Engine", "Figure", "FixtureSpec", "Line", "Tier", "all_engines", "all_lines",
           "engine_of_cell", "get_engine", "line_of", "stack_of", "tier_names", "watched"]

#: What every engine's results record besides the engine's own packages: the cell-side
#: test runner.
HARNESS_WATCHED = ("pytest", "pytest-benchmark", "pytest-timeout")


@functools.cache
def all_engines() -> dict[str, Engine]:
    found: dict[str, Engine] = {}
    for module in pkgutil.iter_modules(__path__):
        if module.ispkg:
            engine = importlib.import_module(f"{__name__}.{module.name}").ENGINE
            found[engine.name] = with_measured_spreads(engine)
    return found


def get_engine(name: str) -> Engine:
    engines = all_engines()
    if name not in engines:
        raise KeyError(f"unknown engine {name!r}; known: {', '.join(sorted(engines))}")
    return engines[name]


def all_lines() -> dict[str, tuple[Engine, Line]]:
    """Every release line, by key, with its engine (in the engines' declared order)."""
    return {line.key: (engine, line) for engine in all_engines().values()
            for line in engine.lines}


def line_of(distribution: str) -> tuple[Engine, Line] | None:
    """The engine and line a distribution name belongs to, if any."""
    name = canonicalize_name(distribution)
    for engine, line in all_lines().values():
        if canonicalize_name(line.distribution) == name:
            return engine, line
    return None


def engine_of_cell(cell: Mapping[str, object]) -> str:
    """The engine a result's cell names, else the one whose line its ``tts`` names."""
    if cell.get("engine"):
        return str(cell["engine"])
    text = str(cell.get("tts") or "")
    found = line_of(re.split(r"[\s\[<>=!~;@]", text.strip(), maxsplit=1)[0]) if text else None
    if found is None:
        raise KeyError(f"cell {cell.get('id')!r} names no engine and no engine's distribution")
    return found[0].name


def stack_of(versions: Mapping[str, str | None]) -> tuple[Engine, Line, str] | None:
    """The engine, line and version of the engine installed in an environment whose
    versions are given; the first line found (lines are declared newest-first where an
    environment can hold two, as a fork's dependencies may bring the original)."""
    canon = {canonicalize_name(k): v for k, v in versions.items() if v}
    for engine, line in all_lines().values():
        version = canon.get(canonicalize_name(line.distribution))
        if version:
            return engine, line, version
    return None


def known_distributions() -> list[str]:
    return [line.distribution for _, line in all_lines().values()]


def watched() -> tuple[str, ...]:
    """Every distribution some engine watches: its lines, its declared packages, and the
    harness's test runner; in a stable order, each once."""
    names: list[str] = []
    for engine in all_engines().values():
        names += [line.distribution for line in engine.lines] + list(engine.watched)
    return tuple(dict.fromkeys([*names, *HARNESS_WATCHED]))


def tier_names() -> tuple[str, ...]:
    """Every tier of every engine, in run order (``install`` first); the report's columns."""
    names = ["install"]
    for engine in all_engines().values():
        for name in engine.tier_names():
            if name not in names:
                names.append(name)
    return tuple(names)
