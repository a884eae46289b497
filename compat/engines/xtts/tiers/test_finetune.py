"""Tier finetune: the XTTS GPT fine-tune path (GPTTrainer with the coqui `trainer`, as in
coqui's LJSpeech XTTS v2 recipe) on the fixture's dataset, offline, for a few steps.

Checks every loss is finite, that overfitting one batch lowers the loss, that the trainer
checkpoint reloads with torch.load(weights_only=True) and synthesises, and records the
optimizer and scheduler the trainer actually ran with.
"""

import contextlib
import inspect
import json
import math
import os
import shutil
import time
from pathlib import Path

import pytest

import xtts_run
from compat.incell.tiersupport import sha256

pytestmark = pytest.mark.tier("finetune")

#: Architecture fields copied from the fixture's config into GPTArgs.
ARCH = ("gpt_layers", "gpt_n_model_channels", "gpt_n_heads", "gpt_max_audio_tokens",
        "gpt_max_text_tokens", "gpt_max_prompt_tokens", "gpt_num_audio_tokens",
        "gpt_start_audio_token", "gpt_stop_audio_token", "gpt_number_text_tokens",
        "gpt_start_text_token", "gpt_stop_text_token", "gpt_code_stride_len",
        "decoder_input_dim", "d_vector_dim", "gpt_use_perceiver_resampler")
#: The recipe's scheduler: step-sized milestones (the trainer steps it per epoch by default).
RECIPE_MILESTONES = [50000 * 18, 150000 * 18, 300000 * 18]
#: What the finetune tier leaves for other cells (compat.result.artifacts; the crossload tier).
CHECKPOINT_KIND = "checkpoint"
#: Top-level modules of a GPTTrainer state that Xtts.load_checkpoint drops on loading.
INFERENCE_IGNORES = ("torch_mel_spectrogram_style_encoder", "torch_mel_spectrogram_dvae", "dvae")
#: What a trainer checkpoint holds of the run that saved it rather than of the model: the
#: day (key ``date``) and, in its config, the trainer's output folder (this run's pytest
#: temporary folder, another one every run) and where this run's copy of the model was
#: (``model_args``' file paths). The kept copy leaves the day out, names no output
#: folder and gives those paths relative to the model folder, so the same training
#: leaves the same bytes: a cell rerun beside the others (``--jobs``, ``--force``) then
#: rewrites its checkpoint with what was there, and no consumer's crossload finds it
#: "changed since its cell left it" and runs again for it.
RUN_ONLY = ("date",)
RUN_CONFIG = {"output_path": ""}
OVERFIT_STEPS = 8
OVERFIT_LR = 1e-3


def _recorded(model, train_losses, eval_losses, step_seconds):
    """Wrap ``model.train_step`` to keep each loss and the forward time of each training
    step (eval_step calls it too: the GPT's training flag tells them apart)."""
    step = model.train_step

    def train_step(batch, criterion):
        started = time.perf_counter()
        outputs, loss_dict = step(batch, criterion)
        training = model.xtts.gpt.training
        (train_losses if training else eval_losses).append(float(loss_dict["loss"].detach()))
        if training:
            step_seconds.append(time.perf_counter() - started)
        return outputs, loss_dict

    model.train_step = train_step


def fit(trainer) -> None:
    """``Trainer.fit`` catches every exception, prints it and calls ``sys.exit(1)``: a
    failure would be recorded as ``SystemExit: 1``, which no knowledge-base entry or shim
    can match. The original is the SystemExit's context: raise it, traceback and all."""
    try:
        trainer.fit()
    except SystemExit as exc:
        original = exc.__context__
        if original is None or isinstance(original, (SystemExit, KeyboardInterrupt)):
            raise
        raise original from None


