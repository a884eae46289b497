"""Command line: ``python -m compat here|report|gate|doctor|fanout ...``."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {"here": "compat.here", "report": "compat.report", "doctor": "compat.doctor",
                "fanout": "compat.fanout",
                "gate": "compat.gate"}
    if not argv or argv[0] not in commands:
        print(f"usage: python -m compat {{{','.join(commands)}}} [options]", file=sys.stderr)
        return 2
    import importlib

    return importlib.import_module(commands[argv[0]]).main(argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
