"""A deterministic, resumable, DDP-aware batch sampler.

Every random choice is a pure function of ``(seed, epoch)`` (the permutation) or
``(seed, epoch, batch index)`` (augmentation), never of a running random state. A run restarted
from a checkpoint therefore sees exactly the batches of an uninterrupted run: at an epoch boundary
by construction, and mid-epoch through :class:`ResumableLoader`, which Lightning saves and restores
with the checkpoint and which starts the interrupted epoch's permutation at the next batch.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader

# Stream tags keep the random streams of one seed apart (permutation vs. augmentation vs. split).
PERMUTATION, AUGMENTATION, HOLDOUT = 0, 1, 2


def derive_seed(*parts: int) -> int:
    """Mixes non-negative integers into one 63-bit seed.

    numpy's SeedSequence spreads nearby inputs (seed 0 vs. 1, epoch 3 vs. 4) into unrelated
    states, and is the same on every platform and library version.

    Args:
        *parts: Non-negative integers, e.g. ``(seed, AUGMENTATION, epoch, batch)``.

    Returns:
        An int in ``[0, 2**63)``, suitable for ``torch.Generator.manual_seed``.
    """
    hi, lo = np.random.SeedSequence([int(p) for p in parts]).generate_state(2, dtype=np.uint32)
    return (int(hi) << 31) ^ int(lo)


def generator(*parts: int) -> torch.Generator:
    """Returns a CPU ``torch.Generator`` seeded with ``derive_seed(*parts)``."""
    return torch.Generator().manual_seed(derive_seed(*parts))


class BatchKey(NamedTuple):
    """What the sampler hands the dataset: one whole batch, and where it sits in the run."""

    epoch: int
    batch: int  # index of this batch within the epoch, on this rank
    indices: torch.Tensor  # int64 dataset indices


def _distributed_world() -> tuple[int, int]:
    """``(rank, world_size)`` of the default process group, or ``(0, 1)`` without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class EpochBatchSampler:
    """Yields whole batches of indices; the order depends only on ``(seed, epoch)``.

    Under DDP each rank takes a disjoint, strided shard of the same permutation. The world is read
    at iteration time (from ``torch.distributed`` unless ``rank``/``world_size`` are given), so a
    sampler built before the process group exists still shards correctly. Use it with
    ``Trainer(use_distributed_sampler=False)``.

    Args:
        num_samples: Size of the dataset.
        batch_size: Indices per batch (per rank).
        shuffle: Draw a fresh permutation each epoch (training) or keep dataset order (eval).
        seed: Base seed of the permutation.
        drop_last: Drop this rank's last incomplete batch. When shuffling, a last batch of one
            sample is always dropped (BatchNorm cannot train on it).
        equal_shards: Under DDP, drop the ragged tail (``num_samples % world_size`` samples) so all
            ranks take the same number of steps. Eval loaders set it False so every sample is
            seen exactly once (shard sizes then differ by at most one).
        as_keys: Yield :class:`BatchKey` tuples (for :class:`InMemoryDataset`, whose augmentation
            needs epoch and batch index) instead of plain index lists (for per-sample datasets
            used with ``DataLoader(batch_sampler=...)``).
        rank: Fixed rank; ``None`` reads ``torch.distributed`` at iteration time.
        world_size: Fixed world size; ``None`` reads ``torch.distributed`` at iteration time.
    """

    def __init__(
        self,
        num_samples: int,
        batch_size: int,
        *,
        shuffle: bool,
        seed: int = 0,
        drop_last: bool = False,
        equal_shards: bool | None = None,
        as_keys: bool = True,
        rank: int | None = None,
        world_size: int | None = None,
    ) -> None:
        if num_samples < 1 or batch_size < 1:
            raise ValueError(
                f"need num_samples >= 1 and batch_size >= 1, got {num_samples}, {batch_size}"
            )
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        if (rank is None) != (world_size is None):
            raise ValueError("give both rank and world_size, or neither")
        self.num_samples, self.batch_size, self.seed = num_samples, batch_size, seed
        self.shuffle, self.drop_last, self.as_keys = shuffle, drop_last, as_keys
        self.equal_shards = shuffle if equal_shards is None else equal_shards
        self._fixed_world = None if rank is None else (rank, world_size)
        self.epoch = 0
        self._first = 0  # batch the next iteration starts at (a mid-epoch resume), then 0 again

    def set_epoch(self, epoch: int) -> None:
        """Selects the epoch whose batches the next iteration yields (Lightning calls this)."""
        self.epoch = int(epoch)

    def skip_to(self, batch: int) -> None:
        """Starts the next iteration (only) at ``batch`` of the current epoch: the batches before it
        were trained on before an interruption. Later iterations start at 0 again."""
        self._first = int(batch)

    @property
    def sampler(self) -> EpochBatchSampler:
        """Itself. Lightning calls ``set_epoch`` on ``loader.sampler`` and on
        ``loader.batch_sampler.sampler``, so this reaches us in both roles."""
        return self

    def world(self) -> tuple[int, int]:
        """The ``(rank, world_size)`` this sampler shards for right now."""
        return self._fixed_world or _distributed_world()

    def shard(self) -> torch.Tensor:
        """This rank's dataset indices for the current epoch, in visiting order."""
        if self.shuffle:
            order = torch.randperm(
                self.num_samples, generator=generator(self.seed, PERMUTATION, self.epoch)
            )
        else:
            order = torch.arange(self.num_samples)
        rank, world = self.world()
        if world > 1 and self.equal_shards:
            order = order[: self.num_samples - self.num_samples % world]
        return order[rank::world]  # strided: disjoint across ranks, union = the (trimmed) order

    def _num_batches(self, shard_size: int) -> int:
        full, rest = divmod(shard_size, self.batch_size)
        # A one-sample training batch would crash BatchNorm ("more than 1 value per channel").
        keep_rest = rest > 0 and not self.drop_last and not (self.shuffle and rest == 1)
        return full + keep_rest

    def __len__(self) -> int:
        rank, world = self.world()
        trimmed = (
            self.num_samples - self.num_samples % world if self.equal_shards else self.num_samples
        )
        return self._num_batches(len(range(rank, trimmed, world)))

    def __iter__(self) -> Iterator[BatchKey | list[int]]:
        shard, epoch, size = self.shard(), self.epoch, self.batch_size
        first, self._first = self._first, 0
        for batch in range(first, self._num_batches(len(shard))):
            indices = shard[batch * size : (batch + 1) * size]
            yield BatchKey(epoch, batch, indices) if self.as_keys else indices.tolist()


