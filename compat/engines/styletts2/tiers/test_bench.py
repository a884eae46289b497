"""Tier bench: load time, synthesis real-time factor and memory, measured with
pytest-benchmark. Figures are data for reports and ratios; nothing here asserts a time."""

import resource
import sys

import pytest

import styletts2_run

pytestmark = pytest.mark.tier("bench")

ROUNDS = 3
#: One untimed round first: the first load and synthesis in a process pay one-time costs.
WARMUP = 1


def test_bench_load(benchmark, model_dir, device):
    benchmark.extra_info["device"] = device
    benchmark.pedantic(styletts2_run.load_model, args=(model_dir, device),
                       rounds=ROUNDS, iterations=1, warmup_rounds=WARMUP)


def test_bench_synth(benchmark, model, style, voice, device):
    """A synthesis from the precomputed style where the release takes one (0.1.5 on),
    else from the voice file (its style computed in each round: recorded as ``by``)."""
    by = {"ref_s": style} if styletts2_run.takes_ref_s(model) else {"voice": voice}
    benchmark.extra_info["by"] = next(iter(by))
    out = benchmark.pedantic(styletts2_run.synthesize,
                             args=(model, styletts2_run.TEXT), kwargs=by,
                             rounds=ROUNDS, iterations=1, warmup_rounds=WARMUP)
    benchmark.extra_info["device"] = device
    benchmark.extra_info["audio_seconds"] = out.audio_seconds
    benchmark.extra_info["rtf"] = out.audio_seconds / benchmark.stats.stats.mean


def test_bench_memory(device, model, record_property):
    """Peak memory of this process so far (resident) and, on CUDA, of the device."""
    import torch

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    record_property("peak_rss_mib", round(peak / (2**20 if sys.platform == "darwin" else 2**10)))
    if device.startswith("cuda"):
        record_property("cuda_peak_mib", round(torch.cuda.max_memory_allocated(device) / 2**20))
    record_property("device", device)
