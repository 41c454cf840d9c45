"""PruningMethod: the one Lightning adapter of a pruning method = rule + schedule + action.

A method is a few decisions, each a core piece: which weights each step keeps (a `Rule`,
`prunelab.pruning.rules`), at which optimizer steps and to what sparsity (a `Schedule`,
`prunelab.pruning.schedules`), and what happens after pruning (an action such as `Regrow`,
`prunelab.pruning.actions`; None = train on with the masks). The published methods
(`GlobalMagnitudePruning`, `GraNet`, `RandomPruning`, `SNIPPruning`) are constructors that bind
these parts.

When an update due at optimizer step t (t steps done) runs: before the next batch
(`on_train_batch_start` with `global_step == t`); or, when the action needs the gradient of the
batch of step t (regrowth, from t = 1 on), right after that optimizer step (`on_train_batch_end`),
with the gradient copied in `on_before_optimizer_step` (the last hook that sees it: all-reduced,
unscaled, not yet clipped). Each update runs once, also across a resume (`last_update` is saved).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pytorch_lightning as pl
import torch

from prunelab.callbacks.masked import MaskedTraining, pruning_root
from prunelab.errors import ConfigError
from prunelab.pruning.actions import Regrow
from prunelab.pruning.rules import Rule
from prunelab.pruning.schedules import Schedule


class PruningMethod(MaskedTraining):
    """Prune by `rule` on `schedule`, then `action`, with the masks enforced throughout.

    Args:
        rule: which weights each pruning step keeps, and how many per layer.
        schedule: the optimizer steps that prune, and to what sparsity.
        action: what runs at the schedule's steps after pruning: `Regrow`, or None.
        start_rule: draws the masks at fit start at the schedule's initial sparsity
            (sparse-to-sparse training); None, or an initial sparsity of 0, starts dense.
        monitor: a validation metric to maximise (e.g. `val/acc`) whose best value and epoch go
            into `summary` as `best_<monitor>` and `best_<split>/epoch`; None = not tracked.
        exclude, collapse_threshold, plot: see `MaskedTraining`.
        **common: `parameters_to_prune`, `plot_dir`, `prog_bar` of `MaskedTraining`.
    """

    def __init__(
        self,
        rule: Rule,
        schedule: Schedule,
        action: Regrow | None = None,
        *,
        start_rule: Rule | None = None,
        monitor: str | None = None,
        exclude: Sequence[str] = (),
        collapse_threshold: float = 0.01,
        plot: bool = True,
        **common: Any,
    ) -> None:
        super().__init__(exclude, collapse_threshold, plot, **common)
        self.rule, self.schedule, self.action = rule, schedule, action
        self.start_rule, self.monitor = start_rule, monitor
        self.plan: dict[int, float] = {}  # optimizer step -> target sparsity, set at train start
        self.updates: Sequence[int] = ()  # every step the method acts at (pruning and action)
        self.total_steps = 0  # optimizer steps of the whole fit, set at train start
        self.last_update = -1  # the optimizer step of the last update
        self.best: tuple[float, int] | None = None  # (best value of `monitor`, its epoch)
        self._grads: dict[str, torch.Tensor] | None = None  # |grad| stashed for the action

    # -- checks before training ---------------------------------------------------------------
    def check_plan(self, max_epochs: int | None) -> None:
        """Refuse a schedule that does not fit in `max_epochs` of training."""
        try:
            self.schedule.check(max_epochs)
        except ValueError as exc:
            raise ConfigError(f"pruning.{exc}") from exc

    def check_feasible(self) -> None:
        """Refuse a rule that cannot reach the final sparsity on these weights (e.g. GlobalMP's
        minimum threshold), before any training step."""
        try:
            self.rule.check(self._params, self.schedule.final)
        except ValueError as exc:
            raise ConfigError(f"pruning.{exc}") from exc

    # -- the update ---------------------------------------------------------------------------
    def steps_per_epoch(self, trainer: pl.Trainer) -> int:
        """Optimizer steps in one epoch (batches / accumulation, the last partial one included)."""
        return math.ceil(trainer.num_training_batches / trainer.accumulate_grad_batches)

    def rule_grads(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule
    ) -> dict[str, torch.Tensor] | None:
        """The gradients the rule scores by at a pruning step; None (the default): the rule scores
        by the weights alone. A method whose rule scores from data (SNIP) computes them here."""
        return None

    def prune_to(self, trainer: pl.Trainer, pl_module: pl.LightningModule, target: float) -> None:
        """Shrink the masks to exactly `target` sparsity by the rule."""
        grads = self.rule_grads(trainer, pl_module)
        masks = self.rule.masks(self._params, self.masks, target, grads)
        self.set_masks(trainer, pl_module, masks)

    def update(self, trainer: pl.Trainer, pl_module: pl.LightningModule, step: int) -> None:
        """The schedule's pruning step at `step` (if any), then the action (if it acts there)."""
        before = {n: m.clone() for n, m in self.masks.items()}
        if step in self.plan:
            self.prune_to(trainer, pl_module, self.plan[step])
        if self._acts(step):
            # After a pruning step, which has just reported the densities, a second report would
            # log the same values (regrowth keeps every layer's count) at the same step.
            self.regrow(trainer, pl_module, step, before, report=step not in self.plan)

    def regrow(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        step: int,
        before: dict[str, torch.Tensor],
        report: bool = True,
    ) -> None:
        """The `Regrow` action at `step`: drop by |w|, regrow by the stashed |grad|; `before` are
        the masks before this update; `report`: log the densities (`MaskedTraining.set_masks`)."""
        if self._grads is None:
            name = type(self).__name__
            raise RuntimeError(f"{name} update at step {step} has no gradient of the batch")
        r = self.action.fraction_at(step, self.total_steps)
        pruned = self.masks
        new = self.action.masks(pruned, self._params, self._grads, r)
        if any(not torch.equal(new[n], pruned[n]) for n in new):
            self.set_masks(trainer, pl_module, new, may_grow=True, report=report)
        elif report:
            self.report(trainer)
        # Regrown weights start from zero with zero optimizer state: they were pruned until now,
        # so `enforce` (run at this step, before the update) zeroed both.
        self.log_metrics(trainer, self.action.record(before, pruned, self.masks, r))

    def _due(self, step: int) -> bool:
        return step in self.updates and step > self.last_update

    def _acts(self, step: int) -> bool:
        return self.action is not None and self.action.acts_at(step)

    def log_metrics(self, trainer: pl.Trainer, metrics: dict[str, float]) -> None:
        """Send `metrics` to every logger at this step."""
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=trainer.global_step)

    @property
    def summary(self) -> dict[str, float]:
        """Extra results.json entries: the action's record, the best `monitor` value (labelled
        as such) and its epoch."""
        out = self.action.summary() if self.action is not None else {}
        if self.best is not None:
            split = self.monitor.rpartition("/")[0] or self.monitor
            out.update({f"best_{self.monitor}": self.best[0], f"best_{split}/epoch": self.best[1]})
        return out

    # -- Lightning hooks ----------------------------------------------------------------------
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        super().setup(trainer, pl_module, stage)
        if stage == "fit":
            # the image side as PreCropping reads it; 32 without a data module (plain loaders)
            size = getattr(getattr(trainer, "datamodule", None), "image_size", 32)
            self.rule.bind(pruning_root(pl_module), (3, size, size))
            self.check_plan(trainer.max_epochs)
            self.check_feasible()

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        fresh = self.masks is None  # not restored from a checkpoint
        super().on_fit_start(trainer, pl_module)
        if fresh and self.start_rule is not None and self.schedule.initial > 0:
            masks = self.start_rule.masks(self._params, self.masks, self.schedule.initial)
            self.set_masks(trainer, pl_module, masks)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_start(trainer, pl_module)
        per_epoch = self.steps_per_epoch(trainer)
        self.total_steps = trainer.max_epochs * per_epoch
        self.plan = self.schedule.targets(per_epoch, trainer.max_epochs)
        self.updates = self.schedule.steps(per_epoch, trainer.max_epochs)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        step = trainer.global_step
        if self._due(step) and not self._acts(step):
            self.last_update = step
            self.update(trainer, pl_module, step)

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        step = trainer.global_step + 1  # the step count once this step is done
        if self._due(step) and self._acts(step):
            self._grads = {
                n: torch.zeros_like(p) if p.grad is None else p.grad.detach().abs().nan_to_num(0.0)
                for n, p in self._params.items()
            }

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)  # enforce
        step = trainer.global_step
        if self._due(step) and self._acts(step):
            self.last_update = step
            self.update(trainer, pl_module, step)
            self._grads = None

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        value = trainer.callback_metrics.get(self.monitor) if self.monitor else None
        if trainer.sanity_checking or value is None:
            return
        if self.best is None or float(value) > self.best[0]:
            self.best = (float(value), trainer.current_epoch)
        self.log_metrics(trainer, {f"best_{self.monitor}": self.best[0]})

    def state_dict(self) -> dict[str, Any]:
        state = {**super().state_dict(), "last_update": self.last_update}
        if self.action is not None:
            state.update(self.action.state_dict())
        return {**state, "best": self.best} if self.monitor else state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self.last_update = state_dict.get("last_update", -1)
        if self.action is not None:
            self.action.load_state_dict(state_dict)
        best = state_dict.get("best")
        self.best = None if best is None else (float(best[0]), int(best[1]))
