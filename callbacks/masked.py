"""MaskedTraining: the callback that owns the masks, which every pruning callback builds on.

It keeps pruned weights exactly zero (after every optimizer step, and whenever masks change or
weights are loaded), zeroes the optimizer's state at pruned positions, saves masks in checkpoints,
keeps them identical on every DDP rank, and reports densities. Subclasses decide *when* and *which*
weights to prune and hand the new masks to `set_masks`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities import rank_zero_warn

from prunelab.plotting import layer_density_bars
from prunelab.pruning.masks import densities, is_subset, ones_masks, sparsity, validate_masks
from prunelab.pruning.targets import prunable_parameters


class MaskedTraining(pl.Callback):
    """Own and enforce one boolean mask per prunable weight.

    Args:
        exclude: name globs of conv/linear weights that are never pruned (e.g. ``["fc.weight"]``).
        collapse_threshold: warn, naming the layer, when a layer's density falls below this.
        plot: draw the per-layer density bar chart into ``<default_root_dir>/plots`` at the end.
    """

    def __init__(
        self, exclude: Sequence[str] = (), collapse_threshold: float = 0.01, plot: bool = True
    ) -> None:
        if not 0 <= collapse_threshold < 1:
            raise ValueError(f"collapse_threshold={collapse_threshold} must be in [0, 1)")
        self.exclude = tuple(exclude)
        self.collapse_threshold = collapse_threshold
        self.plot = plot
        self.masks: dict[str, torch.Tensor] | None = None
        self.stages: list[dict[str, Any]] = []
        self._params: dict[str, torch.nn.Parameter] = {}
        self._last_step = -1

    @property
    def masks(self) -> dict[str, torch.Tensor] | None:
        """Parameter name -> bool mask (True = kept), on the parameter's device; None before fit."""
        return self._masks

    @masks.setter
    def masks(self, masks: dict[str, torch.Tensor] | None) -> None:
        self._masks = masks
        self._pairs: list[tuple[torch.nn.Parameter, torch.Tensor]] | None = None  # enforce's cache

    # -- the mask mechanics every method shares ------------------------------------------------
    def params(self, pl_module: pl.LightningModule) -> dict[str, torch.nn.Parameter]:
        """The prunable weights of the module's network, by name."""
        return prunable_parameters(getattr(pl_module, "network", pl_module), self.exclude)

    def set_masks(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        masks: dict[str, torch.Tensor],
        *,
        may_grow: bool = False,
        report: bool = True,
    ) -> None:
        """Install new masks: the same on every rank (rank 0's), then enforced and reported.

        Args:
            may_grow: allow positions to come back (regrowth); otherwise masks only shrink.
            report: log the densities (off when a step's densities were just logged).
        """
        masks = trainer.strategy.broadcast({n: m.cpu() for n, m in masks.items()}, src=0)
        validate_masks(masks, self._params)
        if self.masks is not None and not may_grow and not is_subset(masks, self._cpu_masks()):
            raise RuntimeError("a pruning step tried to revive pruned weights")
        self.masks = {n: m.to(self._params[n].device) for n, m in masks.items()}
        self.enforce(trainer)
        if report:
            self.report(trainer)

    @torch.no_grad()
    def enforce(self, trainer: pl.Trainer) -> None:
        """Zero pruned weights and the optimizer state at their positions, in place.

        The hot path (once per optimizer step), so it walks a cached list of (weight, pruned
        positions), inverted once per set of masks rather than at every step. Same effect as
        `apply_masks` + `zero_momentum`: every state tensor shaped like its weight (SGD's
        momentum, Adam's moments) is zeroed at pruned positions; scalar state is left alone.
        """
        if self.masks is None:
            return
        if self._pairs is None:  # rebuilt whenever `masks` is reassigned or `setup` runs
            self._pairs = [(self._params[n], ~m) for n, m in self.masks.items()]
        states = [optimizer.state for optimizer in trainer.optimizers]
        for param, pruned in self._pairs:
            param.masked_fill_(pruned, 0.0)  # not a multiply: a NaN/inf weight becomes exactly 0
            for state in states:
                for value in state.get(param, {}).values():
                    if torch.is_tensor(value) and value.shape == param.shape:
                        value.masked_fill_(pruned.to(value.device), 0)

    def report(self, trainer: pl.Trainer) -> dict[str, float]:
        """Log total and per-layer density; warn about layers that have (nearly) collapsed."""
        per_layer = densities(self.masks)
        metrics = {"prune/sparsity": sparsity(self.masks)}
        metrics.update({f"prune/layer/{n}": d for n, d in per_layer.items()})
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=trainer.global_step)
        collapsed = [n for n, d in per_layer.items() if d < self.collapse_threshold]
        if collapsed:
            rank_zero_warn(
                f"layer collapse: density below {self.collapse_threshold} in {', '.join(collapsed)}"
            )
        return metrics

    def _cpu_masks(self) -> dict[str, torch.Tensor]:
        return {n: m.cpu() for n, m in self.masks.items()}

    # -- Lightning hooks -----------------------------------------------------------------------
    def _place_masks(self) -> None:
        """Start from all-ones masks, or check restored ones and move them to the weights."""
        if self.masks is None:
            self.masks = ones_masks(self._params)
        validate_masks(self.masks, self._params)
        if any(m.device != self._params[n].device for n, m in self.masks.items()):
            self.masks = {n: m.to(self._params[n].device) for n, m in self.masks.items()}

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._params = self.params(pl_module)
        self._pairs = None

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Runs after a checkpoint's weights and masks were restored: enforce them at once.
        self._last_step = -1
        self._place_masks()
        self.enforce(trainer)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Lightning restores the optimizer state (and, for some strategies, the callbacks) only
        # after on_fit_start: enforce again so restored momentum is zero at pruned positions
        # before the first forward.
        self._place_masks()
        self.enforce(trainer)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        # One enforcement per optimizer step: under gradient accumulation several batches share
        # a step, and the weights only move when global_step advances.
        if trainer.global_step != self._last_step:
            self._last_step = trainer.global_step
            self.enforce(trainer)

    def on_load_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        self._last_step = -1  # weights were replaced: enforce again at the next step

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.plot and trainer.is_global_zero and self.masks is not None:
            path = Path(trainer.default_root_dir) / "plots" / "layer_density.png"
            title = f"per-layer density, total sparsity {sparsity(self.masks):.4f}"
            layer_density_bars(densities(self.masks), path, title)

    def state_dict(self) -> dict[str, Any]:
        masks = None if self.masks is None else self._cpu_masks()
        return {"masks": masks, "stages": list(self.stages)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.masks = state_dict["masks"]
        self.stages = list(state_dict.get("stages", []))
