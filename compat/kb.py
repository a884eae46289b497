"""``nox -s kb -- ...``: the knowledge bases as data.

    draft CELL [--results DIR]   a draft entry for each failure of the cell's result that
                                 no entry classifies (verbatim error, a signature with the
                                 paths made wild, the tier, the cell's versions)
    check                        every engine's knowledge base against its schema and its
                                 own examples (each entry's error matches its signature)

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

from compat import diagnosis, engines, paths, results
from compat.culprit.explain import signature
from compat.report.model import entry

SCHEMA_FILE = Path(__file__).with_name("knowledge.schema.json")


def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


def check() -> list[str]:
    """Problems of every engine's knowledge base: the schema, then each entry's example."""
    import jsonschema

    from compat.tomlcompat import tomllib

    problems = []
    for name, path in diagnosis.knowledge_bases().items():
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        for error in jsonschema.Draft202012Validator(schema()).iter_errors(data):
            where = "/".join(str(p) for p in error.absolute_path)
            problems.append(f"{path}: {where}: {error.message}")
        for found in diagnosis.load(name):
            if diagnosis.classify(*found.example(), name) != found:
                problems.append(f"{path}: {found.id}: its own error does not classify to it")
    return problems


def drafts(result: dict[str, Any]) -> list[str]:
    """A draft entry for each unclassified failure of a result."""
    cell = result["cell"]
    engine = engines.get_engine(engines.engine_of_cell(cell))
    seen, out = set(), []
    report = entry(result, "result")
    resolved = report["resolved"]
    line = next((ln.distribution for ln in engine.lines
                 if any(k.lower() == ln.distribution.lower() for k in resolved)),
                engine.lines[0].distribution)
    for failure in report["failures"]:
        if failure["diagnosis"]["id"] != diagnosis.UNCLASSIFIED:
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
    sub.add_parser("check", help="check every knowledge base")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return 0 if exc.code == 0 else 2
    if args.command == "check":
        problems = check()
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
    data = results.read_result(path)
    if data is None:
        print(f"kb: no readable result {path} (run the cell first)", file=sys.stderr)
        return 2
    found = drafts(data)
    if not found:
        print(f"kb: {args.cell}: every failure is classified (or none failed)")
        return 0
    print(f"kb: {args.cell}: {len(found)} unclassified failure(s); complete these in "
          f"compat/engines/{engines.engine_of_cell(data['cell'])}/{diagnosis.FILE_NAME}:\n")
    print("\n".join(found))
    return 1
