"""One run on several processes: DDP ranks that Lightning starts run exactly this Hydra job.

Without a cluster manager (SLURM, torchrun), Lightning's `ddp` strategy starts ranks 1..N-1 by
running the command line again (`sys.argv`) with `hydra.run.dir=<HydraConfig run.dir>` appended.
That is right for a single run and wrong for a job of a `prunelab -m` sweep: the command line is
the whole sweep (`-m seed=0,1,2`) and the job's folder is a sweep subfolder, not run.dir. After the
run, Lightning also leaves its process group and rank variables behind, so the next job of the
sweep (same process) would take them for an external launcher's and wait for ranks that never come.

`ddp_job` fixes both: while a run trains, the command line Lightning re-runs is this job's
overrides and run.dir is this job's folder; afterwards the ranks are awaited, the process group is
destroyed and the rank variables are restored.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytorch_lightning as pl
import torch.distributed as dist
from omegaconf import OmegaConf, read_write
from pytorch_lightning.strategies.launchers.subprocess_script import _SubprocessScriptLauncher
from pytorch_lightning.utilities import rank_zero_warn

from prunelab.errors import ConfigError

# What Lightning's launcher writes into os.environ for its ranks.
RANK_VARIABLES = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE")
# Hydra overrides of the sweep as a whole; a re-launched rank runs one job and must not see them.
SWEEP_ONLY = (
    "hydra.mode",
    "hydra.run.",
    "hydra.sweep.",
    "hydra/launcher",
    "hydra.launcher.",
    "hydra/sweeper",
    "hydra.sweeper.",
    "hydra.job.name",
    "hydra.output_subdir",
)
RANK_EXIT_TIMEOUT_S = 120  # the other ranks finish right after rank 0; wait this long at most


def relaunches(trainer: pl.Trainer) -> bool:
    """Whether fitting will start the other ranks by running the command line again."""
    launcher = trainer.strategy.launcher
    return (
        isinstance(launcher, _SubprocessScriptLauncher)
        and launcher.num_processes > 1
        and not launcher.cluster_environment.creates_processes_externally
    )


def job_command(hydra_cfg) -> list[str]:
    """This job's overrides as a command line: what a re-launched rank needs to compose it."""
    hydra_overrides = [
        o for o in hydra_cfg.overrides.hydra if not o.lstrip("+~").startswith(SWEEP_ONLY)
    ]
    return [*hydra_overrides, *hydra_cfg.overrides.task]


def _started_as_prunelab() -> bool:
    """False when Lightning would re-run some other program's main module (pytest, submitit)."""
    import __main__

    spec = getattr(__main__, "__spec__", None)
    return spec is None or spec.name.split(".")[0] == "prunelab"


@contextmanager
def _relaunch_as_this_job() -> Iterator[None]:
    """Point what Lightning re-runs (sys.argv, Hydra's run.dir) at this job for the block."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():  # plain Python: Lightning re-runs the script, as documented
        yield
        return
    hydra_cfg = HydraConfig.get()
    if OmegaConf.is_missing(hydra_cfg.runtime, "output_dir") or not _started_as_prunelab():
        raise ConfigError(
            "a multi-process trainer (strategy=ddp, devices > 1) starts its other ranks by "
            "running the `prunelab` command again; run it from the command line, or under a "
            "launcher that starts one task per device (SLURM: hydra.launcher.tasks_per_node)"
        )
    argv, run_dir = list(sys.argv), OmegaConf.to_container(hydra_cfg.run)["dir"]
    sys.argv = [argv[0], *job_command(hydra_cfg)]
    with read_write(hydra_cfg.run):
        hydra_cfg.run.dir = hydra_cfg.runtime.output_dir
    try:
        yield
    finally:
        sys.argv = argv
        with read_write(hydra_cfg.run):
            hydra_cfg.run.dir = run_dir


def _await_ranks(trainer: pl.Trainer) -> None:
    """Wait for the rank processes this one started, so none outlives its run."""
    for proc in getattr(trainer.strategy.launcher, "procs", []):
        try:
            proc.wait(timeout=RANK_EXIT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            rank_zero_warn(f"DDP rank process {proc.pid} did not exit; terminating it")
            proc.terminate()


@contextmanager
def ddp_job(trainer: pl.Trainer) -> Iterator[None]:
    """Fit and test inside this block: DDP ranks run this job and leave nothing behind.

    Raises:
        ConfigError: the ranks would have to be started by re-running a program that is not
            prunelab (e.g. `train()` called in-process from pytest, or a submitit_local job).
    """
    saved_env = {k: os.environ.get(k) for k in RANK_VARIABLES}
    relaunch = relaunches(trainer)
    try:
        if relaunch:
            with _relaunch_as_this_job():
                yield
        else:
            yield
    finally:
        _await_ranks(trainer)
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
