"""The CI gate on dependency bumps: ``python -m compat gate`` (``nox -s gate``).

    nox -s gate                               run the matrix's cells, compare with the baseline
    nox -s gate -- --no-run                   compare the results already there
    nox -s gate -- --update-baseline          rewrite the baseline from the results (shows the diff)
    nox -s gate -- --bump torch==2.10.0 --cell ID      old and bumped cell side by side
    nox -s gate -- --from-diff origin/main [--root DIR] bumps read from your requirement files

Exit codes: 0 no regression; 1 regression (each named); 2 the gate could not run (bad
arguments, missing baseline, harness failure), with a one-line reason.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from compat import diagnosis, results
from compat.atomicio import write_json_atomic, write_text_atomic
from compat.matrix import Cell, MatrixError, cell_id, load_matrix, valid_id
from compat.report import markdown
from compat.report.collect import collect
from compat.report.model import INTERRUPTED, TIERS, build, first_line
from compat.supervise import run_stopping_child
from compat.tomlcompat import tomllib

REPO = Path(__file__).resolve().parents[1]
BASELINE = REPO / "matrices" / "baseline.json"
BASELINE_SCHEMA = "xtts-compat/baseline/1"
OK, REGRESSION, CANNOT_RUN = 0, 1, 2
#: Run-to-run spread measured on these 2-core machines: max/min over six runs of the
#: release-era cell, one after another, no other job running (README, "The gate"); the
#: fine-tune step (11-13 ms) is timed to the millisecond. A slowdown fails the gate only
#: beyond both the threshold and this spread.
SPREAD = {"load_best_s": 1.07, "synth_best_s_per_audio_s": 1.08,
          "finetune_step_best_s": 1.19}
#: The figures compared, each a time (bigger is slower): best of the bench tier's rounds.
FIGURES = {"load_best_s": "load time",
           "synth_best_s_per_audio_s": "synthesis time per audio second",
           "finetune_step_best_s": "fine-tune step"}
EXPECTED_FAILURES = ("fail", "diverged", "install-failed")
#: The tiers whose figures are compared, rerun to confirm a slowdown.
CONFIRM_TIERS = ("finetune", "bench")


class GateError(Exception):
    """The gate cannot run; the message is the one-line reason (exit 2)."""


@dataclass(frozen=True)
class Change:
    cell: str
    tier: str
    was: str
    now: str
    detail: str
    regression: bool


# -- expectations ---------------------------------------------------------------------------

def expectation(entry: dict[str, Any]) -> dict[str, Any]:
    """What a cell's result says to expect next time: per tier the shown status, the shims a
    shimmed tier needs, the diagnosis of a failure; and the benchmark figures."""
    failures = {f["tier"]: f["diagnosis"]["id"] for f in entry["failures"] if f["kind"] == "final"}
    install = failures.get("install")
    tiers = {}
    for name, tier in entry["tiers"].items():
        item: dict[str, Any] = {"expect": tier["display"]}
        if tier["display"] == "shimmed":
            item["shims"] = _needed(entry, name)
        if tier["display"] in ("fail", "diverged"):
            item["diagnosis"] = failures.get(name, diagnosis.UNCLASSIFIED)
        if tier["display"] == "install-failed":
            item["diagnosis"] = install or diagnosis.UNCLASSIFIED
        tiers[name] = item
    out = {"verdict": entry["verdict"], "tiers": tiers, "bench": entry["bench"]}
    if entry.get("repair"):  # a packaging failure, tested past in a repaired environment
        out["repair"] = {"fixes": entry["repair"]["fixes"],
                         "diagnoses": entry["repair"]["diagnoses"]}
    return out


def _needed(entry: dict[str, Any], tier: str) -> list[str]:
    """The shims a shimmed tier's own failure called for, else every shim it ran with."""
    mended = [f for f in entry["failures"] if f["kind"] == "mended" and f["tier"] == tier]
    return sorted({s for f in mended for s in f["shims"]}) or sorted(
        entry["tiers"][tier].get("shims", []))


