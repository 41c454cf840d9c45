"""BatchNorm statistics at an interpolated point: kept (interpolated like the weights) or
recomputed on training batches.

Interpolating two networks' running means and variances does not give the statistics of the
interpolated network, whose activations differ from both; Frankle et al. keep them, later work
(REPAIR, Jordan et al. 2023) recomputes them. `recompute` resets every BatchNorm layer and runs
the given batches through the network in train mode with `momentum=None`, so the statistics are
the exact average over those batches, independent of the order and of the old values.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

MODES = ("keep", "recompute")


def batchnorm_layers(network: nn.Module) -> list[_BatchNorm]:
    """The network's BatchNorm layers that track running statistics."""
    return [m for m in network.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]


@torch.no_grad()
def recompute(network: nn.Module, batches: Iterable[torch.Tensor]) -> int:
    """Replace every BatchNorm layer's running statistics by their average over `batches`
    (images only); the weights are untouched, and the network is left in eval mode.

    Returns:
        The number of batches seen (0 when the network has no BatchNorm: nothing is run).

    Raises:
        ValueError: the network has BatchNorm layers but `batches` is empty.
    """
    layers = batchnorm_layers(network)
    if not layers:
        network.eval()
        return 0
    momenta = [layer.momentum for layer in layers]
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None  # cumulative moving average: the plain mean over the batches
    network.train()
    seen = 0
    try:
        device = next(network.parameters()).device
        for images in batches:
            network(images.to(device))
            seen += 1
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
        network.eval()
    if seen == 0:
        raise ValueError("bn=recompute needs at least one training batch (bn_batches >= 1)")
    return seen
