"""The gate: expectations, comparisons and exit codes on small fake results; bumps and
requirement-file diffs; and, end to end, the smoke cells against a fresh baseline and a
downstream project's requirements bump gated with --from-diff."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from report_fakes import fake_result, write

from compat import gate
from compat.cells import Cell
from compat.plan.matrixfile import load_matrix
from compat.report.model import entry
from conftest import RELEASE_ERA, REPO, nox

BEAM = ("ImportError", "cannot import name 'BeamSearchScorer' from 'transformers' (/x.py)")
SIX = ("ModuleNotFoundError", "No module named 'six'")
CLICK = ("ModuleNotFoundError", "No module named 'click'")


def changes(before: dict, after: dict) -> list[gate.Change]:
    return gate.compare("c", gate.expectation(entry(before, "b")), entry(after, "a"))


def test_the_same_result_is_no_change():
    assert changes(fake_result("c"), fake_result("c")) == []


def test_a_pass_that_now_fails_names_the_diagnosis_and_the_fix():
    found = changes(fake_result("c"), fake_result("c", failing={"import": BEAM}))
    assert [(c.tier, c.was, c.now, c.regression) for c in found] == [
        ("import", "pass", "fail", True)]
    assert "BeamSearchScorer" in found[0].detail and "shim `beam_search`" in found[0].detail


def test_a_pass_that_now_needs_a_shim_is_a_regression_naming_the_shim():
    found = changes(fake_result("c"), fake_result("c", mended={"import": (*BEAM, "beam_search")}))
    assert len(found) == 1 and found[0].regression and found[0].now == "shimmed"
    assert found[0].detail.startswith("needs shim beam_search now")


def test_synthesis_that_diverges_from_the_golden_is_a_regression():
    after = fake_result("c")
    after["tiers"]["synth"].update(status="diverged", message="first forward call saw 1 token")
    found = changes(fake_result("c"), after)
    assert [(c.tier, c.now, c.regression) for c in found] == [("synth", "diverged", True)]
    assert "dropped_prefix" in found[0].detail


def test_synthesis_no_golden_can_judge_is_a_change():
    """pass -> unverified (no golden for these inputs) is a regression, never silent."""
    after = fake_result("c")
    after["tiers"]["synth"].update(
        status="unverified", message="the golden output was made from other inputs: "
                                     "reference.wav (differs)")
    found = changes(fake_result("c"), after)
    assert [(c.tier, c.was, c.now, c.regression) for c in found] == [
        ("synth", "pass", "unverified", True)]
    assert entry(after, "a")["verdict"] == "unverified"


def test_a_stale_expected_failure_fails_with_the_advice_to_update():
    found = changes(fake_result("c", failing={"import": SIX}), fake_result("c"))
    assert found[0].regression and "--update-baseline" in found[0].detail
    assert "six-undeclared" in found[0].was


def test_a_changed_diagnosis_is_a_regression():
    found = changes(fake_result("c", failing={"import": SIX}),
                    fake_result("c", failing={"import": CLICK}))
    assert [(c.was, c.now, c.regression) for c in found] == [
        ("fail (six-undeclared)", "fail (click-undeclared)", True)]


def test_a_shim_no_longer_needed_is_reported_but_not_a_regression():
    found = changes(fake_result("c", mended={"import": (*BEAM, "beam_search")}), fake_result("c"))
    assert [(c.was, c.now, c.regression) for c in found] == [("shimmed", "pass", False)]


@pytest.mark.parametrize(("new_load", "fails"), [(0.4 * 1.20, False), (0.4 * 1.40, True)])
def test_a_slowdown_fails_only_beyond_threshold_and_spread(new_load, fails):
    old = entry(fake_result("c", load_s=0.4), "o")["bench"]
    new = entry(fake_result("c", load_s=new_load), "n")["bench"]
    ratios, slow = gate.slowdowns("c", old, new, threshold=0.25)
    assert [r["figure"] for r in ratios] == ["load time", "synthesis time per audio second"]
    assert bool(slow) is fails and (not fails or "load time on cpu is 1.40x" in slow[0].detail)


@pytest.mark.parametrize(("again", "fails"), [(0.42, False), (0.6, True)])
def test_a_slowdown_is_measured_again_and_the_best_of_two_runs_counts(
        again, fails, tmp_path, monkeypatch):
    old = Cell(id="old", python="3.11", tts="TTS==0.22.0", torch="2.1.2", transformers="4.35.2")
    new = gate.bump(old, ["torch==2.5.1"])
    runs = []

    def run_cells(cells, folder, *, force, label, tiers=()):
        runs.append(([c.id for c in cells], label, tiers))
        for cell in cells:
            write(folder, fake_result(cell.id, load_s=again if cell is new else 0.4))

    monkeypatch.setattr(gate.cli, "run_cells", run_cells)  # where the gate calls it
    first = {c: entry(fake_result(c, load_s=s), c)["bench"] for c, s in (("o", 0.4), ("n", 0.7))}
    ratios, slow, notes = gate.confirmed_slowdowns(old, new, first["o"], first["n"], tmp_path,
                                                   threshold=0.25)
    assert runs == [([new.id, "old"], "confirm", gate.CONFIRM_TIERS)]  # reverse order
    assert ratios[0]["ratio"] == pytest.approx(again / 0.4)
    assert bool(slow) is fails
    assert "load time on cpu 1.75x" in notes[0]
    assert ("confirms it" if fails else "within the limit") in notes[0]


def test_no_second_run_without_a_slowdown(monkeypatch, tmp_path):
    monkeypatch.setattr(gate.cli, "run_cells", lambda *a, **k: pytest.fail("ran again"))
    bench = entry(fake_result("c"), "c")["bench"]
    cell = Cell(id="c", python="3.11", tts="TTS==0.22.0", torch="2.1.2", transformers="4.35.2")
    assert gate.confirmed_slowdowns(cell, cell, bench, bench, tmp_path, 0.25)[1:] == ([], [])


@pytest.mark.parametrize(("factor", "fails"), [(0.99, False), (1.01, True)])
def test_the_threshold_never_goes_below_the_measured_spread(factor, fails):
    old = entry(fake_result("c", load_s=0.4), "o")["bench"]
    spread = gate.compared_figures("xtts")["load_best_s"].spread
    new = entry(fake_result("c", load_s=0.4 * spread * factor), "n")
    assert bool(gate.slowdowns("c", old, new["bench"], threshold=0.0)[1]) is fails


def test_a_bump_replaces_pins_and_torchaudio_follows_torch():
    cell = Cell(id="x", python="3.11", tts="TTS==0.22.0", torch="2.1.2", transformers="4.35.2",
                pins=(("torchaudio", "2.1.2"),))
    new = gate.bump(cell, ["torch==2.5.1", "transformers==4.57.1", "numpy==1.26.4"])
    assert (new.torch, new.transformers) == ("2.5.1", "4.57.1")
    assert dict(new.pins) == {"torchaudio": "2.5.1", "numpy": "1.26.4"}
    assert new.id not in ("", cell.id) and "torch2.5.1" in new.id
    with pytest.raises(gate.GateError, match="give a version"):
        gate.bump(cell, ["torch"])
    with pytest.raises(gate.GateError, match="not a valid cell id"):
        gate.bump(cell, ["TTS===../../x"])  # arbitrary equality: a path in the id


def test_pins_are_read_from_every_kind_of_requirement_file():
    assert gate.pins_in("requirements.txt", "TTS==0.22.0  # legacy\ntorch==2.1.2\n"
                        "flask>=2\ntransformers==4.35.2\n") == {
        "tts": "0.22.0", "torch": "2.1.2", "transformers": "4.35.2"}
    with pytest.raises(gate.GateError, match=r"x\.txt"):  # pip cannot read it either
        gate.pins_in("requirements.txt", "torch==2.1.2\n-r x.txt\n")
    pyproject = '[project]\ndependencies = ["coqui-tts==0.28.0", "torch==2.9.1"]\n'
    assert gate.pins_in("pyproject.toml", pyproject) == {"coqui-tts": "0.28.0", "torch": "2.9.1"}
    lock = ('[[package]]\nname = "torch"\nversion = "2.9.1"\n\n'
            '[[package]]\nname = "flask"\nversion = "3.0.0"\n')
    assert gate.pins_in("uv.lock", lock) == {"torch": "2.9.1"}


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t",
                    *args], check=True, capture_output=True)


def downstream(tmp_path: Path) -> Path:
    """The example project in a git repository of its own, its requirements committed."""
    app = tmp_path / "voice-app"
    shutil.copytree(REPO / "examples" / "voice-app", app)
    git(app, "init", "-q")
    git(app, "add", ".")
    git(app, "commit", "-qm", "app")
    return app


def test_from_diff_reads_the_change_to_the_requirement_files(tmp_path):
    app = downstream(tmp_path)
    text = (app / "requirements.txt").read_text()
    (app / "requirements.txt").write_text(text.replace("transformers==4.35.2",
                                                       "transformers==4.57.1"))
    old, new, files = gate.pins_from_diff(app, "HEAD")
    assert files == ["requirements.txt"]
    assert (old["transformers"], new["transformers"]) == ("4.35.2", "4.57.1")
    cell = gate.cell_from_pins(new, "3.11")
    assert cell.id == "tts0.22.0-torch2.1.2-tf4.57.1-py3.11"


def test_from_diff_without_a_requirement_change_passes(tmp_path, capsys):
    app = downstream(tmp_path)
    (app / "app.py").write_text("# refactor\n")
    assert gate.main(["--from-diff", "HEAD", "--root", str(app)]) == gate.OK
    assert "no requirement file changed" in capsys.readouterr().out


def fake_matrix(tmp_path: Path, ids: list[str]) -> Path:
    path = tmp_path / "m.toml"
    path.write_text("".join(f'[[cell]]\nid = "{i}"\npython = "3.11"\ntts = "TTS==0.22.0"\n'
                            f'torch = "2.1.2"\ntransformers = "4.35.2"\n\n' for i in ids))
    return path


def matrix_cells(matrix: Path) -> dict:
    return {c.id: c for c in load_matrix(matrix, {"xtts": ("TTS", "coqui-tts")}).cells}


def test_exit_codes_of_the_baseline_gate(tmp_path, capsys, monkeypatch):
    results = tmp_path / "results"
    matrix, baseline = fake_matrix(tmp_path, ["good", "known"]), tmp_path / "baseline.json"
    cells = matrix_cells(matrix)
    write(results, fake_result("good"), current=cells["good"])
    write(results, fake_result("known", failing={"import": SIX}), current=cells["known"])
    base = ["--matrix", str(matrix), "--results", str(results), "--baseline", str(baseline),
            "--no-run"]
    assert gate.main(base) == gate.CANNOT_RUN                         # no baseline yet
    assert "--update-baseline" in capsys.readouterr().err
    assert gate.main([*base, "--update-baseline"]) == gate.OK
    assert '"known"' in capsys.readouterr().out                       # the diff it made
    assert gate.main(base) == gate.OK                                 # fresh baseline
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    write(results, fake_result("known"), current=cells["known"])      # the failure is gone
    assert gate.main(base) == gate.REGRESSION
    out = capsys.readouterr().out
    assert "baseline is stale" in out and "REGRESSION" in out
    assert "| known | import |" in summary.read_text()
    assert gate.main([*base, "--cell", "nope"]) == gate.CANNOT_RUN
    assert gate.main(["--bump", "torch==2.5.1", "--matrix", str(matrix)]) == gate.CANNOT_RUN
    assert gate.main(["--no-such-option"]) == gate.CANNOT_RUN


@pytest.mark.parametrize("opt_out", [False, True])
def test_a_failed_bump_asks_the_culprit_finder_and_keeps_its_exit_code(
        opt_out, tmp_path, capsys, monkeypatch):
    matrix = fake_matrix(tmp_path, ["old"])
    asked = []

    def run_cells(cells, folder, *, force, label, tiers=()):
        for cell in cells:
            write(folder, fake_result(cell.id, failing={"import": BEAM} if cell.id != "old"
                                      else {}))

    def find_for_gate(old, new, tier, results, **kw):
        asked.append((old.id, new.id, tier, kw.get("trials_dir")))
        return ["bisect: transformers: last good 4.56.2, first bad 4.57.1 (tier import)"]

    from compat import culprit

    monkeypatch.setattr(gate.cli, "run_cells", run_cells)
    monkeypatch.setattr(culprit, "find_for_gate", find_for_gate)
    code = gate.main(["--bump", "transformers==4.57.1", "--cell", "old", "--matrix",
                      str(matrix), "--results", str(tmp_path / "gate"),
                      *(["--no-bisect"] if opt_out else [])])
    out = capsys.readouterr().out
    assert code == gate.REGRESSION
    if opt_out:
        assert asked == [] and "first bad" not in out
    else:
        assert asked == [("old", "tts0.22.0-torch2.1.2-tf4.57.1-py3.11", "import",
                          tmp_path / "gate")]
        assert "first bad 4.57.1" in out


@pytest.mark.e2e
def test_the_smoke_cells_pass_the_gate_against_a_fresh_baseline(smoke_run, tmp_path):
    _, _, env = smoke_run
    baseline = tmp_path / "baseline.json"
    args = ["-s", "gate", "--", "--no-run", "--baseline", str(baseline)]
    made = nox(*args, "--update-baseline", env=env)
    assert made.returncode == 0, made.stdout + made.stderr
    again = nox(*args, env=env)
    assert again.returncode == 0 and "gate: no regression" in again.stdout
    data = json.loads(baseline.read_text())
    data["cells"][RELEASE_ERA]["tiers"]["import"] = {"expect": "fail",
                                                     "diagnosis": "beam-search-scorer"}
    baseline.write_text(json.dumps(data))
    stale = nox(*args, env=env)
    assert stale.returncode == 1, stale.stdout + stale.stderr
    assert "baseline is stale" in stale.stdout and "--update-baseline" in stale.stdout


@pytest.mark.e2e
@pytest.mark.timeout(2400)
def test_a_downstream_bump_is_gated_from_its_git_diff(smoke_run, tmp_path):
    """The example app bumps torch and transformers together (as Renovate groups them):
    the gate runs the old and the new cell and fails, naming the import and the shim."""
    _, _, env = smoke_run
    app = downstream(tmp_path)
    text = (app / "requirements.txt").read_text()
    for old, new in (("torch==2.1.2", "torch==2.5.1"), ("torchaudio==2.1.2", "torchaudio==2.5.1"),
                     ("transformers==4.35.2", "transformers==4.57.1")):
        text = text.replace(old, new)
    (app / "requirements.txt").write_text(text)
    out = nox("-s", "gate", "--", "--from-diff", "HEAD", "--root", str(app), "--python", "3.11",
              "--results", str(tmp_path / "gate"), "--no-bisect",
              # The tiers the verdict needs (the import's failure and the shim that
              # mends it): stream, finetune and bench, bare and again with shims,
              # judged nothing this test asserts (the test took 4.5 minutes with them).
              "--tiers", "import,load,synth", env=env, timeout=2400)
    assert out.returncode == 1, out.stdout[-3000:] + out.stderr[-3000:]
    assert "torch 2.1.2 -> 2.5.1" in out.stdout and "transformers 4.35.2 -> 4.57.1" in out.stdout
    assert "BeamSearchScorer" in out.stdout and "needs shim beam_search" in out.stdout


PIP_COMPILED = """\\
#
# This file is autogenerated by pip-compile with Python 3.11
#
--index-url https://pypi.org/simple

