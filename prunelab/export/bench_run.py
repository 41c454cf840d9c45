"""`prunelab-bench`'s job: time a checkpoint's forms (`prunelab.export.bench`), write bench.json,
print the table."""

from __future__ import annotations

import json
import platform
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.table import Table

from prunelab.atomic import write_text
from prunelab.errors import ConfigError
from prunelab.export.bench import forms, prepare, summary, time_forms
from prunelab.export.bench_onnx import OnnxSession, onnx_form
from prunelab.export.checkpoint import read_checkpoint
from prunelab.export.compact_export import input_shape
from prunelab.export.semi_structured import bench_note, nm_pattern
from prunelab.plotting.titles import model_name


def bench_device(requested: str | None, run_config: Mapping[str, Any]) -> torch.device:
    """`device=cpu|cuda`, or null: the run's (its trainer's accelerator, if this machine has it).

    Raises:
        ConfigError: an unknown device, or cuda asked for on a machine without it.
    """
    if requested is None:
        accelerator = str((run_config.get("trainer") or {}).get("accelerator", "auto"))
        wants_gpu = accelerator in ("auto", "gpu", "cuda")
        requested = "cuda" if wants_gpu and torch.cuda.is_available() else "cpu"
    if requested not in ("cpu", "cuda"):
        raise ConfigError(f"device={requested} is not one of cpu, cuda (or null: the run's)")
    if requested == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device=cuda but this machine has no CUDA device")
    return torch.device(requested)


def _batch_sizes(cfg: DictConfig) -> list[int]:
    sizes = list(cfg.batch_sizes)
    if not sizes or not all(isinstance(b, int) and b >= 1 for b in sizes):
        raise ConfigError(f"batch_sizes={sizes} must be a list of positive ints, e.g. [1,64]")
    if not isinstance(cfg.repeats, int) or cfg.repeats < 2:
        raise ConfigError(f"repeats={cfg.repeats} must be an int >= 2 (medians need repeats)")
    return sizes


def print_bench(record: Mapping[str, Any], console: Console | None = None) -> None:
    """One row per (form, batch size): latency (median, IQR), throughput, speedup, MAC reduction."""
    table = Table(title=f"bench  {record['ckpt_path']}  ({record['device']})")
    for column in ("form", "batch", "ms (median)", "IQR ms", "img/s", "speedup", "MAC red."):
        table.add_column(column, justify="left" if column == "form" else "right")
    for name, entry in record["forms"].items():
        for batch, t in entry["batches"].items():
            table.add_row(
                name,
                batch,
                f"{t['latency_ms']:.2f}",
                f"{t['latency_iqr_ms']:.2f}",
                f"{t['throughput']:.1f}",
                f"{t['speedup']:.2f}",
                f"{entry['mac_reduction']:.2f}",
            )
    console = console or Console()
    console.print(table)
    for key, text in record.get("nm", {}).items():
        if key != "pattern":
            console.print(f"{record['nm']['pattern']} sparsity, {key}: {text}")
    if "skipped" in record.get("onnx", {}):
        console.print(f"onnx form not timed: {record['onnx']['skipped']}")


def _onnx(
    cfg: DictConfig, network, shape, run_dir: Path, threads: int, device: torch.device
) -> tuple[OnnxSession | None, dict[str, Any]]:
    """The `onnx` form (`prunelab.export.bench_onnx`) and bench.json's `onnx` entry; None and
    the reason where it is not timed (`onnx=false`, a CUDA device, onnxruntime missing)."""
    if not cfg.get("onnx", True):
        return None, {"skipped": "onnx=false"}
    if device.type != "cpu":
        return None, {"skipped": f"onnxruntime runs on the CPU here, the bench on {device}"}
    try:
        return onnx_form(network, shape, run_dir, threads)
    except ImportError as exc:
        return None, {"skipped": str(exc)}


def bench(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """Time `cfg.ckpt_path`'s forms; returns the record written to `<run_dir>/bench.json`.

    Raises:
        ConfigError: bad batch sizes, repeats or device.
        CheckpointError: the checkpoint cannot be read or rebuilt.
    """
    sizes = _batch_sizes(cfg)
    ckpt = read_checkpoint(cfg.ckpt_path)
    device = bench_device(cfg.get("device"), ckpt.config)
    shape = input_shape(ckpt, cfg.get("input_size"))
    threads = int(cfg.threads or torch.get_num_threads())
    torch.set_num_threads(threads)
    networks = forms(ckpt, shape, int(cfg.multiple))
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    onnx, onnx_info = _onnx(cfg, networks["checkpoint"], shape, run_dir, threads, device)
    timed = {n: prepare(m, device, cfg.channels_last, cfg.fuse_bn) for n, m in networks.items()}
    if onnx is not None:  # sized by the network it was exported from
        timed["onnx"], networks = onnx, {**networks, "onnx": networks["checkpoint"]}
    measured = {
        b: time_forms(timed, shape, b, cfg.repeats, cfg.warmup, threads, device, cfg.channels_last)
        for b in sizes
    }
    pattern = nm_pattern(ckpt.config)
    record = {
        "ckpt_path": str(ckpt.path),
        "model": model_name(ckpt.config),
        "device": str(device),
        "cpu": platform.processor() or platform.machine(),
        "threads": threads,
        "torch": torch.__version__,
        "input_shape": list(shape),
        "channels_last": bool(cfg.channels_last),
        "fuse_bn": bool(cfg.fuse_bn),
        "multiple": int(cfg.multiple),
        "forms": summary(networks, measured, shape),
        "onnx": onnx_info,
    }
    if pattern is not None:
        record["nm"] = bench_note(pattern, device)
    write_text(run_dir / "bench.json", json.dumps(record, indent=2) + "\n")
    print_bench(record)
    return record


def bench_finished_run(run_dir: Path) -> dict[str, float]:
    """`bench=true` of a training run: time its last checkpoint's forms with conf/bench.yaml's
    settings, write bench.json beside results.json and its figure as plots/bench.png
    (`prunelab.export.bench_figure`), and return the figures for results.json,
    `bench/<form>/speedup@<batch>` and `bench/<form>/ms@<batch>` (median latency)."""
    from prunelab.config import config_dir
    from prunelab.export.bench_figure import save_speed_figure

    settings = OmegaConf.load(config_dir() / "bench.yaml")
    for key in ("defaults", "hydra"):
        settings.pop(key, None)
    settings.ckpt_path = str(Path(run_dir) / "checkpoints" / "last.ckpt")
    threads = torch.get_num_threads()
    try:
        record = bench(settings, run_dir)
    finally:
        torch.set_num_threads(threads)  # the run's own setting, for whatever follows
    save_speed_figure(record, Path(run_dir) / "plots")
    figures: dict[str, float] = {}
    for form, entry in record["forms"].items():
        for batch, timing in entry["batches"].items():
            figures[f"bench/{form}/speedup@{batch}"] = timing["speedup"]
            figures[f"bench/{form}/ms@{batch}"] = timing["latency_ms"]
    return figures
