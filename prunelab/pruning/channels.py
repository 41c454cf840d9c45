"""Channel groups of a CNN and channel surgery on Torch-Pruning's dependency graph (PreCropping).

Output channels that must keep the same count form one *channel group*: a conv and the layers
whose outputs are added to it in one residual stream (the stem conv, every block's last conv and
the 1x1 shortcut convs of a ResNet stage share one group). A *channel plan* says how many output
channels every Conv2d and Linear keeps; `apply_plan` cuts a full-width network down to it in place
and returns an ordinary dense `nn.Module`.

Plan format (plain JSON types, stored in checkpoints under `PLAN_KEY`):
`{"version": 1, "input_shape": [3, H, W], "widths": {module: full out channels},
"channels": {module: kept out channels}, ...}`, keyed by the `named_modules` name of every Conv2d
and Linear. Extra keys (the method's settings) are carried along and ignored here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch_pruning as tp
from torch import nn

from prunelab.loading import load_file
from prunelab.models.cifar_resnet import ShortcutA

PLAN_KEY = "prunelab_precrop"  # checkpoint key of the channel plan
PLAN_VERSION = 1
LAYERS = (nn.Conv2d, nn.Linear)


class ShortcutAPruner(tp.pruner.BasePruningFunc):
    """Torch-Pruning pruner for the option-A shortcut (subsample, then zero-pad the new channels).

    Torch-Pruning cannot see through the channel slicing and `F.pad` inside `ShortcutA`; left to
    itself (1.6) it merges the three stage streams into one group, channel i with channel i, and
    the pruned network fails in forward.
    Registered as a customised layer, its inputs join the group of the stream it reads and its
    outputs the group of the stream it feeds, and pruning only updates the two counts: the narrow
    module zero-pads the difference (or crops the middle channels if the new stream is narrower).
    """

    TARGET_MODULES = ShortcutA

    def prune_out_channels(self, layer: ShortcutA, idxs: Sequence[int]) -> ShortcutA:
        layer.out_channels -= len(idxs)
        return layer

    def prune_in_channels(self, layer: ShortcutA, idxs: Sequence[int]) -> ShortcutA:
        layer.in_channels -= len(idxs)
        return layer

    def get_out_channels(self, layer: ShortcutA) -> int:
        return layer.out_channels

    def get_in_channels(self, layer: ShortcutA) -> int:
        return layer.in_channels


@dataclass(frozen=True)
class ChannelGroup:
    """Coupled output channels: `outputs` must keep one count; `inputs` read these channels."""

    outputs: tuple[str, ...]
    inputs: tuple[str, ...]
    width: int


@dataclass(frozen=True)
class Structure:
    """What PreCropping needs to know of a network to count a plan without building it.

    Attributes:
        groups: channel groups, in module order of their first output layer.
        out_group: layer name -> index of the group of its output channels.
        in_group: layer name -> index of the group it reads (absent: it reads the image).
        in_channels: layer name -> full-width input channels (or features).
        weights: layer name -> weight count at full width.
        positions: layer name -> output positions per image (MACs = weights x positions).
        classifier: the last layer of the forward pass; its outputs are never cut.
        input_shape: one input without the batch dimension.
    """

    groups: tuple[ChannelGroup, ...]
    out_group: dict[str, int]
    in_group: dict[str, int]
    in_channels: dict[str, int]
    weights: dict[str, int]
    positions: dict[str, int]
    classifier: str
    input_shape: tuple[int, ...]


def out_width(module: nn.Module) -> int:
    """Output channels of a Conv2d, output features of a Linear."""
    return module.out_channels if isinstance(module, nn.Conv2d) else module.out_features


def layer_widths(network: nn.Module) -> dict[str, int]:
    """Output width of every Conv2d and Linear, by module name, in module order."""
    return {n: out_width(m) for n, m in network.named_modules() if isinstance(m, LAYERS)}


def _example(network: nn.Module, input_shape: Sequence[int]) -> torch.Tensor:
    param = next(network.parameters())
    return torch.zeros((1, *input_shape), dtype=param.dtype, device=param.device)


def dependency_graph(network: nn.Module, input_shape: Sequence[int]) -> tp.DependencyGraph:
    """Torch-Pruning's dependency graph, traced in eval mode (the trace must not move BN stats)."""
    for name, m in network.named_modules():
        if isinstance(m, nn.Conv2d) and m.groups != 1:
            raise ValueError(f"{name}: grouped convolutions are not supported by PreCropping")
    was_training = network.training
    network.eval()
    try:
        with torch.enable_grad():
            return tp.DependencyGraph().build_dependency(
                network,
                _example(network, input_shape),
                customized_pruners={ShortcutA: ShortcutAPruner()},
                verbose=False,
            )
    finally:
        network.train(was_training)


