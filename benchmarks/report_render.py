"""How long the report takes for 200 cells (goal: under 2 s), per stage, on fake results
shaped like real ones (mixed verdicts, failures with tracebacks, two machines).

    python benchmarks/report_render.py [--cells 200]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from report_fakes import fake_result, write  # noqa: E402

from compat import report  # noqa: E402
from compat.report import heatmap, html, markdown, model  # noqa: E402
from compat.report.collect import collect  # noqa: E402

TORCH = ["2.1.2", "2.5.1", "2.6.0", "2.9.1", "2.10.0"]
TF = ["4.35.2", "4.46.2", "4.51.3", "4.57.3", "5.24.0"]
BEAM = ("ImportError", "cannot import name 'BeamSearchScorer' from 'transformers'")


def make(folder: Path, cells: int) -> None:
    for i in range(cells):
        torch, tf = TORCH[i % 5], TF[(i // 5) % 5]
        kind = i % 4
        kwargs = ({}, {"mended": {"import": (*BEAM, "beam_search")}},
                  {"failing": {"synth": ("ValueError", "x" * 400)}},
                  {"install_error": "RuntimeError: TTS requires python >= 3.9 and < 3.12"})[kind]
        tts = "TTS==0.22.0" if i % 2 else f"coqui-tts==0.{22 + i % 7}.0"
        write(folder, fake_result(f"cell{i:03d}", tts=tts, torch=torch, transformers=tf,
                                  host=("alpha", "beta")[i % 2], **kwargs))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cells", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder, out = Path(tmp) / "results", Path(tmp) / "reports"
        make(folder, args.cells)
        stages = {}
        start = time.perf_counter()
        found = collect([folder])
        stages["collect"] = time.perf_counter() - start
        t = time.perf_counter()
        data = model.build(found)
        stages["model + diagnosis"] = time.perf_counter() - t
        t = time.perf_counter()
        report.validate(data)
        stages["schema check"] = time.perf_counter() - t
        t = time.perf_counter()
        markdown.render(data)
        stages["markdown"] = time.perf_counter() - t
        t = time.perf_counter()
        html.render(data)
        stages["html"] = time.perf_counter() - t
        t = time.perf_counter()
        heatmap.render(data, out / "heat.png")
        stages["heatmap (incl. matplotlib import)"] = time.perf_counter() - t
        t = time.perf_counter()
        report.write([folder], out)
        stages["whole report.write (all formats, junit)"] = time.perf_counter() - t
    print(f"{'stage':44} {'seconds':>8}   ({args.cells} cells)")
    for name, seconds in stages.items():
        print(f"{name:44} {seconds:8.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
