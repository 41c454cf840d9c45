"""Importance scores: one float tensor per prunable parameter; higher means more worth keeping.

A *score set* is `dict[str, torch.Tensor]` keyed like the parameters, each score the shape of its
parameter. Scores never look at masks: selection (`select`) is what ignores pruned entries.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence

import torch
from torch import nn

ScoreSet = dict[str, torch.Tensor]


def magnitude(params: Mapping[str, torch.Tensor]) -> ScoreSet:
    """|w| of every parameter (magnitude pruning: IMP, GlobalMP, GMP, GraNet's death step)."""
    return {n: p.detach().abs() for n, p in params.items()}


def _grads(params: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    missing = [n for n, p in params.items() if p.grad is None]
    if missing:
        raise ValueError(f"no gradient for {missing}: run a backward pass before scoring")
    return {n: p.grad.detach() for n, p in params.items()}


def gradient_magnitude(params: Mapping[str, torch.Tensor]) -> ScoreSet:
    """|dL/dw| of every parameter, from the `.grad` of the last backward (GraNet's regrowth)."""
    return {n: g.abs() for n, g in _grads(params).items()}


def snip(params: Mapping[str, torch.Tensor]) -> ScoreSet:
    """SNIP connection sensitivity |w * dL/dw| (Lee et al. 2019), from the current `.grad`.

    The caller does the backward on one (or a few accumulated) data batches first.
    """
    return {n: (params[n].detach() * g).abs() for n, g in _grads(params).items()}


def random_scores(
    params: Mapping[str, torch.Tensor], generator: torch.Generator | None = None
) -> ScoreSet:
    """Uniform [0, 1) scores: random pruning, or random positions for an ERK initial mask.

    Drawn on the generator's device (CPU by default) so a seed gives the same masks on any
    accelerator, then moved to the parameter's device.
    """
    device = generator.device if generator is not None else torch.device("cpu")
    return {
        n: torch.rand(p.shape, generator=generator, device=device).to(p.device)
        for n, p in params.items()
    }


def synflow(
    model: nn.Module, input_shape: Sequence[int], params: Mapping[str, torch.Tensor]
) -> ScoreSet:
    """Data-free SynFlow scores (Tanaka et al. 2020), one scoring pass.

    On a float64 copy of the model in eval mode, every floating state entry (weights, biases, BN
    affine and running statistics) is replaced by its absolute value; an all-ones input of shape
    `(1, *input_shape)` is passed forward and R = sum of the outputs is differentiated. The score
    is |dR/dw * w|. Pruned weights are already 0 in the model, so they score 0. The iterative
    SynFlow loop (score, prune a little, repeat) is the caller's.

    Working on a copy leaves the model untouched: weights, signs, dtype, train/eval mode, grads.
    float64 as the SynFlow authors use, because R is a product over all layers and overflows or
    underflows float32 on deep nets. eval mode so BatchNorm uses its (absolute) running statistics
    instead of the statistics of a batch of one constant image.

    Args:
        model: the network; not modified.
        input_shape: one input without the batch dimension, e.g. `(3, 32, 32)`.
        params: the prunable parameters of `model`, keyed by their `named_parameters` names.

    Returns:
        float64 scores on each parameter's device.
    """
    clone = copy.deepcopy(model).double().eval()
    with torch.no_grad():
        for value in clone.state_dict().values():
            if value.is_floating_point():
                value.abs_()
    clone.zero_grad(set_to_none=True)
    device = next(clone.parameters()).device
    ones = torch.ones((1, *input_shape), dtype=torch.float64, device=device)
    clone(ones).sum().backward()
    cloned = dict(clone.named_parameters())
    scores = {}
    for name in params:
        w = cloned[name]
        grad = w.grad if w.grad is not None else torch.zeros_like(w)
        scores[name] = (grad * w).detach().abs()
    return scores
