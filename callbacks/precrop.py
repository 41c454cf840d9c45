"""PreCropping (Cai et al. 2022), our interpretation of ALGORITHMS.md section 5: train a physically
narrower dense network instead of a masked one.

In `setup`, before the optimizer exists, a pruning-at-init source gives per-layer densities at the
target density; they become per-group channel counts (`prunelab.pruning.precrop`), the network is
cut to them with Torch-Pruning's dependency graph, initialised afresh, and put in place of
`pl_module.network`. Training then runs as usual, and everything measured after fit (parameters,
MACs, speed) is the narrow network's.

Checkpoints carry the channel plan under `checkpoint["prunelab_precrop"]` (and in this callback's
state). On resume (`trainer.fit(ckpt_path=...)`) or evaluation with a checkpoint, the recorded plan
is applied before the weights load. Lightning calls no callback hook between reading a checkpoint
and loading the model's weights (callbacks' `on_load_checkpoint` and `load_state_dict` come after),
and `trainer.ckpt_path` is only set after `setup`. So, from `setup` until the restore is over, the
callback holds a PyTorch load-state-dict pre-hook on the LightningModule (a registered hook, removed
again; no method of the module is replaced). When the weights being loaded do not fit the current
network, the hook reads the plan of the checkpoint Lightning is restoring (`trainer.ckpt_path`,
through the one loader) and cuts the network to it before PyTorch copies the weights.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.utilities import rank_zero_warn
from torch import nn
from torch.utils.hooks import RemovableHandle

from prunelab.callbacks.base import PruningCallback
from prunelab.callbacks.snip import check_density, training_batches
from prunelab.errors import ConfigError
from prunelab.plotting import LayerFractions, layer_density_bars, run_title
from prunelab.pruning.channels import PLAN_KEY, apply_plan
from prunelab.pruning.layer_densities import SOURCES
from prunelab.pruning.precrop import BUDGETS, plan_from_checkpoint, precrop_plan, reinit_

INITS = ("fresh", "inherit")


class PreCropping(PruningCallback):
    """Replace the network by a narrower dense one before training (structured pruning at init).

    Args:
        density: the budget: fraction of the prunable weights (`budget=params`) or of their MACs
            (`budget=macs`) the narrow network keeps, in (0, 1].
        source: per-layer densities from `snip`, `synflow`, `erk`, `uniform` or `convex`.
        budget: `params` or `macs`.
        exponent: channel keep ratio a = p ** exponent (0.5: the sqrt rule).
        multiple: channel counts are multiples of this (8 or 16 suit CPU/GPU kernels; 1 = any).
        batches: training batches for the `snip` source.
        iterations: rounds of the `synflow` source.
        init: `fresh` (initialise the narrow network anew, the paper's setting) or `inherit`
            (keep the full network's initial values of the surviving channels).
        plot: draw the kept fraction of channels per layer (`channels.png`) into `plot_dir`.
        plot_dir: where figures go; None (the default) writes no file.
    """

    def __init__(
        self,
        density: float,
        source: str = "snip",
        budget: str = "params",
        exponent: float = 0.5,
        multiple: int = 1,
        batches: int = 4,
        iterations: int = 100,
        init: str = "fresh",
        plot: bool = True,
        *,
        plot_dir: str | Path | None = None,
    ) -> None:
        check_density(density, batches)
        for key, value, valid in (("source", source, SOURCES), ("budget", budget, BUDGETS)):
            if value not in valid:
                raise ConfigError(f"pruning.{key}={value!r} is not one of {', '.join(valid)}")
        if init not in INITS:
            raise ConfigError(f"pruning.init={init!r} is not one of {', '.join(INITS)}")
        if not isinstance(exponent, (int, float)) or not 0 < exponent <= 1:
            raise ConfigError(f"pruning.exponent={exponent!r} must be a number in (0, 1]")
        if isinstance(multiple, bool) or not isinstance(multiple, int) or multiple < 1:
            raise ConfigError(f"pruning.multiple={multiple!r} must be an integer >= 1")
        if not isinstance(iterations, int) or iterations < 1:
            raise ConfigError(f"pruning.iterations={iterations!r} must be an integer >= 1")
        self.density, self.source, self.budget = float(density), source, budget
        self.exponent, self.multiple = float(exponent), multiple
        self.batches, self.iterations = batches, iterations
        self.init, self.plot = init, plot
        self.plot_dir = None if plot_dir is None else Path(plot_dir)
        self.plan: dict[str, Any] | None = None
        self._cropped: nn.Module | None = None  # the network this callback put in place
        self._full: nn.Module | None = None  # full-width copy, kept until weights are restored
        self._hook: RemovableHandle | None = None  # the pre-hook on the module, setup to restore

    # -- the plan --------------------------------------------------------------------------------
    def compute_plan(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict[str, Any]:
        """The channel plan for the module's (full-width) network at this callback's settings."""
        size = getattr(trainer.datamodule, "image_size", 32)
        batches = training_batches(trainer, self.batches) if self.source == "snip" else ()
        return precrop_plan(
            pl_module.network,
            (3, size, size),
            self.density,
            self.source,
            self.budget,
            self.exponent,
            self.multiple,
            batches=batches,
            iterations=self.iterations,
            device=trainer.strategy.root_device,
        )

    def install(
        self, pl_module: pl.LightningModule, full: nn.Module, plan: dict, fresh: bool
    ) -> None:
        """Cut `full` to `plan` and make it the module's network."""
        network = apply_plan(full, plan)
        if fresh:
            reinit_(network)
        pl_module.network = network
        self._cropped, self.plan = network, plan
        self.report(pl_module.trainer)

    def report(self, trainer: pl.Trainer) -> None:
        """Log the budget reached and every layer's channel count; plot the kept fractions."""
        plan = self.plan
        achieved = plan.get("achieved", float("nan"))  # absent from hand-made plans
        metrics = {"precrop/achieved": achieved}
        metrics.update({f"precrop/channels/{n}": c for n, c in plan["channels"].items()})
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=trainer.global_step)
        if self.plot and self.plot_dir is not None and trainer.is_global_zero:
            kept = {n: c / plan["widths"][n] for n, c in plan["channels"].items()}
            kept = LayerFractions(kept, plan["widths"])
            method = f"PreCropping: {plan.get('budget')} budget {achieved:.4f}"
            title = run_title(trainer.lightning_module, method)
            layer_density_bars(kept, self.plot_dir / "channels.png", title, what="channels")

    def _cropped_now(self, pl_module: pl.LightningModule) -> bool:
        return self._cropped is not None and pl_module.network is self._cropped

    def _no_plan(self) -> RuntimeError:
        return RuntimeError(
            f"the checkpoint has no channel plan ('{PLAN_KEY}'): it was not written by a "
            "PreCropping run, so its weights do not fit a cropped network"
        )

    def _fits(self, network: nn.Module, state_dict: Mapping[str, Any], prefix: str) -> bool:
        """Whether every tensor of `network` that `state_dict` holds has the same shape there."""
        for name, tensor in network.state_dict().items():
            stored = state_dict.get(prefix + name)
            if stored is not None and tuple(stored.shape) != tuple(tensor.shape):
                return False
        return True

    def before_weights_load(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, state_dict: Mapping, prefix: str
    ) -> None:
        """Put the architecture of the checkpoint being restored in place before its weights load.

        Nothing to do when the weights fit the network as it is (a resume with the same plan).
        Otherwise the plan comes from the checkpoint Lightning is restoring, `trainer.ckpt_path`
        (set before the model's weights load); a module loaded by hand, without a checkpoint
        being restored, is left to PyTorch's own size-mismatch error.
        """
        if self._fits(pl_module.network, state_dict, prefix + "network."):
            return
        path = trainer.ckpt_path
        if not path:
            return
        plan = plan_from_checkpoint(path)
        cropped = self._cropped_now(pl_module)
        if plan is None:
            if cropped:
                raise self._no_plan()
            return
        full = self._full if cropped else pl_module.network
        if full is None:
            raise RuntimeError("the full-width network is gone: cannot apply the checkpoint's plan")
        self._full = None
        self.install(pl_module, full, plan, fresh=False)

    def _pre_hook(
        self, trainer: pl.Trainer, module: nn.Module, state_dict: Mapping, prefix: str, *_: Any
    ) -> None:
        self.before_weights_load(trainer, module, state_dict, prefix)

    def _unhook(self) -> None:
        if self._hook is not None:
            self._hook.remove()
            self._hook = None

    @property
    def summary(self) -> dict[str, float]:
        """For results.json: the narrow network's share of the full network's prunable weights and
        of their MACs, so a report can place it at its structured sparsity (it has no zeros)."""
        plan = self.plan or {}
        return {f"precrop/{k}": plan[k] for k in ("params_kept", "macs_kept") if k in plan}

    # -- Lightning hooks -------------------------------------------------------------------------
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if not isinstance(getattr(pl_module, "network", None), nn.Module):
            raise RuntimeError("PreCropping replaces `pl_module.network`: keep the model there")
        self._unhook()  # a hook left by an earlier run (or another module) goes first
        hook = partial(self._pre_hook, trainer)
        self._hook = pl_module.register_load_state_dict_pre_hook(hook)
        if stage != "fit" or pl_module.network is self._cropped:
            return  # evaluation takes the plan from its checkpoint; test after fit is cropped
        plan = self.compute_plan(trainer, pl_module) if trainer.is_global_zero else None
        plan = trainer.strategy.broadcast(plan, src=0)
        self._full = copy.deepcopy(pl_module.network)
        self.install(pl_module, pl_module.network, plan, fresh=self.init == "fresh")

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._full = None  # any checkpoint has been restored by now

    def on_load_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        # Runs right after the model's weights were restored: the pre-hook has done its part.
        self._unhook()
        plan = checkpoint.get(PLAN_KEY)
        if plan is None:
            if self._cropped_now(pl_module):
                raise self._no_plan()
            return
        settings = {k: plan.get(k) for k in ("source", "density", "budget")}
        if settings != {"source": self.source, "density": self.density, "budget": self.budget}:
            rank_zero_warn(f"the checkpoint was cropped with {settings}; its plan is used")

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._unhook()

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        self._unhook()

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        if self.plan is not None:
            checkpoint[PLAN_KEY] = self.plan

    def state_dict(self) -> dict[str, Any]:
        return {"plan": self.plan}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        plan = state_dict.get("plan")
        if self.plan is not None and plan is not None and plan["channels"] != self.plan["channels"]:
            raise RuntimeError("the checkpoint's callback state holds another channel plan")
        self.plan = self.plan or plan
