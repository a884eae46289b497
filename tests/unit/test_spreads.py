"""Spreads are measured by a command (compat.cli.spreads), for every engine, and the engines
read them from the file it writes (issue 26: three constants in code nobody could remake,
and none for Kokoro, whose figures were therefore never gated)."""

from __future__ import annotations

import json

import pytest

from compat.cli import spreads
from compat.engines import all_engines, get_engine
from compat.gate.policy import compared_figures


def test_a_spread_is_the_largest_over_the_smallest_run_rounded_up():
    runs = [{"load_best_s": 0.50, "synth_best_s_per_audio_s": 0.30},
            {"load_best_s": 0.52, "synth_best_s_per_audio_s": 0.33},
            {"load_best_s": 0.5101}]
    assert spreads.spreads(runs) == {"load_best_s": 1.04, "synth_best_s_per_audio_s": 1.1}
    assert spreads.spreads([{"load_best_s": 0.5}]) == {}  # one run: no spread


def test_only_best_of_figures_are_gated_and_their_tiers_run_with_their_needs():
    xtts = get_engine("xtts")
    assert {f.name for f in xtts.figures if spreads.gated(f)} == {
        "load_best_s", "synth_best_s_per_audio_s", "finetune_step_best_s"}
    assert spreads.needed_tiers(xtts) == ["import", "load", "synth", "finetune", "bench"]
    assert spreads.needed_tiers(get_engine("kokoro"))[-1] == "bench"


@pytest.mark.parametrize("engine", sorted(all_engines()))
def test_every_engine_reads_measured_spreads_and_the_gate_compares_those_figures(engine):
    spec = get_engine(engine)
    path = spreads.spreads_path(spec)
    assert path.is_file(), f"{path}: run `python -m compat spreads --engine {engine}`"
    data = json.loads(path.read_text())
    assert data["runs"] >= 3 and data["command"].startswith("python -m compat spreads")
    gated = {f.name: f for f in spec.figures if spreads.gated(f)}
    assert set(data["spreads"]) == set(gated)
    for name, figure in gated.items():
        assert figure.spread == data["spreads"][name]  # what the file says, not a constant
    assert set(compared_figures(engine)) == set(gated)
