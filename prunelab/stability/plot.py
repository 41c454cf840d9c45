"""The instability figure: test error along the linear path between the two copies."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from matplotlib.ticker import FuncFormatter

from prunelab.plotting.style import new_figure, percent, save


def path_figure(alphas: Sequence[float], errors: Sequence[float], title: str, path: Path) -> Path:
    """Draw test error (percent) against the interpolation weight and write it atomically.

    The x axis runs from copy A (0) to copy B (1); the dashed line is the endpoints' mean, so
    the height of the curve above it at its peak is the error barrier.
    """
    fig, ax = new_figure(5.6, 3.8)
    shown = [100 * e for e in errors]
    ax.plot(alphas, shown, marker="o", label="interpolated network")
    ax.axhline((shown[0] + shown[-1]) / 2, linestyle="--", color="0.4", label="endpoints' mean")
    ax.set_xlabel("interpolation weight (0 = copy A, 1 = copy B)")
    ax.set_ylabel("test error")
    ax.yaxis.set_major_formatter(FuncFormatter(percent))
    ax.set_xlim(0, 1)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    return save(fig, path)
