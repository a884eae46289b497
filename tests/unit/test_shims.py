"""Shims: declared metadata, selection from versions, and (in real cells) that the
streaming sampler yields the original's tokens on the release-era stack."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

import patches
from compat.result import diagnosis
from conftest import RELEASE_ERA, REPO, load


@pytest.mark.parametrize("name", sorted(patches.SHIMS))
def test_every_shim_is_documented_and_in_the_knowledge_base(name):
    shim = patches.SHIMS[name]
    module = __import__(f"patches.{name}", fromlist=["SHIM"])
    assert module.__doc__ and "Boundary" in module.__doc__ and "Reference" in module.__doc__
    assert shim.tiers
    entries = [e for e in diagnosis.load() if e.shim == name]
    assert entries and all(e.reference.startswith("https://") for e in entries)


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
        probe = REPO / "tests" / "support" / "stream_probe.py"
        out = subprocess.run([python, str(probe), mode, str(model)],
                             capture_output=True, text=True, timeout=600,
                             env={**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"})
        assert out.returncode == 0, out.stderr[-3000:]
        runs[mode] = json.loads(out.stdout.strip().splitlines()[-1])
    for setting in ("sampled", "greedy"):
        assert runs["shim"][setting]["tokens"] == runs["original"][setting]["tokens"]
        assert runs["shim"][setting]["abs_sum"] == pytest.approx(
            runs["original"][setting]["abs_sum"], rel=1e-6)
        assert runs["shim"][setting]["chunks"] > 1
