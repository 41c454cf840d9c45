"""Sweeps: a preset grid through the submitit_local launcher, the presets, the SLURM launcher."""

import json
import math
import os

import pytest
import yaml
from cli_runs import TINY, run_cli
from hydra.utils import instantiate
from omegaconf import OmegaConf

from prunelab.config import choices, compose
from prunelab.results import CONTRACT_KEYS

PRESETS = [o for o in choices("experiment") if o.startswith("sweep_")]


@pytest.mark.slow
def test_submitit_local_sweep_writes_complete_run_directories(tmp_path):
    pytest.importorskip(
        "hydra_plugins.hydra_submitit_launcher", reason="needs the slurm extra (submitit)"
    )
    # The dense preset's replicate axis, cut to two seeds on the command line.
    args = ["-m", "experiment=sweep_dense", "seed=0,1", "hydra/launcher=submitit_local", *TINY]
    proc = run_cli(*args, "logger=csv", f"paths.runs_dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    (sweep_dir,) = tmp_path.glob("sweep_dense/multirun/*")  # named by the preset
    jobs = sorted(p for p in sweep_dir.iterdir() if not p.name.startswith((".", "multirun")))
    assert [p.name for p in jobs] == ["0", "1"]
    losses = []
    for seed, job in enumerate(jobs):
        config = yaml.safe_load((job / ".hydra/config.yaml").read_text())
        assert config["seed"] == seed and config["pruning"]["name"] == "none"
        hydra = yaml.safe_load((job / ".hydra/hydra.yaml").read_text())["hydra"]
        assert (sweep_dir / ".submitit" / str(hydra["job"]["id"])).is_dir()  # ran by submitit
        results = json.loads((job / "results.json").read_text())
        assert set(CONTRACT_KEYS) <= set(results)
        assert all(math.isfinite(results[k]) for k in CONTRACT_KEYS if k != "stages")
        assert (job / "metrics.csv").is_file() and (job / "checkpoints/last.ckpt").is_file()
        losses.append(results["test/loss"])
    assert losses[0] != losses[1]  # two seeds, two different networks


@pytest.mark.parametrize("preset", PRESETS)
def test_sweep_presets_name_their_folder_and_grid(preset):
    cfg = compose([f"experiment={preset}"])
    assert cfg.hydra.job.name == preset
    params = cfg.hydra.sweeper.params
    assert params.seed == "0,1,2"  # three replicates
    assert cfg.hydra.sweep.dir.startswith(f"{cfg.paths.runs_dir}/{preset}/multirun/")
    grid = params.get("pruning.sparsity")
    for value in str(grid).split(",") if grid else []:  # every grid point composes
        point = compose([f"experiment={preset}", f"pruning.sparsity={value}", "seed=2"])
        assert point.pruning.sparsity == float(value) and point.seed == 2


def test_default_sweep_folder_resolves_before_any_job():
    # `prunelab -m` names the sweep folder before any job exists, with no HydraConfig set: the
    # folder must not need a job's choices (as `name`, through the `hydra:` resolver, does).
    from hydra.core.hydra_config import HydraConfig

    cfg = compose(["pruning=gmp"])
    HydraConfig.instance().cfg = None
    assert cfg.hydra.sweep.dir.startswith(f"{cfg.paths.runs_dir}/prunelab/multirun/")


def test_slurm_launcher_asks_for_one_task_per_gpu(tmp_path, monkeypatch):
    submitit = pytest.importorskip("submitit", reason="needs the slurm extra (submitit)")
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf

    fake_srun = tmp_path / "srun"  # submitit refuses to build a SLURM job without srun on PATH
    fake_srun.write_text("#!/bin/sh\nexit 1\n")
    fake_srun.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    overrides = ["hydra/launcher=slurm", "hydra.launcher.partition=gpu", "trainer=ddp"]
    cfg = compose([*overrides, "trainer.devices=8", "trainer.num_nodes=2"])
    launcher = instantiate(cfg.hydra.launcher)
    # What the plugin's launch() hands submitit: its own keys as they are, the rest as slurm_*.
    base = set(OmegaConf.structured(BaseQueueConf).keys())
    params = {
        k if k in base else f"slurm_{k}": v
        for k, v in launcher.params.items()
        if k not in ("submitit_folder", "max_num_timeout")
    }
    executor = submitit.AutoExecutor(cluster="slurm", folder=tmp_path / "submitit")
    executor.update_parameters(**params)
    sbatch = executor._executor._make_submission_file_text("python -m prunelab", "uid")
    for line in (
        "--partition=gpu",
        "--nodes=2",
        "--gpus-per-node=8",
        "--ntasks-per-node=8",
        "--time=240",
        "--job-name=prunelab",
    ):
        assert f"#SBATCH {line}\n" in sbatch, line
