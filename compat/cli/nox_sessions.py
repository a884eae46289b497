"""The bridge between nox and the harness: matrix cells become nox parameters, and a
nox session runs one cell. The noxfile stays a list of thin session functions."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import nox

from compat.cells import InstallOptions, Matrix, MatrixError, reference_cell
from compat.engines import all_engines, get_engine
from compat.env import disk, host
from compat.env.install import install, remove_environments, stamp
from compat.incell.status import INTERRUPTED
from compat.plan.matrixfile import load_matrices
from compat.result import files as results
from compat.run import parallel
from compat.run.cell import OFFLINE_ENV, REPO, CellRun, make_venv, run_cell
from compat.system import paths
from compat.system.interpreters import find_python
from compat.system.machine import machine_info
from compat.system.progress import Progress

#: The parameters of every ``matrix(...)`` session, as ``nox -l --json`` shows them.
PARAM_NAMES = "python, cell, tts, torch, transformers"


def results_dir() -> Path:
    return paths.results_dir()


def reports_dir() -> Path:
    return paths.reports_dir()


def requested_tags(argv: list[str]) -> list[str]:
    """The tags nox's command line asks for (``-t a b``, ``--tags=a``): the noxfile is read
    before nox filters its sessions, so it reads them itself to add a matrix file that
    joins the selection by tag (``nox -l -t explore``)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("-t", "--tags", nargs="*", action="extend", default=[])
    known, _ = parser.parse_known_args(argv[:argv.index("--")] if "--" in argv else argv)
    return [t for t in known.tags if t]


