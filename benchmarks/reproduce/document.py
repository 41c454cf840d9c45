"""docs/reproduction.md, written only from the summaries the script wrote and the quoted papers."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from prunelab.atomic import write_text
from reproduce.papers import PAPERS
from reproduce.redraw import draw_claim

HEADER = (
    "# Reproducing the methods' central claims on CIFAR-10 (reduced budget)\n\n"
    "Written by `{command}`; do not edit by hand. Every measured number below comes from the file "
    "named beside it, which the script wrote from the runs' `results.json` (and, for claims 2 and "
    "5, from their checkpoints). The only other numbers are the papers' own full-scale figures, "
    "quoted under *Papers* from `benchmarks/reproduce/papers.py`. Why the protocol is what it is, "
    "and how to run it: [reproduction_protocol.md](reproduction_protocol.md). Sources marked "
    "`(check)` are figures the project's specification recalls rather than quotes from a table.\n\n"
    "Read the verdicts as statements about short training: at this budget every network, the dense "
    "one included, is far from converged (set each claim's dense accuracy beside the papers' "
    "full-scale figures), and differences between methods are smaller and noisier than at full "
    "scale.\n\n"
    "Data: {data} Results root: `{root}`.\n"
)


def relative(path: str | Path, start: Path) -> str:
    return os.path.relpath(Path(path).resolve(), start.resolve())


def shown_root(root: Path, doc_dir: Path) -> str:
    """The results root relative to the document, or as it is when it lies elsewhere."""
    shown = relative(root, doc_dir)
    return str(root) if shown.startswith(f"..{os.sep}..") else shown


def markdown_table(table: Mapping[str, Any]) -> list[str]:
    lines = [f"*{table['caption']}*", ""]
    lines.append("| " + " | ".join(table["columns"]) + " |")
    lines.append("|" + "|".join("---" for _ in table["columns"]) + "|")
    lines += ["| " + " | ".join(cell or " " for cell in row) + " |" for row in table["rows"]]
    return [*lines, ""]


def grouped_dirs(keys: Sequence[str]) -> str:
    """`claim1/none_seed{0,1}`-style list of run directories (`dense/seed{0,1}`)."""
    seeds: dict[str, list[str]] = {}
    for key in keys:
        config, seed = key.rsplit("seed", 1)
        seeds.setdefault(config, []).append(seed)
    return ", ".join(f"`{c}seed{{{','.join(s)}}}`" for c, s in seeds.items())


def claim_section(summary: Mapping[str, Any], folder: Path, root: Path, doc_dir: Path) -> list[str]:
    """One claim; `folder` holds its summary.json and figure."""
    n = summary["claim"]
    source = relative(folder / "summary.json", doc_dir)
    lines = [f"## Claim {n}: {summary['title']}", "", f"**Claim.** {summary['statement']}", ""]
    lines += [f"**Protocol** (budget `{summary['budget']}`). {summary['protocol']}", ""]
    driver = summary.get("driver") or (
        f"python benchmarks/reproduce.py --budget {summary['budget']} --claims {n}"
    )
    sweeps = ", then ".join(f"`{c}`" for c in summary.get("commands", []))
    where = f" on {summary['machine']}" if summary.get("machine") else ""
    lines += [
        f"**Commands.** {sweeps + ', run by ' if sweeps else ''}`{driver}` "
        f"({summary['runs_done']} of {summary['runs_planned']} runs finished{where}, "
        f"{summary['run_hours']:.2f} h of measured run time).",
        "",
        f"**Measured** (from [`{source}`]({source}); runs under `{shown_root(root, doc_dir)}`: "
        f"{grouped_dirs(summary['run_dirs'])}):",
        "",
    ]
    for table in summary["tables"]:
        lines += markdown_table(table)
    if summary.get("figure"):
        figure = relative(folder / summary["figure"], doc_dir)
        note = f" {summary['figure_note']}" if summary.get("figure_note") else ""
        lines += [
            f"![claim {n}]({figure})",
            "",
            f"Figure: `{summary['figure_command']}`.{note}",
            "",
        ]
    lines += [f"**Verdict: {summary['verdict']}.** {summary['reason']}", ""]
    lines += [f"*Rule:* {summary['rule']}", ""]
    lines += ["**Papers (full scale, quoted, not measured here):**", ""]
    lines += [f"- {source_}: {figures}" for source_, figures in PAPERS.get(n, [])]
    return [*lines, ""]


def render(
    summaries: Mapping[Path, Mapping[str, Any]],
    root: Path,
    doc: Path,
    command: str,
    data: str,
    preface: str | None = None,
) -> str:
    """The whole document from {folder of summary.json: summary}, one section per claim;
    `preface`: a line on where the runs ran, under the title."""
    doc_dir = doc.parent
    ordered = sorted(summaries.values(), key=lambda s: s["claim"])
    folders = {s["claim"]: folder for folder, s in summaries.items()}
    lines = [HEADER.format(command=command, root=shown_root(root, doc_dir), data=data)]
    if preface:
        title, _, rest = lines[0].partition("\n\n")
        lines = [f"{title}\n\n*{preface}*\n\n{rest}"]
    lines += ["| claim | verdict | runs |", "|---|---|---|"]
    lines += [
        f"| {s['claim']}. {s['title']} | {s['verdict']} | {s['runs_done']}/{s['runs_planned']} |"
        for s in ordered
    ]
    lines.append("")
    for summary in ordered:
        lines += claim_section(summary, folders[summary["claim"]], root, doc_dir)
    return "\n".join(lines).rstrip() + "\n"


def read_summaries(folder: Path) -> dict[Path, dict[str, Any]]:
    """Every `<folder>/claim<N>/summary.json` present (claims run in earlier parts included)."""
    paths = sorted(Path(folder).glob("claim*/summary.json"))
    return {p.parent: json.loads(p.read_text()) for p in paths}


def write(root: Path, doc: Path, command: str, data: str, preface: str | None = None) -> Path:
    """Write `doc` from the summaries in the folder beside it named like it (`docs/reproduction/`
    for `docs/reproduction.md`), each claim's figure drawn again from its committed files (claim
    4's with the PQ index, see `reproduce.redraw`)."""
    doc.parent.mkdir(parents=True, exist_ok=True)
    summaries = read_summaries(doc.with_suffix(""))
    for folder, summary in summaries.items():
        if summary.get("figure"):
            draw_claim(folder)
    write_text(doc, render(summaries, root, doc, command, data, preface))
    return doc
