"""Tier load: the cell's copy of the model loads through both public entry points."""

import json
import os
import time

import pytest

from compat.incell.tiersupport import sha256

pytestmark = pytest.mark.tier("load")
#: Seeds the fresh initialisation a released model's weights are compared with.
FRESH_SEED = 20261128


def test_load_checkpoint(model_dir, xtts_config, device, record_property):
    from TTS.tts.models.xtts import Xtts

    before = sha256(model_dir / "model.pth")
    model = Xtts.init_from_config(xtts_config)
    started = time.perf_counter()
    model.load_checkpoint(xtts_config, checkpoint_dir=str(model_dir), eval=True)
    model.to(device)
    record_property("load_seconds", round(time.perf_counter() - started, 3))
    rewritten = sha256(model_dir / "model.pth") != before
    # coqui-tts 0.28 rewrites a legacy model.pth in place: noted, on the cell's copy only.
    record_property("model_pth_rewritten", rewritten)
    assert model.gpt is not None, "no GPT was built from the config"
    record_property("weights_checked", check_weights(model, model_dir, xtts_config))
    if os.environ.get("XTTS_FIXTURE_KIND") == "tiny-fixture":
        manifest = json.loads((model_dir / "manifest.json").read_text())
        speakers = model.speaker_manager.speakers if model.speaker_manager else {}
        assert manifest["speaker"] in speakers, f"built-in speakers: {list(speakers)}"


def check_weights(model, model_dir, config) -> str:
    """What the load changed: the GPT's weights are the checkpoint's (each tensor's hash,
    from the fixture's manifest), or, for a folder without one (a released model), differ
    from a fresh random initialisation. Raises AssertionError naming the tensors."""
    from TTS.tts.models.xtts import Xtts

    from compat.incell.bundled import module

    weights_digest = module("fixtures", "manifest").weights_digest

    state = model.state_dict()
    manifest = model_dir / "manifest.json"
    want = json.loads(manifest.read_text()).get("weights") if manifest.is_file() else None
    if want:
        missing = sorted(n for n in want if n not in state)
        got = weights_digest({n: state[n] for n in want if n in state}, prefixes=("",))
        differ = sorted(n for n in got if got[n] != want[n])
        assert not missing, f"checkpoint tensors absent from the loaded model: {missing[:5]}"
        assert not differ, (f"{len(differ)} of {len(want)} GPT tensors differ from the "
                            f"checkpoint's after the load: {differ[:5]}")
        return f"{len(want)} GPT tensors equal to the checkpoint's"
    import torch

    with torch.random.fork_rng():  # a fresh draw that no seed of the tiers can repeat
        torch.manual_seed(FRESH_SEED)
        fresh = Xtts.init_from_config(config).state_dict()
    # Only tensors the init fills with random values: a constant one (LayerNorm's ones,
    # zero-initialised projections: half the tiny GPT's) equals the checkpoint's too.
    names = [n for n in state if n.startswith("gpt.") and n in fresh
             and fresh[n].is_floating_point() and fresh[n].numel() > 1
             and bool(fresh[n].min() != fresh[n].max())]
    same = [n for n in names if torch_equal(state[n], fresh[n])]
    assert names and not same, (
        f"{len(same)} of {len(names)} randomly initialised GPT tensors still hold a fresh "
        f"initialisation's values: the checkpoint's weights did not reach the model ({same[:5]})")
    return f"{len(names)} randomly initialised GPT tensors moved from a fresh init"


def torch_equal(a, b) -> bool:
    import torch

    a, b = a.detach().cpu().float(), b.detach().cpu().float()
    return a.shape == b.shape and bool(torch.equal(a, b))


def test_load_tts_api(model_dir, device, record_property):
    from TTS.api import TTS

    started = time.perf_counter()
    tts = TTS(model_path=str(model_dir), config_path=str(model_dir / "config.json"),
              progress_bar=False).to(device)
    record_property("api_load_seconds", round(time.perf_counter() - started, 3))
    model = tts.synthesizer.tts_model
    assert type(model).__name__ == "Xtts"
    assert model.gpt is not None
