"""Tier import: what every Kokoro program starts with, and misaki's G2P the pipeline uses.

Records what English needs offline: misaki's English G2P loads spaCy's ``en_core_web_sm``
and downloads it at run time when it is not installed (the tiers avoid it)."""

import importlib
import importlib.util

import pytest

pytestmark = pytest.mark.tier("import")


def test_import_kokoro(record_property):
    kokoro = importlib.import_module("kokoro")
    record_property("kokoro_version", getattr(kokoro, "__version__", None))


def test_import_kmodel_kpipeline():
    from kokoro import KModel, KPipeline

    assert KModel.__name__ == "KModel"
    assert callable(KPipeline)


def test_import_misaki_g2p(record_property):
    """misaki's espeak G2P (the pipeline's for 'e') and its English G2P module, as
    kokoro.pipeline imports them."""
    from misaki import en, espeak

    assert hasattr(espeak, "EspeakG2P")
    assert hasattr(en, "G2P")
    installed = importlib.util.find_spec("en_core_web_sm") is not None
    record_property("en_core_web_sm_installed", installed)
    record_property("english_offline",
                    "English text (lang_code 'a'/'b') needs spaCy's en_core_web_sm, which "
                    "misaki downloads at run time when absent "
                    f"({'installed' if installed else 'not installed'} in this cell); the "
                    "tiers give English to KModel as phonemes instead")
