"""The exploratory matrix's generator: edges from fake metadata, a fake resolver, the
file it writes (a valid matrix, ids that keep extras apart, refusals named)."""

from __future__ import annotations

import os
from pathlib import Path

from compat.plan import explore
from compat.plan.matrixfile import load_matrices

FORK = explore.ReleaseMeta("coqui-tts", "0.27.5", ">=3.10,<3.15", ("codec", "dev", "ja"))
ORIGINAL = explore.ReleaseMeta("TTS", "0.22.0", ">=3.9.0,<3.12")


def fake_resolve(edge):
    if edge.extra == "ja":
        return "No solution found when resolving dependencies: cutlet needs mecab"
    low = edge.resolution.startswith("lowest")
    return {"torch": "2.1.0" if low else "2.11.0", "transformers": "4.57.1" if low else "5.24.0",
            "torchaudio": "2.1.0" if low else "2.11.0"}


def test_edges_cover_lowest_highest_each_python_and_each_extra():
    found = [(e.meta.distribution, e.python, e.label)
             for e in explore.edges([FORK, ORIGINAL], original=("TTS",))]
    assert ("coqui-tts", "3.10", "lowest") in found
    assert [p for d, p, label in found if d == "coqui-tts" and label == "highest"] == [
        "3.10", "3.11", "3.12", "3.13"]
    assert ("coqui-tts", "3.13", "highest-codec") in found
    assert not any("dev" in label for _, _, label in found)  # a development extra
    assert [(p, label) for d, p, label in found if d == "TTS"] == [
        ("3.10", "highest"), ("3.11", "highest")]  # the original: highest, Python < 3.12


def test_the_generated_file_is_a_valid_matrix_with_refusals_named(tmp_path):
    planned = explore.plan(explore.edges([FORK, ORIGINAL], original=("TTS",)), fake_resolve)
    text = explore.render(planned)
    assert "coqui-tts[ja]==0.27.5 on Python 3.13 (highest-ja): No solution found" in text
    path = tmp_path / "explore.toml"
    path.write_text(text)
    matrix = load_matrices([path])
    ids = [c.id for c in matrix.cells]
    assert len(ids) == len(set(ids)) == len(planned.cells)
    codec = [c for c in matrix.cells if "extra-codec" in c.tags]
    assert len(codec) == 1 and codec[0].id.endswith("-xcodec")
    assert all("explore" in c.tags for c in matrix.cells)
    low = [c for c in matrix.cells if "lowest" in c.tags]
    assert [(c.torch, c.transformers, c.python) for c in low] == [("2.1.0", "4.57.1", "3.10")]


def test_stacks_that_resolve_the_same_are_one_cell():
    twice = explore.plan(explore.edges([FORK, FORK]), fake_resolve)
    once = explore.plan(explore.edges([FORK]), fake_resolve)
    assert len(twice.cells) == len(once.cells)


def test_the_explored_lines_are_the_engines_declarations():
    lines = {d: (first, last, only) for d, first, last, only in explore.explored_lines()}
    assert lines["coqui-tts"] == ("0.22.1", None, False)
    assert lines["TTS"] == ("0.21.0", "0.22.0", True)


def test_the_exploratory_file_joins_the_selection_only_when_its_tag_is_asked(tmp_path,
                                                                              monkeypatch):
    from compat.cli.nox_sessions import requested_tags
    from compat.system import paths

    (tmp_path / "default.toml").write_text(
        '[[cell]]\npython = "3.11"\ntts = "TTS==0.22.0"\ntorch = "2.1.2"\n'
        'transformers = "4.35.2"\n')
    (tmp_path / "explore.toml").write_text(
        explore.render(explore.plan(explore.edges([FORK]), fake_resolve)))
    monkeypatch.setattr(paths, "MATRICES", tmp_path)
    monkeypatch.setattr(paths, "DEFAULT_MATRIX", tmp_path / "default.toml")
    monkeypatch.delenv("COMPAT_MATRIX", raising=False)
    assert [p.name for p in paths.matrix_paths()] == ["default.toml"]
    tags = requested_tags(["-l", "-t", "explore"])
    assert tags == ["explore"]
    assert [p.name for p in paths.matrix_paths(tags=tags)] == ["default.toml", "explore.toml"]
    assert requested_tags(["-s", "matrix", "--", "-t", "explore"]) == []  # a session's own
    explored = load_matrices(paths.matrix_paths(tags=["explore"])).cells
    assert all(c.keep_env is False and c.tiers == explore.DECIDING_TIERS
               for c in explored if "explore" in c.tags)
    assert [c.keep_env for c in explored if "explore" not in c.tags] == [True]


