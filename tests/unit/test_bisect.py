"""The culprit finder (nox -s bisect): its searches with fake judges, the index reading,
trial cells and states, and the whole command with a toy engine whose trials are faked
(pure harness logic); one real bisect runs in tests/test_bisect_e2e.py."""

from __future__ import annotations

import json
import math
import re

import pytest
from packaging.version import Version

from compat import engines
from compat.cells import Cell
from compat.culprit import cli, explain, search, trials
from compat.engines import Engine, Line, Tier
from compat.plan import releases
from compat.result import diagnosis
from compat.result import files as results
from conftest import REPO

# -- searches ---------------------------------------------------------------------------

VERSIONS = [f"4.{n}.0" for n in range(40, 80)]


def judge_at(boundary: str, skip=(), calls=None):
    def judge(v: str) -> str:
        if calls is not None:
            calls.append(v)
        if v in skip:
            return search.SKIP
        return search.BAD if Version(v) >= Version(boundary) else search.GOOD
    return judge


@pytest.mark.parametrize("boundary", ["4.41.0", "4.57.0", "4.79.0"])
def test_binary_search_finds_the_adjacent_pair_in_log2_trials(boundary):
    calls: list[str] = []
    found = search.bisect(VERSIONS, judge_at(boundary, calls=calls))
    assert (found.last_good, found.first_bad) == (str(Version(boundary).major) + "." +
                                                  str(Version(boundary).minor - 1) + ".0",
                                                  boundary)
    assert found.exact and len(calls) <= math.ceil(math.log2(len(VERSIONS) - 1))
    assert len(calls) + 2 <= search.max_trials(len(VERSIONS)) == 8


def test_a_skipped_release_is_stepped_around_and_a_range_of_skips_is_said():
    calls: list[str] = []
    found = search.bisect(VERSIONS, judge_at("4.57.0", skip={"4.59.0", "4.60.0"}, calls=calls))
    assert (found.last_good, found.first_bad, found.exact) == ("4.56.0", "4.57.0", True)
    assert found.skipped == ["4.59.0", "4.60.0"]  # the middle, skipped: its neighbours tried
    assert len(calls) <= math.ceil(math.log2(len(VERSIONS) - 1)) + len(found.skipped)
    # only skipped releases between the two: the boundary is the range, not a pair
    found = search.bisect(VERSIONS, judge_at("4.57.0", skip={"4.56.0", "4.57.0"}))
    assert (found.last_good, found.first_bad) == ("4.55.0", "4.58.0")
    assert found.undecided == ["4.56.0", "4.57.0"] and not found.exact


def test_a_judge_word_outside_the_vocabulary_is_an_error():
    with pytest.raises(ValueError, match="maybe"):
        search.bisect(VERSIONS, lambda v: "maybe")


def test_delta_debugging_returns_the_pair_that_only_breaks_together():
    changes = ["numpy", "scipy", "torch", "torchaudio", "tokenizers"]
    judged = []

    def judge(subset):
        judged.append(subset)
        return search.BAD if {"torch", "numpy"} <= subset else search.GOOD

    assert sorted(search.ddmin(changes, judge)) == ["numpy", "torch"]
    assert len(judged) == len(set(judged))  # each subset judged once


def test_delta_debugging_returns_a_single_culprit_and_treats_uninstallable_as_not_bad():
    def judge(subset):
        if "torch" in subset and "torchaudio" not in subset:
            return search.SKIP  # the resolver refuses torch without its torchaudio
        return search.BAD if "transformers" in subset else search.GOOD

    assert search.ddmin(["torch", "torchaudio", "transformers"], judge) == ["transformers"]


def test_newest_good_walks_to_the_newest_release_that_still_works():
    assert search.newest_good(VERSIONS, judge_at("9.0")) is None  # the newest works
    found = search.newest_good(VERSIONS, judge_at("4.62.0"))
    assert found is not None and found.last_good == "4.61.0"


# -- the index ----------------------------------------------------------------------------


def page(*versions: str, yanked=(), sdist_only=()) -> dict:
    files = []
    for v in versions:
        files.append({"filename": f"toylib-{v}-py3-none-any.whl", "yanked": v in yanked})
        files.append({"filename": f"toylib-{v}.tar.gz", "yanked": v in yanked})
    return {"meta": {"api-version": "1.1"}, "name": "toylib", "files": files}


