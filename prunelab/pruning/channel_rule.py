"""`pruning.structure=channel` of the magnitude rule: prune whole channels, smallest L2 norm first,
so that the result compacts into a smaller dense network (`prunelab-export format=compact`).

A *channel* is one output channel of a coupled group of Torch-Pruning's dependency graph
(`channel_groups`): the filter `c` of every layer that writes it (a conv and, in a ResNet with 1x1
shortcuts, every conv added into the same residual stream) and the input column `c` of every
layer that reads it. Pruning a channel zeroes all of those, so the channel is unread and the
compact export removes it exactly, whatever the BatchNorm before it holds. Its score is the L2
norm of its filters (all writers together) of the current, masked weights; one ranking over all
groups (global across layers).

Groups that cannot be cut are left alone: the classifier's outputs (nothing reads them), a group
through the parameter-free option-A shortcut (its zero padding ties channel positions across
stages; the compact export refuses it too), one whose channels do not map one to one, and one
holding a layer that is not pruned (`pruning.exclude`). Each group keeps at least one channel.

The target counts weights, like every rule: sparsity = zero weights / all prunable weights.
Whole channels cannot hit it exactly; the rule prunes the fewest lowest-norm channels whose
removal reaches at least the target, so the sparsity reached lies in [target, target + the
weights of one channel / N). A target beyond what the cuttable groups hold is refused, naming
the largest reachable sparsity. Masks only shrink: a channel pruned once stays pruned.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from prunelab.models.cifar_resnet import ShortcutA
from prunelab.pruning.allocation import keep_total
from prunelab.pruning.channels import LAYERS, ChannelGroup, dependency_graph
from prunelab.pruning.masks import MaskSet, ones_masks
from prunelab.pruning.rules import MagnitudeRule, Rule

Tensors = Mapping[str, torch.Tensor]


def channel_groups(network: nn.Module, input_shape: Sequence[int]) -> list[ChannelGroup]:
    """The cuttable channel groups of `network` (module docstring): the weights writing channel
    `c` (`outputs`) and reading it (`inputs`), named `<module>.weight` as `named_parameters`
    names them, in graph order."""
    graph = dependency_graph(network, input_shape)
    names = {m: n for n, m in network.named_modules()}
    groups = []
    for group in graph.get_all_groups(root_module_types=LAYERS):
        writers, readers, indices = [], [], []
        for dep, idxs in group:
            module = dep.target.module
            if isinstance(module, ShortcutA):
                break
            if isinstance(module, LAYERS):
                out = graph.is_out_channel_pruning_fn(dep.handler)
                (writers if out else readers).append(f"{names[module]}.weight")
                indices.append([int(i) for i in idxs])
        else:
            width = len(indices[0])
            one_to_one = all(i == list(range(width)) for i in indices)
            if readers and one_to_one:
                groups.append(ChannelGroup(tuple(writers), tuple(readers), width))
    return groups


def _zero_channel(masks: dict[str, torch.Tensor], group: ChannelGroup, c: int) -> int:
    """Prune channel `c` of `group` in `masks` (in place); returns how many weights it zeroed."""
    zeroed = 0
    for name in group.outputs:
        zeroed += int(masks[name][c].sum())
        masks[name][c] = False
    for name in group.inputs:
        zeroed += int(masks[name][:, c].sum())
        masks[name][:, c] = False
    return zeroed


def channel_masks(
    params: Tensors, masks: Tensors, sparsity: float, groups: Sequence[ChannelGroup]
) -> MaskSet:
    """New masks at (at least) `sparsity` by whole channels, lowest L2 norm first.

    Raises:
        ValueError: `sparsity` is beyond what the cuttable groups can reach (the most is named).
    """
    new = {n: m.clone() for n, m in masks.items()}
    usable = [g for g in groups if all(n in new for n in (*g.outputs, *g.inputs))]
    total = sum(m.numel() for m in new.values())
    goal = total - keep_total(total, sparsity)  # zero weights needed
    zeros = sum(int((~m).sum()) for m in new.values())
    candidates, alive = [], []
    for gi, group in enumerate(usable):
        squares = sum(
            (params[n].detach() * new[n]).float().reshape(group.width, -1).pow(2).sum(1).cpu()
            for n in group.outputs
        )
        live = torch.stack([new[n].reshape(group.width, -1).any(1).cpu() for n in group.outputs])
        live = live.any(0)
        alive.append(int(live.sum()))
        candidates += [(math.sqrt(float(squares[c])), gi, c) for c in range(group.width) if live[c]]
    for _score, gi, c in sorted(candidates):
        if zeros >= goal:
            break
        if alive[gi] <= 1:  # every group keeps a channel
            continue
        zeros += _zero_channel(new, usable[gi], c)
        alive[gi] -= 1
    if zeros < goal:
        raise ValueError(
            f"structure=channel: sparsity {sparsity} is beyond what whole channels reach here "
            f"({zeros / total:.4f}: every cuttable group keeps one channel; "
            f"{len(groups) - len(usable)} group(s) hold a layer that is not pruned)"
        )
    return new


@dataclass
class ChannelRule(Rule):
    """The magnitude rule with `structure: channel` (module docstring); global across layers.

    Its channel groups come from the network (`bind`, once per fit, before any pruning step).
    """

    groups: list[ChannelGroup] | None = field(default=None, repr=False)

    def bind(self, network: nn.Module, input_shape: Sequence[int]) -> None:
        """Read the network's cuttable channel groups (Torch-Pruning's dependency graph)."""
        self.groups = channel_groups(network, input_shape)

    def masks(
        self, params: Tensors, masks: Tensors, sparsity: float, grads: Tensors | None = None
    ) -> MaskSet:
        """Whole channels, lowest L2 norm first, until at least `sparsity` (module docstring)."""
        if self.groups is None:
            raise ValueError("structure=channel: the rule needs bind(network, input_shape) first")
        return channel_masks(params, masks, sparsity, self.groups)

    def check(self, params: Tensors, sparsity: float) -> None:
        """Refuse a target whole channels cannot reach (counted on all-ones masks)."""
        self.masks(params, ones_masks(params), sparsity)


STRUCTURES = ("weight", "channel")


def magnitude_rule(structure: str, options: Mapping[str, object]) -> Rule:
    """`pruning/rule=magnitude` by its `structure`: `weight` (unstructured, `MagnitudeRule` with
    `options`) or `channel` (`ChannelRule`: global allocation only, no threshold or pattern).

    Raises:
        ValueError: an unknown structure, or `channel` with an option it cannot honour.
    """
    if structure not in STRUCTURES:
        raise ValueError(f"pruning.structure={structure!r} is not one of {', '.join(STRUCTURES)}")
    if structure == "weight":
        return MagnitudeRule(**options)
    clash = {
        "allocation": options.get("allocation", "global") != "global",
        "min_threshold": bool(options.get("min_threshold")),
        "pattern": options.get("pattern") is not None,
    }
    for key, bad in clash.items():
        if bad:
            raise ValueError(
                f"pruning.structure=channel ranks whole channels globally: it takes no "
                f"{key}={options[key]!r} (allocation=global, min_threshold=0, pattern=null)"
            )
    return ChannelRule()
