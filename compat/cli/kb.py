"""``nox -s kb -- ...``: the knowledge bases as data.

    draft CELL [--results DIR]   a draft entry for each failure of the cell's result that
                                 no entry classifies (verbatim error, a signature with the
                                 paths made wild, the tier, the cell's versions)
    check [--results DIR]        every engine's knowledge base against its schema, its own
                                 examples (each entry's error matches its signature) and
                                 its boundary: ``affects`` must hold for the cells that show
                                 it (``shown_by``, and every stored result it classifies)

A draft is for a person to complete (cause, boundary, remedy, reference); the culprit
finder (``nox -s bisect``) measures the boundary. Exit: 0 nothing to do or all well,
1 drafts printed or a knowledge base is wrong, 2 cannot run.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from compat import engines
from compat.cells import Cell
from compat.culprit.explain import signature
from compat.incell.status import INTERRUPTED
from compat.plan.matrixfile import load_matrix
from compat.report.collect import collect, read
from compat.report.model import entry
from compat.result import diagnosis
from compat.result import files as results
from compat.result.model import CellResult
from compat.system import paths

SCHEMA_FILE = diagnosis.SCHEMA_FILE


def schema() -> dict[str, Any]:
    """The knowledge base's schema, its tiers the engines' (``install`` first)."""
    data = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    names = ["install", *dict.fromkeys(n for e in engines.all_engines().values()
                                       for n in e.tier_names())]
    found = _tier_property(data)
    if not found:
        raise RuntimeError(f"{SCHEMA_FILE}: no 'tier' property to fill with the engines' tiers")
    found["enum"] = names
    return data


def _tier_property(node: Any) -> dict[str, Any]:
    """The schema's ``tier`` property, wherever the file nests it."""
    if isinstance(node, dict):
        props = node.get("properties")
        if isinstance(props, dict) and isinstance(props.get("tier"), dict):
            return props["tier"]
        for value in node.values():
            found = _tier_property(value)
            if found:
                return found
    elif isinstance(node, list):
        for value in node:
            found = _tier_property(value)
            if found:
                return found
    return {}


def check(results_dir: Path | None = None) -> list[str]:
    """Problems of every engine's knowledge base: the schema, each entry's example, then
    each entry's boundary against the cells that show it."""
    import jsonschema

    from compat.system.tomlcompat import tomllib

    problems = []
    cells = matrix_cells()  # once: every matrix file, the exploratory one included
    for name, path in diagnosis.knowledge_bases().items():
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        for error in jsonschema.Draft202012Validator(schema()).iter_errors(data):
            where = "/".join(str(p) for p in error.absolute_path)
            problems.append(f"{path}: {where}: {error.message}")
        for found in diagnosis.load(name):
            versions = next((declared_versions(cells[c]) for c in found.shown_by
                             if c in cells), None)
            if diagnosis.classify(*found.example(), name, versions) != found:
                problems.append(f"{path}: {found.id}: its own error does not classify to it"
                                + (" on its shown_by cell's versions" if versions else ""))
    return problems + boundary_problems(results_dir)


def matrix_cells() -> dict[str, Cell]:
    """Every cell of every matrices/*.toml (the default selection or not), by id."""
    known = {name: engine.distributions for name, engine in engines.all_engines().items()}
    cells: dict[str, Cell] = {}
    for path in sorted(paths.MATRICES.glob("*.toml")):
        for cell in load_matrix(path, known).cells:
            cells.setdefault(cell.id, cell)
    return cells


def declared_versions(cell: Cell) -> dict[str, str | None]:
    """What a cell pins: its engine line's version, torch, transformers, extra pins, Python."""
    found: dict[str, str | None] = {cell.tts_distribution: cell.tts_version,
                                    "torch": cell.torch, "transformers": cell.transformers,
                                    "python": cell.python}
    found.update(dict(cell.pins))
    return found


def _shown(result: CellResult) -> dict[str, dict[str, str | None]]:
    """The entries a result's failures classify to, each with the versions it failed on:
    the pins the cell declared, overlaid by what was installed (a packaging failure the
    repair round mended: what was installed before the repair)."""
    from packaging.requirements import Requirement

    report = entry(result, "result")
    cell = result.cell
    tts = Requirement(cell["tts"])
    pinned = next((s.version for s in tts.specifier if s.operator == "=="), None)
    declared: dict[str, str | None] = {tts.name: pinned, "torch": cell.get("torch"),
                                       "transformers": cell.get("transformers"),
                                       **cell.get("pins", {})}
    shown: dict[str, dict[str, str | None]] = {}
    for failure in report["failures"]:
        installed = ((report["repair"] or {}).get("bare_resolved")
                     if failure["kind"] == "packaging" else None) or report["resolved"]
        shown.setdefault(failure["diagnosis"]["id"],
                         {**declared, **installed, "python": report["python"]})
    return shown