def named_sessions(argv: list[str]) -> list[str]:
    """The sessions nox's command line names with ``-s``/``--session(s)`` (not those a
    ``-k`` keyword or a ``-t`` tag selects)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("-s", "-e", "--session", "--sessions", nargs="*", action="extend",
                        default=[], dest="sessions")
    known, _ = parser.parse_known_args(argv[:argv.index("--")] if "--" in argv else argv)
    return [s for s in known.sessions if s]


def asked_by_name(name: str, argv: list[str] | None = None) -> bool:
    """Whether ``nox -s NAME`` (or ``NAME(...)``) was asked for: a session that rewrites
    committed files runs only then, never because a ``-k`` keyword also matched it."""
    named = named_sessions(sys.argv[1:] if argv is None else argv)
    return any(s == name or s.startswith(f"{name}(") for s in named)


def load_or_exit(argv: list[str] | None = None) -> Matrix:
    """Load the selected matrix, or stop nox with the error (file, cell, key) and exit 2."""
    engines = {name: engine.distributions for name, engine in all_engines().items()}
    tags = requested_tags(sys.argv[1:] if argv is None else argv)
    # COMPAT_JOIN_TAGS=explore: those files join the selection as with -t, but sessions
    # named with -s still run alone (nox ignores -s beside -t): a fan-out job's cells.
    tags += [t for t in os.environ.get("COMPAT_JOIN_TAGS", "").split(",") if t.strip()]
    try:
        return load_matrices(paths.matrix_paths(tags=tags), engines)
    except MatrixError as exc:
        print(f"xtts-compat: invalid matrix: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def params(matrix: Matrix) -> list[Any]:
    """One ``nox.param`` per cell, selectable as ``matrix(cell='<id>')``, ``-k`` and ``-t``.

    ``python`` is the path of an interpreter that runs (or False when none does: the
    cell then records the missing interpreter instead of being skipped by nox).
    """
    out = []
    for cell in matrix.cells:
        interpreter = find_python(cell.python) or False
        tags = [*cell.tags, cell.tts_distribution, f"py{cell.python}", cell.engine]
        out.append(nox.param(interpreter, cell.id, cell.tts, cell.torch, cell.transformers,
                             id=f"cell='{cell.id}'", tags=sorted(set(tags))))
    return out


def _posargs(session: nox.Session) -> argparse.Namespace:
    return matrix_parser().parse_args(session.posargs)


def matrix_parser() -> argparse.ArgumentParser:
    """``nox -s matrix -- ...``: the options after ``--``."""
    parser = argparse.ArgumentParser(prog="nox -s matrix --", add_help=True)
    parser.add_argument("--force", action="store_true", help="rerun cells whose result is current")
    parser.add_argument("--tiers", default="", metavar="T1,T2",
                        help="run only these tiers (give the tiers they need too); a stored "
                             "result that ran them is current; 'all' runs every tier of a "
                             "cell that names its own (the exploratory matrix)")
    parser.add_argument("--jobs", type=int, default=1, metavar="N",
                        help="run N cells at once, each with cores/N threads (fewer where "
                             "their memory limits do not fit); see compat/run/parallel.py")
    return parser


def nox_queue(session: nox.Session) -> tuple[list[Any], list[Any]] | None:
    """The matrix sessions nox has run in this invocation (this one included) and those
    still queued; None when nox no longer exposes them. nox has no public API for its
    run's queue (nox 2025.x: the manifest's ``_consumed`` and ``_queue``), so this is the
    one place that reads it, and every caller has an answer without it: positions from
    the matrix file's order, no crossload catch-up. tests/e2e/test_nox_e2e.py runs it
    against the installed nox."""
    try:
        manifest = session._runner.manifest
        return ([s for s in manifest._consumed if s.name == "matrix"],
                [s for s in manifest._queue if s.name == "matrix"])
    except AttributeError:
        return None


def _position(session: nox.Session, cell_id: str, matrix: Matrix) -> tuple[int, int, list[str]]:
    """Where this cell stands among the matrix sessions nox will run in this invocation."""
    found = nox_queue(session)
    if found is None:
        ids = [c.id for c in matrix.cells]
        return ids.index(cell_id) + 1, len(ids), ids[ids.index(cell_id) + 1:]
    done, queued = found
    remaining = [str(s.func.call_spec.get("cell", "?")) for s in queued]
    return len(done), len(done) + len(queued), remaining


def chosen_tiers(asked: str, own: tuple[str, ...]) -> tuple[str, ...]:
    """The tiers a run covers: those ``--tiers`` asks for, else the cell's own ``tiers``;
    ``all`` (or neither) is every tier of the engine, given as ``()``."""
    only = tuple(t for t in asked.split(",") if t) or own
    return () if only == ("all",) else only


def run_matrix_cell(session: nox.Session, matrix: Matrix, cell_id: str) -> None:
    opts = _posargs(session)
    if os.environ.get("COMPAT_NO_REPORT") != "1":  # the culprit finder's trials: no report
        session.notify("report", posargs=[])  # queued once, runs after the last cell
    cell = matrix.by_id()[cell_id]
    engine = get_engine(cell.engine)
    only = chosen_tiers(opts.tiers, cell.tiers)
    unknown = sorted(set(only) - {t.name for t in engine.tiers})
    if unknown:
        session.error(f"--tiers {opts.tiers}: no tier {', '.join(unknown)} in the {engine.name} "
                      f"engine (its tiers: {', '.join(t.name for t in engine.tiers)})")
    position, total, remaining = _position(session, cell_id, matrix)
    if position == 1:  # before the first cell: what this host lacks, and how to install it
        for line in host.summary({name for c in matrix.cells
                                  for name in get_engine(c.engine).host_prerequisites}):
            (session.log if ": found" in line else session.warn)(line)
        say_disk(session, matrix, [cell_id, *remaining], at_once=max(1, opts.jobs))
    if opts.jobs > 1 and position == 1 and remaining:
        run_in_parallel(session, matrix, [cell_id, *remaining], opts)
        return
    if opts.jobs > 1 and position > 1:  # run by the first session's pool (even with --force)
        session.log(f"{cell_id}: run in this invocation's --jobs {opts.jobs} pool")
        location = getattr(getattr(session, "virtualenv", None), "location", None)
        if location and not cell.keep_env:
            # nox made this session an empty environment after the pool had removed the
            # cell's own (keep-env = false): an exploration left one per cell behind.
            shutil.rmtree(location, ignore_errors=True)
        return
    progress = Progress(session.log, cell_id, position, total, remaining)
    has_venv = bool(session.python) and session.virtualenv.location is not None
    venv = Path(session.virtualenv.location) if has_venv else None

    def recreate() -> None:
        session.virtualenv.reuse_existing = False  # type: ignore[attr-defined]
        session.virtualenv.create()

    # A last cell the disk cannot fit still leaves the catch-up to run: the cells before
    # it ran, and their crossload may be behind what the others left.
    if venv is None or refuse_if_full(session, cell, engine, venv):
        run = CellRun(cell=cell, engine=engine, results_dir=results_dir(),
                      interpreter=str(session.python) if session.python else None, venv=venv,
                      backend=session.venv_backend if has_venv else "none", progress=progress,
                      force=opts.force, recreate_venv=recreate, only=only)
        try:
            run_cell(run)
        finally:
            if venv is not None and not cell.keep_env:
                remove_environments(venv, session.log)
    if position == total:
        catch_up_pairs(session, matrix, cell_id)


def run_in_parallel(session: nox.Session, matrix: Matrix, ids: list[str],
                    opts: argparse.Namespace) -> None:
    """``--jobs N``: this first session runs every selected cell, N at a time
    (compat.run.parallel), each in the environment nox would make for it; nox's later
    sessions of these cells find their results current."""
    if opts.jobs < 1:
        session.error("--jobs must be at least 1")
    cells = [matrix.by_id()[i] for i in ids]
    plan = parallel.plan(opts.jobs, [c.memory_limit for c in cells])
    if plan.why:
        session.warn(plan.why)
    session.log(f"--jobs {plan.jobs}: {len(cells)} cells, {plan.jobs} at a time, "
                f"{plan.threads} torch thread(s) each")
    location = session.virtualenv.location
    envdir = Path(location).parent if location else REPO / ".nox"
    runs = []
    for n, cell in enumerate(cells, 1):
        engine = get_engine(cell.engine)
        interpreter = find_python(cell.python)
        venv = envdir / f"matrix-cell-{_slug(cell.id)}"
        progress = Progress(session.log, cell.id, n, len(cells), [])
        runs.append(CellRun(cell=cell, engine=engine, results_dir=results_dir(),
                            interpreter=interpreter, venv=venv if interpreter else None,
                            backend=session.venv_backend if interpreter else "none",
                            progress=progress, force=opts.force,
                            recreate_venv=_recreator(session.venv_backend, interpreter, venv),
                            only=chosen_tiers(opts.tiers, cell.tiers), threads=plan.threads))

    def before(run: CellRun) -> bool:
        """When the cell's turn comes, not when it is queued: the disk as the cells before
        it left it, and its environment made only now (a stopped run leaves none for the
        cells it never started)."""
        if run.venv is None or run.interpreter is None:
            return True  # run_cell records the missing interpreter
        if not refuse_if_full(session, run.cell, run.engine, run.venv):
            return False
        if not (run.venv / "pyvenv.cfg").exists():
            make_venv(session.venv_backend, run.interpreter, run.venv)
        return True

    def after(run: CellRun) -> None:
        if run.venv is not None and not run.cell.keep_env:
            remove_environments(run.venv, session.log)

    parallel.run_cells(runs, plan.jobs, session.log, after=after, before=before)
    # Cells that ran beside a producer listed its checkpoint before the producer rewrote
    # it (all results stale: every cell reruns its finetune tier), and a cell that ran
    # before a producer never saw it: their crossload reruns now, with nothing left to
    # move under it, as one at a time's catch-up after the last cell does.
    catch = pairs_behind(session, matrix, [(r.cell.id, r.venv, r.interpreter) for r in runs],
                         threads=plan.threads)
    if catch:
        session.log(f"catch-up: {len(catch)} cell(s) check their "
                    f"{', '.join(sorted({t for c in catch for t in c.only}))} against what "
                    "the others left")
        parallel.run_cells(catch, plan.jobs, session.log)


def _recreator(backend: str, interpreter: str | None, venv: Path) -> Any:
    """What recreates a cell's environment when its pins changed (a fresh, empty one)."""
    def recreate() -> None:
        shutil.rmtree(venv, ignore_errors=True)
        if interpreter:
            make_venv(backend, interpreter, venv)
    return recreate


