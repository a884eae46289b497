"""Tier load: the cell's copy of the model loads through ``StyleTTS2(model_checkpoint_path=,
config_path=)``, offline. The loader loads each module with ``load_state_dict`` and, when
that fails (the released checkpoint's ``module.`` prefix), again without the prefix and
``strict=False``: a key that no longer matches stays at its random initialisation without
an error. So every loaded tensor is compared with the checkpoint's and the manifest's, and
the pitch extractor (which the checkpoint leaves out) with ``jdc/bst.t7``."""

import json
import time

import pytest

import styletts2_run
from compat.incell.tiersupport import sha256

pytestmark = pytest.mark.tier("load")


def test_load_styletts2(model_dir, device, record_property):
    files = sorted(p for p in model_dir.rglob("*") if p.is_file())
    before = {p: sha256(p) for p in files}
    started = time.perf_counter()
    model = styletts2_run.load_model(model_dir, device)
    record_property("load_seconds", round(time.perf_counter() - started, 3))
    rewritten = [str(p.relative_to(model_dir)) for p in files if sha256(p) != before[p]]
    record_property("files_rewritten", rewritten)
    assert not rewritten, f"loading rewrote {rewritten}"
    record_property("weights_checked", check_weights(model, model_dir))
    record_property("parameters", sum(p.numel() for m in model.model.values()
                                      for p in m.parameters()))


def check_weights(model, model_dir) -> str:
    """Every tensor of the checkpoint reached the model (``module.`` stripped as the loader
    strips it), the pitch extractor equals ``jdc/bst.t7``, and every tensor the manifest
    lists equals its recorded hash. Raises AssertionError naming the tensors."""
    import torch

    saved = torch.load(str(model_dir / styletts2_run.CHECKPOINT), map_location="cpu",
                       weights_only=True)["net"]
    missing, differ, count = [], [], 0
    for key, sub in saved.items():
        state = model.model[key].state_dict()
        for name, tensor in sub.items():
            name = name[len("module."):] if name.startswith("module.") else name
            count += 1
            if name not in state:
                missing.append(f"{key}.{name}")
            elif not _equal(state[name], tensor):
                differ.append(f"{key}.{name}")
    assert not missing, (f"{len(missing)} of {count} checkpoint tensors have no place in the "
                         f"loaded model (left out by the strict=False load): {missing[:5]}")
    assert not differ, (f"{len(differ)} of {count} tensors differ from the checkpoint's after "
                        f"the load: the saved weights did not reach the model: {differ[:5]}")
    pitch = torch.load(str(model_dir / styletts2_run.F0_CHECKPOINT), map_location="cpu",
                       weights_only=True)["net"]
    state = model.model["pitch_extractor"].state_dict()
    wrong = sorted(n for n, t in pitch.items() if n not in state or not _equal(state[n], t))
    assert not wrong, f"the pitch extractor differs from jdc/bst.t7: {wrong[:5]}"
    checked = (f"{count} tensors equal to the checkpoint's; {len(pitch)} of the pitch "
               "extractor equal to jdc/bst.t7")
    manifest = model_dir / "manifest.json"
    want = json.loads(manifest.read_text()).get("weights") if manifest.is_file() else None
    if want:
        got = {}
        for full in want:
            key, _, name = full.partition(".")
            state = model.model[key].state_dict() if key in model.model else {}
            if name in state:
                got[full] = _digest(state[name])
        absent = sorted(n for n in want if n not in got)
        wrong = sorted(n for n in got if got[n] != want[n])
        assert not absent and not wrong, (
            f"against the manifest: {len(absent)} tensors absent, {len(wrong)} differ: "
            f"{(absent + wrong)[:5]}")
        checked += f"; {len(want)} equal to the manifest's hashes"
    return checked


def _equal(got, saved) -> bool:
    got = got.detach().cpu()
    return got.shape == saved.shape and bool((got.to(saved.dtype) == saved).all())


def _digest(tensor) -> str:
    """fixtures.manifest.weights_digest of one tensor."""
    import hashlib

    tensor = tensor.detach().cpu()
    if tensor.is_floating_point():
        tensor = tensor.half()
    blob = tensor.contiguous().numpy().tobytes()
    return hashlib.sha256(str(tuple(tensor.shape)).encode() + blob).hexdigest()[:16]


def test_the_loader_still_fetches_what_the_config_names(model_dir, record_property):
    """The config names the pitch model's file (``F0_path``), yet the loader hands
    ``cached_path`` its URL constant (an inverted test); PL-BERT has no working config key
    at all. Recorded, not failed: the tiers load with the constants pointed at the folder
    (the knowledge base's remedy); a release that fixes the loader shows here as an empty
    list."""
    asked = styletts2_run.urls_the_loader_asks_for(model_dir)
    record_property("fetched_despite_config", asked)
    record_property("config_paths_honoured", not asked)
