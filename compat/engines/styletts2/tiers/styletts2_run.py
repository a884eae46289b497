"""Driving StyleTTS2 inside a cell: import it offline, load the cell's copy of the model,
synthesise (text through gruut, nltk and the model), judge the audio, compare with the
golden output.

Runs in the cell's environment: stdlib, numpy, torch and styletts2; Python 3.9 syntax.

What StyleTTS2 0.1.6 reaches for at run time, and what the tiers give it instead (each
recorded by the tier that meets it, never hidden):

- ``nltk.download('punkt')`` at the import of ``styletts2.tts``. The tiers replace
  ``nltk.download`` with a recorder before that import (the import tier records what was
  asked); offline it would print an error and go on, and ``punkt`` is not what nltk >= 3.9
  reads anyway.
- nltk's sentence tokenizer data, which ``word_tokenize`` loads: ``punkt_tab`` for
  nltk >= 3.9 (four text files), ``punkt/english.pickle`` before. nltk_data is not on
  PyPI, so :func:`provide_nltk_data` writes an untrained Punkt model (no learned
  abbreviations: a sentence ends at every full stop) into the cell's folder.
- The pitch model and PL-BERT: the loader takes both from ``cached_path(URL)`` whatever
  the config says (``if F0_path or not Path(F0_path).exists()`` is inverted; a
  ``PLBERT_dir`` str is joined with ``/``). The tiers point the module's URL constants at
  the folder's files (``cached_path`` returns a local path as it is): the remedy of the
  knowledge base's entries, which the load tier shows are still needed.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: The prefix of the variables the harness sets for this engine (compat.incell.tiersupport)
#: and the command that makes the golden output again.
PREFIX = "STYLETTS2"
GOLDEN_REMAKE = "nox -s \"golden(engine='styletts2')\""

CHECKPOINT = "epochs_2nd_00000.pth"
CONFIG = "config.yml"
F0_CHECKPOINT = "jdc/bst.t7"
BERT_CONFIG, BERT_CHECKPOINT = "plbert/config.yml", "plbert/step_1.t7"
VOICE = "reference.wav"
SAMPLE_RATE = 24000
#: Samples per predicted duration frame (the hifigan decoder upsamples 10*5*3*2), and the
#: samples ``inference`` cuts off the end ("weird pulse at the end of the model").
FRAME = 300
TRIM = 50
TEXT = "Hello world. This is a test."
OTHER_TEXT = "A quiet voice."
DIFFUSION_STEPS = 5
SEED = 1234
RMS_FLOOR = 1e-4
#: Tolerances against the golden output (relative L2 error of the waveform): the golden
#: is made on CPU by the reference cell; other CPU stacks differ by float rounding; other
#: devices get a looser bound (not measured here).
WAVE_TOL = 1e-3
ACCEL_WAVE_TOL = 5e-2
#: The URL constants of styletts2.tts that the loader fetches whatever the config says,
#: and the folder's file for each.
URL_OVERRIDES = {"F0_CHECKPOINT_URL": F0_CHECKPOINT, "BERT_CONFIG_URL": BERT_CONFIG,
                 "BERT_CHECKPOINT_URL": BERT_CHECKPOINT}

#: Calls of nltk.download made while the tiers ran (the import makes one).
NLTK_DOWNLOADS: list = []
#: The URL constants as the package has them, kept before the tiers move them.
ORIGINAL_URLS: dict = {}


def provide_nltk_data(folder: Path) -> str:
    """An untrained Punkt model where nltk looks first: ``punkt_tab`` (nltk >= 3.9: four
    files, empty parameters) and, for older nltk, ``punkt/english.pickle`` made by this
    nltk; returns what was written."""
    import nltk

    tab = folder / "tokenizers" / "punkt_tab" / "english"
    tab.mkdir(parents=True, exist_ok=True)
    for name in ("collocations.tab", "sent_starters.txt", "abbrev_types.txt",
                 "ortho_context.tab"):
        (tab / name).write_text("", encoding="utf-8")
    written = "punkt_tab (empty parameters)"
    from nltk.tokenize import punkt

    if not hasattr(punkt, "PunktTokenizer"):  # nltk < 3.9 loads a pickle (from PY3/)
        import pickle

        for where in ("punkt", "punkt/PY3"):
            old = folder / "tokenizers" / where
            old.mkdir(parents=True, exist_ok=True)
            with open(old / "english.pickle", "wb") as handle:
                pickle.dump(punkt.PunktSentenceTokenizer(), handle)
        written += " and punkt/PY3/english.pickle (untrained)"
    if str(folder) not in nltk.data.path:
        nltk.data.path.insert(0, str(folder))
    return written


def import_tts():
    """``styletts2.tts``, imported with ``nltk.download`` recording instead of fetching."""
    import nltk

    def record(*args: Any, **kwargs: Any) -> bool:
        NLTK_DOWNLOADS.append(args[0] if args else kwargs.get("info_or_id"))
        return False  # what nltk returns when a download fails

    nltk.download = record
    from styletts2 import tts

    for name in URL_OVERRIDES:
        ORIGINAL_URLS.setdefault(name, getattr(tts, name))
    return tts


@contextlib.contextmanager
def inside(folder: Path):
    """The config's sub-model paths are relative: load from inside the folder."""
    before = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


