"""The result of one cell, typed: ``CellResult`` and its ``TierResult``s, the one owner of
what a result file holds. Modelled on asv's ``Results`` (``asv/results.py``): one class with
``load``, ``save`` and schema upgrades; here also the JSON schema, generated from the
classes' fields (``json_schema()``) rather than written beside them.

A result is written by the run (``compat.run.cell`` builds it as a mapping, step by step,
and ``compat.result.files.write_result`` checks it against this model before it lands) and
read by the report, the gate and the culprit finder through ``from_dict``/``load``, which
upgrade an older file first: a result written before a schema change still loads.

Every key a file holds is a field; keys this model does not know (a newer harness's) are
kept in ``extra`` and written back, never dropped.
"""

# ruff: noqa: UP006, UP035, UP045 -- typing.get_type_hints evaluates these annotations at run
# time (the schema, the nested classes), and the host may run Python 3.9: no ``X | None``.
from __future__ import annotations

import dataclasses
import functools
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Union

from compat.cells import ID_RULE, valid_id
from compat.incell.atomicio import write_json_atomic
from compat.incell.status import STATUSES

SCHEMA = "xtts-compat/result/2"
V1 = "xtts-compat/result/1"


def _meta(**json_schema: Any) -> dict[str, Any]:
    return {"json": json_schema}


@dataclass
class TierResult:
    """One tier of a cell: its status and what the run recorded about it."""

    status: str = field(metadata=_meta(enum=list(STATUSES)))
    #: Wall seconds of the tier in its last round.
    seconds: Optional[float] = None
    #: Why it has this status, in a line (a skip's reason, a crash's cause).
    reason: Optional[str] = None
    #: The first failing test: its id, exception type, message and traceback.
    test: Optional[str] = None
    exc_type: Optional[str] = None
    message: Optional[str] = None
    traceback: Optional[str] = None
    cause: Optional[str] = None
    #: Each test of the tier: id, outcome, seconds, recorded properties.
    tests: Optional[List[Dict[str, Any]]] = None
    #: Per device (cpu, cuda:0, ...): that device's status and tests.
    devices: Optional[Dict[str, Dict[str, Any]]] = None
    #: The shims that made it pass, and its status before and with them.
    shims: Optional[List[str]] = None
    bare: Optional[Dict[str, Any]] = None
    shimmed: Optional[Dict[str, Any]] = None
    #: Its status in the repaired environment (a repair round).
    repaired: Optional[Dict[str, Any]] = None
    #: The install tier's: the installer, whether the environment was reused, the command
    #: and its log.
    backend: Optional[str] = None
    reused: Optional[bool] = None
    command: Optional[List[str]] = None
    log: Optional[str] = None
    extra: Dict[str, Any] = field(default_factory=dict, metadata=_meta(skip=True))

    def to_dict(self) -> Dict[str, Any]:
        return _to_dict(self)

    @property
    def properties(self) -> Dict[str, Dict[str, Any]]:
        """Recorded properties by test id (``record_property`` in the tier tests)."""
        return {t.get("test", ""): t.get("properties", {}) for t in self.tests or []}


@dataclass
class CellResult:
    """One cell's result file (``results/<cell-id>.json``)."""

    cell: Dict[str, Any] = field(metadata=_meta(required=["id"]))
    machine: Dict[str, Any]
    started_at: str = field(metadata=_meta(format="date-time"))
    tiers: Dict[str, TierResult]
    schema: str = field(default=SCHEMA, metadata=_meta(const=SCHEMA))
    suite_version: str = ""
    #: What the result stands for (pins, code, model): compat.result.fingerprint.
    fingerprint: str = ""
    #: Where the time went: install, probe, each tier round (seconds). Empty in results
    #: upgraded from schema 1, which did not record it.
    phases: Dict[str, Any] = field(default_factory=dict)
    #: completed, interrupted, timeout, out-of-memory, ...; "unknown" when an upgraded
    #: schema-1 file did not say.
    outcome: str = "unknown"
    finished_at: Optional[str] = field(default=None, metadata=_meta(format="date-time"))
    tier_digests: Optional[Dict[str, str]] = None
    python: Optional[Dict[str, Any]] = None
    environment: Optional[Dict[str, Any]] = None
    freeze: Optional[List[str]] = None
    probe: Optional[Dict[str, Any]] = None
    devices: Optional[List[str]] = None
    resolved: Optional[Dict[str, str]] = None
    host: Optional[Dict[str, Any]] = None
    fixture: Optional[Dict[str, Any]] = None
    shims: Optional[Dict[str, Any]] = None
    artifacts: Optional[Dict[str, Any]] = None
    bench: Optional[Dict[str, Any]] = None
    tier_run: Optional[Dict[str, Any]] = None
    #: The tiers this run was asked for (a trial, the exploratory matrix), when not all.
    only: Optional[List[str]] = None
    repair: Optional[Dict[str, Any]] = None
    interrupted: Optional[Dict[str, Any]] = None
    harness_error: Optional[str] = None
    extra: Dict[str, Any] = field(default_factory=dict, metadata=_meta(skip=True))

    @property
    def id(self) -> str:
        return str(self.cell["id"])

    @property
    def when(self) -> str:
        return self.finished_at or self.started_at

    def status(self, tier: str) -> str | None:
        found = self.tiers.get(tier)
        return found.status if found else None

    def to_dict(self) -> Dict[str, Any]:
        return _to_dict(self)

    def save(self, results_dir: Path) -> Path:
        """Write it atomically to ``results_dir/<cell-id>.json``."""
        return write_json_atomic(result_path(results_dir, self.id), self.to_dict())


