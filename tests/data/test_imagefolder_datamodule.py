"""ImageFolderDataModule / ImageNetDataModule on a synthetic tree and on the ImageNet sample."""

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from lightning_fabric.utilities.data import _set_sampler_epoch
from PIL import Image

from prunelab.data import ImageFolderDataModule, ImageNetDataModule


def write_tree(root: Path, splits: dict[str, list[str]], per_class: int = 4) -> Path:
    """Random 40x50 JPEGs under root/<split>/<class>/."""
    rng = np.random.default_rng(0)
    for split, classes in splits.items():
        for name in classes:
            (root / split / name).mkdir(parents=True)
            for i in range(per_class):
                pixels = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / split / name / f"{name}_{i}.JPEG")
    return root


CLASSES = ["c", "a", "b"]


def test_small_tree_with_test_split_only(tmp_path):
    root = write_tree(tmp_path, {"train": CLASSES, "test": CLASSES})
    datamodule = ImageFolderDataModule(root, image_size=32, batch_size=5, num_workers=0)
    assert datamodule.num_classes == 3 and datamodule.classes == ["a", "b", "c"]
    assert datamodule.val_split == datamodule.test_split == "test"  # no val/: fall back to test
    datamodule.setup()
    x, y = next(iter(datamodule.train_dataloader()))
    assert x.shape == (5, 3, 32, 32) and x.dtype == torch.float32 and y.dtype == torch.int64
    labels = torch.cat([y for _, y in datamodule.val_dataloader()]).tolist()
    assert labels == [0] * 4 + [1] * 4 + [2] * 4  # eval order = sorted classes, then files
    loader = datamodule.train_dataloader()
    _set_sampler_epoch(loader, 3)  # what Lightning does at each epoch start
    assert loader.batch_sampler.epoch == 3


def test_integer_val_split_holds_out_training_images(tmp_path):
    root = write_tree(tmp_path, {"train": CLASSES, "val": CLASSES})
    datamodule = ImageFolderDataModule(root, image_size=32, val_split=5, num_workers=0)
    datamodule.setup()
    keep, held = set(datamodule.train_set.indices), set(datamodule.val_set.indices)
    assert len(held) == 5 and len(keep) == 7 and not keep & held
    assert len(datamodule.test_set) == 12  # no test/: the test split is val/
    x, _ = next(iter(datamodule.val_dataloader()))
    assert x.shape == (5, 3, 32, 32)


def test_bad_trees_are_rejected(tmp_path):
    with pytest.raises(FileNotFoundError, match="train"):
        ImageFolderDataModule(write_tree(tmp_path / "no-train", {"val": CLASSES}))
    with pytest.raises(FileNotFoundError, match="val"):
        ImageFolderDataModule(write_tree(tmp_path / "no-eval", {"train": CLASSES}))
    with pytest.raises(ValueError, match="num_classes"):
        ImageFolderDataModule(
            write_tree(tmp_path / "ok", {"train": CLASSES, "val": CLASSES}), num_classes=4
        )
    with pytest.raises(ValueError, match="1000"):
        ImageNetDataModule(tmp_path / "ok", num_classes=3)
    mismatch = write_tree(tmp_path / "mismatch", {"train": CLASSES, "val": ["a", "b"]})
    with pytest.raises(ValueError, match="differ"):
        ImageFolderDataModule(mismatch, num_workers=0).setup()


def test_imagenet_sample(imagenet_sample):
    root = imagenet_sample
    if not root.is_dir():
        pytest.skip(f"ImageNet sample not found at {root}")
    datamodule = ImageNetDataModule(root, batch_size=8, num_workers=0)
    wnids = sorted(os.listdir(root / "train"))
    assert datamodule.num_classes == 1000 and datamodule.classes == wnids
    datamodule.setup()
    for path, label in datamodule.train_set.samples:
        assert Path(path).parent.name == wnids[label]  # label i == i-th sorted wnid
    x, y = next(iter(datamodule.val_dataloader()))
    assert x.shape == (8, 3, 224, 224) and y.tolist() == list(range(8))
    x, y = next(iter(datamodule.train_dataloader()))
    assert x.shape == (8, 3, 224, 224) and y.dtype == torch.int64
    assert -3 < x.min() < 0 < x.max() < 3  # ImageNet-normalized
