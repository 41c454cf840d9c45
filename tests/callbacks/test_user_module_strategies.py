"""The callbacks in a user's own LightningModule under `bf16-mixed` precision and under 2-rank CPU
DDP: gradual GlobalMagnitudePruning and IterativeMagnitudePruning reach their exact sparsity, the
weights they pruned are zero after every step, and under DDP both ranks hold the same masks and
report `prune/sparsity` in `trainer.callback_metrics`.

The module is not prunelab's Classifier: its network is at `self.body`, it trains with AdamW and a
scheduler stepped every optimizer step. Both methods end at sparsity 0.75 (GMP's target; IMP's two
levels at fraction 0.5 keep 0.5 x 0.5 of the weights): 618 of tiny_net's 824 prunable weights.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from tiny_lightning import Synthetic, tiny_net
from torch import nn

from prunelab.callbacks import GlobalMagnitudePruning, IterativeMagnitudePruning

TESTS = Path(__file__).resolve().parents[1]
SPARSITY = 0.75
EPOCHS = 3


class UserModule(pl.LightningModule):
    """A user's module: the network under `self.body`, AdamW, a per-step scheduler. It records
    the dtype of its training logits (bf16 under `bf16-mixed`)."""

    def __init__(self):
        super().__init__()
        self.body = tiny_net()
        self.logit_dtypes: set[torch.dtype] = set()

    def forward(self, images):
        return self.body(images)

    def training_step(self, batch, batch_idx):
        images, labels = batch
        logits = self(images)
        self.logit_dtypes.add(logits.dtype)
        return nn.functional.cross_entropy(logits.float(), labels)

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(self.parameters(), lr=0.01)
        decay = torch.optim.lr_scheduler.StepLR(optimizer, step_size=3, gamma=0.5)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": decay, "interval": "step"}}


def make_pruning(method: str):
    """Both methods end at SPARSITY within EPOCHS epochs."""
    if method == "gmp":
        return GlobalMagnitudePruning(
            SPARSITY, schedule="gradual", frequency=1, end_epoch=2, plot=False
        )
    imp = IterativeMagnitudePruning(levels=2, epochs_per_level=1, fraction=0.5, plot=False)
    assert imp.planned_epochs == EPOCHS
    return imp


class PrunedStayZero(pl.Callback):
    """After every batch (every optimizer step): the pruned weights are zero."""

    def __init__(self, pruning):
        self.pruning, self.checked, self.all_zero = pruning, 0, True

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        params = self.pruning.params(pl_module)
        for name, mask in self.pruning.masks.items():
            self.all_zero &= bool((params[name].detach()[~mask] == 0).all())
        self.checked += 1


def counts(pruning, pl_module) -> tuple[int, int]:
    """Zeros among the pruned weights and their total."""
    targets = pruning.params(pl_module)
    total = sum(p.numel() for p in targets.values())
    return sum(int((p == 0).sum()) for p in targets.values()), total


def digest(masks) -> str:
    h = hashlib.sha256()
    for name in sorted(masks):
        h.update(name.encode())
        h.update(masks[name].detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


@pytest.mark.parametrize("method", ["gmp", "imp"])
def test_bf16_mixed_prunes_exactly_and_pruned_weights_stay_zero(method):
    torch.manual_seed(0)
    pruning = make_pruning(method)
    probe = PrunedStayZero(pruning)
    trainer = pl.Trainer(
        max_epochs=EPOCHS, accelerator="cpu", precision="bf16-mixed", logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        limit_val_batches=0, callbacks=[pruning, probe],
    )  # fmt: skip
    module = UserModule()
    trainer.fit(module, datamodule=Synthetic(batch_size=8))
    assert module.logit_dtypes == {torch.bfloat16}  # the forward ran under bf16 autocast
    assert all(p.dtype == torch.float32 for p in module.parameters())  # fp32 master weights
    zeros, total = counts(pruning, module)
    assert list(pruning.params(module)) == ["body.0.weight", "body.3.weight", "body.8.weight"]
    assert zeros == round(SPARSITY * total) == 618
    assert float(trainer.callback_metrics["prune/sparsity"]) == zeros / total
    assert probe.checked == EPOCHS * 8 and probe.all_zero  # 64 images / batch 8, every step


SCRIPT = r"""
import json, sys
sys.path[:0] = [sys.argv[2], sys.argv[2] + "/callbacks"]
import pytorch_lightning as pl
import torch
from tiny_lightning import Synthetic
from test_user_module_strategies import (
    EPOCHS, PrunedStayZero, UserModule, counts, digest, make_pruning,
)

if __name__ == "__main__":
    for method in ("gmp", "imp"):
        pl.seed_everything(0, verbose=False)
        pruning = make_pruning(method)
        probe = PrunedStayZero(pruning)
        trainer = pl.Trainer(
            accelerator="cpu", devices=2, strategy="ddp", max_epochs=EPOCHS,
            limit_val_batches=0, logger=False, enable_checkpointing=False,
            enable_progress_bar=False, enable_model_summary=False,
            use_distributed_sampler=False, callbacks=[pruning, probe],
        )
        module = UserModule()
        trainer.fit(module, datamodule=Synthetic(batch_size=8, seed=0))
        zeros, total = counts(pruning, module)
        metric = trainer.callback_metrics.get("prune/sparsity")
        result = {
            "world": trainer.world_size, "masks": digest(pruning.masks),
            "weights": digest(dict(module.body.named_parameters())),
            "zeros": zeros, "total": total, "checked": probe.checked,
            "all_zero": probe.all_zero, "metric": None if metric is None else float(metric),
        }
        with open(f"{sys.argv[1]}/{method}_rank{trainer.global_rank}.json", "w") as f:
            json.dump(result, f)
"""


def test_ddp_two_ranks_hold_the_same_masks_at_the_exact_sparsity(tmp_path):
    script = tmp_path / "ddp_user_module.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "WANDB_MODE": "offline"}
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path), str(TESTS)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for method in ("gmp", "imp"):
        rank0, rank1 = (
            json.loads((tmp_path / f"{method}_rank{r}.json").read_text()) for r in (0, 1)
        )
        assert rank0["world"] == rank1["world"] == 2
        assert rank0["masks"] == rank1["masks"], method
        assert rank0["weights"] == rank1["weights"], method  # DDP kept the weights in sync
        for rank in (rank0, rank1):
            assert rank["zeros"] == round(SPARSITY * rank["total"]) == 618, method
            assert rank["metric"] == rank["zeros"] / rank["total"], method
            # 64 images, 32 per rank, batch 8: every one of 4 steps per epoch checked.
            assert rank["checked"] == EPOCHS * 4 and rank["all_zero"], method
