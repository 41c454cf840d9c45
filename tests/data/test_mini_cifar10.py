"""The embedded CIFAR-10 mini set and the in-memory DataModule, including a Lightning resume."""

import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn

from prunelab.data import MiniCIFAR10DataModule
from prunelab.data.folder import decode_rgb
from prunelab.data.mini import asset_file
from prunelab.data.small import eval_order

CIFAR10_CLASSES = [  # torchvision.datasets.CIFAR10.classes
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
]  # fmt: skip


@pytest.fixture(scope="module")
def mini() -> MiniCIFAR10DataModule:
    """One decoded mini set for the whole file (decoding takes about a second)."""
    datamodule = MiniCIFAR10DataModule(batch_size=128)
    datamodule.setup()
    return datamodule


def test_asset_is_small_and_ships_inside_the_package():
    assert asset_file().is_file()
    assert len(asset_file().read_bytes()) <= 8 * 2**20


def test_embedded_set_has_the_documented_shape_and_label_order(mini):
    (train_x, train_y), (test_x, test_y) = mini.train_data, mini.test_data
    assert mini.num_classes == 10 and mini.classes == CIFAR10_CLASSES
    assert train_x.shape == (5000, 3, 32, 32) and test_x.shape == (1000, 3, 32, 32)
    assert train_x.dtype == torch.uint8 and train_y.dtype == torch.int64
    assert train_y.bincount().tolist() == [500] * 10
    assert test_y.bincount().tolist() == [100] * 10
    assert mini.val_data is mini.test_data  # val_split="test" validates on the test split
    assert train_x.float().std() > 40  # real pictures, not blank


def test_loaders_yield_normalized_batches(mini):
    x, y = next(iter(mini.train_dataloader()))
    assert x.shape == (128, 3, 32, 32) and x.dtype == torch.float32 and y.shape == (128,)
    assert len(mini.train_dataloader()) == 40 and len(mini.test_dataloader()) == 8
    test_x = torch.cat([x for x, _ in mini.test_dataloader()])
    assert abs(test_x.mean()) < 0.2 and 0.8 < test_x.std() < 1.2


def test_integer_val_split_holds_out_disjoint_training_images(mini):
    held = MiniCIFAR10DataModule(val_split=500, seed=1)
    held.setup()
    keep, val = held.split_indices
    assert len(keep) == 4500 and len(val) == 500
    assert not set(keep.tolist()) & set(val.tolist())
    assert sorted(keep.tolist() + val.tolist()) == list(range(5000))
    full_x = mini.train_data[0]
    assert torch.equal(held.val_data[0], full_x[val]) and torch.equal(
        held.train_data[0], full_x[keep]
    )
    assert held.test_data[0].shape[0] == 1000  # the test split stays the test set
    again = MiniCIFAR10DataModule(val_split="500", seed=1)
    again.setup()
    assert torch.equal(again.split_indices[1], val)
    other = MiniCIFAR10DataModule(val_split=500, seed=2)
    other.setup()
    assert not torch.equal(other.split_indices[1], val)


@pytest.mark.parametrize("bad", [{"num_classes": 100}, {"val_split": "val"}, {"val_split": 0}])
def test_bad_arguments_fail_at_construction(bad):
    with pytest.raises(ValueError):
        MiniCIFAR10DataModule(**bad)


def test_embedded_images_are_the_first_files_of_the_real_dataset(mini, shared_data):
    for split, data, per_class in (("train", mini.train_data, 500), ("test", mini.test_data, 100)):
        for label in (0, 9):
            folder = shared_data / "cifar10" / split / CIFAR10_CLASSES[label]
            first = sorted(folder.iterdir())[0]
            pixels = torch.tensor(decode_rgb(first)).permute(2, 0, 1)
            index = label * per_class
            if split == "test":  # the test split is served in a fixed shuffled order
                index = int((eval_order(len(data[1])) == index).nonzero())
            assert torch.equal(data[0][index], pixels)


class BatchRecorder(pl.LightningModule):
    """A linear model that records a fingerprint of every training batch, per epoch."""

    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(3 * 32 * 32, 10)
        self.seen: dict[int, list] = {}

    def training_step(self, batch, batch_idx):
        x, y = batch
        self.seen.setdefault(self.current_epoch, []).append((x.double().sum().item(), y.tolist()))
        return F.cross_entropy(self.layer(x.flatten(1)), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


def fit(datamodule, max_epochs, ckpt_path=None, save_to=None) -> BatchRecorder:
    trainer = pl.Trainer(
        max_epochs=max_epochs, limit_train_batches=3, limit_val_batches=0, accelerator="cpu",
        logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, use_distributed_sampler=False,
    )  # fmt: skip
    module = BatchRecorder()
    trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
    if save_to:
        trainer.save_checkpoint(save_to)
    return module


@pytest.mark.filterwarnings("ignore::UserWarning", "ignore:.*LeafSpec.*")
def test_resuming_at_an_epoch_boundary_replays_the_same_batches(mini, tmp_path):
    uninterrupted = fit(mini, max_epochs=3)
    assert uninterrupted.seen[0] != uninterrupted.seen[1] != uninterrupted.seen[2]
    fit(MiniCIFAR10DataModule(), max_epochs=2, save_to=tmp_path / "epoch2.ckpt")
    resumed = fit(MiniCIFAR10DataModule(), max_epochs=3, ckpt_path=tmp_path / "epoch2.ckpt")
    assert list(resumed.seen) == [2]
    assert resumed.seen[2] == uninterrupted.seen[2]
