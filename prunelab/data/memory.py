"""In-memory pipeline for small images (CIFAR): uint8 tensors in RAM, batched augmentation.

The whole split lives in one uint8 tensor ``(N, 3, H, W)``. The dataset is indexed by a whole
batch at a time, so cropping, flipping and normalizing are a handful of tensor ops per batch
instead of thousands of per-image PIL calls: loading never limits training.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from prunelab.data.sampler import (
    AUGMENTATION,
    BatchKey,
    EpochBatchSampler,
    ResumableLoader,
    generator,
)

# Per-channel mean and std of the training images, as fractions of 255.
CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
CIFAR100_MEAN, CIFAR100_STD = (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)


def crop_windows(
    x: torch.Tensor, padding: int, top: torch.Tensor, left: torch.Tensor
) -> torch.Tensor:
    """Cuts one ``H x W`` window per image out of the zero-padded batch.

    One ``gather`` over the flattened padded pixels with per-sample offsets: no Python loop over
    images, and about 8x faster than 4-D advanced indexing on a CPU.

    Args:
        x: Images ``(B, C, H, W)``, any dtype.
        padding: Zero border added on every side, in pixels.
        top: Row offset of each window in the padded image, ``(B,)`` in ``[0, 2 * padding]``.
        left: Column offset of each window, ``(B,)`` in ``[0, 2 * padding]``.

    Returns:
        ``(B, C, H, W)``; image b is ``pad(x)[b, :, top[b]:top[b]+H, left[b]:left[b]+W]``.
    """
    b, c, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding)).reshape(b, c, -1)
    row = w + 2 * padding  # padded row length
    window = (torch.arange(h)[:, None] * row + torch.arange(w)).view(1, 1, h * w)  # at offset 0
    flat = (window + (top * row + left).view(b, 1, 1)).expand(b, c, h * w)
    return padded.gather(2, flat).view(b, c, h, w)


def random_crop(
    x: torch.Tensor, padding: int = 4, gen: torch.Generator | None = None
) -> torch.Tensor:
    """Pad-and-random-crop (the standard CIFAR augmentation), batched.

    Args:
        x: Images ``(B, C, H, W)``.
        padding: Zero border in pixels; offsets are uniform in ``[0, 2 * padding]``.
        gen: Source of randomness; ``None`` uses torch's global generator.
    """
    offsets = torch.randint(0, 2 * padding + 1, (2, x.shape[0]), generator=gen)
    return crop_windows(x, padding, offsets[0], offsets[1])


def random_flip(x: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
    """Mirrors each image left-right with probability 1/2, batched."""
    flip = torch.rand(x.shape[0], generator=gen) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


class InMemoryDataset(Dataset):
    """A uint8 image tensor that serves whole, augmented, normalized batches.

    Indexed by a :class:`BatchKey` from :class:`EpochBatchSampler`: the augmentation of that batch
    is then drawn from a generator seeded by ``(seed, epoch, batch)`` and is reproducible. A plain
    index sequence also works and uses torch's global generator.

    Args:
        images: ``(N, 3, H, W)`` uint8.
        labels: ``(N,)`` int64 class indices.
        augment: Apply random crop + flip (training) or nothing (evaluation).
        seed: Base seed of the augmentation.
        mean: Per-channel mean, as a fraction of 255.
        std: Per-channel standard deviation, as a fraction of 255.
        padding: Zero border of the random crop, in pixels.
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        *,
        augment: bool,
        seed: int = 0,
        mean: Sequence[float] = CIFAR10_MEAN,
        std: Sequence[float] = CIFAR10_STD,
        padding: int = 4,
    ) -> None:
        if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(
                f"images must be uint8 (N, 3, H, W), got {images.dtype} {tuple(images.shape)}"
            )
        if labels.shape != images.shape[:1]:
            raise ValueError(f"{len(images)} images but labels of shape {tuple(labels.shape)}")
        self.images, self.labels = images, labels.long()
        self.augment, self.seed, self.padding = augment, seed, padding
        # (x / 255 - mean) / std folded into one multiply-add per pixel.
        std_t = torch.tensor(std).view(1, 3, 1, 1)
        self._scale = 1.0 / (255.0 * std_t)
        self._shift = -torch.tensor(mean).view(1, 3, 1, 1) / std_t

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(
        self, key: BatchKey | Sequence[int] | torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns ``(x float32 (B, 3, H, W) normalized, y int64 (B,))`` for one batch."""
        if isinstance(key, BatchKey):
            indices = key.indices
            gen = generator(self.seed, AUGMENTATION, key.epoch, key.batch) if self.augment else None
        else:
            indices, gen = torch.as_tensor(key, dtype=torch.long), None
        x = self.images[indices]
        if self.augment:
            x = random_flip(random_crop(x, self.padding, gen), gen)
        return x.float().mul_(self._scale).add_(self._shift), self.labels[indices]


def _as_is(batch):
    """Collate that keeps the dataset's ``(x, y)`` tuple (the default would turn it into a list)."""
    return batch


def make_loader(
    dataset: InMemoryDataset,
    batch_size: int,
    *,
    train: bool,
    seed: int = 0,
    num_workers: int = 0,
    drop_last: bool = False,
) -> DataLoader:
    """A DataLoader over whole batches of ``dataset``, ordered by an :class:`EpochBatchSampler`;
    resumable mid-epoch (a :class:`ResumableLoader`).

    Args:
        dataset: The in-memory dataset (its ``augment`` flag decides augmentation).
        batch_size: Images per batch (per rank under DDP).
        train: Shuffle each epoch and trim DDP shards to equal size (else keep order, no trim).
        seed: Base seed of the permutation.
        num_workers: Worker processes; 0 is fastest here (a batch costs about a millisecond).
        drop_last: Drop the last incomplete batch.
    """
    sampler = EpochBatchSampler(
        len(dataset), batch_size, shuffle=train, seed=seed, drop_last=drop_last
    )
    return ResumableLoader(
        dataset,
        sampler=sampler,
        batch_size=None,  # the sampler already yields whole batches
        num_workers=num_workers,
        collate_fn=_as_is,
        pin_memory=torch.cuda.is_available(),
        persistent_workers=num_workers > 0,
    )
