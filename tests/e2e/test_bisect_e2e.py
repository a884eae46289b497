"""One real bisect, end to end: ``nox -s bisect`` on the legacy line (TTS 0.22.0, torch
2.5.1), transformers 4.56.2 -> 4.57.2, tier import. Real trials: uv installs, the cell's
import tier bare and with shims, the index's yank marks (4.57.0 was yanked), one midpoint.
Three trials, each a fresh environment (7.5 minutes of CI with four, to 4.57.3); the
search itself is unit-tested (test_culprit.py). The full range (4.46.2 -> 4.57.3, 38
releases) is the benchmark's (benchmarks/bisect_legacy.py)."""

from __future__ import annotations

import json
import math

import pytest

from compat import report
from conftest import nox

LEGACY = "tts0.22.0-torch2.5.1-tf4.46.2-py3.11"


@pytest.mark.e2e
@pytest.mark.timeout(1800)
def test_bisect_names_the_transformers_release_that_removed_beam_search(tmp_path):
    folder = tmp_path / "results"
    out = nox("-s", "bisect", "--", "--cell", LEGACY, "--package", "transformers",
              "--good", "4.56.2", "--bad", "4.57.2", "--tier", "import",
              "--results", str(folder / "bisect"), timeout=1700)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-5000:]
    answer = json.loads(next((folder / "bisect").glob("*.json")).read_text())
    assert (answer["last_good"], answer["first_bad"]) == ("4.56.2", "4.57.1")
    assert "4.57.0" in answer["yanked"] and "4.57.0" not in answer["candidates"]
    assert len(answer["trials"]) <= 2 + math.ceil(math.log2(len(answer["candidates"]) - 1))
    assert answer["bad_state"]["key"] == "fail ImportError; pass with shims beam_search"
    assert "BeamSearchScorer" in answer["bad_state"]["message"]
    assert answer["explain"]["entry"] == "beam-search-scorer" and answer["explain"]["agrees"]
    assert "trial 1 of at most" in text and "known: beam-search-scorer" in text
    written = report.write([folder], tmp_path / "report", heat=False)
    assert [(b["package"], b["first_bad"], b["diagnosis"]) for b in written["boundaries"]] == [
        ("transformers", "4.57.1", "beam-search-scorer")]