def is_current(cell: Any, stored: dict[str, Any]) -> bool:
    """Whether a stored result is what running ``cell`` now would be fingerprinted as."""
    from compat.result.fingerprint import current_fingerprint

    return stored.get("fingerprint") == current_fingerprint(cell, stored)


def say_disk(session: nox.Session, matrix: Matrix, ids: list[str], at_once: int = 1) -> None:
    """Before the first cell: what this run will take of the disk, and what is free. A
    one-off cell's environment (keep-env = false) is removed once it is done, so at most
    ``at_once`` of them (the run's jobs) hold the disk together: an exploration of 284
    cells with --jobs 2 was once said to need 282 environments (282 GiB) more than it
    would ever hold."""
    cache = disk.uv_cache_dir()
    location = getattr(getattr(session, "virtualenv", None), "location", None)
    envdir = Path(location).parent if location else REPO / ".nox"
    cells = [c for c in matrix.cells if c.id in ids]
    needs = [disk.cell_need(c.id, c.torch, c.python, cache,
                            has_env=bool(stamp(envdir / f"matrix-cell-{_slug(c.id)}")))
             for c in cells]
    total, builds = disk.run_need(needs)
    new = [c.keep_env for c, n in zip(cells, needs) if "its environment" in n.why]
    one_off = new.count(False)
    total -= max(0, one_off - at_once) * disk.ENVIRONMENT
    available = disk.free(envdir)
    line = (f"disk: this run needs about {disk.human(total)} ({builds} torch build(s) not in "
            f"uv's cache, {new.count(True)} new environment(s) kept"
            + (f", {one_off} one-off, {min(one_off, at_once)} at a time" if one_off else "")
            + f"); {disk.human(available)} free")
    (session.warn if total + disk.reserve() > available else session.log)(
        line + ("; cells that cannot fit will not start" if total + disk.reserve() > available
                else ""))


