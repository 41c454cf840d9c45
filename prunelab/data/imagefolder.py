"""Large-image sets in ImageFolder layout (ImageNet and any ``root/{train,val}/<class>/`` tree)."""

from __future__ import annotations

import os
from pathlib import Path

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset, Subset
from torchvision import datasets, transforms
from torchvision.datasets.folder import IMG_EXTENSIONS

from prunelab.data.folder import check_images, check_root, class_folders, has_splits
from prunelab.data.sampler import EpochBatchSampler, ResumableLoader
from prunelab.data.small import holdout_indices

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def train_transform(image_size: int) -> transforms.Compose:
    """RandomResizedCrop + horizontal flip + ImageNet normalization (the standard recipe)."""
    return transforms.Compose(
        [
            transforms.RandomResizedCrop(image_size),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )


def eval_transform(image_size: int, resize_size: int) -> transforms.Compose:
    """Resize the short side + center crop + ImageNet normalization."""
    return transforms.Compose(
        [
            transforms.Resize(resize_size),
            transforms.CenterCrop(image_size),
            transforms.ToTensor(),
            transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )


class ImageFolderDataModule(pl.LightningDataModule):
    """Any ``root/train/<class>/*`` tree with ``val/`` and/or ``test/``, decoded per image.

    Labels follow the sorted class folder names (torchvision's ImageFolder order; for ImageNet the
    sorted WordNet ids, i.e. the standard class indices). Batches are ordered by an
    :class:`EpochBatchSampler`: deterministic in ``(seed, epoch)`` and sharded by rank under DDP
    (use ``Trainer(use_distributed_sampler=False)``). Per-image augmentation draws from the
    worker's torch generator (seed it with ``seed_everything(..., workers=True)``).

    Args:
        root: Folder holding ``train/`` and ``val/`` or ``test/``.
        image_size: Side of the square crops fed to the network, in pixels.
        batch_size: Images per step (per rank under DDP).
        num_workers: DataLoader worker processes decoding JPEGs.
        seed: Base seed of shuffling and of an int hold-out split.
        val_split: Folder name to validate on (``"val"`` falls back to ``"test"`` when absent),
            or an int number of training images to hold out.
        num_classes: If given, checked against the number of class folders.
        resize_size: Short side before the eval center crop; ``None`` = ``image_size * 8 / 7``
            (256 for 224).

    Raises:
        FileNotFoundError: ``root`` or its ``train/`` split is missing.
        ValueError: ``num_classes`` does not match the class folders.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        image_size: int = 224,
        batch_size: int = 256,
        num_workers: int = 4,
        seed: int = 0,
        val_split: str | int = "val",
        num_classes: int | None = None,
        resize_size: int | None = None,
    ) -> None:
        super().__init__()
        check_root(root)
        self.root = Path(root).expanduser()
        if not has_splits(self.root, "train"):
            raise FileNotFoundError(f"no train/<class>/ folders under data root {root}")
        self.classes = class_folders(self.root / "train")
        self.num_classes = len(self.classes)
        if num_classes is not None and num_classes != self.num_classes:
            raise ValueError(
                f"num_classes={num_classes}, but {self.root / 'train'} has {self.num_classes}"
            )
        self.image_size, self.resize_size = image_size, resize_size or round(image_size * 8 / 7)
        self.batch_size, self.num_workers, self.seed = batch_size, num_workers, seed
        if isinstance(val_split, str) and val_split.isdigit():
            val_split = int(val_split)  # "5000" from a command line
        self.val_split = val_split if isinstance(val_split, int) else self._split_folder(val_split)
        self.test_split = self._split_folder("test")
        named = [self.val_split] if isinstance(self.val_split, str) else []
        for split in dict.fromkeys(["train", *named, self.test_split]):
            check_images(self.root / split, IMG_EXTENSIONS)  # a tree of text files is no data
        self.train_set = self.val_set = self.test_set = None

    def _split_folder(self, name: str) -> str:
        """``name`` if that split exists, else the other of val/test (datasets ship one or both)."""
        for candidate in (name, {"val": "test", "test": "val"}.get(name)):
            if candidate and has_splits(self.root, candidate):
                return candidate
        raise FileNotFoundError(f"no {name}/ split (nor val/ or test/) under data root {self.root}")

    def check_before_fit(self) -> None:
        """Scans the folders now (``setup`` keeps the scan), so what only the files can tell,
        such as an int ``val_split`` not smaller than ``train/``, is refused before training."""
        self.setup()

    def _folder(self, split: str, transform) -> datasets.ImageFolder:
        data = datasets.ImageFolder(str(self.root / split), transform=transform)
        if data.classes != self.classes:
            raise ValueError(f"class folders of {split}/ differ from train/ under {self.root}")
        return data

    def setup(self, stage: str | None = None) -> None:
        """Scans the folders once (later calls are no-ops)."""
        if self.train_set is not None:
            return
        train_tf, eval_tf = (
            train_transform(self.image_size),
            eval_transform(self.image_size, self.resize_size),
        )
        self.train_set = self._folder("train", train_tf)
        if isinstance(self.val_split, int):
            keep, held = holdout_indices(len(self.train_set), self.val_split, self.seed)
            self.val_set = Subset(self._folder("train", eval_tf), held.tolist())
            self.train_set = Subset(self.train_set, keep.tolist())
        else:
            self.val_set = self._folder(self.val_split, eval_tf)
        self.test_set = self._folder(self.test_split, eval_tf)

    def _loader(self, data: Dataset | None, train: bool) -> DataLoader:
        if data is None:
            raise RuntimeError("call setup() before asking for a dataloader")
        sampler = EpochBatchSampler(
            len(data), self.batch_size, shuffle=train, seed=self.seed, as_keys=False
        )
        return ResumableLoader(  # resumed mid-epoch exactly, as the in-memory sets are
            data,
            batch_sampler=sampler,
            num_workers=self.num_workers,
            pin_memory=torch.cuda.is_available(),
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        """Shuffled, augmented batches."""
        return self._loader(self.train_set, train=True)

    def val_dataloader(self) -> DataLoader:
        """Validation batches in fixed order (resize + center crop)."""
        return self._loader(self.val_set, train=False)

    def test_dataloader(self) -> DataLoader:
        """Test batches in fixed order (resize + center crop)."""
        return self._loader(self.test_set, train=False)


class ImageNetDataModule(ImageFolderDataModule):
    """ImageNet-1k in ImageFolder layout (``train/`` and ``val/`` of 1,000 WordNet-id folders).

    Takes the arguments of :class:`ImageFolderDataModule`; ``num_classes`` must be 1000.
    """

    def __init__(self, root: str | os.PathLike, num_classes: int = 1000, **kwargs) -> None:
        super().__init__(root, num_classes=num_classes, **kwargs)
        if self.num_classes != 1000:
            raise ValueError(f"ImageNet has 1000 classes, {self.root} has {self.num_classes}")
