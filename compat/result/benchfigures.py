"""Bench shaping, pure: a cell's benchmark record from pytest-benchmark's JSON (means,
spread, best, extra info), the timings and memory tier tests recorded as properties, and
the peak memory of the tier run. Which of these are the engine's figures is the report's
business (compat.report.model, from the engine's ``figures``)."""

from __future__ import annotations

from typing import Any

#: Recorded properties kept as figures: by the end of their name.
RECORDED_SUFFIXES = ("_seconds", "_mib", "rtf")


def summary(raw: dict[str, Any], tiers: dict[str, Any], peak_rss: int) -> dict[str, Any]:
    out: dict[str, Any] = {"peak_rss_mib": round(peak_rss / 2**20)}
    out["benchmarks"] = [
        {"name": b["name"], "mean_s": b["stats"]["mean"], "stddev_s": b["stats"]["stddev"],
         "min_s": b["stats"]["min"], "rounds": b["stats"]["rounds"], **b.get("extra_info", {})}
        for b in raw.get("benchmarks", [])]
    for tier in tiers.values():
        for test in tier.get("tests", []) if isinstance(tier, dict) else []:
            for key, value in test.get("properties", {}).items():
                if key.endswith(RECORDED_SUFFIXES) and isinstance(value, (int, float)):
                    out.setdefault("recorded", {})[f"{test['test']}.{key}"] = value
    return out
