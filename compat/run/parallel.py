"""Several cells at once: ``nox -s matrix -- --jobs N``.

nox runs its sessions one after another, and a cell leaves cores idle while it installs
(disk, network) and the network idle while it runs tiers. With ``--jobs N`` the first
matrix session of an invocation runs the whole selection itself, N cells at a time, each
in the environment nox would give it (``.nox/matrix-cell-<id>``): nox's later sessions of
those cells then find a current result and stop at once.

- **Threads.** Each cell's torch gets ``cores // N`` threads (``OMP_NUM_THREADS``,
  ``MKL_NUM_THREADS``), so N cells do not oversubscribe the cores. Threads are not in the
  fingerprint: they change no verdict (the golden check holds across kernel sets), so a
  cell's result is the same whatever N is.
- **Memory.** N is lowered until N cells' memory limits fit in the machine's memory.
- **Figures.** A cell measured beside another is on a busy machine; its load meter marks
  its benchmark figures busy, and the gate does not judge them (docs/gate.md). On a small
  machine ``--jobs`` buys throughput, not figures; on a large one each cell's threads are
  its own cores.
- **Progress.** Every cell logs its own phases; every minute one line names each running
  cell, its phase and time, and how many are done and left.
- **Pairs.** A cell's crossload lists the checkpoints the others left when it starts; a
  producer running beside it may rewrite its own meanwhile. Once the pool is done, the
  cells whose crossload inputs moved rerun that tier (``nox_sessions.pairs_behind``), as
  one at a time's catch-up after the last cell does.
- **Stopping.** SIGTERM or Ctrl-C ends every running cell's processes; each records
  itself ``interrupted`` (no verdict), as one cell does alone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import psutil

from compat.run.cell import CellRun, run_cell
from compat.system.progress import clock
from compat.system.supervise import Interrupted, interruptible, stop_workers, workers_may_run

#: Seconds between the lines that name every running cell.
STATUS_EVERY_S = 60.0


@dataclass(frozen=True)
class Plan:
    jobs: int
    threads: int
    why: str


def plan(asked: int, memory_limits: list[int | None], cores: int | None = None,
         memory: int | None = None) -> Plan:
    """How many cells at once, and each one's threads: at most ``asked``, the number of
    cells, and as many as their memory limits allow together."""
    cores = cores or psutil.cpu_count(logical=True) or 1
    memory = memory or psutil.virtual_memory().total
    jobs = max(1, min(asked, len(memory_limits) or 1))
    why = ""
    limit = max((m for m in memory_limits if m), default=0)
    if limit and jobs * limit > memory:
        fits = max(1, memory // limit)
        why = (f"--jobs {asked} lowered to {fits}: {fits} cells of a {limit / 2**30:.0f} GiB "
               f"memory limit fit in {memory / 2**30:.0f} GiB")
        jobs = fits
    return Plan(jobs, max(1, cores // jobs), why)


def run_cells(runs: list[CellRun], jobs: int, log: Callable[[str], None],
              status_every: float = STATUS_EVERY_S,
              after: Callable[[CellRun], None] | None = None,
              before: Callable[[CellRun], bool] | None = None) -> dict[str, dict[str, Any]]:
    """Run the cells ``jobs`` at a time; {cell id: result}. A cell that fails or crashes
    leaves the others running (its result says how it ended). ``before`` runs in the
    cell's thread when its turn comes (judging the disk as it is then, making its
    environment) and may refuse it: False, the cell does not run, and ``before`` has
    recorded why. ``after`` runs once a cell that ran is done (removing its environment,
    say)."""
    done: dict[str, dict[str, Any]] = {}
    started: dict[str, float] = {}
    lock = threading.Lock()

    def one(run: CellRun) -> dict[str, Any]:
        with lock:
            started[run.cell.id] = time.monotonic()
        if before is not None and not before(run):
            return {}
        try:
            return run_cell(run)
        finally:
            if after is not None:
                after(run)

    workers_may_run()
    with interruptible(), ThreadPoolExecutor(max_workers=jobs) as pool:
        futures: dict[Future[dict[str, Any]], CellRun] = {pool.submit(one, r): r for r in runs}
        pending = set(futures)
        try:
            while pending:
                finished, pending = wait(pending, timeout=status_every,
                                         return_when=FIRST_COMPLETED)
                for future in finished:
                    cell_id = futures[future].cell.id
                    try:
                        done[cell_id] = future.result()
                    except Interrupted:
                        raise
                    except Exception as exc:  # the harness failed in this cell: say so, go on
                        log(f"{cell_id}: the harness failed: {type(exc).__name__}: {exc}")
                if pending:
                    log(running_line(futures, pending, started, len(done), len(runs)))
        except Interrupted as exc:
            # Cells still queued never start (a stopped run leaves no result for them, as
            # one at a time does); each running cell ends its commands and records itself.
            queued = [f for f in pending if f.cancel()]
            stop_workers(exc.signum)
            wait(pending - set(queued))
            if queued:
                log(f"[jobs] stopped: {len(queued)} queued cell(s) not started")
            raise
        finally:
            workers_may_run()
    return done


def running_line(futures: dict[Future[dict[str, Any]], CellRun], pending: set[Any],
                 started: dict[str, float], done: int, total: int) -> str:
    """One line for every running cell: its phase and time; how many are done and left."""
    now = time.monotonic()
    running = [futures[f] for f in pending if futures[f].cell.id in started]
    shown = [f"{r.cell.id} ({r.progress.current_phase or 'starting'}, "
             f"{clock(now - started[r.cell.id])})" for r in running]
    waiting = len(pending) - len(running)
    return (f"[jobs] running {len(running)}: {'; '.join(shown) or '-'}; done {done}/{total}"
            f"{f'; {waiting} waiting' if waiting else ''}")
