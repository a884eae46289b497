"""What every shim declares: its name, the tiers it mends, when it applies.

The error it fixes, its version boundary and the upstream reference are data, in
``compat/known_breakages.toml`` (the entry whose ``shim`` names it), so the report, the
gate, ``doctor`` and the shim rounds of a cell diagnose from one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable


@dataclass(frozen=True)
class Shim:
    name: str
    #: The tiers whose failure it addresses.
    tiers: tuple[str, ...]
    applies: Callable[[], bool] = field(compare=False)
    apply: Callable[[], None] = field(compare=False)
    active: Callable[[], bool] = field(compare=False)
