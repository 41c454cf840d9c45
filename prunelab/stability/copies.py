"""Train one copy of a checkpoint's network for the instability analysis: the same start
weights and masks as every other copy, its own data order and augmentation draws.

A copy is prunelab's own `Classifier` with the run's optimizer and schedule, the masks fixed
by a `MaskedTraining` callback (pruned weights and their momentum stay exactly 0), and the data
module's shuffling and augmentation seed set to the copy's `data_seed` after its split was made
with the run's seed, so every copy trains on the same images in another order.

The learning-rate schedule: given a `Resume(step=K, epochs=E)` (an IMP level at its rewind point
K), a copy follows the run's schedule as the level does, spanning E epochs of its data and
starting at optimizer step K (`ScheduleFrom`, the same closed-form positioning as IMP's rewind);
without one, the schedule starts afresh and spans the copy's own training.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn

from prunelab.callbacks.masked import MaskedTraining
from prunelab.data import ImageFolderDataModule, InMemoryDataModule
from prunelab.errors import ConfigError
from prunelab.module import Classifier
from prunelab.optim import build_scheduler
from prunelab.pruning.rewind import schedule_lrs

# prunelab's data modules: a `seed` of shuffling and augmentation read when a loader is made.
SEEDED_DATA = (InMemoryDataModule, ImageFolderDataModule)
# The stored trainer settings a copy keeps: where and how precisely it runs, and how a step and
# an epoch are made (`trainer.limit_train_batches=null` lifts a quick run's short epochs).
TRAINER_KEYS = (
    "accelerator", "precision", "deterministic",
    "accumulate_grad_batches", "gradient_clip_val", "limit_train_batches",
)  # fmt: skip


@dataclass(frozen=True)
class Length:
    """How long each copy trains: `steps` optimizer steps or `epochs` epochs (exactly one)."""

    steps: int | None = None
    epochs: int | None = None

    def __post_init__(self) -> None:
        if (self.steps is None) == (self.epochs is None):
            raise ConfigError("give the copies' training length as steps=N or epochs=N, not both")
        value = self.steps if self.steps is not None else self.epochs
        if not isinstance(value, int) or value < 1:
            raise ConfigError(f"steps / epochs must be a positive integer, got {value}")

    def trainer_args(self) -> dict[str, int]:
        """`max_steps` or `max_epochs` for `pl.Trainer`."""
        if self.steps is not None:
            return {"max_steps": self.steps, "max_epochs": -1}
        return {"max_epochs": self.epochs}


@dataclass(frozen=True)
class Resume:
    """Where the copies' learning-rate schedule starts: the run's schedule, `epochs` epochs long
    (one IMP level), put at optimizer step `step` (the rewind point K) before the first step."""

    step: int
    epochs: int

    def __post_init__(self) -> None:
        if self.step < 0 or self.epochs < 1:
            raise ValueError(f"a schedule of {self.epochs} epochs cannot resume at {self.step}")


class ScheduleFrom(pl.Callback):
    """Rebuild each step scheduler of a copy as the run's schedule over `resume.epochs` epochs
    of this Trainer's batches and put it at `resume.step` (its optimizer's learning rates too)."""

    def __init__(self, resume: Resume, sched: Mapping[str, Any]) -> None:
        self.resume, self.sched = resume, dict(sched)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Optimizer steps per epoch as Lightning counts them for `estimated_stepping_batches`.
        per_epoch = max(1, -(-trainer.num_training_batches // trainer.accumulate_grad_batches))
        total = per_epoch * self.resume.epochs
        for config in trainer.lr_scheduler_configs:
            optimizer = config.scheduler.optimizer
            config.scheduler = build_scheduler(optimizer, self.sched, total, per_epoch)
            schedule_lrs(config.scheduler, self.resume.step)


def reseed(datamodule: pl.LightningDataModule, data_seed: int) -> None:
    """Split the data with its own seed, then give shuffling and augmentation `data_seed`.

    Raises:
        ConfigError: a data module that is not prunelab's (its order cannot be reseeded).
    """
    if not isinstance(datamodule, SEEDED_DATA):
        raise ConfigError(
            f"{type(datamodule).__name__}: the copies' data order can only be set on prunelab's "
            "data modules"
        )
    datamodule.setup("fit")  # the hold-out split (if any) is made once, with the run's seed
    datamodule.seed = data_seed  # read by every loader made from now on


def train_copy(
    network: nn.Module,
    masks: Mapping[str, torch.Tensor],
    datamodule: pl.LightningDataModule,
    run: Mapping[str, Any],
    data_seed: int,
    length: Length,
    resume: Resume | None = None,
) -> dict[str, torch.Tensor]:
    """Train a deep copy of `network` (masks kept) on `data_seed`'s order; return its state.

    Args:
        network: the start weights (left unchanged).
        masks: parameter name -> bool mask (True = kept); empty for a dense network.
        run: the checkpoint's resolved run config (optim, sched, data.num_classes, trainer).
        resume: the run's schedule and the step it starts at (late rewinding); None: a fresh
            schedule over the copy's own training.
    """
    reseed(datamodule, data_seed)
    pl.seed_everything(data_seed, workers=True, verbose=False)  # anything else random
    classes = run["data"]["num_classes"]
    module = Classifier(
        copy.deepcopy(network).train(),
        num_classes=classes,
        optim=dict(run.get("optim") or {}),
        sched=dict(run.get("sched") or {}),
        run_config=dict(run),
    )
    callbacks: list[pl.Callback] = []
    if resume is not None:
        callbacks.append(ScheduleFrom(resume, module.sched_cfg))
    if masks:
        fixed = MaskedTraining(parameters_to_prune=list(masks), plot=False)
        fixed.masks = {name: mask.clone() for name, mask in masks.items()}
        callbacks.append(fixed)
    stored = run.get("trainer") or {}
    trainer = pl.Trainer(
        **{k: stored[k] for k in TRAINER_KEYS if k in stored},
        **length.trainer_args(),
        devices=1,
        callbacks=callbacks,
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=False,
        limit_val_batches=0,  # no validation: the path is measured on the test split afterwards
        num_sanity_val_steps=0,
        use_distributed_sampler=False,
    )
    trainer.fit(module, datamodule=datamodule)
    return {k: v.detach().clone() for k, v in module.network.state_dict().items()}
