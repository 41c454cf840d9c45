"""Rules: which weights a pruning step keeps, and how many per layer (scores + allocation).

A rule is a pure function (weights, current masks, target sparsity) -> new masks. It does not
touch the weights, and it only ever shrinks the masks: the kept entries are the top-scoring
*active* ones (`select`), the counts per layer come from an allocation (`keep_counts`), and the
total kept is exactly keep_total(N, sparsity) of the N prunable weights (ALGORITHMS.md section 0).
Each rule binds one score function to one allocation; nothing here is reimplemented.

Level rules (IMP, SAP) prune once per level and are given the level instead of a sparsity:
`FractionRule` keeps exactly keep_total(N, 1 - (1 - f)^L) at level L; `PQIndexRule` lets the PQ
index of the weights decide (`prunelab.pruning.sap`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch

from prunelab.pruning.masks import MaskSet, ones_masks
from prunelab.pruning.nm import check_nm, check_pattern_rule, nm_masks
from prunelab.pruning.policy import check_allocation, keep_counts
from prunelab.pruning.sap import SCOPES, sap_masks
from prunelab.pruning.schedule import imp_density
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
            grads: gradients, for rules that score by them (`SnipRule`: summed over a few
                training batches; the other rules score without).
        """
        raise NotImplementedError(f"{type(self).__name__} does not define masks()")

    def check(self, params: Tensors, sparsity: float) -> None:
        """Refuse, with a ValueError naming the setting, a rule that cannot reach `sparsity` on
        weights of these shapes (decided before any training step). Default: every rule can."""

    def bind(self, network: torch.nn.Module, input_shape: tuple[int, ...]) -> None:
        """Read what the rule needs of the network's structure, once per fit before `check`
        (`prunelab.pruning.channel_rule`: its channel groups). Default: nothing."""


@dataclass(frozen=True)
class MagnitudeRule(Rule):
    """Keep the largest |w| (IMP, GlobalMP, GMP, GraNet's pruning step).

    Args:
        allocation: `global`, `layerwise` or `erk` (`prunelab.pruning.policy`).
        min_threshold: GlobalMP's minimum threshold M, percent of all prunable weights (0 = off;
            global allocation only).
        pattern: `"N:M"` (e.g. `"2:4"`): keep the largest N of every M consecutive input
            weights (`prunelab.pruning.nm`); every layer then has sparsity 1 - N/M, which the
            target must equal. None = unstructured.
    """

    allocation: str = "global"
    min_threshold: float = 0.0
    pattern: str | None = None

    def __post_init__(self) -> None:
        check_allocation(self.allocation, self.min_threshold)
        if self.pattern is not None:
            check_pattern_rule(self.pattern, self.allocation, self.min_threshold)

    def masks(
        self, params: Tensors, masks: Tensors, sparsity: float, grads: Tensors | None = None
    ) -> MaskSet:
        """The top-|w| active weights, as many per layer as the allocation gives."""
        scores = magnitude(params)
        if self.pattern is not None:
            check_nm({n: tuple(m.shape) for n, m in masks.items()}, self.pattern, sparsity)
            return nm_masks(scores, masks, self.pattern)
        counts = keep_counts(self.allocation, scores, masks, sparsity, self.min_threshold)
        return select(scores, masks, counts)

    def check(self, params: Tensors, sparsity: float) -> None:
        """Refuse a minimum threshold that no allocation at `sparsity` can honour: only layer
        sizes matter (layers below M stay dense, the others keep at least M); with a pattern,
        refuse layers it cannot group and a sparsity other than 1 - N/M."""
        if self.pattern is not None:
            check_nm({n: tuple(p.shape) for n, p in params.items()}, self.pattern, sparsity)
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


