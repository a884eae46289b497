"""Install the shims into an environment so that plain ``import TTS`` gets them, or
remove them again::

    python -m patches install --python /path/to/venv/bin/python
    python -m patches status  --python /path/to/venv/bin/python
    python -m patches remove  --python /path/to/venv/bin/python

``install`` copies this package into that environment's site-packages as
``xtts_compat_patches`` and writes ``xtts_compat_patches.pth``, whose one line applies
every shim that ``applies()`` at interpreter start (import hooks only: milliseconds).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

PACKAGE = "xtts_compat_patches"
PTH_LINE = f"import {PACKAGE}._autoload\n"
HERE = Path(__file__).resolve().parent


def site_packages(python: str) -> Path:
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


def install(python: str) -> Path:
    site = site_packages(python)
    target = site / PACKAGE
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(HERE, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    pth = site / f"{PACKAGE}.pth"
    pth.write_text(PTH_LINE)
    return pth


def remove(python: str) -> list[Path]:
    site = site_packages(python)
    removed = []
    for path in (site / f"{PACKAGE}.pth", site / PACKAGE):
        if path.is_dir():
            shutil.rmtree(path)
            removed.append(path)
        elif path.exists():
            path.unlink()
            removed.append(path)
    return removed


def status(python: str) -> dict:
    code = ("import json, sys\n"
            f"mod = sys.modules.get('{PACKAGE}')\n"
            "print(json.dumps({'installed': mod is not None,\n"
            "  'applied': mod.applied() if mod else [],\n"
            "  'selected': mod.selected() if mod else []}))")
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m patches", description=__doc__)
    parser.add_argument("command", choices=("install", "remove", "status"))
    parser.add_argument("--python", default=sys.executable,
                        help="interpreter of the environment (default: this one)")
    args = parser.parse_args(argv)
    if args.command == "install":
        print(f"installed: {install(args.python)}")
    elif args.command == "remove":
        removed = remove(args.python)
        print("removed: " + (", ".join(map(str, removed)) or "nothing was installed"))
    else:
        print(json.dumps(status(args.python), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
