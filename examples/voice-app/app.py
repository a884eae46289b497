"""Say a sentence in a reference speaker's voice with XTTS v2.

    XTTS_MODEL_DIR=/path/to/xtts_v2 python app.py reference.wav "Hello there." out.wav
"""

from __future__ import annotations

import os
import sys


def main(reference: str, text: str, out: str) -> None:
    import soundfile
    from TTS.tts.configs.xtts_config import XttsConfig
    from TTS.tts.models.xtts import Xtts

    folder = os.environ["XTTS_MODEL_DIR"]
    config = XttsConfig()
    config.load_json(os.path.join(folder, "config.json"))
    model = Xtts.init_from_config(config)
    model.load_checkpoint(config, checkpoint_dir=folder, eval=True)
    latent, speaker = model.get_conditioning_latents(audio_path=[reference])
    wav = model.inference(text, "en", latent, speaker, temperature=0.7)["wav"]
    soundfile.write(out, wav, config.audio.output_sample_rate)


if __name__ == "__main__":
    main(*sys.argv[1:4])
