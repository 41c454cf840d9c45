"""The sparse export as a standard safetensors file, readable without prunelab.

Layout. Each tensor `name` of the state_dict is stored in the smallest of three encodings
(chosen as in `prunelab.export.sparse`):
- dense:   `name`           the tensor itself, in its own shape and dtype;
- bitmask: `name::values`   the nonzero entries, 1-D, in row-major (C) order, the tensor's dtype;
           `name::bitmask`  uint8, one bit per flat position, least significant bit first
                            (numpy: `np.unpackbits(bitmask, bitorder="little")[:numel]`);
- indices: `name::values`   as above;
           `name::indices`  int16/int32/int64 flat row-major positions of the values, ascending.
"Nonzero" means any bit set, so -0.0 is a stored value and the rebuild is bit-exact.
The safetensors metadata (string -> string) holds `format` = "prunelab-sparse-safetensors",
`version` = "1" and `tensors` = a JSON object {name: {"encoding": ..., "shape": [...]}} in
state_dict order, so a reader rebuilds every tensor with `zeros(prod(shape)); flat[pos] = values`.

No pickle anywhere: the file is a JSON header and raw little-endian bytes (safetensors' format).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save

from prunelab.atomic import write_bytes
from prunelab.export.sparse import decode, encode
from prunelab.loading import LoadError, MissingFileError

FORMAT = "prunelab-sparse-safetensors"
VERSION = "1"
SEPARATOR = "::"
_PARTS = {"dense": (), "bitmask": ("values", "bitmask"), "indices": ("values", "indices")}


def save_safetensors_sparse(state_dict: Mapping[str, torch.Tensor], path: str | Path) -> Path:
    """Write `state_dict` as a sparse safetensors file (layout in the module docstring).

    Raises:
        ValueError: a tensor name contains "::", which the layout reserves.
    """
    path = Path(path)
    tensors: dict[str, torch.Tensor] = {}
    layout: dict[str, dict] = {}
    for name, tensor in state_dict.items():
        if SEPARATOR in name:
            raise ValueError(f"tensor name {name!r} contains {SEPARATOR!r}, reserved by the layout")
        entry = encode(tensor)
        layout[name] = {"encoding": entry["encoding"], "shape": entry["shape"]}
        if entry["encoding"] == "dense":
            tensors[name] = entry["values"].view(entry["shape"])
        for part in _PARTS[entry["encoding"]]:
            tensors[f"{name}{SEPARATOR}{part}"] = entry[part]
    metadata = {"format": FORMAT, "version": VERSION, "tensors": json.dumps(layout)}
    write_bytes(path, save(tensors, metadata=metadata))
    return path


def load_safetensors_sparse(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a file written by `save_safetensors_sparse` into the exact state_dict (bit for bit).

    Raises:
        LoadError: (a ValueError, one line) the file is missing, not safetensors, not prunelab's
            layout, or damaged.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"{path} does not exist")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            stored = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    except (SafetensorError, OSError) as exc:
        raise LoadError(f"{path} is not a readable safetensors file: {_line(exc)}") from exc
    if metadata.get("format") != FORMAT:
        raise LoadError(f"{path} is not a prunelab sparse safetensors file (no format {FORMAT!r})")
    if metadata.get("version") != VERSION:
        raise LoadError(f"{path}: sparse safetensors version {metadata.get('version')} is not 1")
    try:
        layout = json.loads(metadata["tensors"])
        return {name: _rebuild(name, spec, stored) for name, spec in layout.items()}
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        message = f"{path} is a damaged prunelab sparse safetensors file: {_line(exc)}"
        raise LoadError(message) from exc


def _line(exc: Exception) -> str:
    """An exception's message on one line."""
    return " ".join(str(exc).split()) or type(exc).__name__


def _rebuild(name: str, spec: Mapping, stored: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """One tensor from its layout entry and the stored parts (`decode` checks the counts)."""
    encoding = spec["encoding"]
    if encoding not in _PARTS:
        raise ValueError(f"{name}: unknown encoding {encoding!r}")
    keys = [f"{name}{SEPARATOR}{part}" for part in _PARTS[encoding]] or [name]
    missing = [key for key in keys if key not in stored]
    if missing:
        raise ValueError(f"{name}: {encoding} needs the tensor {missing[0]}, not in the file")
    if encoding == "dense":
        entry = {"values": stored[name].reshape(-1)}
    else:
        entry = {part: stored[key] for part, key in zip(_PARTS[encoding], keys, strict=True)}
    return decode({"encoding": encoding, "shape": spec["shape"], **entry})
