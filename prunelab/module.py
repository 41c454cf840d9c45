"""The one LightningModule: an image classifier trained with cross-entropy."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from prunelab.callbacks.levels import level_steps
from prunelab.optim import build_optimizer, build_scheduler


class Classifier(pl.LightningModule):
    """Cross-entropy classifier around any `network`, reporting top-1 (and optionally top-5).

    Args:
        network: the model; its forward maps images to logits.
        num_classes: number of classes (for the accuracy metrics).
        optim: optimizer config (`name`, `lr`, ...; see `prunelab.optim`).
        sched: learning-rate schedule config (`name`, ...).
        top5: also report top-5 accuracy (ImageNet).
        label_smoothing: cross-entropy label smoothing.
        run_config: the resolved run config, stored in checkpoints so a checkpoint can be
            evaluated or exported on its own.
        input_shape: one image's shape (C, H, W); sets `example_input_array`, so Lightning's
            model summary reports the network's FLOPs.
    """

    def __init__(
        self,
        network: nn.Module,
        num_classes: int,
        optim: Mapping[str, Any],
        sched: Mapping[str, Any],
        top5: bool = False,
        label_smoothing: float = 0.0,
        run_config: Mapping[str, Any] | None = None,
        input_shape: tuple[int, ...] | None = None,
    ) -> None:
        super().__init__()
        self.network = network
        self.optim_cfg = dict(optim)
        self.sched_cfg = dict(sched)
        self.label_smoothing = label_smoothing
        self.run_config = dict(run_config or {})
        ks = (1, 5) if top5 else (1,)
        for split in ("val", "test"):
            for k in ks:
                metric = MulticlassAccuracy(num_classes, top_k=k, average="micro")
                setattr(self, f"{split}_acc{k}", metric)
        self.top_ks = ks
        if input_shape is not None:  # Lightning's model summary counts FLOPs on this batch
            self.example_input_array = torch.zeros(1, *input_shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        logits = self.network(x)
        loss = F.cross_entropy(logits, y, label_smoothing=self.label_smoothing)
        acc = (logits.detach().argmax(1) == y).float().mean()
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True)
        self.log("train/acc", acc, on_step=False, on_epoch=True)
        return loss

    def _evaluate(self, batch, split: str) -> None:
        x, y = batch
        logits = self.network(x)
        loss = F.cross_entropy(logits, y)
        self.log(f"{split}/loss", loss, on_epoch=True, sync_dist=True)
        for k in self.top_ks:
            metric = getattr(self, f"{split}_acc{k}")
            metric(logits, y)
            name = f"{split}/acc" if k == 1 else f"{split}/acc_top{k}"
            self.log(name, metric, on_epoch=True, prog_bar=k == 1)

    def validation_step(self, batch, batch_idx):
        self._evaluate(batch, "val")

    def test_step(self, batch, batch_idx):
        self._evaluate(batch, "test")

    def configure_optimizers(self):
        optimizer = build_optimizer(self.parameters(), self.optim_cfg)
        fit_steps = int(self.trainer.estimated_stepping_batches)
        per_epoch = max(1, fit_steps // max(1, self.trainer.max_epochs or 1))
        # One level's schedule under a level-wise method (IMP, SAP: replayed at every level).
        steps = level_steps(self.trainer) or fit_steps
        scheduler = build_scheduler(optimizer, self.sched_cfg, int(steps), per_epoch)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step", "name": "lr"},
        }

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["prunelab_config"] = self.run_config
