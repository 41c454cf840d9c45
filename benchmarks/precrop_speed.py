"""Measured CPU speed of PreCropping: dense vs precropped ResNet-20 and VGG-16, side by side.

For each model, the dense network and its PreCropping narrow version (density 0.1 of the prunable
weights, the callback's default `snip` source, scored here on two batches of the embedded CIFAR-10
set) are timed on the same random batch of 128 32x32 images: inference (eval mode, no grad, one
forward)
and one training step (forward, cross-entropy, backward, SGD momentum step). Repetitions are
interleaved (dense, cropped, dense, ...) after a warm-up, so load from other processes hits both
alike; each figure is the median over repetitions.

`blk red.` is the MAC reduction once every layer's input and output channels are rounded up to
whole blocks of `--block` channels (16 fp32 lanes of an AVX-512 vector; 8 on AVX2): CPU kernels
vectorise over channels, so 9 channels cost as much as 16, and this is the reduction the vector
units can turn into time. It explains a low efficiency, it does not replace the MAC reduction.

The last line aggregates over models: `speedup` is the median over models of the training-step
speedup (dense time / cropped time), `mac_reduction` the median over models of dense MACs /
cropped MACs (Torch-Pruning's op counter, as results.json reports), `efficiency` their ratio.

    OMP_NUM_THREADS=1 python benchmarks/precrop_speed.py --reps 7
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from prunelab.counting import count_macs
from prunelab.data import MiniCIFAR10DataModule
from prunelab.models import resnet20, vgg16
from prunelab.pruning.channels import apply_plan
from prunelab.pruning.precrop import precrop_plan, reinit_

MODELS: dict[str, Callable[[], nn.Module]] = {"resnet20": resnet20, "vgg16": vgg16}
SHAPE = (3, 32, 32)


def snip_batches(count: int = 2, batch_size: int = 128) -> list:
    data = MiniCIFAR10DataModule(batch_size=batch_size)
    data.setup("fit")
    loader = iter(data.train_dataloader())
    return [next(loader) for _ in range(count)]


def precropped(build: Callable[[], nn.Module], args, batches) -> nn.Module:
    network = build()
    plan = precrop_plan(
        network, SHAPE, args.density, args.source, multiple=args.multiple, batches=batches
    )
    return reinit_(apply_plan(network, plan))


def blocked_macs(network: nn.Module, block: int) -> int:
    """Conv and linear MACs per image with channel counts rounded up to multiples of `block`."""
    total = 0

    def up(channels: int) -> int:
        return math.ceil(channels / block) * block

    def count(module: nn.Module, _inputs, output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Conv2d):
            kernel = module.kernel_size[0] * module.kernel_size[1] // module.groups
            positions = output.shape[-1] * output.shape[-2]
            total += up(module.in_channels) * up(module.out_channels) * kernel * positions
        elif isinstance(module, nn.Linear):
            total += up(module.in_features) * up(module.out_features)

    hooks = [m.register_forward_hook(count) for m in network.modules()]
    try:
        with torch.no_grad():
            network.eval()(torch.zeros(1, *SHAPE))
    finally:
        for hook in hooks:
            hook.remove()
    return total


def timers(network: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, Callable[[], None]]:
    optimizer = torch.optim.SGD(network.parameters(), lr=0.01, momentum=0.9)

    def infer() -> None:
        network.eval()
        with torch.no_grad():
            network(x)

    def train() -> None:
        network.train()
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(network(x), y).backward()
        optimizer.step()

    return {"infer": infer, "train": train}


def seconds(fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure(dense: nn.Module, cropped: nn.Module, args) -> dict:
    """Median seconds of each (variant, kind), repetitions interleaved."""
    torch.manual_seed(0)
    x, y = torch.randn(args.batch, *SHAPE), torch.randint(0, 10, (args.batch,))
    if args.channels_last:  # both variants alike: oneDNN's preferred layout on CPU
        x = x.contiguous(memory_format=torch.channels_last)
        for network in (dense, cropped):
            network.to(memory_format=torch.channels_last)
    runs = {"dense": timers(dense, x, y), "cropped": timers(cropped, x, y)}
    times: dict[tuple[str, str], list[float]] = {}
    for rep in range(args.warmup + args.reps):
        for kind in ("infer", "train"):
            for variant, fns in runs.items():
                t = seconds(fns[kind])
                if rep >= args.warmup:
                    times.setdefault((variant, kind), []).append(t)
    return {key: statistics.median(ts) for key, ts in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--density", type=float, default=0.1)
    parser.add_argument("--source", default="snip")
    parser.add_argument("--multiple", type=int, default=1, help="channel counts' multiple")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--channels-last", action="store_true", help="NHWC for both variants")
    parser.add_argument("--block", type=int, default=16, help="channels per SIMD vector")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    batches = snip_batches() if args.source == "snip" else ()
    print(f"density={args.density} source={args.source} multiple={args.multiple} "
          f"batch={args.batch} reps={args.reps} threads={args.threads} "
          f"channels_last={args.channels_last} torch={torch.__version__}")  # fmt: skip
    header = f"{'model':10} {'kind':6} {'dense ms':>10} {'cropped ms':>11} {'speedup':>8}"
    print(
        f"{header} {'MACs dense':>12} {'MACs cropped':>13} {'MAC red.':>9} {'eff.':>6} "
        f"{'blk red.':>9}"
    )
    train_speedups, reductions = [], []
    for name, build in MODELS.items():
        torch.manual_seed(0)
        dense = build()
        cropped = precropped(build, args, batches)
        macs_dense, _ = count_macs(dense, SHAPE)
        macs_cropped, _ = count_macs(cropped, SHAPE)
        reduction = macs_dense / macs_cropped
        blocked = blocked_macs(dense, args.block) / blocked_macs(cropped, args.block)
        medians = measure(dense, cropped, args)
        for kind in ("infer", "train"):
            d, c = medians[("dense", kind)], medians[("cropped", kind)]
            print(
                f"{name:10} {kind:6} {1e3 * d:10.1f} {1e3 * c:11.1f} {d / c:8.2f} "
                f"{macs_dense:12,} {macs_cropped:13,} {reduction:9.2f} {d / c / reduction:6.2f} "
                f"{blocked:9.2f}"
            )
        train_speedups.append(medians[("dense", "train")] / medians[("cropped", "train")])
        reductions.append(reduction)
    speedup, reduction = statistics.median(train_speedups), statistics.median(reductions)
    print(
        f"speedup={speedup:.3f} mac_reduction={reduction:.3f} efficiency={speedup / reduction:.3f}"
    )


if __name__ == "__main__":
    main()
