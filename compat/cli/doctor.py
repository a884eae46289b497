"""``python -m compat doctor [--python PATH] [--json] [--verify]``: what will break in an
environment of an engine under test you already have, why, and the fix, from package metadata alone.

It reads installed versions (nothing is imported: safe and fast in a broken environment,
no network), matches them against ``compat/known_breakages.toml`` and the baseline, and
says whether the shims from ``patches/`` are installed there. ``--verify`` also runs the
import and load tiers on the tiny fixture in that interpreter and says where the
prediction and reality disagree.

Exit codes: 0 no known problem (or every one is covered by installed shims); 1 something
will break; 2 cannot tell (no engine installed, unreadable metadata).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from compat import engines
from compat.incell import probe
from compat.plan.stack import StackError, cell_from_versions
from compat.result import diagnosis
from compat.system import exits

OK, BREAKS, CANNOT_TELL = exits.OK, exits.FOUND, exits.CANNOT_RUN


def read_environment(python: str) -> dict[str, Any]:
    """Installed versions etc. of the interpreter ``python``, read without importing them."""
    return probe.read(python, engines.watched(), timeout=60)


def accelerators(env: dict[str, Any]) -> dict[str, Any]:
    """CUDA and MPS as far as metadata and the machine tell (torch is not imported)."""
    torch = env["versions"].get("torch") or ""
    cuda_build = any(r.startswith("nvidia-") for r in env["torch_requires"]) or "+cu" in torch
    gpu = False
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        gpu = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True,
                             timeout=10).returncode == 0
    mps = env["platform"] == "darwin" and env["machine"] == "arm64"
    return {"torch_cuda_build": cuda_build, "nvidia_gpu": gpu, "mps": mps}


def _shims_applying(versions: dict[str, str | None], engine: str) -> set[str]:
    """The shims whose entries in the engine's knowledge base match these versions."""
    return {e.shim for e in diagnosis.load(engine) if e.shim and e.affected(versions)}


def baseline_hint(versions: dict[str, str | None], python: str) -> dict[str, Any] | None:
    """The baseline's expectation for exactly this stack, and its newest passing cells."""
    from compat.system.paths import BASELINE

    if not BASELINE.exists():
        return None
    cells = json.loads(BASELINE.read_text(encoding="utf-8")).get("cells", {})
    try:
        stack = cell_from_versions(versions, python, where="this environment")
    except StackError:
        return None
    prefix = stack.id.split(stack.tts_version or "-", 1)[0]
    same_line = [c for c in cells if c.startswith(prefix)]
    passing = [c for c in same_line if cells[c]["verdict"] == "pass"]
    return {"cell": stack.id, "expected": cells.get(stack.id, {}).get("verdict"),
            "passing_cells": passing}


def tier_order(versions: dict[str, str | None]) -> tuple[str, ...]:
    """The installed engine's tiers, ``install`` first (the findings' sort and ``clear``)."""
    found = engines.stack_of(versions)
    return ("install", *(found[0].tier_names() if found else engines.tier_names()[1:]))


def diagnose(env: dict[str, Any]) -> dict[str, Any]:
    versions = {**env["versions"], "python": env["python"]}
    stack = engines.stack_of(env["versions"])
    if stack is None:
        raise LookupError(f"{env['executable']}: no engine is installed there (looked for "
                          f"{', '.join(engines.known_distributions())})")
    engine = stack[0].name
    order = tier_order(env["versions"])
    installed = env["patches_installed"]
    applying = _shims_applying(versions, engine)
    findings = []
    for entry in diagnosis.load(engine):
        if not entry.affected(versions):
            continue
        covered = bool(installed and entry.shim and entry.shim in applying)
        remedy = []
        if entry.shim:
            remedy.append(f"shim `{entry.shim}`: xtts-compat shims install --python "
                          f"{env['executable']} (in a clone: python -m patches install ...)")
        if entry.pin:
            remedy.append(f"pin {entry.pin}")
        findings.append({"id": entry.id, "tier": entry.tier, "error": entry.error,
                         "diagnosis": entry.diagnosis, "cause": entry.cause,
                         "boundary": entry.boundary, "remedy": remedy, "shim": entry.shim,
                         "covered": covered, "reference": entry.reference})
    findings += [shared_files_finding(overlap) for overlap in env.get("shared_files") or []]
    findings.sort(key=lambda f: (f["covered"], order.index(f["tier"])
                                 if f["tier"] in order else 99))
    hit = {f["tier"] for f in findings if not f["covered"]}
    return {
        "engine": engine,
        "python": env["python"], "executable": env["executable"], "versions": env["versions"],
        "accelerators": accelerators(env), "patches_installed": installed,
        "shims_active": sorted(applying) if installed else [],
        "findings": findings,
        "clear": [t for t in order[1:] if t not in hit],
        "baseline": baseline_hint(versions, env["python"]),
    }


