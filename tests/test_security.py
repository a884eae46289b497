"""No shim lets a malicious checkpoint run. A corpus of seven payloads (os.system,
subprocess.Popen, builtins.eval, builtins.exec, shutil.copyfile, a TTS function not on
the allowlist, and a payload nested inside an allowlisted XttsConfig) is loaded with
every shim applied, through torch.load and through Xtts.load_checkpoint, in the broken
seed stack's environment (torch 2.9.1). The blunt workarounds users post are shown, in a
subprocess, to run the payload."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

from conftest import REPO, SEED_BROKEN, load

PROBE = REPO / "tests" / "security_probe.py"
BANNED = re.compile(r"weights_only\s*=\s*False|TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD")


def test_no_shim_turns_the_weights_only_check_off():
    hits = [f"{p}:{n}" for p in (REPO / "patches").rglob("*.py")
            for n, line in enumerate(p.read_text().splitlines(), 1) if BANNED.search(line)]
    assert hits == []


def probe(python: str, work, *args: str, env: dict | None = None) -> dict:
    from fixtures import store

    out = subprocess.run([python, str(PROBE), str(work), str(store.cached_fixture()), *args],
                         capture_output=True, text=True, timeout=600, cwd=work.parent,
                         env={**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1",
                              **(env or {})})
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def broken_python(smoke_run):
    return load(smoke_run[1], SEED_BROKEN)["probe"]["executable"]


@pytest.mark.e2e
@pytest.mark.timeout(900)
def test_every_payload_is_refused_with_every_shim_applied(broken_python, tmp_path):
    report = probe(broken_python, tmp_path / "work")
    assert report["torch"].startswith("2.9")
    assert report["applied"] == list(__import__("patches").SHIMS)  # every shim applied
    assert report["active"]["weights_only"] is True  # the allowlist is registered
    assert report["control"] == {"refused": False}  # the real release-format file loads
    assert len(report["payloads"]) >= 6
    for name, entry in report["payloads"].items():
        assert entry["torch_load"]["refused"], name
        assert entry["xtts_load"]["refused"], name
        assert entry["torch_load"]["exc_type"] == "UnpicklingError", (name, entry)
        assert entry["canary"] is False, f"{name} ran its payload"
    assert "posix.system" in report["payloads"]["nested_in_config"]["torch_load"]["error"]


@pytest.mark.e2e
@pytest.mark.parametrize("how", ["torch-load", "env"])
def test_blunt_workarounds_run_the_payload(broken_python, tmp_path, how):
    env = {"TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"} if how == "env" else {}
    report = probe(broken_python, tmp_path / "work", "--blunt", how, env=env)
    assert report["canary"] is True, "the blunt workaround should have run the payload"
