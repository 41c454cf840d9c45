"""IMP from plain Lightning code: resume in the middle of level 2 reproduces the uninterrupted run
bit for bit, and a user's own LightningModule (no `.network`) works with its own schedule."""

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from tiny_lightning import Synthetic, assert_same_level_run, tiny_net
from torch import nn

from prunelab.callbacks.imp import IterativeMagnitudePruning
from prunelab.errors import ConfigError
from prunelab.module import Classifier
from prunelab.pruning import keep_total, prunable_parameters
from prunelab.pruning.mask_io import save_masks

EPOCHS = 2  # per level: levels 0, 1, 2 are epochs 0-1, 2-3, 4-5


def trainer_for(imp, root, *extra):
    # Every epoch's checkpoint is kept: a crash after epoch e leaves the one of epoch e.
    checkpoint = ModelCheckpoint(dirpath=root / "checkpoints", save_top_k=-1)
    return pl.Trainer(
        max_epochs=imp.planned_epochs, callbacks=[imp, checkpoint, *extra], logger=False,
        default_root_dir=str(root), enable_progress_bar=False, enable_model_summary=False,
        use_distributed_sampler=False, accelerator="cpu", num_sanity_val_steps=0,
    )  # fmt: skip


def controlled_run(root):
    """The IMP run the random-prune control below controls: nested per-level masks of the tiny
    network as `masks/level<L>.pt` (the control reads only these files)."""
    generator = torch.Generator().manual_seed(1)
    params = prunable_parameters(tiny_net())
    scores = {n: torch.rand(p.shape, generator=generator) for n, p in params.items()}
    for level in (1, 2):
        masks = {n: s < 0.8**level for n, s in scores.items()}
        save_masks(root / "masks" / f"level{level}.pt", masks)
    return str(root)


def run(root, resume=None, init_seed=0):
    pl.seed_everything(init_seed, verbose=False)
    optim = {"name": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 1e-4}
    module = Classifier(tiny_net(), 4, optim, {"name": "multistep", "milestones": [0.5]})
    ticket = controlled_run(root.parent / "ticket")
    imp = IterativeMagnitudePruning(
        2, EPOCHS, rewind="step:3", control="random_prune", seed=7, masks_from=ticket
    )
    trainer_for(imp, root).fit(
        module, datamodule=Synthetic(batch_size=16, seed=0), ckpt_path=resume
    )
    return module, imp


@pytest.mark.parametrize("epoch", [2 * EPOCHS - 1, 2 * EPOCHS])  # level boundary, mid level 2
def test_resume_equals_uninterrupted(tmp_path, epoch):
    whole, imp_whole = run(tmp_path / "whole")
    (saved,) = (tmp_path / "whole" / "checkpoints").glob(f"epoch={epoch}-*.ckpt")
    # A different init seed: everything that matters must come from the checkpoint.
    resumed, imp_resumed = run(tmp_path / "resumed", resume=saved, init_seed=123)
    assert_same_level_run(whole, imp_whole, resumed, imp_resumed, level=2)
    assert [s["stage"] for s in imp_resumed.stages] == [0, 1, 2]


class UserModule(pl.LightningModule):
    """A user's own module: layers as attributes, own optimizer and per-epoch schedule."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.bn = nn.BatchNorm2d(6)
        self.head = nn.Linear(6, 4)

    def forward(self, x):
        return self.head(torch.relu(self.bn(self.conv(x))).mean((2, 3)))

    def training_step(self, batch, batch_idx):
        return nn.functional.cross_entropy(self(batch[0]), batch[1])

    def validation_step(self, batch, batch_idx):
        self.log("val/acc", (self(batch[0]).argmax(1) == batch[1]).float().mean())

    def configure_optimizers(self):
        optimizer = torch.optim.SGD(self.parameters(), lr=0.05, momentum=0.9)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler}}


def test_users_own_module_and_trainer(tmp_path):
    pl.seed_everything(0, verbose=False)
    imp = IterativeMagnitudePruning(levels=2, epochs_per_level=2, fraction=0.5)
    with pytest.raises(ConfigError, match=r"max_epochs=5.*Trainer\(max_epochs=6\)"):
        pl.Trainer(max_epochs=5, callbacks=[imp], logger=False, enable_progress_bar=False).fit(
            UserModule(), datamodule=Synthetic(batch_size=16)
        )
    module = UserModule()
    imp = IterativeMagnitudePruning(2, 2, fraction=0.5, plot_dir=tmp_path / "plots")
    lrs = []

    class LearningRates(pl.Callback):
        def on_train_epoch_start(self, trainer, pl_module):
            lrs.append(trainer.optimizers[0].param_groups[0]["lr"])

    trainer = trainer_for(imp, tmp_path, LearningRates())
    trainer.fit(module, datamodule=Synthetic(batch_size=16))
    assert list(imp.masks) == ["conv.weight", "head.weight"]  # the module itself, no .network
    n = 6 * 3 * 9 + 4 * 6
    assert sum(int(m.sum()) for m in imp.masks.values()) == keep_total(n, 1 - 0.5**2)
    assert lrs == [0.05, 0.025] * 3  # the per-epoch schedule replayed from its start per level
    assert [s["stage"] for s in imp.stages] == [0, 1, 2]
    assert all(0 <= s["test/acc"] <= 1 and s["best_val/acc"] is not None for s in imp.stages)
    assert (tmp_path / "plots" / "accuracy_vs_density.png").is_file()


def test_resume_from_the_final_checkpoint_keeps_every_level(tmp_path):
    imp = IterativeMagnitudePruning(levels=2, epochs_per_level=1, rewind="init")
    module = Classifier(tiny_net(), 4, {"name": "sgd", "lr": 0.1}, {"name": "constant"})
    trainer_for(imp, tmp_path / "a").fit(module, datamodule=Synthetic(batch_size=16))
    assert [s["stage"] for s in imp.stages] == [0, 1, 2]
    final = sorted((tmp_path / "a" / "checkpoints").glob("*.ckpt"))[-1]
    again = IterativeMagnitudePruning(levels=2, epochs_per_level=1, rewind="init")
    module = Classifier(tiny_net(), 4, {"name": "sgd", "lr": 0.1}, {"name": "constant"})
    trainer_for(again, tmp_path / "b").fit(
        module, datamodule=Synthetic(batch_size=16), ckpt_path=final
    )
    assert [s["stage"] for s in again.stages] == [0, 1, 2]
