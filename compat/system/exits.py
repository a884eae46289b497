"""Exit codes, one owner: every command (``compat.cli.commands``) returns one of these, and
docs/commands.md lists them from here.

A command's own words for ``FOUND`` (the gate's regression, the culprit finder's missing
boundary, the doctor's predicted break, a knowledge-base error) are names bound to it, not
other numbers."""

from __future__ import annotations

#: Done, and nothing wrong found.
OK = 0
#: Done, and what the command looks for was found: a regression, a break, a bad entry; or,
#: for the culprit finder, no boundary where one was asked for.
FOUND = 1
#: The command could not do what was asked: bad input (a file, a line, a cell named), or
#: nothing it can judge (missing, stale, unreadable results). Never a verdict.
CANNOT_RUN = 2
#: Stopped by a signal: 128 + its number (130 for Ctrl-C, 143 for SIGTERM), as shells do.
SIGNALLED = 128

MEANINGS = {OK: "done, nothing wrong found", FOUND: "done, and it found what it looks for "
            "(a regression, a break, a bad entry; bisect: no boundary)",
            CANNOT_RUN: "could not do what was asked (bad input, or nothing it can judge)",
            SIGNALLED: "128 + N: stopped by signal N (130: Ctrl-C, 143: SIGTERM)"}


class CannotRun(Exception):
    """A command cannot do what was asked; the message is the one-line reason, naming the
    file, line or cell (exit ``CANNOT_RUN``)."""
