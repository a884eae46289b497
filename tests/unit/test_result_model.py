"""The typed result (compat/result/model.py): results written before it still load, the
JSON schema is made from the classes, and nothing a file holds is lost."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from compat.report.collect import collect
from compat.report.model import entry
from compat.result import files, model
from tests.support.report_fakes import fake_result

OLD = Path(__file__).resolve().parents[1] / "support" / "results_schema1"


def old_result() -> dict:
    """A result the harness wrote on this machine before the typed model (schema 1)."""
    (path,) = OLD.glob("*.json")
    return json.loads(path.read_text(encoding="utf-8"))


def test_a_result_written_before_the_model_loads_upgraded():
    data = old_result()
    assert data["schema"] == model.V1
    result = model.from_dict(data)
    assert result.schema == model.SCHEMA
    assert result.id == data["cell"]["id"] and result.status("install") == "fail"
    assert result.outcome == data["outcome"] and result.phases == data["phases"]
    # and the report reads it as it read it before
    assert entry(result, "old")["verdict"] == "install-failed"


def test_a_schema_1_file_without_the_newer_fields_gets_them_said_not_guessed():
    data = {k: v for k, v in old_result().items() if k not in ("phases", "outcome")}
    result = model.from_dict(data)
    assert result.phases == {} and result.outcome == "unknown"


def test_collect_and_read_result_upgrade_old_files(tmp_path):
    (tmp_path / "old.json").write_text(json.dumps(old_result()), encoding="utf-8")
    found = collect([tmp_path])
    assert found.problems == [] and found.results[0].result.schema == model.SCHEMA
    assert files.read_result(tmp_path / "old.json")["schema"] == model.SCHEMA


def test_every_field_round_trips_and_unknown_keys_are_kept():
    data = {**old_result(), "schema": model.SCHEMA, "from_a_newer_harness": {"x": 1}}
    data["tiers"]["import"]["also_new"] = True
    result = model.from_dict(data)
    assert result.extra == {"from_a_newer_harness": {"x": 1}}
    assert result.to_dict() == data


def test_the_schema_is_generated_from_the_classes():
    schema = model.json_schema()
    import dataclasses

    fields = {f.name for f in dataclasses.fields(model.CellResult)} - {"extra"}
    assert set(schema["properties"]) == fields
    assert set(schema["$defs"]["TierResult"]["properties"]["status"]["enum"]) >= {"pass", "fail"}
    jsonschema.Draft202012Validator.check_schema(schema)
    # no hand-written copy beside it
    assert not list(Path(model.__file__).parent.glob("*result*.schema.json"))


@pytest.mark.parametrize("damage, where", [
    (lambda d: d["tiers"]["load"].update(status="passed"), "tiers.load.status"),
    (lambda d: d.update(started_at=3), "started_at"),
    (lambda d: d["cell"].pop("id"), "cell"),
    (lambda d: d.update(tiers=[]), "tiers"),
])
def test_the_model_refuses_a_damaged_result_and_names_the_field(damage, where):
    data = {**fake_result("c"), "cell": dict(fake_result("c")["cell"])}
    damage(data)
    with pytest.raises(ValueError, match=rf"malformed result: {where}\b"):
        model.from_dict(data)


def test_a_result_that_does_not_fit_is_still_written_and_then_named(tmp_path):
    """Losing nothing: the writer keeps a result the model refuses (a harness bug), says
    why in it, and the report names the file instead of judging it."""
    bad = {**fake_result("c"), "started_at": 12}
    files.write_result(tmp_path, bad)
    written = json.loads((tmp_path / "c.json").read_text(encoding="utf-8"))
    assert written["started_at"] == 12 and "started_at" in written["harness_error"]
    found = collect([tmp_path])
    assert found.results == [] and "started_at" in found.problems[0]["problem"]


def test_save_and_load(tmp_path):
    result = model.from_dict(fake_result("c"))
    path = result.save(tmp_path)
    assert model.load(path) == result
