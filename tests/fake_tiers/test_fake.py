"""Tier tests of a fake engine: what they do is chosen by COMPAT_FAKE_MODE."""

import ctypes
import os
import time

import pytest

MODE = os.environ.get("COMPAT_FAKE_MODE", "pass")


@pytest.mark.tier("first")
def test_first():
    assert True


@pytest.mark.tier("second")
def test_second():
    if MODE == "segfault":
        ctypes.string_at(0)
    elif MODE == "hang":
        time.sleep(3600)
    elif MODE == "oom":
        hog = []
        while True:
            hog.append(bytearray(50 * 2**20))
            time.sleep(0.01)
    elif MODE == "fail":
        raise ValueError("the second tier broke")


@pytest.mark.tier("third")
def test_third():
    if MODE == "skip":
        pytest.skip("nothing to do on this device")
