"""The structural stage before a method (`structure=precrop pruning=gmp`): the network is made
narrower at fit start, GMP then reaches its exact target sparsity on the narrow network, results
report both stages, and a resume mid-run is bit-identical to an uninterrupted run."""

from __future__ import annotations

import pytest
import torch

from prunelab.building import build_methods
from prunelab.callbacks import GlobalMagnitudePruning, PreCropping
from prunelab.config import compose
from prunelab.errors import ConfigError
from prunelab.network import build_network
from prunelab.pruning.allocation import keep_total

FAST = ("data.batch_size=8", "trainer.limit_val_batches=0", "test_after_fit=false")
STAGED = [
    "structure=precrop", "structure.density=0.5", "structure.batches=1",
    "pruning=gmp", "pruning.sparsity=0.8", "pruning.frequency=3", "trainer.max_epochs=4",
]  # fmt: skip


class Crash(RuntimeError):
    """The simulated crash that interrupts a run."""


def last(run_dir):
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    (masked,) = [s for s in ckpt["callbacks"].values() if isinstance(s, dict) and "masks" in s]
    return ckpt, masked


def test_the_stage_comes_first_and_the_method_prunes_the_narrow_network(run_prunelab, tmp_path):
    callbacks = build_methods(compose(STAGED))
    assert [type(c) for c in callbacks] == [PreCropping, GlobalMagnitudePruning]

    dense = sum(p.numel() for p in build_network(compose(STAGED).model).parameters())
    staged, run_dir = run_prunelab([*STAGED, *FAST], tmp_path / "staged")
    assert staged["params/total"] < dense  # the same model, narrower
    assert 0 < staged["precrop/params_kept"] < 1 and 0 < staged["precrop/macs_kept"] < 1

    ckpt, masked = last(run_dir)
    masks = masked["masks"]
    for name, mask in masks.items():  # masks have the narrow shapes, pruned weights are zero
        weight = ckpt["state_dict"][f"network.{name}"]
        assert weight.shape == mask.shape and (weight[~mask] == 0).all()
    total = sum(m.numel() for m in masks.values())
    assert sum(int(m.sum()) for m in masks.values()) == keep_total(total, 0.8)  # GMP's target
    assert staged["sparsity"] == pytest.approx(1 - keep_total(total, 0.8) / total)


def test_a_resumed_staged_run_is_bit_identical(run_prunelab, monkeypatch, tmp_path):
    overrides = [*STAGED, *FAST]
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
    saved = tmp_path / "crashed" / "checkpoints" / "last.ckpt"
    run_prunelab([*overrides, f"ckpt_path={saved}"], tmp_path / "resumed")

    whole, whole_masks = last(tmp_path / "whole")
    resumed, resumed_masks = last(tmp_path / "resumed")
    assert whole["global_step"] == resumed["global_step"] == 16
    assert whole_masks["last_update"] == resumed_masks["last_update"] >= 9  # pruned after resume
    for key, mask in whole_masks["masks"].items():
        assert torch.equal(mask, resumed_masks["masks"][key])
    weights, again = whole["state_dict"], resumed["state_dict"]
    assert weights.keys() == again.keys()
    assert all(torch.equal(weights[k], again[k]) for k in weights)


def test_the_stage_twice_is_refused():
    with pytest.raises(ConfigError, match="structure=precrop does not combine with pruning="):
        build_methods(compose(["structure=precrop", "pruning=precrop"]))
