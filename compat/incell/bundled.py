"""The shims (``patches/``) and the fixture builders and store (``fixtures/``): top-level
folders of the repository, as the design lays it out, but installed by the wheel inside
this package (``compat.patches``, ``compat.fixtures``): "patches" and "fixtures" are names
other distributions own on PyPI, and a wheel that installed them at the top level would
break one of the two. This module finds whichever layout is there, the wheel's first (so
that an unrelated top-level ``fixtures`` never stands in for ours).

In-cell code (the tier plugin applies the shims inside cells): the standard library only.
"""

import importlib
from pathlib import Path
from types import ModuleType


def package_name(name: str) -> str:
    """``compat.<name>`` where the wheel installed it, else ``<name>`` (a clone)."""
    try:
        importlib.import_module(f"compat.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"compat.{name}":
            raise  # it is there, and something it imports is missing: say that
        return name
    return f"compat.{name}"


def module(package: str, sub: str = "") -> ModuleType:
    """``patches`` or ``fixtures`` (or one of its modules, ``sub``), wherever it lives."""
    base = package_name(package)
    return importlib.import_module(f"{base}.{sub}" if sub else base)


def folder(package: str) -> Path:
    """The folder of ``patches`` or ``fixtures``, wherever it lives (its data is there)."""
    found = module(package).__file__
    if found is None:
        raise ImportError(f"{package_name(package)} is a namespace, not a package folder")
    return Path(found).parent
