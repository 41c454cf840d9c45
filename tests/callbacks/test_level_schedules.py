"""IMP with a user's own optimizer and scheduler: each level replays the user's schedule from the
rewind step K (step interval) or from the start of K's epoch (epoch interval); a scheduler written
over the whole fit is refused, one written over `steps_per_level` is accepted."""

import pytest
import pytorch_lightning as pl
import torch
from tiny_lightning import Synthetic, tiny_net
from torch import nn

from prunelab.callbacks import IterativeMagnitudePruning
from prunelab.errors import ConfigError

STEPS_PER_EPOCH = 4  # Synthetic: 64 images, batch 16
EPOCHS_PER_LEVEL = 3


class UserModule(pl.LightningModule):
    """The network at `self.body`; the scheduler is built by `make(optimizer, module)`."""

    def __init__(self, make, interval):
        super().__init__()
        self.body, self.make, self.interval = tiny_net(), make, interval

    def forward(self, images):
        return self.body(images)

    def training_step(self, batch, batch_idx):
        return nn.functional.cross_entropy(self(batch[0]), batch[1])

    def configure_optimizers(self):
        optimizer = torch.optim.SGD(self.parameters(), lr=0.1, momentum=0.9)
        scheduler = self.make(optimizer, self)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": self.interval},
        }


class LearningRates(pl.Callback):
    """The learning rate of every optimizer step, as the step runs."""

    def __init__(self):
        self.lrs = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.lrs.append(trainer.optimizers[0].param_groups[0]["lr"])


def fit(make, interval, rewind, levels=2):
    pl.seed_everything(0, verbose=False)
    imp = IterativeMagnitudePruning(levels, EPOCHS_PER_LEVEL, fraction=0.5, rewind=rewind)
    seen = LearningRates()
    trainer = pl.Trainer(
        max_epochs=imp.planned_epochs, accelerator="cpu", logger=False, enable_progress_bar=False,
        enable_model_summary=False, enable_checkpointing=False, callbacks=[imp, seen],
        limit_val_batches=0,
    )  # fmt: skip
    trainer.fit(UserModule(make, interval), datamodule=Synthetic(batch_size=16))
    per_level = STEPS_PER_EPOCH * EPOCHS_PER_LEVEL
    assert imp.steps_per_level == per_level
    return [seen.lrs[i : i + per_level] for i in range(0, len(seen.lrs), per_level)]


@pytest.mark.parametrize("rewind", ["step:5", "lr:5", "init"])
def test_step_scheduler_is_replayed_from_the_rewind_step(rewind):
    levels = fit(lambda opt, m: torch.optim.lr_scheduler.StepLR(opt, 2, 0.5), "step", rewind)
    k = 0 if rewind == "init" else 5
    first = levels[0]
    assert first == [0.1 * 0.5 ** (i // 2) for i in range(len(first))]  # the user's schedule
    for later in levels[1:]:
        assert later[: len(first) - k] == first[k:]  # level 0's sequence from step K
        assert later[len(first) - k :] == [
            0.1 * 0.5 ** (i // 2) for i in range(len(first), len(first) + k)
        ]


def test_epoch_scheduler_is_replayed_from_the_start_of_the_rewind_steps_epoch():
    make = lambda opt, m: torch.optim.lr_scheduler.MultiStepLR(opt, [1, 2], 0.1)  # noqa: E731
    levels = fit(make, "epoch", "step:5")  # step 5 lies in epoch 1 (4 steps per epoch)
    per_epoch = [level[::STEPS_PER_EPOCH] for level in levels]
    assert per_epoch[0] == pytest.approx([0.1, 0.01, 0.001])
    for later in per_epoch[1:]:
        assert later == pytest.approx([0.01, 0.001, 0.001])  # from epoch 1 of level 0's schedule
        assert all(len(set(lv[i : i + STEPS_PER_EPOCH])) == 1 for lv in levels for i in (0, 4, 8))


def test_a_whole_fit_schedule_is_refused_and_one_level_schedule_accepted():
    def whole_fit(opt, module):
        total = int(module.trainer.estimated_stepping_batches)
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=total)

    with pytest.raises(
        ConfigError, match=r"OneCycleLR runs for 36 optimizer steps.*has 12.*steps_per_level"
    ):
        fit(whole_fit, "step", "step:2")

    def one_level(opt, module):
        (imp,) = [c for c in module.trainer.callbacks if isinstance(c, IterativeMagnitudePruning)]
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=imp.steps_per_level)

    levels = fit(one_level, "step", "lr")
    for later in levels[1:]:  # LR rewinding to 0: the same cycle at every level
        assert later == pytest.approx(levels[0], rel=1e-12)  # OneCycleLR's own float rounding
    # The whole cycle inside one level: from max_lr / 25 up, and down to its end at the last step.
    assert levels[0][0] == pytest.approx(0.1 / 25) and levels[0][-1] == pytest.approx(0.004 / 1e4)
