"""Result files: one JSON per cell, ``results/<cell-id>.json``, written atomically.

See docs/results.md ("Reading a result") for the fields.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from compat import __version__
from compat.cells import ID_RULE, valid_id
from compat.incell.atomicio import write_json_atomic
from compat.incell.status import STATUSES

SCHEMA = "xtts-compat/result/1"


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def tier_status(status: str, **fields: Any) -> dict[str, Any]:
    if status not in STATUSES:
        raise ValueError(f"unknown tier status {status!r}")
    return {"status": status, **{k: v for k, v in fields.items() if v is not None}}


def result_path(results_dir: Path, cell_id: str) -> Path:
    """``results_dir/<cell_id>.json``. An id that is not a cell id (``ID_RE``) is refused:
    with '/' or '..' it would write, and the cell's scratch folders be deleted, outside
    ``results_dir``. Matrix files are checked already; this is the second line."""
    if not valid_id(cell_id):
        raise ValueError(f"{cell_id!r} is not a valid cell id ({ID_RULE}); "
                         f"refusing to write its result under {results_dir}")
    return results_dir / f"{cell_id}.json"


def write_result(results_dir: Path, result: dict[str, Any]) -> Path:
    return write_json_atomic(result_path(results_dir, result["cell"]["id"]), result)


def read_result(path: Path) -> dict[str, Any] | None:
    """A stored result, or None when absent or unreadable (it will simply be rerun)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("schema") == SCHEMA else None


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
