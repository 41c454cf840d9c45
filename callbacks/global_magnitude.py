"""Global magnitude pruning (Gupta et al. 2022): one-shot, or gradual on the cubic schedule."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pytorch_lightning as pl

from prunelab.callbacks.masked import MaskedTraining
from prunelab.errors import ConfigError
from prunelab.pruning.masks import ones_masks
from prunelab.pruning.policy import check_allocation, keep_counts
from prunelab.pruning.schedule import cubic_schedule
from prunelab.pruning.scores import magnitude
from prunelab.pruning.selection import select

SCHEDULES = ("oneshot", "gradual")


class GlobalMagnitudePruning(MaskedTraining):
    """Prune the smallest-magnitude weights to an exact target sparsity.

    Args:
        sparsity: final fraction of prunable weights that are zero, in [0, 1).
        schedule: `oneshot` (prune once at the start of epoch `prune_at`, 0 = at
            initialization, then train on with the masks) or `gradual` (the cubic schedule from
            `start_epoch` to `end_epoch`, updating every `frequency` optimizer steps).
        allocation: `global`, `layerwise` or `erk` (see `prunelab.pruning.policy`).
        min_threshold: GlobalMP's minimum threshold M, percent of all prunable weights (0 = off).
        initial_sparsity: the gradual schedule's starting sparsity s_i (0 = dense-to-sparse).
        exclude, collapse_threshold, plot: see `MaskedTraining`.
        **common: `parameters_to_prune`, `plot_dir`, `prog_bar` of `MaskedTraining`.
    """

    def __init__(
        self,
        sparsity: float,
        schedule: str = "oneshot",
        prune_at: int = 0,
        start_epoch: int = 0,
        end_epoch: int | None = None,
        frequency: int = 100,
        initial_sparsity: float = 0.0,
        allocation: str = "global",
        min_threshold: float = 0.0,
        exclude: Sequence[str] = (),
        collapse_threshold: float = 0.01,
        plot: bool = True,
        **common: Any,
    ) -> None:
        super().__init__(exclude, collapse_threshold, plot, **common)
        if not 0 <= sparsity < 1:
            raise ConfigError(f"pruning.sparsity={sparsity} must be in [0, 1)")
        if schedule not in SCHEDULES:
            raise ConfigError(f"pruning.schedule={schedule!r} is not one of {', '.join(SCHEDULES)}")
        if not 0 <= initial_sparsity <= sparsity:
            raise ConfigError(
                f"pruning.initial_sparsity={initial_sparsity} must be in [0, sparsity={sparsity}]"
            )
        if prune_at < 0 or start_epoch < 0:
            raise ConfigError(
                f"pruning.prune_at={prune_at} / start_epoch={start_epoch} must be >= 0"
            )
        if end_epoch is not None and end_epoch <= start_epoch:
            raise ConfigError(
                f"pruning.end_epoch={end_epoch} must come after pruning.start_epoch={start_epoch}"
            )
        if frequency < 1:
            raise ConfigError(f"pruning.frequency={frequency} must be >= 1 optimizer step")
        check_allocation(allocation, min_threshold)
        self.sparsity, self.schedule, self.prune_at = sparsity, schedule, prune_at
        self.start_epoch, self.end_epoch, self.frequency = start_epoch, end_epoch, frequency
        self.initial_sparsity = initial_sparsity
        self.allocation, self.min_threshold = allocation, min_threshold
        self.plan: dict[int, float] = {}  # optimizer step -> target sparsity (gradual)
        self.last_update = -1  # the optimizer step of the last mask update

    def check_plan(self, max_epochs: int | None) -> None:
        """Refuse a schedule that does not fit in `max_epochs` of training."""
        if max_epochs is None or max_epochs < 0:
            return
        # Pruning happens at the start of an epoch, so that epoch must exist: prune_at and
        # start_epoch must be < max_epochs; the gradual schedule must end by max_epochs.
        first = self.prune_at if self.schedule == "oneshot" else self.start_epoch
        name = "prune_at" if self.schedule == "oneshot" else "start_epoch"
        if first >= max_epochs:
            raise ConfigError(
                f"pruning.{name}={first} does not fit in trainer.max_epochs={max_epochs}: "
                f"it must be below max_epochs"
            )
        if (
            self.schedule == "gradual"
            and self.end_epoch is not None
            and self.end_epoch > max_epochs
        ):
            raise ConfigError(
                f"pruning.end_epoch={self.end_epoch} does not fit in "
                f"trainer.max_epochs={max_epochs}: it must be at most max_epochs"
            )

    def check_feasible(self) -> None:
        """Refuse a minimum threshold that no allocation at the target sparsity can honour.

        Only layer sizes matter (layers below M stay dense, the others keep at least M), so
        this is decided by the weights at hand, before any training step.
        """
        if not self.min_threshold:
            return
        try:
            keep_counts(
                "global",
                magnitude(self._params),
                ones_masks(self._params),
                self.sparsity,
                self.min_threshold,
            )
        except ValueError as exc:
            raise ConfigError(f"pruning.min_threshold={self.min_threshold}: {exc}") from exc

    # -- pruning ---------------------------------------------------------------------------------
    def prune_to(self, trainer: pl.Trainer, pl_module: pl.LightningModule, target: float) -> None:
        """Shrink the masks to exactly `target` sparsity by magnitude under the allocation."""
        scores = magnitude(self._params)
        counts = keep_counts(self.allocation, scores, self.masks, target, self.min_threshold)
        self.set_masks(trainer, pl_module, select(scores, self.masks, counts))

    def steps_per_epoch(self, trainer: pl.Trainer) -> int:
        """Optimizer steps in one epoch (batches / accumulation, the last partial one included)."""
        return math.ceil(trainer.num_training_batches / trainer.accumulate_grad_batches)

    def build_plan(self, trainer: pl.Trainer) -> dict[int, float]:
        """Target sparsity at each update step of the gradual schedule."""
        per_epoch = self.steps_per_epoch(trainer)
        end_epoch = self.end_epoch if self.end_epoch is not None else trainer.max_epochs
        # Updates run before a batch, so the last one possible is before the last step of training.
        last_step = trainer.max_epochs * per_epoch - 1
        start, end = self.start_epoch * per_epoch, min(end_epoch * per_epoch, last_step)
        return cubic_schedule(start, end, self.frequency, self.initial_sparsity, self.sparsity)

    # -- Lightning hooks -------------------------------------------------------------------------
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        super().setup(trainer, pl_module, stage)
        if stage == "fit":
            self.check_plan(trainer.max_epochs)
            self.check_feasible()

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_start(trainer, pl_module)
        if self.schedule == "gradual":
            self.plan = self.build_plan(trainer)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        due = self.schedule == "oneshot" and trainer.current_epoch == self.prune_at
        if due and self.last_update < 0:  # once: not again after a resume inside this epoch
            self.last_update = trainer.global_step
            self.prune_to(trainer, pl_module, self.sparsity)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        step = trainer.global_step
        if self.schedule == "gradual" and step in self.plan and step > self.last_update:
            self.last_update = step
            self.update(trainer, pl_module, step)

    def update(self, trainer: pl.Trainer, pl_module: pl.LightningModule, step: int) -> None:
        """One gradual update at optimizer step `step` (GraNet extends this with regrowth)."""
        self.prune_to(trainer, pl_module, self.plan[step])

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "last_update": self.last_update}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self.last_update = state_dict.get("last_update", -1)
