"""The repair round: a packaging failure is recorded bare, then the cell runs again in a
second environment with the smallest fix, so the engine is still tested."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import replace
from pathlib import Path

from report_fakes import fake_result
from test_isolation import make_run

from compat import gate
from compat.env.install import InstallResult
from compat.report.markdown import verdict_cell
from compat.report.model import entry
from compat.run import repair
from compat.run.cell import run_cell

SIX = {"status": "fail", "exc_type": "ModuleNotFoundError",
       "message": "No module named 'six'"}
MISMATCH = {"status": "fail", "exc_type": "RuntimeError",
            "message": "Detected that PyTorch and TorchAudio were compiled with different CUDA "
                       "versions. PyTorch has CUDA version 13.2 whereas TorchAudio has 13.0."}
FREEZE = ["coqui-tts==0.28.0", "torch==2.15.0", "torchaudio==2.11.0+cu130", "numpy==2.3.1"]


def test_an_undeclared_import_is_repaired_by_adding_it():
    found = repair.plan({"import": SIX, "load": {"status": "not-run"}}, FREEZE)
    assert [(f.action, f.requirement, f.diagnosis) for f in found.fixes] == [
        ("add", "six", "six-undeclared")]


def test_torch_is_pinned_to_torchaudios_release_and_torchaudio_stays_where_it_was():
    """Both sides pinned: a fresh resolution with torch==2.11.0 alone picked torchaudio
    2.11.1, whose library does not load beside torch 2.11.0 (measured on the canary)."""
    found = repair.plan({"import": MISMATCH}, FREEZE)
    assert [f.requirement for f in found.fixes] == ["torch==2.11.0", "torchaudio==2.11.0"]
    reqs = repair.apply(["coqui-tts==0.28.0", "torch", "transformers", "torchaudio"],
                        found.fixes)
    assert reqs == ["coqui-tts==0.28.0", "transformers", "torch==2.11.0", "torchaudio==2.11.0"]


def test_an_unknown_missing_module_is_added_under_its_distribution_name():
    yaml = {"status": "error", "exc_type": "ModuleNotFoundError",
            "message": "No module named 'yaml'"}
    assert [f.requirement for f in repair.plan({"import": yaml}, FREEZE).fixes] == ["PyYAML"]


def test_no_repair_for_what_packaging_does_not_explain():
    gone = {"status": "fail", "exc_type": "ModuleNotFoundError",
            "message": "No module named 'transformers.generation.beam_search'"}
    beam = {"status": "fail", "exc_type": "ImportError",
            "message": "cannot import name 'BeamSearchScorer' from 'transformers'"}
    assert not repair.plan({"import": gone, "load": beam}, FREEZE)
    assert not repair.plan({"import": SIX}, [*FREEZE, "six==1.17.0"])  # present: not that
    done = repair.plan({"import": SIX}, FREEZE).fixes
    assert not repair.plan({"import": SIX}, FREEZE, already=done)  # made once, not again


def test_an_entry_that_mends_nothing_never_hides_a_repair(monkeypatch):
    """The repair round reads entries with a repair only: an entry of words (a diagnosis,
    no shim, no repair) whose signature also matches, listed first, neither takes the fix
    away nor enters the run (so the knowledge base grows without making results stale).
    The fix keeps the failure's exception type for the report to classify."""
    from compat.result import diagnosis

    real = diagnosis.load("xtts")
    six = next(e for e in real if e.id == "six-undeclared")
    words = replace(six, id="six-words", repair="", shim="")
    monkeypatch.setattr(diagnosis, "load", lambda engine=None: (words, *real))
    assert diagnosis.classify(SIX["exc_type"], SIX["message"], "xtts").id == "six-words"
    found = repair.plan({"import": SIX}, FREEZE, engine="xtts").fixes
    assert [(f.requirement, f.diagnosis, f.exc_type) for f in found] == [
        ("six", "six-undeclared", "ModuleNotFoundError")]


#: This interpreter's site-packages, on the fake environments' path: their python is a
#: symlink to this one, and only a base interpreter with pytest installed would find it.
SITE = tuple(Path(p) for p in sys.path if p.endswith("site-packages"))


def _fake_env(backend, interpreter, folder):
    """An environment whose python is this one (the fake engine's tests run in it)."""
    (folder / "bin").mkdir(parents=True)
    (folder / "bin" / "python").symlink_to(sys.executable)
    (folder / "pyvenv.cfg").write_text("home = fake\n")


