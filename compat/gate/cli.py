"""The gate's command line: the baseline gate and the bump gate."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from compat.cells import Cell, InstallOptions, MatrixError
from compat.engines import get_engine
from compat.gate.baseline import (
    BASELINE,
    fill_baseline,
    gaps,
    read_baseline,
    update_baseline,
)
from compat.gate.output import CANNOT_RUN, OK, _undecided, busy_note, publish, render
from compat.gate.policy import (
    CONFIRM_TIERS,
    Change,
    GateError,
    compare,
    expectation,
    fastest,
    slowdowns,
)
from compat.plan import bumps
from compat.plan.bumps import bump, cell_from_pins, distinguished, pins_from_diff
from compat.plan.matrixfile import load_matrices
from compat.report.collect import collect
from compat.report.model import INTERRUPTED, STALE, build
from compat.run.via_nox import run_cells
from compat.system import paths
from compat.system.paths import REPO
from compat.system.supervise import run_stopping_child


def _report_entries(results_dir: Path, cells: list[Cell] | None) -> list[dict[str, Any]]:
    """The report's entries of a results folder; an unreadable result file is named on
    stderr and left out. With ``cells`` (the gate's matrix), a result that no longer
    stands for its cell is ``stale``; ``[]``: none is checked (cells the gate just ran)."""
    found = collect([results_dir])
    for problem in found.problems:
        print(f"gate: unreadable result {problem['path']}: {problem['problem']}",
              file=sys.stderr)
    return build(found, cells=None if cells is None else {c.id: [c] for c in cells})["entries"]


def _entries(results_dir: Path, cells: list[Cell] | None = None) -> dict[str, dict[str, Any]]:
    """By cell id (one machine's results: the bump gate's folder)."""
    return {e["cell"]: e for e in _report_entries(results_dir, cells)}


def _by_machine(results_dir: Path, cells: list[Cell]) -> dict[str, list[dict[str, Any]]]:
    """Per cell, one entry per machine that ran it: each is judged on its own (a failure
    on one runner is not hidden by a pass on another)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for item in _report_entries(results_dir, cells):
        out.setdefault(item["cell"], []).append(item)
    return out


def confirmed_slowdowns(old: Cell, new: Cell, before: dict[str, Any], after: dict[str, Any],
                        results_dir: Path, threshold: float
                        ) -> tuple[list[dict[str, Any]], list[Change], list[str]]:
    """Slowdowns of ``new`` against ``old``; one beyond the limit is measured again, both
    cells in reverse order, and the best of the two runs counts. The first run of a cell
    just installed measured load 1.3-1.8x slower here where a second run measured 1.08x."""
    ratios, slow = slowdowns(new.id, before, after, threshold, new.engine)
    if not slow:
        return ratios, slow, []
    print(f"gate: {len(slow)} figure(s) beyond the limit; running the {', '.join(CONFIRM_TIERS)}"
          " tiers of both cells again to confirm", flush=True)
    confirm = results_dir / "confirm"
    run_cells([new, old], confirm, force=True, label="confirm", tiers=CONFIRM_TIERS)
    again = _entries(confirm, [])
    if old.id not in again or new.id not in again:
        raise GateError(f"the confirming run left no result in {confirm}")
    first = [f"{r['figure']} on {r['device']} {r['ratio']:.2f}x" for r in ratios
             if r["ratio"] > r["limit"]]
    ratios, slow = slowdowns(new.id, fastest(before, again[old.id]["bench"]),
                             fastest(after, again[new.id]["bench"]), threshold, new.engine)
    return ratios, slow, [f"note: slower in the first run ({'; '.join(first)}); the "
                          f"best of two runs {'confirms it' if slow else 'is within the limit'}",
                          *(busy_note(again[c.id], "confirming run") for c in (new, old)
                            if again[c.id].get("busy"))]




def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nox -s gate --", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--baseline", type=Path, default=BASELINE)
    p.add_argument("--matrix", type=Path, default=None,
                   help="matrix file (default: COMPAT_MATRIX, else the default selection, "
                        "matrices/*.toml)")
    p.add_argument("--results", type=Path, default=None,
                   help="results folder (default: COMPAT_RESULTS, else results/)")
    p.add_argument("--cell", action="append", default=[], help="only these cells (repeatable)")
    p.add_argument("--no-run", action="store_true", help="compare the results already there")
    p.add_argument("--update-baseline", action="store_true",
                   help="rewrite the baseline from the results (every cell needs one)")
    p.add_argument("--missing-only", action="store_true",
                   help="with --update-baseline: only add the cells and tiers the baseline "
                        "lacks, from the results there are; change no expectation it has")
    p.add_argument("--bump", nargs="+", metavar="REQ", help="e.g. torch==2.10.0")
    p.add_argument("--from-diff", metavar="BASE", help="git base of your requirement files")
    p.add_argument("--root", type=Path, default=Path.cwd(),
                   help="the project whose requirement files --from-diff reads")
    p.add_argument("--python", default=f"{sys.version_info[0]}.{sys.version_info[1]}",
                   help="Python of the cells built by --from-diff (default: this one)")
    p.add_argument("--threshold", type=float, default=0.25,
                   help="slowdown that fails the gate, beyond the measured spread (0.25 = 25%%)")
    p.add_argument("--no-force", action="store_true",
                   help="bump mode: reuse current results instead of rerunning both cells")
    p.add_argument("--requirements", action="append", default=[], metavar="FILE",
                   help="--from-diff: the requirement files to read (names or globs; "
                        "repeatable; default: requirements*.txt, constraints*.txt, "
                        "pyproject.toml, uv.lock)")
    p.add_argument("--tiers", default="",
                   help="bump gate: run only these tiers of the two cells, comma-separated "
                        "(default: every tier; e.g. leave out the minutes-long longform)")
    p.add_argument("--no-bisect", action="store_true",
                   help="bump mode: on a regression, do not search for the release that "
                        "caused it (nox -s bisect)")
    return p


