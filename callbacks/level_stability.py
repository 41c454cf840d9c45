"""Instability analysis inside a level-wise run (`pruning.stability=true`, Frankle et al. 2020):
each chosen level's subnetwork at its rewind point, by the code of `prunelab-stability`
(`prunelab.stability.analysis`): two copies trained on two data orders (same masks), the test
error along the line between them, its barrier and the L2 distances.

When: at the start of level L, once `LevelPruning` has pruned, rewound, installed L's masks and
put the learning-rate schedule at the rewind step. The network then holds exactly what level L
trains from (the rewind point for `init` / `step:K`; the pruned weights for `lr` / `none`, which
keep no snapshot to analyse after fit), and the copies continue the schedule from the position
the level starts at and train as long as a level. Done then, level L's analysis is saved before
level L trains: an interrupted run loses at most the analysis under way.

The run itself is left as it was: the copies train deep copies of the network on a shallow copy
of the data module (their own data order), and the random state (torch, CUDA, numpy, Python) is
restored afterwards. Resume: each result goes atomically to `<run dir>/stability/level<L>.json`
as soon as it is done, and into the checkpoint state; a resumed run (`ckpt_path`) that reaches
the start of a level again reads the file, if made with the same settings, instead of analysing
that level twice.
"""

from __future__ import annotations

import copy
import json
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.utilities.seed import isolate_rng

from prunelab.atomic import write_text
from prunelab.callbacks.level_eval import find_test_loader, limited_batches
from prunelab.callbacks.masked import pruning_root
from prunelab.errors import ConfigError

SEED_VARIABLES = ("PL_GLOBAL_SEED", "PL_SEED_WORKERS")  # what seed_everything sets besides RNGs
SETTINGS = ("seeds", "points", "bn", "epochs")  # a saved result is reused only with these equal
POINTS = 11  # points on the path, alpha = 0, 0.1, ..., 1 (Frankle et al.)


def stability_file(run_dir: str | Path, level: int) -> Path:
    """Where the analysis of `level` is kept: `<run dir>/stability/level<L>.json`."""
    return Path(run_dir) / "stability" / f"level{level}.json"


def level_stability(
    enabled: bool,
    levels_total: int,
    levels: Sequence[int] | None = None,
    seeds: Sequence[int] = (1, 2),
    bn: str = "keep",
) -> LevelStability:
    """The analysis `pruning.stability*` asks for (one that analyses nothing when off).

    Args:
        enabled: `pruning.stability`.
        levels_total: the method's number of pruning levels N.
        levels: `pruning.stability_levels`, among 1..N; None = every level.
        seeds: the two copies' data-order and augmentation seeds (equal: identical copies).
        bn: BatchNorm statistics on the path, `keep` or `recompute` (`prunelab.stability`).

    Raises:
        ConfigError: a value out of range, naming its key.
    """
    from prunelab.stability.batchnorm import MODES

    if not isinstance(enabled, bool):
        raise ConfigError(f"pruning.stability={enabled!r} must be true or false")
    if not enabled:
        return LevelStability()
    every = range(1, levels_total + 1)
    chosen = list(every) if levels is None else list(levels)
    if not chosen or any(isinstance(L, bool) or L not in every for L in chosen):
        raise ConfigError(
            f"pruning.stability_levels={levels}: give levels among 1..{levels_total} "
            "(null = all; level 0, the dense network, has no subnetwork to analyse)"
        )
    seeds = list(seeds)
    if len(seeds) != 2 or not all(isinstance(s, int) and s >= 0 for s in seeds):
        raise ConfigError(f"pruning.stability_seeds={seeds}: give two seeds, e.g. [1,2]")
    if bn not in MODES:
        raise ConfigError(f"pruning.stability_bn={bn} is not one of {', '.join(MODES)}")
    return LevelStability(sorted(set(chosen)), seeds, bn)


