"""Run inside an environment with torch >= 2.6: build a corpus of malicious checkpoints,
apply every shim, and try to load each payload through every route a checkpoint takes into
TTS. Prints one JSON report. Each (payload, route) aims at its own canary file.

    python tests/support/security_probe.py WORKDIR FIXTURE_DIR              # a cell: real TTS
    python tests/support/security_probe.py WORKDIR - --stand-in             # torch only
    python tests/support/security_probe.py WORKDIR FIXTURE_DIR --blunt torch-load|env [--stand-in]

Routes (real TTS): ``torch_load`` (plain ``torch.load``), ``xtts_model`` (the payload as
``model.pth``, through ``Xtts.load_checkpoint``), ``xtts_speakers`` (the payload inside
``speakers_xtts.pth``, which ``Xtts.load_checkpoint`` reads first, through
``SpeakerManager``'s ``torch.load``), ``trainer_restore`` (the payload inside a coqui
``trainer`` checkpoint, through ``Trainer.restore_model``, which ``--restore_path`` and
``--continue_path`` use: ``trainer.io.load_fsspec`` -> ``torch.load``).

``--stand-in`` (an environment with torch and nothing of TTS, e.g. the newest torch, which
no TTS release resolves with): the modules whose classes the ``weights_only`` shim
allowlists are stand-ins written here at the exact module paths (``TTS.tts.configs.
xtts_config.XttsConfig`` and the three others), so the shim's import hooks fire and it
registers its allowlist with this torch; ``TTS.tts.utils.managers.save_file`` is a stand-in
that writes a file, like the real one. Only the ``torch_load`` route exists there.

With ``--blunt``: load every payload the way users' blunt workarounds do (``torch.load``
patched to pass ``weights_only=False``, or the environment variable that turns the check
off) instead, to show that every payload of the corpus is live: each writes its canary.
"""

from __future__ import annotations

import builtins
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import time
import types
from pathlib import Path

#: name -> the global the weights-only refusal must name (what the payload calls).
PAYLOADS = {
    "os_system": "posix.system",
    "subprocess_popen": "subprocess.Popen",
    "builtins_eval": "builtins.eval",
    "builtins_exec": "builtins.exec",
    "shutil_copy": "shutil.copyfile",
    "tts_global": "TTS.tts.utils.managers.save_file",
    "nested_in_config": "posix.system",
}
ROUTES = ("torch_load", "xtts_model", "xtts_speakers", "trainer_restore")
STAND_IN_ROUTES = ("torch_load",)


