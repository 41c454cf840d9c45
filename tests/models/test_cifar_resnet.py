"""CIFAR ResNet: shapes, published parameter counts, names, shortcuts, init and copyability."""

import copy
import math
import pickle

import pytest
import torch
from torch import nn

from prunelab.models import CifarResNet, resnet20, resnet32, resnet56, resnet110
from prunelab.models.cifar_resnet import ShortcutA


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("shortcut", ["A", "B"])
@pytest.mark.parametrize("depth", [20, 32, 56, 110])
def test_forward_shape(depth, shortcut):
    model = CifarResNet(depth, num_classes=10, shortcut=shortcut).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 10)
    assert torch.isfinite(out).all()


def test_parameter_counts_match_published():
    # He et al. 2016, Table 6: ResNet-20 0.27M, -32 0.46M, -56 0.85M, -110 1.7M (option A).
    assert n_params(CifarResNet(20, shortcut="A")) == 269_722
    assert n_params(CifarResNet(56, shortcut="A")) == 853_018
    # Option B adds the two 1x1 convs (16*32 + 32*64 = 2,560 weights) and their BN (2*(32+64)).
    assert n_params(CifarResNet(20, shortcut="B")) == 272_474 == 269_722 + 2_560 + 192
    assert n_params(CifarResNet(56, shortcut="B")) == 855_770
    assert round(n_params(CifarResNet(32, shortcut="A")) / 1e6, 2) == 0.46
    assert round(n_params(CifarResNet(110, shortcut="A")) / 1e6, 1) == 1.7


def test_num_classes_sets_the_head():
    model = CifarResNet(20, num_classes=100)
    assert model.fc.in_features == 64 and model.fc.out_features == 100
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 100)


def test_width_scales_every_stage():
    model = CifarResNet(20, width=32)
    assert model.conv1.out_channels == 32 and model.fc.in_features == 128
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_option_b_has_exactly_2560_shortcut_conv_weights():
    model = resnet20(shortcut="B")
    shortcut_convs = {
        name: p.numel()
        for name, p in model.named_parameters()
        if "shortcut" in name and p.dim() == 4
    }
    assert shortcut_convs == {"layer2.0.shortcut.0.weight": 512, "layer3.0.shortcut.0.weight": 2048}
    assert sum(shortcut_convs.values()) == 2_560


def test_option_a_shortcut_is_parameter_free_and_zero_pads():
    model = resnet20(shortcut="A")
    assert not [name for name, _ in model.named_parameters() if "shortcut" in name]
    assert isinstance(model.layer2[0].shortcut, ShortcutA)
    x = torch.randn(2, 16, 8, 8)
    y = ShortcutA(16, 32)(x)
    assert y.shape == (2, 32, 4, 4)
    # The input sits in the middle channels, subsampled at even positions; the rest is zero.
    assert torch.equal(y[:, 8:24], x[:, :, ::2, ::2])
    assert (y[:, :8] == 0).all() and (y[:, 24:] == 0).all()


def test_parameter_names_are_stable():
    names = {name for name, _ in resnet20().named_parameters()}
    expected = {
        "conv1.weight", "bn1.weight", "layer1.0.conv1.weight", "layer1.2.conv2.weight",
        "layer2.0.shortcut.0.weight", "layer2.0.shortcut.1.weight", "layer3.2.bn2.bias",
        "fc.weight", "fc.bias",
    }  # fmt: skip
    assert expected <= names
    # Only layer2.0 and layer3.0 change shape; no other block carries a shortcut.
    assert {n.split(".shortcut")[0] for n in names if "shortcut" in n} == {"layer2.0", "layer3.0"}


@pytest.mark.parametrize("depth", [0, 2, 19, 21, 22, 100])
def test_invalid_depth_raises(depth):
    with pytest.raises(ValueError, match=rf"6n\+2.*got {depth}"):
        CifarResNet(depth)


def test_non_standard_6n_plus_2_depth_is_accepted():
    model = CifarResNet(14)  # n = 2
    assert len(model.layer1) == len(model.layer2) == len(model.layer3) == 2


def test_invalid_shortcut_raises():
    with pytest.raises(ValueError, match=r"'A', 'B'.*'C'"):
        CifarResNet(20, shortcut="C")


def test_convenience_functions():
    assert [len(f().layer1) for f in (resnet20, resnet32, resnet56, resnet110)] == [3, 5, 9, 18]
    model = resnet32(num_classes=7, shortcut="A")
    assert model.fc.out_features == 7 and model.shortcut_type == "A"


@pytest.mark.parametrize("shortcut", ["A", "B"])
def test_openlth_init(shortcut):
    torch.manual_seed(0)
    model = CifarResNet(20, shortcut=shortcut)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    gammas = torch.cat([bn.weight.detach() for bn in bns])
    assert ((gammas >= 0) & (gammas <= 1)).all()
    assert 0.3 < gammas.mean() < 0.7  # U(0, 1), not the PyTorch default of all ones
    assert all((bn.bias == 0).all() for bn in bns)
    assert (model.fc.bias == 0).all()
    # Kaiming normal, fan-in, ReLU gain: std = sqrt(2 / fan_in). 36,864 samples -> within 3%.
    w = model.layer3[1].conv1.weight
    assert w.std().item() == pytest.approx(math.sqrt(2 / (64 * 9)), rel=0.03)
    assert model.fc.weight.std().item() == pytest.approx(math.sqrt(2 / 64), rel=0.15)


@pytest.mark.parametrize("shortcut", ["A", "B"])
def test_deepcopy_pickle_and_state_dict_round_trip(shortcut):
    model = resnet20(shortcut=shortcut).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        ref = model(x)
        for clone in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
            assert torch.equal(clone(x), ref)
        fresh = resnet20(shortcut=shortcut).eval()
        assert not torch.equal(fresh(x), ref)  # a different init really differs
        fresh.load_state_dict(model.state_dict())
        assert torch.equal(fresh(x), ref)


@pytest.mark.parametrize("shortcut", ["A", "B"])
def test_fx_traceable(shortcut):
    model = resnet20(shortcut=shortcut).eval()
    traced = torch.fx.symbolic_trace(model)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(traced(x), model(x))
