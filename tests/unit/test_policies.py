"""The pure policies of a cell run, on their own: crash attribution (which tier a dead
process is blamed on), the shim rounds (plan and merge) and bench shaping. The real
runs exercise them end to end (test_isolation, test_nox_e2e); here each rule is pinned."""

from __future__ import annotations

from fake_cells import FAKE

from compat.result import benchfigures, crash
from compat.run import shimrounds
from compat.system.supervise import EXITED, Outcome


def outcome(cause: str = EXITED, returncode: int | None = 0, tail: str = "") -> Outcome:
    return Outcome(cause, returncode, 1.0, 50 * 2**20, f"ended: {cause}", tail)


def passed(*names: str) -> dict:
    return {n: {"status": "pass", "tests": [{"test": f"test_{n}"}]} for n in names}


def test_a_timeout_is_blamed_on_the_tier_it_was_in_and_the_rest_did_not_run():
    report = {"tiers": passed("first"), "current": {"tier": "second", "test": "test_second"}}
    tiers = crash.attribute(FAKE, report, outcome("timeout", None, "line\nlast words\n"))
    assert tiers["first"]["status"] == "pass"
    assert (tiers["second"]["status"], tiers["second"]["exc_type"]) == ("error", "CellTimeout")
    assert tiers["second"]["test"] == "test_second"
    assert tiers["second"]["message"] == "ended: timeout: last words"
    assert tiers["third"]["status"] == "not-run"
    assert "ended early" in tiers["third"]["reason"]


def test_a_pytest_that_could_not_start_is_an_error_on_the_first_tier():
    tiers = crash.attribute(FAKE, {"tiers": {}, "current": None},
                            outcome(EXITED, 4, "ERROR: usage"))
    assert (tiers["first"]["status"], tiers["first"]["exc_type"]) == ("error", "TierRunError")
    assert [tiers[n]["status"] for n in ("second", "third")] == ["not-run", "not-run"]


def test_a_clean_exit_keeps_the_report_as_it_is():
    report = {"tiers": {**passed("first"), "second": {"status": "fail", "tests": [{}]}},
              "current": None}
    tiers = crash.attribute(FAKE, report, outcome(EXITED, 1))
    assert [tiers[n]["status"] for n in ("first", "second", "third")] == [
        "pass", "fail", "not-run"]


def test_the_merged_tier_keeps_its_bare_status_and_the_fewest_shims_it_passed_with():
    bare = {"load": {"status": "fail", "exc_type": "X", "message": "m"}, **passed("import")}
    first = {"load": {"status": "fail"}, **passed("import")}
    second = {**passed("load", "import")}
    merged = shimrounds.merge_rounds([([], bare), (["a"], first), (["a", "b"], second)])
    assert merged["load"]["status"] == "pass"
    assert merged["load"]["bare"] == {"status": "fail", "exc_type": "X", "message": "m"}
    assert merged["load"]["shims"] == ["a", "b"]
    assert merged["import"]["shims"] == []  # passed bare: no shim needed
    alone = shimrounds.merge_rounds([([], bare)])
    assert "shims" not in alone["load"] and alone["load"]["status"] == "fail"


LEFT_OUT = {"status": "not-run", "reason": "not selected (only load, synth)"}


