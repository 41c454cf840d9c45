"""IMP's level boundary, observed right after it: rewinds are bit-exact, momentum is zero, the
learning rate is the schedule's value at step K (the controls, against the run they control, are in
test_lth_controls.py)."""

import pytest
import pytorch_lightning as pl
import torch
from tiny_lightning import Synthetic, tiny_net

from prunelab.callbacks.imp import IterativeMagnitudePruning
from prunelab.errors import ConfigError
from prunelab.module import Classifier
from prunelab.optim import lr_factor
from prunelab.pruning import keep_total, magnitude, ones_masks, select
from prunelab.pruning.policy import keep_counts

EPOCHS = 2  # epochs per level; 4 steps of 16 images each
SCHED = {"name": "cosine"}  # factor(K) differs from 1 for every K > 0: the LR check can fail


class Probe(pl.Callback):
    """Copies of the state at the end of level 0 and right after the level-1 boundary."""

    def __init__(self):
        self.end0 = self.start1 = None
        self.level_masks = []  # the masks each level trains with

    def on_train_epoch_end(self, trainer, pl_module):
        if trainer.current_epoch == EPOCHS - 1:
            self.end0 = clone_state(trainer, pl_module)

    def on_train_epoch_start(self, trainer, pl_module):  # runs after IMP's hook (list order)
        if trainer.current_epoch == EPOCHS:
            self.start1 = clone_state(trainer, pl_module)
        if trainer.current_epoch % EPOCHS == 0:
            self.level_masks.append(clone_state(trainer, pl_module)["masks"])


def clone_state(trainer, pl_module):
    optimizer = trainer.optimizers[0]
    momentum = {
        n: optimizer.state[p]["momentum_buffer"].clone()
        for n, p in pl_module.network.named_parameters()
        if "momentum_buffer" in optimizer.state.get(p, {})
    }
    imp = next(c for c in trainer.callbacks if isinstance(c, IterativeMagnitudePruning))
    return {
        "state": {k: v.clone() for k, v in pl_module.network.state_dict().items()},
        "masks": {n: m.clone() for n, m in imp.masks.items()},
        "momentum": momentum,
        "lr": optimizer.param_groups[0]["lr"],
    }


def fit(levels=1, **imp_args):
    pl.seed_everything(0, verbose=False)
    module = Classifier(tiny_net(), 4, {"name": "sgd", "lr": 0.1, "momentum": 0.9}, SCHED)
    imp = IterativeMagnitudePruning(levels, EPOCHS, plot=False, **imp_args)
    probe = Probe()
    trainer = pl.Trainer(
        max_epochs=imp.planned_epochs, callbacks=[imp, probe], logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        use_distributed_sampler=False, accelerator="cpu", num_sanity_val_steps=0,
    )  # fmt: skip
    trainer.fit(module, datamodule=Synthetic(batch_size=16, seed=0))
    return imp, probe


def imp_rule_masks(end_state, imp):
    """The masks IMP computes at level 1 from the end-of-level-0 weights (global, f = 0.2)."""
    weights = {n: end_state[n] for n in imp.masks}
    scores = magnitude(weights)
    target = 1 - (1 - imp.fraction)
    ones = ones_masks(weights)
    return select(scores, ones, keep_counts("global", scores, ones, target))


def same_masks(a, b) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[n], b[n]) for n in a)


def assert_masked_equal(state, reference, masks):
    for name, value in state.items():
        if name in masks:
            assert torch.equal(value[masks[name]], reference[name][masks[name]]), name
            assert bool((value[~masks[name]] == 0).all()), name
        else:  # BN affine, running statistics, num_batches_tracked, biases
            assert torch.equal(value, reference[name]), name