def result_path(results_dir: Path, cell_id: str) -> Path:
    """``results_dir/<cell_id>.json``. An id that is not a cell id (``ID_RE``) is refused:
    with '/' or '..' it would write, and the cell's scratch folders be deleted, outside
    ``results_dir``. Matrix files are checked already; this is the second line."""
    if not valid_id(cell_id):
        raise ValueError(f"{cell_id!r} is not a valid cell id ({ID_RULE}); "
                         f"refusing to write its result under {results_dir}")
    return results_dir / f"{cell_id}.json"


# -- reading, with upgrades ------------------------------------------------------------------


def _upgrade_1(data: dict[str, Any]) -> dict[str, Any]:
    """Schema 1 -> 2: ``phases`` and ``outcome`` became required. A schema-1 file may lack
    them (phases were first recorded on 2026-12-04; an old interrupted run wrote no
    outcome): they become explicit, ``{}`` and ``"unknown"``, never guessed."""
    return {**data, "schema": SCHEMA, "phases": data.get("phases", {}),
            "outcome": data.get("outcome", "unknown")}


#: Each older schema, and the function that brings its data one step newer.
UPGRADES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {V1: _upgrade_1}


def upgrade(data: dict[str, Any]) -> dict[str, Any]:
    seen = set()
    while data.get("schema") in UPGRADES and data["schema"] not in seen:
        seen.add(data["schema"])
        data = UPGRADES[data["schema"]](data)
    return data


def from_dict(data: Any) -> CellResult:
    """A result from its JSON data, upgraded, or ValueError naming what is wrong."""
    if not isinstance(data, dict) or data.get("schema") not in (SCHEMA, *UPGRADES):
        found = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise ValueError(f"not an xtts-compat result (schema {found!r}, expected {SCHEMA!r})")
    data = upgrade(data)
    errors = sorted(_validator().iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        where = ".".join(str(p) for p in errors[0].absolute_path) or "(top)"
        raise ValueError(f"malformed result: {where}: {errors[0].message}")
    return _from_dict(CellResult, data)


@functools.lru_cache(maxsize=1)
def _validator() -> Any:
    """The schema's validator, made once: the report reads hundreds of results."""
    import jsonschema

    return jsonschema.Draft202012Validator(json_schema())


def load(path: Path) -> CellResult:
    """A result file, upgraded; ValueError saying what is wrong with it."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"unreadable: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    return from_dict(data)


# -- the generic part: fields to JSON, JSON to fields, fields to a JSON schema ---------------


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _to_dict(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        if f.name == "extra":
            continue
        value = getattr(obj, f.name)
        if value is None and f.default is None:
            continue  # absent in the file: stays absent
        if isinstance(value, dict):
            value = {k: _to_dict(v) if dataclasses.is_dataclass(v) else v
                     for k, v in value.items()}
        out[f.name] = value
    out.update(obj.extra)
    return out


def _from_dict(cls: type, data: dict[str, Any]) -> Any:
    hints = _hints(cls)
    names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
    kwargs: dict[str, Any] = {}
    for name in names & data.keys():
        value = data[name]
        target = _inner_dataclass(hints[name])
        if target is not None and isinstance(value, dict):
            value = {k: _from_dict(target, v) for k, v in value.items()}
        kwargs[name] = value
    return cls(**kwargs, extra={k: v for k, v in data.items() if k not in names})


def _inner_dataclass(hint: Any) -> type | None:
    """``dict[str, TierResult]`` -> TierResult."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) is dict and len(args) == 2 and dataclasses.is_dataclass(args[1]):
        return args[1]  # type: ignore[return-value]
    return None


_SIMPLE = {str: "string", float: "number", int: "integer", bool: "boolean"}


def _type_schema(hint: Any, defs: dict[str, Any]) -> dict[str, Any]:
    if hint is Any:
        return {}
    if hint in _SIMPLE:
        return {"type": _SIMPLE[hint]} if hint is not float else {"type": ["number", "integer"]}
    if hint is type(None):
        return {"type": "null"}
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Union or origin is getattr(types, "UnionType", Union):
        return {"anyOf": [_type_schema(a, defs) for a in args]}
    if origin is list:
        return {"type": "array", "items": _type_schema(args[0], defs)}
    if origin is dict:
        return {"type": "object", "additionalProperties": _type_schema(args[1], defs)}
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        defs[hint.__name__] = _class_schema(hint, defs)
        return {"$ref": f"#/$defs/{hint.__name__}"}
    raise TypeError(f"no JSON schema for {hint!r}")


def _class_schema(cls: type, defs: dict[str, Any]) -> dict[str, Any]:
    hints = _hints(cls)
    props: dict[str, Any] = {}
    required = []
    for f in dataclasses.fields(cls):
        meta = dict(f.metadata.get("json", {}))
        if meta.pop("skip", False):
            continue
        schema = _type_schema(hints[f.name], defs)
        if "required" in meta:
            schema["required"] = meta.pop("required")
        schema.update(meta)
        props[f.name] = schema
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            required.append(f.name)
    return {"type": "object", "required": required, "properties": props,
            "additionalProperties": True}  # a newer harness's keys: kept in ``extra``


def json_schema() -> dict[str, Any]:
    """The result file's JSON schema, generated from ``CellResult`` (draft 2020-12)."""
    defs: dict[str, Any] = {}
    top = _class_schema(CellResult, defs)
    top["properties"]["schema"] = {"enum": [SCHEMA]}
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "https://xtts-compat.invalid/result/2",
            "title": "xtts-compat cell result", **top, "$defs": defs}
