"""The baseline: the expectation of every cell of a matrix, read and rewritten (with the
diff shown) from results."""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any

from compat.engines import get_engine
from compat.gate.policy import GateError, expectation
from compat.incell.atomicio import write_json_atomic
from compat.report.model import INTERRUPTED
from compat.result import files as results
from compat.system.paths import BASELINE

__all__ = ["BASELINE", "BASELINE_SCHEMA", "fill_baseline", "read_baseline", "update_baseline"]

BASELINE_SCHEMA = "xtts-compat/baseline/1"


def read_baseline(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GateError(f"no baseline at {path}: create it with "
                        "`nox -s gate -- --update-baseline`") from None
    except (OSError, ValueError) as exc:
        raise GateError(f"unreadable baseline {path}: {exc}") from None
    if not isinstance(data, dict) or data.get("schema") != BASELINE_SCHEMA:
        found = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise GateError(f"{path} is not a baseline (schema {found!r})")
    cells = data.get("cells")
    if not isinstance(cells, dict) or not cells:
        raise GateError(f"{path}: malformed baseline: 'cells' must be a non-empty object "
                        "{cell id: expectation}; rewrite it with `nox -s gate -- "
                        "--update-baseline`")
    for cell, expected in cells.items():
        tiers = expected.get("tiers") if isinstance(expected, dict) else None
        if not isinstance(tiers, dict) or not tiers or not all(
                isinstance(t, dict) and isinstance(t.get("expect"), str) for t in tiers.values()):
            raise GateError(f"{path}: malformed baseline: cell {cell!r} needs 'tiers' "
                            "{tier: {\"expect\": status}} with at least one tier")
    return data


def fill_baseline(path: Path, entries: list[dict[str, Any]], matrix: str
                  ) -> tuple[str, list[str]]:
    """Add what the baseline lacks from results, changing no expectation it has: a cell it
    does not name gets the result's whole expectation; a cell it names gets the tiers it
    lacks (a tier an engine added since). The verdict follows the result only where the
    result agrees with every tier the baseline already expected; otherwise it is kept,
    and the disagreement returned (the gate shows it as a change). Returns the diff and
    the notes."""
    data = read_baseline(path)
    cells = dict(data["cells"])
    notes = []
    for entry in entries:
        new = {k: v for k, v in expectation(entry).items() if k != "bench"} | {
            "bench": entry["bench"]}
        old = cells.get(entry["cell"])
        if old is None:
            cells[entry["cell"]] = new
            notes.append(f"{entry['cell']}: added (verdict {entry['verdict']})")
            continue
        added = {t: v for t, v in new["tiers"].items() if t not in old["tiers"]}
        if not added:
            continue
        differ = sorted(t for t, v in old["tiers"].items()
                        if new["tiers"].get(t, {}).get("expect") != v.get("expect"))
        merged = {**old, "tiers": {**old["tiers"], **added}}
        if differ:
            # A run of some tiers (``--tiers``) left the others not run: that is no
            # disagreement, and the note says which it is.
            unrun = [t for t in differ if new["tiers"].get(t, {}).get("expect")
                     in (None, "not-run")]
            said = [f"the result did not run {', '.join(unrun)}"] if unrun else []
            if len(unrun) < len(differ):
                said.append(f"it disagrees on {', '.join(t for t in differ if t not in unrun)}")
            notes.append(f"{entry['cell']}: added {', '.join(added)}; verdict kept "
                         f"({old.get('verdict')}): {'; '.join(said)}")
        else:
            merged["verdict"] = new["verdict"]
            notes.append(f"{entry['cell']}: added {', '.join(added)}")
        cells[entry["cell"]] = merged
    old_text = path.read_text(encoding="utf-8")
    write_json_atomic(path, {**data, "matrix": matrix, "updated_at": results.now(),
                             "cells": dict(sorted(cells.items()))})
    new_text = path.read_text(encoding="utf-8")
    return "".join(line for line in difflib.unified_diff(
        old_text.splitlines(True), new_text.splitlines(True), str(path), str(path))
        if '"updated_at"' not in line), notes


def gaps(baseline: dict[str, Any], cells: list[Any]) -> dict[str, list[str]]:
    """{cell id: the tiers it declares that the baseline has no expectation for} (every
    tier when the cell is missing), for the cells given (``compat.cells.Cell``)."""
    out = {}
    for cell in cells:
        declared = [t.name for t in get_engine(cell.engine).tiers
                    if not cell.tiers or t.name in cell.tiers]
        have = (baseline["cells"].get(cell.id) or {}).get("tiers", {})
        missing = [t for t in declared if t not in have]
        if missing:
            out[cell.id] = missing
    return out


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


