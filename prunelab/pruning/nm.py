"""N:M sparsity (2:4 as on NVIDIA's sparse tensor cores): keep the N largest of every M weights.

A *group* is M consecutive input weights of one output: for a linear weight (out, in), the
entries [o, M*g : M*g + M]; for a conv weight (out, in, kh, kw), M consecutive *input channels*
at one (out, kh, kw) position, as NVIDIA's ASP groups them (the layout its kernels read once the
weight is flattened channels-last). Each group keeps exactly N entries, the N highest scores among
its active ones, ties to the lower input index. So the pattern is exact by construction: every
patterned layer has sparsity exactly 1 - N/M, and so does their union.

A layer whose input dimension is not a multiple of M cannot be grouped; it is refused, naming the
layer, rather than silently left dense (the user excludes it: `pruning.exclude=[conv1.weight]`),
so that the run's sparsity is exactly 1 - N/M of what is pruned.

No CPU kernel runs N:M weights faster than dense ones: on CPU the pattern is kept (and exported)
but a benchmark measures dense speed. On CUDA GPUs with compute capability >= 8.0,
`prunelab.export.semi_structured.sparsify_linears` puts 2:4 linear layers on
`torch.sparse.to_sparse_semi_structured` (convolutions have no such kernel).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

import torch

_PATTERN = re.compile(r"^\s*(\d+)\s*:\s*(\d+)\s*$")


def parse_pattern(pattern: str) -> tuple[int, int]:
    """`"N:M"` -> (N, M), with 1 <= N < M.

    Raises:
        ValueError: not of the form N:M with 1 <= N < M, naming `pattern=`.
    """
    match = _PATTERN.match(str(pattern))
    n, m = (int(match[1]), int(match[2])) if match else (0, 0)
    if not 1 <= n < m:
        raise ValueError(f"pattern={pattern!r} must be 'N:M' with 1 <= N < M, e.g. '2:4'")
    return n, m


def pattern_sparsity(pattern: str) -> float:
    """The sparsity an N:M pattern gives every patterned layer: 1 - N/M."""
    n, m = parse_pattern(pattern)
    return 1.0 - n / m


def check_pattern_rule(pattern: str, allocation: str, min_threshold: float) -> None:
    """Refuse a pattern with settings it overrides: a pattern fixes every layer's sparsity to
    1 - N/M, so `global` and `layerwise` allocations agree with it and `erk` or GlobalMP's minimum
    threshold cannot.

    Raises:
        ValueError: a malformed pattern, allocation=erk or min_threshold > 0 (named).
    """
    parse_pattern(pattern)
    if allocation == "erk" or min_threshold:
        raise ValueError(
            f"pattern={pattern} gives every layer sparsity 1 - N/M: it cannot be combined with "
            f"allocation={allocation}, min_threshold={min_threshold}"
        )


def _grouped(tensor: torch.Tensor, m: int) -> torch.Tensor:
    """(out, in, *k) -> (out * prod(k) * in / m, m): rows are groups of m consecutive inputs."""
    return tensor.movedim(1, -1).reshape(-1, m)


def _ungrouped(groups: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """The inverse of `_grouped` for a tensor of `shape`."""
    moved = (shape[0], *shape[2:], shape[1])
    return groups.reshape(moved).movedim(-1, 1).contiguous()


def check_nm(shapes: Mapping[str, tuple[int, ...]], pattern: str, sparsity: float) -> None:
    """Refuse what an N:M pattern cannot honour, before any training step.

    Raises:
        ValueError: a sparsity other than 1 - N/M (to 4 decimals), or layers without an input
            dimension that is a multiple of M (all of them named in one line).
    """
    n, m = parse_pattern(pattern)
    if not math.isclose(sparsity, 1 - n / m, abs_tol=5e-5):
        raise ValueError(
            f"sparsity={sparsity} disagrees with pattern={pattern}, which prunes exactly "
            f"{1 - n / m:.4g} of every patterned layer: set pruning.sparsity={1 - n / m:.4g}"
        )
    bad = [name for name, shape in shapes.items() if len(shape) < 2 or shape[1] % m]
    if bad:
        raise ValueError(
            f"pattern={pattern} groups {m} consecutive input weights, but the input dimension of "
            f"{', '.join(bad)} is not a multiple of {m}: add pruning.exclude=[{','.join(bad)}]"
        )


def nm_masks(
    scores: Mapping[str, torch.Tensor], masks: Mapping[str, torch.Tensor], pattern: str
) -> dict[str, torch.Tensor]:
    """New masks keeping, in every group of M inputs, the N highest-scoring active entries.

    Args:
        scores: score set (higher is kept), e.g. |w|.
        masks: current mask set; its False entries stay False.
        pattern: `"N:M"`.

    Raises:
        ValueError: a layer that cannot be grouped, or a group with fewer than N active entries
            (the pattern cannot be reached by shrinking those masks).
    """
    n, m = parse_pattern(pattern)
    check_nm({k: tuple(v.shape) for k, v in masks.items()}, pattern, 1 - n / m)
    new = {}
    for name, mask in masks.items():
        active = _grouped(mask, m)
        if bool((active.sum(dim=1) < n).any()):
            raise ValueError(f"{name}: a group of {m} has fewer than {n} active weights")
        if bool(torch.isnan(scores[name]).any()):
            raise ValueError(f"{name}: scores contain NaN")
        score = _grouped(scores[name].detach(), m).float().masked_fill(~active, -math.inf)
        order = torch.sort(score, dim=1, descending=True, stable=True).indices  # ties: lower index
        keep = torch.zeros_like(active).scatter_(1, order[:, :n], True)
        new[name] = _ungrouped(keep, mask.shape)
    return new


def nm_violations(masks: Mapping[str, torch.Tensor], pattern: str) -> dict[str, int]:
    """Per layer, the number of groups of M that do not keep exactly N (0 everywhere = the pattern
    holds); for checks and reports."""
    n, m = parse_pattern(pattern)
    return {name: int((_grouped(mask, m).sum(dim=1) != n).sum()) for name, mask in masks.items()}