def boundary_problems(results_dir: Path | None = None) -> list[str]:
    """Each entry's ``affects`` against the cells that show it: its ``shown_by`` cells
    (their stored result's versions where there is one, else their pins), and every stored
    result whose failure it classifies. An entry whose stated boundary leaves out a cell
    that shows it is wrong (or the classifier is)."""
    problems: list[str] = []
    cells = matrix_cells()
    folder = paths.results_dir(results_dir)
    stored: dict[str, CellResult] = {}
    for loaded in collect([folder]).results if folder.is_dir() else []:
        if loaded.result.outcome != INTERRUPTED:  # stopped, no verdict: judged by its pins
            stored.setdefault(loaded.result.id, loaded.result)
    for found in diagnosis.load():
        for cell_id in found.shown_by:
            cell = cells.get(cell_id)
            if cell is None:
                problems.append(f"{found.id}: shown_by {cell_id!r} is no cell of "
                                "matrices/*.toml")
                continue
            if cell_id in stored:
                shown = _shown(stored[cell_id])
                if found.id not in shown:
                    problems.append(f"{found.id}: shown_by {cell_id}: its result in {folder} "
                                    f"does not show it (it shows {sorted(shown) or 'no failure'})")
                    continue
                versions = shown[found.id]
            else:
                versions = declared_versions(cell)
            if not found.could_hold(versions):
                problems.append(f"{found.id}: its affects {list(found.affects)} leaves out "
                                f"{cell_id}, which shows it")
    by_id = {b.id: b for b in diagnosis.load()}
    for cell_id, result in sorted(stored.items()):
        for entry_id, versions in sorted(_shown(result).items()):
            known = by_id.get(entry_id)
            if known and known.affects and not known.affected(versions):
                problems.append(f"{entry_id}: classifies a failure of {cell_id} ({folder}), "
                                f"but its affects {list(known.affects)} leaves those versions "
                                "out")
    return problems


def drafts(result: CellResult) -> list[str]:
    """A draft entry for each unclassified failure of a result, and for each failure whose
    nearest entry's boundary leaves its stack out (the report lists both as unclassified,
    next to this command)."""
    cell = result.cell
    engine = engines.get_engine(engines.engine_of_cell(cell))
    seen, out = set(), []
    report = entry(result, "result")
    resolved = report["resolved"]
    line = next((ln.distribution for ln in engine.lines
                 if any(k.lower() == ln.distribution.lower() for k in resolved)),
                engine.lines[0].distribution)
    for failure in report["failures"]:
        found = failure["diagnosis"]
        if found["id"] != diagnosis.UNCLASSIFIED and not found.get("outside_boundary"):
            continue
        key = (failure["tier"], failure["exc_type"], signature(failure["message"]))
        if key in seen:
            continue
        seen.add(key)
        first = failure["message"].strip().splitlines()[0] if failure["message"].strip() else ""
        versions = {k: v for k, v in resolved.items()
                    if k.lower() in (line.lower(), "torch", "transformers")}
        seen_with = ", ".join(f"{k} {v}" for k, v in versions.items())
        slug = re.sub(r"[^a-z0-9]+", "-", f"{cell['id']}-{failure['tier']}".lower()).strip("-")
        out.append(diagnosis.render_entry({
            "id": slug, "tier": failure["tier"],
            "exc_type": re.escape(failure["exc_type"].split(".")[-1]),
            "pattern": signature(failure["message"]) or re.escape(failure["status"]),
            "error": f"{failure['exc_type']}: {first}" if failure["exc_type"] else first,
            "diagnosis": "TODO: what breaks, in a few words",
            "cause": "TODO: why it happens (the upstream change)",
            "boundary": f"TODO: measure it with nox -s bisect -- --cell {cell['id']} "
                        f"--package NAME (seen with {seen_with})",
            "affects": [{k: f"=={v}" for k, v in versions.items()}],
            "shim": "", "pin": "TODO", "reference": "",
        }))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nox -s kb --", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    draft = sub.add_parser("draft", help="draft entries for a cell's unclassified failures")
    draft.add_argument("cell")
    draft.add_argument("--results", type=Path, default=None)
    checking = sub.add_parser("check", help="check every knowledge base")
    checking.add_argument("--results", type=Path, default=None,
                          help="the stored results to hold each entry's boundary against "
                               "(default: COMPAT_RESULTS, else results/)")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return 0 if exc.code == 0 else 2
    if args.command == "check":
        problems = check(args.results)
        for line in problems:
            print(f"kb: {line}")
        print(f"kb: {len(diagnosis.load())} entries in "
              f"{len(diagnosis.knowledge_bases())} knowledge bases: "
              f"{'OK' if not problems else f'{len(problems)} problem(s)'}")
        return 1 if problems else 0
    try:
        path = results.result_path(paths.results_dir(args.results), args.cell)
    except ValueError as exc:
        print(f"kb: {exc}", file=sys.stderr)
        return 2
    try:
        data = read(path)  # checked for shape: a malformed result is named, not a traceback
    except ValueError as exc:
        print(f"kb: no readable result {path}: {exc} (run the cell first)", file=sys.stderr)
        return 2
    found = drafts(data)
    if not found:
        print(f"kb: {args.cell}: every failure is classified (or none failed)")
        return 0
    print(f"kb: {args.cell}: {len(found)} unclassified failure(s); complete these in "
          f"compat/engines/{engines.engine_of_cell(data.cell)}/{diagnosis.FILE_NAME}:\n")
    print("\n".join(found))
    return 1
if __name__ == "__main__":
    raise SystemExit(main())
