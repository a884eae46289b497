"""Command line: ``xtts-compat doctor|shims|report|here|gate|fanout|spreads ...`` (the wheel's
script), or ``python -m compat ...`` in a clone. ``shims`` is ``python -m patches``:
``xtts-compat shims install --python PATH`` puts the shims into that environment."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {"doctor": "compat.cli.doctor", "shims": "patches.__main__",
                "report": "compat.report", "here": "compat.cli.here", "gate": "compat.gate",
                "fanout": "compat.cli.fanout", "spreads": "compat.cli.spreads"}
    if not argv or argv[0] not in commands:
        print(f"usage: xtts-compat {{{','.join(commands)}}} [options]", file=sys.stderr)
        return 2
    import importlib

    from compat.system.supervise import Interrupted, stop_on_signals

    stop_on_signals()  # SIGTERM unwinds like Ctrl-C: what runs beneath is stopped, not orphaned
    try:
        return importlib.import_module(commands[argv[0]]).main(argv[1:])
    except Interrupted as exc:
        print(f"xtts-compat: {exc}; what it ran is stopped", file=sys.stderr)
        return 128 + exc.signum


if __name__ == "__main__":
    raise SystemExit(main())
