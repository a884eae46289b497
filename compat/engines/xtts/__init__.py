"""Coqui XTTS v2, from the original ``TTS`` (0.21.x, 0.22.0) and the ``coqui-tts`` fork."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from compat.engines.base import Engine, Figure, FixtureSpec, Line, Tier
from compat.incell import bundled

store = bundled.module("fixtures", "store")
manifest = bundled.module("fixtures", "manifest")
FixtureError, sha256, verify = manifest.FixtureError, manifest.sha256, manifest.verify

GOLDEN_ROOT = bundled.folder("fixtures") / "golden"

#: The canonical fixture is built where the released checkpoint's classes live at the
#: release's module paths: the release-era stack of the original line.
FIXTURE = FixtureSpec(
    reference=dict(id="tts0.22.0-torch2.1.2-tf4.35.2-py3.11", python="3.11", tts="TTS==0.22.0",
                   torch="2.1.2", transformers="4.35.2", pins=(("torchaudio", "2.1.2"),),
                   engine="xtts", source="compat/engines/xtts (the reference cell)"),
    builder=f"{bundled.package_name('fixtures')}.build_xtts",
    folder=store.canonical_dir,
    verify=verify,
)


#: Every input of a synthesis: the golden output is keyed to their hashes, and a cell
#: whose inputs differ is ``unverified`` (naming the file), never silently ``pass``.
GOLDEN_INPUTS = ("model.pth", "config.json", "vocab.json", "speakers_xtts.pth", "reference.wav")


def prepare(work_dir: Path) -> Mapping[str, str]:
    """Give the cell its own copy of the model: the real one (XTTS_MODEL_DIR) or the
    cached tiny fixture. A released XTTS-v2 folder has no reference speech and no
    dataset: those come from the committed ones, and the result says so. A problem is
    passed on to the tiers, which fail naming it."""
    dest = work_dir / "model"
    real = store.real_model_dir()
    try:
        if real is not None:
            store.check_real_model(real)
            source, kind = real, "real"
        else:
            source, kind = store.cached_fixture(), "tiny-fixture"
        store.hand_out(source, dest)
        borrowed = store.borrow_voice(dest)
        inputs = {name: sha256(dest / name) for name in GOLDEN_INPUTS if (dest / name).is_file()}
    except (FixtureError, OSError) as exc:
        return {"XTTS_FIXTURE_ERROR": str(exc)}
    return {"XTTS_FIXTURE_DIR": str(dest), "XTTS_FIXTURE_SOURCE": str(source),
            "XTTS_FIXTURE_KIND": kind, "XTTS_FIXTURE_BORROWED": ",".join(borrowed),
            "XTTS_GOLDEN_DIR": str(golden_dir(store.canonical_dir())),
            "XTTS_GOLDEN_INPUTS": json.dumps(inputs, sort_keys=True)}


def model_identity() -> Mapping[str, str]:
    """The model the tiers will load: a real folder (by path) or the tiny fixture."""
    real = store.real_model_dir()
    return {"model": f"real:{real.resolve()}" if real else store.canonical_dir().name}


def golden_dir(fixture: Path) -> Path:
    """The committed golden output for a fixture (same builder version and seed)."""
    return GOLDEN_ROOT / fixture.name


ENGINE = Engine(
    name="xtts",
    title="XTTS v2",
    # The fork first: its dependencies never bring the original, but an environment that
    # moved to the fork may still hold the original's metadata.
    lines=(
        Line("original", "TTS", "Original `TTS` (0.21.x, 0.22.0)", "tts",
             explore=("0.21.0", "0.22.0"), explore_highest_only=True),
        Line("fork", "coqui-tts", "Fork `coqui-tts` (0.22.1+)", "coqui",
             explore=("0.22.1", None)),
    ),
    tiers=(
        Tier("import", description="import TTS, the Xtts model class and the TTS API"),
        Tier("load", needs=("import",),
             description="a fresh copy of the model through Xtts.load_checkpoint and TTS.api"),
        Tier("synth", needs=("load",),
             description="inference judged on the audio and against the golden output"),
        Tier("stream", needs=("synth",),
             description="inference_stream: several sound chunks, agreeing with synth"),
        Tier("longform", needs=("synth",),
             description="1,000 and 3,000 characters through both splitters; the limit"),
        Tier("finetune", needs=("load",),
             description="GPTTrainer steps on the fixture's dataset; the checkpoint kept"),
        Tier("crossload", needs=("import",), of_pairs=True,
             description="checkpoints other cells fine-tuned, loaded here and compared"),
        Tier("bench", needs=("synth",),
             description="load time, synthesis RTF, stream first chunk, memory"),
    ),
    tier_dir=Path(__file__).parent / "tiers",
    prepare=prepare,
    fixture=FIXTURE,
    golden_dir=golden_dir,
    model_identity=model_identity,
    # torchaudio >= 2.9 reads audio through torchcodec (coqui-tts 0.27+), which loads
    # FFmpeg's shared libraries at run time.
    host_prerequisites={"ffmpeg": ("torchcodec",)},
    watched=("coqui-tts-trainer", "trainer", "torch", "torchaudio", "torchcodec",
             "transformers", "tokenizers", "numpy", "scipy", "librosa", "soundfile",
             "huggingface-hub", "accelerate", "six", "click", "spacy"),
    # Spreads: max/min over six runs of the release-era cell, one after another, nothing
    # else running (docs/gate.md); the fine-tune step (11-13 ms) is timed to the ms.
    figures=(
        Figure("load_s", "load time", test="test_bench_load"),
        Figure("load_best_s", "load time", test="test_bench_load", stat="min_s"),
        Figure("rtf", "real-time factor", test="test_bench_synth", stat="rtf"),
        Figure("synth_s", "synthesis", test="test_bench_synth"),
        Figure("synth_best_s_per_audio_s", "synthesis time per audio second",
               test="test_bench_synth", stat="min_s_per_audio_s"),
        Figure("first_chunk_s", "stream first chunk", test="test_bench_stream_first_chunk"),
        Figure("finetune_step_s", "fine-tune step", prop="step_forward_seconds",
               tier="finetune"),
        Figure("finetune_step_best_s", "fine-tune step", prop="step_forward_seconds",
               reduce="min", tier="finetune"),
    ),
    golden_properties={"golden_first_logits_max_abs_diff": "logits_max_abs_diff",
                       "golden_waveform_rel_error": "waveform_rel_error",
                       "golden_codes_equal": "codes_equal"},
    # The finetune tier's checkpoint, loaded by every other cell's crossload tier.
    shares={"checkpoint": "crossload"},
    explore_file="explore.toml",  # the first exploration file, named before Kokoro had one
    cell_env={"COQUI_TOS_AGREED": "1",
              "TRAINER_TELEMETRY": "0"},  # the coqui trainer pings a tracker otherwise
)
