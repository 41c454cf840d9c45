"""Data: LightningDataModules for CIFAR, ImageFolder trees / ImageNet and the embedded mini set.

Small-image sets live in memory as uint8 tensors and are served a whole batch at a time with
batched augmentation (:mod:`prunelab.data.memory`); the batch order is deterministic and resumable
(:mod:`prunelab.data.sampler`). Runs should use ``Trainer(use_distributed_sampler=False)``: the
samplers shard by rank themselves.
"""

from prunelab.data.cifar import CIFARDataModule
from prunelab.data.folder import check_root
from prunelab.data.imagefolder import ImageFolderDataModule, ImageNetDataModule
from prunelab.data.memory import InMemoryDataset, make_loader, random_crop, random_flip
from prunelab.data.mini import MiniCIFAR10DataModule, load_mini_cifar10
from prunelab.data.sampler import BatchKey, EpochBatchSampler
from prunelab.data.small import InMemoryDataModule

__all__ = [
    "BatchKey",
    "CIFARDataModule",
    "EpochBatchSampler",
    "ImageFolderDataModule",
    "ImageNetDataModule",
    "InMemoryDataModule",
    "InMemoryDataset",
    "MiniCIFAR10DataModule",
    "check_root",
    "load_mini_cifar10",
    "make_loader",
    "random_crop",
    "random_flip",
]
