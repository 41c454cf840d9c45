"""The stability claim (claim 6 of the reproduction): IMP rewound to init against rewound to step K.

Runs the rewind-to-init IMP runs beside claim 1's late-rewinding ones (same recipe and budget,
resumable: a run with results.json is skipped), then `prunelab-stability` on each run's sparsest
level, and writes `<root>/claim6/summary.json` (barrier, copies' errors, distance; mean and std
over seeds). Run claim 1 first (`benchmarks/reproduce.py --claims 1`) or let this run it.

    python benchmarks/stability_claim.py --budget full --root runs/reproduce/full
    python benchmarks/stability_claim.py --budget smoke --mini      # seconds: checks the pipeline
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the `reproduce` helper package

from reproduce import stability  # noqa: E402
from reproduce.budgets import BUDGETS  # noqa: E402
from reproduce.budgets import budget as get_budget  # noqa: E402
from reproduce.runner import run_tasks  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED_CIFAR10 = REPO.parent / "shared" / "data" / "cifar10"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--budget", choices=tuple(BUDGETS), default="smoke")
    p.add_argument("--root", type=Path, help="results root (default runs/reproduce/<budget>)")
    p.add_argument("--data-root", type=Path, default=SHARED_CIFAR10, help="CIFAR-10 ImageFolder")
    p.add_argument("--mini", action="store_true", help="embedded 5k-image set (tests only)")
    p.add_argument("--jobs", type=int, default=2, help="runs at a time")
    p.add_argument("--threads", type=int, default=1, help="torch threads per run")
    p.add_argument("--machine", help="where the runs ran, said in the document (e.g. a GPU)")
    args = p.parse_args(argv)
    budget = get_budget(args.budget, None)
    root = (args.root or REPO / "runs" / "reproduce" / budget.name).resolve()
    if args.mini:
        data = ("data=cifar10_mini",)
    else:
        data = ("data=cifar10", f"data.root={args.data_root.resolve()}", "data.download=false")
    failed = run_tasks(stability.tasks(budget, data, root), root, args.jobs, args.threads, REPO)
    summary = stability.measure(budget, root, args.threads, args.jobs, args.machine)
    print(f"claim 6: {summary['verdict']} - {summary['reason']}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
