"""Where the Hydra config tree lives, what it offers, and composing it outside the command line."""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from omegaconf import DictConfig

CONFIG_MODULE = "prunelab.conf"
CONFIG_PATH = f"pkg://{CONFIG_MODULE}"
# Config groups a user picks an option of on the command line (`model=vgg16`).
CHOICE_GROUPS = (
    "data", "model", "optim", "sched", "pruning", "monitor", "trainer", "logger", "experiment",
)  # fmt: skip


def config_dir() -> Path:
    """The config tree's folder (`conf/` in a checkout, `prunelab/conf` in an installed wheel)."""
    return Path(str(resources.files(CONFIG_MODULE)))


def choices(group: str) -> list[str]:
    """The option names of a config group, e.g. `choices("model")` -> ["resnet110", ...]."""
    folder = config_dir() / group
    names = (p.relative_to(folder).with_suffix("").as_posix() for p in folder.rglob("*.yaml"))
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