def point_urls_at(tts, model_dir: Path) -> None:
    for name, rel in URL_OVERRIDES.items():
        setattr(tts, name, str(model_dir / rel))


def load_model(model_dir: Path, device: str = "cpu"):
    """``StyleTTS2(model_checkpoint_path=, config_path=)`` on the folder's files, with the
    pitch model's and PL-BERT's URL constants pointed at the folder."""
    import torch

    tts = import_tts()
    point_urls_at(tts, model_dir)
    with inside(model_dir):
        model = tts.StyleTTS2(model_checkpoint_path=str(model_dir / CHECKPOINT),
                              config_path=str(model_dir / CONFIG))
    model.device = device
    for module in model.model.values():
        module.to(torch.device(device))
    return model


def urls_the_loader_asks_for(model_dir: Path) -> list:
    """Load with only the config's paths (no URL constant moved): the URLs the loader hands
    ``cached_path`` though the config names local files. The first one stops the load."""
    tts = import_tts()
    asked: list = []

    class Asked(Exception):
        pass

    def recording(url: Any, *args: Any, **kwargs: Any) -> Any:
        if Path(str(url)).exists():
            return url
        asked.append(str(url))
        raise Asked(str(url))

    saved = {name: getattr(tts, name) for name in ("cached_path", *URL_OVERRIDES)}
    tts.cached_path = recording
    for name in URL_OVERRIDES:
        setattr(tts, name, ORIGINAL_URLS[name])
    try:
        with inside(model_dir), contextlib.suppress(Asked):
            tts.StyleTTS2(model_checkpoint_path=str(model_dir / CHECKPOINT),
                          config_path=str(model_dir / CONFIG))
    finally:
        for name, value in saved.items():
            setattr(tts, name, value)
    return asked


def tokens(model, text: str) -> list:
    """The token ids ``inference`` gives the model for ``text`` (gruut, word_tokenize,
    TextCleaner, a leading 0), computed as it computes them."""
    from styletts2 import tts

    phonemes = model.phoneme_converter.phonemize(text.strip().replace('"', ""))
    ids = tts.TextCleaner()(" ".join(tts.word_tokenize(phonemes)))
    return [0, *ids]


@dataclass
class Synthesis:
    text: str
    wav: np.ndarray
    tokens: int
    seconds: float = 0.0

    @property
    def audio_seconds(self) -> float:
        return len(self.wav) / SAMPLE_RATE


def takes_ref_s(model) -> bool:
    """Whether this release's ``inference`` takes a precomputed style (``ref_s``: from
    0.1.5; 0.1.3 and 0.1.4 take the voice file only)."""
    import inspect

    return "ref_s" in inspect.signature(model.inference).parameters


def has_long_form(tts) -> bool:
    """Whether this release splits long text (``long_inference`` and ``segment_text``,
    from 0.1.6; before it ``inference`` takes at most PL-BERT's 512 positions)."""
    return hasattr(tts.StyleTTS2, "long_inference")


