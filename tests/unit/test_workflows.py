"""The GitHub Actions workflows: they parse, call sessions that exist, fan out exactly the
cells ``nox -l --json`` lists; and the fan-out simulated here: two cells in separate
folders, as separate processes on two "machines", merged into one report."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import PY312_LEGACY, RELEASE_ERA, REPO, nox

WORKFLOWS = REPO / ".github" / "workflows"
EXAMPLE = REPO / "examples" / "voice-app" / ".github" / "workflows"
FILES = sorted(WORKFLOWS.glob("*.yml")) + sorted(EXAMPLE.glob("*.yml"))


def steps(path: Path) -> list[dict]:
    data = yaml.safe_load(path.read_text())
    return [step for job in data["jobs"].values() for step in job.get("steps", [])]


def sessions() -> set[str]:
    out = nox("-l")
    return {m.group(1) for m in re.finditer(r"^[*-] (\w+)", out.stdout, re.M)}


def test_the_workflows_exist_and_parse():
    assert {p.name for p in FILES} == {"compat-matrix.yml", "compat-gate.yml", "compat-atlas.yml",
                                       "xtts-gate.yml"}
    for path in FILES:
        data = yaml.safe_load(path.read_text())
        assert data["jobs"] and (True in data or "on" in data), path  # YAML 1.1: on -> True
        for job in data["jobs"].values():
            assert job["runs-on"] and job["steps"], path


def test_every_nox_session_they_call_exists():
    known = sessions()
    assert {"matrix", "report", "gate", "doctor", "tests"} <= known
    for path in FILES:
        for step in steps(path):
            for name in re.findall(r"nox (?:-f \S+ )?-s \"?(\w+)", step.get("run", "")):
                assert name in known, f"{path.name}: nox -s {name}"


def test_the_fan_out_is_what_nox_lists():
    listing = nox("-l", "--json")
    assert listing.returncode == 0
    cells = [s["session"] for s in json.loads(listing.stdout) if s["name"] == "matrix"]
    out = subprocess.run([sys.executable, "-m", "compat", "fanout"], input=listing.stdout,
                         capture_output=True, text=True, cwd=REPO, check=True)
    jobs = json.loads(out.stdout)["include"]
    assert [j["sessions"] for j in jobs] == cells and len(cells) >= 10
    assert {j["python"] for j in jobs} >= {"3.11", "3.12"}
    assert all(j["runner"] == "ubuntu-latest" for j in jobs)  # no cell is tagged gpu
    matrix = yaml.safe_load((WORKFLOWS / "compat-matrix.yml").read_text())
    lister = " ".join(s.get("run", "") for s in matrix["jobs"]["cells"]["steps"])
    assert "nox -l --json | python -m compat fanout" in lister
    cell = matrix["jobs"]["cell"]
    assert "fromJSON(needs.cells.outputs.jobs)" in cell["strategy"]["matrix"]
    run_cell = next(s for s in cell["steps"] if "nox -s" in s.get("run", ""))
    assert run_cell["run"].split() == ['mapfile', '-t', 'sessions', '<<<', '"$SESSIONS"',
                                       'nox', '-s', '"${sessions[@]}"']
    assert run_cell["env"]["SESSIONS"] == "${{ matrix.sessions }}"
    assert any("nox -s report -- collected/*" in s.get("run", "")
               for s in matrix["jobs"]["report"]["steps"])


def test_the_atlas_workflow_regenerates_runs_what_is_not_current_and_names_new_failures():
    """Issue 29: the scheduled exploration adds new releases' edges, runs only the cells
    whose atlas row is not current, and summarises new failures."""
    flow = yaml.safe_load((WORKFLOWS / "compat-atlas.yml").read_text())
    assert "schedule" in flow[True]
    runs = {name: " ".join(s.get("run", "") for s in job["steps"])
            for name, job in flow["jobs"].items()}
    assert "nox -s explore -- --regenerate" in runs["cells"]
    assert "nox -l --json -t explore | python -m compat fanout --skip-current docs/atlas.json" \
        in runs["cells"]
    assert '--summary "$GITHUB_STEP_SUMMARY"' in runs["atlas"]
    assert flow["jobs"]["cell"]["if"] == "needs.cells.outputs.jobs != '{\"include\":[]}'"
    run_cells = next(s for s in flow["jobs"]["cell"]["steps"] if "nox -s" in s.get("run", ""))
    assert run_cells["env"]["COMPAT_JOIN_TAGS"] == "explore"  # -t would ignore the -s names


def test_joined_tags_add_the_exploration_files_without_filtering_sessions(monkeypatch):
    from compat.cli import nox_sessions

    plain = {c.id for c in nox_sessions.load_or_exit(["-s", "matrix"]).cells}
    monkeypatch.setenv("COMPAT_JOIN_TAGS", "explore")
    joined = {c.id for c in nox_sessions.load_or_exit(["-s", "matrix"]).cells}
    assert plain < joined and "kokoro0.7.0-torch2.15.0-tf5.25.0-py3.11" in joined - plain


def test_skip_current_leaves_out_the_cells_the_atlas_holds_current(tmp_path, monkeypatch):
    from compat.cli import fanout
    from compat.report import atlas as atlas_mod

    listing = [{"session": f"matrix(cell='{c}')", "name": "matrix", "tags": ["py3.11"],
                "call_spec": {"cell": c}} for c in ("a", "b", "c")]
    monkeypatch.setattr(atlas_mod, "current_cells", lambda data, cells: {"b"})
    kept = fanout.without_current(listing, {"rows": []})
    assert [i["call_spec"]["cell"] for i in kept] == ["a", "c"]
    data = tmp_path / "atlas.json"
    data.write_text(json.dumps({"rows": []}))
    monkeypatch.setattr(atlas_mod, "current_cells", lambda data, cells: {"a", "b", "c"})
    monkeypatch.setattr(sys, "stdin", __import__("io").StringIO(json.dumps(listing)))
    assert fanout.main(["--skip-current", str(data)]) == 0


def test_past_githubs_256_jobs_the_fan_out_packs_cells_into_batches_and_drops_none():
    """Issue 27: one job per cell; 300 cells made a matrix GitHub refuses (256 at most)."""
    listing = [{"name": "matrix", "session": f"matrix(cell='c{n}')", "call_spec": {"cell": f"c{n}"},
                "tags": [f"py3.{11 + n % 3}"] + (["gpu"] if n % 50 == 0 else [])}
               for n in range(300)]
    out = subprocess.run([sys.executable, "-m", "compat", "fanout"], input=json.dumps(listing),
                         capture_output=True, text=True, cwd=REPO, check=True)
    jobs = json.loads(out.stdout)["include"]
    assert len(jobs) <= 256
    ran = [s for j in jobs for s in j["sessions"].splitlines()]
    assert sorted(ran) == sorted(c["session"] for c in listing)  # each cell once
    by_cell = {c["call_spec"]["cell"]: c for c in listing}
    for j in jobs:  # a batch shares one runner and one Python
        assert {f"py{j['python']}"} == {next(t for t in by_cell[c]["tags"] if t.startswith("py"))
                                        for c in j["cells"]}
        assert len({"gpu" in by_cell[c]["tags"] for c in j["cells"]}) == 1
    assert len({j["artifact"] for j in jobs}) == len(jobs)
    sizes = [len(j["cells"]) for j in jobs]
    assert max(sizes) <= 2  # as small as the cap allows
    small = subprocess.run([sys.executable, "-m", "compat", "fanout", "--max-jobs", "0"],
                           input=json.dumps(listing), capture_output=True, text=True, cwd=REPO)
    assert small.returncode == 2 and "--max-jobs" in small.stderr


#: Expressions a ``run:`` script may still inline. Empty on purpose: every value a step
#: needs reaches it through ``env:`` and is read as "$VAR", so no value is ever parsed as
#: shell. Only contexts the runner sets and nobody can write (``runner.os``,
#: ``runner.arch``) would be harmless; none is needed today.
INLINE_OK: set[str] = set()
EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.S)
#: Keys whose value GitHub runs as code: ``run`` (the shell), ``script`` of
#: actions/github-script.
CODE_KEYS = ("run", "script")


def inlined_expressions(path: Path) -> list[str]:
    """``file: job/step: expression`` for every ``${{ ... }}`` inside a script."""
    data = yaml.safe_load(path.read_text())
    found = []
    for job_name, job in data["jobs"].items():
        for n, step in enumerate(job.get("steps", [])):
            where = f"{path.name}: {job_name}/{step.get('name') or step.get('id') or n}"
            for key in CODE_KEYS:
                code = step.get(key) if key == "run" else (step.get("with") or {}).get(key)
                for expr in EXPRESSION.findall(str(code or "")):
                    if expr.strip() not in INLINE_OK:
                        found.append(f"{where}: {key}: ${{{{{expr}}}}}")
    return found


def test_no_expression_is_inlined_into_a_script():
    """A cell id, a session name, a workflow input or a branch name inlined into ``run:``
    is pasted into the shell script before it runs: a backtick in it runs as a command.
    They go through ``env:`` instead, where they stay data."""
    found = [hit for path in FILES for hit in inlined_expressions(path)]
    assert found == [], "\n".join(found)


def test_the_inline_check_sees_an_inlined_value(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  j:\n    runs-on: x\n    steps:\n"
                   "      - run: nox -s \"${{ matrix.session }}\"\n"
                   "      - run: echo ok\n        env:\n          A: ${{ inputs.matrix }}\n"
                   "      - uses: actions/github-script@v7\n"
                   "        with:\n          script: console.log('${{ github.head_ref }}')\n")
    assert inlined_expressions(bad) == [
        "bad.yml: j/0: run: ${{ matrix.session }}",
        "bad.yml: j/2: script: ${{ github.head_ref }}",
    ]


ACTION = REPO / "action.yml"


def action_steps() -> list[dict]:
    return yaml.safe_load(ACTION.read_text())["runs"]["steps"]


def test_the_action_is_composite_and_every_input_goes_through_env():
    data = yaml.safe_load(ACTION.read_text())
    assert data["runs"]["using"] == "composite"
    for n, step in enumerate(action_steps()):
        assert EXPRESSION.findall(step.get("run", "")) == [], f"action.yml step {n}: inlined"
        if "run" in step:
            assert step["shell"] == "bash", f"action.yml step {n}: a composite needs a shell"
    read = " ".join(str(v) for step in action_steps()
                    for v in [*(step.get("env") or {}).values(),
                              *(step.get("with") or {}).values()])
    for name in data["inputs"]:
        assert f"inputs.{name}" in read, f"input {name!r} is never read"
    gate = next(s for s in action_steps() if s.get("id") == "gate")
    assert gate["run"].strip() == 'bash "$ACTION_PATH/.ci/gate-action"'


def test_the_example_project_gates_through_the_action():
    (uses,) = [s for s in steps(EXAMPLE / "xtts-gate.yml") if "xtts-compat@" in s.get("uses", "")]
    assert uses["uses"].endswith("/xtts-compat@v1")
    assert uses["with"] == {"requirements": "requirements.txt"}
    checkout = steps(EXAMPLE / "xtts-gate.yml")[0]
    assert checkout["with"]["fetch-depth"] == 0


def action_run(app: Path, ACTION_PATH: str = str(REPO), **inputs: str
               ) -> subprocess.CompletedProcess:
    """The Action's gate step as the runner runs it: its script, inputs in the environment,
    in the project's folder (the workspace)."""
    import os

    env = {**os.environ, "ACTION_PATH": ACTION_PATH, "RESULTS": str(app.parent / "gate"),
           **{f"INPUT_{k.upper()}": v for k, v in inputs.items()}}
    env.pop("BASE_REF", None)
    env.pop("GITHUB_WORKSPACE", None)
    return subprocess.run(["bash", str(Path(ACTION_PATH) / ".ci" / "gate-action")],
                          capture_output=True, text=True, env=env, cwd=app, timeout=600)


