"""Tier import: the three imports every XTTS program starts with."""

import importlib

import pytest

pytestmark = pytest.mark.tier("import")


def test_import_tts_package():
    importlib.import_module("TTS")


def test_import_xtts_model():
    from TTS.tts.models.xtts import Xtts

    assert Xtts.__name__ == "Xtts"


def test_import_tts_api():
    from TTS.api import TTS

    assert callable(TTS)
