"""Rerun only what changed: tier tests are versioned per tier (with the tiers they need),
so a changed tier test reruns that tier and the tiers that need it, in the environment
already there, and keeps the rest of the stored result. Small fake cells: a fake engine
with one test file per tier, the install faked, the rest the real harness."""

from __future__ import annotations

import contextlib
import json
import signal
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from fake_cells import FAKE, fake_install

from compat.cells import Cell
from compat.env.install import InstallResult
from compat.result.files import result_path
from compat.result.fingerprint import changed_tiers, tier_digests
from compat.run.cell import CellRun, run_cell
from compat.system.progress import Progress
from compat.system.supervise import Interrupted

TIER_TEST = '''import pytest

VERSION = {version!r}


@pytest.mark.tier("{tier}")
def test_{tier}(record_property):
    record_property("version", VERSION)
    assert VERSION != "broken"
'''


def engine_with_tiers(tmp_path: Path, versions: dict[str, str]):
    tier_dir = tmp_path / "engine" / "tiers"
    tier_dir.mkdir(parents=True, exist_ok=True)
    for tier, version in versions.items():
        (tier_dir / f"test_{tier}.py").write_text(TIER_TEST.format(tier=tier, version=version))
    return replace(FAKE, tier_dir=tier_dir)


def run(tmp_path: Path, engine, lines: list[str], installer=fake_install) -> dict:
    cell = Cell(id="fake-rerun", python="3.11", tts="TTS==0.22.0", torch="2.1.2",
                transformers="4.35.2", engine="fake")
    return run_cell(CellRun(cell=cell, engine=engine, results_dir=tmp_path / "results",
                            interpreter=sys.executable, venv=Path(sys.prefix), backend="uv",
                            progress=Progress(lines.append, cell.id, 1, 1),
                            installer=installer))


def version_seen(result: dict, tier: str) -> str:
    return result["tiers"][tier]["tests"][0]["properties"]["version"]


def test_a_changed_tier_test_reruns_that_tier_and_those_that_need_it(tmp_path):
    lines: list[str] = []
    first = run(tmp_path, engine_with_tiers(tmp_path, {"first": "1", "second": "1",
                                                       "third": "1"}), lines)
    assert {n: t["status"] for n, t in first["tiers"].items()} == dict.fromkeys(
        ("install", "first", "second", "third"), "pass")
    again = run(tmp_path, engine_with_tiers(tmp_path, {"second": "2"}), lines)
    assert again["rerun"]["tiers"] == ["second", "third"]  # third needs second
    assert again["rerun"]["kept"] == ["first"]
    assert version_seen(again, "second") == "2"
    assert again["tiers"]["first"] == first["tiers"]["first"]  # kept as it was
    assert again["tiers"]["third"]["status"] == "pass"
    untouched = run(tmp_path, engine_with_tiers(tmp_path, {}), lines)
    assert untouched == again and "up to date" in lines[-1]


def test_a_rerun_tier_that_now_fails_is_recorded_and_blocks_the_next(tmp_path):
    """Shown to fail: a changed test that fails is not hidden by the kept result."""
    lines: list[str] = []
    run(tmp_path, engine_with_tiers(tmp_path, dict.fromkeys(("first", "second", "third"),
                                                            "1")), lines)
    again = run(tmp_path, engine_with_tiers(tmp_path, {"second": "broken"}), lines)
    assert again["tiers"]["first"]["status"] == "pass"
    assert again["tiers"]["second"]["status"] == "fail"
    assert again["tiers"]["third"]["status"] == "not-run"


def test_digests_follow_needs_and_shared_files(tmp_path):
    engine = engine_with_tiers(tmp_path, dict.fromkeys(("first", "second", "third"), "1"))
    before = tier_digests(engine.tier_dir, engine.plan())
    (engine.tier_dir / "test_first.py").write_text(TIER_TEST.format(tier="first", version="2"))
    assert changed_tiers(before, tier_digests(engine.tier_dir, engine.plan())) == [
        "first", "second", "third"]
    before = tier_digests(engine.tier_dir, engine.plan())
    (engine.tier_dir / "test_third.py").write_text(TIER_TEST.format(tier="third", version="2"))
    assert changed_tiers(before, tier_digests(engine.tier_dir, engine.plan())) == ["third"]
    before = tier_digests(engine.tier_dir, engine.plan())
    (engine.tier_dir / "test_helpers_shared.py").write_text("X = 1\n")  # no tier's own
    assert changed_tiers(before, tier_digests(engine.tier_dir, engine.plan())) == [
        "first", "second", "third"]
    assert changed_tiers(None, before) == ["first", "second", "third"]


def test_a_changed_tier_whose_needs_failed_bare_reruns_with_them():
    """A tier run alone takes its needs as given: where one failed bare (and passed only
    with shims or a repair), the whole chain reruns, so the bare round fails where it did
    and the shim and repair rounds go as they did."""
    from compat.run.cell import with_failed_needs

    shimmed = {"status": "pass", "bare": {"status": "fail"}}
    stored = {"tiers": {"first": {"status": "pass"}, "second": shimmed,
                        "third": {"status": "pass"}}}
    assert with_failed_needs(FAKE, stored, ["third"]) == ["first", "second", "third"]
    clean = {"tiers": {key: {"status": "pass"} for key in ("first", "second", "third")}}
    assert with_failed_needs(FAKE, clean, ["third"]) == ["third"]
    assert with_failed_needs(FAKE, stored, ["first"]) == ["first"]


