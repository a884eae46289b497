"""The baseline: the expectation of every cell of a matrix, read and rewritten (with the
diff shown) from results."""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any

from compat import results
from compat.atomicio import write_json_atomic
from compat.gate.policy import GateError, expectation
from compat.paths import BASELINE
from compat.report.model import INTERRUPTED

__all__ = ["BASELINE", "BASELINE_SCHEMA", "read_baseline", "update_baseline"]

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


