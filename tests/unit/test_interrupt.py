"""Stopping the harness stops its work: a SIGTERM to ``nox`` mid-tier ends the running
cell's whole process tree, records that cell as ``interrupted`` (no verdict), leaves the
finished results alone, and the next run reruns the interrupted cell only.

A real ``nox`` process runs fake cells (tests/support/fake_nox/noxfile.py: the fake engine of
tests/support/fake_tiers, nothing installed)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from fake_cells import fake_run
from report_fakes import fake_result, write

from compat import gate, report
from compat.plan.matrixfile import load_matrix
from compat.result.files import read_result, result_path
from compat.run.cell import run_cell
from compat.system import supervise
from conftest import REPO

NOXFILE = REPO / "tests" / "support" / "fake_nox" / "noxfile.py"


def nox_env(results: Path, cells: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPAT_")}
    env.update(COMPAT_RESULTS=str(results), COMPAT_FAKE_CELLS=json.dumps(cells))
    return env


def run_nox(results: Path, cells: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nox", "-f", str(NOXFILE), "-s", "matrix"],
                          env=nox_env(results, cells), capture_output=True, text=True,
                          timeout=300, cwd=REPO)


def wait_for(check, what: str, timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while not check():
        if time.monotonic() > end:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def alive(proc: psutil.Process) -> bool:
    """Running and not a zombie (a zombie uses nothing; its parent just has not reaped it)."""
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stopping_nox_stops_the_cell_tree_and_the_next_run_resumes(tmp_path, signum):
    results = tmp_path / "results"
    first = run_nox(results, {"fake-done": "pass"})
    assert first.returncode == 0, first.stdout + first.stderr
    done = result_path(results, "fake-done")
    finished = done.read_bytes()
    assert json.loads(finished)["outcome"] == "completed"

    cells = {"fake-done": "pass", "fake-stop": "hang-tree"}
    nox = subprocess.Popen([sys.executable, "-m", "nox", "-f", str(NOXFILE), "-s", "matrix"],
                           env=nox_env(results, cells), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, cwd=REPO)
    tree: list[psutil.Process] = []
    try:
        # The second tier has started its two children (one in its own session) and hangs.
        wait_for(lambda: (results / "fake-stop" / "spawned").exists() or nox.poll() is not None,
                 "the fake-stop cell's second tier")
        assert nox.poll() is None, nox.communicate()[0]
        time.sleep(0.5)
        tree = psutil.Process(nox.pid).children(recursive=True)
        assert len(tree) >= 3, tree  # pytest and its two children
        nox.send_signal(signum)
        output, _ = nox.communicate(timeout=60)
        survivors = [p for p in tree if alive(p)]
        assert not survivors, [" ".join(p.cmdline()) for p in survivors]
    finally:
        for proc in tree:  # whatever happens, leave nothing behind
            with contextlib.suppress(psutil.Error):
                proc.kill()
        if nox.poll() is None:
            nox.kill()
            nox.wait()
    assert nox.returncode != 0, output
    assert "interrupted" in output

    stopped = read_result(result_path(results, "fake-stop"))
    assert stopped is not None, output
    assert stopped["outcome"] == "interrupted"
    assert stopped["interrupted"]["signal"] == signal.Signals(signum).name
    assert stopped["interrupted"]["during"] == {"tier": "second", "test": "test_second"}
    assert stopped["tiers"]["install"]["status"] == "pass"
    assert {stopped["tiers"][t]["status"] for t in ("first", "second", "third")} == {"not-run"}
    assert done.read_bytes() == finished  # the finished result is intact

    again = run_nox(results, {"fake-done": "pass", "fake-stop": "pass"})
    assert again.returncode == 0, again.stdout + again.stderr
    log = again.stdout + again.stderr
    assert "fake-done: install" not in log and "up to date" in log  # not rerun
    assert read_result(result_path(results, "fake-stop"))["outcome"] == "completed"
    assert done.read_bytes() == finished


def test_an_interrupted_result_is_not_current(tmp_path, monkeypatch):
    """The fingerprint check reruns a cell whose stored result says interrupted."""
    monkeypatch.setenv("COMPAT_FAKE_MODE", "pass")
    lines: list[str] = []
    first = run_cell(fake_run("fake-again", tmp_path, lines.append))
    path = result_path(tmp_path, "fake-again")
    path.write_text(json.dumps({**first, "outcome": supervise.INTERRUPTED}))
    again = run_cell(fake_run("fake-again", tmp_path, lines.append))
    assert again["outcome"] == "completed" and again["started_at"] >= first["started_at"]
    assert any("interrupted" in line and "rerun" in line for line in lines)


STOPPABLE = """
import signal, sys, time
from pathlib import Path
from compat.system.supervise import run_stopping_child, stop_on_signals
stop_on_signals()
child = ("import signal, sys, time; from pathlib import Path\\n"
         "def stop(*_):\\n"
         "    Path(sys.argv[1]).write_text('stopped by SIGTERM')\\n"
         "    sys.exit(0)\\n"
         "signal.signal(signal.SIGTERM, stop)\\n"
         "Path(sys.argv[1]).write_text('ready')\\n"
         "time.sleep(60)\\n")
