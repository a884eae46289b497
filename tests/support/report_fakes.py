"""Small fake result files for the report's and the gate's pure logic (the real ones come
from the smoke cells in the e2e tests)."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from compat.result.model import SCHEMA

TIERS = ("import", "load", "synth", "stream", "finetune", "bench")


def fake_result(cell_id: str, *, tts: str = "TTS==0.22.0", torch: str = "2.1.2",
                transformers: str = "4.35.2", python: str = "3.11.7", host: str = "alpha",
                finished_at: str = "2026-11-26T10:00:00+00:00",
                failing: dict[str, tuple[str, str]] | None = None,
                mended: dict[str, tuple[str, str, str]] | None = None,
                install_error: str | None = None, rtf: float = 2.0,
                load_s: float = 0.4) -> dict[str, Any]:
    """A result: every tier passes except ``failing`` {tier: (exc_type, message)}, and
    ``mended`` {tier: (exc_type, message, shim)} tiers pass only with that shim."""
    failing, mended = failing or {}, mended or {}
    name, _, version = tts.partition("==")
    dist = "coqui-tts" if name.startswith("coqui-tts") else "TTS"
    tiers: dict[str, Any] = {"install": {"status": "pass", "seconds": 1.0}}
    broken = False
    for tier in TIERS:
        if install_error:
            tiers[tier] = {"status": "not-run", "reason": "install fail"}
        elif broken:
            tiers[tier] = {"status": "not-run", "reason": f"tier {tier!r} needs an earlier tier"}
        elif tier in failing:
            exc, msg = failing[tier]
            tiers[tier] = {"status": "fail", "exc_type": exc, "message": msg,
                           "traceback": f"Traceback...\n{exc}: {msg}", "seconds": 1.0}
            broken = True
        elif tier in mended:
            exc, msg, shim = mended[tier]
            tiers[tier] = {"status": "pass", "seconds": 1.0, "shims": [shim],
                           "bare": {"status": "fail", "exc_type": exc, "message": msg},
                           "shimmed": {"status": "pass"}}
        else:
            tiers[tier] = {"status": "pass", "seconds": 1.0}
    if install_error:
        tiers["install"] = {"status": "fail", "exc_type": "InstallError",
                            "message": install_error, "seconds": 1.0}
    shims_needed = sorted({m[2] for m in mended.values()})
    return {
        "schema": SCHEMA, "suite_version": "0.1.0", "fingerprint": "f",
        "cell": {"id": cell_id, "engine": "xtts", "python": python[:4], "tts": tts,
                 "torch": torch, "transformers": transformers, "pins": {},
                 "requirements": [tts, f"torch=={torch}", f"transformers=={transformers}"],
                 "tags": []},
        "machine": {"hostname": host, "cpu_model": "CPU", "cores": 2, "gpus": []},
        "started_at": finished_at, "finished_at": finished_at,
        "python": {"version": python},
        "resolved": {} if install_error else {dist: version, "torch": torch,
                                               "transformers": transformers},
        "devices": ["cpu"], "tiers": tiers,
        "shims": {"rerun": bool(mended), "addressed": {t: [m[2]] for t, m in mended.items()},
                  "rounds": [{"shims": []}, {"shims": shims_needed}] if mended else []},
        "bench": {} if install_error or failing else {"peak_rss_mib": 1000, "benchmarks": [
            {"name": "test_bench_load[cpu]", "mean_s": load_s, "min_s": load_s,
             "stddev_s": 0.01, "device": "cpu"},
            {"name": "test_bench_synth[cpu]", "mean_s": 2.8 / rtf, "min_s": 2.8 / rtf,
             "stddev_s": 0.02, "device": "cpu", "rtf": rtf, "audio_seconds": 2.8}]},
        "outcome": "install-failed" if install_error else "completed",
    }


@functools.lru_cache(maxsize=1)
def _known() -> dict[str, list[Any]]:
    from compat.plan.matrixfile import known_cells

    return known_cells()


def made_current(result: dict[str, Any], cell: Any = None) -> dict[str, Any]:
    """A fake made as a run of its cell (``cell``, else the repository's matrix cell of
    its id) now would be: requirements, fingerprint and tier digests (the report and the
    gate call any other one stale)."""
    from compat.engines import get_engine
    from compat.result.fingerprint import current_fingerprint, tier_digests, with_golden

    if cell is None:
        cells = _known().get(result["cell"]["id"])
        if not cells:
            return result
        cell = cells[0]
    engine = get_engine(cell.engine)
    result["cell"] = {**result["cell"], "requirements": cell.requirements()}
    result.setdefault("python", {})["platform"] = None
    result["fingerprint"] = current_fingerprint(cell, result)
    result["tier_digests"] = with_golden(tier_digests(engine.tier_dir, engine.plan()), engine)
    return result


def write(folder: Path, result: dict[str, Any], name: str | None = None,
          current: Any = False) -> Path:
    """Write a fake result. ``current`` (True, or the Cell it stands for): made current,
    as the report and the gate need a result of a matrix cell to be; else such a fake is
    stale to them."""
    if current:
        result = made_current(json.loads(json.dumps(result)),
                              None if current is True else current)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name or result['cell']['id']}.json"
    path.write_text(json.dumps(result))
    return path
