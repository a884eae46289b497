"""Checkpoints across stacks, the harness side: which artifacts a cell is offered
(compat.result.artifacts), how a crossload test becomes a pair verdict (compat.report.pairs),
the grid in every format, and the gate's reading of a pair that stops loading. The tier
itself runs in real cells (tests/e2e/test_nox_e2e.py and the default matrix)."""

from __future__ import annotations

import json
from pathlib import Path

from report_fakes import fake_result, write

from compat import report
from compat.engines import get_engine
from compat.gate.policy import compare, expectation
from compat.report import markdown, model, pairs
from compat.report.collect import collect
from compat.result import artifacts

OLD, NEW, MID = ("tts0.22.0-torch2.1.2-tf4.35.2-py3.11", "coqui0.28.0-torch2.9.1-tf4.57.3-py3.11",
                 "tts0.22.0-torch2.6.0-tf4.46.2-py3.11")


def leave(results: Path, cell: str, fingerprint: str = "f", engine: str = "xtts") -> Path:
    """A producer's result and its checkpoint artifact, as the finetune tier leaves them."""
    write(results, {**fake_result(cell), "fingerprint": fingerprint})
    folder = artifacts.folder(results, cell) / "checkpoint"
    folder.mkdir(parents=True)
    (folder / "model.pth").write_bytes(b"weights of " + cell.encode())
    (folder / artifacts.MANIFEST).write_text(json.dumps(
        {"engine": engine, "cell": cell, "fingerprint": fingerprint,
         "files": {"model.pth": "sha-" + cell}}))
    return folder


def test_a_cell_is_offered_the_current_artifacts_of_the_others_only(tmp_path):
    leave(tmp_path, OLD)
    leave(tmp_path, NEW)
    stale = leave(tmp_path, MID, fingerprint="old")
    write(tmp_path, {**fake_result(MID), "fingerprint": "new"})  # the cell has moved on
    found = artifacts.produced(tmp_path, "xtts", "checkpoint", exclude=OLD)
    assert [f["cell"] for f in found] == [NEW]  # not itself, not the stale one
    assert artifacts.produced(tmp_path, "kokoro", "checkpoint", exclude=OLD) == []
    (stale / artifacts.MANIFEST).write_text("{half a manifest")
    assert [f["cell"] for f in artifacts.produced(tmp_path, "xtts", "checkpoint", "x")] == sorted(
        [OLD, NEW])


def test_the_consuming_tier_is_rerun_when_a_producer_changes(tmp_path):
    engine = get_engine("xtts")
    env, first = artifacts.shared_inputs(tmp_path, engine, OLD)
    assert json.loads(env["COMPAT_SHARED_CHECKPOINT"]) == [] and set(first) == {"crossload"}
    leave(tmp_path, NEW)
    _, second = artifacts.shared_inputs(tmp_path, engine, OLD)
    assert second["crossload"] != first["crossload"]
    write(tmp_path, {**fake_result(NEW), "fingerprint": "g"})  # the producer reran
    _, third = artifacts.shared_inputs(tmp_path, engine, OLD)
    assert third["crossload"] == first["crossload"]  # its old checkpoint no longer counts


def consumer(cell: str, outcomes: dict[str, dict], *, bare: dict[str, str] | None = None,
             shims: list[str] | None = None) -> dict:
    """A result whose crossload tier ran one test a producer: {producer: test fields}."""
    result = fake_result(cell)
    tests = [{"test": f"test_loads_checkpoint_trained_elsewhere[{p}]",
              "properties": {"trained_with": p, **fields.pop("properties", {})}, **fields}
             for p, fields in outcomes.items()]
    tier = {"status": "pass", "tests": tests}
    if bare is not None:
        tier["bare"] = {"status": "fail", "outcomes": {
            f"test_loads_checkpoint_trained_elsewhere[{p}]": o for p, o in bare.items()}}
        tier["shims"] = shims or []
    result["tiers"]["crossload"] = tier
    return result


def test_each_pair_gets_its_verdict_and_a_refusal_its_diagnosis():
    data = consumer(NEW, {
        OLD: {"outcome": "pass", "properties": {"pair": "agrees"}},
        MID: {"outcome": "pass", "properties": {"pair": "diverges",
                                                "pair_divergence": "audio codes differ"}},
        "tts0.22.0-torch2.9.1-tf4.57.3-py3.11": {
            "outcome": "fail", "exc_type": "UnpicklingError",
            "message": "Weights only load failed. Unsupported global: GLOBAL "
                       "TTS.tts.configs.xtts_config.XttsConfig"},
        "shimmed": {"outcome": "pass", "properties": {"pair": "agrees"}},
        "skipped": {"outcome": "skip"},
    }, bare={OLD: "pass", "shimmed": "fail"}, shims=["weights_only"])
    found = {p["trained_with"]: p for p in pairs.of_result(data, model.diagnose)}
    assert {k: p["verdict"] for k, p in found.items()} == {
        OLD: "loads", MID: "diverges", "tts0.22.0-torch2.9.1-tf4.57.3-py3.11": "refuses",
        "shimmed": "loads-with-shims"}
    refused = found["tts0.22.0-torch2.9.1-tf4.57.3-py3.11"]
    assert refused["diagnosis"]["id"] != "unclassified"
    assert "weights" in refused["diagnosis"]["remedy"].lower()
    assert pairs.text(found["shimmed"]) == "🩹 loads with shims (weights_only)"
    assert pairs.text(refused).startswith("❌ refuses: ")


