"""The shims (``patches/``) and the fixture builders and store (``fixtures/``): top-level
folders of the repository, as the design lays it out, but installed by the wheel inside
this package (``compat.patches``, ``compat.fixtures``): "patches" and "fixtures" are names
other distributions own on PyPI, and a wheel that installed them at the top level would
break one of the two. This module says which layout this very ``compat`` package sits in.

The files decide, not what happens to be importable: an editable install maps
``compat.fixtures`` onto the repository's ``fixtures/`` in its own process, while a
child run with the repository on PYTHONPATH (a cell, a fixture build) can import only
``fixtures``. A module name handed to a child (``python -m <builder>``) must be the one
the files give.

In-cell code (the tier plugin applies the shims inside cells): the standard library only.
"""

import importlib
from pathlib import Path
from types import ModuleType

#: The folder of this ``compat`` package.
COMPAT = Path(__file__).resolve().parents[1]


def package_name(name: str) -> str:
    """``compat.<name>`` where the wheel put it inside compat/, ``<name>`` where it sits
    beside compat/ (a clone, an editable install)."""
    if (COMPAT / name / "__init__.py").is_file():
        return f"compat.{name}"
    return name


def module(package: str, sub: str = "") -> ModuleType:
    """``patches`` or ``fixtures`` (or one of its modules, ``sub``), wherever it lives. In
    a clone's layout imported from outside the repository (an editable install run
    elsewhere), the install's own mapping (``compat.<name>``) is the way in."""
    names = [package_name(package)]
    names.append(f"compat.{package}" if names[0] == package else package)
    for i, base in enumerate(names):
        try:
            return importlib.import_module(f"{base}.{sub}" if sub else base)
        except ModuleNotFoundError as exc:
            if i == len(names) - 1 or not (exc.name or "").startswith(base.split(".")[0]):
                raise
    raise AssertionError("unreachable")


def folder(package: str) -> Path:
    """The folder of ``patches`` or ``fixtures``, wherever it lives (its data is there)."""
    found = module(package).__file__
    if found is None:
        raise ImportError(f"{package_name(package)} is a namespace, not a package folder")
    return Path(found).parent
