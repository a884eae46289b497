"""Fixture manifests, cache hand-out, real-model checks and the committed speech.

The tiny XTTS v2 itself is built and loaded by real cells in tests/test_nox_e2e.py.
"""

from __future__ import annotations

import json
import socket
import zipfile

import pytest

from compat.engines.xtts import prepare
from fixtures import speech, store
from fixtures.manifest import FixtureError, sha256, verify, write_manifest


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "fx"
    root.mkdir()
    (root / "config.json").write_text('{"model": "xtts"}')
    (root / "sub").mkdir()
    (root / "sub" / "a.bin").write_bytes(b"\x00" * 1000)
    write_manifest(root, {"seed": 1})
    return root


def test_manifest_verifies_a_good_folder(folder):
    manifest = verify(folder)
    assert set(manifest["files"]) == {"config.json", "sub/a.bin"}
    assert manifest["seed"] == 1


@pytest.mark.parametrize(("damage", "expected"), [
    (lambda p: p.write_bytes(b"\x00" * 999), "truncated or changed: 999 bytes, expected 1000"),
    (lambda p: p.write_bytes(b"\x01" + b"\x00" * 999), "corrupt: sha256 differs"),
    (lambda p: p.unlink(), "missing (listed in"),
])
def test_manifest_names_the_bad_file(folder, damage, expected):
    target = folder / "sub" / "a.bin"
    damage(target)
    with pytest.raises(FixtureError) as err:
        verify(folder)
    assert str(err.value).startswith(f"{target}: ")
    assert expected in str(err.value)


def test_missing_manifest(tmp_path):
    with pytest.raises(FixtureError, match=r"manifest\.json: missing manifest"):
        verify(tmp_path)


@pytest.mark.parametrize(("manifest", "expected"), [
    ({"seed": 1}, "no 'files' table"),
    ({"files": ["config.json"]}, "'files' must be an object"),
    ({"files": "config.json"}, "'files' must be an object"),
    (["config.json"], "must be a JSON object"),
    ({"files": {"config.json": {"size": 17}}}, "entry 'config.json' needs"),
    ({"files": {"config.json": None}}, "entry 'config.json' needs"),
    ({"files": {"config.json": {"size": "17", "sha256": "0" * 64}}},
     "entry 'config.json' needs"),
    ({"files": {"../outside": {"size": 1, "sha256": "0" * 64}}},
     "entry '../outside' is not a path inside the folder"),
    ({"files": {"/etc/passwd": {"size": 1, "sha256": "0" * 64}}},
     "entry '/etc/passwd' is not a path inside the folder"),
])
def test_a_malformed_manifest_is_a_fixture_error_naming_it(folder, manifest, expected):
    """Not a KeyError (a harness error): the fixture's own fault, named."""
    path = folder / "manifest.json"
    path.write_text(json.dumps(manifest))
    with pytest.raises(FixtureError) as err:
        verify(folder)
    assert str(err.value).startswith(f"{path}: ")
    assert expected in str(err.value)


def test_hand_out_gives_an_independent_copy(folder, tmp_path):
    dest = store.hand_out(folder, tmp_path / "cell" / "model")
    (dest / "config.json").write_text("rewritten by the cell")
    verify(folder)  # the source is untouched
    again = store.hand_out(folder, dest)
    assert (again / "config.json").read_text() == '{"model": "xtts"}'


def fake_real_model(root):
    root.mkdir()
    (root / "config.json").write_text("{}")
    (root / "vocab.json").write_text("{}")
    for name in ("model.pth", "speakers_xtts.pth"):
        with zipfile.ZipFile(root / name, "w") as archive:
            archive.writestr("model/data.pkl", b"\x80\x02}q\x00.")
    return root


def test_real_model_check_accepts_a_complete_folder(tmp_path):
    found = store.check_real_model(fake_real_model(tmp_path / "xtts"))
    assert "model.pth" in found


@pytest.mark.parametrize(("damage", "expected"), [
    (lambda r: (r / "vocab.json").unlink(), "vocab.json: missing from the XTTS v2 folder"),
    (lambda r: (r / "model.pth").write_bytes(b""), "model.pth: empty file"),
    (lambda r: (r / "model.pth").write_bytes((r / "model.pth").read_bytes()[:40]),
     "model.pth: truncated or corrupt checkpoint"),
    (lambda r: (r / "speakers_xtts.pth").write_bytes(b"<html>not found</html>"),
     "speakers_xtts.pth: not a torch checkpoint"),
    (lambda r: (r / "config.json").write_text("{oops"), "config.json: invalid JSON"),
])
def test_real_model_check_names_the_bad_file(tmp_path, damage, expected):
    root = fake_real_model(tmp_path / "xtts")
    damage(root)
    with pytest.raises(FixtureError, match=expected.replace("(", r"\(")):
        store.check_real_model(root)


