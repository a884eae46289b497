"""What one cell leaves for the others: an artifact a tier writes (a fine-tuned
checkpoint, with the synthesis it gave) that another cell's tier reads.

A producer's tier writes ``results/<cell>/artifacts/<kind>/`` and, last, its
``manifest.json`` (``engine``, ``cell``, ``fingerprint``: the run's, from
``COMPAT_FINGERPRINT``; ``files``: name -> sha256). An artifact counts while its
producer's stored result has that fingerprint: a producer whose pins or code changed
offers nothing until it has run again. The list a consumer gets enters the consuming
tier's digest (``digest``), so that tier is rerun when a producer changes, appears or
goes. Consumers copy before they load: nothing here is ever opened for writing by them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from compat.cells import valid_id
from compat.result import files as results

MANIFEST = "manifest.json"


def folder(results_dir: Path, cell_id: str) -> Path:
    """Where a cell's tiers write what they leave (``COMPAT_ARTIFACTS``)."""
    return results_dir / cell_id / "artifacts"


def env_name(kind: str) -> str:
    """The variable a consuming tier reads its list from: ``COMPAT_SHARED_CHECKPOINT``."""
    return f"COMPAT_SHARED_{kind.upper()}"


def produced(results_dir: Path, engine: str, kind: str, exclude: str) -> list[dict[str, Any]]:
    """Every current artifact of ``kind`` other cells of ``engine`` left, by cell id: its
    folder, the producer's fingerprint, the hashes of its files."""
    found = []
    for manifest in sorted(results_dir.glob(f"*/artifacts/{kind}/{MANIFEST}")):
        cell = manifest.parents[2].name
        if cell == exclude or not valid_id(cell):
            continue
        try:
            data = json.loads(manifest.read_text())
        except (OSError, ValueError):
            continue  # half-written or damaged: the producer's next run rewrites it
        if not isinstance(data, dict) or data.get("engine") != engine:
            continue
        stored = results.read_result(results.result_path(results_dir, cell))
        if not stored or stored.get("fingerprint") != data.get("fingerprint"):
            continue  # left by an older run of a cell whose result has moved on
        found.append({"cell": cell, "fingerprint": data["fingerprint"],
                      "dir": str(manifest.parent), "files": data.get("files", {}),
                      "versions": data.get("versions", {})})
    return found


def digest(found: list[dict[str, Any]]) -> str:
    """What a consuming tier's result depends on: which producers, which files."""
    key = [(f["cell"], f["fingerprint"], sorted(f["files"].items())) for f in found]
    return hashlib.sha256(json.dumps(key).encode()).hexdigest()[:16]


def shared_inputs(results_dir: Path, engine: Any, cell_id: str
                  ) -> tuple[dict[str, str], dict[str, str]]:
    """For a cell: the variables naming what the others left (one per kind), and per
    consuming tier the digest of it."""
    env, digests = {}, {}
    for kind, tier in engine.shares.items():
        found = produced(results_dir, engine.name, kind, cell_id)
        env[env_name(kind)] = json.dumps(found)
        digests[tier] = digest(found)
    return env, digests
