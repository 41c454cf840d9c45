"""How long a plan takes on this machine: ResNet-20 speed measured now, times the plan's work."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from reproduce.budgets import Budget
from reproduce.claims import Task

STARTUP_S = 20.0  # per run: imports, decoded-data load, checkpoints, plots (measured: 11-20 s)
TARGET_S = 2.5 * 3600  # what the full protocol must fit in on 2 cores


@dataclass(frozen=True)
class Speed:
    """Images per second of one process with its thread count."""

    train: float  # forward + backward + SGD step, batch 128
    evaluate: float  # forward in eval mode, no grad


def measure_speed(threads: int, steps: int = 6) -> Speed:
    """Time ResNet-20 training steps and evaluation batches on random 32x32 images."""
    from prunelab.models import resnet20

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    network = resnet20()
    optimizer = torch.optim.SGD(network.parameters(), lr=0.1, momentum=0.9)
    x, y = torch.randn(128, 3, 32, 32), torch.randint(0, 10, (128,))

    def train_step() -> None:
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(network(x), y).backward()
        optimizer.step()

    train_step()  # warm-up: first calls allocate
    began = time.perf_counter()
    for _ in range(steps):
        train_step()
    train = steps * len(x) / (time.perf_counter() - began)
    network.eval()
    with torch.no_grad():
        network(x)
        began = time.perf_counter()
        for _ in range(steps):
            network(x)
    evaluate = steps * len(x) / (time.perf_counter() - began)
    return Speed(train, evaluate)


def task_seconds(task: Task, budget: Budget, speed: Speed, test_images: int) -> float:
    """One process's seconds for `task`: training, test evaluations, start-up."""
    train = task.steps * budget.batch_size * task.cost / speed.train
    return train + task.evals * test_images / speed.evaluate + STARTUP_S


def estimate(
    tasks: Sequence[Task], budget: Budget, speed: Speed, jobs: int, test_images: int
) -> dict[str, float]:
    """Seconds per group of runs (one process each) and the wall-clock total with `jobs` slots.

    The total is the larger of (all work / jobs) and the longest single run.
    """
    per_group: dict[str, float] = {}
    for task in tasks:
        seconds = task_seconds(task, budget, speed, test_images)
        per_group[task.group] = per_group.get(task.group, 0.0) + seconds
    longest = max((task_seconds(t, budget, speed, test_images) for t in tasks), default=0.0)
    work = sum(per_group.values())
    return {**per_group, "work": work, "total": max(work / max(jobs, 1), longest)}


def format_estimate(estimated: dict[str, float], speed: Speed, jobs: int, threads: int) -> str:
    lines = [
        f"measured: ResNet-20 trains {speed.train:.0f} img/s and evaluates "
        f"{speed.evaluate:.0f} img/s per process ({threads} thread(s))",
    ]
    for group, seconds in estimated.items():
        if group not in ("work", "total"):
            lines.append(f"  {group:8} {seconds / 60:7.1f} min of one process")
    lines.append(
        f"estimate: {estimated['work'] / 3600:.2f} h of work, {estimated['total'] / 3600:.2f} h "
        f"wall clock with {jobs} parallel run(s)"
    )
    if estimated["total"] > TARGET_S:
        lines.append(
            f"warning: over the {TARGET_S / 3600:g} h target on this machine now (busy?): run the "
            "claims in parts (--claims), each resumes where it stopped"
        )
    return "\n".join(lines)
