"""One JUnit XML from every cell's pytest runs, for CI systems that read it. Each suite is
named ``<machine>/<cell>/<round>`` (round: bare, or the shims it ran with)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from compat.incell.atomicio import write_text_atomic
from compat.report.collect import Loaded
from compat.result.model import CellResult


def _rounds(result: CellResult) -> list[tuple[str, str]]:
    artifacts = result.artifacts or {}
    rounds = [("bare", artifacts["junit"])] if artifacts.get("junit") else []
    plan_rounds = (result.shims or {}).get("rounds") or []
    for index, item in enumerate(plan_rounds[1:], start=1):
        path = artifacts.get(f"{index}:junit")
        if path:
            rounds.append(("shims " + "+".join(item["shims"]), path))
    return rounds


def merge(results: list[Loaded], path: Path) -> Path:
    root = ET.Element("testsuites", name="xtts-compat")
    totals = dict.fromkeys(("tests", "failures", "errors", "skipped"), 0)
    for loaded in results:
        machine = loaded.key[0].split("|")[0]
        for round_name, relative in _rounds(loaded.result):
            source = loaded.path.parent / relative
            try:
                tree = ET.parse(source)
            except (OSError, ET.ParseError):
                continue
            node = tree.getroot()
            suites = [node] if node.tag == "testsuite" else node.findall("testsuite")
            for suite in suites:
                suite.set("name", f"{machine}/{loaded.result.id}/{round_name}")
                for key in totals:
                    totals[key] += int(suite.get(key, 0) or 0)
                root.append(suite)
    for key, value in totals.items():
        root.set(key, str(value))
    return write_text_atomic(path, ET.tostring(root, encoding="unicode", xml_declaration=True))
