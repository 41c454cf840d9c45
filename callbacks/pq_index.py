"""SAP, sparsity-informed adaptive pruning with the PQ index (Diao et al. 2023; ALGORITHMS.md
section 4), on IMP's loop.

A construction on IMP's parts: `PQIndexRule` on `Levels(levels, epochs_per_level)` with
`LevelRewind(rewind, control, seed)` (rewinding to initialization by default), run by
`LevelPruning`; only the amount differs from IMP: at the end of each level the PQ index of the
unpruned weights decides how many to remove, r = ceil(d (1+eta)^(-q/(q-p)) (1-I)^(qp/(q-p)))
kept as a lower bound and c = floor(d * clamp(gamma (1 - r/d), 0, beta)) pruned by magnitude, per
scope.
Each level's record and log carry the PQ index of the network (`pq_index`, `prune/pq_index`) and
of every layer (`prune/pq_index/<name>`): the `PQIndexProbe`.

Where the authors' code differs and we do not follow: it prunes the weights of the epoch with the
best *test* accuracy (we prune the end-of-level weights, as IMP does); its rewind restores
parameters but not BatchNorm running statistics (ours restores the whole state at step K); its
threshold prunes `|w| < pivot` (ours removes exactly c weights, ties by index).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from prunelab.callbacks.level_records import LevelProbe
from prunelab.callbacks.levels import LevelPruning, pruning_settings
from prunelab.callbacks.pq_monitor import pq_metrics
from prunelab.errors import ConfigError
from prunelab.pruning.actions import LevelRewind
from prunelab.pruning.rules import PQIndexRule
from prunelab.pruning.sap import SCOPES
from prunelab.pruning.schedules import Levels


@dataclass(frozen=True)
class PQIndexProbe(LevelProbe):
    """The PQ index of each level's end-of-level weights: in its record (`pq_index`), logged for
    the network and per layer, and plotted with the test accuracy against density."""

    p: float
    q: float
    scope: str

    def measure(
        self, params: Mapping[str, torch.Tensor], masks: Mapping[str, torch.Tensor]
    ) -> tuple[dict[str, float], dict[str, float]]:
        metrics = pq_metrics(params, masks, self.p, self.q)
        return {"pq_index": metrics["prune/pq_index"]}, metrics

    def figure(self) -> tuple[str, list[str], str, str]:
        title = f"SAP (p={self.p}, q={self.q}, scope={self.scope})"
        return "pq_index_vs_density.png", ["pq_index"], title, f"PQ index I(p={self.p}, q={self.q})"


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
        rewind: `init` by default (the authors rewind to theta_0); any `LevelRewind` option.
        control, seed: see `IterativeMagnitudePruning`.
        monitor, masks_from, exclude, collapse_threshold, plot, **common: see `LevelPruning`.
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
        with pruning_settings():
            schedule = Levels(levels, epochs_per_level)
            action = LevelRewind(rewind, control, seed)
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
        rule = PQIndexRule(p, q, eta, gamma, beta, scope)
        super().__init__(
            rule, schedule, action, monitor=monitor, masks_from=masks_from,
            probe=PQIndexProbe(p, q, scope), exclude=exclude,
            collapse_threshold=collapse_threshold, plot=plot, **common,
        )  # fmt: skip
        self.p, self.q, self.eta, self.gamma, self.beta = p, q, eta, gamma, beta
        self.scope = scope
