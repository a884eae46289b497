"""``nox -s bisect -- ...``: the command line of the culprit finder, its progress lines and
its answer (``results/bisect/<answer>.json``, shown in the report as "boundaries").

    --cell ID --package NAME [--good V] [--bad V] [--tier T] [--pre]
        the release of NAME where the cell's tier changes
    --cell ID --package NAME --newest-good [--good V]
        the newest release of NAME that still behaves as --good does
    --from-diff BASE [--root DIR] | --good-lock FILE --bad-lock FILE  [--cell ID]
        the smallest set of moved packages that still breaks, then each one's release

Exit status: 0 an answer, 1 no boundary (both ends behave the same, or only skipped
releases were left), 2 cannot run (bad input, the good end is not good, no index).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from compat import engines
from compat.cells import Cell, MatrixError, valid_id
from compat.culprit import explain as kb
from compat.culprit import search
from compat.culprit.trials import State, TrialError, Trials, needed_tiers, pins_of
from compat.incell.atomicio import write_json_atomic
from compat.plan import releases as index
from compat.plan.bumps import (
    cell_from_pins,
    contexts_from_diff,
    pins_from_diff,
    pins_in,
    requirement_file_pins,
)
from compat.plan.matrixfile import load_matrices
from compat.run.via_nox import run_cells
from compat.system import exits, paths
from compat.system.exits import CannotRun as GateError

OK, NO_BOUNDARY, CANNOT_RUN = exits.OK, exits.FOUND, exits.CANNOT_RUN
SCHEMA = "xtts-compat/bisect/1"


class BisectError(ValueError):
    """The finder cannot run; the message says what to give instead."""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nox -s bisect --", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cell", help="the cell whose stack is moved (a matrix cell id)")
    p.add_argument("--package", help="the package whose releases are searched")
    p.add_argument("--good", help="a release that works (default: the cell's pin)")
    p.add_argument("--bad", help="a release that does not (default: the newest on the index)")
    p.add_argument("--tier", help="the tier whose change to chase (default: the first tier "
                                  "whose verdict differs between the two ends)")
    p.add_argument("--pre", action="store_true", help="include pre-releases")
    p.add_argument("--newest-good", action="store_true",
                   help="the newest release that still behaves as --good does")
    p.add_argument("--from-diff", metavar="BASE",
                   help="git base of the requirement files (as the gate reads them)")
    p.add_argument("--root", type=Path, default=Path.cwd(),
                   help="the project whose requirement files --from-diff reads")
    p.add_argument("--good-lock", type=Path, help="a requirement or lock file that works")
    p.add_argument("--bad-lock", type=Path, help="one that does not")
    p.add_argument("--python", default=None, help="Python of a cell built from pins "
                   "(default: --cell's, else this one's)")
    p.add_argument("--matrix", type=Path, default=None,
                   help="matrix file of --cell (default: the default selection)")
    p.add_argument("--results", type=Path, default=None,
                   help="where the answer goes (default: results/bisect); trials in trials/")
    p.add_argument("--force", action="store_true", help="rerun trials already run")
    return p


def main(argv: list[str] | None = None, *, runner: Callable[..., None] | None = None,
         fetch: index.Fetch | None = None) -> int:
    try:
        args = parser().parse_args(argv)
    except SystemExit as exc:
        return OK if exc.code == 0 else CANNOT_RUN
    try:
        answer = run(args, runner=runner, fetch=fetch)
    except (BisectError, GateError, MatrixError, index.ReleaseError, TrialError,
            search.SearchError) as exc:
        print(f"bisect: cannot run: {exc}", file=sys.stderr)
        return CANNOT_RUN
    for line in summary(answer):
        print(line)
    print(f"bisect: answer written to {answer['path']}")
    return OK if answer.get("found") else NO_BOUNDARY


def results_dir(args: argparse.Namespace) -> Path:
    return (args.results or paths.results_dir() / "bisect").resolve()


def base_cell(args: argparse.Namespace) -> Cell | None:
    if not args.cell:
        return None
    matrix = load_matrices(paths.matrix_paths(args.matrix))
    cell = matrix.by_id().get(args.cell)
    if cell is None:
        raise BisectError(f"no cell {args.cell!r} in "
                          f"{', '.join(p.name for p in paths.matrix_paths(args.matrix))}")
    return cell


def run(args: argparse.Namespace, *, runner: Callable[..., None] | None = None,
        fetch: index.Fetch | None = None) -> dict[str, Any]:
    out = results_dir(args)
    trials_dir = out / "trials"
    trials_dir.mkdir(parents=True, exist_ok=True)

    def default_runner(cells: list[Cell], where: Path, tiers: tuple[str, ...]) -> None:
        run_cells(cells, where, force=args.force, label="trial", tiers=tiers, who="bisect",
                  report=False)

    go = runner or default_runner
    cell = base_cell(args)
    if args.from_diff or args.good_lock or args.bad_lock:
        return several(args, cell, trials_dir, go, fetch)
    if cell is None or not args.package:
        raise BisectError("give --cell ID --package NAME, or --from-diff BASE, or "
                          "--good-lock FILE --bad-lock FILE")
    return one_package(args, cell, trials_dir, go, fetch)


# -- one package ----------------------------------------------------------------------


def _judge_key(good: State) -> Callable[[State], str]:
    def judge(state: State) -> str:
        if not state.installable:
            return search.SKIP
        return search.GOOD if state.key == good.key else search.BAD
    return judge


def _first_change(tiers: Mapping[str, State], others: Mapping[str, State]) -> str | None:
    for name, state in tiers.items():
        if others[name].key != state.key:
            return name
    return None


def chase_tier(trials: Trials, good_pins: dict[str, str], bad_pins: dict[str, str],
               tier: str | None, labels: tuple[str, str]) -> tuple[str, State, State]:
    """Run both ends (every tier when ``tier`` is None) and pick the tier to chase."""
    if tier:
        needed_tiers(trials.base.engine, tier)  # an unknown tier stops here
        return tier, trials.state(good_pins, labels[0]), trials.state(bad_pins, labels[1])
    names = [t.name for t in engines.get_engine(trials.base.engine).tiers]
    good_all = trials.states(good_pins, labels[0], names)
    bad_all = trials.states(bad_pins, labels[1], names)
    if not next(iter(good_all.values())).installable:
        raise BisectError(f"the good end ({labels[0]}) cannot be installed: "
                          f"{next(iter(good_all.values())).message}")
    found = _first_change(good_all, bad_all)
    if found is None:
        return names[-1], good_all[names[-1]], bad_all[names[-1]]
    trials.say(f"bisect: the first tier that changed: {found} "
               f"({good_all[found].key} -> {bad_all[found].key})")
    return found, good_all[found], bad_all[found]


def one_package(args: argparse.Namespace, cell: Cell, trials_dir: Path,
                go: Callable[..., None], fetch: index.Fetch | None) -> dict[str, Any]:
    package = canonicalize_name(args.package)
    pinned = pins_of(cell)
    good = args.good or pinned.get(package)
    if not good:
        raise BisectError(f"{cell.id} does not pin {package}: give --good VERSION")
    found = index.releases(package, cell.install.index_url, fetch)
    bad = args.bad or index.newest(found, pre=args.pre)
    candidates, yanked = index.between(found, good, bad, pre=args.pre)
    if len(candidates) < 2:
        raise BisectError(f"{package}: {good} and {bad} are the same release: nothing to search")
    trials = Trials(cell, args.tier or "", trials_dir, go,
                    at_most=search.max_trials(len(candidates)))
    answer: dict[str, Any] = {"schema": SCHEMA, "mode": "newest-good" if args.newest_good
                              else "release", "cell": cell.id, "engine": cell.engine,
                              "package": package, "good": good, "bad": bad,
                              "candidates": candidates, "yanked": yanked}
    trials.say(f"bisect: {cell.id}: {package} {good} -> {bad}: {len(candidates)} releases "
               f"(yanked left out: {', '.join(yanked) or 'none'}); at most "
               f"{trials.at_most} trials")
    if args.newest_good:
        return _newest_good(args, trials, answer, package, candidates)
    tier, good_state, bad_state = chase_tier(trials, {package: good}, {package: bad},
                                             args.tier, (f"{package}=={good} (good end)",
                                                         f"{package}=={bad} (bad end)"))
    trials.tier = tier
    answer["tier"] = tier
    if not good_state.installable:
        raise BisectError(f"the good end {package}=={good} cannot be installed: "
                          f"{good_state.message}")
    if good_state.key == bad_state.key:
        answer.update(found=False, reason=f"tier {tier} is the same at both ends "
                                          f"({good_state.key}): nothing to search")
        return _finish(args, trials, answer)
    if not bad_state.installable:
        raise BisectError(f"the bad end {package}=={bad} cannot be installed: "
                          f"{bad_state.message}")
    states = {good: good_state, bad: bad_state}
    boundary = _search(trials, package, candidates, good_state, states, search.bisect)
    answer.update(_boundary(cell, package, boundary, states, bad_state))
    return _finish(args, trials, answer)


def _search(trials: Trials, package: str, candidates: list[str], good_state: State,
            states: dict[str, State], how: Callable[..., Any]) -> Any:
    judge = _judge_key(good_state)

    def judged(version: str) -> str:
        if version not in states:
            states[version] = trials.state({package: version}, f"{package}=={version}")
        return judge(states[version])

    return how(candidates, judged)


def _boundary(cell: Cell, package: str, boundary: search.Boundary, states: dict[str, State],
              bad_end: State) -> dict[str, Any]:
    last, first = states[boundary.last_good], states[boundary.first_bad]
    out: dict[str, Any] = {
        "found": boundary.exact, "last_good": boundary.last_good,
        "first_bad": boundary.first_bad, "undecided": boundary.undecided,
        "skipped": boundary.skipped, "good_state": last.as_dict(),
        "bad_state": first.as_dict(),
        "explain": kb.explain(cell, package, last, first, boundary.last_good,
                              boundary.first_bad)}
    if not boundary.exact:
        out["reason"] = (f"only releases that cannot be installed are left between "
                         f"{boundary.last_good} and {boundary.first_bad}: "
                         f"{', '.join(boundary.undecided)}")
    if first.key != bad_end.key:
        out["note"] = (f"the first bad release shows {first.key!r}, the bad end "
                       f"{bad_end.key!r}: another change lies after {boundary.first_bad} "
                       f"(search again with --good {boundary.first_bad})")
    return out


def _newest_good(args: argparse.Namespace, trials: Trials, answer: dict[str, Any],
                 package: str, candidates: list[str]) -> dict[str, Any]:
    good = candidates[0]
    if not args.tier:
        names = [t.name for t in engines.get_engine(trials.base.engine).tiers]
        raise BisectError(f"--newest-good needs --tier: which tier must still behave as "
                          f"{answer['package']} {good} does (one of {', '.join(names)})")
    tier = args.tier
    trials.tier = tier
    answer["tier"] = tier
    good_state = trials.state({package: good}, f"{package}=={good} (good end)")
    if not good_state.installable:
        raise BisectError(f"the good end {package}=={good} cannot be installed: "
                          f"{good_state.message}")
    states = {good: good_state}
    boundary = _search(trials, package, candidates, good_state, states, search.newest_good)
    if boundary is None:
        answer.update(found=True, newest_good=candidates[-1], state=good_state.as_dict())
    else:
        answer.update(_boundary(trials.base, package, boundary, states,
                                states[boundary.first_bad]))
        answer.update(found=boundary.exact, newest_good=boundary.last_good)
    return _finish(args, trials, answer)


# -- several packages -----------------------------------------------------------------


def _lock_pins(path: Path) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BisectError(f"{path}: {exc.strerror or exc}") from None
    if not path.name.endswith((".toml", ".lock")):  # its -r and -c files beside it count
        return requirement_file_pins(path, every=True)
    return pins_in(path.name, text, every=True)


def several(args: argparse.Namespace, cell: Cell | None, trials_dir: Path,
            go: Callable[..., None], fetch: index.Fetch | None) -> dict[str, Any]:
    """The moved pins from ``--from-diff`` or the two lock files, then :func:`packages`."""
    context = None
    if args.from_diff:
        old, new, files = pins_from_diff(args.root.resolve(), args.from_diff, every=True)
        source = f"{', '.join(files) or 'no requirement file'} since {args.from_diff}"
        # the trials install as the project does: its index options, its engine's extras
        context = contexts_from_diff(args.root.resolve(), args.from_diff, files)[0]
    else:
        if not (args.good_lock and args.bad_lock):
            raise BisectError("give both --good-lock and --bad-lock")
        old, new = _lock_pins(args.good_lock), _lock_pins(args.bad_lock)
        source = f"{args.good_lock} -> {args.bad_lock}"
    python = args.python or (cell.python if cell else f"{sys.version_info[0]}."
                                                     f"{sys.version_info[1]}")
    base = cell or cell_from_pins(dict(old), python, context)
    return packages(args, base, old, new, source, trials_dir, go, fetch)


def packages(args: argparse.Namespace, base: Cell, old: dict[str, str], new: dict[str, str],
             source: str, trials_dir: Path, go: Callable[..., None],
             fetch: index.Fetch | None) -> dict[str, Any]:
    """Delta debugging over the packages that moved, then each culprit's releases."""
    moved = sorted(k for k in set(old) & set(new) if old[k] != new[k])
    unpaired = sorted(set(old) ^ set(new))
    answer: dict[str, Any] = {"schema": SCHEMA, "mode": "packages", "cell": base.id,
                              "engine": base.engine, "source": source,
                              "moved": {k: [old[k], new[k]] for k in moved},
                              "added_or_removed": unpaired}
    if not moved:
        raise BisectError(f"{source}: no exact pin moved")
    start = {k: old[k] for k in moved}
    trials = Trials(base, args.tier or "", trials_dir, go)
    trials.say(f"bisect: {base.id}: {len(moved)} packages moved ({source}): "
               + ", ".join(f"{k} {old[k]} -> {new[k]}" for k in moved))
    tier, good_state, bad_state = chase_tier(
        trials, start, {k: new[k] for k in moved}, args.tier,
        ("every package at its good version", "every package at its bad version"))
    trials.tier = tier
    answer["tier"] = tier
    if not good_state.installable:
        raise BisectError(f"the good end cannot be installed: {good_state.message}")
    if good_state.key == bad_state.key:
        answer.update(found=False, reason=f"tier {tier} is the same at both ends "
                                          f"({good_state.key}): nothing to search")
        return _finish(args, trials, answer)
    judge = _judge_key(good_state)

    def subset(names: frozenset[str]) -> str:
        pins = {**start, **{k: new[k] for k in names}}
        label = "moved: " + ", ".join(f"{k}=={new[k]}" for k in sorted(names))
        return judge(trials.state(pins, label, follow=False))

    culprits = search.ddmin(moved, subset)
    trials.say(f"bisect: the smallest set that still changes tier {tier}: "
               + ", ".join(f"{k} {old[k]} -> {new[k]}" for k in culprits))
    answer["culprits"] = culprits
    answer["boundaries"] = []
    for name in culprits:
        others = {k: new[k] for k in culprits if k != name}
        answer["boundaries"].append(_culprit_releases(trials, base, name, old[name], new[name],
                                                      start, others, good_state, fetch,
                                                      args.pre))
    answer["found"] = bool(culprits)
    return _finish(args, trials, answer)


