"""Iterative magnitude pruning with rewinding (Frankle & Carbin 2019; Frankle et al. 2020; Renda
et al. 2020), all levels inside one `trainer.fit` (ALGORITHMS.md section 1).

The loop (levels, rewinding, controls, records, resume) is `LevelPruning`'s; IMP's rule is that
level L keeps exactly keep_total(N, 1 - (1 - f)^L) of the N prunable weights, the largest
end-of-level magnitudes among those still kept, under a global or layerwise allocation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytorch_lightning as pl

from prunelab.callbacks.levels import LevelPruning
from prunelab.errors import ConfigError
from prunelab.pruning.masks import MaskSet
from prunelab.pruning.policy import keep_counts
from prunelab.pruning.schedule import imp_density
from prunelab.pruning.scores import magnitude
from prunelab.pruning.selection import select

ALLOCATIONS = ("global", "layerwise")


class IterativeMagnitudePruning(LevelPruning):
    """IMP: train, prune a fraction of the remaining weights by magnitude, rewind, repeat.

    Args:
        levels: N pruning levels; level 0 is the dense run, so N + 1 trainings in one fit of
            `planned_epochs` = (N + 1) x `epochs_per_level` epochs.
        epochs_per_level: epochs of each training (the LR schedule spans one level).
        fraction: share of the *remaining* weights pruned per level; the density after L levels
            is exactly keep_total(N, 1 - (1 - f)^L) / N (no compounded rounding).
        rewind: `init`, `step:K`, `lr`, `lr:K` or `none` (see `LevelPruning`).
        allocation: `global` (one magnitude threshold over all layers) or `layerwise`.
        control: `none`, `random_reinit` or `random_prune` (see `LevelPruning`).
        seed, monitor, exclude, collapse_threshold, plot, masks_from, **common: see
            `LevelPruning`.

    Example (plain Lightning; the module's forward returns logits)::

        imp = IterativeMagnitudePruning(levels=5, epochs_per_level=20, rewind="step:500")
        pl.Trainer(max_epochs=imp.planned_epochs, callbacks=[imp]).fit(model, datamodule=dm)
    """

    def __init__(
        self,
        levels: int,
        epochs_per_level: int,
        fraction: float = 0.2,
        rewind: str = "init",
        allocation: str = "global",
        control: str | None = "none",
        seed: int | None = None,
        monitor: str = "val/acc",
        exclude: Sequence[str] = (),
        collapse_threshold: float = 0.01,
        plot: bool = True,
        masks_from: str | None = None,
        **common: Any,
    ) -> None:
        super().__init__(
            levels, epochs_per_level, rewind, control, seed, monitor, exclude,
            collapse_threshold, plot, masks_from, **common,
        )  # fmt: skip
        if isinstance(fraction, bool) or not 0 < fraction < 1:
            raise ConfigError(f"pruning.fraction={fraction} must be in (0, 1)")
        if allocation not in ALLOCATIONS:
            raise ConfigError(
                f"pruning.allocation={allocation!r} is not one of {', '.join(ALLOCATIONS)}"
            )
        self.fraction, self.allocation = fraction, allocation

    def next_masks(self, trainer: pl.Trainer, pl_module: pl.LightningModule, level: int) -> MaskSet:
        """Keep keep_total(N, 1 - (1 - f)^level) weights by end-of-level magnitude."""
        scores = magnitude(self._params)
        target = 1.0 - imp_density(level, self.fraction)
        return select(scores, self.masks, keep_counts(self.allocation, scores, self.masks, target))
