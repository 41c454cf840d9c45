"""prunelab's Lightning callbacks, the reusable public surface:
`from prunelab.callbacks import IterativeMagnitudePruning`."""

from prunelab.callbacks.global_magnitude import GlobalMagnitudePruning
from prunelab.callbacks.masked import MaskedTraining

__all__ = ["GlobalMagnitudePruning", "MaskedTraining"]
