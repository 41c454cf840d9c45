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
    stages: Sequence[Mapping[str, Any]],
    keys: Sequence[str],
    path: Path,
    title: str,
    right: Sequence[str] = (),
    right_label: str = "",
) -> Path | None:
    """The accuracies `keys` of the stage records (fractions) against density, the dense stage's
    test accuracy as the reference line, and the figures `right` (e.g. the PQ index) on a twin
    axis labelled `right_label`; None if there is nothing to draw."""

    def series(names: Sequence[str]) -> dict[str, list[tuple[float, float]]]:
        found = {k: [(s["density"], s[k]) for s in stages if s.get(k) is not None] for k in names}
        return {k: points for k, points in found.items() if points}

    left = series(keys)
    dense = [s["test/acc"] for s in stages if s.get("density") == 1.0 and "test/acc" in s]
    if not left:
        return None
    return accuracy_vs_density(
        left,
        path,
        title,
        "accuracy at the end of each level (%)",
        dense=dense[0] if dense else None,
        right=series(right),
        right_label=right_label,
    )
