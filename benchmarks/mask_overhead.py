"""Cost of prunelab's masking: training-step time and mask memory.

Step time, one model (CIFAR ResNet-20), one batch size (128), SGD (momentum 0.9, weight decay), for
  - dense: no masking;
  - prunelab: `GlobalMagnitudePruning` at 90% (one-shot, global): after every optimizer step its
    `enforce` zeroes pruned weights and their momentum in place (what `on_train_batch_end` does);
  - lightning: `pytorch_lightning.callbacks.ModelPruning` at 90% (global L1 on the same conv and
    linear weights), i.e. torch.nn.utils.prune: a forward pre-hook recomputes
    weight = weight_orig * weight_mask at every forward, and backward goes through that product.
Two ways to time them (`--mode`):
  - loop (default): the three settings step in turn inside one plain loop (forward, backward,
    optimizer step, plus the masking each setting does), so every step of a setting has a dense
    step beside it; the ratio is the median of these paired ratios. This is robust to the load of
    a shared machine, which drifts on a scale of seconds.
  - trainer: real `Trainer.fit` runs with the real callbacks, two epochs each (epoch 0 warms up and
    prunes, epoch 1 is timed between consecutive `on_train_batch_end` calls of a callback placed
    after all others), the three settings interleaved fit by fit, round after round.
Both report wall time and the CPU time of the training thread (with one torch thread the whole step
runs there, so CPU time is what the step costs, whatever else the machine runs).

Memory: the masks `GlobalMagnitudePruning` holds for torchvision's ResNet-50 (bool, one byte per
prunable weight), as a fraction of the network's parameter memory.

Run it with the machine as quiet as possible:
    OMP_NUM_THREADS=1 python benchmarks/mask_overhead.py [--mode trainer]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
import warnings

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from pytorch_lightning.callbacks import ModelPruning
from torch import nn
from torch.nn.utils import prune
from torch.utils.data import DataLoader, TensorDataset

from prunelab.callbacks import GlobalMagnitudePruning
from prunelab.models import CifarResNet, torchvision_model
from prunelab.module import Classifier

SETTINGS = ("dense", "prunelab", "lightning")
OPTIM = {"name": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 1e-4}


def clocks() -> tuple[float, float]:
    """(wall, CPU time of this thread), in seconds."""
    return time.perf_counter(), time.thread_time()


def conv_linear_weights(network: nn.Module) -> list[tuple[nn.Module, str]]:
    return [(m, "weight") for m in network.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def classifier(network: nn.Module, num_classes: int = 10) -> Classifier:
    return Classifier(network, num_classes, OPTIM, {"name": "constant"})


def attached(network: nn.Module, sparsity: float):
    """A GlobalMagnitudePruning pruned to `sparsity`, set up on a bare Trainer (no fit)."""
    module = classifier(network)
    trainer = pl.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False, max_epochs=1)
    callback = GlobalMagnitudePruning(sparsity=sparsity, plot=False)
    callback.setup(trainer, module, "fit")
    callback.on_fit_start(trainer, module)
    callback.prune_to(trainer, module, sparsity)
    return callback, trainer, module


# -- mode loop: the settings step in turn in one plain loop -------------------------------------
def loop_times(steps: int, batch: int, sparsity: float) -> dict[str, list[tuple[float, float]]]:
    torch.manual_seed(0)
    images, labels = torch.randn(batch, 3, 32, 32), torch.randint(0, 10, (batch,))
    networks = {s: CifarResNet(depth=20, num_classes=10) for s in SETTINGS}
    callback, trainer, _ = attached(networks["prunelab"], sparsity)
    prune.global_unstructured(  # what ModelPruning(use_global_unstructured=True) applies
        conv_linear_weights(networks["lightning"]), prune.L1Unstructured, amount=sparsity
    )
    optimizers = {
        s: torch.optim.SGD(n.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
        for s, n in networks.items()
    }
    trainer.strategy.optimizers = [optimizers["prunelab"]]  # enforce() reads trainer.optimizers

    def step(setting: str) -> None:
        optimizer = optimizers[setting]
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(networks[setting](images), labels).backward()
        optimizer.step()
        if setting == "prunelab":
            callback.enforce(trainer)  # MaskedTraining.on_train_batch_end after each step

    times: dict[str, list[tuple[float, float]]] = {s: [] for s in SETTINGS}
    for i in range(steps + 3):  # 3 warm-up rounds
        order = SETTINGS[i % 3 :] + SETTINGS[: i % 3]
        for setting in order:
            wall, cpu = clocks()
            step(setting)
            wall2, cpu2 = clocks()
            if i >= 3:
                times[setting].append((wall2 - wall, cpu2 - cpu))
    times["enforce"] = []
    for _ in range(steps):  # the masking alone, with the momentum a real step left
        wall, cpu = clocks()
        callback.enforce(trainer)
        wall2, cpu2 = clocks()
        times["enforce"].append((wall2 - wall, cpu2 - cpu))
    return times


# -- mode trainer: real Trainer.fit runs, interleaved fit by fit --------------------------------
class StepTimer(pl.Callback):
    """(wall, CPU) time between consecutive training-batch ends, from epoch `first_epoch` on."""

    def __init__(self, first_epoch: int = 1) -> None:
        self.first_epoch, self.times, self._last = first_epoch, [], None

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._last = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        now = clocks()
        if self._last is not None and trainer.current_epoch >= self.first_epoch:
            self.times.append((now[0] - self._last[0], now[1] - self._last[1]))
        self._last = now


def pruning_callbacks(setting: str, network: nn.Module, sparsity: float) -> list[pl.Callback]:
    if setting == "prunelab":
        return [GlobalMagnitudePruning(sparsity=sparsity, schedule="oneshot", plot=False)]
    if setting == "lightning":
        once = ModelPruning(
            "l1_unstructured",
            parameters_to_prune=conv_linear_weights(network),
            amount=sparsity,
            apply_pruning=lambda epoch: epoch == 0,  # once, at the end of epoch 0
            use_lottery_ticket_hypothesis=False,
            make_pruning_permanent=False,
            verbose=0,
        )
        return [once]
    return []


def trainer_times(rounds: int, steps: int, batch: int, sparsity: float):
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(steps * batch, 3, 32, 32, generator=generator)
    labels = torch.randint(0, 10, (steps * batch,), generator=generator)
    loader = DataLoader(TensorDataset(images, labels), batch_size=batch, shuffle=False)
    times: dict[str, list[tuple[float, float]]] = {s: [] for s in SETTINGS}
    for r in range(rounds):
        for setting in SETTINGS[r % 3 :] + SETTINGS[: r % 3]:
            torch.manual_seed(0)
            network = CifarResNet(depth=20, num_classes=10)
            timer = StepTimer()
            trainer = pl.Trainer(
                accelerator="cpu",
                max_epochs=2,
                limit_train_batches=steps,
                limit_val_batches=0,
                logger=False,
                enable_checkpointing=False,
                enable_progress_bar=False,
                enable_model_summary=False,
                callbacks=[*pruning_callbacks(setting, network, sparsity), timer],
            )
            trainer.fit(classifier(network), train_dataloaders=loader)
            times[setting] += timer.times
    return times


# -- report ---------------------------------------------------------------------------------------
def summary(times: dict[str, list[tuple[float, float]]], paired: bool) -> None:
    for clock, k in (("wall", 0), ("CPU", 1)):
        dense = [t[k] for t in times["dense"]]
        print(f"  {clock} time, median over {len(dense)} steps per setting:")
        for setting in SETTINGS:
            mine = [t[k] for t in times[setting]]
            if paired:  # step i of each setting ran side by side
                ratio = statistics.median(a / b for a, b in zip(mine, dense, strict=True))
            else:
                ratio = statistics.median(mine) / statistics.median(dense)
            q = statistics.quantiles(mine, n=4)
            print(
                f"    {setting:9s} {statistics.median(mine) * 1e3:8.1f} ms "
                f"(IQR {q[0] * 1e3:.1f}-{q[2] * 1e3:.1f})  ratio to dense {ratio:.3f}"
            )
        if "enforce" in times:
            alone = statistics.median(t[k] for t in times["enforce"])
            share = alone / statistics.median(dense)
            print(
                f"    prunelab enforce() alone: {alone * 1e3:.2f} ms = {share:.4f} of a dense step"
            )


def mask_memory(arch: str = "resnet50") -> dict[str, float]:
    """Bytes of the tensors GlobalMagnitudePruning holds, against the network's parameters."""
    network = torchvision_model(arch, num_classes=1000)
    callback, trainer, _ = attached(network, 0.9)
    callback.enforce(trainer)  # builds its per-step cache too
    held: dict[int, int] = {}  # storage address -> bytes: each tensor counted once
    for value in [*callback.masks.values(), *(m for _, m in callback._pairs)]:
        held[value.untyped_storage().data_ptr()] = value.untyped_storage().nbytes()
    params = sum(p.numel() * p.element_size() for p in network.parameters())
    prunable = sum(p.numel() * p.element_size() for p in callback._params.values())
    return {"masks": sum(held.values()), "params": params, "prunable": prunable}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mode", choices=("loop", "trainer"), default="loop")
    parser.add_argument("--steps", type=int, default=30, help="timed steps (per fit: trainer)")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved fits (trainer mode)")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--sparsity", type=float, default=0.9)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")

    print(
        f"ResNet-20, batch {args.batch}, sparsity {args.sparsity}, {args.threads} thread(s), "
        f"mode {args.mode}"
    )
    if args.mode == "loop":
        summary(loop_times(args.steps, args.batch, args.sparsity), paired=True)
    else:
        summary(trainer_times(args.rounds, args.steps, args.batch, args.sparsity), paired=False)
    memory = mask_memory()
    print(
        f"ResNet-50 (torchvision) masks: {memory['masks']:,} bytes; parameters "
        f"{memory['params']:,} bytes, of which prunable {memory['prunable']:,}"
    )
    print(
        f"  masks / parameter memory = {memory['masks'] / memory['params']:.4f}, "
        f"/ prunable parameter memory = {memory['masks'] / memory['prunable']:.4f}"
    )


if __name__ == "__main__":
    main()
