"""The embedded default dataset: a real 6,000-image CIFAR-10 subset shipped inside the package.

It lets every command, test and tutorial run with no download and no data folder. The asset holds
the original JPEG bytes (500 train + 100 test images per class, see
``scripts/make_cifar10_mini.py``) and is decoded in about a second at ``setup``.
"""

from __future__ import annotations

from importlib import resources

import numpy as np
import torch

from prunelab.data.folder import decode_all
from prunelab.data.small import InMemoryDataModule, Split

ASSET = "cifar10_mini.npz"


def asset_file():
    """The asset as an ``importlib.resources`` Traversable (works from a wheel or a zip too)."""
    return resources.files("prunelab.data").joinpath("assets", ASSET)


def load_mini_cifar10() -> tuple[Split, Split, list[str]]:
    """Decodes the embedded asset.

    Returns:
        ``((train_x, train_y), (test_x, test_y), classes)``: images uint8 ``(N, 3, 32, 32)``,
        labels int64 in torchvision's CIFAR-10 order (classes airplane ... truck).
    """
    with resources.as_file(asset_file()) as path, np.load(path) as asset:
        classes = [str(c) for c in asset["classes"]]
        splits = []
        for split in ("train", "test"):
            blob, offsets = asset[f"{split}_bytes"].tobytes(), asset[f"{split}_offsets"]
            jpegs = [blob[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)]
            labels = torch.from_numpy(asset[f"{split}_labels"].astype(np.int64))
            splits.append((decode_all(jpegs, size=(32, 32)), labels))
    return splits[0], splits[1], classes


class MiniCIFAR10DataModule(InMemoryDataModule):
    """CIFAR-10 mini: 5,000 train / 1,000 test real CIFAR-10 images, embedded in the package.

    Same in-memory pipeline and arguments as :class:`~prunelab.data.CIFARDataModule`, minus the
    data location: the default dataset of every run.

    Args:
        batch_size: Images per step (per rank under DDP).
        num_workers: DataLoader worker processes (0 is fastest for this pipeline).
        seed: Base seed of shuffling, augmentation and the hold-out split.
        val_split: ``"test"`` or an int number of held-out training images.
        num_classes: If given, must be 10 (configs carry it for the model).
    """

    num_classes = 10

    def __init__(
        self,
        batch_size: int = 128,
        num_workers: int = 0,
        seed: int = 0,
        val_split: str | int = "test",
        num_classes: int | None = None,
    ) -> None:
        super().__init__(batch_size, num_workers, seed, val_split)
        self._check_num_classes(num_classes)

    def load(self) -> tuple[Split, Split, list[str]]:
        """Decodes the embedded asset (about one second)."""
        return load_mini_cifar10()
