"""Run inside a cell: stream the fixed text with XTTS's own streaming code, or with the
stream_sampler shim, and print the tokens and a checksum of the audio as JSON.

    python tests/support/stream_probe.py original|shim MODEL_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "compat" / "engines" / "xtts" / "tiers"))

import xtts_run  # noqa: E402

#: Sampling as XTTS's defaults, and greedy through top-1 sampling, both seeded.
SETTINGS = {
    "sampled": {"do_sample": True, "temperature": 0.75, "top_k": 50, "top_p": 0.85,
                "repetition_penalty": 2.0},
    "greedy": {"do_sample": True, "temperature": 0.75, "top_k": 1, "top_p": 0.85,
               "repetition_penalty": 2.0},
}


def main() -> None:
    import torch

    if sys.argv[1] == "shim":
        import patches

        patches.apply(["stream_sampler"])
    from TTS.tts.configs.xtts_config import XttsConfig

    folder = Path(sys.argv[2])
    config = XttsConfig()
    config.load_json(str(folder / "config.json"))
    model = xtts_run.load_model(folder, config)
    latents = xtts_run.conditioning(model, folder)
    real = model.gpt.get_generator
    out = {}
    for name, settings in SETTINGS.items():
        tokens = []

        def recording(*args, _tokens=tokens, **kwargs):
            for token, hidden in real(*args, **kwargs):
                _tokens.append(int(token))
                yield token, hidden

        model.gpt.get_generator = recording
        torch.manual_seed(xtts_run.SEED)
        chunks = list(model.inference_stream(xtts_run.TEXT, xtts_run.LANGUAGE, *latents,
                                             stream_chunk_size=20, **settings))
        wav = torch.cat([c.reshape(-1) for c in chunks])
        out[name] = {"tokens": tokens, "chunks": len(chunks), "abs_sum": float(wav.abs().sum())}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
