"""torch >= 2.6 loads checkpoints with ``weights_only=True`` by default, and the released
XTTS v2 ``model.pth`` pickles its ``XttsConfig``.

Error::

    _pickle.UnpicklingError: Weights only load failed. [...] WeightsUnpickler error:
    Unsupported global: GLOBAL TTS.tts.configs.xtts_config.XttsConfig was not an allowed
    global by default.

Boundary: torch 2.6.0 (the default flips; ``add_safe_globals`` exists from 2.4, the
``safe_globals`` context manager from 2.5). Fixed upstream in coqui-tts 0.24.3, which
allowlists its classes itself; TTS 0.22.0 and fork releases before 0.24.3 need this.
Measured here: the tiny fixture (built with TTS 0.22.0) fails to load on torch 2.6.0 and
2.9.1 with exactly that message, and loads with this shim.

The fix allowlists exactly the four classes the released file pickles, at the module
paths it uses: ``XttsConfig`` (``TTS.tts.configs.xtts_config``), ``XttsAudioConfig`` and
``XttsArgs`` (``TTS.tts.models.xtts``), ``BaseDatasetConfig``
(``TTS.config.shared_configs``). It never turns the weights-only check off (no argument,
no environment variable) and never wraps ``torch.load``: any other global in a
checkpoint is still refused.

Reference: https://github.com/coqui-ai/TTS/issues/4121 (the fork allowlists its own
classes since idiap/coqui-ai-TTS#113 and 0.24.3).
"""

from __future__ import annotations

from packaging.version import Version

from . import _hooks, _versions
from ._shim import Shim

#: (module, class) pairs the released model.pth needs, nothing more.
ALLOWED = (
    ("TTS.tts.configs.xtts_config", "XttsConfig"),
    ("TTS.tts.models.xtts", "XttsAudioConfig"),
    ("TTS.tts.models.xtts", "XttsArgs"),
    ("TTS.config.shared_configs", "BaseDatasetConfig"),
)
_state = {"registered": False}


def applies() -> bool:
    torch = _versions.version("torch")
    if torch is None or torch < Version("2.6"):
        return False
    fork = _versions.fork()
    return fork is None or fork < Version("0.24.3")


def _register(_module=None) -> None:
    """Allowlist the classes once all their modules are imported."""
    if _state["registered"]:
        return
    import sys

    if not all(name in sys.modules for name, _ in ALLOWED):
        return
    try:  # a module may be in sys.modules while still importing
        classes = [getattr(sys.modules[mod], cls) for mod, cls in ALLOWED]
    except AttributeError:
        return
    import torch

    torch.serialization.add_safe_globals(classes)
    _state["registered"] = True


def apply() -> None:
    for module, _ in ALLOWED:
        _hooks.after_import(module, _register)


def active() -> bool:
    return _state["registered"]


SHIM = Shim(
    name="weights_only",
    tiers=("load", "synth", "stream", "finetune", "bench"),
    applies=applies, apply=apply, active=active,
)
