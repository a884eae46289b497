"""The report as one self-contained HTML file (no network, no CDN): a table sortable by any
column, filterable by tier, status and package version, each failure behind a click."""

from __future__ import annotations

from typing import Any

from compat import engines
from compat.incell.status import DISPLAY, VERDICT_CLASS
from compat.report import pairs
from compat.report.model import first_line, short_cause, unclassified


def _view(item: dict[str, Any]) -> dict[str, Any]:
    """What the template shows of an entry, computed here so the template stays simple."""
    failure_of: dict[str, dict[str, str]] = {}
    for failure in item["failures"]:
        if failure["kind"] != "final":
            continue
        text = f"{failure['exc_type']}: {failure['message']}".strip(": ")
        if failure["traceback_tail"]:
            text += "\n\n" + failure["traceback_tail"]
        found = failure["diagnosis"]
        if found["id"] != "unclassified":
            text += (f"\n\ndiagnosis: {found['diagnosis']}\ncause: {found['cause']}\n"
                     f"remedy: {found['remedy']}\nreference: {found['reference']}")
        # Once, in its own tier's column: an install failure is not repeated in the
        # columns of the tiers it kept from running (they show a dot: not run).
        failure_of.setdefault(failure["tier"], {"cause": short_cause(failure), "text": text})
    cpu: dict[str, Any] = next(iter(item["bench"].values()), {})
    # Figures of a busy machine: shown marked, never sorted.
    busy: dict[str, Any] = next(iter(item.get("bench_busy", {}).values()), {})
    versions = " ".join([item["cell"], item["python"], item["torch"], item["transformers"],
                         item["tts"], item["line"], *item["requirements"],
                         *(f"{k}=={v}" for k, v in item["resolved"].items() if v)])
    # There is no install column: the install error is shown once, in the verdict's cell.
    install_failure = failure_of.pop("install", None)
    return {**item, "failure_of": failure_of, "install_failure": install_failure,
            "rtf": cpu.get("rtf"), "load": cpu.get("load_s"),
            "rtf_busy": busy.get("rtf"), "load_busy": busy.get("load_s"),
            "search": versions.lower(), "verdict_class": VERDICT_CLASS[item["verdict"]],
            "machine_short": first_line(item["machine"].split("|")[0], 40)}


def render(report: dict[str, Any]) -> str:
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("compat.report", "templates"),
                      autoescape=select_autoescape(["html", "j2"]), trim_blocks=True,
                      lstrip_blocks=True)
    template = env.get_template("report.html.j2")
    grids = []
    for engine in engines.all_engines().values():
        rows, cols, cells = pairs.grid(report.get("pairs", []), engine.name)
        if rows:
            grids.append({"engine": engine.name, "title": engine.title, "rows": rows,
                          "cols": cols, "cells": cells, "text": pairs.text})
    return template.render(report=report, entries=[_view(e) for e in report["entries"]],
                           statuses=DISPLAY, unclassified=unclassified(report["entries"]),
                           grids=grids)
