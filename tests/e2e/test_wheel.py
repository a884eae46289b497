"""The wheel: ``xtts-compat`` built, installed into an empty environment away from the
clone, and its doctor run against an environment that only has the seed stack's package
metadata (TTS 0.22.0, torch 2.9.1, transformers 4.57.3): it must name BeamSearchScorer
and weights_only with their remedies from the knowledge base the wheel carries."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

pytestmark = pytest.mark.e2e

SEED = {"TTS": "0.22.0", "torch": "2.9.1", "transformers": "4.57.3", "torchaudio": "2.9.1"}


def uv() -> str:
    found = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
    if not Path(found).exists():
        pytest.fail("uv is not installed (it is a dependency of the project)")
    return found


def run(*cmd: str, cwd: Path | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env)


def fake_environment(folder: Path) -> Path:
    """A venv whose site-packages hold only the seed stack's METADATA files."""
    made = run(uv(), "venv", "--quiet", "--python", sys.executable, str(folder))
    assert made.returncode == 0, made.stderr
    python = folder / "bin" / "python"
    site = run(str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])")
    for name, version in SEED.items():
        info = Path(site.stdout.strip()) / f"{name}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\n"
                                       f"Version: {version}\n")
    return python


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The wheel built from this checkout, installed in an empty venv outside it."""
    dist = tmp_path_factory.mktemp("dist")
    source = tmp_path_factory.mktemp("source") / "xtts-compat"  # the build writes build/
    listed = run("git", "-C", str(REPO), "ls-files", "-co", "--exclude-standard", "-z")
    for name in filter(None, listed.stdout.split("\0")):
        if (REPO / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    built = run(uv(), "build", "--wheel", "--out-dir", str(dist), str(source), timeout=900)
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = dist.glob("xtts_compat-*.whl")
    venv = tmp_path_factory.mktemp("tool") / "venv"
    assert run(uv(), "venv", "--quiet", "--python", sys.executable, str(venv)).returncode == 0
    done = run(uv(), "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"),
               str(wheel), timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return venv / "bin" / "xtts-compat"


def test_the_wheels_doctor_names_the_seed_stacks_breakages(installed, tmp_path):
    python = fake_environment(tmp_path / "seed")
    elsewhere = tmp_path / "no-clone-here"
    elsewhere.mkdir()
    out = run(str(installed), "doctor", "--python", str(python), "--json", cwd=elsewhere)
    assert out.returncode == 1, out.stdout[-2000:] + out.stderr[-2000:]  # 1: it will break
    found = json.loads(out.stdout)
    ids = [f["id"] for f in found["findings"]]
    assert "beam-search-scorer" in ids and "weights-only-xtts-config" in ids, ids
    text = run(str(installed), "doctor", "--python", str(python), cwd=elsewhere).stdout
    assert "BeamSearchScorer" in text and "weights_only" in text
    assert "xtts-compat shims install --python" in text


def test_the_wheel_carries_its_data(installed):
    """The knowledge bases, the shims, the schemas, the templates and the fixtures' data
    are in the wheel, all inside compat/."""
    site = next((installed.parent.parent / "lib").glob("python3*/site-packages"))
    for path in ("compat/engines/xtts/known_breakages.toml", "compat/result/knowledge.schema.json",
                 "compat/report/report.schema.json", "compat/report/templates/report.html.j2",
                 "compat/patches/weights_only.py", "compat/engines/xtts/tiers/test_crossload.py",
                 "compat/fixtures/build_xtts.py", "compat/fixtures/voice/SHA256SUMS"):
        assert (site / path).is_file(), path


def test_the_wheel_installs_no_top_level_name_another_distribution_owns(installed):
    """Before issue 28 it installed ``fixtures`` and ``patches`` at the top level: names of
    other distributions on PyPI (``fixtures`` is a long-standing one)."""
    site = next((installed.parent.parent / "lib").glob("python3*/site-packages"))
    (record,) = site.glob("xtts_compat-*.dist-info/RECORD")
    # RECORD also lists the script, outside site-packages (``../../../bin/xtts-compat``)
    tops = {line.split(",")[0].split("/")[0] for line in record.read_text().splitlines()}
    assert {t for t in tops if not t.endswith(".dist-info") and t != ".."} == {"compat"}
    assert not (site / "fixtures").exists() and not (site / "patches").exists()
    python = installed.parent / "python"
    found = run(str(python), "-c", "from compat.incell import bundled; "
                "print(bundled.package_name('fixtures'), bundled.package_name('patches'))",
                cwd=installed.parent)
    assert found.stdout.split() == ["compat.fixtures", "compat.patches"], found.stderr


def test_shims_install_through_the_cli(installed, tmp_path):
    python = fake_environment(tmp_path / "target")
    out = run(str(installed), "shims", "install", "--python", str(python))
    assert out.returncode == 0, out.stderr[-2000:]
    assert "installed:" in out.stdout
    state = run(str(installed), "shims", "status", "--python", str(python))
    assert state.returncode == 0 and "xtts_compat_patches" in state.stdout + state.stderr