def main(argv: list[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
    except SystemExit as exc:
        return OK if exc.code == 0 else CANNOT_RUN
    try:
        if args.bump or args.from_diff:
            return _bump_gate(args)
        return _baseline_gate(args)
    except (GateError, MatrixError) as exc:
        print(f"gate: cannot run: {exc}", file=sys.stderr)
        return CANNOT_RUN


def _matrix_files(args: argparse.Namespace) -> list[Path]:
    return paths.matrix_paths(args.matrix)


def _fill_gaps(args: argparse.Namespace, cells: list[Cell],
               per_machine: dict[str, list[dict[str, Any]]]) -> int:
    """``--update-baseline --missing-only``: add the cells and tiers the baseline has no
    expectation for, from the current results of one machine; exit 2 while gaps remain."""
    holes = gaps(read_baseline(args.baseline), cells)
    usable, why = [], {}
    for cell in cells:
        if cell.id not in holes:
            continue
        found = per_machine.get(cell.id, [])
        if len(found) != 1:
            why[cell.id] = "no result" if not found else "results of several machines"
        elif found[0]["verdict"] in (STALE, INTERRUPTED):
            why[cell.id] = f"its result is {found[0]['verdict']}"
        else:
            usable.append(found[0])
    if usable:
        diff, notes = fill_baseline(args.baseline, usable, _matrix_name(args))
        print(diff or f"{args.baseline}: unchanged")
        for note in notes:
            print(f"gate: {note}")
    left = gaps(read_baseline(args.baseline), cells)
    if left:
        for cell_id, tiers in left.items():
            print(f"gate: {cell_id}: still no expectation for {', '.join(tiers)} "
                  f"({why.get(cell_id, 'its result lacks them')}); run it, then again",
                  file=sys.stderr)
        return CANNOT_RUN
    print(f"gate: baseline {args.baseline} covers every tier of {len(cells)} cells")
    return OK


def _matrix_name(args: argparse.Namespace) -> str:
    return ", ".join(p.name for p in _matrix_files(args))


def _results_dir(args: argparse.Namespace) -> Path:
    return paths.results_dir(args.results)


def _baseline_gate(args: argparse.Namespace) -> int:
    matrix = load_matrices(_matrix_files(args))
    cells = [c for c in matrix.cells if not args.cell or c.id in args.cell]
    unknown = sorted(set(args.cell) - {c.id for c in matrix.cells})
    if unknown:
        raise GateError(f"no cell {unknown} in {_matrix_name(args)}")
    results_dir = _results_dir(args)
    if not args.update_baseline:
        baseline = read_baseline(args.baseline)  # before running: a missing one is exit 2
    if not args.no_run:
        env = {**os.environ, "COMPAT_RESULTS": str(results_dir)}
        if args.matrix:
            env["COMPAT_MATRIX"] = str(_matrix_files(args)[0])
        sessions = [f"matrix(cell='{c.id}')" for c in cells]
        cmd = [sys.executable, "-m", "nox", "-f", str(REPO / "noxfile.py"), "-s", *sessions]
        if run_stopping_child(cmd, env=env, cwd=REPO):
            raise GateError("the matrix run failed (see nox's output above)")
    per_machine = _by_machine(results_dir, cells)
    missing = [c.id for c in cells if c.id not in per_machine]
    if args.update_baseline and args.missing_only:
        return _fill_gaps(args, cells, per_machine)
    if args.update_baseline:
        if missing:
            raise GateError(f"no result for {missing} in {results_dir}: run them first")
        several = [c.id for c in cells if len(per_machine[c.id]) > 1]
        if several:
            raise GateError(f"{', '.join(several)}: results of several machines; record the "
                            "baseline from one machine's results folder")
        entries = {c.id: per_machine[c.id][0] for c in cells}
        stale = [c.id for c in cells if entries[c.id]["verdict"] == STALE]
        if stale:
            raise GateError(f"{', '.join(stale)}: the stored result no longer stands for the "
                            "cell (stale); rerun it before recording it in the baseline")
        diff = update_baseline(args.baseline, [entries[c.id] for c in cells],
                               _matrix_name(args), keep_others=bool(args.cell))
        print(diff or f"{args.baseline}: unchanged")
        print(f"gate: baseline {args.baseline} written ({len(cells)} cells)")
        return OK
    changes: list[Change] = []
    for cell in cells:
        expected = baseline["cells"].get(cell.id)
        found = per_machine.get(cell.id, [])
        if not found:
            changes.append(Change(cell.id, "-", "result", "none", "the cell has no result: "
                                  "it was not checked", False, undecided=True))
        for item in found:
            name = cell.id if len(found) == 1 else f"{cell.id} on {item['machine']}"
            if item["verdict"] == INTERRUPTED:
                changes.append(Change(name, "-", "result", INTERRUPTED,
                                      "the run was stopped before this cell finished: no "
                                      "verdict to compare; rerun it (nox -s matrix resumes "
                                      "there)", False))
            elif item["verdict"] == STALE:
                changes.append(Change(name, "-", "result", STALE, item["stale"], False,
                                      undecided=True))
            elif expected is None:
                changes.append(Change(name, "-", "no expectation", item["verdict"],
                                      "the cell is not in the baseline: cannot judge it; add "
                                      "it with `nox -s gate -- --update-baseline`", False,
                                      undecided=True))
            else:
                changes += compare(name, expected, item)
    text, md = render(changes, [], [])
    code = publish(text, md, sum(c.regression for c in changes), _undecided(changes))
    stopped = [c.cell for c in changes if c.now == INTERRUPTED]
    if stopped and code == OK:
        print(f"gate: cannot judge {', '.join(stopped)}: interrupted (no verdict); rerun",
              file=sys.stderr)
        return CANNOT_RUN
    return code


def culprit_lines(args: argparse.Namespace, old: Cell, new: Cell, changes: list[Change],
                  results_dir: Path) -> list[str]:
    """On a regressed tier, the culprit finder's answer: which release of which moved
    package changed it (its trials reuse the two cells' results, run in ``results_dir``)."""
    names = [t.name for t in get_engine(new.engine).tiers]
    regressed = sorted({c.tier for c in changes if c.regression and c.tier in names},
                       key=names.index)
    if not regressed or args.no_bisect:
        return []
    from compat import culprit

    print(f"gate: tier {regressed[0]} regressed; searching for the release that did it "
          "(--no-bisect to skip)", flush=True)
    return culprit.find_for_gate(old, new, regressed[0], results_dir / "bisect",
                                 trials_dir=results_dir)


def _bump_gate(args: argparse.Namespace) -> int:
    if args.from_diff:
        if not args.root.is_dir():
            raise GateError(f"--root {args.root}: not a folder")
        old_pins, new_pins, files = pins_from_diff(
            args.root.resolve(), args.from_diff,
            files=tuple(args.requirements) or bumps.REQUIREMENT_FILES, python=args.python)
        if not files:
            print(f"gate: no requirement file changed since {args.from_diff}: nothing to gate")
            return OK
        if old_pins == new_pins:
            print(f"gate: {', '.join(files)} changed, but no watched pin did: nothing to gate")
            return OK
        old_ctx, new_ctx = bumps.contexts_from_diff(args.root.resolve(), args.from_diff,
                                                    files, python=args.python)
        old = cell_from_pins(old_pins, args.python, old_ctx)
        new = cell_from_pins(new_pins, args.python, new_ctx)
        if new.install != InstallOptions() or "[" in new.tts:
            print(f"gate: installed as the files say: {new.tts}, "
                  f"{_install_words(new.install) or 'PyPI'}")
        print(f"gate: {', '.join(files)}: " + ", ".join(
            f"{k} {old_pins.get(k, '-')} -> {new_pins.get(k, '-')}"
            for k in sorted(set(old_pins) | set(new_pins)) if old_pins.get(k) != new_pins.get(k)))
    else:
        matrix = load_matrices(_matrix_files(args))
        if len(args.cell) != 1:
            raise GateError("--bump needs one --cell ID (the current pins), e.g. "
                            f"--cell {matrix.cells[0].id}")
        current = matrix.by_id().get(args.cell[0])
        if current is None:
            raise GateError(f"no cell {args.cell[0]!r} in {_matrix_name(args)}")
        old, new = current, bump(current, args.bump)
    new = distinguished(old, new)
    results_dir = Path(args.results).resolve() if args.results else Path(
        tempfile.mkdtemp(prefix="gate-", dir=paths.results_dir() if paths.results_dir().is_dir()
                         else None))
    results_dir.mkdir(parents=True, exist_ok=True)
    run_cells([old, new], results_dir, force=not args.no_force, label="bump",
              tiers=tuple(t for t in args.tiers.split(",") if t))
    entries = _entries(results_dir, [])  # both cells just ran, or were reused as current
    if old.id not in entries or new.id not in entries:
        raise GateError(f"no result for {old.id if old.id not in entries else new.id}")
    before, after = entries[old.id], entries[new.id]
    stopped = [e["cell"] for e in (before, after) if e["verdict"] == INTERRUPTED]
    if stopped:
        raise GateError(f"{', '.join(stopped)} was interrupted before it finished: no verdict "
                        "to compare; run the gate again")
    print(f"gate: old {old.id}: {before['verdict']}; new {new.id}: {after['verdict']} "
          f"(results in {results_dir})")
    changes = compare(new.id, expectation(before), after)
    ratios, slow, notes = confirmed_slowdowns(old, new, before["bench"], after["bench"],
                                              results_dir, args.threshold)
    # A busy machine's figures are no figures: not a regression, not a pass either.
    slow += [Change(e["cell"], "bench", "-", "busy", busy_note(e), False, undecided=True)
             for e in (before, after) if e.get("busy")]
    base = read_baseline(args.baseline)["cells"].get(old.id) if args.baseline.exists() else None
    if base:
        drift = compare(old.id, base, before)
        if drift:
            notes.append(f"note: the current cell {old.id} itself differs from the baseline "
                         f"({len(drift)} change(s)); run the plain gate to see them")
    notes.append(f"full report of both cells: {results_dir / 'report' / 'compat-report.md'}")
    notes += culprit_lines(args, old, new, changes, results_dir)
    text, md = render(changes + slow, ratios, notes)
    return publish(text, md, sum(c.regression for c in changes + slow),
                   _undecided(changes + slow))


def _install_words(options: InstallOptions) -> str:
    """The index options a cell installs with, as pip's flags (empty: PyPI alone)."""
    from compat.env.install import index_args

    return " ".join(index_args(options) + (["--pre"] if options.pre else []))
