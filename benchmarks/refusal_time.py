"""Time from start to the one-line refusal of a bad command, beside Python's own start-up.

Four commands are timed as subprocesses, wall clock from start to exit: `prunelab` with a typo'd
key (`pruning.sparsty=0.5`, refused before Hydra by the key check) and with a bad value
(`optim.lr=-1`, refused by the value checks before the heavy imports), beside `python -c pass`
and `python -c "import torch"` as the floor and the cost that the checks avoid. Repetitions are
interleaved (one of each command, then again), so load from other processes hits all alike; each
figure is the median over repetitions; `x pass` divides it by the median of `python -c pass`.

Each prunelab command must exit 2 with one `prunelab: error: ...` line; otherwise the benchmark
stops, naming what it printed. The refused commands leave no run folder (runs go to a temporary
folder that is removed).

    python benchmarks/refusal_time.py --reps 7
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

PYTHON = sys.executable
PRUNELAB = (PYTHON, "-m", "prunelab")
# name -> (command, whether it is a prunelab refusal)
COMMANDS = {
    "python -c pass": ((PYTHON, "-c", "pass"), False),
    'python -c "import torch"': ((PYTHON, "-c", "import torch"), False),
    "prunelab pruning.sparsty=0.5": ((*PRUNELAB, "pruning.sparsty=0.5"), True),
    "prunelab optim.lr=-1": ((*PRUNELAB, "optim.lr=-1"), True),
}


def timed(command: tuple[str, ...], refusal: bool, runs_dir: str) -> float:
    """Seconds from start to exit of `command`; a refusal must be one line with exit status 2."""
    if refusal:
        command = (*command, f"paths.runs_dir={runs_dir}")
    env = {**os.environ, "WANDB_MODE": "offline"}
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    lines = done.stderr.strip().splitlines()
    if refusal and not (
        done.returncode == 2 and len(lines) == 1 and lines[0].startswith("prunelab: error: ")
    ):
        sys.exit(f"{' '.join(command)}: exit {done.returncode}, not one line:\n{done.stderr}")
    if not refusal and done.returncode != 0:
        sys.exit(f"{' '.join(command)}: exit {done.returncode}\n{done.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=7, help="interleaved runs of each command")
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    with tempfile.TemporaryDirectory() as runs_dir:
        for _ in range(args.reps):
            for name, (command, refusal) in COMMANDS.items():
                times[name].append(timed(command, refusal, runs_dir))
    floor = statistics.median(times["python -c pass"])
    print(
        f"reps={args.reps} python={platform.python_version()} cpus={os.cpu_count()} "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '-')}"
    )
    print(f"{'command':<32}{'median s':>10}{'min s':>9}{'max s':>9}{'x pass':>9}")
    for name, seconds in times.items():
        median = statistics.median(seconds)
        print(
            f"{name:<32}{median:>10.3f}{min(seconds):>9.3f}{max(seconds):>9.3f}"
            f"{median / floor:>9.1f}"
        )
    torch_s = statistics.median(times['python -c "import torch"'])
    for name in ("prunelab pruning.sparsty=0.5", "prunelab optim.lr=-1"):
        print(f"{name}: {statistics.median(times[name]) / torch_s:.2f} x import torch")


if __name__ == "__main__":
    main()
