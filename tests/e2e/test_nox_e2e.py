"""The matrix through real nox: listing, refusal of bad matrix files, and real cells of
matrices/smoke.toml installed with uv and tested end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import PY312_LEGACY, RELEASE_ERA, REPO, SEED_BROKEN, TORCH26, load, nox


def test_list_json_has_one_session_per_cell():
    out = nox("-l", "--json")
    assert out.returncode == 0, out.stderr
    sessions = [s for s in json.loads(out.stdout) if s["name"] == "matrix"]
    assert len(sessions) >= 12
    for s in sessions:
        assert {"cell", "tts", "torch", "transformers"} <= set(s["call_spec"])
        assert s["session"] == f"matrix(cell='{s['call_spec']['cell']}')"
    cells = {s["call_spec"]["cell"]: s for s in sessions}
    assert PY312_LEGACY in cells and "latest" in cells
    assert cells[PY312_LEGACY]["python"].endswith("3.12") or cells[PY312_LEGACY]["python"] is False
    assert "canary" in cells["latest"]["tags"]


def test_keyword_and_tag_selection():
    def cells(out):
        return [s["call_spec"] for s in json.loads(out.stdout) if s["name"] == "matrix"]

    by_tag = nox("-l", "--json", "-t", "canary")
    assert [c["cell"] for c in cells(by_tag)] == ["latest"]
    by_kw = nox("-l", "--json", "-k", "coqui and not latest")
    assert {c["tts"].split("==")[0] for c in cells(by_kw)} == {"coqui-tts", "coqui-tts[codec]"}


BAD = {
    "specifier": ("[[grid]]\npython=['3.11']\ntts=['TTS==0.22.0']\ntorch=['2.1.2']\n"
                  "transformers=['4.35.2']\nexclude=[{torch='>>2.6'}]\n",
                  "[[grid]] #1: key 'exclude[0].torch': invalid PEP 440 specifier '>>2.6'"),
    "unknown-key": ("[[cell]]\nid='c1'\npython='3.11'\ntts='TTS==0.22.0'\ntorch='2.1.2'\n"
                    "transformers='4.35.2'\ntorchaudio='2.1.2'\n",
                    "cell 'c1' ([[cell]] #1): key 'torchaudio': unknown key"),
    "duplicate": ("[[cell]]\nid='c1'\npython='3.11'\ntts='TTS==0.22.0'\ntorch='2.1.2'\n"
                  "transformers='4.35.2'\n" * 2, "cell 'c1' ([[cell]] #2): key 'id': duplicate"),
}


@pytest.mark.parametrize("kind", sorted(BAD))
def test_bad_matrix_is_refused_before_anything_runs(tmp_path, kind):
    text, expected = BAD[kind]
    matrix = tmp_path / f"bad-{kind}.toml"
    matrix.write_text(text)
    results = tmp_path / "results"
    out = nox("-s", "matrix", env={"COMPAT_MATRIX": str(matrix), "COMPAT_RESULTS": str(results)})
    assert out.returncode == 2
    assert f"{matrix}: {expected}" in out.stderr
    assert not results.exists()


@pytest.mark.e2e
@pytest.mark.timeout(2700)
def test_smoke_matrix_exits_zero_whatever_the_verdicts(smoke_run):
    out, results, _ = smoke_run
    assert out.returncode == 0, out.stderr[-3000:]
    assert "[cell 1/4]" in out.stderr and "[cell 4/4]" in out.stderr
    assert sorted(p.name for p in results.glob("*.json")) == sorted(
        f"{c}.json" for c in (RELEASE_ERA, TORCH26, SEED_BROKEN, PY312_LEGACY))


@pytest.mark.e2e
def test_release_era_cell_passes_every_tier(smoke_run):
    result = load(smoke_run[1], RELEASE_ERA)
    assert {n: t["status"] for n, t in result["tiers"].items()} == {
        n: "pass" for n in ("install", "import", "load", "synth", "stream", "longform",
                            "finetune", "crossload", "bench")}
    synth = {t["test"]: t.get("properties", {}) for t in result["tiers"]["synth"]["tests"]}
    golden = synth["test_agrees_with_golden[cpu]"]
    assert golden["golden_codes_equal"] is True
    assert golden["golden_first_logits_max_abs_diff"] <= 1e-4
    assert golden["golden_waveform_rel_error"] <= 1e-4
    assert synth["test_output_depends_on_its_conditioning[cpu]"]["first_call_tokens"] > 1
    finetune = {t["test"]: t.get("properties", {}) for t in result["tiers"]["finetune"]["tests"]}
    assert len(finetune["test_losses_are_finite"]["losses"]) >= 3
    assert finetune["test_overfitting_one_batch_lowers_the_loss"]["overfit_loss_drop"] > 0
    assert "weights_only_globals_needed" in finetune[
        "test_checkpoint_reloads_weights_only_and_speaks"]
    names = {b["name"] for b in result["bench"]["benchmarks"]}
    assert {"test_bench_load[cpu]", "test_bench_synth[cpu]"} <= names
    assert (smoke_run[1] / RELEASE_ERA / "benchmark.json").exists()


@pytest.mark.e2e
def test_release_era_cell_splits_long_text_sentence_by_sentence(smoke_run):
    longform = {t["test"]: t.get("properties", {})
                for t in load(smoke_run[1], RELEASE_ERA)["tiers"]["longform"]["tests"]}
    for size in (1000, 3000):
        api = longform[f"test_api_split_sentences[{size}]"]
        assert api["characters"] >= size and api["segments"] == api["sentences"] > 10
        assert api["synthesised"] is (size == 1000)  # 3,000 characters: split, not spoken
    stream = longform["test_stream_text_splitting[cpu-1000]"]
    assert stream["gpt_runs"] == stream["segments"] > 10
    long = longform["test_stream_text_splitting[cpu-3000]"]
    assert long["synthesised"] is False and long["segments"] > stream["segments"]
    small = longform["test_api_split_sentences[1000]"]
    # Each segment is the sentence alone; the whole adds TTS 0.22.0's 10,000-sample pauses.
    assert small["audio_seconds"] == pytest.approx(
        small["singles_sum_seconds"] + small["segments"] * 10000 / 24000, abs=0.01)
    past = longform["test_without_splitting_past_the_limit[cpu]"]
    assert "exceeds the character limit of 250" in past["over_limit_warning"]
    assert "maximum of 400 tokens" in past["over_limit_error"]


@pytest.mark.e2e
def test_checkpoints_load_across_the_smoke_cells(smoke_run, tmp_path):
    """Each passing cell loads the others' fine-tuned checkpoints (the later ones' through
    the catch-up after the last cell) and speaks as the training cell did."""
    from compat.report import model, pairs
    from compat.report.collect import collect

    found = {(p["trained_with"], p["loaded_by"]): p
             for p in model.build(collect([smoke_run[1]]))["pairs"]}
    for pair in ((RELEASE_ERA, TORCH26), (TORCH26, RELEASE_ERA), (RELEASE_ERA, SEED_BROKEN)):
        assert pair in found, sorted(found)
        assert found[pair]["verdict"] in ("loads", "loads-with-shims"), found[pair]
    # torch 2.6 loads the release-era checkpoint bare: the trainer saves no class that
    # weights_only refuses (unlike the released model.pth, whose load tier needs a shim).
    assert found[(RELEASE_ERA, TORCH26)]["verdict"] == "loads"
    kept = smoke_run[1] / RELEASE_ERA / "artifacts" / "checkpoint"
    assert json.loads((kept / "manifest.json").read_text())["files"]["model.pth"]
    assert pairs.text(found[(RELEASE_ERA, TORCH26)]) == "✅ loads"


@pytest.mark.e2e
@pytest.mark.timeout(900)
def test_the_same_training_leaves_the_same_checkpoint(smoke_run, tmp_path):
    """The release-era cell's finetune, run again elsewhere on the same stack, leaves its
    checkpoint byte for byte as the smoke run did: the kept copy holds nothing of the run
    (no date, no output folder, no absolute path). So a cell rerun beside the others
    (``--jobs``, ``--force``) rewrites what was there, and no consumer's crossload reruns
    for it (docs/measurements/2026-12-05-matrix-speed.md)."""
    python = load(smoke_run[1], RELEASE_ERA)["probe"]["executable"]
    out = subprocess.run([sys.executable, "-m", "compat", "here", "--python", python,
                          "--results", str(tmp_path), "--tiers", "import,load,finetune"],
                         capture_output=True, text=True, cwd=REPO, timeout=800)
    assert out.returncode == 0, out.stderr[-3000:]
    first = smoke_run[1] / RELEASE_ERA / "artifacts" / "checkpoint" / "manifest.json"
    (again,) = tmp_path.glob("here-*/artifacts/checkpoint/manifest.json")
    assert (json.loads(again.read_text())["files"]
            == json.loads(first.read_text())["files"])


@pytest.mark.e2e
@pytest.mark.timeout(900)
def test_changed_decoding_is_caught_as_diverged(smoke_run, tmp_path):
    """A deliberate corruption (a changed sampling setting) proves the golden check can fail."""
    python = load(smoke_run[1], RELEASE_ERA)["probe"]["executable"]
    env = {**os.environ, "COMPAT_PASS_ENV": "COMPAT_XTTS_DECODING",  # passed on purpose
           "COMPAT_XTTS_DECODING": '{"do_sample": true, "temperature": 1.0, "top_p": 1.0}'}
    out = subprocess.run([sys.executable, "-m", "compat", "here", "--python", python,
                          "--results", str(tmp_path), "--tiers", "import,load,synth,stream"],
                         capture_output=True, text=True, env=env, cwd=REPO, timeout=800)
    assert out.returncode == 0, out.stderr[-3000:]
    (path,) = tmp_path.glob("here-*.json")
    tiers = json.loads(path.read_text())["tiers"]
    assert tiers["synth"]["status"] == "diverged"
    assert "audio codes differ" in tiers["synth"]["message"]
    # The stream tier decodes greedily whatever the override: its codes no longer match
    # the (sampled) synth codes, so the stream's own agreement check fails too.
    assert tiers["stream"]["status"] == "fail"
    assert "streamed codes differ from the synth tier's greedy codes" in tiers["stream"]["message"]


@pytest.mark.e2e
def test_release_era_cell_imports(smoke_run):
    result = load(smoke_run[1], RELEASE_ERA)
    assert result["tiers"]["install"]["status"] == "pass"
    assert result["tiers"]["import"]["status"] == "pass"
    assert result["resolved"]["torch"].startswith("2.1.2")
    assert result["resolved"]["transformers"] == "4.35.2"
    assert "cpu" in result["devices"]
    assert any(line.lower().startswith("tts==0.22.0") for line in result["freeze"])
    assert (smoke_run[1] / RELEASE_ERA / "junit.xml").exists()


@pytest.mark.e2e
def test_seed_broken_cell_fails_bare_and_works_shimmed(smoke_run):
    result = load(smoke_run[1], SEED_BROKEN)
    bare = result["tiers"]["import"]["bare"]
    assert bare["status"] == "fail" and bare["exc_type"] == "ImportError"
    assert "cannot import name 'BeamSearchScorer'" in bare["message"]
    assert result["shims"]["addressed"] == {"import": ["beam_search"]}
    assert result["tiers"]["import"]["shims"] == ["beam_search"]
    for tier in ("import", "load", "synth", "stream"):
        assert result["tiers"][tier]["shimmed"]["status"] == "pass", tier
    for shim in ("beam_search", "weights_only", "generation_mixin", "dropped_prefix",
                 "stream_sampler", "torchaudio_io"):
        assert shim in result["tiers"]["synth"]["shims"] + result["tiers"]["stream"]["shims"]
    golden = {t["test"]: t.get("properties", {}) for t in result["tiers"]["synth"]["tests"]}
    agree = golden["test_agrees_with_golden[cpu]"]
    assert agree["golden_codes_equal"] and agree["golden_first_logits_max_abs_diff"] <= 1e-4


@pytest.mark.e2e
def test_release_era_cell_runs_bare_only(smoke_run):
    shims = load(smoke_run[1], RELEASE_ERA)["shims"]
    assert shims["rerun"] is False
    assert shims["reason"] == "every tier passed bare: no shim needed"


@pytest.mark.e2e
def test_python312_cell_records_install_failure_naming_python(smoke_run):
    result = load(smoke_run[1], PY312_LEGACY)
    install = result["tiers"]["install"]
    assert result["outcome"] == "install-failed"
    assert install["status"] == "fail"
    assert "< 3.12" in install["message"] or "<3.12" in install["message"]
    assert result["tiers"]["import"]["status"] == "not-run"


@pytest.mark.e2e
@pytest.mark.timeout(600)
def test_rerun_reuses_current_result(smoke_run):
    _, results, env = smoke_run
    before = load(results, RELEASE_ERA)
    out = nox("-s", f"matrix(cell='{RELEASE_ERA}')", env=env, timeout=600)
    assert out.returncode == 0
    assert "up to date" in out.stderr
    assert load(results, RELEASE_ERA)["started_at"] == before["started_at"]


@pytest.mark.e2e
def test_release_era_cell_loads_a_fresh_copy_of_the_fixture(smoke_run):
    from fixtures import store

    load_tier = load(smoke_run[1], RELEASE_ERA)["tiers"]["load"]
    assert load_tier["status"] == "pass"
    checkpoint = next(t for t in load_tier["tests"] if t["test"] == "test_load_checkpoint[cpu]")
    assert checkpoint["properties"]["model_pth_rewritten"] is False
    assert {t["test"] for t in load_tier["tests"]} == {"test_load_checkpoint[cpu]",
                                                        "test_load_tts_api[cpu]"}
    store.cached_fixture()  # the cached fixture still matches its manifest


@pytest.mark.e2e
def test_fixture_is_refused_by_torch_2_6_weights_only_like_the_release(smoke_run, tmp_path):
    """The proof of faithfulness: torch >= 2.6 refuses our model.pth exactly as users report."""
    from fixtures import store

    python = load(smoke_run[1], SEED_BROKEN)["probe"]["executable"]
    copy = store.hand_out(store.cached_fixture(), tmp_path / "model")
    code = "import sys, torch; torch.load(sys.argv[1])"
    out = subprocess.run([python, "-c", code, str(copy / "model.pth")], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode != 0
    assert ("Unsupported global: GLOBAL TTS.tts.configs.xtts_config.XttsConfig"
            in out.stderr), out.stderr[-2000:]


@pytest.mark.e2e
@pytest.mark.timeout(1200)
def test_fixture_build_is_byte_identical(tmp_path, smoke_run):
    """`nox -s fixtures` from nothing, twice (two empty caches): identical manifests."""
    manifests = []
    for n in (1, 2):
        cache = tmp_path / f"cache{n}"
        out = nox("-s", "fixtures", env={"XTTS_COMPAT_CACHE": str(cache)}, timeout=900)
        assert out.returncode == 0, out.stderr[-3000:]
        (built,) = [p for p in cache.iterdir() if p.name.startswith("xtts-tiny-")]
        manifests.append(json.loads((built / "manifest.json").read_text()))
    assert manifests[0]["files"] == manifests[1]["files"]
    sizes = sum(f["size"] for f in manifests[0]["files"].values())
    assert sizes < 100 * 10**6
    assert manifests[0]["built_with"]["TTS"] == "0.22.0"
