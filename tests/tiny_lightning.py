"""A seconds-sized data module and network for callback tests in plain Lightning code."""

import torch
from torch import nn

from prunelab.data import InMemoryDataModule


class Synthetic(InMemoryDataModule):
    """64 train / 32 test random 8x8 images of 4 classes: deterministic per (seed, epoch)."""

    num_classes = 4

    def load(self):
        gen = torch.Generator().manual_seed(0)
        images = torch.randint(0, 256, (96, 3, 8, 8), dtype=torch.uint8, generator=gen)
        labels = torch.randint(0, 4, (96,), generator=gen)
        return (images[:64], labels[:64]), (images[64:], labels[64:]), list("abcd")


def tiny_net() -> nn.Module:
    """Two conv-BN-ReLU blocks and a linear head: three prunable weights."""
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4),
    )  # fmt: skip


def assert_same_level_run(whole, method_whole, resumed, method_resumed, level: int) -> None:
    """A resumed level-wise run (IMP, SAP) equals the uninterrupted one: the same final level,
    masks bit for bit, network state bit for bit, and level records."""
    assert method_resumed.level == method_whole.level == level
    for name, mask in method_whole.masks.items():
        assert torch.equal(mask, method_resumed.masks[name]), name
    expected = whole.network.state_dict()
    for name, value in resumed.network.state_dict().items():
        assert torch.equal(value, expected[name]), name
    assert method_resumed.stages == method_whole.stages
