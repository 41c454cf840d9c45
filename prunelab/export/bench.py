"""`prunelab-bench`: inference latency and throughput of a checkpoint's network in each form.

Forms, all in eval mode without gradients on one device:
- `dense`: the full-width network of the checkpoint's model config (what pruning started from;
  its weights do not matter for speed);
- `checkpoint`: the network as restored (masks baked in: dense width for unstructured pruning,
  the narrow network of a PreCropping run);
- `compact`: the checkpoint with its dead channels removed (`prunelab.export.compact`);
- `onnx`: the checkpoint as `prunelab-export format=onnx` writes it, run by onnxruntime on the
  CPU (`prunelab.export.bench_onnx`; sized like `checkpoint`, which it was exported from).

Each (form, batch size) is timed with `torch.utils.benchmark.Timer` after a warm-up, `repeats`
times, the forms interleaved in every repetition so that load from other processes hits them
alike; reported are the median and the interquartile range of the per-call seconds, and the
throughput (images/s) of the median. Beside them: parameters, MACs of one image (Torch-Pruning's
counter), the MAC reduction against `dense`, and the measured speedup against `dense`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn
from torch.utils import benchmark

from prunelab.counting import count_macs
from prunelab.export.checkpoint import Checkpoint, fresh_network, restore_network
from prunelab.export.compact import compact

BLOCK_SECONDS = 0.05  # each repetition runs the network this long at least (calls averaged)


def forms(ckpt: Checkpoint, input_shape: Sequence[int], multiple: int = 1) -> dict[str, nn.Module]:
    """The networks to time, by form name (module docstring), in eval mode; `multiple`: the
    compact form keeps whole blocks of this many channels (`prunelab.export.compact.removable`)."""
    restored = restore_network(ckpt)
    dense = fresh_network(ckpt.config["model"], f"ckpt_path={ckpt.path}").eval()
    small, _, _ = compact(restored, input_shape, multiple)
    return {"dense": dense, "checkpoint": restored, "compact": small}


def prepare(network: nn.Module, device: torch.device, channels_last: bool, fuse_bn: bool):
    """The network as it will be timed: on `device`, optionally with BatchNorm folded into the
    convs before it (torch.fx, exact in eval mode up to rounding) and in NHWC layout."""
    network = network.eval().to(device)
    if fuse_bn:
        from torch.fx.experimental.optimization import fuse

        network = fuse(network)
    if channels_last:
        network = network.to(memory_format=torch.channels_last)
    return network


def _timer(network: nn.Module, images: torch.Tensor, threads: int) -> benchmark.Timer:
    return benchmark.Timer(
        stmt="with torch.no_grad(): network(images)",
        globals={"network": network, "images": images, "torch": torch},
        num_threads=threads,
    )


def _calls_per_block(timer: benchmark.Timer, warmup: int) -> int:
    """Run the warm-up calls and return how many calls fill one BLOCK_SECONDS repetition."""
    start = time.perf_counter()
    timer.timeit(max(1, warmup))
    per_call = (time.perf_counter() - start) / max(1, warmup)
    return max(1, round(BLOCK_SECONDS / max(per_call, 1e-9)))


def time_forms(
    networks: Mapping[str, nn.Module],
    input_shape: Sequence[int],
    batch_size: int,
    repeats: int,
    warmup: int,
    threads: int,
    device: torch.device,
    channels_last: bool = False,
) -> dict[str, benchmark.Measurement]:
    """One merged Measurement per form at `batch_size` (`repeats` blocks, interleaved)."""
    images = torch.randn((batch_size, *input_shape), generator=torch.Generator().manual_seed(0))
    images = images.to(device)
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    timers = {name: _timer(net, images, threads) for name, net in networks.items()}
    number = {name: _calls_per_block(t, warmup) for name, t in timers.items()}
    runs: dict[str, list[benchmark.Measurement]] = {name: [] for name in timers}
    for _ in range(repeats):
        for name, timer in timers.items():
            runs[name].append(timer.timeit(number[name]))
    return {name: benchmark.Measurement.merge(ms)[0] for name, ms in runs.items()}


def summary(
    networks: Mapping[str, nn.Module],
    measured: Mapping[int, Mapping[str, benchmark.Measurement]],
    input_shape: Sequence[int],
) -> dict[str, Any]:
    """bench.json's `forms`: per form its size, MACs and per batch size its timings."""
    macs = {name: count_macs(net, tuple(input_shape)) for name, net in networks.items()}
    dense_macs = macs["dense"][0]
    out: dict[str, Any] = {}
    for name, network in networks.items():
        entry: dict[str, Any] = {
            "params": sum(p.numel() for p in network.parameters()),
            "macs": macs[name][0],
            "nonzero_macs": macs[name][1],
            "mac_reduction": dense_macs / macs[name][0],
            "batches": {},
        }
        for batch, by_form in measured.items():
            m, base = by_form[name], by_form["dense"]
            entry["batches"][str(batch)] = {
                "latency_ms": 1e3 * m.median,
                "latency_iqr_ms": 1e3 * m.iqr,
                "throughput": batch / m.median,
                "speedup": base.median / m.median,
                "repeats": len(m.times),
                "calls_per_repeat": m.number_per_run,
            }
        out[name] = entry
    return out
