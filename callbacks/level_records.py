"""The record of each level of a level-wise method (IMP, SAP): one job, kept apart from the loop.

While a level trains, the monitored validation metric's latest and best value (`level_last`,
`level_best`, saved in checkpoints so a resume inside a level keeps them). When it ends, its
record: sparsity, density, test accuracy and loss of its end-of-level weights (`level_eval`),
those two values, and a method's own figures (a `LevelProbe`: SAP's PQ index), logged with the
level as x (`level_report`). At fit end, the figures of the records against density.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch

from prunelab.callbacks.level_eval import evaluate_test
from prunelab.callbacks.level_report import plot_levels
from prunelab.pruning.masks import sparsity

Tensors = Mapping[str, torch.Tensor]


class LevelProbe:
    """What a method adds to each level's record: `measure` and, optionally, a `figure`."""

    def measure(self, params: Tensors, masks: Tensors) -> tuple[dict[str, float], dict[str, float]]:
        """(entries for the level's record, metrics logged at the level's last step)."""
        raise NotImplementedError(f"{type(self).__name__} does not define measure()")

    def figure(self) -> tuple[str, list[str], str, str] | None:
        """(file name, record keys, title, y label) of a plot against density, the keys drawn on
        an axis of their own beside the test accuracy; None = none."""
        return None


class LevelRecords:
    """Track the monitored metric within a level and write each level's record.

    Args:
        monitor: the validation metric (higher is better) reported per level, and its best
            value as `best_<monitor>`.
        probe: a method's own per-level figures, or None.
    """

    def __init__(self, monitor: str = "val/acc", probe: LevelProbe | None = None) -> None:
        self.monitor, self.probe = monitor, probe
        self.best: float | None = None  # best monitored value in the current level
        self.last: float | None = None  # its latest value

    def observe(self, trainer: pl.Trainer) -> None:
        """Take the monitored value of a validation run (sanity checks do not count)."""
        value = trainer.callback_metrics.get(self.monitor)
        if trainer.sanity_checking or value is None:
            return
        self.last = float(value)
        self.best = self.last if self.best is None else max(self.best, self.last)

    def reset(self) -> None:
        """A new level starts: nothing observed yet."""
        self.best, self.last = None, None

    def record(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        level: int,
        params: Tensors,
        masks: Tensors,
    ) -> dict[str, Any]:
        """The figures of `level`, which just ended; the probe's metrics go to the loggers."""
        record: dict[str, Any] = {"stage": level, "sparsity": sparsity(masks)}
        record["density"] = 1.0 - record["sparsity"]
        record.update(evaluate_test(trainer, pl_module) or {})
        record[self.monitor] = self.last
        record[f"best_{self.monitor}"] = self.best
        if self.probe is not None:
            entries, metrics = self.probe.measure(params, masks)
            record.update(entries)
            for logger in trainer.loggers:
                logger.log_metrics(metrics, step=trainer.global_step)
        return record

    def plot(
        self,
        stages: Sequence[Mapping[str, Any]],
        path_for: Callable[[str], Path | None],
        title: str,
    ) -> None:
        """Accuracy against density (and, on a twin axis beside the test accuracy, the probe's
        figure) where `path_for(name)` says."""
        path = path_for("accuracy_vs_density.png")
        if path is not None:
            plot_levels(stages, ["test/acc", f"best_{self.monitor}"], path, title)
        figure = self.probe.figure() if self.probe is not None else None
        if figure is not None and (path := path_for(figure[0])) is not None:
            _, keys, detail, label = figure
            plot_levels(stages, ["test/acc"], path, f"{title}\n{detail}", keys, label)

    def state_dict(self) -> dict[str, Any]:
        """The current level's values, under the keys IMP's checkpoints have always used."""
        return {"level_best": self.best, "level_last": self.last}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.best, self.last = state.get("level_best"), state.get("level_last")
