"""GraNet (Liu et al. 2021): gradual magnitude pruning with zero-cost neuroregeneration.

A construction (ALGORITHMS.md section 3): `MagnitudeRule(allocation)` on one
`Cubic(..., through_end=True)` schedule, which says both when the cubic pruning steps are and
that updates go on every `frequency` optimizer steps after the window until training ends, as in
the authors' code; the `Regrow` action at every update from step 1 on (per layer, drop
ceil(r * nnz) weights by |w| and regrow as many by the |gradient| of the current batch, r decaying
with a cosine from `regrow_fraction` to `regrow_fraction_min` over the whole run); a
`RandomRule` drawing the sparse initial masks (sparse-to-sparse); the best `val/acc` reported.

When an update happens, and with which gradient: right *after* optimizer step t (t = 1, 2, ...
steps done), with the gradient of the batch of that step, as in the authors' code (see
`PruningMethod`). Pruned weights' gradients are dense: the forward pass uses them at zero, and
autograd still differentiates them. Regrown weights and their momentum are zero right after the
update; the next optimizer step is the first to move them. At t = 0 no gradient exists yet, so an
update due there is the cubic pruning step alone (its target is normally s_i, a no-op).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prunelab.callbacks.global_magnitude import check_gradual
from prunelab.callbacks.method import PruningMethod
from prunelab.errors import ConfigError
from prunelab.pruning.actions import Regrow
from prunelab.pruning.rules import MagnitudeRule, RandomRule
from prunelab.pruning.schedules import Cubic

DISTRIBUTIONS = ("erk", "uniform")
GRANET_ALLOCATIONS = ("global", "layerwise")


class GraNet(PruningMethod):
    """Gradual magnitude pruning with zero-cost neuroregeneration, dense- or sparse-to-sparse.

    Args:
        sparsity: final fraction of prunable weights that are zero, in [0, 1).
        initial_density: d_i; 1.0 starts dense (dense-to-sparse), below 1 starts from random masks
            of that density drawn with `distribution` (sparse-to-sparse, the paper's 0.5).
        distribution: `erk` or `uniform`: per-layer densities of the sparse initial masks.
        start_epoch, end_epoch: the cubic pruning window (end_epoch null = end of training).
        frequency: optimizer steps between updates (dT; the authors' CIFAR setting is 1000).
        regrow_fraction: r at step 0, the share of each layer's active weights that is dropped
            and regrown; 0 turns regrowth off (then GraNet is `gmp`).
        regrow_fraction_min: the floor that r decays to with a cosine over training (never above
            `regrow_fraction`).
        allocation: how the cubic step spreads over layers: `global` (the paper) or `layerwise`.
        seed: seed of the initial random masks; null = the run's seed (`torch.initial_seed()`).
        exclude, collapse_threshold, plot: see `MaskedTraining`.
        **common: `parameters_to_prune`, `plot_dir`, `prog_bar` of `MaskedTraining`.
    """

    def __init__(
        self,
        sparsity: float,
        initial_density: float = 1.0,
        distribution: str = "erk",
        start_epoch: int = 0,
        end_epoch: int | None = None,
        frequency: int = 1000,
        regrow_fraction: float = 0.5,
        regrow_fraction_min: float = 0.005,
        allocation: str = "global",
        seed: int | None = None,
        exclude: Sequence[str] = (),
        collapse_threshold: float = 0.01,
        plot: bool = True,
        **common: Any,
    ) -> None:
        if allocation not in GRANET_ALLOCATIONS:  # ERK counts ignore which weights are active
            raise ConfigError(
                f"pruning.allocation={allocation!r} is not one of {', '.join(GRANET_ALLOCATIONS)} "
                "(ERK is an initial distribution: pruning.distribution=erk)"
            )
        check_gradual(sparsity, start_epoch, end_epoch, frequency)
        if not 1.0 - sparsity <= initial_density <= 1.0:
            raise ConfigError(
                f"pruning.initial_density={initial_density} must be in "
                f"[1 - sparsity, 1] = [{1.0 - sparsity:.6g}, 1]"
            )
        if distribution not in DISTRIBUTIONS:
            raise ConfigError(
                f"pruning.distribution={distribution!r} is not one of {', '.join(DISTRIBUTIONS)}"
            )
        for key, value in (("regrow_fraction", regrow_fraction), ("min", regrow_fraction_min)):
            if not 0.0 <= value <= 1.0:
                name = key if key != "min" else "regrow_fraction_min"
                raise ConfigError(f"pruning.{name}={value} must be in [0, 1]")
        initial = 1.0 - initial_density  # s_i of the cubic schedule
        super().__init__(
            MagnitudeRule(allocation),
            Cubic(start_epoch, end_epoch, frequency, initial, sparsity, through_end=True),
            Regrow(regrow_fraction, min(regrow_fraction_min, regrow_fraction)),
            start_rule=RandomRule("erk" if distribution == "erk" else "layerwise", seed),
            monitor="val/acc",
            exclude=exclude,
            collapse_threshold=collapse_threshold,
            plot=plot,
            **common,
        )

    def regrow_fraction_at(self, step: int) -> float:
        """r after `step` optimizer steps: cosine from `regrow_fraction` to the floor."""
        return self.action.fraction_at(step, self.total_steps)

    @property
    def regrow_fraction_now(self) -> float:
        """r of the last update."""
        return self.action.fraction_now

    @property
    def regrown_total(self) -> int:
        """Weights regrown over the run."""
        return self.action.regrown_total
