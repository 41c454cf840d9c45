"""One run per run directory: a new run starts in an empty one, a resumed run continues its own.

`train()` asks, before any compute:
- `refuse_occupied`: a new run refuses a directory that already holds a run. A directory holds a
  run when it has `results.json` (finished), `checkpoints/`, `metrics.csv` or `run.json` (written
  when a run starts, so a running or killed run counts too). Hydra's own `.hydra/` and job log do
  not count: Hydra writes them before `train()` starts. `overwrite=true` allows it, and
  `ckpt_path=<dir>/checkpoints/...` is no new run: it resumes the run that is there.
- `start_run`, after every other check: a resume in place is checked against the config the run
  ran with; `overwrite=true` deletes the previous run's files (so two runs' files never mix); the
  run's W&B id is recorded in `run.json` and returned: the stored one when the run resumes in
  place, so W&B continues the same run, a fresh one otherwise.
Only rank 0 refuses a folder and writes: re-launched DDP ranks find the `run.json` rank 0 wrote.
"""

from __future__ import annotations

import json
import secrets
import shutil
import string
from pathlib import Path

from omegaconf import DictConfig
from pytorch_lightning.utilities import rank_zero_only

from prunelab.atomic import write_text
from prunelab.errors import ConfigError
from prunelab.resume import check_same_run, checkpoint_run_dir

RECORD = "run.json"  # {"wandb_id": ...}: written when a run starts
MARKERS = ("results.json", "checkpoints", "metrics.csv", RECORD)  # a run was here
# Everything a run writes into its directory (besides Hydra's .hydra/ and job log).
RUN_FILES = ("results.json", "metrics.csv", "hparams.yaml", RECORD)
RUN_FOLDERS = ("checkpoints", "masks", "plots", "wandb")


def resumes_in_place(cfg: DictConfig, run_dir: Path) -> bool:
    """Whether this run continues the run whose checkpoint `cfg.ckpt_path` is."""
    home = checkpoint_run_dir(cfg.get("ckpt_path"))
    return home is not None and home.resolve() == Path(run_dir).resolve()


def refuse_occupied(cfg: DictConfig, run_dir: Path) -> None:
    """Refuse a new run in a directory that holds a run, unless `overwrite=true` (see above).

    Raises:
        ConfigError: one line naming the directory and the two ways on.
    """
    run_dir = Path(run_dir)
    if rank_zero_only.rank != 0 or cfg.get("overwrite") or resumes_in_place(cfg, run_dir):
        return
    found = [name for name in MARKERS if (run_dir / name).exists()]
    if not found:
        return
    saved = [run_dir / "checkpoints" / f"{n}.ckpt" for n in ("last", "interrupted")]
    ckpt = next((p for p in saved if p.is_file()), "<its checkpoint>")
    raise ConfigError(
        f"{run_dir} already holds a run ({', '.join(found)}): add overwrite=true to replace it, "
        f"or ckpt_path={ckpt} to resume it"
    )


def clear_previous(run_dir: Path) -> None:
    """Delete what an earlier run wrote into `run_dir` (only prunelab's own files and folders)."""
    for name in (*RUN_FILES, *RUN_FOLDERS):
        path = Path(run_dir) / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()


def stored_wandb_id(run_dir: Path) -> str | None:
    """The W&B run id of the run in `run_dir`: from `run.json`, else from the names of W&B's
    folders (`wandb/[offline-]run-<time>-<id>`), for runs recorded before `run.json` existed."""
    try:
        stored = json.loads((Path(run_dir) / RECORD).read_text()).get("wandb_id")
    except (OSError, ValueError, AttributeError):
        stored = None
    if isinstance(stored, str) and stored:
        return stored
    folders = sorted(p for p in Path(run_dir).glob("wandb/*run-*-*") if p.is_dir())
    return folders[-1].name.rsplit("-", 1)[-1] if folders else None


def new_wandb_id() -> str:
    """A fresh run id in W&B's own form: 8 lowercase letters and digits."""
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(8))


def start_run(cfg: DictConfig, run_dir: Path, config: dict) -> str | None:
    """Begin the run in `run_dir` (see above); return the W&B run id to log under.

    `config` is the resolved run config, compared with the stored one on a resume in place.
    Returns None on ranks other than 0 (they do not log to W&B).

    Raises:
        ConfigError: a resume in place whose config differs from the one the run ran with.
    """
    run_dir = Path(run_dir)
    in_place = resumes_in_place(cfg, run_dir)
    if in_place:
        check_same_run(cfg.ckpt_path, run_dir, config)
    if rank_zero_only.rank != 0:
        return None
    if not in_place and cfg.get("overwrite"):
        clear_previous(run_dir)
    run_id = (stored_wandb_id(run_dir) if in_place else None) or new_wandb_id()
    write_text(run_dir / RECORD, json.dumps({"wandb_id": run_id}, indent=2) + "\n")
    return run_id
