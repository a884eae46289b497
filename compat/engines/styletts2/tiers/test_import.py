"""Tier import: what every StyleTTS2 program starts with (``from styletts2 import tts``),
the model's modules, and the text path's parts (gruut, nltk, langchain's splitter).

``styletts2.tts`` calls ``nltk.download('punkt')`` when it is imported; the tiers record
the call instead of making it (tiers run offline), and say so."""

import importlib

import pytest

import styletts2_run

pytestmark = pytest.mark.tier("import")


def test_import_tts(record_property):
    tts = styletts2_run.import_tts()
    assert callable(tts.StyleTTS2)
    record_property("styletts2_version", styletts2_run.versions().get("styletts2"))
    record_property("nltk_downloads_at_import", list(styletts2_run.NLTK_DOWNLOADS))


def test_import_models():
    for name in ("styletts2.models", "styletts2.Utils.ASR.models", "styletts2.Utils.JDC.model",
                 "styletts2.Utils.PLBERT.util", "styletts2.Modules.hifigan"):
        importlib.import_module(name)


def test_text_path(nltk_data, record_property):
    """gruut phonemises English offline (its lexicon ships in gruut-lang-en) and nltk's
    word_tokenize splits the phonemes with the tokenizer data the tiers provide."""
    from styletts2.phoneme import PhonemeConverterFactory

    tts = styletts2_run.import_tts()
    phonemes = PhonemeConverterFactory.load_phoneme_converter("gruut").phonemize("Hello world.")
    record_property("phonemes", phonemes)
    record_property("nltk_data", nltk_data)
    assert phonemes.strip(), "gruut gave no phonemes for 'Hello world.'"
    words = tts.word_tokenize(phonemes)
    assert len(words) >= 2, f"word_tokenize gave {words!r}"
    if styletts2_run.has_long_form(tts):  # 0.1.6 on: langchain's splitter, at the import
        assert tts.segment_text("a " * 300), "langchain's splitter gave no segments"
    else:
        record_property("long_form", "none in this release (no long_inference before 0.1.6)")
