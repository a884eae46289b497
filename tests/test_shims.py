"""Shims: declared metadata, selection from versions, and (in real cells) that the
streaming sampler yields the original's tokens on the release-era stack."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

import patches
from conftest import RELEASE_ERA, REPO, load


@pytest.mark.parametrize("name", sorted(patches.SHIMS))
def test_every_shim_declares_what_it_fixes(name):
    shim = patches.SHIMS[name]
    module = __import__(f"patches.{name}", fromlist=["SHIM"])
    assert module.__doc__ and "Boundary" in module.__doc__ and "Reference" in module.__doc__
    assert shim.error and shim.boundary and shim.reference.startswith("https://")
    assert shim.tiers and re.compile(shim.signature)


@pytest.mark.parametrize(("exc_type", "message", "shim"), [
    ("ImportError", "cannot import name 'BeamSearchScorer' from 'transformers' (/x.py)",
     "beam_search"),
    ("UnpicklingError", "Weights only load failed. ... WeightsUnpickler error: Unsupported "
     "global: GLOBAL TTS.tts.configs.xtts_config.XttsConfig was not an allowed global",
     "weights_only"),
    ("AttributeError", "'GPT2InferenceModel' object has no attribute 'generate'",
     "generation_mixin"),
    ("AttributeError", "'int' object has no attribute 'device'", "stream_sampler"),
    ("TypeError", "isin() received an invalid combination of arguments - got "
     "(test_elements=int, elements=Tensor, )", "stream_sampler"),
    ("AttributeError", "'NoneType' object has no attribute 'get_seq_length'", "cache_kwarg"),
    ("ImportError", "cannot import name 'LogitsWarper' from 'transformers' (/x.py)",
     "logits_warper"),
    ("ImportError", "TorchCodec is required for load_with_torchcodec. Please install "
     "torchcodec to use this function.", "torchaudio_io"),
    (None, "the first forward call saw 1 token, not the conditioning prefix of 57",
     "dropped_prefix"),
])
def test_verbatim_errors_map_to_their_shim(exc_type, message, shim):
    assert shim in patches.addressing(exc_type or "", message)


def test_unrelated_errors_map_to_no_shim():
    assert patches.addressing("ValueError", "the second tier broke") == []


def test_nothing_applies_without_tts():
    """The suite's own environment has no TTS: no shim selects itself."""
    assert patches.selected() == []
    with pytest.raises(KeyError):
        patches.apply(["no_such_shim"])


@pytest.mark.e2e
@pytest.mark.timeout(900)
def test_stream_sampler_yields_the_original_tokens(smoke_run):
    python = load(smoke_run[1], RELEASE_ERA)["probe"]["executable"]
    from fixtures import store

    model = store.hand_out(store.cached_fixture(), smoke_run[1] / "stream-model")
    runs = {}
    for mode in ("original", "shim"):
        out = subprocess.run([python, str(REPO / "tests" / "stream_probe.py"), mode, str(model)],
                             capture_output=True, text=True, timeout=600,
                             env={**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"})
        assert out.returncode == 0, out.stderr[-3000:]
        runs[mode] = json.loads(out.stdout.strip().splitlines()[-1])
    for setting in ("sampled", "greedy"):
        assert runs["shim"][setting]["tokens"] == runs["original"][setting]["tokens"]
        assert runs["shim"][setting]["abs_sum"] == pytest.approx(
            runs["original"][setting]["abs_sum"], rel=1e-6)
        assert runs["shim"][setting]["chunks"] > 1
