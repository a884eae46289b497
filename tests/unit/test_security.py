"""No shim lets a malicious checkpoint run.

A corpus of exactly seven payloads (os.system, subprocess.Popen with a child that writes a
second later, builtins.eval, builtins.exec, shutil.copyfile, a TTS function that writes a
file and is not on the allowlist, and a payload nested inside an allowlisted XttsConfig)
is loaded with every shim applied through every route a checkpoint takes into TTS 0.22.0:
plain ``torch.load``, ``model.pth`` and ``speakers_xtts.pth`` through
``Xtts.load_checkpoint``, and a coqui ``trainer`` checkpoint through
``Trainer.restore_model`` (``--restore_path``/``--continue_path``). Each of the 28
attempts must be refused by torch's weights-only unpickler (``UnpicklingError``, naming
the payload's global) and leave its canary unwritten.

Where: the smoke matrix's torch 2.6.0 cell (the boundary: the first torch that refuses
by default) and torch 2.9.1 cell (the broken seed stack), both real TTS 0.22.0; and the
newest torch on PyPI, in an environment of its own with torch alone (no TTS release
resolves with it: TTS needs torchaudio, which lags torch). There the four modules whose
classes the ``weights_only`` shim allowlists are stand-ins at the exact module paths, so
the shim registers its allowlist with that torch through the same import hooks; only the
``torch.load`` route exists (TTS's own load paths call that same ``torch.load``, but are
not run there). That environment costs one newest-torch install (a 3-5 GB CUDA build from
PyPI the first time, hard links from uv's cache after): marked e2e, with its own timeout.

The blunt workarounds users post (``torch.load`` patched to pass ``weights_only=False``,
or ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1``) are shown, in a subprocess, to run every
payload of the corpus: the corpus is live, so its refusals mean something.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from packaging.version import Version

from conftest import REPO, SEED_BROKEN, TORCH26, load

PROBE = REPO / "tests" / "support" / "security_probe.py"
BANNED = re.compile(r"weights_only\s*=\s*False|TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD")
#: The corpus, exactly, and how torch's refusal names each payload's global (torch
#: writes the pickle's protocol-2 names: ``commands.Popen``, ``eval``).
PAYLOADS = {
    "os_system": r"GLOBAL posix\.system\b",
    "subprocess_popen": r"GLOBAL (subprocess|commands)\.Popen\b",
    "builtins_eval": r"GLOBAL (builtins\.|__builtin__\.)?eval\b",
    "builtins_exec": r"GLOBAL (builtins\.|__builtin__\.)?exec\b",
    "shutil_copy": r"GLOBAL shutil\.copyfile\b",
    "tts_global": r"GLOBAL TTS\.tts\.utils\.managers\.save_file\b",
    "nested_in_config": r"GLOBAL posix\.system\b",
}
ROUTES = ["torch_load", "xtts_model", "xtts_speakers", "trainer_restore"]
CELLS = {"2.6.0": TORCH26, "2.9.1": SEED_BROKEN}
NEWEST_TORCH_INSTALL_TIMEOUT = 1500


def test_no_shim_turns_the_weights_only_check_off():
    hits = [f"{p}:{n}" for p in (REPO / "patches").rglob("*.py")
            for n, line in enumerate(p.read_text().splitlines(), 1) if BANNED.search(line)]
    assert hits == []


def test_the_probe_and_this_test_name_the_same_corpus():
    import security_probe

    assert list(security_probe.PAYLOADS) == list(PAYLOADS)
    assert list(security_probe.ROUTES) == ROUTES


def probe(python: str, work, *args: str, env: dict | None = None) -> dict:
    from fixtures import store

    fixture = "-" if "--stand-in" in args else str(store.cached_fixture())
    # torch's own switches come only from ``env``, never from the caller's shell
    base = {k: v for k, v in os.environ.items() if not k.startswith("TORCH_FORCE_")}
    out = subprocess.run([python, str(PROBE), str(work), fixture, *args],
                         capture_output=True, text=True, timeout=600, cwd=work.parent,
                         env={**base, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1",
                              **(env or {})})
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def assert_every_payload_refused(report: dict, routes: list[str]) -> None:
    assert report["applied"] == list(__import__("patches").SHIMS)  # every shim applied
    assert report["active"]["weights_only"] is True  # the allowlist is registered
    bare = report["control_bare"]  # before the shims, torch refuses the release format...
    assert bare["unpickling_error"] and "XttsConfig" in bare["error"], bare
    for route, result in report["control"].items():  # ...and with them, it loads
        assert result == {"refused": False}, (route, result)
    assert report["routes"] == routes
    assert list(report["payloads"]) == list(PAYLOADS)  # exactly the corpus, no more
    refused = []
    for name, entry in report["payloads"].items():
        assert list(entry) == routes, name
        for route, result in entry.items():
            where = f"{name} via {route}"
            assert result["canary"] is False, f"{where} ran its payload"
            assert "children_left" not in result, where
            assert result["refused"] and result["exc_type"] == "UnpicklingError", \
                (where, result)
            assert result["unpickling_error"] and result["weights_only_refusal"], \
                (where, result)
            assert re.search(PAYLOADS[name], result["error"]), (where, result["error"])
            refused.append((name, route))
    assert len(refused) == len(set(refused)) == 7 * len(routes)


def assert_every_payload_ran(report: dict) -> None:
    assert list(report["payloads"]) == list(PAYLOADS)
    ran = [name for name, entry in report["payloads"].items()
           if entry == {"refused": False, "canary": True}]
    assert ran == list(PAYLOADS), report["payloads"]


def good_report(routes: list[str]) -> dict:
    """What the probe reports when every payload is refused as it should be."""
    names = {"os_system": "posix.system", "subprocess_popen": "commands.Popen",
             "builtins_eval": "eval", "builtins_exec": "exec",
             "shutil_copy": "shutil.copyfile", "tts_global": "TTS.tts.utils.managers.save_file",
             "nested_in_config": "posix.system"}
    refusal = {"refused": True, "exc_type": "UnpicklingError", "unpickling_error": True,
               "weights_only_refusal": True, "canary": False}
    return {
        "applied": list(__import__("patches").SHIMS), "active": {"weights_only": True},
        "routes": routes, "control": {r: {"refused": False} for r in routes},
        "control_bare": {**refusal, "error": "GLOBAL TTS.tts.configs.xtts_config.XttsConfig"},
        "payloads": {n: {r: {**refusal, "error": f"GLOBAL {g} was not an allowed global"}
                         for r in routes} for n, g in names.items()},
    }


def _loose(report: dict, how: str) -> None:
    payloads = report["payloads"]
    if how == "other-exception":  # e.g. a missing file: not the weights-only refusal
        payloads["tts_global"]["xtts_speakers"].update(
            exc_type="FileNotFoundError", unpickling_error=False, weights_only_refusal=False)
    elif how == "payload-missing":
        del payloads["shutil_copy"]
    elif how == "payload-extra":
        payloads["pickle_loads"] = payloads["os_system"]
    elif how == "route-missing":
        del payloads["builtins_exec"]["trainer_restore"]
    elif how == "canary-written":
        payloads["subprocess_popen"]["torch_load"]["canary"] = True
    elif how == "other-global":
        payloads["shutil_copy"]["xtts_model"]["error"] = "GLOBAL posix.system"
    elif how == "child-running":
        payloads["subprocess_popen"]["xtts_model"]["children_left"] = [4242]
    elif how == "control-refused":
        report["control"]["trainer_restore"] = {"refused": True}


@pytest.mark.parametrize("how", ["other-exception", "payload-missing", "payload-extra",
                                 "route-missing", "canary-written", "other-global",
                                 "child-running", "control-refused"])
def test_the_check_counts_exactly_and_takes_only_the_weights_only_refusal(how):
    assert_every_payload_refused(good_report(ROUTES), ROUTES)
    report = good_report(ROUTES)
    _loose(report, how)
    with pytest.raises(AssertionError):
        assert_every_payload_refused(report, ROUTES)


# -- the smoke matrix's cells: real TTS 0.22.0 -------------------------------------------

@pytest.fixture(scope="module", params=list(CELLS))
def cell_python(smoke_run, request):
    result = load(smoke_run[1], CELLS[request.param])
    assert result["tiers"]["install"]["status"] == "pass", result["tiers"]["install"]
    return request.param, result["probe"]["executable"]


@pytest.mark.e2e
@pytest.mark.timeout(3000)  # the smoke run, if this test is the first to need it, + 5 min
def test_every_payload_is_refused_with_every_shim_applied(cell_python, tmp_path):
    torch, python = cell_python
    report = probe(python, tmp_path / "work")
    assert report["torch"].split("+")[0] == torch
    assert report["tts"].startswith("TTS 0.22.0, trainer ")
    assert_every_payload_refused(report, ROUTES)


@pytest.mark.e2e
@pytest.mark.timeout(3000)
@pytest.mark.parametrize("how", ["torch-load", "env"])
def test_blunt_workarounds_run_every_payload(cell_python, tmp_path, how):
    env = {"TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"} if how == "env" else {}
    report = probe(cell_python[1], tmp_path / "work", "--blunt", how, env=env)
    assert_every_payload_ran(report)


# -- the newest torch: torch alone, stand-in TTS modules ---------------------------------

@pytest.fixture(scope="module")
def newest_torch(tmp_path_factory):
    """A venv with the newest torch uv resolves from PyPI (and packaging, which the shims
    import, as every TTS environment has it)."""
    from compat.env.install import uv_executable

    uv = uv_executable()
    assert uv, "uv is not installed"
    venv = tmp_path_factory.mktemp("newest-torch") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    python = str(venv / "bin" / "python")
    out = subprocess.run([uv, "pip", "install", "--python", python, "torch", "packaging"],
                         capture_output=True, text=True, timeout=NEWEST_TORCH_INSTALL_TIMEOUT,
                         env={**os.environ, "UV_PYTHON_DOWNLOADS": "never", "NO_COLOR": "1"})
    assert out.returncode == 0, out.stderr[-3000:]
    return python


@pytest.mark.e2e
@pytest.mark.timeout(NEWEST_TORCH_INSTALL_TIMEOUT + 300)
def test_every_payload_is_refused_on_the_newest_torch(newest_torch, tmp_path,
                                                      record_property):
    report = probe(newest_torch, tmp_path / "work", "--stand-in")
    record_property("newest_torch", report["torch"])
    print(f"newest torch: {report['torch']}")
    assert Version(report["torch"].split("+")[0]) > max(map(Version, CELLS))
    assert report["tts"] == "stand-in"
    assert_every_payload_refused(report, ["torch_load"])


@pytest.mark.e2e
@pytest.mark.timeout(NEWEST_TORCH_INSTALL_TIMEOUT + 300)
@pytest.mark.parametrize("how", ["torch-load", "env"])
def test_blunt_workarounds_run_every_payload_on_the_newest_torch(newest_torch, tmp_path,
                                                                 how):
    env = {"TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"} if how == "env" else {}
    report = probe(newest_torch, tmp_path / "work", "--blunt", how, "--stand-in", env=env)
    assert_every_payload_ran(report)
