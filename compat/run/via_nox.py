"""Running the gate's cells: through ``nox -s matrix`` (the same isolation, progress,
installs and fingerprints as every cell), from a matrix file of just those cells."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

from compat.cells import Cell
from compat.incell.atomicio import write_text_atomic
from compat.plan.bumps import cell_table
from compat.system.exits import CannotRun as GateError
from compat.system.paths import REPO
from compat.system.supervise import run_stopping_child


def run_cells(cells: list[Cell], results_dir: Path, *, force: bool, label: str,
              tiers: tuple[str, ...] = (), who: str = "gate", log: IO[str] | None = None,
              report: bool = True) -> None:
    """Run cells through ``nox -s matrix`` (same isolation, progress and installs), all
    their tiers or only ``tiers`` (a stored result that ran them is reused unless
    ``force``). ``log``: nox's output goes there instead of the terminal; ``report``
    off: no report of these cells (the culprit finder's trials)."""
    matrix = results_dir / f"{label}.toml"
    ids = [c.id for c in cells]
    if len(set(ids)) != len(ids):
        raise GateError(f"the cells to compare are the same cell ({ids[0]}): nothing is bumped")
    write_text_atomic(matrix, f'[matrix]\ndescription = "gate: {label}"\n\n'
                      + "\n".join(cell_table(c) for c in cells))
    env = {**os.environ, "COMPAT_MATRIX": str(matrix), "COMPAT_RESULTS": str(results_dir),
           "COMPAT_REPORTS": str(results_dir / "report")}
    if not report:
        env["COMPAT_NO_REPORT"] = "1"
    cmd = [sys.executable, "-m", "nox", "-f", str(REPO / "noxfile.py"), "-s", "matrix", "--",
           *(["--force"] if force else []), *(["--tiers", ",".join(tiers)] if tiers else [])]
    print(f"{who}: running {', '.join(ids)} ({'forced' if force else 'resuming'})"
          + (f"; nox's output in {log.name}" if log else ""), flush=True)
    redirect: dict[str, Any] = {"stdout": log, "stderr": subprocess.STDOUT} if log else {}
    if run_stopping_child(cmd, env=env, cwd=REPO, **redirect):
        raise GateError("the cells could not run (see nox's output "
                        f"{'in ' + str(log.name) if log else 'above'})")


