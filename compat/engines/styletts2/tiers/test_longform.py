"""Tier longform: a text past ``SINGLE_INFERENCE_MAX_LEN`` (420 characters, PL-BERT's
512 positions) goes through ``long_inference``: langchain's splitter cuts it into
segments, each is synthesised with the previous segment's style blended in, and the audio
is joined. Shown: the splitter keeps every word in order, no segment is past the limit,
and the audio is long enough for every segment's tokens (a dropped segment falls short)."""

import pytest

import styletts2_run

pytestmark = pytest.mark.tier("longform")

#: Eleven sentences, 462 characters: two segments.
LONG_TEXT = "This is a sentence of the long form test. " * 11


def long_form_tts():
    """``styletts2.tts`` where the release has long-form inference; a skip, with the reason,
    where it has none (0.1.3-0.1.5: the feature is absent, nothing is broken)."""
    tts = styletts2_run.import_tts()
    if not styletts2_run.has_long_form(tts):
        pytest.skip("this styletts2 has no long_inference (long-form text arrived in 0.1.6)")
    return tts


def test_segments_keep_every_word_in_order(record_property):
    tts = long_form_tts()
    segments = tts.segment_text(LONG_TEXT)
    record_property("segments", [len(s) for s in segments])
    assert len(segments) >= 2, f"{len(LONG_TEXT)} characters gave {len(segments)} segment(s)"
    too_long = [len(s) for s in segments if len(s) > tts.SINGLE_INFERENCE_MAX_LEN]
    assert not too_long, f"segments past the limit: {too_long}"
    assert " ".join(segments).split() == LONG_TEXT.split(), "the segments lost or moved words"


def test_long_text_is_spoken_whole(model, style, model_params, record_property):
    tts = long_form_tts()
    segments = [s if s[-1] == "." else s + ", " for s in tts.segment_text(LONG_TEXT)]
    counts = [len(styletts2_run.tokens(model, s)) for s in segments]
    out = styletts2_run.synthesize(model, LONG_TEXT, ref_s=style)
    record_property("synth_seconds", round(out.seconds, 3))
    record_property("audio_seconds", round(out.audio_seconds, 3))
    record_property("segment_tokens", counts)
    # long_inference_segment cuts 100 samples off each segment; the bounds add up.
    problems = styletts2_run.audio_problems(out.wav, sum(counts), model_params["max_dur"],
                                            trim=100 * len(segments))
    assert not problems, "; ".join(problems)
