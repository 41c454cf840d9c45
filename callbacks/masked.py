"""MaskedTraining: the Lightning adapter of a MaskState, which every pruning callback builds on.

It selects the prunable weights (`prunelab.pruning.targets`), keeps one `MaskState` over them
(enforced after every optimizer step, and whenever masks change or weights are loaded), makes new
masks identical on every DDP rank (rank 0's), saves them in checkpoints, and reports densities:
`prune/sparsity` through `pl_module.log` (so `trainer.callback_metrics` has it for
`ModelCheckpoint` / `EarlyStopping` and the progress bar), and every mask change, with each
layer's density, to the loggers at the step it happened. Subclasses decide *when* and *which*
weights to prune and hand the new masks to `set_masks`. No file is written unless `plot_dir`
is given.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities import rank_zero_warn

from prunelab.callbacks.base import PruningCallback
from prunelab.plotting import LayerFractions, layer_density_bars, run_title
from prunelab.pruning.masks import MaskSet, densities, sparsity
from prunelab.pruning.state import MaskState
from prunelab.pruning.targets import Target, select_targets
from prunelab.wandb_log import log_densities


def pruning_root(pl_module: pl.LightningModule) -> torch.nn.Module:
    """The module whose parameter names the targets use.

    The rule: `pl_module.network` when it is an `nn.Module` (prunelab's `Classifier` keeps its
    network there, so configs say `fc.weight`), otherwise the LightningModule itself (a network
    at `self.net` is named `net.fc.weight`).
    """
    network = getattr(pl_module, "network", None)
    return network if isinstance(network, torch.nn.Module) else pl_module


class MaskedTraining(PruningCallback):
    """Own and enforce one boolean mask per prunable weight.

    Args:
        exclude: name globs of conv/linear weights that are never pruned (e.g. ``["fc.weight"]``).
        collapse_threshold: warn, naming the layer, when a layer's density falls below this.
        plot: draw the per-layer density bar chart at the end (into `plot_dir`).
        parameters_to_prune: the weights to prune: name globs, modules, or `(module, "weight")`
            pairs (as Lightning's `ModelPruning`); default every conv and linear weight.
        plot_dir: where figures go; None (the default) writes no file.
        prog_bar: show `prune/sparsity` in the progress bar.
    """

    def __init__(
        self,
        exclude: Sequence[str] = (),
        collapse_threshold: float = 0.01,
        plot: bool = True,
        *,
        parameters_to_prune: Sequence[Target] | None = None,
        plot_dir: str | Path | None = None,
        prog_bar: bool = False,
    ) -> None:
        if not 0 <= collapse_threshold < 1:
            raise ValueError(f"collapse_threshold={collapse_threshold} must be in [0, 1)")
        self.exclude = (exclude,) if isinstance(exclude, str) else tuple(exclude)
        self.collapse_threshold = collapse_threshold
        self.plot, self.prog_bar = plot, prog_bar
        self.plot_dir = None if plot_dir is None else Path(plot_dir)
        self.parameters_to_prune = parameters_to_prune
        self.state: MaskState | None = None  # built at fit start over the selected weights
        self._restored: MaskSet | None = None  # masks from a checkpoint, until then
        self.stages: list[dict[str, Any]] = []
        self._params: dict[str, torch.nn.Parameter] = {}
        self._last_step = -1

    @property
    def masks(self) -> MaskSet | None:
        """Parameter name -> bool mask (True = kept), on the parameter's device; None before fit
        (or the restored masks, until fit starts)."""
        return self.state.masks if self.state is not None else self._restored

    @masks.setter
    def masks(self, masks: MaskSet | None) -> None:
        """Masks to start from (as a checkpoint restores them); installed when fit starts."""
        self._restored, self.state = masks, None

    # -- the mask mechanics every method shares ------------------------------------------------
    def params(self, pl_module: pl.LightningModule) -> dict[str, torch.nn.Parameter]:
        """The weights this callback prunes, named as `pruning_root(pl_module)` names them."""
        return select_targets(pruning_root(pl_module), self.parameters_to_prune, self.exclude)

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
        self.state.install(masks, may_grow=may_grow)
        self.enforce(trainer)
        if report:
            self.report(trainer)

    def enforce(self, trainer: pl.Trainer) -> None:
        """Zero pruned weights and the optimizer state at their positions (`MaskState.enforce`)."""
        if self.state is not None:
            self.state.enforce(trainer.optimizers)

    def report(self, trainer: pl.Trainer) -> dict[str, float]:
        """Log total and per-layer density to the loggers at this step; warn about layers that
        have (nearly) collapsed."""
        per_layer = densities(self.masks)
        metrics = {"prune/sparsity": sparsity(self.masks)}
        # W&B: one table and bar chart per mask change; other loggers: one figure per layer.
        log_densities(trainer.loggers, metrics, per_layer, trainer.global_step)
        metrics.update({f"prune/layer/{n}": d for n, d in per_layer.items()})
        collapsed = [n for n, d in per_layer.items() if d < self.collapse_threshold]
        if collapsed:
            rank_zero_warn(
                f"layer collapse: density below {self.collapse_threshold} in {', '.join(collapsed)}"
            )
        return metrics

    def _cpu_masks(self) -> dict[str, torch.Tensor]:
        return self.state.cpu_masks()

    # -- Lightning hooks -----------------------------------------------------------------------
    def _place_masks(self) -> None:
        """Build the MaskState: all-ones masks, or the restored ones (checked, on the device)."""
        if self.state is None or self._restored is not None:
            self.state = MaskState(self._params, self._restored)
            self._restored = None

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self.state is not None:  # a new fit (or a changed network): rebuilt at fit start
            self._restored, self.state = self.state.cpu_masks(), None
        self._params = self.params(pl_module)

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
        # Into callback_metrics (monitorable, progress bar); the loggers get `report`'s rows.
        if isinstance(pl_module, pl.LightningModule):  # not in a unit test's stand-in module
            value = self.state.sparsity() if self.state is not None else 0.0
            pl_module.log("prune/sparsity", value, logger=False, prog_bar=self.prog_bar)

    def on_load_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        self._last_step = -1  # weights were replaced: enforce again at the next step

    def plot_path(self, trainer: pl.Trainer, name: str) -> Path | None:
        """Where figure `name` goes: `<plot_dir>/<name>` on rank 0 when plotting, else None."""
        if not self.plot or self.plot_dir is None or not trainer.is_global_zero:
            return None
        return self.plot_dir / name

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        path = self.plot_path(trainer, "layer_density.png")
        if path is not None and self.masks is not None:
            method = f"{type(self).__name__}: {100 * sparsity(self.masks):.2f}% sparse"
            sizes = {name: mask.numel() for name, mask in self.masks.items()}
            kept = LayerFractions(densities(self.masks), sizes)
            layer_density_bars(kept, path, run_title(pl_module, method))

    def state_dict(self) -> dict[str, Any]:
        masks = self.state.cpu_masks() if self.state is not None else self._restored
        return {"masks": masks, "stages": list(self.stages)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.masks = state_dict["masks"]
        self.stages = list(state_dict.get("stages", []))
