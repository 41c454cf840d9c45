"""CIFARDataModule: ImageFolder trees with a decode cache, torchvision files, and bad roots."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import prunelab.data.folder as folder
from prunelab.data import CIFARDataModule, ImageFolderDataModule, check_root
from prunelab.data.small import eval_order

CIFAR10_CLASSES = [  # torchvision.datasets.CIFAR10.classes
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
]  # fmt: skip


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    """One decode cache per test session, outside the user's ~/.cache."""
    return tmp_path_factory.mktemp("prunelab-cache")


def write_tree(root: Path, classes: list[str], per_class: int, size: int = 32) -> Path:
    """A tiny ImageFolder tree of random PNGs under root/{train,test}/<class>/."""
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for name in classes:
            (root / split / name).mkdir(parents=True)
            for i in range(per_class):
                pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / split / name / f"{i:04d}.png")
    return root


def test_image_folder_tree_is_decoded_once_then_read_from_the_cache(tmp_path, monkeypatch):
    root = write_tree(tmp_path / "tree", list(reversed(CIFAR10_CLASSES)), per_class=3)
    first = CIFARDataModule(root=root, cache_dir=tmp_path / "cache", batch_size=4)
    assert first.is_image_folder
    first.prepare_data()
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 2  # train and test
    first.setup()
    assert first.classes == CIFAR10_CLASSES  # sorted folder names, whatever the creation order
    assert first.train_data[1].tolist() == [c for c in range(10) for _ in range(3)]
    png = np.asarray(Image.open(root / "train" / "bird" / "0001.png"))
    assert torch.equal(first.train_data[0][2 * 3 + 1], torch.tensor(png).permute(2, 0, 1))

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again despite the cache")

    monkeypatch.setattr(folder, "decode_all", no_decoding)
    second = CIFARDataModule(root=root, cache_dir=tmp_path / "cache")
    second.setup()
    assert torch.equal(second.train_data[0], first.train_data[0])
    x, y = next(iter(first.train_dataloader()))
    assert x.shape == (4, 3, 32, 32) and y.dtype == torch.int64

    monkeypatch.undo()  # a new image changes the file count, hence the cache key
    Image.fromarray(png).save(root / "train" / "bird" / "0003.png")
    third = CIFARDataModule(root=root, cache_dir=tmp_path / "cache")
    third.setup()
    assert len(third.train_data[0]) == 31


def test_images_of_the_wrong_size_are_rejected(tmp_path):
    root = write_tree(tmp_path, CIFAR10_CLASSES, per_class=1, size=24)
    Image.new("RGB", (32, 32)).save(root / "train" / "cat" / "0001.png")
    with pytest.raises(ValueError, match="expected 24x24"):
        CIFARDataModule(root=root, cache_dir=tmp_path / "cache").setup()


def test_torchvision_files_are_used_when_root_is_not_an_image_folder(tmp_path, monkeypatch):
    calls = []

    class FakeCIFAR100:
        classes = [f"class{i:02d}" for i in range(100)]

        def __init__(self, root, train, download):
            calls.append((root, train, download))
            n = 6 if train else 4
            self.data = np.arange(n * 32 * 32 * 3, dtype=np.int64).reshape(n, 32, 32, 3) % 256
            self.data = self.data.astype(np.uint8)
            self.targets = list(range(n))

    import torchvision.datasets

    monkeypatch.setattr(torchvision.datasets, "CIFAR100", FakeCIFAR100)
    datamodule = CIFARDataModule("cifar100", root=tmp_path / "new", num_classes=100, batch_size=2)
    assert not datamodule.is_image_folder
    datamodule.prepare_data()
    datamodule.setup()
    assert [c[1:] for c in calls] == [(True, True), (False, True), (True, True), (False, True)]
    train_x, train_y = datamodule.train_data
    assert train_x.shape == (6, 3, 32, 32) and train_y.tolist() == list(range(6))
    fake = FakeCIFAR100(None, True, False)
    assert torch.equal(train_x[1], torch.from_numpy(fake.data[1]).permute(2, 0, 1))
    assert len(datamodule.test_data[0]) == 4


def test_missing_root_raises_file_not_found_naming_it(tmp_path):
    missing = tmp_path / "no" / "such" / "data"
    with pytest.raises(FileNotFoundError, match=str(missing)):
        check_root(missing)
    with pytest.raises(FileNotFoundError, match=str(missing)):
        CIFARDataModule(root=missing, download=False)
    with pytest.raises(FileNotFoundError, match=str(missing)):
        ImageFolderDataModule(root=missing)
    CIFARDataModule(root=missing, download=True)  # torchvision will create and fill it
    check_root(tmp_path)


@pytest.mark.parametrize(
    "kwargs",
    [{"dataset": "mnist"}, {"num_classes": 100}, {"dataset": "cifar100", "num_classes": 10}],
)
def test_bad_arguments_fail_at_construction(tmp_path, kwargs):
    with pytest.raises(ValueError):
        CIFARDataModule(root=tmp_path, **kwargs)


def test_real_cifar10_image_folder(shared_data, cache_dir):
    datamodule = CIFARDataModule(root=shared_data / "cifar10", cache_dir=cache_dir, val_split=5000)
    datamodule.prepare_data()  # the one slow step: decodes 60,000 JPEGs into the cache
    datamodule.setup()
    assert datamodule.classes == CIFAR10_CLASSES
    assert datamodule.train_data[0].shape == (45000, 3, 32, 32)
    assert datamodule.val_data[0].shape == (5000, 3, 32, 32)
    assert datamodule.test_data[1].bincount().tolist() == [1000] * 10
    train_y, val_y = datamodule.train_data[1], datamodule.val_data[1]
    assert (train_y.bincount() + val_y.bincount()).tolist() == [5000] * 10
    first_truck = folder.decode_rgb(shared_data / "cifar10" / "test" / "truck" / "0000.jpg")
    position = int((eval_order(10000) == 9000).nonzero())  # the test split is in a fixed order
    assert torch.equal(
        datamodule.test_data[0][position], torch.tensor(first_truck).permute(2, 0, 1)
    )
    x, y = next(iter(datamodule.train_dataloader()))
    assert x.shape == (128, 3, 32, 32) and len(datamodule.train_dataloader()) == 352