class Reduce:
    """An object whose unpickling calls ``func(*args)``."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def canary_path(work: Path, name: str, route: str) -> Path:
    # save_file (the TTS global) writes only files named .json or .pth
    return work / f"canary-{name}-{route}{'.json' if name == 'tts_global' else ''}"


def payload(name: str, canary: Path):
    """The object whose unpickling writes ``canary``."""
    if name == "os_system":
        return Reduce(os.system, f"touch {canary}")
    if name == "subprocess_popen":
        # The child writes a second later, as a payload that works in the background
        # would: its canary is checked only after the child ended (reap_children).
        return Reduce(subprocess.Popen, ["sh", "-c", f"sleep 1; touch '{canary}'"])
    if name == "builtins_eval":
        return Reduce(builtins.eval, f"open({str(canary)!r}, 'w').close()")
    if name == "builtins_exec":
        return Reduce(builtins.exec, f"open({str(canary)!r}, 'w').close()")
    if name == "shutil_copy":
        return Reduce(shutil.copyfile, __file__, str(canary))
    if name == "tts_global":
        # A function from inside TTS, not on the allowlist, that writes a file it is given.
        from TTS.tts.utils.managers import save_file

        return Reduce(save_file, {"written by": "a checkpoint"}, str(canary))
    if name == "nested_in_config":
        # A real XttsConfig (allowlisted by the shim) carrying the payload deep inside.
        from TTS.tts.configs.xtts_config import XttsConfig

        config = XttsConfig()
        config.model_args.payload = Reduce(os.system, f"touch {canary}")
        return {"model": {}, "config": config}
    raise KeyError(name)


def reap_children(timeout: float = 60.0) -> list[int]:
    """Wait for every child process (a ``Popen`` payload's ``touch``) to end, so that a
    canary is checked only after what could write it is done. Returns the pids still
    running at the timeout (none expected)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return []  # no child left
        if pid == 0:
            if time.monotonic() > deadline:
                return _children()
            time.sleep(0.02)


def _children() -> list[int]:
    me = str(os.getpid())
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == me:
            found.append(int(stat.parent.name))
    return found


def attempt(fn) -> dict:
    try:
        fn()
        result = {"refused": False}
    except Exception as exc:
        found = re.search(r"(unsupported )?GLOBAL [\w.]+[^\n]*", str(exc), re.IGNORECASE)
        result = {"refused": True, "exc_type": type(exc).__name__,
                  "unpickling_error": isinstance(exc, pickle.UnpicklingError),
                  "weights_only_refusal": "Weights only load failed" in str(exc),
                  "error": found.group(0)[:300] if found else str(exc)[:300]}
    left = reap_children()
    if left:
        result["children_left"] = left
    return result


# -- routes ------------------------------------------------------------------------------

def model_folder(fixture: Path, work: Path, label: str, replace: dict[str, Path]) -> Path:
    """A checkpoint folder: the fixture's files (symlinked), some replaced."""
    folder = work / f"model-{label}"
    folder.mkdir(parents=True, exist_ok=True)
    for item in fixture.iterdir():
        if item.is_file() and item.name not in replace:
            (folder / item.name).symlink_to(item)
    for name, path in replace.items():
        shutil.copyfile(path, folder / name)
    return folder


def load_via_xtts(folder: Path) -> None:
    from TTS.tts.configs.xtts_config import XttsConfig
    from TTS.tts.models.xtts import Xtts

    config = XttsConfig()
    config.load_json(str(folder / "config.json"))
    Xtts.init_from_config(config).load_checkpoint(config, checkpoint_dir=str(folder))


def trainer_checkpoint(step) -> tuple[dict, object, object]:
    """What ``trainer`` saves (``save_checkpoint``), for a small model; ``step`` may be a
    payload."""
    import torch

    model = torch.nn.Linear(4, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    state = {"config": {"run_name": "tiny", "lr": 0.1}, "model": model.state_dict(),
             "optimizer": optimizer.state_dict(), "scaler": None, "step": step, "epoch": 0,
             "date": "2026-01-01", "model_loss": {"train_loss": 0.5}}
    return state, model, optimizer


def restore_via_trainer(path: Path, model, optimizer) -> None:
    from trainer import Trainer

    # restore_model reads the file before it touches the trainer; what it uses of the
    # trainer afterwards is stubbed, so a benign checkpoint restores for real.
    stub = types.SimpleNamespace(use_amp_scaler=False, args=None,
                                 restore_lr=lambda config, args, model, optimizer: optimizer)
    Trainer.restore_model(stub, None, str(path), model, optimizer)


def try_route(route: str, obj, work: Path, fixture: Path | None, label: str) -> dict:
    import torch

    path = work / f"{label}-{route}.pth"
    if route == "torch_load":
        torch.save(obj, path)
        return attempt(lambda: torch.load(path))
    if route == "xtts_model":
        torch.save(obj, path)
        folder = model_folder(fixture, work, f"{label}-{route}", {"model.pth": path})
        return attempt(lambda: load_via_xtts(folder))
    if route == "xtts_speakers":
        speakers = {"attacker": {"gpt_cond_latent": obj, "speaker_embedding": torch.zeros(512)}}
        torch.save(speakers, path)
        folder = model_folder(fixture, work, f"{label}-{route}", {"speakers_xtts.pth": path})
        return attempt(lambda: load_via_xtts(folder))
    if route == "trainer_restore":
        state, model, optimizer = trainer_checkpoint(obj)
        torch.save(state, path)
        return attempt(lambda: restore_via_trainer(path, model, optimizer))
    raise KeyError(route)


def controls(routes, work: Path, fixture: Path | None, stand_in: bool) -> dict:
    """The benign file of each route loads (with the shims), so a refusal is the payload's."""
    import torch

    out = {}
    if stand_in:
        from TTS.tts.configs.xtts_config import XttsConfig

        out["torch_load"] = try_route("torch_load", {"model": {"w": torch.zeros(2)},
                                                     "config": XttsConfig()},
                                      work, None, "control")
        return out
    if "torch_load" in routes:
        out["torch_load"] = attempt(lambda: torch.load(fixture / "model.pth"))
    if "xtts_model" in routes or "xtts_speakers" in routes:
        folder = model_folder(fixture, work, "control", {})
        out["xtts"] = attempt(lambda: load_via_xtts(folder))
    if "trainer_restore" in routes:
        state, model, optimizer = trainer_checkpoint(7)
        path = work / "control-trainer.pth"
        torch.save(state, path)
        out["trainer_restore"] = attempt(lambda: restore_via_trainer(path, model, optimizer))
    return out


# -- stand-ins ---------------------------------------------------------------------------

STAND_INS = {
    "TTS/__init__.py": '"""Stand-in: the module paths the weights_only shim allowlists."""\n',
    "TTS/config/__init__.py": "",
    "TTS/config/shared_configs.py": (
        "class BaseDatasetConfig:\n"
        "    def __init__(self):\n"
        "        self.formatter, self.path, self.language = 'ljspeech', '', 'en'\n"),
    "TTS/tts/__init__.py": "",
    "TTS/tts/configs/__init__.py": "",
    "TTS/tts/configs/xtts_config.py": (
        "from TTS.config.shared_configs import BaseDatasetConfig\n"
        "from TTS.tts.models.xtts import XttsArgs, XttsAudioConfig\n\n\n"
        "class XttsConfig:\n"
        "    def __init__(self):\n"
        "        self.model = 'xtts'\n"
        "        self.model_args, self.audio = XttsArgs(), XttsAudioConfig()\n"
        "        self.datasets = [BaseDatasetConfig()]\n"),
    "TTS/tts/models/__init__.py": "",
    "TTS/tts/models/xtts.py": (
        "class XttsAudioConfig:\n"
        "    def __init__(self):\n"
        "        self.sample_rate, self.output_sample_rate = 22050, 24000\n\n\n"
        "class XttsArgs:\n"
        "    def __init__(self):\n"
        "        self.gpt_layers, self.kv_cache = 2, True\n"),
    "TTS/tts/utils/__init__.py": "",
    "TTS/tts/utils/managers.py": (
        "import json\n\n\n"
        "def save_file(obj, path):  # as TTS's: json or torch.save by the file's suffix\n"
        "    if not path.endswith('.json'):\n"
        "        raise ValueError('Unsupported file type')\n"
        "    with open(path, 'w') as f:\n"
        "        json.dump(obj, f, indent=4)\n"),
}


def write_stand_ins(work: Path) -> Path:
    root = work / "stand-in"
    for rel, text in STAND_INS.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    sys.path.insert(0, str(root))
    return root


# -- main --------------------------------------------------------------------------------

def blunt(how: str, work: Path) -> dict:
    """Load every payload with the check off (how users' workarounds do it)."""
    import torch

    if how == "torch-load":
        real = torch.load
        torch.load = lambda *a, **k: real(*a, **{**k, "weights_only": False})
    elif os.environ.get("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD") != "1":
        raise SystemExit("--blunt env needs TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1")
    out = {}
    for name in PAYLOADS:
        canary = canary_path(work, name, "blunt")
        path = work / f"blunt-{name}.pth"
        torch.save(payload(name, canary), path)
        entry = attempt(lambda p=path: torch.load(p))
        entry["canary"] = canary.exists()
        out[name] = entry
    return out


def main() -> None:
    work = Path(sys.argv[1])
    fixture = None if sys.argv[2] == "-" else Path(sys.argv[2])
    stand_in = "--stand-in" in sys.argv
    work.mkdir(parents=True, exist_ok=True)
    import torch

    if stand_in:
        write_stand_ins(work)
    if "--blunt" in sys.argv:
        how = sys.argv[sys.argv.index("--blunt") + 1]
        if not stand_in:
            import patches

            patches.apply(list(patches.SHIMS))  # TTS 0.22.0 on transformers >= 4.57
        print(json.dumps({"torch": torch.__version__, "payloads": blunt(how, work)}))
        return

    # Before any shim: the release-format file is refused (torch >= 2.6's default).
    if stand_in:
        from TTS.tts.configs.xtts_config import XttsConfig

        bare = try_route("torch_load", {"model": {}, "config": XttsConfig()}, work, None,
                         "control-bare")
    else:
        bare = attempt(lambda: torch.load(fixture / "model.pth"))

    import patches

    applied = patches.apply(list(patches.SHIMS))
    # Import what the shims hook, so that every one of them has acted before any load.
    import TTS.config.shared_configs
    import TTS.tts.configs.xtts_config
    import TTS.tts.models.xtts  # noqa: F401

    routes = STAND_IN_ROUTES if stand_in else ROUTES
    if not stand_in:
        from importlib import metadata

        tts = f"TTS {metadata.version('TTS')}, trainer {metadata.version('trainer')}"
    report = {"torch": torch.__version__, "tts": "stand-in" if stand_in else tts,
              "applied": applied, "active": patches.active(), "routes": list(routes),
              "control_bare": bare, "control": controls(routes, work, fixture, stand_in),
              "payloads": {}}
    for name in PAYLOADS:
        entry = {}
        for route in routes:
            canary = canary_path(work, name, route)
            entry[route] = try_route(route, payload(name, canary), work, fixture, name)
            entry[route]["canary"] = canary.exists()
        report["payloads"][name] = entry
    print(json.dumps(report))


if __name__ == "__main__":
    main()