def compare(cell: str, expected: dict[str, Any], entry: dict[str, Any]) -> list[Change]:
    """The changes of one cell against what was expected; regressions flagged."""
    changes: list[Change] = []
    now = expectation(entry)
    failures = {f["tier"]: f for f in entry["failures"]}
    was_fix = set((expected.get("repair") or {}).get("fixes", []))
    now_fix = set((now.get("repair") or {}).get("fixes", []))
    if now_fix - was_fix:
        changes.append(Change(
            cell, "install", f"repair: {', '.join(sorted(was_fix)) or 'none'}",
            f"repair: {', '.join(sorted(now_fix))}",
            "a packaging failure now needs a repair: "
            f"{', '.join(now['repair']['diagnoses'])}; add {', '.join(sorted(now_fix - was_fix))}",
            True))
    elif was_fix - now_fix:
        changes.append(Change(cell, "install", f"repair: {', '.join(sorted(was_fix))}",
                              f"repair: {', '.join(sorted(now_fix)) or 'none'}",
                              "a packaging failure is gone (no repair needed)", False))
    for tier in TIERS:
        was_t, now_t = expected["tiers"].get(tier), now["tiers"].get(tier)
        if was_t is None or now_t is None:
            continue
        was, got = was_t["expect"], now_t["expect"]
        found = failures.get(tier) or failures.get("install")
        why = _why(found) if found else ""
        if was == got:
            if got in EXPECTED_FAILURES and was_t.get("diagnosis") != now_t.get("diagnosis"):
                changes.append(Change(cell, tier, f"{was} ({was_t.get('diagnosis')})",
                                      f"{got} ({now_t.get('diagnosis')})",
                                      f"the diagnosis changed: {why}", True))
            elif got == "shimmed" and set(now_t.get("shims", [])) - set(was_t.get("shims", [])):
                extra = sorted(set(now_t["shims"]) - set(was_t.get("shims", [])))
                changes.append(Change(cell, tier, was, got,
                                      f"needs more shims now: {', '.join(extra)}. {why}", True))
            continue
        if got == "host-missing":
            changes.append(Change(cell, tier, was, got, f"not judged on this host: "
                                  f"{entry['tiers'][tier].get('reason', '')}", False))
            continue
        blocked = got == "not-run" or (got in ("pass", "shimmed")
                                       and entry["tiers"][tier]["bare"] == "not-run")
        if blocked and any(c.cell == cell for c in changes):
            continue  # an earlier tier of this cell already says why
        if was in EXPECTED_FAILURES and got in ("pass", "shimmed"):
            changes.append(Change(
                cell, tier, f"{was} ({was_t.get('diagnosis')})", got,
                "an expected failure now passes: the baseline is stale; update it with "
                "`nox -s gate -- --update-baseline`", True))
        elif was == "shimmed" and got == "pass":
            changes.append(Change(cell, tier, was, got, "passes bare now (no shim needed)",
                                  False))
        elif was == "pass" and got == "shimmed":
            changes.append(Change(cell, tier, was, got,
                                  f"needs shim {', '.join(now_t['shims'])} now. {why}", True))
        elif got in ("skip",) and was in ("skip", "not-run"):
            continue
        else:
            changes.append(Change(cell, tier, was, got, why or f"now {got}",
                                  got not in ("pass", "shimmed") or was in EXPECTED_FAILURES))
    return changes


def _why(failure: dict[str, Any]) -> str:
    found = failure["diagnosis"]
    error = f"{failure['exc_type']}: {first_line(failure['message'], 120)}".strip(": ")
    if found["id"] == diagnosis.UNCLASSIFIED:
        return f"unclassified: {error}"
    return f"{error} ({found['diagnosis']}; fix: {found['remedy']})"


