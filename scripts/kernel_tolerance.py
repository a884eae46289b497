"""How far synthesis from identical fixture bytes moves under other CPUs' kernels.

The golden check compares a cell's synthesis with the committed golden output within a
tolerance; that tolerance must hold on every host. ``ATEN_CPU_CAPABILITY`` makes torch use
another CPU's kernel set on this one (``default``: no vector kernels; ``avx2``;
``avx512`` where the CPU has it), so one machine stands in for others. For each engine,
this runs the reference environment's import, load and synth tiers once per setting
(``python -m compat here``, the variable passed on purpose with ``COMPAT_PASS_ENV``) and
prints, per setting, the distance from the golden and the tolerance the tier applies::

    python scripts/kernel_tolerance.py --engine xtts \
        --python .nox/fixtures-engine-xtts/bin/python
    python scripts/kernel_tolerance.py --engine xtts --python ENV/bin/python \\
        --shims beam_search,weights_only,generation_mixin,stream_sampler,torchaudio_io

``--shims`` runs one round with exactly those shims and no further shim rounds (the
transformers 4.52 "popular fix" is generation_mixin without dropped_prefix): its verdict
must be ``diverged`` under every setting. The table goes to stdout; ``--json FILE``
keeps the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from compat.system.machine import kernel_settings  # noqa: E402

#: The synth tier's golden properties worth a column: (property, column title).
COLUMNS = {
    "xtts": (("first_call_tokens", "first call's tokens"),
             ("golden_codes_equal", "codes equal"),
             ("golden_first_logits_max_abs_diff", "first-step logits, max abs"),
             ("golden_waveform_rel_error", "waveform, relative"),
             ("golden_waveform_max_abs_diff", "waveform, max abs")),
    "kokoro": (("golden_durations_equal", "durations equal"),
               ("golden_waveform_rel_error", "waveform, relative"),
               ("golden_waveform_max_abs_diff", "waveform, max abs")),
}


def run(engine: str, python: str, setting: str, shims: str, results: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "ATEN_CPU_CAPABILITY"}
    passed = [n for n in env.get("COMPAT_PASS_ENV", "").split(",") if n]
    if setting != "host":
        env["ATEN_CPU_CAPABILITY"] = setting
        passed.append("ATEN_CPU_CAPABILITY")
    if shims:
        env["COMPAT_SHIMS"] = shims  # the bare round's shims (later rounds set their own)
        passed.append("COMPAT_SHIMS")
    env["COMPAT_PASS_ENV"] = ",".join(passed)
    command = [sys.executable, "-m", "compat", "here", "--python", python,
               "--tiers", "import,load,synth", "--results", str(results)]
    if shims:
        command.append("--no-shim-rounds")  # the verdict of exactly these shims
    out = subprocess.run(command,
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        raise SystemExit(f"{setting}: compat here failed:\n{out.stderr[-3000:]}")
    (path,) = [p for p in results.glob("here-*.json")]
    result = json.loads(path.read_text())
    path.unlink()
    synth = result["tiers"]["synth"]
    props = {}
    for test in synth.get("tests", []):
        if test["test"].startswith(("test_agrees_with_golden", "test_output_depends")):
            props.update(test.get("properties", {}))
    capability = result.get("environment", {}).get("chosen", {}).get("ATEN_CPU_CAPABILITY")
    return {"setting": setting, "chosen": capability, "status": synth["status"],
            "verdict": props.get("verdict", synth["status"]), "properties": props}


def table(engine: str, rows: list[dict], tolerance: dict) -> str:
    columns = COLUMNS[engine]
    head = ["kernels", "verdict", *[title for _, title in columns]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [row["setting"], row["verdict"]]
        for key, _ in columns:
            value = row["properties"].get(key)
            cells.append(f"{value:.3g}" if isinstance(value, float) else str(value))
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("tolerances applied: " + ", ".join(f"{k} {v}" for k, v in tolerance.items()))
    return "\n".join(lines)


def tolerances(engine: str) -> dict:
    sys.path.insert(0, str(REPO / "compat" / "engines" / engine / "tiers"))
    module = __import__(f"{engine}_run")
    return {name: getattr(module, name) for name in dir(module) if name.endswith("_TOL")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=sorted(COLUMNS), required=True)
    parser.add_argument("--python", required=True, help="the reference environment's python")
    parser.add_argument("--shims", default="", help="the bare round's shims, comma-separated")
    parser.add_argument("--settings", default="", help="default,avx2,... (default: all here)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    chosen = [s for s in args.settings.split(",") if s] or kernel_settings()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n, setting in enumerate(chosen, 1):
            print(f"[{n}/{len(chosen)}] {args.engine}: kernels {setting}"
                  f"{' with ' + args.shims if args.shims else ''}", file=sys.stderr, flush=True)
            rows.append(run(args.engine, args.python, setting, args.shims, Path(tmp)))
    print(table(args.engine, rows, tolerances(args.engine)))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
