"""The report as data: one entry per (cell, machine) with tier statuses bare and shimmed,
shims, golden agreement, timings, benchmark figures and a diagnosis for every failure;
then recommended pins. Every renderer (JSON, Markdown, HTML, heatmap) reads this."""

from __future__ import annotations

import re
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from compat import engines
from compat.engines import Engine
from compat.env import host
from compat.incell.status import DISPLAY, FAILED, INTERRUPTED, STALE, UNJUDGED, VERDICTS
from compat.report import pairs
from compat.report.collect import Collection
from compat.result import diagnosis
from compat.result import files as results
from compat.result.model import CellResult, TierResult, from_dict
from compat.system.machine import machine_key

SCHEMA = "xtts-compat/report/1"
#: Every engine's tiers, in run order (each engine's result has its own subset).
TIERS = engines.tier_names()[1:]
#: Every engine's release lines: {key: label}.
LINES = {key: line.label for key, (_, line) in engines.all_lines().items()}
TRACEBACK_TAIL = 1500
#: Not a timing: a busy machine does not make it busy.
MEMORY_FIGURE = "peak_rss_mib"


def _version(text: str | None) -> Version:
    try:
        return Version(text or "0")
    except InvalidVersion:
        return Version("0")


def tts_line(result: CellResult) -> tuple[str, str]:
    """(line key, version) from what was resolved, else from the requirement."""
    found = engines.stack_of(result.resolved or {})
    if found is not None:
        return found[1].key, found[2]
    engine = engines.get_engine(engines.engine_of_cell(result.cell))
    try:
        req = Requirement(result.cell.get("tts", ""))
    except InvalidRequirement:
        return engine.lines[0].key, "?"
    pinned = next((s.version for s in req.specifier if s.operator == "=="), "?")
    line = engines.line_of(req.name)
    return (line[1].key if line else engine.lines[0].key), pinned


def diagnose(exc_type: str | None, message: str | None, engine: str | None = None,
             versions: dict[str, str | None] | None = None) -> dict[str, Any]:
    """The engine's knowledge-base entry of a failure, or ``unclassified``, nothing guessed
    (``versions``: the failing stack's, to choose between entries one message matches)."""
    entry = diagnosis.classify(exc_type, message, engine, versions)
    if entry is None:
        return {"id": diagnosis.UNCLASSIFIED}
    found = {key: value for key, value in entry.as_dict().items()
             if key not in ("pattern", "exc_type", "affects", "error")}
    # After a resolution a distribution it lacks is known to be absent; after a failed
    # install nothing is known.
    resolved = versions is not None and any(v for k, v in versions.items() if k != "python")
    if versions is not None and not entry.could_hold(versions, absent_known=resolved):
        # Its signature matches, but its boundary leaves this stack out: the nearest known
        # breakage, not a diagnosis (kb check names such a cell; a fork release's
        # divergence matched the dropped-prefix words though its scope is the original).
        found["outside_boundary"] = True
    return found


def first_line(text: str | None, limit: int = 240) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def display_status(tier: TierResult, install_failed: bool) -> str:
    status = tier.status
    if install_failed:
        return "install-failed"
    if status == "error":
        return "fail"
    # After a repair round, shims are judged against the repaired environment's bare run.
    first = tier.repaired or tier.bare or {}
    if status == "pass" and first.get("status", "pass") != "pass":
        return "shimmed"
    if status in ("skip", "not-run") and first.get("status") in FAILED:
        return "fail" if first["status"] == "error" else first["status"]  # a later round
        # that skipped it showed nothing better: the bare failure stands
    return status if status in DISPLAY else "fail"


