"""Parameter and multiply-accumulate counts of a network: dense, and without its zero weights."""

from __future__ import annotations

import torch
import torch_pruning as tp
from torch import nn


def count_params(model: nn.Module, prunable: dict[str, torch.Tensor]) -> tuple[int, int]:
    """(total, nonzero): every parameter, and those left once the zeros of the prunable tensors
    are removed. Zeros elsewhere (a BN shift initialised at 0) are not pruning and still count."""
    total = sum(p.numel() for p in model.parameters())
    zeros = sum(p.numel() - int(torch.count_nonzero(p)) for p in prunable.values())
    return total, total - zeros


@torch.no_grad()
def count_macs(model: nn.Module, input_shape: tuple[int, ...]) -> tuple[int, int]:
    """(dense, nonzero) multiply-accumulates of one forward pass on one image.

    The dense figure is Torch-Pruning's op counter. The nonzero figure removes, for every conv and
    linear layer, the MACs of its zero weights: a zero weight saves one MAC per output position.
    """
    positions: dict[nn.Module, int] = {}

    def record(module, _inputs, output):
        # Conv: one MAC per weight per output pixel; linear: per output row of the batch of 1.
        positions[module] = output[0, 0].numel() if isinstance(module, nn.Conv2d) else 1

    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    handles = [m.register_forward_hook(record) for m in layers]
    param = next(model.parameters())
    example = torch.zeros((1, *input_shape), dtype=param.dtype, device=param.device)
    was_training = model.training
    model.eval()
    try:
        model(example)
        dense, _ = tp.utils.count_ops_and_params(model, example)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    saved = sum(
        (m.weight.numel() - int(torch.count_nonzero(m.weight))) * positions.get(m, 0)
        for m in layers
    )
    return int(dense), int(dense) - saved
