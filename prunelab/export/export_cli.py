"""The `prunelab-export` command:
`prunelab-export ckpt_path=runs/.../checkpoints/last.ckpt format=dense|sparse|onnx out=FILE`.

Writes the file (default: into its run directory, runs/export/<time>/) and export.json.
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

PROG = "prunelab-export"


@hydra.main(config_path=CONFIG_PATH, config_name="export", version_base="1.3")
def _run(cfg: DictConfig) -> None:
    from prunelab.export.checkpoint import CheckpointError  # Lightning loads after the checks
    from prunelab.export.exporting import export

    try:
        export(cfg, Path(HydraConfig.get().runtime.output_dir))
    except (ConfigError, CheckpointError) as exc:
        fail(PROG, str(exc))


def main() -> None:
    """Entry point of `prunelab-export` and `python -m prunelab.export.export_cli`."""
    quiet()
    try:
        sys.argv[1:] = prepare_args(sys.argv[1:], *COMMANDS["export"])
    except ConfigError as exc:
        fail(PROG, str(exc))
    _run()


if __name__ == "__main__":
    main()
