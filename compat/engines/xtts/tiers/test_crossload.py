"""Tier crossload: checkpoints fine-tuned in other cells, loaded in this one.

Fine-tuners train on one stack and serve on another. Every cell's finetune tier leaves its
checkpoint (the trainer's format, reduced to what inference reads) with the synthesis it
gave on CPU; the harness lists the current ones (``COMPAT_SHARED_CHECKPOINT``, see
compat.result.artifacts). Here each is copied (never loaded in place: coqui-tts 0.28 rewrites a
legacy checkpoint when it loads it), loaded as users load a fine-tuned model
(``Xtts.load_checkpoint(checkpoint_path=...)``) and made to speak the same text from the
same reference speech; the result is compared with what the producing cell said: audio
codes equal, first-step logits and waveform within the golden tolerances.

One shell (``Xtts.init_from_config``) serves every producer: ``load_checkpoint`` itself
rebuilds the tokenizer, the speaker manager and every submodule (``init_models``) before
it loads the checkpoint strictly, so nothing of one producer's model reaches the next;
building a shell per producer cost about 0.2 s each and was the part of the tier that grew
with the selection for nothing (docs/measurements/2026-12-05-matrix-speed.md).

One test a producer, so the pair's outcome is its test's: a refusal fails it (and the
shim rounds try the shims that address it); a divergence is recorded as the pair's
(``pair``/``pair_divergence``), not the tier's, since either stack of the pair may be the
one that moved.
"""

import json
import os
import shutil
from pathlib import Path

import pytest

import xtts_run
from compat.incell.tiersupport import sha256

pytestmark = pytest.mark.tier("crossload")


def producers():
    return json.loads(os.environ.get("COMPAT_SHARED_CHECKPOINT") or "[]")


def pytest_generate_tests(metafunc):
    if "producer" in metafunc.fixturenames:
        found = producers()
        metafunc.parametrize("producer", found or [None],
                             ids=[p["cell"] for p in found] or ["none"])


@pytest.fixture(scope="module")
def shell(xtts_config):
    """The model every producer's checkpoint is loaded into (see the module's docstring)."""
    from TTS.tts.models.xtts import Xtts

    return Xtts.init_from_config(xtts_config)


def test_loads_checkpoint_trained_elsewhere(producer, model_dir, xtts_config, shell, tmp_path,
                                            record_property):
    if producer is None:
        pytest.skip("no other cell has left a fine-tuned checkpoint yet (each cell's "
                    "finetune tier leaves one): run them, and this tier runs again")
    source = Path(producer["dir"])
    record_property("trained_with", producer["cell"])
    record_property("trained_versions", producer.get("versions", {}))
    original = source / "model.pth"
    before = sha256(original)
    assert before == producer["files"].get("model.pth"), (
        f"{original} changed since its cell left it; rerun {producer['cell']}")
    copy = tmp_path / "model.pth"
    shutil.copyfile(original, copy)
    model = shell
    model.load_checkpoint(xtts_config, checkpoint_path=str(copy),
                          vocab_path=str(model_dir / "vocab.json"),
                          speaker_file_path=str(model_dir / "speakers_xtts.pth"), eval=True)
    record_property("copy_rewritten_on_load", sha256(copy) != before)
    assert sha256(original) == before, f"loading a copy changed {original}"
    synth = xtts_run.synthesize(model, xtts_run.TEXT, *xtts_run.conditioning(model, model_dir))
    problems = xtts_run.audio_problems(synth.wav, xtts_config.model_args.gpt_max_audio_tokens,
                                       xtts_run.TEXT)
    assert not problems, "; ".join(problems)
    said, said_wav = xtts_run.read_golden(source)
    agree = xtts_run.agreement(synth, said, said_wav)
    for key, value in agree.items():
        record_property(f"pair_{key}", value)
    why = xtts_run.divergence(agree)
    record_property("pair", "diverges" if why else "agrees")
    if why:
        record_property("pair_divergence", why)
