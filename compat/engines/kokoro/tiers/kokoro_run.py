"""Driving Kokoro inside a cell: load, synthesise (phonemes through KModel, text through
KPipeline), judge the audio, compare with the golden output.

Runs in the cell's environment: stdlib, numpy, torch and kokoro; Python 3.9 syntax.

What English needs offline: misaki's English G2P (``KPipeline(lang_code='a'|'b')``) loads
spaCy's ``en_core_web_sm`` and downloads it at run time when it is missing
(``spacy.cli.download``: a pip install from GitHub). The tiers never construct it: English
is given to ``KModel`` as phonemes (misaki's notation), and text goes through the
espeak-backed Spanish pipeline (``lang_code='e'``), whose espeak-ng library and data come
in the ``espeakng-loader`` wheel. The import tier records whether ``en_core_web_sm`` is
installed in the cell.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: The prefix of the variables the harness sets for this engine (compat.incell.tiersupport)
#: and the command that makes the golden output again.
PREFIX = "KOKORO"
GOLDEN_REMAKE = "nox -s \"golden(engine='kokoro')\""

REPO_ID = "hexgrad/Kokoro-82M"
CHECKPOINT = "kokoro-v1_0.pth"
SAMPLE_RATE = 24000
#: Samples per predicted duration frame (KPipeline.join_timestamps: 600 at 24 kHz).
FRAME = 600
#: The espeak-backed language the pipeline speaks (no spaCy, no download).
LANG = "e"
#: English in misaki's phoneme notation, given to KModel directly.
PHONEMES = "həlˈO wˈɜɹld."
OTHER_PHONEMES = "ə tˈɛst."
#: Spanish text for the pipeline; the stream text has three lines, so three chunks.
TEXT = "Hola."
STREAM_TEXT = "Hola mundo.\nEsto es una prueba.\nAdiós, hasta luego."
SEED = 1234
RMS_FLOOR = 1e-4
#: Tolerances against the golden output (relative L2 error of the waveform). The golden is
#: made on CPU by the reference cell; other CPU stacks differ by float rounding in
#: convolutions, LSTMs and the STFT (measured: see README of the golden folder); other
#: devices get a looser bound (not measured here: no GPU in this workplace).
WAVE_TOL = 1e-3
ACCEL_WAVE_TOL = 5e-2
#: A streamed chunk against the same phonemes synthesised alone: the same computation.
CHUNK_TOL = 1e-5


def accepts(func: Any, name: str) -> bool:
    """True when ``func`` takes a keyword ``name`` (``repo_id`` arrived in kokoro 0.8)."""
    try:
        return name in inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False


def load_model(model_dir: Path, device: str = "cpu"):
    """KModel from the folder's config.json and checkpoint: nothing is downloaded."""
    from kokoro import KModel

    kwargs: dict[str, Any] = {"config": str(model_dir / "config.json"),
                              "model": str(model_dir / CHECKPOINT)}
    if accepts(KModel.__init__, "repo_id"):
        kwargs["repo_id"] = REPO_ID
    return KModel(**kwargs).to(device).eval()


def make_pipeline(model, lang: str = LANG):
    from kokoro import KPipeline

    kwargs: dict[str, Any] = {"lang_code": lang, "model": model}
    if accepts(KPipeline.__init__, "repo_id"):
        kwargs["repo_id"] = REPO_ID
    return KPipeline(**kwargs)


def voice_file(model_dir: Path, name: str) -> Path:
    return model_dir / "voices" / f"{name}.pt"


def load_voice(model_dir: Path, name: str):
    import torch

    return torch.load(str(voice_file(model_dir, name)), map_location="cpu", weights_only=True)


def to_numpy(audio) -> np.ndarray:
    """The audio as a 1-D float32 array (``Tensor.numpy``: what soundfile users call)."""
    return audio.detach().cpu().float().reshape(-1).numpy()


@dataclass
class Synthesis:
    phonemes: str
    wav: np.ndarray
    durations: list[int] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def audio_seconds(self) -> float:
        return len(self.wav) / SAMPLE_RATE


def synthesize(model, phonemes: str, pack, seed: int = SEED, speed: float = 1.0) -> Synthesis:
    """``KModel(phonemes, ref_s)`` with the voice row KPipeline picks (``len(ps) - 1``)."""
    import torch

    torch.manual_seed(seed)
    started = time.perf_counter()
    out = model(phonemes, pack[len(phonemes) - 1], speed, return_output=True)
    seconds = time.perf_counter() - started
    durations = out.pred_dur.reshape(-1).tolist() if out.pred_dur is not None else []
    return Synthesis(phonemes=phonemes, wav=to_numpy(out.audio), durations=durations,
                     seconds=seconds)


@dataclass
class Chunk:
    graphemes: str
    phonemes: Any
    wav: np.ndarray | None
    durations: list[int]
    at_seconds: float


def run_pipeline(pipeline, text: str, voice: Path, seed: int = SEED) -> list[Chunk]:
    """Every result KPipeline's generator yields for ``text``, with when it came."""
    import torch

    torch.manual_seed(seed)
    chunks = []
    started = time.perf_counter()
    for result in pipeline(text, voice=str(voice)):
        audio = result.audio
        pred = result.pred_dur if hasattr(result, "pred_dur") else None
        chunks.append(Chunk(graphemes=result.graphemes, phonemes=result.phonemes,
                            wav=None if audio is None else to_numpy(audio),
                            durations=[] if pred is None else pred.reshape(-1).tolist(),
                            at_seconds=time.perf_counter() - started))
    return chunks


