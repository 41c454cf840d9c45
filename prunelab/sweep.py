"""Resumable sweeps: rerunning the same `prunelab -m ...` command finishes what is left.

Two names make this work, both hashes (as OpenLTH names its runs by a hash of their hparams):

- The sweep folder, `runs/<task>/multirun/<command id>`: `command_id` hashes the command's
  overrides, in order, leaving out those that cannot change a result (`FREE`: Hydra's own keys
  and launcher, `logger`, `paths.*`, the progress bar, ...). `cli.main` puts it in the
  environment (`SWEEP_ENV`) before Hydra names the folder, so the same command finds the same
  folder, whatever launcher runs it and in whichever process a job runs. `hydra.sweep.dir=...`
  on the command line names the folder instead.
- A job, inside it: `config_hash` hashes the job's resolved run config, leaving out the keys a
  resumed run may change (`prunelab.resume.MAY_DIFFER`: paths, logger, progress bar, ckpt_path,
  overwrite, ...) and Hydra's node. The job records it in `<job>/sweep_job.json` when it starts.

`prepare_job`, before a job trains: a job whose folder holds `results.json` with finite figures
and the same config hash is done (one line, nothing trained or rewritten); one with the same hash
and a checkpoint resumes from it (`interrupted.ckpt` when it is newer than `last.ckpt`); one with
the same hash and no checkpoint (killed before its first epoch ended) starts again. A folder
holding a run of another config is refused: the sweep's jobs are no longer the ones that ran
there (e.g. the config tree changed); name a new folder with `hydra.sweep.dir=...`.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, open_dict

from prunelab.errors import ConfigError
from prunelab.resume import MAY_DIFFER, flatten

SWEEP_ENV = "PRUNELAB_SWEEP_ID"  # read by `hydra.sweep.dir` in conf/config.yaml
JOB_FILE = "sweep_job.json"  # {"config_hash": ...}: written when a sweep job starts
# Overrides that leave a sweep the same command: where files go, what is logged and shown.
FREE = tuple(k for k in MAY_DIFFER if k != "ckpt_path") + ("hydra",)
RUN_MARKERS = ("results.json", "checkpoints", "metrics.csv", "run.json")  # as prunelab.rundir
DIGITS = 10  # hex digits of a hash: 40 bits, no collision among one user's sweeps


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:DIGITS]


def command_id(overrides: Sequence[str]) -> str:
    """The sweep folder's name for a command's overrides (see above)."""
    kept = []
    for item in overrides:
        key = item.partition("=")[0].lstrip("+~").replace("/", ".")
        if not any(key == k or key.startswith(f"{k}.") for k in FREE):
            kept.append(item)
    return _digest(kept)


def name_sweep(argv: Sequence[str], multirun: bool) -> None:
    """For a sweep, put its command id in the environment, where `hydra.sweep.dir` reads it."""
    if multirun:
        os.environ[SWEEP_ENV] = command_id([a for a in argv[1:] if not a.startswith("-")])


def config_hash(config: Mapping[str, Any]) -> str:
    """A job's identity: a hash of its resolved run config, less the keys that do not change
    its results (`MAY_DIFFER`) and Hydra's node."""
    free = tuple(f"{k}." for k in (*MAY_DIFFER, "hydra"))
    flat = flatten(config)
    kept = {k: v for k, v in flat.items() if k not in MAY_DIFFER and not k.startswith(free)}
    return _digest(kept)


def _recorded_hash(job_dir: Path) -> str | None:
    try:
        return json.loads((job_dir / JOB_FILE).read_text()).get("config_hash")
    except (OSError, ValueError, AttributeError):
        return None


def finished_results(job_dir: Path) -> dict | None:
    """The job's results.json when it holds only finite figures, else None."""
    try:
        results = json.loads((job_dir / "results.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(results, dict):
        return None
    numbers = [v for v in results.values() if not isinstance(v, (list, dict, str))]
    finite = all(isinstance(v, (int, float)) and math.isfinite(v) for v in numbers)
    return results if finite and numbers else None


def resume_checkpoint(job_dir: Path) -> Path | None:
    """The checkpoint an unfinished job continues from: `interrupted.ckpt` when newer than
    `last.ckpt` (a signal stopped it mid-epoch, after the last epoch's checkpoint)."""
    saved = [job_dir / "checkpoints" / f"{n}.ckpt" for n in ("interrupted", "last")]
    found = [p for p in saved if p.is_file()]
    return max(found, key=lambda p: p.stat().st_mtime_ns) if found else None


def _say(message: str) -> None:
    print(f"prunelab: {message}", file=sys.stderr, flush=True)


def prepare_job(cfg: DictConfig, job_dir: Path, config: Mapping[str, Any]) -> dict | None:
    """Before a sweep job trains (see above): its results when it is done, else None, with
    `cfg.ckpt_path` (resume) or `cfg.overwrite` (start again) set for an unfinished one.

    `config` is the job's resolved run config. `overwrite=true` in the command reruns every job.

    Raises:
        ConfigError: the job's folder holds a run of another config.
    """
    job_dir = Path(job_dir)
    digest, recorded = config_hash(config), _recorded_hash(job_dir)
    if recorded == digest and not cfg.get("overwrite"):
        results = finished_results(job_dir)
        if results is not None:
            _say(f"done: {job_dir} (results.json)")
            return results
    occupied = [name for name in RUN_MARKERS if (job_dir / name).exists()]
    if occupied and recorded != digest and not cfg.get("overwrite"):
        raise ConfigError(
            f"{job_dir} holds a run of another config (config hash {recorded or 'unknown'}, this "
            f"job's {digest}): give the sweep a new folder with hydra.sweep.dir=..."
        )
    if occupied and not cfg.get("overwrite"):  # this job, unfinished
        checkpoint = resume_checkpoint(job_dir)
        with open_dict(cfg):
            if checkpoint is not None:
                cfg.ckpt_path = str(checkpoint)
                _say(f"resume: {job_dir} from {checkpoint}")
            else:  # nothing to continue from: its partial files go, as with overwrite=true
                cfg.overwrite = True
                _say(f"restart: {job_dir} (no checkpoint)")
    from prunelab.atomic import write_text

    job_dir.mkdir(parents=True, exist_ok=True)
    write_text(job_dir / JOB_FILE, json.dumps({"config_hash": digest}, indent=2) + "\n")
    return None
