"""Trials: a cell with some pins changed, run only as far as the tier chased, and the
*state* of that tier, which is what the searches compare.

A state is more than pass or fail: a tier that passes but diverges from the golden is
another state, and so is a pass that needed shims, each a boundary of its own. Two trials
agree when their states' keys are equal; the good end's state is "good", any other "bad";
a trial that could not install is neither (``skip``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from compat import engines
from compat.cells import Cell, cell_id, valid_id
from compat.incell.status import DIVERGED, NOT_RUN, PASS, REFINED, UNVERIFIED, ran
from compat.result import files as results
from compat.result.model import CellResult, from_dict, load
from compat.system.supervise import INTERRUPTED

#: The state of a trial that could not be installed: neither good nor bad.
UNINSTALLABLE = "cannot install"


class TrialError(RuntimeError):
    """A trial left no usable result (interrupted, the harness failed): stop, say which."""


def pins_of(cell: Cell) -> dict[str, str]:
    """Every exact version a cell pins, by canonical distribution name."""
    out: dict[str, str] = {canonicalize_name(k): v for k, v in cell.pins}
    if cell.tts_version:
        out[cell.tts_distribution] = cell.tts_version
    out["torch"], out["transformers"] = cell.torch, cell.transformers
    return out


def trial_cell(base: Cell, pins: Mapping[str, str], *, follow: bool = True) -> Cell:
    """``base`` with ``pins`` (distribution -> exact version) changed or added. With
    ``follow``, torchaudio follows a moved torch where ``base`` pinned it to torch's
    version (its wheels pin torch exactly). The id is the stack's, plus the pins that
    differ from ``base`` beyond the axes, so every distinct trial has its own result."""
    extra = dict(base.pins)
    changes: dict[str, Any] = {}
    for raw, version in pins.items():
        name = canonicalize_name(raw)
        if engines.line_of(name) is not None:
            req = Requirement(base.tts) if canonicalize_name(Requirement(base.tts).name) == name \
                else Requirement(name)
            extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
            changes["tts"] = f"{req.name}{extras}=={version}"
        elif name == "torch":
            changes["torch"] = version
            if follow and "torchaudio" not in pins and extra.get("torchaudio") == base.torch:
                extra["torchaudio"] = version
        elif name == "transformers":
            changes["transformers"] = version
        else:
            extra[name] = version
    cell = replace(base, id="", pins=tuple(sorted(extra.items())), tags=("bisect",), **changes)
    stack = cell_id(cell)
    usual = dict(base.pins)  # what the stack's id implies: the base's pins, torchaudio following
    if usual.get("torchaudio") == base.torch:
        usual["torchaudio"] = cell.torch
    moved = sorted((k, v) for k, v in extra.items() if usual.get(k) != v)
    if moved:
        words = [f"{k.replace('-', '')}{v}" for k, v in moved]
        suffix = "-".join(words) if len(words) <= 2 else hashlib.sha256(
            repr(moved).encode()).hexdigest()[:10]
        stack = f"{stack}-{suffix}"
    if not valid_id(stack):
        raise ValueError(f"the trial {dict(pins)} makes the cell id {stack!r}, which is not valid")
    return replace(cell, id=stack)


def needed_tiers(engine_name: str, tier: str) -> tuple[str, ...]:
    """``tier`` and every tier it needs, in the engine's order: what a trial runs."""
    engine = engines.get_engine(engine_name)
    if tier not in engine.tier_names():
        raise ValueError(f"no tier {tier!r} in the {engine_name} engine "
                         f"(its tiers: {', '.join(engine.tier_names())})")
    return (*engine.needed(tier), tier)


@dataclass
class State:
    """What a trial showed for the tier chased. ``key`` is what trials are compared by
    (status bare, exception type, the shims a pass needed); the error is for people."""

    key: str
    status: str
    exc_type: str = ""
    message: str = ""
    #: The tier the error came from (a need of the chased tier, when it blocked it).
    tier: str = ""
    shims: list[str] = field(default_factory=list)
    resolved: dict[str, str] = field(default_factory=dict)

    @property
    def installable(self) -> bool:
        return self.key != UNINSTALLABLE

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "status": self.status, "exc_type": self.exc_type,
                "message": self.message, "tier": self.tier, "shims": self.shims}


def _first(tier: Mapping[str, Any]) -> Mapping[str, Any]:
    """How the tier went bare, in the environment as pinned (before shims, before any
    packaging repair)."""
    return tier.get("bare") or tier


