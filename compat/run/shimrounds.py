"""The shim rounds' policy, pure: which failures the applicable shims address (from the
engine's knowledge base), whether to run the tiers again with them, and how the rounds
merge into one status per tier (the bare one kept, and the fewest shims a tier passed
with). The cell run (compat.run.cell) asks the cell which shims apply and runs the rounds."""

from __future__ import annotations

from typing import Any

from compat.incell.status import FAILED, NOT_RUN, PASS, ran
from compat.result import diagnosis

#: One round: the shims applied, and the tier statuses it produced.
Round = tuple[list[str], dict[str, Any]]


def any_failed(tiers: dict[str, Any]) -> bool:
    return any(t["status"] in FAILED for t in tiers.values())


def addressed_failures(tiers: dict[str, Any], candidates: list[str], engine: str | None = None
                       ) -> dict[str, list[str]]:
    """For each failed tier, the candidate shims whose signature (in the engine's knowledge
    base) matches its error."""
    found = {}
    for name, tier in tiers.items():
        if tier["status"] in FAILED:
            shims = [s for s in diagnosis.shims_for(tier.get("exc_type"), tier.get("message"),
                                                    engine) if s in candidates]
            if shims:
                found[name] = shims
    return found


def plan(tiers: dict[str, Any], selected: list[str], engine: str | None = None
         ) -> dict[str, Any]:
    """Given the shims that apply in the cell, which failures they address and whether to
    run the tiers again with them."""
    addressed = addressed_failures(tiers, selected, engine)
    if not selected:
        reason = "no shim applies to these versions"
    elif not addressed:
        reason = "no failure here is one a shim addresses"
    else:
        reason = "failures addressed by shims: rerun with them"
    return {"rerun": bool(addressed), "selected": selected, "addressed": addressed,
            "reason": reason}


def latest(rounds: list[Round]) -> dict[str, Any]:
    """Per tier, its record from the last round that ran it: a shim round runs only the
    tiers the rounds before it left failed or blocked (``to_rerun``)."""
    out: dict[str, Any] = {}
    for _, tiers in rounds:
        for name, tier in tiers.items():
            if name not in out or ran(tier):
                out[name] = tier
    return out


def to_rerun(rounds: list[Round]) -> list[str]:
    """The tiers a further shim round runs: those the rounds so far left failed (a
    divergence too) or blocked; never one that passed or skipped (a shim only adds, and
    its figures are measured already) nor one the run left out. A rerun tier's passed
    needs are taken as given (COMPAT_TIER_ONLY), as in a partial rerun."""
    now = latest(rounds)
    return [name for name, tier in now.items()
            if ran(tier) and tier["status"] in (*FAILED, NOT_RUN)]


def merge_rounds(rounds: list[Round]) -> dict[str, Any]:
    """Per tier: the status of the last round that ran it, the bare status, the shimmed
    status, and the shims of the first round in which the tier passed (the fewest it
    needs)."""
    def brief(tier: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {k: tier[k] for k in ("status", "exc_type", "message", "reason")
                               if k in tier}
        if tier.get("tests"):  # which tests failed in this round (a pair grid reads them)
            out["outcomes"] = {t["test"]: t.get("outcome") for t in tier["tests"]}
        return out

    bare, last = rounds[0][1], latest(rounds)
    merged = {}
    for name in bare:
        final = dict(last[name])
        final["bare"] = brief(bare[name])
        ran_in = [(shims, tiers[name]) for shims, tiers in rounds
                  if name in tiers and ran(tiers[name])]
        if len(rounds) > 1 and ran_in:  # a tier the run left out ran in no round
            final["shimmed"] = brief(last[name])
            passed = [shims for shims, tier in ran_in if tier["status"] == PASS]
            final["shims"] = passed[0] if passed else ran_in[-1][0]
        merged[name] = final
    return merged
