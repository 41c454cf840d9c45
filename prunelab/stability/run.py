"""`prunelab-stability`: train two copies of a checkpoint's network on different data orders
(same masks) and measure the test error along the line between them; write stability.json,
stability.png and print a table."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from prunelab.allowlist import check_targets
from prunelab.atomic import write_text
from prunelab.errors import ConfigError
from prunelab.export.checkpoint import read_checkpoint, restore_network
from prunelab.export.evaluate import eval_run_config
from prunelab.plotting.style import title
from prunelab.plotting.titles import data_name, model_name
from prunelab.results import print_table
from prunelab.stability.analysis import Options, analyse
from prunelab.stability.batchnorm import MODES
from prunelab.stability.copies import Length
from prunelab.stability.level import level_resume, level_start
from prunelab.stability.path import alphas
from prunelab.stability.plot import draw_path
from prunelab.stability.wandb_out import log_stability

# The command's own settings (the rest of the config is the checkpoint's run).
OPTIONS = (
    "ckpt_path", "level", "steps", "epochs", "seeds", "points", "bn", "bn_batches", "test_batches",
)  # fmt: skip


def _seeds(given: Any) -> list[int]:
    seeds = list(given) if isinstance(given, (list, tuple)) or OmegaConf.is_list(given) else []
    if len(seeds) != 2 or not all(isinstance(s, int) and s >= 0 for s in seeds):
        raise ConfigError(f"seeds={given}: give two data-order seeds, e.g. seeds=[1,2]")
    return seeds


def _datamodule(run: DictConfig):
    check_targets(OmegaConf.to_container(run.data), "data", "the checkpoint's run config")
    try:
        return instantiate(run.data, _convert_="all")
    except InstantiationException as exc:
        raise ConfigError(str(exc.__cause__ or exc)) from exc


def _count(cfg: DictConfig, key: str, minimum: int) -> None:
    value = cfg[key]
    if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
        raise ConfigError(f"{key}={value} must be an integer")
    if value is not None and value < minimum:
        raise ConfigError(f"{key}={value} must be at least {minimum}")


def _options(cfg: DictConfig) -> tuple[Length, list[int], list[float]]:
    if cfg.bn not in MODES:
        raise ConfigError(f"bn={cfg.bn} is not one of {', '.join(MODES)}")
    for key, minimum in (("points", 2), ("bn_batches", 1), ("test_batches", 1), ("level", 1)):
        _count(cfg, key, minimum)
    if cfg.points is None or cfg.bn_batches is None:
        raise ConfigError("points and bn_batches must be integers (test_batches=null: all)")
    return Length(cfg.steps, cfg.epochs), _seeds(cfg.seeds), alphas(cfg.points)


def _dense(path: str | None, network) -> dict[str, torch.Tensor] | None:
    """The dense network's weights (`dense_ckpt`), read before any training, or None."""
    if not path:
        return None
    dense = read_checkpoint(path).state_dict
    names = {n: t.shape for n, t in network.named_parameters()}
    if any(n not in dense or dense[n].shape != shape for n, shape in names.items()):
        raise ConfigError(f"dense_ckpt={path} holds another network than ckpt_path")
    return {n: dense[n] for n in names}


def stability(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """Run the analysis of `cfg.ckpt_path`; write `<run_dir>/stability.json` and
    `stability.png`, print the table, and return the results.

    Raises:
        CheckpointError: the checkpoint cannot be read or does not fit its model.
        ConfigError: an option is invalid (length, seeds, points, bn mode, data).
    """
    started = time.perf_counter()
    length, seeds, _ = _options(cfg)  # checked before any file is read
    ckpt = read_checkpoint(cfg.ckpt_path)
    run = eval_run_config(cfg, ckpt)
    network = restore_network(ckpt, OmegaConf.to_container(run.model))
    masks = ckpt.masks
    if cfg.get("level") is not None:  # an IMP level's subnetwork at the rewind point
        state, masks = level_start(ckpt.path, cfg.level)
        try:
            network.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0]
            message = f"level={cfg.level}: the rewind snapshot does not fit the network: {first}"
            raise ConfigError(message) from exc
    dense = _dense(cfg.get("dense_ckpt"), network)
    datamodule = _datamodule(run)
    stored = OmegaConf.to_container(run)
    on_gpu = torch.cuda.is_available() and (stored.get("trainer") or {}).get("accelerator") != "cpu"
    options = Options(
        length, seeds, cfg.points, cfg.bn, cfg.bn_batches, cfg.test_batches,
        resume=level_resume(stored) if cfg.get("level") is not None else None,
    )  # fmt: skip
    found = analyse(
        network, masks, datamodule, stored, options, dense=dense, device="cuda" if on_gpu else "cpu"
    )
    results = {"ckpt_path": str(ckpt.path), **found, "level": cfg.get("level")}
    results["wall_time_s"] = time.perf_counter() - started
    run_dir = Path(run_dir)
    write_text(run_dir / "stability.json", json.dumps(results, indent=2) + "\n")
    name = title("instability", model_name(stored), data_name(stored))
    points, errors = results["alphas"], results["errors"]
    figure = draw_path(points, errors, name, run_dir / "stability.png")
    if cfg.logger.wandb:
        given = {k: OmegaConf.to_container(cfg)[k] for k in OPTIONS}
        log_stability(results, run_dir, name, {**stored, "stability": given}, cfg.logger, figure)
    table = {k: v for k, v in results.items() if not isinstance(v, (list, dict))}
    table.update({f"distance/{k}": v for k, v in results["distance"].items()})
    table.update({f"error@{p:g}": e for p, e in zip(points, errors)})
    print_table(table, title=f"stability  {ckpt.path}", run_dir=run_dir)
    return results
