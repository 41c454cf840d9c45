"""Resume: a run interrupted at the start of epoch 2 of 4 and resumed from `last.ckpt` ends with
masks, weights and optimizer state bit-identical to an uninterrupted run (CPU, fixed seed).

The interrupted run has the same config (same max_epochs, so the same LR schedule length) and is
stopped by an exception, as a crash would stop it.
"""

from __future__ import annotations

import pytest
import torch

from prunelab.callbacks import GlobalMagnitudePruning

FAST = ("data.batch_size=8", "trainer.limit_val_batches=0", "test_after_fit=false")
SETTINGS = {
    # The gradual schedule has updates before and after the interruption (steps 0, 3, ..., 15).
    "gmp": ["pruning=gmp", "pruning.frequency=3", "pruning.sparsity=0.9"],
    # One-shot pruning is due exactly at the epoch where the run stops.
    "oneshot": ["pruning=global_magnitude", "pruning.prune_at=2", "pruning.sparsity=0.9"],
}


class Crash(RuntimeError):
    """The simulated crash that interrupts a run."""


def final_state(run_dir):
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)
    (callback,) = [s for s in ckpt["callbacks"].values() if isinstance(s, dict) and "masks" in s]
    return ckpt, callback


def assert_identical(whole_dir, resumed_dir):
    whole, whole_cb = final_state(whole_dir)
    resumed, resumed_cb = final_state(resumed_dir)
    assert whole["global_step"] == resumed["global_step"] == 16
    assert whole_cb["masks"].keys() == resumed_cb["masks"].keys()
    assert all(torch.equal(whole_cb["masks"][k], resumed_cb["masks"][k]) for k in whole_cb["masks"])
    assert whole_cb["last_update"] == resumed_cb["last_update"] >= 8  # pruned after the resume
    weights, again = whole["state_dict"], resumed["state_dict"]
    assert weights.keys() == again.keys()
    assert all(torch.equal(weights[k], again[k]) for k in weights)
    moments = [s["momentum_buffer"] for s in whole["optimizer_states"][0]["state"].values()]
    again = [s["momentum_buffer"] for s in resumed["optimizer_states"][0]["state"].values()]
    assert all(torch.equal(a, b) for a, b in zip(moments, again, strict=True))


@pytest.mark.parametrize("setting", list(SETTINGS))
def test_resumed_run_is_bit_identical_to_an_uninterrupted_one(
    run_prunelab, monkeypatch, tmp_path, setting
):
    overrides = [*SETTINGS[setting], "trainer.max_epochs=4", *FAST]
    run_prunelab(overrides, tmp_path / "whole")

    original = GlobalMagnitudePruning.on_train_epoch_start

    def crash_at_epoch_2(self, trainer, pl_module):
        if trainer.current_epoch == 2:
            raise Crash("simulated crash at the start of epoch 2")
        original(self, trainer, pl_module)

    with monkeypatch.context() as patch:
        patch.setattr(GlobalMagnitudePruning, "on_train_epoch_start", crash_at_epoch_2)
        with pytest.raises(Crash):
            run_prunelab(overrides, tmp_path / "crashed")
    saved = tmp_path / "crashed" / "checkpoints"
    crashed, _ = final_state(tmp_path / "crashed")
    assert crashed["global_step"] == 8  # two epochs of four steps were saved
    run_prunelab([*overrides, f"ckpt_path={saved / 'last.ckpt'}"], tmp_path / "resumed")
    assert_identical(tmp_path / "whole", tmp_path / "resumed")


def test_last_ckpt_is_written_every_epoch(run_prunelab, monkeypatch, tmp_path):
    original = GlobalMagnitudePruning.on_train_epoch_start

    def crash_at_epoch_1(self, trainer, pl_module):
        if trainer.current_epoch == 1:
            raise Crash("simulated crash at the start of epoch 1")
        original(self, trainer, pl_module)

    monkeypatch.setattr(GlobalMagnitudePruning, "on_train_epoch_start", crash_at_epoch_1)
    with pytest.raises(Crash):
        run_prunelab([*SETTINGS["gmp"], "trainer.max_epochs=2", *FAST])
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file()