def test_the_action_step_runs_here(tmp_path):
    """Run locally: nothing bumped, nothing to gate (exit 0); no base at all, exit 2 with
    the reason; a base given as input with a hostile value stays one argument."""
    from test_gate import downstream

    app = downstream(tmp_path)
    quiet = action_run(app, base="HEAD", requirements="requirements.txt", root=str(app))
    assert quiet.returncode == 0, quiet.stdout + quiet.stderr
    assert "no requirement file changed since HEAD" in quiet.stdout
    none = action_run(app, root=str(app))
    assert none.returncode == 2 and "no base to diff against" in none.stderr
    hostile = action_run(app, base="HEAD; touch pwned", root=str(app))
    assert hostile.returncode != 0 and not (app / "pwned").exists()
    assert not (tmp_path / "pwned").exists()


def test_the_action_gates_the_project_it_runs_in_with_its_default_root(tmp_path):
    """Failed before issue 26: the default root '.' was resolved after nox had changed
    into the Action's folder, so the gate diffed xtts-compat itself ("no requirement file
    changed"); from a plain download of the Action (not a git checkout, as `uses:` gives)
    it exited 2 with a line of git's usage text. Here the Action is such a copy and the
    step runs in the project's folder with no root input."""
    import shutil

    from test_gate import downstream

    action = tmp_path / "action"
    shutil.copytree(REPO, action, ignore=shutil.ignore_patterns(
        ".git", ".nox", "results", "reports", "__pycache__", ".fixture-cache", "site"))
    app = downstream(tmp_path)
    text = (app / "requirements.txt").read_text()
    (app / "requirements.txt").write_text(text + "# reviewed\n")  # changed, no pin moved
    env_path = {"ACTION_PATH": str(action)}
    ran = action_run(app, base="HEAD", requirements="requirements.txt", **env_path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "requirements.txt changed, but no watched pin did" in ran.stdout
    missing = action_run(app, base="HEAD", root="no-such-folder", **env_path)
    assert missing.returncode == 2 and "not a folder of the workspace" in missing.stderr


def test_the_gate_workflow_runs_on_dependency_changes_with_the_base_branch():
    data = yaml.safe_load((WORKFLOWS / "compat-gate.yml").read_text())
    trigger = data.get("on", data.get(True))
    assert "requirements*.txt" in trigger["pull_request"]["paths"]
    gate = next(s for s in steps(WORKFLOWS / "compat-gate.yml")
                if "nox -s gate" in s.get("run", ""))
    assert '--from-diff "origin/$BASE_REF"' in gate["run"]
    assert gate["env"]["BASE_REF"] == "${{ github.base_ref }}"
    checkout = next(s for s in steps(WORKFLOWS / "compat-gate.yml")
                    if s.get("uses", "").startswith("actions/checkout"))
    assert checkout["with"]["fetch-depth"] == 0


@pytest.mark.e2e
@pytest.mark.timeout(2400)
def test_fan_out_simulated_two_machines_one_report(smoke_run, tmp_path):
    """Two cells, each in its own process and results folder, as two runners would; then
    the report job merges the folders."""
    _, _, env = smoke_run
    folders = {}
    for machine, cell in (("runner-a", RELEASE_ERA), ("runner-b", PY312_LEGACY)):
        folder = tmp_path / machine
        job = {**env, "COMPAT_RESULTS": str(folder), "COMPAT_MACHINE_NAME": machine,
               "COMPAT_REPORTS": str(tmp_path / f"{machine}-report")}
        # The merge is under test, not the tiers: the first three are enough.
        out = nox("-s", f"matrix(cell='{cell}')", "--", "--tiers", "import,load,synth",
                  env=job, timeout=1800)
        assert out.returncode == 0, out.stderr[-3000:]
        folders[machine] = folder
    merged = tmp_path / "merged"
    out = nox("-s", "report", "--", *map(str, folders.values()),
              env={**env, "COMPAT_REPORTS": str(merged)})
    assert out.returncode == 0, out.stderr[-3000:]
    data = json.loads((merged / "compat-report.json").read_text())
    assert {(e["cell"], e["machine"].split("|")[0]) for e in data["entries"]} == {
        (RELEASE_ERA, "runner-a"), (PY312_LEGACY, "runner-b")}
    assert "| Machine |" in (merged / "compat-report.md").read_text()


def test_every_action_is_pinned_by_hash_and_no_checkout_keeps_credentials():
    """Failed before issue 26 (zizmor found 21 issues): actions referenced by a movable tag,
    workflows with the default (broad) token permissions, checkouts that persisted the
    token into the workspace. `nox -s lint` runs zizmor itself; this checks the same
    rules without it."""
    files = [*WORKFLOWS.glob("*.yml"), ACTION]
    for path in files:
        data = yaml.safe_load(path.read_text())
        every = [s for job in (data.get("jobs") or {}).values() for s in job["steps"]] + (
            (data.get("runs") or {}).get("steps") or [])
        for step in every:
            uses = step.get("uses", "")
            if uses.startswith("actions/"):
                assert re.fullmatch(r"[\w./-]+@[0-9a-f]{40}", uses), f"{path.name}: {uses}"
            if uses.startswith("actions/checkout@"):
                assert (step.get("with") or {}).get("persist-credentials") is False, path.name
        if "jobs" in data:
            assert data.get("permissions") == {}, f"{path.name}: top-level permissions"
            for name, job in data["jobs"].items():
                assert job.get("permissions") == {"contents": "read"}, f"{path.name}: {name}"
