"""Shared fixtures of the Kokoro tiers: the cell's own copy of the model, per device.

Tests that take ``device`` run once per device torch sees in the cell (``COMPAT_DEVICES``,
from the harness's probe: cpu, cuda:N, mps); their statuses are kept per device.
"""

import json
import os
from pathlib import Path

import pytest

from compat.incell.tiersupport import fixture_dir, parametrize_devices


def pytest_generate_tests(metafunc):
    parametrize_devices(metafunc)


@pytest.fixture(scope="session")
def model_dir() -> Path:
    """The cell's copy of the model (never the cached fixture itself)."""
    return fixture_dir("KOKORO")


@pytest.fixture(scope="session")
def voices() -> list:
    """Two voice names: the first speaks, the second is the other conditioning."""
    names = [v for v in os.environ.get("KOKORO_VOICES", "").split(",") if v]
    if len(names) < 2:
        pytest.fail(f"KOKORO_VOICES names {len(names)} voices; the tiers need two",
                    pytrace=False)
    return names


@pytest.fixture(scope="session")
def kokoro_config(model_dir) -> dict:
    return json.loads((model_dir / "config.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def model(model_dir, device):
    import kokoro_run

    return kokoro_run.load_model(model_dir, device)


@pytest.fixture(scope="session")
def packs(model_dir, voices) -> dict:
    import kokoro_run

    return {name: kokoro_run.load_voice(model_dir, name) for name in voices}


@pytest.fixture(scope="session")
def synthesis(model, packs, voices):
    """The reference synthesis of this cell: English phonemes, the first voice, a seed."""
    import kokoro_run

    return kokoro_run.synthesize(model, kokoro_run.PHONEMES, packs[voices[0]])


@pytest.fixture(scope="session")
def pipeline(model):
    import kokoro_run

    return kokoro_run.make_pipeline(model)


@pytest.fixture(scope="session")
def pipeline_chunks(pipeline, model_dir, voices):
    """Spanish text through KPipeline (espeak G2P), the first voice, a seed."""
    import kokoro_run

    return kokoro_run.run_pipeline(pipeline, kokoro_run.TEXT,
                                   kokoro_run.voice_file(model_dir, voices[0]))
