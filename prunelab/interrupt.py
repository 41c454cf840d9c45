"""Nothing lost on interruption: SIGTERM, Ctrl-C or a crash mid-run leaves a resumable checkpoint.

SIGTERM (a scheduler's time limit or preemption) and a first Ctrl-C stop training at the end of
the current batch: Lightning turns SIGTERM into `SIGTERMException` at that point, and a first
SIGINT is handed to the same machinery. `interrupted.ckpt` then holds the run exactly as it stood
between two batches, data position included (`prunelab.data.sampler.ResumableLoader`, whose state
`SaveOnInterrupt` keeps in every checkpoint), so the printed resume command continues it bit for
bit on CPU. A second Ctrl-C stops at once, mid-batch: its checkpoint is kept, but the command
then resumes from `last.ckpt`, the last epoch boundary, which is exact.
"""

from __future__ import annotations

import re
import shlex
import signal
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from lightning_fabric.utilities.types import _Stateful
from pytorch_lightning.utilities import rank_zero_info
from pytorch_lightning.utilities.exceptions import SIGTERMException

from prunelab.atomic import WriteError
from prunelab.errors import ConfigError, DivergenceError, Interrupted

SIGNALS = (signal.SIGINT, signal.SIGTERM)
# What Hydra's override grammar takes unquoted in a value (brackets, commas, `=`... need quotes).
HYDRA_PLAIN = re.compile(r"[\w/\\+.$%*@?|:~-]+")


def _hydra_value(text: str) -> str:
    """`text` as one Hydra override value: quoted when the grammar would split or parse it."""
    if HYDRA_PLAIN.fullmatch(text):
        return text
    quote = "'" if "'" not in text else '"'
    return quote + text.replace(quote, "\\" + quote) + quote


def resume_command(overrides: Sequence[str], checkpoint: Path | None) -> str:
    """The shell command that continues a run: its overrides, `ckpt_path` replaced, each quoted
    for the shell (and the checkpoint's path for Hydra too)."""
    kept = [o for o in overrides if o.lstrip("+~").partition("=")[0] != "ckpt_path"]
    if checkpoint is not None:
        kept.append(f"ckpt_path={_hydra_value(str(checkpoint))}")
    return shlex.join(["prunelab", *kept])


class SaveOnInterrupt(pl.Callback):
    """On an exception during fit, save `<dirpath>/interrupted.ckpt`; remember which signal came.

    Use `catch_signals()` around fit and test to hear SIGINT and SIGTERM, and `stopping(trainer)`
    around each of them to turn a signal into `Interrupted` (exit status 128 + the signal's number)
    naming the checkpoint that resumes the run. A DivergenceError saves nothing: its weights are
    not finite and there is nothing to resume.

    Every checkpoint also records where the training loader stood (when the loader has a
    `state_dict`), and a resume hands that back to the loader before its first batch. Lightning
    2.6 would do this itself, but only for loaders it sets up after restoring the checkpoint; a
    module whose `configure_optimizers` reads `estimated_stepping_batches` (prunelab's, for the
    LR schedule's length) has the loader set up before, and its position would be dropped.
    """

    def __init__(self, dirpath: str | Path) -> None:
        self.path = Path(dirpath) / "interrupted.ckpt"
        self.signal: signal.Signals | None = None  # the first signal received
        self.saved = False  # interrupted.ckpt was written by this run
        self.exact = False  # ... between two batches
        self._trainer: pl.Trainer | None = None
        self._loader_state: dict[str, Any] | None = None  # from the checkpoint resumed

    def setup(self, trainer: pl.Trainer, pl_module, stage: str) -> None:
        self._trainer = trainer

    def state_dict(self) -> dict[str, Any]:
        loader = self._loader()
        return {"train_loader": loader.state_dict()} if loader is not None else {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._loader_state = state_dict.get("train_loader")

    def on_train_start(self, trainer: pl.Trainer, pl_module) -> None:
        loader = self._loader()
        if loader is not None and self._loader_state is not None:
            loader.load_state_dict(self._loader_state)  # before the first batch is drawn
        self._loader_state = None

    def _loader(self) -> _Stateful | None:
        """The training loader, when there is one and it can say where it stands."""
        loader = self._trainer.train_dataloader if self._trainer else None
        return loader if isinstance(loader, _Stateful) else None

    def on_exception(self, trainer: pl.Trainer, pl_module, exception: BaseException) -> None:
        # A full disk (WriteError) would fail this save too, and hide the cause.
        # A refused value (ConfigError) has nothing worth resuming either.
        nothing_to_save = (DivergenceError, WriteError, ConfigError)
        if trainer.state.fn != "fit" or isinstance(exception, nothing_to_save):
            return
        if isinstance(exception, KeyboardInterrupt) and self.signal is None:
            self.signal = signal.SIGINT  # a Ctrl-C that came while our handler was not installed
        trainer.save_checkpoint(self.path)
        self.saved, self.exact = True, isinstance(exception, SIGTERMException)
        rank_zero_info(f"interrupted ({type(exception).__name__}): saved {self.path}")

    def _on_signal(self, signum: int, frame) -> None:
        first, self.signal = self.signal is None, self.signal or signal.Signals(signum)
        lightning = signal.getsignal(signal.SIGTERM)  # Lightning's handler while a loop runs
        if lightning == self._on_signal or not callable(lightning):
            raise KeyboardInterrupt  # no loop to stop gracefully: stop here
        if signum == signal.SIGINT:
            if not first:
                raise KeyboardInterrupt  # a second Ctrl-C: the user will not wait for the batch
            lightning(signal.SIGTERM, frame)  # stop at the end of this batch, as for SIGTERM
        # SIGTERM reached us through Lightning's handler, which has already asked the loop to stop.

    @contextmanager
    def catch_signals(self) -> Iterator[None]:
        """Hear SIGINT and SIGTERM in this block (the main thread only: Python's rule)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {s: signal.getsignal(s) for s in SIGNALS}
        for s in SIGNALS:
            signal.signal(s, self._on_signal)
        try:
            yield
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)

    @contextmanager
    def stopping(self, trainer: pl.Trainer) -> Iterator[None]:
        """Run `trainer.fit` or `trainer.test` in this block: a signal ends it with Interrupted.

        Lightning ends a stop on SIGTERM with `SIGTERMException` and one on KeyboardInterrupt
        with `sys.exit(1)`, both SystemExit; a signal in the last batch lets the loop finish.
        """
        try:
            yield
        except (SystemExit, KeyboardInterrupt) as exc:
            if self.signal is None and not isinstance(exc, KeyboardInterrupt):
                raise
            self.signal = self.signal or signal.SIGINT
            raise self.interrupted(trainer) from None
        if self.signal is not None:
            raise self.interrupted(trainer)

    def interrupted(self, trainer: pl.Trainer) -> Interrupted:
        """The error that reports this interruption, naming the checkpoint that resumes exactly."""
        last, note = self.path.with_name("last.ckpt"), ""
        if self.saved and self.exact:
            checkpoint = self.path
        else:  # stopped mid-batch (or after training): the last epoch boundary is exact
            checkpoint = last if last.is_file() else None
            if checkpoint is not None and self.saved:
                note = f" mid-batch ({self.path.name} kept; resuming exactly from the last epoch)"
        sig = self.signal or signal.SIGINT
        return Interrupted(sig.name, 128 + sig.value, checkpoint, trainer.current_epoch,
                           trainer.global_step, note)  # fmt: skip
