"""The compatibility report: ``python -m compat report [RESULTS_DIR ...] [--out reports]``.

Merges every result file of the given folders into ``compat-report.json`` (validated
against ``report.schema.json``), ``compat-report.md`` (also appended to
``$GITHUB_STEP_SUMMARY`` when set), ``compat-report.html``, ``compat-heatmap.png``,
``compat-crossload.png`` (when a crossload tier judged pairs) and a merged ``junit.xml``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from compat.incell.atomicio import write_json_atomic, write_text_atomic
from compat.report import heatmap, html, junit, markdown
from compat.report.collect import collect
from compat.report.model import build
from compat.system import paths as folders

SCHEMA_FILE = Path(__file__).with_name("report.schema.json")
NAMES = {"json": "compat-report.json", "md": "compat-report.md", "html": "compat-report.html",
         "png": "compat-heatmap.png", "pairs_png": "compat-crossload.png",
         "junit": "junit.xml"}


def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


def validate(report: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError when the report does not follow its schema."""
    import jsonschema

    jsonschema.validate(report, schema(), format_checker=jsonschema.FormatChecker())


def write(paths: list[Path], out: Path, *, heat: bool = True,
          generated_at: str | None = None) -> dict[str, Any]:
    """Collect, build, validate and write every format; return the report."""
    found = collect(paths)
    report = build(found, generated_at)
    validate(report)
    write_json_atomic(out / NAMES["json"], report)
    text = markdown.render(report)
    write_text_atomic(out / NAMES["md"], text)
    write_text_atomic(out / NAMES["html"], html.render(report))
    if heat:
        heatmap.render(report, out / NAMES["png"])
        heatmap.render_pairs(report, out / NAMES["pairs_png"])
    junit.merge(found.results, out / NAMES["junit"])
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(text + "\n")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m compat report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", nargs="*", type=Path,
                        help="folders of result files, or result files (default: results/)")
    parser.add_argument("--out", type=Path, default=None,
                        help="where to write (default: COMPAT_REPORTS, else reports/)")
    parser.add_argument("--no-heatmap", action="store_true")
    args = parser.parse_args(argv)
    paths = args.results or [folders.results_dir()]
    args.out = folders.reports_dir(args.out)
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        print(f"report: no such results folder or file: {', '.join(missing)}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    report = write(paths, args.out, heat=not args.no_heatmap)
    for problem in report["problems"]:
        print(f"report: skipped {problem['path']}: {problem['problem']}", file=sys.stderr)
    counts = ", ".join(f"{n} {v}" for v, n in report["summary"].items() if n) or "no results"
    print(f"report: {len(report['entries'])} cells ({counts}) -> {args.out}/"
          f"{{{','.join(NAMES.values())}}} in {time.perf_counter() - started:.2f}s")
    return 0
