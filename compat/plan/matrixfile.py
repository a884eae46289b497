"""Matrix files: TOML grids and cells, validated and expanded into a list of cells.

A matrix file holds an optional ``[matrix]`` table of defaults, any number of
``[[grid]]`` tables (axes expanded into their product, filtered by include and
exclude rules written as PEP 440 specifiers) and any number of explicit
``[[cell]]`` tables. Every error names the file, the cell or grid, and the key.
"""

from __future__ import annotations

import itertools
import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from compat import engines
from compat.cells import (
    AXES,
    DEFAULT_INSTALL_TIMEOUT,
    DEFAULT_TIMEOUT,
    ID_RULE,
    LATEST,
    PYTHON_RE,
    Cell,
    InstallOptions,
    Matrix,
    MatrixError,
    cell_id,
    engine_of_distribution,
    pin_requirement,
    valid_id,
)
from compat.system import paths
from compat.system.tomlcompat import tomllib

_INSTALL_KEYS = {"index-url", "extra-index-url", "find-links", "index-strategy", "pre"}


_OPTION_KEYS = {"engine", "timeout", "install-timeout", "memory-limit", "tags", "install", "pins",
                "keep-env", "tiers"}


#: ``default = false``: the file is not part of the default selection (matrices/*.toml
#: when COMPAT_MATRIX names none): CI's smoke subset, the exploratory matrix.
#: ``tag = "explore"``: every cell carries the tag, and a file that is not in the default
#: selection joins it when nox is asked for that tag (``nox -l -t explore``).
_MATRIX_KEYS = _OPTION_KEYS | {"description", "default", "tag"}


_CELL_KEYS = _OPTION_KEYS | set(AXES) | {"id"}


_GRID_KEYS = _OPTION_KEYS | set(AXES) | {"include", "exclude"}


_TOP_KEYS = {"matrix", "grid", "cell"}


_SIZE_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6,
               "g": 10**9, "gb": 10**9, "kib": 2**10, "mib": 2**20, "gib": 2**30}


