"""Shared fixtures of the StyleTTS2 tiers: the cell's own copy of the model, the nltk data
the text path reads, per device.

Tests that take ``device`` run once per device torch sees in the cell (``COMPAT_DEVICES``,
from the harness's probe: cpu, cuda:N, mps); their statuses are kept per device.
"""

from pathlib import Path

import pytest
import yaml

from compat.incell.tiersupport import fixture_dir, parametrize_devices


def pytest_generate_tests(metafunc):
    parametrize_devices(metafunc)


@pytest.fixture(scope="session")
def model_dir() -> Path:
    """The cell's copy of the model (never the cached fixture itself)."""
    return fixture_dir("STYLETTS2")


@pytest.fixture(scope="session", autouse=True)
def nltk_data(tmp_path_factory) -> str:
    """The tokenizer data nltk's word_tokenize loads, written for this run (nltk_data is
    not on PyPI, and the engine would download it)."""
    import styletts2_run

    return styletts2_run.provide_nltk_data(tmp_path_factory.mktemp("nltk_data"))


@pytest.fixture(scope="session")
def model_params(model_dir) -> dict:
    return yaml.safe_load((model_dir / "config.yml").read_text(encoding="utf-8"))["model_params"]


@pytest.fixture(scope="session")
def voice(model_dir) -> Path:
    return model_dir / "reference.wav"


@pytest.fixture(scope="session")
def model(model_dir, device):
    import styletts2_run

    return styletts2_run.load_model(model_dir, device)


@pytest.fixture(scope="session")
def style(model, voice):
    """The voice's style vector (``compute_style``: acoustic and prosodic halves)."""
    return model.compute_style(str(voice))


@pytest.fixture(scope="session")
def synthesis(model, voice):
    """The reference synthesis of this cell: the text, the fixture's voice, a seed."""
    import styletts2_run

    return styletts2_run.synthesize(model, styletts2_run.TEXT, voice=voice)
