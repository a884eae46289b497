"""Gather result files from one or more folders (one run, several runs, several machines).

A folder's results are the ``*.json`` files directly inside it (the per-cell folders beside
them hold logs and raw pytest reports). A file that is not a readable result is reported
with its path and skipped; the rest still make the report. Results of different machines
sit side by side; a cell run twice on one machine keeps the newest.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compat.result.model import CellResult, load
from compat.system.machine import machine_key

REQUIRED = ("cell", "machine", "tiers", "started_at")


@dataclass
class Loaded:
    path: Path
    result: CellResult

    @property
    def key(self) -> tuple[str, str]:
        return machine_key(self.result.machine), self.result.id

    @property
    def when(self) -> str:
        return self.result.when


@dataclass
class Collection:
    results: list[Loaded] = field(default_factory=list)
    #: Files that could not be used: {"path": ..., "problem": ...}.
    problems: list[dict[str, str]] = field(default_factory=list)
    #: Older results of the same cell on the same machine, replaced by a newer one.
    superseded: list[str] = field(default_factory=list)
    #: The culprit finder's answers (``<folder>/bisect/*.json``), newest last.
    boundaries: list[dict[str, Any]] = field(default_factory=list)


def result_files(paths: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        files.extend(sorted(path.glob("*.json")) if path.is_dir() else [path])
    return files


def read(path: Path) -> CellResult:
    """A result, upgraded to the current schema, or ValueError saying what is wrong with
    the file (compat.result.model owns the checks)."""
    return load(path)


def collect(paths: Iterable[Path]) -> Collection:
    found = Collection()
    newest: dict[tuple[str, str], Loaded] = {}
    for path in result_files(paths):
        try:
            loaded = Loaded(path, read(path))
        except ValueError as exc:
            found.problems.append({"path": str(path), "problem": str(exc)})
            continue
        kept = newest.get(loaded.key)
        if kept is None or loaded.when > kept.when:
            if kept is not None:
                found.superseded.append(str(kept.path))
            newest[loaded.key] = loaded
        else:
            found.superseded.append(str(path))
    found.results = sorted(newest.values(), key=lambda r: (r.result.id, r.key[0]))
    found.boundaries = answers(paths)
    return found


BISECT_SCHEMA = "xtts-compat/bisect/1"


def answers(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """The culprit finder's answers beside the results (``bisect/*.json`` of each folder);
    an unreadable one is left out (it is the finder's scratch, not a verdict)."""
    found = []
    for path in paths:
        for file in sorted(Path(path).glob("bisect/*.json")) if Path(path).is_dir() else []:
            try:
                data = json.loads(file.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(data, dict) and data.get("schema") == BISECT_SCHEMA:
                found.append(data)
    return sorted(found, key=lambda a: a.get("finished_at") or "")