def _culprit_releases(trials: Trials, base: Cell, name: str, good: str, bad: str,
                      start: dict[str, str], others: dict[str, str], good_state: State,
                      fetch: index.Fetch | None, pre: bool) -> dict[str, Any]:
    """One culprit's releases, the other culprits at their bad versions (with them at
    their good ones this one alone may not break: a pair)."""
    out: dict[str, Any] = {"package": name, "good": good, "bad": bad,
                           "with": {k: v for k, v in others.items()}}
    try:
        candidates, yanked = index.between(index.releases(name, base.install.index_url, fetch),
                                           good, bad, pre=pre)
    except index.ReleaseError as exc:
        return {**out, "found": False, "reason": str(exc)}
    out.update(candidates=candidates, yanked=yanked)
    states: dict[str, State] = {}
    beside = f" with {', '.join(f'{k}=={v}' for k, v in others.items())}" if others else ""

    def judged(version: str) -> str:
        if version not in states:
            states[version] = trials.state({**start, **others, name: version},
                                           f"{name}=={version}{beside}", follow=False)
        return _judge_key(good_state)(states[version])

    if judged(good) != search.GOOD:
        return {**out, "found": False,
                "reason": f"{name} {good} with {others} is not good ({states[good].key}): "
                          "the culprits move together; no single release to name"}
    if judged(bad) != search.BAD:
        return {**out, "found": False, "reason": f"{name} {bad} with {others} is "
                                                 f"{states[bad].key}"}
    boundary = search.bisect(candidates, judged)
    return {**out, **_boundary(base, name, boundary, states, states[bad])}


