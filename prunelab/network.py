"""Build the configured network, optionally starting from saved weights (`model.init_from`)."""

from __future__ import annotations

from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn


def load_weights(network: nn.Module, path: str | Path) -> None:
    """Load a prunelab/Lightning checkpoint or a plain state_dict into `network` (strict).

    Only tensors are read (`weights_only=True`): loading never executes code from the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model.init_from={path} does not exist")
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = state.get("state_dict", state)
    # A Lightning checkpoint of prunelab's Classifier names weights `network.<name>`.
    if any(k.startswith("network.") for k in state):
        state = {
            k.removeprefix("network."): v for k, v in state.items() if k.startswith("network.")
        }
    network.load_state_dict(state, strict=True)


def build_network(node: DictConfig) -> nn.Module:
    """Instantiate the `model` config node; `init_from` (no constructor argument) loads weights."""
    args = OmegaConf.to_container(node, resolve=True)
    init_from = args.pop("init_from", None)
    network = instantiate(args, _convert_="all")
    if init_from:
        load_weights(network, init_from)
    return network
