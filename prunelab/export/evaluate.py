"""`prunelab-eval`: test a checkpoint again, with the data, model and trainer settings it was
trained with unless the eval config overrides them, and write eval.json."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from lightning_fabric.utilities.exceptions import MisconfigurationException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from prunelab.allowlist import check_targets
from prunelab.errors import ConfigError
from prunelab.export.checkpoint import Checkpoint, read_checkpoint, restore_network
from prunelab.module import Classifier
from prunelab.results import measure, print_table, write_results

# Sections of the eval config laid over the checkpoint's stored config (`data.batch_size=256`).
OPEN_SECTIONS = ("data", "model", "trainer")
# The trainer settings that change a test result; devices default to 1 (the full split, once).
TRAINER_KEYS = ("accelerator", "precision", "limit_test_batches", "deterministic")


def eval_run_config(cfg: DictConfig, ckpt: Checkpoint) -> DictConfig:
    """The config to evaluate with: the checkpoint's stored run config, updated by `cfg`.

    A `data` section with a `_target_` (a data config chosen with `data=cifar10`) replaces the
    stored one; otherwise the given keys update it. `paths` are this machine's (the eval config's).
    Interpolations (`${seed}`, `${paths.data_dir}`) resolve against the combined config.

    Raises:
        ConfigError: an interpolation cannot be resolved.
    """
    run = OmegaConf.create(ckpt.config)
    for key in OPEN_SECTIONS:
        given = OmegaConf.to_container(cfg.get(key) or OmegaConf.create({}), resolve=False)
        if key == "data" and "_target_" in given:
            run[key] = given
        else:
            run[key] = OmegaConf.merge(run.get(key) or {}, given)
    run.paths = OmegaConf.merge(run.get("paths") or {}, cfg.get("paths") or {})
    try:
        OmegaConf.resolve(run)
    except OmegaConfBaseException as exc:
        raise ConfigError(f"cannot resolve the eval config: {exc}") from exc
    return run


def _datamodule(node: DictConfig) -> pl.LightningDataModule:
    missing = [k for k in node if OmegaConf.is_missing(node, k)]
    if missing:
        raise ConfigError(f"data.{missing[0]} is required (e.g. data.{missing[0]}=VALUE)")
    try:
        return instantiate(node, _convert_="all")
    except InstantiationException as exc:
        if isinstance(exc.__cause__, (ValueError, FileNotFoundError, TypeError)):
            raise ConfigError(str(exc.__cause__)) from exc
        raise


def _trainer(run: DictConfig, cfg: DictConfig, run_dir: Path) -> pl.Trainer:
    stored = run.get("trainer") or {}
    args: dict[str, Any] = {k: stored[k] for k in TRAINER_KEYS if k in stored}
    args["devices"] = (cfg.get("trainer") or {}).get("devices", 1)
    try:
        return pl.Trainer(
            **args,
            logger=False,
            enable_checkpointing=False,
            enable_model_summary=False,
            enable_progress_bar=bool(stored.get("progress_bar", True)),
            default_root_dir=str(run_dir),
            use_distributed_sampler=False,  # prunelab samplers shard by rank themselves
        )
    except MisconfigurationException as exc:
        raise ConfigError(
            f"{exc} (override trainer.accelerator / trainer.precision to evaluate here)"
        ) from exc


def evaluate(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """Test `cfg.ckpt_path`'s network; write `<run_dir>/eval.json`, print the table, return it.

    The keys are those of results.json: `test/acc`, `test/loss`, `sparsity`, `params/*`,
    `macs/*` (+ `test/acc_top5` for 100+ classes), `ckpt_path` and `wall_time_s`.

    Raises:
        CheckpointError: the checkpoint cannot be read or does not fit its model.
        ConfigError: an override is invalid (unknown data, classes that differ, ...).
    """
    started = time.perf_counter()
    run_dir = Path(run_dir)
    ckpt = read_checkpoint(cfg.ckpt_path)
    run = eval_run_config(cfg, ckpt)
    # Data, not code: built only from prunelab's own targets (the model is checked as it is built).
    check_targets(OmegaConf.to_container(run.data), "data", f"ckpt_path={ckpt.path}")
    model_cfg = OmegaConf.to_container(run.model)
    network = restore_network(ckpt, model_cfg)
    classes = run.data.get("num_classes")
    if model_cfg.get("num_classes", classes) != classes:
        raise ConfigError(
            f"data.num_classes={classes}, but the checkpoint's network predicts "
            f"{model_cfg['num_classes']} classes"
        )
    datamodule = _datamodule(run.data)
    module = Classifier(
        network,
        num_classes=classes,
        optim=OmegaConf.to_container(run.get("optim") or {}),
        sched=OmegaConf.to_container(run.get("sched") or {}),
        top5=classes >= 100,
        run_config=OmegaConf.to_container(run),
    )
    trainer = _trainer(run, cfg, run_dir)
    (tested,) = trainer.test(module, datamodule=datamodule, verbose=False)
    results: dict[str, Any] = {k: float(v) for k, v in tested.items()}
    size = getattr(datamodule, "image_size", 32)
    exclude = (run.get("pruning") or {}).get("exclude") or ()
    results.update(measure(network, (3, size, size), list(exclude)))
    results["ckpt_path"] = str(ckpt.path)
    results["wall_time_s"] = time.perf_counter() - started
    if trainer.is_global_zero:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_results(run_dir / "eval.json", results)
        print_table(results, title=f"eval  {ckpt.path}")
    return results