def test_releases_between_skip_yanked_and_pre_releases_and_keep_the_ends():
    found = releases.releases_from_page(page("4.56.2", "4.57.0", "4.57.1", "4.58.0rc1",
                                             "4.58.0", yanked={"4.57.0"}))
    chosen, yanked = releases.between(found, "4.56.2", "4.58.0")
    assert chosen == ["4.56.2", "4.57.1", "4.58.0"] and yanked == ["4.57.0"]
    assert releases.between(found, "4.56.2", "4.58.0", pre=True)[0] == [
        "4.56.2", "4.57.1", "4.58.0rc1", "4.58.0"]
    assert releases.between(found, "4.58.0", "4.56.2")[0] == ["4.58.0", "4.57.1", "4.56.2"]
    assert releases.newest(found) == "4.58.0"
    with pytest.raises(releases.ReleaseError, match=r"4\.99"):
        releases.between(found, "4.56.2", "4.99")


def test_a_release_is_yanked_only_when_every_file_is():
    data = page("1.0", "1.1")
    data["files"][2]["yanked"] = "broken wheel"  # 1.1's wheel yanked, its sdist not
    assert [r.yanked for r in releases.releases_from_page(data)] == [False, False]


# -- trials -------------------------------------------------------------------------------

BASE = Cell(id="tts0.22.0-torch2.5.1-tf4.46.2-py3.11", python="3.11", tts="TTS==0.22.0",
            torch="2.5.1", transformers="4.46.2", pins=(("torchaudio", "2.5.1"),))


def test_trial_cells_have_their_own_ids_and_torchaudio_follows_torch():
    a = trials.trial_cell(BASE, {"transformers": "4.57.1"})
    assert a.id == "tts0.22.0-torch2.5.1-tf4.57.1-py3.11" and a.transformers == "4.57.1"
    b = trials.trial_cell(BASE, {"torch": "2.6.0"})
    assert dict(b.pins)["torchaudio"] == "2.6.0" and b.id == "tts0.22.0-torch2.6.0-tf4.46.2-py3.11"
    c = trials.trial_cell(BASE, {"torch": "2.6.0"}, follow=False)
    assert dict(c.pins)["torchaudio"] == "2.5.1" and c.id != b.id
    d = trials.trial_cell(BASE, {"numpy": "2.0.2"})
    assert d.id.endswith("-numpy2.0.2") and d.id != BASE.id
    e = trials.trial_cell(Cell(id="x", python="3.11", tts="coqui-tts[codec]==0.27.5",
                               torch="2.9.1", transformers="4.57.3"), {"coqui-tts": "0.28.0"})
    assert e.tts == "coqui-tts[codec]==0.28.0"


def tier(status, **kw):
    return {"status": status, **kw}


def result(cell_id, tiers, resolved=None, outcome="completed"):
    data = results.new_result({"id": cell_id}, "fp", {"host": "h"})
    data.update(tiers={"install": tier("pass"), **tiers}, outcome=outcome,
                resolved=resolved or {}, finished_at=results.now())
    return data


def test_states_tell_pass_shims_divergence_and_a_blocking_need_apart():
    shimmed = result("c", {"import": tier("pass", bare=tier("fail", exc_type="ImportError",
                                                            message="cannot import name 'X'"),
                                          shimmed=tier("pass"), shims=["beam_search"])})
    s = trials.state_of(shimmed, "import", "xtts")
    assert s.key == "fail ImportError; pass with shims beam_search"
    assert s.message == "cannot import name 'X'"
    blocked = result("c", {"import": tier("fail", exc_type="ImportError", message="gone"),
                           "load": tier("not-run", reason="needs import")})
    b = trials.state_of(blocked, "load", "xtts")
    assert b.key == "not-run ImportError (blocked by import)" and b.tier == "import"
    assert trials.state_of(result("c", {"synth": tier("diverged", message="1.6%")}), "synth",
                           "xtts").key == "diverged"
    uninstallable = result("c", {})
    uninstallable["tiers"]["install"] = tier("fail", exc_type="InstallError",
                                             message="No solution found\nmore")
    u = trials.state_of(uninstallable, "import", "xtts")
    assert not u.installable and u.message == "No solution found"
    with pytest.raises(trials.TrialError, match="interrupted"):
        trials.state_of(result("c", {}, outcome="interrupted"), "import", "xtts")


def test_a_trial_runs_the_chased_tier_and_what_it_needs():
    assert trials.needed_tiers("xtts", "synth") == ("import", "load", "synth")
    with pytest.raises(ValueError, match="no tier 'nope'"):
        trials.needed_tiers("xtts", "nope")


# -- the command, with a toy engine whose trials are faked --------------------------------

