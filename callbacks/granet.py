"""GraNet (Liu et al. 2021): gradual magnitude pruning with zero-cost neuroregeneration.

GraNet is `GlobalMagnitudePruning` on the gradual cubic schedule plus one extra move at every
update step: per layer, drop the ceil(r * nnz) smallest-magnitude active weights and regrow as many
at the inactive positions with the largest |gradient| of the current batch (ALGORITHMS.md
section 3). Updates keep coming every `frequency` optimizer steps after the pruning window, until
the end of training, as in the authors' code; r decays with a cosine from `regrow_fraction` to
`regrow_fraction_min` over the whole run.

When an update happens, and with which gradient: as in the authors' code, right *after* optimizer
step t (t = 1, 2, ... steps done), with the gradient of the batch of that step. The gradient is
copied in `on_before_optimizer_step` (the last hook that sees it, already all-reduced and
unscaled, not yet clipped) and the update runs in `on_train_batch_end`, after the masks were
enforced for that step. Pruned weights' gradients are dense: the forward pass uses them at zero,
and autograd still differentiates them. Regrown weights and their momentum are zero right after
the update; the next optimizer step is the first to move them. At t = 0 no gradient exists yet, so
an update due there is the cubic pruning step alone (its target is normally s_i, a no-op).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytorch_lightning as pl
import torch

from prunelab.callbacks.global_magnitude import GlobalMagnitudePruning
from prunelab.errors import ConfigError
from prunelab.pruning.allocation import layerwise_counts
from prunelab.pruning.erk import erk_counts
from prunelab.pruning.regrow import prune_and_regrow
from prunelab.pruning.schedule import cosine_decay
from prunelab.pruning.scores import random_scores
from prunelab.pruning.selection import select

DISTRIBUTIONS = ("erk", "uniform")
GRANET_ALLOCATIONS = ("global", "layerwise")


class GraNet(GlobalMagnitudePruning):
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
        super().__init__(
            sparsity,
            schedule="gradual",
            start_epoch=start_epoch,
            end_epoch=end_epoch,
            frequency=frequency,
            allocation=allocation,
            exclude=exclude,
            collapse_threshold=collapse_threshold,
            plot=plot,
            **common,
        )
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
        self.initial_sparsity = 1.0 - initial_density  # s_i of the cubic schedule
        self.initial_density, self.distribution, self.seed = initial_density, distribution, seed
        self.regrow_fraction = regrow_fraction
        self.regrow_fraction_min = min(regrow_fraction_min, regrow_fraction)
        self.total_steps = 0  # optimizer steps of the whole fit, set at train start
        self.updates: range = range(0)  # every update step: cubic window and regrowth after it
        self.regrow_fraction_now = regrow_fraction  # r of the last update
        self.regrown_total = 0  # weights regrown over the run
        self.best: tuple[float, int] | None = None  # (best val/acc, its epoch)
        self._grads: dict[str, torch.Tensor] | None = None  # |grad| stashed for the next update

    # -- schedule --------------------------------------------------------------------------------
    def regrow_fraction_at(self, step: int) -> float:
        """r after `step` optimizer steps: cosine from `regrow_fraction` to the floor."""
        return cosine_decay(
            step, max(self.total_steps, 1), self.regrow_fraction, self.regrow_fraction_min
        )

    def initial_masks(self) -> dict[str, torch.Tensor]:
        """Random masks at `initial_density` with the chosen per-layer distribution (on CPU)."""
        ones = {n: torch.ones(p.shape, dtype=torch.bool) for n, p in self._params.items()}
        if self.distribution == "erk":
            counts = erk_counts({n: tuple(m.shape) for n, m in ones.items()}, self.initial_sparsity)
        else:
            counts = layerwise_counts(ones, self.initial_sparsity)
        seed = torch.initial_seed() if self.seed is None else self.seed
        generator = torch.Generator().manual_seed(int(seed))
        scores = random_scores(ones, generator)
        return select(scores, ones, counts)

    # -- the update --------------------------------------------------------------------------------
    def update(self, trainer: pl.Trainer, pl_module: pl.LightningModule, step: int) -> None:
        """The cubic pruning step (inside the window), then drop-and-regrow (from step 1 on)."""
        before = {n: m.clone() for n, m in self.masks.items()}
        if step in self.plan:
            super().update(trainer, pl_module, step)
        if step > 0:
            # Regrowth keeps every layer's count: after a cubic step, which has just reported the
            # densities, a second report would log the same values at the same step.
            self.regrow(trainer, pl_module, step, before, report=step not in self.plan)

    def regrow(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        step: int,
        before: dict[str, torch.Tensor],
        report: bool = True,
    ) -> None:
        """Drop ceil(r * nnz) weights per layer by |w|, regrow as many by the stashed |grad|;
        `report`: log the densities (see `MaskedTraining.set_masks`)."""
        if self._grads is None:
            raise RuntimeError(f"GraNet update at step {step} has no gradient of the batch")
        r = self.regrow_fraction_at(step)
        pruned = self.masks
        new, _ = prune_and_regrow(pruned, self._params, self._grads, r)
        if any(not torch.equal(new[n], pruned[n]) for n in new):
            self.set_masks(trainer, pl_module, new, may_grow=True, report=report)
        elif report:
            self.report(trainer)
        # New connections start from zero with zero optimizer state, as in GraNet's code: they
        # were pruned until now, so `enforce` (run at this step, before the update) zeroed both.
        regrown = {n: self.masks[n] & ~pruned[n] for n in self.masks}
        n_regrown = sum(int(g.sum()) for g in regrown.values())
        n_new = sum(int((self.masks[n] & ~before[n]).sum()) for n in self.masks)
        n_active = sum(int(m.sum()) for m in self.masks.values())
        self.regrow_fraction_now, self.regrown_total = r, self.regrown_total + n_regrown
        # churn: the share of the active weights after the update that were inactive before it
        churn = n_new / n_active if n_active else 0.0
        self._log(
            trainer,
            {"prune/regrow_fraction": r, "prune/regrown": float(n_regrown), "prune/churn": churn},
        )

    def _log(self, trainer: pl.Trainer, metrics: dict[str, float]) -> None:
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=trainer.global_step)

    @property
    def summary(self) -> dict[str, float]:
        """Extra results.json entries: the best validation accuracy (labelled as such), its
        epoch, and the weights regrown over the run."""
        out: dict[str, float] = {"prune/regrown_total": self.regrown_total}
        if self.best is not None:
            out.update({"best_val/acc": self.best[0], "best_val/epoch": self.best[1]})
        return out

    # -- Lightning hooks -------------------------------------------------------------------------
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        fresh = self.masks is None  # not restored from a checkpoint
        super().on_fit_start(trainer, pl_module)
        if fresh and self.initial_density < 1.0:
            self.set_masks(trainer, pl_module, self.initial_masks())

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_start(trainer, pl_module)  # the cubic plan
        self.total_steps = trainer.max_epochs * self.steps_per_epoch(trainer)
        # Same grid as the plan, on to the end; the last update leaves one step to train the
        # regrown weights (an update after the final step would leave them at zero).
        start = self.start_epoch * self.steps_per_epoch(trainer)
        self.updates = range(start, self.total_steps, self.frequency)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        # Updates run after the optimizer step, where the batch's gradient exists. Only an update
        # due at step 0 (before any gradient) runs here: the cubic step alone.
        if trainer.global_step == 0:
            super().on_train_batch_start(trainer, pl_module, batch, batch_idx)

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        step = trainer.global_step + 1  # the step count once this step is done
        if step in self.updates and step > self.last_update:
            self._grads = {
                n: torch.zeros_like(p) if p.grad is None else p.grad.detach().abs().nan_to_num(0.0)
                for n, p in self._params.items()
            }

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)  # enforce
        step = trainer.global_step
        if step in self.updates and step > self.last_update:
            self.last_update = step
            self.update(trainer, pl_module, step)
            self._grads = None

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        acc = trainer.callback_metrics.get("val/acc")
        if trainer.sanity_checking or acc is None:
            return
        if self.best is None or float(acc) > self.best[0]:
            self.best = (float(acc), trainer.current_epoch)
        self._log(trainer, {"best_val/acc": self.best[0]})

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "regrow_fraction_now": self.regrow_fraction_now,
            "regrown_total": self.regrown_total,
            "best": self.best,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self.regrow_fraction_now = state_dict.get("regrow_fraction_now", self.regrow_fraction)
        self.regrown_total = state_dict.get("regrown_total", 0)
        best = state_dict.get("best")
        self.best = None if best is None else (float(best[0]), int(best[1]))
