"""Mask sets on disk, 1 bit per weight: an IMP run's per-level masks for the controls to reuse."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from prunelab.atomic import save_torch
from prunelab.loading import LoadError, load_file
from prunelab.pruning.masks import MaskSet


def save_masks(path: str | Path, masks: Mapping[str, torch.Tensor]) -> None:
    """Write `masks` packed to bits (8x smaller than torch's bool storage), atomically."""
    packed = {
        name: {"shape": list(mask.shape), "bits": torch.from_numpy(np.packbits(mask.cpu().numpy()))}
        for name, mask in masks.items()
    }
    save_torch(packed, path)


def _unpack(entry: object) -> torch.Tensor:
    if not isinstance(entry, Mapping) or not isinstance(entry.get("bits"), torch.Tensor):
        raise ValueError("an entry is not {shape, bits}")
    shape = [int(n) for n in entry["shape"]]
    bits = entry["bits"]
    if bits.dtype != torch.uint8 or bits.dim() != 1 or min(shape, default=1) < 0:
        raise ValueError("its bits are not a flat uint8 tensor")
    count = int(np.prod(shape))
    if bits.numel() != (count + 7) // 8:
        raise ValueError(f"{bits.numel()} bytes cannot hold {count} bits")
    return torch.from_numpy(np.unpackbits(bits.numpy(), count=count).astype(bool)).view(*shape)


def load_masks(path: str | Path, key: str = "pruning.masks_from") -> MaskSet:
    """Read a file of `save_masks` through the one loader (tensors only: never code).

    Raises:
        LoadError: unreadable, or not a masks file (names mapped to {shape, bits}).
    """
    packed = load_file(path, key)
    if not isinstance(packed, Mapping):
        raise LoadError(f"{key}={path} is not a prunelab masks file")
    masks = {}
    for name, entry in packed.items():
        try:
            masks[str(name)] = _unpack(entry)
        except (ValueError, TypeError, KeyError, RuntimeError) as exc:
            raise LoadError(f"{key}={path} is not a prunelab masks file ({name}: {exc})") from exc
    return masks
