"""The golden comparison's arithmetic (xtts_run runs inside cells; its comparison needs
only numpy). The real comparison runs in tests/test_nox_e2e.py."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from compat.engines.xtts import GOLDEN_INPUTS, golden_dir
from compat.incell import tiersupport
from conftest import REPO
from fixtures import store

sys.path.insert(0, str(REPO / "compat" / "engines" / "xtts" / "tiers"))
import xtts_run

GOLDEN_DIR = golden_dir(store.canonical_dir())


@pytest.fixture
def golden():
    return xtts_run.read_golden(GOLDEN_DIR)


def synth_like(golden, wav, *, logit_shift=0.0, codes=None):
    data, _ = golden
    logits = np.asarray(data["first_logits"], dtype=np.float32) + logit_shift
    return xtts_run.Synthesis(wav=wav, seconds=1.0, codes=codes or list(data["codes"]),
                              first_logits=logits)


def test_golden_files_are_committed_and_consistent(golden):
    data, wav = golden
    assert data["versions"]["TTS"] == "0.22.0" and data["versions"]["torch"].startswith("2.1.2")
    assert len(data["first_logits"]) == 1026 and data["codes"]
    assert wav.dtype == np.float32 and wav.ndim == 1 and np.isfinite(wav).all()


def test_identical_output_agrees(golden):
    agree = xtts_run.agreement(synth_like(golden, golden[1].copy()), *golden)
    assert agree["codes_equal"] and agree["waveform_rel_error"] == 0.0
    assert xtts_run.divergence(agree) is None


def test_measured_noise_is_within_tolerance(golden):
    """Cross-version noise measured here: logits 3e-7, waveform relative error 4e-7."""
    wav = golden[1] * (1 + 4e-7)
    agree = xtts_run.agreement(synth_like(golden, wav, logit_shift=3e-7), *golden)
    assert xtts_run.divergence(agree) is None


def test_dropped_prefix_size_shift_diverges(golden):
    """The dropped-prefix regression moved the raw first-step logits by 0.035."""
    agree = xtts_run.agreement(synth_like(golden, golden[1].copy(), logit_shift=0.035), *golden)
    assert "first-step logits differ" in xtts_run.divergence(agree)


def test_changed_codes_or_length_diverge(golden):
    data, wav = golden
    codes = list(data["codes"])
    codes[3] = (codes[3] + 1) % 1024
    agree = xtts_run.agreement(synth_like(golden, wav[:-100], codes=codes), *golden)
    why = xtts_run.divergence(agree)
    assert "audio codes differ" in why and "waveform length differs" in why


def test_accelerators_get_looser_bounds(golden):
    agree = xtts_run.agreement(synth_like(golden, golden[1] * (1 + 1e-3), logit_shift=5e-4),
                               *golden)
    assert xtts_run.divergence(agree, "cpu") is not None
    assert xtts_run.divergence(agree, "cuda:0") is None


def test_audio_problems():
    rate = xtts_run.SAMPLE_RATE
    assert xtts_run.audio_problems(np.sin(np.arange(rate) / 10).astype(np.float32), 64, "hi") == []
    assert "silent" in xtts_run.audio_problems(np.zeros(rate, np.float32), 64, "hi")[0]
    bad = np.full(rate, np.nan, np.float32)
    assert any("non-finite" in p for p in xtts_run.audio_problems(bad, 64, "hi"))
    assert any("length" in p for p in xtts_run.audio_problems(np.ones(10, np.float32), 64, "x"))
    assert any("1-D" in p for p in xtts_run.audio_problems(np.ones((2, rate), np.float32), 64, ""))


def mismatch(folder, inputs):
    """compat.incell.tiersupport.golden_mismatch, as XTTS's tiers call it."""
    return tiersupport.golden_mismatch(folder, inputs, xtts_run.GOLDEN_REMAKE)


def test_golden_is_keyed_to_every_input_of_a_synthesis(golden):
    data, _ = golden
    assert set(data["inputs"]) == set(GOLDEN_INPUTS)
    assert mismatch(GOLDEN_DIR, dict(data["inputs"])) is None


def test_other_inputs_are_unverified_naming_the_file(golden):
    data, _ = golden
    other = {**data["inputs"], "reference.wav": "0" * 64}
    why = mismatch(GOLDEN_DIR, other)
    assert why == "the golden output was made from other inputs: reference.wav (differs)"
    del other["speakers_xtts.pth"]
    assert "speakers_xtts.pth (missing)" in mismatch(GOLDEN_DIR, other)


def test_no_golden_is_unverified(tmp_path):
    assert "no golden output at" in mismatch(tmp_path, {"model.pth": "x"})
    assert "no golden output at None" in mismatch(None, {})
    assert mismatch(None, {}).endswith("make it with `nox -s golden`")
    (tmp_path / "golden.json").write_text('{"codes": []}')  # an old golden without inputs
    assert "names no inputs" in mismatch(tmp_path, {"model.pth": "x"})
