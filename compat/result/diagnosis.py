"""The knowledge base of known breakages and the classifier that matches a failure to
one of them, or to none (``unclassified``).

Each engine owns its entries (``compat/engines/<engine>/known_breakages.toml``), the
stack beneath them all its own (``compat/engines/known_breakages.toml``); this module owns
their format and the matching. The report, the gate, the shim rounds of a
cell and ``doctor`` all diagnose from here, for the engine of the failure; nothing
imports torch or an engine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from compat.system.tomlcompat import tomllib

#: The file name of an engine's knowledge base, in the engine's folder.
FILE_NAME = "known_breakages.toml"
#: The fields a cell's run reads of an entry that has a shim or a repair (the shim rounds
#: pick shims by signature, :func:`shims_for`; the repair round its fixes,
#: :func:`repair_for`, in file order): only these, of only those entries, enter a result's
#: fingerprint. An entry with neither is words for the report, the gate and the doctor,
#: which classify a stored failure when they read it; so is every entry's diagnosis,
#: cause, boundary, remedy, references, ``shown_by`` and ``affects``. The knowledge base
#: can then grow by what a run found (a new class, a widened signature of an entry that
#: mends nothing) without making every result of the engine stale.
RUN_FIELDS = ("id", "exc_type", "pattern", "shim", "repair")


def run_view(text: str) -> bytes:
    """What of a knowledge base's text a cell's run depends on (``RUN_FIELDS`` of each
    entry with a shim or a repair, in order), as bytes to hash; the text itself when it
    does not parse (a broken file still changes the digest)."""
    try:
        entries = tomllib.loads(text).get("breakage", [])
    except tomllib.TOMLDecodeError:
        return text.encode()
    return repr([[(k, e.get(k)) for k in RUN_FIELDS] for e in entries
                 if e.get("shim") or e.get("repair")]).encode()
ENGINES_DIR = Path(__file__).resolve().parents[1] / "engines"
SCHEMA_FILE = Path(__file__).with_name("knowledge.schema.json")
UNCLASSIFIED = "unclassified"
FIELDS = ("id", "tier", "exc_type", "pattern", "error", "diagnosis", "cause", "boundary",
          "affects", "shim", "pin", "reference")
#: Fields an entry may leave out, with their defaults. ``host``: the host prerequisite
#: (compat.env.host.KNOWN) whose absence explains the breakage. ``repair``: for a packaging
#: failure, how the repair round mends it (``add:DIST``, ``add:DIST<V`` (a bound),
#: ``align:DIST=OTHER``; see
#: compat.run.repair). ``shown_by``: the cells (ids in matrices/*.toml) that show it, which
#: ``nox -s kb -- check`` holds the entry's ``affects`` against.
OPTIONAL: dict[str, Any] = {"host": "", "repair": "", "shown_by": ()}
REPAIR = re.compile(r"^(add:[A-Za-z0-9._-]+([<>=!~]=?[0-9][0-9A-Za-z.*]*)?"
                    r"|align:[A-Za-z0-9._-]+=[A-Za-z0-9._-]+)$")


class KnowledgeBaseError(ValueError):
    """A malformed knowledge base; the message names the file and the entry."""


@dataclass(frozen=True)
class Breakage:
    id: str
    tier: str
    exc_type: str
    pattern: str
    error: str
    diagnosis: str
    cause: str
    boundary: str
    affects: tuple[dict[str, str], ...]
    shim: str
    pin: str
    reference: str
    host: str = ""
    repair: str = ""
    shown_by: tuple[str, ...] = ()
    #: The engine whose folder holds the entry (set by :func:`load`).
    engine: str = field(default="", compare=False)
    _type_re: re.Pattern = field(init=False, repr=False, compare=False)
    _message_re: re.Pattern = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_type_re", re.compile(rf"(^|\.)({self.exc_type})$"))
        object.__setattr__(self, "_message_re", re.compile(self.pattern))

    def matches(self, exc_type: str, message: str) -> bool:
        """Whether a failure (exception type, message) is this breakage."""
        type_ok = not self.exc_type or bool(self._type_re.search(exc_type or ""))
        return type_ok and self._message_re.search(message or "") is not None

    def example(self) -> tuple[str, str]:
        """The entry's own verbatim ``error`` as (exception type, message): "Type: text",
        or the whole line as the message when it names no type (an install failure takes
        the first type the entry allows)."""
        kind, _, rest = self.error.partition(": ")
        exc_type, message = (kind.rsplit(".", 1)[-1], rest) if rest else ("", self.error)
        return exc_type or self.exc_type.split("|")[0], message

    @property
    def remedy(self) -> str:
        """One line: the shim that fixes it, else the pin that avoids it."""
        parts = []
        if self.shim:
            parts.append(f"shim `{self.shim}` (patches/)")
        if self.pin:
            parts.append(f"pin `{self.pin}`")
        return " or ".join(parts) or "none known"

    def affected(self, versions: dict[str, str | None]) -> bool:
        """For ``doctor``: whether installed versions (dist -> version or None) match any
        alternative of ``affects``. ``python`` is a key like any distribution."""
        return any(all(_holds(versions, dist, rule) for dist, rule in alt.items())
                   for alt in self.affects)

    def could_hold(self, versions: dict[str, str | None], absent_known: bool = False) -> bool:
        """``affected`` where only some versions are known: whether an alternative of
        ``affects`` holds for every distribution whose version is known (an entry with
        none always could). A distribution without a version is unknown (a cell's pins
        name only some), or, with ``absent_known`` (the stack was resolved: a fork's
        stack has no original distribution), known to be absent. ``kb check`` names an
        entry whose shown_by cells it could not hold for; the report calls a match it
        cannot hold for no diagnosis."""
        def known(dist: str) -> bool:
            return absent_known or versions.get(dist) is not None

        return not self.affects or any(
            all(_holds(versions, dist, rule) for dist, rule in alt.items()
                if known(dist) or rule == "absent")
            for alt in self.affects)

    def as_dict(self) -> dict[str, Any]:
        return {name: (list(getattr(self, name)) if name in ("affects", "shown_by")
                       else getattr(self, name))
                for name in (*FIELDS, *OPTIONAL)} | {"remedy": self.remedy}


def _version(text: str | None) -> Version | None:
    try:
        return Version(text) if text else None
    except InvalidVersion:
        return None


def _holds(versions: dict[str, str | None], dist: str, rule: str) -> bool:
    raw = versions.get(dist)
    if rule == "absent":
        return raw is None
    found = _version(raw)
    if found is None:
        return False
    if rule.startswith("!+"):
        return rule[2:] not in (found.local or "")
    if rule.startswith("+"):
        return rule[1:] in (found.local or "")
    if rule.startswith("minor!="):
        other = _version(versions.get(rule[len("minor!="):]))
        return other is not None and found.release[:2] != other.release[:2]
    return SpecifierSet(rule).contains(found, prereleases=True)


def _check_rule(where: str, dist: str, rule: str) -> None:
    if rule == "absent" or rule.startswith(("+", "!+", "minor!=")):
        return
    try:
        SpecifierSet(rule)
    except InvalidSpecifier as exc:
        raise KnowledgeBaseError(f"{where}: affects {dist} = {rule!r}: {exc}") from None


def parse(text: str, source: str = FILE_NAME, engine: str = "") -> tuple[Breakage, ...]:
    """Parse and check a knowledge base; errors name the file and the entry."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise KnowledgeBaseError(f"{source}: {exc}") from None
    entries, seen = [], set()
    for number, raw in enumerate(data.get("breakage", []), start=1):
        where = f"{source}: [[breakage]] #{number} ({raw.get('id', 'no id')})"
        missing = [name for name in FIELDS if name not in raw]
        unknown = sorted(set(raw) - set(FIELDS) - set(OPTIONAL))
        if missing or unknown:
            raise KnowledgeBaseError(f"{where}: missing {missing}, unknown {unknown}")
        if raw["id"] in seen:
            raise KnowledgeBaseError(f"{where}: duplicate id")
        seen.add(raw["id"])
        if raw.get("repair") and not REPAIR.match(raw["repair"]):
            raise KnowledgeBaseError(f"{where}: repair {raw['repair']!r}: expected "
                                     "'add:DIST', 'add:DIST<VERSION' or 'align:DIST=OTHER'")
        for alt in raw["affects"]:
            for dist, rule in alt.items():
                _check_rule(where, dist, rule)
        try:
            entries.append(Breakage(**{**raw, "affects": tuple(raw["affects"]),
                                       "shown_by": tuple(raw.get("shown_by", ()))},
                                    engine=engine))
        except re.error as exc:
            raise KnowledgeBaseError(f"{where}: bad regular expression: {exc}") from None
    return tuple(entries)


