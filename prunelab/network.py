"""Build the configured network, optionally starting from saved weights (`model.init_from`)."""

from __future__ import annotations

from pathlib import Path

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn

from prunelab.loading import load_into


def load_weights(network: nn.Module, path: str | Path) -> None:
    """Load a prunelab/Lightning checkpoint or a plain state_dict into `network` (strict).

    Read by the one loader (`prunelab.loading`): a local file, tensors only, never code.
    """
    load_into(network, path, "model.init_from")


def build_network(node: DictConfig) -> nn.Module:
    """Instantiate the `model` config node; `init_from` (no constructor argument) loads weights."""
    args = OmegaConf.to_container(node, resolve=True)
    init_from = args.pop("init_from", None)
    network = instantiate(args, _convert_="all")
    if init_from:
        load_weights(network, init_from)
    return network
