"""One entry point from an `allocation` name to keep counts, shared by every magnitude method."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from prunelab.errors import ConfigError
from prunelab.pruning.allocation import global_counts, layerwise_counts
from prunelab.pruning.erk import erk_counts
from prunelab.pruning.min_threshold import mt_counts

ALLOCATIONS = ("global", "layerwise", "erk")


def check_allocation(allocation: str, min_threshold: float = 0.0) -> None:
    """Refuse an unknown allocation, or a minimum threshold where it has no meaning."""
    if allocation not in ALLOCATIONS:
        raise ConfigError(f"allocation={allocation!r} is not one of {', '.join(ALLOCATIONS)}")
    if not 0 <= min_threshold < 100:
        raise ConfigError(f"min_threshold={min_threshold} must be a percentage in [0, 100)")
    if min_threshold and allocation != "global":
        raise ConfigError(
            f"min_threshold={min_threshold} applies to allocation=global only, "
            f"not allocation={allocation}"
        )


def keep_counts(
    allocation: str,
    scores: Mapping[str, torch.Tensor],
    masks: Mapping[str, torch.Tensor],
    sparsity: float,
    min_threshold: float = 0.0,
) -> dict[str, int]:
    """Weights each layer keeps at `sparsity` (of all prunable weights) under `allocation`.

    Args:
        allocation: `global` (one threshold over all layers; with `min_threshold` > 0, GlobalMP's
            minimum threshold, in percent of all prunable weights), `layerwise` (the same sparsity
            in every layer) or `erk` (Erdos-Renyi-Kernel densities).
    """
    check_allocation(allocation, min_threshold)
    if allocation == "layerwise":
        return layerwise_counts(masks, sparsity)
    if allocation == "erk":
        active = {n: int(m.sum()) for n, m in masks.items()}
        return erk_counts({n: tuple(m.shape) for n, m in masks.items()}, sparsity, caps=active)
    if min_threshold:
        return mt_counts(scores, masks, sparsity, min_threshold)
    return global_counts(scores, masks, sparsity)
