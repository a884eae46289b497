"""Shared fixtures of the XTTS tiers: the cell's own copy of the model."""

import hashlib
import os
from pathlib import Path

import pytest


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
