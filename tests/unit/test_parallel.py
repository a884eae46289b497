"""``--jobs N`` (compat.run.parallel, issue 27): cells run N at a time give the same results as
one at a time, each cell's torch gets its share of the cores, memory limits lower N, and
stopping the harness stops every running cell. Real harness, fake engine (its tier tests
pass, fail, crash or hang as each cell's mode says)."""

from __future__ import annotations

import os
import signal
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from fake_cells import FAKE, fake_run
from report_fakes import fake_result, write

from compat.result import files as results
from compat.run import parallel
from compat.system.supervise import Interrupted

MODES = {"p-pass": "pass", "p-fail": "fail", "p-crash": "segfault", "p-skip": "skip"}


def runs(folder: Path, modes: dict[str, str], threads: int | None = None, lines=None) -> list:
    out = []
    for cell_id, mode in modes.items():
        # Each cell its own mode (cells share this process's environment when threaded).
        engine = replace(FAKE, prepare=lambda _work, m=mode: {"COMPAT_FAKE_MODE": m})
        run = replace(fake_run(cell_id, folder, (lines or []).append), engine=engine,
                      threads=threads)
        out.append(run)
    return out


def verdicts(folder: Path) -> dict[str, dict]:
    found = {}
    for cell_id in MODES:
        result = results.read_result(results.result_path(folder, cell_id))
        assert result is not None, cell_id
        found[cell_id] = {"outcome": result["outcome"],
                          "tiers": {n: (t["status"], t.get("exc_type"))
                                    for n, t in result["tiers"].items()}}
    return found


def test_results_are_the_same_whatever_the_number_of_jobs(tmp_path):
    lines: list[str] = []
    parallel.run_cells(runs(tmp_path / "one", MODES), 1, lines.append)
    parallel.run_cells(runs(tmp_path / "two", MODES, threads=1, lines=lines), 2, lines.append,
                       status_every=0.5)
    one, two = verdicts(tmp_path / "one"), verdicts(tmp_path / "two")
    assert one == two
    assert one["p-fail"]["tiers"]["second"] == ("fail", "ValueError")  # the modes took
    assert one["p-crash"]["tiers"]["second"][0] == "error"
    assert one["p-pass"]["tiers"]["third"] == ("pass", None)
    threaded = results.read_result(results.result_path(tmp_path / "two", "p-pass"))
    assert threaded["environment"]["threads"] == 1
    assert any(line.startswith("[jobs] running ") for line in lines)  # every running cell


def test_memory_limits_lower_the_jobs_and_threads_share_the_cores():
    gib = 2**30
    fits = parallel.plan(4, [12 * gib] * 6, cores=2, memory=24 * gib)
    assert (fits.jobs, fits.threads) == (2, 1) and "lowered to 2" in fits.why
    big = parallel.plan(4, [12 * gib] * 6, cores=16, memory=128 * gib)
    assert (big.jobs, big.threads, big.why) == (4, 4, "")
    few = parallel.plan(8, [None, None], cores=16, memory=128 * gib)
    assert (few.jobs, few.threads) == (2, 8)  # no more jobs than cells


