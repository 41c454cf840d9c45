"""The instability analysis on W&B: the path as a native line plot over a table, the figure, and
barrier, errors of the ends and distances in the run summary (offline unless W&B is configured,
as for training runs: `prunelab.loggers.wandb_mode`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from prunelab.loggers import wandb_mode


def summary(results: Mapping[str, Any]) -> dict[str, float]:
    """The scalars of a stability result, under `stability/` (W&B run summary keys)."""
    found = {"stability/barrier": results["barrier"]}
    found.update({f"stability/distance/{k}": v for k, v in results["distance"].items()})
    for side, error in zip(("a", "b"), results["copy_errors"]):
        found[f"stability/error_{side}"] = error
    return found


def log_stability(
    results: Mapping[str, Any],
    run_dir: Path,
    name: str,
    config: Mapping[str, Any],
    logger: Mapping[str, Any],
    figure: Path,
) -> None:
    """One W&B run (job type `stability`) holding the path, the figure and the summary.

    Args:
        logger: `project`, `entity` and `mode` (null: offline unless W&B is configured).
    """
    import wandb

    mode = wandb_mode(logger.get("mode"))
    os.environ.setdefault("WANDB_SILENT", "true")
    run = wandb.init(
        project=logger.get("project", "prunelab"),
        entity=logger.get("entity"),
        mode=mode,
        dir=str(run_dir),
        name=name,
        job_type="stability",
        config=dict(config),
    )
    try:
        rows = [[a, e] for a, e in zip(results["alphas"], results["errors"])]
        table = wandb.Table(columns=["alpha", "test/error"], data=rows)
        path = wandb.plot.line(table, "alpha", "test/error", title=f"{name}: error on the path")
        run.log({"stability/path": path, "stability/figure": wandb.Image(str(figure))})
        run.summary.update(summary(results))
    finally:
        run.finish()
