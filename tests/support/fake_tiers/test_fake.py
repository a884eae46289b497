"""Tier tests of a fake engine: what they do is chosen by COMPAT_FAKE_MODE."""

import ctypes
import os
import subprocess
import sys
import time
from pathlib import Path

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
    elif MODE == "undeclared" and not os.environ.get("VIRTUAL_ENV", "").endswith("-repaired"):
        # What a package importing a module it never declared looks like (coqui-tts, six).
        raise ModuleNotFoundError("No module named 'undeclared_dep'")
    elif MODE == "hang-tree":
        # A tree to stop: a child in the tier's process group and one in its own session
        # (out of reach of a signal to the group), then a hang.
        sleep = [sys.executable, "-c", "import time; time.sleep(3600)"]
        subprocess.Popen(sleep)
        subprocess.Popen(sleep, start_new_session=True)
        Path("spawned").write_text("2")  # in the cell's work folder: the test waits for it
        time.sleep(3600)


@pytest.mark.tier("third")
def test_third():
    if MODE == "skip":
        pytest.skip("nothing to do on this device")
    elif MODE == "slow":
        time.sleep(float(os.environ.get("COMPAT_FAKE_SLOW_S", "4")))  # a tier to measure load in