def undeclared_run(tmp_path, monkeypatch, installer):
    """The ``undeclared`` cell in a fake environment, its installs made by ``installer``."""
    venv = tmp_path / "venv"
    _fake_env("uv", sys.executable, venv)
    run = make_run(tmp_path, "undeclared", monkeypatch, installer=installer)
    run.venv, run.make_env = venv, _fake_env
    run.extra_path = SITE  # the fake environments have no pytest of their own
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(sys.path))
    return run


def test_a_cell_with_an_undeclared_import_is_tested_in_a_repaired_environment(
        tmp_path, monkeypatch):
    installs = []

    def installer(venv, backend, reqs, options, **_):
        installs.append((venv.name, list(reqs)))
        extra = ["undeclared-dep==1.0"] if venv.name.endswith("-repaired") else []
        return InstallResult(True, False, 0.1, backend, ["fake"], freeze=["fake==1.0", *extra])

    run = undeclared_run(tmp_path, monkeypatch, installer)
    result = run_cell(run)
    second = result["tiers"]["second"]
    assert second["bare"]["status"] == "fail"
    assert "No module named 'undeclared_dep'" in second["bare"]["message"]
    assert second["status"] == "pass" and second["repaired"]["status"] == "pass"
    assert result["repair"]["fixes"][0]["requirement"] == "undeclared_dep"
    assert installs[-1] == ("venv-repaired", [*run.cell.requirements(), "undeclared_dep",
                                              *run.engine.harness_requirements])
    assert (tmp_path / "results" / run.cell.id / "tiers-repaired1.json").exists()


def test_a_repair_whose_install_fills_the_disk_is_no_verdict(tmp_path, monkeypatch):
    """Failed before: on 2026-12-05 a repair's install met a full disk, and the cell was
    recorded as completed with its bare import failure, as if the repair had failed."""
    def installer(venv, backend, reqs, options, **_):
        if venv.name.endswith("-repaired"):
            return InstallResult(False, False, 0.1, backend, ["uv", "pip", "install"],
                                 "error: Failed to install: six (No space left on device "
                                 "(os error 28))")
        return InstallResult(True, False, 0.1, backend, ["fake"], freeze=["fake==1.0"])

    run = undeclared_run(tmp_path, monkeypatch, installer)
    result = run_cell(run)
    assert result["outcome"] == "interrupted"
    assert "the disk filled during the install" in result["interrupted"]["reason"]
    assert result["tiers"]["second"]["status"] == "not-run"


def repaired_result():
    result = fake_result("c", tts="coqui-tts==0.28.0", torch="2.9.1")
    result["tiers"]["import"]["bare"] = {"status": "fail", "exc_type": "ModuleNotFoundError",
                                         "message": "No module named 'six'"}
    result["tiers"]["import"]["repaired"] = {"status": "pass"}
    result["repair"] = {"fixes": [{"requirement": "six", "tier": "import", "action": "add",
                                   "diagnosis": "six-undeclared", "message": "x"}],
                        "requirements": ["coqui-tts==0.28.0", "torch==2.9.1", "six"],
                        "resolved": {"coqui-tts": "0.28.0", "torch": "2.9.1", "six": "1.17.0"},
                        "rounds": [{"statuses": {"import": "pass"}}], "tested": True}
    return result


def test_the_report_shows_the_repair_and_the_bare_failure():
    """The verdict says repaired (before issue 26 it was a plain pass, and only the
    Markdown said repaired: the heatmap, the HTML, the JSON summary showed a pass)."""
    item = entry(repaired_result(), "r")
    assert item["verdict"] == "repaired" and item["tiers"]["import"]["display"] == "pass"
    assert [(f["kind"], f["diagnosis"]["id"], f["repaired_by"]) for f in item["failures"]] == [
        ("packaging", "six-undeclared", ["six"])]
    assert verdict_cell(item) == ("🔧 pass after a packaging repair (repaired: six; "
                                  "bare: six-undeclared)")
    assert "six" in item["requirements"]


def test_the_report_classifies_a_repair_s_failure_by_the_knowledge_base_it_reads():
    """A cell records the entry whose repair it made, or ``unclassified`` when it added a
    missing module by its name (coqui-tts 0.27.4 lacked torchaudio before the knowledge
    base knew that message); the report classifies the failure again when it reads it, so
    an entry added later explains it without the cell running again. A result without
    the exception type keeps what it recorded."""
    result = repaired_result()
    result["cell"]["tts"] = "coqui-tts==0.27.4"
    result["resolved"]["coqui-tts"] = "0.27.4"
    result["repair"]["fixes"] = [{"requirement": "torchaudio", "tier": "import",
                                  "action": "add", "diagnosis": "unclassified",
                                  "message": "No module named 'torchaudio'",
                                  "exc_type": "ModuleNotFoundError"}]
    result["repair"]["requirements"] = ["coqui-tts==0.27.4", "torch==2.9.1", "torchaudio"]
    assert entry(result, "r")["repair"]["diagnoses"] == ["coqui-torch-extras"]
    del result["repair"]["fixes"][0]["exc_type"]
    assert entry(result, "r")["repair"]["diagnoses"] == ["unclassified"]


