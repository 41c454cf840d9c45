"""DDP on CPU (2 processes, gloo): the masks are identical on both ranks after every update.

A script written to tmp_path runs plain Lightning with prunelab's pieces (`strategy=ddp`, which
launches the second rank by re-running the script). Each rank records, per mask update, a hash of
the masks it computed locally and of the masks `set_masks` installed, then the hash of its weights.

What can fail here: (1) at step 1 each rank scores by its own random numbers, so the locally
computed masks differ and only the broadcast from rank 0 makes the installed ones agree; (2) after
that, magnitude decisions are computed on weights DDP keeps in sync, so they agree even before the
broadcast (deterministic), which the local hashes show; (3) the ranks train on different batches.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

SCRIPT = r"""
import hashlib, json, sys
import pytorch_lightning as pl
import torch
from prunelab.callbacks import GlobalMagnitudePruning
from prunelab.data import MiniCIFAR10DataModule
from prunelab.models import CifarResNet
from prunelab.module import Classifier
from prunelab.pruning.policy import keep_counts
from prunelab.pruning.scores import random_scores
from prunelab.pruning.selection import select


def digest(tensors):
    h = hashlib.sha256()
    for name in sorted(tensors):
        h.update(name.encode())
        h.update(tensors[name].detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


class Recorded(GlobalMagnitudePruning):
    def __init__(self, out, **kwargs):
        super().__init__(**kwargs)
        self.out, self.record, self.batches = out, [], []

    def prune_to(self, trainer, pl_module, target):
        if trainer.global_step != 1:  # step 0 keeps everything (initial sparsity 0)
            return super().prune_to(trainer, pl_module, target)
        # Rank-dependent scores: without the broadcast every rank would keep different weights.
        scores = random_scores(self._params, torch.Generator().manual_seed(trainer.global_rank))
        counts = keep_counts(self.allocation, scores, self.masks, target)
        self.set_masks(trainer, pl_module, select(scores, self.masks, counts))

    def set_masks(self, trainer, pl_module, masks, **kwargs):
        local = digest(masks)
        super().set_masks(trainer, pl_module, masks, **kwargs)
        entry = {"step": trainer.global_step, "local": local, "installed": digest(self.masks)}
        self.record.append(entry)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        super().on_train_batch_start(trainer, pl_module, batch, batch_idx)
        self.batches.append(digest({"x": batch[0], "y": batch[1]}))

    def on_train_end(self, trainer, pl_module):
        weights = digest(dict(pl_module.network.named_parameters()))
        zeros = all(
            not self._params[n].detach()[~m].any() for n, m in self.masks.items()
        )
        result = {"updates": self.record, "batches": self.batches, "weights": weights,
                  "zeros": zeros, "world": trainer.world_size}
        with open(f"{self.out}/rank{trainer.global_rank}.json", "w") as f:
            json.dump(result, f)


if __name__ == "__main__":
    pl.seed_everything(0, verbose=False)
    module = Classifier(CifarResNet(depth=20, num_classes=10), 10,
                        {"name": "sgd", "lr": 0.1, "momentum": 0.9}, {"name": "constant"})
    pruning = Recorded(sys.argv[1], sparsity=0.9, schedule="gradual", frequency=1)
    trainer = pl.Trainer(
        accelerator="cpu", devices=2, strategy="ddp", max_epochs=2, limit_train_batches=3,
        limit_val_batches=0, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, use_distributed_sampler=False,
        callbacks=[pruning],
    )
    trainer.fit(module, datamodule=MiniCIFAR10DataModule(batch_size=8, seed=0))
"""


@pytest.mark.slow
def test_masks_are_identical_on_both_ranks_after_every_update(tmp_path):
    script = tmp_path / "ddp_masks.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "WANDB_MODE": "offline"}
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rank0, rank1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    assert rank0["world"] == rank1["world"] == 2
    # Updates at every optimizer step but the last: 2 epochs x 3 steps.
    steps = [u["step"] for u in rank0["updates"]]
    assert steps == [u["step"] for u in rank1["updates"]] == list(range(6))
    for a, b in zip(rank0["updates"], rank1["updates"], strict=True):
        assert a["installed"] == b["installed"], a["step"]
    skewed0, skewed1 = rank0["updates"][1], rank1["updates"][1]
    assert skewed0["local"] != skewed1["local"]  # the ranks disagreed ...
    assert skewed1["installed"] == skewed0["local"]  # ... and rank 0's masks won
    for a, b in zip(rank0["updates"][2:], rank1["updates"][2:], strict=True):
        assert a["local"] == b["local"]  # magnitude on synchronised weights: deterministic
    assert not set(rank0["batches"]) & set(rank1["batches"])  # each rank its own shard
    assert rank0["weights"] == rank1["weights"]
    assert rank0["zeros"] and rank1["zeros"]