def load_matrix(path: str | Path, known_engines: Mapping[str, Iterable[str]] | None = None
                ) -> Matrix:
    """Parse, validate and expand a matrix file.

    ``known_engines`` maps engine names to the distributions each accepts as its
    ``tts`` axis; when given, a cell's engine and distribution are checked.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MatrixError(f"{path}: cannot read matrix file: {exc.strerror or exc}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MatrixError(f"{_where_syntax(path, exc)}: TOML syntax error: {exc}") from exc
    return _Parser(path, known_engines).parse(data)


def load_matrices(paths: Iterable[str | Path],
                  known_engines: Mapping[str, Iterable[str]] | None = None) -> Matrix:
    """Several matrix files as one matrix: their cells in file order. One id in two files
    is an error naming both, as within one file."""
    loaded = [load_matrix(path, known_engines) for path in paths]
    if not loaded:
        raise MatrixError("no matrix file selected")
    seen: dict[str, Path] = {}
    for matrix in loaded:
        for cell in matrix.cells:
            if cell.id in seen:
                raise MatrixError(f"{matrix.path}: cell '{cell.id}' is also in {seen[cell.id]}")
            seen[cell.id] = matrix.path
    if len(loaded) == 1:
        return loaded[0]
    return Matrix(loaded[0].path, "; ".join(m.description for m in loaded if m.description),
                  tuple(c for m in loaded for c in m.cells))


def _where_syntax(path: Path, exc: Exception) -> str:
    match = re.search(r"line (\d+), column (\d+)", str(exc))
    return f"{path}:{match.group(1)}:{match.group(2)}" if match else str(path)


class _Parser:
    def __init__(self, path: Path, known_engines: Mapping[str, Iterable[str]] | None) -> None:
        self.path = path
        self.known_engines = (
            {k: {canonicalize_name(d) for d in v} for k, v in known_engines.items()}
            if known_engines is not None else None
        )

    def fail(self, where: str, key: str | None, message: str) -> MatrixError:
        key_part = f": key '{key}'" if key else ""
        return MatrixError(f"{self.path}: {where}{key_part}: {message}")

    def parse(self, data: dict[str, Any]) -> Matrix:
        for key in data:
            if key not in _TOP_KEYS:
                raise self.fail("top level", key, f"unknown key; expected {_one_of(_TOP_KEYS)}")
        defaults = self._table(data.get("matrix", {}), "[matrix]")
        self._check_keys(defaults, _MATRIX_KEYS, "[matrix]")
        description = str(defaults.pop("description", ""))
        if not isinstance(defaults.pop("default", True), bool):
            raise self.fail("[matrix]", "default", "must be true or false")
        file_tag = defaults.pop("tag", None)
        if file_tag is not None and not valid_id(file_tag):
            raise self.fail("[matrix]", "tag", f"not a valid tag: {ID_RULE}")
        cells: list[Cell] = []
        for n, grid in enumerate(self._tables(data, "grid"), start=1):
            cells += self._expand_grid(grid, defaults, f"[[grid]] #{n}")
        for n, raw in enumerate(self._tables(data, "cell"), start=1):
            where = (f"cell '{raw['id']}' ([[cell]] #{n})" if valid_id(raw.get("id"))
                     else f"[[cell]] #{n}")
            self._check_keys(raw, _CELL_KEYS, where)
            cells.append(self._make_cell({**defaults, **raw}, where, explicit_id=raw.get("id")))
        if not cells:
            raise self.fail("top level", None, "no cells: add a [[grid]] or a [[cell]] table")
        if file_tag:
            cells = [c if file_tag in c.tags else replace(c, tags=(*c.tags, file_tag))
                     for c in cells]
        seen: dict[str, Cell] = {}
        for cell in cells:
            if cell.id in seen:
                first, again = (c.source.partition(": ")[2] for c in (seen[cell.id], cell))
                where = again if again.startswith("cell '") else f"cell '{cell.id}' ({again})"
                raise self.fail(where, "id", f"duplicate cell id; also produced by {first}"
                                " (give one of them an explicit id)")
            seen[cell.id] = cell
        return Matrix(self.path, description, tuple(cells))

    # -- tables -------------------------------------------------------------------------

    def _table(self, value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, None, f"must be a table, not {type(value).__name__}")
        return dict(value)

    def _tables(self, data: dict[str, Any], key: str) -> list[dict[str, Any]]:
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self.fail("top level", key, f"must be an array of tables ([[{key}]])")
        return value

    def _check_keys(self, table: Mapping[str, Any], allowed: set[str], where: str) -> None:
        for key in table:
            if key not in allowed:
                raise self.fail(where, key, f"unknown key; expected {_one_of(allowed)}")

    # -- grids --------------------------------------------------------------------------

    def _expand_grid(self, grid: dict[str, Any], defaults: dict[str, Any], where: str
                     ) -> list[Cell]:
        self._check_keys(grid, _GRID_KEYS, where)
        axes: dict[str, list[str]] = {}
        for axis in AXES:
            values = grid.get(axis)
            if values is None:
                raise self.fail(where, axis, "missing axis")
            if isinstance(values, str):
                values = [values]
            if not isinstance(values, list) or not values or not all(
                isinstance(v, str) for v in values
            ):
                raise self.fail(where, axis, "must be a non-empty list of strings")
            axes[axis] = values
        pin_names = grid.get("pins", defaults.get("pins", {}))
        allowed = set(AXES) | (set(pin_names) if isinstance(pin_names, dict) else set())
        include = self._rules(grid.get("include", []), where, "include", allowed)
        exclude = self._rules(grid.get("exclude", []), where, "exclude", allowed)
        options = {k: v for k, v in grid.items() if k in _OPTION_KEYS}
        cells = []
        for combo in itertools.product(*(axes[a] for a in AXES)):
            values = dict(zip(AXES, combo))
            label = ", ".join(f"{a}={values[a]}" for a in AXES)
            raw = {**defaults, **options, **values}
            if "pins" in raw:
                raw["pins"] = self._format_pins(raw["pins"], values, f"{where} ({label})")
            cell = self._make_cell(raw, f"{where} ({label})", explicit_id=None)
            if include and not any(_rule_matches(r, cell) for r in include):
                continue
            if any(_rule_matches(r, cell) for r in exclude):
                continue
            cells.append(cell)
        if not cells:
            raise self.fail(where, "exclude", "the rules leave no cell in this grid")
        return cells

    def _format_pins(self, pins: Any, values: dict[str, str], where: str) -> Any:
        if not isinstance(pins, dict):
            return pins  # _make_cell reports the type error
        try:
            return {k: v.format(**values) if isinstance(v, str) else v for k, v in pins.items()}
        except (KeyError, IndexError, ValueError) as exc:
            raise self.fail(where, "pins",
                            f"bad template {exc}; use {{torch}} and the like") from exc

    def _rules(self, rules: Any, where: str, key: str, allowed: set[str]
               ) -> list[dict[str, Any]]:
        if not isinstance(rules, list) or not all(isinstance(r, dict) for r in rules):
            raise self.fail(where, key, "must be a list of tables such as {torch = '>=2.6'}")
        parsed = []
        for n, rule in enumerate(rules):
            if not rule:
                raise self.fail(where, f"{key}[{n}]", "empty rule matches every cell")
            parsed_rule: dict[str, Any] = {}
            for axis, spec in rule.items():
                rkey = f"{key}[{n}].{axis}"
                if axis not in allowed:
                    raise self.fail(where, rkey, f"unknown axis; expected {_one_of(allowed)}")
                if not isinstance(spec, str):
                    raise self.fail(where, rkey, "must be a string")
                if axis == "tts":
                    parsed_rule[axis] = self._tts_rule(spec, where, rkey)
                else:
                    parsed_rule[axis] = self._specifier(spec, where, rkey)
            parsed.append(parsed_rule)
        return parsed

    def _tts_rule(self, spec: str, where: str, key: str) -> Requirement | SpecifierSet:
        if spec[:1].isalpha():
            try:
                return Requirement(spec)
            except InvalidRequirement as exc:
                raise self.fail(where, key, f"invalid requirement '{spec}': {exc}") from exc
        return self._specifier(spec, where, key)

    def _specifier(self, spec: str, where: str, key: str) -> SpecifierSet:
        try:
            return SpecifierSet(spec)
        except InvalidSpecifier as exc:
            raise self.fail(where, key, f"invalid PEP 440 specifier '{spec}'") from exc

    # -- cells --------------------------------------------------------------------------

    def _make_cell(self, raw: dict[str, Any], where: str, explicit_id: Any) -> Cell:
        for axis in AXES:
            if axis not in raw:
                raise self.fail(where, axis, "missing axis")
            if not isinstance(raw[axis], str):
                raise self.fail(where, axis, "must be a string")
        python = raw["python"]
        if not PYTHON_RE.match(python):
            raise self.fail(where, "python", f"invalid Python version '{python}'; use e.g. '3.11'")
        engine = raw.get("engine") or self._engine_of(raw["tts"], where)
        tts = self._tts_requirement(raw["tts"], engine, where)
        torch = self._version_or_spec(raw["torch"], where, "torch")
        transformers = self._version_or_spec(raw["transformers"], where, "transformers")
        pins = self._pins(raw.get("pins", {}), where)
        tags = raw.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise self.fail(where, "tags", "must be a list of strings")
        cell = Cell(
            id="", python=python, tts=tts, torch=torch, transformers=transformers, pins=pins,
            tags=tuple(dict.fromkeys(tags)), engine=engine,
            timeout=self._seconds(raw.get("timeout", DEFAULT_TIMEOUT), where, "timeout"),
            install_timeout=self._seconds(
                raw.get("install-timeout", DEFAULT_INSTALL_TIMEOUT), where, "install-timeout"),
            memory_limit=self._size(raw.get("memory-limit"), where),
            keep_env=self._flag(raw.get("keep-env", True), where, "keep-env"),
            tiers=self._names(raw.get("tiers", []), where, "tiers"),
            install=self._install(raw.get("install", {}), where),
            source=f"{self.path.name}: {where}",
        )
        if explicit_id is not None:
            if not valid_id(explicit_id):
                raise self.fail(where, "id", f"invalid id {explicit_id!r}; {ID_RULE}")
            return replace(cell, id=explicit_id)
        derived = cell_id(cell)
        if not valid_id(derived):  # e.g. tts = "pkg===../../x": arbitrary equality, any text
            raise self.fail(where, "id", f"invalid id {derived!r} (derived from the cell's "
                            f"axes); {ID_RULE}: give the cell an explicit id or fix 'tts'")
        return replace(cell, id=derived)

    def _engine_of(self, tts: str, where: str) -> str:
        """No ``engine`` key: the engine whose distribution the ``tts`` axis names."""
        try:
            name = canonicalize_name(Requirement(tts).name)
        except InvalidRequirement as exc:
            raise self.fail(where, "tts", f"invalid requirement '{tts}': {exc}") from exc
        if self.known_engines is not None:
            found = [e for e, dists in self.known_engines.items() if name in dists]
            if not found:
                known = sorted(d for dists in self.known_engines.values() for d in dists)
                raise self.fail(where, "tts", f"'{name}' is no engine's distribution; expected "
                                f"{_one_of(known)} (or set 'engine')")
            return found[0]
        return engine_of_distribution(name)

    def _tts_requirement(self, value: str, engine: Any, where: str) -> str:
        try:
            req = Requirement(value)
        except InvalidRequirement as exc:
            raise self.fail(where, "tts", f"invalid requirement '{value}': {exc}") from exc
        if self.known_engines is not None:
            if engine not in self.known_engines:
                raise self.fail(where, "engine", f"unknown engine {engine!r}; "
                                f"expected {_one_of(self.known_engines)}")
            dists = self.known_engines[engine]
            if canonicalize_name(req.name) not in dists:
                raise self.fail(where, "tts", f"'{req.name}' is not a distribution of engine "
                                f"'{engine}'; expected {_one_of(dists)}")
        return str(req)

    def _version_or_spec(self, value: str, where: str, key: str) -> str:
        value = value.strip()
        if value in (LATEST, "*"):
            return LATEST
        if value[:1].isdigit():
            try:
                Version(value)
            except InvalidVersion as exc:
                raise self.fail(where, key, f"invalid version '{value}'") from exc
        else:
            self._specifier(value, where, key)
        return value

    def _pins(self, pins: Any, where: str) -> tuple[tuple[str, str], ...]:
        if not isinstance(pins, dict):
            raise self.fail(where, "pins", "must be a table such as {torchaudio = '2.1.2'}")
        out = []
        for name, spec in pins.items():
            key = f"pins.{name}"
            if not isinstance(spec, str):
                raise self.fail(where, key, "must be a string")
            if canonicalize_name(name) in {"torch", "transformers"}:
                raise self.fail(where, key, f"'{name}' is an axis; set it at the cell's top level")
            out.append((name, self._version_or_spec(spec, where, key)))
            try:
                Requirement(pin_requirement(name, spec))
            except InvalidRequirement as exc:
                raise self.fail(where, key, f"invalid requirement: {exc}") from exc
        return tuple(sorted(out))

    def _install(self, raw: Any, where: str) -> InstallOptions:
        if not isinstance(raw, dict):
            raise self.fail(where, "install", "must be a table")
        self._check_keys(raw, _INSTALL_KEYS, f"{where} install")

        def urls(key: str) -> tuple[str, ...]:
            value = raw.get(key, [])
            value = [value] if isinstance(value, str) else value
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise self.fail(where, f"install.{key}", "must be a string or list of strings")
            return tuple(value)

        index_url = raw.get("index-url")
        strategy = raw.get("index-strategy")
        for key, value in (("index-url", index_url), ("index-strategy", strategy)):
            if value is not None and not isinstance(value, str):
                raise self.fail(where, f"install.{key}", "must be a string")
        pre = raw.get("pre", False)
        if not isinstance(pre, bool):
            raise self.fail(where, "install.pre", "must be true or false")
        return InstallOptions(index_url, urls("extra-index-url"), urls("find-links"),
                              strategy, pre)

    def _seconds(self, value: Any, where: str, key: str) -> float:
        # nan and inf pass '> 0' but compare false with every elapsed time: no limit at all
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value) or value <= 0:
            raise self.fail(where, key, f"must be a positive number of seconds, not {value!r}")
        return float(value)

    def _names(self, value: Any, where: str, key: str) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.fail(where, key, "must be a list of names")
        return tuple(dict.fromkeys(value))

    def _flag(self, value: Any, where: str, key: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(where, key, "must be true or false")
        return value

    def _size(self, value: Any, where: str) -> int | None:
        if value is None:
            return None
        try:
            return parse_size(value)
        except ValueError as exc:
            raise self.fail(where, "memory-limit", str(exc)) from exc


def parse_size(value: int | str) -> int:
    """``"16GiB"`` -> bytes. Integers are bytes. At least one byte: a limit of 0 would
    read as "no limit" (it is falsy), so it is refused like any other invalid size."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    match = None if isinstance(value, bool) else re.fullmatch(
        r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", str(value))
    size = 0
    if match and match.group(2).lower() in _SIZE_UNITS:
        size = int(float(match.group(1)) * _SIZE_UNITS[match.group(2).lower()])
    if size <= 0:
        raise ValueError(f"invalid size {value!r}; use e.g. '16GiB' or '512MB' (more than 0)")
    return size


