"""The `prunelab-stability` command: `prunelab-stability ckpt_path=... steps=200 seeds=[1,2]`.

Trains two copies of the checkpoint's network (masks kept) on two data orders and writes
stability.json and stability.png into its run directory (runs/stability/<time>/).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from prunelab.config import CONFIG_PATH
from prunelab.errors import ConfigError
from prunelab.export.cli_args import COMMANDS, fail, prepare_args, quiet

PROG = "prunelab-stability"


@hydra.main(config_path=CONFIG_PATH, config_name="stability", version_base="1.3")
def _run(cfg: DictConfig) -> float | None:
    from prunelab.export.checkpoint import CheckpointError  # Lightning loads after the checks
    from prunelab.stability.run import stability

    try:
        results = stability(cfg, Path(HydraConfig.get().runtime.output_dir))
    except (ConfigError, CheckpointError) as exc:
        fail(PROG, str(exc))
    return results["barrier"]


def main() -> None:
    """Entry point of `prunelab-stability` and `python -m prunelab.stability.cli`."""
    quiet()
    try:
        sys.argv[1:] = prepare_args(sys.argv[1:], *COMMANDS["eval"])  # same open sections
    except ConfigError as exc:
        fail(PROG, str(exc))
    _run()


def compose(overrides: Sequence[str] = ()) -> DictConfig:
    """Compose `conf/stability.yaml` as its command line would, for tests and notebooks:
    `stability(compose(["ckpt_path=...", "steps=20"]), run_dir)`."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    from prunelab.config import CONFIG_MODULE

    args = prepare_args(overrides, *COMMANDS["eval"])
    GlobalHydra.instance().clear()
    with initialize_config_module(CONFIG_MODULE, version_base="1.3"):
        return hydra_compose("stability", overrides=args)


if __name__ == "__main__":
    main()
