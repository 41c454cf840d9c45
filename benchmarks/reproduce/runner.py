"""Run the planned tasks as `prunelab` subprocesses, a few at a time, resumably.

A task is done when its run directory holds results.json; it is then skipped. A run directory
with a checkpoint but no results.json (an interrupted run) is resumed from `last.ckpt`. A task
starts only when the tasks it starts from are done; the longest ready task goes first, so the
slots stay busy until the end.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from reproduce.claims import Task

RESULTS = "results.json"


def is_done(task: Task, root: Path) -> bool:
    return (task.run_dir(root) / RESULTS).is_file()


def resume_point(task: Task, run_dir: Path) -> Path | None:
    """The checkpoint an interrupted run resumes from, or None to start afresh.

    A level-based run (IMP, SAP) whose checkpoint is from its final epoch starts afresh: resuming
    there skips the end of training, where LevelPruning records the last level.
    """
    last = run_dir / "checkpoints" / "last.ckpt"
    if not last.is_file():
        return None
    if task.evals > 1:
        saved = torch.load(last, map_location="cpu", weights_only=True, mmap=True)
        if saved.get("epoch", 0) + 1 >= task.epochs:
            return None
    return last


def command(task: Task, root: Path) -> list[str]:
    """The prunelab command line of `task`, resuming from its last checkpoint if it has one."""
    run_dir = task.run_dir(root).resolve()
    args = [sys.executable, "-m", "prunelab", *task.overrides, f"hydra.run.dir={run_dir}"]
    resume = resume_point(task, run_dir)
    return args if resume is None else [*args, f"ckpt_path={resume}"]


def environment(threads: int) -> dict[str, str]:
    """Each run gets `threads` intra-op threads: more runs than cores makes torch 10x slower."""
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), WANDB_MODE="offline")
    return env


def run_tasks(
    tasks: Sequence[Task],
    root: Path,
    jobs: int,
    threads: int,
    cwd: Path,
    say: Callable[[str], None] = lambda line: print(line, flush=True),
) -> list[Task]:
    """Run every task not yet done; returns the tasks that failed or could not start.

    Each run's output goes to `<run dir>/stdout.log`.
    """
    keys = {t.key for t in tasks}
    pending = [t for t in tasks if not is_done(t, root)]
    say(f"{len(tasks) - len(pending)} of {len(tasks)} runs already done; {len(pending)} to run")
    running: dict[Task, tuple[subprocess.Popen, float]] = {}
    failed: list[Task] = []
    finished = {t.key for t in tasks if is_done(t, root)}
    started_all = time.perf_counter()
    while pending or running:
        lost = {t.key for t in failed}
        blocked = [t for t in pending if any(n in lost for n in t.needs)]
        for task in blocked:  # what it starts from failed: it cannot run
            pending.remove(task)
            failed.append(task)
            say(f"skip  {task.key}: needs {', '.join(task.needs)}, which failed")
        ready = [t for t in pending if all(n in finished or n not in keys for n in t.needs)]
        ready.sort(key=lambda t: -t.steps * t.cost)
        while ready and len(running) < jobs:
            task = ready.pop(0)
            pending.remove(task)
            running[task] = (_start(task, root, threads, cwd), time.perf_counter())
            say(f"start {task.key}")
        time.sleep(0.5)
        for task, (process, began) in list(running.items()):
            if process.poll() is None:
                continue
            del running[task]
            took = time.perf_counter() - began
            if process.returncode == 0 and is_done(task, root):
                finished.add(task.key)
                say(f"done  {task.key} in {took:.0f} s")
            else:
                failed.append(task)
                log = task.run_dir(root) / "stdout.log"
                say(f"FAIL  {task.key} (exit {process.returncode}) after {took:.0f} s: see {log}")
    took = time.perf_counter() - started_all
    say(f"runs finished after {took:.0f} s; {len(failed)} failed or skipped")
    return failed


def _start(task: Task, root: Path, threads: int, cwd: Path) -> subprocess.Popen:
    run_dir = task.run_dir(root)
    run_dir.mkdir(parents=True, exist_ok=True)
    log = (run_dir / "stdout.log").open("a")
    try:
        return subprocess.Popen(
            command(task, root),
            cwd=cwd,
            env=environment(threads),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    finally:
        log.close()  # the child holds its own handle
