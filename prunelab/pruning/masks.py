"""Mask sets: one boolean tensor per prunable parameter, True where the weight is kept.

A *mask set* is `dict[str, torch.BoolTensor]` keyed by parameter name, each mask the shape of its
parameter. Masks are enforced by writing exact zeros into the weights (and the optimizer's
per-weight state) after every optimizer step and whenever a mask changes or weights are loaded.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch

MaskSet = dict[str, torch.Tensor]


def ones_masks(params: Mapping[str, torch.Tensor]) -> MaskSet:
    """All-True masks (nothing pruned) with the shape and device of each parameter."""
    return {n: torch.ones_like(p, dtype=torch.bool) for n, p in params.items()}


@torch.no_grad()
def zero_state(
    param: torch.Tensor, pruned: torch.Tensor, states: Iterable[Mapping[str, Any]]
) -> None:
    """Zero, in place, the per-weight optimizer state of `param` where `pruned` is True.

    Every state tensor with exactly the parameter's shape is per-weight state: SGD's
    `momentum_buffer`, Adam's `exp_avg` and `exp_avg_sq`, and whatever another optimizer keeps in
    that form. Scalar state (Adam's `step`) is left alone.
    """
    for state in states:
        for value in state.values():
            if torch.is_tensor(value) and value.shape == param.shape:
                value.masked_fill_(pruned.to(value.device), 0)


@torch.no_grad()
def zero_pruned(
    param: torch.Tensor, pruned: torch.Tensor, states: Iterable[Mapping[str, Any]] = ()
) -> None:
    """Zero, in place, `param` where `pruned` is True, and its optimizer `states` there.

    The one implementation of mask enforcement (`apply_masks` and `MaskState.enforce` call it).
    `masked_fill_` rather than a multiply: a pruned weight becomes exactly +0 even if it held an
    inf or NaN, which a multiplication by 0 would keep as NaN.
    """
    param.masked_fill_(pruned, 0.0)
    zero_state(param, pruned, states)


def apply_masks(params: Mapping[str, torch.Tensor], masks: Mapping[str, torch.Tensor]) -> None:
    """Zero, in place, every weight whose mask entry is False (see `zero_pruned`)."""
    for name, mask in masks.items():
        zero_pruned(params[name], ~mask)


def validate_masks(masks: Mapping[str, torch.Tensor], params: Mapping[str, torch.Tensor]) -> None:
    """Check that a mask set fits a parameter set exactly.

    Raises:
        ValueError: a mask for an unknown parameter, a parameter without a mask, a mask that is
            not `torch.bool`, or a shape mismatch. Everything wrong is listed in one message.
    """
    problems = []
    unknown = [n for n in masks if n not in params]
    missing = [n for n in params if n not in masks]
    if unknown:
        problems.append(f"masks for unknown parameters: {unknown}")
    if missing:
        problems.append(f"parameters without a mask: {missing}")
    for name, mask in masks.items():
        if name not in params:
            continue
        if mask.dtype != torch.bool:
            problems.append(f"{name}: mask dtype {mask.dtype}, expected torch.bool")
        if tuple(mask.shape) != tuple(params[name].shape):
            problems.append(
                f"{name}: mask shape {tuple(mask.shape)} != parameter shape "
                f"{tuple(params[name].shape)}"
            )
    if problems:
        raise ValueError("invalid mask set: " + "; ".join(problems))


def count_kept(masks: Mapping[str, torch.Tensor]) -> int:
    """Number of kept (True) entries over all masks."""
    return sum(int(m.sum()) for m in masks.values())


def count_total(masks: Mapping[str, torch.Tensor]) -> int:
    """Number of entries over all masks (kept or not)."""
    return sum(m.numel() for m in masks.values())


def sparsity(masks: Mapping[str, torch.Tensor]) -> float:
    """Fraction of pruned (False) entries over all masks; 0.0 for an empty mask set."""
    total = count_total(masks)
    return 0.0 if total == 0 else 1.0 - count_kept(masks) / total


def densities(masks: Mapping[str, torch.Tensor]) -> dict[str, float]:
    """Per-mask fraction of kept entries (the per-layer density that reports log)."""
    return {n: int(m.sum()) / m.numel() if m.numel() else 1.0 for n, m in masks.items()}


def is_subset(new: Mapping[str, torch.Tensor], old: Mapping[str, torch.Tensor]) -> bool:
    """True when `new` keeps nothing that `old` pruned (masks only shrink), over the same names."""
    if new.keys() != old.keys():
        return False
    return all(not bool((new[n] & ~old[n]).any()) for n in new)


@torch.no_grad()
def zero_momentum(
    optimizer: torch.optim.Optimizer,
    params: Mapping[str, torch.Tensor],
    masks: Mapping[str, torch.Tensor],
) -> None:
    """Zero the optimizer's per-weight state at pruned positions (see `zero_state`).

    Without this, momentum would push a pruned weight away from zero at the next step,
    or a regrown weight would start with stale momentum. Scalar state (Adam's `step`) is left
    alone. Parameters the optimizer has no state for yet are skipped.
    """
    for name, mask in masks.items():
        zero_state(params[name], ~mask, [optimizer.state.get(params[name], {})])
