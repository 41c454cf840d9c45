"""After-pruning actions: what a method does at its update steps besides pruning.

`Regrow` is GraNet's zero-cost neuroregeneration (ALGORITHMS.md section 3): at every update step
after the first optimizer step, per layer, drop ceil(r * nnz) of the smallest-magnitude active
weights and regrow as many at the inactive positions with the largest |gradient| of the current
batch (`prunelab.pruning.regrow`), r decaying with a cosine over training
(`prunelab.pruning.schedule.cosine_decay`). Each layer keeps its count, so regrowth never changes
the sparsity a schedule set. The action keeps its run record (the last r, the weights regrown so
far) and saves it in checkpoints. (Rewinding, the other family of actions, comes with IMP's
levels.)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from prunelab.pruning.masks import MaskSet, count_kept
from prunelab.pruning.regrow import prune_and_regrow
from prunelab.pruning.schedule import cosine_decay

Tensors = Mapping[str, torch.Tensor]


@dataclass
class Regrow:
    """Drop and regrow a share r of each layer's active weights at every update step.

    Args:
        fraction: r at step 0; 0 keeps the masks as they are (then the method is plain GMP).
        fraction_min: the floor r decays to with a cosine over the whole run (<= `fraction`).
    """

    fraction: float = 0.5
    fraction_min: float = 0.005
    fraction_now: float = field(init=False)  # r of the last update
    regrown_total: int = field(default=0, init=False)  # weights regrown over the run

    def __post_init__(self) -> None:
        if not 0.0 <= self.fraction_min <= self.fraction <= 1.0:
            raise ValueError(
                f"regrowth fractions must satisfy 0 <= fraction_min={self.fraction_min} "
                f"<= fraction={self.fraction} <= 1"
            )
        self.fraction_now = self.fraction

    def acts_at(self, step: int) -> bool:
        """Whether the action runs at update step `step` (optimizer steps done): from step 1 on,
        since it needs the gradient of the batch of that step, and none exists before."""
        return step > 0

    def fraction_at(self, step: int, total_steps: int) -> float:
        """r after `step` of `total_steps` optimizer steps: cosine from `fraction` to the floor."""
        return cosine_decay(step, max(total_steps, 1), self.fraction, self.fraction_min)

    def masks(self, masks: Tensors, params: Tensors, grads: Tensors, fraction: float) -> MaskSet:
        """New masks: per layer, the ceil(r * nnz) smallest |w| dropped, as many regrown by the
        largest |grad| among the inactive positions (`prune_and_regrow`)."""
        new, _ = prune_and_regrow(masks, params, grads, fraction)
        return new

    def record(
        self, before: Tensors, pruned: Tensors, after: Tensors, fraction: float
    ) -> dict[str, float]:
        """Count one update into the run record and return its metrics.

        Args:
            before: the masks before the update step (before its pruning).
            pruned: the masks after pruning, before regrowth.
            after: the masks installed after regrowth.
            fraction: the r used.

        Returns:
            `prune/regrow_fraction` (r), `prune/regrown` (weights regrown) and `prune/churn`
            (the share of the active weights after the update that were inactive before it).
        """
        regrown = sum(int((after[n] & ~pruned[n]).sum()) for n in after)
        new = sum(int((after[n] & ~before[n]).sum()) for n in after)
        active = count_kept(after)
        self.fraction_now, self.regrown_total = fraction, self.regrown_total + regrown
        churn = new / active if active else 0.0
        return {
            "prune/regrow_fraction": fraction,
            "prune/regrown": float(regrown),
            "prune/churn": churn,
        }

    def summary(self) -> dict[str, float]:
        """Final results entries: the weights regrown over the run."""
        return {"prune/regrown_total": self.regrown_total}

    def state_dict(self) -> dict[str, Any]:
        """The run record, under the keys GraNet's checkpoints have always used."""
        return {"regrow_fraction_now": self.fraction_now, "regrown_total": self.regrown_total}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore the run record (older checkpoints without it: a fresh record)."""
        self.fraction_now = state.get("regrow_fraction_now", self.fraction)
        self.regrown_total = state.get("regrown_total", 0)
