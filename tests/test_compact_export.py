"""Compact export: the channels global magnitude pruning left dead go, the logits stay.

The networks are fresh ResNet-20 (options A, B) and VGG-16 made to look trained where it matters:
filter and input-channel norms spread log-normally (so whole filters and columns fall under the
global threshold, as in trained networks), then pruned by global magnitude to 90%, then BatchNorm
statistics gathered on random batches and shifts (beta) drawn at random, so a zero filter's
channel is a nonzero constant about half the time and must be kept.
"""

import copy

import pytest
import torch
from torch import nn

from prunelab.export import read_checkpoint, restore_network
from prunelab.export.cli_args import compose as compose_command
from prunelab.export.compact import compact
from prunelab.export.exporting import export
from prunelab.models import resnet20, vgg16
from prunelab.pruning.channels import dependency_graph

SHAPE = (3, 32, 32)
MODELS = {
    "resnet20_A": lambda: resnet20(shortcut="A"),
    "resnet20_B": lambda: resnet20(shortcut="B"),
    "vgg16": vgg16,
}
CONFIGS = {
    "resnet20_A": {"_target_": "prunelab.models.CifarResNet", "depth": 20, "shortcut": "A"},
    "vgg16": {"_target_": "prunelab.models.CifarVGG", "depth": 16},
}


@torch.no_grad()
def masked_network(name: str, sparsity: float = 0.9) -> nn.Module:
    """A network pruned by global magnitude over its convs, in eval mode (see module docstring)."""
    torch.manual_seed(0)
    network = MODELS[name]()
    convs = [m for m in network.modules() if isinstance(m, nn.Conv2d)]
    for conv in convs:
        out_c, in_c = conv.weight.shape[:2]
        conv.weight.mul_(torch.randn(out_c, 1, 1, 1).exp() * torch.randn(1, in_c, 1, 1).exp())
    scores = torch.cat([c.weight.abs().flatten() for c in convs])
    threshold = scores.kthvalue(int(sparsity * scores.numel())).values
    for conv in convs:
        conv.weight.masked_fill_(conv.weight.abs() <= threshold, 0)
    for m in network.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = None  # cumulative average over the calibration batches
            m.reset_running_stats()
            m.bias.normal_(0, 0.5)
    network.train()
    for _ in range(2):
        network(torch.randn(16, *SHAPE))
    return network.eval()


@pytest.fixture(scope="module", params=list(MODELS))
def compacted(request):
    network = masked_network(request.param)
    return request.param, network, *compact(network, SHAPE)


