"""GraNet's VGG-19 initialization (`model.init=granet`), read from the initialized weights: no conv
bias, Kaiming normal with fan-out, BN gamma 1 and beta 0, classifier N(0, 0.01); OpenLTH's stays
the default; GraNet's experiments use it, with the authors' 45k/5k split; a control's fresh
initialization is the network's own."""

import math

import pytest
import torch
from torch import nn

from prunelab.callbacks.levels import init_scheme
from prunelab.config import compose
from prunelab.models import CifarVGG
from prunelab.network import build_network
from prunelab.pruning.rewind import reinitialize


@pytest.fixture(scope="module")
def granet():
    torch.manual_seed(0)
    return CifarVGG(19, 10, init="granet")


def convs(network):
    return [m for m in network.modules() if isinstance(m, nn.Conv2d)]


def check_granet_statistics(network):
    """Every figure the initializer sets, with a tolerance of about 3 sampling std's (the first
    conv has the fewest weights: 1,728, a relative std error of 1.7%)."""
    for conv in convs(network):
        assert conv.bias is None
        fan_out = conv.out_channels * conv.kernel_size[0] * conv.kernel_size[1]
        weight = conv.weight.detach()
        std = float(weight.std())
        assert std == pytest.approx(math.sqrt(2 / fan_out), rel=0.06)
        assert abs(float(weight.mean())) < 0.2 * std
    for bn in (m for m in network.modules() if isinstance(m, nn.BatchNorm2d)):
        assert torch.equal(bn.weight, torch.ones_like(bn.weight))
        assert torch.equal(bn.bias, torch.zeros_like(bn.bias))
    fc = network.fc.weight.detach()
    assert float(fc.std()) == pytest.approx(0.01, rel=0.05)  # 5,120 weights
    assert abs(float(fc.mean())) < 0.001
    assert torch.equal(network.fc.bias, torch.zeros(10))


def test_granet_init_has_the_authors_statistics(granet):
    check_granet_statistics(granet)
    # fan-out, not fan-in: the first conv's fan-in (27) would give a std 4.6x larger
    assert float(convs(granet)[0].weight.detach().std()) < 0.1


def test_openlth_stays_the_default_with_its_conv_bias_and_larger_classifier():
    torch.manual_seed(0)
    network = CifarVGG(11, 10)
    assert network.init == "openlth" and all(c.bias is not None for c in convs(network))
    assert float(network.fc.weight.detach().std()) == pytest.approx(math.sqrt(2 / 512), rel=0.05)
    with pytest.raises(ValueError, match="init must be one of openlth, granet, got 'kaiming'"):
        CifarVGG(11, 10, init="kaiming")


def test_a_fresh_initialization_is_the_networks_own(granet):
    """`random_reinit` redraws with the network's init: GraNet's statistics, new values."""
    fresh = CifarVGG(19, 10, init="granet")
    fresh.load_state_dict(granet.state_dict())
    reinitialize(fresh, seed=3, init_fn=init_scheme(fresh))
    check_granet_statistics(fresh)
    assert not torch.equal(fresh.fc.weight, granet.fc.weight)


@pytest.mark.parametrize("experiment", ["granet_vgg19_cifar10", "granet_vgg19_cifar10_s2s"])
def test_granet_experiments_use_the_authors_init_and_split(experiment):
    cfg = compose([f"experiment={experiment}"])
    assert (cfg.model.init, cfg.data.val_split) == ("granet", 5000)
    network = build_network(cfg.model)
    assert isinstance(network, CifarVGG) and network.init == "granet"
    assert all(c.bias is None for c in convs(network))
