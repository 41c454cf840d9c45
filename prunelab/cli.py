"""The `prunelab` command: a Hydra main around `prunelab.train.train`."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from prunelab.config import CONFIG_PATH
from prunelab.errors import ConfigError, DivergenceError, Interrupted
from prunelab.precheck import check_keys
from prunelab.resume import (
    discard_new_run_dir,
    keep_hydra_record,
    multirun,
    redirect_argv,
    restore_hydra_record,
)
from prunelab.sweep import name_sweep
from prunelab.validate import check_overrides, normalize, validate


def _fail(message: str, code: int = 2) -> None:
    print(f"prunelab: error: {message}", file=sys.stderr)
    sys.exit(code)


def _interrupted(exc: Interrupted) -> None:
    """One line naming the signal and the command that continues the run, then exit 128 + signal."""
    from pytorch_lightning.utilities import rank_zero_only

    from prunelab.interrupt import resume_command

    if rank_zero_only.rank == 0:  # every DDP rank stops; one line is enough
        command = resume_command(HydraConfig.get().overrides.task, exc.checkpoint)
        print(f"prunelab: {exc}; resume with: {command}", file=sys.stderr)
    sys.exit(exc.exit_code)


def _in_sweep() -> bool:
    """Whether this job is one of a `prunelab -m` sweep's."""
    from hydra.types import RunMode

    return HydraConfig.get().mode == RunMode.MULTIRUN


@hydra.main(config_path=CONFIG_PATH, config_name="config", version_base="1.3")
def _run(cfg: DictConfig) -> float | None:
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        normalize(cfg)
        validate(cfg)  # before the heavy imports: a bad value is refused in a second or two
    except ConfigError as exc:
        restore_hydra_record()
        discard_new_run_dir(run_dir, _in_sweep())
        _fail(str(exc))
    from prunelab.atomic import WriteError  # heavy imports after argument checks
    from prunelab.loading import LoadError
    from prunelab.sweep import prepare_job
    from prunelab.train import run_config, train

    try:
        # A sweep job that finished is reported, not run again; an unfinished one resumes.
        done = prepare_job(cfg, run_dir, run_config(cfg)) if _in_sweep() else None
        results = done if done is not None else train(cfg, run_dir)
    except (ConfigError, LoadError) as exc:  # a refused value or file: before any compute
        restore_hydra_record()  # a run already in the folder keeps its own record
        discard_new_run_dir(run_dir, _in_sweep())  # no folder is left for a refused command
        _fail(str(exc))
    except WriteError as exc:  # a full disk: the previous checkpoint and results are intact
        _fail(str(exc), code=1)
    except DivergenceError as exc:  # a NaN loss or result: no results.json
        _fail(str(exc), code=3)
    except Interrupted as exc:  # SIGTERM or Ctrl-C during the run: a checkpoint was saved
        _interrupted(exc)
    except KeyboardInterrupt:  # Ctrl-C before training began: nothing to resume from
        _interrupted(Interrupted("SIGINT", 130, None, 0, 0))
    # Returned for Hydra sweepers (Optuna) that optimise a metric.
    return results.get("final/val/acc", results.get("test/acc"))


# Lightning's advice that does not apply to prunelab runs (in-memory loaders need no workers).
QUIET = (
    r".*does not have many workers.*",
    r".*smaller than the logging interval.*",
    r".*isinstance\(treespec, LeafSpec\).*",
    r".*Experiment logs directory .* exists and is not empty.*",
)


def main() -> None:
    """Entry point of `prunelab` and `python -m prunelab`."""
    for pattern in QUIET:
        warnings.filterwarnings("ignore", message=pattern)
    try:
        overrides = [a for a in sys.argv[1:] if not a.startswith("-")]
        check_overrides(overrides)
        check_keys(overrides)  # before Hydra's six lines and the heavy imports
        # ckpt_path=<run>/checkpoints/...: continue in <run>, not in a new timestamped folder.
        sys.argv = redirect_argv(sys.argv)
        name_sweep(sys.argv, multirun(sys.argv[1:]))  # the same command, the same sweep folder
        keep_hydra_record(sys.argv)  # Hydra rewrites it before a refusal can come
    except ConfigError as exc:
        _fail(str(exc))
    _run()


if __name__ == "__main__":
    main()
