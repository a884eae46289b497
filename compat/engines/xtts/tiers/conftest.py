"""Shared fixtures of the XTTS tiers: the cell's own copy of the model, per device.

Tests that take ``device`` run once per device torch sees in the cell (``COMPAT_DEVICES``,
from the harness's probe: cpu, cuda:N, mps); their statuses are kept per device.
"""

import os
from pathlib import Path

import pytest

from compat.incell.tiersupport import fixture_dir, parametrize_devices


def pytest_generate_tests(metafunc):
    parametrize_devices(metafunc)


@pytest.fixture(scope="session")
def model_dir() -> Path:
    """The cell's copy of the model (never the cached fixture itself)."""
    return fixture_dir("XTTS")


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