def test_compact_outputs_equal_the_masked_network(compacted):
    _, network, small, removal, _ = compacted
    images = torch.randn(8, *SHAPE, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected, got = network(images), small(images)
    assert removal.count >= 20  # the property is about a network that did shrink
    assert expected.abs().max() > 0.1  # and whose logits are not all zero
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


def test_removed_channels_are_dead_in_the_masked_network(compacted):
    """Every removed channel had zero filters in all producers or zero columns in all readers."""
    _, network, _, removal, _ = compacted
    assert removal.channels
    for root, channels in removal.channels.items():
        for channel, reason in zip(channels, removal.reasons[root], strict=True):
            filters = [network.get_submodule(p).weight[channel] for p in removal.producers[root]]
            columns = [network.get_submodule(c).weight[:, channel] for c in removal.consumers[root]]
            zero_filters = all((f == 0).all() for f in filters)
            unread = all((c == 0).all() for c in columns)
            assert unread if reason == "unread" else zero_filters, (root, channel, reason)


def _kept(width: int, removed: list[int]) -> torch.Tensor:
    return torch.tensor([i for i in range(width) if i not in set(removed)])


def test_compact_weights_are_the_masked_ones_less_the_removed_channels(compacted):
    """Each layer's weight is the masked one with removed rows/columns deleted; so the parameter
    count is the masked network's minus exactly what the removed channels carried."""
    _, network, small, removal, _ = compacted
    rows: dict[str, list[int]] = {}
    cols: dict[str, list[int]] = {}
    for root, channels in removal.channels.items():
        for p in removal.producers[root]:
            rows[p] = channels
        for c in removal.consumers[root]:
            cols[c] = channels
    removed_params = 0
    for name, module in network.named_modules():
        if not isinstance(module, (nn.Conv2d, nn.Linear)):
            continue
        weight = module.weight
        expected = weight.index_select(0, _kept(weight.shape[0], rows.get(name, [])))
        expected = expected.index_select(1, _kept(weight.shape[1], cols.get(name, [])))
        assert torch.equal(small.get_submodule(name).weight, expected), name
        removed_params += weight.numel() - expected.numel()
        if module.bias is not None:
            removed_params += len(rows.get(name, []))
    # every producer here is followed by one BatchNorm (weight and bias per channel)
    removed_params += 2 * sum(
        len(c) * len(removal.producers[r]) for r, c in removal.channels.items()
    )
    total = sum(p.numel() for p in network.parameters())
    assert sum(p.numel() for p in small.parameters()) == total - removed_params


def test_zero_filters_with_a_nonzero_constant_are_kept_and_removing_them_breaks_the_logits():
    """The BatchNorm subtlety: a zero filter's channel is beta - gamma * mean / std after BN, not 0.
    The compact rule keeps those; the naive rule (remove every zero filter) changes the logits."""
    network = masked_network("vgg16")
    _, removal, _ = compact(network, SHAPE)
    convs = {n: m for n, m in network.named_modules() if isinstance(m, nn.Conv2d)}
    zero_filters = {
        n: ((c.weight.flatten(1) == 0).all(1)).nonzero().flatten().tolist()
        for n, c in convs.items()
    }
    naive = {n: z for n, z in zero_filters.items() if z and n != "features.0"}
    kept = sum(len(set(z) - set(removal.channels.get(n, []))) for n, z in naive.items())
    assert kept > 0
    broken = copy.deepcopy(network)
    graph = dependency_graph(broken, SHAPE)
    for name, idxs in naive.items():
        conv = broken.get_submodule(name)
        graph.get_pruning_group(
            conv, graph.get_pruner_of_module(conv).prune_out_channels, idxs
        ).prune()
    images = torch.randn(8, *SHAPE)
    with torch.no_grad():
        assert (broken(images) - network(images)).abs().max() > 1e-3


@pytest.mark.parametrize("name", ["resnet20_A", "vgg16"])
def test_export_compact_writes_a_checkpoint_eval_rebuilds(name, tmp_path):
    """`prunelab-export format=compact` on a checkpoint: the file rebuilds (read_checkpoint +
    restore_network, as prunelab-eval does) into the narrow network with the masked logits."""
    network = masked_network(name)
    state = {f"network.{k}": v for k, v in network.state_dict().items()}
    ckpt = tmp_path / "last.ckpt"
    torch.save({"prunelab_config": {"model": CONFIGS[name]}, "state_dict": state}, ckpt)
    out = tmp_path / "model.compact.pt"
    cfg = compose_command("export", [f"ckpt_path={ckpt}", "format=compact", f"out={out}"])
    info = export(cfg, tmp_path)
    rebuilt = restore_network(read_checkpoint(out))
    assert info["compact/channels_removed"] >= 20
    assert info["compact/params"] == sum(p.numel() for p in rebuilt.parameters())
    assert info["compact/params"] < info["compact/params_masked"]
    assert info["compact/mac_reduction"] > 1
    images = torch.randn(4, *SHAPE)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(images), network(images), atol=1e-5, rtol=0)


def test_a_multiple_keeps_whole_blocks_of_channels_and_the_logits():
    """multiple=16 keeps some dead channels so each cut group keeps a multiple of 16: still exact,
    and never more removed than without it."""
    network = masked_network("vgg16")
    _, free, _ = compact(network, SHAPE)
    small, removal, plan = compact(network, SHAPE, multiple=16)
    assert 0 < removal.count < free.count
    for root, channels in removal.channels.items():
        assert set(channels) <= set(free.channels[root])
        assert plan["channels"][root] % 16 == 0, (root, plan["channels"][root])
    images = torch.randn(4, *SHAPE)
    with torch.no_grad():
        torch.testing.assert_close(small(images), network(images), atol=1e-5, rtol=0)
