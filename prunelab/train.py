"""One run: build everything from the config, train, test, and write the run directory."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import LearningRateMonitor, ModelCheckpoint

from prunelab.building import (  # noqa: F401 (re-exported)
    build_methods,
    build_monitors,
    build_node,
    build_pruning,
    refusals_as_config_errors,
)
from prunelab.callbacks.base import PruningCallback
from prunelab.checkpoint_io import SafeCheckpointIO, read_resume_checkpoint
from prunelab.data import ImageFolderDataModule, InMemoryDataModule
from prunelab.ddp import ddp_job
from prunelab.divergence import StopOnDivergence, advice, non_finite
from prunelab.errors import ConfigError, DivergenceError
from prunelab.interrupt import SaveOnInterrupt
from prunelab.loggers import build_loggers, log_final
from prunelab.module import Classifier
from prunelab.network import build_network
from prunelab.plan import follow_plan
from prunelab.pruning.targets import prunable_parameters
from prunelab.results import measure, print_table, write_results
from prunelab.rundir import refuse_occupied, start_run
from prunelab.terminal import CompactProgressBar, ScheduleCheck, print_start, quiet
from prunelab.validate import validate

# prunelab's data modules: each declares `check_before_fit` (a user's own data module need not).
CHECKED_DATA = (InMemoryDataModule, ImageFolderDataModule)


def run_config(cfg: DictConfig) -> dict:
    """The resolved run config without Hydra's own node, as logged and stored in checkpoints."""
    keys = [k for k in cfg if k != "hydra"]
    return OmegaConf.to_container(OmegaConf.masked_copy(cfg, keys), resolve=True)


def held_out(cfg: DictConfig) -> bool:
    """Whether validation is a split of its own (`data.val_split` = n held-out train images,
    or a folder other than the test one) rather than the test split again."""
    split = cfg.data.get("val_split", "test")
    return split != "test" and not (isinstance(split, int) and split <= 0)


def train(cfg: DictConfig, run_dir: Path) -> dict:
    """Train and test the configured network; write results.json under `run_dir` and return it.

    Everything that can refuse a config (validation, constructors) runs before any data is read.
    """
    started = time.perf_counter()
    run_dir = Path(run_dir)
    validate(cfg)
    refuse_occupied(cfg, run_dir)  # a new run never writes over another run's files
    if cfg.ckpt_path:  # refused before any compute: a URL, a hostile or foreign file
        read_resume_checkpoint(cfg.ckpt_path, mmap=True)  # a check: Lightning reads it in full
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = build_node(cfg.data)
    if isinstance(datamodule, CHECKED_DATA):  # what only the data can tell, e.g. its size
        with refusals_as_config_errors():
            datamodule.check_before_fit()
    with refusals_as_config_errors():
        network = build_network(cfg.model)
    pruning = build_methods(cfg, run_dir / "plots")
    if not all(isinstance(c, PruningCallback) for c in pruning):  # the interface used below
        raise ConfigError(f"pruning={cfg.pruning.get('name')} builds no prunelab pruning callback")
    monitors = build_monitors(cfg.get("monitor"))
    follow_plan(cfg, pruning, run_dir)  # IMP, SAP: max_epochs = (levels + 1) x epochs_per_level
    config = run_config(cfg)
    size = getattr(datamodule, "image_size", 32)
    module = Classifier(
        network,
        num_classes=cfg.data.num_classes,
        optim=config["optim"],
        sched=config["sched"],
        top5=cfg.data.num_classes >= 100,
        label_smoothing=float(cfg.optim.get("label_smoothing", 0.0)),  # ImageNet recipes: 0.1
        run_config=config,
        input_shape=(3, size, size),
    )
    trainer_args = dict(config["trainer"])
    for callback in pruning:  # a typo'd glob or a schedule that cannot fit: refused before data
        prunable_parameters(network, callback.exclude)
        callback.check_plan(trainer_args["max_epochs"])
    wandb_id = start_run(cfg, run_dir, config)  # after every refusal: may clear an old run
    quiet()
    print_start(run_dir)  # where the run writes, before any of its output
    checkpoints = run_dir / "checkpoints"
    saver = SaveOnInterrupt(checkpoints)
    clip = trainer_args.get("gradient_clip_val")
    callbacks = [
        *pruning,
        ScheduleCheck(pruning),  # after the methods: their plans are set at train start
        *monitors,
        # last.ckpt after every epoch (Lightning writes save_last only beside a top-k save).
        ModelCheckpoint(
            dirpath=checkpoints,
            filename="last",
            save_top_k=1,
            every_n_epochs=1,
            enable_version_counter=False,
        ),
        saver,
        StopOnDivergence(cfg.optim.lr, clip),  # a NaN loss ends the run at once, exit status 3
    ]
    progress_bar = trainer_args.pop("progress_bar", True)
    if progress_bar:
        callbacks.append(CompactProgressBar(leave=True))
    loggers = build_loggers(cfg.logger, run_dir, cfg.name, config, wandb_id, cfg)
    if loggers:  # the learning rate at every step, as `lr` (metrics.csv and W&B)
        callbacks.append(LearningRateMonitor(logging_interval="step"))
    trainer = pl.Trainer(
        **trainer_args,
        callbacks=callbacks,
        logger=loggers or False,
        default_root_dir=str(run_dir),
        enable_progress_bar=progress_bar,
        plugins=[SafeCheckpointIO()],  # atomic checkpoint files; resume through the one loader
        use_distributed_sampler=False,  # prunelab samplers shard by rank, deterministically
    )
    results: dict[str, Any] = {}
    # DDP ranks started for this run run this job, and end with it; SIGTERM or Ctrl-C raises
    # Interrupted after saving a checkpoint that resumes the run.
    with ddp_job(trainer), saver.catch_signals():
        with saver.stopping(trainer):
            trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.ckpt_path)
        # The last validation's figures, read before test() replaces callback_metrics.
        validated = {
            f"final/{k}": float(v)
            for k, v in trainer.callback_metrics.items()
            if k.startswith("val/") and v.numel() == 1
        }
        if cfg.test_after_fit:
            with saver.stopping(trainer):
                (tested,) = trainer.test(module, datamodule=datamodule, verbose=False)
            results.update({k: float(v) for k, v in tested.items()})
    bad = non_finite({**validated, **results})  # so far: the test and last validation figures
    if bad:  # exit status 0 means finite results; a NaN accuracy is no result
        figures = ", ".join(f"{k}={v}" for k, v in bad.items())
        raise DivergenceError(
            f"{figures} after training: the run diverged; {advice(cfg.optim.lr, clip)}"
        )
    exclude = next((c.exclude for c in pruning), ())
    results.update(measure(module.network, (3, size, size), exclude))
    results["stages"] = []
    for callback in pruning:  # its stages and own final figures, e.g. GraNet's best_val/acc
        results.update(callback.results())
    for key, value in validated.items():
        results.setdefault(key, value)
    results["wall_time_s"] = time.perf_counter() - started
    if trainer.is_global_zero:
        if cfg.get("bench"):  # inference speed of the forms of the final weights: bench.json
            from prunelab.export.bench_run import bench_finished_run

            results.update(bench_finished_run(run_dir))
        write_results(run_dir / "results.json", results)
        # The last validation's figures repeat the test's when validation is the test split.
        shown = {k: v for k, v in results.items() if held_out(cfg) or k not in validated}
        print_table(shown, title=cfg.name, run_dir=run_dir)
        model = checkpoints / "last.ckpt" if cfg.logger.get("log_model") else None
        log_final(trainer.loggers, results, run_dir / "plots", model)
    return results
