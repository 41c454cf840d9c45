"""A W&B group as a source of runs: `prunelab-report --wandb ENTITY/PROJECT/GROUP`.

Each finished W&B run of the group becomes the same `Run` a run directory gives: its config is
the run config prunelab logged (`prunelab.loggers.build_loggers`: the resolved config without
Hydra's node), its results the numbers of the run summary (`prunelab.loggers.log_final` puts the
final figures there) and, for multi-stage methods, `stages` from the `stages` table logged beside
them. Its `path` is W&B's run path, `ENTITY/PROJECT/RUN_ID`, for messages.

The W&B client is reached only through `WandbApi`, the few calls used here, so a test passes an
object of its own. The real one (`wandb.Api`) is made only with credentials and a server that
answers within `REACH_TIMEOUT_S`: otherwise one `ReportError` line, never a login prompt or a
stall (as prunelab's own runs treat W&B, `prunelab.loggers.wandb_mode`).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Any, Protocol

from omegaconf import OmegaConf

from prunelab.reporting.runs import ReportError, Run

REACH_TIMEOUT_S = 5.0  # the server's first answer; then each API request
API_TIMEOUT_S = 30  # one API request (a page of runs, a file)
STAGES = "stages"  # the summary key of the stages table (prunelab.loggers._log_wandb_final)


class WandbFile(Protocol):
    def download(self, root: str, replace: bool) -> IO[str]: ...


class WandbRun(Protocol):
    """What is read of one W&B run (`wandb.apis.public.Run` has these)."""

    id: str
    state: str  # finished | running | crashed | failed | killed
    config: Mapping[str, Any]
    summary_metrics: Mapping[str, Any]

    def file(self, name: str) -> WandbFile: ...


class WandbApi(Protocol):
    """What is asked of the W&B client (`wandb.Api` has it)."""

    def runs(self, path: str, filters: Mapping[str, Any]) -> Iterable[WandbRun]: ...


def parse_group(text: str) -> tuple[str, str]:
    """`ENTITY/PROJECT/GROUP` as (`ENTITY/PROJECT`, `GROUP`)."""
    parts = text.split("/")
    if len(parts) != 3 or not all(parts):
        raise ReportError(f"--wandb {text}: expected ENTITY/PROJECT/GROUP, e.g. me/prunelab/gmp-1")
    return "/".join(parts[:2]), parts[2]


def online_api() -> WandbApi:
    """`wandb.Api()`, after checking that it can neither prompt for a login nor stall.

    Raises:
        ReportError: W&B is set offline, has no credentials, or its server does not answer.
    """
    from prunelab.loggers import unreachable, wandb_configured

    mode = os.environ.get("WANDB_MODE")
    if mode in ("offline", "disabled", "dryrun"):
        raise ReportError(f"--wandb reads the W&B server, and WANDB_MODE={mode}")
    if not wandb_configured():
        raise ReportError(
            "--wandb needs W&B credentials (`wandb login` or WANDB_API_KEY); "
            "for offline runs, report their run directories instead"
        )
    url = os.environ.get("WANDB_BASE_URL") or "https://api.wandb.ai"
    reason = unreachable(url, REACH_TIMEOUT_S)
    if reason is not None:
        raise ReportError(f"--wandb: W&B server {url} unreachable ({reason})")
    os.environ.setdefault("WANDB_SILENT", "true")
    import wandb

    try:
        return wandb.Api(timeout=API_TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001 (wandb's own errors: a rejected key, a bad URL)
        raise ReportError(f"--wandb: W&B refused the connection: {exc}") from exc


def _unflatten(config: Mapping[str, Any]) -> dict[str, Any]:
    """The logged config as nested mappings (a W&B sweep may log `pruning.sparsity` flat);
    W&B's own keys (`_wandb`) left out."""
    nested: dict[str, Any] = {}
    for key, value in config.items():
        if str(key).startswith("_"):
            continue
        *parents, leaf = str(key).split(".")
        node = nested
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = value
    return nested


def _stages(run: WandbRun) -> list[dict[str, Any]]:
    """The rows of the run's `stages` table (a W&B table file: columns and data), or []."""
    entry = run.summary_metrics.get(STAGES)
    if not isinstance(entry, Mapping) or not isinstance(entry.get("path"), str):
        return []
    with (
        tempfile.TemporaryDirectory() as folder,
        run.file(entry["path"]).download(root=folder, replace=True) as handle,
    ):
        table = json.load(handle)  # data: columns and rows of plain values
    columns = list(table.get("columns") or [])
    return [dict(zip(columns, row)) for row in table.get("data") or []]


def _numbers(summary: Mapping[str, Any]) -> dict[str, float]:
    return {
        k: v
        for k, v in summary.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and not k.startswith("_")
    }


class WandbGroup:
    """The finished runs of one W&B group (a `RunSource`)."""

    def __init__(self, group: str, api: WandbApi | None = None):
        self.name = group
        self.project, self.group = parse_group(group)
        self.api = api
        self.unfinished: list[str] = []  # `ENTITY/PROJECT/ID (state)` of runs left out

    def runs(self) -> list[Run]:
        """Read the group's runs; those not finished, or without `test/acc`, go to `unfinished`.

        Raises:
            ReportError: W&B cannot be reached, or the group has no finished run.
        """
        api = self.api if self.api is not None else online_api()
        try:
            found = list(api.runs(self.project, filters={"group": self.group}))
            runs = [self._run(run) for run in found if self._finished(run)]
        except ReportError:
            raise
        except Exception as exc:  # noqa: BLE001 (network, HTTP and W&B errors alike)
            raise ReportError(f"--wandb {self.name}: {type(exc).__name__}: {exc}") from exc
        if not runs:
            left = f" ({len(found)} not finished)" if found else ""
            raise ReportError(f"--wandb {self.name}: no finished runs in this group{left}")
        return runs

    def _finished(self, run: WandbRun) -> bool:
        tested = "test/acc" in run.summary_metrics  # not: a run stopped by a refusal, a NaN
        if run.state == "finished" and tested:
            return True
        why = run.state if run.state != "finished" else "finished without test/acc"
        self.unfinished.append(f"{self.project}/{run.id} ({why})")
        return False

    def _run(self, run: WandbRun) -> Run:
        results: dict[str, Any] = _numbers(run.summary_metrics)
        results[STAGES] = _stages(run)
        config = OmegaConf.create(_unflatten(run.config))
        return Run(Path(self.project, run.id), config, results)
