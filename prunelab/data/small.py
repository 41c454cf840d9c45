"""The LightningDataModule shared by in-memory small-image sets (CIFAR, the embedded mini set)."""

from __future__ import annotations

from collections.abc import Sequence

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from prunelab.data.memory import CIFAR10_MEAN, CIFAR10_STD, InMemoryDataset, make_loader
from prunelab.data.sampler import HOLDOUT, generator

Split = tuple[torch.Tensor, torch.Tensor]  # (images (N, 3, H, W) uint8, labels (N,) int64)


def parse_val_split(val_split: str | int) -> str | int:
    """Validates ``val_split``: ``"test"`` or a positive number of held-out training images."""
    if isinstance(val_split, str) and val_split.strip().isdigit():
        val_split = int(val_split)  # "5000" from a command line
    if val_split == "test" or (
        isinstance(val_split, int) and not isinstance(val_split, bool) and val_split > 0
    ):
        return val_split
    raise ValueError(f"val_split must be 'test' or a positive int, got {val_split!r}")


def holdout_indices(num_train: int, holdout: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Splits ``range(num_train)`` by a seeded permutation: the last ``holdout`` become validation.

    Returns:
        ``(train_indices, val_indices)``, each sorted, disjoint, together ``range(num_train)``.
    """
    if not 0 < holdout < num_train:
        raise ValueError(
            f"val_split={holdout} cannot be held out of {num_train} training images "
            f"(give 1 to {num_train - 1}, or 'test')"
        )
    order = torch.randperm(num_train, generator=generator(seed, HOLDOUT))
    return order[:-holdout].sort().values, order[-holdout:].sort().values


def eval_order(n: int) -> torch.Tensor:
    """The fixed order of a test split's n files: position i holds file `eval_order(n)[i]`."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(0))


class InMemoryDataModule(pl.LightningDataModule):
    """Base of small-image DataModules: subclasses set ``num_classes`` and implement ``load``.

    Args:
        batch_size: Images per step (per rank under DDP).
        num_workers: DataLoader worker processes (0 is fastest for this pipeline).
        seed: Base seed of shuffling, augmentation and the hold-out split.
        val_split: ``"test"`` validates on the test split (as pruning papers do); an int ``n``
            holds out ``n`` training images, chosen by a seeded permutation. ``test`` is always
            the test split.
        mean: Per-channel normalization mean (fractions of 255).
        std: Per-channel normalization std (fractions of 255).
    """

    num_classes: int

    def __init__(
        self,
        batch_size: int = 128,
        num_workers: int = 0,
        seed: int = 0,
        val_split: str | int = "test",
        mean: Sequence[float] = CIFAR10_MEAN,
        std: Sequence[float] = CIFAR10_STD,
    ) -> None:
        super().__init__()
        if batch_size < 1 or num_workers < 0 or seed < 0:
            raise ValueError(
                f"bad batch_size={batch_size}, num_workers={num_workers} or seed={seed}"
            )
        self.batch_size, self.num_workers, self.seed = batch_size, num_workers, seed
        self.val_split = parse_val_split(val_split)
        self.mean, self.std = tuple(mean), tuple(std)
        self.classes: list[str] = []
        self.split_indices: tuple[torch.Tensor, torch.Tensor] | None = None  # set for int val_split
        self.train_data: Split | None = None
        self.val_data: Split | None = None
        self.test_data: Split | None = None
        self._loaded: tuple[Split, Split, list[str]] | None = None  # by train_size, for setup

    def _check_num_classes(self, num_classes: int | None) -> None:
        """Rejects a configured ``num_classes`` that disagrees with the dataset."""
        if num_classes is not None and num_classes != self.num_classes:
            raise ValueError(
                f"num_classes={num_classes}, but {type(self).__name__} has {self.num_classes}"
            )

    def load(self) -> tuple[Split, Split, list[str]]:
        """Returns ``((train_x, train_y), (test_x, test_y), classes)``; subclasses implement it."""
        raise NotImplementedError

    def train_size(self) -> int:
        """The number of training images (before a hold-out). Here the data is loaded to count
        them and kept for ``setup``; subclasses that can count without decoding override it."""
        if self._loaded is None:
            self._loaded = self.load()
        return len(self._loaded[0][1])

    def check_before_fit(self) -> None:
        """Refuses, before any training, an int ``val_split`` that leaves no training image."""
        if isinstance(self.val_split, int) and self.train_data is None:
            holdout_indices(self.train_size(), self.val_split, self.seed)

    def setup(self, stage: str | None = None) -> None:
        """Loads the data once (later calls are no-ops) and carves out the validation split."""
        if self.train_data is not None:
            return
        loaded, self._loaded = self._loaded or self.load(), None
        (train_x, train_y), test, self.classes = loaded
        if len(self.classes) != self.num_classes:
            raise ValueError(f"found {len(self.classes)} classes, expected {self.num_classes}")
        # Files come sorted by class; one fixed shuffle (the same for every run and seed) makes
        # any prefix, such as a quick run's limit_test_batches, a sample of every class.
        order = eval_order(len(test[1]))
        test = (test[0][order], test[1][order])
        self.test_data = test
        if self.val_split == "test":
            self.train_data, self.val_data = (train_x, train_y), test
            return
        self.split_indices = keep, held = holdout_indices(len(train_x), self.val_split, self.seed)
        self.train_data, self.val_data = (
            (train_x[keep], train_y[keep]),
            (train_x[held], train_y[held]),
        )

    def _loader(self, split: Split | None, train: bool) -> DataLoader:
        if split is None:
            raise RuntimeError("call setup() before asking for a dataloader")
        data = InMemoryDataset(*split, augment=train, seed=self.seed, mean=self.mean, std=self.std)
        return make_loader(
            data, self.batch_size, train=train, seed=self.seed, num_workers=self.num_workers
        )

    def train_dataloader(self) -> DataLoader:
        """Shuffled, augmented batches; deterministic in ``(seed, epoch)``, sharded under DDP."""
        return self._loader(self.train_data, train=True)

    def val_dataloader(self) -> DataLoader:
        """Validation batches in fixed order, not augmented."""
        return self._loader(self.val_data, train=False)

    def test_dataloader(self) -> DataLoader:
        """Test batches in fixed order, not augmented."""
        return self._loader(self.test_data, train=False)
