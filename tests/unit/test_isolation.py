"""One cell that crashes, hangs or runs out of memory ends alone, with its cause recorded,
and every other cell still runs and records. Small fake cells: a fake engine whose tier
tests segfault, sleep or allocate; the install step is faked, the rest is the harness."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from fake_cells import FAKE, fake_install

from compat.cells import Cell
from compat.env.install import InstallResult
from compat.result.files import read_result, result_path
from compat.run.cell import CellRun, run_cell
from compat.system.progress import Progress
from conftest import REPO


def failing_install(venv, backend, reqs, options, **_):
    return InstallResult(False, False, 1.5, backend, ["fake-install"],
                         message="× No solution found when resolving dependencies")


def make_run(tmp_path: Path, mode: str, monkeypatch, *, timeout=120.0, memory=None,
             installer=fake_install, interpreter=sys.executable, lines=None) -> CellRun:
    monkeypatch.setenv("COMPAT_FAKE_MODE", mode)
    cell = Cell(id=f"fake-{mode}", python="3.11", tts="TTS==0.22.0", torch="2.1.2",
                transformers="4.35.2", engine="fake", timeout=timeout, memory_limit=memory)
    sink = lines if lines is not None else []
    return CellRun(cell=cell, engine=FAKE, results_dir=tmp_path / "results",
                   interpreter=interpreter, venv=Path(sys.prefix), backend="uv",
                   progress=Progress(sink.append, cell.id, 1, 1), installer=installer)


def statuses(result):
    return {name: tier["status"] for name, tier in result["tiers"].items()}


def test_passing_cell(tmp_path, monkeypatch):
    result = run_cell(make_run(tmp_path, "pass", monkeypatch))
    assert statuses(result) == {"install": "pass", "first": "pass", "second": "pass",
                                "third": "pass"}
    assert result["outcome"] == "completed"
    assert (tmp_path / "results" / "fake-pass" / "junit.xml").exists()


def test_failure_is_recorded_and_later_tier_not_run(tmp_path, monkeypatch):
    result = run_cell(make_run(tmp_path, "fail", monkeypatch))
    second = result["tiers"]["second"]
    assert second["status"] == "fail"
    assert second["exc_type"] == "ValueError"
    assert second["message"] == "the second tier broke"
    assert "raise ValueError" in second["traceback"]
    assert result["tiers"]["third"]["status"] == "not-run"
    assert "needs 'second', which is fail" in result["tiers"]["third"]["reason"]


def test_selected_tiers_run_alone_and_the_rest_say_why(tmp_path, monkeypatch):
    run = replace(make_run(tmp_path, "fail", monkeypatch), only=("third",))  # a confirming run
    result = run_cell(run)
    assert statuses(result) == {"install": "pass", "first": "not-run", "second": "not-run",
                                "third": "pass"}  # the failing second tier is not a need now
    assert result["tiers"]["second"]["reason"] == "not selected (only third)"


def test_skip_keeps_its_reason(tmp_path, monkeypatch):
    result = run_cell(make_run(tmp_path, "skip", monkeypatch))
    assert result["tiers"]["third"] == {**result["tiers"]["third"], "status": "skip",
                                        "reason": "nothing to do on this device"}


def test_segfault_is_recorded(tmp_path, monkeypatch):
    result = run_cell(make_run(tmp_path, "segfault", monkeypatch))
    assert result["outcome"] == "signal"
    assert result["tiers"]["first"]["status"] == "pass"
    second = result["tiers"]["second"]
    assert (second["status"], second["exc_type"]) == ("error", "CellCrashed")
    assert "SIGSEGV" in second["message"]
    assert second["test"] == "test_second"
    assert result["tiers"]["third"]["status"] == "not-run"


def test_hang_is_killed_at_the_timeout(tmp_path, monkeypatch):
    result = run_cell(make_run(tmp_path, "hang", monkeypatch, timeout=8))
    assert result["outcome"] == "timeout"
    second = result["tiers"]["second"]
    assert (second["status"], second["exc_type"]) == ("error", "CellTimeout")
    assert "8 s" in second["message"]


def test_runaway_memory_is_killed_at_the_limit(tmp_path, monkeypatch):
    result = run_cell(make_run(tmp_path, "oom", monkeypatch, memory=400 * 2**20))
    assert result["outcome"] == "out-of-memory"
    second = result["tiers"]["second"]
    assert (second["status"], second["exc_type"]) == ("error", "OutOfMemory")
    # Killed once its memory passed 400 MiB; the peak is kept in whole MiB, so a kill just
    # past the limit reads 400 (CI failed so once on 2026-12-05: "assert 400 > 400").
    assert result["tier_run"]["bare"]["peak_rss_mib"] >= 400


def test_install_failure_is_a_verdict(tmp_path, monkeypatch):
    result = run_cell(make_run(tmp_path, "pass", monkeypatch, installer=failing_install))
    assert result["outcome"] == "install-failed"
    assert result["tiers"]["install"]["status"] == "fail"
    assert "No solution found" in result["tiers"]["install"]["message"]
    assert {s for n, s in statuses(result).items() if n != "install"} == {"not-run"}


def test_missing_interpreter_is_a_verdict(tmp_path, monkeypatch):
    run = make_run(tmp_path, "pass", monkeypatch, interpreter=None)
    result = run_cell(run)
    assert result["tiers"]["install"]["exc_type"] == "InterpreterNotFound"


def test_bad_cells_leave_the_others_intact(tmp_path, monkeypatch):
    """A sequence of cells like a matrix run: every one writes its result."""
    modes = ["pass", "segfault", "hang", "oom", "fail"]
    for mode in modes:
        run_cell(make_run(tmp_path, mode, monkeypatch, timeout=8, memory=400 * 2**20))
    results = {m: read_result(result_path(tmp_path / "results", f"fake-{m}")) for m in modes}
    assert all(results.values())
    assert [results[m]["outcome"] for m in modes] == [
        "completed", "signal", "timeout", "out-of-memory", "completed"]


def test_current_result_is_not_rerun_unless_forced(tmp_path, monkeypatch):
    lines: list[str] = []
    first = run_cell(make_run(tmp_path, "pass", monkeypatch))
    again = run_cell(make_run(tmp_path, "pass", monkeypatch, lines=lines))
    assert again["started_at"] == first["started_at"]
    assert any("up to date" in line for line in lines)
    run = make_run(tmp_path, "pass", monkeypatch)
    run.force = True
    forced = run_cell(run)
    assert forced["fingerprint"] == first["fingerprint"]
    stored = json.loads(result_path(tmp_path / "results", "fake-pass").read_text())
    assert stored["finished_at"] == forced["finished_at"]


def test_progress_names_cell_phase_and_elapsed(tmp_path, monkeypatch):
    lines: list[str] = []
    run_cell(make_run(tmp_path, "pass", monkeypatch, lines=lines))
    text = "\n".join(lines)
    assert "[cell 1/1] fake-pass: install" in text
    assert "tiers - first, second, third (elapsed" in text
    assert "finished in" in text


@pytest.mark.parametrize("guarded", [True, False])
def test_tier_runs_are_offline(tmp_path, monkeypatch, guarded):
    """The cell-side socket guard refuses TCP connections unless explicitly allowed."""
    import subprocess

    code = ("import socket,pytest,sys\n"
            "@pytest.mark.tier('net')\n"
            "def test_net():\n"
            "    s = socket.socket()\n"
            "    try:\n"
            "        s.connect_ex(('127.0.0.1', 9))\n"
            "    finally:\n"
            "        s.close()\n")
    (tmp_path / "test_net.py").write_text(code)
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin",
           "COMPAT_ALLOW_NETWORK": "0" if guarded else "1",
           "COMPAT_TIER_PLAN": json.dumps([{"name": "net"}])}
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "compat.incell.tierplugin",
                          "-p", "no:cacheprovider", "-c", str(REPO / "compat/engines/tiers.ini"),
                          str(tmp_path / "test_net.py")], env=env, capture_output=True,
                         text=True, cwd=tmp_path)
    if guarded:
        assert out.returncode == 1 and "NetworkBlocked" in out.stdout
    else:
        assert out.returncode == 0, out.stdout


KB = '''[[breakage]]
id = "one"
tier = "import"
exc_type = "ImportError"
pattern = "cannot import name 'X'"
error = "ImportError: cannot import name 'X'"
diagnosis = "X moved"
cause = "upstream moved X"
boundary = "lib >= 2"
affects = [{ lib = ">=2" }]
shim = "x_shim"
pin = "lib<2"
reference = ""
'''


def test_a_knowledge_base_enters_the_fingerprint_by_what_a_run_reads_of_it(tmp_path):
    """Before: any edit of an engine's known_breakages.toml (a boundary moved, a diagnosis
    reworded, the cells that show it named) made every result of that engine stale,
    though cells read only the signatures, shims and repairs (the first Kokoro
    exploration's boundary fix staled its own 20 results). Now only those fields count."""
    from compat.result.fingerprint import REPO, code_digest

    engine = tmp_path / "engine"
    engine.mkdir()
    kb = engine / "known_breakages.toml"

    def digest(text: str) -> str:
        kb.write_text(text)
        return code_digest(REPO, engine)

    first = digest(KB)
    for old, new in (('diagnosis = "X moved"', 'diagnosis = "X moved to Y"'),
                     ('affects = [{ lib = ">=2" }]', 'affects = [{ lib = ">=2.1" }]'),
                     ('reference = ""', 'reference = "https://example.org"\nshown_by = ["c"]')):
        assert digest(KB.replace(old, new)) == first, f"{old} -> {new} made results stale"
    for old, new in (("pattern = \"cannot import name 'X'\"", 'pattern = "cannot import"'),
                     ('shim = "x_shim"', 'shim = ""'), ('id = "one"', 'id = "two"')):
        assert digest(KB.replace(old, new)) != first, f"{old} -> {new} went unseen"
    assert digest(KB + "[[breakage]\n") != first  # a broken file is still seen
    # An entry that mends nothing (no shim, no repair) is words: adding one, or widening
    # its signature, leaves every result current; giving it a repair does not.
    words_only = KB + KB.replace('id = "one"', 'id = "two"').replace('shim = "x_shim"',
                                                                      'shim = ""')
    assert digest(words_only) == first, "an entry that mends nothing made results stale"
    widened = words_only.replace("pattern = \"cannot import name 'X'\"",
                                 "pattern = \"cannot import name 'X'|no attribute 'X'\"", 2)
    assert widened.count("no attribute") == 2
    assert digest(widened) != first  # the first entry's (it has a shim) is seen
    assert digest(words_only + 'repair = "add:x"\n') != first
