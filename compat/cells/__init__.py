"""Cells: the value types of the pipeline. A ``Cell`` is one stack (python, an engine's
distribution, torch, transformers, extra pins) and how to run it; a ``Matrix`` is the cells
of one or more matrix files. Which engine a cell belongs to is read from the engines'
declared release lines (``compat.engines``, the layer below); parsing matrix files is
``compat.plan.matrixfile``'s job, above."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from compat.engines import Engine, line_of

#: The axes every cell pins; the remaining pins go in ``pins``.
AXES = ("python", "tts", "torch", "transformers")


#: An axis value that installs the newest release that resolves.
LATEST = "latest"


#: Python versions are "major.minor".
PYTHON_RE = re.compile(r"^3\.\d+$")


#: Every cell id, derived or given: it names ``results/<id>.json``, a folder the harness
#: deletes scratch copies in, a nox session and a CI job, so no '/', no shell syntax.
#: Match it with :func:`valid_id` (``fullmatch``: ``$`` would let a trailing newline in).
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


ID_RULE = "use letters, digits, '.', '_', '+' and '-', starting with a letter or digit"


DEFAULT_TIMEOUT = 1800.0


DEFAULT_INSTALL_TIMEOUT = 1800.0


class MatrixError(ValueError):
    """A matrix file that cannot be used; the message names file, cell and key."""


def valid_id(value: object) -> bool:
    """True when ``value`` may be a cell id (see ``ID_RE``)."""
    return isinstance(value, str) and ID_RE.fullmatch(value) is not None


@dataclass(frozen=True)
class InstallOptions:
    """Where a cell's packages come from, beyond PyPI."""

    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    index_strategy: str | None = None
    pre: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "index-url": self.index_url,
            "extra-index-url": list(self.extra_index_urls),
            "find-links": list(self.find_links),
            "index-strategy": self.index_strategy,
            "pre": self.pre,
        }


@dataclass(frozen=True)
class Cell:
    """One combination of python, an engine's distribution (the ``tts`` axis), torch,
    transformers and extra pins. ``engine`` left empty is the engine whose line the
    ``tts`` distribution is."""

    id: str
    python: str
    tts: str
    torch: str
    transformers: str
    pins: tuple[tuple[str, str], ...] = ()
    tags: tuple[str, ...] = ()
    engine: str = ""
    timeout: float = DEFAULT_TIMEOUT
    install_timeout: float = DEFAULT_INSTALL_TIMEOUT
    memory_limit: int | None = None
    #: ``keep-env = false``: remove the cell's environments once its result is written
    #: (the exploratory matrix: a hundred one-off stacks would not fit on the disk).
    keep_env: bool = True
    #: ``tiers = [...]``: the tiers the cell runs unless ``-- --tiers`` asks for others
    #: (empty: all of its engine's). The exploratory matrix runs those that decide whether
    #: a stack works.
    tiers: tuple[str, ...] = ()
    install: InstallOptions = field(default_factory=InstallOptions)
    source: str = ""

    def __post_init__(self) -> None:
        if not self.engine:
            object.__setattr__(self, "engine", engine_of_distribution(self.tts_distribution))

    @property
    def tts_requirement(self) -> Requirement:
        return Requirement(self.tts)

    @property
    def tts_distribution(self) -> str:
        return canonicalize_name(self.tts_requirement.name)

    @property
    def tts_version(self) -> str | None:
        return exact_version(self.tts_requirement.specifier)

    def requirements(self) -> list[str]:
        """The requirement lines installed into the cell's environment."""
        reqs = [self.tts, pin_requirement("torch", self.torch),
                pin_requirement("transformers", self.transformers)]
        reqs += [pin_requirement(name, spec) for name, spec in self.pins]
        return reqs

    @property
    def unpinned(self) -> bool:
        """True when some requirement admits more than one version (a canary cell)."""
        return any(exact_version(Requirement(r).specifier) is None for r in self.requirements())

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "engine": self.engine, "python": self.python, "tts": self.tts,
            "torch": self.torch, "transformers": self.transformers, "pins": dict(self.pins),
            "tags": list(self.tags), "timeout": self.timeout,
            "install-timeout": self.install_timeout, "memory-limit": self.memory_limit,
            "install": self.install.as_dict(), "source": self.source,
            "requirements": self.requirements(),
        }


@dataclass(frozen=True)
class Matrix:
    path: Path
    description: str
    cells: tuple[Cell, ...]

    def by_id(self) -> dict[str, Cell]:
        return {cell.id: cell for cell in self.cells}


def pin_requirement(name: str, spec: str) -> str:
    """``("torch", "2.1.2")`` -> ``torch==2.1.2``; ``latest`` -> unpinned; specifiers kept."""
    spec = spec.strip()
    if spec == LATEST or spec == "*":
        return name
    if spec[:1].isdigit():
        return f"{name}=={spec}"
    return f"{name}{spec}"


def exact_version(spec: SpecifierSet) -> str | None:
    """The version a specifier set pins with ``==`` (no wildcard), else None."""
    pins = [s.version for s in spec if s.operator in ("==", "===") and "*" not in s.version]
    return pins[0] if len(pins) == 1 and len(spec) == 1 else None


def engine_of_distribution(distribution: str) -> str:
    """The engine whose release line ``distribution`` is ("" when no engine has it: the
    matrix parser then names the cell and the distributions engines accept)."""
    found = line_of(distribution)
    return found[0].name if found else ""


def cell_id(cell: Cell) -> str:
    """A readable id, ``<line prefix><version>-torch<v>-tf<v>-py<v>``; the prefix is the
    engine's (e.g. ``tts0.22.0-torch2.6.0-tf4.46.2-py3.11``)."""
    found = line_of(cell.tts_distribution)
    short = found[1].id_prefix if found else cell.tts_distribution
    version = cell.tts_version or _slug(str(cell.tts_requirement.specifier)) or LATEST
    parts = [f"{short}{version}", f"torch{_slug(cell.torch)}", f"tf{_slug(cell.transformers)}",
             f"py{cell.python}"]
    return "-".join(parts)


def _slug(spec: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "", spec.replace(">=", "ge").replace("<", "lt"))



def reference_cell(engine: Engine) -> Cell:
    """The engine's reference cell: the stack its fixture and golden output are made in."""
    if engine.fixture is None:
        raise ValueError(f"engine {engine.name!r} declares no fixture, hence no reference cell")
    return Cell(**engine.fixture.reference)
