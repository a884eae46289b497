"""Tier stream: KPipeline's generator yields one result per chunk of text (here one per
line) as soon as it is synthesised. Several chunks, each sound, each equal to
synthesising its phonemes alone with the same voice row and seed sequence."""

import numpy as np
import pytest

import kokoro_run

pytestmark = pytest.mark.tier("stream")


def test_stream(model, pipeline, model_dir, voices, packs, kokoro_config, device,
                record_property):
    chunks = kokoro_run.run_pipeline(pipeline, kokoro_run.STREAM_TEXT,
                                     kokoro_run.voice_file(model_dir, voices[0]))
    record_property("chunks", len(chunks))
    if chunks:
        record_property("first_chunk_seconds", round(chunks[0].at_seconds, 3))
        record_property("stream_seconds", round(chunks[-1].at_seconds, 3))
    sizes = [0 if c.wav is None else int(c.wav.size) for c in chunks]
    record_property("chunk_audio_seconds", [round(s / kokoro_run.SAMPLE_RATE, 3) for s in sizes])
    lines = [line for line in kokoro_run.STREAM_TEXT.splitlines() if line.strip()]
    assert len(chunks) > 1, (f"expected one chunk per line ({len(lines)}), got {len(chunks)}: "
                             f"{[c.graphemes for c in chunks]}")
    problems = []
    for n, chunk in enumerate(chunks):
        if chunk.wav is None:
            problems.append(f"chunk {n}: no audio")
            continue
        problems += [f"chunk {n}: {p}" for p in kokoro_run.audio_problems(
            chunk.wav, chunk.phonemes, kokoro_config["max_dur"])]
    assert not problems, "; ".join(problems)
    # The same phonemes synthesised one after another from the same seed: the pipeline
    # seeds nothing itself, so the chunks draw the decoder's noise in the same order.
    import torch

    torch.manual_seed(kokoro_run.SEED)
    pack = packs[voices[0]]
    errors = []
    for chunk in chunks:
        alone = _alone(model, chunk.phonemes, pack)
        errors.append(kokoro_run.relative_error(chunk.wav, alone))
    record_property("chunk_rel_error_vs_alone", [None if e is None else float(e) for e in errors])
    tol = kokoro_run.CHUNK_TOL if device == "cpu" else kokoro_run.ACCEL_WAVE_TOL
    bad = [n for n, e in enumerate(errors) if e is None or e > tol]
    assert not bad, (f"streamed chunks {bad} differ from their phonemes synthesised alone "
                     f"(relative errors {errors}, tolerance {tol})")


def _alone(model, phonemes, pack) -> np.ndarray:
    """One synthesis without reseeding (the caller seeded once for the whole sequence)."""
    out = model(phonemes, pack[len(phonemes) - 1], 1, return_output=True)
    return kokoro_run.to_numpy(out.audio)