def test_a_pair_that_could_not_run_bare_says_so():
    data = consumer(NEW, {OLD: {"outcome": "pass", "properties": {"pair": "agrees"}}},
                    bare={}, shims=["beam_search"])
    (pair,) = pairs.of_result(data)
    assert pair["verdict"] == "loads-with-shims" and pair["bare"] == "not-run"
    assert "not tried bare" in pairs.text(pair)


def test_the_grid_is_in_every_format_and_pairs_leave_the_cell_verdict_alone(tmp_path):
    results = tmp_path / "results"
    write(results, consumer(NEW, {OLD: {"outcome": "pass", "properties": {"pair": "agrees"}}}),
          current=True)
    refusing = consumer(OLD, {NEW: {"outcome": "fail", "exc_type": "KeyError",
                                    "message": "'gpt.gpt.h.0.attn.c_attn.weight'"}})
    refusing["tiers"]["crossload"]["status"] = "fail"
    write(results, refusing, current=True)
    out = tmp_path / "reports"
    assert report.main([str(results), "--out", str(out)]) == 0
    data = json.loads((out / "compat-report.json").read_text())
    assert {e["cell"]: e["verdict"] for e in data["entries"]} == {NEW: "pass", OLD: "pass"}
    assert {(p["trained_with"], p["loaded_by"]): p["verdict"] for p in data["pairs"]} == {
        (OLD, NEW): "loads", (NEW, OLD): "refuses"}
    md = (out / "compat-report.md").read_text()
    assert "### Checkpoints across stacks" in md
    grid = md.split("### Checkpoints across stacks", 1)[1]
    row = next(line for line in grid.splitlines() if line.startswith(f"| `{OLD}` |"))
    assert "(own)" in row and "✅ loads" in row
    assert f"- `{NEW}` → `{OLD}`: ❌ refuses: 'gpt.gpt.h.0.attn.c_attn.weight'" in md
    page = (out / "compat-report.html").read_text()
    assert 'class="pair-refuses"' in page and 'class="pair-loads"' in page
    assert (out / "compat-crossload.png").read_bytes()[:4] == b"\x89PNG"


def entry_of(result: dict) -> dict:
    return model.entry(result, "x.json")


def test_the_gate_calls_a_pair_that_stops_loading_a_regression(tmp_path):
    before = entry_of(consumer(NEW, {OLD: {"outcome": "pass", "properties": {"pair": "agrees"}},
                                     MID: {"outcome": "pass", "properties": {"pair": "agrees"}}},
                               bare={OLD: "pass", MID: "pass"}))
    after_result = consumer(NEW, {OLD: {"outcome": "fail", "exc_type": "KeyError",
                                        "message": "'step'"},
                                  MID: {"outcome": "pass", "properties": {"pair": "agrees"}}},
                            bare={OLD: "fail", MID: "fail"}, shims=["weights_only"])
    after_result["tiers"]["crossload"]["status"] = "fail"
    changes = compare(NEW, expectation(before), entry_of(after_result))
    by = {c.detail.split(":")[0]: c for c in changes if c.tier == "crossload"}
    assert by[f"the checkpoint trained with {OLD}"].regression  # loads -> refuses
    assert by[f"the checkpoint trained with {OLD}"].now == "refuses"
    assert by[f"the checkpoint trained with {MID}"].regression  # loads -> needs shims
    # The same two results the other way round: better, never a regression.
    back = compare(NEW, expectation(entry_of(after_result)), before)
    assert [c for c in back if c.tier == "crossload"] and not any(
        c.regression for c in back if c.tier == "crossload")
    # And the crossload tier's own status is not compared besides its pairs.
    assert all(c.tier != "crossload" or "trained with" in c.detail for c in changes)


def test_markdown_without_pairs_has_no_grid(tmp_path):
    write(tmp_path, fake_result(OLD))
    built = model.build(collect([tmp_path]))
    assert built["pairs"] == [] and "Checkpoints across stacks" not in markdown.render(built)
