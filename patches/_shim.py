"""What every shim declares: the error it fixes, where it starts, why, when it applies."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable


@dataclass(frozen=True)
class Shim:
    name: str
    #: The error users see, verbatim (one line of it).
    error: str
    #: A regular expression matched against "ExceptionType: message" of a failure.
    signature: str
    #: Where the breakage starts (and ends, if upstream fixed it).
    boundary: str
    reference: str
    #: The tiers whose failure it addresses.
    tiers: tuple[str, ...]
    applies: Callable[[], bool] = field(compare=False)
    apply: Callable[[], None] = field(compare=False)
    active: Callable[[], bool] = field(compare=False)

    def matches(self, exc_type: str, message: str) -> bool:
        return re.search(self.signature, f"{exc_type}: {message}") is not None
