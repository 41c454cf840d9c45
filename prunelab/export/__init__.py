"""Using a pruned model: evaluation and export (dense, sparse, safetensors, ONNX).

`prunelab-eval` (`prunelab.export.eval_cli`) tests a checkpoint again; `prunelab-export`
(`prunelab.export.export_cli`) writes it as a plain state_dict, a sparse file or ONNX.
"""

from prunelab.export.checkpoint import (
    Checkpoint,
    CheckpointError,
    read_checkpoint,
    restore_network,
)
from prunelab.export.safetensors_io import load_safetensors_sparse, save_safetensors_sparse
from prunelab.export.sparse import bit_equal, load_sparse, save_sparse

__all__ = [
    "Checkpoint",
    "CheckpointError",
    "bit_equal",
    "load_safetensors_sparse",
    "load_sparse",
    "read_checkpoint",
    "restore_network",
    "save_safetensors_sparse",
    "save_sparse",
]