def _tier_entry(name: str, tier: TierResult, install_failed: bool) -> dict[str, Any]:
    shown = display_status(tier, install_failed)
    entry: dict[str, Any] = {"status": tier.status, "display": shown,
                             "bare": (tier.bare or {"status": tier.status})["status"],
                             "shims": (tier.shims or []) if shown == "shimmed" else [],
                             "seconds": tier.seconds}
    if tier.reason:
        entry["reason"] = tier.reason
    elif tier.status == "unverified" and tier.message:
        entry["reason"] = tier.message  # why nothing could judge it
    if tier.devices:
        entry["devices"] = {d: v.get("status") for d, v in tier.devices.items()}
    return entry


def _failures(result: CellResult) -> list[dict[str, Any]]:
    """Every failure, final or mended by shims (kind ``bare``), with its diagnosis."""
    found = []
    for name, tier in result.tiers.items():
        rounds: list[tuple[str, dict[str, Any]]] = [("final", tier.to_dict())]
        first = tier.repaired or tier.bare or {}
        if tier.status == "pass" and first.get("status") in FAILED:
            rounds = [("mended", first)]
        if tier.repaired is not None and (tier.bare or {}).get("status") in FAILED:
            rounds.insert(0, ("packaging", tier.bare or {}))  # mended by the repair round
        for kind, info in rounds:
            if info.get("status") not in FAILED:
                continue
            found_dx = diagnose(info.get("exc_type") or ("InstallError" if name == "install"
                                                         else None), info.get("message"),
                                engines.engine_of_cell(result.cell), _versions(result, kind))
            found.append({
                "tier": name, "kind": kind, "status": info["status"],
                "exc_type": info.get("exc_type") or "",
                "message": info.get("message") or "",
                "traceback_tail": (info.get("traceback") or "")[-TRACEBACK_TAIL:],
                "shims": _fixed_by(found_dx, tier) if kind == "mended" else [],
                "repaired_by": _repaired_by(result, name) if kind == "packaging" else [],
                "diagnosis": found_dx,
            })
    return found


def _versions(result: CellResult, kind: str) -> dict[str, str | None]:
    """The versions a failure happened on: what was installed (before the repair round, for
    a packaging failure it mended), and the Python."""
    fixed = result.repair if (result.repair or {}).get("tested") else None
    installed = (result.resolved or {}) if kind == "packaging" or not fixed else (
        fixed.get("resolved") or result.resolved or {})
    python = (result.python or {}).get("version") or result.cell.get("python")
    return {**installed, "python": python}


def _tested(repair: dict[str, Any]) -> list[dict[str, Any]]:
    """The fixes of the repaired environment whose tiers ran (a later one may not have
    installed)."""
    return [f for f in repair["fixes"] if f["requirement"] in repair["requirements"]]


def _fix_diagnosis(fix: dict[str, Any], engine: str, versions: dict[str, str | None]) -> str:
    """The failure a repair answered, as the knowledge base reads it now: the cell records
    the entry whose repair it made (or unclassified: a module added by its name), and an
    entry that mends nothing never enters a cell's run. A result from before fixes kept
    their exception type keeps the id it recorded."""
    if "exc_type" not in fix:
        return str(fix["diagnosis"])
    found = diagnosis.classify(fix["exc_type"], fix["message"], engine, versions)
    return found.id if found else str(fix["diagnosis"])


def _repaired_by(result: CellResult, tier: str) -> list[str]:
    """The requirement changes the repair round made for a tier's packaging failure."""
    fixes = (result.repair or {}).get("fixes", [])
    return [f["requirement"] for f in fixes if f["tier"] == tier] or [
        f["requirement"] for f in fixes]


def _fixed_by(found_dx: dict[str, Any], tier: TierResult) -> list[str]:
    """The shims that mended a failure: its entry's shim when it was applied, else all."""
    applied = tier.shims or []
    return [found_dx["shim"]] if found_dx.get("shim") in applied else list(applied)


def _tests(result: CellResult, tier: str) -> list[dict[str, Any]]:
    found = result.tiers.get(tier)
    return (found.tests or []) if found else []


