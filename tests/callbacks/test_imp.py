"""IMP through the prunelab CLI path: configs, refusals, and what one run leaves behind."""

import csv

import pytest
import torch

from prunelab.building import build_pruning
from prunelab.callbacks.imp import IterativeMagnitudePruning
from prunelab.config import compose
from prunelab.errors import ConfigError
from prunelab.models import CifarResNet, CifarVGG
from prunelab.pruning import keep_total, prunable_parameters


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ({"levels": -1}, "levels"),
        ({"epochs_per_level": 0}, "epochs_per_level"),
        ({"fraction": 1.0}, "fraction"),
        ({"rewind": "step:x"}, r"rewind='step:x'.*init, step:K, lr"),
        ({"rewind": "late"}, "rewind"),
        ({"allocation": "erk"}, "allocation"),
        ({"control": "shuffle"}, "random_reinit, random_prune"),
        ({"control": "random_reinit", "rewind": "lr"}, "needs pruning.rewind=init or step:K"),
    ],
)
def test_bad_values_are_refused_by_name(args, match):
    with pytest.raises(ConfigError, match=match):
        IterativeMagnitudePruning(**{"levels": 2, "epochs_per_level": 1, **args})


def test_cli_refuses_before_any_compute(run_prunelab):
    with pytest.raises(ConfigError, match="pruning.fraction=0"):
        run_prunelab(["pruning=imp", "pruning.fraction=0"])


def test_configs_and_openlth_experiments_compose():
    generic, lth = compose(["pruning=imp"]).pruning, compose(["pruning=lth"]).pruning
    assert (generic.rewind, lth.rewind, lth.fraction) == ("lr", "init", 0.2)
    for name, net in [("resnet20", CifarResNet(20)), ("vgg16", CifarVGG(16))]:
        cfg = compose([f"experiment=lth_{name}_cifar10"])
        assert cfg.optim.lr == 0.1 and cfg.optim.momentum == 0.9 and cfg.optim.weight_decay == 1e-4
        assert list(cfg.sched.milestones) == [0.5, 0.75] and cfg.sched.gamma == 0.1
        assert cfg.data.batch_size == 128 and cfg.pruning.epochs_per_level == 160
        (imp,) = build_pruning(cfg.pruning)  # the preset names its parts: prunelab builds it
        assert imp.planned_epochs == (cfg.pruning.levels + 1) * 160
        kept = prunable_parameters(net, imp.exclude)
        assert ("fc.weight" in kept) == (name == "resnet20")  # OpenLTH's VGG keeps fc dense
    mini = compose(["experiment=lth_resnet20_cifar10_mini"])
    assert (
        mini.data._target_.endswith("MiniCIFAR10DataModule") and mini.trainer.accelerator == "cpu"
    )


def test_one_run_three_levels(run_prunelab):
    results, run_dir = run_prunelab(
        ["pruning=lth", "pruning.levels=2", "pruning.epochs_per_level=1", "trainer.max_epochs=1"]
    )
    n = sum(p.numel() for p in prunable_parameters(CifarResNet(20)).values())
    stages = results["stages"]
    assert [s["stage"] for s in stages] == [0, 1, 2]
    for level, stage in enumerate(stages):
        kept = n - round(stage["sparsity"] * n)
        assert kept == keep_total(n, 1 - 0.8**level)
        assert 0 <= stage["test/acc"] <= 1 and stage["best_val/acc"] is not None
    # The last level's end-of-level test figure is the run's final test: same weights, batches.
    assert stages[-1]["test/acc"] == pytest.approx(results["test/acc"], abs=1e-6)
    assert results["sparsity"] == pytest.approx(stages[-1]["sparsity"], abs=1e-12)
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)
    epochs = ckpt["loops"]["fit_loop"]["epoch_progress"]["current"]["processed"]
    assert epochs == 3  # max_epochs followed the plan: 3 levels x 1 epoch
    with open(run_dir / "metrics.csv") as f:
        rows = [r for r in csv.DictReader(f) if r.get("imp/level")]
    assert [float(r["imp/level"]) for r in rows] == [0.0, 1.0, 2.0]
    assert all(r["level/test_acc"] and r["level/best_val_acc"] for r in rows)
    assert (run_dir / "plots" / "accuracy_vs_density.png").is_file()