@dataclass(frozen=True)
class SnipRule(Rule):
    """SNIP (Lee et al. 2019): keep the global top connection sensitivity |w * g| of the active
    weights, g the loss gradients summed over a few training batches, which the caller passes
    as `grads` (the adapter computes them on the network and data); one threshold over all layers,
    ties to the lower index within a layer (`global_counts` + `select`)."""

    def masks(
        self, params: Tensors, masks: Tensors, sparsity: float, grads: Tensors | None = None
    ) -> MaskSet:
        """The top-|w * g| active weights, keep_total(N, sparsity) in all."""
        if grads is None:
            raise ValueError("SnipRule scores by |w * g|: pass the gradients g as grads")
        scores = {n: (params[n].detach() * grads[n].to(params[n].device)).abs() for n in masks}
        return select(scores, masks, keep_counts("global", scores, masks, sparsity))


class LevelRule:
    """The declared interface of a level rule: `masks` of a level, from the end-of-level weights."""

    def masks(self, params: Tensors, masks: Tensors, level: int) -> MaskSet:
        """The masks of `level` (>= 1); their False entries include the current masks' False."""
        raise NotImplementedError(f"{type(self).__name__} does not define masks()")


FRACTION_ALLOCATIONS = ("global", "layerwise")


@dataclass(frozen=True)
class FractionRule(LevelRule):
    """IMP: level L keeps exactly keep_total(N, 1 - (1 - f)^L) of the N prunable weights (no
    compounded rounding), the largest |w| among those still kept.

    Args:
        fraction: f, the share of the remaining weights pruned per level, in (0, 1).
        allocation: `global` (one threshold over all layers) or `layerwise`.
    """

    fraction: float = 0.2
    allocation: str = "global"

    def __post_init__(self) -> None:
        if isinstance(self.fraction, bool) or not 0 < self.fraction < 1:
            raise ValueError(f"fraction={self.fraction} must be in (0, 1)")
        if self.allocation not in FRACTION_ALLOCATIONS:
            raise ValueError(
                f"allocation={self.allocation!r} is not one of {', '.join(FRACTION_ALLOCATIONS)}"
            )

    def sparsity(self, level: int) -> float:
        """The target sparsity of `level`: 1 - (1 - f)^L."""
        return 1.0 - imp_density(level, self.fraction)

    def masks(self, params: Tensors, masks: Tensors, level: int) -> MaskSet:
        """The top-|w| active weights, keep_total(N, sparsity(level)) in all."""
        return MagnitudeRule(self.allocation).masks(params, masks, self.sparsity(level))


@dataclass(frozen=True)
class PQIndexRule(LevelRule):
    """SAP: in each scope unit, prune the count the PQ index of its unpruned weights implies,
    smallest |w| first (`sap_masks`; ALGORITHMS.md section 4). The level only counts rounds.

    Args:
        p, q: the PQ index's norms, 0 < p < q.
        eta: >= 0, loosens the kept-count bound.
        gamma: > 0, scales the pruned fraction.
        beta: in (0, 1], the most of the unpruned weights one round removes.
        scope: `global`, `layer` or `neuron`.
    """

    p: float = 0.5
    q: float = 1.0
    eta: float = 0.0
    gamma: float = 1.0
    beta: float = 0.9
    scope: str = "global"

    def __post_init__(self) -> None:
        if not 0 < self.p < self.q:
            raise ValueError(f"p={self.p}, q={self.q}: the PQ index needs 0 < p < q")
        if self.eta < 0 or self.gamma <= 0 or not 0 < self.beta <= 1:
            raise ValueError(
                f"eta={self.eta} must be >= 0, gamma={self.gamma} > 0, beta={self.beta} in (0, 1]"
            )
        if self.scope not in SCOPES:
            raise ValueError(f"scope={self.scope!r} is not one of {', '.join(SCOPES)}")

    def masks(self, params: Tensors, masks: Tensors, level: int) -> MaskSet:
        """One SAP step over the current weights and masks."""
        rule = {"p": self.p, "q": self.q, "eta": self.eta, "gamma": self.gamma, "beta": self.beta}
        return sap_masks(params, masks, self.scope, **rule)