def _groups(network: nn.Module, graph: tp.DependencyGraph) -> list[ChannelGroup]:
    names = {m: n for n, m in network.named_modules() if isinstance(m, LAYERS)}
    order = {n: i for i, n in enumerate(names.values())}
    groups = []
    for group in graph.get_all_groups(root_module_types=LAYERS):
        outputs, inputs = set(), set()
        for dep, _ in group:
            name = names.get(dep.target.module)
            if name is None:
                continue
            if graph.is_out_channel_pruning_fn(dep.handler):
                outputs.add(name)
            elif graph.is_in_channel_pruning_fn(dep.handler):
                inputs.add(name)
        outputs_sorted = tuple(sorted(outputs, key=order.get))
        width = out_width(network.get_submodule(outputs_sorted[0]))
        groups.append(ChannelGroup(outputs_sorted, tuple(sorted(inputs, key=order.get)), width))
    return sorted(groups, key=lambda g: order[g.outputs[0]])


@torch.no_grad()
def _positions(network: nn.Module, input_shape: Sequence[int]) -> dict[str, int]:
    """Output positions per image of every layer, in the order the forward pass runs them."""
    seen: dict[str, int] = {}

    def record(name: str):
        def hook(_module, _inputs, output) -> None:  # returns None: the output is kept as is
            seen.setdefault(name, output[0, 0].numel())

        return hook

    hooks = [
        m.register_forward_hook(record(name))
        for name, m in network.named_modules()
        if isinstance(m, LAYERS)
    ]
    was_training = network.training
    network.eval()
    try:
        network(_example(network, input_shape))
    finally:
        network.train(was_training)
        for h in hooks:
            h.remove()
    return seen


def network_structure(network: nn.Module, input_shape: Sequence[int]) -> Structure:
    """Trace `network` once and describe its channel groups and per-layer costs."""
    groups = tuple(_groups(network, dependency_graph(network, input_shape)))
    positions = _positions(network, input_shape)
    layers = {n: m for n, m in network.named_modules() if isinstance(m, LAYERS)}
    unused = [n for n in layers if n not in positions]
    if unused:
        raise ValueError(f"layers never run in forward, cannot be planned: {unused}")
    out_group = {n: i for i, g in enumerate(groups) for n in g.outputs}
    in_group = {n: i for i, g in enumerate(groups) for n in g.inputs}
    return Structure(
        groups=groups,
        out_group=out_group,
        in_group=in_group,
        in_channels={n: m.weight.shape[1] for n, m in layers.items()},
        weights={n: m.weight.numel() for n, m in layers.items()},
        positions=positions,
        classifier=list(positions)[-1],
        input_shape=tuple(input_shape),
    )


def check_plan(network: nn.Module, plan: Mapping[str, Any]) -> None:
    """Refuse a plan that was not made for this full-width network, saying what differs.

    Raises:
        ValueError: wrong version, different layer names or full widths, or a network that is
            already cropped.
    """
    if plan.get("version") != PLAN_VERSION:
        raise ValueError(f"channel plan version {plan.get('version')!r}, expected {PLAN_VERSION}")
    widths, recorded = layer_widths(network), dict(plan["widths"])
    if widths == recorded:
        return
    if widths == dict(plan["channels"]):
        raise ValueError("the network is already cropped to this plan; start from full width")
    missing = sorted(set(recorded) - set(widths))
    extra = sorted(set(widths) - set(recorded))
    changed = {n: (recorded[n], w) for n, w in widths.items() if n in recorded and recorded[n] != w}
    raise ValueError(
        "channel plan does not fit this network (build the full-width network of the run's "
        f"config): layers missing {missing}, unexpected {extra}, width (plan, network) {changed}"
    )


def apply_plan(network: nn.Module, plan: Mapping[str, Any]) -> nn.Module:
    """Cut a full-width network to a channel plan, in place; keeps the first channels of each layer.

    Args:
        network: a fresh (or any) full-width network of the architecture the plan was made for.
        plan: a channel plan (see the module docstring).

    Returns:
        The same network object, now physically narrower, ready for `load_state_dict`.

    Raises:
        ValueError: the plan does not fit the network, or gives coupled layers different counts.
    """
    check_plan(network, plan)
    channels = {n: int(c) for n, c in plan["channels"].items()}
    graph = dependency_graph(network, plan["input_shape"])
    for group in _groups(network, graph):
        counts = {channels[n] for n in group.outputs}
        if len(counts) != 1:
            raise ValueError(f"plan gives coupled layers {group.outputs} different counts {counts}")
        (keep,) = counts
        if not 1 <= keep <= group.width:
            raise ValueError(f"plan keeps {keep} of {group.width} channels in {group.outputs}")
        if keep < group.width:
            root = network.get_submodule(group.outputs[0])
            pruner = graph.get_pruner_of_module(root)
            cut = list(range(keep, group.width))  # which channels is moot: weights are re-set
            graph.get_pruning_group(root, pruner.prune_out_channels, cut).prune()
    wrong = {n: w for n, w in layer_widths(network).items() if w != channels[n]}
    if wrong:
        raise RuntimeError(f"channel surgery missed the plan at {wrong}")
    return network


def plan_from_checkpoint(checkpoint: Mapping[str, Any] | str | Path) -> dict[str, Any] | None:
    """The channel plan a checkpoint (a loaded dict or a file) records, or None if it has none."""
    if not isinstance(checkpoint, Mapping):
        checkpoint = load_file(checkpoint)  # the one loader: tensors only, never code
    plan = checkpoint.get(PLAN_KEY)
    return None if plan is None else dict(plan)
