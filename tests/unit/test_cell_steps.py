"""A cell's run as named steps (compat/run/cell.py: ``STEPS``), each run alone here on the
fake engine: the record they fill, the install step that ends a run, and the order."""

from __future__ import annotations

from dataclasses import replace

from compat.run import cell as cellrun
from tests.support.fake_cells import fake_run


def test_the_steps_are_named_in_the_order_a_cell_goes_through():
    assert [s.name for s in cellrun.STEPS] == ["install", "probe", "host", "tiers"]


def test_open_record_holds_what_the_steps_need(tmp_path):
    run = fake_run("steps", tmp_path)
    result = cellrun.open_record(run, "fp", {"first": "d1"})
    assert result["fingerprint"] == "fp" and result["tier_digests"] == {"first": "d1"}
    assert result["tiers"] == {} and result["python"]["interpreter"] == run.interpreter
    assert (tmp_path / "steps").is_dir()


def test_install_without_an_interpreter_ends_the_run_and_says_why(tmp_path):
    run = replace(fake_run("no-python", tmp_path), interpreter=None)
    result = cellrun.open_record(run, "fp", {})
    assert cellrun.step_install(run, result) is False
    assert result["tiers"]["install"]["exc_type"] == "InterpreterNotFound"
    assert result["outcome"] == "install-failed"
    assert {result["tiers"][t.name]["status"] for t in run.engine.tiers} == {"not-run"}


def test_install_that_passes_lets_the_run_go_on(tmp_path):
    run = fake_run("installs", tmp_path)
    result = cellrun.open_record(run, "fp", {})
    assert cellrun.step_install(run, result) is True
    assert result["tiers"]["install"]["status"] == "pass"


def test_the_tiers_step_alone_fills_every_tier(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPAT_FAKE_MODE", "pass")
    run = fake_run("tiers-alone", tmp_path)
    result = cellrun.open_record(run, "fp", {})
    assert cellrun.step_install(run, result) and cellrun.step_probe(run, result)
    assert cellrun.step_tiers(run, result) is True
    assert {n: t["status"] for n, t in result["tiers"].items()} == {
        "install": "pass", "first": "pass", "second": "pass", "third": "pass"}
    assert result["outcome"] == "completed"
