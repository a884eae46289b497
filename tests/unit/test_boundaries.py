"""One boundary, stated twice, must agree: each shim's ``applies()`` (code, read inside a
cell from installed versions) and its knowledge-base entries' ``affects`` (data, read by
``doctor`` and the report) are compared over a grid of the versions users combine."""

from __future__ import annotations

import dataclasses
import itertools

import pytest

import patches
from compat.result import diagnosis
from patches import _versions, torchaudio_io

TTS_LINES = [("TTS", v) for v in ("0.21.3", "0.22.0")] + [
    ("coqui-tts", v) for v in ("0.22.1", "0.24.2", "0.24.3", "0.26.2", "0.27.0", "0.27.5",
                               "0.28.0")]
TORCH = ("2.1.2", "2.4.1", "2.5.1", "2.6.0", "2.8.0", "2.9.1")
TRANSFORMERS = ("4.35.2", "4.40.2", "4.41.0", "4.46.2", "4.48.3", "4.49.0", "4.50.0",
                "4.51.3", "4.52.1", "4.56.2", "4.57.1", "4.57.3", "5.0.0", "5.23.0", "5.24.0")
TORCHCODEC = (None, "0.8.1")


def grid():
    for (dist, tts), torch, tf, codec in itertools.product(TTS_LINES, TORCH, TRANSFORMERS,
                                                           TORCHCODEC):
        yield {dist: tts, "torch": torch, "torchaudio": torch, "transformers": tf,
               "torchcodec": codec, "python": "3.11.7"}


def kb_says(shim: str, versions: dict) -> bool:
    return any(e.affected(versions) for e in diagnosis.load() if e.shim == shim and e.affects)


def shim_says(shim: str, versions: dict, monkeypatch) -> bool:
    monkeypatch.setattr(_versions, "version", lambda d: _versions.Version(versions[d])
                        if versions.get(d) else None)
    # torchcodec present is taken as usable here (FFmpeg is the host's, see compat.env.host)
    monkeypatch.setattr(torchaudio_io, "codec_usable", lambda: bool(versions["torchcodec"]))
    return bool(patches.SHIMS[shim].applies())


SHIMS_WITH_BOUNDARIES = sorted({e.shim for e in diagnosis.load() if e.shim and e.affects})


def test_every_shim_has_a_stated_boundary():
    assert set(SHIMS_WITH_BOUNDARIES) == set(patches.SHIMS)


@pytest.mark.parametrize("shim", SHIMS_WITH_BOUNDARIES)
def test_applies_and_affects_agree_over_the_grid(shim, monkeypatch):
    disagree = []
    for versions in grid():
        code, data = shim_says(shim, versions, monkeypatch), kb_says(shim, versions)
        if code != data:
            shown = {k: v for k, v in versions.items() if v and k != "python"}
            disagree.append(f"applies()={code} affects={data}: {shown}")
    assert not disagree, f"{len(disagree)} disagreements, e.g. " + "; ".join(disagree[:3])


def test_the_comparison_can_fail(monkeypatch):
    """A boundary moved in code only (generation_mixin from 4.50) is caught."""
    moved = dataclasses.replace(
        patches.SHIMS["generation_mixin"],
        applies=lambda: bool(_versions.legacy_tts()) and
        _versions.version("transformers") >= _versions.Version("4.50"))
    monkeypatch.setitem(patches.SHIMS, "generation_mixin", moved)
    versions = next(v for v in grid() if v.get("TTS") == "0.22.0" and
                    v["transformers"] == "4.50.0")
    assert shim_says("generation_mixin", versions, monkeypatch) is True
    assert kb_says("generation_mixin", versions) is False
