"""Instability analysis (Frankle et al. 2020, linear mode connectivity): two copies of a
network trained from the same weights and masks on different data orders, and the test error
along the straight line between them. The path (`path`), BatchNorm statistics on it
(`batchnorm`), errors along it (`errors_along`), the two copies (`copies`), the analysis of one
start state (`analysis`, shared by the command and `pruning.stability=true` inside IMP:
`callbacks/level_stability.py`), an IMP level at its rewind point (`level`), the figures
(`plot`), W&B (`wandb_out`) and the command (`run`, `cli`) are one job each."""

from prunelab.stability.batchnorm import recompute
from prunelab.stability.errors_along import error_path, test_error
from prunelab.stability.path import alphas, barrier, interpolate, l2_distance

__all__ = [
    "alphas",
    "barrier",
    "error_path",
    "interpolate",
    "l2_distance",
    "recompute",
    "test_error",
]
