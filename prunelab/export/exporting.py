"""`prunelab-export`: write a checkpoint's pruned network as a dense state_dict, a sparse file (a
torch container, or standard safetensors), a compact network (dead channels removed), or an ONNX
graph, read it back to verify it, and record what was written in export.json."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from prunelab.atomic import atomic_write, save_torch, write_text
from prunelab.errors import ConfigError
from prunelab.export.checkpoint import read_checkpoint, restore_network
from prunelab.export.compact_export import input_shape, write_compact
from prunelab.export.onnx_io import check_onnx, export_onnx, onnx_max_error
from prunelab.export.safetensors_io import load_safetensors_sparse, save_safetensors_sparse
from prunelab.export.sparse import bit_equal, load_sparse, save_sparse
from prunelab.loading import load_file
from prunelab.results import print_table

# Format -> default file name in the run directory.
FORMATS = {
    "dense": "model.pt",
    "sparse": "model.sparse.pt",
    "onnx": "model.onnx",
    "safetensors": "model.sparse.safetensors",
    "compact": "model.compact.pt",
}
# State formats: how each is written, and read back the way its users will read it.
WRITERS = {"dense": save_torch, "sparse": save_sparse, "safetensors": save_safetensors_sparse}
READERS = {
    "dense": lambda path: load_file(path, "out"),
    "sparse": load_sparse,
    "safetensors": load_safetensors_sparse,
}
ONNX_TOLERANCE = 1e-4  # largest |onnxruntime - PyTorch| logit difference accepted


def tensor_bytes(state: Mapping[str, torch.Tensor]) -> int:
    """The raw size of a state_dict's tensors (what a dense file must store at least)."""
    return sum(t.numel() * t.element_size() for t in state.values())


def _write_state(fmt: str, state: dict[str, torch.Tensor], path: Path, verify: bool) -> dict:
    """Write a dense or sparse file and, if asked, check that it reads back bit for bit."""
    WRITERS[fmt](state, path)
    if not verify:
        return {}
    restored = READERS[fmt](path)
    if restored.keys() != state.keys() or not all(bit_equal(restored[k], state[k]) for k in state):
        raise RuntimeError(f"{path} does not read back to the exact weights")
    return {f"{fmt}/round_trip": "bit-exact"}


def _verify_onnx(path: Path, network: torch.nn.Module, input_shape: tuple[int, ...]) -> dict:
    """Checker + onnxruntime comparison; a missing optional package is recorded, not fatal."""
    info: dict[str, Any] = {}
    try:
        check_onnx(path)
        info["onnx/checker"] = "passed"
    except ImportError as exc:
        info["onnx/checker"] = f"skipped: {exc}"
    images = torch.randn((4, *input_shape), generator=torch.Generator().manual_seed(0))
    try:
        error = onnx_max_error(path, network, images)
    except ImportError as exc:
        info["onnx/max_abs_error"] = f"skipped: {exc}"
        return info
    if not error <= ONNX_TOLERANCE:
        raise RuntimeError(f"{path}: onnxruntime differs from PyTorch by {error:.3g}")
    info["onnx/max_abs_error"] = error
    return info


def export(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """Export `cfg.ckpt_path` in `cfg.format` to `cfg.out` (default: in `run_dir`).

    Returns the record written to `<run_dir>/export.json`: format, file, bytes, the raw size of
    the dense tensors (`dense_bytes`) and the verification results.

    Raises:
        ConfigError: an unknown format.
        CheckpointError: the checkpoint cannot be read or does not fit its model.
        RuntimeError: the written file does not read back to the same network.
    """
    if cfg.format not in FORMATS:
        raise ConfigError(f"format={cfg.format} is not one of {', '.join(FORMATS)}")
    run_dir = Path(run_dir)
    ckpt = read_checkpoint(cfg.ckpt_path)
    network = restore_network(ckpt)
    state = {k: v.detach().clone() for k, v in network.state_dict().items()}
    out = Path(cfg.out) if cfg.get("out") else run_dir / FORMATS[cfg.format]
    out.parent.mkdir(parents=True, exist_ok=True)
    info: dict[str, Any] = {"format": cfg.format, "file": str(out), "ckpt_path": str(ckpt.path)}
    if cfg.format == "onnx":
        shape, opset = input_shape(ckpt, cfg.get("input_size")), int(cfg.get("opset", 17))
        atomic_write(out, lambda tmp: export_onnx(network, shape, tmp, opset=opset))
        if cfg.get("verify", True):
            info.update(_verify_onnx(out, network, shape))
    elif cfg.format == "compact":
        multiple = int(cfg.get("multiple") or 1)
        info.update(write_compact(ckpt, network, out, cfg.get("verify", True), multiple))
    else:
        info.update(_write_state(cfg.format, state, out, verify=cfg.get("verify", True)))
    info["bytes"] = out.stat().st_size
    info["dense_bytes"] = tensor_bytes(state)
    info["ratio"] = info["bytes"] / info["dense_bytes"]
    run_dir.mkdir(parents=True, exist_ok=True)
    write_text(run_dir / "export.json", json.dumps(info, indent=2) + "\n")
    print_table(info, title=f"export  {ckpt.path}")
    return info