@pytest.fixture(scope="module")
def run(model_dir, xtts_config, tmp_path_factory):
    import torch

    threads = torch.get_num_threads()
    from trainer import Trainer, TrainerArgs  # sets torch.set_num_threads(1)

    threads_after_import = torch.get_num_threads()
    torch.set_num_threads(threads)
    from TTS.config.shared_configs import BaseDatasetConfig
    from TTS.tts.datasets import load_tts_samples
    from TTS.tts.layers.xtts.trainer.gpt_trainer import GPTArgs, GPTTrainer, GPTTrainerConfig

    try:  # TTS 0.22.0's recipe imports it from the trainer module
        from TTS.tts.layers.xtts.trainer.gpt_trainer import XttsAudioConfig
    except ImportError:  # coqui-tts 0.28 keeps it with the model only
        from TTS.tts.models.xtts import XttsAudioConfig

    if os.environ.get("XTTS_FIXTURE_KIND") != "tiny-fixture" and not (
            model_dir / "dvae.pth").exists():
        pytest.skip("the real model folder has no dvae.pth and mel_stats.pth")
    out = tmp_path_factory.mktemp("finetune")
    dataset = model_dir / "dataset"
    longest = xtts_config.model_args.gpt_max_audio_tokens
    args = GPTArgs(
        **{k: getattr(xtts_config.model_args, k) for k in ARCH},
        max_conditioning_length=22050, min_conditioning_length=11025,
        max_wav_length=(longest - 3) * 1024 - 1, max_text_length=200,
        mel_norm_file=str(model_dir / "mel_stats.pth"),
        dvae_checkpoint=str(model_dir / "dvae.pth"),
        xtts_checkpoint=str(model_dir / "model.pth"),
        tokenizer_file=str(model_dir / "vocab.json"),
        gpt_use_masking_gt_prompt_approach=True,
    )
    config = GPTTrainerConfig(
        output_path=str(out), model_args=args, run_name="tiny", project_name="xtts-compat",
        dashboard_logger="tensorboard", audio=XttsAudioConfig(
            sample_rate=22050, dvae_sample_rate=22050, output_sample_rate=24000),
        batch_size=2, batch_group_size=0, eval_batch_size=2, num_loader_workers=0,
        eval_split_max_size=2, print_step=1, plot_step=10**6, log_model_step=10**6,
        save_step=10**6, save_n_checkpoints=1, save_checkpoints=True, epochs=1,
        optimizer="AdamW", optimizer_wd_only_on_weights=True,
        optimizer_params={"betas": [0.9, 0.96], "eps": 1e-8, "weight_decay": 1e-2},
        lr=5e-6, lr_scheduler="MultiStepLR",
        lr_scheduler_params={"milestones": RECIPE_MILESTONES, "gamma": 0.5, "last_epoch": -1},
        test_sentences=[], languages=xtts_config.languages,
    )
    datasets = [BaseDatasetConfig(formatter="ljspeech", dataset_name="tiny", path=str(dataset),
                                  meta_file_train="metadata.csv", language="en")]
    config.datasets = datasets
    # TTS 0.22.0 takes the dataset list; coqui-tts 0.28 takes the whole config.
    takes_config = next(iter(inspect.signature(load_tts_samples).parameters)) == "config"
    samples = load_tts_samples(config if takes_config else datasets, eval_split=True,
                               eval_split_max_size=2, eval_split_size=2)
    model = GPTTrainer.init_from_config(config)
    losses: list = []
    eval_losses: list = []
    step_seconds: list = []
    _recorded(model, losses, eval_losses, step_seconds)
    trainer = Trainer(TrainerArgs(restore_path=None, skip_train_epoch=False,
                                  start_with_eval=False, grad_accum_steps=1),
                      config, output_path=str(out), model=model,
                      train_samples=samples[0], eval_samples=samples[1])
    fit(trainer)
    torch.set_num_threads(threads)
    trainer.save_checkpoint()
    return {"torch": torch, "trainer": trainer, "model": model, "out": out,
            "losses": losses, "eval_losses": eval_losses, "step_seconds": step_seconds,
            "threads": (threads, threads_after_import),
            "train_samples": len(samples[0]), "config": config}


