"""Rules: which weights a pruning step keeps, and how many per layer (scores + allocation).

A rule is a pure function (weights, current masks, target sparsity) -> new masks. It does not
touch the weights, and it only ever shrinks the masks: the kept entries are the top-scoring
*active* ones (`select`), the counts per layer come from an allocation (`keep_counts`), and the
total kept is exactly keep_total(N, sparsity) of the N prunable weights (ALGORITHMS.md section 0).
Each rule binds one score function to one allocation; nothing here is reimplemented.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch

from prunelab.pruning.masks import MaskSet, ones_masks
from prunelab.pruning.policy import check_allocation, keep_counts
from prunelab.pruning.scores import magnitude, random_scores
from prunelab.pruning.selection import select

Tensors = Mapping[str, torch.Tensor]


class Rule:
    """The declared interface of a rule: `masks`, and `check` to refuse what cannot work early."""

    def masks(
        self, params: Tensors, masks: Tensors, sparsity: float, grads: Tensors | None = None
    ) -> MaskSet:
        """New masks at `sparsity` (fraction of all prunable weights that are zero).

        Args:
            params: the prunable weights by name.
            masks: the current masks; their False entries stay False.
            sparsity: the target, in [0, 1].
            grads: the current batch's gradients, for rules that score by them (the rules
                below score without).
        """
        raise NotImplementedError(f"{type(self).__name__} does not define masks()")

    def check(self, params: Tensors, sparsity: float) -> None:
        """Refuse, with a ValueError naming the setting, a rule that cannot reach `sparsity` on
        weights of these shapes (decided before any training step). Default: every rule can."""


@dataclass(frozen=True)
class MagnitudeRule(Rule):
    """Keep the largest |w| (IMP, GlobalMP, GMP, GraNet's pruning step).

    Args:
        allocation: `global`, `layerwise` or `erk` (`prunelab.pruning.policy`).
        min_threshold: GlobalMP's minimum threshold M, percent of all prunable weights (0 = off;
            global allocation only).
    """

    allocation: str = "global"
    min_threshold: float = 0.0

    def __post_init__(self) -> None:
        check_allocation(self.allocation, self.min_threshold)

    def masks(
        self, params: Tensors, masks: Tensors, sparsity: float, grads: Tensors | None = None
    ) -> MaskSet:
        """The top-|w| active weights, as many per layer as the allocation gives."""
        scores = magnitude(params)
        counts = keep_counts(self.allocation, scores, masks, sparsity, self.min_threshold)
        return select(scores, masks, counts)

    def check(self, params: Tensors, sparsity: float) -> None:
        """Refuse a minimum threshold that no allocation at `sparsity` can honour: only layer
        sizes matter (layers below M stay dense, the others keep at least M)."""
        if not self.min_threshold:
            return
        try:
            keep_counts(
                "global", magnitude(params), ones_masks(params), sparsity, self.min_threshold
            )
        except ValueError as exc:
            raise ValueError(f"min_threshold={self.min_threshold}: {exc}") from exc


@dataclass(frozen=True)
class RandomRule(Rule):
    """Keep uniformly random active weights, as many per layer as the allocation gives (random
    pruning; GraNet's sparse initial masks with `erk` or `layerwise`).

    Args:
        allocation: `layerwise` (the same sparsity in every layer), `global` (one random draw
            over all weights: layers keep shares close to their sizes) or `erk`.
        seed: seed of the draw; None = the process's seed at the time of the draw
            (`torch.initial_seed()`, the run's seed). Scores are drawn on the CPU, so one seed
            gives the same masks on any device.
    """

    allocation: str = "layerwise"
    seed: int | None = None

    def __post_init__(self) -> None:
        check_allocation(self.allocation)
        if self.seed is not None and (
            isinstance(self.seed, bool) or not isinstance(self.seed, int)
        ):
            raise ValueError(f"seed={self.seed!r} must be an integer or None")

    def masks(
        self, params: Tensors, masks: Tensors, sparsity: float, grads: Tensors | None = None
    ) -> MaskSet:
        """Random active weights, exact counts per layer."""
        seed = torch.initial_seed() if self.seed is None else self.seed
        scores = random_scores(params, torch.Generator().manual_seed(int(seed)))
        return select(scores, masks, keep_counts(self.allocation, scores, masks, sparsity))
