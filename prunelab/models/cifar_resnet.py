"""CIFAR ResNets (He et al. 2016, section 4.2): ResNet-20/32/56/110, depth 6n+2.

Module names are stable because pruning configs select tensors by glob on parameter names:
`conv1`, `bn1`, `layer{1,2,3}.{i}.conv{1,2}`, `layer{2,3}.0.shortcut.0` (option B), `fc`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

SHORTCUTS = ("A", "B")


def openlth_init_(model: nn.Module) -> nn.Module:
    """Initialise a network in place the way OpenLTH does.

    Conv and linear weights get kaiming-normal (fan-in, ReLU gain); BatchNorm gamma ~ U(0, 1) and
    beta = 0; biases are zeroed (every conv bias here feeds a BatchNorm, so its value is moot).

    Args:
        model: the network; every submodule is visited.

    Returns:
        The same model, for chaining.
    """
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            # U(0, 1) gamma rather than 1: OpenLTH's default, which the LTH results were run with.
            nn.init.uniform_(m.weight, 0.0, 1.0)
            nn.init.zeros_(m.bias)
    return model


class ShortcutA(nn.Module):
    """Parameter-free shortcut (option A): subsample by 2 and zero-pad the new channels.

    A real module rather than a lambda, so the network deep-copies, pickles and can be traced.
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Pad the extra channels on both sides (half each), as in the common reference
        # implementation; an odd difference puts the extra channel at the end.
        extra = self.out_channels - self.in_channels
        before = extra // 2
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, before, extra - before))

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}"


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with a residual connection; ReLU after the sum."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, shortcut: str):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        if stride == 1 and in_channels == out_channels:
            self.shortcut: nn.Module = nn.Identity()
        elif shortcut == "A":
            if stride != 2:
                raise ValueError(f"shortcut A supports stride 2 only, got stride {stride}")
            self.shortcut = ShortcutA(in_channels, out_channels)
        else:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """ResNet for 32x32 inputs: 3x3 stem, three stages of n BasicBlocks, global pool, linear.

    Args:
        depth: 6n + 2 (20, 32, 56, 110 are the published ones).
        num_classes: size of the classifier output.
        shortcut: "A" = parameter-free subsample + zero-pad (He et al.); "B" = 1x1 conv + BN where
            the shape changes (OpenLTH's default).
        width: channels of the stem and the first stage; stages 2 and 3 use 2x and 4x.

    Raises:
        ValueError: depth not of the form 6n+2 with n >= 1, or an unknown shortcut option.
    """

    def __init__(
        self, depth: int = 20, num_classes: int = 10, shortcut: str = "B", width: int = 16
    ):
        super().__init__()
        if not isinstance(depth, int) or depth < 8 or (depth - 2) % 6 != 0:
            raise ValueError(
                f"CifarResNet depth must be 6n+2 with n >= 1 (e.g. 20, 32, 56, 110), got {depth!r}"
            )
        if shortcut not in SHORTCUTS:
            raise ValueError(f"CifarResNet shortcut must be one of {SHORTCUTS}, got {shortcut!r}")
        if width < 1:
            raise ValueError(f"CifarResNet width must be a positive int, got {width!r}")
        n = (depth - 2) // 6
        self.depth, self.shortcut_type, self.width = depth, shortcut, width

        self.conv1 = nn.Conv2d(3, width, 3, 1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        channels = width
        for stage, stride in enumerate((1, 2, 2), start=1):
            out_channels = width * 2 ** (stage - 1)
            blocks = []
            for i in range(n):
                blocks.append(BasicBlock(channels, out_channels, stride if i == 0 else 1, shortcut))
                channels = out_channels
            setattr(self, f"layer{stage}", nn.Sequential(*blocks))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)
        openlth_init_(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map a (B, 3, H, W) image batch to (B, num_classes) logits."""
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.pool(x), 1))


def resnet20(num_classes: int = 10, shortcut: str = "B") -> CifarResNet:
    """ResNet-20 (n = 3): about 0.27M parameters."""
    return CifarResNet(20, num_classes, shortcut)


def resnet32(num_classes: int = 10, shortcut: str = "B") -> CifarResNet:
    """ResNet-32 (n = 5): about 0.46M parameters."""
    return CifarResNet(32, num_classes, shortcut)


def resnet56(num_classes: int = 10, shortcut: str = "B") -> CifarResNet:
    """ResNet-56 (n = 9): about 0.85M parameters."""
    return CifarResNet(56, num_classes, shortcut)


def resnet110(num_classes: int = 10, shortcut: str = "B") -> CifarResNet:
    """ResNet-110 (n = 18): about 1.7M parameters."""
    return CifarResNet(110, num_classes, shortcut)
