"""Run one command under watch: a time limit, a memory limit, and crash classification.

A cell's install and tiers run as child processes in their own process group, so
a segfault, a hang or a runaway allocation ends that cell alone and is recorded
with its cause; the harness and every other cell carry on.

Stopping the harness stops its work. A child in its own session gets no signal meant
for the harness (a terminal's Ctrl-C, ``timeout``, a CI cancel), so the harness turns
SIGTERM and SIGINT into :class:`Interrupted` (``stop_on_signals``, ``interruptible``),
and ``supervise`` ends the running command's whole process tree before letting it
through: its process group, and every descendant seen, even one that left the group.
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

from compat.incell.status import INTERRUPTED  # noqa: F401  (a cell's outcome when stopped)

#: How the command ended.
EXITED, TIMEOUT, OOM, SIGNALLED = "exited", "timeout", "out-of-memory", "signal"

POLL_S = 0.25
#: Seconds a stopped command's processes get to exit after SIGTERM, before SIGKILL.
TERM_GRACE_S = 3.0
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Interrupted(KeyboardInterrupt):
    """The harness was told to stop (SIGTERM or SIGINT). A KeyboardInterrupt, so nox ends
    the session and the run (exit 130) and stops the commands it runs itself."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"stopped by {self.name}")

    @property
    def name(self) -> str:
        return _signal_name(self.signum)


_stopping: list[int] = []
#: Set when the harness is stopped while cells run in worker threads (compat.run.parallel):
#: signals reach the main thread only, so each worker's ``supervise`` polls this, ends its
#: command's tree and raises :class:`Interrupted` in its own thread.
_workers_stop: list[int] = []


def stop_workers(signum: int) -> None:
    """Tell every worker thread's running command to stop (see ``_workers_stop``)."""
    if not _workers_stop:
        _workers_stop.append(signum)


def workers_may_run() -> None:
    _workers_stop.clear()


def _interrupt(signum: int, _frame: object) -> None:
    if _stopping:
        return  # already stopping: let the cleanup finish (it is bounded)
    _stopping.append(signum)
    raise Interrupted(signum)


def stop_on_signals() -> None:
    """From now on SIGTERM stops this process the way Ctrl-C does: an exception that
    unwinds (and cleans up) instead of an exit that leaves the children running. For
    the main program (the noxfile); main thread only."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt_anew)


def _interrupt_anew(signum: int, _frame: object) -> None:
    raise Interrupted(signum)


@contextlib.contextmanager
def interruptible():
    """Inside, SIGTERM and SIGINT raise :class:`Interrupted` once; a repeated signal is
    ignored while the first one's cleanup runs. The previous handlers come back after.
    Outside the main thread (where signals cannot be handled) it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    _stopping.clear()
    for signum in STOP_SIGNALS:
        signal.signal(signum, _interrupt)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        _stopping.clear()


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


