"""Where things are: the one owner of the repository's folders and their defaults, each
overridable by an environment variable (set by a caller such as the gate or CI)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from compat.system.tomlcompat import tomllib

REPO = Path(__file__).resolve().parents[2]
MATRICES = REPO / "matrices"
DEFAULT_MATRIX = MATRICES / "default.toml"
BASELINE = MATRICES / "baseline.json"


def matrix_paths(chosen: str | Path | None = None, tags: Iterable[str] = ()) -> list[Path]:
    """``chosen``, else ``COMPAT_MATRIX`` (relative to the current folder), else every
    matrices/*.toml in the default selection (default.toml first; not those that say
    ``default = false``, such as CI's smoke subset, unless ``tags`` name the file's
    ``[matrix] tag``: ``nox -t explore`` adds the exploratory matrix)."""
    picked = chosen or os.environ.get("COMPAT_MATRIX")
    if picked:
        return [Path(picked).resolve()]
    others = sorted(p for p in MATRICES.glob("*.toml") if p != DEFAULT_MATRIX)
    return [p.resolve() for p in [DEFAULT_MATRIX, *others] if in_default_selection(p, tags)]


def results_dir(chosen: str | Path | None = None) -> Path:
    """``chosen``, else ``COMPAT_RESULTS``, else results/."""
    return Path(chosen or os.environ.get("COMPAT_RESULTS") or REPO / "results").resolve()


def reports_dir(chosen: str | Path | None = None) -> Path:
    """``chosen``, else ``COMPAT_REPORTS``, else reports/."""
    return Path(chosen or os.environ.get("COMPAT_REPORTS") or REPO / "reports").resolve()


def in_default_selection(path: Path, tags: Iterable[str] = ()) -> bool:
    """Whether a matrix file is part of the default selection (``[matrix] default``, true
    unless said otherwise), or joins it because ``tags`` (nox's ``-t``) name its ``[matrix]
    tag``; a file that cannot be read is, so its error is shown."""
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8")).get("matrix", {})
    except (OSError, tomllib.TOMLDecodeError):
        return True
    if not isinstance(table, dict) or table.get("default") is not False:
        return True
    return bool(table.get("tag")) and table.get("tag") in set(tags)

