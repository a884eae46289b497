"""The documentation: every command a page or the README shows exists, with the flags it
shows (nox sessions from ``nox -l``; the options after ``--`` and the ``xtts-compat``
subcommands' from their own parsers); and the MkDocs build is strict, so a broken link
fails (``nox -s docs``; here a broken link is planted to see it fail)."""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import REPO, nox

PAGES = [*sorted((REPO / "docs").rglob("*.md")), REPO / "README.md"]
SHELL = ("", "bash", "sh", "console", "shell")


def blocks(text: str) -> list[str]:
    """The shell code blocks of a Markdown page (fences opened with bash, sh, ... or bare)."""
    out, current = [], None
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            if current is None:
                current = [] if line.strip()[3:].strip() in SHELL else ["<not shell>"]
            else:
                if current[:1] != ["<not shell>"]:
                    out.append("\n".join(current))
                current = None
        elif current is not None:
            current.append(line)
    return out


def commands() -> list[tuple[str, list[str]]]:
    """(page, tokens) for each line of a shell code block that runs nox or xtts-compat."""
    found = []
    for page in PAGES:
        for block in blocks(page.read_text()):
            for line in block.replace("\\\n", " ").splitlines():
                line = line.split(" #", 1)[0].strip()
                if line.startswith("#"):
                    continue
                if not re.search(r"\b(nox|xtts-compat|python3? -m (compat|patches))\b", line):
                    continue
                with contextlib.suppress(ValueError):
                    found.append((page.relative_to(REPO).as_posix(), shlex.split(line)))
    return found


def _help(main: Callable[[list[str]], object], args: list[str]) -> str:
    """What ``main(args + ['--help'])`` prints: argparse's help, then SystemExit(0)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        main([*args, "--help"])
    return out.getvalue()


def helper(session: str) -> Callable[[list[str]], object] | None:
    """The parser behind a session's ``--`` options or an ``xtts-compat`` subcommand: the
    command registry's entry, or the matrix session's own parser."""
    from compat.cli import commands
    from compat.cli import nox_sessions as nox_cells

    if session == "matrix":
        return lambda argv: nox_cells.matrix_parser().parse_args(argv)
    command = commands.BY_NAME.get(session)
    return command.entry() if command else None


def split(tokens: list[str]) -> tuple[str | None, list[str]]:
    """The session or subcommand a command line runs, and its own arguments."""
    if "xtts-compat" in tokens:
        rest = tokens[tokens.index("xtts-compat") + 1:]
        return (rest[0], rest[1:]) if rest else (None, [])
    for module in ("compat", "patches"):
        if "-m" in tokens and module in tokens[tokens.index("-m") + 1:tokens.index("-m") + 2]:
            rest = tokens[tokens.index("-m") + 2:]
            if module == "patches":
                return "shims", rest
            return (rest[0], rest[1:]) if rest else (None, [])
    if "-s" in tokens:
        name = tokens[tokens.index("-s") + 1].split("(")[0]
        return name, tokens[tokens.index("--") + 1:] if "--" in tokens else []
    return None, []


def sessions() -> set[str]:
    listed = nox("-l").stdout.splitlines()
    return {line[2:].split(" ")[0].split("(")[0] for line in listed if line[:2] in ("* ", "- ")}


def test_every_command_the_pages_show_exists():
    known = sessions()
    problems, checked = [], 0
    for page, tokens in commands():
        name, args = split(tokens)
        if name is None:
            continue
        uses_nox = "nox" in tokens and "-s" in tokens
        if uses_nox and name not in known:
            problems.append(f"{page}: `{shlex.join(tokens)}`: no nox session {name!r}")
            continue
        main = helper(name)
        flags = [a.split("=")[0] for a in args if a.startswith("--")]
        if main is None or not flags:
            continue
        positional = [a for a in args[:next((i for i, a in enumerate(args)
                                             if a.startswith("-")), len(args))]]
        text = _help(main, positional)
        for flag in flags:
            checked += 1
            if not re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", text):
                problems.append(f"{page}: `{shlex.join(tokens)}`: {name} has no {flag}")
    assert not problems, "\n".join(problems)
    assert checked > 20  # the pages do show flags: the check looked at them


def test_the_check_sees_a_flag_that_does_not_exist():
    main = helper("gate")
    assert main is not None
    assert "--from-diff" in _help(main, [])
    assert "--from-dif " not in _help(main, [])
    assert split(shlex.split('nox -s gate -- --from-dif HEAD')) == ("gate", ["--from-dif", "HEAD"])


@pytest.mark.timeout(300)
def test_the_docs_build_strict_and_a_broken_link_fails(tmp_path):
    mkdocs = shutil.which("mkdocs") or str(Path(sys.executable).with_name("mkdocs"))
    if not Path(mkdocs).exists():
        pytest.skip("mkdocs is not installed here; `nox -s docs` installs and runs it")
    copy = tmp_path / "repo"
    shutil.copytree(REPO / "docs", copy / "docs")
    shutil.copy(REPO / "mkdocs.yml", copy / "mkdocs.yml")
    good = subprocess.run([mkdocs, "build", "--strict", "-d", str(tmp_path / "site")],
                          cwd=copy, capture_output=True, text=True, timeout=240)
    assert good.returncode == 0, good.stderr[-3000:]
    page = copy / "docs" / "gate.md"
    page.write_text(page.read_text() + "\nSee [the missing page](no-such-page.md).\n")
    bad = subprocess.run([mkdocs, "build", "--strict", "-d", str(tmp_path / "site2")],
                         cwd=copy, capture_output=True, text=True, timeout=240)
    assert bad.returncode != 0 and "no-such-page.md" in bad.stderr