TOY = Engine(name="toy", title="Toy engine", lines=(Line("toy", "toy-tts", "Toy", "toy"),),
             tiers=(Tier("import"), Tier("load", needs=("import",)),
                    Tier("synth", needs=("load",))),
             tier_dir=REPO / "tests" / "support" / "fake_tiers")
TOYLIB = [f"1.{n}" for n in range(0, 21)]
TOY_CELL = Cell(id="toy1.0-torch2.5.1-tf4.46.2-py3.11", python="3.11", tts="toy-tts==1.0",
                torch="2.5.1", transformers="4.46.2", engine="toy",
                pins=(("toylib", "1.0"), ("toyaudio", "2.5.1")))


@pytest.fixture
def toy(monkeypatch, tmp_path):
    real = engines.all_engines()
    monkeypatch.setattr(engines, "all_engines", lambda: {**real, "toy": TOY})
    monkeypatch.setattr(cli, "base_cell", lambda args: TOY_CELL if args.cell else None)
    return tmp_path


def fake_runner(truth, runs):
    """Writes each trial's result as ``truth(pins) -> {tier: tier dict}`` says; a trial whose
    result is there already is not run again (as a current fingerprint)."""
    def run(cells, where, tiers):
        for cell in cells:
            path = results.result_path(where, cell.id)
            if path.exists():
                continue
            runs.append((cell.id, tiers))
            pins = trials.pins_of(cell)
            tiers_now = truth(pins)
            data = result(cell.id, tiers_now, resolved={"toy-tts": cell.tts_version, **pins})
            if tiers_now.get("install"):
                data["tiers"]["install"] = tiers_now["install"]
            data["started_at"] = data["finished_at"]
            results.write_result(where, {**data, "cell": {"id": cell.id}})
    return run


GONE = ("cannot import name 'Gone' from 'toylib' "
        "(/venv/lib/python3.11/site-packages/toylib/__init__.py)")


def toylib_breaks_at(first_bad):
    def truth(pins):
        if Version(pins["toylib"]) >= Version(first_bad):
            return {"import": tier("fail", exc_type="ImportError", message=GONE),
                    "load": tier("not-run", reason="needs import"),
                    "synth": tier("not-run", reason="needs import")}
        return {"import": tier("pass"), "load": tier("pass"), "synth": tier("pass")}
    return truth


def fetch_toy(name, index_url):
    return page(*TOYLIB, yanked={"1.12"}) if name == "toylib" else page("2.5.1", "2.6.0")


def test_the_command_names_the_first_bad_release_and_drafts_an_unknown_break(toy, capsys):
    runs: list = []
    argv = ["--cell", TOY_CELL.id, "--package", "toylib", "--bad", "1.20",
            "--results", str(toy / "bisect")]
    code = cli.main(argv, runner=fake_runner(toylib_breaks_at("1.13"), runs), fetch=fetch_toy)
    out = capsys.readouterr().out
    assert code == cli.OK, out
    answer = json.loads(next((toy / "bisect").glob("*.json")).read_text())
    assert (answer["last_good"], answer["first_bad"], answer["tier"]) == ("1.11", "1.13", "import")
    assert answer["yanked"] == ["1.12"] and "1.12" not in answer["candidates"]
    assert len(answer["trials"]) <= search.max_trials(len(answer["candidates"]))
    assert "last good 1.11, first bad 1.13" in out and "trial 3 of at most" in out
    # the ends ran every tier (to find the tier that changed); the middle only import
    assert runs[0][1] == () and all(t == ("import",) for _, t in runs[2:])
    draft = answer["bad_state"] and answer["explain"]["draft"]
    entry = diagnosis.parse(draft, "draft")[0]  # the draft is a valid entry
    assert entry.matches("ImportError", GONE.replace("/venv/", "/other/venv/"))
    assert entry.affected({"toy-tts": "1.0", "toylib": "1.13"})
    assert not entry.affected({"toy-tts": "1.0", "toylib": "1.11"})
    # run again: every trial is there already, none runs
    runs.clear()
    assert cli.main(argv, runner=fake_runner(toylib_breaks_at("1.13"), runs),
                    fetch=fetch_toy) == cli.OK
    again = json.loads(next((toy / "bisect").glob("*.json")).read_text())
    assert runs == [] and again["trials_reused"] == len(again["trials"])


