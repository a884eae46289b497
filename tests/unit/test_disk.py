"""Disk as a resource: what a cell and a run need, the refusal that names the numbers,
and ``nox -s clean`` (environments and results nothing needs), on fake folders."""

from __future__ import annotations

import json

from report_fakes import fake_result, write

from compat.cli import clean
from compat.env import disk, install

RELEASE = "tts0.22.0-torch2.1.2-tf4.35.2-py3.11"
BUMP = "tts0.22.0-torch2.1.2-tf4.57.1-py3.11"  # a bump gate's cell: in no matrix file


def fake_cache(tmp_path, *builds):
    cache = tmp_path / "uv"
    for build in builds:
        (cache / "wheels-v8" / "pypi" / "torch" / build).mkdir(parents=True)
        (cache / "wheels-v8" / "pypi" / "torch" / f"{build}.http").write_text("")
    return cache


def test_a_cell_needs_a_torch_build_unless_cached(tmp_path):
    cache = fake_cache(tmp_path, "2.1.2-cp311-cp311-manylinux1_x86_64")
    assert disk.torch_cached("2.1.2", "3.11", cache)
    assert not disk.torch_cached("2.1.2", "3.12", cache)  # another Python, another wheel
    assert not disk.torch_cached("latest", "3.11", cache)
    cached = disk.cell_need("a", "2.1.2", "3.11", cache, has_env=True)
    assert cached.bytes == 0
    new = disk.cell_need("b", "2.9.1", "3.11", cache)
    assert new.bytes == disk.TORCH_BUILD + disk.ENVIRONMENT
    twin = disk.cell_need("c", "2.9.1", "3.11", cache)
    total, builds = disk.run_need([cached, new, twin])
    assert builds == 1  # one build shared by two cells is downloaded once
    assert total == disk.TORCH_BUILD + 2 * disk.ENVIRONMENT


def test_a_cell_that_cannot_fit_is_refused_naming_the_numbers(tmp_path, monkeypatch):
    monkeypatch.delenv("COMPAT_DISK_RESERVE_GIB", raising=False)
    need = disk.cell_need("b", "2.9.1", "3.11", fake_cache(tmp_path))
    why = disk.refusal(need, 4 * disk.GIB)
    assert why and "needs about 6.0 GiB" in why and "4.0 GiB are free" in why
    assert "torch 2.9.1 for Python 3.11 is not in uv's cache" in why
    assert disk.refusal(need, 9 * disk.GIB) is None
    monkeypatch.setenv("COMPAT_DISK_RESERVE_GIB", "5")
    assert disk.refusal(need, 9 * disk.GIB) is not None  # 6 + 5 kept free > 9


def test_clean_removes_what_no_matrix_needs_and_keeps_the_rest(tmp_path, monkeypatch):
    envs, res = tmp_path / ".nox", tmp_path / "results"
    keep_env = envs / clean.slug(RELEASE)
    gone_env = envs / clean.slug(BUMP)
    for env in (keep_env, gone_env, gone_env.with_name(gone_env.name + "-repaired")):
        (env / "bin").mkdir(parents=True)
        (env / "bin" / "python").write_bytes(b"x" * 1000)
    current = fake_result(RELEASE)
    cell = clean.known_cells()[RELEASE][0]
    current["python"] = {"version": "3.11.7"}
    current["fingerprint"] = clean.current_fingerprint(cell, current)
    write(res, current)
    write(res, {**fake_result(BUMP), "fingerprint": "x"})
    (res / BUMP / "artifacts").mkdir(parents=True)
    stale_id = "tts0.22.0-torch2.6.0-tf4.46.2-py3.11"
    write(res, {**fake_result(stale_id), "fingerprint": "older"})
    assert clean.main(["--dry-run", "--envdir", str(envs), "--results", str(res)]) == 0
    assert gone_env.exists()  # a dry run removes nothing
    monkeypatch.setattr(install, "prune_cache", lambda: None)
    assert clean.main(["--envdir", str(envs), "--results", str(res)]) == 0
    assert keep_env.exists() and not gone_env.exists()
    assert not gone_env.with_name(gone_env.name + "-repaired").exists()
    assert (res / f"{RELEASE}.json").exists()
    assert not (res / f"{BUMP}.json").exists() and not (res / BUMP).exists()
    assert not (res / f"{stale_id}.json").exists()
    assert json.loads((res / f"{RELEASE}.json").read_text())["fingerprint"] == (
        current["fingerprint"])


