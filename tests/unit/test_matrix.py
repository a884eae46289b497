"""Matrix files: parsing, expansion, include/exclude, validation, ids."""

from __future__ import annotations

import pytest

from compat.cells import MatrixError, cell_id
from compat.engines import all_engines
from compat.plan.matrixfile import load_matrix, parse_size
from conftest import REPO

ENGINES = {name: e.distributions for name, e in all_engines().items()}

CELL = """
[[cell]]
python = "3.11"
tts = "TTS==0.22.0"
torch = "2.1.2"
transformers = "4.35.2"
"""


def test_explicit_cell_gets_readable_id_and_requirements(write_toml):
    m = load_matrix(write_toml(CELL), ENGINES)
    (cell,) = m.cells
    assert cell.id == "tts0.22.0-torch2.1.2-tf4.35.2-py3.11"
    assert cell.requirements() == ["TTS==0.22.0", "torch==2.1.2", "transformers==4.35.2"]
    assert not cell.unpinned


def test_fork_id_and_extras():
    from compat.cells import Cell

    cell = Cell(id="", python="3.12", tts="coqui-tts[codec]==0.28.0", torch="2.9.1",
                transformers="5.23.0")
    assert cell_id(cell) == "coqui0.28.0-torch2.9.1-tf5.23.0-py3.12"
    assert cell.tts_distribution == "coqui-tts"


def test_latest_is_unpinned(write_toml):
    m = load_matrix(write_toml("""
[[cell]]
id = "latest"
python = "3.12"
tts = "coqui-tts"
torch = "latest"
transformers = ">=4.57"
"""), ENGINES)
    (cell,) = m.cells
    assert cell.requirements() == ["coqui-tts", "torch", "transformers>=4.57"]
    assert cell.unpinned


def test_grid_product_with_exclude_and_templated_pins(write_toml):
    m = load_matrix(write_toml("""
[[grid]]
python = ["3.11"]
tts = ["TTS==0.22.0"]
torch = ["2.1.2", "2.5.1", "2.6.0"]
transformers = ["4.35.2", "4.46.2"]
pins = { torchaudio = "{torch}" }
exclude = [{ torch = ">=2.5", transformers = "<4.40" }]
"""), ENGINES)
    combos = [(c.torch, c.transformers) for c in m.cells]
    assert combos == [("2.1.2", "4.35.2"), ("2.1.2", "4.46.2"), ("2.5.1", "4.46.2"),
                      ("2.6.0", "4.46.2")]
    assert all(dict(c.pins)["torchaudio"] == c.torch for c in m.cells)


def test_grid_include_keeps_only_matching(write_toml):
    m = load_matrix(write_toml("""
[[grid]]
python = ["3.11", "3.12"]
tts = ["TTS==0.22.0", "coqui-tts==0.28.0"]
torch = ["2.9.1"]
transformers = ["4.57.3"]
include = [{ tts = "coqui-tts" }, { python = "<3.12", tts = "TTS" }]
"""), ENGINES)
    assert sorted(c.id for c in m.cells) == [
        "coqui0.28.0-torch2.9.1-tf4.57.3-py3.11",
        "coqui0.28.0-torch2.9.1-tf4.57.3-py3.12",
        "tts0.22.0-torch2.9.1-tf4.57.3-py3.11",
    ]


