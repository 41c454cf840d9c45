"""ONNX export of a (pruned) network, its structural check, and a numerical check with onnxruntime.

`onnx` and `onnxruntime` are optional (the `export` extra); a missing one is reported by name.
"""

from __future__ import annotations

import importlib
import warnings
from pathlib import Path
from types import ModuleType

import torch
from torch import nn

INPUT, OUTPUT = "images", "logits"


def require(module: str) -> ModuleType:
    """Import an optional dependency, or say how to install it.

    Raises:
        ImportError: the package is missing; the message names it and the extra that has it.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"the `{module}` package is needed for this (pip install 'prunelab[export]')"
        ) from exc


@torch.no_grad()
def export_onnx(
    network: nn.Module, input_shape: tuple[int, ...], path: str | Path, opset: int = 17
) -> Path:
    """Write `network` (in eval mode) as an ONNX graph with a dynamic batch axis.

    Uses the TorchScript exporter (`dynamo=False`): it needs only torch, whereas the newer
    exporter needs `onnxscript`, which prunelab does not depend on.

    Args:
        network: the model; a precropped one exports at its reduced width.
        input_shape: one image's shape, e.g. (3, 32, 32).
        path: the .onnx file to write.
        opset: the ONNX operator set version.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    was_training = network.training
    network.eval()
    example = torch.zeros((1, *input_shape))
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
            torch.onnx.export(
                network,
                (example,),
                str(path),
                dynamo=False,
                input_names=[INPUT],
                output_names=[OUTPUT],
                dynamic_axes={INPUT: {0: "batch"}, OUTPUT: {0: "batch"}},
                opset_version=opset,
            )
    finally:
        network.train(was_training)
    return path


def check_onnx(path: str | Path) -> None:
    """Run `onnx.checker` on the file (full check, shape inference included).

    Raises:
        ImportError: `onnx` is not installed.
        onnx.checker.ValidationError: the graph is invalid.
    """
    onnx = require("onnx")
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)


@torch.no_grad()
def onnx_max_error(path: str | Path, network: nn.Module, images: torch.Tensor) -> float:
    """Largest absolute difference between onnxruntime's and PyTorch's logits on `images`.

    Raises:
        ImportError: `onnxruntime` is not installed.
    """
    ort = require("onnxruntime")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (onnx_out,) = session.run([OUTPUT], {INPUT: images.numpy()})
    was_training = network.training
    network.eval()
    try:
        torch_out = network(images)
    finally:
        network.train(was_training)
    return float((torch.from_numpy(onnx_out) - torch_out).abs().max())
