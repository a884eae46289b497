"""Installed or pinned versions to a cell: the one owner of that step. ``here`` reads an
interpreter's packages, the doctor the same, the gate a requirement file's pins; each
turns them into the cell the matrix would have run, so its id and baseline match."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from packaging.utils import canonicalize_name

from compat import engines
from compat.cells import Cell, cell_id

#: The axes every cell pins beside the engine's own line and Python.
AXIS_PACKAGES = ("torch", "transformers")


class StackError(LookupError):
    """Versions that make no cell: no engine installed, or an axis missing."""


def cell_from_versions(versions: Mapping[str, str | None], python: str, *,
                       where: str, tags: Sequence[str] = (), id_prefix: str = "") -> Cell:
    """The cell of an environment (or a requirement set) whose versions are given.

    ``python`` may be "3.11.9" (reduced to "3.11"); every version that is not the engine's
    line, an axis or the harness's test runner becomes a pin. ``where`` names the source
    in errors and in the cell's ``source``."""
    found = engines.stack_of(versions)
    if found is None:
        raise StackError(f"{where}: no engine is installed or pinned there (looked for "
                         f"{', '.join(engines.known_distributions())})")
    engine, line, version = found
    canon: dict[str, str] = {canonicalize_name(k): v for k, v in versions.items() if v}
    missing = [n for n in AXIS_PACKAGES if not canon.get(n)]
    if missing:
        raise StackError(f"{where}: {', '.join(missing)} not installed or pinned there")
    skip = {*(canonicalize_name(d) for d in engines.known_distributions()), *AXIS_PACKAGES,
            *(canonicalize_name(n) for n in engines.HARNESS_WATCHED)}
    pins = tuple((k, str(v)) for k, v in sorted(canon.items()) if k not in skip)
    cell = Cell(id="", python=".".join(python.split(".")[:2]),
                tts=f"{line.distribution}=={version}", torch=str(canon["torch"]),
                transformers=str(canon["transformers"]), pins=pins, tags=tuple(tags),
                engine=engine.name, source=where)
    return replace(cell, id=f"{id_prefix}{cell_id(cell)}")
