"""Crash attribution, pure: the tier statuses the plugin's report holds, completed by how
the cell's process ended. A tier the process died in (segfault, timeout, out of memory,
a pytest that could not start) is an ``error`` naming the cause; the tiers after it are
``not-run`` with why."""

from __future__ import annotations

from typing import Any

from compat.engines import Engine
from compat.incell.status import NOT_SELECTED
from compat.result import files as results
from compat.system.supervise import EXITED, Outcome

#: The exception type a crash is recorded as, by how the process ended.
CAUSES = {"timeout": "CellTimeout", "out-of-memory": "OutOfMemory", "signal": "CellCrashed"}


def attribute(engine: Engine, report: dict[str, Any], out: Outcome,
              only: tuple[str, ...] = ()) -> dict[str, Any]:
    """One status per tier of the engine, from the report (``{"tiers", "current"}``, as
    the tier plugin writes it) and the process's outcome. ``only``: the run was told to
    run just these; the others stay ``not-run`` (not selected) whatever became of it."""
    tiers: dict[str, Any] = dict(report.get("tiers", {}))
    left_out = results.tier_status("not-run", reason=f"{NOT_SELECTED} (only {', '.join(only)})")
    for tier in engine.tiers:
        if only and tier.name not in only:
            tiers[tier.name] = left_out
    current = report.get("current")
    crashed = out.cause != EXITED
    if not crashed and out.returncode not in (0, 1) and not any(
            t.get("tests") for t in tiers.values()):
        # pytest itself failed (usage error, collection error): say so on every tier.
        crashed = True
    if crashed:
        died_in = current["tier"] if current else None
        cause = CAUSES.get(out.cause, "TierRunError")
        after = False
        for tier in engine.tiers:
            if only and tier.name not in only:
                continue
            state = tiers.get(tier.name, {"status": "not-run"})
            if died_in is None and state.get("status") == "not-run" and not after:
                died_in = tier.name
            if tier.name == died_in:
                test = current["test"] if current and current["tier"] == tier.name else None
                last = [x for x in out.output_tail.splitlines() if x.strip()][-1:]
                message = f"{out.detail}: {last[0].strip()}" if last else out.detail
                tiers[tier.name] = results.tier_status(
                    "error", exc_type=cause, message=message, test=test,
                    traceback=out.output_tail[-4000:])
                after = True
            elif after:
                tiers[tier.name] = results.tier_status(
                    "not-run", reason=f"the cell's tier run ended early: {out.detail}")
    return {t.name: tiers.get(t.name, results.tier_status("not-run", reason="no report"))
            for t in engine.tiers}
