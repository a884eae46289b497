"""``TTS`` 0.22.0's fine-tune path imports ``LogitsWarper`` from transformers' top level
(``TTS/tts/layers/tortoise/arch_utils.py``, reached through ``GPTTrainer``); transformers
folded the warpers into ``LogitsProcessor`` and dropped the name.

Error::

    ImportError: cannot import name 'LogitsWarper' from 'transformers'

Boundary: transformers 4.49.0 (4.48.x still exports it; measured here from the released
wheels' ``__init__.py`` and in the 4.51.3 and 4.57.3 cells, whose finetune tier fails
with exactly this). Inference does not touch that module.

The fix binds ``LogitsWarper`` to ``LogitsProcessor`` (the warpers' common base now, same
call signature) on the transformers module right before ``arch_utils`` runs.

Reference: https://github.com/huggingface/transformers/releases/tag/v4.49.0
"""

from __future__ import annotations

import sys

from packaging.version import Version

from . import _hooks, _versions
from ._shim import Shim

TARGET = "TTS.tts.layers.tortoise.arch_utils"


def applies() -> bool:
    transformers = _versions.version("transformers")
    return bool(_versions.legacy_tts() and transformers and transformers >= Version("4.49"))


def _provide(_module=None) -> None:
    import transformers  # noqa: F401

    top = sys.modules["transformers"]
    try:
        top.LogitsWarper  # noqa: B018
    except AttributeError:
        from transformers.generation.logits_process import LogitsProcessor

        top.LogitsWarper = LogitsProcessor  # type: ignore[attr-defined]


MEND = _hooks.Mend(TARGET, _provide, before=True)


SHIM = Shim(
    name="logits_warper",
    tiers=("finetune",),
    applies=applies, apply=MEND.apply, active=MEND.active,
)
