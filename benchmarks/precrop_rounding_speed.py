"""What PreCropping's channel rounding (`pruning.multiple`) costs in accuracy and gains in speed.

Trains ResNet-20 with `pruning=precrop` at one density on the embedded CIFAR-10 mini set, once per
(multiple, seed), each run a `prunelab` subprocess as a user would start it (1 thread), then times
its final checkpoint with `prunelab-bench` (the narrow network against the dense width). One row
per run and a mean per multiple: test accuracy, parameters and MACs kept, measured speedup.
A short budget (a few epochs): the accuracies compare the two roundings at equal training, they
are not the method's converged accuracy.

    OMP_NUM_THREADS=1 python benchmarks/precrop_rounding_speed.py [--epochs 6] [--seeds 0 1]
        [--multiples 1 8] [--density 0.1] [--model resnet20] [--out runs/precrop_rounding]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

COLUMNS = ("multiple", "seed", "test acc", "params kept", "MACs kept", "MAC red.", "speedup")


def _run(argv: list[str]) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    done = subprocess.run([sys.executable, *argv], env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"precrop_rounding_speed: {' '.join(argv)} failed:\n{done.stderr[-3000:]}")


def one_run(args: argparse.Namespace, multiple: int, seed: int) -> dict[str, float]:
    """Train one (multiple, seed), bench its checkpoint at `args.batch`; the row's figures."""
    run_dir = Path(args.out) / f"m{multiple}_s{seed}"
    _run(["-m", "prunelab", f"model={args.model}", "pruning=precrop", "trainer=cpu",
          f"pruning.density={args.density}", f"pruning.multiple={multiple}", f"seed={seed}",
          f"trainer.max_epochs={args.epochs}", "trainer.progress_bar=false",
          "trainer.enable_model_summary=false", "logger=csv", "overwrite=true",
          f"hydra.run.dir={run_dir}"])  # fmt: skip
    results = json.loads((run_dir / "results.json").read_text())
    bench_dir = run_dir / "bench"
    _run(["-m", "prunelab.export.bench_cli", f"ckpt_path={run_dir / 'checkpoints' / 'last.ckpt'}",
          f"batch_sizes=[{args.batch}]", "repeats=7", "threads=1", "device=cpu",
          "channels_last=true", f"hydra.run.dir={bench_dir}"])  # fmt: skip
    timed = json.loads((bench_dir / "bench.json").read_text())["forms"]["checkpoint"]
    return {
        "multiple": multiple,
        "seed": seed,
        "test acc": results["test/acc"],
        "params kept": results["precrop/params_kept"],
        "MACs kept": results["precrop/macs_kept"],
        "MAC red.": timed["mac_reduction"],
        "speedup": timed["batches"][str(args.batch)]["speedup"],
    }


def _line(row: dict) -> str:
    cells = [f"{row[c]:>{len(c)}}" for c in COLUMNS[:2]]
    cells += [f"{row[c]:>{max(len(c), 7)}.4f}" for c in COLUMNS[2:]]
    return "  ".join(cells)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet20")
    parser.add_argument("--density", type=float, default=0.1)
    parser.add_argument("--multiples", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--out", default="runs/precrop_rounding")
    args = parser.parse_args()
    print(f"model={args.model} density={args.density} epochs={args.epochs} data=cifar10_mini "
          f"bench: batch={args.batch} threads=1 channels_last=true repeats=7")  # fmt: skip
    print("  ".join(f"{c:>{len(c) if i < 2 else max(len(c), 7)}}" for i, c in enumerate(COLUMNS)))
    rows = []
    for multiple in args.multiples:
        for seed in args.seeds:
            rows.append(one_run(args, multiple, seed))
            print(_line(rows[-1]), flush=True)
    for multiple in args.multiples:
        mine = [r for r in rows if r["multiple"] == multiple]
        mean = {c: statistics.mean(r[c] for r in mine) for c in COLUMNS[2:]}
        print(f"mean multiple={multiple}: " + " ".join(f"{c.replace(' ', '_')}={v:.4f}"
                                                      for c, v in mean.items()))  # fmt: skip


if __name__ == "__main__":
    main()