def test_defaults_from_matrix_table(write_toml):
    m = load_matrix(write_toml('[matrix]\ntimeout = 60\nmemory-limit = "2GiB"\ntags = ["a"]\n'
                               + CELL), ENGINES)
    (cell,) = m.cells
    assert (cell.timeout, cell.memory_limit, cell.tags) == (60.0, 2 * 2**30, ("a",))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (CELL.replace('torch = "2.1.2"', 'torhc = "2.1.2"'),
         "m.toml: [[cell]] #1: key 'torhc': unknown key"),
        (CELL.replace('python = "3.11"', 'id = "x"\npython = "3.11"\ncolour = 1'),
         "m.toml: cell 'x' ([[cell]] #1): key 'colour': unknown key"),
        (CELL.replace('"2.1.2"', '"2.1.x"'), "key 'torch': invalid version '2.1.x'"),
        (CELL.replace('"2.1.2"', '"two"'), "key 'torch': invalid PEP 440 specifier 'two'"),
        (CELL.replace('"2.1.2"', '">>2.1"'), "key 'torch': invalid PEP 440 specifier '>>2.1'"),
        (CELL.replace('"3.11"', '"3"'), "key 'python': invalid Python version '3'"),
        (CELL.replace('"TTS==0.22.0"', '"piper-tts==1.0"'),
         "key 'tts': 'piper-tts' is no engine's distribution"),
        (CELL.replace('"TTS==0.22.0"', '"piper-tts==1.0"') + '\nengine = "xtts"',
         "key 'tts': 'piper-tts' is not a distribution of engine 'xtts'"),
        (CELL + '\npins = { transformers = "4.0" }', "key 'pins.transformers'"),
        ("[[grid]]\npython=['3.11']\ntts=['TTS==0.22.0']\ntorch=['2.1.2']\n"
         "transformers=['4.35.2']\nexclude=[{torch='=>2'}]",
         "[[grid]] #1: key 'exclude[0].torch': invalid PEP 440 specifier '=>2'"),
        ("[[grid]]\npython=['3.11']\ntts=['TTS==0.22.0']\ntorch=['2.1.2']\n"
         "transformers=['4.35.2']\nexclude=[{torhc='>2'}]",
         "key 'exclude[0].torhc': unknown axis"),
        ("[[grid]]\npython=['3.11']\ntts=['TTS==0.22.0']\ntorch=['2.1.2']\n"
         "transformers=['4.35.2']\nexclude=[{torch='>=2'}]", "the rules leave no cell"),
        ("[matrix]\ndescription = 'nothing'\n", "no cells"),
        (CELL + '\nmemory-limit = "lots"', "key 'memory-limit': invalid size 'lots'"),
        (CELL + "\ntimeout = -1", "key 'timeout': must be a positive number"),
        # nan and inf compare false with every elapsed time: they would switch the limit off
        (CELL + "\ntimeout = nan", "[[cell]] #1: key 'timeout': must be a positive number"),
        (CELL + "\ntimeout = inf", "[[cell]] #1: key 'timeout': must be a positive number"),
        (CELL + "\ninstall-timeout = -inf", "key 'install-timeout': must be a positive"),
        ("[matrix]\ntimeout = nan\n" + CELL, "key 'timeout': must be a positive number"),
        # a zero limit is falsy: it would switch the memory watch off
        (CELL + '\nmemory-limit = "0"', "[[cell]] #1: key 'memory-limit': invalid size '0'"),
        (CELL + "\nmemory-limit = 0", "[[cell]] #1: key 'memory-limit': invalid size 0"),
        (CELL + '\nmemory-limit = "0GiB"', "key 'memory-limit': invalid size '0GiB'"),
        (CELL + '\nmemory-limit = "0.1b"', "key 'memory-limit': invalid size '0.1b'"),
        (CELL + "\nmemory-limit = nan", "key 'memory-limit': invalid size nan"),
        ("[[cel]]\npython='3.11'", "top level: key 'cel': unknown key"),
    ],
)
def test_invalid_matrix_names_file_cell_and_key(write_toml, text, expected):
    with pytest.raises(MatrixError) as err:
        load_matrix(write_toml(text), ENGINES)
    assert expected in str(err.value)


def test_syntax_error_names_line_and_column(write_toml):
    path = write_toml('[[cell]]\npython = "3.11"\ntts = \n')
    with pytest.raises(MatrixError) as err:
        load_matrix(path, ENGINES)
    assert str(err.value).startswith(f"{path}:3:")
    assert "TOML syntax error" in str(err.value)


def test_duplicate_ids_name_both_sources(write_toml):
    with pytest.raises(MatrixError) as err:
        load_matrix(write_toml(CELL + CELL), ENGINES)
    message = str(err.value)
    assert "cell 'tts0.22.0-torch2.1.2-tf4.35.2-py3.11'" in message
    assert "key 'id': duplicate cell id" in message
    assert "[[cell]] #2" in message and "[[cell]] #1" in message


def test_missing_file_is_a_matrix_error(tmp_path):
    with pytest.raises(MatrixError, match="cannot read matrix file"):
        load_matrix(tmp_path / "absent.toml")


