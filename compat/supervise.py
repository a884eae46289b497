"""Run one command under watch: a time limit, a memory limit, and crash classification.

A cell's install and tiers run as child processes in their own process group, so
a segfault, a hang or a runaway allocation ends that cell alone and is recorded
with its cause; the harness and every other cell carry on.
"""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

#: How the command ended.
EXITED, TIMEOUT, OOM, SIGNALLED = "exited", "timeout", "out-of-memory", "signal"

POLL_S = 0.25


@dataclass
class Outcome:
    cause: str
    returncode: int | None
    seconds: float
    peak_rss: int
    detail: str
    output_tail: str

    @property
    def ok(self) -> bool:
        return self.cause == EXITED and self.returncode == 0


def supervise(
    cmd: Sequence[str],
    *,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float | None = None,
    memory_limit: int | None = None,
    on_line: Callable[[str], None] | None = None,
    on_tick: Callable[[float], None] | None = None,
    tick_every: float = 30.0,
    tail_lines: int = 60,
) -> Outcome:
    """Run ``cmd``; return how it ended. Output goes to ``log_path`` and ``on_line``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    tail: collections.deque[str] = collections.deque(maxlen=tail_lines)
    start = time.monotonic()
    with open(log_path, "w", encoding="utf-8", errors="replace") as log:
        proc = subprocess.Popen(
            list(cmd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=dict(env) if env is not None else None, cwd=cwd, start_new_session=True,
            text=True, errors="replace", bufsize=1,
        )
        reader = threading.Thread(target=_pump, args=(proc, log, tail, on_line), daemon=True)
        reader.start()
        cause, detail, peak = EXITED, "", 0
        next_tick = start + tick_every
        while proc.poll() is None:
            elapsed = time.monotonic() - start
            rss = _tree_rss(proc.pid)
            peak = max(peak, rss)
            if memory_limit and rss > memory_limit:
                cause = OOM
                detail = (f"resident memory {rss / 2**30:.1f} GiB passed the cell's limit of "
                          f"{memory_limit / 2**30:.1f} GiB; killed")
                _kill_group(proc)
                break
            if timeout and elapsed > timeout:
                cause = TIMEOUT
                detail = f"no result after {timeout:.0f} s (the cell's timeout); killed"
                _kill_group(proc)
                break
            if on_tick and time.monotonic() >= next_tick:
                on_tick(elapsed)
                next_tick += tick_every
            time.sleep(POLL_S)
        returncode = proc.wait()
        _kill_group(proc)  # leftovers of a finished command
        reader.join(timeout=10)
    seconds = time.monotonic() - start
    if cause == EXITED and returncode < 0:
        cause, detail = SIGNALLED, _signal_detail(-returncode)
    elif cause == EXITED:
        detail = f"exit code {returncode}"
    return Outcome(cause, returncode, seconds, peak, detail, "".join(tail))


def _pump(proc: subprocess.Popen[str], log, tail, on_line) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        log.write(line)
        log.flush()
        tail.append(line)
        if on_line:
            on_line(line.rstrip("\n"))


def _tree_rss(pid: int) -> int:
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            total += proc.memory_info().rss
    return total


def _kill_group(proc: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _signal_detail(signum: int) -> str:
    try:
        name = signal.Signals(signum).name
    except ValueError:
        name = f"signal {signum}"
    if signum == signal.SIGKILL:
        return f"killed by {name} (not by the harness: likely the kernel's out-of-memory killer)"
    if signum == signal.SIGSEGV:
        return f"crashed with {name} (segmentation fault in native code)"
    return f"ended by {name}"
