"""2:4 semi-structured linear layers against dense ones on a GPU (the README's N:M figures).

Each (features, batch) pair times `nn.Linear(features, features)` in float16 with 2:4 magnitude
masks (prunelab.pruning.nm), dense with zeros and then compressed by prunelab's
`sparsify_linears` (torch.sparse.to_sparse_semi_structured), with torch.utils.benchmark
(medians of blocked autoranges). Needs a CUDA GPU of compute capability >= 8.0; only torch is
imported (the two prunelab files are loaded by path), so it runs where prunelab's other
dependencies are not installed.

    python benchmarks/semi_structured_speed.py [--sizes 8192:8192 4096:4096 4096:16384 4096:256]
"""

import argparse
import importlib.util
from pathlib import Path

import torch
from torch import nn
from torch.utils import benchmark

ROOT = Path(__file__).resolve().parents[1] / "prunelab"


def _load(relative: str):
    spec = importlib.util.spec_from_file_location(relative.replace("/", "_"), ROOT / relative)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _median_us(layer: nn.Module, x: torch.Tensor) -> float:
    timer = benchmark.Timer("layer(x)", globals={"layer": layer, "x": x})
    return 1e6 * timer.blocked_autorange(min_run_time=1.0).median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", nargs="+", default=["8192:8192", "4096:4096", "4096:16384", "4096:256"]
    )
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("semi_structured_speed: needs a CUDA GPU (compute capability >= 8.0)")
    nm, semi = _load("pruning/nm.py"), _load("export/semi_structured.py")
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}, float16")
    print(f"{'features':>8} {'batch':>6} {'dense us':>10} {'2:4 us':>10} {'speedup':>8}")
    torch.manual_seed(0)
    for size in args.sizes:
        features, batch = (int(v) for v in size.split(":"))
        layer = nn.Linear(features, features).half().cuda().eval()
        weight = {"w": layer.weight.detach()}
        mask = nm.nm_masks(
            {"w": weight["w"].abs()}, {"w": torch.ones_like(weight["w"], dtype=torch.bool)}, "2:4"
        )["w"]
        with torch.no_grad():
            layer.weight.mul_(mask)
        x = torch.randn(batch, features, dtype=torch.float16, device="cuda")
        with torch.inference_mode():
            dense = _median_us(layer, x)
            report = semi.sparsify_linears(nn.Sequential(layer))
            if report.get("0") != "2:4":
                print(f"{features:>8} {batch:>6} {dense:>10.1f}  stays dense: {report.get('0')}")
                continue
            sparse = _median_us(layer, x)
        print(f"{features:>8} {batch:>6} {dense:>10.1f} {sparse:>10.1f} {dense / sparse:>8.2f}")


if __name__ == "__main__":
    main()