def render_entry(fields: dict[str, Any]) -> str:
    """One ``[[breakage]]`` entry in the knowledge base's own TOML, fields in their order
    (``affects`` a list of tables): what the culprit finder's and ``kb draft``'s drafts
    are written with, so a draft always parses (a test checks)."""
    import json

    def value(v: Any) -> str:
        if isinstance(v, (list, tuple)) and all(isinstance(x, str) for x in v):
            return json.dumps(list(v))
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join("{ " + ", ".join(f"{key(k)} = {json.dumps(x)}"
                                                     for k, x in alt.items()) + " }"
                                   for alt in v) + "]"
        return json.dumps(v)  # a JSON string is a TOML basic string

    def key(name: str) -> str:
        return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else json.dumps(name)

    lines = ["[[breakage]]"]
    for name in (*FIELDS, *OPTIONAL):
        if name in fields and (name in FIELDS or fields[name]):
            lines.append(f"{name} = {value(fields[name])}")
    return "\n".join(lines) + "\n"


#: The name of the knowledge base of the stack beneath every engine
#: (``compat/engines/known_breakages.toml``): torch, torchaudio and their like break every
#: engine the same way, so such an entry has one owner, not one copy per engine.
STACK = "stack"


def knowledge_bases() -> dict[str, Path]:
    """Every engine's knowledge base file, by engine folder name, and the stack's."""
    found = {path.parent.name: path for path in sorted(ENGINES_DIR.glob(f"*/{FILE_NAME}"))}
    shared = ENGINES_DIR / FILE_NAME
    return found | ({STACK: shared} if shared.is_file() else {})


