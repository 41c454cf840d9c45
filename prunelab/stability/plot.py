"""The instability figures: test error along the linear path between the two copies, of one
analysis (`prunelab-stability`) or of each analysed level of an IMP run (`pruning.stability`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from prunelab.plotting.style import new_figure, percent, save


def path_figure(alphas: Sequence[float], errors: Sequence[float], title: str) -> Figure:
    """Test error (percent) against the interpolation weight, 0 = copy A to 1 = copy B.

    The dashed line is the endpoints' mean, so the curve's peak height above it is the barrier.
    """
    fig, ax = new_figure(5.6, 3.8)
    shown = [100 * e for e in errors]
    ax.plot(alphas, shown, marker="o", label="interpolated network")
    ax.axhline((shown[0] + shown[-1]) / 2, linestyle="--", color="0.4", label="endpoints' mean")
    return _path_axes(fig, ax, title)


def _path_axes(fig: Figure, ax: Axes, title: str) -> Figure:
    """The axes every path figure shares: interpolation weight, test error in percent."""
    ax.set_xlabel("interpolation weight (0 = copy A, 1 = copy B)")
    ax.set_ylabel("test error")
    ax.yaxis.set_major_formatter(FuncFormatter(percent))
    ax.set_xlim(0, 1)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    return fig


def draw_path(alphas: Sequence[float], errors: Sequence[float], title: str, path: Path) -> Path:
    """Write `path_figure` to `path` atomically (its suffix names the format)."""
    return save(path_figure(alphas, errors, title), path)


def levels_figure(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]], title: str
) -> Figure:
    """Test error (percent) along the path of several analyses (an IMP run's levels), one curve
    each: {label: (alphas, errors)}."""
    fig, ax = new_figure(5.6, 3.8)
    for label, (points, errors) in curves.items():
        ax.plot(points, [100 * e for e in errors], marker="o", label=label)
    return _path_axes(fig, ax, title)


def draw_levels(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]], title: str, path: Path
) -> Path:
    """Write `levels_figure` to `path` atomically (its suffix names the format)."""
    return save(levels_figure(curves, title), path)
