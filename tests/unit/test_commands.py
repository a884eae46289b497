"""The command registry (compat/cli/commands.py): one list, reached from ``python -m
compat``, the wheel's ``xtts-compat`` (the same function) and nox, with its page."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from compat.cli import commands
from compat.system import exits

REPO = Path(__file__).resolve().parents[2]
#: The commands issue 28 asks every front end to offer.
ASKED = {"doctor", "shims", "report", "here", "gate", "bisect", "kb", "explore", "clean",
         "fanout"}


def test_help_offers_every_command():
    out = subprocess.run([sys.executable, "-m", "compat", "--help"], cwd=REPO,
                         capture_output=True, text=True, check=True).stdout
    offered = {line.split()[0] for line in out.split("commands:")[1].split("\n\n")[0]
               .splitlines() if line.strip()}
    assert ASKED <= offered == set(commands.BY_NAME)


def test_every_command_is_a_nox_session_too():
    listed = subprocess.run(["nox", "-l"], cwd=REPO, capture_output=True, text=True,
                            check=True).stdout
    sessions = {line.split()[1] for line in listed.splitlines()
                if line[:2] in ("* ", "- ") and " -> " in line}
    assert set(commands.BY_NAME) <= sessions


def test_every_command_has_an_entry_and_its_help_runs(capsys):
    for command in commands.COMMANDS:
        code = None
        try:
            code = command.entry()(["--help"])
        except SystemExit as exc:  # argparse's --help
            code = exc.code
        assert code in (0, None), command.name
        assert set(command.exits) <= set(exits.MEANINGS), command.name


def test_an_unknown_command_cannot_run_and_says_which():
    ran = subprocess.run([sys.executable, "-m", "compat", "bisekt"], cwd=REPO,
                         capture_output=True, text=True)
    assert ran.returncode == exits.CANNOT_RUN and "no command 'bisekt'" in ran.stderr


def test_the_commands_page_is_the_registry():
    page = (REPO / "docs" / "commands.md").read_text(encoding="utf-8")
    assert page == commands.markdown(), (
        "docs/commands.md differs from the registry: python -m compat --commands-markdown "
        "> docs/commands.md")


def test_the_page_check_sees_a_changed_summary(monkeypatch):
    """Proof the page check can fail: a summary changed in the registry only."""
    changed = (commands.Command("gate", "compat.gate", "something else", "x"),
               *commands.COMMANDS[1:])
    monkeypatch.setattr(commands, "COMMANDS", changed)
    assert (REPO / "docs" / "commands.md").read_text(encoding="utf-8") != commands.markdown()


def test_exit_codes_are_declared_once():
    """The gate's and the culprit finder's names are bound to compat.system.exits."""
    from compat.culprit import cli as culprit
    from compat.gate import output

    assert (output.OK, output.REGRESSION, output.CANNOT_RUN) == (0, 1, 2)
    assert (culprit.OK, culprit.NO_BOUNDARY, culprit.CANNOT_RUN) == (
        exits.OK, exits.FOUND, exits.CANNOT_RUN)
    declared = subprocess.run(["grep", "-rnE", r"^[A-Z_, ]+ = [0-9], [0-9], [0-9]$",
                               "compat", "patches"], cwd=REPO, capture_output=True, text=True)
    assert declared.stdout == ""
