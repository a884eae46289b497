"""Installed versions, read from package metadata (nothing is imported)."""

from __future__ import annotations

from importlib import metadata

from packaging.version import Version


def version(dist: str) -> Version | None:
    try:
        return Version(metadata.version(dist))
    except (metadata.PackageNotFoundError, ValueError):
        return None


def legacy_tts() -> Version | None:
    """The original ``TTS`` (0.21.x, 0.22.0) version, or None when the fork is installed."""
    return None if version("coqui-tts") else version("TTS")


def fork() -> Version | None:
    return version("coqui-tts")
