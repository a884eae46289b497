"""The ``.pth`` hook ``python -m patches install`` writes: it never breaks interpreter
start-up, and ``status`` tells an active hook from an inert one.

Real environments, made here with ``python -m venv --without-pip`` (no network, well
under a second each): one without ``packaging`` (the shims cannot load there), one with
it copied in."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import packaging
import pytest

from conftest import REPO


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without what would let the venv see this interpreter's packages."""
    drop = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "COMPAT_PATCHES_VERBOSE")
    return {**{k: v for k, v in os.environ.items() if k not in drop}, **extra}


def patches_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "patches", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120, env=clean_env())


def make_venv(path: Path, with_packaging: bool) -> str:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True,
                   capture_output=True, timeout=120, env=clean_env())
    python = str(path / "bin" / "python")
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()"
                           "['purelib'])"], capture_output=True, text=True, check=True,
                          env=clean_env()).stdout.strip()
    if with_packaging:
        shutil.copytree(Path(packaging.__file__).parent, Path(site) / "packaging")
    return python


def start(python: str, **env: str) -> subprocess.CompletedProcess[str]:
    """An interpreter start-up and nothing else."""
    return subprocess.run([python, "-c", "pass"], capture_output=True, text=True, timeout=60,
                          env=clean_env(**env))


@pytest.fixture
def bare_venv(tmp_path):
    python = make_venv(tmp_path / "bare", with_packaging=False)
    probe = subprocess.run([python, "-c", "import packaging"], capture_output=True,
                           env=clean_env())
    assert probe.returncode != 0, "the venv should not see packaging"
    return python


def test_hook_without_packaging_is_silent_and_status_says_inert(bare_venv):
    assert start(bare_venv).stderr == ""
    out = patches_cli("install", "--python", bare_venv)
    assert out.returncode == 0, out.stderr
    assert "inert" in out.stdout and "'packaging'" in out.stdout  # said at install time too

    started = start(bare_venv)
    assert started.returncode == 0
    assert started.stderr == ""  # was: "Error processing line 1 of ...pth" and a traceback

    out = patches_cli("status", "--python", bare_venv)
    assert out.returncode == 0, out.stderr
    state = json.loads(out.stdout)
    assert state["installed"] is True and state["state"] == "inert"
    assert state["loaded"] is False and state["applied"] == []
    assert "No module named 'packaging'" in state["reason"]

    patches_cli("remove", "--python", bare_venv)
    state = json.loads(patches_cli("status", "--python", bare_venv).stdout)
    assert (state["installed"], state["state"]) == (False, "not installed")


def test_hook_says_one_line_only_when_asked(bare_venv):
    patches_cli("install", "--python", bare_venv)
    loud = start(bare_venv, COMPAT_PATCHES_VERBOSE="1")
    assert loud.returncode == 0
    assert loud.stderr.count("\n") == 1, loud.stderr
    assert loud.stderr.startswith("xtts-compat shims inert: ModuleNotFoundError: No module "
                                  "named 'packaging'")


def test_hook_survives_a_half_removed_install(bare_venv):
    """The .pth left behind without its package: start-up still silent, status says why."""
    patches_cli("install", "--python", bare_venv)
    site = Path(json.loads(patches_cli("status", "--python", bare_venv).stdout)["pth"]).parent
    shutil.rmtree(site / "xtts_compat_patches")
    assert start(bare_venv).stderr == ""
    state = json.loads(patches_cli("status", "--python", bare_venv).stdout)
    assert state["state"] == "inert" and "xtts_compat_patches" in state["reason"]


def test_hook_with_packaging_is_active(tmp_path):
    python = make_venv(tmp_path / "ok", with_packaging=True)
    out = patches_cli("install", "--python", python)
    assert out.returncode == 0 and "inert" not in out.stdout, out.stdout + out.stderr
    assert start(python).stderr == ""
    state = json.loads(patches_cli("status", "--python", python).stdout)
    assert (state["installed"], state["loaded"], state["state"]) == (True, True, "active")
    assert state["reason"] is None
    assert state["selected"] == [] == state["applied"]  # no torch, no TTS: nothing applies

    # A shim that raises while applying: start-up still silent, status names the error.
    init = Path(state["pth"]).parent / "xtts_compat_patches" / "__init__.py"
    init.write_text(init.read_text() + "\n\ndef apply(names=None):\n"
                    "    raise RuntimeError('boom')\n")
    assert start(python).stderr == ""
    state = json.loads(patches_cli("status", "--python", python).stdout)
    assert (state["state"], state["reason"]) == ("inert", "RuntimeError: boom")


@pytest.mark.parametrize("command", ["install", "remove", "status"])
def test_a_python_that_is_no_interpreter_is_refused_and_nothing_is_touched(tmp_path, command):
    """Failed before issue 26: `--python /bin/true` printed nothing, the empty output was
    taken as the site-packages path (the current folder), `install` wrote the hook there
    and `remove` deleted a `patches` folder there."""
    work = tmp_path / "work"
    (work / "patches").mkdir(parents=True)
    (work / "patches" / "keep.txt").write_text("mine")
    before = sorted(p.relative_to(work) for p in work.rglob("*"))
    out = subprocess.run([sys.executable, "-m", "patches", command, "--python", "/bin/true"],
                         capture_output=True, text=True, cwd=work, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.returncode == 2, out.stdout + out.stderr
    assert "--python /bin/true" in out.stderr and "Traceback" not in out.stderr
    assert sorted(p.relative_to(work) for p in work.rglob("*")) == before
