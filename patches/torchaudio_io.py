"""torchaudio 2.9 moved ``torchaudio.load`` onto TorchCodec, which needs the
``torchcodec`` package and FFmpeg's shared libraries; ``TTS`` 0.22.0 loads the reference
audio (and, through the same function, the fine-tune clips) with ``torchaudio.load``.

Error::

    ImportError: TorchCodec is required for load_with_torchcodec. Please install
    torchcodec to use this function.

(with torchcodec installed but no FFmpeg: ``RuntimeError: Could not load libtorchcodec``).

Boundary: torchaudio >= 2.9.0. coqui-tts 0.27 and later declare a ``codec`` extra.
Measured here: TTS 0.22.0 with torch/torchaudio 2.9.1 fails in ``get_conditioning_latents``;
coqui-tts 0.28.0 with torchcodec 0.8.1 fails the same way until Debian's ffmpeg is
installed.

The fix replaces ``TTS.tts.models.xtts.load_audio`` (used by inference and by the
fine-tune dataset) with the same function reading through soundfile: mono, resampled
with ``torchaudio.functional.resample`` (no codec needed), clipped to [-1, 1].

Reference: https://github.com/pytorch/audio/pull/3974 (``load_with_torchcodec``)
"""

from __future__ import annotations

import ctypes.util
import importlib.util

from packaging.version import Version

from . import _hooks, _versions
from ._shim import Shim

TARGET = "TTS.tts.models.xtts"


def codec_usable() -> bool:
    """torchcodec installed and FFmpeg's libraries findable (without importing either)."""
    return (importlib.util.find_spec("torchcodec") is not None
            and ctypes.util.find_library("avutil") is not None)


def applies() -> bool:
    torchaudio = _versions.version("torchaudio")
    return bool(torchaudio and torchaudio >= Version("2.9") and not codec_usable()
                and (_versions.legacy_tts() or (_versions.fork() or Version("0")) <
                     Version("0.27")))


def load_audio(audiopath, sampling_rate):
    """TTS 0.22.0's load_audio, reading with soundfile instead of torchaudio.load."""
    import soundfile
    import torch
    import torchaudio

    data, rate = soundfile.read(str(audiopath), dtype="float32", always_2d=True)
    audio = torch.from_numpy(data.T.copy())
    if audio.size(0) != 1:
        audio = torch.mean(audio, dim=0, keepdim=True)
    if rate != sampling_rate:
        audio = torchaudio.functional.resample(audio, rate, sampling_rate)
    return audio.clip_(-1, 1)


def _replace(module) -> None:
    module.load_audio = load_audio


MEND = _hooks.Mend(TARGET, _replace)


SHIM = Shim(
    name="torchaudio_io",
    tiers=("synth", "stream", "finetune", "bench"),
    applies=applies, apply=MEND.apply, active=MEND.active,
)