# -- the answer -----------------------------------------------------------------------


def answer_id(answer: Mapping[str, Any]) -> str:
    if answer["mode"] == "packages":
        parts = [answer["cell"], "packages", *answer["moved"]]
    else:
        parts = [answer["cell"], answer["package"], answer["good"], answer["bad"],
                 answer.get("tier", ""), "newest" if answer["mode"] == "newest-good" else ""]
    text = "--".join(p for p in parts if p)[:200]
    return text if valid_id(text) else "bisect"


def _finish(args: argparse.Namespace, trials: Trials, answer: dict[str, Any]
            ) -> dict[str, Any]:
    answer["trials"] = trials.log
    answer["trials_run"] = sum(1 for t in trials.log if not t["reused"])
    answer["trials_reused"] = sum(1 for t in trials.log if t["reused"])
    answer["at_most"] = trials.at_most or None
    answer["finished_at"] = trials.log[-1]["finished_at"] if trials.log else None
    path = results_dir(args) / f"{answer_id(answer)}.json"
    answer["path"] = str(path)
    write_json_atomic(path, answer)
    return answer


def summary(answer: Mapping[str, Any]) -> list[str]:
    """What the finder found, for people: the boundary, the error, the knowledge base."""
    lines = [f"bisect: {len(answer.get('trials', []))} trials "
             f"({answer.get('trials_reused', 0)} already run)"]
    if answer["mode"] == "packages":
        lines.append(f"bisect: culprits: {', '.join(answer.get('culprits', [])) or 'none'}")
        for b in answer.get("boundaries", []):
            lines += _boundary_lines(answer["cell"], b["package"], answer.get("tier", ""), b)
        return lines
    if answer["mode"] == "newest-good" and answer.get("newest_good"):
        lines.append(f"bisect: newest {answer['package']} that behaves as "
                     f"{answer['good']} does with {answer['cell']} (tier "
                     f"{answer.get('tier')}): {answer['newest_good']}")
    if "first_bad" in answer:
        lines += _boundary_lines(answer["cell"], answer["package"], answer.get("tier", ""),
                                 answer)
    elif answer.get("reason"):
        lines.append(f"bisect: {answer['reason']}")
    return lines


