"""The compatibility report: merging, diagnosis, the schema, every format, and the HTML as
Chromium renders it. Pure logic runs on small fake results; the e2e test reads the report
that ``nox -s matrix`` produced for the smoke cells."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
from report_fakes import fake_result, write

from compat import report
from compat.report import model
from compat.report.markdown import verdict_cell
from conftest import PY312_LEGACY, RELEASE_ERA, SEED_BROKEN, TORCH26

BEAM = ("ImportError", "cannot import name 'BeamSearchScorer' from 'transformers' (/x.py)")
PY312 = "RuntimeError: TTS requires python >= 3.9 and < 3.12 but your Python version is 3.12.1"


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    folder = tmp_path / "results"
    write(folder, fake_result("good"))
    write(folder, fake_result("seed", torch="2.9.1", transformers="4.57.3",
                              mended={"import": (*BEAM, "beam_search")}))
    write(folder, fake_result("py312", python="3.12.1", install_error=PY312))
    write(folder, fake_result("odd", torch="2.4.0",
                              failing={"synth": ("ValueError", "something nobody has seen")}))
    write(folder, fake_result("fork", tts="coqui-tts==0.28.0", torch="2.9.1",
                              transformers="5.24.0", failing={"synth": (
                                  "AttributeError",
                                  "'NoneType' object has no attribute 'get_seq_length'")}))
    return folder


def test_every_format_is_written_and_the_json_follows_its_schema(mixed, tmp_path):
    out = tmp_path / "reports"
    assert report.main([str(mixed), "--out", str(out)]) == 0
    data = json.loads((out / "compat-report.json").read_text())
    for key, name in report.NAMES.items():
        if key == "pairs_png" and not data["pairs"]:
            assert not (out / name).exists(), "a crossload grid with no pair"
            continue
        assert (out / name).stat().st_size > 0, name
    report.validate(data)
    assert (out / "compat-heatmap.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert {e["cell"]: e["verdict"] for e in data["entries"]} == {
        "good": "pass", "seed": "pass-with-shims", "py312": "install-failed", "odd": "fail",
        "fork": "fail"}


def test_the_schema_refuses_a_report_that_breaks_it(mixed):
    good = report.write([mixed], mixed.parent / "r", heat=False)
    data = copy.deepcopy(good)
    data["entries"][0]["verdict"] = "probably fine"
    with pytest.raises(jsonschema.ValidationError):
        report.validate(data)
    del data["entries"][0]["verdict"]
    with pytest.raises(jsonschema.ValidationError):
        report.validate(data)
    data = copy.deepcopy(good)
    data["generated_at"] = "yesterday"
    with pytest.raises(jsonschema.ValidationError, match="date-time"):
        report.validate(data)


def test_every_failure_has_a_diagnosis_or_is_unclassified(mixed):
    data = report.write([mixed], mixed.parent / "r", heat=False)
    failures = {(e["cell"], f["tier"]): f for e in data["entries"] for f in e["failures"]}
    assert failures[("seed", "import")]["diagnosis"]["id"] == "beam-search-scorer"
    assert failures[("seed", "import")]["kind"] == "mended"
    assert failures[("py312", "install")]["diagnosis"]["diagnosis"] == \
        "TTS 0.22.0 requires Python < 3.12"
    assert failures[("fork", "synth")]["diagnosis"]["shim"] == "cache_kwarg"
    assert failures[("odd", "synth")]["diagnosis"] == {"id": "unclassified"}
    text = (mixed.parent / "r" / "compat-report.md").read_text()
    first = text.index("Unclassified failures (1)")
    assert first < text.index("### Failures") and first < text.index("beam-search-scorer")
    assert ("**`odd`** · synth (final): `ValueError: something nobody has seen` · draft: "
            "`nox -s kb -- draft odd`") in text
    html = (mixed.parent / "r" / "compat-report.html").read_text()
    first = html.index("Unclassified failures (1)")
    assert first < html.index('<table id="cells">')
    assert ("<code>odd</code> · synth (final): <code>ValueError: something nobody has seen"
            "</code> · draft: <code>nox -s kb -- draft odd</code>") in html


def test_markdown_has_a_table_per_line_the_shims_and_the_pins(mixed):
    report.write([mixed], mixed.parent / "r", heat=False)
    text = (mixed.parent / "r" / "compat-report.md").read_text()
    original, fork = text.index("## Original `TTS`"), text.index("## Fork `coqui-tts`")
    seed_row = next(line for line in text.splitlines() if line.startswith("| `seed`"))
    assert "🩹 pass (shims)" in seed_row and "**beam_search**" in seed_row
    py312_row = next(line for line in text.splitlines() if line.startswith("| `py312`"))
    assert "install failed: TTS 0.22.0 requires Python < 3.12" in py312_row
    assert original < text.index("| `seed`") < fork < text.index("| `fork`")
    assert "remedy: pin `coqui-tts" in text
    pins = text[text.index("## Recommended pins"):]
    assert "TTS==0.22.0\ntorch==2.1.2\ntransformers==4.35.2" in pins          # bare: good
    assert "TTS==0.22.0\ntorch==2.9.1\ntransformers==4.57.3" in pins          # shims: seed
    assert "xtts-compat shims install --python PATH (shims: beam_search)" in pins.replace("`", "")


def test_a_malformed_result_is_reported_by_path_and_the_rest_still_render(mixed, capsys):
    (mixed / "broken.json").write_text('{"schema": "xtts-compat/result/1", "cell": ')
    (mixed / "alien.json").write_text('{"hello": "world"}')
    out = mixed.parent / "r"
    assert report.main([str(mixed), "--out", str(out)]) == 0
    data = json.loads((out / "compat-report.json").read_text())
    problems = {Path(p["path"]).name: p["problem"] for p in data["problems"]}
    assert "not JSON (line 1" in problems["broken.json"]
    assert "not an xtts-compat result" in problems["alien.json"]
    assert len(data["entries"]) == 5
    assert str(mixed / "broken.json") in capsys.readouterr().err
    assert "broken.json" in (out / "compat-report.md").read_text()


def test_machines_sit_side_by_side_and_the_newest_run_wins(tmp_path):
    a, b, again = tmp_path / "a", tmp_path / "b", tmp_path / "again"
    write(a, fake_result("good", host="alpha", finished_at="2026-11-26T10:00:00+00:00"))
    write(b, fake_result("good", host="beta", failing={"import": BEAM}))
    write(again, fake_result("good", host="alpha", finished_at="2026-11-26T12:00:00+00:00",
                             failing={"load": ("ValueError", "newer run")}))
    data = report.write([a, b, again], tmp_path / "r", heat=False)
    by_machine = {e["machine"].split("|")[0]: e for e in data["entries"]}
    assert set(by_machine) == {"alpha", "beta"}
    assert by_machine["alpha"]["failures"][0]["message"] == "newer run"
    assert data["superseded"] == [str(a / "good.json")]
    assert "| Machine |" in (tmp_path / "r" / "compat-report.md").read_text()


def test_the_step_summary_gets_the_markdown(mixed, tmp_path, monkeypatch):
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    report.write([mixed], tmp_path / "r", heat=False)
    text = summary.read_text()
    assert text.startswith("earlier step\n# Compatibility report")


def test_junit_merges_every_round_of_every_cell(tmp_path):
    folder = tmp_path / "results"
    result = fake_result("seed", mended={"import": (*BEAM, "beam_search")})
    result["artifacts"] = {"junit": "seed/junit.xml", "1:junit": "seed/junit-shimmed1.xml"}
    write(folder, result)
    (folder / "seed").mkdir()
    for name, failures in (("junit.xml", 1), ("junit-shimmed1.xml", 0)):
        (folder / "seed" / name).write_text(
            f'<testsuites><testsuite name="pytest" tests="3" failures="{failures}" errors="0" '
            f'skipped="0"><testcase name="t"/></testsuite></testsuites>')
    report.write([folder], tmp_path / "r", heat=False)
    root = ET.parse(tmp_path / "r" / "junit.xml").getroot()
    assert [s.get("name") for s in root] == ["alpha/seed/bare", "alpha/seed/shims beam_search"]
    assert (root.get("tests"), root.get("failures")) == ("6", "1")


def test_recommended_pins_pick_the_newest_passing_cell():
    entries = [model.entry(fake_result(f"c{i}", torch=t, transformers=tf), f"c{i}.json")
               for i, (t, tf) in enumerate([("2.1.2", "4.35.2"), ("2.5.1", "4.46.2"),
                                            ("2.10.0", "4.40.0")])]
    pick = model.recommended_pins(entries)[0]
    assert pick["bare"]["cell"] == "c2" and "shimmed" not in pick


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def render_dom(page: Path, fragment: str) -> str:
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
           "--disable-background-networking", "--no-first-run", "--virtual-time-budget=3000",
           "--window-size=1400,900",
           "--dump-dom", f"file://{page}#{fragment}"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout


@pytest.mark.skipif(chromium() is None and not os.environ.get("CI"),
                    reason="no chromium here (CI installs Debian's)")
def test_html_sorts_and_filters_in_headless_chromium(mixed, tmp_path):
    out = tmp_path / "r"
    report.write([mixed], out, heat=False)
    page = out / "compat-report.html"
    html = page.read_text()
    assert "http://" not in html and "https://cdn" not in html  # self-contained
    dom = render_dom(page, "tier=synth&status=fail")
    assert "2 of 5 cells shown" in dom
    shown = [line for line in dom.split("<tr data-cell=")[1:] if " hidden" not in
             line.split(">", 1)[0]]
    assert sorted(s.split('"')[1] for s in shown) == ["fork", "odd"]
    dom = render_dom(page, "q=coqui")
    assert "1 of 5 cells shown" in dom
    dom = render_dom(page, "sort=torch&desc=1")
    order = [s.split('"')[1] for s in dom.split("<tr data-cell=")[1:]]
    assert order.index("seed") < order.index("odd") < order.index("good")  # 2.9.1, 2.4.0, 2.1.2
    assert "<details><summary>fail: unclassified: ValueError" in dom
    # Issue 29: the page fits a 1,400 px window (it ran off to the right), and an install
    # error is shown once, in its column (it was repeated in all nine tier columns).
    import re

    width = int(re.search(r'data-layout-width="(\d+)"', dom).group(1))
    assert width <= 1400, width
    failed = next(s for s in dom.split("<tr data-cell=")[1:] if s.startswith('"py312"'))
    assert failed.split("</tr>")[0].count("<details>") == 1
    subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu",
                    "--window-size=1400,900", f"--screenshot={out / 'report.png'}",
                    f"file://{page}"], capture_output=True, timeout=120, check=True)
    assert (out / "report.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.e2e
def test_matrix_ends_with_a_report_of_every_cell(smoke_run):
    out, _, env = smoke_run
    reports = Path(env["COMPAT_REPORTS"])
    assert "Session report was successful" in out.stderr
    data = json.loads((reports / "compat-report.json").read_text())
    report.validate(data)
    verdicts = {e["cell"]: e for e in data["entries"]}
    assert set(verdicts) == {RELEASE_ERA, TORCH26, SEED_BROKEN, PY312_LEGACY}
    assert verdicts[RELEASE_ERA]["verdict"] == "pass"
    assert verdicts[TORCH26]["verdict"] == "pass-with-shims"  # weights_only, stream_sampler
    assert verdicts[SEED_BROKEN]["verdict"] == "pass-with-shims"
    assert verdicts[PY312_LEGACY]["verdict"] == "install-failed"
    text = (reports / "compat-report.md").read_text()
    seed_row = next(line for line in text.splitlines() if line.startswith(f"| `{SEED_BROKEN}`"))
    assert "**beam_search**" in seed_row and "**weights_only**" in seed_row
    legacy = next(line for line in text.splitlines() if line.startswith(f"| `{PY312_LEGACY}`"))
    assert "install failed: TTS 0.22.0 requires Python < 3.12" in legacy
    assert "remedy: pin `coqui-tts" in text


def test_tiers_left_out_make_a_cell_incomplete_not_passing(tmp_path):
    result = fake_result("partial")
    for tier in ("synth", "stream", "finetune", "bench"):
        result["tiers"][tier] = {"status": "not-run", "reason": "not selected (only import, load)"}
    assert model.entry(result, "p.json")["verdict"] == "incomplete"


def test_a_run_of_some_tiers_is_judged_on_them_and_says_so(tmp_path):
    """The exploratory matrix runs import, load and synth: its cells are judged on those
    (the verdict names them), and never become a recommended pin."""
    result = fake_result("explored")
    result["only"] = ["import", "load", "synth"]
    for tier in ("stream", "finetune", "bench"):
        result["tiers"][tier] = {"status": "not-run", "reason": "not selected"}
    item = model.entry(result, "e.json")
    assert (item["verdict"], item["scope"]) == ("pass", ["import", "load", "synth"])
    assert verdict_cell(item).endswith("(tiers import, load, synth)")
    assert model.recommended_pins([item]) == []
    result["tiers"]["synth"] = {"status": "fail", "exc_type": "ValueError", "message": "x"}
    assert model.entry(result, "e.json")["verdict"] == "fail"


def test_a_result_the_model_cannot_read_is_a_problem_not_a_crash(mixed):
    odd = fake_result("odd-shape")
    odd["tiers"]["synth"]["bare"] = "not a mapping"
    write(mixed, odd)
    data = report.write([mixed], mixed.parent / "r", heat=False)
    assert len(data["entries"]) == 5
    # The result model refuses it as it is read (compat.result.model), naming the field.
    assert any(p["path"].endswith("odd-shape.json") and "tiers.synth.bare" in p["problem"]
               for p in data["problems"])


def test_the_heatmap_wraps_many_releases_into_rows(tmp_path):
    """30 releases in one row would be a picture 126 inches wide: rows of six."""
    import struct

    from compat.report import heatmap
    from compat.report.collect import collect
    from compat.report.model import build

    for i in range(14):
        version = f"0.2{i // 3}.{i}"
        write(tmp_path / "r", fake_result(f"coqui{version}-torch2.5.1-tf4.46.2-py3.11",
                                          tts=f"coqui-tts=={version}", torch="2.5.1",
                                          transformers="4.46.2"))
    png = heatmap.render(build(collect([tmp_path / "r"])), tmp_path / "h.png")
    width, height = struct.unpack(">II", png.read_bytes()[16:24])
    assert heatmap.PER_ROW == 6 and 1.5 < width / height < 2.5, (width, height)


def test_a_match_whose_boundary_leaves_the_stack_out_is_no_diagnosis():
    """coqui-tts 0.25.0's divergence (its voice-cloning regression) matched the words of
    dropped-prefix, whose boundary is TTS <= 0.22.0, before it had an entry of its own:
    the report named the wrong cause. Such a match (here a divergence of a release no
    entry covers) is shown as unclassified, naming the nearest entry, and listed with what
    the knowledge base still owes; inside the boundary it is the diagnosis."""
    from compat.report.model import entry, short_cause, unclassified

    words = ("", "first-step logits differ by 0.962 (tolerance 0.0001)")
    outside = entry(fake_result("c", tts="coqui-tts==0.26.2", torch="2.5.1",
                                transformers="4.46.2", failing={"synth": words}), "r")
    failure = outside["failures"][0]
    assert failure["diagnosis"]["id"] == "dropped-prefix"
    assert failure["diagnosis"]["outside_boundary"] is True
    assert short_cause(failure).startswith("unclassified: ")
    assert short_cause(failure).endswith("(nearest known breakage, whose boundary leaves "
                                         "this stack out: dropped-prefix)")
    assert [u["cell"] for u in unclassified([outside])] == ["c"]
    inside = entry(fake_result("t", tts="TTS==0.22.0", torch="2.5.1", transformers="4.57.1",
                               failing={"synth": words}), "r")
    found = inside["failures"][0]["diagnosis"]
    assert found["id"] == "dropped-prefix" and "outside_boundary" not in found
    assert unclassified([inside]) == []


def test_a_distribution_a_resolution_lacks_is_known_absent():
    """The fork's stack has no ``TTS``: for a fork release past both entries of the
    BeamSearchScorer error (beam-search-scorer: TTS <= 0.22.0; coqui-beam-search-scorer:
    coqui-tts < 0.27) the nearest one is no diagnosis, and offers no shim; coqui-tts
    0.23.1 gets its own. After a failed install nothing is known, so nothing is
    contradicted."""
    from compat.report.model import entry

    beam = ("ImportError", "cannot import name 'BeamSearchScorer' from 'transformers'")
    fork = entry(fake_result("f", tts="coqui-tts==0.27.5", torch="2.9.1",
                             transformers="5.24.0", failing={"import": beam}), "r")
    assert fork["failures"][0]["diagnosis"].get("outside_boundary") is True
    own = entry(fake_result("f", tts="coqui-tts==0.23.1", torch="2.9.1",
                            transformers="5.24.0", failing={"import": beam}), "r")
    assert own["failures"][0]["diagnosis"]["id"] == "coqui-beam-search-scorer"
    assert "outside_boundary" not in own["failures"][0]["diagnosis"]
    original = entry(fake_result("o", tts="TTS==0.22.0", torch="2.9.1", transformers="4.57.1",
                                 failing={"import": beam}), "r")
    assert "outside_boundary" not in original["failures"][0]["diagnosis"]