def _rule_matches(rule: Mapping[str, Any], cell: Cell) -> bool:
    """True when every key of the rule matches the cell (an unpinned axis matches nothing)."""
    pins = {canonicalize_name(k): v for k, v in cell.pins}
    for axis, spec in rule.items():
        if axis == "tts":
            if isinstance(spec, Requirement):
                if canonicalize_name(spec.name) != cell.tts_distribution:
                    return False
                spec = spec.specifier
                if not spec:
                    continue
            version = cell.tts_version
        elif axis in ("python", "torch", "transformers"):
            version = getattr(cell, axis)
        else:
            version = pins.get(canonicalize_name(axis))
        if version is None or not version[:1].isdigit():
            return False
        if not spec.contains(version, prereleases=True):
            return False
    return True


def _one_of(keys: Iterable[str]) -> str:
    return "one of " + ", ".join(sorted(keys))


def known_cells() -> dict[str, list[Cell]]:
    """Every cell any matrix file names (default or not: smoke, explore, witness, ...),
    and those of the matrix the user selected (``COMPAT_MATRIX``, wherever it lies: its
    results and environments are the ones the user is working with); one id in two files
    (the smoke cells) has both definitions."""
    found: dict[str, list[Cell]] = {}
    known = {n: e.distributions for n, e in engines.all_engines().items()}
    files = {p.resolve() for p in paths.MATRICES.glob("*.toml")}
    if os.environ.get("COMPAT_MATRIX"):
        files.update(paths.matrix_paths())
    for path in sorted(files):
        try:
            cells = load_matrix(path, known).cells
        except MatrixError:
            continue  # a broken file is the matrix's error to report, not this listing's
        for cell in cells:
            found.setdefault(cell.id, []).append(cell)
    return found