def _boundary_lines(cell: str, package: str, tier: str, b: Mapping[str, Any]) -> list[str]:
    if "first_bad" not in b:
        return [f"bisect: {package}: {b.get('reason', 'no boundary')}"]
    bad = b["bad_state"]
    error = f"{bad['exc_type']}: {bad['message']}" if bad.get("exc_type") else bad["message"]
    lines = [f"bisect: {package}: last good {b['last_good']}, first bad {b['first_bad']} "
             f"(tier {tier} in {cell}): {b['good_state']['key']} -> {bad['key']}",
             f"bisect:   error: {error.splitlines()[0][:300] if error else '(none)'}"]
    if b.get("reason"):
        lines.append(f"bisect:   {b['reason']}")
    if b.get("note"):
        lines.append(f"bisect:   note: {b['note']}")
    kb_word = b.get("explain", {})
    if kb_word.get("entry"):
        lines.append(f"bisect:   known: {kb_word['entry']} ({kb_word['diagnosis']}); "
                     f"remedy: {kb_word['remedy']}")
        if kb_word.get("disagreement"):
            lines.append(f"bisect:   KNOWLEDGE BASE DISAGREES: {kb_word['disagreement']}")
        else:
            lines.append(f"bisect:   its stated boundary agrees: {kb_word['boundary_stated']}")
    elif kb_word.get("draft"):
        lines.append("bisect:   not in the knowledge base; a draft entry to complete "
                     f"(compat/engines/<engine>/known_breakages.toml):\n{kb_word['draft']}")
    return lines


