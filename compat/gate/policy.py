"""The gate's policy: what a result says to expect next time, which changes against that
expectation are regressions, and when a benchmark figure is slower beyond its engine's
measured spread. Pure functions over report entries: no files, no runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from compat import engines
from compat.engines import Figure
from compat.report import pairs
from compat.report.model import TIERS, first_line
from compat.result import diagnosis
from compat.system.exits import CannotRun

#: Tiers about pairs of cells: compared pair by pair, not by their status.
PAIR_TIERS = tuple(dict.fromkeys(
    t.name for e in engines.all_engines().values() for t in e.tiers if t.of_pairs))
EXPECTED_FAILURES = ("fail", "diverged", "install-failed")
#: The tiers whose figures are compared, rerun to confirm a slowdown: those the engines'
#: compared figures are measured in.
CONFIRM_TIERS = tuple(dict.fromkeys(
    f.tier for e in engines.all_engines().values() for f in e.figures if f.spread))


#: The gate cannot run; the message is the one-line reason (exit ``exits.CANNOT_RUN``).
GateError = CannotRun


def compared_figures(engine: str | None = None) -> dict[str, Figure]:
    """The figures the gate compares (those with a measured spread), of one engine or of
    every engine: each a time, bigger is slower."""
    found: dict[str, Figure] = {}
    for name, eng in engines.all_engines().items():
        if engine is None or name == engine:
            found.update({f.name: f for f in eng.figures if f.spread})
    return found


@dataclass(frozen=True)
class Change:
    cell: str
    tier: str
    was: str
    now: str
    detail: str
    regression: bool
    #: Not checked: nothing to compare it with, or nothing current to compare. The gate
    #: cannot judge it and says so (exit 2), never green.
    undecided: bool = False


# -- expectations ---------------------------------------------------------------------------

def expectation(entry: dict[str, Any]) -> dict[str, Any]:
    """What a cell's result says to expect next time: per tier the shown status, the shims a
    shimmed tier needs, the diagnosis of a failure; and the benchmark figures."""
    failures = {f["tier"]: f["diagnosis"]["id"] for f in entry["failures"] if f["kind"] == "final"}
    install = failures.get("install")
    tiers = {}
    for name, tier in entry["tiers"].items():
        item: dict[str, Any] = {"expect": tier["display"]}
        if tier["display"] == "shimmed":
            item["shims"] = _needed(entry, name)
        if tier["display"] in ("fail", "diverged"):
            item["diagnosis"] = failures.get(name, diagnosis.UNCLASSIFIED)
        if tier["display"] == "install-failed":
            item["diagnosis"] = install or diagnosis.UNCLASSIFIED
        tiers[name] = item
    out = {"verdict": entry["verdict"], "tiers": tiers, "bench": entry["bench"]}
    if entry.get("loads"):  # checkpoints of other cells, as this cell loaded them
        out["loads"] = dict(entry["loads"])
    if entry.get("repair"):  # a packaging failure, tested past in a repaired environment
        out["repair"] = {"fixes": entry["repair"]["fixes"],
                         "diagnoses": entry["repair"]["diagnoses"]}
    return out


def _needed(entry: dict[str, Any], tier: str) -> list[str]:
    """The shims a shimmed tier's own failure called for, else every shim it ran with."""
    mended = [f for f in entry["failures"] if f["kind"] == "mended" and f["tier"] == tier]
    return sorted({s for f in mended for s in f["shims"]}) or sorted(
        entry["tiers"][tier].get("shims", []))