def test_a_one_off_cells_environments_are_removed_after_its_result(tmp_path, monkeypatch):
    from compat.env import install

    pruned = []
    monkeypatch.setattr(install, "prune_cache", lambda: pruned.append(True))
    monkeypatch.setattr(install, "uv_executable", lambda: None)
    venv = tmp_path / "matrix-cell-x"
    for path in (venv, tmp_path / "matrix-cell-x-repaired", tmp_path / "matrix-cell-y"):
        (path / "lib").mkdir(parents=True)
    said = []
    install.remove_environments(venv, said.append)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["matrix-cell-y"]  # another cell's
    assert pruned == [True] and "removed 2 environment(s)" in said[0]


def test_an_exploratory_cell_runs_its_deciding_tiers_unless_asked_for_others():
    from compat.cli.nox_sessions import chosen_tiers

    own = explore.DECIDING_TIERS
    assert chosen_tiers("", own) == ("import", "load", "synth")
    assert chosen_tiers("all", own) == ()  # every tier
    assert chosen_tiers("import,stream", own) == ("import", "stream")
    assert chosen_tiers("", ()) == ()  # a cell of the default matrix: every tier


def test_a_regeneration_that_stopped_resumes_from_the_days_answers(tmp_path, monkeypatch):
    asked = []
    monkeypatch.setattr(explore, "uv_resolve", lambda edge: asked.append(edge) or
                        fake_resolve(edge))
    edge = explore.edges([FORK])[0]
    first = explore.remembered_resolve(edge, tmp_path)
    again = explore.remembered_resolve(edge, tmp_path)
    assert first == again == fake_resolve(edge) and asked == [edge]
    other = explore.edges([FORK])[1]
    explore.remembered_resolve(other, tmp_path)
    assert asked == [edge, other]  # another edge is its own question


def test_the_checked_in_exploratory_matrix_is_what_the_generator_writes():
    """matrices/explore.toml is generated, kept in the repository: a valid matrix whose
    cells are the explored lines' releases, run cheaply and without keeping environments."""
    from compat.system import paths

    path = paths.MATRICES / "explore.toml"
    text = path.read_text()
    assert text.startswith(explore.HEADER)
    cells = load_matrices([path]).cells
    from packaging.utils import canonicalize_name

    lines = {canonicalize_name(d) for d, *_ in explore.explored_lines()}
    assert cells and all(canonicalize_name(c.tts_distribution) in lines for c in cells)
    assert all("explore" in c.tags and not c.keep_env and c.tiers == explore.DECIDING_TIERS
               for c in cells)
    assert {c.python for c in cells} <= set(explore.PYTHONS)
    assert any("lowest" in c.tags for c in cells) and any("highest" in c.tags for c in cells)


KOKORO = explore.ReleaseMeta("kokoro", "0.9.4", ">=3.10,<3.13")


def test_an_engines_other_axes_are_resolved_directly_and_pinned(monkeypatch):
    """Kokoro's numpy and misaki decide as much as torch: the resolver gets them as direct
    requirements (so ``lowest`` lowers them too) and the cell pins what it chose."""
    from compat import engines

    axes = engines.get_engine("kokoro").explore_axes
    assert axes == ("numpy", "misaki")
    seen: list[str] = []

    def compile_(cmd, input, **kwargs):
        import subprocess

        seen.append(input)
        low = "lowest-direct" in cmd
        out = (f"kokoro==0.9.4\ntorch=={'2.1.0' if low else '2.9.1'}\ntransformers==4.46.2\n"
               f"numpy=={'1.26.0' if low else '2.3.1'}\nmisaki=={'0.9.3' if low else '0.9.4'}\n"
               "spacy==3.8.7\n")
        return subprocess.CompletedProcess(cmd, 0, out, "")

    monkeypatch.setattr(explore.subprocess, "run", compile_)
    monkeypatch.setattr(explore, "uv_executable", lambda: "uv")
    found = explore.plan(explore.edges([KOKORO], axes=axes), explore.uv_resolve)
    assert seen[0].split() == ["kokoro==0.9.4", "torch", "transformers", "numpy", "misaki"]
    low = next(c for c in found.cells if "lowest" in c.tags)
    assert dict(low.pins) == {"misaki": "0.9.3", "numpy": "1.26.0"}  # not spacy: not an axis
    assert low.engine == "kokoro" and explore.cell_name(low).startswith("kokoro0.9.4-")
    assert {c.python for c in found.cells} == {"3.10", "3.11", "3.12"}