def synthesize(model, text: str = TEXT, voice: Path | None = None, ref_s: Any = None,
               seed: int = SEED, **kwargs: Any) -> Synthesis:
    """``inference`` under a fixed seed (the diffusion sampler and the decoder's source
    draw noise: seeded just before, the same call gives the same audio). ``ref_s`` is
    passed only when given: releases before 0.1.5 have no such argument."""
    import torch

    count = len(tokens(model, text))
    if ref_s is not None:
        kwargs["ref_s"] = ref_s
    torch.manual_seed(seed)
    started = time.perf_counter()
    wav = model.inference(text, target_voice_path=None if voice is None else str(voice),
                          diffusion_steps=DIFFUSION_STEPS, **kwargs)
    return Synthesis(text=text, wav=np.asarray(wav), tokens=count,
                     seconds=time.perf_counter() - started)


def audio_problems(wav: np.ndarray, token_count: int, max_dur: int, trim: int = TRIM
                   ) -> list:
    """Everything wrong with a synthesised waveform; empty when it is sound. Its length
    must fit the tokens: each lasts 1 to ``max_dur`` frames of 300 samples, less the
    ``trim`` samples inference cuts off."""
    problems = []
    if wav.ndim != 1:
        problems.append(f"expected 1-D audio, got shape {wav.shape}")
    if wav.dtype != np.float32:
        problems.append(f"expected float32 samples, got {wav.dtype}")
    if not np.isfinite(wav).all():
        problems.append(f"{int((~np.isfinite(wav)).sum())} non-finite samples")
    rms = float(np.sqrt(np.mean(np.square(wav, dtype=np.float64)))) if wav.size else 0.0
    if rms <= RMS_FLOOR:
        problems.append(f"silent: RMS {rms:.2e} <= {RMS_FLOOR}")
    shortest = token_count * FRAME - trim
    longest = token_count * max_dur * FRAME - trim
    if not shortest <= wav.size <= longest:
        problems.append(f"{wav.size} samples outside [{shortest}, {longest}] for "
                        f"{token_count} tokens of 1 to {max_dur} frames")
    return problems


def relative_error(a: np.ndarray, b: np.ndarray) -> float | None:
    if a.shape != b.shape:
        return None
    return float(np.linalg.norm(a.astype(np.float64) - b)
                 / max(float(np.linalg.norm(b.astype(np.float64))), 1e-12))


# -- golden ---------------------------------------------------------------------------------

def write_golden(folder: Path, synth: Synthesis, meta: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "waveform.npy", synth.wav.astype(np.float32))
    data = {**meta, "seed": SEED, "text": synth.text, "tokens": synth.tokens,
            "diffusion_steps": DIFFUSION_STEPS, "sample_rate": SAMPLE_RATE,
            "tolerance": {"waveform_rel_error": WAVE_TOL,
                          "accelerator_waveform_rel_error": ACCEL_WAVE_TOL}}
    (folder / "golden.json").write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n",
                                        encoding="utf-8")


def read_golden(folder: Path):
    data = json.loads((folder / "golden.json").read_text(encoding="utf-8"))
    return data, np.load(folder / "waveform.npy")


def agreement(synth: Synthesis, golden: dict, golden_wav: np.ndarray) -> dict:
    out: dict = {"tokens_equal": synth.tokens == golden["tokens"]}
    err = relative_error(synth.wav, golden_wav)
    out["waveform_rel_error"] = err
    if err is None:
        out["waveform_lengths"] = [int(synth.wav.size), int(golden_wav.size)]
    else:
        out["waveform_max_abs_diff"] = float(np.abs(synth.wav - golden_wav).max())
    return out


def divergence(agree: dict, device: str = "cpu") -> str | None:
    """Why an agreement is beyond tolerance, or None when it is within."""
    tol = WAVE_TOL if device == "cpu" else ACCEL_WAVE_TOL
    reasons = []
    if not agree["tokens_equal"]:
        reasons.append("the text's tokens (gruut's phonemes) differ from the golden's")
    err = agree["waveform_rel_error"]
    if err is None:
        reasons.append(f"waveform length differs: {agree.get('waveform_lengths')}")
    elif err > tol:
        reasons.append(f"waveform relative error {err:.3g} (tolerance {tol})")
    return "; ".join(reasons) or None


def versions() -> dict:
    from importlib import metadata

    found = {}
    for name in ("styletts2", "torch", "transformers", "numpy", "nltk", "gruut", "librosa"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[name] = metadata.version(name)
    return found
