"""The compatibility atlas (compat/report/atlas.py, docs/atlas.md): made from results,
checked against the data it was made from and the matrix files, readable as a page."""

from __future__ import annotations

import copy
import json

from report_fakes import fake_result, write

from compat.plan.matrixfile import known_cells
from compat.report import atlas
from compat.report.collect import collect
from compat.report.model import build

BEAM = ("ImportError", "cannot import name 'BeamSearchScorer' from 'transformers'")
WEIGHTS = ("UnpicklingError", "Weights only load failed. WeightsUnpickler error: "
           "Unsupported global: GLOBAL TTS.tts.configs.xtts_config.XttsConfig")


def made(tmp_path) -> dict:
    folder = tmp_path / "results"
    write(folder, fake_result("good-old", torch="2.1.2", transformers="4.35.2"))
    write(folder, fake_result("good-new", torch="2.5.1", transformers="4.46.2"))
    write(folder, fake_result("shimmed", torch="2.6.0", transformers="4.46.2",
                              mended={"load": (*WEIGHTS, "weights_only")}))
    write(folder, fake_result("broken", torch="2.9.1", transformers="4.57.3",
                              failing={"import": BEAM}))
    write(folder, fake_result("fork", tts="coqui-tts==0.27.5", torch="2.9.1",
                              transformers="4.57.3", failing={"load": WEIGHTS}))
    return atlas.data(build(collect([folder])))


def test_each_release_has_its_table_groups_and_recommended_pins(tmp_path):
    found = made(tmp_path)
    text = atlas.page(found)
    assert "### TTS 0.22.0" in text and "### coqui-tts 0.27.5" in text
    table = text.split("### TTS 0.22.0")[1].split("###")[0]
    rows = [line for line in table.splitlines() if line.startswith("| py")]
    # works first (newest first), then with shims, then fails
    assert [r.split("|")[2].strip() for r in rows] == ["works", "works", "works with shims",
                                                         "fails"]
    assert "torch 2.5.1" in rows[0] and "`weights_only`" in rows[2]
    assert "Remedy:" in rows[3] and "<details><summary>error</summary>" in rows[3]
    assert "BeamSearchScorer" in rows[3]
    assert "**Recommended** (the newest stack that works bare, Python 3.11): " \
           "`TTS==0.22.0`, `torch==2.5.1`, `transformers==4.46.2`" in table
    fork = text.split("### coqui-tts 0.27.5")[1]
    assert "**Recommended:** none: no stack of this release works" in fork


def test_rows_of_one_release_that_share_a_stack_are_told_apart(tmp_path):
    """Two cells of one release on the same Python, torch and transformers (a fork's
    extras, a Kokoro release with two misaki) read differently: each row names the
    requirement line the other lacks; a row with no twin keeps the short label."""
    folder = tmp_path / "results"
    base = {"torch": "2.9.1", "transformers": "4.57.3"}
    write(folder, fake_result("plain", tts="coqui-tts==0.27.5", **base))
    write(folder, fake_result("ja", tts="coqui-tts[ja]==0.27.5", **base,
                              failing={"import": BEAM}))
    write(folder, fake_result("other", tts="coqui-tts==0.27.5", torch="2.6.0",
                              transformers="4.46.2"))
    table = atlas.page(atlas.data(build(collect([folder])))).split("### coqui-tts 0.27.5")[1]
    rows = [line.split("|")[1].strip() for line in table.splitlines()
            if line.startswith("| py")]
    assert sorted(rows) == sorted([
        "py3.11 · torch 2.9.1 · transformers 4.57.3 · `coqui-tts==0.27.5`",
        "py3.11 · torch 2.9.1 · transformers 4.57.3 · `coqui-tts[ja]==0.27.5`",
        "py3.11 · torch 2.6.0 · transformers 4.46.2"])


def test_a_release_explored_on_some_tiers_names_its_newest_passing_stack_not_a_pick(
        tmp_path):
    """A release whose cells ran the exploration's tiers only gets no recommendation, but
    the page names the newest stack that passed those tiers, and says which tiers; when
    none passed, it says so."""
    folder = tmp_path / "results"
    tiers = ["import", "load", "synth"]
    for cell_id, torch, failing in (("old", "2.1.2", None), ("new", "2.6.0", None),
                                    ("newest", "2.9.1", {"import": BEAM})):
        found = fake_result(cell_id, tts="coqui-tts==0.25.1", torch=torch,
                            transformers="4.46.2", failing=failing)
        found["only"] = tiers
        write(folder, found)
    text = atlas.page(atlas.data(build(collect([folder]))))
    section = text.split("### coqui-tts 0.25.1")[1]
    assert ("**Recommended:** none yet: every cell of this release ran import, load, synth "
            "only. The newest stack that works bare on those tiers (Python 3.11): "
            "`coqui-tts==0.25.1`, `torch==2.6.0`, `transformers==4.46.2`") in section
    for path in folder.glob("*.json"):
        found = json.loads(path.read_text())
        if found["cell"]["id"] != "newest":
            path.unlink()
    text = atlas.page(atlas.data(build(collect([folder]))))
    assert "and none passed them." in text.split("### coqui-tts 0.25.1")[1]


