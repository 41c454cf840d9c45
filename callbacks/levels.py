"""LevelPruning: train in levels inside one `trainer.fit`, prune between levels, rewind.

The loop shared by IMP and SAP (ALGORITHMS.md sections 1 and 4). Level L trains epochs
[L * E, (L + 1) * E). At the first epoch of level L > 0 the callback
1. records level L - 1: sparsity, test accuracy of its end-of-level weights (the datamodule's test
   loader, see `level_eval`), its last and best validation accuracy (`best_val/acc`);
2. computes the next masks from those end-of-level weights: `next_masks`, the one method a
   pruning rule overrides (IMP: a fixed fraction; SAP: the PQ index decides);
3. rewinds: the whole network state at step K (weights, BN affine and running statistics), or a
   fresh initialization (`control=random_reinit`), or keeps the weights (`lr`, `none`);
4. installs the masks, clears the optimizer state (zero momentum) and puts the learning-rate
   schedule back at step K (not for `none`, which fine-tunes at the schedule's final value).
The level boundary is an epoch boundary, so a checkpoint saved at any epoch end holds a
consistent state; the step-K snapshot is callback state and survives a resume. Each level trains
E full epochs, so with late rewinding the last K steps of a level run at the schedule's final
value (OpenLTH trains T - K steps); K is usually below 1% of T.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch

from prunelab.callbacks.level_eval import evaluate_test
from prunelab.callbacks.level_report import log_level, plot_levels, use_level_axis
from prunelab.callbacks.masked import MaskedTraining, pruning_root
from prunelab.errors import ConfigError
from prunelab.pruning import rewind as rw
from prunelab.pruning.lr_horizon import check_fits_level
from prunelab.pruning.mask_io import load_masks, save_masks
from prunelab.pruning.masks import MaskSet, sparsity
from prunelab.pruning.scores import random_scores
from prunelab.pruning.selection import select

CONTROLS = ("none", "random_reinit", "random_prune")


def level_seed(seed: int, level: int) -> int:
    """The seed of a control's random draw at `level` (the same on every rank and on resume)."""
    return (seed * 1_000_003 + level) % 2**63


def init_scheme(network: torch.nn.Module):
    """The network's own initialization, for `random_reinit`: its `reset_parameters` if it has
    one, OpenLTH's for prunelab's CIFAR networks, else PyTorch's per-layer defaults (None)."""
    if callable(getattr(network, "reset_parameters", None)):
        return lambda net: net.reset_parameters()
    from prunelab.models import CifarResNet, CifarVGG, openlth_init_

    return openlth_init_ if isinstance(network, (CifarResNet, CifarVGG)) else None


