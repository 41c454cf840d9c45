"""Using a pruned model: evaluation and export (dense, sparse, ONNX)."""
