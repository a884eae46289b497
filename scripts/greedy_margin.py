"""How far the tiny XTTS's greedy decoding is from choosing another code.

The golden check requires equal audio codes on CPU. Greedy codes flip between hosts only
if float noise exceeds the gap between the best and the second-best score at some step;
this prints that smallest gap over the reference synthesis, to set against the noise
``scripts/kernel_tolerance.py`` measures. Runs inside an XTTS environment::

    XTTS_FIXTURE_DIR=~/.cache/xtts-compat/xtts-tiny-b3-seed1234 \\
        .nox/fixtures-engine-xtts/bin/python scripts/greedy_margin.py

It loads a copy of the fixture, never the folder itself (coqui-tts 0.28 rewrites a
legacy model.pth it loads).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "compat" / "engines" / "xtts" / "tiers"))


def main() -> int:
    import torch
    from TTS.tts.configs.xtts_config import XttsConfig

    import xtts_run

    scratch = tempfile.mkdtemp(prefix="greedy-margin-")
    folder = Path(shutil.copytree(Path(os.environ["XTTS_FIXTURE_DIR"]).expanduser(),
                                  Path(scratch) / "model"))
    config = XttsConfig()
    config.load_json(str(folder / "config.json"))
    model = xtts_run.load_model(folder, config)
    latent, embedding = xtts_run.conditioning(model, folder)
    gaps: list[float] = []
    real_argmax = torch.argmax

    def argmax(scores, *args, **kwargs):
        if scores.dim() == 2 and scores.shape[-1] == config.model_args.gpt_num_audio_tokens:
            top = torch.topk(scores.float(), 2, dim=-1).values[0]
            gaps.append(float(top[0] - top[1]))
        return real_argmax(scores, *args, **kwargs)

    torch.argmax = argmax
    try:
        synthesis = xtts_run.synthesize(model, xtts_run.TEXT, latent, embedding)
    finally:
        torch.argmax = real_argmax
        shutil.rmtree(scratch, ignore_errors=True)
    if not gaps:
        print("no greedy step seen (this transformers does not choose with torch.argmax)")
        return 1
    ordered = sorted(gaps)
    print(f"{len(synthesis.codes)} codes, {len(gaps)} greedy steps; smallest best-to-second "
          f"score gaps: {', '.join(f'{g:.3g}' for g in ordered[:3])}; "
          f"median {ordered[len(ordered) // 2]:.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
