"""The heatmap: for each engine release (line and version), torch against transformers,
coloured by the verdict of the cells there, worst first (all Pythons and machines
together)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from compat import engines
from compat.incell.atomicio import write_bytes_atomic
from compat.incell.status import VERDICT_WORDS
from compat.report.model import _version

#: Panels (engine releases) in one row of the heatmap before it wraps.
PER_ROW = 6
#: Verdicts, best first, their colours and short labels.
ORDER = tuple(w.name for w in VERDICT_WORDS)
COLOURS = tuple(w.colour for w in VERDICT_WORDS)
LABELS = tuple(w.label for w in VERDICT_WORDS)


def render(report: dict[str, Any], path: Path) -> Path:
    import logging

    logging.getLogger("matplotlib").setLevel(logging.WARNING)  # nox logs at debug level
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.patches import Patch

    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for item in report["entries"]:
        if item["verdict"] not in ORDER:
            continue  # interrupted: no verdict to colour
        groups.setdefault((item["line"], item["tts"]), []).append(item)
    keys = sorted(groups, key=lambda k: (k[0], _version(k[1])))
    # Rows of at most PER_ROW panels: 30 releases in one row would be 126 inches wide.
    ncols = min(max(len(keys), 1), PER_ROW)
    nrows = max(math.ceil(len(keys) / ncols), 1)
    fig, grid_axes = plt.subplots(nrows, ncols, squeeze=False,
                                  figsize=(max(4.2 * ncols, 5), 4.2 * nrows))
    axes = [list(grid_axes.flat)]
    for spare in axes[0][len(keys):]:
        spare.set_axis_off()
    cmap, norm = ListedColormap(COLOURS), BoundaryNorm(range(len(ORDER) + 1), len(ORDER))
    for ax, key in zip(axes[0], keys):
        items = groups[key]
        torches = sorted({i["torch"] for i in items}, key=_version)
        tfs = sorted({i["transformers"] for i in items}, key=_version)
        grid: list[list[float]] = [[float("nan")] * len(tfs) for _ in torches]
        for item in items:
            y, x = torches.index(item["torch"]), tfs.index(item["transformers"])
            rank = ORDER.index(item["verdict"])
            grid[y][x] = rank if grid[y][x] != grid[y][x] else max(grid[y][x], rank)
        ax.imshow(grid, cmap=cmap, norm=norm, aspect="auto")
        for y, values in enumerate(grid):
            for x, value in enumerate(values):
                if value == value:
                    ax.text(x, y, LABELS[int(value)], ha="center", va="center", fontsize=8,
                            color="white" if LABELS[int(value)] in ("pass", "fail", "install")
                            else "black")
        ax.set_xticks(range(len(tfs)), tfs, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(len(torches)), torches, fontsize=8)
        ax.set_xlabel("transformers")
        ax.set_ylabel("torch")
        found = engines.all_lines().get(key[0])
        ax.set_title(f"{found[1].distribution if found else key[0]} {key[1]}", fontsize=10)
    if not keys:
        axes[0][0].text(0.5, 0.5, "no results", ha="center", va="center")
        axes[0][0].set_axis_off()
    fig.legend(handles=[Patch(color=c, label=label) for c, label in zip(COLOURS, LABELS)],
               loc="lower center", ncol=min(len(ORDER), 4), fontsize=8, frameon=False)
    titles = [e.title for e in engines.all_engines().values()
              if any(item["engine"] == e.name for item in report["entries"])]
    fig.suptitle(f"{', '.join(titles) or 'No engine'}: verdict per torch × transformers",
                 fontsize=11)
    # The legend wraps at four a row and has its own band, so no edge cuts it off.
    legend_band = (0.03 + 0.035 * math.ceil(len(ORDER) / 4)) / nrows
    fig.tight_layout(rect=(0, legend_band, 1, 1 - 0.05 / nrows))
    return _save(fig, path)


def render_pairs(report: dict[str, Any], path: Path) -> Path | None:
    """The crossload grid in the heatmap's style: per engine, trained with (rows) against
    loaded by (columns), coloured by the pair's verdict. None when no pair was judged."""
    import logging

    logging.getLogger("matplotlib").setLevel(logging.WARNING)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.patches import Patch

    from compat.report import pairs

    grids = [(e, *pairs.grid(report.get("pairs", []), e.name))
             for e in engines.all_engines().values()]
    grids = [g for g in grids if g[1]]
    if not grids:
        return None
    colours = [w[3] for w in pairs.WORDS]
    cmap = ListedColormap(colours)
    norm = BoundaryNorm(range(len(colours) + 1), len(colours))
    width = max(len(g[2]) for g in grids)
    height = sum(len(g[1]) for g in grids)
    fig, axes = plt.subplots(len(grids), 1, squeeze=False,
                             figsize=(max(6, 1.3 * width + 4), max(3, 0.45 * height + 3)))
    for ax, (engine, rows, cols, cells) in zip(axes[:, 0], grids):
        grid_pairs: list[list[float]] = [[float("nan")] * len(cols) for _ in rows]
        for (row, col), pair in cells.items():
            grid_pairs[rows.index(row)][cols.index(col)] = pairs.VERDICTS.index(pair["verdict"])
        ax.imshow(grid_pairs, cmap=cmap, norm=norm, aspect="auto")
        for y, values in enumerate(grid_pairs):
            for x, rank in enumerate(values):
                label = ("own" if rows[y] == cols[x] else
                         pairs.WORDS[int(rank)][2] if rank == rank else "")
                ax.text(x, y, label, ha="center", va="center", fontsize=7,
                        color="white" if label in ("loads", "refuses") else "black")
        ax.set_xticks(range(len(cols)), cols, rotation=45, ha="right", fontsize=7)
        ax.set_yticks(range(len(rows)), rows, fontsize=7)
        ax.set_xlabel("loaded by")
        ax.set_ylabel("trained with")
        ax.set_title(f"{engine.title}: fine-tuned checkpoints across stacks", fontsize=10)
    fig.legend(handles=[Patch(color=w[3], label=w[2]) for w in pairs.WORDS],
               loc="lower center", ncol=len(pairs.WORDS), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return _save(fig, path)


def _save(fig: Any, path: Path) -> Path:
    """Write a figure as PNG beside ``path``, then move it into place (never half a file;
    the temporary file's name is unique, so two reports written at once do not collide)."""
    import io

    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=110, format="png")
    plt.close(fig)
    return write_bytes_atomic(path, buffer.getvalue())
