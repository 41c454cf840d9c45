"""Every pruning method in a user's own LightningModule (network at `self.body`, AdamW, a
step-interval scheduler), as plain Lightning code: the sparsity each method defines, reached to the
weight; pruned weights zero at the end; `prune/sparsity` in `trainer.callback_metrics`; and no
file written when the user asks for none (no logger, no checkpoints, no `plot_dir`)."""

import os

import pytest
import pytorch_lightning as pl
import torch
from tiny_lightning import Synthetic, tiny_net
from torch import nn

from prunelab.callbacks import (
    GlobalMagnitudePruning,
    GraNet,
    IterativeMagnitudePruning,
    PQIndexPruning,
    RandomPruning,
    SNIPPruning,
)
from prunelab.pruning.allocation import keep_total

N = 8 * 3 * 9 + 8 * 8 * 9 + 8 * 4  # tiny_net's conv, conv and linear weights: 824

# method -> (the callback, the number of zero weights it must end with; None: decided by the data)
METHODS = {
    "gmp_oneshot": (lambda: GlobalMagnitudePruning(0.75), round(0.75 * N)),
    "gmp_gradual": (lambda: GlobalMagnitudePruning(0.75, schedule="gradual", frequency=2), 618),
    "granet": (lambda: GraNet(0.75, frequency=2, seed=0), round(0.75 * N)),
    "imp": (lambda: IterativeMagnitudePruning(2, 1, fraction=0.5), N - keep_total(N, 1 - 0.25)),
    "sap": (lambda: PQIndexPruning(2, 1), None),
    "snip": (lambda: SNIPPruning(density=0.25, batches=2), round(0.75 * N)),
    "random": (lambda: RandomPruning(0.75, seed=0), round(0.75 * N)),
}


class UserModule(pl.LightningModule):
    """Not prunelab's Classifier: its own names, optimizer and schedule."""

    def __init__(self):
        super().__init__()
        self.body = tiny_net()

    def forward(self, images):
        return self.body(images)

    def training_step(self, batch, batch_idx):
        return nn.functional.cross_entropy(self(batch[0]), batch[1])

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(self.parameters(), lr=0.01)
        decay = torch.optim.lr_scheduler.StepLR(optimizer, step_size=4, gamma=0.7)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": decay, "interval": "step"}}


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_prunes_a_users_module_exactly_and_quietly(method, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    pl.seed_everything(0, verbose=False)
    make, zeros_expected = METHODS[method]
    pruning = make()
    epochs = pruning.planned_epochs or 3
    trainer = pl.Trainer(
        max_epochs=epochs, accelerator="cpu", logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, callbacks=[pruning],
        limit_val_batches=0, default_root_dir=tmp_path,
    )  # fmt: skip
    module = UserModule()
    trainer.fit(module, datamodule=Synthetic(batch_size=16))
    weights = pruning.params(module)
    assert list(weights) == ["body.0.weight", "body.3.weight", "body.8.weight"]
    zeros = sum(int((w == 0).sum()) for w in weights.values())
    pruned = sum(int((~m).sum()) for m in pruning.masks.values())
    assert zeros == pruned  # every pruned weight is zero (and no kept weight is exactly zero)
    if zeros_expected is not None:
        assert zeros == zeros_expected
    else:  # SAP decides its own sparsity: it pruned something, and only shrank
        assert 0 < zeros < N
    assert float(trainer.callback_metrics["prune/sparsity"]) == pytest.approx(zeros / N)
    assert os.listdir(tmp_path) == []  # nothing asked for, nothing written
