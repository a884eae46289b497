"""The layout's rules, checked (docs/architecture.md states them):

- compat/ is layers, each a folder; every import, at the top of a module or inside a
  function, points to the importing module's own layer or one below it, never above;
- no module imports itself back through others (no circle), functions' imports included;
- compat/ keeps at most ten modules at its top level;
- the in-cell package imports only the standard library, pytest and itself, and each of
  its modules imports on the oldest Python a cell runs with nothing else installed.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
COMPAT = REPO / "compat"

#: Bottom to top. A module may import from its own layer and those before it.
LAYERS = ("incell", "system", "engines", "cells", "env", "plan", "result", "run", "report",
          "culprit", "gate", "cli")
#: Outside compat/, imported by it: the shims (in-cell) and the fixture builders and store.
OUTSIDE = {"patches": "incell", "fixtures": "engines"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] in OUTSIDE:
        return OUTSIDE[parts[0]]
    if parts[0] != "compat" or len(parts) < 2:
        return None  # compat itself (its version), or not ours
    return parts[1] if parts[1] in LAYERS else None


def imports_of(path: Path) -> list[tuple[int, str]]:
    """Every module ``path`` imports (top level and inside functions), with its line."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            # ``from compat.cli import doctor`` imports the module compat.cli.doctor; the
            # package itself counts only when a name is taken from it
            folder = REPO / node.module.replace(".", "/")
            subs = [a.name for a in node.names
                    if (folder / f"{a.name}.py").is_file() or (folder / a.name).is_dir()]
            found += [(node.lineno, f"{node.module}.{name}") for name in subs]
            if len(subs) < len(node.names):
                found.append((node.lineno, node.module))
    return found


def harness_modules() -> list[Path]:
    """compat/'s modules, without the engines' tier tests (they run inside cells and import
    only the engine under test)."""
    return sorted(p for p in COMPAT.rglob("*.py") if "__pycache__" not in p.parts
                  and "tiers" not in p.relative_to(COMPAT).parts)


def upward_imports(modules: list[Path], names: dict[Path, str] | None = None) -> list[str]:
    """``names``: a module's name where its file is not in the repository (a probe)."""
    names = names or {}
    bad = []
    for path in modules:
        own = layer_of(names.get(path) or module_name(path))
        for line, target in imports_of(path):
            theirs = layer_of(target)
            if own is None or theirs is None:
                continue
            if LAYERS.index(theirs) > LAYERS.index(own):
                bad.append(f"{names.get(path) or path.relative_to(REPO)}:{line}: {own} imports "
                           f"{target} ({theirs})")
    return bad