def test_losses_are_finite(run, record_property):
    losses = run["losses"]
    record_property("losses", [round(x, 4) for x in losses])
    record_property("eval_losses", [round(x, 4) for x in run["eval_losses"]])
    record_property("step_forward_seconds", [round(x, 3) for x in run["step_seconds"]])
    if run["step_seconds"]:
        record_property("step_forward_mean_seconds",
                        round(sum(run["step_seconds"]) / len(run["step_seconds"]), 4))
    record_property("train_samples", run["train_samples"])
    record_property("threads_before_after_trainer_import", list(run["threads"]))
    assert losses, "the trainer ran no training step"
    assert all(math.isfinite(x) for x in losses + run["eval_losses"]), f"non-finite loss: {losses}"


def test_optimizer_and_scheduler_as_run(run, record_property):
    trainer = run["trainer"]
    # trainer 0.0.x holds one optimizer; coqui-tts-trainer 0.4 a list of them.
    optimizer, scheduler = (x[0] if isinstance(x, (list, tuple)) else x
                            for x in (trainer.optimizer, trainer.scheduler))
    group = optimizer.param_groups[0]
    milestones = sorted(getattr(scheduler, "milestones", {}))
    per_epoch = bool(getattr(trainer.config, "scheduler_after_epoch", True))
    steps = trainer.total_steps_done
    record_property("optimizer", type(optimizer).__name__)
    record_property("lr_configured", run["config"].lr)
    record_property("lr_now", group["lr"])
    record_property("weight_decay", group.get("weight_decay"))
    record_property("scheduler", type(scheduler).__name__)
    record_property("milestones", milestones)
    record_property("scheduler_counts", "epochs" if per_epoch else "steps")
    record_property("steps_done", steps)
    unit = "epoch" if per_epoch else "step"
    if milestones and milestones[0] <= 3:
        record_property("scheduler_warning",
                        f"MultiStepLR milestones {milestones} are epoch-sized: the learning "
                        f"rate halves after {milestones[0]} {unit}(s), almost at once")
    elif milestones and per_epoch and milestones[0] >= 1000:
        record_property("scheduler_warning",
                        f"MultiStepLR milestones {milestones} are step-sized but the trainer "
                        "steps the scheduler once an epoch: the learning rate never decays")
    assert type(optimizer).__name__ == "AdamW"
    assert steps == len(run["losses"])


def test_overfitting_one_batch_lowers_the_loss(run, record_property):
    torch, model = run["torch"], run["model"]
    batch = next(iter(run["trainer"].train_loader))
    batch = model.format_batch_on_device(model.format_batch(batch))
    model.xtts.gpt.train()
    optimizer = torch.optim.AdamW(model.xtts.gpt.parameters(), lr=OVERFIT_LR)
    torch.manual_seed(xtts_run.SEED)
    losses = []
    record_property("grad_enabled_after_fit", torch.is_grad_enabled())
    with torch.enable_grad():
        for _ in range(OVERFIT_STEPS):
            optimizer.zero_grad()
            loss = model.train_step(batch, None)[1]["loss"]
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
    drop = losses[0] - losses[-1]
    record_property("overfit_lr", OVERFIT_LR)
    record_property("overfit_losses", [round(x, 4) for x in losses])
    record_property("overfit_loss_drop", round(drop, 4))
    assert all(math.isfinite(x) for x in losses), f"non-finite loss in {losses}"
    assert drop > 0, f"the loss did not fall while overfitting one batch: {losses}"


