"""Shared fixtures of the XTTS tiers: the cell's own copy of the model, per device.

Tests that take ``device`` run once per device torch sees in the cell (``COMPAT_DEVICES``,
from the harness's probe: cpu, cuda:N, mps); their statuses are kept per device.
"""

import hashlib
import json
import os
from pathlib import Path

import pytest


def devices() -> list:
    return json.loads(os.environ.get("COMPAT_DEVICES") or '["cpu"]')


def pytest_generate_tests(metafunc):
    if "device" in metafunc.fixturenames:
        metafunc.parametrize("device", devices(), scope="session")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="session")
def model_dir() -> Path:
    """The cell's copy of the model (never the cached fixture itself)."""
    error = os.environ.get("XTTS_FIXTURE_ERROR")
    if error:
        pytest.fail(f"no model for this cell: {error}", pytrace=False)
    if "XTTS_FIXTURE_DIR" not in os.environ:
        pytest.fail("XTTS_FIXTURE_DIR is not set: run the tiers through the harness",
                    pytrace=False)
    return Path(os.environ["XTTS_FIXTURE_DIR"])


@pytest.fixture(scope="session")
def xtts_config(model_dir):
    from TTS.tts.configs.xtts_config import XttsConfig

    config = XttsConfig()
    config.load_json(str(model_dir / "config.json"))
    return config


@pytest.fixture(scope="session")
def fixture_kind() -> str:
    return os.environ.get("XTTS_FIXTURE_KIND", "tiny-fixture")


@pytest.fixture(scope="session")
def model(model_dir, xtts_config, device):
    import xtts_run

    return xtts_run.load_model(model_dir, xtts_config, device)


@pytest.fixture(scope="session")
def latents(model, model_dir):
    import xtts_run

    return xtts_run.conditioning(model, model_dir)


@pytest.fixture(scope="session")
def synthesis(model, latents):
    """The reference synthesis of this cell: fixed text, seed and greedy decoding."""
    import xtts_run

    return xtts_run.synthesize(model, xtts_run.TEXT, *latents)
