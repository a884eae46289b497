"""Benchmark figures taken on a busy machine are marked, and never compared.

The harness measures, while a cell's tiers run, the CPU other processes take; a tier in
which they took more than ``load.BUSY_SHARE`` of the cores is marked busy in the result,
the report shows its figures marked, and the gate says it did not compare them."""

from __future__ import annotations

import contextlib
import subprocess
import sys

import psutil
import pytest
from fake_cells import fake_run
from report_fakes import fake_result, write

from compat import gate
from compat.report import markdown
from compat.report.model import entry
from compat.run.cell import run_cell
from compat.system import load


@contextlib.contextmanager
def burning(n: int):
    """``n`` processes spinning on the CPU: not the cell's, so other processes' load."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        yield procs
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def test_a_tier_run_beside_cpu_burners_is_marked_busy(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPAT_FAKE_MODE", "slow")  # the third tier sleeps for 4 s
    with burning(psutil.cpu_count() or 1):
        result = run_cell(fake_run("fake-busy", tmp_path))
    measured = result["bench"]["load"]
    third = measured["tiers"]["third"]
    assert third["other_share"] > load.BUSY_SHARE, measured
    assert "third" in result["bench"]["busy"]
    assert "third tier" in result["bench"]["busy"]["third"]
    assert measured["cores"] == psutil.cpu_count()
    assert len(measured["loadavg_before"]) == len(measured["loadavg_after"]) == 3


def test_the_cells_own_cpu_is_not_other_load():
    """A meter fed by fake samples: the machine busy with the cell's own work is quiet;
    the same CPU taken by others is busy; each interval goes to the tier running then."""
    samples = iter([(0.0, 0.0, 0.0),        # start: wall, machine busy CPU s, own CPU s
                    (10.0, 19.0, 19.0),      # 'load': 2 cores busy, all of it ours
                    (20.0, 38.0, 20.0),      # 'bench': 2 cores busy, 1.8 cores of others
                    (21.0, 38.1, 20.1)])     # end (between tests: still 'bench')
    where = iter(["load", "bench", None])
    meter = load.LoadMeter(lambda: next(where), cores=2, sampler=lambda _root: next(samples),
                           every=0.0)
    meter.poll(0)
    meter.poll(0)
    measured = meter.finish()
    assert measured["tiers"]["load"]["other_share"] == 0.0
    assert measured["tiers"]["bench"]["other_share"] == pytest.approx(18.0 / 22.0, abs=0.01)
    assert list(measured["busy"]) == ["bench"]
    assert "82% of the 2 cores" in measured["busy"]["bench"]


def busy_result(cell: str, load_s: float, tier: str = "bench") -> dict:
    data = fake_result(cell, load_s=load_s)
    data["bench"]["busy"] = {tier: f"other processes used 70% of the 2 cores while the {tier} "
                                   "tier ran (busy above 15%)"}
    return data


def test_the_report_marks_busy_figures_and_keeps_them_out_of_the_figures():
    item = entry(busy_result("c", 2.5), "c")
    assert "load_best_s" not in item["bench"]["cpu"]  # never compared
    assert item["bench_busy"]["cpu"]["load_best_s"] == 2.5
    assert item["bench"]["cpu"]["peak_rss_mib"] == 1000  # memory is not a timing
    assert item["busy"] == {"bench": busy_result("c", 0)["bench"]["busy"]["bench"]}
    report = {"entries": [item], "tiers": ["load"], "machines": ["m"], "recommended": [],
              "problems": [], "summary": {"pass": 1}, "generated_at": "now"}
    rendered = markdown.render(report)
    assert "2.50 cpu (busy)" in rendered
    quiet = entry(fake_result("c", load_s=0.4), "c")
    assert "bench_busy" not in quiet and "load_best_s" in quiet["bench"]["cpu"]


def test_a_finetune_tier_busy_marks_only_its_figures():
    data = busy_result("c", 0.4, tier="finetune")
    data["tiers"]["finetune"]["tests"] = [{"test": "test_step", "properties": {
        "step_forward_seconds": [0.012, 0.013]}}]
    item = entry(data, "c")
    assert "load_best_s" in item["bench"]["cpu"]
    assert "finetune_step_best_s" not in item["bench"]["cpu"]
    assert item["bench_busy"]["cpu"]["finetune_step_best_s"] == 0.012


def test_the_gate_does_not_compare_busy_figures_and_says_so(tmp_path, monkeypatch, capsys):
    """A bump whose new cell ran on a busy machine, 6x slower: not a regression, not a pass
    either. Failed before issue 26: the gate exited 0 with a note, so a CI job on a busy
    runner went green with its figures unjudged; it now exits 2 and says why."""
    old_id, new_id = "tts0.22.0-torch2.1.2-tf4.35.2-py3.11", "tts0.22.0-torch2.5.1-tf4.35.2-py3.11"

    def run_cells(cells, folder, *, force, label, tiers=()):
        assert label == "bump"  # nothing to confirm: the busy figures are not compared
        write(folder, fake_result(old_id, load_s=0.4))
        write(folder, busy_result(new_id, load_s=2.4))

    monkeypatch.setattr(gate.cli, "run_cells", run_cells)  # where the gate calls it
    matrix = tmp_path / "m.toml"
    matrix.write_text('[[cell]]\npython = "3.11"\ntts = "TTS==0.22.0"\ntorch = "2.1.2"\n'
                      'transformers = "4.35.2"\n')
    code = gate.main(["--matrix", str(matrix), "--results", str(tmp_path / "r"),
                      "--baseline", str(tmp_path / "none.json"), "--cell", old_id,
                      "--bump", "torch==2.5.1"])
    out = capsys.readouterr().out
    assert code == gate.CANNOT_RUN, out
    assert "not compared" in out and "busy" in out and new_id in out
    assert "CANNOT JUDGE" in out
    assert "load time" not in out.split("not compared")[0]  # no ratio for the busy figures


def test_the_baseline_gets_no_busy_figures(tmp_path):
    item = entry(busy_result("c", 2.5), "c")
    gate.update_baseline(tmp_path / "b.json", [item], "m.toml")
    stored = gate.read_baseline(tmp_path / "b.json")["cells"]["c"]["bench"]
    assert "load_best_s" not in stored["cpu"]
