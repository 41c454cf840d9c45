"""Resuming a PreCropping run with `trainer.fit(ckpt_path=...)`: the recorded channel plan, not a
freshly computed one, shapes the network before the checkpoint's weights load."""

from __future__ import annotations

import pytest
import torch

from prunelab.callbacks.precrop import PreCropping
from prunelab.pruning.channels import PLAN_KEY
from prunelab.pruning.precrop import precrop_plan

PRECROP = ("pruning=precrop", "pruning.density=0.1", "pruning.batches=1", "test_after_fit=false")
FAST = ("trainer.limit_train_batches=3", "trainer.limit_val_batches=1", "data.batch_size=16")


def checkpoint(run_dir):
    return torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)


def test_resume_uses_the_recorded_plan_even_when_a_new_one_would_differ(
    run_prunelab, tmp_path, monkeypatch
):
    first, _ = run_prunelab([*PRECROP, *FAST], tmp_path / "first")
    recorded = checkpoint(tmp_path / "first")

    # The resumed run's own plan differs (another source and density): setup cuts the network to
    # it, then the checkpoint's plan must replace it before the weights load.
    def other_plan(self, trainer, pl_module):
        return precrop_plan(pl_module.network, (3, 32, 32), 0.4, source="uniform")

    monkeypatch.setattr(PreCropping, "compute_plan", other_plan)
    last = tmp_path / "first" / "checkpoints" / "last.ckpt"
    resume = [*PRECROP, *FAST, "trainer.max_epochs=2", f"ckpt_path={last}"]
    second, _ = run_prunelab(resume, tmp_path / "second")
    resumed = checkpoint(tmp_path / "second")

    assert resumed[PLAN_KEY] == recorded[PLAN_KEY]
    assert second["params/total"] == first["params/total"]
    assert recorded["global_step"] == 3 and resumed["global_step"] == 6  # it went on from step 3
    shapes = {k: v.shape for k, v in recorded["state_dict"].items()}
    assert {k: v.shape for k, v in resumed["state_dict"].items()} == shapes


def test_resuming_a_checkpoint_without_a_plan_is_a_clear_error(run_prunelab, tmp_path):
    run_prunelab(["pruning=none", *FAST, "test_after_fit=false"], tmp_path / "dense")
    last = tmp_path / "dense" / "checkpoints" / "last.ckpt"
    with pytest.raises(RuntimeError, match="no channel plan"):
        run_prunelab([*PRECROP, *FAST, "trainer.max_epochs=2", f"ckpt_path={last}"], tmp_path / "r")
