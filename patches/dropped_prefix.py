"""With ``GenerationMixin`` restored on ``TTS`` 0.22.0, transformers >= 4.52.1 starts
generation with an empty ``DynamicCache`` instead of ``None``; ``GPT2InferenceModel.
prepare_inputs_for_generation`` sees a cache that "is not None" and keeps only the last
token, so the text and speaker conditioning prefix never reaches the model.

Error: none. The audio is wrong and nothing raises. Seen here as the synth tier's
conditioning check (the first forward call sees 1 token instead of the whole prefix) and
as first-step logits that disagree with the golden output.

Boundary: transformers 4.52.1 and later (with the mixin restored); transformers 5.x also
passes the cache as ``cache=`` and builds no attention mask, both mapped back here.

The fix treats an empty cache as no cache (the whole prefix goes in, and the cache object
generate handed over is filled), maps ``cache=`` back to ``past_key_values`` and supplies
the all-ones attention mask the old code expects.

Reference: https://github.com/idiap/coqui-ai-TTS/issues/394 (coqui-tts pinned
transformers < 4.52 in 0.26.2 for this, then fixed it in 0.27.0).
"""

from __future__ import annotations

from packaging.version import Version

from . import _hooks, _versions
from ._shim import Shim

TARGET = "TTS.tts.layers.xtts.gpt_inference"


def applies() -> bool:
    transformers = _versions.version("transformers")
    return bool(_versions.legacy_tts() and transformers and transformers >= Version("4.52.1"))


def _is_empty(cache) -> bool:
    length = getattr(cache, "get_seq_length", None)
    return cache is not None and callable(length) and length() == 0


def _whole_prefix_first(original):
    def prepare_inputs_for_generation(self, input_ids, past_key_values=None, **kwargs):
        if past_key_values is None and kwargs.get("cache") is not None:
            past_key_values = kwargs.pop("cache")
        kwargs.pop("cache", None)
        if kwargs.get("attention_mask") is None:
            import torch

            kwargs["attention_mask"] = torch.ones_like(input_ids)
        empty = _is_empty(past_key_values)
        inputs = original(self, input_ids, None if empty else past_key_values, **kwargs)
        if empty and self.kv_cache:
            inputs["past_key_values"] = past_key_values
        return inputs

    return prepare_inputs_for_generation


def _wrap(module) -> None:
    _hooks.wrap_method(module.GPT2InferenceModel, "prepare_inputs_for_generation",
                       _whole_prefix_first)


MEND = _hooks.Mend(TARGET, _wrap)


SHIM = Shim(
    name="dropped_prefix",
    tiers=("synth", "stream", "bench"),
    applies=applies, apply=MEND.apply, active=MEND.active,
)