def test_each_engine_has_its_own_exploration_file():
    from compat import engines

    assert explore.explored_engines() == ["kokoro", "styletts2", "xtts"]
    assert engines.get_engine("xtts").exploration_file == "explore.toml"
    assert engines.get_engine("kokoro").exploration_file == "explore-kokoro.toml"
    assert engines.get_engine("styletts2").exploration_file == "explore-styletts2.toml"
    assert {d for d, *_ in explore.explored_lines("kokoro")} == {"kokoro"}


def test_a_refused_lowest_edge_falls_back_to_wheels_only():
    """Kokoro leaves misaki's spacy and numpy unbounded below: the lowest resolution asks
    for spacy 2.0.17 or numpy 1.3.0, which nothing builds today, and every Kokoro release
    lost its lowest cell. From wheels only it gets the lowest that installs."""
    def resolve(edge):
        if edge.resolution.startswith("lowest") and not edge.wheels_only:
            return "error: Failed to build `numpy==1.3.0`"
        return {"torch": "1.12.0", "transformers": "2.0.0", "numpy": "1.21.2", "misaki": "0.9.4"}

    def highest_refused(edge):
        return "error: no wheel" if edge.wheels_only or edge.resolution == "highest" else (
            "error: Failed to build `numpy==1.3.0`")

    found = explore.plan(explore.edges([KOKORO], axes=("numpy", "misaki")),
                         explore.lowest_from_wheels(
                             lambda e: resolve(e) if e.resolution != "highest" else "error: x"))
    low = [c for c in found.cells if "lowest" in c.tags]
    assert [(c.torch, c.transformers, dict(c.pins)) for c in low] == [
        ("1.12.0", "2.0.0", {"misaki": "0.9.4", "numpy": "1.21.2"})]
    assert found.fallbacks == [("kokoro==0.9.4 on Python 3.10 (lowest)",
                                "from wheels only; with sdists: error: Failed to build "
                                "`numpy==1.3.0`")]
    assert "Lowest from wheels only" in explore.render(found)
    # a highest edge the resolver refuses stays refused: no fallback there
    assert len(found.refused) == 3 and not any("lowest" in w for w, _ in found.refused)
    # and a lowest edge refused from wheels too stays refused, with the first reason
    again = explore.plan(explore.edges([KOKORO], axes=("numpy",)),
                         explore.lowest_from_wheels(highest_refused))
    assert not again.cells and again.refused[0][1].startswith("error: Failed to build")


def fake_uv_cache(root: Path, packages: dict[str, bool]) -> Path:
    """A uv cache laid out as uv 0.9 lays it out: ``wheels-v8/pypi/NAME/TAG`` links to an
    unpacked wheel in ``archive-v0``; a True package has a file hard-linked into an
    environment, as uv installs."""
    cache = root / "cache"
    for n, (name, used) in enumerate(packages.items()):
        archive = cache / "archive-v0" / f"a{n}"
        (archive / name).mkdir(parents=True)
        (archive / name / "lib.so").write_bytes(b"x")
        (cache / "wheels-v8" / "pypi" / name).mkdir(parents=True)
        (cache / "wheels-v8" / "pypi" / name / "1.0-py3-none-any").symlink_to(archive)
        if used:
            env = root / "env" / name
            env.mkdir(parents=True)
            os.link(archive / name / "lib.so", env / "lib.so")
    return cache


def test_low_disk_drops_only_the_cuda_wheels_no_environment_links(tmp_path):
    """Shown to fail: with every heavy package dropped (the check before), torch, which a
    kept environment links, was in the list and had to be downloaded again."""
    from compat.env import install

    cache = fake_uv_cache(tmp_path, {"torch": True, "nvidia-cublas-cu12": False,
                                     "triton": False, "numpy": False})
    assert install.unlinked_heavy(cache) == ["nvidia-cublas-cu12", "triton"]
    assert install.linked(cache / "archive-v0" / "a0") and not install.linked(
        cache / "archive-v0" / "a1")
