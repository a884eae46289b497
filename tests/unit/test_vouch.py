"""The gate and the report vouch only for what they checked (issue 26): anything missing,
stale, mismatched, skipped or unreadable has its own status, and the gate says it cannot
judge (exit 2), never 0. Each test names what the code before issue 26 did instead."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from report_fakes import fake_result, write
from test_gate import fake_matrix, matrix_cells

from compat import gate, report
from compat.report.model import entry, recommended_pins

SIX = ("ModuleNotFoundError", "No module named 'six'")


def gate_args(tmp_path: Path, ids: list[str]) -> tuple[list[str], dict, Path]:
    matrix = fake_matrix(tmp_path, ids)
    results = tmp_path / "results"
    args = ["--matrix", str(matrix), "--results", str(results), "--baseline",
            str(tmp_path / "baseline.json"), "--no-run"]
    return args, matrix_cells(matrix), results


def with_skip(result: dict, tier: str = "finetune") -> dict:
    result["tiers"][tier] = {"status": "skip", "reason": "no dvae.pth in the model folder"}
    return result


def test_a_skipped_tier_makes_a_cell_incomplete_and_never_recommended():
    """Before: pass plus skip was `pass`, and recommended (a real model without dvae.pth
    skips fine-tuning, so its fine-tuning was never checked)."""
    item = entry(with_skip(fake_result("c")), "c")
    assert item["verdict"] == "incomplete"
    assert recommended_pins([item]) == []
    assert entry(fake_result("c"), "c")["verdict"] == "pass"  # the same cell, checked


def test_a_bare_failure_survives_a_shim_round_that_skipped_the_tier():
    """Before: the last round's status won, so a bare failure followed by a skip in the
    shim round showed as a skip, and the cell was not failing."""
    result = fake_result("c")
    result["tiers"]["stream"] = {"status": "skip", "reason": "skipped in this round",
                                 "bare": {"status": "fail", "exc_type": "AttributeError",
                                          "message": "'int' object has no attribute 'device'"},
                                 "shimmed": {"status": "skip"}, "shims": ["stream_sampler"]}
    item = entry(result, "c")
    assert item["tiers"]["stream"]["display"] == "fail"
    assert item["verdict"] == "fail"


def test_the_report_shows_a_stale_result_as_stale_not_as_a_verdict(tmp_path):
    """Before: a result whose fingerprint no longer matched (other pins, other code, another
    model) was reported as current."""
    cell = "tts0.22.0-torch2.1.2-tf4.35.2-py3.11"
    write(tmp_path / "r", fake_result(cell), current=True)
    fresh = report.write([tmp_path / "r"], tmp_path / "out", heat=False)
    assert fresh["entries"][0]["verdict"] == "pass"
    older = json.loads((tmp_path / "r" / f"{cell}.json").read_text())
    older["fingerprint"] = "made-by-older-code"
    write(tmp_path / "r", older)
    made = report.write([tmp_path / "r"], tmp_path / "out", heat=False)
    (item,) = made["entries"]
    assert item["verdict"] == "stale" and "stale: " in item["stale"]
    assert made["summary"]["stale"] == 1 and made["summary"]["pass"] == 0
    assert "🕰️ stale" in (tmp_path / "out" / "compat-report.md").read_text()


def test_another_stacks_result_under_a_cells_id_is_not_compared(tmp_path, capsys):
    """Before: `gate --no-run` compared whatever result sat under a cell's id, even one of
    other pins."""
    args, cells, results = gate_args(tmp_path, ["a"])
    write(results, fake_result("a"), current=cells["a"])
    assert gate.main([*args, "--update-baseline"]) == gate.OK
    other = fake_result("a", transformers="4.57.1")
    write(results, other)
    assert gate.main(args) == gate.CANNOT_RUN
    out = capsys.readouterr().out
    assert "mismatched" in out and "CANNOT JUDGE" in out


def test_a_stale_result_cannot_be_judged_or_recorded(tmp_path, capsys):
    args, cells, results = gate_args(tmp_path, ["a"])
    write(results, fake_result("a"), current=cells["a"])
    assert gate.main([*args, "--update-baseline"]) == gate.OK
    write(results, fake_result("a"))  # the fingerprint of no current run
    assert gate.main(args) == gate.CANNOT_RUN
    assert "stale" in capsys.readouterr().out
    assert gate.main([*args, "--update-baseline"]) == gate.CANNOT_RUN


def test_a_cell_missing_from_the_baseline_cannot_be_judged(tmp_path, capsys):
    """Before: only a note, and exit 0: a failing cell the baseline does not know (every
    Kokoro cell) passed the gate."""
    args, cells, results = gate_args(tmp_path, ["a", "b"])
    write(results, fake_result("a"), current=cells["a"])
    assert gate.main([*args, "--update-baseline", "--cell", "a"]) == gate.OK
    write(results, fake_result("b", failing={"import": SIX}), current=cells["b"])
    assert gate.main(args) == gate.CANNOT_RUN
    out = capsys.readouterr().out
    assert "b " in out and "not in the baseline" in out


def test_a_tier_missing_from_the_baseline_cannot_be_judged(tmp_path, capsys):
    """Before: a tier missing from either side was skipped, so a failing longform tier
    passed the gate against a baseline that predates longform."""
    args, cells, results = gate_args(tmp_path, ["a"])
    write(results, fake_result("a"), current=cells["a"])
    assert gate.main([*args, "--update-baseline"]) == gate.OK
    grown = fake_result("a")
    grown["tiers"]["longform"] = {"status": "fail", "exc_type": "AssertionError",
                                  "message": "sentence 3 missing"}
    write(results, grown, current=cells["a"])
    assert gate.main(args) == gate.CANNOT_RUN
    out = capsys.readouterr().out
    assert "longform" in out and "no expectation" in out


def test_a_tier_the_baseline_expects_and_the_result_lacks_is_not_a_pass(tmp_path, capsys):
    args, cells, results = gate_args(tmp_path, ["a"])
    write(results, fake_result("a"), current=cells["a"])
    assert gate.main([*args, "--update-baseline"]) == gate.OK
    shrunk = fake_result("a")
    del shrunk["tiers"]["stream"]
    write(results, shrunk, current=cells["a"])
    assert gate.main(args) == gate.CANNOT_RUN
    assert "the result has no such tier" in capsys.readouterr().out


@pytest.mark.parametrize("damage, says", [
    ({"cells": {}}, "'cells' must be a non-empty object"),
    ({"cells": {"a": {"verdict": "pass", "tiers": {}}}}, "cell 'a' needs 'tiers'"),
    ({"cells": {"a": {"verdict": "pass", "tiers": None}}}, "cell 'a' needs 'tiers'"),
    ({"cells": None}, "'cells' must be a non-empty object"),
    ([], "is not a baseline"),
])
def test_a_damaged_baseline_is_an_error_naming_it_never_a_pass(tmp_path, capsys, damage, says):
    """Before: `"tiers": {}` or `"cells": {}` let a failing cell pass; a list, no `cells` or
    `tiers: null` crashed with exit 1 (a regression's code) and a traceback."""
    args, cells, results = gate_args(tmp_path, ["a"])
    write(results, fake_result("a", failing={"import": SIX}), current=cells["a"])
    baseline = tmp_path / "baseline.json"
    body = damage if isinstance(damage, list) else {"schema": gate.BASELINE_SCHEMA, **damage}
    baseline.write_text(json.dumps(body))
    assert gate.main(args) == gate.CANNOT_RUN
    err = capsys.readouterr().err
    assert says in err and str(baseline) in err and "Traceback" not in err


def test_a_changed_verdict_is_compared_too(tmp_path, capsys):
    """Before: only tiers were compared; a cell whose verdict moved from pass to incomplete
    (a tier now skipped) passed."""
    args, cells, results = gate_args(tmp_path, ["a"])
    write(results, fake_result("a"), current=cells["a"])
    assert gate.main([*args, "--update-baseline"]) == gate.OK
    write(results, with_skip(fake_result("a")), current=cells["a"])
    assert gate.main(args) == gate.REGRESSION
    assert "finetune" in capsys.readouterr().out


def test_an_unreadable_result_is_named_and_the_rest_still_judged(tmp_path, capsys):
    args, cells, results = gate_args(tmp_path, ["a"])
    write(results, fake_result("a"), current=cells["a"])
    assert gate.main([*args, "--update-baseline"]) == gate.OK
    (results / "broken.json").write_text('{"schema": "xtts-compat/result/1", "tiers": "x"')
    assert gate.main(args) == gate.OK
    err = capsys.readouterr().err
    assert "broken.json" in err and "not JSON" in err


@pytest.mark.parametrize("damage, says", [
    ({"tiers": "import,load"}, "malformed result: tiers: 'import,load' is not of type 'object'"),
    ({"finished_at": 1764000000}, "malformed result: finished_at: 1764000000 is not valid"),
    ({"tiers": {"import": {"status": "passed"}}},
     "malformed result: tiers.import.status: 'passed' is not one of"),
])
def test_a_malformed_result_is_named_and_the_report_still_made(tmp_path, capsys, damage,
                                                                says):
    """Failed before issue 26: an unknown status, `tiers` as a string or an integer
    `finished_at` stopped the whole report (and `gate --no-run`, and `kb`) with a
    traceback."""
    write(tmp_path / "r", fake_result("good"))
    write(tmp_path / "r", {**fake_result("bad"), **damage})
    assert report.main([str(tmp_path / "r"), "--out", str(tmp_path / "out"),
                        "--no-heatmap"]) == 0
    err = capsys.readouterr().err
    assert "bad.json" in err and says in err and "Traceback" not in err
    made = json.loads((tmp_path / "out" / "compat-report.json").read_text())
    assert [e["cell"] for e in made["entries"]] == ["good"]


def test_the_markdown_shows_html_in_an_error_as_text(tmp_path):
    """Failed before issue 26: the Markdown report pasted raw HTML from error text."""
    write(tmp_path / "r", fake_result("c", failing={"import": (
        "ImportError", "<script>alert(1)</script><details open>")}))
    report.main([str(tmp_path / "r"), "--out", str(tmp_path / "out"), "--no-heatmap"])
    text = (tmp_path / "out" / "compat-report.md").read_text()
    import re

    outside_code = re.sub(r"```.*?```|`[^`\n]*`", "", text, flags=re.S)
    assert "<script>" not in outside_code and "<details" not in outside_code
    assert "&lt;script>" in text


def test_two_reports_written_at_once_do_not_collide(tmp_path):
    """Failed before issue 26: the heatmap went through one fixed temporary file name, so
    two reports into one folder at once could move each other's half-written PNG."""
    import threading

    from compat.report import heatmap

    write(tmp_path / "r", fake_result("c"))
    made = report.write([tmp_path / "r"], tmp_path / "out", heat=False)
    seen: list[str] = []
    real = heatmap.write_bytes_atomic

    def spy(path, data):
        seen.append(threading.current_thread().name)
        return real(path, data)

    threads = [threading.Thread(target=heatmap.render, args=(made, tmp_path / "out" / "h.png"),
                                name=f"t{n}") for n in range(2)]
    heatmap.write_bytes_atomic = spy
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        heatmap.write_bytes_atomic = real
    assert sorted(seen) == ["t0", "t1"]
    assert (tmp_path / "out" / "h.png").read_bytes().startswith(b"\x89PNG")
    assert not list((tmp_path / "out").glob(".h.png.*"))


def test_results_of_several_machines_are_judged_each(tmp_path, capsys):
    """Failed before issue 26: with one cell's results from two machines only the last in
    sort order counted, so a failure on one runner was hidden by a pass on another."""
    args, cells, results = gate_args(tmp_path, ["a"])
    write(results, fake_result("a", host="alpha"), name="a-alpha", current=cells["a"])
    assert gate.main([*args, "--update-baseline"]) == gate.OK
    write(results, fake_result("a", host="beta", failing={"import": SIX}), name="a-beta",
          current=cells["a"])
    assert gate.main(args) == gate.REGRESSION
    out = capsys.readouterr().out
    assert "a on beta" in out and "REGRESSION" in out


def test_kb_draft_names_a_malformed_result_without_a_traceback(tmp_path, capsys):
    """Failed before issue 26: `kb draft` on a result whose tiers were a string crashed."""
    from compat.cli import kb

    write(tmp_path, {**fake_result("c"), "tiers": "import,load"})
    assert kb.main(["draft", "c", "--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "c.json" in err and "tiers: 'import,load' is not of type 'object'" in err


RELEASE_ERA = "tts0.22.0-torch2.1.2-tf4.35.2-py3.11"


def test_the_committed_baseline_fails_a_release_era_longform_failure(tmp_path, capsys):
    """Before issue 26 the committed baseline had no longform tier and the gate skipped a
    tier missing from it: a release-era result whose longform tier failed passed. The
    release-era entry now expects longform to pass (measured twice on 2026-12-03: the
    golden run and CI's smoke run); a failing one is a regression naming longform."""
    from compat.cli.clean import known_cells

    cell = known_cells()[RELEASE_ERA][0]
    result = fake_result(RELEASE_ERA)
    result["tiers"]["longform"] = {"status": "fail", "exc_type": "AssertionError",
                                   "message": "segments [3] differ from the same sentence "
                                              "synthesised alone"}
    write(tmp_path, result, current=cell)
    code = gate.main(["--no-run", "--results", str(tmp_path), "--cell", RELEASE_ERA])
    out = capsys.readouterr().out
    assert code == gate.REGRESSION, out
    assert "longform" in out and "REGRESSION" in out


def test_a_kokoro_result_the_committed_baseline_does_not_name_cannot_be_judged(tmp_path,
                                                                               capsys):
    """Before issue 26 a cell missing from the baseline was a note and exit 0: no Kokoro
    cell was in the committed baseline, so every Kokoro failure passed the gate. The
    committed baseline names them now: a copy of it without the Kokoro cells stands in."""
    from compat.cli.clean import known_cells
    from compat.system.paths import BASELINE

    data = json.loads(BASELINE.read_text())
    data["cells"] = {k: v for k, v in data["cells"].items() if not k.startswith("kokoro")}
    without = tmp_path / "baseline-without-kokoro.json"
    without.write_text(json.dumps(data))
    kokoro = next(c for cells in known_cells().values() for c in cells
                  if c.engine == "kokoro" and "explore" not in c.tags)
    result = fake_result(kokoro.id)
    result["cell"]["engine"] = "kokoro"
    result["resolved"] = {"kokoro": kokoro.tts_version, "torch": kokoro.torch,
                          "transformers": kokoro.transformers}
    result["tiers"] = {"install": {"status": "pass"}, "import": {"status": "fail",
                                                                "exc_type": "ImportError",
                                                                "message": "broken"}}
    write(tmp_path, result, current=kokoro)
    code = gate.main(["--no-run", "--results", str(tmp_path), "--cell", kokoro.id,
                      "--baseline", str(without)])
    out = capsys.readouterr().out
    assert code == gate.CANNOT_RUN, out
    assert "not in the baseline" in out
    # Against the committed baseline, which expects import to pass: a regression.
    assert gate.main(["--no-run", "--results", str(tmp_path), "--cell", kokoro.id]) == (
        gate.REGRESSION)


def grown(result: dict, **statuses: str) -> dict:
    """A result with the tiers added since the fakes' six (longform, crossload)."""
    for tier in ("longform", "crossload"):
        result["tiers"][tier] = {"status": statuses.get(tier, "pass"), "seconds": 1.0}
    return result


def test_update_baseline_missing_only_fills_the_gaps_and_changes_no_expectation(
        tmp_path, capsys):
    """Issue 26: the committed baseline lacked 7 cells and two tiers of the others, and
    the only way to add them rewrote every expectation from whatever results were there."""
    args, cells, results = gate_args(tmp_path, ["a", "b"])
    baseline = tmp_path / "baseline.json"
    write(results, fake_result("a"), current=cells["a"])
    assert gate.main([*args, "--update-baseline", "--cell", "a"]) == gate.OK
    before = json.loads(baseline.read_text())["cells"]["a"]
    # a: grown by two tiers, and now failing synth (a change the gate must still show);
    # b: no expectation at all, and its result lacks the new tiers.
    write(results, grown(fake_result("a", failing={"synth": ("RuntimeError", "boom")})),
          current=cells["a"])
    write(results, fake_result("b", failing={"import": SIX}), current=cells["b"])
    capsys.readouterr()
    assert gate.main([*args, "--update-baseline", "--missing-only"]) == gate.CANNOT_RUN
    out, err = capsys.readouterr()
    data = json.loads(baseline.read_text())["cells"]
    assert {t: v["expect"] for t, v in data["a"]["tiers"].items()} == {
        **{t: v["expect"] for t, v in before["tiers"].items()},
        "longform": "pass", "crossload": "pass"}  # added as the result has them
    assert data["a"]["verdict"] == before["verdict"] == "pass"  # kept: synth disagrees
    assert ("a: added longform, crossload; verdict kept (pass): the result did not run "
            "bench, finetune, stream; it disagrees on synth") in out  # the tiers after the
    # failing synth were not run, which is no disagreement; synth is one
    assert "b: added (verdict fail)" in out
    assert "b: still no expectation for longform, crossload" in err
    # The gate still sees a's synth failure: filling the gaps hid nothing.
    assert gate.main(args) == gate.REGRESSION
    write(results, grown(fake_result("b")), current=cells["b"])
    capsys.readouterr()
    # b is in the baseline now: its two missing tiers are added, its import kept failing.
    assert gate.main([*args, "--update-baseline", "--missing-only"]) == gate.OK
    data = json.loads(baseline.read_text())["cells"]
    assert data["b"]["tiers"]["import"]["expect"] == "fail"
    assert data["b"]["tiers"]["crossload"]["expect"] == "pass"
    assert "covers every tier of 2 cells" in capsys.readouterr().out
