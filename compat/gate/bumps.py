"""Bumps: a cell with some pins moved, and the pins read from a project's requirement
files (requirements*.txt, constraints, pyproject.toml, uv.lock) and their git diff."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from compat import engines
from compat.gate.policy import GateError
from compat.matrix import Cell, cell_id, valid_id
from compat.stack import StackError, cell_from_versions
from compat.tomlcompat import tomllib


def cell_table(cell: Cell, *, keep_id: bool = True) -> str:
    """One ``[[cell]]`` of a matrix file, in TOML."""
    def q(text: str) -> str:
        return json.dumps(text)  # a JSON string is a valid TOML basic string

    lines = ["[[cell]]"]
    if keep_id:
        lines.append(f"id = {q(cell.id)}")
    lines += [f"python = {q(cell.python)}", f"tts = {q(cell.tts)}",
              f"torch = {q(cell.torch)}", f"transformers = {q(cell.transformers)}",
              f"engine = {q(cell.engine)}", f"timeout = {cell.timeout}",
              f"install-timeout = {cell.install_timeout}"]
    if cell.pins:
        lines.append("pins = { " + ", ".join(f"{q(k)} = {q(v)}" for k, v in cell.pins) + " }")
    if cell.tags:
        lines.append("tags = [" + ", ".join(q(t) for t in cell.tags) + "]")
    if cell.memory_limit:
        lines.append(f"memory-limit = {cell.memory_limit}")
    return "\n".join(lines) + "\n"


def bump(cell: Cell, requirements: list[str]) -> Cell:
    """The cell with the given requirements replacing its pins, under its new id. torchaudio
    follows a bumped torch when the cell pinned it to torch's version."""
    changes: dict[str, Any] = {}
    pins = dict(cell.pins)
    for text in requirements:
        try:
            req = Requirement(text)
        except InvalidRequirement as exc:
            raise GateError(f"--bump {text!r}: {exc}") from None
        spec = str(req.specifier)
        if not spec:
            raise GateError(f"--bump {text!r}: give a version, e.g. {req.name}==1.2.3")
        version = spec[2:] if spec.startswith("==") else spec
        name = canonicalize_name(req.name)
        if engines.line_of(name) is not None:
            changes["tts"] = text
        elif name == "torch":
            changes["torch"] = version
            if pins.get("torchaudio") == cell.torch:
                pins["torchaudio"] = version
        elif name == "transformers":
            changes["transformers"] = version
        else:
            pins[name] = version
    changes["pins"] = tuple(pins.items())
    bumped = replace(cell, id="", **changes)
    return _checked(replace(bumped, id=cell_id(bumped)), f"--bump {' '.join(requirements)}")


def watched() -> set[str]:
    """Distributions a requirement file bump is read for: every engine's (canonical)."""
    return {canonicalize_name(n) for n in engines.watched()}


def pins_in(name: str, text: str, *, every: bool = False) -> dict[str, str]:
    """Exact pins of the watched distributions (``every``: of all) in one requirement
    file's text: requirements*.txt or a constraints file, pyproject.toml ([project]
    dependencies), uv.lock."""
    lines: list[str] = []
    keep = (lambda _name: True) if every else (lambda n: n in watched())
    if name.endswith("uv.lock"):
        packages = tomllib.loads(text).get("package", [])
        return {canonicalize_name(p["name"]): p["version"] for p in packages
                if keep(canonicalize_name(p["name"])) and "version" in p}
    if name.endswith(".toml"):
        lines = list(tomllib.loads(text).get("project", {}).get("dependencies", []))
    else:
        lines = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    found: dict[str, str] = {}
    for line in lines:
        if not line or line.startswith("-"):
            continue
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        specs = [s for s in req.specifier if s.operator in ("==", "===")]
        if keep(canonicalize_name(req.name)) and specs:
            found[canonicalize_name(req.name)] = specs[0].version
    return found


REQUIREMENT_FILES = ("requirements*.txt", "constraints*.txt", "pyproject.toml", "uv.lock")


def _git(root: Path, *args: str) -> str:
    out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)
    if out.returncode:
        raise GateError(f"git {' '.join(args)}: {out.stderr.strip().splitlines()[-1:]}")
    return out.stdout


def pins_from_diff(root: Path, base: str, *, every: bool = False,
                   files: tuple[str, ...] = REQUIREMENT_FILES
                   ) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """The watched pins at ``base`` and in the working tree, from the requirement files
    (``files``: names or globs, anywhere in the tree) that changed between them (and the
    files' names)."""
    changed = [n for n in _git(root, "diff", "--name-only", base, "--", *files,
                               *(f"**/{p}" for p in files)).split() if n]
    old: dict[str, str] = {}
    new: dict[str, str] = {}
    for name in changed:
        try:
            before = _git(root, "show", f"{base}:{name}")
        except GateError:
            before = ""
        path = root / name
        after = path.read_text(encoding="utf-8") if path.exists() else ""
        old.update(pins_in(name, before, every=every))
        new.update(pins_in(name, after, every=every))
    return old, new, changed


def cell_from_pins(pins: dict[str, str], python: str) -> Cell:
    """A cell from a requirement set's pins (an engine's line, torch and transformers
    needed)."""
    try:
        cell = cell_from_versions(pins, python, where="the requirement files")
    except StackError as exc:
        raise GateError(f"{exc} exactly") from None
    return _checked(cell, "the requirement files")


def _checked(cell: Cell, source: str) -> Cell:
    """A cell built from user input keeps a valid id, or the gate stops (exit 2): the id
    names files, folders and a nox session."""
    if not valid_id(cell.id):
        raise GateError(f"{source} make the cell id {cell.id!r}, which is not a valid cell id "
                        "(letters, digits, '.', '_', '+' and '-'); pin exact versions")
    return cell