torch=={torch} \\\\
    --hash=sha256:0a1b2c3d4e5f \\\\
    --hash=sha256:1a2b3c4d5e6f
    # via tts
transformers=={transformers} ; python_version >= "3.9" \\\\
    --hash=sha256:2a3b4c5d6e7f
    # via tts
torch==2.4.0 ; sys_platform == "darwin"
tts==0.22.0 \\\\
    --hash=sha256:3a4b5c6d7e8f
-r extra-requirements.txt
"""


def test_from_diff_reads_a_hashed_pip_compile_file_as_pip_does(tmp_path, capsys):
    """Failed before issue 26: a line-by-line reader took `torch==2.5.1 \\\\` for no
    requirement, so a pip-compile file bumping torch 2.1.2 -> 2.5.1 and transformers
    4.35.2 -> 4.57.1 (a known break) gated nothing ("no watched pin did", exit 0); the
    darwin-only torch line won on Linux (markers ignored); `-r` was not followed."""
    app = tmp_path / "app"
    app.mkdir()
    git(app, "init", "-q")
    (app / "requirements.txt").write_text(PIP_COMPILED.format(torch="2.1.2",
                                                              transformers="4.35.2"))
    (app / "extra-requirements.txt").write_text("numpy==1.26.4\n")
    git(app, "add", ".")
    git(app, "commit", "-qm", "app")
    (app / "requirements.txt").write_text(PIP_COMPILED.format(torch="2.5.1",
                                                              transformers="4.57.1"))
    (app / "extra-requirements.txt").write_text("numpy==2.1.0\n")
    old, new, files = gate.pins_from_diff(app, "HEAD", python="3.11")
    assert files == ["requirements.txt"]
    assert (old["torch"], new["torch"]) == ("2.1.2", "2.5.1")  # not darwin's 2.4.0
    assert (old["transformers"], new["transformers"]) == ("4.35.2", "4.57.1")
    assert (old["numpy"], new["numpy"]) == ("1.26.4", "2.1.0")  # through -r, each revision
    assert gate.cell_from_pins(new, "3.11").id == "tts0.22.0-torch2.5.1-tf4.57.1-py3.11"


def test_from_diff_works_for_a_project_inside_a_larger_repository(tmp_path):
    """Failed before issue 26: git printed paths from the repository's top, so a root in a
    subfolder (or a file name with a space) matched nothing and gated nothing."""
    repo = tmp_path / "mono"
    app = repo / "services" / "voice app"
    shutil.copytree(REPO / "examples" / "voice-app", app)
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "mono")
    text = (app / "requirements.txt").read_text()
    (app / "requirements.txt").write_text(text.replace("transformers==4.35.2",
                                                       "transformers==4.57.1"))
    old, new, files = gate.pins_from_diff(app, "HEAD")
    assert files == ["requirements.txt"]
    assert (old["transformers"], new["transformers"]) == ("4.35.2", "4.57.1")


def test_from_diff_refuses_an_option_for_a_base(tmp_path, capsys):
    """Failed before issue 26: `--from-diff=--output=FILE` reached git as an option, and
    git wrote FILE."""
    app = downstream(tmp_path)
    assert gate.main(["--from-diff=--output=pwned", "--root", str(app)]) == gate.CANNOT_RUN
    assert "not a git revision" in capsys.readouterr().err
    assert not (app / "pwned").exists() and not (REPO / "pwned").exists()


def test_a_bump_of_a_pin_beside_the_axes_is_a_cell_of_its_own(tmp_path):
    """Failed before issue 26: a bump of numpy (or torchaudio) alone made a cell of the
    same id as the current one, and the gate refused it as "the same cell"."""
    app = downstream(tmp_path)
    text = (app / "requirements.txt").read_text()
    assert "numpy" not in text
    (app / "requirements.txt").write_text(text + "numpy==1.26.4\n")
    git(app, "commit", "-qam", "numpy")
    (app / "requirements.txt").write_text(text + "numpy==2.1.0\n")
    old_pins, new_pins, _ = gate.pins_from_diff(app, "HEAD", python="3.11")
    old, new = gate.cell_from_pins(old_pins, "3.11"), gate.cell_from_pins(new_pins, "3.11")
    new = gate.distinguished(old, new)
    assert new.id == f"{old.id}+numpy2.1.0"
    assert dict(new.pins)["numpy"] == "2.1.0" and dict(old.pins)["numpy"] == "1.26.4"
    same = gate.cell_from_pins(old_pins, "3.11")
    assert gate.distinguished(old, same).id == old.id  # nothing moved: the same id


def test_from_diff_installs_the_cells_as_the_files_say(tmp_path):
    """Issue 26, the rest: `--index-url` (a CPU-only torch index, say), extra indexes,
    find-links and the engine's extras were dropped, so the gate tested a stack the
    project never installs. They reach both cells now, each from its own revision."""
    from compat.plan import bumps

    app = tmp_path / "app"
    app.mkdir()
    git(app, "init", "-q")
    head = ("--index-url https://download.pytorch.org/whl/cpu\n"
            "--extra-index-url https://pypi.org/simple\n")
    (app / "requirements.txt").write_text(
        head + "TTS[ja]==0.22.0\ntorch==2.1.2\ntransformers==4.35.2\n")
    git(app, "add", ".")
    git(app, "commit", "-qm", "app")
    (app / "requirements.txt").write_text(
        head + "--find-links wheels\nTTS[ja]==0.22.0\ntorch==2.5.1\ntransformers==4.35.2\n")
    old_pins, new_pins, files = gate.pins_from_diff(app, "HEAD", python="3.11")
    old_ctx, new_ctx = bumps.contexts_from_diff(app, "HEAD", files, python="3.11")
    old = gate.cell_from_pins(old_pins, "3.11", old_ctx)
    new = gate.cell_from_pins(new_pins, "3.11", new_ctx)
    for cell in (old, new):
        assert cell.tts == "TTS[ja]==0.22.0"
        assert cell.install.index_url == "https://download.pytorch.org/whl/cpu"
        assert cell.install.extra_index_urls == ("https://pypi.org/simple",)
    assert old.install.find_links == ()  # the base revision had none
    assert new.install.find_links == (str((app / "wheels").resolve()),)
    assert new.id == "tts0.22.0-torch2.5.1-tf4.35.2-py3.11"
    # and without a context (a --bump of a matrix cell) nothing is invented
    assert gate.cell_from_pins(new_pins, "3.11").install == type(new.install)()
