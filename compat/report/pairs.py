"""Pairs of cells: what a tier ``of_pairs`` (the crossload tier) found when one stack
loaded what another made. One owner of the pair words, read by the report's formats and
the gate.

A pair's verdict, from its test (one a producer, naming it in ``trained_with``):
- ``loads``: passed bare;
- ``loads-with-shims``: failed bare (or could not run bare: the cell's import failed) and
  passed with the shims named;
- ``diverges``: loaded, but spoke differently from what the producer said (``pair``);
- ``refuses``: failed with every shim that applies; the error is diagnosed.
"""

from __future__ import annotations

from typing import Any

from compat import engines
from compat.result.model import CellResult, from_dict

#: Pair verdicts, best first: (name, Markdown mark, short label, colour).
WORDS = (("loads", "✅ loads", "loads", "#2e7d32"),
         ("loads-with-shims", "🩹 loads with shims", "shims", "#9ccc65"),
         ("diverges", "⚠️ diverges", "diverges", "#ffb300"),
         ("refuses", "❌ refuses", "refuses", "#e53935"))
VERDICTS = tuple(w[0] for w in WORDS)
MARK = {w[0]: w[1] for w in WORDS}
#: A pair that was fine and now is one of these is a regression for the gate.
BROKEN = ("diverges", "refuses")


def pair_tiers(engine_name: str) -> list[str]:
    return [t.name for t in engines.get_engine(engine_name).tiers if t.of_pairs]


def of_result(given: CellResult | dict[str, Any], diagnose: Any = None
              ) -> list[dict[str, Any]]:
    """Every pair a result's tiers ``of_pairs`` judged, this cell the loading one (a
    mapping is read as a result file's data)."""
    result = given if isinstance(given, CellResult) else from_dict(given)
    cell = result.cell
    engine = engines.engine_of_cell(cell)
    found = []
    for name in pair_tiers(engine):
        kept = result.tiers.get(name)
        tier = kept.to_dict() if kept else {}
        first = tier.get("repaired") or tier.get("bare")
        # No bare round on record: the tier ran once, as the environment is.
        bare = {t["test"]: t.get("outcome") for t in tier.get("tests", [])} if first is None \
            else first.get("outcomes", {})
        for test in tier.get("tests", []):
            props = test.get("properties", {})
            producer = props.get("trained_with")
            if not producer or test.get("outcome") in ("skip", None):
                continue
            pair: dict[str, Any] = {"engine": engine, "tier": name, "trained_with": producer,
                                    "loaded_by": cell["id"], "test": test["test"],
                                    "bare": bare.get(test["test"], "not-run")}
            if test["outcome"] != "pass":
                pair["verdict"] = "refuses"
                pair["message"] = test.get("message") or ""
                pair["exc_type"] = test.get("exc_type") or ""
                if diagnose is not None:
                    pair["diagnosis"] = diagnose(pair["exc_type"] or None, pair["message"],
                                                 engine)
            elif props.get("pair") == "diverges":
                pair["verdict"] = "diverges"
                pair["message"] = props.get("pair_divergence", "")
            elif pair["bare"] == "pass":
                pair["verdict"] = "loads"
            else:
                pair["verdict"] = "loads-with-shims"
                pair["shims"] = list(tier.get("shims", []))
            found.append(pair)
    return found


def grid(pairs: list[dict[str, Any]], engine: str
         ) -> tuple[list[str], list[str], dict[tuple[str, str], dict[str, Any]]]:
    """Rows (trained with), columns (loaded by) and the pairs by (row, column)."""
    mine = [p for p in pairs if p["engine"] == engine]
    cells = {(p["trained_with"], p["loaded_by"]): p for p in mine}
    rows = sorted({p["trained_with"] for p in mine})
    cols = sorted({p["loaded_by"] for p in mine})
    return rows, cols, cells


def text(pair: dict[str, Any] | None) -> str:
    """A pair as one short line: its mark, the shims or the cause."""
    if pair is None:
        return "—"
    mark = MARK[pair["verdict"]]
    if pair["verdict"] == "loads-with-shims":
        shims = ", ".join(pair.get("shims", [])) or "?"
        untried = "; not tried bare" if pair["bare"] in ("not-run", "skip") else ""
        return f"{mark} ({shims}{untried})"
    if pair["verdict"] == "refuses":
        found = pair.get("diagnosis") or {}
        cause = found.get("id") if found.get("id") not in (None, "unclassified") else (
            pair.get("exc_type") or "error")
        return f"{mark}: {cause}"
    return mark


def regressions(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[str]:
    """Pairs that loaded (bare or with shims) before and now diverge or refuse."""
    before = {(p["trained_with"], p["loaded_by"]): p["verdict"] for p in old}
    out = []
    for pair in new:
        key = (pair["trained_with"], pair["loaded_by"])
        if before.get(key) in ("loads", "loads-with-shims") and pair["verdict"] in BROKEN:
            out.append(f"checkpoint trained with {key[0]}, loaded by {key[1]}: "
                       f"{before[key]} -> {pair['verdict']}"
                       + (f" ({pair['message'][:160]})" if pair.get("message") else ""))
    return out
