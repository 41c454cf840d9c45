"""`pruning.structure=channel`: whole channels by L2 norm, on ResNet-8 (width 4, shortcuts B and A)
and a plain conv stack. Every layer's mask is (kept outputs) x (kept inputs); a channel goes from
all its writers and readers together; the target is met by the fewest lowest-norm channels; and
the compact export removes exactly the pruned channels with the masked network's outputs."""

import pytest
import torch
from torch import nn

from prunelab.export.compact import compact
from prunelab.pruning.allocation import keep_total
from prunelab.pruning.channel_rule import ChannelRule, channel_groups, channel_masks, magnitude_rule
from prunelab.pruning.masks import ones_masks
from prunelab.pruning.rules import MagnitudeRule

SHAPE = (3, 16, 16)


def resnet(shortcut="B"):
    from prunelab.models.cifar_resnet import CifarResNet

    torch.manual_seed(0)
    return CifarResNet(depth=8, width=4, shortcut=shortcut).eval()


def stack():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 12, 3, padding=1), nn.BatchNorm2d(12), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(12, 5),
    ).eval()  # fmt: skip


def prunable(network):
    return {n: p for n, p in network.named_parameters() if p.dim() > 1}


def pruned_channels(masks, groups):
    """Per group, the channels whose filters are all pruned in every writer."""
    out = []
    for g in groups:
        rows = torch.stack([~masks[w].reshape(g.width, -1).any(1) for w in g.outputs])
        out.append(set(rows.all(0).nonzero().flatten().tolist()))
    return out


def channel_weights(params, group, c):
    return sum(params[w][c].numel() for w in group.outputs) + sum(
        params[r][:, c].numel() for r in group.inputs
    )


@pytest.mark.parametrize("make", [resnet, stack], ids=["resnet8B", "stack"])
@pytest.mark.parametrize("sparsity", [0.3, 0.6])
def test_channels_go_whole_and_the_target_is_met_by_the_fewest_lowest_norm(make, sparsity):
    network = make()
    params, groups = prunable(network), channel_groups(network, SHAPE)
    masks = channel_masks(params, ones_masks(params), sparsity, groups)
    gone = pruned_channels(masks, groups)
    # each layer's mask is (kept output rows) x (kept input columns), no other holes
    for mask in masks.values():
        rows = mask.reshape(mask.shape[0], -1).any(1)
        cols = mask.transpose(0, 1).reshape(mask.shape[1], -1).any(1)
        expected = rows[:, None] & cols[None, :]
        assert torch.equal(mask.reshape(*mask.shape[:2], -1).all(2), expected)
        assert torch.equal(mask.reshape(*mask.shape[:2], -1).any(2), expected)
    # a pruned channel is gone from every writer and every reader of its group
    for g, channels in zip(groups, gone, strict=True):
        for c in channels:
            assert not any(masks[r][:, c].any() for r in g.inputs)
        assert len(channels) < g.width  # every group keeps a channel
    # target: reached, and the last (highest-norm) pruned channel was needed to reach it
    total = sum(m.numel() for m in masks.values())
    zeros = sum(int((~m).sum()) for m in masks.values())
    assert zeros >= total - keep_total(total, sparsity)
    norm = {
        (i, c): sum(params[w][c].pow(2).sum() for w in g.outputs).sqrt().item()
        for i, g in enumerate(groups)
        for c in range(g.width)
    }
    pruned = [(i, c) for i, channels in enumerate(gone) for c in channels]
    last = max(pruned, key=norm.get)
    assert zeros - channel_weights(params, groups[last[0]], last[1]) < total - keep_total(
        total, sparsity
    )
    # lowest norm first: a kept channel of a group that could still lose one is never smaller
    for i, g in enumerate(groups):
        if g.width - len(gone[i]) > 1:
            kept = [norm[i, c] for c in range(g.width) if c not in gone[i]]
            assert min(kept) >= norm[last]


def test_masks_only_shrink_and_a_higher_target_prunes_more():
    network = resnet()
    params, groups = prunable(network), channel_groups(network, SHAPE)
    first = channel_masks(params, ones_masks(params), 0.3, groups)
    second = channel_masks(params, first, 0.6, groups)
    assert all(not (second[n] & ~first[n]).any() for n in first)
    assert sum(int((~m).sum()) for m in second.values()) > sum(
        int((~m).sum()) for m in first.values()
    )


@pytest.mark.parametrize("shortcut", ["B", "A"])
def test_compact_export_removes_exactly_the_pruned_channels_and_outputs_match(shortcut):
    network = resnet(shortcut)
    with torch.no_grad():  # BatchNorm statistics that are not the identity
        for m in network.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-1, 1), m.running_var.uniform_(0.5, 2)
                m.weight.uniform_(0.5, 1.5), m.bias.uniform_(-1, 1)
    params, groups = prunable(network), channel_groups(network, SHAPE)
    rule = ChannelRule()
    rule.bind(network, SHAPE)
    masks = rule.masks(params, ones_masks(params), 0.4)
    with torch.no_grad():
        for name, mask in masks.items():
            params[name].mul_(mask)
    small, removal, _ = compact(network, SHAPE)
    assert removal.count == sum(len(c) for c in pruned_channels(masks, groups)) > 0
    images = torch.randn(4, *SHAPE, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.allclose(small(images), network(images), atol=1e-5)
    assert sum(p.numel() for p in small.parameters()) < sum(p.numel() for p in network.parameters())
    if shortcut == "A":  # the residual streams pass the option-A shortcut: only conv1s are cut
        assert all(w.endswith("conv1.weight") and "layer" in w for g in groups for w in g.outputs)


def test_a_target_beyond_whole_channels_and_an_unbound_rule_are_refused():
    network = stack()
    params = prunable(network)
    rule = ChannelRule()
    with pytest.raises(ValueError, match="needs bind"):
        rule.masks(params, ones_masks(params), 0.5)
    rule.bind(network, SHAPE)
    with pytest.raises(ValueError, match="sparsity 0.99 is beyond what whole channels reach"):
        rule.check(params, 0.99)
    rule.check(params, 0.5)


def test_the_structure_option_builds_the_rule_or_refuses_what_it_cannot_honour():
    assert magnitude_rule("weight", {"allocation": "layerwise"}) == MagnitudeRule("layerwise")
    assert isinstance(magnitude_rule("channel", {"allocation": "global"}), ChannelRule)
    with pytest.raises(ValueError, match="structure='filter' is not one of weight, channel"):
        magnitude_rule("filter", {})
    with pytest.raises(ValueError, match="takes no allocation='erk'"):
        magnitude_rule("channel", {"allocation": "erk"})
    with pytest.raises(ValueError, match="takes no pattern='2:4'"):
        magnitude_rule("channel", {"pattern": "2:4"})
