"""Training throughput of the prunelab pipeline against a plain PyTorch loop, side by side.

Both train the same model (ResNet-20) on the same batches of the embedded CIFAR-10 set (batch 128,
the same in-memory loader and batched pad-4 crop + flip), with the same optimizer. prunelab runs
as a run does: Classifier + Trainer with metric logging, CSV logger and progress bar. The two
alternate for several rounds; each round times K steps after a warm-up, and the figure is the
median seconds per step. Prints images/s of each and their ratio (target >= 0.95).

    OMP_NUM_THREADS=2 python benchmarks/throughput.py --rounds 5 --steps 15
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from prunelab.data import MiniCIFAR10DataModule
from prunelab.models import resnet20
from prunelab.module import Classifier
from prunelab.optim import build_optimizer, build_scheduler

OPTIM = {"name": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 1e-4}
SCHED = {"name": "multistep", "milestones": [0.5, 0.75], "gamma": 0.1}


class StepClock(pl.Callback):
    """Seconds between consecutive batch starts: one whole training step, hooks included."""

    def __init__(self) -> None:
        self.starts: list[float] = []

    def on_train_batch_start(self, *args) -> None:
        self.starts.append(time.perf_counter())


def prunelab_steps(datamodule, steps: int, warmup: int, run_dir: str) -> list[float]:
    clock = StepClock()
    trainer = pl.Trainer(
        max_epochs=1,
        limit_train_batches=steps + warmup + 1,
        limit_val_batches=0,
        accelerator="cpu",
        callbacks=[clock, pl.callbacks.RichProgressBar()],
        logger=pl.loggers.CSVLogger(run_dir, name="", version=""),
        enable_checkpointing=False,
        enable_model_summary=False,
        use_distributed_sampler=False,
        default_root_dir=run_dir,
    )
    trainer.fit(Classifier(resnet20(), 10, OPTIM, SCHED), datamodule=datamodule)
    return [b - a for a, b in zip(clock.starts[warmup:], clock.starts[warmup + 1 :])]


def plain_steps(datamodule, steps: int, warmup: int) -> list[float]:
    model = resnet20()
    optimizer = build_optimizer(model.parameters(), OPTIM)
    scheduler = build_scheduler(optimizer, SCHED, 1000)
    model.train()
    starts = []
    for i, (x, y) in enumerate(datamodule.train_dataloader()):
        starts.append(time.perf_counter())
        if i == steps + warmup + 1:
            break
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
    return [b - a for a, b in zip(starts[warmup:], starts[warmup + 1 :])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=15, help="timed steps per round and side")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()
    torch.manual_seed(0)
    datamodule = MiniCIFAR10DataModule(batch_size=args.batch_size)
    datamodule.setup("fit")
    ours, plain = [], []
    with tempfile.TemporaryDirectory() as run_dir:
        for r in range(args.rounds):
            plain += plain_steps(datamodule, args.steps, args.warmup)
            ours += prunelab_steps(datamodule, args.steps, args.warmup, run_dir)
            print(
                f"round {r}: plain {statistics.median(plain):.4f} s/step, "
                f"prunelab {statistics.median(ours):.4f} s/step"
            )
    plain_rate = args.batch_size / statistics.median(plain)
    ours_rate = args.batch_size / statistics.median(ours)
    print(
        f"threads={torch.get_num_threads()} batch={args.batch_size} steps={len(ours)}+{len(plain)}"
    )
    print(
        f"plain_images_per_s={plain_rate:.1f} prunelab_images_per_s={ours_rate:.1f} "
        f"ratio={ours_rate / plain_rate:.3f}"
    )


if __name__ == "__main__":
    main()
