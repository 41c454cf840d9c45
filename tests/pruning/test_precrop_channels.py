"""PreCropping's channel surgery: budgets met, networks still run, residual streams stay coupled."""

import json

import pytest
import torch
from torch import nn

from prunelab.models import CifarResNet, CifarVGG, torchvision_model
from prunelab.pruning.channels import apply_plan, layer_widths, network_structure
from prunelab.pruning.precrop import fit_counts, make_plan, precrop_plan, reinit_

CIFAR = (3, 32, 32)
IMAGENET = (3, 64, 64)  # small inputs keep the ImageNet nets fast; the graph is the same
MODELS = {
    "resnet20_A": (lambda: CifarResNet(20, 10, "A"), CIFAR),
    "resnet20_B": (lambda: CifarResNet(20, 10, "B"), CIFAR),
    "resnet56_A": (lambda: CifarResNet(56, 10, "A"), CIFAR),
    "resnet56_B": (lambda: CifarResNet(56, 10, "B"), CIFAR),
    "vgg16": (lambda: CifarVGG(16, 10), CIFAR),
    "vgg19": (lambda: CifarVGG(19, 10), CIFAR),
    "resnet18": (lambda: torchvision_model("resnet18", 10), IMAGENET),
    "resnet50": (lambda: torchvision_model("resnet50", 10), IMAGENET),
}


def conv_linear(network):
    return {n: m for n, m in network.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}


def weights_and_macs(network, input_shape):
    """Prunable weights and their MACs per image, measured on the built network with hooks."""
    positions = {}
    hooks = [
        m.register_forward_hook(lambda mod, _i, out: positions.__setitem__(mod, out[0, 0].numel()))
        for m in conv_linear(network).values()
    ]
    with torch.no_grad():
        network.eval()(torch.zeros(1, *input_shape))
    for h in hooks:
        h.remove()
    layers = conv_linear(network).values()
    weights = sum(m.weight.numel() for m in layers)
    return weights, sum(m.weight.numel() * positions[m] for m in layers)


def residual_pairs(network):
    """(block, main-branch module, shortcut module or None = identity) of every residual block."""
    pairs = []
    for block in network.modules():
        if hasattr(block, "shortcut"):  # CIFAR BasicBlock: bn2(conv2) + shortcut(x)
            pairs.append((block, block.bn2, block.shortcut))
        elif hasattr(block, "downsample"):  # torchvision BasicBlock / Bottleneck
            last = block.bn3 if hasattr(block, "bn3") else block.bn2
            pairs.append((block, last, block.downsample))
    return pairs


def assert_residual_streams_coupled(network, input_shape):
    """Every tensor added in a residual stream has the stream's channel count."""
    channels = {}

    def record(module, inputs, output=None):
        channels[module] = (inputs[0] if output is None else output).shape[1]

    hooks = []
    for block, main, shortcut in residual_pairs(network):
        hooks.append(main.register_forward_hook(record))
        if shortcut is None:  # identity: the block's input is what gets added
            hooks.append(block.register_forward_pre_hook(record))
        else:
            hooks.append(shortcut.register_forward_hook(record))
    with torch.no_grad():
        network.eval()(torch.zeros(1, *input_shape))
    for h in hooks:
        h.remove()
    for block, main, shortcut in residual_pairs(network):
        assert channels[main] == channels[shortcut if shortcut is not None else block]


@pytest.mark.parametrize("name", list(MODELS))
def test_cropped_network_meets_budget_runs_and_keeps_streams_coupled(name):
    build, shape = MODELS[name]
    torch.manual_seed(0)
    network = build()
    full_weights, _ = weights_and_macs(network, shape)
    widths = layer_widths(network)
    plan = precrop_plan(network, shape, 0.1, source="erk")
    json.loads(json.dumps(plan))  # plain data: it goes into checkpoints as is
    reinit_(apply_plan(network, plan))
    weights, _ = weights_and_macs(network, shape)
    assert weights / full_weights == pytest.approx(0.1, rel=0.03)
    assert weights / full_weights == pytest.approx(plan["achieved"], rel=1e-9)
    narrow = layer_widths(network)
    assert narrow == plan["channels"]
    assert all(1 <= c <= widths[n] for n, c in narrow.items())
    assert sum(narrow.values()) < sum(widths.values())
    classifier = list(conv_linear(network))[-1]
    assert narrow[classifier] == widths[classifier] == 10  # the class outputs are never cut
    x = torch.randn(2, *shape)
    out = network.train()(x)
    assert out.shape == (2, 10)
    out.square().mean().backward()
    assert all(p.grad is not None for p in network.parameters())
    assert bool(residual_pairs(network)) == name.startswith("resnet")
    assert_residual_streams_coupled(network, shape)


