"""The knowledge bases as data (nox -s kb): the schema every engine's file follows, and
draft entries for a cell's unclassified failures that parse and match what they draft."""

from __future__ import annotations

import pytest
from report_fakes import fake_result, write

from compat.cli import kb
from compat.result import diagnosis
from compat.result import files as results
from compat.system.tomlcompat import tomllib

UNKNOWN = ("RuntimeError", "expected scalar type Half but found Float "
           "(/venv/lib/python3.11/site-packages/TTS/tts/layers/xtts/gpt.py:412)")


def test_every_knowledge_base_follows_the_schema_and_its_own_examples(tmp_path):
    assert kb.check(tmp_path) == []  # no stored results: schema, examples, shown_by cells


BEAM = ("ImportError", "cannot import name 'BeamSearchScorer' from 'transformers' (/x.py)")


@pytest.mark.parametrize(("transformers", "wrong"), [("4.57.1", False), ("4.46.2", True)])
def test_an_entry_whose_boundary_leaves_out_a_cell_it_classifies_is_named(
        tmp_path, transformers, wrong):
    cell = f"tts0.22.0-torch2.5.1-tf{transformers}-py3.11"
    data = fake_result(cell, failing={"import": BEAM})
    data["resolved"] = {"TTS": "0.22.0", "torch": "2.5.1", "transformers": transformers}
    results.write_result(tmp_path, data)
    problems = kb.boundary_problems(tmp_path)
    assert bool(problems) is wrong, problems
    if wrong:
        assert problems == [f"beam-search-scorer: classifies a failure of {cell} ({tmp_path}), "
                            "but its affects [{'TTS': '<=0.22.0', 'transformers': '>=4.57'}] "
                            "leaves those versions out"]


def test_shown_by_must_name_a_matrix_cell_inside_the_entrys_boundary(tmp_path, monkeypatch):
    from dataclasses import replace

    beam = next(b for b in diagnosis.load("xtts") if b.id == "beam-search-scorer")
    cells = kb.matrix_cells()
    inside = next(c for c in cells.values() if c.tts == "TTS==0.22.0"
                  and c.transformers.startswith("4.57"))
    outside = next(c for c in cells.values() if c.tts == "TTS==0.22.0"
                   and c.transformers.startswith("4.35"))
    for shown_by, expected in [((inside.id,), []),
                               (("no-such-cell",), ["is no cell of matrices"]),
                               ((outside.id,), [f"leaves out {outside.id}, which shows it"])]:
        monkeypatch.setattr(diagnosis, "load", lambda engine=None, s=shown_by: (
            replace(beam, shown_by=s),))
        problems = kb.boundary_problems(tmp_path)
        assert len(problems) == len(expected) and all(
            e in p for e, p in zip(expected, problems)), problems
    # A stopped run of the cell (a full disk, Ctrl-C) shows nothing: no verdict to hold
    # the entry to, so the cell is judged by its pins, as with no result. Failed before.
    monkeypatch.setattr(diagnosis, "load", lambda engine=None: (
        replace(beam, shown_by=(inside.id,)),))
    stopped = fake_result(inside.id, tts=inside.tts, torch=inside.torch,
                          transformers=inside.transformers)
    stopped["outcome"] = "interrupted"
    stopped["tiers"]["install"] = {"status": "fail", "message": "No space left on device"}
    write(tmp_path, stopped)
    assert kb.boundary_problems(tmp_path) == []


@pytest.mark.parametrize(("edit", "problem"), [
    (lambda e: e.pop("cause"), "'cause' is a required property"),
    (lambda e: e.update(tier="speak"), "'speak' is not one of"),
    (lambda e: e.update(extra="x"), "Additional properties are not allowed"),
])
def test_the_schema_refuses_a_broken_entry(edit, problem):
    import jsonschema

    path = diagnosis.knowledge_bases()["xtts"]
    data = tomllib.loads(path.read_text())
    edit(data["breakage"][0])
    errors = [e.message for e in jsonschema.Draft202012Validator(kb.schema()).iter_errors(data)]
    assert any(problem in e for e in errors), errors


def test_a_draft_for_each_unclassified_failure_parses_and_matches_it(tmp_path, capsys):
    cell = "tts0.22.0-torch2.1.2-tf4.35.2-py3.11"
    data = fake_result(cell, failing={"synth": UNKNOWN})
    data["resolved"] = {"TTS": "0.22.0", "torch": "2.1.2", "transformers": "4.35.2"}
    results.write_result(tmp_path, data)
    assert kb.main(["draft", cell, "--results", str(tmp_path)]) == 1
    text = capsys.readouterr().out
    draft = text[text.index("[[breakage]]"):]
    entry = diagnosis.parse(draft, "draft")[0]
    assert entry.tier == "synth" and entry.matches(
        "RuntimeError", UNKNOWN[1].replace("/venv/", "/elsewhere/"))
    assert entry.affected({"TTS": "0.22.0", "torch": "2.1.2", "transformers": "4.35.2"})
    # A failure its entry explains gets no draft; the same message on a stack the entry's
    # boundary leaves out (BeamSearchScorer is still there in transformers 4.35) does.
    inside = "tts0.22.0-torch2.5.1-tf4.57.1-py3.11"
    known = fake_result(inside, torch="2.5.1", transformers="4.57.1", failing={"import": BEAM})
    known["resolved"] = {"TTS": "0.22.0", "torch": "2.5.1", "transformers": "4.57.1"}
    results.write_result(tmp_path, known)
    assert kb.main(["draft", inside, "--results", str(tmp_path)]) == 0
    outside = fake_result(cell, failing={"import": BEAM})
    outside["resolved"] = {"TTS": "0.22.0", "torch": "2.1.2", "transformers": "4.35.2"}
    results.write_result(tmp_path, outside)
    assert kb.main(["draft", cell, "--results", str(tmp_path)]) == 1
    text = capsys.readouterr().out
    assert diagnosis.parse(text[text.index("[[breakage]]"):], "draft")[0].matches(*BEAM)
    assert kb.main(["draft", "no-such-cell", "--results", str(tmp_path)]) == 2