run_stopping_child([sys.executable, "-c", child, sys.argv[1]])
"""


def test_a_stopped_gate_stops_its_nox_instead_of_killing_it(tmp_path):
    """The gate runs nox as a child: stopped, it passes SIGTERM on (nox then stops its
    cell) rather than SIGKILL, which would orphan the cell's processes."""
    mark = tmp_path / "mark"
    parent = subprocess.Popen([sys.executable, "-c", STOPPABLE, str(mark)],
                              env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        wait_for(lambda: mark.exists() and mark.read_text() == "ready", "the child", 60)
        parent.send_signal(signal.SIGTERM)
        parent.wait(timeout=60)
    finally:
        if parent.poll() is None:
            parent.kill()
    assert mark.read_text() == "stopped by SIGTERM"
    assert parent.returncode != 0


def interrupted_result(cell: str) -> dict:
    data = fake_result(cell)
    data.update(outcome=supervise.INTERRUPTED, interrupted={"signal": "SIGTERM", "at": "now"},
                bench={})
    for tier in ("import", "load", "synth", "stream", "finetune", "bench"):
        data["tiers"][tier] = {"status": "not-run", "reason": "the run was interrupted "
                                                              "(SIGTERM) before this tier finished"}
    data["tiers"]["import"] = {"status": "pass", "seconds": 1.0}  # finished before the stop
    return data


def test_the_report_shows_an_interrupted_cell_without_a_verdict(tmp_path):
    write(tmp_path / "r", interrupted_result("stopped"))
    write(tmp_path / "r", fake_result("done"))
    made = report.write([tmp_path / "r"], tmp_path / "out", heat=True)  # schema-checked
    verdicts = {e["cell"]: e["verdict"] for e in made["entries"]}
    assert verdicts == {"stopped": "interrupted", "done": "pass"}
    assert made["summary"]["interrupted"] == 1 and made["summary"]["pass"] == 1
    assert [p["bare"]["cell"] for p in made["recommended"]] == ["done"]
    text = (tmp_path / "out" / "compat-report.md").read_text()
    assert "interrupted (no verdict" in text


def test_the_gate_does_not_judge_an_interrupted_cell(tmp_path, capsys):
    cell = "tts0.22.0-torch2.1.2-tf4.35.2-py3.11"
    matrix = tmp_path / "m.toml"
    matrix.write_text('[[cell]]\npython = "3.11"\ntts = "TTS==0.22.0"\ntorch = "2.1.2"\n'
                      'transformers = "4.35.2"\n')
    results = tmp_path / "r"
    (matrix_cell,) = load_matrix(matrix, {"xtts": ("TTS", "coqui-tts")}).cells
    write(results, fake_result(cell), current=matrix_cell)
    args = ["--matrix", str(matrix), "--results", str(results), "--baseline",
            str(tmp_path / "b.json"), "--no-run"]
    assert gate.main([*args, "--update-baseline"]) == gate.OK
    write(results, interrupted_result(cell))
    assert gate.main(args) == gate.CANNOT_RUN  # not a regression, not a pass either
    out = capsys.readouterr()
    assert "interrupted" in out.out and "no verdict" in out.out
    assert gate.main([*args, "--update-baseline"]) == gate.CANNOT_RUN  # nothing to record
