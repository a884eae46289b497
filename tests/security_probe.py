"""Run inside a cell environment (torch >= 2.6 and TTS): build a corpus of malicious
checkpoints, apply every shim, and try to load each one through torch.load and through
XTTS's own load path. Prints one JSON report. Each payload aims at its own canary file.

    python tests/security_probe.py WORKDIR FIXTURE_DIR [--blunt torch-load|env]

With --blunt, instead: load payload 'os_system' the way users' blunt workarounds do
(torch.load patched to disable the weights-only check, or the environment variable
that does so), to show that those run the payload.
"""

from __future__ import annotations

import builtins
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path


class Reduce:
    """An object whose unpickling calls ``func(*args)``."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def corpus(work: Path) -> dict:
    """name -> (object to save, canary path)."""
    def canary(name: str) -> Path:
        return work / f"canary-{name}"

    items = {
        "os_system": lambda c: Reduce(os.system, f"touch {c}"),
        "subprocess_popen": lambda c: Reduce(subprocess.Popen, ["touch", str(c)]),
        "builtins_eval": lambda c: Reduce(builtins.eval, f"open({str(c)!r}, 'w').close()"),
        "builtins_exec": lambda c: Reduce(builtins.exec, f"open({str(c)!r}, 'w').close()"),
        "tts_global": lambda c: Reduce(_tts_global(), str(c)),
        "nested_in_config": lambda c: _nested(c),
        "shutil_copy": lambda c: Reduce(shutil.copyfile, __file__, str(c)),
    }
    return {name: (make(canary(name)), canary(name)) for name, make in items.items()}


def _tts_global():
    """A function from inside TTS that is not on the allowlist (it writes a file)."""
    from TTS.utils.generic_utils import get_user_data_dir  # harmless, but not allowed

    return get_user_data_dir


def _nested(canary: Path):
    """A real XttsConfig (allowlisted) carrying a payload deep inside."""
    from TTS.tts.configs.xtts_config import XttsConfig

    config = XttsConfig()
    config.model_args.payload = Reduce(os.system, f"touch {canary}")
    return {"model": {}, "config": config}


def load_via_xtts(path: Path, fixture: Path, work: Path) -> None:
    from TTS.tts.configs.xtts_config import XttsConfig
    from TTS.tts.models.xtts import Xtts

    folder = work / f"model-{path.stem}"
    shutil.copytree(fixture, folder, dirs_exist_ok=True)
    shutil.copyfile(path, folder / "model.pth")
    config = XttsConfig()
    config.load_json(str(folder / "config.json"))
    Xtts.init_from_config(config).load_checkpoint(config, checkpoint_dir=str(folder))


def attempt(fn) -> dict:
    try:
        fn()
        return {"refused": False}
    except Exception as exc:
        found = re.search(r"(unsupported )?GLOBAL [\w.]+[^\n]*", str(exc), re.IGNORECASE)
        return {"refused": True, "exc_type": type(exc).__name__,
                "error": found.group(0)[:300] if found else str(exc)[:300]}


def main() -> None:
    work, fixture = Path(sys.argv[1]), Path(sys.argv[2])
    work.mkdir(parents=True, exist_ok=True)
    import torch

    if "--blunt" in sys.argv:
        path = work / "blunt.pth"
        canary = work / "canary-blunt"
        torch.save(Reduce(os.system, f"touch {canary}"), path)
        if sys.argv[sys.argv.index("--blunt") + 1] == "torch-load":
            real = torch.load
            torch.load = lambda *a, **k: real(*a, **{**k, "weights_only": False})
        result = attempt(lambda: torch.load(path))
        print(json.dumps({**result, "canary": canary.exists()}))
        return

    import patches

    applied = patches.apply(list(patches.SHIMS))
    # Import what the shims hook, so that every one of them has acted before any load.
    import TTS.config.shared_configs
    import TTS.tts.configs.xtts_config  # noqa: F401
    from TTS.tts.models.xtts import Xtts  # noqa: F401

    report = {"torch": torch.__version__, "applied": applied, "active": patches.active(),
              "payloads": {},
              "control": attempt(lambda: load_via_xtts(fixture / "model.pth", fixture, work))}
    for name, (obj, canary) in corpus(work).items():
        path = work / f"{name}.pth"
        torch.save(obj, path)
        entry = {"torch_load": attempt(lambda p=path: torch.load(p)),
                 "xtts_load": attempt(lambda p=path: load_via_xtts(p, fixture, work))}
        entry["canary"] = canary.exists()
        report["payloads"][name] = entry
    print(json.dumps(report))


if __name__ == "__main__":
    main()
