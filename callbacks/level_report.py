"""Reporting for callbacks that train in levels (IMP, SAP): level-indexed metrics and the plot."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.loggers import WandbLogger

from prunelab.plotting import accuracy_vs_density

LEVEL_AXIS = "imp/level"


def use_level_axis(trainer: pl.Trainer) -> None:
    """Make W&B chart every `level/*` metric against the level rather than the step."""
    if not trainer.is_global_zero:
        return
    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger):
            logger.experiment.define_metric("level/*", step_metric=LEVEL_AXIS)


def log_level(trainer: pl.Trainer, record: Mapping[str, Any]) -> dict[str, float]:
    """Log a level's record as `level/<key>` (slashes become underscores) with `imp/level`."""
    metrics = {LEVEL_AXIS: float(record["stage"])}
    for key, value in record.items():
        if key != "stage" and isinstance(value, (int, float)) and not isinstance(value, bool):
            metrics[f"level/{key.replace('/', '_')}"] = float(value)
    for logger in trainer.loggers:
        logger.log_metrics(metrics, step=trainer.global_step)
    return metrics


def plot_levels(
    stages: Sequence[Mapping[str, Any]], keys: Sequence[str], path: Path, title: str, ylabel: str
) -> Path | None:
    """One line per key of the stage records against density (log axis); None if nothing to draw."""
    series = {
        key: [(s["density"], s[key]) for s in stages if s.get(key) is not None] for key in keys
    }
    series = {key: points for key, points in series.items() if points}
    return accuracy_vs_density(series, path, title, ylabel) if series else None
