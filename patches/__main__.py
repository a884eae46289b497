"""Install the shims into an environment so that plain ``import TTS`` gets them, or
remove them again::

    python -m patches install --python /path/to/venv/bin/python
    python -m patches status  --python /path/to/venv/bin/python
    python -m patches remove  --python /path/to/venv/bin/python

``install`` copies this package into that environment's site-packages as
``xtts_compat_patches`` and writes ``xtts_compat_patches.pth``, whose one line applies
every shim that ``applies()`` at interpreter start (import hooks only: milliseconds).

The hook cannot break start-up: whatever goes wrong (``packaging`` not importable, the
package removed by hand, a shim that raises) is caught and kept, silently; with
``COMPAT_PATCHES_VERBOSE=1`` it says so in one line on stderr. ``status`` reports the hook
as ``active``, ``inert`` (installed, but the shims are not loaded, and why) or
``not installed``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

PACKAGE = "xtts_compat_patches"
#: A module the hook puts in sys.modules: ``error`` is None once the shims are loaded, else
#: why not. It also makes the hook run once when site-packages is listed twice (lib64).
MARKER = f"{PACKAGE}_hook"
VERBOSE = "COMPAT_PATCHES_VERBOSE"
#: What the .pth line runs (site.py executes a .pth line that starts with "import"; an
#: exception there would print a traceback at every start, so nothing escapes).
HOOK = f"""\
import sys
if {MARKER!r} not in sys.modules:
    hook = sys.modules[{MARKER!r}] = type(sys)({MARKER!r})
    hook.error = "not finished"
    try:
        import {PACKAGE}._autoload
        hook.error = sys.modules["{PACKAGE}._autoload"].error
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        hook.error = "%s: %s" % (type(exc).__name__, exc)
    if hook.error:
        try:
            import os
            if os.environ.get({VERBOSE!r}):
                print("xtts-compat shims inert: " + hook.error.splitlines()[0], file=sys.stderr)
        except BaseException:
            pass
"""
PTH_LINE = f"import sys; exec({HOOK!r}, {{}})\n"
HERE = Path(__file__).resolve().parent


class NotAnEnvironment(RuntimeError):
    """--python did not name a Python whose site-packages could be found."""


def site_packages(python: str) -> Path:
    """The environment's site-packages, as its interpreter says, checked: an absolute,
    existing folder that holds the running interpreter's own standard modules' neighbour
    (a ``site-packages`` or ``dist-packages`` folder). Anything else is refused, naming
    --python, before a file is written or removed: ``/bin/true`` printed nothing, and the
    empty path was taken as the current folder."""
    marker = "xtts-compat-purelib:"
    code = f"import sysconfig; print({marker!r} + sysconfig.get_paths()['purelib'])"
    try:
        out = subprocess.run([python, "-c", code], capture_output=True, text=True,
                             timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NotAnEnvironment(f"--python {python}: cannot run it ({exc})") from None
    lines = [line for line in out.stdout.splitlines() if line.startswith(marker)]
    if out.returncode != 0 or len(lines) != 1:
        raise NotAnEnvironment(f"--python {python}: not a Python interpreter (it did not "
                               "report its site-packages)")
    site = Path(lines[0][len(marker):])
    if not (site.is_absolute() and site.is_dir()
            and site.name in ("site-packages", "dist-packages")):
        raise NotAnEnvironment(f"--python {python}: its site-packages {str(site)!r} is not "
                               "an existing site-packages folder")
    return site


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


#: Run in the environment's interpreter (stdlib only: it must work where the hook is inert).
STATUS = f"""\
import json, os, sys, sysconfig
pth = os.path.join(sysconfig.get_paths()["purelib"], "{PACKAGE}.pth")
hook, mod = sys.modules.get({MARKER!r}), sys.modules.get({PACKAGE!r})
installed = os.path.exists(pth)
reason = None
if not installed:
    state = "not installed"
elif hook is None:
    state = "inert"
    with open(pth) as f:
        same = f.read() == PTH_LINE
    reason = ("the hook did not run at start-up (site-packages' .pth files not processed)"
              if same else "the .pth file is not the one this version writes: install again")
elif hook.error:
    state, reason = "inert", hook.error
else:
    state = "active"
if reason and "No module named 'packaging'" in reason:
    reason += " ('packaging' is not importable there: the shims need it; pip install packaging)"
print(json.dumps({{"installed": installed, "state": state, "reason": reason,
  "loaded": mod is not None and state == "active", "pth": pth,
  "applied": mod.applied() if mod and state == "active" else [],
  "selected": mod.selected() if mod and state == "active" else []}}))
"""


def status(python: str) -> dict:
    """Whether the hook is installed in ``python``'s environment and did its work there."""
    code = f"PTH_LINE = {PTH_LINE!r}\n{STATUS}"
    env = {k: v for k, v in os.environ.items() if k != VERBOSE}
    try:
        out = subprocess.run([python, "-c", code], capture_output=True, text=True, env=env,
                             timeout=120)
        return json.loads(out.stdout) if out.returncode == 0 else json.loads("")
    except (OSError, subprocess.TimeoutExpired, ValueError):
        raise NotAnEnvironment(f"--python {python}: not a Python interpreter (it did not "
                               "report the hook's state)") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m patches", description=__doc__)
    parser.add_argument("command", choices=("install", "remove", "status"))
    parser.add_argument("--python", default=sys.executable,
                        help="interpreter of the environment (default: this one)")
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except NotAnEnvironment as exc:
        print(f"patches: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    if args.command == "install":
        print(f"installed: {install(args.python)}")
        state = status(args.python)
        if state["state"] != "active":
            print(f"warning: the hook is {state['state']} there: {state['reason']}")
    elif args.command == "remove":
        removed = remove(args.python)
        print("removed: " + (", ".join(map(str, removed)) or "nothing was installed"))
    else:
        print(json.dumps(status(args.python), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
