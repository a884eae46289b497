"""Progress of a matrix run: which cell of how many, which phase, elapsed time, and at
the end where the cell's time went (each phase's seconds: install, probe, each round of
tiers), so a slow cell says which part of it is slow."""

from __future__ import annotations

import time
from collections.abc import Callable


class Progress:
    def __init__(self, log: Callable[[str], None], cell_id: str, position: int, total: int,
                 remaining: list[str] | None = None) -> None:
        self.log = log
        self.cell_id = cell_id
        self.position = position
        self.total = total
        self.remaining = remaining or []
        self.started = time.monotonic()
        self._phase = ""
        self._phase_started = self.started
        #: Seconds per phase, in the order they ran (a phase met twice adds up).
        self.phases: dict[str, float] = {}

    @property
    def prefix(self) -> str:
        return f"[cell {self.position}/{self.total}] {self.cell_id}"

    @property
    def current_phase(self) -> str:
        """The phase running now ('' before the first)."""
        return self._phase

    def elapsed(self) -> str:
        return clock(time.monotonic() - self.started)

    def start(self) -> None:
        left = len(self.remaining)
        after = f"; {left} left after this: {', '.join(self.remaining[:4])}" if left else ""
        if left > 4:
            after += ", ..."
        self.log(f"{self.prefix}: starting{after}")

    def _close_phase(self) -> None:
        if self._phase:
            took = time.monotonic() - self._phase_started
            self.phases[self._phase] = round(self.phases.get(self._phase, 0.0) + took, 2)
        self._phase = ""

    def phase(self, name: str, detail: str = "") -> None:
        self._close_phase()
        self._phase, self._phase_started = name, time.monotonic()
        suffix = f" - {detail}" if detail else ""
        self.log(f"{self.prefix}: {name}{suffix} (elapsed {self.elapsed()})")

    def tick(self, _seconds: float) -> None:
        running = clock(time.monotonic() - self._phase_started)
        self.log(f"{self.prefix}: {self._phase} still running ({running}; cell {self.elapsed()})")

    def done(self, name: str, status: str, detail: str = "") -> None:
        took = clock(time.monotonic() - self._phase_started)
        self.log(f"{self.prefix}: {name} {status} in {took}{' - ' + detail if detail else ''}")

    def where_time_went(self) -> str:
        self._close_phase()
        return ", ".join(f"{name} {clock(seconds)}" for name, seconds in self.phases.items())

    def finish(self, summary: str) -> None:
        spent = self.where_time_went()
        self.log(f"{self.prefix}: finished in {self.elapsed()}: {summary}")
        if spent:
            self.log(f"{self.prefix}: time: {spent}")


def clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{seconds:.1f}s"
