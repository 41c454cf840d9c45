"""From config nodes to the objects of a run: the pruning callbacks, the monitors, any node.

A constructor's refusal of a value (ValueError, FileNotFoundError, TypeError), raised directly or
wrapped by Hydra's `instantiate`, becomes a ConfigError: one line, exit 2.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from prunelab import composition
from prunelab.errors import ConfigError

REFUSALS = (ValueError, FileNotFoundError, TypeError)  # how a constructor refuses a value


@contextmanager
def refusals_as_config_errors() -> Iterator[None]:
    """A constructor's refusal of a value, raised directly or wrapped by Hydra's `instantiate`,
    becomes a ConfigError (one line, exit 2)."""
    try:
        yield
    except InstantiationException as exc:
        if isinstance(exc.__cause__, REFUSALS):
            raise ConfigError(str(exc.__cause__)) from exc.__cause__
        raise
    except REFUSALS as exc:
        raise ConfigError(str(exc)) from exc


def build_node(node: DictConfig) -> Any:
    """Instantiate a config node; a constructor's refusal of a value becomes a ConfigError."""
    with refusals_as_config_errors():
        return instantiate(node, _convert_="all")


def build_pruning(cfg: DictConfig, plot_dir: Path | None = None) -> list[Any]:
    """The pruning method's callbacks: none for `pruning=none`; figures go to `plot_dir`."""
    node = OmegaConf.to_container(cfg, resolve=True)  # resolved first: `${seed}` may appear
    node.pop("name", None)
    if plot_dir is not None:  # every method takes it; a callback writes no file unless asked
        node["plot_dir"] = str(plot_dir)
    if composition.kinds_of(node) is not None:  # a method that names its parts
        with refusals_as_config_errors():
            return [composition.build(node)]
    if "_target_" not in node:
        return []
    return [build_node(OmegaConf.create(node))]


def build_monitors(cfg: DictConfig | None) -> list[pl.Callback]:
    """Measurement callbacks of the `monitor` group (e.g. the PQ index), for any method."""
    nodes = OmegaConf.to_container(cfg, resolve=True) if cfg else {}
    return [build_node(OmegaConf.create(node)) for node in nodes.values()]


def build_structure(cfg: DictConfig | None, plot_dir: Path | None = None) -> list[Any]:
    """The structural stage of the `structure` group (PreCropping), none for `structure=none`."""
    if cfg is None or cfg.get("name", "none") == "none":
        return []
    return build_pruning(cfg, plot_dir)


def build_methods(cfg: DictConfig, plot_dir: Path | None = None) -> list[Any]:
    """Every pruning callback of the run config `cfg`, in the order they act: the structural
    stage first (its `setup` narrows the network before a method's `setup` finds the weights it
    masks), then the method, which prunes the narrow network."""
    structure = build_structure(cfg.get("structure"), plot_dir)
    methods = build_pruning(cfg.pruning, plot_dir)
    if structure and cfg.pruning.get("name") == "precrop":
        raise ConfigError(
            "structure=precrop does not combine with pruning=precrop: it is the same stage; "
            "pick another pruning= method (or pruning=none) to prune the narrow network"
        )
    for stage in structure:  # the sparsity is measured over the method's weights
        stage.exclude = next((m.exclude for m in methods), ())
    return [*structure, *methods]
