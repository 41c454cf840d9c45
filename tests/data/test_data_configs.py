"""Every conf/data/*.yaml carries the shared keys and instantiates its DataModule."""

from pathlib import Path

import numpy as np
import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf
from PIL import Image

from prunelab.data import CIFARDataModule, ImageFolderDataModule, MiniCIFAR10DataModule

CONF = Path(__file__).resolve().parents[2] / "conf" / "data"
NAMES = ["cifar10", "cifar100", "cifar10_mini", "imagenet", "imagefolder"]


def compose(name: str, data_dir: Path, **overrides):
    """The data node inside a minimal root config (``seed`` and ``paths`` come from the top)."""
    root = OmegaConf.create({"seed": 7, "paths": {"data_dir": str(data_dir)}})
    root.data = OmegaConf.load(CONF / f"{name}.yaml")
    for key, value in overrides.items():
        root.data[key] = value
    return root.data


@pytest.mark.parametrize("name", NAMES)
def test_config_has_the_shared_keys(name, tmp_path):
    data = compose(name, tmp_path)
    for key in (
        "_target_",
        "num_classes",
        "seed",
        "batch_size",
        "num_workers",
        "root",
        "val_split",
    ):
        if key != "root" or name != "cifar10_mini":  # the embedded set has no root
            assert key in OmegaConf.to_container(data), f"{name}.yaml lacks {key}"
    assert data.seed == 7


def test_cifar_configs_instantiate(tmp_path):
    for name, classes in (("cifar10", 10), ("cifar100", 100)):
        datamodule = instantiate(compose(name, tmp_path))
        assert isinstance(datamodule, CIFARDataModule) and datamodule.num_classes == classes
        assert datamodule.root == tmp_path / name and datamodule.seed == 7
    mini = instantiate(compose("cifar10_mini", tmp_path, val_split=1000))
    assert isinstance(mini, MiniCIFAR10DataModule) and mini.val_split == 1000


def test_imagefolder_config_instantiates(tmp_path):
    for split in ("train", "val"):
        for name in ("x", "y"):
            (tmp_path / split / name).mkdir(parents=True)
            Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / split / name / "0.png")
    data = compose("imagefolder", tmp_path, root=str(tmp_path), num_classes=2)
    datamodule = instantiate(data)
    assert isinstance(datamodule, ImageFolderDataModule) and datamodule.num_classes == 2
    assert datamodule.resize_size == 256 and datamodule.image_size == 224