def test_a_disk_that_fills_mid_install_is_no_verdict_and_is_retried(tmp_path, monkeypatch):
    from test_isolation import make_run

    from compat.env.install import InstallResult
    from compat.incell.status import INTERRUPTED
    from compat.run.cell import run_cell

    def full(venv, backend, reqs, options, **_):
        return InstallResult(False, False, 3.0, backend, ["uv", "pip", "install"],
                             "error: Failed to install: torch-2.9.1 (No space left on device "
                             "(os error 28))")

    result = run_cell(make_run(tmp_path, "pass", monkeypatch, installer=full))
    assert result["outcome"] == INTERRUPTED
    assert "the disk filled during the install" in result["interrupted"]["reason"]
    assert result["tiers"]["first"]["status"] == "not-run"
    lines: list[str] = []
    again = run_cell(make_run(tmp_path, "pass", monkeypatch, lines=lines))
    assert again["outcome"] == "completed"  # retried, not "up to date"
    assert any("interrupted before it finished" in line for line in lines)


def test_clean_keeps_the_cells_of_the_matrix_the_user_selected(tmp_path, monkeypatch):
    """Failed before issue 26: clean read matrices/*.toml only, so with COMPAT_MATRIX at
    the user's own matrix it removed that matrix's current results as "no matrix names"."""
    own = tmp_path / "mine.toml"
    own.write_text('[[cell]]\nid = "mine"\npython = "3.11"\ntts = "TTS==0.22.0"\n'
                   'torch = "2.1.2"\ntransformers = "4.35.2"\n')
    monkeypatch.setenv("COMPAT_MATRIX", str(own))
    res = tmp_path / "results"
    current = fake_result("mine")
    current["python"] = {"version": "3.11.7"}
    current["fingerprint"] = clean.current_fingerprint(clean.known_cells()["mine"][0], current)
    write(res, current)
    monkeypatch.setattr(install, "prune_cache", lambda: None)
    assert clean.main(["--envdir", str(tmp_path / ".nox"), "--results", str(res)]) == 0
    assert (res / "mine.json").exists()


def test_a_run_counts_one_off_environments_only_as_many_as_run_at_once(tmp_path, monkeypatch):
    """A one-off cell's environment (keep-env = false) is removed when it is done, so a run
    holds at most --jobs of them; the estimate counted every one (an exploration of 284
    cells: 329 GiB, 282 of them environments never held at once). Kept ones all count."""
    from types import SimpleNamespace

    from compat.cli import nox_sessions
    from compat.plan.matrixfile import load_matrices

    matrix = load_matrices([nox_sessions.REPO / "matrices" / "default.toml",
                            nox_sessions.REPO / "matrices" / "explore.toml"], {
        name: e.distributions for name, e in nox_sessions.all_engines().items()})
    kept = [c for c in matrix.cells if c.keep_env][:3]
    one_off = [c for c in matrix.cells if not c.keep_env][:5]
    cache = fake_cache(tmp_path, *{f"{c.torch}-cp{c.python.replace('.', '')}-x"
                                   for c in kept + one_off})  # every build cached
    monkeypatch.setattr(disk, "uv_cache_dir", lambda: cache)
    monkeypatch.setattr(disk, "free", lambda path: 100 * disk.GIB)
    lines: list[str] = []
    session = SimpleNamespace(log=lines.append, warn=lines.append,
                              virtualenv=SimpleNamespace(location=str(tmp_path / "envs" / "x")))
    nox_sessions.say_disk(session, matrix, [c.id for c in kept + one_off], at_once=2)
    assert lines == ["disk: this run needs about 5.0 GiB (0 torch build(s) not in uv's cache, "
                     "3 new environment(s) kept, 5 one-off, 2 at a time); 100.0 GiB free"]
