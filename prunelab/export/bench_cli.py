"""The `prunelab-bench` command: `prunelab-bench ckpt_path=runs/.../checkpoints/last.ckpt`.

Times the checkpoint's network against its dense-width counterpart and its compact form
(`prunelab.export.bench`) and writes bench.json into its run directory (runs/bench/<time>/).
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from prunelab.config import CONFIG_PATH
from prunelab.errors import ConfigError
from prunelab.export.cli_args import COMMANDS, fail, prepare_args, quiet

PROG = "prunelab-bench"


@hydra.main(config_path=CONFIG_PATH, config_name="bench", version_base="1.3")
def _run(cfg: DictConfig) -> None:
    from prunelab.export.bench_run import bench
    from prunelab.export.checkpoint import CheckpointError

    try:
        bench(cfg, Path(HydraConfig.get().runtime.output_dir))
    except (ConfigError, CheckpointError) as exc:
        fail(PROG, str(exc))


def main() -> None:
    """Entry point of `prunelab-bench` and `python -m prunelab.export.bench_cli`."""
    quiet()
    try:
        sys.argv[1:] = prepare_args(sys.argv[1:], *COMMANDS["bench"])
    except ConfigError as exc:
        fail(PROG, str(exc))
    _run()


if __name__ == "__main__":
    main()
