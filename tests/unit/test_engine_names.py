"""The harness names no engine: every fact about an engine lives in its folder
(compat/engines/<engine>/), so adding an engine, a tier or a benchmark touches one folder.

Allowed elsewhere: matrices, docs, tests, examples, fixtures (the engines' offline model
builders and committed golden data) and ``patches/`` (the shim package a cell imports,
whose shims patch one engine's modules by name: the layout keeps it at the top level)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from compat import engines
from conftest import REPO

#: Names that only an engine's folder may say (case-sensitive where case matters:
#: ``TTS==`` is a requirement on the original distribution, ``Xtts`` its model class).
ENGINE_NAMES = {
    "xtts": [re.compile(r"coqui-tts"), re.compile(r"TTS=="), re.compile(r"Xtts"),
             re.compile(r"xtts_run")],
    "kokoro": [re.compile(r"kokoro", re.IGNORECASE), re.compile(r"\bKModel\b|\bKPipeline\b"),
               re.compile(r"misaki")],
    "styletts2": [re.compile(r"styletts", re.IGNORECASE), re.compile(r"PLBERT|PL-BERT")],
}
HARNESS = ("compat", "noxfile.py")
CODE = (".py", ".toml", ".json", ".j2", ".ini")


def harness_files(root: Path) -> list[Path]:
    """compat/ and the noxfile, but the engines' own folders (compat/engines/<engine>/)."""
    found = []
    for entry in HARNESS:
        path = root / entry
        for file in [path] if path.is_file() else sorted(path.rglob("*")):
            rel = file.relative_to(root)
            in_engine = rel.parts[:2] == ("compat", "engines") and len(rel.parts) > 3
            if file.is_file() and file.suffix in CODE and "__pycache__" not in rel.parts \
                    and not in_engine:
                found.append(file)
    return found


def offences(root: Path) -> list[str]:
    """Each line that names an engine, but a knowledge base's ``shown_by``: the stack's
    (compat/engines/known_breakages.toml) names the matrix cells of every engine that
    show an entry, and cell ids are matrix data."""
    out = []
    for file in harness_files(root):
        text = file.read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), start=1):
            if file.name == "known_breakages.toml" and line.startswith("shown_by = "):
                continue
            for engine, patterns in ENGINE_NAMES.items():
                for pattern in patterns:
                    if pattern.search(line):
                        out.append(f"{file.relative_to(root)}:{number}: names {engine} "
                                   f"({pattern.pattern}): {line.strip()[:100]}")
    return out


def test_the_harness_names_no_engine():
    assert offences(REPO) == []


def test_every_engine_has_a_pattern_here():
    """An engine added without its names here would escape the check."""
    assert set(engines.all_engines()) <= set(ENGINE_NAMES)


@pytest.mark.parametrize("line", ['REQ = "coqui-tts==0.27.0"',
                                  "from TTS.tts.models.xtts import Xtts",
                                  "pipeline = KPipeline(lang_code='e')"])
def test_the_check_finds_an_engine_name_where_it_does_not_belong(tmp_path, line):
    """Shown to fail: a harness module that names an engine is found, with file and line."""
    (tmp_path / "compat" / "engines" / "some").mkdir(parents=True)
    (tmp_path / "compat" / "report.py").write_text(f'"""A report."""\n{line}\n')
    (tmp_path / "compat" / "engines" / "some" / "inside.py").write_text(f"{line}\n")
    (tmp_path / "noxfile.py").write_text("import nox\n")
    found = offences(tmp_path)
    assert found and all(f.startswith("compat/report.py:2: names") for f in found)
