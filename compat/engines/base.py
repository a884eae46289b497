"""The small interface an engine implements: what it installs, which tiers it has,
and how a cell gets its own copy of the engine's fixture."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from compat.matrix import Cell


@dataclass(frozen=True)
class Tier:
    """A tier: a pytest marker in the engine's tier tests, and a status in each result."""

    name: str
    needs: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class FixtureSpec:
    """How an engine's canonical fixture is built: once, in the reference cell's
    environment, which also produces the golden output every other cell is compared to."""

    reference: Cell
    #: Run as ``python -m <builder> --out DIR --seed N`` inside that environment.
    builder: str
    #: The cached folder, and a check raising an error that names a bad file.
    folder: Callable[..., Path]
    verify: Callable[[Path], object]


@dataclass(frozen=True)
class Engine:
    name: str
    #: Distributions a cell's ``tts`` axis may name (one import name, several lines).
    distributions: tuple[str, ...]
    #: Tiers in run order; ``install`` is the harness's own and always comes first.
    tiers: tuple[Tier, ...]
    #: Folder of pytest files run inside each cell.
    tier_dir: Path
    #: Installed beside the cell's pins (the cell-side test runner).
    harness_requirements: tuple[str, ...] = ("pytest>=7", "pytest-timeout", "pytest-benchmark")
    #: Copies the fixture into the cell's work folder; returns environment variables.
    prepare: Callable[[Path], Mapping[str, str]] | None = field(default=None, compare=False)
    fixture: FixtureSpec | None = field(default=None, compare=False)
    #: Where the committed golden output for a fixture folder lives.
    golden_dir: Callable[[Path], Path] | None = field(default=None, compare=False)
    #: What a result depends on besides pins and code: which model the tiers load (the
    #: fixture, or a real one the user points at); enters the fingerprint.
    model_identity: Callable[[], Mapping[str, str]] | None = field(default=None, compare=False)
    #: Host prerequisites (compat.host.KNOWN) and the distributions whose presence in a
    #: cell makes them needed: probed before the tiers, recorded in the result.
    host_prerequisites: Mapping[str, tuple[str, ...]] = field(default_factory=dict,
                                                              compare=False)

    def inputs(self) -> dict[str, str]:
        return dict(self.model_identity()) if self.model_identity else {}

    def plan(self) -> list[dict[str, object]]:
        return [{"name": t.name, "needs": list(t.needs)} for t in self.tiers]

    def digest(self) -> str:
        """Hash of the tier tests, so a changed test invalidates stored results."""
        sha = hashlib.sha256()
        for path in sorted(self.tier_dir.rglob("*.py")):
            sha.update(path.relative_to(self.tier_dir).as_posix().encode())
            sha.update(path.read_bytes())
        return sha.hexdigest()[:16]