def state_of(given: CellResult | Mapping[str, Any], tier: str, engine_name: str) -> State:
    """The state of ``tier`` in a trial's result (a mapping is read as a result file's
    data)."""
    result = given if isinstance(given, CellResult) else from_dict(dict(given))
    if result.outcome == INTERRUPTED:
        raise TrialError(f"{result.id}: interrupted before it finished")
    resolved = dict(result.resolved or {})
    tiers = {name: found.to_dict() for name, found in result.tiers.items()}
    install = tiers.get("install", {})
    if install.get("status") != PASS:
        message = (install.get("message") or "").strip()
        return State(UNINSTALLABLE, install.get("status", "?"), install.get("exc_type", ""),
                     message.splitlines()[0] if message else "", "install", resolved=resolved)
    if tier not in tiers:
        raise TrialError(f"{result.id}: the result has no tier {tier!r}")
    own = tiers[tier]
    first = _first(own)
    status = first.get("status", "?")
    if not ran(own):
        raise TrialError(f"{result.id}: tier {tier!r} was not run")
    source, error = tier, first
    if status == NOT_RUN:  # blocked by a need: the need's error is the one to show
        for need in needed_tiers(engine_name, tier)[:-1]:
            need_first = _first(tiers.get(need, {}))
            if need_first.get("status") not in (PASS, *REFINED):
                source, error = need, need_first
                break
    shims = list(own.get("shims") or []) if own.get("status") in (PASS, DIVERGED, UNVERIFIED) \
        and own.get("shimmed") else []
    key = status + (f" {error.get('exc_type')}" if error.get("exc_type") else "")
    if source != tier:
        key += f" (blocked by {source})"
    if shims:
        key += f"; {own['status']} with shims {', '.join(shims)}"
    elif first is not own and own.get("status") != status:
        key += f"; {own['status']} after shims"
    if own.get("repaired"):
        key += "; repaired environment"
    message = (error.get("message") or error.get("reason") or "").strip()
    return State(key, status, error.get("exc_type", "") or "", message, source, shims, resolved)


Runner = Callable[[list[Cell], Path, tuple[str, ...]], None]


@dataclass
class Trials:
    """Runs trials and remembers them: their cells, states and order (the answer lists
    every trial, skipped ones included)."""

    base: Cell
    tier: str
    results_dir: Path
    run: Runner
    say: Callable[[str], None] = print
    at_most: int = 0
    log: list[dict[str, Any]] = field(default_factory=list)

    def state(self, pins: Mapping[str, str], label: str, *, follow: bool = True) -> State:
        """Run the trial (``pins`` over the base cell) as far as the tier chased; its state."""
        tiers = needed_tiers(self.base.engine, self.tier)
        return self._run(pins, label, tiers, follow)[self.tier]

    def states(self, pins: Mapping[str, str], label: str, names: list[str], *,
               follow: bool = True) -> dict[str, State]:
        """Run the trial with every tier; the state of each (the ends, before a tier is
        chosen)."""
        return self._run(pins, label, (), follow, names)

    def _run(self, pins: Mapping[str, str], label: str, tiers: tuple[str, ...], follow: bool,
             names: list[str] | None = None) -> dict[str, State]:
        cell = trial_cell(self.base, pins, follow=follow)
        number = len(self.log) + 1
        bound = f" of at most {self.at_most}" if self.at_most else ""
        self.say(f"bisect: trial {number}{bound}: {label} ({cell.id})")
        path = results.result_path(self.results_dir, cell.id)
        before = _finished_at(path)
        self.run([cell], self.results_dir, tiers)
        try:
            result = load(path)
        except ValueError as exc:
            raise TrialError(f"trial {cell.id} left no readable result in {self.results_dir}: "
                             f"{exc}") from None
        found = {name: state_of(result, name, self.base.engine)
                 for name in (names or [self.tier])}
        shown = found[self.tier] if self.tier in found else next(iter(found.values()))
        self.log.append({"trial": number, "label": label, "cell": cell.id,
                         "pins": dict(pins), "tiers": list(tiers) or "all",
                         "state": shown.as_dict(), "resolved": shown.resolved,
                         "reused": before is not None and result.finished_at == before,
                         "seconds": _seconds(result),
                         "finished_at": result.finished_at})
        word = shown.key if self.tier else "; ".join(f"{n} {s.key}" for n, s in found.items())
        self.say(f"bisect: trial {number}{bound}: {label}: {word}")
        return found


def _seconds(result: CellResult) -> float:
    return round(sum(t.seconds or 0 for t in result.tiers.values()), 1)


def _finished_at(path: Path) -> str | None:
    """When the stored result at ``path`` finished (None: no readable result there)."""
    try:
        return load(path).finished_at
    except ValueError:
        return None
