"""``nox -s clean [-- --dry-run]``: give back the disk that nothing needs any more.

What goes:
- environments of cells no matrix file names any more (a bump gate's old and new cells,
  a culprit finder's trials, a cell deleted from a file) and their repaired twins;
- results of such cells, with their folders (logs, artifacts);
- results whose fingerprint the current pins and code no longer give (``stale``: the next
  run would redo them anyway), with their folders;
- then ``uv cache prune`` (what no environment links to).

What stays: every environment and current result of a cell some matrix names, the
fixtures, the reports. ``--dry-run`` lists without removing.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from compat.plan.matrixfile import known_cells
from compat.result import files as results
from compat.result.fingerprint import current_fingerprint
from compat.system import paths

MATRIX_ENV = "matrix-cell-"


def slug(cell_id: str) -> str:
    """The folder nox gives ``matrix(cell='<id>')``: ``matrix-cell-`` and the id's slug."""
    return MATRIX_ENV + "".join(ch if ch.isalnum() else "-" for ch in cell_id)


def size(path: Path) -> int:
    """Bytes removing ``path`` gives back: files hard-linked elsewhere (an environment's
    links into uv's cache) count nothing."""
    items = [path] if path.is_file() else path.rglob("*")
    total = 0
    for item in items:
        try:
            info = item.lstat()
        except OSError:
            continue
        if item.is_file() and not item.is_symlink() and info.st_nlink == 1:
            total += info.st_size
    return total


def plan(envdir: Path, results_dir: Path) -> list[tuple[Path, str]]:
    """What to remove, each with why."""
    cells = known_cells()
    slugs = {slug(i): i for i in cells}
    out: list[tuple[Path, str]] = []
    for env in sorted(envdir.glob(f"{MATRIX_ENV}*")) if envdir.is_dir() else []:
        base = env.name.removesuffix("-repaired")
        if base not in slugs:
            out.append((env, "environment of a cell no matrix names"))
    for path in sorted(results_dir.glob("*.json")) if results_dir.is_dir() else []:
        stored = results.read_result(path)
        if stored is None:
            continue
        cell_id = path.stem
        folder = results_dir / cell_id
        if cell_id not in cells:
            why = "result of a cell no matrix names"
        elif all(stored.get("fingerprint") != current_fingerprint(c, stored)
                 for c in cells[cell_id]):
            why = "stale result: the current pins and code give another fingerprint"
        else:
            continue
        out += [(path, why)] + ([(folder, why)] if folder.is_dir() else [])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nox -s clean --", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dry-run", action="store_true", help="list, remove nothing")
    parser.add_argument("--envdir", type=Path, default=paths.REPO / ".nox")
    parser.add_argument("--results", type=Path, default=None)
    args = parser.parse_args(argv)
    todo = plan(args.envdir, paths.results_dir(args.results))
    freed = 0
    for path, why in todo:
        freed += size(path)
        print(f"{'would remove' if args.dry_run else 'removed'} {path} ({why})")
        if not args.dry_run:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
    if not args.dry_run:
        from compat.env.install import prune_cache

        prune_cache()
    print(json.dumps({"removed" if not args.dry_run else "would_remove": len(todo),
                      "bytes": freed}))
    print(f"clean: {len(todo)} item(s), {freed / 2**30:.1f} GiB"
          + (" (dry run)" if args.dry_run else "; uv cache pruned"))
    return 0
