"""``TTS`` 0.22.0 streams through a copy of an old transformers ``generate``
(``stream_generator.py``) that each transformers release broke in a new way.

Errors (``Xtts.inference_stream``)::

    4.41-4.44  TypeError: isin() received an invalid combination of arguments - got
               (test_elements=int, elements=Tensor, )
    4.45-4.46  AttributeError: 'int' object has no attribute 'device'
    4.47-4.51  AttributeError: 'int' object has no attribute '_pad_token_tensor'
    >= 4.52.1  AttributeError: 'GPT2InferenceModel' object has no attribute '_validate_model_class'
    5.0        AttributeError: 'GenerationConfig' object has no attribute 'do_stream'

Boundary: works up to transformers 4.40.2. Measured here: 4.46.2 gives the ``'int' object
has no attribute 'device'`` error, 4.57.3 the ``_validate_model_class`` one. (Greedy
decoding, ``do_sample=False``, never streamed even on the release stack: the old code
returns a tensor, "'Tensor' object is not an iterator".)

The fix replaces ``GPT.get_generator`` with a small sampler of its own, built on public
pieces only: the model's own ``prepare_inputs_for_generation`` and forward, and
transformers' public logits processors (repetition penalty, then temperature, top-k,
top-p, in the order the original applied them), sampling with ``torch.multinomial`` as
the original did, yielding ``(token, final-normed hidden state)`` per step. On the
release-era stack it yields the same tokens as the original for the same seed (a test
compares them).

Reference: https://github.com/coqui-ai/TTS/pull/4397 (the 5.0 ``do_stream`` error)
"""

from __future__ import annotations

from packaging.version import Version

from . import _hooks, _versions
from ._shim import Shim

TARGET = "TTS.tts.layers.xtts.gpt"


def applies() -> bool:
    transformers = _versions.version("transformers")
    return bool(_versions.legacy_tts() and transformers and transformers >= Version("4.41"))


def processors(repetition_penalty=1.0, temperature=1.0, top_k=0, top_p=1.0, do_sample=True,
               **_ignored):
    from transformers import (
        LogitsProcessorList,
        RepetitionPenaltyLogitsProcessor,
        TemperatureLogitsWarper,
        TopKLogitsWarper,
        TopPLogitsWarper,
    )

    chain = LogitsProcessorList()
    if repetition_penalty is not None and float(repetition_penalty) != 1.0:
        chain.append(RepetitionPenaltyLogitsProcessor(float(repetition_penalty)))
    if do_sample:
        if temperature is not None and float(temperature) != 1.0:
            chain.append(TemperatureLogitsWarper(float(temperature)))
        if top_k:
            chain.append(TopKLogitsWarper(top_k=int(top_k), min_tokens_to_keep=1))
        if top_p is not None and float(top_p) < 1.0:
            chain.append(TopPLogitsWarper(top_p=float(top_p), min_tokens_to_keep=1))
    return chain


def sample_stream(model, input_ids, *, eos_token_id, max_length, do_sample=True, **settings):
    """Yield ``(next_tokens, hidden)`` until the stop token or ``max_length``."""
    import torch

    chain = processors(do_sample=do_sample, **settings)
    attention_mask = torch.ones_like(input_ids)
    past = None
    while True:
        inputs = model.prepare_inputs_for_generation(
            input_ids, past_key_values=past, attention_mask=attention_mask, use_cache=True)
        outputs = model(**inputs, return_dict=True, output_hidden_states=True)
        scores = chain(input_ids, outputs.logits[:, -1, :])
        if do_sample:
            probs = torch.nn.functional.softmax(scores, dim=-1)
            next_tokens = torch.multinomial(probs, num_samples=1).squeeze(1)
        else:
            next_tokens = torch.argmax(scores, dim=-1)
        yield next_tokens, model.final_norm(outputs.hidden_states[-1][:, -1])
        input_ids = torch.cat([input_ids, next_tokens[:, None]], dim=-1)
        attention_mask = torch.cat([attention_mask, attention_mask.new_ones((1, 1))], dim=-1)
        past = outputs.past_key_values
        if bool((next_tokens == eos_token_id).all()) or input_ids.shape[-1] >= max_length:
            return


def _replace(module) -> None:
    def get_generator(self, fake_inputs, **kwargs):
        return sample_stream(self.gpt_inference, fake_inputs,
                             eos_token_id=self.stop_audio_token,
                             max_length=self.max_gen_mel_tokens + fake_inputs.shape[-1], **kwargs)

    module.GPT.get_generator = get_generator


MEND = _hooks.Mend(TARGET, _replace)


SHIM = Shim(
    name="stream_sampler",
    tiers=("stream", "bench"),
    applies=applies, apply=MEND.apply, active=MEND.active,
)
