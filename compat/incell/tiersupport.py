"""What every engine's tier ``conftest.py`` shares, inside the cell: the devices a test
runs on, the cell's own copy of the model, a file's digest, where the golden output is
and whether it can judge this cell's synthesis. An engine's conftest imports
these and adds its own fixtures (the model, a synthesis); the names of its variables come
from the engine (``prefix``), so nothing here names one.

In-cell code: the standard library and pytest only, Python 3.9 (compat/incell/__init__.py).
"""

import hashlib
import json
import os
from pathlib import Path

import pytest


def devices() -> list:
    """The devices torch sees in the cell (``COMPAT_DEVICES``, from the harness's probe:
    cpu, cuda:N, mps); cpu when the harness did not say."""
    return json.loads(os.environ.get("COMPAT_DEVICES") or '["cpu"]')


def parametrize_devices(metafunc) -> None:
    """A test that takes ``device`` runs once per device; statuses are kept per device.
    Call it from the conftest's ``pytest_generate_tests``."""
    if "device" in metafunc.fixturenames:
        metafunc.parametrize("device", devices(), scope="session")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fixture_dir(prefix: str) -> Path:
    """The cell's copy of the model (never the cached fixture itself): ``<prefix>_FIXTURE_DIR``,
    which the engine's ``prepare`` set; ``<prefix>_FIXTURE_ERROR`` says why there is none,
    and every test that needs the model fails with it."""
    error = os.environ.get(f"{prefix}_FIXTURE_ERROR")
    if error:
        pytest.fail(f"no model for this cell: {error}", pytrace=False)
    if f"{prefix}_FIXTURE_DIR" not in os.environ:
        pytest.fail(f"{prefix}_FIXTURE_DIR is not set: run the tiers through the harness",
                    pytrace=False)
    return Path(os.environ[f"{prefix}_FIXTURE_DIR"])


def golden_dir(prefix: str) -> "Path | None":
    """The golden output's folder the harness named (``<prefix>_GOLDEN_DIR``), if any."""
    value = os.environ.get(f"{prefix}_GOLDEN_DIR")
    return Path(value) if value else None


def golden_inputs(prefix: str) -> dict:
    """sha256 of every input of a synthesis (config, checkpoints, voices), taken by the
    harness before any load (``<prefix>_GOLDEN_INPUTS``)."""
    return json.loads(os.environ.get(f"{prefix}_GOLDEN_INPUTS") or "{}")


def golden_mismatch(folder: "Path | None", inputs: dict, remake: str) -> "str | None":
    """Why the golden output cannot judge this synthesis, or None when it can: missing,
    or made from other inputs (naming each file that differs); ``remake``: the command
    that makes it again."""
    if folder is None or not (folder / "golden.json").is_file():
        return f"no golden output at {folder}; make it with `{remake}`"
    want = json.loads((folder / "golden.json").read_text(encoding="utf-8")).get("inputs")
    if not isinstance(want, dict) or not want:
        return f"{folder / 'golden.json'} names no inputs; remake it with `{remake}`"
    differ = sorted(n for n in set(want) | set(inputs) if want.get(n) != inputs.get(n))
    if differ:
        detail = ", ".join(f"{n} ({'missing' if n not in inputs else 'differs'})"
                           for n in differ)
        return f"the golden output was made from other inputs: {detail}"
    return None
