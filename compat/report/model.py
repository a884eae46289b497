"""The report as data: one entry per (cell, machine) with tier statuses bare and shimmed,
shims, golden agreement, timings, benchmark figures and a diagnosis for every failure;
then recommended pins. Every renderer (JSON, Markdown, HTML, heatmap) reads this."""

from __future__ import annotations

import re
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from compat import diagnosis, host, results
from compat.machine import machine_key
from compat.report.collect import Collection

SCHEMA = "xtts-compat/report/1"
TIERS = ("import", "load", "synth", "stream", "finetune", "bench")
#: Display statuses of a tier, best first. ``shimmed``: passes only with shims.
DISPLAY = ("pass", "shimmed", "skip", "not-run", "unverified", "host-missing", "diverged",
           "fail", "install-failed")
FAILED = ("fail", "error", "diverged")
#: Verdicts of a cell, best first. ``incomplete``: some tiers did not run, none failed.
VERDICTS = ("pass", "pass-with-shims", "skip", "incomplete", "unverified", "host-missing",
            "diverged", "fail", "install-failed")
LINES = {"original": "Original `TTS` (0.21.x, 0.22.0)", "fork": "Fork `coqui-tts` (0.22.1+)"}
TRACEBACK_TAIL = 1500
#: Not a verdict: the harness was stopped (SIGTERM, SIGINT) while the cell ran; the next
#: run reruns it. Shown and counted, never compared, recommended or put on the heatmap.
INTERRUPTED = "interrupted"
#: The tier each benchmark figure is measured in (the rest: bench). A tier that ran on a
#: busy machine (the result's ``bench.busy``) makes its figures busy: moved from ``bench``
#: to ``bench_busy``, shown marked, never compared. Peak memory is not a timing: kept.
FIGURE_TIER = {"finetune_step_s": "finetune", "finetune_step_best_s": "finetune",
               "peak_rss_mib": None}


def _version(text: str | None) -> Version:
    try:
        return Version(text or "0")
    except InvalidVersion:
        return Version("0")


def tts_line(data: dict[str, Any]) -> tuple[str, str]:
    """("original" | "fork", version) from what was resolved, else from the requirement."""
    resolved = data.get("resolved", {})
    if resolved.get("coqui-tts"):
        return "fork", resolved["coqui-tts"]
    if resolved.get("TTS"):
        return "original", resolved["TTS"]
    try:
        req = Requirement(data["cell"].get("tts", ""))
    except InvalidRequirement:
        return "original", "?"
    pinned = next((s.version for s in req.specifier if s.operator == "=="), "?")
    return ("fork" if canonicalize_name(req.name) == "coqui-tts" else "original"), pinned


def diagnose(exc_type: str | None, message: str | None) -> dict[str, Any]:
    """The knowledge-base entry of a failure, or ``unclassified`` with nothing guessed."""
    entry = diagnosis.classify(exc_type, message)
    if entry is None:
        return {"id": diagnosis.UNCLASSIFIED}
    return {key: value for key, value in entry.as_dict().items()
            if key not in ("pattern", "exc_type", "affects", "error")}


def first_line(text: str | None, limit: int = 240) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def display_status(tier: dict[str, Any], install_failed: bool) -> str:
    status = tier["status"]
    if install_failed:
        return "install-failed"
    if status == "error":
        return "fail"
    # After a repair round, shims are judged against the repaired environment's bare run.
    first = tier.get("repaired") or tier.get("bare") or {}
    if status == "pass" and first.get("status", "pass") != "pass":
        return "shimmed"
    return status if status in DISPLAY else "fail"


def _tier_entry(name: str, tier: dict[str, Any], install_failed: bool) -> dict[str, Any]:
    shown = display_status(tier, install_failed)
    entry: dict[str, Any] = {"status": tier["status"], "display": shown,
                             "bare": tier.get("bare", {"status": tier["status"]})["status"],
                             "shims": tier.get("shims", []) if shown == "shimmed" else [],
                             "seconds": tier.get("seconds")}
    if tier.get("reason"):
        entry["reason"] = tier["reason"]
    elif tier["status"] == "unverified" and tier.get("message"):
        entry["reason"] = tier["message"]  # why nothing could judge it
    if tier.get("devices"):
        entry["devices"] = {d: v.get("status") for d, v in tier["devices"].items()}
    return entry


