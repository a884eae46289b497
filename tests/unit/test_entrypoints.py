"""The ways in agree with each other: the noxfile's inline script metadata (what
``uvx nox`` installs) is the project's dependency list; the README's test command is what
CI runs; every nox session the README's commands name exists."""

from __future__ import annotations

import re
import sys

import pytest

from conftest import REPO, nox

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def script_metadata(text: str) -> dict:
    """The ``# /// script`` block of a file, as PEP 723 reads it."""
    found = re.search(r"(?m)^# /// script$\n((?:^#(?: .*)?$\n)+?)^# ///$", text)
    assert found, "no inline script metadata"
    return tomllib.loads("".join(line[2:] + "\n" for line in found.group(1).splitlines()))


def test_the_noxfile_declares_the_projects_dependencies():
    declared = script_metadata((REPO / "noxfile.py").read_text())
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert sorted(declared["dependencies"]) == sorted(project["dependencies"])
    assert declared["requires-python"] == project["requires-python"]


def readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    block = text.split("## Two commands for a fresh machine", 1)[1].split("```bash", 1)[1]
    block = block.split("```", 1)[0]
    return [line for line in block.splitlines() if line and not line.startswith("#")]


def test_ci_runs_the_readmes_test_command():
    main, test = readme_commands()
    assert main.endswith("nox -s matrix")
    ci = (REPO / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert ci == test.replace("pip install -e", "pip install -q -e")


def test_every_session_the_readme_names_exists():
    listed = nox("-l").stdout.splitlines()  # "* name -> doc" (selected) or "- name -> doc"
    sessions = {line[2:].split(" ")[0].split("(")[0] for line in listed
                if line[:2] in ("* ", "- ")}
    named = {name for command in readme_commands()
             for name in command.split("nox -s ", 1)[1].split()}
    assert named and named <= sessions, named - sessions


@pytest.mark.parametrize("argv, runs", [
    (["-s", "golden"], True),
    (["-s", "golden(engine='kokoro')"], True),
    (["--sessions", "tests", "golden"], True),
    (["-s", "matrix", "-k", "kokoro"], False),   # -k also matches golden(engine='kokoro')
    (["-k", "golden"], False),
    (["-t", "kokoro"], False),
    (["-s", "tests", "--", "-s", "golden"], False),  # pytest's own -s after --
])
def test_golden_runs_only_when_named_never_through_a_keyword(argv, runs):
    """`nox -s matrix -k kokoro` ran golden(engine='kokoro') too (nox adds what -k matches)
    and rewrote the committed golden output; the session now skips unless named."""
    from compat.cli.nox_sessions import asked_by_name

    assert asked_by_name("golden", argv) is runs
