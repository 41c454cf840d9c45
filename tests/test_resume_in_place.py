"""Resume in place: `prunelab ... ckpt_path=<run>/checkpoints/last.ckpt` continues that run's
directory, metrics.csv, IMP masks and W&B run; a new run never writes into a folder holding one."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
import torch
from cli_runs import TINY, run_cli, run_python, validated_epochs

from prunelab.errors import ConfigError
from prunelab.resume import redirect_argv

# Three epochs, one per level: the dense run, then levels 1 and 2 (masks made at epochs 1 and 2).
LTH = ("pruning=lth", "pruning.levels=2", "pruning.epochs_per_level=1")
# The console command, made to die at the start of epoch 2 as a killed job would (level 2's masks
# are made first: callbacks' hooks run before the module's); checkpoints/last.ckpt is epoch 1's.
CRASHING = """
import sys
from prunelab.cli import main
from prunelab.module import Classifier

def crash(self):
    if self.current_epoch == 2:
        raise RuntimeError("simulated crash at the start of epoch 2")

Classifier.on_train_epoch_start = crash
main()
"""


def crashing_run(*args: str) -> subprocess.CompletedProcess:
    """`prunelab *args` that dies at the start of epoch 2, offline and single-threaded."""
    return run_python(["-c", CRASHING, *args])


def test_resume_continues_the_run_directory_metrics_masks_and_wandb_run(tmp_path):
    runs = tmp_path / "runs"
    common = (*TINY, *LTH, "logger=wandb", f"paths.runs_dir={runs}")
    crashed = crashing_run(*common)
    assert crashed.returncode != 0 and "simulated crash" in crashed.stderr
    (run,) = runs.glob("*/*")  # runs/<name>/<timestamp>
    last = run / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True)["epoch"] == 1
    record = (run / ".hydra" / "config.yaml").read_text()

    # Another learning rate would make it another run: refused, and the run's record is kept.
    other = run_cli(*common, "optim.lr=0.05", f"ckpt_path={last}")
    assert other.returncode == 2, other.stderr
    (line,) = [ln for ln in other.stderr.splitlines() if "error" in ln]  # after the plan's note
    assert re.match(r"prunelab: error: ckpt_path=.* optim\.lr=0\.05 \(ran with 0\.1\)", line)
    assert (run / ".hydra" / "config.yaml").read_text() == record

    resumed = run_cli(*common, f"ckpt_path={last}")
    assert resumed.returncode == 0, resumed.stderr
    assert list(runs.glob("*/*")) == [run]  # no second timestamped folder
    assert torch.load(last, weights_only=True)["epoch"] == 2
    assert (run / "results.json").is_file()
    assert validated_epochs(run) == [0, 1, 2]  # the first process's rows, then the resumed one's
    masks = sorted(p.relative_to(run) for p in runs.rglob("level*.pt"))
    assert [str(p) for p in masks] == ["masks/level1.pt", "masks/level2.pt"]
    # One W&B run: both processes' offline folders carry the id recorded in run.json.
    wandb_id = json.loads((run / "run.json").read_text())["wandb_id"]
    folders = sorted(p.name for p in (run / "wandb").glob("offline-run-*"))
    assert len(folders) == 2 and all(f.endswith(f"-{wandb_id}") for f in folders), folders


def test_a_folder_holding_a_run_is_refused_unless_overwrite(tmp_path):
    folder = tmp_path / "run"
    common = (*TINY, "logger=csv", f"hydra.run.dir={folder}")
    assert run_cli(*common).returncode == 0
    first_id = json.loads((folder / "run.json").read_text())["wandb_id"]
    record = (folder / ".hydra" / "config.yaml").read_text()
    assert "  max_epochs: 1\n" in record  # the number trained, not the default's interpolation

    refused = run_cli(*common, "seed=1")
    assert refused.returncode == 2
    (line,) = refused.stderr.strip().splitlines()
    assert line.startswith(f"prunelab: error: {folder} already holds a run")
    assert "overwrite=true" in line and f"ckpt_path={folder}/checkpoints/last.ckpt" in line
    assert (folder / ".hydra" / "config.yaml").read_text() == record  # left as it was

    stale = folder / "checkpoints" / "epoch=9.ckpt"  # a file the second run would not replace
    stale.write_bytes(b"from the first run")
    replaced = run_cli(*common, "seed=1", "overwrite=true")
    assert replaced.returncode == 0, replaced.stderr
    assert not stale.exists()  # the first run's files were cleared, not mixed in
    assert validated_epochs(folder) == [0]  # one run's rows
    assert json.loads((folder / "run.json").read_text())["wandb_id"] != first_id
    assert "seed: 1" in (folder / ".hydra" / "config.yaml").read_text()


def test_redirect_points_hydra_at_the_checkpoints_run(tmp_path):
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    last.parent.mkdir(parents=True)
    last.write_bytes(b"")
    argv = ["prunelab", "seed=1", f"ckpt_path={last}"]
    assert redirect_argv(argv) == [*argv, f"hydra.run.dir='{tmp_path / 'run'}'"]
    for kept in (
        [*argv, "-m"],  # every job of a sweep has its own folder
        [*argv, f"hydra.run.dir={tmp_path / 'elsewhere'}"],  # the user chose the folder
        ["prunelab", f"ckpt_path={tmp_path / 'weights.ckpt'}"],  # not a run's checkpoint
    ):
        assert redirect_argv(kept) == kept
    with pytest.raises(ConfigError, match=r"ckpt_path=.*interrupted\.ckpt does not exist"):
        redirect_argv(["prunelab", f"ckpt_path={last.parent / 'interrupted.ckpt'}"])
