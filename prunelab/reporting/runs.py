"""Finding and reading run directories: `results.json` beside `.hydra/config.yaml`."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

RESULTS = "results.json"
CONFIG = ".hydra/config.yaml"


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


def find_runs(paths: Iterable[Path]) -> tuple[list[Run], list[Path]]:
    """Every finished run at or under each of `paths`, and the unfinished ones (no results.json).

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
        if not finished:
            hint = f" ({len(folders)} without {RESULTS}: unfinished?)" if folders else ""
            raise ReportError(
                f"no runs under {root}{hint}: a run directory holds {RESULTS} and {CONFIG}"
            )
        unfinished += [f for f in folders if not (f / RESULTS).is_file()]
        for folder in finished:
            runs.setdefault(folder.resolve(), load_run(folder))
    return list(runs.values()), unfinished
