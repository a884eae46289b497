"""Coqui XTTS v2, from the original ``TTS`` (0.21.x, 0.22.0) and the ``coqui-tts`` fork."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from compat.engines.base import Engine, FixtureSpec, Tier
from fixtures import store
from fixtures.manifest import FixtureError, verify

#: The canonical fixture is built where the released checkpoint's classes live at the
#: release's module paths: the release-era stack of the original line.
FIXTURE = FixtureSpec(
    python="3.11",
    requirements=("TTS==0.22.0", "torch==2.1.2", "torchaudio==2.1.2", "transformers==4.35.2"),
    builder="fixtures.build_xtts",
    folder=store.canonical_dir,
    verify=verify,
)


def prepare(work_dir: Path) -> Mapping[str, str]:
    """Give the cell its own copy of the model: the real one (XTTS_MODEL_DIR) or the
    cached tiny fixture. A problem is passed on to the tiers, which fail naming it."""
    dest = work_dir / "model"
    real = store.real_model_dir()
    try:
        if real is not None:
            store.check_real_model(real)
            source, kind = real, "real"
        else:
            source, kind = store.cached_fixture(), "tiny-fixture"
        store.hand_out(source, dest)
    except (FixtureError, OSError) as exc:
        return {"XTTS_FIXTURE_ERROR": str(exc)}
    return {"XTTS_FIXTURE_DIR": str(dest), "XTTS_FIXTURE_SOURCE": str(source),
            "XTTS_FIXTURE_KIND": kind}


ENGINE = Engine(
    name="xtts",
    distributions=("TTS", "coqui-tts"),
    tiers=(
        Tier("import", description="import TTS, the Xtts model class and the TTS API"),
        Tier("load", needs=("import",),
             description="a fresh copy of the model through Xtts.load_checkpoint and TTS.api"),
    ),
    tier_dir=Path(__file__).parent / "tiers",
    prepare=prepare,
    fixture=FIXTURE,
)