def _failures(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Every failure, final or mended by shims (kind ``bare``), with its diagnosis."""
    found = []
    for name, tier in data["tiers"].items():
        rounds = [("final", tier)]
        first = tier.get("repaired") or tier.get("bare", {})
        if tier["status"] == "pass" and first.get("status") in FAILED:
            rounds = [("mended", first)]
        if "repaired" in tier and tier["bare"].get("status") in FAILED:
            rounds.insert(0, ("packaging", tier["bare"]))  # mended by the repair round
        for kind, info in rounds:
            if info.get("status") not in FAILED:
                continue
            found_dx = diagnose(info.get("exc_type") or ("InstallError" if name == "install"
                                                         else None), info.get("message"))
            found.append({
                "tier": name, "kind": kind, "status": info["status"],
                "exc_type": info.get("exc_type") or "",
                "message": info.get("message") or "",
                "traceback_tail": (info.get("traceback") or "")[-TRACEBACK_TAIL:],
                "shims": _fixed_by(found_dx, tier) if kind == "mended" else [],
                "repaired_by": _repaired_by(data, name) if kind == "packaging" else [],
                "diagnosis": found_dx,
            })
    return found


def _tested(repair: dict[str, Any]) -> list[dict[str, Any]]:
    """The fixes of the repaired environment whose tiers ran (a later one may not have
    installed)."""
    return [f for f in repair["fixes"] if f["requirement"] in repair["requirements"]]


def _repaired_by(data: dict[str, Any], tier: str) -> list[str]:
    """The requirement changes the repair round made for a tier's packaging failure."""
    fixes = (data.get("repair") or {}).get("fixes", [])
    return [f["requirement"] for f in fixes if f["tier"] == tier] or [
        f["requirement"] for f in fixes]


def _fixed_by(found_dx: dict[str, Any], tier: dict[str, Any]) -> list[str]:
    """The shims that mended a failure: its entry's shim when it was applied, else all."""
    applied = tier.get("shims", [])
    return [found_dx["shim"]] if found_dx.get("shim") in applied else list(applied)


def _golden(data: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for test in data["tiers"].get("synth", {}).get("tests", []):
        props = test.get("properties", {})
        if "golden_first_logits_max_abs_diff" in props:
            out[test.get("device", "cpu")] = {
                "logits_max_abs_diff": props["golden_first_logits_max_abs_diff"],
                "waveform_rel_error": props.get("golden_waveform_rel_error"),
                "codes_equal": props.get("golden_codes_equal")}
    return out


def _bench(data: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Per device: load seconds, synthesis RTF, first-chunk seconds, fine-tune step seconds."""
    bench = data.get("bench") or {}
    out: dict[str, dict[str, float]] = {}
    for item in bench.get("benchmarks", []):
        figures = out.setdefault(item.get("device", "cpu"), {})
        best = item.get("min_s", item["mean_s"])
        if item["name"].startswith("test_bench_load"):
            figures["load_s"] = item["mean_s"]
            figures["load_best_s"] = best
        elif item["name"].startswith("test_bench_synth") and item.get("audio_seconds"):
            figures["rtf"] = item["rtf"]  # audio seconds per wall second: higher is faster
            figures["synth_s"] = item["mean_s"]
            figures["synth_best_s_per_audio_s"] = best / item["audio_seconds"]
        elif item["name"].startswith("test_bench_stream_first_chunk"):
            figures["first_chunk_s"] = item["mean_s"]
    steps = _finetune_steps(data)
    if steps:
        for figures in out.values() or [out.setdefault("cpu", {})]:
            figures["finetune_step_s"] = sum(steps) / len(steps)
            figures["finetune_step_best_s"] = min(steps)
    if bench.get("peak_rss_mib") is not None:
        for figures in out.values():
            figures["peak_rss_mib"] = bench["peak_rss_mib"]
    return out


def _finetune_steps(data: dict[str, Any]) -> list[float]:
    for test in data["tiers"].get("finetune", {}).get("tests", []):
        steps = test.get("properties", {}).get("step_forward_seconds")
        if steps:
            return [float(x) for x in steps]
    return []


def split_busy(data: dict[str, Any], bench: dict[str, dict[str, float]]) -> dict[str, Any]:
    """``bench`` without the figures of tiers that ran on a busy machine; those figures
    in ``bench_busy`` and each busy tier's reason in ``busy`` (both only when busy)."""
    busy = (data.get("bench") or {}).get("busy") or {}
    if not busy:
        return {"bench": bench}
    quiet: dict[str, dict[str, float]] = {}
    marked: dict[str, dict[str, float]] = {}
    for device, figures in bench.items():
        for key, value in figures.items():
            tier = FIGURE_TIER.get(key, "bench")
            (marked if tier in busy else quiet).setdefault(device, {})[key] = value
    return {"bench": quiet, "bench_busy": marked, "busy": dict(busy)}


def _shims(data: dict[str, Any]) -> dict[str, list[str]]:
    plan = data.get("shims") or {}
    needed: list[str] = []
    for key in ("addressed", "addressed_after_first_round"):
        for names in (plan.get(key) or {}).values():
            needed += [n for n in names if n not in needed]
    rounds = plan.get("rounds") or []
    applied = rounds[-1]["shims"] if plan.get("rerun") and rounds else []
    return {"needed": needed, "applied": list(applied)}


def verdict(tiers: dict[str, dict[str, Any]], outcome: str) -> str:
    if outcome == INTERRUPTED:
        return INTERRUPTED  # no verdict: whatever its tiers say, the run did not finish
    shown = [t["display"] for t in tiers.values()]
    if "install-failed" in shown:
        return "install-failed"
    if outcome not in ("completed", None) and not shown:
        return "fail"
    for worst in ("fail", "diverged", "host-missing", "unverified"):
        if worst in shown:
            return worst
    if "not-run" in shown:
        return "incomplete"  # tiers left out (not selected, or the cell was cut short)
    if "shimmed" in shown:
        return "pass-with-shims"
    return "pass" if "pass" in shown else "skip"


def entry(loaded_data: dict[str, Any], source: str) -> dict[str, Any]:
    data = loaded_data
    cell = data["cell"]
    line, tts_version = tts_line(data)
    fixed = data.get("repair") if (data.get("repair") or {}).get("tested") else None
    # A repaired cell's verdict is its repaired environment's: report those versions.
    resolved = (fixed or {}).get("resolved") or data.get("resolved", {})
    install_failed = data["tiers"].get("install", {}).get("status") in FAILED
    tiers = {name: _tier_entry(name, data["tiers"][name], install_failed)
             for name in TIERS if name in data["tiers"]}
    found = {
        "cell": cell["id"], "engine": cell.get("engine", "xtts"), "line": line,
        "python": (data.get("python") or {}).get("version") or cell.get("python"),
        "tts": tts_version,
        "torch": resolved.get("torch") or cell.get("torch") or "",
        "transformers": resolved.get("transformers") or cell.get("transformers") or "",
        "torchaudio": resolved.get("torchaudio") or cell.get("pins", {}).get("torchaudio", ""),
        "requirements": (fixed or {}).get("requirements") or cell.get("requirements", []),
        "repair": {"fixes": [f["requirement"] for f in _tested(fixed)],
                   "diagnoses": sorted({f["diagnosis"] for f in _tested(fixed)}),
                   "bare_resolved": data.get("resolved", {})} if fixed else None,
        "resolved": resolved,
        "tags": cell.get("tags", []),
        "machine": machine_key(data["machine"]), "machine_info": data["machine"],
        "devices": data.get("devices", ["cpu"]),
        "started_at": data["started_at"], "finished_at": data.get("finished_at"),
        "outcome": data.get("outcome", "unknown"), "source": source,
        "tiers": tiers, "shims": _shims(data), "failures": _failures(data),
        "golden": _golden(data), "bench": _bench(data),
    }
    found.update(split_busy(data, found["bench"]))
    _host_missing(tiers, found["failures"], data.get("host"))
    found["verdict"] = verdict(tiers, data.get("outcome"))
    return found


def _host_missing(tiers: dict[str, Any], failures: list[dict[str, Any]],
                  probed: dict[str, Any] | None) -> None:
    """A failure the knowledge base says a missing host prerequisite explains, on a host
    whose probe found it missing, is the host's, not the stack's: ``host-missing``."""
    for failure in failures:
        needed = failure["diagnosis"].get("host")
        tier = tiers.get(failure["tier"])
        if needed and tier is not None and host.missing_explains(probed, needed):
            install = (probed or {})[needed].get("install", "")
            tier["display"] = "host-missing"
            tier["reason"] = f"host-missing: {needed} (install: {install})"
            failure["host_missing"] = needed


def _requirement_lines(item: dict[str, Any]) -> list[str]:
    """The cell's requirements with every version as resolved, ready to paste."""
    resolved = {canonicalize_name(k): v for k, v in item["resolved"].items()}
    lines = []
    for text in item["requirements"]:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            lines.append(text)
            continue
        version = resolved.get(canonicalize_name(req.name))
        extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
        lines.append(f"{req.name}{extras}=={version}" if version else text)
    return lines


def _newness(item: dict[str, Any]) -> tuple:
    return (_version(item["tts"]), _version(item["torch"]), _version(item["transformers"]),
            _version(item["python"]))


def recommended_pins(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per TTS line and device: the newest cell passing every tier bare, and the newest
    passing with shims, as requirement lines."""
    out = []
    for line in LINES:
        devices = sorted({d for e in entries if e["line"] == line for d in e["devices"]})
        for device in devices:
            here = [e for e in entries if e["line"] == line and device in e["devices"]]
            pick: dict[str, Any] = {"line": line, "device": device}
            for kind, ok in (("bare", ("pass",)), ("shimmed", ("pass-with-shims",))):
                good = [e for e in here if e["verdict"] in ok]
                if good:
                    best = max(good, key=_newness)
                    pick[kind] = {"cell": best["cell"], "machine": best["machine"],
                                  "python": best["python"],
                                  "requirements": _requirement_lines(best),
                                  "shims": best["shims"]["applied"]}
            if len(pick) > 2:
                out.append(pick)
    return out


def build(collection: Collection, generated_at: str | None = None) -> dict[str, Any]:
    """The report of every collected result; one that cannot be read into it is listed
    under ``problems`` with its path, and the rest are still reported."""
    entries, problems = [], list(collection.problems)
    for loaded in collection.results:
        try:
            entries.append(entry(loaded.data, str(loaded.path)))
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            problems.append({"path": str(loaded.path),
                             "problem": f"could not be reported: {type(exc).__name__}: {exc}"})
    return {
        "schema": SCHEMA,
        "generated_at": generated_at or results.now(),
        "machines": sorted({e["machine"] for e in entries}),
        "tiers": list(TIERS),
        "entries": entries,
        "recommended": recommended_pins(entries),
        "problems": problems,
        "superseded": collection.superseded,
        "summary": {v: sum(e["verdict"] == v for e in entries)
                    for v in (*VERDICTS, INTERRUPTED)},
    }


def short_cause(failure: dict[str, Any]) -> str:
    """A few words for a table cell: the diagnosis, or the exception type if unclassified."""
    found = failure["diagnosis"]
    if found["id"] != diagnosis.UNCLASSIFIED:
        return found["diagnosis"]
    return f"unclassified: {failure['exc_type'] or 'error'}: {first_line(failure['message'], 80)}"


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
