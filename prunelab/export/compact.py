"""Compact export: cut the channels an unstructured mask left dead into a smaller dense network.

Torch-Pruning's dependency graph splits the network's output channels into coupled groups: the
layers that write a channel (conv/linear *producers*, with their BatchNorms), everything that
passes it on channelwise (ReLU, pooling, residual additions) and the layers that read it
(conv/linear *consumers*). Channel `i` of a group is removed only when removing it is exact in eval
mode, which holds in one of two cases:

- unread: every consumer's weights on channel `i` are zero, so its value reaches no output;
- zero: every producer's filter `i` is zero, so the channel is a constant (bias, BatchNorm's
  `beta - gamma * mean / std` and the ReLU after it are all input-independent), and that
  constant, observed at every consumer on a probe batch, is exactly 0. A zero filter whose
  constant is not 0 (BatchNorm's shift, a conv bias) is kept: a nonzero constant read by a
  zero-padded 3x3 conv is not a bias (the border sees fewer taps), so it cannot be folded exactly.

A group whose channels nothing reads (the classifier's outputs), that passes through the
parameter-free option-A shortcut (its zero padding ties channel positions across stages, which
Torch-Pruning does not model), or whose members do not map channels one to one, is never cut.
The compact network keeps its BatchNorms (folding them would change rounding) and is the model's
own class cut to smaller widths, so it is rebuilt from a channel plan like a PreCropping run.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from prunelab.models.cifar_resnet import ShortcutA
from prunelab.pruning.channels import LAYERS, PLAN_VERSION, dependency_graph, layer_widths

PROBE_BATCH = 4  # random images used to read the constant of a zero-filter channel


@dataclass
class Removal:
    """What the compact export removed: channel indices per group, keyed by the group's root layer.

    Attributes:
        channels: root layer -> removed output-channel indices (the same in every member).
        producers: root layer -> the layers writing those channels (all lose the filters).
        consumers: root layer -> the layers reading them (all lose the input columns).
        reasons: root layer -> per removed channel, "unread" or "zero".
    """

    channels: dict[str, list[int]] = field(default_factory=dict)
    producers: dict[str, list[str]] = field(default_factory=dict)
    consumers: dict[str, list[str]] = field(default_factory=dict)
    reasons: dict[str, list[str]] = field(default_factory=dict)

    @property
    def count(self) -> int:
        """Channels removed in all (a channel of a coupled group counts once)."""
        return sum(len(c) for c in self.channels.values())


def _members(network: nn.Module, group, graph) -> tuple[dict, dict] | None:
    """(producers, consumers): layer name -> channel indices, from a Torch-Pruning group; None
    for a group through an option-A shortcut."""
    names = {m: n for n, m in network.named_modules()}
    producers: dict[str, list[int]] = {}
    consumers: dict[str, list[int]] = {}
    for dep, idxs in group:
        module = dep.target.module
        if isinstance(module, ShortcutA):
            return None
        if not isinstance(module, LAYERS):
            continue
        into = producers if graph.is_out_channel_pruning_fn(dep.handler) else consumers
        into[names[module]] = [int(i) for i in idxs]
    return producers, consumers


@torch.no_grad()
def _live_inputs(
    network: nn.Module, names: Sequence[str], input_shape: Sequence[int]
) -> dict[str, torch.Tensor]:
    """Per named layer, which input channels were not exactly 0 on a random probe batch (eval
    mode), over every call of the layer."""
    seen: dict[str, torch.Tensor] = {}

    def record(name: str):
        def hook(_module, inputs) -> None:  # returns None: the input is passed on unchanged
            x = inputs[0].detach()
            live = (x.transpose(0, 1).reshape(x.shape[1], -1) != 0).any(dim=1).cpu()
            seen[name] = seen[name] | live if name in seen else live

        return hook

    hooks = [network.get_submodule(n).register_forward_pre_hook(record(n)) for n in names]
    param = next(network.parameters())
    probe = torch.randn(
        (PROBE_BATCH, *input_shape), generator=torch.Generator().manual_seed(0), dtype=param.dtype
    ).to(param.device)
    try:
        network.eval()(probe)
    finally:
        for h in hooks:
            h.remove()
    return seen


def _zero_rows(weight: torch.Tensor) -> torch.Tensor:
    """Per output channel: all of its weights are zero."""
    return (weight.reshape(weight.shape[0], -1) == 0).all(dim=1)


def _zero_columns(weight: torch.Tensor) -> torch.Tensor:
    """Per input channel: no output reads it (all weights on it zero)."""
    return (weight.transpose(0, 1).reshape(weight.shape[1], -1) == 0).all(dim=1)


def removable(network: nn.Module, input_shape: Sequence[int], multiple: int = 1) -> Removal:
    """Which channels of an eval-mode (masked) network can be removed exactly (module docstring).

    `multiple` > 1 removes fewer (keeps some dead channels, which is as exact) so that every cut
    group keeps a multiple of `multiple` channels: CPU kernels work in blocks of 8 or 16 channels.
    """
    graph = dependency_graph(network, input_shape)
    groups = [_members(network, g, graph) for g in graph.get_all_groups(root_module_types=LAYERS)]
    groups = [g for g in groups if g is not None and g[1]]  # skip option-A streams and outputs
    readers = sorted({n for _, consumers in groups for n in consumers})
    live = _live_inputs(network, readers, input_shape)
    removal = Removal()
    for producers, consumers in groups:
        widths = {len(i) for i in (*producers.values(), *consumers.values())}
        if len(widths) != 1:  # a flatten that spreads a channel over several features
            continue
        (width,) = widths
        layer = {n: network.get_submodule(n) for n in (*producers, *consumers)}
        unread = torch.ones(width, dtype=torch.bool)
        for name, idxs in consumers.items():
            unread &= _zero_columns(layer[name].weight)[idxs].cpu()
        zero = torch.ones(width, dtype=torch.bool)
        for name, idxs in producers.items():
            zero &= _zero_rows(layer[name].weight)[idxs].cpu()
        for name, idxs in consumers.items():
            zero &= ~live[name][idxs]
        cut = (unread | zero).nonzero().flatten().tolist()
        keep = max(1, -(-(width - len(cut)) // multiple) * multiple)  # at least one channel
        cut = cut[: max(0, width - keep)]
        if not cut:
            continue
        root = next(iter(producers))
        removal.channels[root] = [producers[root][i] for i in cut]
        removal.producers[root] = list(producers)
        removal.consumers[root] = list(consumers)
        removal.reasons[root] = ["unread" if unread[i] else "zero" for i in cut]
    return removal


def compact(
    network: nn.Module, input_shape: Sequence[int], multiple: int = 1
) -> tuple[nn.Module, Removal, dict]:
    """The physically smaller copy of an eval-mode masked network, with what went and its plan
    (`multiple`: see `removable`).

    Returns:
        (compact network in eval mode, the removal, a channel plan that rebuilds the compact
        shapes from the full-width model: `prunelab.pruning.channels.apply_plan`).
    """
    removal = removable(network, input_shape, multiple)
    widths = layer_widths(network)
    small = copy.deepcopy(network).eval()
    graph = dependency_graph(small, input_shape)
    for root, idxs in removal.channels.items():
        module = small.get_submodule(root)
        pruner = graph.get_pruner_of_module(module)
        graph.get_pruning_group(module, pruner.prune_out_channels, list(idxs)).prune()
    plan = {
        "version": PLAN_VERSION,
        "input_shape": [int(s) for s in input_shape],
        "widths": widths,
        "channels": layer_widths(small),
        "method": "compact",
        "removed": removal.count,
    }
    return small.eval(), removal, plan
