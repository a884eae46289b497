"""Fingerprints, atomic writes, result files, install commands and resolver messages."""

from __future__ import annotations

import datetime as dt
import json
import os

import pytest

from compat.cells import InstallOptions
from compat.env.install import install_command, install_key, is_ready, resolver_message
from compat.incell import atomicio
from compat.result.files import read_result, result_path, tier_status, write_result
from compat.result.fingerprint import fingerprint

BASE = dict(requirements=["TTS==0.22.0", "torch==2.1.2"], install_options={},
            python_version="3.11.7", platform_tag="linux-x86_64", suite_digest="abc",
            unpinned=False)


def test_fingerprint_is_stable_and_order_insensitive():
    again = {**BASE, "requirements": list(reversed(BASE["requirements"]))}
    assert fingerprint(**BASE) == fingerprint(**again)


@pytest.mark.parametrize("change", [
    {"requirements": ["TTS==0.22.0", "torch==2.5.1"]},
    {"python_version": "3.11.8"},
    {"platform_tag": "darwin-arm64"},
    {"suite_digest": "abd"},
    {"install_options": {"find-links": ["/opt/wheels"]}},
])
def test_fingerprint_changes_with_what_matters(change):
    assert fingerprint(**BASE) != fingerprint(**{**BASE, **change})


def test_unpinned_fingerprint_changes_daily():
    day = dt.date(2026, 11, 26)
    canary = {**BASE, "unpinned": True}
    assert fingerprint(**canary, today=day) == fingerprint(**canary, today=day)
    assert fingerprint(**canary, today=day) != fingerprint(
        **canary, today=day + dt.timedelta(days=1))


def test_atomic_write_leaves_old_file_when_interrupted(tmp_path, monkeypatch):
    target = tmp_path / "r.json"
    atomicio.write_json_atomic(target, {"v": 1})

    def broken_replace(src, dst):
        raise OSError("disk went away")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        atomicio.write_json_atomic(target, {"v": 2})
    assert json.loads(target.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # no temp file left


def test_read_result_ignores_foreign_or_broken_files(tmp_path):
    (tmp_path / "a.json").write_text("{not json")
    (tmp_path / "b.json").write_text(json.dumps({"schema": "other"}))
    assert read_result(tmp_path / "a.json") is None
    assert read_result(tmp_path / "b.json") is None
    assert read_result(tmp_path / "absent.json") is None


def test_tier_status_rejects_unknown_status():
    assert tier_status("pass", seconds=1.0, message=None) == {"status": "pass", "seconds": 1.0}
    with pytest.raises(ValueError):
        tier_status("passed")


def test_install_commands(tmp_path):
    options = InstallOptions(extra_index_urls=("https://example.invalid/cpu",),
                             find_links=("/opt/wheels",), index_strategy="unsafe-best-match")
    uv = install_command("uv", tmp_path, ["torch==2.1.2"], options)
    assert uv[1:4] == ["pip", "install", "--python"]
    assert uv[-7:] == ["--index-strategy", "unsafe-best-match", "--extra-index-url",
                       "https://example.invalid/cpu", "--find-links", "/opt/wheels",
                       "torch==2.1.2"][-7:]
    pip = install_command("virtualenv", tmp_path, ["torch==2.1.2"], options)
    assert pip[1:4] == ["-m", "pip", "install"] and "--index-strategy" not in pip


def test_stamp_decides_reuse(tmp_path):
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "python").write_text("")
    key = install_key(["a==1"], InstallOptions())
    assert not is_ready(tmp_path, key)
    (tmp_path / ".xtts-compat-install.json").write_text(json.dumps({"key": key}))
    assert is_ready(tmp_path, key)
    assert not is_ready(tmp_path, install_key(["a==2"], InstallOptions()))


def test_resolver_message_puts_the_raised_error_first():
    log = ("Resolved 10 packages\n"
           "error: Failed to build `tts==0.22.0`\n"
           "  cause: The build backend returned an error\n"
           "         RuntimeError: TTS requires python >= 3.9 and < 3.12 but your Python "
           "version is 3.12.1\n")
    message = resolver_message(log)
    assert message.splitlines()[0].startswith("RuntimeError: TTS requires python >= 3.9 and < 3.12")
    assert "Failed to build" in message
    uv_conflict = "  × No solution found when resolving dependencies:\n  ╰─▶ Because x...\n"
    assert resolver_message(uv_conflict).strip().startswith("× No solution found")


@pytest.mark.parametrize("bad", ["../x", "../../etc/cron.d/x", "/tmp/x", "a/b", "", ".",
                                 "..", "ok\n", "a`id`", "a b"])
def test_result_path_refuses_an_id_that_is_not_a_cell_id(tmp_path, bad):
    """Defence in depth: whatever slips past the matrix file's checks cannot write (or
    later delete scratch folders) outside the results folder."""
    with pytest.raises(ValueError, match="not a valid cell id"):
        result_path(tmp_path / "results", bad)
    with pytest.raises(ValueError, match="not a valid cell id"):
        write_result(tmp_path / "results", {"cell": {"id": bad}})
    assert not (tmp_path / "x.json").exists() and not (tmp_path / "x").exists()


def test_result_path_of_a_good_id(tmp_path):
    assert result_path(tmp_path, "tts0.22.0-torch2.1.2-tf4.35.2-py3.11") == \
        tmp_path / "tts0.22.0-torch2.1.2-tf4.35.2-py3.11.json"
    assert result_path(tmp_path, "here-coqui0.28.0-torch2.9.1+cpu-tf4.57.3-py3.12").parent \
        == tmp_path


def test_files_written_atomically_follow_the_users_umask(tmp_path):
    """mkstemp makes 0600 files: a report a web server or another CI user cannot read."""
    import importlib
    import os
    import stat

    import compat.incell.atomicio as atomicio

    old = os.umask(0o022)
    try:
        importlib.reload(atomicio)  # it reads the umask once
        path = atomicio.write_text_atomic(tmp_path / "r.json", "{}")
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
    finally:
        os.umask(old)
        importlib.reload(atomicio)