class LevelPruning(MaskedTraining):
    """Levels of training with pruning and rewinding in between; subclasses give `next_masks`.

    Args:
        levels: N pruning levels; level 0 is the dense run, so N + 1 trainings in one fit of
            `planned_epochs` = (N + 1) x `epochs_per_level` epochs.
        epochs_per_level: epochs of each training (the LR schedule spans one level).
        rewind: `init` (step 0: the lottery ticket), `step:K` (late rewinding to optimizer step
            K), `lr` / `lr:K` (keep the weights, replay the LR schedule from step 0 / K) or `none`
            (keep weights and LR: fine-tuning).
        control: `none`, `random_reinit` (the rule's masks on a fresh initialization; needs a
            weight rewind) or `random_prune` (the rule's per-layer counts, random positions).
        seed: seed of the controls' random draws; None = torch's initial seed (the run's seed).
        monitor: the validation metric (higher is better) whose best value per level is reported
            as `best_<name>`.
        exclude, collapse_threshold, plot: see `MaskedTraining`.
        **common: `parameters_to_prune`, `plot_dir`, `prog_bar` of `MaskedTraining`.
        masks_from: the directory of an earlier IMP/SAP run: each level installs that run's masks
            (saved as `masks/level<L>.pt` beside the run's `checkpoints/`) instead of its own.
            With `control=random_reinit` this is the lottery-ticket paper's control: the winning
            ticket's masks on a fresh initialization.
    """

    def __init__(
        self,
        levels: int,
        epochs_per_level: int,
        rewind: str = "init",
        control: str | None = "none",
        seed: int | None = None,
        monitor: str = "val/acc",
        exclude: Sequence[str] = (),
        collapse_threshold: float = 0.01,
        plot: bool = True,
        masks_from: str | None = None,
        **common: Any,
    ) -> None:
        super().__init__(exclude, collapse_threshold, plot, **common)
        control = control or "none"
        self.masks_from = None if masks_from is None else Path(masks_from)
        if self.masks_from is not None:
            missing = [L for L in range(1, levels + 1) if not self.level_file(L).is_file()]
            if missing:
                raise ConfigError(
                    f"pruning.masks_from={masks_from} lacks the masks of levels {missing}: give "
                    "the directory of an IMP run with at least as many levels"
                )
            for level in range(1, levels + 1):  # a damaged or hostile file: refused before fit
                load_masks(self.level_file(level))
        if isinstance(levels, bool) or not isinstance(levels, int) or levels < 0:
            raise ConfigError(f"pruning.levels={levels!r} must be an integer >= 0")
        if not isinstance(epochs_per_level, int) or epochs_per_level < 1:
            raise ConfigError(f"pruning.epochs_per_level={epochs_per_level!r} must be >= 1")
        if control not in CONTROLS:
            raise ConfigError(f"pruning.control={control!r} is not one of {', '.join(CONTROLS)}")
        self.rewind = rw.parse_rewind(rewind)
        if control == "random_reinit" and self.rewind.mode != "weights":
            raise ConfigError(
                f"pruning.control=random_reinit replaces a weight rewind by a fresh init: it needs "
                f"pruning.rewind=init or step:K, not {rewind!r}"
            )
        self.levels, self.epochs_per_level = levels, epochs_per_level
        self.control, self.seed, self.monitor = control, seed, monitor
        self.planned_epochs = (levels + 1) * epochs_per_level
        self.level = 0  # the level being trained
        self.snapshot: dict[str, torch.Tensor] | None = None  # network state at the rewind step
        self.level_best: float | None = None  # best monitored value in the current level
        self.level_last: float | None = None  # its latest value (state: survives a resume)
        self.steps_per_level = 0

    def check_plan(self, max_epochs: int | None) -> None:
        """Refuse a Trainer whose `max_epochs` is not (levels + 1) x epochs_per_level."""
        if max_epochs != self.planned_epochs:
            raise ConfigError(
                f"{type(self).__name__} trains (levels + 1) x epochs_per_level = "
                f"({self.levels} + 1) x {self.epochs_per_level} = {self.planned_epochs} epochs, "
                f"but trainer.max_epochs={max_epochs}: use Trainer(max_epochs="
                f"{self.planned_epochs}) (the prunelab CLI sets it itself)"
            )

    def network(self, pl_module: pl.LightningModule) -> torch.nn.Module:
        """The module whose state is rewound: the one the targets are named in."""
        return pruning_root(pl_module)

    def level_file(self, level: int, root: str | Path | None = None) -> Path:
        """Where the masks of `level` are kept: `<run dir>/masks/level<L>.pt`."""
        return Path(root if root is not None else self.masks_from) / "masks" / f"level{level}.pt"

    # -- what a pruning rule provides --------------------------------------------------------------
    def next_masks(self, trainer: pl.Trainer, pl_module: pl.LightningModule, level: int) -> MaskSet:
        """The masks of `level`, from the current (end-of-previous-level) weights and masks."""
        raise NotImplementedError

    def level_record(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict[str, Any]:
        """The figures of the level that just ended; a rule may add its own (SAP: PQ index)."""
        record: dict[str, Any] = {"stage": self.level, "sparsity": sparsity(self.masks)}
        record["density"] = 1.0 - record["sparsity"]
        record.update(evaluate_test(trainer, pl_module) or {})
        record[self.monitor] = self.level_last
        record[f"best_{self.monitor}"] = self.level_best
        return record

    # -- level boundaries ------------------------------------------------------------------------
    def end_level(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Record the level that just ended and log it with the level as x."""
        record = self.level_record(trainer, pl_module)
        self.stages.append(record)
        log_level(trainer, record)

    def start_level(self, trainer: pl.Trainer, pl_module: pl.LightningModule, level: int) -> None:
        """Prune from the end-of-level weights, rewind, install the masks, reset the optimizer.

        With `masks_from`, the level's masks are another run's (the lottery-ticket controls: the
        winning ticket's masks on a fresh init, or shuffled), not the rule's on this run's weights.
        """
        if self.masks_from is not None:
            masks = load_masks(self.level_file(level))
        else:
            masks = self.next_masks(trainer, pl_module, level)
        if self.control == "random_prune":  # same per-layer counts, random positions
            generator = torch.Generator().manual_seed(level_seed(self.seed, level))
            counts = {n: int(m.sum()) for n, m in masks.items()}
            masks = select(random_scores(self._params, generator), self.masks, counts)
        network = self.network(pl_module)
        if self.control == "random_reinit":
            rw.reinitialize(network, level_seed(self.seed, level), init_scheme(network))
        elif self.rewind.mode == "weights":
            rw.restore(network, self.snapshot)
        self.set_masks(trainer, pl_module, masks)
        checkpoints = trainer.checkpoint_callback
        if trainer.is_global_zero and checkpoints is not None and checkpoints.dirpath:
            # Beside checkpoints/ (the run directory from the CLI), for a later control run.
            save_masks(self.level_file(level, Path(checkpoints.dirpath).parent), self.masks)
        if self.rewind.mode != "none":
            for optimizer in trainer.optimizers:
                rw.reset_optimizer(optimizer)
            per_epoch = max(1, self.steps_per_level // self.epochs_per_level)
            for config in trainer.lr_scheduler_configs:
                step = self.rewind.step
                rw.schedule_lrs(
                    config.scheduler, step if config.interval == "step" else step // per_epoch
                )
        self.level, self.level_best, self.level_last = level, None, None

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
        self.steps_per_level = per_epoch * self.epochs_per_level
        if self.rewind.step >= self.steps_per_level:
            raise ConfigError(
                f"pruning.rewind step {self.rewind.step} is not inside level 0, which has "
                f"{self.steps_per_level} optimizer steps"
            )
        if self.seed is None:
            self.seed = torch.initial_seed()

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_fit_start(trainer, pl_module)
        for config in trainer.lr_scheduler_configs:  # each level replays it: it must fit one
            length = self.steps_per_level if config.interval == "step" else self.epochs_per_level
            try:
                check_fits_level(config.scheduler, config.interval, length // config.frequency)
            except ValueError as exc:
                raise ConfigError(f"{type(self).__name__}: {exc}") from exc
        if self.rewind == rw.Rewind("weights", 0) and self.snapshot is None:
            self.snapshot = rw.snapshot(self.network(pl_module))
        use_level_axis(trainer)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        due = self.rewind.mode == "weights" and self.level == 0 and self.snapshot is None
        if due and trainer.global_step == self.rewind.step:
            self.snapshot = rw.snapshot(self.network(pl_module))

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        value = trainer.callback_metrics.get(self.monitor)
        if trainer.sanity_checking or value is None:
            return
        self.level_last = float(value)
        best = self.level_best
        self.level_best = self.level_last if best is None else max(best, self.level_last)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        level = trainer.current_epoch // self.epochs_per_level
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
        path = self.plot_path(trainer, "accuracy_vs_density.png")
        if path is not None:
            title = f"{type(self).__name__}, rewind={self.rewind_spec()}"
            keys = ["test/acc", f"best_{self.monitor}"]
            plot_levels(self.stages, keys, path, title, "accuracy at the end of each level")

    def rewind_spec(self) -> str:
        """The rewind point as written in configs (`init`, `step:K`, `lr`, `lr:K`, `none`)."""
        if self.rewind.mode == "weights":
            return "init" if self.rewind.step == 0 else f"step:{self.rewind.step}"
        return self.rewind.mode if self.rewind.step == 0 else f"lr:{self.rewind.step}"

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "level": self.level,
            "level_best": self.level_best,
            "level_last": self.level_last,
            "snapshot": self.snapshot,
            "seed": self.seed,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self.level = state_dict.get("level", 0)
        self.level_best = state_dict.get("level_best")
        self.level_last = state_dict.get("level_last")
        self.snapshot = state_dict.get("snapshot")
        self.seed = state_dict.get("seed", self.seed)


def level_steps(trainer: pl.Trainer) -> int | None:
    """Optimizer steps in one level of the trainer's level-wise method (None if it has none):
    the length a learning-rate schedule must have to be replayed level by level."""
    levels = [c for c in trainer.callbacks if isinstance(c, LevelPruning)]
    return levels[0].steps_per_level if levels else None
