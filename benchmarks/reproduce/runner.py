"""Run the plan's stages as `prunelab -m experiment=repro/<preset>` sweeps, a few jobs at a time.

A stage whose jobs all hold results.json is skipped. Otherwise its command runs again, and the
product's resumable sweep does the rest: finished jobs are reported done, unfinished ones resume
from their checkpoint. A stage starts once the stages it reads are done; independent stages run
side by side, each with `hydra/launcher=joblib` and as many jobs as it has left and the slots
allow, the largest first, so the slots stay busy until the end.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from reproduce.claims import Stage, Task

RESULTS = "results.json"


def is_done(task: Task, root: Path) -> bool:
    return (task.run_dir(root) / RESULTS).is_file()


def command(stage: Stage, root: Path, data: Sequence[str], jobs: int) -> list[str]:
    """The `prunelab -m` command line of `stage`, writing below `root`."""
    args = [sys.executable, "-m", "prunelab", "-m", *stage.args, *data, f"paths.repro={root}"]
    if jobs > 1:
        args += ["hydra/launcher=joblib", f"hydra.launcher.n_jobs={jobs}"]
    return args


def shown(stage: Stage, data: Sequence[str]) -> str:
    """The stage's command as a user types it (the results root left at its default)."""
    return " ".join(["prunelab -m", *stage.args, *data])


def environment(threads: int) -> dict[str, str]:
    """Each job gets `threads` intra-op threads: more runs than cores makes torch 10x slower."""
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), WANDB_MODE="offline")
    return env


def run_stages(
    stages: Sequence[Stage],
    tasks: Mapping[str, Sequence[Task]],
    root: Path,
    data: Sequence[str],
    jobs: int,
    threads: int,
    cwd: Path,
    say: Callable[[str], None] = lambda line: print(line, flush=True),
) -> list[Stage]:
    """Run every stage with jobs not yet done (`tasks`: each stage's jobs, by stage name);
    returns the stages that failed or could not start. Each stage's output goes to
    `<root>/logs/<stage>.log`."""
    every = [t for s in stages for t in tasks[s.name]]
    left = {s.name: [t for t in tasks[s.name] if not is_done(t, root)] for s in stages}
    say(f"{sum(is_done(t, root) for t in every)} of {len(every)} runs already done; "
        f"{sum(map(len, left.values()))} to run")  # fmt: skip
    pending = [s for s in stages if left[s.name]]
    finished = {s.name for s in stages if not left[s.name]}
    running: dict[Stage, tuple[subprocess.Popen, int, float]] = {}
    failed: list[Stage] = []
    began_all = time.perf_counter()
    while pending or running:
        lost = {s.name for s in failed}
        for stage in [s for s in pending if lost & set(s.needs)]:  # what it reads failed
            pending.remove(stage)
            failed.append(stage)
            say(f"skip  {stage.name}: needs {', '.join(stage.needs)}, which failed")
        ready = [s for s in pending if all(n in finished for n in s.needs if n in left)]
        ready.sort(key=lambda s: -sum(t.steps * t.cost for t in left[s.name]))
        free = jobs - sum(width for _, width, _ in running.values())
        while ready and free > 0:
            stage = ready.pop(0)
            pending.remove(stage)
            width = min(free, len(left[stage.name]))
            running[stage] = (_start(stage, root, data, width, threads, cwd), width, time.time())
            free -= width
            say(f"start {stage.name} ({len(left[stage.name])} runs, {width} at a time)")
        time.sleep(0.5)
        for stage, (process, _, began) in list(running.items()):
            if process.poll() is not None:
                del running[stage]
                took = time.time() - began
                if process.returncode == 0 and all(is_done(t, root) for t in tasks[stage.name]):
                    finished.add(stage.name)
                    say(f"done  {stage.name} in {took:.0f} s")
                else:
                    failed.append(stage)
                    log = root / "logs" / f"{stage.name}.log"
                    say(f"FAIL  {stage.name} (exit {process.returncode}) after {took:.0f} s: "
                        f"see {log}")  # fmt: skip
    took = time.perf_counter() - began_all
    say(f"runs finished after {took:.0f} s; {len(failed)} stage(s) failed or skipped")
    return failed


def _start(stage, root: Path, data, width: int, threads: int, cwd: Path) -> subprocess.Popen:
    logs = root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log = (logs / f"{stage.name}.log").open("a")
    try:
        return subprocess.Popen(
            command(stage, root, data, width),
            cwd=cwd,
            env=environment(threads),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    finally:
        log.close()  # the child holds its own handle
