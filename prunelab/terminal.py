"""What a run prints: where it writes and what it changed (first), a progress bar that fits 80
columns, no library chatter, and a warning when a gradual schedule barely acts."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback, RichProgressBar
from pytorch_lightning.callbacks.progress.rich_progress import (
    BatchesProcessedColumn,
    CustomBarColumn,
)
from pytorch_lightning.utilities import rank_zero_only
from rich.progress import TextColumn, TimeElapsedColumn
from torch import Tensor

from prunelab.callbacks.method import PruningMethod
from prunelab.pruning.schedules import Cubic

# Lightning's info lines (GPU/TPU available, the litlogger tip, "`Trainer.fit` stopped", ...);
# its warnings go through `warnings` and are kept.
CHATTY = ("pytorch_lightning.utilities.rank_zero", "lightning.pytorch.utilities.rank_zero")
# The figures the bar shows, in this order, under these short names.
BAR_METRICS = {"train/loss_step": "loss", "val/acc": "acc", "prune/sparsity": "sparsity"}
BAR_WIDTH = 12  # characters of the bar itself: with the figures, a line fits 80 columns
MIN_UPDATES = 3  # a gradual schedule with fewer updates is close to one-shot pruning


def quiet() -> None:
    """Silence Lightning's info chatter and W&B's banners; warnings still show."""
    for name in CHATTY:
        logging.getLogger(name).setLevel(logging.WARNING)
    os.environ.setdefault("WANDB_SILENT", "true")


def start_lines(run_dir: Path, overrides: Sequence[str]) -> list[str]:
    """The block a run opens with: its directory and the settings that differ from the defaults."""
    lines = [f"prunelab: run directory {run_dir}"]
    if overrides:
        lines.append(f"prunelab: settings     {' '.join(overrides)}")
    return lines


@rank_zero_only
def print_start(run_dir: Path) -> None:
    """Print `start_lines` for this run (the command line's overrides, when Hydra ran it)."""
    from hydra.core.hydra_config import HydraConfig

    task = list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []
    print("\n".join(start_lines(run_dir, task)), flush=True)


class CompactProgressBar(RichProgressBar):
    """Lightning's rich bar in 80 columns: a shorter bar, elapsed time only, and the few figures of
    `BAR_METRICS` on the same line, no `v_num`, no epoch-mean loss (Lightning's documented hooks:
    `configure_columns`, `get_metrics`)."""

    def configure_columns(self, trainer: pl.Trainer) -> list:
        return [
            TextColumn("[progress.description]{task.description}"),
            CustomBarColumn(
                bar_width=BAR_WIDTH,
                complete_style=self.theme.progress_bar,
                finished_style=self.theme.progress_bar_finished,
                pulse_style=self.theme.progress_bar_pulse,
            ),
            BatchesProcessedColumn(style=self.theme.batch_progress),
            TimeElapsedColumn(),
        ]

    def get_metrics(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict[str, Any]:
        """The figures of `BAR_METRICS` only (three decimals: a bar has little room); called at
        every refresh, so no other metric is read (on a GPU, reading one waits for it)."""
        shown: dict[str, Any] = {}
        for key, short in BAR_METRICS.items():
            value = trainer.callback_metrics.get(key)
            if isinstance(value, Tensor) and value.numel() == 1:
                shown[short] = round(float(value), 3)
            elif key in trainer.progress_bar_metrics:
                shown[short] = trainer.progress_bar_metrics[key]
        return shown


def few_updates(method: PruningMethod) -> str | None:
    """Why `method`'s gradual schedule is nearly one-shot (fewer than MIN_UPDATES updates)."""
    if not isinstance(method.schedule, Cubic) or len(method.plan) >= MIN_UPDATES:
        return None
    return (
        f"the gradual schedule makes {len(method.plan)} pruning update(s) in this run "
        f"(fewer than {MIN_UPDATES}: close to one-shot); lower pruning.frequency or train longer"
    )


class ScheduleCheck(Callback):
    """One warning line at the start of training when a gradual schedule degenerates."""

    def __init__(self, methods: Sequence[Callback]) -> None:
        self.methods = [m for m in methods if isinstance(m, PruningMethod)]

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        for method in self.methods:  # placed after the methods: their plans are set by now
            reason = few_updates(method)
            if reason and trainer.is_global_zero:
                print(f"prunelab: warning: {reason}", file=sys.stderr, flush=True)
