"""The callbacks in a user's own LightningModule: the README's example as written, a network under
another attribute name, AdamW with a step-interval scheduler, gradient accumulation."""

import os
import re
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from tiny_lightning import Synthetic, tiny_net
from torch import nn

from prunelab.callbacks import GlobalMagnitudePruning

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_example() -> str:
    """The python block of the README's section on the callbacks in your own Lightning code."""
    section = README.read_text().split("## Using the callbacks in your own Lightning code")[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_example_runs_as_written_and_writes_no_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    torch.manual_seed(0)
    scope: dict = {"__name__": "readme_example"}
    exec(compile(readme_example(), str(README), "exec"), scope)
    trainer, pruning = scope["trainer"], scope["pruning"]
    assert float(trainer.callback_metrics["prune/sparsity"]) == pytest.approx(0.9, abs=1e-6)
    net = trainer.lightning_module.net
    targets = pruning.params(trainer.lightning_module)
    assert "net.features.0.0.weight" in targets and not any("classifier" in n for n in targets)
    zeros = sum(int((p == 0).sum()) for p in targets.values())
    assert zeros == round(0.9 * sum(p.numel() for p in targets.values()))
    assert all(bool((w != 0).all()) for n, w in net.classifier.named_parameters() if "weight" in n)
    assert os.listdir(tmp_path) == []  # logger=False, no checkpointing, no plot_dir: no files


class UserModule(pl.LightningModule):
    """Not prunelab's Classifier: the network under `self.body`, AdamW, a per-step scheduler."""

    def __init__(self):
        super().__init__()
        self.body = tiny_net()

    def training_step(self, batch, batch_idx):
        images, labels = batch
        return nn.functional.cross_entropy(self.body(images), labels)

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(self.parameters(), lr=0.01)
        decay = torch.optim.lr_scheduler.StepLR(optimizer, step_size=3, gamma=0.5)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": decay, "interval": "step"}}


class PrunedStayZero(pl.Callback):
    """After every batch: the weights the pruning callback masks are zero where it pruned them."""

    def __init__(self, pruning):
        self.pruning, self.checked = pruning, 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self.pruning.masks is None:
            return
        params = self.pruning.params(pl_module)
        for name, mask in self.pruning.masks.items():
            assert bool((params[name][~mask] == 0).all()), name
        self.checked += 1


@pytest.mark.parametrize("accumulate", [1, 2])
def test_user_module_with_adamw_prunes_exactly_and_is_monitorable(tmp_path, accumulate):
    torch.manual_seed(0)
    pruning = GlobalMagnitudePruning(
        0.75, schedule="gradual", frequency=1, end_epoch=2, exclude=["body.8.weight"]
    )
    probe = PrunedStayZero(pruning)
    best = ModelCheckpoint(dirpath=tmp_path, monitor="prune/sparsity", mode="max", save_top_k=1)
    trainer = pl.Trainer(
        max_epochs=3, accelerator="cpu", logger=False, enable_progress_bar=False,
        enable_model_summary=False, accumulate_grad_batches=accumulate,
        callbacks=[pruning, probe, best], limit_val_batches=0,
    )  # fmt: skip
    module = UserModule()
    trainer.fit(module, datamodule=Synthetic(batch_size=8))
    targets = pruning.params(module)
    assert list(targets) == ["body.0.weight", "body.3.weight"]  # the head is excluded
    total = sum(p.numel() for p in targets.values())
    zeros = sum(int((p == 0).sum()) for p in targets.values())
    assert zeros == round(0.75 * total)
    assert float(trainer.callback_metrics["prune/sparsity"]) == zeros / total
    assert probe.checked == 3 * 8  # 64 images / batch 8, every batch of every epoch checked
    assert best.best_model_score == pytest.approx(zeros / total)  # monitored: a real value