def _slug(cell_id: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in cell_id)


def refuse_if_full(session: nox.Session, cell: Any, engine: Any, venv: Path) -> bool:
    """Start the cell only if the disk can fit it; else record it as stopped before it
    began (no verdict: the next run retries it), with the numbers. True: go on."""
    need = disk.cell_need(cell.id, cell.torch, cell.python, disk.uv_cache_dir(),
                          has_env=bool(stamp(venv)))
    why = disk.refusal(need, disk.free(venv.parent))
    if why is None:
        return True
    session.warn(f"{cell.id}: {why}")
    result = results.new_result(cell.as_dict(), "", machine_info())
    result.update(outcome=INTERRUPTED, finished_at=results.now(),
                  interrupted={"signal": "disk", "at": results.now(), "reason": why})
    for name in ("install", *(t.name for t in engine.tiers)):
        result["tiers"][name] = results.tier_status("not-run", reason=why)
    results.write_result(results_dir(), result)
    return False


def catch_up_pairs(session: nox.Session, matrix: Matrix, current: str) -> None:
    """After the last cell: the cells that ran before it in this invocation rerun their
    tiers ``of_pairs`` (crossload) where what the later cells left changed, so one
    ``nox -s matrix`` fills the whole grid (:func:`pairs_behind`)."""
    found = nox_queue(session)
    if found is None:
        return
    ran = [(str(r.func.call_spec.get("cell")),  # type: ignore[attr-defined]
            getattr(getattr(r, "venv", None), "location", None), r.func.python)
           for r in found[0]]
    for run in pairs_behind(session, matrix, [entry for entry in ran if entry[0] != current]):
        run.progress.log(f"[catch-up {run.progress.position}/{run.progress.total}] "
                         f"{run.cell.id}: {', '.join(run.only)} with what the later cells left")
        run_cell(run)


def pairs_behind(session: nox.Session, matrix: Matrix, ran: list[tuple[str, Any, Any]],
                 threads: int | None = None) -> list[CellRun]:
    """Of the cells that ran (id, environment folder, interpreter), those whose tiers
    ``of_pairs`` may be behind what the others left, as runs of those tiers alone:
    ``run_cell`` reruns a tier only where its inputs changed. A cell whose environment is
    gone (keep-env = false) or whose result is stale is left as it is, and said so."""
    todo = []
    for cell_id, location, python in ran:
        cell = matrix.by_id().get(cell_id)
        if cell is None:
            continue
        engine = get_engine(cell.engine)
        tiers = tuple(t.name for t in engine.tiers if t.of_pairs
                      and (not cell.tiers or t.name in cell.tiers))
        if not tiers:
            continue
        if not location or not (Path(location) / "pyvenv.cfg").exists():
            session.log(f"{cell.id}: its environment is gone; {', '.join(tiers)} not "
                        "brought up to date with the later cells")
            continue
        stored = results.read_result(results.result_path(results_dir(), cell.id))
        if stored and not is_current(cell, stored):
            # A crossload-only run would replace the stale result with one of a tier.
            session.log(f"{cell.id}: its result is stale (pins or code changed since it "
                        f"ran); rerun the cell to bring {', '.join(tiers)} up to date")
            continue
        todo.append((cell, engine, tiers, Path(location), python))
    return [CellRun(cell=cell, engine=engine, results_dir=results_dir(),
                    interpreter=str(python) if python else None, venv=venv,
                    backend=session.venv_backend, only=tiers, threads=threads,
                    progress=Progress(session.log, cell.id, n, len(todo),
                                      [c.id for c, *_ in todo[n:]]))
            for n, (cell, engine, tiers, venv, python) in enumerate(todo, 1)]


def run_pytest(session: nox.Session, marker: str, *extra: str) -> None:
    """The suite's own tests selected by a marker expression, in a session that has the
    project and its test extras."""
    session.install("-e", ".[test]")
    show_versions(session)
    session.run("pytest", "-m", marker, *extra, *session.posargs)


def show_versions(session: nox.Session) -> None:
    """Print the resolved versions of the session's environment before it tests anything."""
    if session.venv_backend == "uv":
        session.run("uv", "pip", "list", external=True)
    else:
        session.run("python", "-m", "pip", "list", "--disable-pip-version-check")


