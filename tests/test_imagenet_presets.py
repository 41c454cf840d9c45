"""The ImageNet presets (conf/experiment/imagenet_*.yaml): each composes with `trainer=ddp` and the
SLURM launcher with the paper's settings, builds its method, and runs one step on the ImageNet
sample (../shared/data/imagenet-sample; skipped when absent)."""

from __future__ import annotations

import pytest
from conftest import SHARED_DATA

from prunelab.building import build_methods
from prunelab.config import choices, compose

SAMPLE = SHARED_DATA / "imagenet-sample"
# preset -> (its method, epochs of the whole run, images per GPU, GPUs, label smoothing), as the
# authors' code ran it: GraNet's README (2 x 64), GlobalMP's prune_withMT.py (256 in all),
# OpenLTH's imagenet_resnet_50 hparams (1,024 in all).
PRESETS = {
    "imagenet_granet_resnet50": ("GraNet", 100, 64, 2, 0.1),
    "imagenet_granet_resnet50_s2s": ("GraNet", 100, 64, 2, 0.1),
    "imagenet_global_magnitude_resnet50": ("GlobalMagnitudePruning", 120, 64, 4, 0.1),
    "imagenet_lth_resnet50": ("IterativeMagnitudePruning", 8 * 90, 256, 4, 0.0),
}
# What one step on the sample needs besides the preset: a run that short, and no trained model.
ONE_STEP = {
    "imagenet_granet_resnet50": ["pruning.end_epoch=null", "pruning.frequency=1"],
    "imagenet_granet_resnet50_s2s": ["pruning.end_epoch=null", "pruning.frequency=1"],
    "imagenet_global_magnitude_resnet50": ["model.init_from=null"],
    "imagenet_lth_resnet50": ["pruning.levels=0", "pruning.epochs_per_level=1",
                              "pruning.rewind=init"],
}  # fmt: skip


def test_every_imagenet_preset_is_covered():
    assert sorted(o for o in choices("experiment") if o.startswith("imagenet_")) == sorted(PRESETS)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_a_preset_composes_with_ddp_and_slurm_and_builds(preset):
    cfg = compose([
        f"experiment={preset}", "trainer=ddp", "hydra/launcher=slurm", "data.root=/datasets/in1k",
        "model.init_from=/models/dense.ckpt",
    ])  # fmt: skip
    method, epochs, batch, gpus, smoothing = PRESETS[preset]
    assert cfg.trainer.max_epochs == epochs and cfg.data.batch_size == batch
    assert cfg.trainer.devices == gpus  # the preset's GPU count wins over trainer=ddp's
    assert cfg.optim.get("label_smoothing", 0.0) == smoothing
    assert cfg.model.arch == "resnet50" and cfg.data.num_classes == 1000
    assert cfg.trainer.strategy == "ddp"
    assert cfg.hydra.launcher.tasks_per_node == cfg.trainer.devices  # one SLURM task per GPU
    (callback,) = build_methods(cfg)
    assert type(callback).__name__ == method


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_a_preset_runs_one_step_on_the_imagenet_sample(preset, run_prunelab):
    if not (SAMPLE / "train").is_dir():
        pytest.skip(f"the ImageNet sample is not at {SAMPLE} (set PRUNELAB_SHARED_DATA)")
    results, _ = run_prunelab([
        f"experiment={preset}", f"data.root={SAMPLE}", "data.batch_size=2", "data.num_workers=0",
        "data.image_size=64", "data.resize_size=73",  # seconds on one CPU core, same code path
        "trainer.max_epochs=1", "trainer.limit_train_batches=1", "trainer.limit_val_batches=0",
        "trainer.devices=1",  # one CPU process, not the preset's GPU count
        "test_after_fit=false", *ONE_STEP[preset],
    ])  # fmt: skip
    assert results["params/total"] > 20e6  # the full-width ResNet-50
    assert 0 <= results["sparsity"] < 1