def _golden(result: CellResult, engine: Engine) -> dict[str, Any]:
    """Per device: how the synthesis agreed with the golden output (the engine's names)."""
    names = engine.golden_properties
    out = {}
    for test in _tests(result, "synth"):
        props = test.get("properties", {})
        if names and next(iter(names)) in props:
            out[test.get("device", "cpu")] = {key: props.get(prop) for prop, key in names.items()}
    return out


def _stat(item: dict[str, Any], stat: str) -> float | None:
    if stat == "min_s_per_audio_s":
        audio = item.get("audio_seconds")
        return item.get("min_s", item["mean_s"]) / audio if audio else None
    if stat == "min_s":
        return item.get("min_s", item["mean_s"])
    return item.get(stat)


def _bench(result: CellResult, engine: Engine) -> dict[str, dict[str, float]]:
    """Per device: the engine's figures, from its bench tests and recorded properties."""
    bench = result.bench or {}
    out: dict[str, dict[str, float]] = {}
    for item in bench.get("benchmarks", []):
        for figure in engine.figures:
            if figure.test and item["name"].startswith(figure.test):
                value = _stat(item, figure.stat)
                if value is not None:
                    out.setdefault(item.get("device", "cpu"), {})[figure.name] = value
    for figure in engine.figures:
        values = _recorded(result, figure.tier, figure.prop) if figure.prop else []
        if values:
            value = min(values) if figure.reduce == "min" else sum(values) / len(values)
            for figures in out.values() or [out.setdefault("cpu", {})]:
                figures[figure.name] = value
    if bench.get(MEMORY_FIGURE) is not None:
        for figures in out.values():
            figures[MEMORY_FIGURE] = bench[MEMORY_FIGURE]
    return out


def _recorded(result: CellResult, tier: str, prop: str) -> list[float]:
    for test in _tests(result, tier):
        values = test.get("properties", {}).get(prop)
        if values:
            return [float(x) for x in values]
    return []


def split_busy(result: CellResult, bench: dict[str, dict[str, float]],
               engine: Engine | None = None) -> dict[str, Any]:
    """``bench`` without the figures of tiers that ran on a busy machine; those figures
    in ``bench_busy`` and each busy tier's reason in ``busy`` (both only when busy)."""
    busy = (result.bench or {}).get("busy") or {}
    if not busy:
        return {"bench": bench}
    quiet: dict[str, dict[str, float]] = {}
    marked: dict[str, dict[str, float]] = {}
    tiers = {f.name: f.tier for f in (engine.figures if engine else ())}
    for device, figures in bench.items():
        for key, value in figures.items():
            tier = None if key == MEMORY_FIGURE else tiers.get(key, "bench")
            (marked if tier in busy else quiet).setdefault(device, {})[key] = value
    return {"bench": quiet, "bench_busy": marked, "busy": dict(busy)}


def _shims(result: CellResult) -> dict[str, list[str]]:
    plan = result.shims or {}
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
    if "not-run" in shown or ("skip" in shown and ("pass" in shown or "shimmed" in shown)):
        return "incomplete"  # tiers left out or skipped: what was not checked is not a pass
    if "shimmed" in shown:
        return "pass-with-shims"
    return "pass" if "pass" in shown else "skip"