def fixture_params() -> list[Any]:
    """One ``fixtures(engine=...)`` session per engine that has a fixture."""
    return [nox.param(find_python(reference_cell(e).python) or False, name,
                      id=f"engine='{name}'")
            for name, e in sorted(all_engines().items()) if e.fixture is not None]


def fixture_sessions(matrix: Matrix) -> list[str]:
    """The fixture sessions the matrix's cells need: their engines' only."""
    used = {cell.engine for cell in matrix.cells}
    return [f"fixtures(engine='{name}')" for name, e in sorted(all_engines().items())
            if name in used and e.fixture is not None]


def build_fixture(session: nox.Session, engine_name: str) -> None:
    """Verify the cached canonical fixture, or build it in its known environment.

    The build goes to a temporary folder renamed into place once verified, so a failed
    or interrupted build never leaves a half fixture in the cache.
    """
    parser = argparse.ArgumentParser(prog="nox -s fixtures --")
    parser.add_argument("--rebuild", action="store_true", help="build even if cached")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--env", action="store_true",
                        help="install the builder's environment even when the cached fixture "
                             "is verified (to build it elsewhere, as the kernel-set test does)")
    opts, _ = parser.parse_known_args(session.posargs)
    spec = get_engine(engine_name).fixture
    assert spec is not None
    folder = spec.folder() if opts.seed is None else spec.folder(opts.seed)
    verified = False
    if folder.is_dir() and not opts.rebuild:
        try:
            spec.verify(folder)
            session.log(f"fixture {folder}: present and verified (-- --rebuild to rebuild)")
            verified = True
        except Exception as exc:  # a bad cache entry is rebuilt, and said so
            session.warn(f"fixture {folder}: {exc}; rebuilding")
    if verified and not opts.env:
        return
    if not session.python:
        python = reference_cell(get_engine(engine_name)).python
        session.error(f"no Python {python} to build the {engine_name} fixture")
    venv = Path(session.virtualenv.location)
    logs = folder.parent / "logs"
    requirements = reference_cell(get_engine(engine_name)).requirements()
    session.log(f"fixture environment: {' '.join(requirements)}")
    inst = install(venv, session.venv_backend, requirements, InstallOptions(),
                   log_path=logs / f"{engine_name}-install.log")
    if not inst.ok:
        session.error(f"cannot install the fixture environment:\n{inst.message}")
    if verified:  # --env: the environment only
        return
    tmp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    args = ["python", "-m", spec.builder, "--out", str(tmp)]
    if opts.seed is not None:
        args += ["--seed", str(opts.seed)]
    session.run(*args, env={**OFFLINE_ENV, **get_engine(engine_name).cell_env,
                            "PYTHONPATH": str(REPO)})
    spec.verify(tmp)
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(tmp, folder)
    session.log(f"fixture {folder}: built and verified")


def make_golden(session: nox.Session, engine_name: str) -> None:
    """Run the engine's reference cell with the golden writer on: the synth tier saves its
    codes, first-step logits and waveform, keyed to the hashes of its inputs. Only the
    golden tier and the tiers it needs run (the others judge nothing the golden holds,
    and some cannot pass alone: crossload needs other cells' checkpoints). The output goes
    to a temporary folder, moved where every other cell looks for it only once each of
    those tiers passed; a failed run leaves the committed golden as it was."""
    engine = get_engine(engine_name)
    assert engine.fixture is not None and engine.golden_dir is not None
    target = engine.golden_dir(engine.fixture.folder())
    staging = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    tiers = (*engine.needed(engine.golden_tier), engine.golden_tier)
    try:
        run = CellRun(cell=reference_cell(engine), engine=engine,
                      results_dir=results_dir() / "golden", interpreter=str(session.python),
                      venv=Path(session.virtualenv.location), backend=session.venv_backend,
                      progress=Progress(session.log, "golden", 1, 1), force=True,
                      write_golden=staging, only=tiers)
        result = run_cell(run)
        bad = {n: t["status"] for n, t in result["tiers"].items()
               if n in ("install", *tiers) and t["status"] != "pass"}
        if bad or not (staging / "golden.json").is_file():
            session.error(f"the reference cell did not pass ({bad or 'no golden written'}); "
                          f"{target} left as it was")
        replace_folder(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    session.log(f"golden output written to {target}")


def replace_folder(new: Path, target: Path) -> None:
    """Put ``new`` at ``target``: the old one is renamed aside first and removed after, so
    an interruption leaves either folder whole, never a mix."""
    old = target.with_name(f"{target.name}.old-{os.getpid()}")
    if target.exists():
        os.replace(target, old)
    os.replace(new, target)
    shutil.rmtree(old, ignore_errors=True)
