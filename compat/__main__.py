"""``python -m compat COMMAND`` (and the wheel's ``xtts-compat``): the registry's entry
(compat.cli.commands)."""

from __future__ import annotations

from compat.cli.commands import main

if __name__ == "__main__":
    raise SystemExit(main())