def slowdowns(cell: str, old: dict[str, Any], new: dict[str, Any], threshold: float
              ) -> tuple[list[dict[str, Any]], list[Change]]:
    """Benchmark ratios new/old per device and figure; a change where both the threshold
    and the measured spread are exceeded."""
    ratios, changes = [], []
    for device, figures in new.items():
        before = old.get(device, {})
        for key, label in FIGURES.items():
            if key in figures and before.get(key):
                ratio = figures[key] / before[key]
                limit = max(1 + threshold, SPREAD[key])
                ratios.append({"device": device, "figure": label, "old": before[key],
                               "new": figures[key], "ratio": ratio, "limit": limit})
                if ratio > limit:
                    changes.append(Change(cell, "bench", f"{before[key]:.3g}",
                                          f"{figures[key]:.3g}",
                                          f"{label} on {device} is {ratio:.2f}x slower (limit "
                                          f"{limit:.2f}x: threshold {threshold:.0%}, measured "
                                          f"spread {SPREAD[key]:.2f}x)", True))
    return ratios, changes


def fastest(*benches: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Per device, the best of several runs' figures (each a time: the smallest)."""
    out: dict[str, dict[str, float]] = {}
    for bench in benches:
        for device, figures in bench.items():
            best = out.setdefault(device, {})
            for key in FIGURES:
                if figures.get(key):
                    best[key] = min(best.get(key, figures[key]), figures[key])
    return out


# -- the baseline -----------------------------------------------------------------------------

def read_baseline(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GateError(f"no baseline at {path}: create it with "
                        "`nox -s gate -- --update-baseline`") from None
    except (OSError, ValueError) as exc:
        raise GateError(f"unreadable baseline {path}: {exc}") from None
    if data.get("schema") != BASELINE_SCHEMA:
        raise GateError(f"{path} is not a baseline (schema {data.get('schema')!r})")
    return data


def update_baseline(path: Path, entries: list[dict[str, Any]], matrix: str,
                    keep_others: bool = False) -> str:
    """Rewrite the baseline from results; return the unified diff it made. With
    ``keep_others`` (``--update-baseline --cell ID``) the other cells stay as they were."""
    stopped = [e["cell"] for e in entries if e["verdict"] == INTERRUPTED]
    if stopped:
        raise GateError(f"{', '.join(stopped)}: interrupted, no verdict to put in the baseline; "
                        "run them first (nox -s matrix reruns them)")
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    cells = {e["cell"]: {k: v for k, v in expectation(e).items() if k != "bench"}
             | {"bench": e["bench"]} for e in entries}
    if keep_others and old:
        cells = {**json.loads(old).get("cells", {}), **cells}
    data = {"schema": BASELINE_SCHEMA, "matrix": matrix, "updated_at": results.now(),
            "cells": dict(sorted(cells.items()))}
    write_json_atomic(path, data)
    new = path.read_text(encoding="utf-8")
    skip = ('"updated_at"',)
    return "".join(line for line in difflib.unified_diff(
        old.splitlines(True), new.splitlines(True), str(path), str(path))
        if not any(s in line for s in skip))


# -- cells: running, bumping, reading requirement files ---------------------------------------

def cell_table(cell: Cell, *, keep_id: bool = True) -> str:
    """One ``[[cell]]`` of a matrix file, in TOML."""
    def q(text: str) -> str:
        return json.dumps(text)  # a JSON string is a valid TOML basic string

    lines = ["[[cell]]"]
    if keep_id:
        lines.append(f"id = {q(cell.id)}")
    lines += [f"python = {q(cell.python)}", f"tts = {q(cell.tts)}",
              f"torch = {q(cell.torch)}", f"transformers = {q(cell.transformers)}",
              f"engine = {q(cell.engine)}", f"timeout = {cell.timeout}",
              f"install-timeout = {cell.install_timeout}"]
    if cell.pins:
        lines.append("pins = { " + ", ".join(f"{q(k)} = {q(v)}" for k, v in cell.pins) + " }")
    if cell.tags:
        lines.append("tags = [" + ", ".join(q(t) for t in cell.tags) + "]")
    if cell.memory_limit:
        lines.append(f"memory-limit = {cell.memory_limit}")
    return "\n".join(lines) + "\n"


def bump(cell: Cell, requirements: list[str]) -> Cell:
    """The cell with the given requirements replacing its pins, under its new id. torchaudio
    follows a bumped torch when the cell pinned it to torch's version."""
    changes: dict[str, Any] = {}
    pins = dict(cell.pins)
    for text in requirements:
        try:
            req = Requirement(text)
        except InvalidRequirement as exc:
            raise GateError(f"--bump {text!r}: {exc}") from None
        spec = str(req.specifier)
        if not spec:
            raise GateError(f"--bump {text!r}: give a version, e.g. {req.name}==1.2.3")
        version = spec[2:] if spec.startswith("==") else spec
        name = canonicalize_name(req.name)
        if name in ("tts", "coqui-tts"):
            changes["tts"] = text
        elif name == "torch":
            changes["torch"] = version
            if pins.get("torchaudio") == cell.torch:
                pins["torchaudio"] = version
        elif name == "transformers":
            changes["transformers"] = version
        else:
            pins[name] = version
    changes["pins"] = tuple(pins.items())
    bumped = replace(cell, id="", **changes)
    return _checked(replace(bumped, id=cell_id(bumped)), f"--bump {' '.join(requirements)}")


#: Distributions a requirement file bump is read for.
WATCHED = ("tts", "coqui-tts", "torch", "torchaudio", "torchcodec", "transformers", "numpy",
           "tokenizers", "six")


def pins_in(name: str, text: str) -> dict[str, str]:
    """Exact pins of the watched distributions in one requirement file's text:
    requirements*.txt or a constraints file, pyproject.toml ([project] dependencies), uv.lock."""
    lines: list[str] = []
    if name.endswith("uv.lock"):
        packages = tomllib.loads(text).get("package", [])
        return {canonicalize_name(p["name"]): p["version"] for p in packages
                if canonicalize_name(p["name"]) in WATCHED and "version" in p}
    if name.endswith(".toml"):
        lines = list(tomllib.loads(text).get("project", {}).get("dependencies", []))
    else:
        lines = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    found = {}
    for line in lines:
        if not line or line.startswith("-"):
            continue
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        specs = [s for s in req.specifier if s.operator in ("==", "===")]
        if canonicalize_name(req.name) in WATCHED and specs:
            found[canonicalize_name(req.name)] = specs[0].version
    return found


REQUIREMENT_FILES = ("requirements*.txt", "constraints*.txt", "pyproject.toml", "uv.lock")


def _git(root: Path, *args: str) -> str:
    out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)
    if out.returncode:
        raise GateError(f"git {' '.join(args)}: {out.stderr.strip().splitlines()[-1:]}")
    return out.stdout


def pins_from_diff(root: Path, base: str) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """The watched pins at ``base`` and in the working tree, from the requirement files that
    changed between them (and the files' names)."""
    changed = [n for n in _git(root, "diff", "--name-only", base, "--", *REQUIREMENT_FILES,
                               *(f"**/{p}" for p in REQUIREMENT_FILES)).split() if n]
    old: dict[str, str] = {}
    new: dict[str, str] = {}
    for name in changed:
        try:
            before = _git(root, "show", f"{base}:{name}")
        except GateError:
            before = ""
        path = root / name
        after = path.read_text(encoding="utf-8") if path.exists() else ""
        old.update(pins_in(name, before))
        new.update(pins_in(name, after))
    return old, new, changed


def cell_from_pins(pins: dict[str, str], python: str) -> Cell:
    """A cell from a requirement set's pins (the TTS line, torch and transformers needed)."""
    if "coqui-tts" in pins:
        tts = f"coqui-tts=={pins['coqui-tts']}"
    elif "tts" in pins:
        tts = f"TTS=={pins['tts']}"
    else:
        raise GateError("the requirement files pin neither TTS nor coqui-tts exactly")
    missing = [n for n in ("torch", "transformers") if n not in pins]
    if missing:
        raise GateError(f"the requirement files do not pin {', '.join(missing)} exactly")
    extra = tuple((k, v) for k, v in sorted(pins.items())
                  if k not in ("tts", "coqui-tts", "torch", "transformers"))
    cell = Cell(id="", python=python, tts=tts, torch=pins["torch"],
                transformers=pins["transformers"], pins=extra)
    return _checked(replace(cell, id=cell_id(cell)), "the requirement files")


def _checked(cell: Cell, source: str) -> Cell:
    """A cell built from user input keeps a valid id, or the gate stops (exit 2): the id
    names files, folders and a nox session."""
    if not valid_id(cell.id):
        raise GateError(f"{source} make the cell id {cell.id!r}, which is not a valid cell id "
                        "(letters, digits, '.', '_', '+' and '-'); pin exact versions")
    return cell


def run_cells(cells: list[Cell], results_dir: Path, *, force: bool, label: str,
              tiers: tuple[str, ...] = ()) -> None:
    """Run cells through ``nox -s matrix`` (same isolation, progress and installs), all
    their tiers or only ``tiers``."""
    matrix = results_dir / f"{label}.toml"
    ids = [c.id for c in cells]
    if len(set(ids)) != len(ids):
        raise GateError(f"the cells to compare are the same cell ({ids[0]}): nothing is bumped")
    write_text_atomic(matrix, f'[matrix]\ndescription = "gate: {label}"\n\n'
                      + "\n".join(cell_table(c) for c in cells))
    env = {**os.environ, "COMPAT_MATRIX": str(matrix), "COMPAT_RESULTS": str(results_dir),
           "COMPAT_REPORTS": str(results_dir / "report")}
    if tiers:
        env["COMPAT_TIER_ONLY"] = ",".join(tiers)  # read by the tier plugin
    cmd = [sys.executable, "-m", "nox", "-f", str(REPO / "noxfile.py"), "-s", "matrix", "--",
           *(["--force"] if force else [])]
    print(f"gate: running {', '.join(ids)} ({'forced' if force else 'resuming'})", flush=True)
    if run_stopping_child(cmd, env=env, cwd=REPO):
        raise GateError("the cells could not run (see nox's output above)")


# -- output -----------------------------------------------------------------------------------

def render(changes: list[Change], ratios: list[dict[str, Any]], notes: list[str]
           ) -> tuple[str, str]:
    """The changes only: a plain table for the terminal and the same in Markdown."""
    head = ("cell", "tier", "was", "now", "regression", "detail")
    rows = [(c.cell, c.tier, c.was, c.now, "REGRESSION" if c.regression else "ok", c.detail)
            for c in changes]
    width = [max([len(head[i])] + [len(r[i]) for r in rows]) for i in range(5)]
    text = [" ".join(h.ljust(w) for h, w in zip(head, width)) + " detail"]
    text += [" ".join(v.ljust(w) for v, w in zip(r, width)) + " " + r[5] for r in rows]
    if not rows:
        text = ["no change against the expectation"]
    md = ["## xtts-compat gate", ""]
    if rows:
        md += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        md += ["| " + " | ".join(markdown._cell(v) for v in r) + " |" for r in rows]
    else:
        md.append("No change against the expectation.")
    if ratios:
        text.append("")
        text.append("benchmark new/old: " + "; ".join(
            f"{r['figure']} ({r['device']}) {r['ratio']:.2f}x" for r in ratios))
        md += ["", "| figure | device | old | new | new/old | limit |", "|---|---|---|---|---|---|"]
        md += [f"| {r['figure']} | {r['device']} | {r['old']:.3g} | {r['new']:.3g} | "
               f"{r['ratio']:.2f}x | {r['limit']:.2f}x |" for r in ratios]
    for note in notes:
        text.append(note)
        md += ["", note]
    return "\n".join(text), "\n".join(md) + "\n"


def _undecided(changes: list[Change]) -> int:
    """Tiers the host could not judge (a missing host prerequisite)."""
    return sum(c.now == "host-missing" for c in changes)


def publish(text: str, md: str, regressions: int, undecided: int = 0) -> int:
    """Exit 1 on a regression; else 2 when this host could not judge some tier (a missing
    host prerequisite: install it and run again); else 0."""
    print(text)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(md)
    if regressions:
        print(f"gate: {regressions} regression(s)")
        return REGRESSION
    if undecided:
        print(f"gate: cannot judge {undecided} tier(s): this host lacks a prerequisite "
              "(see host-missing above); install it and run the gate again")
        return CANNOT_RUN
    print("gate: no regression")
    return OK


def busy_note(entry: dict[str, Any], run: str = "") -> str:
    """Why a cell's benchmark figures were not compared: the machine was busy."""
    return (f"note: {entry['cell']}{f' ({run})' if run else ''}: benchmark figures not "
            f"compared, the machine was busy ({'; '.join(entry['busy'].values())}): not a "
            "regression, not a figure either; run the gate again on a quiet machine")


def _entries(results_dir: Path) -> dict[str, dict[str, Any]]:
    report = build(collect([results_dir]))
    return {e["cell"]: e for e in report["entries"]}


def confirmed_slowdowns(old: Cell, new: Cell, before: dict[str, Any], after: dict[str, Any],
                        results_dir: Path, threshold: float
                        ) -> tuple[list[dict[str, Any]], list[Change], list[str]]:
    """Slowdowns of ``new`` against ``old``; one beyond the limit is measured again, both
    cells in reverse order, and the best of the two runs counts. The first run of a cell
    just installed measured load 1.3-1.8x slower here where a second run measured 1.08x."""
    ratios, slow = slowdowns(new.id, before, after, threshold)
    if not slow:
        return ratios, slow, []
    print(f"gate: {len(slow)} figure(s) beyond the limit; running the {', '.join(CONFIRM_TIERS)}"
          " tiers of both cells again to confirm", flush=True)
    confirm = results_dir / "confirm"
    run_cells([new, old], confirm, force=True, label="confirm", tiers=CONFIRM_TIERS)
    again = _entries(confirm)
    if old.id not in again or new.id not in again:
        raise GateError(f"the confirming run left no result in {confirm}")
    first = [f"{r['figure']} on {r['device']} {r['ratio']:.2f}x" for r in ratios
             if r["ratio"] > r["limit"]]
    ratios, slow = slowdowns(new.id, fastest(before, again[old.id]["bench"]),
                             fastest(after, again[new.id]["bench"]), threshold)
    return ratios, slow, [f"note: slower in the first run ({'; '.join(first)}); the "
                          f"best of two runs {'confirms it' if slow else 'is within the limit'}",
                          *(busy_note(again[c.id], "confirming run") for c in (new, old)
                            if again[c.id].get("busy"))]


# -- the command ------------------------------------------------------------------------------

def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nox -s gate --", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--baseline", type=Path, default=BASELINE)
    p.add_argument("--matrix", type=Path, default=None,
                   help="matrix file (default: COMPAT_MATRIX, else matrices/default.toml)")
    p.add_argument("--results", type=Path, default=None,
                   help="results folder (default: COMPAT_RESULTS, else results/)")
    p.add_argument("--cell", action="append", default=[], help="only these cells (repeatable)")
    p.add_argument("--no-run", action="store_true", help="compare the results already there")
    p.add_argument("--update-baseline", action="store_true")
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


