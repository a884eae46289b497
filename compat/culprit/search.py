"""The searches of the culprit finder, pure: each takes a *judge* that runs a trial and
says ``good``, ``bad`` or ``skip`` (it could not be installed: neither good nor bad, as
``git bisect skip``). Tested with fake judges; the real one runs cells (``trials``)."""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

GOOD, BAD, SKIP = "good", "bad", "skip"
VERDICTS = (GOOD, BAD, SKIP)
T = TypeVar("T", bound=Hashable)


class SearchError(ValueError):
    """The search cannot start (say, the good release is not good); the message says why."""


def max_trials(positions: int) -> int:
    """Trials a binary search over ``positions`` releases (both ends included) needs at most
    without skips: the two ends, then ceil(log2(gaps))."""
    if positions < 2:
        raise SearchError("a search needs a good and a bad release")
    return 2 + math.ceil(math.log2(positions - 1))


@dataclass
class Boundary:
    """Where the verdict changes: ``last_good`` then ``first_bad``. ``undecided``: releases
    between them that could not be judged (skipped); empty when the pair is adjacent."""

    last_good: str
    first_bad: str
    undecided: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        return not self.undecided


def bisect(candidates: Sequence[str], judge: Callable[[str], str]) -> Boundary:
    """Binary search over ``candidates`` (ordered from the good end to the bad end, both
    already judged good and bad by the caller) for the adjacent pair where the verdict
    changes. A skipped release is set aside and its nearest neighbour tried instead; where
    only skipped releases are left between the two, the boundary is that range."""
    lo, hi = 0, len(candidates) - 1
    skipped: set[int] = set()
    while True:
        inner = [i for i in range(lo + 1, hi) if i not in skipped]
        if not inner:
            break
        middle = (lo + hi) / 2
        pick = min(inner, key=lambda i: (abs(i - middle), i))
        verdict = judge(candidates[pick])
        if verdict == GOOD:
            lo = pick
        elif verdict == BAD:
            hi = pick
        elif verdict == SKIP:
            skipped.add(pick)
        else:
            raise ValueError(f"judge said {verdict!r}, not one of {VERDICTS}")
    return Boundary(candidates[lo], candidates[hi],
                    undecided=[candidates[i] for i in range(lo + 1, hi)],
                    skipped=[candidates[i] for i in sorted(skipped)])


def newest_good(candidates: Sequence[str], judge: Callable[[str], str]) -> Boundary | None:
    """From a good release (``candidates[0]``, judged by the caller) forward: the newest
    release is tried first; when it is good there is no boundary (None); else the
    boundary below it (its ``last_good`` is the newest release that still works before the
    first break)."""
    if len(candidates) < 2:
        return None
    verdict = judge(candidates[-1])
    if verdict == GOOD:
        return None
    if verdict == SKIP:  # the newest cannot be installed: walk down to one that can
        for end in range(len(candidates) - 2, 0, -1):
            verdict = judge(candidates[end])
            if verdict == GOOD:
                return None if end == len(candidates) - 1 else Boundary(
                    candidates[end], candidates[end + 1], skipped=list(candidates[end + 1:]))
            if verdict == BAD:
                return bisect(candidates[:end + 1], judge)
        return None
    return bisect(candidates, judge)


def ddmin(changes: Sequence[T], judge: Callable[[frozenset[T]], str]) -> list[T]:
    """The smallest subset of ``changes`` (all of them judged bad by the caller) that is
    still bad, by delta debugging (Zeller's ddmin): halves, then their complements, then
    finer splits. Two changes that only break together come back as the pair. A subset
    that cannot be installed counts as not bad. Each subset is judged once."""
    seen: dict[frozenset[T], str] = {frozenset(changes): BAD}

    def bad(subset: Sequence[T]) -> bool:
        key = frozenset(subset)
        if key not in seen:
            seen[key] = judge(key)
        return seen[key] == BAD

    current = list(changes)
    n = 2
    while len(current) >= 2:
        size = math.ceil(len(current) / n)
        chunks = [current[i:i + size] for i in range(0, len(current), size)]
        for chunk in chunks:
            if bad(chunk):
                current, n = chunk, 2
                break
        else:
            for chunk in chunks:
                rest = [c for c in current if c not in chunk]
                if len(chunks) > 2 and bad(rest):  # with two chunks, a complement is a chunk
                    current, n = rest, max(n - 1, 2)
                    break
            else:
                if n >= len(current):
                    break
                n = min(2 * n, len(current))
    return current
