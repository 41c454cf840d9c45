"""select_targets: which weights a method prunes, named as the user's module names them."""

import pytest
from torch import nn

from prunelab.errors import ConfigError
from prunelab.pruning.targets import select_targets


class UserModule(nn.Module):
    """A user's module: the network under `net`, a depthwise conv, a head."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.Conv2d(8, 8, 3, groups=8), nn.ReLU()
        )
        self.head = nn.Linear(8, 2)


def test_default_is_every_conv_and_linear_weight_depthwise_included():
    module = UserModule()
    names = list(select_targets(module))
    assert names == ["net.0.weight", "net.2.weight", "head.weight"]
    assert select_targets(module)["net.2.weight"].shape == (8, 1, 3, 3)  # depthwise: in / groups


def test_globs_modules_and_pairs_select_the_same_weights():
    module = UserModule()
    by_glob = select_targets(module, ["net.*"])
    by_module = select_targets(module, [module.net])
    by_pairs = select_targets(module, [(module.net[0], "weight"), (module.net[2], "weight")])
    assert list(by_glob) == list(by_module) == list(by_pairs) == ["net.0.weight", "net.2.weight"]
    assert all(by_glob[n] is module.get_parameter(n) for n in by_glob)
    assert list(select_targets(module, (module.head, "weight"))) == ["head.weight"]
    assert list(select_targets(module, module.head)) == ["head.weight"]


def test_exclude_applies_after_the_selection():
    module = UserModule()
    assert list(select_targets(module, [module.net], exclude=["net.2.*"])) == ["net.0.weight"]
    assert list(select_targets(module, exclude="head.weight")) == ["net.0.weight", "net.2.weight"]


@pytest.mark.parametrize(
    ("targets", "exclude", "message"),
    [
        (["fc.weight"], (), r"glob 'fc.weight' selects no conv or linear weight .*head\.weight"),
        ([(nn.Linear(2, 2), "weight")], (), "module Linear parameter 'weight' selects no"),
        ([("bias")], (), "glob 'bias' selects no"),
        (None, ["fc.weight"], r"exclude glob 'fc.weight' matches no prunable parameter"),
    ],
)
def test_a_selection_of_nothing_is_refused_naming_the_valid_names(targets, exclude, message):
    with pytest.raises(ConfigError, match=message):
        select_targets(UserModule(), targets, exclude)
