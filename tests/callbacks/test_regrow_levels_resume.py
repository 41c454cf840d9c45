"""IMP with GraNet's regrowth on its levels (`pruning=imp pruning/after=regrow`): resumed at a
level boundary or in the middle of a level, it equals the uninterrupted run (masks, weights,
level records and the regrowth's record), and results.json carries the weights regrown."""

import pytest
import pytorch_lightning as pl
from omegaconf import OmegaConf
from pytorch_lightning.callbacks import ModelCheckpoint
from tiny_lightning import Synthetic, assert_same_level_run, tiny_net

from prunelab import composition
from prunelab.config import compose
from prunelab.module import Classifier

EPOCHS = 2  # per level: levels 0, 1, 2 are epochs 0-1, 2-3, 4-5


def regrowing_imp():
    overrides = ["pruning=imp", "pruning/after=regrow", "pruning.levels=2", "pruning.fraction=0.5"]
    node = compose([*overrides, f"pruning.epochs_per_level={EPOCHS}"]).pruning
    node = OmegaConf.to_container(node, resolve=True)
    node.pop("name")
    return composition.build(node)


def run(root, resume=None, init_seed=0):
    pl.seed_everything(init_seed, verbose=False)
    optim = {"name": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 1e-4}
    module = Classifier(tiny_net(), 4, optim, {"name": "multistep", "milestones": [0.5]})
    method = regrowing_imp()
    checkpoint = ModelCheckpoint(dirpath=root / "checkpoints", save_top_k=-1)
    trainer = pl.Trainer(
        max_epochs=method.planned_epochs, callbacks=[method, checkpoint], logger=False,
        default_root_dir=str(root), enable_progress_bar=False, enable_model_summary=False,
        use_distributed_sampler=False, accelerator="cpu", num_sanity_val_steps=0,
    )  # fmt: skip
    trainer.fit(module, datamodule=Synthetic(batch_size=16, seed=0), ckpt_path=resume)
    return module, method


@pytest.mark.parametrize("epoch", [2 * EPOCHS - 1, 2 * EPOCHS])  # level boundary, mid level 2
def test_resume_equals_uninterrupted(tmp_path, monkeypatch, epoch):
    monkeypatch.chdir(tmp_path)
    whole, method_whole = run(tmp_path / "whole")
    assert method_whole.regrow.regrown_total > 0  # the run regrew, so the test can fail
    assert method_whole.results()["prune/regrown_total"] == method_whole.regrow.regrown_total
    (saved,) = (tmp_path / "whole" / "checkpoints").glob(f"epoch={epoch}-*.ckpt")
    # A different init seed: everything that matters must come from the checkpoint.
    resumed, method_resumed = run(tmp_path / "resumed", resume=saved, init_seed=123)
    assert_same_level_run(whole, method_whole, resumed, method_resumed, level=2)
    assert method_resumed.results() == method_whole.results()