@cache
def load(engine: str | None = None) -> tuple[Breakage, ...]:
    """The entries one engine's failures are read against: its own knowledge base, then
    the stack's; or every entry (ids are unique across them all: a test checks)."""
    found: list[Breakage] = []
    for name, path in knowledge_bases().items():
        if engine is None or name in (engine, STACK):
            found += parse(path.read_text(encoding="utf-8"), str(path), engine=name)
    return tuple(found)


def by_id(breakage_id: str) -> Breakage:
    for entry in load():
        if entry.id == breakage_id:
            return entry
    raise KeyError(breakage_id)


def classify(exc_type: str | None, message: str | None, engine: str | None = None,
             versions: dict[str, str | None] | None = None) -> Breakage | None:
    """The first known breakage of the engine (every engine's when None) matching a
    failure, or None (unclassified). Never a guess: only an entry whose signature matches
    is returned. With the failing stack's ``versions``, an entry whose ``affects`` holds
    for them comes first: one message can be two breakages of two releases of an engine,
    told apart only by the stack's versions (the knowledge bases have such a pair)."""
    found = [e for e in load(engine) if e.matches(exc_type or "", message or "")]
    if versions is not None:
        found.sort(key=lambda e: not (e.affects and e.affected(versions)))
    return found[0] if found else None


def repair_for(exc_type: str | None, message: str | None,
               engine: str | None = None) -> Breakage | None:
    """The first entry with a repair whose signature matches a failure (what the repair
    round reads): an entry without one never hides another's repair, whatever its place
    in the file."""
    return next((e for e in load(engine)
                 if e.repair and e.matches(exc_type or "", message or "")), None)


def shims_for(exc_type: str | None, message: str | None,
              engine: str | None = None) -> list[str]:
    """The shims of every breakage whose signature matches a failure."""
    return [e.shim for e in load(engine) if e.shim and e.matches(exc_type or "", message or "")]