def _matrix_path(args: argparse.Namespace) -> Path:
    chosen = args.matrix or os.environ.get("COMPAT_MATRIX") or REPO / "matrices" / "default.toml"
    return Path(chosen).resolve()


def _results_dir(args: argparse.Namespace) -> Path:
    return Path(args.results or os.environ.get("COMPAT_RESULTS") or REPO / "results").resolve()


def _baseline_gate(args: argparse.Namespace) -> int:
    matrix = load_matrix(_matrix_path(args))
    cells = [c for c in matrix.cells if not args.cell or c.id in args.cell]
    unknown = sorted(set(args.cell) - {c.id for c in matrix.cells})
    if unknown:
        raise GateError(f"no cell {unknown} in {_matrix_path(args)}")
    results_dir = _results_dir(args)
    if not args.update_baseline:
        baseline = read_baseline(args.baseline)  # before running: a missing one is exit 2
    if not args.no_run:
        env = {**os.environ, "COMPAT_MATRIX": str(_matrix_path(args)),
               "COMPAT_RESULTS": str(results_dir)}
        sessions = [f"matrix(cell='{c.id}')" for c in cells]
        cmd = [sys.executable, "-m", "nox", "-f", str(REPO / "noxfile.py"), "-s", *sessions]
        if run_stopping_child(cmd, env=env, cwd=REPO):
            raise GateError("the matrix run failed (see nox's output above)")
    entries = _entries(results_dir)
    missing = [c.id for c in cells if c.id not in entries]
    if args.update_baseline:
        if missing:
            raise GateError(f"no result for {missing} in {results_dir}: run them first")
        diff = update_baseline(args.baseline, [entries[c.id] for c in cells],
                               _matrix_path(args).name, keep_others=bool(args.cell))
        print(diff or f"{args.baseline}: unchanged")
        print(f"gate: baseline {args.baseline} written ({len(cells)} cells)")
        return OK
    changes, notes = [], []
    for cell in cells:
        expected = baseline["cells"].get(cell.id)
        if cell.id not in entries:
            changes.append(Change(cell.id, "-", "result", "none", "the cell has no result", True))
        elif entries[cell.id]["verdict"] == INTERRUPTED:
            changes.append(Change(cell.id, "-", "result", INTERRUPTED,
                                  "the run was stopped before this cell finished: no verdict to "
                                  "compare; rerun it (nox -s matrix resumes there)", False))
        elif expected is None:
            notes.append(f"note: {cell.id} is not in the baseline (add it with --update-baseline)")
        else:
            changes += compare(cell.id, expected, entries[cell.id])
    text, md = render(changes, [], notes)
    code = publish(text, md, sum(c.regression for c in changes), _undecided(changes))
    stopped = [c.cell for c in changes if c.now == INTERRUPTED]
    if stopped and code == OK:
        print(f"gate: cannot judge {', '.join(stopped)}: interrupted (no verdict); rerun",
              file=sys.stderr)
        return CANNOT_RUN
    return code