@pytest.mark.parametrize("name", ["resnet20_A", "vgg16"])
def test_mac_budget_is_met_with_the_convex_source(name):
    build, shape = MODELS[name]
    network = build()
    _, full_macs = weights_and_macs(network, shape)
    plan = precrop_plan(network, shape, 0.1, source="convex", budget="macs")
    apply_plan(network, plan)
    _, macs = weights_and_macs(network, shape)
    assert macs / full_macs == pytest.approx(0.1, rel=0.03)


def test_option_a_shortcut_pads_or_crops_between_unequal_streams():
    network = CifarResNet(20, 10, "A")
    structure = network_structure(network, CIFAR)
    # Stage 2's stream narrower than stage 1's: option A's zero-pad becomes a centre crop.
    counts = [max(1, g.width // 4) for g in structure.groups]
    stream = {g.outputs[0]: i for i, g in enumerate(structure.groups)}
    counts[stream["conv1"]], counts[stream["layer2.0.conv2"]] = 12, 5
    counts[stream["fc"]] = 10
    apply_plan(network, make_plan(structure, counts))
    shortcut = network.layer2[0].shortcut
    assert (shortcut.in_channels, shortcut.out_channels) == (12, 5)
    assert network(torch.randn(2, *CIFAR)).shape == (2, 10)
    assert_residual_streams_coupled(network, CIFAR)


def test_plans_are_refused_by_other_networks_and_when_inconsistent():
    network = CifarResNet(20, 10, "B")
    plan = precrop_plan(network, CIFAR, 0.2, source="uniform")
    with pytest.raises(ValueError, match="does not fit"):
        apply_plan(CifarResNet(32, 10, "B"), plan)
    with pytest.raises(ValueError, match="does not fit"):
        apply_plan(CifarResNet(20, 100, "B"), plan)
    broken = json.loads(json.dumps(plan))
    broken["channels"]["layer1.0.conv2"] += 1  # conv1 and the stage-1 block outputs are added
    with pytest.raises(ValueError, match="coupled"):
        apply_plan(CifarResNet(20, 10, "B"), broken)
    apply_plan(network, plan)
    with pytest.raises(ValueError, match="already cropped"):
        apply_plan(network, plan)


def test_fit_counts_refuses_a_budget_below_one_channel_per_layer():
    network = CifarResNet(20, 10, "A")
    structure = network_structure(network, CIFAR)
    uniform = dict.fromkeys(structure.weights, 1e-4)
    with pytest.raises(ValueError, match="below 1 channel"):
        fit_counts(structure, uniform, 1e-4)


def test_apply_plan_leaves_batchnorm_statistics_alone():
    network = CifarResNet(20, 10, "B").train()
    network.bn1.running_mean.fill_(0.5)
    plan = precrop_plan(network, CIFAR, 0.3, source="uniform")
    apply_plan(network, plan)
    assert torch.all(network.bn1.running_mean == 0.5)  # the trace ran in eval mode
    assert network.training


@pytest.mark.parametrize("source", ["snip", "synflow", "erk", "uniform", "convex"])
def test_every_source_meets_the_parameter_budget(source):
    torch.manual_seed(0)
    network = CifarResNet(20, 10, "B")
    full, _ = weights_and_macs(network, CIFAR)
    batches = [(torch.randn(16, *CIFAR), torch.randint(0, 10, (16,)))]
    plan = precrop_plan(network, CIFAR, 0.1, source, batches=batches, iterations=3)
    assert plan["source"] == source and plan["density"] == 0.1
    apply_plan(network, plan)
    weights, _ = weights_and_macs(network, CIFAR)
    assert weights / full == pytest.approx(0.1, rel=0.03)


def test_channel_multiple_rounds_every_cut_group():
    network = CifarVGG(16, 10)
    full, _ = weights_and_macs(network, CIFAR)
    plan = precrop_plan(network, CIFAR, 0.1, source="erk", multiple=8)
    apply_plan(network, plan)
    weights, _ = weights_and_macs(network, CIFAR)
    assert weights / full == pytest.approx(0.1, rel=0.03)
    assert all(c % 8 == 0 for n, c in plan["channels"].items() if n != "fc")


def test_fresh_init_follows_the_narrow_fan_in():
    torch.manual_seed(0)
    network = CifarVGG(16, 10)
    conv = network.features[27]  # a 512 -> 512 3x3 conv: many weights, so the std is sharp
    apply_plan(network, precrop_plan(network, CIFAR, 0.1, source="uniform"))
    before = conv.weight.detach().std().item()  # cut, but still the full (512 x 9) init scale
    reinit_(network)
    assert conv.in_channels < 512
    assert before == pytest.approx((2 / (512 * 9)) ** 0.5, rel=0.05)
    narrow = (2 / (conv.in_channels * 9)) ** 0.5
    assert conv.weight.detach().std().item() == pytest.approx(narrow, rel=0.05)
