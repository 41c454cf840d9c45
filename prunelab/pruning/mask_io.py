"""Mask sets on disk, 1 bit per weight: an IMP run's per-level masks for the controls to reuse."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from prunelab.pruning.masks import MaskSet


def save_masks(path: str | Path, masks: Mapping[str, torch.Tensor]) -> None:
    """Write `masks` packed to bits (8x smaller than torch's bool storage)."""
    packed = {
        name: {"shape": list(mask.shape), "bits": torch.from_numpy(np.packbits(mask.cpu().numpy()))}
        for name, mask in masks.items()
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    torch.save(packed, path)


def load_masks(path: str | Path) -> MaskSet:
    """Read a file of `save_masks` (tensors only: loading never executes code)."""
    packed = torch.load(path, map_location="cpu", weights_only=True)
    masks = {}
    for name, entry in packed.items():
        count = int(np.prod(entry["shape"]))
        bits = np.unpackbits(entry["bits"].numpy(), count=count).astype(bool)
        masks[name] = torch.from_numpy(bits).view(*entry["shape"])
    return masks