def test_stopping_the_harness_stops_every_running_cell_and_starts_no_queued_one(tmp_path):
    """Two cells hang, two more wait for a slot: a stop records the running two as
    interrupted and never starts the queued ones (a stopped run of 300 cells once went on
    to start, and mark interrupted, every cell left in its queue)."""
    hang = {"p-hang-a": "hang", "p-hang-b": "hang"}
    queued = {"p-queued-a": "pass", "p-queued-b": "pass"}
    lines: list[str] = []
    timer = threading.Timer(8.0, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    try:
        with pytest.raises(Interrupted):
            parallel.run_cells(runs(tmp_path, {**hang, **queued}), 2, lines.append)
    finally:
        timer.cancel()
    for cell_id in hang:
        result = results.read_result(results.result_path(tmp_path, cell_id))
        assert result["outcome"] == "interrupted", cell_id
        assert result["tiers"]["third"]["status"] == "not-run"
    for cell_id in queued:
        assert not results.result_path(tmp_path, cell_id).exists(), cell_id
    assert "[jobs] stopped: 2 queued cell(s) not started" in lines


def test_the_pool_checks_pairs_again_once_every_producer_has_run(tmp_path, monkeypatch):
    """With every result stale, a cell's crossload listed a producer's checkpoint that
    the producer, running beside it, then rewrote ("changed since its cell left it": three
    default cells failed so on 2026-12-05). One at a time, the catch-up after the last
    cell reruns such a tier; the pool now does the same once its cells are done: a cell
    whose environment is kept and whose result is current, with a tier of pairs, and only
    that tier. Real matrix and fingerprints; the pool itself is recorded, not run."""
    import argparse
    import shutil
    from types import SimpleNamespace

    from compat.cli import nox_sessions
    from compat.plan.matrixfile import load_matrices

    matrix = load_matrices([nox_sessions.REPO / "matrices" / "default.toml",
                            nox_sessions.REPO / "matrices" / "kokoro.toml"], {
        name: e.distributions for name, e in nox_sessions.all_engines().items()})
    xtts = [c for c in matrix.cells if c.engine == "xtts"]
    current, stale, gone = xtts[0], xtts[1], xtts[2]
    kokoro = next(c for c in matrix.cells if c.engine == "kokoro")
    folder, envdir = tmp_path / "results", tmp_path / "envs"
    monkeypatch.setattr(nox_sessions, "results_dir", lambda: folder)
    venvs = {}
    for cell in (current, stale, gone, kokoro):
        stored = fake_result(cell.id, tts=cell.tts, torch=cell.torch,
                             transformers=cell.transformers)
        write(folder, stored, current=cell if cell is not stale else False)
        assert results.read_result(results.result_path(folder, cell.id)), cell.id
        venvs[cell.id] = envdir / f"matrix-cell-{nox_sessions._slug(cell.id)}"
        venvs[cell.id].mkdir(parents=True)
        (venvs[cell.id] / "pyvenv.cfg").write_text("home = /usr/bin\n")

    def pool(runs, jobs, log, after=None, **_):
        pools.append(runs)
        shutil.rmtree(venvs[gone.id], ignore_errors=True)  # keep-env = false: its after
        return {}
    pools: list[list] = []
    monkeypatch.setattr(parallel, "run_cells", pool)
    monkeypatch.setattr(nox_sessions, "refuse_if_full", lambda *a: True)
    monkeypatch.setattr(nox_sessions, "remove_environments", lambda *a: None)
    lines: list[str] = []
    session = SimpleNamespace(log=lines.append, warn=lines.append, error=pytest.fail,
                              venv_backend="uv",
                              virtualenv=SimpleNamespace(location=str(envdir / "x")))
    nox_sessions.run_in_parallel(session, matrix, [c.id for c in (current, stale, gone, kokoro)],
                                 argparse.Namespace(jobs=2, force=False, tiers=""))
    assert len(pools) == 2, lines  # the cells, then the catch-up
    assert [r.cell.id for r in pools[0]] == [current.id, stale.id, gone.id, kokoro.id]
    assert [(r.cell.id, r.only) for r in pools[1]] == [(current.id, ("crossload",))]
    assert any(stale.id in line and "stale" in line for line in lines)
    assert any(gone.id in line and "environment is gone" in line for line in lines)


def test_a_last_cell_the_disk_refuses_still_catches_up_the_pairs(tmp_path, monkeypatch):
    """One at a time, the catch-up runs after the last cell. When the disk cannot fit that
    cell it is recorded as stopped, and the cells before it still get their crossload
    brought up to date (a smoke run ended so on 2026-12-05: the release-era crossload was
    left `skip`). The refusal and the catch-up are recorded, not run."""
    import argparse
    from types import SimpleNamespace

    from compat.cli import nox_sessions
    from compat.plan.matrixfile import load_matrices

    matrix = load_matrices([nox_sessions.REPO / "matrices" / "default.toml"], {
        name: e.distributions for name, e in nox_sessions.all_engines().items()})
    last = matrix.cells[-1]
    calls: list[str] = []
    monkeypatch.setattr(nox_sessions, "_position", lambda *a: (5, 5, []))
    monkeypatch.setattr(nox_sessions, "_posargs", lambda s: argparse.Namespace(
        jobs=1, force=False, tiers=""))
    monkeypatch.setattr(nox_sessions, "refuse_if_full",
                        lambda *a: calls.append("refused") and False)
    monkeypatch.setattr(nox_sessions, "run_cell", lambda run: calls.append("ran"))
    monkeypatch.setattr(nox_sessions, "catch_up_pairs",
                        lambda session, m, current: calls.append(f"catch-up after {current}"))
    monkeypatch.setenv("COMPAT_NO_REPORT", "1")
    session = SimpleNamespace(log=calls.append, warn=calls.append, error=pytest.fail,
                              python="3.11", venv_backend="uv",
                              virtualenv=SimpleNamespace(location=str(tmp_path / "env")))
    nox_sessions.run_matrix_cell(session, matrix, last.id)
    assert calls == ["refused", f"catch-up after {last.id}"]


@pytest.mark.parametrize("matrix_file, kept", [("explore.toml", False), ("default.toml", True)])
def test_a_later_session_of_the_pool_leaves_no_empty_environment(tmp_path, monkeypatch,
                                                                 matrix_file, kept):
    """With --jobs, the pool runs every cell and removes a one-off cell's environment
    (keep-env = false); nox then made each later session an empty environment, and an
    exploration left one per cell (94 in .nox on 2026-12-05). A kept cell's stays."""
    import argparse
    from types import SimpleNamespace

    from compat.cli import nox_sessions
    from compat.plan.matrixfile import load_matrix

    matrix = load_matrix(nox_sessions.REPO / "matrices" / matrix_file)
    cell = matrix.cells[-1]
    assert cell.keep_env is kept
    env = tmp_path / "env"
    env.mkdir()
    (env / "pyvenv.cfg").write_text("home = /usr/bin\n")
    monkeypatch.setattr(nox_sessions, "_position", lambda *a: (2, 2, []))
    monkeypatch.setattr(nox_sessions, "_posargs", lambda s: argparse.Namespace(
        jobs=2, force=False, tiers=""))
    monkeypatch.setattr(nox_sessions, "run_cell", lambda run: pytest.fail("ran the cell"))
    monkeypatch.setenv("COMPAT_NO_REPORT", "1")
    lines: list[str] = []
    session = SimpleNamespace(log=lines.append, warn=lines.append, error=pytest.fail,
                              python="3.11", venv_backend="uv",
                              virtualenv=SimpleNamespace(location=str(env)))
    nox_sessions.run_matrix_cell(session, matrix, cell.id)
    assert env.exists() is kept
    assert any("pool" in line for line in lines)


def test_the_pool_judges_the_disk_and_makes_an_environment_when_a_cell_starts(tmp_path,
                                                                              monkeypatch):
    """The pool used to make every queued cell's environment and judge the disk for all of
    them before the first started: a cell queued late was judged against the space free
    at the start, and a stopped run left an empty environment for every cell it never
    started (79 on 2026-12-05). Now each is judged, and its environment made, when its
    turn comes. The real pool; the disk check, environment and cell run are recorded."""
    import argparse
    from types import SimpleNamespace

    from compat.cli import nox_sessions
    from compat.plan.matrixfile import load_matrix

    matrix = load_matrix(nox_sessions.REPO / "matrices" / "explore.toml")
    first, second, third = matrix.cells[:3]
    envdir = tmp_path / "envs"
    envdir.mkdir()
    calls: list[str] = []

    def judged(session, cell, engine, venv):
        made = sorted(p.name for p in envdir.iterdir())
        calls.append(f"judge {cell.id} with {len(made)} environment(s) made")
        return cell is not second  # the first cell filled the disk

    def ran(run):
        calls.append(f"run {run.cell.id} in {run.venv.name}")
        assert (run.venv / "pyvenv.cfg").exists()
        return {}

    def made(backend, interpreter, venv):
        venv.mkdir(parents=True)
        (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")

    monkeypatch.setattr(nox_sessions, "find_python", lambda version: "/usr/bin/python3")
    monkeypatch.setattr(nox_sessions, "refuse_if_full", judged)
    monkeypatch.setattr(nox_sessions, "make_venv", made)
    monkeypatch.setattr(nox_sessions, "remove_environments", lambda *a: None)
    monkeypatch.setattr(nox_sessions, "pairs_behind", lambda *a, **k: [])
    monkeypatch.setattr(parallel, "run_cell", ran)
    lines: list[str] = []
    session = SimpleNamespace(log=lines.append, warn=lines.append, error=pytest.fail,
                              venv_backend="uv",
                              virtualenv=SimpleNamespace(location=str(envdir / "x")))
    nox_sessions.run_in_parallel(session, matrix, [first.id, second.id, third.id],
                                 argparse.Namespace(jobs=1, force=False, tiers=""))
    slug = nox_sessions._slug
    assert calls == [f"judge {first.id} with 0 environment(s) made",
                     f"run {first.id} in matrix-cell-{slug(first.id)}",
                     f"judge {second.id} with 1 environment(s) made",
                     f"judge {third.id} with 1 environment(s) made",
                     f"run {third.id} in matrix-cell-{slug(third.id)}"]
    assert not (envdir / f"matrix-cell-{slug(second.id)}").exists()  # refused: none made
