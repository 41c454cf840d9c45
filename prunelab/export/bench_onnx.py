"""`prunelab-bench`'s `onnx` form: the checkpoint's network as `prunelab-export format=onnx` writes
it, run by onnxruntime on the CPU and timed like the PyTorch forms.

The graph is the export's (`prunelab.export.onnx_io.export_onnx` of the restored network: masks
baked in, dense width, or the narrow width of a PreCropping run), written atomically as
`model.onnx` into the bench's run directory and checked against PyTorch on a few images before it
is timed. onnxruntime uses `threads` intra-op threads, like the PyTorch forms, and this install's
CPU execution provider: on `device=cuda` the form is not timed (the reason is recorded instead).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from prunelab.atomic import atomic_write
from prunelab.export.onnx_io import INPUT, OUTPUT, export_onnx, onnx_max_error, require

PROBE = 4  # random images the ONNX outputs are compared on
TOLERANCE = 1e-4  # largest |onnxruntime - PyTorch| logit difference accepted (as prunelab-export)


class OnnxSession:
    """A callable like a network: `session(images) -> logits`, run by onnxruntime on the CPU.

    The images are handed over as a contiguous float32 array (a channels-last tensor is copied
    into NCHW order, the layout the exported graph reads; that copy is part of what is timed).
    """

    def __init__(self, path: Path, threads: int) -> None:
        ort = require("onnxruntime")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )

    def __call__(self, images: torch.Tensor) -> np.ndarray:
        array = np.ascontiguousarray(images.detach().cpu().numpy(), dtype=np.float32)
        return self.session.run([OUTPUT], {INPUT: array})[0]


def onnx_form(
    network: nn.Module, input_shape: Sequence[int], run_dir: Path, threads: int
) -> tuple[OnnxSession, dict]:
    """Export `network` to `<run_dir>/model.onnx` and open it for timing.

    Returns:
        The session, and bench.json's facts about it: the file, and the largest logit difference
        against PyTorch on PROBE random images.

    Raises:
        ImportError: onnxruntime is not installed (the message names the extra that has it).
        RuntimeError: onnxruntime's logits differ from PyTorch's by more than TOLERANCE.
    """
    require("onnxruntime")
    path = Path(run_dir) / "model.onnx"
    shape = tuple(int(s) for s in input_shape)
    network = network.cpu().eval()
    atomic_write(path, lambda tmp: export_onnx(network, shape, tmp))
    images = torch.randn((PROBE, *shape), generator=torch.Generator().manual_seed(0))
    error = onnx_max_error(path, network, images)
    if not error <= TOLERANCE:
        raise RuntimeError(f"{path}: onnxruntime differs from PyTorch by {error:.3g}")
    return OnnxSession(path, threads), {"file": str(path), "max_abs_error": error}
