"""``coqui-tts`` 0.26.0 to 0.27.5 import ``isin_mps_friendly`` from
``transformers.pytorch_utils`` (``TTS/tts/layers/tortoise/autoregressive.py``, reached from
``import TTS.tts.models.xtts``); transformers 5.1 removed it, so importing XTTS fails.

Error (0.26.0 and 0.26.1 read it as an attribute of the module)::

    ImportError: cannot import name 'isin_mps_friendly' from 'transformers.pytorch_utils'
    AttributeError: module 'transformers.pytorch_utils' has no attribute 'isin_mps_friendly'

Boundary: transformers 5.1.0 (5.0.0 still defines it; measured here from the released
wheels' ``pytorch_utils.py``, and on ``coqui0.27.1-torch2.8.0-tf5.20.2-py3.10`` of the
exploratory matrix). coqui-tts 0.28.0 no longer imports it; 0.26.2 and 0.27.2 cap
transformers below 5, but 0.26.0, 0.26.1, 0.27.0, 0.27.1 and 0.27.3 to 0.27.5 allow it
(the exploration resolved transformers 5.24.0 for 0.26.0 and 0.26.1).

The fix puts the name back as ``torch.isin`` (what it wrapped: the MPS workaround is for
torch < 2.4, which these transformers releases do not support) right before that module
runs.

Reference: https://github.com/idiap/coqui-ai-TTS/issues/558
"""

from __future__ import annotations

import sys

from packaging.version import Version

from . import _hooks, _versions
from ._shim import Shim

TARGET = "TTS.tts.layers.tortoise.autoregressive"


def applies() -> bool:
    fork, transformers = _versions.fork(), _versions.version("transformers")
    return bool(fork and Version("0.26") <= fork < Version("0.28") and transformers
                and transformers >= Version("5.1"))


def isin(elements, test_elements):
    import torch

    return torch.isin(elements, test_elements)


def _provide(_module=None) -> None:
    import transformers.pytorch_utils  # noqa: F401

    utils = sys.modules["transformers.pytorch_utils"]
    if not hasattr(utils, "isin_mps_friendly"):
        utils.isin_mps_friendly = isin  # type: ignore[attr-defined]


MEND = _hooks.Mend(TARGET, _provide, before=True)


SHIM = Shim(
    name="isin_mps_friendly",
    tiers=("import",),
    applies=applies, apply=MEND.apply, active=MEND.active,
)
