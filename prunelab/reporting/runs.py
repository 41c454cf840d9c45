"""Finding and reading run directories: `results.json` beside `.hydra/config.yaml`.

A folder with Hydra's config but without results.json is either a run that started and did not
finish (it holds `run.json`, `checkpoints/` or `metrics.csv`, see `prunelab.rundir`) or a config
that was refused before any run began (Hydra writes `.hydra/` first): the report counts neither,
and tells the two apart in its warning.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from omegaconf import DictConfig, OmegaConf

from prunelab.plotting.titles import data_name, model_name

RESULTS = "results.json"
CONFIG = ".hydra/config.yaml"
STARTED = ("checkpoints", "metrics.csv", "run.json")  # prunelab.rundir.MARKERS but results.json
SETTINGS = ("model", "data")  # report keys that name the run's model and dataset


class ReportError(Exception):
    """A report cannot be made from what was given (no runs, unreadable files)."""


@dataclass(frozen=True)
class Run:
    """One finished run: where it is, its config (as Hydra saved it) and its results.json."""

    path: Path
    config: DictConfig = field(repr=False)
    results: dict[str, Any] = field(repr=False)

    def get(self, key: str, default: Any = None) -> Any:
        """A config value by dotted key (`pruning.sparsity`); `default` when absent or when it
        cannot be resolved outside the run (e.g. `${hydra:...}` interpolations)."""
        value = OmegaConf.select(
            self.config, key, default=default, throw_on_resolution_failure=False
        )
        if OmegaConf.is_config(value):
            return OmegaConf.to_container(value, resolve=False)
        return default if value is None else value

    def value(self, key: str) -> Any:
        """What the report groups by: the short name of the model or dataset for `model` and
        `data` (`CifarResNet-20`, `cifar10`), else the config value at `key`."""
        if key == "model":
            return model_name(self.config)
        if key == "data":
            return data_name(self.config)
        return self.get(key)


class RunSource(Protocol):
    """Somewhere else a report's runs come from (a W&B group: `wandb_source.WandbGroup`)."""

    name: str  # how messages name it
    unfinished: list[str]  # the runs it left out, filled by `runs`, for the report's warning

    def runs(self) -> list[Run]:
        """Its finished runs; raises ReportError when it has none or cannot be read."""
        ...


def load_run(path: Path) -> Run:
    """Read the run in folder `path`.

    Raises:
        ReportError: results.json or the config is unreadable.
    """
    path = Path(path)
    try:
        results = json.loads((path / RESULTS).read_text())
        config = OmegaConf.load(path / CONFIG)
    except (OSError, ValueError) as exc:
        raise ReportError(f"cannot read the run in {path}: {exc}") from exc
    if not isinstance(results, dict) or not isinstance(config, DictConfig):
        raise ReportError(f"{path}: results.json and {CONFIG} must each hold a mapping")
    return Run(path.resolve(), config, results)


def _run_dirs(root: Path) -> list[Path]:
    """Folders at or under `root` with a Hydra config (finished or not), sorted."""
    return sorted({p.parent.parent for p in root.glob(f"**/{CONFIG}")})


def started(folder: Path) -> bool:
    """Whether a run began in `folder` (a refused config leaves only Hydra's files there)."""
    return any((Path(folder) / name).exists() for name in STARTED)


def find_runs(paths: Iterable[Path]) -> tuple[list[Run], list[Path]]:
    """Every finished run at or under each of `paths`, and the folders without results.json
    (runs that did not finish, and configs refused before a run began: tell them apart with
    `started`); only the finished runs count.

    A folder counts as a run when it holds both results.json and .hydra/config.yaml. A run found
    through two of the paths is read once.

    Raises:
        ReportError: a path does not exist, or holds no finished run.
    """
    runs: dict[Path, Run] = {}
    unfinished: list[Path] = []
    for root in map(Path, paths):
        if not root.exists():
            raise ReportError(f"{root}: no such file or directory")
        folders = _run_dirs(root)
        finished = [f for f in folders if (f / RESULTS).is_file()]
        left = [f for f in folders if not (f / RESULTS).is_file()]
        if not finished:
            begun = sum(map(started, left))
            hint = f" ({len(left)} without {RESULTS}: {begun} started" if left else ""
            hint += f", {len(left) - begun} never started: refused?)" if left else ""
            raise ReportError(
                f"no runs under {root}{hint}: a run directory holds {RESULTS} and {CONFIG}"
            )
        unfinished += left
        for folder in finished:
            runs.setdefault(folder.resolve(), load_run(folder))
    return list(runs.values()), unfinished
