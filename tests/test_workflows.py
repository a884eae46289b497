"""The GitHub Actions workflows: they parse, call sessions that exist, fan out exactly the
cells ``nox -l --json`` lists; and the fan-out simulated here: two cells in separate
folders, as separate processes on two "machines", merged into one report."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import PY312_LEGACY, RELEASE_ERA, REPO, nox

WORKFLOWS = REPO / ".github" / "workflows"
EXAMPLE = REPO / "examples" / "voice-app" / ".github" / "workflows"
FILES = sorted(WORKFLOWS.glob("*.yml")) + sorted(EXAMPLE.glob("*.yml"))


def steps(path: Path) -> list[dict]:
    data = yaml.safe_load(path.read_text())
    return [step for job in data["jobs"].values() for step in job.get("steps", [])]


def sessions() -> set[str]:
    out = nox("-l")
    return {m.group(1) for m in re.finditer(r"^[*-] (\w+)", out.stdout, re.M)}


def test_the_workflows_exist_and_parse():
    assert {p.name for p in FILES} == {"compat-matrix.yml", "compat-gate.yml", "xtts-gate.yml"}
    for path in FILES:
        data = yaml.safe_load(path.read_text())
        assert data["jobs"] and (True in data or "on" in data), path  # YAML 1.1: on -> True
        for job in data["jobs"].values():
            assert job["runs-on"] and job["steps"], path


def test_every_nox_session_they_call_exists():
    known = sessions()
    assert {"matrix", "report", "gate", "doctor", "tests"} <= known
    for path in FILES:
        for step in steps(path):
            for name in re.findall(r"nox (?:-f \S+ )?-s \"?(\w+)", step.get("run", "")):
                assert name in known, f"{path.name}: nox -s {name}"


def test_the_fan_out_is_what_nox_lists():
    listing = nox("-l", "--json")
    assert listing.returncode == 0
    cells = [s["session"] for s in json.loads(listing.stdout) if s["name"] == "matrix"]
    out = subprocess.run([sys.executable, "-m", "compat", "fanout"], input=listing.stdout,
                         capture_output=True, text=True, cwd=REPO, check=True)
    jobs = json.loads(out.stdout)["include"]
    assert [j["session"] for j in jobs] == cells and len(cells) >= 10
    assert {j["python"] for j in jobs} >= {"3.11", "3.12"}
    assert all(j["runner"] == "ubuntu-latest" for j in jobs)  # no cell is tagged gpu
    matrix = yaml.safe_load((WORKFLOWS / "compat-matrix.yml").read_text())
    lister = " ".join(s.get("run", "") for s in matrix["jobs"]["cells"]["steps"])
    assert "nox -l --json | python -m compat fanout" in lister
    cell = matrix["jobs"]["cell"]
    assert "fromJSON(needs.cells.outputs.jobs)" in cell["strategy"]["matrix"]
    assert any('nox -s "${{ matrix.session }}"' in s.get("run", "") for s in cell["steps"])
    assert any("nox -s report -- collected/*" in s.get("run", "")
               for s in matrix["jobs"]["report"]["steps"])


def test_the_gate_workflow_runs_on_dependency_changes_with_the_base_branch():
    data = yaml.safe_load((WORKFLOWS / "compat-gate.yml").read_text())
    trigger = data.get("on", data.get(True))
    assert "requirements*.txt" in trigger["pull_request"]["paths"]
    runs = " ".join(s.get("run", "") for s in steps(WORKFLOWS / "compat-gate.yml"))
    assert '--from-diff "origin/${{ github.base_ref }}"' in runs
    checkout = next(s for s in steps(WORKFLOWS / "compat-gate.yml")
                    if s.get("uses", "").startswith("actions/checkout"))
    assert checkout["with"]["fetch-depth"] == 0


@pytest.mark.e2e
@pytest.mark.timeout(2400)
def test_fan_out_simulated_two_machines_one_report(smoke_run, tmp_path):
    """Two cells, each in its own process and results folder, as two runners would; then
    the report job merges the folders."""
    _, _, env = smoke_run
    folders = {}
    for machine, cell in (("runner-a", RELEASE_ERA), ("runner-b", PY312_LEGACY)):
        folder = tmp_path / machine
        job = {**env, "COMPAT_RESULTS": str(folder), "COMPAT_MACHINE_NAME": machine,
               "COMPAT_REPORTS": str(tmp_path / f"{machine}-report")}
        out = nox("-s", f"matrix(cell='{cell}')", env=job, timeout=1800)
        assert out.returncode == 0, out.stderr[-3000:]
        folders[machine] = folder
    merged = tmp_path / "merged"
    out = nox("-s", "report", "--", *map(str, folders.values()),
              env={**env, "COMPAT_REPORTS": str(merged)})
    assert out.returncode == 0, out.stderr[-3000:]
    data = json.loads((merged / "compat-report.json").read_text())
    assert {(e["cell"], e["machine"].split("|")[0]) for e in data["entries"]} == {
        (RELEASE_ERA, "runner-a"), (PY312_LEGACY, "runner-b")}
    assert "| Machine |" in (merged / "compat-report.md").read_text()
