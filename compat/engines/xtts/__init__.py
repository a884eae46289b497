"""Coqui XTTS v2, from the original ``TTS`` (0.21.x, 0.22.0) and the ``coqui-tts`` fork."""

from __future__ import annotations

from pathlib import Path

from compat.engines.base import Engine, Tier

ENGINE = Engine(
    name="xtts",
    distributions=("TTS", "coqui-tts"),
    tiers=(
        Tier("import", description="import TTS, the Xtts model class and the TTS API"),
    ),
    tier_dir=Path(__file__).parent / "tiers",
)
