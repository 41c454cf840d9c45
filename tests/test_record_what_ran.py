"""Record what ran: when a method decides the length of training (IMP, LTH, SAP), the planned
`trainer.max_epochs` is what the config prints, what the run saves and what it trains."""

from __future__ import annotations

import csv

import pytest
import torch
import yaml
from cli_runs import TINY, run_cli

from prunelab.config import compose
from prunelab.errors import ConfigError
from prunelab.train import build_pruning

# TINY types trainer.max_epochs=1; the plan is (1 + 1) x 1 = 2 epochs.
LTH = ("pruning=lth", "pruning.levels=1", "pruning.epochs_per_level=1")


@pytest.mark.parametrize(
    ("overrides", "epochs"),
    [
        (["pruning=lth"], (5 + 1) * 3),
        (["pruning=pq_index", "pruning.levels=2", "pruning.epochs_per_level=4"], (2 + 1) * 4),
        (["experiment=lth_resnet20_cifar10_mini"], (5 + 1) * 4),
        (["pruning=global_magnitude"], 10),  # no plan: the trainer's default
        (["pruning=gmp", "data=cifar10"], 10),
        ([], 3),  # the default job: GMP's schedule on the embedded set (conf/quickstart/)
        (["pruning=gmp", "trainer.max_epochs=5"], 5),
    ],
)
def test_composed_max_epochs_follows_the_plan(overrides, epochs):
    assert compose(overrides).trainer.max_epochs == epochs


@pytest.mark.parametrize("levels", ["two", -1, True, 2.5])
def test_a_plan_the_method_refuses_is_left_to_the_method_to_name(levels):
    cfg = compose(["pruning=lth", f"pruning.levels={levels}"])
    assert cfg.trainer.max_epochs == 10  # the default, then the constructor's one-line refusal
    with pytest.raises(ConfigError, match=r"pruning\.levels=.* must be an integer >= 0"):
        build_pruning(cfg.pruning)


def test_cfg_job_resolve_prints_the_planned_epochs():
    shown = run_cli("pruning=lth", "--cfg", "job", "--resolve")
    assert shown.returncode == 0, shown.stderr
    assert yaml.safe_load(shown.stdout)["trainer"]["max_epochs"] == (5 + 1) * 3


def test_every_record_of_a_run_names_the_epochs_it_trained(tmp_path):
    run = tmp_path / "run"
    done = run_cli(*TINY, *LTH, "logger=csv", f"hydra.run.dir={run}")
    assert done.returncode == 0, done.stderr
    assert (
        "prunelab: note: trainer.max_epochs=1 ignored: pruning=lth trains (levels + 1) x "
        "epochs_per_level = (1 + 1) x 1 = 2 epochs"
    ) in done.stderr.splitlines()
    saved = yaml.safe_load((run / ".hydra" / "config.yaml").read_text())
    hparams = yaml.safe_load((run / "hparams.yaml").read_text())
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    with open(run / "metrics.csv", newline="") as file:
        epochs = {int(float(r["epoch"])) for r in csv.DictReader(file) if r.get("val/acc")}
    assert epochs == {0, 1} and ckpt["epoch"] + 1 == 2
    assert saved["trainer"]["max_epochs"] == 2
    assert hparams["trainer"]["max_epochs"] == 2
    assert ckpt["prunelab_config"]["trainer"]["max_epochs"] == 2
