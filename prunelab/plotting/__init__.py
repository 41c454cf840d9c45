"""prunelab's figures, one style (`style`): the per-run plots (`runs`) and the report's."""

from prunelab.plotting.runs import (
    LayerFractions,
    accuracy_vs_density,
    density_figure,
    layer_density_bars,
    layer_density_figure,
)
from prunelab.plotting.style import title
from prunelab.plotting.titles import run_title

__all__ = [
    "LayerFractions",
    "accuracy_vs_density",
    "density_figure",
    "layer_density_bars",
    "layer_density_figure",
    "run_title",
    "title",
]
