"""Shared helpers for the suite's own tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
#: tests/unit and tests/e2e hold the tests; tests/support the fakes and the helpers that
#: run inside cells, imported by name (``from report_fakes import ...``).
sys.path[:0] = [str(REPO), str(REPO / "tests" / "support")]
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture
def write_toml(tmp_path):
    """Write a matrix file and return its path."""

    def write(text: str, name: str = "m.toml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


RELEASE_ERA = "tts0.22.0-torch2.1.2-tf4.35.2-py3.11"
TORCH26 = "tts0.22.0-torch2.6.0-tf4.46.2-py3.11"
SEED_BROKEN = "tts0.22.0-torch2.9.1-tf4.57.3-py3.11"
PY312_LEGACY = "tts0.22.0-torch2.5.1-tf4.46.2-py3.12"


def nox(*args: str, env: dict[str, str] | None = None, timeout: float = 120
        ) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("COMPAT_")}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "nox", "-f", str(REPO / "noxfile.py"), *args],
                          capture_output=True, text=True, env=full_env, timeout=timeout,
                          cwd=REPO)


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """Run every cell of matrices/smoke.toml through nox, for real (uv installs)."""
    results = tmp_path_factory.mktemp("results")
    env = {"COMPAT_MATRIX": str(REPO / "matrices" / "smoke.toml"), "COMPAT_RESULTS": str(results),
           "COMPAT_REPORTS": str(tmp_path_factory.mktemp("reports"))}
    out = nox("-s", "matrix", "--", "--force", env=env, timeout=2400)
    print(out.stdout[-5000:], out.stderr[-5000:])
    return out, results, env


def load(results: Path, cell: str) -> dict:
    return json.loads((results / f"{cell}.json").read_text())




#: The smoke run's own limit (``smoke_run`` gives nox 2400 s) and some.
SMOKE_RUN_SECONDS = 2700


def pytest_collection_modifyitems(config, items):
    """Whichever test first asks for ``smoke_run`` pays for it (real installs, four
    cells): every test using it gets the smoke run's time on top of its own limit (the
    default 900 s, or its marker's). A test with a marker of its own used to get only
    that: the first such test timed out whenever the smoke run took longer than it."""
    for item in items:
        if "smoke_run" in getattr(item, "fixturenames", ()):
            own = item.get_closest_marker("timeout")
            limit = own.args[0] if own and own.args else 900
            item.add_marker(pytest.mark.timeout(limit + SMOKE_RUN_SECONDS), append=False)
