"""Turning scores and per-layer keep counts into masks: the one selection rule of every method.

The rule: among the active (unpruned) entries of a tensor, keep the `k` with the highest score;
among equal scores the lower flat index is kept. Inactive entries are never re-activated, so
masks only shrink. Counts are honoured exactly, whatever the ties (ALGORITHMS.md section 0).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch


def top_k_mask(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Boolean mask of the `k` highest entries of a 1-D tensor; ties go to the lower index.

    Linear time: the k-th largest value is found with `kthvalue`; everything above it is kept and
    the remaining places go to the first entries equal to it, in index order. Equivalent to a
    stable descending sort followed by taking the first `k`.

    Raises:
        ValueError: `k` outside [0, len], or NaN scores (they have no order).
    """
    n = scores.numel()
    if not 0 <= k <= n:
        raise ValueError(f"cannot keep {k} of {n} entries")
    if k == 0 or k == n:
        return torch.full((n,), k == n, dtype=torch.bool, device=scores.device)
    if bool(torch.isnan(scores).any()):
        raise ValueError("scores contain NaN")
    threshold = torch.kthvalue(scores, n - k + 1).values  # the k-th largest
    above = scores > threshold
    at = scores == threshold
    room = k - int(above.sum())
    return above | (at & (torch.cumsum(at, 0) <= room))


def _select_one(scores: torch.Tensor, mask: torch.Tensor, k: int, name: str) -> torch.Tensor:
    active = mask.flatten().nonzero().squeeze(1)  # ascending flat indices
    if not 0 <= k <= active.numel():
        raise ValueError(f"{name}: cannot keep {k} weights, only {active.numel()} are active")
    keep = top_k_mask(scores.flatten()[active], k)
    new = torch.zeros(mask.numel(), dtype=torch.bool, device=mask.device)
    new[active[keep]] = True
    return new.view_as(mask)


def select(
    scores: Mapping[str, torch.Tensor],
    masks: Mapping[str, torch.Tensor],
    counts: Mapping[str, int],
) -> dict[str, torch.Tensor]:
    """New masks that keep, per layer, the top-`counts[name]` active entries by score.

    When `counts` comes from `global_counts` on the same scores and masks, the result is exactly
    the global top-K: the kept entries of each layer are a prefix of its score order, which is the
    global order restricted to that layer.

    Args:
        scores: score set (higher is kept).
        masks: current mask set; its False entries stay False.
        counts: entries to keep per layer; a layer missing from `counts` keeps all active entries.

    Returns:
        A new mask set (the inputs are not modified).

    Raises:
        ValueError: a count above the layer's active entries or below 0, or NaN scores.
    """
    return {
        name: _select_one(scores[name], mask, int(counts[name]), name)
        if name in counts
        else mask.clone()
        for name, mask in masks.items()
    }


def select_rows(
    scores: Mapping[str, torch.Tensor],
    masks: Mapping[str, torch.Tensor],
    counts: Mapping[str, Sequence[int] | torch.Tensor],
) -> dict[str, torch.Tensor]:
    """Like `select`, per output neuron: row `i` of `w.flatten(1)` keeps `counts[name][i]` entries.

    For SAP's neuron scope. A layer missing from `counts` keeps all active entries.
    """
    new = {}
    for name, mask in masks.items():
        if name not in counts:
            new[name] = mask.clone()
            continue
        rows_mask, rows_score = mask.flatten(1), scores[name].flatten(1)
        row_counts = [int(c) for c in counts[name]]
        if len(row_counts) != rows_mask.shape[0]:
            raise ValueError(f"{name}: {len(row_counts)} row counts for {rows_mask.shape[0]} rows")
        rows = [
            _select_one(rows_score[i], rows_mask[i], c, f"{name}[row {i}]")
            for i, c in enumerate(row_counts)
        ]
        new[name] = torch.stack(rows).view_as(mask)
    return new