def test_a_pass_that_needs_shims_is_a_boundary_of_its_own(toy):
    def truth(pins):
        v = Version(pins["toylib"])
        load = tier("pass") if v < Version("1.5") else tier(
            "pass", bare=tier("fail", exc_type="UnpicklingError", message="Weights only"),
            shimmed=tier("pass"), shims=["weights_only"])
        return {"import": tier("pass"), "load": load, "synth": tier("pass")}

    code = cli.main(["--cell", TOY_CELL.id, "--package", "toylib", "--bad", "1.20",
                     "--results", str(toy)], runner=fake_runner(truth, []), fetch=fetch_toy)
    answer = json.loads(next(toy.glob("*.json")).read_text())
    assert code == cli.OK and (answer["tier"], answer["first_bad"]) == ("load", "1.5")
    assert answer["bad_state"]["key"] == "fail UnpicklingError; pass with shims weights_only"


def test_the_same_verdict_at_both_ends_is_no_boundary(toy):
    code = cli.main(["--cell", TOY_CELL.id, "--package", "toylib", "--bad", "1.20",
                     "--results", str(toy)], runner=fake_runner(toylib_breaks_at("9.0"), []),
                    fetch=fetch_toy)
    assert code == cli.NO_BOUNDARY
    assert "same at both ends" in json.loads(next(toy.glob("*.json")).read_text())["reason"]


def test_a_good_end_that_is_bad_cannot_run(toy, capsys):
    code = cli.main(["--cell", TOY_CELL.id, "--package", "toylib", "--good", "1.14", "--bad",
                     "1.20", "--tier", "import", "--results", str(toy)],
                    runner=fake_runner(toylib_breaks_at("1.13"), []), fetch=fetch_toy)
    assert code == cli.NO_BOUNDARY  # both ends fail the same way: nothing to search
    code = cli.main(["--cell", TOY_CELL.id, "--package", "nopkg", "--results", str(toy)],
                    runner=fake_runner(toylib_breaks_at("1.13"), []), fetch=fetch_toy)
    assert code == cli.CANNOT_RUN and "does not pin nopkg" in capsys.readouterr().err


def test_newest_good_names_the_newest_release_that_still_works(toy, capsys):
    from compat import report

    folder = toy / "results"
    code = cli.main(["--cell", TOY_CELL.id, "--package", "toylib", "--newest-good", "--tier",
                     "synth", "--results", str(folder / "bisect")],
                    runner=fake_runner(toylib_breaks_at("1.16"), []), fetch=fetch_toy)
    answer = json.loads(next((folder / "bisect").glob("*.json")).read_text())
    assert code == cli.OK and answer["newest_good"] == "1.15"
    written = report.write([folder], toy / "out", heat=False)
    assert written["newest_good"][0]["newest_good"] == "1.15"
    md = (toy / "out" / "compat-report.md").read_text()
    assert "Newest toylib that works with" in md and "**1.15**; 1.16 is the first" in md
    code = cli.main(["--cell", TOY_CELL.id, "--package", "toylib", "--newest-good",
                     "--results", str(folder)], runner=fake_runner(toylib_breaks_at("1.16"), []),
                    fetch=fetch_toy)
    assert code == cli.CANNOT_RUN and "--newest-good needs --tier" in capsys.readouterr().err


def pair_truth(pins):
    """toyaudio must match torch's release, else import fails: only the pair breaks when
    torch goes down while toyaudio stays (and toylib moving alone is harmless)."""
    if pins["torch"] != pins.get("toyaudio"):
        return {"import": tier("error", exc_type="OSError", message="undefined symbol: _ZN3c10"),
                "load": tier("not-run"), "synth": tier("not-run")}
    return {"import": tier("pass"), "load": tier("pass"), "synth": tier("pass")}


def test_two_packages_that_only_break_together_come_back_as_the_pair(toy, tmp_path):
    good, bad = tmp_path / "good.txt", tmp_path / "bad.txt"
    good.write_text("toy-tts==1.0\ntorch==2.5.1\ntoyaudio==2.5.1\ntransformers==4.46.2\n"
                    "toylib==1.0\n")
    bad.write_text("toy-tts==1.0\ntorch==2.6.0\ntoyaudio==2.6.0\ntransformers==4.46.2\n"
                   "toylib==1.3\n")

    def truth(pins):  # torch and toyaudio must move together; moved together, they break
        if pins["torch"] != pins.get("toyaudio"):
            return {"install": tier("fail", exc_type="InstallError", message="No solution")}
        if pins["torch"] == "2.6.0":
            return {"import": tier("pass"), "load": tier("fail", exc_type="UnpicklingError",
                                                         message="Weights only load failed"),
                    "synth": tier("not-run")}
        return {"import": tier("pass"), "load": tier("pass"), "synth": tier("pass")}

    code = cli.main(["--cell", TOY_CELL.id, "--good-lock", str(good), "--bad-lock", str(bad),
                     "--results", str(toy / "out")], runner=fake_runner(truth, []),
                    fetch=fetch_toy)
    answer = json.loads(next((toy / "out").glob("*.json")).read_text())
    assert code == cli.OK and sorted(answer["culprits"]) == ["torch", "toyaudio"]
    assert answer["tier"] == "load"
    assert any(t["state"]["key"] == "cannot install" for t in answer["trials"])  # skipped


