"""How busy the machine was while a cell's tiers ran. Runs in the harness.

Benchmark figures taken while other processes compete for the cores say nothing about
the stack: with three jobs on 2 cores, load and synthesis measured 11-12x slower than
alone. So while the tier process runs, the harness samples (about once a second) the CPU
time the whole machine spent busy and the CPU time of its own processes (the harness
itself and the cell's process tree, including children they reaped); the difference is
what other processes took. Each interval goes to the tier running at its end (the tier
report's ``current``), and per tier the result records the seconds, the other processes'
CPU seconds and their share of the machine's cores, and the load average.

A tier in which other processes took more than ``BUSY_SHARE`` of the cores is *busy*:
its benchmark figures are kept in the result, marked, and never compared (the report
shows them marked; the gate says it did not compare them, and why).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

#: Other processes taking more than this share of the cores while a tier ran make its
#: figures busy. One job spinning on one of 2 cores is 50%; an idle machine's daemons
#: take a few percent. At 15% the figures can be off by about 1/(1-0.15) = 1.18x, which is
#: within the gate's 25% threshold; beyond it a slowdown could be the neighbours'.
BUSY_SHARE = 0.15
SAMPLE_S = 1.0
#: The label of the time before the first tier test starts (pytest's start, collection).
STARTUP = "startup"

Sample = tuple[float, float, float]  # wall seconds, machine busy CPU s, own CPU s


def busy_cpu_seconds() -> float:
    """CPU seconds the machine spent busy since boot, over all cores (psutil's own
    reckoning: everything but idle and I/O wait; guest time is already in user time)."""
    times = psutil.cpu_times()
    total = sum(times) - getattr(times, "guest", 0.0) - getattr(times, "guest_nice", 0.0)
    return total - times.idle - getattr(times, "iowait", 0.0)


def own_cpu_seconds(root: psutil.Process | None, harness: psutil.Process) -> float:
    """CPU seconds of the harness and of the command's process tree, with the children
    each has reaped (so a process that ended stays counted once it is reaped)."""
    procs = [harness]
    if root is not None:
        with contextlib.suppress(psutil.Error):
            procs += [root, *root.children(recursive=True)]
    total = 0.0
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            cpu = proc.cpu_times()
            total += cpu.user + cpu.system + cpu.children_user + cpu.children_system
    return total


def loadavg() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # not on every platform
        return []


def tier_from_report(report: Path) -> Callable[[], str | None]:
    """The tier a tier report says is running now (None between tests, or unreadable)."""
    def current() -> str | None:
        try:
            return (json.loads(report.read_text()).get("current") or {}).get("tier")
        except (OSError, ValueError, AttributeError):
            return None
    return current


class LoadMeter:
    """Feed it ``poll(pid)`` while the command runs (``supervise``'s ``on_poll``), then
    ``finish()``; ``where()`` names the tier running now."""

    def __init__(self, where: Callable[[], str | None] = lambda: None, *,
                 cores: int | None = None, every: float = SAMPLE_S,
                 threshold: float = BUSY_SHARE,
                 sampler: Callable[[psutil.Process | None], Sample] | None = None) -> None:
        self.where = where
        self.cores = cores or psutil.cpu_count(logical=True) or 1
        self.every = every
        self.threshold = threshold
        self._harness = psutil.Process()
        self._sampler = sampler or self._sample
        self._root: psutil.Process | None = None
        self._label = STARTUP
        self._spans: dict[str, dict[str, float]] = {}
        self._loadavg_before = loadavg()
        self._last = self._sampler(None)

    def _sample(self, root: psutil.Process | None) -> Sample:
        return time.monotonic(), busy_cpu_seconds(), own_cpu_seconds(root, self._harness)

    def poll(self, pid: int) -> None:
        if self._root is None or self._root.pid != pid:
            try:
                self._root = psutil.Process(pid)
            except psutil.Error:
                self._root = None
        if time.monotonic() - self._last[0] >= self.every:
            self._advance()

    def _advance(self) -> None:
        label = self.where() or self._label
        now = self._sampler(self._root)
        wall, busy, own = (b - a for a, b in zip(self._last, now))
        span = self._spans.setdefault(label, {"seconds": 0.0, "other_cpu_s": 0.0,
                                              "own_cpu_s": 0.0, "loadavg_max": 0.0})
        span["seconds"] += wall
        span["other_cpu_s"] += max(0.0, busy - own)
        span["own_cpu_s"] += own
        span["loadavg_max"] = max(span["loadavg_max"], *(loadavg()[:1] or [0.0]))
        self._label, self._last = label, now

    def finish(self) -> dict[str, Any]:
        """The load per tier, and the tiers that ran on a busy machine, with why."""
        self._advance()
        tiers, busy = {}, {}
        for label, span in self._spans.items():
            share = span["other_cpu_s"] / (span["seconds"] * self.cores) if span["seconds"] else 0.0
            tiers[label] = {"seconds": round(span["seconds"], 2),
                            "other_cpu_s": round(span["other_cpu_s"], 2),
                            "own_cpu_s": round(span["own_cpu_s"], 2),
                            "other_share": round(share, 3),
                            "loadavg_max": span["loadavg_max"]}
            if share > self.threshold and label != STARTUP:
                busy[label] = (f"other processes used {share:.0%} of the {self.cores} cores "
                               f"while the {label} tier ran (busy above {self.threshold:.0%})")
        return {"cores": self.cores, "threshold": self.threshold, "sample_s": self.every,
                "loadavg_before": self._loadavg_before, "loadavg_after": loadavg(),
                "tiers": tiers, "busy": busy}
