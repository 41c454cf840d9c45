"""prunelab: classic CNN weight pruning as Lightning callbacks composed through Hydra configs."""

__version__ = "0.1.0"