def test_checkpoint_reloads_weights_only_and_speaks(run, model_dir, xtts_config,
                                                    record_property):
    """The trainer's checkpoint reloads with weights_only=True and speaks. It is kept,
    reduced to what inference reads, for the other cells' crossload tier (``keep``)."""
    torch = run["torch"]
    found = sorted(run["out"].rglob("*.pth"))
    assert found, f"the trainer wrote no checkpoint under {run['out']}"
    ckpt = found[-1]
    record_property("checkpoint_mb", round(ckpt.stat().st_size / 1e6, 1))
    if hasattr(torch.serialization, "get_unsafe_globals_in_checkpoint"):  # torch >= 2.5
        record_property("weights_only_globals_needed",
                        torch.serialization.get_unsafe_globals_in_checkpoint(str(ckpt)))
    else:
        record_property("weights_only_globals_needed", "unknown (torch < 2.5 cannot list them)")
    state = torch.load(str(ckpt), map_location="cpu", weights_only=True)
    assert "model" in state
    synth = speak(ckpt, model_dir, xtts_config)
    target = os.environ.get("COMPAT_ARTIFACTS")
    if target:
        reduced = keep(torch, state, Path(target), model_dir, xtts_config, synth)
        record_property("kept_checkpoint_mb", round(reduced / 1e6, 1))
    shutil.rmtree(run["out"], ignore_errors=True)  # about 310 MB a checkpoint
    problems = xtts_run.audio_problems(synth.wav, xtts_config.model_args.gpt_max_audio_tokens,
                                       xtts_run.TEXT)
    assert not problems, "; ".join(problems)


def speak(checkpoint, model_dir, xtts_config):
    """Load a checkpoint as users do (``Xtts.load_checkpoint(checkpoint_path=...)``) and
    synthesise the tiers' text with the fixture's reference speech."""
    from TTS.tts.models.xtts import Xtts

    model = Xtts.init_from_config(xtts_config)
    model.load_checkpoint(xtts_config, checkpoint_path=str(checkpoint),
                          vocab_path=str(model_dir / "vocab.json"),
                          speaker_file_path=str(model_dir / "speakers_xtts.pth"), eval=True)
    return xtts_run.synthesize(model, xtts_run.TEXT, *xtts_run.conditioning(model, model_dir))


def keep(torch, state, target, model_dir, xtts_config, full):
    """Leave the checkpoint for other stacks: the trainer's format (its keys, saved by this
    torch) less the optimizer and scaler states and the DVAE, which inference never reads
    (about 90 MB, not 310), and less what only this run had (``RUN_ONLY``, ``RUN_CONFIG``),
    with the synthesis it gives here. Written beside, then moved
    into place: a reader sees the old artifact or the new, never half of one."""
    folder = target / CHECKPOINT_KIND
    staging = target / f".{CHECKPOINT_KIND}.new"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    reduced = {k: v for k, v in state.items() if k not in ("optimizer", "scaler", *RUN_ONLY)}
    reduced["model"] = {k: v for k, v in state["model"].items()
                        if k.split(".")[0] not in INFERENCE_IGNORES}
    if isinstance(state.get("config"), dict):
        reduced["config"] = {**_without_folders(state["config"], str(model_dir)), **RUN_CONFIG}
    torch.save(reduced, staging / "model.pth")
    synth = speak(staging / "model.pth", model_dir, xtts_config)
    assert synth.codes == full.codes, (
        "the reduced checkpoint speaks differently from the trainer's: the reduction "
        "dropped weights inference reads")
    xtts_run.write_golden(staging, synth, {"inputs": {"model.pth": sha256(staging / "model.pth")}})
    manifest = {"engine": "xtts", "cell": os.environ.get("COMPAT_CELL_ID"),
                "fingerprint": os.environ.get("COMPAT_FINGERPRINT"),
                "format": "trainer checkpoint without optimizer, scaler, DVAE and the run's date "
                          "and output folder",
                "keys": sorted(reduced), "versions": _versions(),
                "files": {n: sha256(staging / n) for n in ("model.pth", "golden.json",
                                                              "waveform.npy")}}
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)
    return (folder / "model.pth").stat().st_size


def _without_folders(value, folder):
    """``value`` (a config, as the trainer saved it) with every path under ``folder`` given
    relative to it."""
    if isinstance(value, dict):
        return {k: _without_folders(v, folder) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_folders(v, folder) for v in value]
    if isinstance(value, str) and value.startswith(folder + os.sep):
        return value[len(folder) + 1:]
    return value


def _versions():
    from importlib import metadata

    found = {}
    for name in ("TTS", "coqui-tts", "torch", "transformers", "trainer", "coqui-tts-trainer"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[name] = metadata.version(name)
    return found