class ResumableLoader(DataLoader):
    """A DataLoader over an :class:`EpochBatchSampler` that Lightning resumes mid-epoch, exactly.

    Lightning saves the ``state_dict()`` of a training loader that has one in every checkpoint, and
    calls ``load_state_dict()`` on a resume that continues an unfinished epoch, before iterating
    (``CombinedLoader._state_dicts``). The state is where the loader stood: the epoch and how many
    of its batches were handed out. Since batch ``b`` of epoch ``e`` is a pure function of
    ``(seed, e, b)``, resuming is starting the sampler at that batch: the batches before it are
    neither loaded nor augmented, and the ones after it are those of the uninterrupted run.

    Batches are counted as they are handed out in this process, not as the sampler is drawn from:
    worker processes draw ahead of what training has consumed.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._position = {"epoch": 0, "batch": 0}
        self._resume: dict[str, int] | None = None

    def _epoch_sampler(self) -> EpochBatchSampler:
        for candidate in (self.batch_sampler, self.sampler):
            if isinstance(candidate, EpochBatchSampler):
                return candidate
        raise TypeError("ResumableLoader needs an EpochBatchSampler as sampler or batch_sampler")

    def __iter__(self) -> Iterator[Any]:
        # A generator: nothing runs until the first batch is asked for. Lightning creates the
        # iterator before it sets the epoch of a resumed run, so the epoch is read only then.
        return self._counted()

    def _counted(self) -> Iterator[Any]:
        sampler = self._epoch_sampler()
        first = 0
        if self._resume is not None and self._resume["epoch"] == sampler.epoch:
            first = self._resume["batch"]
        self._resume = None  # a resume point is for the epoch it was saved in, once
        sampler.skip_to(first)
        self._position = position = {"epoch": sampler.epoch, "batch": first}
        for batch in super().__iter__():
            position["batch"] += 1
            yield batch

    def state_dict(self) -> dict[str, int]:
        """The epoch and the number of its batches handed out so far."""
        return dict(self._position)

    def load_state_dict(self, state: dict[str, int]) -> None:
        """The next iteration over ``state["epoch"]`` continues after the batches handed out."""
        self._resume = {"epoch": int(state["epoch"]), "batch": int(state["batch"])}
        self._position = dict(self._resume)
