"""A noxfile of fake cells, for tests that need a real ``nox`` process (stopping it, for
one) without installing anything. COMPAT_FAKE_CELLS maps cell ids to the mode their tier
tests run in, as JSON ({"fake-done": "pass", "fake-stop": "hang-tree"}); results go to
COMPAT_RESULTS. Set up like the real noxfile: the same signal handling, the same
``run_cell``."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import nox

REPO = Path(__file__).resolve().parents[3]
sys.path[:0] = [str(REPO), str(REPO / "tests" / "support")]
from fake_cells import fake_run  # noqa: E402

from compat.cli import nox_sessions as nox_cells  # noqa: E402
from compat.run.cell import run_cell  # noqa: E402
from compat.system.supervise import stop_on_signals  # noqa: E402

stop_on_signals()
CELLS: dict[str, str] = json.loads(os.environ.get("COMPAT_FAKE_CELLS", '{"fake-pass": "pass"}'))


@nox.session(python=False)
@nox.parametrize("cell", list(CELLS))
def matrix(session: nox.Session, cell: str) -> None:
    os.environ["COMPAT_FAKE_MODE"] = CELLS[cell]
    run_cell(fake_run(cell, nox_cells.results_dir(), session.log))
