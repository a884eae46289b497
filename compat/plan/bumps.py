"""Bumps: a cell with some pins moved, and the pins read from a project's requirement
files (requirements*.txt, constraints, pyproject.toml, uv.lock) and their git diff."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from compat import engines
from compat.cells import Cell, InstallOptions, cell_id, valid_id
from compat.plan.stack import StackError, cell_from_versions
from compat.system.exits import CannotRun as GateError
from compat.system.tomlcompat import tomllib


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


def marker_environment(python: str | None = None) -> dict[str, str]:
    """The environment markers of a cell run here: this host's platform, the cell's Python
    (``python``: "3.11"), so a line for another platform or Python is not read as a pin."""
    from packaging.markers import default_environment

    env = {key: str(value) for key, value in default_environment().items()}
    if python:
        env["python_version"] = ".".join(python.split(".")[:2])
        env["python_full_version"] = python if python.count(".") == 2 else f"{python}.0"
    return env


def _keep(every: bool):
    return (lambda _name: True) if every else (lambda n: n in watched())


def pins_in(name: str, text: str, *, every: bool = False,
            python: str | None = None) -> dict[str, str]:
    """Exact pins of the watched distributions (``every``: of all) in one requirement
    file's text: pyproject.toml ([project] dependencies), uv.lock, or a requirements or
    constraints file (read as pip reads it: :func:`requirement_file_pins`)."""
    keep = _keep(every)
    if name.endswith("uv.lock"):
        packages = tomllib.loads(text).get("package", [])
        return {canonicalize_name(p["name"]): p["version"] for p in packages
                if keep(canonicalize_name(p["name"])) and "version" in p}
    if name.endswith(".toml"):
        found: dict[str, str] = {}
        env = marker_environment(python)
        for line in tomllib.loads(text).get("project", {}).get("dependencies", []):
            try:
                req = Requirement(line)
            except InvalidRequirement:
                continue
            if req.marker is not None and not req.marker.evaluate(env):
                continue
            specs = [s for s in req.specifier if s.operator in ("==", "===")]
            if keep(canonicalize_name(req.name)) and specs:
                found[canonicalize_name(req.name)] = specs[0].version
        return found
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(name).name
        path.write_text(text, encoding="utf-8")
        return requirement_file_pins(path, every=every, python=python)


def requirement_file_pins(path: Path, *, every: bool = False, python: str | None = None
                          ) -> dict[str, str]:
    """The pins of a requirements or constraints file, read by pip's own grammar
    (``pip-requirements-parser``: continuation lines, ``--hash`` options, comments,
    ``-r``/``-c`` files followed from the file's folder): each requirement whose marker
    holds for a cell run here, with an exact version, or a URL (``name @ URL``, kept as
    ``@ URL`` so a moved URL is a change too). A later line for the same distribution wins,
    as in pip."""
    from pip_requirements_parser import RequirementsFile

    try:
        parsed = RequirementsFile.from_file(str(path), include_nested=True)
    except Exception as exc:  # the parser raises its own types for a file it cannot read
        raise GateError(f"{path.name}: not a requirements file pip could read ({exc})") from None
    env = marker_environment(python)
    keep = _keep(every)
    found: dict[str, str] = {}
    for req in parsed.requirements:
        if not req.name or not keep(canonicalize_name(req.name)):
            continue
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        if req.link is not None:
            found[canonicalize_name(req.name)] = f"@ {req.link.url}"
            continue
        specs = [s for s in req.specifier if s.operator in ("==", "===")]
        if specs:
            found[canonicalize_name(req.name)] = specs[0].version
    return found


REQUIREMENT_FILES = ("requirements*.txt", "constraints*.txt", "pyproject.toml", "uv.lock")


@dataclass(frozen=True)
class Context:
    """What a requirement set says besides its pins: where its packages come from (the
    files' ``--index-url``, ``--extra-index-url``, ``--find-links``, ``--pre`` lines) and
    the extras each distribution is installed with (``TTS[ja]==0.22.0``). A cell built
    from the set installs as the user's project does: from a CPU-only index, say."""

    install: InstallOptions = field(default_factory=InstallOptions)
    extras: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def requirement_file_context(path: Path, *, python: str | None = None) -> Context:
    """The index options and extras of a requirements or constraints file (and the files
    it includes), read by pip's own grammar; a later option of a kind wins, as in pip,
    except extra indexes and find-links, which add up."""
    from pip_requirements_parser import RequirementsFile

    try:
        parsed = RequirementsFile.from_file(str(path), include_nested=True)
    except Exception as exc:
        raise GateError(f"{path.name}: not a requirements file pip could read ({exc})") from None
    index_url, extra, links, pre = None, [], [], False
    for line in parsed.options:
        found = line.options
        index_url = found.get("index_url", index_url)
        extra += [u for u in found.get("extra_index_urls", []) if u not in extra]
        links += [u for u in found.get("find_links", []) if u not in links]
        pre = pre or bool(found.get("pre"))
    env = marker_environment(python)
    extras: dict[str, tuple[str, ...]] = {
        str(canonicalize_name(r.name)): tuple(sorted(r.extras)) for r in parsed.requirements
        if r.name and r.extras and (r.marker is None or r.marker.evaluate(env))}
    links = [str((path.parent / u).resolve()) if "://" not in u else u for u in links]
    return Context(InstallOptions(index_url=index_url, extra_index_urls=tuple(extra),
                                  find_links=tuple(links), pre=pre), extras)


def contexts_from_diff(root: Path, base: str, changed: list[str], *,
                       python: str | None = None) -> tuple[Context, Context]:
    """The contexts of the changed requirements files at ``base`` and in the working tree
    (pyproject.toml and uv.lock hold no index lines a cell could use: none from them)."""
    import tempfile

    def merged(tree: Path) -> Context:
        found = Context()
        for name in changed:
            path = tree / name
            if name.endswith((".toml", ".lock")) or not path.is_file():
                continue
            more = requirement_file_context(path, python=python)
            mine, theirs = found.install, more.install
            found = Context(InstallOptions(
                index_url=theirs.index_url or mine.index_url,
                extra_index_urls=(*mine.extra_index_urls, *(u for u in theirs.extra_index_urls
                                                            if u not in mine.extra_index_urls)),
                find_links=(*mine.find_links, *(u for u in theirs.find_links
                                                if u not in mine.find_links)),
                pre=mine.pre or theirs.pre), {**found.extras, **more.extras})
        return found

    with tempfile.TemporaryDirectory() as tmp:
        _checkout_requirements(root, base, Path(tmp))
        return merged(Path(tmp)), merged(root)


def _git(root: Path, *args: str) -> str:
    out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)
    if out.returncode:
        raise GateError(f"git {' '.join(args)}: {out.stderr.strip().splitlines()[-1:]}")
    return out.stdout


def pins_from_diff(root: Path, base: str, *, every: bool = False,
                   files: tuple[str, ...] = REQUIREMENT_FILES, python: str | None = None
                   ) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """The watched pins at ``base`` and in the working tree, from the requirement files
    (``files``: names or globs, anywhere under ``root``, which may lie inside a larger
    repository) that changed between them (and the files' names, relative to ``root``).
    A requirements file is read with the files it includes, at the same revision."""
    if not base or base.startswith("-"):
        raise GateError(f"--from-diff {base!r}: not a git revision (a value starting with "
                        "'-' would be read by git as an option)")
    _git(root, "rev-parse", "--verify", "--quiet", f"{base}^{{commit}}")
    listed = _git(root, "diff", "--name-only", "--relative", "-z", base, "--", *files,
                  *(f"**/{p}" for p in files))
    changed = [n for n in listed.split("\0") if n]
    old: dict[str, str] = {}
    new: dict[str, str] = {}
    if not changed:
        return old, new, changed
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        before_tree = Path(tmp)
        _checkout_requirements(root, base, before_tree)
        for name in changed:
            for tree, pins in ((before_tree, old), (root, new)):
                path = tree / name
                if not path.is_file():
                    continue
                if name.endswith((".toml", ".lock")):
                    pins.update(pins_in(name, path.read_text(encoding="utf-8"), every=every,
                                        python=python))
                else:
                    pins.update(requirement_file_pins(path, every=every, python=python))
    return old, new, changed


def _checkout_requirements(root: Path, base: str, dest: Path) -> None:
    """The requirement-like files under ``root`` (names holding "req" or "constraint",
    ``*.in``, pyproject.toml, uv.lock) as they were at ``base``, under ``dest``: a
    requirements file's ``-r`` and ``-c`` files are read at the same revision."""
    listed = _git(root, "ls-tree", "-r", "-z", "--name-only", "--full-tree", base)
    prefix = _git(root, "rev-parse", "--show-prefix").strip()
    wanted = ("req", "constraint", "pyproject.toml", "uv.lock", ".in")
    for full in (n for n in listed.split("\0") if n):
        name = full.rsplit("/", 1)[-1].lower()
        if not full.startswith(prefix) or not any(w in name for w in wanted):
            continue
        rel = full[len(prefix):]
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(_git(root, "show", f"{base}:./{rel}"), encoding="utf-8")


def cell_from_pins(pins: dict[str, str], python: str, context: Context | None = None) -> Cell:
    """A cell from a requirement set's pins (an engine's line, torch and transformers
    needed), installed as the set says (``context``: its index options, and the engine's
    extras)."""
    try:
        cell = cell_from_versions(pins, python, where="the requirement files")
    except StackError as exc:
        raise GateError(f"{exc} exactly") from None
    if context is not None:
        extras = context.extras.get(cell.tts_distribution, ())
        tts = (f"{cell.tts_requirement.name}[{','.join(extras)}]{cell.tts_requirement.specifier}"
               if extras else cell.tts)
        cell = replace(cell, tts=tts, install=context.install)
    return _checked(cell, "the requirement files")


def distinguished(old: Cell, new: Cell) -> Cell:
    """``new`` with an id of its own when only pins beside the axes moved (numpy,
    torchaudio): the readable id names the axes only, and two cells of one id would be
    one cell (the bump refused as "the same cell"). The moved pins are appended:
    ``...-py3.11+numpy2.1.0``."""
    if new.id != old.id or new.pins == old.pins:
        return new
    before = dict(old.pins)
    moved = [f"{name}{version}" for name, version in new.pins if before.get(name) != version]
    gone = [f"no-{name}" for name in before if name not in dict(new.pins)]
    suffix = "+".join(re.sub(r"[^A-Za-z0-9.]+", "", part) for part in moved + gone)
    return _checked(replace(new, id=f"{new.id}+{suffix}"), "the moved pins")


def _checked(cell: Cell, source: str) -> Cell:
    """A cell built from user input keeps a valid id, or the gate stops (exit 2): the id
    names files, folders and a nox session."""
    if not valid_id(cell.id):
        raise GateError(f"{source} make the cell id {cell.id!r}, which is not a valid cell id "
                        "(letters, digits, '.', '_', '+' and '-'); pin exact versions")
    return cell


