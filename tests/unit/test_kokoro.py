"""Kokoro through the same harness: its cells parse and are named from its own folder, a
Kokoro environment becomes a Kokoro cell for here, doctor and the gate; and, for real
(e2e), the reference cell passes every Kokoro tier against its golden output, a cell with
numpy 2 under torch 2.1 fails with a finding the knowledge base explains, the report has
a Kokoro section with verdicts and pins, and doctor diagnoses both environments."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from compat import engines, gate
from compat.cli import doctor
from compat.plan.matrixfile import load_matrices, load_matrix
from compat.plan.stack import cell_from_versions
from compat.system import paths
from conftest import REPO, load, nox

KOKORO_MATRIX = REPO / "matrices" / "kokoro.toml"
REFERENCE = "kokoro0.9.4-torch2.9.1-tf5.24.0-py3.11"
NUMPY2_OLD_TORCH = "kokoro0.9.4-torch2.1.2-tf4.46.2-py3.11"
ENGINES = {name: e.distributions for name, e in engines.all_engines().items()}


def test_kokoro_cells_are_kokoro_cells_named_by_the_engine():
    matrix = load_matrix(KOKORO_MATRIX, ENGINES)
    assert {c.engine for c in matrix.cells} == {"kokoro"}
    assert REFERENCE in matrix.by_id() and NUMPY2_OLD_TORCH in matrix.by_id()
    assert engines.get_engine("kokoro").fixture.reference["id"] == REFERENCE


def test_the_default_selection_has_both_engines_and_not_the_smoke_subset():
    files = paths.matrix_paths()
    assert [p.name for p in files][:1] == ["default.toml"] and KOKORO_MATRIX in files
    assert REPO / "matrices" / "smoke.toml" not in files
    cells = load_matrices(files, ENGINES).cells
    assert {c.engine for c in cells} == {"xtts", "kokoro", "styletts2"}


def test_a_kokoro_environment_is_a_kokoro_cell_for_here_doctor_and_the_gate():
    versions = {"kokoro": "0.9.4", "misaki": "0.9.4", "torch": "2.9.1",
                "transformers": "5.24.0", "numpy": "2.4.6", "pytest": "8.0"}
    cell = cell_from_versions(versions, "3.11.7", where="test")
    assert (cell.id, cell.engine) == (REFERENCE, "kokoro")
    assert dict(cell.pins) == {"misaki": "0.9.4", "numpy": "2.4.6"}  # not the test runner
    assert gate.cell_from_pins(gate.pins_in("requirements.txt", "\n".join(
        f"{k}=={v}" for k, v in versions.items())), "3.11").id == REFERENCE


def test_doctor_reads_a_kokoro_stack_against_kokoros_knowledge_base():
    names = {n: None for n in engines.watched()}
    env = {"python": "3.11.7", "executable": "/venv/bin/python", "platform": "linux",
           "machine": "x86_64", "torch_requires": [], "patches_installed": False,
           "versions": {**names, "kokoro": "0.9.4", "misaki": "0.9.4", "torch": "2.1.2",
                        "transformers": "4.46.2", "numpy": "2.4.6"}}
    report = doctor.diagnose(env)
    assert report["engine"] == "kokoro"
    assert [f["id"] for f in report["findings"]] == ["kokoro-numpy2-old-torch"]
    assert "finetune" not in report["clear"]  # Kokoro has no fine-tuning tier


# -- real cells ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def kokoro_cells(tmp_path_factory):
    """The reference Kokoro cell and the numpy-2-under-torch-2.1 cell, through nox."""
    results = tmp_path_factory.mktemp("kokoro-results")
    reports = tmp_path_factory.mktemp("kokoro-reports")
    env = {"COMPAT_MATRIX": str(KOKORO_MATRIX), "COMPAT_RESULTS": str(results),
           "COMPAT_REPORTS": str(reports)}
    out = nox("-s", f"matrix(cell='{REFERENCE}')", f"matrix(cell='{NUMPY2_OLD_TORCH}')",
              "--", "--force", env=env, timeout=2400)
    print(out.stdout[-4000:], out.stderr[-4000:])
    assert out.returncode == 0, out.stderr[-3000:]
    return results, reports


@pytest.mark.e2e
@pytest.mark.timeout(2700)
def test_the_reference_kokoro_cell_passes_every_tier_against_its_golden(kokoro_cells):
    results, _ = kokoro_cells
    result = load(results, REFERENCE)
    tiers = {n: t["status"] for n, t in result["tiers"].items()}
    assert tiers == dict.fromkeys(("install", "import", "load", "synth", "stream", "bench"),
                                  "pass")
    synth = {t["test"].split("[")[0]: t for t in result["tiers"]["synth"]["tests"]}
    golden = synth["test_agrees_with_golden"]["properties"]  # the cpu one: no other device
    assert golden["golden_durations_equal"] is True
    assert golden["golden_waveform_rel_error"] <= 1e-3


@pytest.mark.e2e
@pytest.mark.timeout(2700)
def test_numpy2_under_torch21_fails_with_the_finding_the_knowledge_base_explains(kokoro_cells):
    _, reports = kokoro_cells
    report = json.loads((reports / "compat-report.json").read_text())
    entries = {e["cell"]: e for e in report["entries"]}
    broken = entries[NUMPY2_OLD_TORCH]
    assert broken["engine"] == "kokoro" and broken["verdict"] == "fail"
    (failure,) = [f for f in broken["failures"] if f["kind"] == "final"]
    assert (failure["tier"], failure["diagnosis"]["id"]) == ("synth", "kokoro-numpy2-old-torch")
    assert entries[REFERENCE]["verdict"] == "pass"
    text = (reports / "compat-report.md").read_text()
    assert "## Kokoro" in text and "kokoro-numpy2-old-torch" in text
    pins = [p for p in report["recommended"] if p["line"] == "kokoro"]
    assert pins and pins[0]["bare"]["cell"] == REFERENCE
    assert "kokoro==0.9.4" in pins[0]["bare"]["requirements"]


@pytest.mark.e2e
@pytest.mark.timeout(2700)
def test_doctor_on_the_kokoro_environments(kokoro_cells):
    def venv(cell: str) -> str:
        return str(REPO / ".nox" / f"matrix-cell-{cell.replace('.', '-')}" / "bin" / "python")


    def run(cell: str) -> tuple[int, dict]:
        out = subprocess.run(
            [sys.executable, "-m", "compat", "doctor", "--python", venv(cell), "--json"],
            capture_output=True, text=True, cwd=REPO, timeout=300)
        return out.returncode, json.loads(out.stdout)

    code, good = run(REFERENCE)
    assert (code, good["engine"], good["findings"]) == (doctor.OK, "kokoro", [])
    code, bad = run(NUMPY2_OLD_TORCH)
    assert code == doctor.BREAKS
    assert [f["id"] for f in bad["findings"]] == ["kokoro-numpy2-old-torch"]