def test_a_stack_is_shown_by_the_failure_that_stood_after_its_repair_and_shims(tmp_path):
    """The exploration's coqui-tts 0.27.4 cell: import lacked torchaudio (the repair round
    added it), then needed a shim, then load failed for good. The row names the load's
    failure and what was added and shimmed before it, not the mended import."""
    folder = tmp_path / "results"
    found = fake_result("repaired-then-broken", tts="coqui-tts==0.27.4", torch="2.9.1",
                        transformers="5.24.0",
                        failing={"load": ("AttributeError", "'GenerationConfig' object has "
                                                            "no attribute 'do_stream'")})
    found["tiers"]["import"].update({
        "bare": {"status": "fail", "exc_type": "ModuleNotFoundError",
                 "message": "No module named 'torchaudio'"},
        "repaired": {"status": "fail", "exc_type": "ImportError",
                     "message": "cannot import name 'isin_mps_friendly' from "
                                "'transformers.pytorch_utils'"},
        "shims": ["isin_mps_friendly"]})
    found["shims"] = {"selected": ["isin_mps_friendly"], "rerun": True,
                      "addressed": {"import": ["isin_mps_friendly"]},
                      "rounds": [{"shims": []}, {"shims": ["isin_mps_friendly"]}]}
    requirements = [*found["cell"]["requirements"], "torchaudio"]
    found["repair"] = {"fixes": [{"action": "add", "requirement": "torchaudio",
                                  "tier": "import", "diagnosis": "unclassified",
                                  "message": "No module named 'torchaudio'"}],
                       "tested": True, "requirements": requirements,
                       "resolved": found["resolved"], "rounds": []}
    write(folder, found)
    row = atlas.data(build(collect([folder])))["rows"][0]
    assert (row["how"]["tier"], row["how"]["entry"]) == ("load", "coqui-stream-config")
    assert row["how"]["after"] == {"fixes": ["torchaudio"], "shims": ["isin_mps_friendly"]}
    text = atlas._cell_text(row)
    assert text.startswith("with pins added `torchaudio` and shims `isin_mps_friendly`, "
                           "load: "), text


def test_a_result_that_is_not_current_is_named_not_shown(tmp_path):
    found = made(tmp_path)
    report = {"generated_at": "2026-12-04T00:00:00+00:00", "boundaries": [],
              "entries": []}
    stale = copy.deepcopy(found)
    stale["rows"] = stale["rows"][1:]
    stale["to_rerun"] = [{"cell": found["rows"][0]["cell"], "why": "stale"}]
    text = atlas.page(stale)
    assert f"`{found['rows'][0]['cell']}`" in text.split("Not shown (1)")[1].splitlines()[0]
    assert atlas.data(report)["rows"] == []


def test_the_committed_page_is_made_from_its_committed_data():
    committed = json.loads(atlas.DATA.read_text(encoding="utf-8"))
    assert committed["schema"] == atlas.SCHEMA
    assert atlas.PAGE.read_text(encoding="utf-8") == atlas.page(committed), (
        "docs/atlas.md is not what docs/atlas.json makes: xtts-compat atlas")


def test_every_cell_the_page_names_is_a_matrix_cell_with_a_page_verdict():
    committed = json.loads(atlas.DATA.read_text(encoding="utf-8"))
    assert committed["rows"], "the atlas names no cell"
    assert atlas.problems(committed, known_cells()) == []


def test_the_checks_see_a_changed_verdict_and_an_unknown_cell():
    """Proof both checks can fail: a verdict edited in the data only, a cell renamed."""
    committed = json.loads(atlas.DATA.read_text(encoding="utf-8"))
    edited = copy.deepcopy(committed)
    row = edited["rows"][0]
    row["verdict"] = "fail" if row["verdict"] != "fail" else "pass"
    row["how"] = {}
    assert atlas.page(edited) != atlas.PAGE.read_text(encoding="utf-8")
    row["cell"] = "no-such-cell"
    assert atlas.problems(edited, known_cells()) == ["no-such-cell: no matrix file names "
                                                      "this cell"]


def test_the_page_is_in_the_docs_site():
    from compat.system.paths import REPO

    assert "atlas.md" in (REPO / "mkdocs.yml").read_text(encoding="utf-8")


