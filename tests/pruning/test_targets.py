"""Which parameters are prunable: conv/linear weights only, exclusion by glob, typo detection."""

import pytest
import torch
from torch import nn

from prunelab.errors import ConfigError
from prunelab.pruning import prunable_parameters


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(8, 8, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.shortcut = nn.Sequential(nn.Conv2d(8, 8, 1), nn.BatchNorm2d(8))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3)
        self.bn1 = nn.BatchNorm2d(8)
        self.layer1 = nn.Sequential(Block(), Block())
        self.fc = nn.Linear(8, 10)


def test_only_conv_and_linear_weights_in_parameter_order():
    model = Net()
    names = list(prunable_parameters(model))
    assert names == [
        "conv1.weight",
        "layer1.0.conv1.weight",
        "layer1.0.shortcut.0.weight",
        "layer1.1.conv1.weight",
        "layer1.1.shortcut.0.weight",
        "fc.weight",
    ]
    order = [n for n, _ in model.named_parameters() if n in names]
    assert order == names
    params = prunable_parameters(model)
    assert params["fc.weight"] is model.fc.weight


def test_exclude_globs():
    model = Net()
    names = list(prunable_parameters(model, exclude=["fc.weight", "*.shortcut.*"]))
    assert names == ["conv1.weight", "layer1.0.conv1.weight", "layer1.1.conv1.weight"]
    # "conv1.*" is anchored at the start: the blocks' conv1 layers stay.
    assert "conv1.weight" not in prunable_parameters(model, exclude=["conv1.*"])
    assert "layer1.0.conv1.weight" in prunable_parameters(model, exclude=["conv1.*"])
    assert list(prunable_parameters(model, exclude="fc.weight"))[-1] != "fc.weight"


def test_glob_that_matches_nothing_is_an_error_listing_the_names():
    with pytest.raises(ConfigError, match=r"'classifier\.weight'.*fc\.weight"):
        prunable_parameters(Net(), exclude=["classifier.weight"])
    # A glob that only names a bias or a BatchNorm is a mistake too: those are never prunable.
    with pytest.raises(ValueError, match="bn1"):
        prunable_parameters(Net(), exclude=["bn1.*"])


def test_a_bare_linear_model():
    params = prunable_parameters(nn.Linear(4, 2))
    assert list(params) == ["weight"]
    assert isinstance(params["weight"], torch.nn.Parameter)
