"""Random pruning at initialization: the baseline every pruning-at-init method must beat.

A construction: `RandomRule(allocation, seed)` on `OneShot(sparsity, prune_at=0)`, no action.
Before the first optimizer step the masks keep uniformly random weights, exactly as many per layer
as the allocation gives (layerwise: every layer at the target sparsity; global: one draw over all
weights; erk: Erdos-Renyi-Kernel densities); training then runs with the masks enforced. A resumed
run keeps its masks (they are saved in the checkpoint, and the one pruning step is not repeated).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prunelab.callbacks.method import PruningMethod
from prunelab.errors import ConfigError
from prunelab.pruning.policy import ALLOCATIONS
from prunelab.pruning.rules import RandomRule
from prunelab.pruning.schedules import OneShot


class RandomPruning(PruningMethod):
    """Prune uniformly random weights to an exact sparsity at initialization.

    Args:
        sparsity: fraction of prunable weights that are zero, in [0, 1).
        allocation: `layerwise`, `global` or `erk`: how many weights each layer keeps.
        seed: seed of the draw; None = the run's seed (`torch.initial_seed()`).
        exclude, collapse_threshold, plot: see `MaskedTraining`.
        **common: `parameters_to_prune`, `plot_dir`, `prog_bar` of `MaskedTraining`.
    """

    def __init__(
        self,
        sparsity: float,
        allocation: str = "layerwise",
        seed: int | None = None,
        exclude: Sequence[str] = (),
        collapse_threshold: float = 0.01,
        plot: bool = True,
        **common: Any,
    ) -> None:
        if isinstance(sparsity, bool) or not isinstance(sparsity, (int, float)):
            raise ConfigError(f"pruning.sparsity={sparsity!r} must be a number in [0, 1)")
        if not 0 <= sparsity < 1:
            raise ConfigError(f"pruning.sparsity={sparsity} must be in [0, 1)")
        if allocation not in ALLOCATIONS:
            raise ConfigError(
                f"pruning.allocation={allocation!r} is not one of {', '.join(ALLOCATIONS)}"
            )
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ConfigError(f"pruning.seed={seed!r} must be an integer or null")
        super().__init__(
            RandomRule(allocation, seed),
            OneShot(float(sparsity), prune_at=0),
            exclude=exclude,
            collapse_threshold=collapse_threshold,
            plot=plot,
            **common,
        )
