"""Run one cell: install, probe, tiers, result. Independent of nox, so tests and the
benchmark can drive it; ``compat.cli.nox_sessions`` adapts a nox session to it."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from compat import engines
from compat.cells import Cell
from compat.engines import Engine
from compat.env import cellenv, host
from compat.env.install import InstallResult, install, stamp, uv_executable
from compat.incell.atomicio import write_json_atomic
from compat.incell.bundled import module as bundled_module
from compat.incell.status import ran
from compat.result import artifacts, benchfigures, crash
from compat.result import files as results
from compat.result.fingerprint import (
    changed_tiers,
    fingerprint,
    platform_tag,
    suite_digest,
    tier_digests,
    with_golden,
)
from compat.run import repair, shimrounds
from compat.system import paths
from compat.system.load import LoadMeter, tier_from_report
from compat.system.machine import machine_info
from compat.system.progress import Progress
from compat.system.supervise import (
    EXITED,
    INTERRUPTED,
    Interrupted,
    Outcome,
    interruptible,
    supervise,
)

REPO = paths.REPO
PROBE_TIMEOUT = 600.0
PROGRESS_LINE = re.compile(r"\[\s*\d+%\]$")
#: Environment of every tier run: offline, no prompts, unbuffered. Bytecode is written:
#: a cell's environment keeps the compiled modules of torch, transformers and the engine
#: after their first import, so every later process (probe, each round, each rerun) reads
#: them instead of compiling thousands of files again (issue 27: importing TTS 0.22.0 took
#: 35.6 s from source and 14.3 s from bytecode, one machine, one run).
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
               "PYTHONUNBUFFERED": "1", "MPLBACKEND": "Agg", "PYTORCH_ENABLE_MPS_FALLBACK": "1"}


@dataclass
class CellRun:
    """Everything one cell run needs; built by the nox adapter or by a test."""

    cell: Cell
    engine: Engine
    results_dir: Path
    interpreter: str | None
    venv: Path | None
    backend: str
    progress: Progress
    force: bool = False
    recreate_venv: Callable[[], None] | None = None
    installer: Callable[..., InstallResult] = install
    #: The cell's interpreter when it is not ``venv/bin/python`` (``here`` runs).
    cell_python: Path | None = None
    #: Folders put on the cell's PYTHONPATH after the repo (a pytest overlay for ``here``).
    extra_path: tuple[Path, ...] = ()
    #: Rerun failed tiers with the shims that address them (off: the environment as is).
    shim_rounds: bool = True
    #: Creates the empty environment of a repair round: (backend, interpreter, folder).
    make_env: Callable[[str, str, Path], None] | None = None
    #: Run only these tiers (those whose tests changed since the stored result).
    only: tuple[str, ...] = ()
    #: Where the synth tier writes a golden output (``nox -s golden``): such a run judges
    #: nothing, and its fingerprint (which holds this path) matches no other run's.
    write_golden: Path | None = None
    #: torch's threads in the cell (``--jobs N``: cores // N); None: torch's own choice.
    #: Not in the fingerprint: threads change no verdict.
    threads: int | None = None

    @property
    def work_dir(self) -> Path:
        return self.results_dir / self.cell.id

    @property
    def python(self) -> Path:
        assert self.venv is not None
        return self.cell_python or self.venv / "bin" / "python"


def interpreter_version(interpreter: str) -> str | None:
    try:
        out = subprocess.run(
            [interpreter, "-c", "import platform; print(platform.python_version())"],
            capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def run_cell(run: CellRun) -> dict[str, Any]:
    """Run the cell unless an up-to-date result exists; return the result written.

    SIGTERM or SIGINT meanwhile ends the cell's running processes, records the cell as
    ``interrupted`` (not a verdict: the next run reruns it) and raises ``Interrupted``."""
    with interruptible():
        return _run_cell(run)


def _run_cell(run: CellRun) -> dict[str, Any]:
    cell, progress = run.cell, run.progress
    progress.start()
    py_version = interpreter_version(run.interpreter) if run.interpreter else None
    fp = fingerprint(cell.requirements(), cell.install.as_dict(), py_version or cell.python,
                     platform_tag(), suite_digest(run.engine), cell.unpinned,
                     inputs={**cellenv.chosen(), **run.engine.inputs(), **golden_writer(run)})
    digests = with_golden(with_shared(tier_digests(run.engine.tier_dir, run.engine.plan()),
                                      run), run.engine)
    path = results.result_path(run.results_dir, cell.id)
    stored = results.read_result(path)
    if stored and stored.get("outcome") == INTERRUPTED:
        progress.log(f"{progress.prefix}: the last run was interrupted before it finished; "
                     "rerunning it")
    elif stored and stored.get("fingerprint") == fp and not run.force:
        changed = wanted_changes(run, stored, digests)
        if not changed:
            progress.finish(f"up to date ({path}); not rerun (pass --force to rerun)")
            return stored
        if rerunnable(stored, changed):
            changed = with_failed_needs(run.engine, stored, changed)
            progress.log(f"{progress.prefix}: tier test(s) or their inputs changed: rerunning "
                         f"{', '.join(changed)}; keeping {', '.join(kept(stored, changed))}")
            run = replace(run, only=tuple(changed))
            partial = _run_cell_fresh(run, fp, digests, partial=True)
            return _merge_partial(run, stored, partial, changed)
    return _run_cell_fresh(run, fp, digests)


def golden_writer(run: CellRun) -> dict[str, str]:
    return {"COMPAT_WRITE_GOLDEN": str(run.write_golden)} if run.write_golden else {}


def with_shared(digests: dict[str, str], run: CellRun) -> dict[str, str]:
    """The tier digests, those of tiers reading what other cells left mixed with what
    they left (compat.result.artifacts): a new or changed producer reruns the consuming tier."""
    _, shared = artifacts.shared_inputs(run.results_dir, run.engine, run.cell.id)
    return {name: (f"{value}+{shared[name]}" if name in shared else value)
            for name, value in digests.items()}


def wanted_changes(run: CellRun, stored: dict[str, Any], digests: dict[str, str]) -> list[str]:
    """The tiers to run again for a stored result of the same fingerprint: of the tiers
    wanted (``run.only``, else all), those whose test changed and those the stored run
    left out (it ran only some: a culprit finder's trial, a confirming run)."""
    names = [t.name for t in run.engine.tiers]
    wanted = [n for n in names if not run.only or n in run.only]
    covered = stored.get("only") or names
    changed = changed_tiers(stored.get("tier_digests"), digests)
    return [n for n in wanted if n in changed or n not in covered]


def rerunnable(stored: dict[str, Any], changed: list[str]) -> bool:
    """A stored result can keep its unchanged tiers when it completed and every changed
    tier ran or was blocked in it (an install failure is rerun whole)."""
    tiers = stored.get("tiers", {})
    return (stored.get("outcome") == "completed"
            and tiers.get("install", {}).get("status") == "pass"
            and all(name in tiers for name in changed))


def with_failed_needs(engine: Engine, stored: dict[str, Any], changed: list[str]) -> list[str]:
    """The changed tiers, and for each one whose needs (transitively) did not all pass bare
    in the stored result, every tier it needs: a tier run alone takes its needs as given
    and would fail in their place, where a whole run marks it ``not-run`` bare behind the
    failing need. Rerun together, the bare round and the shim rounds go as they did."""
    tiers = stored.get("tiers", {})

    def bare_passed(name: str) -> bool:
        tier = tiers.get(name, {})
        first = tier.get("repaired") or tier.get("bare") or tier
        return first.get("status") in ("pass", "diverged", "unverified")

    out = set(changed)
    for name in changed:
        chain = engine.needed(name)
        if not all(bare_passed(need) for need in chain):
            out.update(chain)
    return [t.name for t in engine.tiers if t.name in out]


def kept(stored: dict[str, Any], changed: list[str]) -> list[str]:
    return [n for n in stored.get("tiers", {}) if n not in changed and n != "install"]


def _merge_partial(run: CellRun, stored: dict[str, Any], partial: dict[str, Any],
                   changed: list[str]) -> dict[str, Any]:
    """The stored result with the rerun tiers replaced by ``partial``'s: statuses, shims
    those tiers called for, their figures; what was kept and what rerun is recorded."""
    if partial.get("outcome") != "completed":
        return stored  # kept as it was (keep_stored); the next run reruns those tiers
    merged = {**stored, "started_at": partial["started_at"],
              "finished_at": partial.get("finished_at"), "tier_digests": partial["tier_digests"],
              "machine": partial["machine"], "python": partial["python"]}
    merged["tiers"] = {**stored["tiers"], "install": partial["tiers"]["install"],
                       **{n: partial["tiers"][n] for n in changed if n in partial["tiers"]}}
    plan = dict(stored.get("shims") or {})
    new_plan = partial.get("shims") or {}
    for key in ("addressed", "addressed_after_first_round"):
        kept_part = {n: v for n, v in (plan.get(key) or {}).items() if n not in changed}
        merged_part = {**kept_part, **(new_plan.get(key) or {})}
        if merged_part:
            plan[key] = merged_part
        else:
            plan.pop(key, None)
    if new_plan.get("rerun"):
        plan.update(rerun=True, rounds=new_plan.get("rounds", []),
                    selected=new_plan.get("selected", plan.get("selected")))
    merged["shims"] = plan
    for key in ("repair", "host", "fixture", "freeze", "resolved", "probe", "devices",
                "phases"):
        if key in partial:
            merged[key] = partial[key]
    figures_rerun = any(f.tier in changed for f in run.engine.figures) or "bench" in changed
    if figures_rerun:
        merged["bench"] = partial.get("bench", stored.get("bench"))
    merged["artifacts"] = {**(stored.get("artifacts") or {}), **(partial.get("artifacts") or {})}
    merged["rerun"] = {"tiers": changed, "kept": kept(stored, changed),
                       "kept_from": stored.get("started_at")}
    if stored.get("only"):  # a run of some tiers: the merge covers those and these
        covered = set(stored["only"]) | set(changed)
        merged["only"] = [t.name for t in run.engine.tiers if t.name in covered]
        if len(merged["only"]) == len(run.engine.tiers):
            del merged["only"]
    results.write_result(run.results_dir, merged)
    run.progress.finish(summary_line(merged))
    return merged


@dataclass(frozen=True)
class Step:
    """One named step of a cell's run: it reads the run and the result so far, records
    what it found in the result, and says whether the run goes on (False: a step that
    failed in a way that makes the next ones meaningless, its reason recorded)."""

    name: str
    run: Callable[[CellRun, dict[str, Any]], bool]


def open_record(run: CellRun, fp: str, digests: dict[str, str]) -> dict[str, Any]:
    """The result the steps fill in: the cell, its fingerprint and tier digests, the
    interpreter and the environment the cell's processes see."""
    cell = run.cell
    py_version = interpreter_version(run.interpreter) if run.interpreter else None
    result = results.new_result(cell.as_dict(), fp, machine_info())
    result["tier_digests"] = digests
    if run.only:  # the others are not-run "not selected": a later run completes them
        result["only"] = [t.name for t in run.engine.tiers if t.name in run.only]
    result["python"] = {"requested": cell.python, "version": py_version,
                        "interpreter": run.interpreter, "platform": platform_tag()}
    result["environment"] = {**cellenv.cell_environment().record(),
                             "install_dropped": cellenv.install_environment()[1]}
    if run.threads:
        result["environment"]["threads"] = run.threads  # --jobs: cores // N per cell
    run.work_dir.mkdir(parents=True, exist_ok=True)
    return result


def step_install(run: CellRun, result: dict[str, Any]) -> bool:
    """The cell's pins into its environment (reused when its stamp matches). A failed
    install ends the run: every tier is ``not-run``, or the disk is said to be full."""
    tiers: dict[str, Any] = result["tiers"]
    if run.interpreter is None or run.venv is None:
        tiers["install"] = results.tier_status(
            "error", exc_type="InterpreterNotFound",
            message=f"no working Python {run.cell.python} interpreter on this machine "
                    "(looked in COMPAT_PYTHON_X_Y, pyenv, uv, PATH)")
    else:
        _install(run, result)
    if tiers["install"]["status"] == "pass":
        return True
    if disk_full(tiers["install"]):
        record_disk_full(run, result)
    else:
        why = f"install {tiers['install']['status']}"
        for tier in run.engine.tiers:
            tiers[tier.name] = results.tier_status("not-run", reason=why)
        result["outcome"] = "install-failed"
    return False


def step_probe(run: CellRun, result: dict[str, Any]) -> bool:
    """Python, packages and devices, asked inside the cell (compat.incell.probe)."""
    _probe(run, result)
    return True


def step_host(run: CellRun, result: dict[str, Any]) -> bool:
    """The host programs the engine needs for what is installed (FFmpeg, espeak-ng)."""
    _host(run, result)
    return True


def step_tiers(run: CellRun, result: dict[str, Any]) -> bool:
    """The tiers bare, the shim rounds, and the repair rounds (each of which runs the
    tiers and their shim rounds again, in a repaired environment); then the figures."""
    _tiers(run, result)
    return True


#: A cell's run once its record is open, in order: nox's ``workflow.execute`` is the
#: model (a tuple of named steps, each taking what the one before left). The result is
#: written after the last step, or after the step that ended the run, whatever happened.
STEPS: tuple[Step, ...] = (
    Step("install", step_install),
    Step("probe", step_probe),
    Step("host", step_host),
    Step("tiers", step_tiers),
)


def _run_cell_fresh(run: CellRun, fp: str, digests: dict[str, str], partial: bool = False
                    ) -> dict[str, Any]:
    """Open the record, run ``STEPS`` (``run.only``: just those tiers), write the result.
    ``partial``: a rerun of some tiers, merged into the stored result by the caller."""
    progress = run.progress
    result = open_record(run, fp, digests)
    try:
        for step in STEPS:
            if not step.run(run, result):
                break
    except Interrupted as exc:  # stopped: the processes are ended; recorded, then raised
        record_interruption(run, result, exc)
        raise
    except Exception as exc:  # the harness's own failure is recorded, then raised
        result["outcome"] = "harness-error"
        result["harness_error"] = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        result["finished_at"] = results.now()
        progress.where_time_went()
        result["phases"] = dict(progress.phases)  # where the cell's time went, in seconds
        if not partial:
            results.write_result(run.results_dir, result)
        elif result.get("outcome") != "completed":
            keep_stored(run, result)
    if not partial or result.get("outcome") != "completed":
        progress.finish(summary_line(result))  # a partial run's line is the merged one
    return result


def keep_stored(run: CellRun, partial: dict[str, Any]) -> None:
    """A rerun of some tiers that did not finish (interrupted, the install or the harness
    failed) never replaces the stored result: that one still holds every tier's verdict,
    its changed tiers still show as stale, and the next run reruns them. What the rerun
    got to is kept beside the cell's logs, for reading."""
    aside = run.work_dir / "rerun-unfinished.json"
    write_json_atomic(aside, partial)
    run.progress.log(f"{run.progress.prefix}: the rerun of {', '.join(run.only)} did not "
                     f"finish ({partial.get('outcome')}): the stored result is kept as it "
                     f"was; what the rerun got to is in {aside}")


def summary_line(result: dict[str, Any]) -> str:
    parts = [f"{name} {tier['status']}" for name, tier in result["tiers"].items()]
    return f"{result.get('outcome', '?')}: " + ", ".join(parts)


def record_interruption(run: CellRun, result: dict[str, Any], exc: Interrupted) -> None:
    """The cell was stopped (its processes are ended by now): outcome ``interrupted``,
    every tier it had not finished ``not-run`` with why. Not a verdict; rerun next time."""
    result["outcome"] = INTERRUPTED
    result["interrupted"] = {"signal": exc.name, "at": results.now()}
    reports = sorted(run.work_dir.glob("tiers*.json"), key=lambda p: p.stat().st_mtime)
    if reports and "probe" in result:  # the tier test it was in, if the tiers had started
        result["interrupted"]["during"] = _current_test(reports[-1])
    why = f"the run was interrupted ({exc.name}) before this tier finished"
    for name in ("install", *(t.name for t in run.engine.tiers)):
        if name not in result["tiers"]:
            result["tiers"][name] = results.tier_status("not-run", reason=why)
    run.progress.log(f"{run.progress.prefix}: interrupted by {exc.name}: the cell's processes "
                     "are stopped; recorded as interrupted (no verdict), rerun next time")


#: What an installer says when the disk fills under it (pip, uv, tar, the OS).
DISK_FULL = ("No space left on device", "ENOSPC", "Disk quota exceeded")


def disk_full(install: dict[str, Any]) -> bool:
    text = f"{install.get('message') or ''}\n{install.get('traceback') or ''}"
    return any(mark in text for mark in DISK_FULL)


def record_disk_full(run: CellRun, result: dict[str, Any]) -> None:
    """The disk filled during the install: not the stack's verdict. Recorded as stopped
    (``interrupted``, no verdict) with the free space now, so the next run retries it;
    every other cell's result stays as it is."""
    free = shutil.disk_usage(run.work_dir).free / 2**30
    why = (f"the disk filled during the install ({free:.1f} GiB free now): not a verdict; "
           "free space (`nox -s clean`) and run it again")
    result["outcome"] = INTERRUPTED
    result["interrupted"] = {"signal": "disk", "at": results.now(), "reason": why}
    for tier in run.engine.tiers:
        result["tiers"][tier.name] = results.tier_status("not-run", reason=why)
    run.progress.log(f"{run.progress.prefix}: {why}")


def _current_test(report: Path) -> dict[str, str] | None:
    try:
        return json.loads(report.read_text()).get("current")
    except (OSError, ValueError, AttributeError):
        return None


def _install(run: CellRun, result: dict[str, Any]) -> None:
    assert run.venv is not None
    cell, progress = run.cell, run.progress
    reqs = cell.requirements() + list(run.engine.harness_requirements)
    previous = stamp(run.venv)
    if previous and previous.get("requirements") != reqs and run.recreate_venv:
        progress.phase("install", "pins changed: recreating the environment")
        run.recreate_venv()
    progress.phase("install", f"{run.backend}: {' '.join(cell.requirements())}")
    inst = run.installer(run.venv, run.backend, reqs, cell.install,
                   log_path=run.work_dir / "install.log", timeout=cell.install_timeout,
                   on_tick=progress.tick)
    info = {"backend": inst.backend, "reused": inst.reused, "command": inst.command,
            "log": f"{cell.id}/install.log"}
    if inst.ok:
        tier = results.tier_status("pass", seconds=round(inst.seconds, 2), **info)
        result["freeze"] = inst.freeze
        progress.done("install", "pass", inst.message if inst.reused
                      else f"{len(inst.freeze)} packages")
    else:
        cause = inst.outcome.cause if inst.outcome else "error"
        tier = results.tier_status(
            "fail", seconds=round(inst.seconds, 2), exc_type="InstallError",
            message=inst.message, cause=cause,
            traceback=inst.outcome.output_tail[-4000:] if inst.outcome else None, **info)
        progress.done("install", "FAILED", inst.message.splitlines()[0] if inst.message else "")
    result["tiers"]["install"] = tier


def _cell_env(run: CellRun, extra: dict[str, str]) -> dict[str, str]:
    assert run.venv is not None
    env = cellenv.cell_environment().env  # an allowlist, never the caller's whole shell
    env.update(OFFLINE_ENV)
    env.update(run.engine.cell_env)
    env.update(PYTHONPATH=os.pathsep.join(str(p) for p in (REPO, *run.extra_path)),
               PATH=f"{run.python.parent}{os.pathsep}{env.get('PATH', '')}")
    if (run.venv / "pyvenv.cfg").exists():
        env["VIRTUAL_ENV"] = str(run.venv)
    if run.threads:
        env.update(OMP_NUM_THREADS=str(run.threads), MKL_NUM_THREADS=str(run.threads))
    env.update(extra)
    return env


def _run_probe(run: CellRun, log_name: str = "probe.log") -> dict[str, Any]:
    """Versions and devices as the cell's own interpreter sees them."""
    out = supervise([str(run.python), "-m", "compat.incell.probe", "--devices", *engines.watched()],
                    log_path=run.work_dir / log_name, env=_cell_env(run, {}),
                    cwd=run.work_dir, timeout=PROBE_TIMEOUT, memory_limit=run.cell.memory_limit)
    try:
        return json.loads(out.output_tail.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"error": out.detail, "output": out.output_tail[-2000:], "ok": False}


def _probe(run: CellRun, result: dict[str, Any]) -> None:
    run.progress.phase("probe", "python, packages and devices in the cell")
    probe = _run_probe(run)
    result["probe"] = probe
    result["devices"] = probe.get("devices", ["cpu"])
    result["resolved"] = {k: v for k, v in probe.get("versions", {}).items() if v}
    shown = ", ".join(f"{k} {v}" for k, v in result["resolved"].items())
    run.progress.done("probe", "FAILED" if "error" in probe else "ok",
                      shown or probe.get("error", ""))
    for overlap in probe.get("shared_files") or []:  # recorded in the result's probe
        run.progress.log(f"{run.progress.prefix}: WARNING: {' and '.join(overlap['owners'])} "
                         f"both install {overlap['files']} module file(s) "
                         f"({', '.join(overlap['examples'])}): whichever was installed "
                         "last wins")


def _host(run: CellRun, result: dict[str, Any]) -> None:
    """Probe the host prerequisites the cell's packages need, before any tier runs."""
    installed = [line.split("==")[0].split(" @ ")[0] for line in result.get("freeze", [])]
    result["host"] = host.check(run.engine.host_prerequisites, installed)
    for name, state in result["host"].items():
        run.progress.done(f"host {name}", "found" if state["found"] else "MISSING",
                          f"needed by {state['needed_by']}" + (
                              "" if state["found"] else f"; install: {state['install']}"))


@dataclass
class TierRun:
    """One run of the tiers in a cell: bare, or with the shims that apply."""

    tiers: dict[str, Any]
    outcome: Outcome
    shims: dict[str, Any] | None
    files: dict[str, str]
    #: How busy the machine was meanwhile, per tier (``compat.system.load``).
    load: dict[str, Any] | None = None


def _tiers(run: CellRun, result: dict[str, Any]) -> None:
    """Run the tiers bare, then the shim rounds (``_shim_rounds``). Where a failure is a
    packaging one (``compat.run.repair``), do it all again in a repaired environment, so the
    engine is still tested; the bare packaging failure stays on record."""
    plan, rounds = _shim_rounds(run, result, tag="")
    bare = rounds[0][1].tiers
    current = run
    fixes: list[repair.Fix] = []
    repaired: list[dict[str, Any]] = []
    freeze = result.get("freeze", [])
    while run.backend != "none" and len(repaired) < repair.MAX_ROUNDS:
        more = repair.plan(rounds[-1][1].tiers, freeze, fixes, engine=run.engine.name)
        if not more:
            break
        fixes += more.fixes
        attempt = _repaired_env(run, result, fixes, len(repaired) + 1)
        repaired.append(attempt)
        if attempt["install"]["status"] != "pass":
            break
        current = attempt.pop("run")
        freeze = attempt["freeze"]
        plan, rounds = _shim_rounds(current, result, tag=f"-repaired{len(repaired)}")
        attempt["statuses"] = {n: t["status"] for n, t in rounds[0][1].tiers.items()}
    final = rounds[-1][1]
    result["shims"] = plan
    merged = merge_rounds(rounds)  # of the last environment whose tiers ran
    if current is not run:
        for name, tier in merged.items():  # bare: the packaging failure as it was met
            tier["repaired"] = tier["bare"]
            tier["bare"] = {k: bare[name][k] for k in ("status", "exc_type", "message", "reason")
                            if k in bare[name]}
    result["tiers"].update(merged)
    if repaired:
        for attempt in repaired:
            attempt.pop("freeze", None)
        ran = [a for a in repaired if "statuses" in a]  # environments whose tiers ran
        tested = ran[-1]["requirements"] if ran else []
        result["repair"] = {"fixes": [f.as_dict() for f in fixes], "rounds": repaired,
                            "tested": bool(ran), "requirements": tested,
                            "resolved": ran[-1].get("resolved", {}) if ran else {}}
    result["artifacts"] = {f"{n}:{k}" if n else k: f"{run.cell.id}/{v}"
                           for n, (_, r) in enumerate(rounds) for k, v in r.files.items()}
    measured = _figures_round(rounds, run.engine)
    result["bench"] = bench_summary(run.work_dir / measured.files["benchmark"],
                                    measured.tiers, measured.outcome)
    if measured.load is not None:  # the round that measured the figures: its load marks them
        result["bench"]["load"] = measured.load
        result["bench"]["busy"] = measured.load["busy"]
    result["outcome"] = "completed" if final.outcome.cause == EXITED else final.outcome.cause
    result["tier_run"] = {("bare" if not shims else "+".join(shims)): _outcome(r.outcome)
                          for shims, r in rounds}
    if repaired and disk_full(repaired[-1]["install"]):
        # The repair was never tried: the bare failure stands for no verdict either.
        record_disk_full(run, result)
        return
    run.progress.done("tiers", final.outcome.cause, summary_line(result))


def _shim_rounds(run: CellRun, result: dict[str, Any], tag: str
                 ) -> tuple[dict[str, Any], list[tuple[list[str], TierRun]]]:
    """Run the tiers bare. Where failures are ones shims address, run them again with just
    those shims; if what is left fails in ways other applicable shims address, once more
    with every shim that applies. Each tier records the smallest set it passed with."""
    rounds: list[tuple[list[str], TierRun]] = [([], _run_tiers(run, result, [], tag))]
    plan: dict[str, Any] = (
        shim_plan(run, rounds[0][1].tiers) if run.shim_rounds else
        {"rerun": False, "reason": "shim rounds off: the environment as it is"})
    if plan["rerun"]:
        order = list(bundled_module("patches").SHIMS)
        first = sorted({s for names in plan["addressed"].values() for s in names}, key=order.index)
        rounds.append((first, _run_tiers(_rerun_only(run, rounds), result, first, tag)))
        rest = [s for s in plan["selected"] if s not in first]
        left = shimrounds.addressed_failures(shimrounds.latest(_statuses(rounds)), rest,
                                             run.engine.name)
        if left:
            plan["addressed_after_first_round"] = left
            rounds.append((plan["selected"], _run_tiers(_rerun_only(run, rounds), result,
                                                        plan["selected"], tag)))
    plan["rounds"] = [{"shims": shims, "active": (r.shims or {}).get("active", {}),
                       "statuses": {n: t["status"] for n, t in r.tiers.items() if ran(t)}}
                      for shims, r in rounds]
    return plan, rounds


def _statuses(rounds: list[tuple[list[str], TierRun]]) -> list[shimrounds.Round]:
    return [(shims, r.tiers) for shims, r in rounds]


def _rerun_only(run: CellRun, rounds: list[tuple[list[str], TierRun]]) -> CellRun:
    """The run of a shim round: only the tiers the rounds so far left failed or blocked
    (``shimrounds.to_rerun``). A tier that passed bare is not run again with shims."""
    return replace(run, only=tuple(shimrounds.to_rerun(_statuses(rounds))))


def _figures_round(rounds: list[tuple[list[str], TierRun]], engine: Engine) -> TierRun:
    """The last round that ran the tiers whose figures the result keeps (bench, the
    engine's figures): a later shim round that left them out measured nothing."""
    figure_tiers = {"bench", *(f.tier for f in engine.figures)}
    for _, r in reversed(rounds):
        if any(ran(t) for n, t in r.tiers.items() if n in figure_tiers):
            return r
    return rounds[-1][1]


def _repaired_env(run: CellRun, result: dict[str, Any], fixes: list[repair.Fix], n: int
                  ) -> dict[str, Any]:
    """A second environment beside the cell's with the fixes made (the cell's own stays
    as its pins say), installed and probed; what happened, for the result."""
    assert run.venv is not None and run.interpreter is not None
    requirements = repair.apply(run.cell.requirements(), fixes)
    venv = run.venv.with_name(f"{run.venv.name}-repaired")
    added = ", ".join(f.requirement for f in fixes)
    run.progress.phase(f"repair {n}", f"packaging failure; a second environment with {added}")
    attempt: dict[str, Any] = {"requirements": requirements, "venv": str(venv)}
    reqs = requirements + list(run.engine.harness_requirements)
    previous = (stamp(venv) or {}).get("requirements")
    if previous and not set(previous) <= set(reqs):
        # An earlier run's repair with other fixes: an install adds, never removes.
        shutil.rmtree(venv)
    if not (venv / "pyvenv.cfg").exists():
        (run.make_env or make_venv)(run.backend, run.interpreter, venv)
    inst = run.installer(venv, run.backend, reqs, run.cell.install,
                         log_path=run.work_dir / f"install-repaired{n}.log",
                         timeout=run.cell.install_timeout, on_tick=run.progress.tick)
    attempt["install"] = {"status": "pass" if inst.ok else "fail",
                          "seconds": round(inst.seconds, 2), "reused": inst.reused,
                          **({} if inst.ok else {"message": inst.message})}
    run.progress.done(f"repair {n} install", "pass" if inst.ok else "FAILED",
                      inst.message.splitlines()[0] if inst.message else added)
    if inst.ok:
        attempt["freeze"] = inst.freeze
        fixed = replace(run, venv=venv, cell_python=None, recreate_venv=None)
        probe = _run_probe(fixed, f"probe-repaired{n}.log")
        attempt["resolved"] = {k: v for k, v in probe.get("versions", {}).items() if v}
        attempt["run"] = fixed
    return attempt


def make_venv(backend: str, interpreter: str, venv: Path) -> None:
    """An empty environment for ``interpreter`` at ``venv`` (uv's, or the stdlib's)."""
    uv = uv_executable() if backend == "uv" else None
    cmd = ([uv, "venv", "--quiet", "--python", interpreter, str(venv)] if uv else
           [interpreter, "-m", "venv", str(venv)])
    subprocess.run(cmd, check=True, capture_output=True, timeout=300,
                   env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"})


def _outcome(out: Outcome) -> dict[str, Any]:
    return {"cause": out.cause, "returncode": out.returncode, "detail": out.detail,
            "seconds": round(out.seconds, 2), "peak_rss_mib": round(out.peak_rss / 2**20)}


def _run_tiers(run: CellRun, result: dict[str, Any], shims: list[str], env_tag: str = ""
               ) -> TierRun:
    assert run.venv is not None
    engine, cell = run.engine, run.cell
    tag = env_tag + (f"-shimmed{len(shims)}" if shims else "")
    files = {"tiers_report": f"tiers{tag}.json", "tiers_log": f"tiers{tag}.log",
             "junit": f"junit{tag}.xml", "benchmark": f"benchmark{tag}.json"}
    report = run.work_dir / files["tiers_report"]
    report.unlink(missing_ok=True)
    extra = {"COMPAT_TIER_PLAN": json.dumps(engine.plan()), "COMPAT_TIER_REPORT": str(report),
             "COMPAT_CELL_ID": cell.id,
             "COMPAT_DEVICES": json.dumps(result.get("devices", ["cpu"]))}
    if shims:
        extra["COMPAT_SHIMS"] = ",".join(shims)
    if run.only:
        extra["COMPAT_TIER_ONLY"] = ",".join(run.only)  # read by the tier plugin
    extra.update(golden_writer(run))
    # What this cell leaves for others, stamped with this run's fingerprint; what the
    # others left for it (compat.result.artifacts).
    extra["COMPAT_ARTIFACTS"] = str(artifacts.folder(run.results_dir, cell.id))
    extra["COMPAT_FINGERPRINT"] = str(result.get("fingerprint", ""))
    extra.update(artifacts.shared_inputs(run.results_dir, engine, cell.id)[0])
    scratch = run.work_dir / "scratch"
    if engine.prepare:
        handed = dict(engine.prepare(scratch))  # a fresh copy of the model for each run
        result["fixture"] = handed  # which model, from where, what was borrowed
        extra.update(handed)
    cmd = [str(run.python), "-m", "pytest", str(engine.tier_dir),
           "-c", str(REPO / "compat/engines/tiers.ini"), "--rootdir", str(engine.tier_dir),
           "-p", "compat.incell.tierplugin", "-v", "--junitxml", str(run.work_dir / files["junit"])]
    if result.get("resolved", {}).get("pytest-benchmark"):
        cmd += ["--benchmark-json", str(run.work_dir / files["benchmark"])]
    phase = (f"tiers with shims {', '.join(shims)}" if shims else "tiers") + (
        " (repaired environment)" if env_tag else "")
    run.progress.phase(phase, ", ".join(t.name for t in engine.tiers
                                        if not run.only or t.name in run.only))

    def echo(line: str) -> None:
        if "::" in line and PROGRESS_LINE.search(line):
            run.progress.log(f"{run.progress.prefix}:   {line.split('/')[-1]}")

    meter = LoadMeter(tier_from_report(report))  # other processes' CPU, per tier
    try:
        out = supervise(cmd, log_path=run.work_dir / files["tiers_log"],
                        env=_cell_env(run, extra), cwd=run.work_dir, timeout=cell.timeout,
                        memory_limit=cell.memory_limit, on_line=echo,
                        on_tick=run.progress.tick, on_poll=meter.poll)
    finally:
        if os.environ.get("COMPAT_KEEP_SCRATCH") != "1":
            shutil.rmtree(scratch, ignore_errors=True)  # the cell's model copy: 100 MB or more
    machine_load = meter.finish()
    try:
        shim_state = json.loads(report.read_text()).get("shims")
    except (OSError, ValueError):
        shim_state = None
    tiers = merge_tier_report(engine, report, out, run.only)
    run.progress.done(phase, out.cause, ", ".join(f"{n} {t['status']}" for n, t in tiers.items()))
    return TierRun(tiers, out, shim_state, files, machine_load)


def shim_plan(run: CellRun, tiers: dict[str, Any]) -> dict[str, Any]:
    """Which shims apply in this cell, which failures they address, and whether to rerun."""
    if not shimrounds.any_failed(tiers):
        return {"rerun": False, "reason": "every tier passed bare: no shim needed"}
    out = subprocess.run([str(run.python), "-c",
                          "import json; from compat.incell.bundled import module; "
                          "print(json.dumps(module('patches').selected()))"],
                         capture_output=True, text=True, env=_cell_env(run, {}), timeout=120)
    try:
        selected = json.loads(out.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"rerun": False, "reason": f"could not ask the cell which shims apply: "
                                          f"{out.stderr.strip()[-300:]}"}
    return shimrounds.plan(tiers, selected, run.engine.name)


def merge_rounds(rounds: list[tuple[list[str], TierRun]]) -> dict[str, Any]:
    return shimrounds.merge_rounds([(shims, r.tiers) for shims, r in rounds])


def merge_tier_report(engine: Engine, report: Path, out: Outcome,
                      only: tuple[str, ...] = ()) -> dict[str, Any]:
    """Tier statuses from the plugin's report, completed by how the process ended
    (compat.result.crash)."""
    try:
        data = json.loads(report.read_text())
    except (OSError, ValueError):
        data = {"tiers": {}, "current": None}
    return crash.attribute(engine, data, out, only)


def bench_summary(path: Path, tiers: dict[str, Any], out: Outcome) -> dict[str, Any]:
    """The benchmark figures of a cell (compat.result.benchfigures) from pytest-benchmark's file."""
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError):
        raw = {"benchmarks": []}
    return benchfigures.summary(raw, tiers, out.peak_rss)
