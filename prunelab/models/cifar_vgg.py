"""CIFAR VGG-11/13/16/19 with BatchNorm, as in OpenLTH and GraNet.

Layout: groups of 3x3 conv -> BN -> ReLU, a 2x2 max-pool between groups but none after the last,
then a 2x2 average pool over the remaining 2x2 map and one Linear(512, classes). Module names:
`features.{i}` (conv at i, BN at i+1, ReLU at i+2, pools in between) and `fc`.

Two initializations, each with its reference's conv bias (`init`): `openlth` (conv bias, OpenLTH's
`openlth_init_`: Kaiming normal fan-in, BN gamma U(0, 1), classifier Kaiming) and `granet`
(GraNet's CIFAR VGG code: no conv bias, Kaiming normal fan-out, BN gamma 1, classifier N(0, 0.01)).
Global magnitude pruning compares layers, so the two prune differently from the same recipe.
"""

from __future__ import annotations

import torch
from torch import nn

from prunelab.models.cifar_resnet import openlth_init_


def granet_init_(network: nn.Module) -> None:
    """GraNet's VGG initialization, in place: every conv Kaiming normal with fan-out (ReLU gain,
    std sqrt(2 / (out_channels * k * k))), every BN gamma 1 and beta 0, every Linear N(0, 0.01)
    with bias 0 (a conv bias, if any, 0)."""
    for module in network.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
        elif isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, 0.0, 0.01)
        else:
            continue
        if module.bias is not None:
            nn.init.zeros_(module.bias)


# init name -> (conv bias, initializer)
INITS = {"openlth": (True, openlth_init_), "granet": (False, granet_init_)}

# Channel plans of configurations A, B, D, E (Simonyan & Zisserman 2015); "M" = 2x2 max-pool.
PLANS: dict[int, list[int | str]] = {
    11: [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512],
    13: [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512],
    16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512],
    19: [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
         512, 512, 512, 512],
}  # fmt: skip


class CifarVGG(nn.Module):
    """VGG with BatchNorm for 32x32 inputs (four max-pools leave a 2x2 map, averaged to 1x1).

    Args:
        depth: 11, 13, 16 or 19 (configurations A, B, D, E).
        num_classes: size of the classifier output.
        init: `openlth` (conv bias, OpenLTH's init) or `granet` (no conv bias, GraNet's init).

    Raises:
        ValueError: an unknown depth or init.
    """

    def __init__(self, depth: int = 16, num_classes: int = 10, init: str = "openlth"):
        super().__init__()
        if depth not in PLANS:
            raise ValueError(f"CifarVGG depth must be one of {tuple(PLANS)}, got {depth!r}")
        if init not in INITS:
            raise ValueError(f"CifarVGG init must be one of {', '.join(INITS)}, got {init!r}")
        self.depth, self.init = depth, init
        bias = INITS[init][0]
        layers: list[nn.Module] = []
        channels = 3
        for item in PLANS[depth]:
            if item == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                layers += [
                    nn.Conv2d(channels, int(item), 3, padding=1, bias=bias),
                    nn.BatchNorm2d(int(item)),
                    nn.ReLU(),  # not in-place: safe under module hooks
                ]
                channels = int(item)
        self.features = nn.Sequential(*layers)
        self.pool = nn.AvgPool2d(2)
        self.fc = nn.Linear(channels, num_classes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw the weights afresh with the network's own `init` (also `random_reinit`'s)."""
        INITS[self.init][1](self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map a (B, 3, 32, 32) image batch to (B, num_classes) logits."""
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


def vgg11(num_classes: int = 10) -> CifarVGG:
    """VGG-11 (configuration A) with BatchNorm: about 9.2M parameters."""
    return CifarVGG(11, num_classes)


def vgg13(num_classes: int = 10) -> CifarVGG:
    """VGG-13 (configuration B) with BatchNorm: about 9.4M parameters."""
    return CifarVGG(13, num_classes)


def vgg16(num_classes: int = 10) -> CifarVGG:
    """VGG-16 (configuration D) with BatchNorm: about 14.7M parameters."""
    return CifarVGG(16, num_classes)


def vgg19(num_classes: int = 10) -> CifarVGG:
    """VGG-19 (configuration E) with BatchNorm: about 20.0M parameters."""
    return CifarVGG(19, num_classes)