def audio_problems(wav: np.ndarray, phonemes: Any, max_dur: int, speed: float = 1.0
                   ) -> list[str]:
    """Everything wrong with a synthesised waveform; empty when it is sound. Its length
    must fit the phonemes: every token (and the two boundary tokens) lasts 1 to
    ``max_dur`` frames of 600 samples (at speed 1)."""
    problems = []
    if not isinstance(phonemes, str):
        problems.append(f"phonemes are a {type(phonemes).__name__}, not a string: "
                        f"{phonemes!r:.120}")
        phonemes = str(phonemes)
    if wav.ndim != 1:
        problems.append(f"expected 1-D audio, got shape {wav.shape}")
    if not np.issubdtype(wav.dtype, np.floating):
        problems.append(f"expected float samples, got {wav.dtype}")
    if not np.isfinite(wav).all():
        problems.append(f"{int((~np.isfinite(wav)).sum())} non-finite samples")
    rms = float(np.sqrt(np.mean(np.square(wav, dtype=np.float64)))) if wav.size else 0.0
    if rms <= RMS_FLOOR:
        problems.append(f"silent: RMS {rms:.2e} <= {RMS_FLOOR}")
    tokens = len(phonemes) + 2
    shortest = tokens * FRAME / speed / SAMPLE_RATE * 0.5
    longest = tokens * max_dur * FRAME / speed / SAMPLE_RATE * 1.5 + 0.1
    seconds = wav.size / SAMPLE_RATE
    if not shortest <= seconds <= longest:
        problems.append(f"length {seconds:.2f} s outside [{shortest:.2f}, {longest:.1f}] s "
                        f"for {tokens} tokens")
    return problems


def relative_error(a: np.ndarray, b: np.ndarray) -> float | None:
    if a.shape != b.shape:
        return None
    return float(np.linalg.norm(a - b) / max(float(np.linalg.norm(b)), 1e-12))


# -- golden ---------------------------------------------------------------------------------

def write_golden(folder: Path, synth: Synthesis, chunks: list[Chunk], voice: str,
                 meta: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "waveform.npy", synth.wav.astype(np.float32))
    pipeline_wav = np.concatenate([c.wav for c in chunks if c.wav is not None])
    np.save(folder / "pipeline.npy", pipeline_wav.astype(np.float32))
    data = {**meta, "seed": SEED, "voice": voice, "sample_rate": SAMPLE_RATE,
            "phonemes": synth.phonemes, "durations": synth.durations,
            "pipeline": {"lang_code": LANG, "text": TEXT,
                         "phonemes": [c.phonemes for c in chunks],
                         "durations": [c.durations for c in chunks]},
            "tolerance": {"waveform_rel_error": WAVE_TOL,
                          "accelerator_waveform_rel_error": ACCEL_WAVE_TOL}}
    (folder / "golden.json").write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n",
                                        encoding="utf-8")


def read_golden(folder: Path):
    data = json.loads((folder / "golden.json").read_text(encoding="utf-8"))
    return data, np.load(folder / "waveform.npy"), np.load(folder / "pipeline.npy")


def agreement(synth: Synthesis, chunks: list[Chunk], golden: dict[str, Any],
              golden_wav: np.ndarray, golden_pipeline: np.ndarray) -> dict[str, Any]:
    """How closely this cell's syntheses match the golden: the predicted durations, the
    waveform of the phonemes, and the pipeline's phonemes and waveform."""
    out: dict[str, Any] = {"durations_equal": synth.durations == golden["durations"]}
    err = relative_error(synth.wav, golden_wav)
    out["waveform_rel_error"] = err
    if err is None:
        out["waveform_lengths"] = [int(synth.wav.size), int(golden_wav.size)]
    else:
        out["waveform_max_abs_diff"] = float(np.abs(synth.wav - golden_wav).max())
    phonemes = [c.phonemes for c in chunks]
    out["pipeline_phonemes"] = phonemes
    out["pipeline_phonemes_equal"] = phonemes == golden["pipeline"]["phonemes"]
    if out["pipeline_phonemes_equal"] and all(c.wav is not None for c in chunks):
        wav = np.concatenate([c.wav for c in chunks])
        out["pipeline_waveform_rel_error"] = relative_error(wav, golden_pipeline)
    return out


def divergence(agree: dict[str, Any], golden: dict[str, Any], device: str = "cpu"
               ) -> str | None:
    """Why an agreement is beyond tolerance, or None when it is within."""
    tol = WAVE_TOL if device == "cpu" else ACCEL_WAVE_TOL
    reasons = []
    if not agree["durations_equal"]:
        reasons.append("predicted durations differ from the golden's")
    err = agree["waveform_rel_error"]
    if err is None:
        reasons.append(f"waveform length differs: {agree.get('waveform_lengths')}")
    elif err > tol:
        reasons.append(f"waveform relative error {err:.3g} (tolerance {tol})")
    if not agree["pipeline_phonemes_equal"]:
        reasons.append(f"the '{LANG}' pipeline's G2P gave {agree['pipeline_phonemes']!r}, the "
                       f"golden {golden['pipeline']['phonemes']!r}")
    else:
        perr = agree.get("pipeline_waveform_rel_error")
        if perr is None:
            reasons.append("the pipeline's waveform length differs from the golden's")
        elif perr > tol:
            reasons.append(f"pipeline waveform relative error {perr:.3g} (tolerance {tol})")
    return "; ".join(reasons) or None


def versions() -> dict[str, str]:
    from importlib import metadata

    found = {}
    for name in ("kokoro", "misaki", "torch", "transformers", "numpy", "espeakng-loader",
                 "phonemizer-fork"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[name] = metadata.version(name)
    return found