def test_finetune_needs_dvae_and_mel_stats(tmp_path):
    with pytest.raises(FixtureError, match=r"dvae\.pth: missing"):
        store.check_real_model(fake_real_model(tmp_path / "xtts"), finetune=True)


def test_prepare_passes_a_bad_model_dir_to_the_tiers(tmp_path, monkeypatch):
    monkeypatch.setenv("XTTS_MODEL_DIR", str(tmp_path / "nowhere"))
    env = prepare(tmp_path / "cell")
    assert env["XTTS_FIXTURE_ERROR"].startswith(f"{tmp_path / 'nowhere'}: ")


def test_prepare_without_a_built_fixture_says_how_to_build(tmp_path, monkeypatch):
    monkeypatch.delenv("XTTS_MODEL_DIR", raising=False)
    monkeypatch.setenv("XTTS_COMPAT_CACHE", str(tmp_path / "empty-cache"))
    env = prepare(tmp_path / "cell")
    assert "run `nox -s fixtures`" in env["XTTS_FIXTURE_ERROR"]


def test_prepare_copies_a_real_model(tmp_path, monkeypatch):
    real = fake_real_model(tmp_path / "xtts")
    monkeypatch.setenv("XTTS_MODEL_DIR", str(real))
    env = prepare(tmp_path / "cell")
    assert env["XTTS_FIXTURE_KIND"] == "real"
    assert env["XTTS_FIXTURE_BORROWED"] == "reference.wav,dataset"
    assert json.loads(env["XTTS_GOLDEN_INPUTS"])["model.pth"] == sha256(real / "model.pth")
    assert env["XTTS_FIXTURE_DIR"] == str(tmp_path / "cell" / "model")
    assert (tmp_path / "cell" / "model" / "model.pth").read_bytes() == (
        real / "model.pth").read_bytes()


def _sums() -> dict[str, str]:
    lines = (speech.VOICE_DIR / "SHA256SUMS").read_text().splitlines()
    return {name.removeprefix("./"): digest for digest, name in (ln.split() for ln in lines)}


def test_committed_speech_is_what_its_provenance_says():
    """The bytes every host builds its fixture from: hashes, format, lengths."""
    sums = _sums()
    assert set(sums) == {"reference.wav", "dataset/metadata.csv",
                         *(f"dataset/wavs/{speech.clip_id(n)}.wav"
                           for n in range(1, len(speech.CLIPS) + 1))}
    for name, digest in sums.items():
        assert sha256(speech.VOICE_DIR / name) == digest, f"{name} changed"
    audio, rate = speech.read_wav(speech.reference_speech())
    assert rate == speech.SAMPLE_RATE and 3.0 < len(audio) / rate < 8.0
    total = sum(p.stat().st_size for p in speech.VOICE_DIR.rglob("*") if p.is_file())
    assert total < 1_000_000


def test_a_changed_recording_is_caught(tmp_path):
    """The check above can fail: one flipped sample changes the hash."""
    copy = tmp_path / "reference.wav"
    data = bytearray(speech.reference_speech().read_bytes())
    data[-1] ^= 1
    copy.write_bytes(bytes(data))
    assert sha256(copy) != _sums()["reference.wav"]


def test_espeak_ng_1_51_remakes_the_committed_speech(tmp_path):
    """Provenance, checked where the same espeak-ng release is installed (Debian's 1.51)."""
    import shutil
    import subprocess

    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed: provenance not re-checked here")
    version = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True).stdout
    if " 1.51 " not in version:
        pytest.skip(f"another espeak-ng ({version.strip()}): its speech would differ")
    speech.make_voice(tmp_path)
    for name, digest in _sums().items():
        assert sha256(tmp_path / name) == digest, f"{name} differs when remade"


def test_borrow_voice_completes_a_released_folder(tmp_path):
    real = fake_real_model(tmp_path / "xtts")
    assert store.borrow_voice(real) == ["reference.wav", "dataset"]
    assert (real / "reference.wav").read_bytes() == speech.reference_speech().read_bytes()
    assert (real / "dataset" / "metadata.csv").read_text().count("|") == 2 * len(speech.CLIPS)
    assert store.borrow_voice(real) == []  # a folder that has them keeps its own


def test_the_suite_itself_cannot_open_connections():
    """pytest-socket is active for the suite's own tests."""
    with pytest.raises(Exception, match=r"(?i)socket"):
        socket.create_connection(("127.0.0.1", 9), timeout=1)


def test_manifest_is_json_with_sizes(folder):
    data = json.loads((folder / "manifest.json").read_text())
    assert data["files"]["sub/a.bin"]["size"] == 1000
