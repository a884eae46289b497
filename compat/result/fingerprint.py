"""A cell's fingerprint: what must be equal for a stored result to still stand."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import platform
import sys
from pathlib import Path
from typing import Any

from compat import __version__, engines
from compat.engines import Engine
from compat.env import cellenv
from compat.result import diagnosis
from compat.system.paths import REPO


def fingerprint(
    requirements: list[str],
    install_options: dict[str, Any],
    python_version: str,
    platform_tag: str,
    suite_digest: str,
    unpinned: bool,
    today: dt.date | None = None,
    inputs: dict[str, str] | None = None,
) -> str:
    """sha256 over pins, install options, the exact Python, the platform and the suite.

    ``inputs``: what verdicts depend on beyond pins and code: the variables a user passed
    into cells on purpose (COMPAT_PASS_ENV) with their values, and which model the tiers
    load (the engine's ``model_identity``). Another setting is another verdict.

    An unpinned cell (the ``latest`` canary) resolves differently from day to day, so
    its fingerprint also holds the UTC date: it is rerun once a day.
    """
    payload = {
        "requirements": sorted(requirements),
        "install": install_options,
        "python": python_version,
        "platform": platform_tag,
        "suite": [__version__, suite_digest],
        "inputs": dict(sorted((inputs or {}).items())),
    }
    if unpinned:
        payload["date"] = (today or dt.datetime.now(dt.timezone.utc).date()).isoformat()
    blob = json.dumps(payload, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()


# -- what a result depends on ----------------------------------------------------------------

#: The harness code a cell's result depends on: how it is installed, run, recorded and
#: judged inside the cell, and which shims or repairs a failure calls for. Listed, not
#: "everything but the readers": a module added outside these folders counts only once it
#: is named here (the report, the gate, doctor, here, nox glue and progress output do not).
RESULT_CODE = (
    "compat/__init__.py",
    # The layers a cell's run goes through, whole: the code inside the cell, the host's
    # utilities, the cell's value type, its environment, its result, the run itself.
    "compat/incell", "compat/system", "compat/cells", "compat/env", "compat/result", "compat/run",
    "compat/plan/matrixfile.py",  # a matrix file's cell table: its timeouts, pins, options
    "compat/engines/__init__.py", "compat/engines/base.py", "compat/engines/tiers.ini",
    "compat/engines/known_breakages.toml",  # the stack's entries: every engine reads them
    "patches",  # the shims, applied inside cells
    # The fixture store and manifests (the fixture's bytes are inputs); each engine's
    # builder module counts for its own engine only (code_digest's ``extra``).
    "fixtures/__init__.py", "fixtures/manifest.py", "fixtures/store.py", "fixtures/speech.py",
)
#: In those folders, but how results are shown, found or scheduled, not what they say.
NOT_RESULT_CODE = ("compat/system/progress.py", "compat/system/paths.py",
                   "compat/run/parallel.py", "compat/run/via_nox.py")
CODE_SUFFIXES = (".py", ".ini", ".toml")


def _files(root: Path, entry: str) -> list[Path]:
    path = root / entry
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.suffix in CODE_SUFFIXES
                      and p.is_file() and "__pycache__" not in p.parts
                      and p.relative_to(root).as_posix() not in NOT_RESULT_CODE
                      and "golden" not in p.relative_to(path).parts)
    return [path] if path.is_file() else []


def _hash(base: Path, paths: list[Path], sha: Any = None) -> str:
    """Names (relative to ``base``) and contents of ``paths``."""
    sha = sha or hashlib.sha256()
    for path in paths:
        sha.update(path.relative_to(base).as_posix().encode())
        if path.name == diagnosis.FILE_NAME:  # what a run reads of it, not its words
            sha.update(diagnosis.run_view(path.read_text(encoding="utf-8")))
        else:
            sha.update(path.read_bytes())
    return sha.hexdigest()[:16]


def is_tier_test(path: Path) -> bool:
    """A tier's own test file (``test_<tier>.py``): it versions that tier alone."""
    return path.name.startswith("test_") and path.suffix == ".py"


def code_digest(root: Path, engine_dir: Path, extra: tuple[str, ...] = ()) -> str:
    """The harness code above, the engine's folder but its tier test files (those are
    versioned per tier, :func:`tier_digests`) and ``extra`` (the engine's fixture builder):
    another engine's files are not in it."""
    own = [p for p in _files(engine_dir, ".") if not is_tier_test(p)]
    sha = hashlib.sha256(engine_dir.name.encode())
    _hash(engine_dir, own, sha)
    return _hash(root, [p for entry in (*RESULT_CODE, *extra) for p in _files(root, entry)],
                 sha)


def tier_digests(tier_dir: Path, tiers: list[dict[str, Any]]) -> dict[str, str]:
    """Per tier, the hash of its test file and of the files of every tier it needs (a
    changed load test reruns the tiers that need load). A test file whose name is no tier
    counts for every tier."""
    names = [t["name"] for t in tiers]
    needs = {t["name"]: list(t.get("needs", [])) for t in tiers}
    tests = [p for p in sorted(tier_dir.rglob("test_*.py")) if "__pycache__" not in p.parts]
    own = {n: [p for p in tests if p.stem == f"test_{n}"] for n in names}
    shared = [p for p in tests if p.stem[len("test_"):] not in names]

    def closure(name: str, seen: set[str]) -> set[str]:
        for need in needs.get(name, []):
            if need not in seen:
                seen.add(need)
                closure(need, seen)
        return seen

    return {n: _hash(tier_dir, shared + sorted(p for t in sorted(closure(n, {n}))
                                               for p in own.get(t, [])))
            for n in names}


def changed_tiers(stored: dict[str, str] | None, current: dict[str, str]) -> list[str]:
    """The tiers whose digest differs from a stored result's (all, when none was stored)."""
    if not stored:
        return list(current)
    return [name for name, digest in current.items() if stored.get(name) != digest]


# -- is a stored result still what a run would give? ------------------------------------------

def current_fingerprint(cell: Any, stored: dict[str, Any]) -> str:
    """What a run of ``cell`` would be fingerprinted as now, on the stored run's Python and
    platform, with the variables it was given on purpose (a result from another machine
    is judged as that machine would run it; the code and the model are this checkout's)."""

    engine = engines.get_engine(cell.engine)
    python = stored.get("python") or {}
    chosen = (stored.get("environment") or {}).get("chosen")
    return fingerprint(cell.requirements(), cell.install.as_dict(),
                       python.get("version") or cell.python,
                       python.get("platform") or platform_tag(), suite_digest(engine),
                       cell.unpinned,
                       inputs={**(cellenv.chosen() if chosen is None else chosen),
                               **engine.inputs()})


def staleness(cell: Any, stored: dict[str, Any]) -> str | None:
    """Why a stored result no longer stands for ``cell`` (None when it does): a result of
    another stack under the cell's id (``mismatched``), or one the current pins, code,
    model or golden output would not give (``stale``). The report and the gate show such
    a result as not checked, never as a verdict."""

    had = sorted((stored.get("cell") or {}).get("requirements") or [])
    if had and had != sorted(cell.requirements()):
        return (f"mismatched: the stored result is of {', '.join(had)}, not of this cell's "
                f"pins ({', '.join(sorted(cell.requirements()))}); rerun the cell")
    if stored.get("fingerprint") != current_fingerprint(cell, stored):
        return ("stale: the pins, the suite's code or the model changed since it ran "
                f"({stored.get('finished_at') or stored.get('started_at')}); rerun the cell")
    engine = engines.get_engine(cell.engine)
    now = with_golden(tier_digests(engine.tier_dir, engine.plan()), engine)
    had_digests = stored.get("tier_digests") or {}
    pair_tiers = {t.name for t in engine.tiers if t.of_pairs}
    ran = [n for n in now if n in (stored.get("tiers") or {}) and n not in pair_tiers]
    changed = [n for n in ran if had_digests.get(n) != now[n]]
    if changed:
        return (f"stale: the tests or the golden output of {', '.join(changed)} changed since "
                "it ran; rerun the cell (only those tiers run again)")
    return None


def suite_digest(engine: Engine) -> str:
    """Hash of the code a result depends on (compat.result.fingerprint.RESULT_CODE and the
    engine's folder and fixture builder) but its tier tests, which are versioned per tier."""
    builder = (f"{engine.fixture.builder.replace('.', '/')}.py",) if engine.fixture else ()
    return code_digest(REPO, engine.tier_dir.parent, builder)


def platform_tag() -> str:
    return f"{sys.platform}-{platform.machine()}"


def with_golden(digests: dict[str, str], engine: Engine) -> dict[str, str]:
    """The tier digests, the golden tier's mixed with the committed golden output's."""
    tier = engine.golden_tier
    if tier not in digests:
        return digests
    return {**digests, tier: f"{digests[tier]}+golden:{engine.golden_digest()}"}