@pytest.mark.parametrize("allocation", ["global", "layerwise"])
def test_density_after_each_level_is_exact_and_masks_only_shrink(allocation):
    imp, probe = fit(levels=4, fraction=0.3, allocation=allocation)
    n = sum(m.numel() for m in probe.level_masks[0].values())
    assert n == 3 * 8 * 9 + 8 * 8 * 9 + 8 * 4
    for level, masks in enumerate(probe.level_masks):
        assert sum(int(m.sum()) for m in masks.values()) == keep_total(n, 1 - 0.7**level)
        if allocation == "layerwise":  # every layer at the level's density, to the weight
            for m in masks.values():
                assert abs(int(m.sum()) - 0.7**level * m.numel()) < 1
    for old, new in zip(probe.level_masks, probe.level_masks[1:]):
        assert all(not bool((new[k] & ~old[k]).any()) for k in old)
    stages = [round(1 - s["sparsity"], 12) for s in imp.stages]
    assert stages == [round(keep_total(n, 1 - 0.7**lv) / n, 12) for lv in range(5)]


@pytest.mark.parametrize("step", [0, 3])
def test_weight_rewind_restores_step_k_bit_for_bit(step):
    imp, probe = fit(rewind="init" if step == 0 else f"step:{step}")
    start, end = probe.start1, probe.end0
    assert_masked_equal(start["state"], imp.snapshot, start["masks"])
    assert not torch.equal(end["state"]["1.running_mean"], imp.snapshot["1.running_mean"])
    assert start["momentum"] == {} and end["momentum"]  # fresh optimizer state: zero momentum
    assert start["lr"] == 0.1 * lr_factor(SCHED, imp.steps_per_level)(step)
    assert same_masks(start["masks"], imp_rule_masks(end["state"], imp))


def test_snapshot_is_the_state_after_k_steps():
    """The step-K snapshot is what the weights were after exactly K optimizer steps."""
    pl.seed_everything(0, verbose=False)
    at_k = {}

    class Record(pl.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            if trainer.global_step == 3 and not at_k:
                at_k.update({k: v.clone() for k, v in pl_module.network.state_dict().items()})

    module = Classifier(tiny_net(), 4, {"name": "sgd", "lr": 0.1}, SCHED)
    imp = IterativeMagnitudePruning(1, EPOCHS, rewind="step:3", plot=False)
    trainer = pl.Trainer(
        max_epochs=imp.planned_epochs, callbacks=[imp, Record()], logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        use_distributed_sampler=False, accelerator="cpu", num_sanity_val_steps=0,
    )  # fmt: skip
    trainer.fit(module, datamodule=Synthetic(batch_size=16, seed=0))
    assert at_k.keys() == imp.snapshot.keys()
    assert all(torch.equal(at_k[k], imp.snapshot[k]) for k in at_k)


def test_lr_rewinding_keeps_trained_weights_and_replays_the_schedule():
    imp, probe = fit(rewind="lr")
    assert imp.snapshot is None  # nothing to restore
    assert_masked_equal(probe.start1["state"], probe.end0["state"], probe.start1["masks"])
    assert probe.start1["lr"] == 0.1  # the schedule from its start
    assert probe.end0["lr"] < 0.02 and probe.start1["momentum"] == {}


def test_fine_tuning_keeps_weights_lr_and_momentum():
    imp, probe = fit(rewind="none")
    start, end = probe.start1, probe.end0
    assert_masked_equal(start["state"], end["state"], start["masks"])
    assert start["lr"] == end["lr"]  # the held final value: no replay
    assert start["momentum"] and start["momentum"].keys() == end["momentum"].keys()  # kept
    for name, buffer in start["momentum"].items():
        mask = start["masks"].get(name)
        if mask is None:  # BatchNorm and biases: untouched
            assert torch.equal(buffer, end["momentum"][name])
        else:
            assert bool((buffer[~mask] == 0).all())
            assert torch.equal(buffer[mask], end["momentum"][name][mask])


def test_masks_from_a_run_without_enough_levels_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="levels \\[1, 2\\]"):
        IterativeMagnitudePruning(2, EPOCHS, masks_from=str(tmp_path))
