"""StyleTTS2 (``styletts2`` on PyPI, sidharthrajaram's packaging of yl4579/StyleTTS2),
driven through ``StyleTTS2(model_checkpoint_path=, config_path=)`` and its ``inference``
(text -> gruut phonemes -> 24 kHz audio, cloning a voice from a WAV file or a style).

Tiers: import, load, synth, longform, bench. There is no ``stream`` tier (the package has
no streaming API) and no ``finetune`` tier (it ships inference only: training lives in
the upstream repository's scripts, not in the package).

Offline: the package reaches for the network in three places, and the tiers give it
local files instead, each recorded (``tiers/styletts2_run.py``): ``nltk.download`` at
import, nltk's tokenizer data at synthesis, and the pitch model and PL-BERT, which the
loader fetches from URL constants whatever the config says (two loader bugs, entries of
the knowledge base). A cell that reaches the network anyway fails as every cell does
(the tier plugin's guard).

``STYLETTS2_MODEL_DIR`` is not offered: a released StyleTTS2 folder (the LibriTTS
checkpoint and the upstream repository's Utils/) pickles objects that the weights-only
loader refuses on torch >= 2.6, which is the knowledge base's to explain, not the tiny
fixture's to show.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from compat.engines.base import Engine, Figure, FixtureSpec, Line, Tier
from compat.incell import bundled

store = bundled.module("fixtures", "store")
manifest = bundled.module("fixtures", "manifest")
build_styletts2 = bundled.module("fixtures", "build_styletts2")
canonical_dir = build_styletts2.canonical_dir
FixtureError, sha256, verify = manifest.FixtureError, manifest.sha256, manifest.verify

GOLDEN_ROOT = bundled.folder("fixtures") / "golden"

#: The reference: styletts2 0.1.6 (its last release) with what its pins allow today:
#: transformers at its cap (huggingface-hub < 0.20), numpy 1 (langchain 0.1).
FIXTURE = FixtureSpec(
    reference=dict(id="styletts20.1.6-torch2.9.1-tf4.40.2-py3.11", python="3.11",
                   tts="styletts2==0.1.6", torch="2.9.1", transformers="4.40.2",
                   pins=(("torchaudio", "2.9.1"), ("numpy", "1.26.4"), ("nltk", "3.10.4")),
                   engine="styletts2", tags=("styletts2", "golden"),
                   source="compat/engines/styletts2 (the reference cell)"),
    builder=f"{bundled.package_name('fixtures')}.build_styletts2",
    folder=canonical_dir,
    verify=verify,
)


def prepare(work_dir: Path) -> Mapping[str, str]:
    """Give the cell its own copy of the cached tiny fixture. A problem is passed on to
    the tiers, which fail naming it."""
    dest = work_dir / "styletts2-model"
    source = canonical_dir()
    try:
        if not source.is_dir():
            raise FixtureError(f"{source}: no StyleTTS2 fixture built yet; run "
                               "`nox -s \"fixtures(engine='styletts2')\"`")
        files = verify(source)["files"]
        store.hand_out(source, dest)
        inputs = {name: sha256(dest / name) for name in sorted(files)}
    except (FixtureError, OSError) as exc:
        return {"STYLETTS2_FIXTURE_ERROR": str(exc)}
    return {"STYLETTS2_FIXTURE_DIR": str(dest), "STYLETTS2_FIXTURE_SOURCE": str(source),
            "STYLETTS2_FIXTURE_KIND": "tiny-fixture",
            "STYLETTS2_GOLDEN_DIR": str(golden_dir(canonical_dir())),
            "STYLETTS2_GOLDEN_INPUTS": json.dumps(inputs, sort_keys=True)}


def model_identity() -> Mapping[str, str]:
    return {"model": canonical_dir().name}


def golden_dir(fixture: Path) -> Path:
    """The committed golden output for a fixture (same builder version and seed)."""
    return GOLDEN_ROOT / fixture.name


ENGINE = Engine(
    name="styletts2",
    title="StyleTTS2",
    lines=(Line("styletts2", "styletts2", "`styletts2` (0.1.x)", "styletts2",
                explore=("0.1.0", None)),),
    tiers=(
        Tier("import", description="from styletts2 import tts (its nltk.download recorded), "
                                   "the model's modules, gruut and nltk's tokenizer"),
        Tier("load", needs=("import",),
             description="StyleTTS2(model_checkpoint_path=, config_path=) on a fresh copy; "
                         "every tensor equal to the saved one; what the loader still fetches"),
        Tier("synth", needs=("load",),
             description="text through inference() cloning the fixture's voice, judged on "
                         "the audio and against the golden output"),
        Tier("longform", needs=("synth",),
             description="a text past 420 characters through long_inference: every segment "
                         "spoken, in order"),
        Tier("bench", needs=("synth",),
             description="load time, synthesis RTF, memory"),
    ),
    tier_dir=Path(__file__).parent / "tiers",
    prepare=prepare,
    fixture=FIXTURE,
    golden_dir=golden_dir,
    model_identity=model_identity,
    # langchain 0.1 holds numpy below 2, and huggingface-hub < 0.20 holds transformers at
    # 4.40: both decide a stack as much as torch does.
    explore_axes=("numpy", "nltk"),
    watched=("torch", "torchaudio", "transformers", "huggingface-hub", "numpy", "nltk",
             "langchain", "gruut", "librosa", "cached-path", "accelerate"),
    figures=(
        Figure("load_s", "load time", test="test_bench_load"),
        Figure("load_best_s", "load time", test="test_bench_load", stat="min_s"),
        Figure("rtf", "real-time factor", test="test_bench_synth", stat="rtf"),
        Figure("synth_s", "synthesis", test="test_bench_synth"),
        Figure("synth_best_s_per_audio_s", "synthesis time per audio second",
               test="test_bench_synth", stat="min_s_per_audio_s"),
    ),
    golden_properties={"golden_waveform_rel_error": "waveform_rel_error",
                       "golden_waveform_max_abs_diff": "waveform_max_abs_diff",
                       "golden_tokens_equal": "tokens_equal"},
)
