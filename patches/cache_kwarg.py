"""transformers 5.24 renamed the cache that ``generate`` hands to the model: its
``prepare_inputs_for_generation`` now passes ``cache=``, and coqui-tts 0.28's
``GPT2InferenceModel.forward`` still reads ``past_key_values``, which stays ``None``.

Error::

    AttributeError: 'NoneType' object has no attribute 'get_seq_length'

(in ``TTS/tts/layers/xtts/gpt_inference.py``, at the first single-token step).

Boundary: transformers 5.24.0 with coqui-tts 0.27.x and 0.28.x (their model inherits
transformers' own ``prepare_inputs_for_generation``); 5.23.0 works. Measured here with
coqui-tts 0.28.0: synth and the fine-tune checkpoint's synthesis fail bare.

The fix maps ``cache=`` back to ``past_key_values`` in ``GPT2InferenceModel.forward``.

Reference: https://github.com/huggingface/transformers/releases/tag/v5.24.0 (the fork made XTTS
work with transformers 5 in 0.27.5, idiap/coqui-ai-TTS#550; 5.24 came later)
"""

from __future__ import annotations

from packaging.version import Version

from . import _hooks, _versions
from ._shim import Shim

TARGET = "TTS.tts.layers.xtts.gpt_inference"


def applies() -> bool:
    transformers = _versions.version("transformers")
    fork = _versions.fork()
    return bool(fork and fork >= Version("0.27") and transformers
                and transformers >= Version("5.24"))


def _map_cache(forward):
    def mapped_forward(self, *args, **kwargs):
        cache = kwargs.pop("cache", None)
        if cache is not None and kwargs.get("past_key_values") is None:
            kwargs["past_key_values"] = cache
        return forward(self, *args, **kwargs)

    return mapped_forward


def _wrap(module) -> None:
    _hooks.wrap_method(module.GPT2InferenceModel, "forward", _map_cache)


MEND = _hooks.Mend(TARGET, _wrap)


SHIM = Shim(
    name="cache_kwarg",
    tiers=("synth", "stream", "finetune", "bench"),
    applies=applies, apply=MEND.apply, active=MEND.active,
)
