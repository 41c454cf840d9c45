"""Bad GlobalMagnitudePruning settings are refused before training, with a message naming them:
in-process (ConfigError before `Trainer.fit`) and once through the command line (exit code 2, one
`prunelab: error: ...` line)."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
from cli_runs import run_cli

from prunelab.config import compose
from prunelab.errors import ConfigError
from prunelab.module import Classifier
from prunelab.train import train

REFUSED = [
    (["pruning=global_magnitude", "pruning.sparsity=1.0"], "pruning.sparsity=1.0"),
    (["pruning=gmp", "pruning.sparsity=-0.1"], "pruning.sparsity=-0.1"),
    (["pruning=gmp", "pruning.start_epoch=2", "pruning.end_epoch=1"], "pruning.end_epoch=1"),
    (["pruning=gmp", "pruning.end_epoch=5", "trainer.max_epochs=4"], "pruning.end_epoch=5"),
    (["pruning=gmp", "pruning.start_epoch=4", "trainer.max_epochs=4"], "pruning.start_epoch=4"),
    (["pruning=global_magnitude", "pruning.prune_at=4", "trainer.max_epochs=4"], "prune_at=4"),
    (["pruning=gmp", "pruning.frequency=0"], "pruning.frequency=0"),
    (["pruning=gmp", "pruning.initial_sparsity=0.95"], "pruning.initial_sparsity=0.95"),
    (["pruning=global_magnitude", "pruning.allocation=uniform"], "'uniform' is not one of"),
    (
        ["pruning=global_magnitude", "pruning.allocation=layerwise", "pruning.min_threshold=0.05"],
        "min_threshold=0.05",
    ),
    (["pruning=global_magnitude", "pruning.exclude=[fc.wieght]"], "'fc.wieght'"),
]


@pytest.mark.parametrize(("overrides", "named"), REFUSED)
def test_bad_values_are_refused_before_fit(overrides, named, monkeypatch, tmp_path):
    def fit(*args, **kwargs):
        raise AssertionError("Trainer.fit was reached")

    monkeypatch.setattr(pl.Trainer, "fit", fit)
    with pytest.raises(ConfigError, match=named.replace("[", r"\[").replace(".", r"\.")):
        train(compose([*overrides, "logger=csv"]), tmp_path / "run")


def test_an_infeasible_minimum_threshold_is_refused_before_the_first_step(monkeypatch, tmp_path):
    """MT's feasibility depends on the layer sizes only; it is checked at setup."""

    def training_step(*args, **kwargs):
        raise AssertionError("a training step ran")

    monkeypatch.setattr(Classifier, "training_step", training_step)
    overrides = ["pruning=global_magnitude", "pruning.sparsity=0.98", "pruning.min_threshold=1"]
    with pytest.raises(ConfigError, match=r"pruning\.min_threshold=1.*infeasible"):
        train(compose([*overrides, "logger=csv", "trainer.progress_bar=false"]), tmp_path / "r")


def test_the_command_line_prints_one_error_line_and_exits_2(tmp_path):
    args = ["pruning=gmp", "pruning.end_epoch=20", "trainer.max_epochs=10"]
    done = run_cli(*args, f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path, timeout=120)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("prunelab: error: pruning.end_epoch=20")
    assert "max_epochs=10" in lines[0]
    assert not (tmp_path / "run" / "checkpoints").exists()
