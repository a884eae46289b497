"""Tier load: the cell's copy of the model loads through KModel(config=, model=) and a
KPipeline takes it, offline. KModel loads each submodule with ``load_state_dict`` and, when
that fails (the released checkpoint's ``module.`` prefix), again without the prefix and
``strict=False``: a key that no longer matches is left at its random initialisation
without an error. So every loaded tensor is compared with the saved one."""

import json
import time

import pytest

import kokoro_run
from compat.incell.tiersupport import sha256

pytestmark = pytest.mark.tier("load")


def test_load_kmodel(model_dir, device, record_property):
    before = sha256(model_dir / kokoro_run.CHECKPOINT)
    started = time.perf_counter()
    model = kokoro_run.load_model(model_dir, device)
    record_property("load_seconds", round(time.perf_counter() - started, 3))
    record_property("checkpoint_rewritten", sha256(model_dir / kokoro_run.CHECKPOINT) != before)
    record_property("weights_checked", check_weights(model, model_dir))
    record_property("parameters", sum(p.numel() for p in model.parameters()))
    assert model.vocab, "the model has no phoneme vocabulary"


def check_weights(model, model_dir) -> str:
    """Every tensor of the checkpoint reached the model: equal after the load (the
    checkpoint's dtype; ``module.`` stripped as KModel strips it), and, with the fixture's
    manifest, equal to the hash recorded when it was built. A model tensor the checkpoint
    lacks must be one it may lack: an InstanceNorm's affine parameters (kokoro >= 0.8
    has them, the release does not) at their identity initialisation. Raises
    AssertionError naming the tensors."""
    import torch

    saved = torch.load(str(model_dir / kokoro_run.CHECKPOINT), map_location="cpu",
                       weights_only=True)
    state = model.state_dict()
    missing, differ, count, prefixed = [], [], 0, 0
    for key, sub in saved.items():
        for name, tensor in sub.items():
            if name.startswith("module."):
                prefixed += 1
                name = name[len("module."):]
            full = f"{key}.{name}"
            count += 1
            if full not in state:
                missing.append(full)
                continue
            got = state[full].detach().cpu()
            if got.shape != tensor.shape or not torch.equal(got.to(tensor.dtype), tensor):
                differ.append(full)
    assert not missing, (f"{len(missing)} of {count} checkpoint tensors have no place in the "
                         f"loaded model (left out by the strict=False load): {missing[:5]}")
    assert not differ, (f"{len(differ)} of {count} tensors differ from the checkpoint's after "
                        f"the load: the saved weights did not reach the model: {differ[:5]}")
    loaded = {f"{key}.{n[len('module.'):] if n.startswith('module.') else n}"
              for key, sub in saved.items() for n in sub}
    norms = {name for name, sub in model.named_modules()
             if isinstance(sub, torch.nn.InstanceNorm1d)}
    unfilled, identity = [], 0
    for name, tensor in state.items():
        if name in loaded:
            continue
        owner, _, leaf = name.rpartition(".")
        value = 1.0 if leaf == "weight" else 0.0
        if owner in norms and bool((tensor == value).all()):
            identity += 1
        else:
            unfilled.append(name)
    assert not unfilled, (f"{len(unfilled)} model tensors are not in the checkpoint and kept "
                          f"their initialisation: {unfilled[:5]}")
    checked = f"{count} tensors equal to the checkpoint's"
    if identity:
        checked += f"; {identity} InstanceNorm affine tensors not in it, at identity"
    if prefixed:
        checked += f" ({prefixed} saved with the 'module.' prefix, loaded strict=False)"
    manifest = model_dir / "manifest.json"
    want = json.loads(manifest.read_text()).get("weights") if manifest.is_file() else None
    if want:
        got = {n: digest(state[n]) for n in want if n in state}
        absent = sorted(n for n in want if n not in state)
        wrong = sorted(n for n in got if got[n] != want[n])
        assert not absent and not wrong, (
            f"against the manifest: {len(absent)} tensors absent, {len(wrong)} differ: "
            f"{(absent + wrong)[:5]}")
        checked += f"; {len(want)} equal to the manifest's hashes"
    return checked


def digest(tensor) -> str:
    """fixtures.manifest.weights_digest of one tensor without numpy (torch built against
    numpy 1 under numpy 2 has no ``Tensor.numpy``; that is the synth tier's to show)."""
    import ctypes
    import hashlib

    tensor = tensor.detach().cpu()
    if tensor.is_floating_point():
        tensor = tensor.half()
    tensor = tensor.contiguous()
    blob = ctypes.string_at(tensor.data_ptr(), tensor.numel() * tensor.element_size())
    return hashlib.sha256(str(tuple(tensor.shape)).encode() + blob).hexdigest()[:16]


def test_load_pipeline(model, model_dir, voices, record_property):
    """KPipeline over the loaded model, for the espeak-backed language: no download, no
    spaCy; its voice loader takes the folder's voice file."""
    started = time.perf_counter()
    pipeline = kokoro_run.make_pipeline(model)
    record_property("pipeline_seconds", round(time.perf_counter() - started, 3))
    assert pipeline.model is model
    pack = pipeline.load_voice(str(kokoro_run.voice_file(model_dir, voices[0])))
    record_property("voice_shape", list(pack.shape))
    assert pack.dim() == 3 and pack.shape[1:] == (1, 256), f"voice shape {tuple(pack.shape)}"
