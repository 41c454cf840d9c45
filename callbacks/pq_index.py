"""SAP, sparsity-informed adaptive pruning with the PQ index (Diao et al. 2023; ALGORITHMS.md
section 4), on IMP's loop.

The loop is `LevelPruning`'s (levels, rewinding to initialization by default, controls, records,
resume); only the amount differs from IMP: at the end of each level the PQ index of the unpruned
weights decides how many to remove, r = ceil(d (1+eta)^(-q/(q-p)) (1-I)^(qp/(q-p))) kept as a
lower bound and c = floor(d * clamp(gamma (1 - r/d), 0, beta)) pruned by magnitude, per scope.
Each level's record and log carry the PQ index of the network (`pq_index`, `prune/pq_index`) and
of every layer (`prune/pq_index/<name>`).

Where the authors' code differs and we do not follow: it prunes the weights of the epoch with the
best *test* accuracy (we prune the end-of-level weights, as IMP does); its rewind restores
parameters but not BatchNorm running statistics (ours restores the whole state at step K); its
threshold prunes `|w| < pivot` (ours removes exactly c weights, ties by index).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytorch_lightning as pl

from prunelab.callbacks.level_report import plot_levels
from prunelab.callbacks.levels import LevelPruning
from prunelab.callbacks.pq_monitor import pq_metrics
from prunelab.errors import ConfigError
from prunelab.pruning.masks import MaskSet
from prunelab.pruning.sap import SCOPES, sap_masks


class PQIndexPruning(LevelPruning):
    """SAP: levels of training; after each, prune the amount the PQ index of the weights implies.

    Args:
        levels: T pruning rounds after the dense round 0 (the authors: 30 for small nets, 15 for
            ResNet-18 / WRN / ResNet-50); `planned_epochs` = (T + 1) x `epochs_per_level`.
        epochs_per_level: epochs of each round (the LR schedule spans one round).
        p, q: the PQ index's norms, 0 < p < q: (0.5, 1) by default, (1, 2) the other published one.
        eta: eta >= 0 loosens the kept-count bound (more pruning).
        gamma: gamma > 0 scales the pruned fraction 1 - r/d.
        beta: at most this fraction of the unpruned weights goes in one round, in (0, 1].
        scope: `global` (all prunable weights as one vector), `layer` or `neuron`.
        rewind: `init` by default (the authors rewind to theta_0); any `LevelPruning` option.
        control, seed, monitor, exclude, collapse_threshold, plot, masks_from, **common: see
            `LevelPruning`.
    """

    def __init__(
        self,
        levels: int,
        epochs_per_level: int,
        p: float = 0.5,
        q: float = 1.0,
        eta: float = 0.0,
        gamma: float = 1.0,
        beta: float = 0.9,
        scope: str = "global",
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
        super().__init__(
            levels, epochs_per_level, rewind, control, seed, monitor, exclude,
            collapse_threshold, plot, masks_from, **common,
        )  # fmt: skip
        if not 0 < p < q:
            raise ConfigError(f"pruning.p={p}, pruning.q={q}: the PQ index needs 0 < p < q")
        if eta < 0:
            raise ConfigError(f"pruning.eta={eta} must be >= 0")
        if gamma <= 0:
            raise ConfigError(f"pruning.gamma={gamma} must be > 0")
        if not 0 < beta <= 1:
            raise ConfigError(f"pruning.beta={beta} must be in (0, 1]")
        if scope not in SCOPES:
            raise ConfigError(f"pruning.scope={scope!r} is not one of {', '.join(SCOPES)}")
        self.p, self.q, self.eta, self.gamma, self.beta = p, q, eta, gamma, beta
        self.scope = scope

    def next_masks(self, trainer: pl.Trainer, pl_module: pl.LightningModule, level: int) -> MaskSet:
        """Prune the SAP count of each scope unit by magnitude, from the end-of-level weights."""
        rule = {"p": self.p, "q": self.q, "eta": self.eta, "gamma": self.gamma, "beta": self.beta}
        return sap_masks(self._params, self.masks, self.scope, **rule)

    def level_record(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict[str, Any]:
        """IMP's record plus the PQ index of the end-of-level weights (logged per layer too)."""
        record = super().level_record(trainer, pl_module)
        metrics = pq_metrics(self._params, self.masks, self.p, self.q)
        record["pq_index"] = metrics["prune/pq_index"]
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=trainer.global_step)
        return record

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_fit_end(trainer, pl_module)
        path = self.plot_path(trainer, "pq_index_vs_density.png")
        if path is not None:
            title = f"SAP (p={self.p}, q={self.q}, scope={self.scope})"
            plot_levels(self.stages, ["pq_index", "test/acc"], path, title, "PQ index / accuracy")
