"""What the gate says: the changes as a terminal table and Markdown (the step summary),
and the exit code."""

from __future__ import annotations

import os
from typing import Any

from compat.gate.policy import Change
from compat.report import markdown
from compat.system import exits

OK, REGRESSION, CANNOT_RUN = exits.OK, exits.FOUND, exits.CANNOT_RUN


def render(changes: list[Change], ratios: list[dict[str, Any]], notes: list[str]
           ) -> tuple[str, str]:
    """The changes only: a plain table for the terminal and the same in Markdown."""
    head = ("cell", "tier", "was", "now", "regression", "detail")
    rows = [(c.cell, c.tier, c.was, c.now, "REGRESSION" if c.regression else
             "CANNOT JUDGE" if c.undecided else "ok", c.detail) for c in changes]
    width = [max([len(head[i])] + [len(r[i]) for r in rows]) for i in range(5)]
    text = [" ".join(h.ljust(w) for h, w in zip(head, width)) + " detail"]
    text += [" ".join(v.ljust(w) for v, w in zip(r, width)) + " " + r[5] for r in rows]
    if not rows:
        text = ["no change against the expectation"]
    md = ["## Compatibility gate", ""]
    if rows:
        md += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        md += ["| " + " | ".join(markdown._cell(v) for v in r) + " |" for r in rows]
    else:
        md.append("No change against the expectation.")
    if ratios:
        text.append("")
        text.append("benchmark new/old: " + "; ".join(
            f"{r['figure']} ({r['device']}) {r['ratio']:.2f}x" for r in ratios))
        md += ["", "| figure | device | old | new | new/old | limit |", "|---|---|---|---|---|---|"]
        md += [f"| {r['figure']} | {r['device']} | {r['old']:.3g} | {r['new']:.3g} | "
               f"{r['ratio']:.2f}x | {r['limit']:.2f}x |" for r in ratios]
    for note in notes:
        text.append(note)
        md += ["", note]
    return "\n".join(text), "\n".join(md) + "\n"


def _undecided(changes: list[Change]) -> int:
    """What the gate could not judge: a missing host prerequisite, and anything not
    checked (no expectation, no current result, a tier not run)."""
    return sum(c.now == "host-missing" or c.undecided for c in changes)


def publish(text: str, md: str, regressions: int, undecided: int = 0) -> int:
    """Exit 1 on a regression; else 2 when this host could not judge some tier (a missing
    host prerequisite: install it and run again); else 0."""
    print(text)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(md)
    if regressions:
        print(f"gate: {regressions} regression(s)")
        return REGRESSION
    if undecided:
        print(f"gate: cannot judge {undecided} item(s) (CANNOT JUDGE and host-missing "
              "above): what was not checked is not a pass")
        return CANNOT_RUN
    print("gate: no regression")
    return OK


def busy_note(entry: dict[str, Any], run: str = "") -> str:
    """Why a cell's benchmark figures were not compared: the machine was busy."""
    return (f"note: {entry['cell']}{f' ({run})' if run else ''}: benchmark figures not "
            f"compared, the machine was busy ({'; '.join(entry['busy'].values())}): not a "
            "regression, not a figure either; run the gate again on a quiet machine")


