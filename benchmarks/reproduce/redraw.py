"""Draw each claim's figure again from the files committed beside it, without its runs.

`docs/reproduction/claim<N>/report.csv` (what `prunelab-report` wrote) gives the curves;
`summary.json` gives the title and, for claim 4, SAP's PQ index per level (`data.pq`), drawn on a
twin axis against SAP's level densities, since that claim is about the PQ index. Claim 6 has no
report.csv: its figure is the test error along each linear path its summary holds
(`data.rewind.<point>.errors`), above the mean of the path's ends. Run:

    python benchmarks/reproduce/redraw.py docs/reproduction
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from prunelab.plotting import style
from prunelab.reporting.figure import draw_accuracy
from prunelab.reporting.summary import Row, read_csv

SAP = "pq_index"  # SAP's method name in the report (pruning.name)


def figure_title(summary: Mapping[str, Any]) -> str:
    """`Claim 4: PQ index and SAP` and, below, the model the protocol names first."""
    model = re.match(r"[\w-]+", str(summary.get("protocol", "")))
    where = f"{model.group(0)}, " if model else ""
    return f"Claim {summary['claim']}: {summary['title']}\n{where}mean ± std over seeds"


def add_pq_index(fig, rows: Sequence[Row], pq: Sequence[Mapping[str, float]]) -> None:
    """SAP's PQ index of each level (mean ± std over seeds) on a twin axis, at the level's mean
    density (SAP's report rows, densest first, are its levels in order)."""
    levels = sorted((r for r in rows if r.method == SAP and r.density), key=lambda r: -r.density)
    if len(levels) != len(pq):
        raise ValueError(f"{len(levels)} SAP levels in report.csv but {len(pq)} PQ indices")
    ax = fig.axes[0]
    twin = ax.twinx()
    xs = [100 * r.density for r in levels]
    ys = [p["mean"] for p in pq]
    errs = [p.get("std") or 0.0 for p in pq]
    color = style.COLORS[len(ax.containers) + 1]
    label = "SAP's PQ index (right axis)"
    twin.errorbar(xs, ys, yerr=errs, color=color, marker="s", ms=4, capsize=3, ls=":", label=label)
    twin.set_ylabel("PQ index I(p=0.5, q=1) of SAP's weights")
    style.legend(ax, twin)  # inside: the right side holds the twin axis


def path_figure(data: Mapping[str, Any]):
    """Claim 6's paths from its summary (errors in percent per rewind point and IMP seed): the
    test error along each path above the mean of its two ends, so each curve's peak is that
    pair's error barrier; one colour per rewind point, one line per IMP seed."""
    fig, ax = style.new_figure(5.6, 3.8)
    for color, (point, measured) in zip(style.COLORS, data["rewind"].items(), strict=False):
        for k, errors in enumerate(measured["errors"]):
            alphas = [i / (len(errors) - 1) for i in range(len(errors))]
            above = [e - (errors[0] + errors[-1]) / 2 for e in errors]
            label = f"rewind to {point} ({len(measured['errors'])} seeds)" if k == 0 else None
            ax.plot(alphas, above, color=color, marker="o", ms=3, alpha=0.8, label=label)
    ax.axhline(0, color="0.4", linestyle="--", linewidth=1)
    ax.set_xlabel("interpolation weight (0 = copy A, 1 = copy B)")
    ax.set_ylabel("test error above the ends' mean (points)")
    ax.set_xlim(0, 1)
    ax.set_title(
        f"Claim 6: the linear path between two copies (ResNet-20, IMP level {data['level']}),\n"
        "one line per IMP seed; a line's peak is its error barrier",
        fontsize=10,
    )
    ax.legend(fontsize=8)
    return fig


def draw_claim(folder: Path) -> Path | None:
    """`folder/report.png` from `folder/report.csv` and `folder/summary.json`; None without them."""
    folder = Path(folder)
    if not (folder / "summary.json").is_file():
        return None
    summary = json.loads((folder / "summary.json").read_text())
    data = summary.get("data") or {}
    if "rewind" in data:  # claim 6
        return style.save(path_figure(data), folder / summary.get("figure", "report.png"))
    if not (folder / "report.csv").is_file():
        return None
    rows = read_csv(folder / "report.csv")
    fig = draw_accuracy(rows, figure_title(summary))
    pq = (summary.get("data") or {}).get("pq")
    if pq:
        add_pq_index(fig, rows, pq)
    return style.save(fig, folder / summary.get("figure", "report.png"))


def main(argv: Sequence[str]) -> int:
    drawn = [draw_claim(f) for root in argv for f in sorted(Path(root).glob("claim*"))]
    for path in filter(None, drawn):
        print(f"wrote {path}")
    return 0 if any(drawn) else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
