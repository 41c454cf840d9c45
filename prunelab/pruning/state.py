"""MaskState: the masks of one set of prunable weights, and the one place that enforces them.

Invariants, held from `install` on:
- there is exactly one `torch.bool` mask per weight, of its shape, on its device;
- masks only shrink, unless an install says `may_grow` (regrowth);
- after `enforce`, every pruned weight is exactly 0 (+0, even if it held NaN or inf), and so is
  every per-weight optimizer state entry at a pruned position (SGD's momentum, Adam's moments:
  any state tensor shaped like its weight); scalar state (Adam's `step`) is left alone.

`enforce` runs once per optimizer step, so it walks a list of (weight, pruned positions) inverted
once per installed mask set. No Lightning here: callbacks adapt hooks to this object.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch

from prunelab.pruning.masks import (
    MaskSet,
    densities,
    is_subset,
    ones_masks,
    sparsity,
    validate_masks,
    zero_pruned,
)


class MaskState:
    """Masks over `params` (name -> weight), enforced on the weights and optimizer state.

    Args:
        params: the prunable weights by name, as the pruning targets name them.
        masks: initial masks (True = kept); default all-True (nothing pruned).
    """

    def __init__(self, params: Mapping[str, torch.Tensor], masks: MaskSet | None = None) -> None:
        self.params = dict(params)
        self._masks: MaskSet = {}
        self._pruned: list[tuple[torch.Tensor, torch.Tensor]] | None = None
        self._sparsity = 0.0
        self.install(masks if masks is not None else ones_masks(self.params), may_grow=True)

    @property
    def masks(self) -> MaskSet:
        """Name -> bool mask (True = kept), on each weight's device. Read-only: use `install`."""
        return self._masks

    def install(self, masks: Mapping[str, torch.Tensor], *, may_grow: bool = False) -> None:
        """Replace the masks (validated; moved to the weights' devices). Does not enforce.

        Raises:
            ValueError: the masks do not fit the weights.
            RuntimeError: they would revive pruned weights and `may_grow` is False.
        """
        validate_masks(masks, self.params)
        if not may_grow and not is_subset(self.cpu_masks(masks), self.cpu_masks()):
            raise RuntimeError("a pruning step tried to revive pruned weights")
        self._masks = {n: m.to(self.params[n].device) for n, m in masks.items()}
        self._pruned = None
        self._sparsity = sparsity(self._masks)  # read every training step: counted once here

    @torch.no_grad()
    def enforce(self, optimizers: Iterable[torch.optim.Optimizer] = ()) -> None:
        """Zero pruned weights, and the optimizers' per-weight state there, in place."""
        if self._pruned is None:
            self._pruned = [(self.params[n], ~m) for n, m in self._masks.items()]
        states = [optimizer.state for optimizer in optimizers]
        for param, pruned in self._pruned:
            zero_pruned(param, pruned, [state.get(param, {}) for state in states])

    def cpu_masks(self, masks: Mapping[str, torch.Tensor] | None = None) -> MaskSet:
        """The masks (or `masks`) on the CPU: what is broadcast, compared and saved."""
        return {n: m.cpu() for n, m in (self._masks if masks is None else masks).items()}

    def sparsity(self) -> float:
        """Fraction of pruned weights over all masked weights."""
        return self._sparsity

    def densities(self) -> dict[str, float]:
        """Per-weight fraction kept."""
        return densities(self._masks)

    def state_dict(self) -> dict[str, Any]:
        """The masks on the CPU, as checkpoints store them."""
        return {"masks": self.cpu_masks()}
