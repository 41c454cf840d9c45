"""LevelPruning: the Lightning adapter of a level-wise method = level rule + `Levels` + rewind.

IMP and SAP (ALGORITHMS.md sections 1 and 4) are constructions of it: a `LevelRule`
(`prunelab.pruning.rules`: how much each level prunes, and which weights), the `Levels` plan
(`prunelab.pruning.schedules`: level L trains epochs [L * E, (L + 1) * E), all in one fit) and a
`LevelRewind` (`prunelab.pruning.actions`: rewinding and the controls). At the first epoch of
level L > 0 the adapter
1. records level L - 1 (`LevelRecords`: sparsity, test accuracy of its end-of-level weights, its
   last and best monitored value, a method's own figures), logged with the level as x;
2. asks the rule for the next masks from those end-of-level weights (or, with `masks_from`,
   takes the IMP run's of that level: `level_masks`), which the action's `random_prune` redraws
   at random positions, layer by layer (a control needs `masks_from`: it controls that run);
3. rewinds the weights (the whole state at step K, or a fresh init, or none), installs and saves
   the masks, clears the optimizer state and puts the learning-rate schedule back at step K.
The level boundary is an epoch boundary, so a checkpoint saved at any epoch end holds a
consistent state; the step-K snapshot is the action's state and survives a resume. Each level
trains E full epochs, so with late rewinding the last K steps of a level run at the schedule's
final value (OpenLTH trains T - K steps); K is usually below 1% of T.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch

from prunelab.callbacks.level_masks import MasksFrom, level_file, save_level_masks
from prunelab.callbacks.level_records import LevelProbe, LevelRecords
from prunelab.callbacks.level_report import log_level, use_level_axis
from prunelab.callbacks.level_stability import level_stability
from prunelab.callbacks.masked import MaskedTraining, pruning_root
from prunelab.callbacks.snip import training_batches
from prunelab.errors import ConfigError
from prunelab.plotting import run_title
from prunelab.pruning.actions import LevelRewind, Regrow
from prunelab.pruning.layer_densities import summed_gradients
from prunelab.pruning.lr_horizon import check_fits_level
from prunelab.pruning.rules import LevelRule
from prunelab.pruning.schedules import Levels


@contextmanager
def pruning_settings() -> Iterator[None]:
    """Turn a core piece's ValueError (`levels=-1 must be ...`) into a ConfigError naming the
    `pruning.*` key; a ConfigError passes as it is."""
    try:
        yield
    except ConfigError:
        raise
    except ValueError as exc:
        raise ConfigError(f"pruning.{exc}") from exc


def check_control(control: str, masks_from: str | None) -> None:
    """Refuse a lottery-ticket control without the run it controls: both controls are defined
    by that run's masks of each level (Frankle & Carbin 2019; OpenLTH's branches), not by
    pruning the control's own, differently trained weights."""
    if control != "none" and masks_from is None:
        raise ConfigError(
            f"pruning.control={control} controls an IMP run: give that run's directory as "
            "pruning.masks_from=<run dir> (its per-level masks are what the control reuses)"
        )


def init_scheme(network: torch.nn.Module):
    """The network's own initialization, for `random_reinit`: its `reset_parameters` if it has
    one (CifarVGG: its `init`), OpenLTH's for the CIFAR ResNets, else PyTorch's per-layer
    defaults (None)."""
    if callable(getattr(network, "reset_parameters", None)):
        return lambda net: net.reset_parameters()
    from prunelab.models import CifarResNet, CifarVGG, openlth_init_

    return openlth_init_ if isinstance(network, (CifarResNet, CifarVGG)) else None


