"""Engines under test. Each engine is a subpackage exposing ``ENGINE``; adding one is
adding a folder (its tiers, fixture hook and distributions), not changing the harness."""

from __future__ import annotations

import functools
import importlib
import pkgutil

from compat.engines.base import Engine, FixtureSpec, Tier

__all__ = ["Engine", "FixtureSpec", "Tier", "all_engines", "get_engine"]


@functools.cache
def all_engines() -> dict[str, Engine]:
    found: dict[str, Engine] = {}
    for module in pkgutil.iter_modules(__path__):
        if module.ispkg:
            engine = importlib.import_module(f"{__name__}.{module.name}").ENGINE
            found[engine.name] = engine
    return found


def get_engine(name: str) -> Engine:
    engines = all_engines()
    if name not in engines:
        raise KeyError(f"unknown engine {name!r}; known: {', '.join(sorted(engines))}")
    return engines[name]
