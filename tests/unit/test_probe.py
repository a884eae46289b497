"""The in-cell probe's device answer (compat.incell.probe): torch is asked only where a
driver says it could see more than the CPU."""

from __future__ import annotations

import sys

from compat.incell import probe


def test_no_accelerator_driver_means_cpu_without_importing_torch(monkeypatch, tmp_path):
    """Shown to fail: with the driver check removed, the blocked torch import below is
    reached and recorded as ``torch_error``."""
    monkeypatch.setattr(probe, "ACCELERATOR_SIGNS", (str(tmp_path / "nvidiactl"),))
    monkeypatch.setattr(probe.sys, "platform", "linux")
    monkeypatch.setitem(sys.modules, "torch", None)  # any import of torch raises
    found = probe.devices()
    assert found["devices"] == ["cpu"] and found["torch_imported"] is False
    assert "torch_error" not in found and str(tmp_path / "nvidiactl") in found["why"]


def test_a_driver_on_the_machine_asks_torch(monkeypatch, tmp_path):
    sign = tmp_path / "nvidiactl"
    sign.touch()
    monkeypatch.setattr(probe, "ACCELERATOR_SIGNS", (str(tmp_path / "kfd"), str(sign)))
    monkeypatch.setattr(probe.sys, "platform", "linux")
    monkeypatch.setitem(sys.modules, "torch", None)
    assert probe.accelerator_possible() == str(sign)
    found = probe.devices()  # torch was asked: its (here blocked) import is recorded
    assert found["devices"] == ["cpu"] and "import of torch halted" in found["torch_error"]


def test_apple_silicon_is_a_sign_of_an_accelerator(monkeypatch):
    monkeypatch.setattr(probe, "ACCELERATOR_SIGNS", ())
    monkeypatch.setattr(probe.sys, "platform", "darwin")
    monkeypatch.setattr(probe.platform, "machine", lambda: "arm64")
    assert probe.accelerator_possible() == "Apple silicon (MPS)"


def test_the_probe_run_by_path_answers_as_this_machine_is():
    """The harness side, in a real interpreter: this machine's answer, whichever it is."""
    seen = probe.read(sys.executable, ["pytest"], with_devices=True)
    assert "cpu" in seen["devices"] and seen["versions"]["pytest"]
    assert seen["torch_imported"] is (probe.accelerator_possible() is not None)
