"""From transformers 4.52.1 ``PreTrainedModel`` no longer inherits ``GenerationMixin``,
and ``TTS`` 0.22.0's ``GPT2InferenceModel`` relied on it for ``generate``.

Error::

    AttributeError: 'GPT2InferenceModel' object has no attribute 'generate'

Boundary: transformers 4.50 warns ("GPT2InferenceModel has generative capabilities, as
`prepare_inputs_for_generation` is explicitly overwritten. However, it doesn't directly
inherit from `GenerationMixin`"); 4.52.1 removes it, and the shim applies from there (the
same boundary as the knowledge base's ``generate-removed``; a test compares them). The
fork inherits the mixin itself from coqui-tts 0.27.0.

This shim gives ``GPT2InferenceModel`` the mixin, and nothing else. On its own it is the
popular fix, and it is not enough: the first generation step then gets an empty cache and
drops the conditioning prefix (see ``patches.dropped_prefix``); the synth tier's golden
and conditioning checks show that as ``diverged``.

Reference: https://github.com/idiap/coqui-ai-TTS/issues/400
"""

from __future__ import annotations

from packaging.version import Version

from . import _hooks, _versions
from ._shim import Shim

TARGET = "TTS.tts.layers.xtts.gpt_inference"


def applies() -> bool:
    transformers = _versions.version("transformers")
    return bool(_versions.legacy_tts() and transformers and transformers >= Version("4.52.1"))


def _mix_in(module) -> None:
    from transformers import GenerationMixin

    cls = module.GPT2InferenceModel
    if not issubclass(cls, GenerationMixin):
        cls.__bases__ = (*cls.__bases__, GenerationMixin)


MEND = _hooks.Mend(TARGET, _mix_in)


SHIM = Shim(
    name="generation_mixin",
    tiers=("synth", "stream", "finetune", "bench"),
    applies=applies, apply=MEND.apply, active=MEND.active,
)
