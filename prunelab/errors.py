"""The errors a run reports as one line `prunelab: error: ...`, each with its own exit status."""

from __future__ import annotations

from pathlib import Path


class ConfigError(ValueError):
    """A user's configuration value is invalid; the message names the value and what is valid."""


class DivergenceError(RuntimeError):
    """Training produced a non-finite loss or result; the message names where and the likely cause.

    Reported with exit status 3 and no results.json: a NaN is not a result.
    """


class Interrupted(Exception):
    """A signal (SIGTERM, SIGINT) stopped the run; a checkpoint to resume from was kept.

    Attributes:
        signal_name: ``"SIGTERM"`` or ``"SIGINT"``.
        exit_code: 128 + the signal's number (143, 130), what a shell and SLURM read as
            "terminated by that signal".
        checkpoint: The checkpoint that continues the run exactly, or None when nothing was
            trained yet (the same command starts it again).
        epoch: The epoch that was running.
        step: Optimizer steps taken.
        note: Appended to the message, e.g. why the checkpoint is an earlier one.
    """

    def __init__(
        self,
        signal_name: str,
        exit_code: int,
        checkpoint: Path | None,
        epoch: int,
        step: int,
        note: str = "",
    ) -> None:
        self.signal_name, self.exit_code, self.checkpoint = signal_name, exit_code, checkpoint
        self.epoch, self.step = epoch, step
        super().__init__(f"interrupted by {signal_name} at epoch {epoch} step {step}{note}")
