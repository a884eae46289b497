"""The releases of a package on the index a cell installs from: what a trial may pin.

Read from the index's JSON simple API (PEP 691, with PEP 592 yank marks): the query an
installer makes, against the same index (the cell's ``index-url``, else ``UV_INDEX_URL``
or ``PIP_INDEX_URL``, else PyPI). A release counts as yanked when every file of it is, as
pip and uv see it; yanked releases are left out (pip installs one only when pinned
exactly, and a user moving forward never lands on it), pre-releases unless asked.
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

PYPI_SIMPLE = "https://pypi.org/simple"
ACCEPT = "application/vnd.pypi.simple.v1+json"
TIMEOUT = 60


class ReleaseError(LookupError):
    """The index could not be read, or the package has no such releases."""


@dataclass(frozen=True)
class Release:
    version: Version
    yanked: bool

    def __str__(self) -> str:
        return str(self.version)


def simple_url(index_url: str | None) -> str:
    """The simple API root: the cell's index, the installer's configured one, or PyPI."""
    url = index_url or os.environ.get("UV_INDEX_URL") or os.environ.get("PIP_INDEX_URL")
    return (url or PYPI_SIMPLE).rstrip("/")


def fetch_page(name: str, index_url: str | None = None) -> dict:
    """The index's JSON page of ``name`` (network: the installer's own query)."""
    url = f"{simple_url(index_url)}/{canonicalize_name(name)}/"
    request = urllib.request.Request(url, headers={"Accept": ACCEPT})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return json.loads(response.read().decode("utf-8"))
    except (OSError, ValueError) as exc:
        raise ReleaseError(f"cannot read {url}: {exc}") from None


def releases_from_page(page: dict) -> list[Release]:
    """Every release the page's files name, oldest first, yanked when all its files are."""
    yanked: dict[Version, list[bool]] = {}
    for file in page.get("files", []):
        name = file.get("filename", "")
        try:
            if name.endswith(".whl"):
                version = parse_wheel_filename(name)[1]
            else:
                version = parse_sdist_filename(name)[1]
        except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
            continue
        yanked.setdefault(version, []).append(bool(file.get("yanked")))
    return [Release(v, all(marks)) for v, marks in sorted(yanked.items())]


def between(releases: Iterable[Release], good: str, bad: str, *, pre: bool = False
            ) -> tuple[list[str], list[str]]:
    """The releases from ``good`` to ``bad`` (both included, in that order: ``bad`` may be
    older than ``good``, a downgrade), and the yanked ones left out. ``good`` and ``bad``
    themselves are kept whatever their marks: the user named them."""
    g, b = Version(good), Version(bad)
    low, high = sorted((g, b))
    chosen, left_out = [], []
    for release in releases:
        v = release.version
        if not low <= v <= high:
            continue
        if v in (g, b):
            chosen.append(v)
        elif release.yanked:
            left_out.append(str(v))
        elif v.is_prerelease and not pre:
            continue
        else:
            chosen.append(v)
    for end in (g, b):
        if end not in chosen:
            raise ReleaseError(f"{end} is not a release on the index")
    chosen.sort(reverse=b < g)
    return [str(v) for v in chosen], left_out


def newest(releases: Iterable[Release], *, pre: bool = False) -> str:
    usable = [r.version for r in releases if not r.yanked and (pre or not r.version.is_prerelease)]
    if not usable:
        raise ReleaseError("no usable release on the index")
    return str(max(usable))


Fetch = Callable[[str, "str | None"], dict]


def releases(name: str, index_url: str | None = None, fetch: Fetch | None = None
             ) -> list[Release]:
    found = releases_from_page((fetch or fetch_page)(name, index_url))
    if not found:
        raise ReleaseError(f"{name}: no release on {simple_url(index_url)}")
    return found
