"""Driving XTTS inside a cell: load, condition, synthesise with probes, judge, compare.

Probes are read-only: they wrap ``gpt.generate`` to keep the audio codes and hook the
GPT inference model to copy (``.detach().clone()``, never a view: transformers <= 4.39
edited the logits in place with the repetition penalty) the raw first-step logits and
the length of the first forward call's input (the whole conditioning prefix when all is
well; 1 token when the prefix is dropped, as transformers >= 4.52.1 does to TTS 0.22.0).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: The prefix of the variables the harness sets for this engine (compat.incell.tiersupport)
#: and the command that makes the golden output again.
PREFIX = "XTTS"
GOLDEN_REMAKE = "nox -s golden"

LANGUAGE = "en"
TEXT = "Hello world, this is a small test of the voice."
OTHER_TEXT = "Numbers one two three four five."
SEED = 1234
#: Deterministic decoding (greedy) with XTTS's own repetition penalty.
DECODING = {"temperature": 0.75, "length_penalty": 1.0, "repetition_penalty": 2.0,
            "top_k": 50, "top_p": 0.85, "do_sample": False, "num_beams": 1, "speed": 1.0,
            "enable_text_splitting": False}
SAMPLE_RATE = 24000
#: Audio codes one synthesis may take: the stack's own bound (``gpt.max_gen_mel_tokens``),
#: lowered while the tiers speak. The tiny model's GPT never stops by itself, so every
#: synthesis ran to the fixture's bound (61 codes), and the decoder (HiFi-GAN, widths
#: fixed by the engine: 22 M parameters) spent 6.1 of 8.5 s of each synthesis making 2.8 s
#: of audio from them (measured in the release-era cell). Every tier speaks many times
#: (synth, stream, the benchmark's rounds, each crossload pair, the fine-tuned
#: checkpoint). 20 codes still give the golden check 20 greedy decisions to compare,
#: the first-step logits and 0.9 s of audio.
SYNTH_CODES = 20
RMS_FLOOR = 1e-4
#: Tolerances against the golden output (see docs/tiers.md, "The golden output"). The golden is made
#: on CPU; other devices get looser bounds (not measured here: no GPU in this workplace's
#: CI), and must still produce the same codes.
LOGIT_TOL = 1e-4
WAVE_TOL = 1e-4
ACCEL_LOGIT_TOL = 1e-3
ACCEL_WAVE_TOL = 1e-2


def decoding() -> dict[str, Any]:
    """The decoding settings: DECODING, with ``COMPAT_XTTS_DECODING`` (JSON) on top.

    The override exists to prove the golden check can fail (a changed sampling setting
    must come out ``diverged``) and to try other settings on a real model.
    """
    return {**DECODING, **json.loads(os.environ.get("COMPAT_XTTS_DECODING") or "{}")}


@dataclass
class Synthesis:
    wav: np.ndarray
    seconds: float
    codes: list[int] = field(default_factory=list)
    first_logits: np.ndarray | None = None
    first_call_tokens: int | None = None
    prefix_tokens: int | None = None

    @property
    def audio_seconds(self) -> float:
        return len(self.wav) / SAMPLE_RATE


def load_model(model_dir: Path, config, device: str = "cpu"):
    from TTS.tts.models.xtts import Xtts

    model = Xtts.init_from_config(config)
    model.load_checkpoint(config, checkpoint_dir=str(model_dir), eval=True)
    return model.to(device)


def conditioning(model, model_dir: Path):
    import torch

    with torch.inference_mode():
        latent, embedding = model.get_conditioning_latents(
            audio_path=[str(model_dir / "reference.wav")])
    return latent, embedding


@contextlib.contextmanager
def capped_codes(model, codes: int = SYNTH_CODES) -> Iterator[int]:
    """While the block runs, each GPT run of ``model`` takes at most ``codes`` audio codes
    (never more than the stack's own bound); yields the bound in force."""
    gpt = model.gpt
    own = gpt.max_gen_mel_tokens
    gpt.max_gen_mel_tokens = min(own, codes)
    try:
        yield gpt.max_gen_mel_tokens
    finally:
        gpt.max_gen_mel_tokens = own


def synthesize(model, text: str, latent, embedding, seed: int = SEED, **overrides: Any
               ) -> Synthesis:
    """Run ``model.inference`` once with probes on codes, first logits and prefix."""
    import torch

    gpt, record = model.gpt, {}
    real_generate = gpt.generate

    def generate(*args, **kwargs):
        codes = real_generate(*args, **kwargs)
        record["codes"] = codes[0].tolist()
        return codes

    def before(module, args, kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        if "first_call_tokens" not in record and ids is not None:
            record["first_call_tokens"] = int(ids.shape[-1])
            prefix = getattr(module, "cached_prefix_emb", None)
            if prefix is None:
                prefix = getattr(module, "cached_mel_emb", None)
            record["prefix_tokens"] = int(prefix.shape[1]) + 1 if prefix is not None else None

    def after(module, args, kwargs, output):
        if "first_logits" not in record:
            logits = output.logits if hasattr(output, "logits") else output[0]
            record["first_logits"] = logits[0, -1].detach().clone().float().cpu().numpy()

    hooks = [gpt.gpt_inference.register_forward_pre_hook(before, with_kwargs=True),
             gpt.gpt_inference.register_forward_hook(after, with_kwargs=True)]
    gpt.generate = generate
    try:
        torch.manual_seed(seed)
        started = time.perf_counter()
        with torch.inference_mode(), capped_codes(model):
            out = model.inference(text, LANGUAGE, latent, embedding, **{**decoding(), **overrides})
        seconds = time.perf_counter() - started
    finally:
        for hook in hooks:
            hook.remove()
        del gpt.generate
    wav = out["wav"]
    wav = wav.detach().cpu().numpy() if hasattr(wav, "detach") else np.asarray(wav)
    return Synthesis(wav=wav, seconds=seconds, codes=record.get("codes", []),
                     first_logits=record.get("first_logits"),
                     first_call_tokens=record.get("first_call_tokens"),
                     prefix_tokens=record.get("prefix_tokens"))


@contextlib.contextmanager
def watch_stream_codes(model) -> Iterator[list[int] | None]:
    """Record the audio codes ``inference_stream`` draws from the GPT's token generator
    (``gpt.get_generator``) while the block runs; None when this TTS has no such
    generator to watch."""
    gpt = model.gpt
    real = getattr(gpt, "get_generator", None)
    if real is None:
        yield None
        return
    seen: list[int] = []

    def get_generator(*args, **kwargs):
        for item in real(*args, **kwargs):
            token = item[0] if isinstance(item, tuple) else item
            seen.append(int(token.reshape(-1)[0]))
            yield item

    gpt.get_generator = get_generator
    try:
        yield seen
    finally:
        del gpt.get_generator


def audio_codes(codes: list[int], stop: int) -> list[int]:
    """The codes up to the stop token (generate pads after it; the stream stops at it)."""
    return codes[:codes.index(stop)] if stop in codes else list(codes)


def audio_problems(wav: np.ndarray, max_codes: int, text: str) -> list[str]:
    """Everything wrong with a synthesised waveform; empty when it is sound."""
    problems = []
    if wav.ndim != 1:
        problems.append(f"expected 1-D audio, got shape {wav.shape}")
    if not np.issubdtype(wav.dtype, np.floating):
        problems.append(f"expected float samples, got {wav.dtype}")
    if not np.isfinite(wav).all():
        problems.append(f"{int((~np.isfinite(wav)).sum())} non-finite samples")
    rms = float(np.sqrt(np.mean(np.square(wav, dtype=np.float64)))) if wav.size else 0.0
    if rms <= RMS_FLOOR:
        problems.append(f"silent: RMS {rms:.2e} <= {RMS_FLOOR}")
    # Bounds: at least a tenth of a second; at most the GPT's token cap (1024 samples
    # of 22.05 kHz a code) plus a second, or 0.5 s a character for a real model.
    longest = max((max_codes + 1) * 1024 / 22050 + 1.0, 0.5 * len(text))
    seconds = wav.size / SAMPLE_RATE
    if not 0.1 <= seconds <= longest:
        problems.append(f"length {seconds:.2f} s outside [0.1, {longest:.1f}] s")
    return problems


# -- golden ---------------------------------------------------------------------------------

def write_golden(folder: Path, synth: Synthesis, meta: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "waveform.npy", synth.wav.astype(np.float32))
    data = {**meta, "text": TEXT, "language": LANGUAGE, "seed": SEED, "decoding": DECODING,
            "codes": synth.codes, "first_call_tokens": synth.first_call_tokens,
            "first_logits": [float(x) for x in (synth.first_logits
                                                 if synth.first_logits is not None else [])]}
    (folder / "golden.json").write_text(json.dumps(data, indent=1) + "\n")


def read_golden(folder: Path) -> tuple[dict[str, Any], np.ndarray]:
    data = json.loads((folder / "golden.json").read_text())
    return data, np.load(folder / "waveform.npy")


def agreement(synth: Synthesis, golden: dict[str, Any], golden_wav: np.ndarray
              ) -> dict[str, Any]:
    """How closely a synthesis matches the golden: codes, first logits, waveform."""
    codes, want = synth.codes, golden["codes"]
    same = sum(a == b for a, b in zip(codes, want))
    result: dict[str, Any] = {
        "codes_equal": codes == want,
        "codes_agree_share": round(same / max(len(codes), len(want), 1), 4),
        "codes_len": len(codes), "golden_codes_len": len(want),
    }
    if synth.first_logits is not None:
        diff = np.abs(synth.first_logits - np.asarray(golden["first_logits"], dtype=np.float32))
        result["first_logits_max_abs_diff"] = float(diff.max())
    if synth.wav.shape == golden_wav.shape:
        err = float(np.linalg.norm(synth.wav - golden_wav)) / max(
            float(np.linalg.norm(golden_wav)), 1e-12)
        result["waveform_rel_error"] = float(err)
        result["waveform_max_abs_diff"] = float(np.abs(synth.wav - golden_wav).max())
        result["waveform_correlation"] = float(np.corrcoef(synth.wav, golden_wav)[0, 1])
    else:
        result["waveform_rel_error"] = None
        result["waveform_lengths"] = [int(synth.wav.size), int(golden_wav.size)]
    return result


def divergence(agree: dict[str, Any], device: str = "cpu") -> str | None:
    """Why an agreement is beyond tolerance, or None when it is within."""
    logit_tol, wave_tol = ((LOGIT_TOL, WAVE_TOL) if device == "cpu"
                           else (ACCEL_LOGIT_TOL, ACCEL_WAVE_TOL))
    reasons = []
    if not agree["codes_equal"]:
        reasons.append(f"audio codes differ ({agree['codes_agree_share']:.0%} agree, "
                       f"{agree['codes_len']} vs {agree['golden_codes_len']} codes)")
    logit = agree.get("first_logits_max_abs_diff")
    if logit is not None and logit > logit_tol:
        reasons.append(f"first-step logits differ by {logit:.3g} (tolerance {logit_tol})")
    wave = agree.get("waveform_rel_error")
    if wave is None:
        reasons.append(f"waveform length differs: {agree.get('waveform_lengths')}")
    elif wave > wave_tol:
        reasons.append(f"waveform relative error {wave:.3g} (tolerance {wave_tol})")
    return "; ".join(reasons) or None
