"""``TTS`` 0.22.0's ``TTS/tts/layers/xtts/stream_generator.py`` imports beam-search
classes from transformers' top level, and ``SampleOutput`` from
``transformers.generation.utils``; transformers moved and then deleted them.

Error::

    ImportError: cannot import name 'BeamSearchScorer' from 'transformers'

Boundary: ``from transformers import BeamSearchScorer`` last works in 4.56.2; 4.57.x
keeps the class in ``transformers.generation.beam_search`` (marked for removal in 4.62);
5.0.0 deletes ``beam_search.py``, ``beam_constraints.py`` and
``generation.utils.SampleOutput``. Measured here with 4.57.3: only ``BeamSearchScorer``
is missing from the top level; the constraint classes are still there.

Setting ``transformers.BeamSearchScorer = X`` once is not enough: the first import of
``transformers.processing_utils`` runs ``transformers/__init__.py`` again and replaces
``sys.modules["transformers"]``. So this shim acts right before ``stream_generator``'s
own code runs, on whatever module object is in ``sys.modules`` at that moment: the names
it imports are bound into it there and then. Where the classes are gone it provides inert
stand-ins (XTTS decodes with ``num_beams=1``) that raise a clear error if beam search is
ever requested.

Reference: https://github.com/coqui-ai/TTS/issues/4388 (TTS 0.22.0 with transformers
4.57.3; the move is huggingface/transformers#40495).
"""

from __future__ import annotations

import importlib
import sys

from packaging.version import Version

from . import _hooks, _versions
from ._shim import Shim

TARGET = "TTS.tts.layers.xtts.stream_generator"
#: Top-level names stream_generator imports, and where transformers keeps them now.
MOVED = {
    "BeamSearchScorer": "transformers.generation.beam_search",
    "ConstrainedBeamSearchScorer": "transformers.generation.beam_search",
    "DisjunctiveConstraint": "transformers.generation.beam_constraints",
    "PhrasalConstraint": "transformers.generation.beam_constraints",
}
_state: dict = {"provided": {}}


class BeamSearchRemoved(NotImplementedError):
    """Raised by the stand-ins: beam search is gone from this transformers."""


def _stand_in(name: str) -> type:
    def refuse(self, *args, **kwargs):
        raise BeamSearchRemoved(
            f"{name} was removed from transformers {_versions.version('transformers')}; "
            "XTTS decodes with num_beams=1 and never needs it. This is an inert stand-in "
            "from xtts-compat's beam_search shim: do not ask for beam search.")

    return type(name, (), {"__init__": refuse, "__doc__": f"Inert stand-in for {name}."})


def applies() -> bool:
    transformers = _versions.version("transformers")
    legacy = _versions.legacy_tts()
    return bool(legacy and transformers and transformers >= Version("4.57"))


def _provide(_module=None) -> None:
    """Bind every name stream_generator imports onto transformers as it is right now."""
    import transformers  # noqa: F401  (the module object in sys.modules is what matters)

    top = sys.modules["transformers"]
    for name, home in MOVED.items():
        try:
            getattr(top, name)
            continue
        except AttributeError:
            pass
        try:
            value = getattr(importlib.import_module(home), name)
            how = home
        except (ImportError, AttributeError):
            value, how = _stand_in(name), "stand-in"
        setattr(top, name, value)
        _state["provided"][name] = how
    utils = importlib.import_module("transformers.generation.utils")
    if not hasattr(utils, "SampleOutput"):
        utils.SampleOutput = getattr(  # type: ignore[attr-defined]
            utils, "GenerateDecoderOnlyOutput", _stand_in("SampleOutput"))
        _state["provided"]["SampleOutput"] = "GenerateDecoderOnlyOutput"


def apply() -> None:
    if not _hooks.before_import(TARGET, _provide):
        _provide()  # already imported: nothing left to mend, but record what is missing


def active() -> bool:
    return bool(_state["provided"])


SHIM = Shim(
    name="beam_search",
    tiers=("import", "load", "synth", "stream", "finetune", "bench"),
    applies=applies, apply=apply, active=active,
)
