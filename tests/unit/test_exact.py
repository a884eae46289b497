"""fixtures.exact: weights no CPU's float kernels can change (issue 25).

The fixtures themselves are built under every kernel set torch has here by
tests/e2e/test_host_independence.py; these tests check the arithmetic that makes that
hold by construction.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from fixtures import exact


def test_draws_are_exact_in_fp16_and_depend_only_on_seed_and_name():
    values = exact.draw(1234, "gpt.gpt.h.0.attn.c_attn.weight", (64, 192))
    assert values.dtype == np.float32
    assert np.array_equal(values.astype(np.float16).astype(np.float32), values)  # no rounding
    assert np.array_equal(values, exact.draw(1234, "gpt.gpt.h.0.attn.c_attn.weight", (64, 192)))
    assert not np.array_equal(values, exact.draw(1234, "other", (64, 192)))
    assert not np.array_equal(values, exact.draw(1235, "gpt.gpt.h.0.attn.c_attn.weight",
                                                 (64, 192)))
    # Bound 2**-e with 4**e >= fan_in (192): e = 4, values in [-1/16, 1/16).
    assert exact.scale_exponent((64, 192)) == 4
    assert values.min() >= -1 / 16 and values.max() < 1 / 16
    assert 0.02 < float(values.std()) < 0.05


def test_the_stream_is_pinned_bit_for_bit():
    """The stream is SHAKE-256, not a library's generator whose output may change between
    releases: a fixed digest of the first draws catches any change to it."""
    values = exact.draw(1234, "probe", (4, 8))
    digest = hashlib.sha256(values.tobytes()).hexdigest()[:16]
    assert digest == "19b9331986ee25fd", (
        "the integer stream changed: every fixture's bytes change with it "
        "(bump BUILDER_VERSION, remake the goldens)")


def test_unit_draws_are_exact_and_in_range():
    values = exact.draw_unit(7, "mel_stats", (80,))
    assert values.min() >= 0 and values.max() < 1
    assert np.array_equal((values * 1024).astype(np.int32) / np.float32(1024), values)


def test_computed_values_round_when_far_from_a_boundary():
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(400) / 400)  # a Hann window
    rounded = exact.round_fp16(window, "window")
    assert rounded.dtype == np.float16
    assert np.abs(rounded.astype(np.float64) - window).max() < 1e-3


@pytest.mark.parametrize("value", [1 + 2 ** -11, -(1 + 2 ** -11), 0.5 + 2 ** -12 + 1e-14,
                                   2 ** -15 + 2 ** -25])
def test_a_value_at_a_rounding_boundary_is_refused(value):
    """Corrupted input: a value another host's float64 kernels could round either way."""
    with pytest.raises(exact.NotExact, match=r"mel_scale\.fb: value .* within 1e-09"):
        exact.round_fp16(np.array([0.25, value]), "mel_scale.fb")
