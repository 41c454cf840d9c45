"""Test error of a network, and along the linear path between two copies of it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import islice

import torch
from torch import nn

from prunelab.stability import batchnorm
from prunelab.stability.path import State, interpolate

Batches = Callable[[], Iterable]  # a fresh iterable of (images, labels) batches per call


@torch.no_grad()
def test_error(network: nn.Module, batches: Iterable, limit: int | None = None) -> float:
    """Top-1 error (fraction misclassified) of `network` in eval mode over `batches`, or over
    their first `limit` batches.

    Raises:
        ValueError: no batch to test on.
    """
    network.eval()
    device = next(network.parameters()).device
    wrong = seen = 0
    for images, labels in islice(batches, limit):
        predicted = network(images.to(device)).argmax(1).cpu()
        wrong += int((predicted != labels).sum())
        seen += len(labels)
    if seen == 0:
        raise ValueError("no test batch to evaluate the path on")
    return wrong / seen


def images_of(batches: Iterable, limit: int) -> list[torch.Tensor]:
    """The images of the first `limit` batches, kept so every point sees the same ones."""
    return [images for images, _ in islice(batches, limit)]


def error_path(
    network: nn.Module,
    a: State,
    b: State,
    alphas: Sequence[float],
    test_batches: Batches,
    *,
    masks: Mapping[str, torch.Tensor] | None = None,
    bn: str = "keep",
    bn_images: Sequence[torch.Tensor] = (),
    test_limit: int | None = None,
) -> list[float]:
    """Test error of `network` loaded with `interpolate(a, b, alpha, masks)` at each alpha.

    Args:
        network: a network `a` and `b` fit (its weights are replaced).
        test_batches: a fresh iterable of test batches per call (a DataLoader factory).
        bn: "keep" (interpolated running statistics) or "recompute" (on `bn_images`, every
            point alike, the endpoints too).
        test_limit: test on the first `test_limit` batches only (None: all).

    Raises:
        ValueError: an unknown `bn` mode, or a masked weight that is not 0 in a copy.
    """
    if bn not in batchnorm.MODES:
        raise ValueError(f"bn={bn} is not one of {', '.join(batchnorm.MODES)}")
    errors = []
    for alpha in alphas:
        network.load_state_dict(interpolate(a, b, alpha, masks), strict=True)
        if bn == "recompute":
            batchnorm.recompute(network, bn_images)
        errors.append(test_error(network, test_batches(), test_limit))
    return errors