def compare(cell: str, expected: dict[str, Any], entry: dict[str, Any]) -> list[Change]:
    """The changes of one cell against what was expected; regressions flagged."""
    changes: list[Change] = []
    now = expectation(entry)
    failures = {f["tier"]: f for f in entry["failures"]}
    was_fix = set((expected.get("repair") or {}).get("fixes", []))
    now_fix = set((now.get("repair") or {}).get("fixes", []))
    if now_fix - was_fix:
        changes.append(Change(
            cell, "install", f"repair: {', '.join(sorted(was_fix)) or 'none'}",
            f"repair: {', '.join(sorted(now_fix))}",
            "a packaging failure now needs a repair: "
            f"{', '.join(now['repair']['diagnoses'])}; add {', '.join(sorted(now_fix - was_fix))}",
            True))
    elif was_fix - now_fix:
        changes.append(Change(cell, "install", f"repair: {', '.join(sorted(was_fix))}",
                              f"repair: {', '.join(sorted(now_fix)) or 'none'}",
                              "a packaging failure is gone (no repair needed)", False))
    changes += _pair_changes(cell, expected.get("loads") or {}, now.get("loads") or {})
    for tier in TIERS:
        if tier in PAIR_TIERS:
            continue  # judged pair by pair (_pair_changes): its status follows the producers
        was_t, now_t = expected["tiers"].get(tier), now["tiers"].get(tier)
        if was_t is None and now_t is None:
            continue  # a tier this cell does not run
        if was_t is None:
            changes.append(Change(cell, tier, "no expectation", now_t["expect"],
                                  "the baseline has no expectation for this tier: cannot "
                                  "judge it; add it with `nox -s gate -- --update-baseline`",
                                  False, undecided=True))
            continue
        if now_t is None:
            changes.append(Change(cell, tier, was_t["expect"], "no result",
                                  "the result has no such tier: it was not checked", False,
                                  undecided=True))
            continue
        was, got = was_t["expect"], now_t["expect"]
        found = failures.get(tier) or failures.get("install")
        why = _why(found) if found else ""
        if was == got:
            if got in EXPECTED_FAILURES and was_t.get("diagnosis") != now_t.get("diagnosis"):
                changes.append(Change(cell, tier, f"{was} ({was_t.get('diagnosis')})",
                                      f"{got} ({now_t.get('diagnosis')})",
                                      f"the diagnosis changed: {why}", True))
            elif got == "shimmed" and set(now_t.get("shims", [])) - set(was_t.get("shims", [])):
                extra = sorted(set(now_t["shims"]) - set(was_t.get("shims", [])))
                changes.append(Change(cell, tier, was, got,
                                      f"needs more shims now: {', '.join(extra)}. {why}", True))
            continue
        if got == "host-missing":
            changes.append(Change(cell, tier, was, got, f"not judged on this host: "
                                  f"{entry['tiers'][tier].get('reason', '')}", False))
            continue
        blocked = got == "not-run" or (got in ("pass", "shimmed")
                                       and entry["tiers"][tier]["bare"] == "not-run")
        if blocked and any(c.cell == cell for c in changes):
            continue  # an earlier tier of this cell already says why
        if was in EXPECTED_FAILURES and got in ("pass", "shimmed"):
            changes.append(Change(
                cell, tier, f"{was} ({was_t.get('diagnosis')})", got,
                "an expected failure now passes: the baseline is stale; update it with "
                "`nox -s gate -- --update-baseline`", True))
        elif was == "shimmed" and got == "pass":
            changes.append(Change(cell, tier, was, got, "passes bare now (no shim needed)",
                                  False))
        elif was == "pass" and got == "shimmed":
            changes.append(Change(cell, tier, was, got,
                                  f"needs shim {', '.join(now_t['shims'])} now. {why}", True))
        elif got in ("skip",) and was in ("skip", "not-run"):
            continue
        else:
            changes.append(Change(cell, tier, was, got, why or f"now {got}",
                                  got not in ("pass", "shimmed") or was in EXPECTED_FAILURES))
    if not changes and expected.get("verdict") and expected["verdict"] != now["verdict"]:
        changes.append(Change(cell, "verdict", expected["verdict"], now["verdict"],
                              f"the cell's verdict changed: {expected['verdict']} -> "
                              f"{now['verdict']}", _worse(expected["verdict"], now["verdict"])))
    return changes


def _worse(was: str, now: str) -> bool:
    from compat.incell.status import VERDICTS

    return (now not in VERDICTS or was not in VERDICTS
            or VERDICTS.index(now) > VERDICTS.index(was))


def _pair_changes(cell: str, was: dict[str, str], now: dict[str, str]) -> list[Change]:
    """A checkpoint this cell loaded (bare, or with shims) that it no longer loads, or
    that now speaks differently, is a regression; one that now needs shims too."""
    changes = []
    for producer in sorted(set(was) & set(now)):
        before, after = was[producer], now[producer]
        if before == after:
            continue
        worse = (pairs.VERDICTS.index(after) > pairs.VERDICTS.index(before)
                 and before in ("loads", "loads-with-shims"))
        changes.append(Change(cell, "crossload", before, after,
                              f"the checkpoint trained with {producer}: {before} -> {after}",
                              worse))
    return changes


def _why(failure: dict[str, Any]) -> str:
    found = failure["diagnosis"]
    error = f"{failure['exc_type']}: {first_line(failure['message'], 120)}".strip(": ")
    if found["id"] == diagnosis.UNCLASSIFIED:
        return f"unclassified: {error}"
    return f"{error} ({found['diagnosis']}; fix: {found['remedy']})"


def slowdowns(cell: str, old: dict[str, Any], new: dict[str, Any], threshold: float,
              engine: str | None = None) -> tuple[list[dict[str, Any]], list[Change]]:
    """Benchmark ratios new/old per device and figure; a change where both the threshold
    and the figure's measured spread (the engine's) are exceeded."""
    ratios, changes = [], []
    compared = compared_figures(engine)
    for device, figures in new.items():
        before = old.get(device, {})
        for key, figure in compared.items():
            label, spread = figure.label, float(figure.spread or 1.0)
            if key in figures and before.get(key):
                ratio = figures[key] / before[key]
                limit = max(1 + threshold, spread)
                ratios.append({"device": device, "figure": label, "old": before[key],
                               "new": figures[key], "ratio": ratio, "limit": limit})
                if ratio > limit:
                    changes.append(Change(cell, "bench", f"{before[key]:.3g}",
                                          f"{figures[key]:.3g}",
                                          f"{label} on {device} is {ratio:.2f}x slower (limit "
                                          f"{limit:.2f}x: threshold {threshold:.0%}, measured "
                                          f"spread {spread:.2f}x)", True))
    return ratios, changes


def fastest(*benches: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Per device, the best of several runs' figures (each a time: the smallest)."""
    out: dict[str, dict[str, float]] = {}
    for bench in benches:
        for device, figures in bench.items():
            best = out.setdefault(device, {})
            for key in compared_figures():
                if figures.get(key):
                    best[key] = min(best.get(key, figures[key]), figures[key])
    return out


