"""CIFAR-10 / CIFAR-100, from torchvision's files or from an ImageFolder tree, held in memory."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from prunelab.data.folder import check_images, check_root, has_splits, list_images, load_split
from prunelab.data.memory import CIFAR10_MEAN, CIFAR10_STD, CIFAR100_MEAN, CIFAR100_STD
from prunelab.data.small import InMemoryDataModule, Split

# name -> (number of classes, normalization mean, std)
DATASETS = {
    "cifar10": (10, CIFAR10_MEAN, CIFAR10_STD),
    "cifar100": (100, CIFAR100_MEAN, CIFAR100_STD),
}
# name -> what torchvision's download leaves in root: the extracted folder and the archive
TORCHVISION_FILES = {
    "cifar10": ("cifar-10-batches-py", "cifar-10-python.tar.gz"),
    "cifar100": ("cifar-100-python", "cifar-100-python.tar.gz"),
}
TORCHVISION_TRAIN_SIZE = 50_000  # training images of torchvision's CIFAR-10 and CIFAR-100


class CIFARDataModule(InMemoryDataModule):
    """CIFAR-10 or CIFAR-100, decoded once into memory, with batched augmentation.

    ``root`` is read in one of two layouts, detected automatically:

    * an ImageFolder tree ``root/{train,test}/<class>/<image>`` (e.g. a JPEG export): images are
      decoded once with PIL and the pixels cached under ``cache_dir``; labels follow the sorted
      class folder names, which is torchvision's class order;
    * otherwise torchvision's ``CIFAR10``/``CIFAR100`` files, downloaded there if ``download``.

    Args:
        dataset: ``"cifar10"`` or ``"cifar100"``.
        root: Data directory (see above). Must exist unless ``download`` is true.
        batch_size: Images per step (per rank under DDP).
        num_workers: DataLoader worker processes (0 is fastest for this pipeline).
        seed: Base seed of shuffling, augmentation and the hold-out split.
        val_split: ``"test"`` or an int number of held-out training images.
        download: Let torchvision download the dataset into ``root`` when it is missing.
        num_classes: If given, checked against the dataset (configs carry it for the model).
        cache_dir: Decoded-pixel cache for ImageFolder roots; ``None`` = ``~/.cache/prunelab``.

    Raises:
        FileNotFoundError: ``root`` does not exist and ``download`` is false.
        ValueError: Unknown ``dataset``, bad ``val_split`` or mismatched ``num_classes``.
    """

    def __init__(
        self,
        dataset: str = "cifar10",
        root: str | os.PathLike = "data/cifar10",
        batch_size: int = 128,
        num_workers: int = 0,
        seed: int = 0,
        val_split: str | int = "test",
        download: bool = True,
        num_classes: int | None = None,
        cache_dir: str | os.PathLike | None = None,
    ) -> None:
        if dataset not in DATASETS:
            raise ValueError(f"dataset must be one of {sorted(DATASETS)}, got {dataset!r}")
        self.num_classes, mean, std = DATASETS[dataset]
        super().__init__(batch_size, num_workers, seed, val_split, mean, std)
        self._check_num_classes(num_classes)
        if not download:
            check_root(root)  # with download, torchvision creates the folder
        self.dataset, self.root, self.download = dataset, Path(root).expanduser(), download
        self.cache_dir = cache_dir
        self._check_files()

    def _check_files(self) -> None:
        """Refuses a root that exists but holds neither layout (e.g. a folder of text files),
        before any compute. An empty root is for torchvision to download into."""
        if self.is_image_folder:
            for split in ("train", "test"):
                check_images(self.root / split)
            return
        if not self.root.is_dir() or not any(self.root.iterdir()):
            return
        if not any((self.root / name).exists() for name in TORCHVISION_FILES[self.dataset]):
            folder = TORCHVISION_FILES[self.dataset][0]
            raise FileNotFoundError(
                f"data root {self.root} holds no {self.dataset} data: neither torchvision's "
                f"{folder}/ nor train/ and test/ folders of class folders of images (give an "
                "empty or new folder to download into)"
            )

    def train_size(self) -> int:
        """The number of training images, counted without decoding them."""
        if self.is_image_folder:
            return len(list_images(self.root / "train")[0])
        return TORCHVISION_TRAIN_SIZE

    @property
    def is_image_folder(self) -> bool:
        """Whether ``root`` is an ImageFolder tree with ``train/`` and ``test/``."""
        return has_splits(self.root, "train", "test")

    def prepare_data(self) -> None:
        """Runs once per node before ``setup``: fills the decode cache or downloads the files."""
        if self.is_image_folder:
            for split in ("train", "test"):
                load_split(self.root / split, self.cache_dir)
        elif self.download:
            for train in (True, False):
                self._torchvision(train, download=True)

    def _torchvision(self, train: bool, download: bool):
        from torchvision import datasets  # imported here: only this path needs it

        cls = datasets.CIFAR10 if self.dataset == "cifar10" else datasets.CIFAR100
        return cls(str(self.root), train=train, download=download)

    def load(self) -> tuple[Split, Split, list[str]]:
        """Reads both splits as uint8 ``(N, 3, 32, 32)`` tensors and int64 labels."""
        if self.is_image_folder:
            train_x, train_y, classes = load_split(self.root / "train", self.cache_dir)
            test_x, test_y, test_classes = load_split(self.root / "test", self.cache_dir)
            if test_classes != classes:
                raise ValueError(f"train and test class folders differ under {self.root}")
            return (train_x, train_y), (test_x, test_y), classes
        splits = []
        for train in (True, False):
            data = self._torchvision(train, download=self.download)
            images = torch.from_numpy(data.data).permute(0, 3, 1, 2).contiguous()  # NHWC -> NCHW
            splits.append((images, torch.as_tensor(data.targets, dtype=torch.int64)))
        return splits[0], splits[1], list(data.classes)