def _chromium() -> str | None:
    import shutil

    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_the_atlas_page_fits_a_1400_pixel_window(tmp_path):
    """Issue 29: the page reads in a browser without sideways scrolling at 1,400 px. The
    docs site is built (mkdocs, strict) and the atlas page laid out in headless Chromium,
    which reports the page's width (a line of script added to the built copy only)."""
    import os
    import re
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    import pytest

    from compat.system.paths import REPO

    mkdocs = shutil.which("mkdocs") or str(Path(sys.executable).with_name("mkdocs"))
    if not Path(mkdocs).exists() or (_chromium() is None and not os.environ.get("CI")):
        pytest.skip("needs mkdocs and chromium (CI installs both)")
    if _chromium() is None:
        pytest.fail("CI without chromium: .ci/run installs Debian's")
    site = tmp_path / "site"
    subprocess.run([mkdocs, "build", "--strict", "-q", "-d", str(site)], cwd=REPO,
                   check=True, capture_output=True, timeout=300)
    page = site / "atlas" / "index.html"
    page.write_text(page.read_text(encoding="utf-8").replace(
        "</body>", "<script>document.body.dataset.layoutWidth = "
        "document.documentElement.scrollWidth;</script></body>"), encoding="utf-8")
    dom = subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu",
                          "--disable-dev-shm-usage", "--no-first-run",
                          "--virtual-time-budget=3000", "--window-size=1400,900",
                          "--dump-dom", f"file://{page}"],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    width = int(re.search(r'data-layout-width="(\d+)"', dom).group(1))
    assert width <= 1400, width
    assert "<details>" in dom or '"verdict": "fail"' not in atlas.DATA.read_text()


def _current_stamp(cell) -> dict:
    """A stamp as a result of ``cell`` run now on this machine would leave."""
    from compat import engines
    from compat.result.fingerprint import (
        current_fingerprint,
        platform_tag,
        tier_digests,
        with_golden,
    )

    engine = engines.get_engine(cell.engine)
    found = {"cell": {"requirements": cell.requirements()},
             "python": {"version": cell.python, "platform": platform_tag()},
             "environment": {"chosen": None},
             "tier_digests": with_golden(tier_digests(engine.tier_dir, engine.plan()), engine),
             "tiers": {"install": {}, "import": {}}}
    found["fingerprint"] = current_fingerprint(cell, found)
    return found


def test_a_regeneration_keeps_the_current_rows_of_earlier_runs_and_names_stale_ones(tmp_path):
    """Another machine's rows survive a regeneration from this machine's results while
    their stamp is current; a stamp the code or pins no longer give, or none, is listed
    to rerun, not shown."""
    cells = known_cells()
    ids = sorted(cells)[:3]
    template = made(tmp_path)["rows"][0]
    rows = []
    for cell_id in ids:
        row = copy.deepcopy(template)
        row["cell"], row["stamp"] = cell_id, _current_stamp(cells[cell_id][0])
        rows.append(row)
    rows[1]["stamp"]["fingerprint"] = "0" * 16  # what another harness code would give
    del rows[2]["stamp"]
    data = tmp_path / "atlas.json"
    data.write_text(json.dumps({"schema": atlas.SCHEMA, "rows": rows, "to_rerun": [],
                                "boundaries": []}))
    empty = tmp_path / "none"
    empty.mkdir()
    found = atlas.write([empty], tmp_path / "atlas.md", data, cells=cells)
    assert [r["cell"] for r in found["rows"]] == [ids[0]]
    later = {r["cell"]: r["why"] for r in found["to_rerun"]}
    assert set(later) == {ids[1], ids[2]}
    assert "stale" in later[ids[1]] and "no stamp" in later[ids[2]]
    assert f"`{ids[1]}`" in (tmp_path / "atlas.md").read_text()
    fresh = atlas.write([empty], tmp_path / "atlas.md", data, keep=False, cells=cells)
    assert fresh["rows"] == [] and fresh["to_rerun"] == []


def test_a_result_of_no_matrix_cell_is_no_row(tmp_path):
    """`python -m compat here` leaves its result beside the matrix's: not a stack of the
    atlas, which names matrix cells only (its checks would refuse the page)."""
    cells = known_cells()
    cell_id = sorted(cells)[0]
    folder = tmp_path / "results"
    write(folder, fake_result(cell_id, torch="2.1.2", transformers="4.35.2"))
    write(folder, fake_result("here-tts0.22.0-torch2.1.2-tf4.35.2-py3.11"))
    found = atlas.write([folder], tmp_path / "atlas.md", tmp_path / "atlas.json",
                        keep=False, cells=cells)
    assert [r["cell"] for r in found["rows"] + found["to_rerun"]] == [cell_id]
    assert "here-" not in (tmp_path / "atlas.md").read_text()


def test_the_summary_names_each_new_failure_and_only_new_ones(tmp_path):
    found = made(tmp_path)
    before = copy.deepcopy(found)
    broken = next(r for r in found["rows"] if r["cell"] == "broken")
    before["rows"] = [r for r in before["rows"] if r["cell"] != "fork"]  # new: fork
    for row in before["rows"]:
        if row["cell"] == "broken":
            row["verdict"] = "pass"  # it worked before
    fresh = atlas.new_failures(before, found)
    assert sorted(r["cell"] for r in fresh) == ["broken", "fork"]
    text = atlas.summary(found, fresh)
    assert "New failures (2)" in text and "`broken`" in text
    assert broken["how"]["diagnosis"] in text
    assert atlas.new_failures(found, found) == []
    assert "No new failure." in atlas.summary(found, [])