def test_the_gate_flags_a_cell_that_now_needs_a_repair():
    before = fake_result("c", tts="coqui-tts==0.28.0", torch="2.9.1")
    found = gate.compare("c", gate.expectation(entry(before, "b")), entry(repaired_result(), "a"))
    assert [(c.tier, c.now, c.regression) for c in found] == [("install", "repair: six", True)]
    assert "six-undeclared" in found[0].detail
    same = gate.compare("c", gate.expectation(entry(repaired_result(), "b")),
                        entry(repaired_result(), "a"))
    assert same == []


def test_a_repaired_environment_with_other_fixes_is_made_anew(tmp_path, monkeypatch):
    """An install only adds: a repaired environment stamped with fixes this run does not
    make (an earlier run's) is removed and made again, not reused."""
    made = []

    def installer(venv, backend, reqs, options, **_):
        extra = ["undeclared-dep==1.0"] if venv.name.endswith("-repaired") else []
        return InstallResult(True, False, 0.1, backend, ["fake"], freeze=["fake==1.0", *extra])

    def make_env(backend, interpreter, folder):
        made.append(folder.name)
        (folder / "bin").mkdir(parents=True)
        (folder / "bin" / "python").symlink_to(sys.executable)
        (folder / "pyvenv.cfg").write_text("home = fake\n")

    venv = tmp_path / "venv"
    make_env("uv", sys.executable, venv)
    stale = tmp_path / "venv-repaired"
    make_env("uv", sys.executable, stale)
    (stale / "leftover").write_text("from an earlier repair")
    (stale / ".xtts-compat-install.json").write_text(json.dumps(
        {"key": "old", "requirements": ["TTS==0.22.0", "six"]}))
    run = make_run(tmp_path, "undeclared", monkeypatch, installer=installer)
    run.venv, run.make_env = venv, make_env
    run.extra_path = SITE  # the fake environments have no pytest of their own
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(sys.path))
    run_cell(run)
    assert made.count("venv-repaired") == 2 and not (stale / "leftover").exists()


PKG_RESOURCES = {"status": "fail", "exc_type": "ModuleNotFoundError",
                 "message": "No module named 'pkg_resources'"}


def test_a_bounded_addition_pins_an_installed_distribution_outside_its_bound():
    """setuptools 82 removed pkg_resources, which librosa 0.10.0 (TTS 0.21) imports."""
    old = ["TTS==0.21.0", "librosa==0.10.0", "torch==2.14.1"]
    fixes = repair.plan({"import": PKG_RESOURCES}, [*old, "setuptools==84.2.1"]).fixes
    assert [(f.action, f.requirement, f.diagnosis) for f in fixes] == [
        ("pin", "setuptools<82", "librosa-pkg-resources")]
    assert [(f.action, f.requirement) for f in repair.plan(
        {"import": PKG_RESOURCES}, old).fixes] == [("add", "setuptools<82")]  # none at all
    assert not repair.plan({"import": PKG_RESOURCES}, [*old, "setuptools==81.0.0"])
    assert repair.apply(["TTS==0.21.0", "setuptools"], fixes) == ["TTS==0.21.0",
                                                                  "setuptools<82"]


def test_the_exploration_s_packaging_failures_have_their_repairs():
    undefined = {"status": "fail", "exc_type": "OSError", "message":
                 "/v/lib/python3.10/site-packages/torchaudio/lib/_torchaudio.abi3.so: "
                 "undefined symbol: aoti_torch_abi_version"}
    freeze = ["coqui-tts==0.24.1", "torch==2.1.0", "torchaudio==2.11.0"]
    assert [f.requirement for f in repair.plan({"import": undefined}, freeze).fixes] == [
        "torchaudio==2.1.0", "torch==2.1.0"]
    none = {"status": "fail", "exc_type": "ImportError", "message":
            "\nCoqui TTS requires the PyTorch and Torchaudio libraries but they were not "
            "found in your\nenvironment."}
    assert [f.requirement for f in repair.plan(
        {"import": none}, ["coqui-tts==0.28.0", "torch==2.15.0"]).fixes] == ["torchaudio"]
