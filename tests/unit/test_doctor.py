"""doctor: findings from package metadata, the JSON, the exit codes, never importing torch
or TTS; in the smoke cells' real environments: the seed stack's breaks, the release-era
stack's clean bill, the shims installed and covering, and --verify against reality."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from compat import engines
from compat.cli import doctor
from conftest import RELEASE_ERA, REPO, SEED_BROKEN, load


def fake_env(**versions) -> dict:
    names = {n: None for n in engines.watched()}
    return {"python": "3.11.7", "executable": "/venv/bin/python", "platform": "linux",
            "machine": "x86_64", "versions": {**names, **versions}, "torch_requires": [],
            "patches_installed": False}


SEED = {"TTS": "0.22.0", "torch": "2.9.1", "torchaudio": "2.9.1", "transformers": "4.57.3",
        "numpy": "1.26.4"}


def test_findings_are_worst_first_with_remedy_and_reference():
    report = doctor.diagnose(fake_env(**SEED))
    ids = [f["id"] for f in report["findings"]]
    assert ids[:2] == ["beam-search-scorer", "weights-only-xtts-config"]
    assert {"generate-removed", "stream-sampler"} <= set(ids)
    first = report["findings"][0]
    assert first["remedy"][0].startswith("shim `beam_search`: xtts-compat shims install")
    assert first["remedy"][1] == "pin transformers<4.57"
    assert first["reference"] == "https://github.com/coqui-ai/TTS/issues/4388"
    assert report["clear"] == ["longform", "crossload", "bench"]  # every tier that can break does


def test_installed_shims_cover_what_they_fix_but_not_pins():
    env = fake_env(**{**SEED, "numpy": "2.0.2"})
    env["patches_installed"] = True
    report = doctor.diagnose(env)
    uncovered = [f["id"] for f in report["findings"] if not f["covered"]]
    assert uncovered == ["numpy-abi"]  # no shim for a numpy ABI break
    assert "beam_search" in report["shims_active"]


def test_a_clean_stack_has_no_finding():
    report = doctor.diagnose(fake_env(TTS="0.22.0", torch="2.1.2", torchaudio="2.1.2",
                                      transformers="4.35.2", numpy="1.26.4"))
    assert report["findings"] == [] and report["clear"] == list(
        doctor.tier_order({"TTS": "0.22.0"})[1:])


def test_no_tts_cannot_tell(capsys):
    assert doctor.main(["--python", sys.executable]) == doctor.CANNOT_TELL
    out = capsys.readouterr().out
    assert "no engine is installed there (looked for" in out and "TTS, coqui-tts" in out
    assert doctor.main(["--python", "/no/such/python", "--json"]) == doctor.CANNOT_TELL
    assert "cannot run it" in json.loads(capsys.readouterr().out)["error"]


@pytest.fixture(scope="module")
def venvs(smoke_run):
    return {cell: load(smoke_run[1], cell)["probe"]["executable"]
            for cell in (SEED_BROKEN, RELEASE_ERA)}


def run_doctor(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "compat", "doctor", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=900)


@pytest.mark.e2e
def test_the_seed_stack_breaks_and_the_release_era_stack_does_not(venvs):
    out = run_doctor("--python", venvs[SEED_BROKEN])
    assert out.returncode == 1, out.stdout + out.stderr
    for words in ("cannot import name 'BeamSearchScorer'", "Unsupported global: GLOBAL TTS.",
                  "has no attribute 'generate'", "'int' object has no attribute 'device'"):
        assert words in out.stdout
    assert "xtts-compat shims install --python" in out.stdout
    data = json.loads(run_doctor("--python", venvs[SEED_BROKEN], "--json").stdout)
    assert data["exit"] == 1 and data["findings"][0]["tier"] == "import"
    assert data["seconds"] > 0  # recorded, never asserted: speed comes from importing nothing
    clean = run_doctor("--python", venvs[RELEASE_ERA])
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "[ok] import: no known problem" in clean.stdout


@pytest.mark.e2e
def test_doctor_imports_neither_torch_nor_tts(venvs):
    """Run doctor inside the broken environment itself and look at what got imported."""
    code = ("import sys, contextlib, io\nfrom compat.cli import doctor\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n    code = doctor.main([])\n"
            "print(code, sorted(m for m in ('torch', 'TTS', 'transformers') if m in sys.modules))")
    out = subprocess.run([venvs[SEED_BROKEN], "-c", code], capture_output=True, text=True,
                         cwd=REPO, timeout=300, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin"})
    assert out.stdout.split() == ["1", "[]"], out.stderr[-2000:]


@pytest.mark.e2e
@pytest.mark.timeout(2400)
def test_verify_confirms_the_import_failure_and_shims_cover_it(venvs):
    seed = venvs[SEED_BROKEN]
    out = run_doctor("--python", seed, "--verify", "--json")
    data = json.loads(out.stdout)
    assert data["verify"]["import"]["status"] == "fail"
    assert "BeamSearchScorer" in data["verify"]["import"]["message"]
    assert data["disagreements"] == []
    subprocess.run([sys.executable, "-m", "patches", "install", "--python", seed], cwd=REPO,
                   check=True, capture_output=True)
    try:
        covered = run_doctor("--python", seed, "--verify")
        assert covered.returncode == 0, covered.stdout + covered.stderr
        assert "shims installed and active here: beam_search, " in covered.stdout
        assert "[covered] import: ImportError: cannot import name 'BeamSearchScorer'" \
            in covered.stdout
        assert "verify import: pass" in covered.stdout and "verify load: pass" in covered.stdout
    finally:
        subprocess.run([sys.executable, "-m", "patches", "remove", "--python", seed], cwd=REPO,
                       check=True, capture_output=True)


def plant(site, name: str, version: str, files: dict[str, str]) -> None:
    """A distribution installed as a wheel leaves it: its files, METADATA and a RECORD
    listing each file with its hash and size (no installer needed)."""
    import base64
    import hashlib

    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    rows = []
    for rel, text in files.items():
        path = site / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)  # the last one planted wins, as the last install does
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        rows.append(f"{rel},sha256={digest.decode()},{len(text)}")
    rows += [f"{info.name}/METADATA,,", f"{info.name}/RECORD,,"]
    (info / "RECORD").write_text("\n".join(rows) + "\n")


@pytest.fixture
def two_owners(tmp_path):
    """An environment where coqui-tts was installed over TTS: both own TTS/, with other
    contents; and two CUDA libraries sharing the same empty nvidia/__init__.py (harmless)."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next(venv.glob("lib/python*/site-packages"))
    plant(site, "TTS", "0.22.0", {"TTS/__init__.py": "old = 1\n", "TTS/api.py": "A = 1\n"})
    plant(site, "coqui-tts", "0.27.5", {"TTS/__init__.py": "new = 1\n", "TTS/api.py": "A = 2\n",
                                        "TTS/extra.py": ""})
    for lib in ("nvidia-cublas-cu12", "nvidia-cudnn-cu12"):
        plant(site, lib, "12.1.0", {"nvidia/__init__.py": "", f"nvidia/{lib[7:]}.py": ""})
    for name, version in (("torch", "2.5.1"), ("transformers", "4.46.2")):
        plant(site, name, version, {f"{name}/__init__.py": ""})
    return venv / "bin" / "python"


def test_two_distributions_owning_the_same_module_files_are_named(two_owners):
    """Issue 29: read from the RECORD files with nothing imported, both owners named; the
    same empty file shared by CUDA libraries is not an overlap. Shown to fail: without
    the check the planted environment had no finding and the doctor said all clear."""
    from compat.incell import probe

    seen = probe.read(str(two_owners), ["TTS", "coqui-tts"])
    assert seen["shared_files"] == [{"owners": ["coqui-tts", "TTS"], "files": 2,
                                     "examples": ["TTS/__init__.py", "TTS/api.py"]}]
    done = subprocess.run([sys.executable, "-m", "compat", "doctor", "--python",
                           str(two_owners), "--json"], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    report = json.loads(done.stdout)
    shared = [f for f in report["findings"] if f["id"] == "shared-module-files"]
    assert len(shared) == 1 and done.returncode == doctor.BREAKS, done.stdout
    assert "coqui-tts and TTS both install 2 module file(s)" in shared[0]["error"]
    assert "pip uninstall -y coqui-tts TTS" in shared[0]["remedy"][0]