def test_pair_found_by_delta_debugging_when_only_the_mix_breaks(toy, tmp_path):
    good, bad = tmp_path / "good.txt", tmp_path / "bad.txt"
    good.write_text("torch==2.5.1\ntoyaudio==2.5.1\ntoylib==1.0\n")
    bad.write_text("torch==2.6.0\ntoyaudio==2.5.1\ntoylib==1.3\n")
    code = cli.main(["--cell", TOY_CELL.id, "--good-lock", str(good), "--bad-lock", str(bad),
                     "--results", str(toy / "out")], runner=fake_runner(pair_truth, []),
                    fetch=fetch_toy)
    answer = json.loads(next((toy / "out").glob("*.json")).read_text())
    assert code == cli.OK and answer["culprits"] == ["torch"]
    assert answer["boundaries"][0]["first_bad"] == "2.6.0"


# -- the knowledge base's word -----------------------------------------------------------

def state(version, key="x", message=GONE, exc="ImportError"):
    return trials.State(key, "fail", exc, message, "import",
                        resolved={"TTS": "0.22.0", "transformers": version})


def test_a_known_break_is_checked_against_its_stated_boundary():
    msg = "cannot import name 'BeamSearchScorer' from 'transformers' (/v/transformers/__init__.py)"
    agree = explain.explain(BASE, "transformers", state("4.56.2"), state("4.57.1", message=msg),
                            "4.56.2", "4.57.1")
    assert agree["entry"] == "beam-search-scorer" and agree["agrees"]
    wrong = explain.explain(BASE, "transformers", state("4.55.4"), state("4.56.0", message=msg),
                            "4.55.4", "4.56.0")
    assert not wrong["agrees"] and "does not cover the first bad release" in wrong["disagreement"]
    early = explain.explain(BASE, "transformers", state("4.57.1"), state("4.57.2", message=msg),
                            "4.57.1", "4.57.2")
    assert not early["agrees"] and "already covers the last good release" in early["disagreement"]


def test_a_signature_makes_paths_wild():
    sig = explain.signature(GONE)
    assert re.search(sig, GONE.replace("/venv/lib", "/home/u/.venv/lib"))
    assert not re.search(sig, "cannot import name 'Other' from 'toylib'")


def test_the_report_shows_the_boundaries_found(toy, tmp_path):
    from compat import report

    folder = tmp_path / "results"
    code = cli.main(["--cell", TOY_CELL.id, "--package", "toylib", "--bad", "1.20",
                     "--results", str(folder / "bisect")],
                    runner=fake_runner(toylib_breaks_at("1.13"), []), fetch=fetch_toy)
    assert code == cli.OK
    written = report.write([folder], tmp_path / "out", heat=False)  # schema-validated
    row = written["boundaries"][0]
    assert (row["package"], row["last_good"], row["first_bad"], row["tier"]) == (
        "toylib", "1.11", "1.13", "import")
    assert row["diagnosis"] == "unclassified" and "[[breakage]]" in row["draft"]
    md = (tmp_path / "out" / "compat-report.md").read_text()
    assert "## Boundaries" in md and "| toylib | 1.11 | 1.13 |" in md
    html = (tmp_path / "out" / "compat-report.html").read_text()
    assert '<table id="boundaries">' in html and "<td>1.13</td>" in html


def test_the_gate_asks_about_several_moved_packages_without_lock_files(toy, tmp_path):
    from dataclasses import replace

    new = replace(TOY_CELL, id="new", pins=(("toylib", "1.3"), ("toyaudio", "2.5.1")),
                  torch="2.6.0")
    lines = cli.find_for_gate(TOY_CELL, new, "import", tmp_path / "bisect",
                              runner=fake_runner(pair_truth, []), fetch=fetch_toy)
    assert "bisect: culprits: torch" in lines and not list(tmp_path.rglob("*pins.txt"))