def _bump_gate(args: argparse.Namespace) -> int:
    if args.from_diff:
        old_pins, new_pins, files = pins_from_diff(args.root.resolve(), args.from_diff)
        if not files:
            print(f"gate: no requirement file changed since {args.from_diff}: nothing to gate")
            return OK
        if old_pins == new_pins:
            print(f"gate: {', '.join(files)} changed, but no watched pin did: nothing to gate")
            return OK
        old = cell_from_pins(old_pins, args.python)
        new = cell_from_pins(new_pins, args.python)
        print(f"gate: {', '.join(files)}: " + ", ".join(
            f"{k} {old_pins.get(k, '-')} -> {new_pins.get(k, '-')}"
            for k in sorted(set(old_pins) | set(new_pins)) if old_pins.get(k) != new_pins.get(k)))
    else:
        matrix = load_matrix(_matrix_path(args))
        if len(args.cell) != 1:
            raise GateError("--bump needs one --cell ID (the current pins), e.g. "
                            f"--cell {matrix.cells[0].id}")
        current = matrix.by_id().get(args.cell[0])
        if current is None:
            raise GateError(f"no cell {args.cell[0]!r} in {_matrix_path(args)}")
        old, new = current, bump(current, args.bump)
    results_dir = Path(args.results).resolve() if args.results else Path(
        tempfile.mkdtemp(prefix="xtts-gate-", dir=REPO / "results" if (REPO / "results").is_dir()
                         else None))
    results_dir.mkdir(parents=True, exist_ok=True)
    run_cells([old, new], results_dir, force=not args.no_force, label="bump")
    entries = _entries(results_dir)
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
    notes += [busy_note(e) for e in (before, after) if e.get("busy")]
    base = read_baseline(args.baseline)["cells"].get(old.id) if args.baseline.exists() else None
    if base:
        drift = compare(old.id, base, before)
        if drift:
            notes.append(f"note: the current cell {old.id} itself differs from the baseline "
                         f"({len(drift)} change(s)); run the plain gate to see them")
    notes.append(f"full report of both cells: {results_dir / 'report' / 'compat-report.md'}")
    text, md = render(changes + slow, ratios, notes)
    return publish(text, md, sum(c.regression for c in changes + slow), _undecided(changes))

