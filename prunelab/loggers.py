"""Experiment tracking: W&B (offline unless the user configured it) beside a CSV file."""

from __future__ import annotations

import csv
import netrc
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pytorch_lightning.loggers import CSVLogger, Logger, WandbLogger
from pytorch_lightning.loggers.csv_logs import ExperimentWriter
from pytorch_lightning.loggers.logger import rank_zero_experiment

from prunelab.wandb_log import identity, log_checkpoint, log_curves

REACH_TIMEOUT_S = 3.0  # a W&B server answers in well under a second; none at all stalls W&B


def wandb_configured() -> bool:
    """Whether W&B has credentials, so going online cannot end in a login prompt."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (FileNotFoundError, netrc.NetrcParseError):
        return False


def wandb_mode(requested: str | None, timeout_s: float = REACH_TIMEOUT_S) -> str:
    """`requested`, else WANDB_MODE, else online only when credentials exist; online falls back
    to offline, with one warning line, when the W&B server does not answer within `timeout_s`
    (W&B itself would stall for minutes and end in a traceback)."""
    mode = (
        requested or os.environ.get("WANDB_MODE") or ("online" if wandb_configured() else "offline")
    )
    if mode != "online":
        return mode
    url = os.environ.get("WANDB_BASE_URL") or "https://api.wandb.ai"
    reason = unreachable(url, timeout_s)
    if reason is None:
        return mode
    print(
        f"prunelab: warning: W&B server {url} unreachable ({reason}); logging offline "
        "(upload later with `wandb sync <run dir>/wandb`)",
        file=sys.stderr,
        flush=True,
    )
    return "offline"


def unreachable(url: str, timeout_s: float) -> str | None:
    """Why `url` gives no HTTP answer within `timeout_s`; None when it answers (any status)."""
    import urllib.error
    import urllib.request

    try:
        urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout_s)
    except urllib.error.HTTPError:  # an answer, if not a welcome one: the server is there
        return None
    except (OSError, ValueError) as exc:  # refused, timed out, no DNS, a malformed URL
        reason = getattr(exc, "reason", exc)
        return f"no answer in {timeout_s:g} s" if isinstance(reason, TimeoutError) else str(reason)
    return None


class _ContinuingWriter(ExperimentWriter):
    """Lightning's CSV writer, except that an existing metrics.csv is continued, not deleted.

    Lightning deletes metrics.csv when its folder is not empty; a run resumed in place appends to
    its own file instead (a new run never meets an old file: `prunelab.rundir` refuses the folder
    or clears it first). The columns start as the file's header, so rows of the first run and of
    the resumed one share one header, which Lightning rewrites when new metrics appear.
    """

    def _check_log_dir_exists(self) -> None:
        if self._fs.isfile(self.metrics_file_path):
            with self._fs.open(self.metrics_file_path, "r", newline="") as file:
                self.metrics_keys = next(csv.reader(file), [])


class ContinuingCSVLogger(CSVLogger):
    """A CSVLogger whose metrics.csv survives a resume (see `_ContinuingWriter`)."""

    @property
    @rank_zero_experiment  # as Lightning's: other DDP ranks get a no-op writer
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _ContinuingWriter(log_dir=self.log_dir)
        return self._experiment


def build_loggers(
    cfg: Any,
    run_dir: Path,
    name: str,
    config: dict,
    wandb_id: str | None = None,
    config_node: Any = None,
) -> list[Logger]:
    """The loggers `cfg` (the `logger` config group) asks for, writing under `run_dir`.

    With the run's whole config `config_node`, the W&B run is named after the run and its swept
    values, with the method as its job type and model, data and method as tags
    (`prunelab.wandb_log.identity`); without it, W&B names the run `name`.

    `wandb_id` names the W&B run: the id of the run being resumed continues it (`resume="allow"`
    starts it when W&B has no run of that id yet, e.g. a new run's fresh id).
    """
    loggers: list[Logger] = []
    if cfg.get("csv", True):
        # name="" and version="" put metrics.csv at the run directory's top, as the contract says.
        loggers.append(ContinuingCSVLogger(save_dir=str(run_dir), name="", version=""))
    if cfg.get("wandb", False):
        mode = wandb_mode(cfg.get("mode"))
        os.environ.setdefault("WANDB_SILENT", "true")
        wandb = WandbLogger(
            **identity(config_node) if config_node is not None else {"name": name},
            save_dir=str(run_dir),
            project=cfg.get("project", "prunelab"),
            entity=cfg.get("entity"),
            group=cfg.get("group") or sweep_group(),
            mode=mode,
            offline=mode == "offline",
            id=wandb_id,
            resume="allow" if wandb_id else None,
        )
        # Lightning passes anonymous=None, which W&B answers with a deprecation warning per run.
        wandb._wandb_init.pop("anonymous", None)
        loggers.append(wandb)
    for logger in loggers:
        logger.log_hyperparams(config)
    return loggers


def sweep_group() -> str | None:
    """The W&B group shared by the runs of one `prunelab -m` sweep; None outside a sweep.

    It is the sweep folder's name, `<task>-<command id>` for `runs/<task>/multirun/<command id>`:
    every job of a sweep (any launcher, any process) resolves the same folder.
    """
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return None
    folder = Path(HydraConfig.get().sweep.dir)
    parts = [folder.parent.parent.name, folder.name] if folder.parent.name == "multirun" else []
    return "-".join(p for p in parts if p) or folder.name


def _numbers(results: Mapping[str, Any]) -> dict[str, float | int]:
    return {
        k: v for k, v in results.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
    }


def _table(rows: Sequence[Mapping[str, Any]]):
    """A W&B Table with one column per key (first-seen order) and one row per mapping."""
    import wandb

    columns = list(dict.fromkeys(k for row in rows for k in row))
    return wandb.Table(columns=columns, data=[[row.get(k) for k in columns] for row in rows])


def _log_wandb_final(
    logger: WandbLogger,
    results: Mapping[str, Any],
    plots: Iterable[Path],
    checkpoint: Path | None,
):
    """The final figures into the run summary, the results (and stages) as W&B Tables, and the
    run's plots as images."""
    import wandb

    run = logger.experiment
    run.summary.update(_numbers(results))
    tables = {"results": _table([_numbers(results)])}
    if results.get("stages"):
        tables["stages"] = _table(results["stages"])
    images = {f"plots/{p.stem}": wandb.Image(str(p)) for p in plots}
    run.log({**tables, **images})
    log_curves(logger, results.get("stages") or [])
    if checkpoint is not None:
        log_checkpoint(logger, checkpoint)


def log_final(
    loggers: Sequence[Logger],
    results: Mapping[str, Any],
    plots_dir: Path,
    checkpoint: Path | None = None,
) -> None:
    """Send a run's final figures to every logger, then close them (call on rank 0 only).

    Every logger gets the numbers of `results` as metrics; W&B also gets them in the run summary,
    the results and per-stage tables as W&B Tables and the PNGs of `plots_dir` as images. W&B
    runs are finished here, so the next job of an in-process sweep starts a run of its own.
    W&B also gets curves of the stages against the level and, given a `checkpoint` (the run asked
    for `logger.log_model=true`), that file as a model artifact.
    """
    plots = sorted(Path(plots_dir).glob("*.png"))
    for logger in loggers:
        logger.log_metrics(_numbers(results))
        if isinstance(logger, WandbLogger):
            _log_wandb_final(logger, results, plots, checkpoint)
        logger.finalize("success")
    for logger in loggers:
        if isinstance(logger, WandbLogger):
            logger.experiment.finish()