def shared_files_finding(overlap: dict[str, Any]) -> dict[str, Any]:
    """Two installed distributions own the same module files (``probe.shared_files``):
    the environment is whatever was installed last, and the next reinstall of either
    changes it. Not a version's breakage, so not in the knowledge base: the probe reads
    it from the RECORD files."""
    first, second = overlap["owners"][:2]
    examples = ", ".join(overlap["examples"])
    return {
        "id": "shared-module-files", "tier": "install",
        "error": (f"{' and '.join(overlap['owners'])} both install {overlap['files']} "
                  f"module file(s) with different contents ({examples})"),
        "diagnosis": ("two installed distributions own the same module files: the files "
                      "are those of whichever was installed last, and reinstalling, "
                      "upgrading or removing the other silently changes or breaks the "
                      "engine"),
        "cause": "successive installs of a fork beside its original (or two packages "
                 "shipping the same top-level name)",
        "boundary": "any version",
        "remedy": [f"keep one: pip uninstall -y {first} {second}, then install the one "
                   "you want again"],
        "shim": None, "covered": False, "reference": None,
    }


def verify(python: str) -> dict[str, Any]:
    """Run the import and load tiers in that interpreter (the cells' own code)."""
    import tempfile

    from compat.cli.here import run_here

    with tempfile.TemporaryDirectory(prefix="xtts-doctor-") as scratch:
        result = run_here(python, only=("import", "load"), log=lambda line: None,
                          results_dir=Path(scratch), shim_rounds=False)
    keys = ("status", "exc_type", "message", "reason")
    return {name: {k: result["tiers"][name][k] for k in keys if result["tiers"][name].get(k)}
            for name in ("import", "load") if name in result["tiers"]}


def disagreements(report: dict[str, Any], seen: dict[str, Any]) -> list[str]:
    out = []
    for tier, got in seen.items():
        predicted = [f for f in report["findings"] if f["tier"] == tier and not f["covered"]]
        if predicted and got["status"] == "pass":
            out.append(f"{tier}: predicted to break ({predicted[0]['id']}) but passes")
        if not predicted and got["status"] not in ("pass", "not-run"):
            found = diagnosis.classify(got.get("exc_type"), got.get("message"),
                                       report.get("engine"))
            out.append(f"{tier}: predicted clear but {got['status']}: "
                       f"{got.get('exc_type')}: {(got.get('message') or '')[:160]}"
                       f" ({found.id if found else 'unclassified'})")
    return out


def text(report: dict[str, Any]) -> str:
    v = report["versions"]
    found = engines.stack_of(v)
    shown = [f"{found[1].distribution} {found[2]}"] if found else []
    if found:
        shown += [f"{n} {v.get(n) or '-'}" for n in found[0].watched
                  if v.get(n) or n in ("torch", "transformers")]
    acc = report["accelerators"]
    out = [f"{', '.join(shown)} on Python {report['python']} ({report['executable']})",
           f"accelerators: torch CUDA build {'yes' if acc['torch_cuda_build'] else 'no'}, "
           f"NVIDIA GPU {'yes' if acc['nvidia_gpu'] else 'no'}, MPS "
           f"{'yes' if acc['mps'] else 'no'}"]
    if report["patches_installed"]:
        out.append(f"shims installed and active here: {', '.join(report['shims_active']) or '-'}")
    out.append("")
    for f in report["findings"]:
        mark = "covered" if f["covered"] else "BREAKS"
        out.append(f"[{mark}] {f['tier']}: {f['error']}")
        out.append(f"    cause: {f['cause']} ({f['boundary']})")
        if f["covered"]:
            out.append(f"    covered by the installed shim `{f['shim']}`")
        else:
            out.append("    fix: " + " | ".join(f["remedy"]))
        if f["reference"]:
            out.append(f"    see {f['reference']}")
    for tier in report["clear"]:
        out.append(f"[ok] {tier}: no known problem")
    hint = report.get("baseline")
    if hint and hint["expected"]:
        out.append(f"baseline: this exact stack ({hint['cell']}) is expected to "
                   f"{hint['expected']}")
    if hint and hint["passing_cells"] and any(not f["covered"] for f in report["findings"]):
        out.append(f"baseline: passing bare on this line: {', '.join(hint['passing_cells'])}")
    if "verify" in report:
        out.append("")
        for tier, got in report["verify"].items():
            detail = (f"{got.get('exc_type')}: {(got.get('message') or '')[:120]}"
                      if got.get("exc_type") else got.get("reason", ""))
            out.append(f"verify {tier}: {got['status']}" + (f" ({detail})" if detail else ""))
        for item in report["disagreements"] or ["the prediction matches the import and load "
                                                "tiers"]:
            out.append(f"verify: {item}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m compat doctor", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--python", default=sys.executable,
                        help="interpreter of the environment to check (default: this one)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--verify", action="store_true",
                        help="also run the import and load tiers there (imports the engine)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        report = diagnose(read_environment(args.python))
    except (RuntimeError, LookupError, ValueError) as exc:
        message = str(exc).strip("'\"")
        print(json.dumps({"error": message}) if args.json else f"doctor: cannot tell: {message}")
        return CANNOT_TELL
    report["seconds"] = round(time.perf_counter() - started, 3)
    if args.verify:
        report["verify"] = verify(args.python)
        report["disagreements"] = disagreements(report, report["verify"])
    breaks = any(not f["covered"] for f in report["findings"])
    report["exit"] = BREAKS if breaks else OK
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(text(report))
        print(f"\ndoctor: {'something will break' if breaks else 'no known problem'} "
              f"({report['seconds']:.2f}s, {platform.node()})")
    return report["exit"]
