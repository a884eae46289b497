"""StyleTTS2 through the same harness: its cells parse and are named from its own folder,
a StyleTTS2 environment becomes a StyleTTS2 cell for here, doctor and the gate, doctor
reads its knowledge base, and the in-cell audio check refuses bad audio; and, for real
(e2e), the reference cell passes every StyleTTS2 tier against its golden output, the
report has a StyleTTS2 section with its verdict and pins, and doctor reads the cell's
environment."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from compat import engines, gate
from compat.cli import doctor
from compat.plan.matrixfile import load_matrix
from compat.plan.stack import cell_from_versions
from conftest import REPO, load, nox

MATRIX = REPO / "matrices" / "styletts2.toml"
REFERENCE = "styletts20.1.6-torch2.9.1-tf4.40.2-py3.11"
ENGINES = {name: e.distributions for name, e in engines.all_engines().items()}
TIERS = ("install", "import", "load", "synth", "longform", "bench")


def test_styletts2_cells_are_named_by_the_engine():
    matrix = load_matrix(MATRIX, ENGINES)
    assert {c.engine for c in matrix.cells} == {"styletts2"}
    assert REFERENCE in matrix.by_id()
    engine = engines.get_engine("styletts2")
    assert engine.fixture.reference["id"] == REFERENCE
    assert ("install", *engine.tier_names()) == TIERS
    pythons = {c.python for c in matrix.cells}
    assert {"3.12", "3.13"} <= pythons  # the stacks the issue names


def test_a_styletts2_environment_is_a_styletts2_cell_for_here_doctor_and_the_gate():
    versions = {"styletts2": "0.1.6", "torch": "2.9.1", "transformers": "4.40.2",
                "torchaudio": "2.9.1", "numpy": "1.26.4", "nltk": "3.10.4", "pytest": "8.0"}
    cell = cell_from_versions(versions, "3.11.7", where="test")
    assert (cell.id, cell.engine) == (REFERENCE, "styletts2")
    assert gate.cell_from_pins(gate.pins_in("requirements.txt", "\n".join(
        f"{k}=={v}" for k, v in versions.items())), "3.11").id == REFERENCE


def _env(**versions: str) -> dict:
    names = {n: None for n in engines.watched()}
    return {"python": "3.11.7", "executable": "/venv/bin/python", "platform": "linux",
            "machine": "x86_64", "torch_requires": [], "patches_installed": False,
            "versions": {**names, "styletts2": "0.1.6", **versions}}


def test_doctor_reads_a_styletts2_stack_against_its_knowledge_base():
    report = doctor.diagnose(_env(torch="2.9.1", transformers="4.40.2", nltk="3.10.4",
                                  numpy="1.26.4"))
    assert report["engine"] == "styletts2"
    found = {f["id"] for f in report["findings"]}
    assert found == {"styletts2-f0-path-ignored", "styletts2-plbert-dir-str",
                     "styletts2-nltk-punkt-tab", "styletts2-weights-only-release-files"}
    older = doctor.diagnose(_env(torch="2.5.1", transformers="4.40.2", nltk="3.8.1",
                                 numpy="1.26.4"))
    assert {f["id"] for f in older["findings"]} == {"styletts2-f0-path-ignored",
                                                    "styletts2-plbert-dir-str"}
    assert "stream" not in report["clear"] and "finetune" not in report["clear"]


def test_the_in_cell_audio_check_refuses_bad_audio():
    """The synth tier's judge, on good audio and on each way audio goes wrong."""
    sys.path.insert(0, str(REPO / "compat" / "engines" / "styletts2" / "tiers"))
    try:
        import styletts2_run as run
    finally:
        sys.path.pop(0)
    rng = np.random.default_rng(0)
    good = (rng.standard_normal(20 * 300 - 50) * 0.1).astype(np.float32)
    assert run.audio_problems(good, 20, max_dur=2) == []
    nan = good.copy()
    nan[5] = np.nan
    assert "non-finite" in " ".join(run.audio_problems(nan, 20, max_dur=2))
    assert "silent" in " ".join(run.audio_problems(np.zeros_like(good), 20, max_dur=2))
    assert "outside" in " ".join(run.audio_problems(good[:1000], 20, max_dur=2))
    assert "float32" in " ".join(run.audio_problems(good.astype(np.float64), 20, max_dur=2))
    assert run.divergence({"tokens_equal": True, "waveform_rel_error": 2e-3}) is not None
    assert run.divergence({"tokens_equal": True, "waveform_rel_error": 1e-6}) is None


# -- real cells ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def styletts2_cell(tmp_path_factory):
    """The reference StyleTTS2 cell, through nox (the one StyleTTS2 cell CI runs)."""
    results = tmp_path_factory.mktemp("styletts2-results")
    reports = tmp_path_factory.mktemp("styletts2-reports")
    env = {"COMPAT_MATRIX": str(MATRIX), "COMPAT_RESULTS": str(results),
           "COMPAT_REPORTS": str(reports)}
    out = nox("-s", f"matrix(cell='{REFERENCE}')", "--", "--force", env=env, timeout=2400)
    print(out.stdout[-4000:], out.stderr[-4000:])
    assert out.returncode == 0, out.stderr[-3000:]
    return results, reports


@pytest.mark.e2e
@pytest.mark.timeout(2700)
def test_the_reference_styletts2_cell_passes_every_tier_against_its_golden(styletts2_cell):
    results, reports = styletts2_cell
    result = load(results, REFERENCE)
    assert {n: t["status"] for n, t in result["tiers"].items()} == dict.fromkeys(TIERS, "pass")
    synth = {t["test"].split("[")[0]: t for t in result["tiers"]["synth"]["tests"]}
    golden = synth["test_agrees_with_golden"]["properties"]
    assert golden["golden_tokens_equal"] is True
    assert golden["golden_waveform_rel_error"] <= 1e-3
    load_tier = {t["test"].split("[")[0]: t for t in result["tiers"]["load"]["tests"]}
    fetched = load_tier["test_the_loader_still_fetches_what_the_config_names"]["properties"]
    assert fetched["fetched_despite_config"], "0.1.6's loader fetches the F0 model's URL"
    report = json.loads((reports / "compat-report.json").read_text())
    (entry,) = [e for e in report["entries"] if e["cell"] == REFERENCE]
    assert (entry["engine"], entry["verdict"]) == ("styletts2", "pass")
    assert "## StyleTTS2" in (reports / "compat-report.md").read_text()
    pins = [p for p in report["recommended"] if p["line"] == "styletts2"]
    assert pins and "styletts2==0.1.6" in pins[0]["bare"]["requirements"]


@pytest.mark.e2e
@pytest.mark.timeout(2700)
def test_doctor_on_the_styletts2_environment(styletts2_cell):
    python = str(REPO / ".nox" / f"matrix-cell-{REFERENCE.replace('.', '-')}" / "bin" / "python")
    out = subprocess.run([sys.executable, "-m", "compat", "doctor", "--python", python,
                          "--json"], capture_output=True, text=True, cwd=REPO, timeout=300)
    found = json.loads(out.stdout)
    assert found["engine"] == "styletts2"
    assert "styletts2-f0-path-ignored" in {f["id"] for f in found["findings"]}
