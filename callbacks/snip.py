"""SNIP (Lee et al. 2019): prune at initialization by connection sensitivity |w * dL/dw|.

At the start of fit, before any optimizer step, SNIP scores are computed on a few training batches
and the masks keep the global top fraction `density` of the prunable weights; training then runs
with the masks enforced. The unstructured counterpart of PreCropping at equal parameter count.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import pytorch_lightning as pl
import torch

from prunelab.callbacks.masked import MaskedTraining, pruning_root
from prunelab.errors import ConfigError
from prunelab.pruning.allocation import global_counts
from prunelab.pruning.layer_densities import snip_scores
from prunelab.pruning.selection import select


def training_batches(trainer: pl.Trainer, count: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The first `count` batches of the datamodule's training loader (epoch 0's order).

    Raises:
        RuntimeError: no datamodule was given to the trainer, or its loader is empty.
    """
    datamodule = trainer.datamodule
    if datamodule is None:
        raise RuntimeError("SNIP scores need training data: pass a datamodule to trainer.fit")
    batches = [(x, y) for x, y in itertools.islice(datamodule.train_dataloader(), count)]
    if not batches:
        raise RuntimeError("the training loader yielded no batch for SNIP scoring")
    return batches


def check_density(density: float, batches: int) -> None:
    """Refuse a density outside (0, 1] or fewer than one scoring batch."""
    if isinstance(density, bool) or not isinstance(density, (int, float)) or not 0 < density <= 1:
        raise ConfigError(f"pruning.density={density!r} must be a number in (0, 1]")
    if isinstance(batches, bool) or not isinstance(batches, int) or batches < 1:
        raise ConfigError(f"pruning.batches={batches!r} must be an integer >= 1")


class SNIPPruning(MaskedTraining):
    """One-shot SNIP at initialization with global allocation, then masked training.

    Args:
        density: fraction of prunable weights kept, in (0, 1] (the same key as PreCropping's,
            so the two compare at equal parameter count).
        batches: training batches whose summed gradients give the scores (the paper used one).
        exclude, collapse_threshold, plot: see `MaskedTraining`.
        **common: `parameters_to_prune`, `plot_dir`, `prog_bar` of `MaskedTraining`.
    """

    def __init__(
        self,
        density: float,
        batches: int = 4,
        exclude: Sequence[str] = (),
        collapse_threshold: float = 0.01,
        plot: bool = True,
        **common: Any,
    ) -> None:
        super().__init__(exclude, collapse_threshold, plot, **common)
        check_density(density, batches)
        self.density, self.batches = float(density), batches

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        fresh = self.masks is None  # restored masks (a resume) are never recomputed
        super().on_fit_start(trainer, pl_module)
        if fresh:
            self.prune(trainer, pl_module)

    def prune(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Score on the first training batches and keep the global top `density` by |w * g|."""
        network = pruning_root(pl_module)  # where `params` found the weights
        scores = snip_scores(network, self._params, training_batches(trainer, self.batches))
        current = self._cpu_masks()
        counts = global_counts(scores, current, 1.0 - self.density)
        masks = select(scores, current, counts)
        self.set_masks(trainer, pl_module, masks)