def entry(given: CellResult | dict[str, Any], source: str) -> dict[str, Any]:
    """A result as the report's entry (a mapping is read as a result file's data: the
    tests' fakes)."""
    result = given if isinstance(given, CellResult) else from_dict(given)
    cell = result.cell
    engine = engines.get_engine(engines.engine_of_cell(cell))
    line, tts_version = tts_line(result)
    fixed = result.repair if (result.repair or {}).get("tested") else None
    # A repaired cell's verdict is its repaired environment's: report those versions.
    resolved = (fixed or {}).get("resolved") or result.resolved or {}
    install_failed = result.status("install") in FAILED
    tiers = {name: _tier_entry(name, result.tiers[name], install_failed)
             for name in engine.tier_names() if name in result.tiers}
    found = {
        "cell": cell["id"], "engine": engine.name, "line": line,
        "python": (result.python or {}).get("version") or cell.get("python"),
        "tts": tts_version,
        "torch": resolved.get("torch") or cell.get("torch") or "",
        "transformers": resolved.get("transformers") or cell.get("transformers") or "",
        "torchaudio": resolved.get("torchaudio") or cell.get("pins", {}).get("torchaudio", ""),
        "requirements": (fixed or {}).get("requirements") or cell.get("requirements", []),
        "repair": {"fixes": [f["requirement"] for f in _tested(fixed)],
                   "diagnoses": sorted({_fix_diagnosis(f, engine.name,
                                                       _versions(result, "packaging"))
                                        for f in _tested(fixed)}),
                   "bare_resolved": result.resolved or {}} if fixed else None,
        "resolved": resolved,
        "tags": cell.get("tags", []),
        "machine": machine_key(result.machine), "machine_info": result.machine,
        "devices": result.devices if result.devices is not None else ["cpu"],
        "started_at": result.started_at, "finished_at": result.finished_at,
        "outcome": result.outcome, "source": source,
        "tiers": tiers, "shims": _shims(result), "failures": _failures(result),
        "golden": _golden(result, engine), "bench": _bench(result, engine),
    }
    found.update(split_busy(result, found["bench"], engine))
    _host_missing(tiers, found["failures"], result.host)
    # A run of some tiers (the exploratory matrix's cells, the culprit finder's trials) is
    # judged on those, and says so; tiers left out otherwise make the cell incomplete.
    found["scope"] = [t for t in engine.tier_names() if t in (result.only or [])]
    of_pairs = {t.name for t in engine.tiers if t.of_pairs}  # judged as pairs (report.pairs)
    # As the loading cell: each producer's checkpoint and how it loaded here (the gate's).
    found["loads"] = {p["trained_with"]: p["verdict"] for p in pairs.of_result(result)}
    judged = {n: t for n, t in tiers.items() if n not in of_pairs and (
        not found["scope"] or n in found["scope"] or n == "install")}
    found["verdict"] = verdict(judged, result.outcome or "completed")
    if fixed and found["verdict"] in ("pass", "pass-with-shims"):
        found["verdict"] = "repaired"  # the pins alone do not give a working stack
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
    """Per release line and device: the newest cell passing every tier bare, and the newest
    passing with shims, as requirement lines (a cell run on some tiers only is left out)."""
    out = []
    for line in LINES:
        devices = sorted({d for e in entries if e["line"] == line for d in e["devices"]})
        for device in devices:
            here = [e for e in entries if e["line"] == line and device in e["devices"]
                    and not e.get("scope")]  # judged on some tiers: not a recommendation
            pick: dict[str, Any] = {"line": line, "device": device}
            for kind, ok in (("bare", ("pass",)), ("shimmed", ("pass-with-shims",)),
                             ("repaired", ("repaired",))):
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


def build(collection: Collection, generated_at: str | None = None,
          cells: dict[str, list[Any]] | None = None) -> dict[str, Any]:
    """The report of every collected result; one that cannot be read into it is listed
    under ``problems`` with its path, and the rest are still reported. A result of a matrix
    cell (``cells``: {id: [Cell]}, default every matrix file's) that no longer stands for
    it is shown ``stale``, with why, never as a verdict."""
    entries, problems, crossed = [], list(collection.problems), []
    cells = _known_cells() if cells is None else cells
    for loaded in collection.results:
        try:
            found = entry(loaded.result, str(loaded.path))
            why = (None if found["verdict"] == INTERRUPTED
                   else _staleness(cells.get(found["cell"], []), loaded.result))
            if why:
                found["verdict"], found["stale"] = STALE, why
            entries.append(found)
            if not why:
                crossed += pairs.of_result(loaded.result, diagnose)
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
        "pairs": crossed,
        "boundaries": boundaries(collection.boundaries),
        "newest_good": newest_good(collection.boundaries),
        "problems": problems,
        "superseded": collection.superseded,
        "summary": {v: sum(e["verdict"] == v for e in entries)
                    for v in (*VERDICTS, *UNJUDGED)},
    }


