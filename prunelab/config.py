"""Where the Hydra config tree lives, what it offers, and composing it outside the command line."""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

CONFIG_MODULE = "prunelab.conf"
CONFIG_PATH = f"pkg://{CONFIG_MODULE}"
# Config groups a user picks an option of on the command line (`model=vgg16`).
CHOICE_GROUPS = (
    "data", "model", "optim", "sched", "pruning", "monitor", "trainer", "logger", "experiment",
    "quickstart",  # chosen by config.yaml (`${data}_${pruning}`); a typed name must exist too
)  # fmt: skip


def planned_epochs(pruning: Any, default: int) -> Any:
    """`trainer.max_epochs: ${prunelab.planned_epochs:${pruning},10}`: the epochs the pruning
    method plans, else `default`.

    A method plans the length of training when its config has `levels` and `epochs_per_level`
    (IMP, LTH, SAP: the arguments of their `Levels` schedule): (levels + 1) x epochs_per_level,
    level 0 being the dense run. Values the method refuses (not integers, levels < 0,
    epochs_per_level < 1) give `default`: its constructor then names the bad key in one line, not
    a traceback here.
    """
    if not isinstance(pruning, DictConfig) or not {"levels", "epochs_per_level"} <= set(pruning):
        return default
    levels, per_level = pruning.levels, pruning.epochs_per_level
    if any(isinstance(v, bool) or not isinstance(v, int) for v in (levels, per_level)):
        return default
    return (levels + 1) * per_level if levels >= 0 and per_level >= 1 else default


def run_name(model: str, structure: str, pruning: str) -> str:
    """`name: ${prunelab.run_name:<model>,<structure>,<pruning>}` (the groups' choices): model and
    method, with the structural stage between them when there is one (`resnet20-precrop-gmp`)."""
    return "-".join([model, pruning] if structure == "none" else [model, structure, pruning])


# Registered on import, so the command line and `compose()` resolve the config tree alike.
OmegaConf.register_new_resolver("prunelab.planned_epochs", planned_epochs, replace=True)
OmegaConf.register_new_resolver("prunelab.run_name", run_name, replace=True)


def config_dir() -> Path:
    """The config tree's folder (`conf/` in a checkout, `prunelab/conf` in an installed wheel)."""
    return Path(str(resources.files(CONFIG_MODULE)))


def choices(group: str) -> list[str]:
    """The option names of a config group, e.g. `choices("model")` -> ["resnet110", ...]."""
    folder = config_dir() / group
    names = (p.relative_to(folder).with_suffix("").as_posix() for p in folder.glob("*.yaml"))
    return sorted(names)


def compose(overrides: Sequence[str] = ()) -> DictConfig:
    """Compose the run config as the command line would, for tests and notebooks.

    The `hydra:` node is kept and registered, so `${hydra:...}` interpolations resolve as in a run.
    """
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig

    GlobalHydra.instance().clear()
    with initialize_config_module(CONFIG_MODULE, version_base="1.3"):
        cfg = hydra_compose("config", overrides=list(overrides), return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    return cfg
