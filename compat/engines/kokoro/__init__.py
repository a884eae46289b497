"""Kokoro (``kokoro`` on PyPI, hexgrad/Kokoro-82M): a StyleTTS2-style model with an
iSTFTNet decoder, driven through ``KModel`` (phonemes -> 24 kHz audio) and ``KPipeline``
(text -> phonemes through misaki's G2P -> audio, chunk by chunk).

Tiers: import, load, synth, stream, bench. There is no ``finetune`` tier: fine-tuning is
not part of Kokoro's public API (the package ships inference only: KModel, KPipeline; no
trainer, loss or training entry point), so there is nothing of Kokoro's own to test there.

Offline: the tiers drive the espeak-backed Spanish pipeline (``lang_code='e'``): misaki's
``EspeakG2P`` over the espeak-ng library and data that the ``espeakng-loader`` wheel ships.
English (``lang_code='a'``/``'b'``) is not driven through text: misaki's English G2P loads
spaCy's ``en_core_web_sm`` and, when it is not installed, downloads it at run time
(``spacy.cli.download``, a pip install from GitHub); offline, English needs that model
installed beforehand (``pip install en_core_web_sm`` from its wheel). English phonemes
given to ``KModel`` directly need nothing of that, and the synth tier does that.

``KOKORO_MODEL_DIR`` swaps in a real Kokoro folder (config.json, kokoro-v1_0.pth,
voices/*.pt) for the tiny fixture.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from compat.engines.base import Engine, Figure, FixtureSpec, Line, Tier
from compat.incell import bundled

store = bundled.module("fixtures", "store")
manifest = bundled.module("fixtures", "manifest")
build_kokoro = bundled.module("fixtures", "build_kokoro")
CHECKPOINT, VOICES, canonical_dir = (build_kokoro.CHECKPOINT, build_kokoro.VOICES,
                                     build_kokoro.canonical_dir)
FixtureError, sha256, verify = manifest.FixtureError, manifest.sha256, manifest.verify

GOLDEN_ROOT = bundled.folder("fixtures") / "golden"
#: Every input of a synthesis besides the voices: the golden output is keyed to their
#: hashes (and the voices'), and a cell whose inputs differ is ``unverified``.
MODEL_FILES = ("config.json", CHECKPOINT)

#: The canonical fixture is built, and the golden output made, on the newest release
#: with the stack it was measured on.
FIXTURE = FixtureSpec(
    reference=dict(id="kokoro0.9.4-torch2.9.1-tf5.24.0-py3.11", python="3.11",
                   tts="kokoro==0.9.4", torch="2.9.1", transformers="5.24.0",
                   pins=(("numpy", "2.4.6"), ("misaki", "0.9.4")), engine="kokoro",
                   tags=("kokoro", "golden"),
                   source="compat/engines/kokoro (the reference cell)"),
    builder=f"{bundled.package_name('fixtures')}.build_kokoro",
    folder=canonical_dir,
    verify=verify,
)


def real_model_dir() -> Path | None:
    value = os.environ.get("KOKORO_MODEL_DIR")
    return Path(value).expanduser() if value else None


def check_real_model(folder: Path) -> list[str]:
    """A real Kokoro folder: config.json, the checkpoint and at least two voices; return
    the voices the tiers use (Spanish ones first, which the tiers' pipeline speaks)."""
    if not folder.is_dir():
        raise FixtureError(f"{folder}: KOKORO_MODEL_DIR is not a folder")
    for name in MODEL_FILES:
        path = folder / name
        if not path.is_file() or path.stat().st_size == 0:
            raise FixtureError(f"{path}: missing or empty in the Kokoro folder")
    try:
        json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except ValueError as exc:
        raise FixtureError(f"{folder / 'config.json'}: invalid JSON ({exc})") from None
    voices = sorted(p.stem for p in (folder / "voices").glob("*.pt"))
    voices.sort(key=lambda name: not name.startswith("e"))
    if len(voices) < 2:
        raise FixtureError(f"{folder / 'voices'}: the tiers need two voices (*.pt), "
                           f"found {len(voices)}")
    if (folder / "manifest.json").exists():
        verify(folder)
    return voices[:2]


def prepare(work_dir: Path) -> Mapping[str, str]:
    """Give the cell its own copy of the model: the real one (KOKORO_MODEL_DIR) or the
    cached tiny fixture. A problem is passed on to the tiers, which fail naming it."""
    dest = work_dir / "kokoro-model"
    real = real_model_dir()
    try:
        if real is not None:
            voices = check_real_model(real)
            source, kind = real, "real"
        else:
            source = canonical_dir()
            if not source.is_dir():
                raise FixtureError(f"{source}: no Kokoro fixture built yet; run "
                                   "`nox -s \"fixtures(engine='kokoro')\"`")
            verify(source)
            voices, kind = list(VOICES), "tiny-fixture"
        store.hand_out(source, dest)
        inputs = {name: sha256(dest / name) for name in MODEL_FILES}
        inputs.update({f"voices/{v}.pt": sha256(dest / "voices" / f"{v}.pt") for v in voices})
    except (FixtureError, OSError) as exc:
        return {"KOKORO_FIXTURE_ERROR": str(exc)}
    return {"KOKORO_FIXTURE_DIR": str(dest), "KOKORO_FIXTURE_SOURCE": str(source),
            "KOKORO_FIXTURE_KIND": kind, "KOKORO_VOICES": ",".join(voices),
            "KOKORO_GOLDEN_DIR": str(golden_dir(canonical_dir())),
            "KOKORO_GOLDEN_INPUTS": json.dumps(inputs, sort_keys=True)}


def model_identity() -> Mapping[str, str]:
    """The model the tiers will load: a real folder (by path) or the tiny fixture."""
    real = real_model_dir()
    return {"model": f"real:{real.resolve()}" if real else canonical_dir().name}


def golden_dir(fixture: Path) -> Path:
    """The committed golden output for a fixture (same builder version and seed)."""
    return GOLDEN_ROOT / fixture.name


ENGINE = Engine(
    name="kokoro",
    title="Kokoro",
    lines=(Line("kokoro", "kokoro", "`kokoro` (hexgrad, 0.7.x to 0.9.x)", "kokoro",
                explore=("0.7.0", None)),),
    tiers=(
        Tier("import", description="import kokoro, KModel and KPipeline, and misaki's G2P"),
        Tier("load", needs=("import",),
             description="a fresh copy of the model through KModel(config=, model=) and "
                         "KPipeline(lang_code='e', model=); every tensor equal to the saved one"),
        Tier("synth", needs=("load",),
             description="English phonemes through KModel and Spanish text through "
                         "KPipeline, judged on the audio and against the golden output"),
        Tier("stream", needs=("synth",),
             description="KPipeline's generator: several sound chunks, each equal to "
                         "synthesising its phonemes alone"),
        # No finetune tier: fine-tuning is not part of Kokoro's public API.
        Tier("bench", needs=("synth",),
             description="load time, synthesis RTF, first chunk latency, memory"),
    ),
    tier_dir=Path(__file__).parent / "tiers",
    prepare=prepare,
    fixture=FIXTURE,
    golden_dir=golden_dir,
    model_identity=model_identity,
    # numpy 1 or 2 and misaki (its G2P, released apart) decide as much as torch does.
    explore_axes=("numpy", "misaki"),
    watched=("misaki", "torch", "transformers", "numpy", "huggingface-hub", "loguru",
             "spacy", "phonemizer-fork", "espeakng-loader", "num2words"),
    figures=(
        Figure("load_s", "load time", test="test_bench_load"),
        Figure("load_best_s", "load time", test="test_bench_load", stat="min_s"),
        Figure("rtf", "real-time factor", test="test_bench_synth", stat="rtf"),
        Figure("synth_s", "synthesis", test="test_bench_synth"),
        Figure("synth_best_s_per_audio_s", "synthesis time per audio second",
               test="test_bench_synth", stat="min_s_per_audio_s"),
        Figure("first_chunk_s", "stream first chunk", test="test_bench_stream_first_chunk"),
    ),
    golden_properties={"golden_waveform_rel_error": "waveform_rel_error",
                       "golden_waveform_max_abs_diff": "waveform_max_abs_diff",
                       "golden_durations_equal": "durations_equal"},
)