def test_a_shim_round_reruns_only_what_the_rounds_before_left_failed_or_blocked():
    """Issue 27: a shim round ran every tier again (a tier that passed bare paid twice)."""
    bare = {**passed("import"), "load": {"status": "fail", "exc_type": "UnpicklingError"},
            "synth": {"status": "not-run", "reason": "tier 'synth' needs 'load', which is fail"},
            "bench": {"status": "skip", "reason": "no GPU"}}
    assert shimrounds.to_rerun([([], bare)]) == ["load", "synth"]
    first = {"import": LEFT_OUT, "load": {"status": "pass"},
             "synth": {"status": "diverged", "message": "far from the golden"},
             "bench": LEFT_OUT}
    rounds = [([], bare), (["weights_only"], first)]
    assert shimrounds.to_rerun(rounds) == ["synth"]  # load passed: not run a third time
    second = {"import": LEFT_OUT, "load": LEFT_OUT, "synth": {"status": "pass"},
              "bench": LEFT_OUT}
    merged = shimrounds.merge_rounds([*rounds, (["weights_only", "other"], second)])
    assert {n: t["status"] for n, t in merged.items()} == {
        "import": "pass", "load": "pass", "synth": "pass", "bench": "skip"}
    assert merged["import"]["shims"] == [] and merged["import"]["bare"]["status"] == "pass"
    assert merged["load"]["shims"] == ["weights_only"]
    assert merged["synth"]["shims"] == ["weights_only", "other"]
    assert merged["synth"]["bare"]["status"] == "not-run"
    # A partial run (--tiers): a tier left out of every round stays left out, no shims.
    partial = shimrounds.merge_rounds([([], {**bare, "bench": LEFT_OUT}),
                                       (["weights_only"], first)])
    assert partial["bench"]["reason"].startswith("not selected")
    assert "shims" not in partial["bench"] and "shimmed" not in partial["bench"]
    # A partial run's left-out tiers are never rerun by a shim round.
    assert shimrounds.to_rerun([([], {"import": LEFT_OUT, "load": {"status": "fail"}})]) == [
        "load"]


def test_a_crash_in_a_round_of_some_tiers_leaves_the_others_as_not_selected():
    """A shim round that died must not overwrite the bare statuses of tiers it never ran."""
    report = {"tiers": {"first": LEFT_OUT, "third": LEFT_OUT}, "current": None}
    tiers = crash.attribute(FAKE, report, outcome("signal", -11, "boom\n"), only=("second",))
    assert tiers["second"]["status"] == "error"
    assert tiers["first"]["reason"].startswith("not selected")
    assert tiers["third"]["reason"].startswith("not selected")


def test_a_shim_round_runs_only_for_failures_a_shim_addresses():
    beam = {"status": "fail", "exc_type": "ImportError",
            "message": "cannot import name 'BeamSearchScorer' from 'transformers'"}
    plan = shimrounds.plan({"import": beam}, ["beam_search", "weights_only"], "xtts")
    assert plan["rerun"] and plan["addressed"] == {"import": ["beam_search"]}
    assert not shimrounds.plan({"import": beam}, [], "xtts")["rerun"]
    assert not shimrounds.plan({"import": beam}, ["beam_search"], "kokoro")["rerun"]
    other = {"status": "fail", "exc_type": "ValueError", "message": "unknown"}
    assert shimrounds.plan({"import": other}, ["beam_search"], "xtts")["reason"] == (
        "no failure here is one a shim addresses")


def test_bench_shaping_keeps_stats_extra_info_and_recorded_timings():
    raw = {"benchmarks": [{"name": "test_bench_synth[cpu]", "extra_info": {"rtf": 2.0},
                           "stats": {"mean": 0.5, "stddev": 0.1, "min": 0.4, "rounds": 5}}]}
    tiers = {"synth": {"tests": [{"test": "test_a", "properties": {
        "synth_seconds": 1.5, "codes": 12, "peak_mib": 300, "label": "x"}}]}}
    out = benchfigures.summary(raw, tiers, 100 * 2**20)
    assert out["peak_rss_mib"] == 100
    assert out["benchmarks"] == [{"name": "test_bench_synth[cpu]", "mean_s": 0.5,
                                  "stddev_s": 0.1, "min_s": 0.4, "rounds": 5, "rtf": 2.0}]
    assert out["recorded"] == {"test_a.synth_seconds": 1.5, "test_a.peak_mib": 300}


def test_a_cell_says_where_its_time_went(monkeypatch):
    """Issue 27: a cell printed its phases as they began, never a summary of their cost."""
    from compat.system import progress as progress_mod

    now = [0.0]
    monkeypatch.setattr(progress_mod.time, "monotonic", lambda: now[0])
    lines: list[str] = []
    p = progress_mod.Progress(lines.append, "c", 1, 1)
    for name, at in (("install", 0.0), ("probe", 10.0), ("tiers", 12.5)):
        now[0] = at
        p.phase(name)
    now[0] = 40.0
    p.finish("completed")
    assert p.phases == {"install": 10.0, "probe": 2.5, "tiers": 27.5}
    assert lines[-1] == "[cell 1/1] c: time: install 10.0s, probe 2.5s, tiers 27.5s"
