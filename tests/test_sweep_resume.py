"""Resumable sweeps: the same `prunelab -m ...` command, run again, runs only what is left.

One sweep of three seeds is killed as its second job trains (after that job's first epoch was
checkpointed); the same command then skips the first job, resumes the second and runs the third;
run a third time, it trains nothing.
"""

from __future__ import annotations

import subprocess

from cli_runs import TINY, run_cli, run_python, validated_epochs

from prunelab.sweep import command_id, config_hash

# Two epochs, so the killed job has a checkpoint (epoch 0's) to resume from.
SWEEP = ("-m", "seed=0,1,2", *TINY, "trainer.max_epochs=2", "logger=csv")
# The console command, killed (no cleanup, as by SIGKILL) at the start of the seed-1 job's
# second epoch: `train` is looked up when each job starts, so the patch sees every job's config.
KILLED = """
import os
import prunelab.train
from prunelab.cli import main
from prunelab.module import Classifier

real_train = prunelab.train.train

def die_at_epoch_1(self):
    if self.current_epoch == 1:
        os._exit(9)

def train(cfg, run_dir):
    if cfg.seed == 1:
        Classifier.on_train_epoch_start = die_at_epoch_1
    return real_train(cfg, run_dir)

prunelab.train.train = train
main()
"""


def killed_sweep(*args: str) -> subprocess.CompletedProcess:
    """`prunelab *args`, killed in the seed-1 job's second epoch."""
    return run_python(["-c", KILLED, *args])


def snapshot(folder) -> dict:
    """Every file under `folder` but Hydra's own (its record and log, rewritten by each launch),
    with its modification time and content."""
    return {
        p: (p.stat().st_mtime_ns, p.read_bytes())
        for p in folder.rglob("*")
        if p.is_file() and ".hydra" not in p.parts and p.suffix != ".log"
        and p.name != "multirun.yaml"
    }  # fmt: skip


def test_a_killed_sweep_run_again_runs_only_the_rest_and_then_nothing(tmp_path):
    args = (*SWEEP, f"paths.runs_dir={tmp_path}")
    killed = killed_sweep(*args)
    assert killed.returncode == 9, killed.stderr[-3000:]
    (sweep,) = tmp_path.glob("prunelab/multirun/*")
    assert sweep.name == command_id(args[1:])  # named by the command, not the time
    first = sweep / "0" / "results.json"
    before = (first.stat().st_mtime_ns, first.read_bytes())
    assert (sweep / "1" / "checkpoints" / "last.ckpt").is_file()
    assert not (sweep / "1" / "results.json").exists() and not (sweep / "2").exists()

    again = run_cli(*args)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"prunelab: done: {sweep / '0'} (results.json)" in again.stderr.splitlines()
    assert f"prunelab: resume: {sweep / '1'} from " in again.stderr
    assert (first.stat().st_mtime_ns, first.read_bytes()) == before  # not trained again
    assert validated_epochs(sweep / "1") == [0, 1]  # epoch 0 from the killed process, 1 resumed
    assert validated_epochs(sweep / "2") == [0, 1]
    assert list(tmp_path.glob("prunelab/multirun/*")) == [sweep]

    files = snapshot(sweep)
    finished = run_cli(*args, "logger=wandb")  # another logger: still the same sweep
    assert finished.returncode == 0, finished.stderr[-3000:]
    done = [ln for ln in finished.stderr.splitlines() if ln.startswith("prunelab:")]
    assert done == [f"prunelab: done: {sweep / j} (results.json)" for j in "012"]
    assert snapshot(sweep) == files  # no results, checkpoints or logs rewritten
    assert list(tmp_path.glob("prunelab/multirun/*")) == [sweep]
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == ["0", "1", "2"]


def test_the_job_hash_ignores_where_files_go_and_what_is_shown():
    config = {"seed": 0, "optim": {"lr": 0.1}, "paths": {"runs_dir": "a"}, "logger": {"x": 1}}
    moved = {**config, "paths": {"runs_dir": "b"}, "logger": {}, "ckpt_path": "c", "overwrite": 1}
    assert config_hash(config) == config_hash(moved)
    assert config_hash(config) != config_hash({**config, "seed": 1})
    assert command_id(["seed=0,1", "logger=csv"]) == command_id(["seed=0,1", "hydra.verbose=1"])
    assert command_id(["seed=0,1"]) != command_id(["seed=0,2"])