def test_parse_size():
    assert parse_size("512MB") == 512 * 10**6
    assert parse_size("1.5GiB") == int(1.5 * 2**30)
    assert parse_size(1024) == 1024
    with pytest.raises(ValueError):
        parse_size("-3GB")


def test_default_matrix_covers_the_known_boundaries():
    m = load_matrix(REPO / "matrices" / "default.toml", ENGINES)
    ids = set(m.by_id())
    assert len(ids) >= 12
    for expected in (
        "tts0.22.0-torch2.1.2-tf4.35.2-py3.11",   # release era
        "tts0.22.0-torch2.5.1-tf4.46.2-py3.11",
        "tts0.22.0-torch2.6.0-tf4.46.2-py3.11",   # weights_only default
        "tts0.22.0-torch2.9.1-tf4.57.3-py3.11",   # BeamSearchScorer
        "tts0.22.0-torch2.5.1-tf4.46.2-py3.12",   # Requires-Python <3.12
        "latest",
    ):
        assert expected in ids
    assert any(c.transformers.startswith("5.") and c.tts_distribution == "tts"
               for c in m.cells)
    fork = {c.tts_version for c in m.cells if c.tts_distribution == "coqui-tts"}
    assert {"0.24.3", "0.26.2", "0.27.5", "0.28.0"} <= fork
    assert m.by_id()["latest"].unpinned


def test_smoke_matrix_is_a_subset_of_default():
    default = load_matrix(REPO / "matrices" / "default.toml", ENGINES).by_id()
    smoke = load_matrix(REPO / "matrices" / "smoke.toml", ENGINES).by_id()
    assert 2 <= len(smoke) <= 4
    for cid, cell in smoke.items():
        assert default[cid].requirements() == cell.requirements()


@pytest.mark.parametrize(("text", "expected"), [
    # a derived id: 'TTS===../../x' is a valid requirement (arbitrary equality), and its
    # version went into the id unchanged: results and scratch folders outside results/
    (CELL.replace('"TTS==0.22.0"', '"TTS===../../x"'),
     "m.toml: [[cell]] #1: key 'id': invalid id 'tts../../x-torch2.1.2-tf4.35.2-py3.11'"
     " (derived from the cell's axes)"),
    (CELL.replace('"TTS==0.22.0"', '"TTS===a`id`"'), "key 'id': invalid id 'tts"),
    (CELL.replace('"TTS==0.22.0"', '"TTS===x&&y"'), "key 'id': invalid id 'tts"),
    (CELL.replace('"TTS==0.22.0"', '"TTS===a\'b"'), "key 'id': invalid id \"tts"),
    ("[[grid]]\npython=['3.11']\ntts=['TTS===/tmp/x']\ntorch=['2.1.2']\n"
     "transformers=['4.35.2']\n",
     "m.toml: [[grid]] #1 (python=3.11, tts=TTS===/tmp/x, torch=2.1.2, transformers=4.35.2): "
     "key 'id': invalid id 'tts/tmp/x-torch2.1.2-tf4.35.2-py3.11'"),
    # an explicit id: re.match with '$' let a trailing newline through
    (CELL.replace('python = "3.11"', 'id = "ok\\n"\npython = "3.11"'),
     "m.toml: [[cell]] #1: key 'id': invalid id 'ok\\n'"),
    (CELL.replace('python = "3.11"', 'id = "../x"\npython = "3.11"'), "key 'id': invalid id"),
    (CELL.replace('python = "3.11"', 'id = "a/b"\npython = "3.11"'), "key 'id': invalid id"),
    (CELL.replace('python = "3.11"', 'id = "a$(id)"\npython = "3.11"'), "key 'id': invalid id"),
])
def test_every_cell_id_is_validated(write_toml, text, expected):
    with pytest.raises(MatrixError) as err:
        load_matrix(write_toml(text), ENGINES)
    assert expected in str(err.value)


def test_an_explicit_id_rescues_an_odd_requirement(write_toml):
    text = CELL.replace('"TTS==0.22.0"', '"TTS===../../x"').replace(
        'python = "3.11"', 'id = "odd"\npython = "3.11"')
    (cell,) = load_matrix(write_toml(text), ENGINES).cells
    assert cell.id == "odd"
