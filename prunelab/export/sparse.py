"""A compact file for a pruned state_dict: only nonzero entries and where they are.

Each tensor is stored in the smallest of three encodings (bytes on disk, per tensor):
- `dense`:   all values                           numel * itemsize
- `bitmask`: one bit per position + the nonzeros  ceil(numel / 8) + nnz * itemsize
- `indices`: flat positions + the nonzeros        nnz * (index itemsize + itemsize)
so small tensors (BatchNorm, biases) stay dense and pruned weights shrink with their density.
"Zero" means all bits zero, so -0.0 is kept as a value and the round trip is bit-exact.

The file is a `torch.save` of plain containers and tensors, read back with `weights_only=True`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

from prunelab.atomic import save_torch
from prunelab.loading import LoadError, load_file

FORMAT = "prunelab-sparse"
VERSION = 1
_BITS = torch.arange(8, dtype=torch.uint8)  # bit i of a mask byte = position 8k + i


def _nonzero_bits(flat: torch.Tensor) -> torch.Tensor:
    """True where an entry has any bit set (so -0.0 counts as a value to store)."""
    return flat.view(torch.uint8).view(-1, flat.element_size()).ne(0).any(dim=1)


def _index_dtype(numel: int) -> torch.dtype:
    """The narrowest signed integer type holding every flat position of `numel` entries."""
    for dtype in (torch.int16, torch.int32):
        if numel <= torch.iinfo(dtype).max + 1:
            return dtype
    return torch.int64


def pack_bits(bits: torch.Tensor) -> torch.Tensor:
    """A bool vector as bytes, 8 positions per byte (least significant bit first)."""
    padded = torch.zeros(-(-bits.numel() // 8) * 8, dtype=torch.uint8)
    padded[: bits.numel()] = bits.to(torch.uint8)
    return (padded.view(-1, 8) << _BITS).sum(dim=1, dtype=torch.uint8)


def unpack_bits(packed: torch.Tensor, numel: int) -> torch.Tensor:
    """The inverse of `pack_bits`: the first `numel` positions as a bool vector."""
    return ((packed.view(-1, 1) >> _BITS) & 1).view(-1)[:numel].bool()


def encode(tensor: torch.Tensor) -> dict:
    """One tensor in its smallest encoding: `encoding`, `shape`, `values` (+ bitmask/indices)."""
    flat = tensor.detach().cpu().contiguous().reshape(-1)
    numel, size = flat.numel(), flat.element_size()
    keep = _nonzero_bits(flat) if numel else torch.zeros(0, dtype=torch.bool)
    nnz = int(keep.sum())
    index_dtype = _index_dtype(numel)
    costs = {
        "dense": numel * size,
        "bitmask": -(-numel // 8) + nnz * size,
        "indices": nnz * (torch.iinfo(index_dtype).bits // 8 + size),
    }
    encoding = min(costs, key=costs.get)  # ties go to the first: dense
    entry = {"encoding": encoding, "shape": list(tensor.shape)}
    if encoding == "dense":
        entry["values"] = flat.clone()
    elif encoding == "bitmask":
        entry["values"], entry["bitmask"] = flat[keep].clone(), pack_bits(keep)
    else:
        entry["values"] = flat[keep].clone()
        entry["indices"] = keep.nonzero().view(-1).to(index_dtype)
    return entry


def decode(entry: Mapping) -> torch.Tensor:
    """Rebuild the exact tensor from `encode`'s entry.

    Raises:
        ValueError: the entry is inconsistent (unknown encoding, wrong counts).
    """
    shape, values = list(entry["shape"]), entry["values"]
    numel = 1
    for dim in shape:
        numel *= int(dim)
    encoding = entry["encoding"]
    if encoding == "dense":
        positions = None
    elif encoding == "bitmask":
        positions = unpack_bits(entry["bitmask"], numel)
    elif encoding == "indices":
        positions = entry["indices"].long()
    else:
        raise ValueError(f"unknown encoding {encoding!r}")
    if positions is None:
        if values.numel() != numel:
            raise ValueError(f"{values.numel()} values for a tensor of {numel} entries")
        return values.clone().view(shape)
    count = int(positions.sum()) if positions.dtype == torch.bool else positions.numel()
    if count != values.numel():
        raise ValueError(f"{values.numel()} values for {count} stored positions")
    flat = torch.zeros(numel, dtype=values.dtype)
    flat[positions] = values
    return flat.view(shape)


def save_sparse(state_dict: Mapping[str, torch.Tensor], path: str | Path) -> Path:
    """Write `state_dict` as a prunelab sparse file; returns the path."""
    path = Path(path)
    tensors = {name: encode(t) for name, t in state_dict.items()}
    content = {"format": FORMAT, "version": VERSION, "tensors": tensors}
    save_torch(content, path)
    return path


def load_sparse(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a file written by `save_sparse` back into the exact state_dict (bit for bit).

    Only tensors and plain values are unpickled (`weights_only=True`).

    Raises:
        ValueError: the file is not a readable prunelab sparse file.
    """
    path = Path(path)
    try:
        raw = load_file(path, "sparse file")  # the one loader: local, tensors only, never code
    except LoadError as exc:
        raise LoadError(f"{path} is not a readable prunelab sparse file: {exc}") from exc
    if not isinstance(raw, Mapping) or raw.get("format") != FORMAT:
        raise ValueError(f"{path} is not a prunelab sparse file (no format tag {FORMAT!r})")
    if raw.get("version") != VERSION:
        raise ValueError(f"{path}: sparse format version {raw.get('version')} is not {VERSION}")
    try:
        return {name: decode(entry) for name, entry in raw["tensors"].items()}
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(f"{path} is a damaged prunelab sparse file: {exc}") from exc


def bit_equal(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Same dtype, shape and bytes (stricter than `torch.equal`: tells -0.0 from 0.0, NaN = NaN)."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    return torch.equal(
        a.detach().cpu().contiguous().reshape(-1).view(torch.uint8),
        b.detach().cpu().contiguous().reshape(-1).view(torch.uint8),
    )
