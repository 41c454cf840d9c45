"""CIFAR VGG-BN: shapes, published parameter counts, layout, names, init and copyability."""

import copy

import pytest
import torch
from torch import nn

from prunelab.models import CifarVGG, vgg11, vgg13, vgg16, vgg19


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("depth", [11, 13, 16, 19])
def test_forward_shape_and_layout(depth):
    model = CifarVGG(depth, num_classes=10).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    # The name counts the original's 3 linear layers; the CIFAR variant keeps convs + 1 linear.
    assert len(convs) == depth - 3
    assert all(c.kernel_size == (3, 3) and c.bias is not None for c in convs)
    assert sum(isinstance(m, nn.MaxPool2d) for m in model.features) == 4
    # No pool after the last group: the 2x2 map goes to the 2x2 average pool.
    assert isinstance(model.features[-1], nn.ReLU)
    assert isinstance(model.pool, nn.AvgPool2d) and model.pool.kernel_size == 2
    assert model.fc.in_features == 512


def test_parameter_counts_match_published():
    # VGG-16 ~14.7M and VGG-19 ~20.0M at 10 classes (conv bias + BN + one 512 -> 10 linear).
    assert n_params(vgg16()) == 14_728_266
    assert n_params(vgg19()) == 20_040_522
    assert round(n_params(vgg11()) / 1e6, 1) == 9.2
    assert round(n_params(vgg13()) / 1e6, 1) == 9.4
    # Only the head depends on the class count: 513 parameters per class.
    assert n_params(vgg16(num_classes=100)) - n_params(vgg16()) == 90 * 513


def test_parameter_names_are_stable():
    names = [name for name, _ in vgg16().named_parameters()]
    assert names[:4] == [
        "features.0.weight",
        "features.0.bias",
        "features.1.weight",
        "features.1.bias",
    ]
    assert names[-2:] == ["fc.weight", "fc.bias"]
    # conv -> BN -> ReLU: the second conv follows the first block's ReLU at index 3.
    assert "features.3.weight" in names and "features.4.running_mean" in vgg16().state_dict()


def test_invalid_depth_raises():
    with pytest.raises(ValueError, match=r"\(11, 13, 16, 19\).*got 15"):
        CifarVGG(15)


def test_convenience_functions():
    for fn, depth in ((vgg11, 11), (vgg13, 13), (vgg16, 16), (vgg19, 19)):
        model = fn(num_classes=100)
        assert model.depth == depth and model.fc.out_features == 100


def test_openlth_init():
    torch.manual_seed(0)
    model = vgg11()
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    gammas = torch.cat([bn.weight.detach() for bn in bns])
    assert ((gammas >= 0) & (gammas <= 1)).all() and 0.3 < gammas.mean() < 0.7
    assert all((bn.bias == 0).all() for bn in bns)
    assert (model.fc.bias == 0).all()
    w = model.features[-3].weight  # 512 x 512 x 3 x 3, fan-in 4608
    assert w.std().item() == pytest.approx((2 / 4608) ** 0.5, rel=0.02)


def test_deepcopy_and_state_dict_round_trip():
    model = vgg11().eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        ref = model(x)
        assert torch.equal(copy.deepcopy(model)(x), ref)
        fresh = vgg11().eval()
        fresh.load_state_dict(model.state_dict())
        assert torch.equal(fresh(x), ref)
