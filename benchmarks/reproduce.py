"""Reproduce the methods' central claims on real CIFAR-10 at a budget 2 CPU cores can afford.

Runs every claim as the product's own resumable sweeps, `prunelab -m experiment=repro/<preset>`
(conf/experiment/repro/, which hold the `full` budget; other budgets are command-line overrides),
into `<root>/<claim>/<arm>_seed<k>`, claim 6's instability analyses with `prunelab-stability`;
then writes each claim's tables and verdict to `summary.json` and its figure (`prunelab-report`)
in `docs/reproduction/claim<N>/`, and docs/reproduction.md from those files (smoke: all of it
under the results root). The protocol and its reasons: docs/reproduction_protocol.md.

    python benchmarks/reproduce.py --budget smoke            # minutes: checks the pipeline
    python benchmarks/reproduce.py --budget full             # the protocol: ~2 h, 2 cores
    python benchmarks/reproduce.py --budget full --claims 1,3
    python benchmarks/reproduce.py --budget full --estimate-only
    python benchmarks/reproduce.py --budget full --report-only   # tables and document only
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the `reproduce` helper package

from reproduce import document  # noqa: E402
from reproduce.budgets import BUDGETS  # noqa: E402
from reproduce.budgets import budget as get_budget  # noqa: E402
from reproduce.claims import CLAIMS, plan, plan_stages, stage_tasks  # noqa: E402
from reproduce.estimate import estimate, format_estimate, measure_speed  # noqa: E402
from reproduce.runner import command, run_stages  # noqa: E402
from reproduce.summaries import summarize  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED_CIFAR10 = REPO.parent / "shared" / "data" / "cifar10"
CIFAR10_TEXT = (
    "the CIFAR-10 JPEG re-encoding in `../shared/data/cifar10` (its README: accuracies sit a "
    "little below the original CIFAR-10's for the same recipe, so methods are compared with each "
    "other, and with the papers only as trends); model: ResNet-20."
)
MINI_TEXT = (
    "prunelab's embedded CIFAR-10 subset (`data=cifar10_mini`), NOT the protocol's data: these "
    "numbers only show that the pipeline works; model: ResNet-20."
)


def numbers(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",") if x.strip())


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--budget", choices=tuple(BUDGETS), default="smoke")
    p.add_argument("--claims", type=numbers, default=CLAIMS, help="e.g. 1,3 (default: all)")
    p.add_argument("--seeds", type=numbers, default=None, help="replace the budget's seeds")
    p.add_argument("--jobs", type=int, default=2, help="jobs at a time (one per core)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per run")
    p.add_argument("--root", type=Path, help="results root (default runs/reproduce/<budget>)")
    p.add_argument("--data-root", type=Path, default=SHARED_CIFAR10, help="CIFAR-10 ImageFolder")
    p.add_argument("--mini", action="store_true", help="embedded 5k-image set (tests only)")
    p.add_argument("--doc", type=Path, help="default: docs/reproduction.md for full, else in root")
    p.add_argument("--estimate-only", action="store_true", help="print the plan's time, stop")
    p.add_argument("--report-only", action="store_true", help="no runs: summaries and document")
    p.add_argument("--machine", help="where the runs ran, said in the document (e.g. a GPU)")
    p.add_argument("--preface", help="a line under the document's title (e.g. where it ran)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    unknown = sorted(set(args.claims) - set(CLAIMS))
    if unknown:
        print(f"reproduce: error: --claims {unknown} not in {list(CLAIMS)}", file=sys.stderr)
        return 2
    budget = get_budget(args.budget, args.seeds)
    root = (args.root or REPO / "runs" / "reproduce" / budget.name).resolve()
    doc = args.doc or (REPO / "docs" / "reproduction.md" if budget.name == "full" else None)
    doc = (doc or root / "reproduction.md").resolve()
    if args.mini:
        data, data_text, test_images = ("data=cifar10_mini",), MINI_TEXT, 1000
    elif not (args.data_root / "train").is_dir():
        print(f"reproduce: error: no CIFAR-10 ImageFolder at {args.data_root}", file=sys.stderr)
        return 2
    else:
        shown = os.path.relpath(args.data_root.resolve(), REPO)  # as the user types it
        data, data_text, test_images = (f"data.root={shown}",), CIFAR10_TEXT, 10_000
    if budget.test_batches is not None:
        test_images = min(test_images, budget.test_batches * budget.batch_size)
    stages = plan_stages(args.claims, budget)
    jobs_of = {stage.name: stage_tasks(stage, budget) for stage in stages}
    tasks = plan(args.claims, budget)
    root.mkdir(parents=True, exist_ok=True)
    absolute = [command(stage, root, absolute_data(data), 1)[3:] for stage in stages]
    described = {"budget": budget.describe(), "data": list(data), "claims": list(args.claims)}
    described["commands"] = {
        s.name: shlex.join(["prunelab", *c]) for s, c in zip(stages, absolute, strict=True)
    }
    described["runs"] = {s.name: [t.key for t in jobs_of[s.name]] for s in stages}
    (root / f"plan-{'-'.join(map(str, args.claims))}.json").write_text(
        json.dumps(described, indent=2) + "\n"
    )
    if not args.report_only:
        speed = measure_speed(args.threads)
        estimated = estimate(tasks, budget, speed, args.jobs, test_images)
        print(f"budget {budget.name}, claims {args.claims}: {len(tasks)} runs under {root}")
        print(format_estimate(estimated, speed, args.jobs, args.threads), flush=True)
        if args.estimate_only:
            return 0
    failed = []
    if not args.report_only:
        failed = run_stages(
            stages, jobs_of, root, absolute_data(data), args.jobs, args.threads, REPO
        )
    for claim in args.claims:
        out = doc.with_suffix("") / f"claim{claim}"
        summary = summarize(
            claim, budget, data, root, out, args.threads, machine=args.machine, jobs=args.jobs
        )
        print(f"claim {claim}: {summary['verdict']} ({summary['runs_done']}/"
              f"{summary['runs_planned']} runs) - {summary['reason']}")  # fmt: skip
    command_line = f"python benchmarks/reproduce.py --budget {budget.name}"
    print(f"wrote {document.write(root, doc, command_line, data_text, args.preface)}")
    return 1 if failed else 0


def absolute_data(data: tuple[str, ...]) -> tuple[str, ...]:
    """The data overrides with the data root (relative to the repository) made absolute."""
    key = "data.root="
    return tuple(
        key + str((REPO / o[len(key) :]).resolve()) if o.startswith(key) else o for o in data
    )


if __name__ == "__main__":
    sys.exit(main())