def circles(modules: list[Path], named: dict[Path, str] | None = None) -> list[list[str]]:
    named = named or {}

    def name(p: Path) -> str:
        return named.get(p) or module_name(p)

    graph: dict[str, set[str]] = {}
    names = {name(p) for p in modules}
    for path in modules:
        graph[name(path)] = {t for _, t in imports_of(path) if t in names and t != name(path)}
    found, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                found.append([*stack[stack.index(nxt):], nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def test_every_import_points_down_or_sideways():
    assert upward_imports(harness_modules()) == []


def test_no_module_imports_itself_back():
    # A package's __init__ may re-export its own modules: that is no circle.
    found = [c for c in circles(harness_modules())
             if not all(m.startswith(c[0] + ".") or m == c[0] for m in c[1:])]
    assert found == []


def test_the_layer_check_sees_an_upward_import(tmp_path):
    """Proof that the check can fail: a module of the result layer importing the run (a
    probe file outside the source tree, named as if it were in it: nothing is written
    into folders the fingerprints hash)."""
    bad = tmp_path / "probe_upward.py"
    bad.write_text("def f():\n    from compat.run.cell import run_cell\n", encoding="utf-8")
    assert upward_imports([bad], {bad: "compat.result.probe_upward"}) == [
        "compat.result.probe_upward:2: result imports compat.run.cell (run)"]


def test_the_circle_check_sees_a_circle(tmp_path):
    a, b = tmp_path / "probe_a.py", tmp_path / "probe_b.py"
    a.write_text("import compat.system.probe_b\n", encoding="utf-8")
    b.write_text("def f():\n    import compat.system.probe_a\n", encoding="utf-8")
    named = {a: "compat.system.probe_a", b: "compat.system.probe_b"}
    assert circles([a, b], named) == [["compat.system.probe_a", "compat.system.probe_b",
                                       "compat.system.probe_a"]]


def test_every_folder_of_compat_is_a_layer_and_the_top_level_is_small():
    folders = {p.name for p in COMPAT.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert folders == set(LAYERS)
    top = [p.name for p in COMPAT.glob("*.py")]
    assert len(top) <= 10, top


# -- the in-cell package ---------------------------------------------------------------------

INCELL = COMPAT / "incell"


def test_incell_imports_only_the_standard_library_pytest_and_itself():
    # torch: where a driver is present the probe asks the cell's own torch for its devices
    # (guarded: a broken torch is data); patches: the shims, themselves in-cell code with
    # the same rule
    allowed = set(sys.stdlib_module_names) | {"pytest", "_pytest", "pluggy", "patches", "torch"}
    bad = [f"{p.relative_to(REPO)}:{line}: {t}" for p in sorted(INCELL.glob("*.py"))
           for line, t in imports_of(p)
           if t.split(".")[0] not in allowed and not t.startswith("compat.incell")
           and t != "compat.incell"]
    assert bad == []


def oldest_cell_python() -> str | None:
    from compat.system.interpreters import find_python

    return find_python("3.9")


def test_each_incell_module_imports_on_the_oldest_python_with_only_pytest(tmp_path):
    """A venv of Python 3.9 with pytest alone (the cell's harness requirement); each
    module is imported in its own interpreter with the repository on the path, so one
    import beyond the standard library and pytest fails here before it fails every cell."""
    python = oldest_cell_python()
    if python is None:
        pytest.fail("no Python 3.9 on this machine: compat.system.interpreters found none "
                    "(the in-cell rule cannot be checked)")
    venv = tmp_path / "venv"
    uv = [sys.executable, "-m", "uv"]
    from compat.env.cellenv import install_environment

    env, _ = install_environment()  # as a cell's installs see it (certificates kept)
    subprocess.run([*uv, "venv", "-q", "--python", python, str(venv)], check=True, env=env)
    subprocess.run([*uv, "pip", "install", "-q", "--python", str(venv / "bin" / "python"),
                    "pytest"], check=True, env=env)
    failed = []
    for path in sorted(INCELL.glob("*.py")):
        mod = module_name(path)
        ran = subprocess.run([str(venv / "bin" / "python"), "-c", f"import {mod}"],
                             cwd=REPO, capture_output=True, text=True,
                             env={"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO)})
        if ran.returncode != 0:
            failed.append(f"{mod}: {ran.stderr.strip().splitlines()[-1]}")
    assert failed == []


# -- the Engine fields' documentation --------------------------------------------------------


def test_every_engine_field_says_what_it_does_with_an_example():
    import dataclasses

    from compat.engines import fielddocs
    from compat.engines.base import Engine

    documented = fielddocs.fields()
    assert [name for name, _, _ in documented] == [f.name for f in dataclasses.fields(Engine)]
    assert [name for name, what, example in documented if not what or not example] == []


def test_the_extending_page_shows_the_fields_as_documented():
    from compat.engines import fielddocs

    page = fielddocs.PAGE.read_text(encoding="utf-8")
    assert page == fielddocs.render(page), "python -m compat.engines.fielddocs"


def test_a_field_without_its_example_is_seen(tmp_path, monkeypatch):
    """Proof the check can fail: base.py with one example taken out."""
    from compat.engines import fielddocs

    copy = tmp_path / "base.py"
    copy.write_text(fielddocs.BASE.read_text(encoding="utf-8").replace(
        '    #: Example: ``golden_tier="synth"``\n', ""), encoding="utf-8")
    monkeypatch.setattr(fielddocs, "BASE", copy)
    assert [n for n, what, example in fielddocs.fields() if not example] == ["golden_tier"]


# -- the wheel's names -----------------------------------------------------------------------


def test_the_wheel_lists_every_package_of_compat_and_owns_one_top_level_name():
    """pyproject.toml lists the packages (package-dir needs it): compat/'s own, and the
    shims and fixture builders mapped inside compat. A package added to compat/ and not
    listed would be missing from the wheel; a top-level name other than compat would be
    one another distribution may own (``fixtures`` is on PyPI)."""
    from compat.system.tomlcompat import tomllib

    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]
    listed = set(config["setuptools"]["packages"])
    found = {module_name(p) for p in COMPAT.rglob("__init__.py")
             if "__pycache__" not in p.parts}
    mapped = config["setuptools"]["package-dir"]
    assert listed == found | set(mapped), listed ^ (found | set(mapped))
    assert {name.split(".")[0] for name in listed} == {"compat"}
    assert all((REPO / folder / "__init__.py").is_file() for folder in mapped.values())


def test_every_name_a_tier_test_takes_from_its_conftest_is_there():
    """A tier test importing a name its conftest no longer has fails at collection, in
    every cell, with exit 2 (the tier support moved to compat/incell/tiersupport.py)."""
    missing = []
    for conftest in sorted(COMPAT.glob("engines/*/tiers/conftest.py")):
        tree = ast.parse(conftest.read_text(encoding="utf-8"))
        defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        defined |= {t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets
                    if isinstance(t, ast.Name)}
        defined |= {a.asname or a.name for n in tree.body
                    if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}
        for test in sorted(conftest.parent.glob("*.py")):
            for node in ast.walk(ast.parse(test.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom) and node.module == "conftest":
                    missing += [f"{test.relative_to(REPO)}: {a.name}" for a in node.names
                                if a.name not in defined]
    assert missing == []


def test_the_builder_a_child_runs_is_importable_with_the_repository_on_its_path():
    """Failed before this test: in a process where an editable install maps
    ``compat.fixtures`` onto fixtures/, the engines named their builder
    ``compat.fixtures.build_xtts``, which a fixture build (``python -m`` with the
    repository on PYTHONPATH) cannot import: CI's kernel-set test built nothing."""
    from compat.engines import all_engines

    for engine in all_engines().values():
        if engine.fixture is None:
            continue
        found = subprocess.run(
            [sys.executable, "-I", "-c", "import importlib.util, sys; sys.path.insert(0, "
             f"{str(REPO)!r}); print(importlib.util.find_spec({engine.fixture.builder!r}) "
             "is not None)"], capture_output=True, text=True, cwd="/")
        assert found.stdout.strip() == "True", (engine.name, engine.fixture.builder,
                                                found.stderr[-500:])