def run_stopping_child(cmd: Sequence[str], *, grace: float = 60.0, **popen) -> int:
    """``subprocess.run(cmd).returncode`` for a child that cleans up after itself on
    SIGTERM (nox running cells): when this process is stopped meanwhile, the child gets
    SIGTERM and ``grace`` seconds to stop its own work, instead of the SIGKILL
    ``subprocess.run`` would send, which leaves the child's children running."""
    proc = subprocess.Popen(list(cmd), **popen)
    try:
        return proc.wait()
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        raise


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
    on_poll: Callable[[int], None] | None = None,
) -> Outcome:
    """Run ``cmd``; return how it ended. Output goes to ``log_path`` and ``on_line``;
    ``on_poll`` gets the command's pid at every poll (a few times a second).

    Any exception in the harness meanwhile (:class:`Interrupted` above all) ends the
    command's whole process tree before it propagates."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    tail: collections.deque[str] = collections.deque(maxlen=tail_lines)
    start = time.monotonic()
    seen: dict[int, psutil.Process] = {}  # every descendant seen, to end them all
    reader: threading.Thread | None = None
    with open(log_path, "w", encoding="utf-8", errors="replace") as log:
        proc = subprocess.Popen(
            list(cmd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=dict(env) if env is not None else None, cwd=cwd, start_new_session=True,
            text=True, errors="replace", bufsize=1,
        )
        try:
            reader = threading.Thread(target=_pump, args=(proc, log, tail, on_line), daemon=True)
            reader.start()
            cause, detail, peak = EXITED, "", 0
            next_tick = start + tick_every
            while proc.poll() is None:
                if _workers_stop and threading.current_thread() is not threading.main_thread():
                    raise Interrupted(_workers_stop[0])
                elapsed = time.monotonic() - start
                rss = _tree_rss(proc.pid, seen)
                peak = max(peak, rss)
                if memory_limit and rss > memory_limit:
                    cause = OOM
                    detail = (f"resident memory {rss / 2**30:.1f} GiB passed the cell's limit "
                              f"of {memory_limit / 2**30:.1f} GiB; killed")
                    _kill_tree(proc, seen)
                    break
                if timeout and elapsed > timeout:
                    cause = TIMEOUT
                    detail = f"no result after {timeout:.0f} s (the cell's timeout); killed"
                    _kill_tree(proc, seen)
                    break
                if on_poll:
                    on_poll(proc.pid)
                if on_tick and time.monotonic() >= next_tick:
                    on_tick(elapsed)
                    next_tick += tick_every
                time.sleep(POLL_S)
            returncode = proc.wait()
            _kill_tree(proc, seen)  # leftovers of a finished command
        except BaseException:  # stopped (Interrupted) or a harness error: end the tree first
            _stop_tree(proc, seen)
            if reader is not None and reader.is_alive():
                reader.join(timeout=5)
            raise
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


def _tree_rss(pid: int, seen: dict[int, psutil.Process] | None = None) -> int:
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    if seen is not None:
        seen.update((p.pid, p) for p in procs[1:] if p.pid not in seen)
    total = 0
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            total += proc.memory_info().rss
    return total


def _descendants(proc: subprocess.Popen[str], seen: dict[int, psutil.Process]
                 ) -> list[psutil.Process]:
    """The command's descendants now, and those seen before that still run (one that
    left the process group, or whose parent died, is no longer a child of the command)."""
    found = dict(seen)
    with contextlib.suppress(psutil.Error):
        found.update((p.pid, p) for p in psutil.Process(proc.pid).children(recursive=True))
    alive = []
    for child in found.values():
        with contextlib.suppress(psutil.Error):
            if child.is_running():  # the same process: psutil compares its start time
                alive.append(child)
    return alive


def _signal_all(proc: subprocess.Popen[str], others: list[psutil.Process], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signum)
    for child in others:
        with contextlib.suppress(psutil.Error):
            child.send_signal(signum)


def _kill_tree(proc: subprocess.Popen[str], seen: dict[int, psutil.Process]) -> None:
    """SIGKILL the command's process group and every descendant still running."""
    _signal_all(proc, _descendants(proc, seen), signal.SIGKILL)


def _stop_tree(proc: subprocess.Popen[str], seen: dict[int, psutil.Process]) -> None:
    """End the tree of a command the harness stops: SIGTERM to the group and to every
    descendant, TERM_GRACE_S to exit, then SIGKILL to whatever is left; reap the command."""
    _signal_all(proc, _descendants(proc, seen), signal.SIGTERM)
    deadline = time.monotonic() + TERM_GRACE_S
    while time.monotonic() < deadline and (
            proc.poll() is None or any(_running(p) for p in _descendants(proc, seen))):
        time.sleep(0.05)
    _signal_all(proc, _descendants(proc, seen), signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=TERM_GRACE_S)


def _running(proc: psutil.Process) -> bool:
    """Still running: a zombie has ended (only its parent has not reaped it yet)."""
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _signal_detail(signum: int) -> str:
    name = _signal_name(signum)
    if signum == signal.SIGKILL:
        return f"killed by {name} (not by the harness: likely the kernel's out-of-memory killer)"
    if signum == signal.SIGSEGV:
        return f"crashed with {name} (segmentation fault in native code)"
    return f"ended by {name}"
