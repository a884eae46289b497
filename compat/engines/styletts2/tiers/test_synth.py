"""Tier synth: text through ``StyleTTS2.inference`` (gruut's phonemes, PL-BERT, the style
diffusion, the hifigan decoder), cloning the fixture's voice; judged on the audio itself
and against the golden output of the reference cell."""

import os
from pathlib import Path

import numpy as np
import pytest

import styletts2_run
from compat.incell import tiersupport

pytestmark = pytest.mark.tier("synth")
#: The least relative change another voice or another text must make to the audio.
MOVE_FLOOR = 1e-3


def test_audio_is_sound(synthesis, model_params, record_property):
    record_property("synth_seconds", round(synthesis.seconds, 3))
    record_property("audio_seconds", round(synthesis.audio_seconds, 3))
    record_property("tokens", synthesis.tokens)
    problems = styletts2_run.audio_problems(synthesis.wav, synthesis.tokens,
                                            model_params["max_dur"])
    assert not problems, "; ".join(problems)


def test_same_seed_same_audio(model, voice, synthesis):
    again = styletts2_run.synthesize(model, styletts2_run.TEXT, voice=voice)
    assert np.array_equal(again.wav, synthesis.wav), "the same seed gave different audio"


def test_a_computed_style_is_the_voice(model, style, synthesis):
    """``ref_s=compute_style(wav)`` is what ``target_voice_path=wav`` does: the same audio."""
    assert tuple(style.shape) == (1, 256), f"style shape {tuple(style.shape)}"
    if not styletts2_run.takes_ref_s(model):
        pytest.skip("this styletts2's inference takes no ref_s (a precomputed style "
                    "arrived in 0.1.5)")
    by_style = styletts2_run.synthesize(model, styletts2_run.TEXT, ref_s=style)
    assert np.array_equal(by_style.wav, synthesis.wav), \
        "a precomputed style gave other audio than the voice file"


def test_output_depends_on_its_conditioning(model, style, voice, synthesis, record_property):
    """Another voice and another text must move the audio; if neither moves it, the
    conditioning does not reach the model. Another voice is the style negated: passed as
    ``ref_s`` where the release takes it, else returned by ``compute_style``, which
    ``inference`` calls on the voice file (0.1.3, 0.1.4). A voice file changed instead
    (played backwards, an octave up) moves the tiny model's audio by 1e-4 to 1e-3 only."""
    if styletts2_run.takes_ref_s(model):
        other_voice = styletts2_run.synthesize(model, styletts2_run.TEXT, ref_s=-style)
    else:
        computed = model.compute_style
        model.compute_style = lambda path: -computed(path)
        try:
            other_voice = styletts2_run.synthesize(model, styletts2_run.TEXT, voice=voice)
        finally:
            del model.compute_style  # the class's method again
    other_text = styletts2_run.synthesize(model, styletts2_run.OTHER_TEXT, voice=voice)
    problems = []
    for name, other in (("voice", other_voice), ("text", other_text)):
        n = min(other.wav.size, synthesis.wav.size)
        move = (float(np.linalg.norm(other.wav[:n] - synthesis.wav[:n])
                      / max(float(np.linalg.norm(synthesis.wav[:n])), 1e-12)) if n else 0.0)
        record_property(f"{name}_relative_change", round(move, 6))
        if other.wav.size == synthesis.wav.size and move <= MOVE_FLOOR:
            problems.append(f"another {name} moved the audio by only {move:.2g} (relative)")
    if problems:
        record_property("verdict", "diverged")
        record_property("divergence", "; ".join(problems))


def test_output_wav_file(model, voice, synthesis, tmp_path, record_property):
    """``output_wav_file=`` writes the samples it returns (scipy's float WAV, 24 kHz)."""
    import scipy.io.wavfile

    path = tmp_path / "out.wav"
    styletts2_run.synthesize(model, styletts2_run.TEXT, voice=voice, output_wav_file=str(path))
    rate, data = scipy.io.wavfile.read(str(path))
    record_property("wav_dtype", str(data.dtype))
    assert rate == styletts2_run.SAMPLE_RATE, f"written at {rate} Hz"
    assert np.array_equal(data, synthesis.wav), "the written file differs from the samples"


def test_agrees_with_golden(synthesis, device, record_property):
    """Against the golden output of the reference cell, keyed to the hashes of every input
    (config, checkpoints, voice). No golden, or one made from other inputs: ``unverified``
    with the reason, never a silent pass."""
    inputs = tiersupport.golden_inputs(styletts2_run.PREFIX)
    if os.environ.get("COMPAT_WRITE_GOLDEN") and device == "cpu":
        target = Path(os.environ["COMPAT_WRITE_GOLDEN"])
        styletts2_run.write_golden(target, synthesis, {
            "inputs": inputs, "cell": os.environ.get("COMPAT_CELL_ID"),
            "versions": styletts2_run.versions()})
        record_property("golden_written", str(target))
        return
    folder = tiersupport.golden_dir(styletts2_run.PREFIX)
    why = tiersupport.golden_mismatch(folder, inputs, styletts2_run.GOLDEN_REMAKE)
    if why:
        record_property("verdict", "unverified")
        record_property("unverified", why)
        return
    golden, golden_wav = styletts2_run.read_golden(folder)
    agree = styletts2_run.agreement(synthesis, golden, golden_wav)
    for key, value in agree.items():
        record_property(f"golden_{key}", value if not isinstance(value, list) else repr(value))
    why = styletts2_run.divergence(agree, device)
    if why:
        record_property("verdict", "diverged")
        record_property("divergence", why)