class LevelStability:
    """The analysis of chosen levels of a level-wise method (`LevelPruning` calls it).

    Args:
        levels: the levels analysed (none: the analysis is off and every call does nothing).
        seeds, bn: see `level_stability`.
    """

    def __init__(
        self, levels: Sequence[int] = (), seeds: Sequence[int] = (1, 2), bn: str = "keep"
    ) -> None:
        self.levels, self.seeds, self.bn = list(levels), list(seeds), bn
        self.results: dict[int, dict[str, Any]] = {}  # level -> the analysis, as in its file

    def check(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Refuse what the copies cannot be trained from: several devices, no prunelab run."""
        if not self.levels:
            return
        if trainer.world_size > 1:
            raise ConfigError(
                "pruning.stability trains its copies on one device: use trainer.devices=1, or "
                "run prunelab-stability on the finished run's checkpoint (level=L)"
            )
        from prunelab.module import Classifier  # imports this package: not at module level

        if not isinstance(pl_module, Classifier) or not pl_module.run_config:
            raise ConfigError(
                "pruning.stability trains copies of prunelab's Classifier from its run config "
                "(the prunelab command)"
            )
        if trainer.datamodule is None:
            raise ConfigError("pruning.stability needs the fit's data module (datamodule=...)")

    def start(self, trainer: pl.Trainer, pl_module, level: int, masks, epochs: int) -> None:
        """Analyse `level` from the network's state now (the start of the level), unless it is
        not chosen, already done, or saved by an earlier process of this run."""
        if level not in self.levels or level in self.results:
            return
        root = run_dir(trainer)
        resumed = trainer.ckpt_path is not None  # a new run never reuses a folder's old files
        saved = self.recall(root, level, epochs) if root is not None and resumed else None
        if saved is None:
            saved = self.analyse(trainer, pl_module, level, masks, epochs)
            if root is not None and trainer.is_global_zero:
                text = json.dumps(saved, indent=2) + "\n"
                write_text(stability_file(root, level), text)
        self.results[level] = saved

    def recall(self, root: str | Path, level: int, epochs: int) -> dict[str, Any] | None:
        """The saved analysis of `level` if its file holds one made with these settings."""
        path = stability_file(root, level)
        if not path.is_file():
            return None
        try:
            saved = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        expected = {"seeds": self.seeds, "points": POINTS, "bn": self.bn, "epochs": epochs}
        if not isinstance(saved, dict) or saved.get("level") != level:
            return None
        if any(saved.get(k) != v for k, v in expected.items()):
            return None
        return saved

    def analyse(self, trainer, pl_module, level: int, masks, epochs: int) -> dict[str, Any]:
        """Two copies of the network as it is now, trained one level long each."""
        from prunelab.stability.analysis import Options, analyse
        from prunelab.stability.copies import Length, Resume

        started = time.perf_counter()
        schedulers = trainer.lr_scheduler_configs
        position = schedulers[0].scheduler.last_epoch if schedulers else 0
        loader = find_test_loader(trainer)
        limit = limited_batches(trainer.limit_test_batches, len(loader)) if loader else None
        options = Options(
            Length(epochs=epochs), self.seeds, POINTS, self.bn,
            test_batches=limit, resume=Resume(position, epochs),
        )  # fmt: skip
        kept = {name: os.environ.get(name) for name in SEED_VARIABLES}
        network = copy.deepcopy(pruning_root(pl_module))
        masks = {name: mask.detach().cpu().clone() for name, mask in masks.items()}
        try:
            with isolate_rng(include_cuda=True):
                found = analyse(
                    network, masks, copy.copy(trainer.datamodule), pl_module.run_config,
                    options, device=pl_module.device,
                )  # fmt: skip
        finally:
            for name, value in kept.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        found.update(level=level, points=POINTS, wall_time_s=time.perf_counter() - started)
        return found

    def entries(self, level: int) -> dict[str, float]:
        """What level `level`'s record (results.json `stages`) gets: the W&B summary scalars of
        the analysis (`stability/barrier`, `stability/distance/<name>`, `stability/error_a|b`)."""
        from prunelab.stability.wandb_out import summary

        return summary(self.results[level]) if level in self.results else {}

    def plot(self, path: Path | None, title: str, densities: Mapping[int, float]) -> Path | None:
        """The error along the path of every analysed level, one curve each, at `path`."""
        from prunelab.stability.plot import draw_levels

        if path is None or not self.results:
            return None
        curves = {}
        for level, found in sorted(self.results.items()):
            density = densities.get(level)
            label = f"level {level}" + (f" ({100 * density:.1f}% kept)" if density else "")
            curves[label] = (found["alphas"], found["errors"])
        return draw_levels(curves, f"instability: {title}", path)

    def state_dict(self) -> dict[str, Any]:
        """The analyses done so far (nothing when off), for the method's checkpoint state."""
        if not self.levels:
            return {}
        return {"stability": {str(level): found for level, found in self.results.items()}}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore the analyses done before the checkpoint (none from older checkpoints)."""
        saved = state.get("stability") or {}
        self.results = {int(level): dict(found) for level, found in saved.items()}


def run_dir(trainer: pl.Trainer) -> Path | None:
    """The run directory (the one holding `checkpoints/`), None without a checkpoint folder."""
    checkpoints = trainer.checkpoint_callback
    if checkpoints is None or not checkpoints.dirpath:
        return None
    return Path(checkpoints.dirpath).parent
