"""A fake engine whose cells run without installing anything: its tier tests
(tests/support/fake_tiers) pass, fail, crash, hang or sleep as COMPAT_FAKE_MODE says, and the
install step is faked; the rest is the real harness. Used by tests and by the fake
noxfile (tests/support/fake_nox/noxfile.py), which runs such cells through a real ``nox``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from compat.cells import Cell
from compat.engines import Engine, Line, Tier
from compat.env.install import InstallResult
from compat.run.cell import CellRun
from compat.system.progress import Progress

REPO = Path(__file__).resolve().parents[2]

FAKE = Engine(
    name="fake",
    title="Fake engine",
    lines=(Line("fake", "TTS", "fake", "fake"),),
    tiers=(Tier("first"), Tier("second", needs=("first",)), Tier("third", needs=("second",))),
    tier_dir=REPO / "tests" / "support" / "fake_tiers",
    # The mode reaches the cell as an engine's prepared variables do (the caller's own
    # COMPAT_* variables never reach a cell: compat.env.cellenv).
    prepare=lambda work_dir: {"COMPAT_FAKE_MODE": os.environ.get("COMPAT_FAKE_MODE", "pass")},
)


def fake_install(venv, backend, reqs, options, **_):
    return InstallResult(True, True, 0.0, backend, ["fake-install", *reqs],
                         freeze=["fake==1.0"])


def fake_run(cell_id: str, results_dir: Path, log=print, *, timeout: float = 120.0
             ) -> CellRun:
    """A cell of the fake engine run with this interpreter (its mode: COMPAT_FAKE_MODE)."""
    cell = Cell(id=cell_id, python="3.11", tts="TTS==0.22.0", torch="2.1.2",
                transformers="4.35.2", engine="fake", timeout=timeout)
    return CellRun(cell=cell, engine=FAKE, results_dir=results_dir, interpreter=sys.executable,
                   venv=Path(sys.prefix), backend="uv", progress=Progress(log, cell.id, 1, 1),
                   installer=fake_install)