# -- for the gate ---------------------------------------------------------------------


def find_for_gate(old: Cell, new: Cell, tier: str, results: Path, *,
                  trials_dir: Path | None = None, runner: Callable[..., None] | None = None,
                  fetch: index.Fetch | None = None) -> list[str]:
    """The gate's question after a failed bump: which release of which moved package.
    Lines for its summary (never raises: the gate's exit code stays its own). Trials go
    to ``trials_dir`` (the gate's own results: its two cells are the ends, already run)."""
    before, after = pins_of(old), pins_of(new)
    moved = sorted(k for k in before if k in after and before[k] != after[k])
    if not moved:
        return ["bisect: no exact pin moved between the two cells; nothing to search"]
    args = parser().parse_args(["--results", str(results), "--tier", tier])
    try:
        if len(moved) == 1:
            args.package, args.good, args.bad = moved[0], before[moved[0]], after[moved[0]]
            answer = one_package(args, old, trials_dir or results / "trials",
                                 runner or _gate_runner(args), fetch)
        else:
            answer = packages(args, old, {k: before[k] for k in moved},
                              {k: after[k] for k in moved}, "the gate's bump",
                              trials_dir or results / "trials", runner or _gate_runner(args),
                              fetch)
    except (BisectError, GateError, index.ReleaseError, TrialError, search.SearchError,
            ValueError) as exc:
        return [f"bisect: could not name the culprit: {exc}"]
    return [*summary(answer), f"bisect: answer in {answer['path']}"]


def _gate_runner(args: argparse.Namespace) -> Callable[..., None]:
    def go(cells: list[Cell], where: Path, tiers: tuple[str, ...]) -> None:
        run_cells(cells, where, force=False, label="trial", tiers=tiers, who="bisect",
                  report=False)
    return go

