"""Iterative magnitude pruning with rewinding (Frankle & Carbin 2019; Frankle et al. 2020; Renda
et al. 2020), all levels inside one `trainer.fit` (ALGORITHMS.md section 1).

A construction: `FractionRule(fraction, allocation)` (level L keeps exactly
keep_total(N, 1 - (1 - f)^L) of the N prunable weights, the largest end-of-level magnitudes among
those still kept) on `Levels(levels, epochs_per_level)` with `LevelRewind(rewind, control, seed)`,
run by `LevelPruning`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prunelab.callbacks.levels import LevelPruning, pruning_settings
from prunelab.pruning.actions import LevelRewind
from prunelab.pruning.rules import FractionRule
from prunelab.pruning.schedules import Levels


class IterativeMagnitudePruning(LevelPruning):
    """IMP: train, prune a fraction of the remaining weights by magnitude, rewind, repeat.

    Args:
        levels: N pruning levels; level 0 is the dense run, so N + 1 trainings in one fit of
            `planned_epochs` = (N + 1) x `epochs_per_level` epochs.
        epochs_per_level: epochs of each training (the LR schedule spans one level).
        fraction: share of the *remaining* weights pruned per level; the density after L levels
            is exactly keep_total(N, 1 - (1 - f)^L) / N (no compounded rounding).
        rewind: `init` (step 0: the lottery ticket), `step:K` (late rewinding to optimizer step
            K), `lr` / `lr:K` (keep the weights, replay the LR schedule from step 0 / K) or `none`
            (keep weights and LR: fine-tuning); see `LevelRewind`.
        allocation: `global` (one magnitude threshold over all layers) or `layerwise`.
        control: `none`, `random_reinit` (the IMP run's masks on a fresh initialization; needs
            a weight rewind) or `random_prune` (the IMP run's masks shuffled within each layer);
            both need that run's directory as `masks_from`.
        seed: seed of the controls' random draws; None = torch's initial seed (the run's seed).
        monitor, masks_from, exclude, collapse_threshold, plot, **common: see `LevelPruning`.

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
        with pruning_settings():
            schedule = Levels(levels, epochs_per_level)
            action = LevelRewind(rewind, control, seed)
            rule = FractionRule(fraction, allocation)
        super().__init__(
            rule, schedule, action, monitor=monitor, masks_from=masks_from, exclude=exclude,
            collapse_threshold=collapse_threshold, plot=plot, **common,
        )  # fmt: skip
        self.fraction, self.allocation = fraction, allocation
