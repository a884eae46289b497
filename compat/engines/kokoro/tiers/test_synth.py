"""Tier synth: English phonemes through KModel (no G2P, no spaCy) and Spanish text through
KPipeline (misaki's espeak G2P), judged on the audio itself and against the golden output
of the reference cell."""

import os
from pathlib import Path

import numpy as np
import pytest

import kokoro_run
from compat.incell import tiersupport

pytestmark = pytest.mark.tier("synth")
#: The least relative change another voice or other phonemes must make to the audio.
MOVE_FLOOR = 1e-3


def test_phonemes_audio_is_sound(synthesis, kokoro_config, record_property):
    record_property("synth_seconds", round(synthesis.seconds, 3))
    record_property("audio_seconds", round(synthesis.audio_seconds, 3))
    record_property("rtf", round(synthesis.audio_seconds / max(synthesis.seconds, 1e-9), 3))
    record_property("durations", synthesis.durations)
    problems = kokoro_run.audio_problems(synthesis.wav, synthesis.phonemes,
                                         kokoro_config["max_dur"])
    assert not problems, "; ".join(problems)


def test_pipeline_text_audio_is_sound(pipeline_chunks, kokoro_config, record_property):
    """Spanish text through KPipeline: phonemes from the G2P, audio that fits them."""
    record_property("english_text", "not driven: English text needs spaCy's "
                    "en_core_web_sm, downloaded at run time when absent")
    record_property("chunks", len(pipeline_chunks))
    record_property("phonemes", [repr(c.phonemes) for c in pipeline_chunks])
    assert pipeline_chunks, f"KPipeline yielded nothing for {kokoro_run.TEXT!r}"
    problems = []
    for n, chunk in enumerate(pipeline_chunks):
        if chunk.wav is None:
            problems.append(f"chunk {n}: no audio (the pipeline has no model)")
            continue
        if isinstance(chunk.phonemes, str) and not chunk.phonemes.strip():
            problems.append(f"chunk {n}: empty phonemes for {chunk.graphemes!r}")
        problems += [f"chunk {n}: {p}" for p in kokoro_run.audio_problems(
            chunk.wav, chunk.phonemes, kokoro_config["max_dur"])]
    assert not problems, "; ".join(problems)


def test_same_seed_same_audio(model, packs, voices, synthesis):
    again = kokoro_run.synthesize(model, kokoro_run.PHONEMES, packs[voices[0]])
    assert again.durations == synthesis.durations
    assert np.array_equal(again.wav, synthesis.wav), "the same seed gave different audio"


def test_output_depends_on_its_conditioning(model, packs, voices, synthesis, record_property):
    """Another voice and other phonemes must move the audio; if neither moves it, the
    conditioning does not reach the model."""
    other_voice = kokoro_run.synthesize(model, kokoro_run.PHONEMES, packs[voices[1]])
    other_text = kokoro_run.synthesize(model, kokoro_run.OTHER_PHONEMES, packs[voices[0]])
    problems = []
    for name, other in (("voice", other_voice), ("phonemes", other_text)):
        n = min(other.wav.size, synthesis.wav.size)
        same_length = other.wav.size == synthesis.wav.size
        move = (float(np.linalg.norm(other.wav[:n] - synthesis.wav[:n])
                      / max(float(np.linalg.norm(synthesis.wav[:n])), 1e-12))
                if n else 0.0)
        record_property(f"{name}_relative_change", round(move, 6))
        record_property(f"{name}_changes_length", not same_length)
        if same_length and move <= MOVE_FLOOR:
            problems.append(f"another {name} moved the audio by only {move:.2g} (relative)")
    if problems:
        record_property("verdict", "diverged")
        record_property("divergence", "; ".join(problems))


def test_agrees_with_golden(synthesis, pipeline_chunks, voices, device, record_property):
    """Against the golden output of the reference cell, keyed to the hashes of every input
    (config, checkpoint, voices). No golden, or one made from other inputs: ``unverified``
    with the reason, never a silent pass."""
    inputs = tiersupport.golden_inputs(kokoro_run.PREFIX)
    if os.environ.get("COMPAT_WRITE_GOLDEN") and device == "cpu":
        target = Path(os.environ["COMPAT_WRITE_GOLDEN"])
        kokoro_run.write_golden(target, synthesis, pipeline_chunks, voices[0], {
            "inputs": inputs, "cell": os.environ.get("COMPAT_CELL_ID"),
            "versions": kokoro_run.versions()})
        record_property("golden_written", str(target))
        return
    folder = tiersupport.golden_dir(kokoro_run.PREFIX)
    why = tiersupport.golden_mismatch(folder, inputs, kokoro_run.GOLDEN_REMAKE)
    if why:
        record_property("verdict", "unverified")
        record_property("unverified", why)
        return
    golden, golden_wav, golden_pipeline = kokoro_run.read_golden(folder)
    agree = kokoro_run.agreement(synthesis, pipeline_chunks, golden, golden_wav, golden_pipeline)
    for key, value in agree.items():
        record_property(f"golden_{key}", value if not isinstance(value, list) else repr(value))
    why = kokoro_run.divergence(agree, golden, device)
    if why:
        record_property("verdict", "diverged")
        record_property("divergence", why)
