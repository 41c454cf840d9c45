"""The `prunelab-eval` command: `prunelab-eval ckpt_path=runs/.../checkpoints/last.ckpt`.

Evaluates the checkpoint on the test split with the data, model and trainer settings it was
trained with; `data.batch_size=256`, `trainer.limit_test_batches=null` or `data=cifar10` override
them. Writes eval.json into its run directory (runs/eval/<time>/).
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

PROG = "prunelab-eval"


@hydra.main(config_path=CONFIG_PATH, config_name="eval", version_base="1.3")
def _run(cfg: DictConfig) -> float | None:
    from prunelab.export.checkpoint import CheckpointError  # Lightning loads after the checks
    from prunelab.export.evaluate import evaluate

    try:
        results = evaluate(cfg, Path(HydraConfig.get().runtime.output_dir))
    except (ConfigError, CheckpointError) as exc:
        fail(PROG, str(exc))
    return results.get("test/acc")


def main() -> None:
    """Entry point of `prunelab-eval` and `python -m prunelab.export.eval_cli`."""
    quiet()
    try:
        sys.argv[1:] = prepare_args(sys.argv[1:], *COMMANDS["eval"])
    except ConfigError as exc:
        fail(PROG, str(exc))
    _run()


if __name__ == "__main__":
    main()