class LevelPruning(MaskedTraining):
    """Levels of training; between them, prune by `rule` and rewind by `action`.

    Args:
        rule: the masks of each level from the end-of-level weights (IMP: `FractionRule`; SAP:
            `PQIndexRule`).
        schedule: the `Levels` plan; the fit must run its `planned_epochs`.
        action: the `LevelRewind` after each level's pruning (rewind point, control, seed).
        monitor: the validation metric (higher is better) reported per level, with its best
            value as `best_<name>`.
        masks_from: the directory of an earlier IMP/SAP run: each level installs that run's masks
            instead of the rule's; required by the lottery-ticket controls (`random_reinit`:
            those masks on a fresh initialization, `random_prune`: shuffled within each layer).
        probe: a method's own per-level figures (SAP: the PQ index), or None.
        regrow: GraNet's drop-and-regrow after each level's pruning, before the rewind (by the
            gradient of one training batch at the end-of-level weights), or None.
        stability: the instability analysis of each level's subnetwork at its rewind point
            (`LevelStability`: two copies on two data orders, the error along the line between
            them); `stability_levels` (None: all), `stability_seeds`, `stability_bn` its options.
        exclude, collapse_threshold, plot, **common: see `MaskedTraining`.
    """

    def __init__(
        self,
        rule: LevelRule,
        schedule: Levels,
        action: LevelRewind,
        *,
        monitor: str = "val/acc",
        masks_from: str | None = None,
        probe: LevelProbe | None = None,
        regrow: Regrow | None = None,
        exclude: Sequence[str] = (),
        collapse_threshold: float = 0.01,
        plot: bool = True,
        stability: bool = False,
        stability_levels: Sequence[int] | None = None,
        stability_seeds: Sequence[int] = (1, 2),
        stability_bn: str = "keep",
        **common: Any,
    ) -> None:
        super().__init__(exclude, collapse_threshold, plot, **common)
        check_control(action.control, masks_from)
        self.rule, self.schedule, self.action, self.regrow = rule, schedule, action, regrow
        self.masks_from = None if masks_from is None else Path(masks_from)
        self.given = None if masks_from is None else MasksFrom(masks_from, schedule.levels)
        self.records = LevelRecords(monitor, probe)
        self.stability = level_stability(
            stability, schedule.levels, stability_levels, stability_seeds, stability_bn
        )
        self.level = 0  # the level being trained
        self.steps_per_level = 0  # optimizer steps of one level, known once the Trainer is set up

    # -- the pieces' settings and state, under the names other code reads ------------------------
    levels = property(lambda self: self.schedule.levels)
    epochs_per_level = property(lambda self: self.schedule.epochs_per_level)
    planned_epochs = property(lambda self: self.schedule.planned_epochs)
    rewind = property(lambda self: self.action.point)
    control = property(lambda self: self.action.control)
    monitor = property(lambda self: self.records.monitor)
    level_best = property(lambda self: self.records.best)
    level_last = property(lambda self: self.records.last)

    @property
    def seed(self) -> int | None:
        """Seed of the controls' draws (the run's seed once set up)."""
        return self.action.seed

    @seed.setter
    def seed(self, value: int | None) -> None:
        self.action.seed = value

    @property
    def snapshot(self) -> dict[str, torch.Tensor] | None:
        """The network state at the rewind step (None before it is taken)."""
        return self.action.snapshot

    @snapshot.setter
    def snapshot(self, value: dict[str, torch.Tensor] | None) -> None:
        self.action.snapshot = value

    def rewind_spec(self) -> str:
        """The rewind point as written in configs (`init`, `step:K`, `lr`, `lr:K`, `none`)."""
        return self.action.spec()

    def level_file(self, level: int, root: str | Path | None = None) -> Path:
        """Where the masks of `level` are kept: `<run dir>/masks/level<L>.pt` (default: the
        `masks_from` run's)."""
        return level_file(root if root is not None else self.masks_from, level)

    def network(self, pl_module: pl.LightningModule) -> torch.nn.Module:
        """The module whose state is rewound: the one the targets are named in."""
        return pruning_root(pl_module)

    # -- checks before training ------------------------------------------------------------------
    def check_plan(self, max_epochs: int | None) -> None:
        """Refuse a Trainer whose `max_epochs` is not (levels + 1) x epochs_per_level."""
        try:
            self.schedule.check(max_epochs)
        except ValueError as exc:
            raise ConfigError(
                f"{type(self).__name__} trains {exc}: use Trainer(max_epochs="
                f"{self.planned_epochs}) (the prunelab CLI sets it itself)"
            ) from exc

    def check_schedulers(self, trainer: pl.Trainer) -> None:
        """Each level replays the learning-rate schedule: it must fit in one level."""
        for config in trainer.lr_scheduler_configs:
            length = self.steps_per_level if config.interval == "step" else self.epochs_per_level
            try:
                check_fits_level(config.scheduler, config.interval, length // config.frequency)
            except ValueError as exc:
                raise ConfigError(f"{type(self).__name__}: {exc}") from exc

    # -- level boundaries ------------------------------------------------------------------------
    def end_level(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Record the level that just ended and log it with the level as x."""
        record = self.records.record(trainer, pl_module, self.level, self._params, self.masks)
        record.update(self.stability.entries(self.level))
        self.stages.append(record)
        log_level(trainer, record)

    def start_level(self, trainer: pl.Trainer, pl_module: pl.LightningModule, level: int) -> None:
        """Prune from the end-of-level weights, rewind, install the masks, reset the optimizer."""
        if self.given is not None:
            masks = self.given.load(level)
        else:
            masks = self.rule.masks(self._params, self.masks, level)
        masks = self.action.masks(self._params, self.masks, masks, level)
        network = self.network(pl_module)
        if self.regrow is not None:
            masks = self.regrow_level(trainer, pl_module, masks)
        init_fn = init_scheme(network) if self.control == "random_reinit" else None
        self.action.weights(network, level, init_fn)
        self.set_masks(trainer, pl_module, masks, may_grow=self.regrow is not None)
        save_level_masks(trainer, level, self.masks)
        schedulers = [(c.scheduler, c.interval) for c in trainer.lr_scheduler_configs]
        per_epoch = max(1, self.steps_per_level // self.epochs_per_level)
        self.action.schedules(trainer.optimizers, schedulers, per_epoch)
        self.level = level
        self.records.reset()
        self.stability.start(trainer, pl_module, level, self.masks, self.epochs_per_level)

    def regrow_level(self, trainer: pl.Trainer, pl_module: pl.LightningModule, pruned):
        """The pruned masks installed (the weights they drop are zeroed), then the masks after
        drop-and-regrow by the gradient of the first training batch at the end-of-level weights.
        Regrown weights start at 0, unless a weight rewind then restores every kept weight."""
        batches = training_batches(trainer, 1)
        grads = summed_gradients(self.network(pl_module), self._params, batches)
        before = {n: m.clone() for n, m in self.masks.items()}
        self.set_masks(trainer, pl_module, pruned, report=False)
        r = self.regrow.fraction_at(trainer.global_step, self.steps_per_level * (self.levels + 1))
        new = self.regrow.masks(self.masks, self._params, grads, r)
        record = self.regrow.record(before, self.masks, new, r)
        for logger in trainer.loggers:
            logger.log_metrics(record, step=trainer.global_step)
        return new

    # -- Lightning hooks -------------------------------------------------------------------------
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        super().setup(trainer, pl_module, stage)
        if stage != "fit":
            return
        self.check_plan(trainer.max_epochs)
        if trainer.max_steps not in (-1, None):
            raise ConfigError(f"{type(self).__name__} ends levels by epochs: unset max_steps")
        # Whole optimizer steps per epoch x epochs per level; the LR schedule spans one level.
        per_epoch = int(trainer.estimated_stepping_batches) // trainer.max_epochs
        self.steps_per_level = self.schedule.steps_per_level(per_epoch)
        self.action.check(self.steps_per_level)
        self.action.resolve_seed()
        self.stability.check(trainer, pl_module)

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_fit_start(trainer, pl_module)
        self.check_schedulers(trainer)
        if self.action.snapshot_due(0, 0):  # rewind to init: the state before any step
            self.action.take_snapshot(self.network(pl_module))
        use_level_axis(trainer)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self.action.snapshot_due(self.level, trainer.global_step):
            self.action.take_snapshot(self.network(pl_module))

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.records.observe(trainer)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        level = self.schedule.level_of(trainer.current_epoch)
        if level > self.level:  # once per level, also when resuming inside its first epoch
            self.end_level(trainer, pl_module)
            self.start_level(trainer, pl_module, level)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._record_last_level(trainer, pl_module)

    def _record_last_level(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        finished = trainer.current_epoch >= self.planned_epochs
        if finished and all(s["stage"] != self.level for s in self.stages):
            self.end_level(trainer, pl_module)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # A resume from the checkpoint of the final epoch skips the training loop and with it
        # on_train_end: the last level is recorded here then.
        self._record_last_level(trainer, pl_module)
        super().on_fit_end(trainer, pl_module)
        title = run_title(pl_module, f"{type(self).__name__}, rewind={self.rewind_spec()}")
        self.records.plot(self.stages, lambda name: self.plot_path(trainer, name), title)
        densities = {s["stage"]: s["density"] for s in self.stages}
        self.stability.plot(self.plot_path(trainer, "stability.png"), title, densities)

    @property
    def summary(self) -> dict[str, float]:
        """Extra results.json entries: the weights regrown over the run, when levels regrow."""
        return self.regrow.summary() if self.regrow is not None else {}

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "level": self.level,
            **self.records.state_dict(),
            **self.action.state_dict(),
            **self.stability.state_dict(),
            **(self.regrow.state_dict() if self.regrow is not None else {}),
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self.level = state_dict.get("level", 0)
        self.records.load_state_dict(state_dict)
        self.action.load_state_dict(state_dict)
        self.stability.load_state_dict(state_dict)
        if self.regrow is not None:
            self.regrow.load_state_dict(state_dict)


def level_steps(trainer: pl.Trainer) -> int | None:
    """Optimizer steps in one level of the trainer's level-wise method (None if it has none):
    the length a learning-rate schedule must have to be replayed level by level."""
    levels = [c for c in trainer.callbacks if isinstance(c, LevelPruning)]
    return levels[0].steps_per_level if levels else None