def run_only(tmp_path: Path, engine, lines: list[str], only: tuple[str, ...]) -> dict:
    cell = Cell(id="fake-rerun", python="3.11", tts="TTS==0.22.0", torch="2.1.2",
                transformers="4.35.2", engine="fake")
    return run_cell(CellRun(cell=cell, engine=engine, results_dir=tmp_path / "results",
                            interpreter=sys.executable, venv=Path(sys.prefix), backend="uv",
                            progress=Progress(lines.append, cell.id, 1, 1),
                            installer=fake_install, only=only))


def test_a_run_of_some_tiers_is_current_for_those_and_completed_by_a_later_run(tmp_path):
    """The culprit finder's trials (matrix --tiers): a result that ran the tiers wanted is
    read, not rerun; one that left tiers out says so, and a whole run completes it."""
    engine = engine_with_tiers(tmp_path, {"first": "1", "second": "1", "third": "1"})
    lines: list[str] = []
    some = run_only(tmp_path, engine, lines, ("first",))
    assert some["only"] == ["first"] and some["tiers"]["first"]["status"] == "pass"
    assert some["tiers"]["third"]["status"] == "not-run"
    again = run_only(tmp_path, engine, lines, ("first",))
    assert again["started_at"] == some["started_at"] and "up to date" in lines[-1]
    more = run_only(tmp_path, engine, lines, ("first", "second"))  # second not run yet
    assert more["rerun"]["tiers"][-1] == "second" and more["only"] == ["first", "second"]
    assert more["tiers"]["second"]["status"] == "pass"
    whole = run(tmp_path, engine, lines)
    assert "only" not in whole and whole["tiers"]["third"]["status"] == "pass"
    run(tmp_path, engine, lines)
    assert "up to date" in lines[-1]


def test_a_regenerated_golden_reruns_the_tier_that_compares_with_it(tmp_path):
    """Failed before issue 25: the golden files entered no digest, so a cell judged
    against the old golden stayed current after `nox -s golden` wrote a new one."""
    from compat.engines import FixtureSpec

    golden = tmp_path / "golden"
    golden.mkdir()
    (golden / "golden.json").write_text('{"codes": [1]}')
    spec = FixtureSpec(reference=None, builder="x", folder=lambda *a: tmp_path / "fixture",
                       verify=lambda folder: {})
    engine = replace(engine_with_tiers(tmp_path, {"first": "1", "second": "1", "third": "1"}),
                     fixture=spec, golden_dir=lambda fixture: golden, golden_tier="second")
    lines: list[str] = []
    run(tmp_path, engine, lines)
    (golden / "golden.json").write_text('{"codes": [2]}')
    again = run(tmp_path, engine, lines)
    assert again["rerun"]["tiers"] == ["second"]  # the tiers after it read no golden
    assert again["rerun"]["kept"] == ["first", "third"]


def test_a_run_that_writes_a_golden_is_never_current_for_a_verdict(tmp_path):
    """Failed before issue 25: a golden-writing run (its synth test writes instead of
    comparing, and passes) had the fingerprint of an ordinary run, so the next ordinary
    run reused it as a verdict."""
    engine = engine_with_tiers(tmp_path, {"first": "1", "second": "1", "third": "1"})
    cell = Cell(id="fake-rerun", python="3.11", tts="TTS==0.22.0", torch="2.1.2",
                transformers="4.35.2", engine="fake")
    lines: list[str] = []
    base = CellRun(cell=cell, engine=engine, results_dir=tmp_path / "results",
                   interpreter=sys.executable, venv=Path(sys.prefix), backend="uv",
                   progress=Progress(lines.append, cell.id, 1, 1), installer=fake_install)
    writing = run_cell(replace(base, write_golden=tmp_path / "staging"))
    lines.clear()
    ordinary = run_cell(base)
    assert ordinary["fingerprint"] != writing["fingerprint"]
    # ran again, not reused (started_at has whole seconds: both runs may share one)
    assert lines and not any("up to date" in line for line in lines), lines


def interrupting_install(*args, **kwargs):
    raise Interrupted(signal.SIGTERM)


def failing_install(venv, backend, reqs, options, **_):
    return InstallResult(False, False, 0.0, backend, ["fake-install", *reqs],
                         message="the index could not be reached")


@pytest.mark.parametrize("installer", [interrupting_install, failing_install],
                         ids=["interrupted", "install-failed"])
def test_a_rerun_that_does_not_finish_keeps_the_stored_result(tmp_path, installer):
    """Failed before: a rerun of some tiers stopped partway (the crossload catch-up, ended
    with Ctrl-C) wrote its unfinished record over the cell's full result, and the cell had
    no verdict until it ran again. Now the stored result stays byte for byte, the changed
    tier is still stale (rerun next time), and the unfinished rerun is kept aside."""
    lines: list[str] = []
    run(tmp_path, engine_with_tiers(tmp_path, dict.fromkeys(("first", "second", "third"),
                                                            "1")), lines)
    path = result_path(tmp_path / "results", "fake-rerun")
    stored = path.read_bytes()
    engine = engine_with_tiers(tmp_path, {"third": "2"})
    with contextlib.suppress(Interrupted):
        run(tmp_path, engine, lines, installer=installer)
    assert path.read_bytes() == stored
    assert "the stored result is kept" in "\n".join(lines)
    aside = json.loads((tmp_path / "results" / "fake-rerun" / "rerun-unfinished.json").read_text())
    assert aside["only"] == ["third"] and aside["outcome"] != "completed"
    again = run(tmp_path, engine, lines)  # the next run reruns the changed tier
    assert again["rerun"]["tiers"] == ["third"] and version_seen(again, "third") == "2"
