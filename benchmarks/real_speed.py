"""Measured CPU inference speed of pruned ResNet-20 and VGG-16 in every form, beside MACs.

Forms per model (all eval mode, no grad, timed by `prunelab.export.bench` with
torch.utils.benchmark: warm-up, `--reps` repetitions interleaved across forms, median):
- `dense`: the fresh full-width network;
- `gmp90`: global magnitude pruning of the conv weights to 90% sparsity, masks baked in (dense
  width: what a masked checkpoint runs at);
- `compact`: `gmp90` with its dead channels removed (`prunelab.export.compact`, exact);
- `precrop`: PreCropping at density 0.1 (snip source on two batches of the embedded CIFAR-10).

Without trained checkpoints the masks come from a fresh network. Global magnitude on a fresh
network leaves almost no channel dead (every filter keeps some of its many weights), so the
`--spread S` option first multiplies each conv filter by a log-normal factor exp(S * N(0, 1)) (as
training spreads filter norms and lets some filters die) and draws BatchNorm shifts N(0, 0.5^2),
then calibrates BN statistics on random batches. The masks, not their values, set the speed.
`mac red.` is dense MACs / the form's MACs, `eff.` = speedup / mac red.; `blk red.` the MAC
reduction with channel counts rounded up to blocks of 16 (see precrop_speed.py).

    OMP_NUM_THREADS=1 python benchmarks/real_speed.py --spread 2 [--channels-last] [--fuse-bn]
        [--multiple 16] [--profile 64]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch
from precrop_speed import blocked_macs, precropped, snip_batches
from torch import nn

from prunelab.export.bench import prepare, summary, time_forms
from prunelab.export.compact import compact
from prunelab.models import resnet20, vgg16

MODELS: dict[str, Callable[[], nn.Module]] = {"resnet20": resnet20, "vgg16": vgg16}
SHAPE = (3, 32, 32)


@torch.no_grad()
def gmp(network: nn.Module, sparsity: float, spread: float) -> nn.Module:
    """Global magnitude pruning of the convs (see the module docstring for `spread`)."""
    convs = [m for m in network.modules() if isinstance(m, nn.Conv2d)]
    if spread:
        for conv in convs:
            conv.weight.mul_((spread * torch.randn(conv.out_channels, 1, 1, 1)).exp())
        for m in network.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.bias.normal_(0, 0.5)
    scores = torch.cat([c.weight.abs().flatten() for c in convs])
    threshold = scores.kthvalue(int(sparsity * scores.numel())).values
    for conv in convs:
        conv.weight.masked_fill_(conv.weight.abs() <= threshold, 0)
    for m in network.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = None
            m.reset_running_stats()
    network.train()
    for _ in range(2):
        network(torch.randn(32, *SHAPE))
    return network.eval()


@torch.no_grad()
def profile(
    networks: dict[str, nn.Module], batch: int, channels_last: bool, calls: int = 3
) -> None:
    """Self CPU ms per call of each aten op, per form (torch.profiler), the biggest ops first."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    images = torch.randn(batch, *SHAPE)
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    per_form: dict[str, dict[str, float]] = {}
    for form, network in networks.items():
        network(images)  # warm-up: oneDNN primitive creation
        with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(calls):
                network(images)
        per_form[form] = {e.key: e.self_cpu_time_total / 1e3 / calls for e in prof.key_averages()}
    ops = sorted(per_form["dense"], key=per_form["dense"].get, reverse=True)[:8]
    print(f"profile batch={batch}: self CPU ms per call  " + "  ".join(f"{f:>9}" for f in per_form))
    for op in ops:
        print(f"  {op:40} " + "  ".join(f"{t.get(op, 0.0):9.2f}" for t in per_form.values()))
    print(f"  {'total':40} " + "  ".join(f"{sum(t.values()):9.2f}" for t in per_form.values()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--spread", type=float, default=2.0)
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--fuse-bn", action="store_true")
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--multiple", type=int, default=1, help="compact: keep blocks of N")
    parser.add_argument("--profile", type=int, default=0, help="per-op profile at this batch")
    args = parser.parse_args()
    torch.set_num_threads(1)
    crop_args = argparse.Namespace(density=0.1, source="snip", multiple=1)
    batches = snip_batches()
    print(f"spread={args.spread} multiple={args.multiple} reps={args.reps} threads=1 "
          f"channels_last={args.channels_last} fuse_bn={args.fuse_bn} "
          f"torch={torch.__version__}")  # fmt: skip
    print(f"{'model':9} {'form':8} {'batch':>5} {'ms':>9} {'IQR':>6} {'img/s':>8} "
          f"{'speedup':>7} {'mac red.':>8} {'eff.':>5} {'blk red.':>8}")  # fmt: skip
    for name in args.models:
        torch.manual_seed(0)
        masked = gmp(MODELS[name](), 0.9, args.spread)
        small, removal, _ = compact(masked, SHAPE, args.multiple)
        torch.manual_seed(0)
        networks = {
            "dense": MODELS[name]().eval(),
            "gmp90": masked,
            "compact": small,
            "precrop": precropped(MODELS[name], crop_args, batches).eval(),
        }
        blocked = {n: blocked_macs(m, 16) for n, m in networks.items()}
        timed = {
            n: prepare(m, "cpu", args.channels_last, args.fuse_bn) for n, m in networks.items()
        }
        measured = {
            b: time_forms(timed, SHAPE, b, args.reps, args.warmup, 1, "cpu", args.channels_last)
            for b in args.batch
        }
        for form, entry in summary(networks, measured, SHAPE).items():
            for batch, t in entry["batches"].items():
                red = entry["mac_reduction"]
                print(
                    f"{name:9} {form:8} {batch:>5} {t['latency_ms']:9.2f} "
                    f"{t['latency_iqr_ms']:6.2f} {t['throughput']:8.1f} {t['speedup']:7.2f} "
                    f"{red:8.2f} {t['speedup'] / red:5.2f} {blocked['dense'] / blocked[form]:8.2f}"
                )
        print(f"{name}: compact removed {removal.count} channels")
        if args.profile:
            profile(timed, args.profile, args.channels_last)


if __name__ == "__main__":
    main()
