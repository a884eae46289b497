"""Result files: one JSON per cell, ``results/<cell-id>.json``, written atomically.

What a file holds is compat.result.model's (``CellResult``, its JSON schema and its
upgrades); docs/results.md ("Reading a result") says what the fields mean.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from compat import __version__
from compat.incell.atomicio import write_json_atomic
from compat.incell.status import STATUSES
from compat.result.model import SCHEMA, from_dict, result_path


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def tier_status(status: str, **fields: Any) -> dict[str, Any]:
    if status not in STATUSES:
        raise ValueError(f"unknown tier status {status!r}")
    return {"status": status, **{k: v for k, v in fields.items() if v is not None}}


def write_result(results_dir: Path, result: dict[str, Any]) -> Path:
    """Write a result atomically, checked against the model first. One that does not fit
    (a harness bug) is still written, losing nothing, with ``harness_error`` saying why:
    the readers then name the file and its problem instead of judging it."""
    try:
        from_dict(json.loads(json.dumps(result, default=str)))
    except ValueError as exc:
        result = {**result, "harness_error": f"written as it does not fit the result model: "
                                             f"{exc}"}
    return write_json_atomic(result_path(results_dir, result["cell"]["id"]), result)


def read_result(path: Path) -> dict[str, Any] | None:
    """A stored result, upgraded to the current schema, or None when absent or unreadable
    (it will simply be rerun)."""
    try:
        return from_dict(json.loads(path.read_text(encoding="utf-8"))).to_dict()
    except (OSError, ValueError):
        return None


def new_result(cell: dict[str, Any], fingerprint: str, machine: dict[str, Any]) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "suite_version": __version__,
        "fingerprint": fingerprint,
        "cell": cell,
        "machine": machine,
        "started_at": now(),
        "tiers": {},
    }
