"""A cell's fingerprint: what must be equal for a stored result to still stand."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from compat import __version__


def fingerprint(
    requirements: list[str],
    install_options: dict[str, Any],
    python_version: str,
    platform_tag: str,
    suite_digest: str,
    unpinned: bool,
    today: dt.date | None = None,
    inputs: dict[str, str] | None = None,
) -> str:
    """sha256 over pins, install options, the exact Python, the platform and the suite.

    ``inputs``: what verdicts depend on beyond pins and code: the variables a user passed
    into cells on purpose (COMPAT_PASS_ENV) with their values, and which model the tiers
    load (the engine's ``model_identity``). Another setting is another verdict.

    An unpinned cell (the ``latest`` canary) resolves differently from day to day, so
    its fingerprint also holds the UTC date: it is rerun once a day.
    """
    payload = {
        "requirements": sorted(requirements),
        "install": install_options,
        "python": python_version,
        "platform": platform_tag,
        "suite": [__version__, suite_digest],
        "inputs": dict(sorted((inputs or {}).items())),
    }
    if unpinned:
        payload["date"] = (today or dt.datetime.now(dt.timezone.utc).date()).isoformat()
    blob = json.dumps(payload, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()
