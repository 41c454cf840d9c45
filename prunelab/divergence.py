"""A diverged run stops at once: a non-finite training loss ends fit with a DivergenceError.

Without this, SGD carries on with NaN weights to the end of training and writes a results.json of
NaNs (or of chance accuracy) that looks like a finished run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pytorch_lightning as pl
import torch

from prunelab.errors import DivergenceError


def advice(lr: float | None, clip: float | None) -> str:
    """What usually fixes a diverged run, naming the current values of the settings to change."""
    now = f" (now {lr:g})" if lr is not None else ""
    if clip:
        return f"lower optim.lr{now} or trainer.gradient_clip_val (now {clip:g})"
    return f"lower optim.lr{now} or set trainer.gradient_clip_val"


def non_finite(figures: Mapping[str, Any]) -> dict[str, float]:
    """The entries of `figures` that are numbers but not finite (NaN or infinite)."""
    bad = {}
    for key, value in figures.items():
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        if isinstance(value, float) and not math.isfinite(value):
            bad[key] = value
    return bad


def _loss_of(outputs: Any) -> torch.Tensor | None:
    """The loss in what `training_step` returned: a tensor, or a dict with a `loss` entry."""
    if isinstance(outputs, Mapping):
        outputs = outputs.get("loss")
    return outputs if isinstance(outputs, torch.Tensor) else None


class StopOnDivergence(pl.Callback):
    """Raise DivergenceError after the first training batch whose loss is NaN or infinite.

    Under DDP every rank takes the same decision (any rank's bad loss stops all of them), so no rank
    waits forever in a collective that the others have left.

    Args:
        lr: The configured learning rate, named in the message.
        clip: The configured `trainer.gradient_clip_val`, named in the message.
    """

    def __init__(self, lr: float | None = None, clip: float | None = None) -> None:
        self.lr, self.clip = lr, clip

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        loss = _loss_of(outputs)
        bad = loss is not None and not bool(torch.isfinite(loss.detach()).all())
        if not trainer.strategy.reduce_boolean_decision(bad, all=False):
            return
        value = f"{loss.item():g}" if bad and loss.numel() == 1 else "not finite"
        where = "" if bad else " on another rank"
        raise DivergenceError(
            f"training loss is {value}{where} at step {trainer.global_step} "
            f"(epoch {trainer.current_epoch}): the run diverged; {advice(self.lr, self.clip)}"
        )
