"""The linear path between two trained copies: interpolated weights, barrier and L2 distances.

Pure functions over state_dicts. Invariants:
- floating-point tensors are `torch.lerp(a, b, alpha)`, exact at both ends (alpha 0 gives `a`,
  alpha 1 gives `b`, bit for bit) and equal to both when `a == b`;
- integer buffers (BatchNorm's `num_batches_tracked`) are taken from `a`: they count, they do
  not interpolate;
- a masked weight is exactly 0 at every alpha: it must be 0 in both copies (checked), and the
  mask is applied to the interpolation as well.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

State = Mapping[str, torch.Tensor]


def alphas(points: int) -> list[float]:
    """`points` evenly spaced interpolation weights from 0 to 1, both ends included.

    Raises:
        ValueError: fewer than 2 points.
    """
    if points < 2:
        raise ValueError(f"points={points}: the path needs at least its 2 endpoints")
    return [i / (points - 1) for i in range(points)]


def check_masked_zero(state: State, masks: Mapping[str, torch.Tensor], which: str) -> None:
    """Refuse a state whose pruned weights are not exactly 0 (the copies keep the masks).

    Raises:
        ValueError: a mask names a tensor the state lacks, or a pruned weight is not 0.
    """
    for name, mask in masks.items():
        if name not in state or state[name].shape != mask.shape:
            raise ValueError(f"the mask of {name} does not fit {which}")
        if bool(state[name][~mask.to(state[name].device)].any()):
            raise ValueError(f"{which} has nonzero pruned weights in {name}")


def interpolate(
    a: State, b: State, alpha: float, masks: Mapping[str, torch.Tensor] | None = None
) -> dict[str, torch.Tensor]:
    """The state at `alpha` on the line from `a` (alpha 0) to `b` (alpha 1), masks kept.

    Raises:
        ValueError: the states hold different tensors, or a pruned weight is not 0 in one.
    """
    if set(a) != set(b):
        raise ValueError(f"the copies hold different tensors: {sorted(set(a) ^ set(b))[:3]}")
    masks = masks or {}
    check_masked_zero(a, masks, "copy A")
    check_masked_zero(b, masks, "copy B")
    mixed = {}
    for name, tensor in a.items():
        if tensor.is_floating_point():
            mixed[name] = torch.lerp(tensor, b[name].to(tensor.device), alpha)
        else:
            mixed[name] = tensor.clone()
    for name, mask in masks.items():
        mixed[name] = mixed[name].masked_fill(~mask.to(mixed[name].device), 0)
    return mixed


def l2_distance(a: State, b: State, names: Sequence[str]) -> float:
    """Euclidean distance between `a` and `b` over the tensors `names`, flattened together."""
    total = torch.zeros((), dtype=torch.float64)
    for name in names:
        diff = a[name].detach().double().cpu() - b[name].detach().double().cpu()
        total += diff.pow(2).sum()
    return float(total.sqrt())


def barrier(errors: Sequence[float]) -> float:
    """The error barrier of a path: its highest error minus the mean of its two endpoints
    (Frankle et al. 2020); 0 for a flat path, and never below 0 since the endpoints are on it."""
    if len(errors) < 2:
        raise ValueError("a path has at least 2 points")
    return max(errors) - (errors[0] + errors[-1]) / 2
