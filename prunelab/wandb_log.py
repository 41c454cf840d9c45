"""W&B used as W&B: a run's identity (name, job type, tags), per-layer densities as one table and
bar chart per mask change, level curves as native line plots, and a checkpoint artifact.

Everything here is a no-op for loggers other than Lightning's `WandbLogger`; the CSV logger keeps
its one column per figure.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pytorch_lightning.loggers import Logger, WandbLogger

# Stage figures drawn against the level's density, when a method's stages carry them.
CURVES = ("test/acc", "val/acc", "best_val/acc", "pq_index")


def swept_keys(argv: Sequence[str], sweeper_params: Mapping[str, Any] | None = None) -> list[str]:
    """The keys a `prunelab -m` command sweeps: overrides with several values on the command line
    (`seed=0,1`, `range(...)`, `interval(...)`) and the sweeper's own `params`."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    args = [a for a in argv if not a.startswith("-")]
    try:
        parsed = OverridesParser.create().parse_overrides(args)
    except Exception:  # noqa: BLE001 (Hydra parsed these already; a name is no reason to fail)
        parsed = []
    keys = [o.get_key_element() for o in parsed if o.is_sweep_override()]
    return list(dict.fromkeys([*keys, *(sweeper_params or {})]))


def run_name(name: str, task: Sequence[str], swept: Sequence[str]) -> str:
    """`name` followed by this job's values of the swept keys, e.g. `resnet20-gmp seed=1`."""
    values = dict(o.split("=", 1) for o in task if "=" in o)
    picked = [f"{k}={values[k]}" for k in swept if k in values]
    return " ".join([name, *picked])


def identity(cfg: Any) -> dict[str, Any]:
    """`name`, `job_type` (the pruning method) and `tags` (model, data, method, `logger.tags`)
    of the W&B run for `cfg`; the name carries the swept values, so a sweep's runs differ."""
    from hydra.core.hydra_config import HydraConfig

    name, choices, task, swept = str(cfg.name), {}, [], []
    if HydraConfig.initialized():
        hydra = HydraConfig.get()
        choices, task = dict(hydra.runtime.choices), list(hydra.overrides.task)
        if hydra.mode is not None and hydra.mode.name == "MULTIRUN":
            swept = swept_keys(sys.argv[1:], hydra.sweeper.get("params"))
    method = str(cfg.pruning.get("name") or choices.get("pruning") or "none")
    picked = [choices.get("model"), choices.get("data"), method]
    tags = [str(t) for t in [*picked, *(cfg.logger.get("tags") or [])] if t]
    return {
        "name": run_name(name, task, swept),
        "job_type": method,
        "tags": list(dict.fromkeys(tags)),
    }


def wandb_loggers(loggers: Sequence[Logger]) -> list[WandbLogger]:
    return [logger for logger in loggers if isinstance(logger, WandbLogger)]


def log_densities(
    loggers: Sequence[Logger], total: Mapping[str, float], per_layer: Mapping[str, float], step: int
) -> None:
    """The figures `total` (e.g. the sparsity) and the per-layer densities at `step`, in one
    record per logger: W&B gets one Table and native bar chart (`prune/layers`), not one panel per
    layer; the other loggers one `prune/layer/<name>` figure per layer."""
    scalars = {**total, **{f"prune/layer/{n}": d for n, d in per_layer.items()}}
    for logger in loggers:
        if not isinstance(logger, WandbLogger):
            logger.log_metrics(scalars, step=step)
    for logger in wandb_loggers(loggers):
        import wandb

        rows = [[n, d] for n, d in per_layer.items()]
        table = wandb.Table(columns=["layer", "density"], data=rows)
        chart = wandb.plot.bar(table, "layer", "density", title=f"density per layer, step {step}")
        logger.experiment.log({**total, "prune/layers": chart, "trainer/global_step": step})


def log_curves(logger: WandbLogger, stages: Sequence[Mapping[str, Any]]) -> None:
    """Each stage figure of `CURVES` (accuracies, PQ index) against the level as a native W&B
    line plot `curves/<figure>`, with the level's density as a table column beside it."""
    import wandb

    for key in CURVES:
        rows = [s for s in stages if isinstance(s.get(key), (int, float)) and "stage" in s]
        if len(rows) < 2:  # one point draws no line
            continue
        columns = ["level", "density", key]
        data = [[int(s["stage"]), s.get("density"), float(s[key])] for s in rows]
        table = wandb.Table(columns=columns, data=data)
        title = f"{key} by level"
        logger.experiment.log({f"curves/{key}": wandb.plot.line(table, "level", key, title=title)})


def log_checkpoint(logger: WandbLogger, checkpoint: Path) -> None:
    """`checkpoint` as a W&B model artifact (`model-<run id>`, alias `latest`); offline runs
    keep it with the run and upload it with `wandb sync`."""
    import wandb

    if not checkpoint.is_file():
        return
    run = logger.experiment
    artifact = wandb.Artifact(f"model-{run.id}", type="model", metadata={"file": checkpoint.name})
    artifact.add_file(str(checkpoint))
    run.log_artifact(artifact, aliases=["latest"])
