"""prunelab's Lightning callbacks, the reusable public surface:
`from prunelab.callbacks import IterativeMagnitudePruning`."""

from prunelab.callbacks.global_magnitude import GlobalMagnitudePruning
from prunelab.callbacks.granet import GraNet
from prunelab.callbacks.imp import IterativeMagnitudePruning
from prunelab.callbacks.levels import LevelPruning
from prunelab.callbacks.masked import MaskedTraining
from prunelab.callbacks.method import PruningMethod
from prunelab.callbacks.pq_index import PQIndexPruning
from prunelab.callbacks.pq_monitor import PQIndexMonitor
from prunelab.callbacks.precrop import PreCropping
from prunelab.callbacks.random_pruning import RandomPruning
from prunelab.callbacks.snip import SNIPPruning

__all__ = [
    "GlobalMagnitudePruning",
    "GraNet",
    "IterativeMagnitudePruning",
    "LevelPruning",
    "MaskedTraining",
    "PQIndexMonitor",
    "PQIndexPruning",
    "PreCropping",
    "PruningMethod",
    "RandomPruning",
    "SNIPPruning",
]