def _known_cells() -> dict[str, list[Any]]:
    from compat.plan.matrixfile import known_cells

    return known_cells()


def _staleness(cells: list[Any], result: CellResult) -> str | None:
    """Why a result stands for none of the matrix cells of its id (None when one, or when
    its id is no matrix cell's: a ``here`` run, a bump gate's cell, a fake)."""
    from compat.result.fingerprint import staleness

    if not cells:
        return None
    reasons = [staleness(cell, result.to_dict()) for cell in cells]
    return None if None in reasons else reasons[0]


def boundaries(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per boundary the culprit finder found: package, last good, first bad, tier,
    the error and the knowledge base's word (or ``unclassified``, with a draft entry)."""
    rows = []
    for answer in found:
        parts = answer.get("boundaries") or [answer]
        for part in parts:
            if "first_bad" not in part:
                continue
            bad = part.get("bad_state") or {}
            word = part.get("explain") or {}
            error = (f"{bad.get('exc_type')}: {bad.get('message', '')}" if bad.get("exc_type")
                     else bad.get("message", ""))
            rows.append({
                "cell": answer.get("cell", ""), "package": part.get("package") or
                answer.get("package", ""), "tier": answer.get("tier", ""),
                "last_good": part["last_good"], "first_bad": part["first_bad"],
                "exact": not part.get("undecided"),
                "newest_good": answer.get("newest_good"),
                "with": part.get("with") or {},
                "change": f"{(part.get('good_state') or {}).get('key', '?')} -> "
                          f"{bad.get('key', '?')}",
                "error": first_line(error), "diagnosis": word.get("entry") or
                diagnosis.UNCLASSIFIED, "agrees": word.get("agrees"),
                "disagreement": word.get("disagreement", ""), "draft": word.get("draft", ""),
                "trials": len(answer.get("trials", [])),
            })
    return rows


def newest_good(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The exact recommended pins of ``nox -s bisect -- --newest-good``: per cell and
    package, the newest release whose tier still behaves as the good one's."""
    return [{"cell": a["cell"], "package": a["package"], "tier": a.get("tier", ""),
             "good": a["good"], "newest_good": a["newest_good"],
             "state": ((a.get("good_state") or a.get("state") or {}).get("key", "")),
             "first_bad": a.get("first_bad")}
            for a in found if a.get("mode") == "newest-good" and a.get("newest_good")]


def short_cause(failure: dict[str, Any]) -> str:
    """A few words for a table cell: the diagnosis, or the exception type if unclassified."""
    found = failure["diagnosis"]
    if found.get("outside_boundary"):
        return (f"unclassified: {failure['exc_type'] or 'error'}: "
                f"{first_line(failure['message'], 80)} (nearest known breakage, whose "
                f"boundary leaves this stack out: {found['id']})")
    if found["id"] != diagnosis.UNCLASSIFIED:
        return found["diagnosis"]
    return f"unclassified: {failure['exc_type'] or 'error'}: {first_line(failure['message'], 80)}"


def unclassified(entries: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Failures no knowledge-base entry explains, for every renderer to list first: a
    verdict without a diagnosis is what the knowledge base still owes."""
    return [{"cell": item["cell"], "tier": failure["tier"], "kind": failure["kind"],
             "error": (f"{failure['exc_type']}: " if failure["exc_type"] else "")
             + first_line(failure["message"], 300),
             "draft": f"nox -s kb -- draft {item['cell']}"}
            for item in entries for failure in item["failures"]
            if failure["diagnosis"]["id"] == diagnosis.UNCLASSIFIED
            or failure["diagnosis"].get("outside_boundary")]


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
