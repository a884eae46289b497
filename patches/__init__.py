"""Shims that make broken XTTS stacks work, applied only where a cell needs them.

One module per breakage, each with the error users see, its version boundary, the
upstream reference, ``applies()`` (from installed versions, importing nothing), an
idempotent ``apply()`` and ``active()``. They act through import hooks, so applying them
before ``import TTS`` costs milliseconds::

    import patches
    patches.apply()          # every shim whose applies() is true; returns their names
    patches.apply(["weights_only"])

To have them in a program you do not edit: ``python -m patches install --python PATH``
(a ``.pth`` hook in that environment); ``python -m patches remove --python PATH``.

None of them turns ``torch.load``'s ``weights_only`` off: see ``weights_only`` and the
malicious-checkpoint tests.
"""

from __future__ import annotations

from collections.abc import Iterable

from . import (
    beam_search,
    cache_kwarg,
    dropped_prefix,
    generation_mixin,
    isin_mps_friendly,
    logits_warper,
    stream_sampler,
    torchaudio_io,
    weights_only,
)
from ._shim import Shim

#: In the order they are applied.
SHIMS: dict[str, Shim] = {m.SHIM.name: m.SHIM for m in (
    beam_search, weights_only, generation_mixin, dropped_prefix, stream_sampler, torchaudio_io,
    logits_warper, cache_kwarg, isin_mps_friendly)}
_applied: list[str] = []


def selected() -> list[str]:
    """The shims whose applies() is true for the installed versions."""
    return [name for name, shim in SHIMS.items() if shim.applies()]


def apply(names: Iterable[str] | None = None) -> list[str]:
    """Apply the named shims (default: the selected ones); return what was applied."""
    wanted = selected() if names is None else list(names)
    unknown = [n for n in wanted if n not in SHIMS]
    if unknown:
        raise KeyError(f"unknown shim(s) {unknown}; known: {list(SHIMS)}")
    for name in wanted:
        SHIMS[name].apply()
        if name not in _applied:
            _applied.append(name)
    return list(wanted)


def applied() -> list[str]:
    return list(_applied)


def active() -> dict[str, bool]:
    """For each applied shim: whether it has acted yet (its module was imported)."""
    return {name: SHIMS[name].active() for name in _applied}

