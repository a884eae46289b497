"""Tier synth: conditioning latents from the reference speech, then inference, judged on
the audio itself and against the golden output of the release-era cell."""

import contextlib
import os
from pathlib import Path

import numpy as np
import pytest

import xtts_run
from compat.incell import tiersupport

pytestmark = pytest.mark.tier("synth")


def test_audio_is_sound(synthesis, xtts_config, record_property):
    record_property("synth_seconds", round(synthesis.seconds, 3))
    record_property("audio_seconds", round(synthesis.audio_seconds, 3))
    record_property("rtf", round(synthesis.audio_seconds / synthesis.seconds, 3))
    record_property("codes", len(synthesis.codes))
    if os.environ.get("COMPAT_XTTS_DECODING"):
        record_property("decoding_overrides", os.environ["COMPAT_XTTS_DECODING"])
    assert xtts_config.audio.output_sample_rate == xtts_run.SAMPLE_RATE
    problems = xtts_run.audio_problems(synthesis.wav, xtts_config.model_args.gpt_max_audio_tokens,
                                       xtts_run.TEXT)
    assert not problems, "; ".join(problems)


def test_same_seed_same_audio(model, latents, synthesis):
    again = xtts_run.synthesize(model, xtts_run.TEXT, *latents)
    assert again.codes == synthesis.codes
    assert np.array_equal(again.wav, synthesis.wav), "the same seed gave different audio"


def test_output_depends_on_its_conditioning(model, latents, synthesis, record_property):
    """Code equality is blind to a dropped prefix on a random model: check the prefix
    reaches the model, and that text and speaker move the first-step logits or codes."""
    latent, embedding = latents
    other_text = xtts_run.synthesize(model, xtts_run.OTHER_TEXT, latent, embedding)
    other_voice = xtts_run.synthesize(model, xtts_run.TEXT, -latent, embedding)
    moved = {}
    for name, other in (("text", other_text), ("speaker", other_voice)):
        logit_move = float(np.abs(other.first_logits - synthesis.first_logits).max())
        moved[name] = logit_move
        record_property(f"{name}_first_logit_change", logit_move)
        record_property(f"{name}_changes_codes", other.codes != synthesis.codes)
    record_property("first_call_tokens", synthesis.first_call_tokens)
    record_property("prefix_tokens", synthesis.prefix_tokens)
    problems = []
    if synthesis.first_call_tokens is not None and synthesis.first_call_tokens <= 1:
        problems.append(f"the first forward call saw {synthesis.first_call_tokens} token, not "
                        f"the conditioning prefix of {synthesis.prefix_tokens}: the text and "
                        "speaker never reach the model")
    for name, move in moved.items():
        if move <= xtts_run.LOGIT_TOL:
            problems.append(f"changing the {name} moved the first-step logits by only {move:.2g}")
    if problems:
        record_property("verdict", "diverged")
        record_property("divergence", "; ".join(problems))


def test_agrees_with_golden(synthesis, device, record_property):
    """Against the golden output of the reference cell, keyed to the hashes of every input
    of a synthesis. No golden, or one made from other inputs: ``unverified`` with the
    reason, never a silent pass."""
    inputs = tiersupport.golden_inputs(xtts_run.PREFIX)
    if os.environ.get("COMPAT_WRITE_GOLDEN") and device == "cpu":
        target = Path(os.environ["COMPAT_WRITE_GOLDEN"])
        xtts_run.write_golden(target, synthesis, {
            "inputs": inputs, "cell": os.environ.get("COMPAT_CELL_ID"),
            "versions": _versions()})
        record_property("golden_written", str(target))
        return
    why = tiersupport.golden_mismatch(tiersupport.golden_dir(xtts_run.PREFIX), inputs,
                                      xtts_run.GOLDEN_REMAKE)
    if why:
        record_property("verdict", "unverified")
        record_property("unverified", why)
        return
    golden, golden_wav = xtts_run.read_golden(tiersupport.golden_dir(xtts_run.PREFIX))
    agree = xtts_run.agreement(synthesis, golden, golden_wav)
    for key, value in agree.items():
        record_property(f"golden_{key}", value)
    why = xtts_run.divergence(agree, device)
    if why:
        record_property("verdict", "diverged")
        record_property("divergence", why)


def _versions():
    from importlib import metadata

    found = {}
    for name in ("TTS", "coqui-tts", "torch", "transformers"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[name] = metadata.version(name)
    return found
