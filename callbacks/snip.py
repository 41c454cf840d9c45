"""SNIP (Lee et al. 2019): prune at initialization by connection sensitivity |w * dL/dw|.

A construction: `SnipRule()` on `OneShot(1 - density, prune_at=0)`, no action. Before the first
optimizer step the gradients g of the first `batches` training batches are summed (on a copy of
the network, `rule_grads`) and the masks keep the global top fraction `density` of the prunable
weights by |w * g|; training then runs with the masks enforced. A resumed run keeps its masks
(they are saved in the checkpoint, and the one pruning step is not repeated). The unstructured
counterpart of PreCropping at equal parameter count.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import pytorch_lightning as pl
import torch

from prunelab.callbacks.masked import pruning_root
from prunelab.callbacks.method import PruningMethod
from prunelab.errors import ConfigError
from prunelab.pruning.layer_densities import summed_gradients
from prunelab.pruning.rules import SnipRule
from prunelab.pruning.schedules import OneShot


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


class SNIPPruning(PruningMethod):
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
        check_density(density, batches)
        super().__init__(
            SnipRule(),
            OneShot(1.0 - float(density), prune_at=0),
            exclude=exclude,
            collapse_threshold=collapse_threshold,
            plot=plot,
            **common,
        )
        self.density, self.batches = float(density), batches

    def rule_grads(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule
    ) -> dict[str, torch.Tensor]:
        """g summed over the first `batches` training batches, for the weights `params` found."""
        batches = training_batches(trainer, self.batches)
        return summed_gradients(pruning_root(pl_module), self._params, batches)
