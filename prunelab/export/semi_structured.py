"""2:4 linear layers on NVIDIA sparse tensor cores (`torch.sparse.to_sparse_semi_structured`).

What holds where (for a network pruned with `pruning.pattern=2:4`, `prunelab.pruning.nm`):
- `nn.Linear` on a CUDA GPU of compute capability >= 8.0, in float16 or bfloat16, within torch's
  shape limits (float16: output rows a multiple of 32, inputs of 64; others are reported, not
  converted): the weight is compressed to its 2:4 form (the kept values + their positions) and
  the layer's matmul runs the semi-structured kernel (cuSPARSELt on an H200). Inference only: the
  compressed weight takes no gradient. It pays only for large layers: on one H200, 8192x8192 at
  batch 8192 ran 1.39x faster than dense, 4096x4096 slower (README, N:M sparsity).
- Convolutions: PyTorch has no semi-structured conv kernel, so conv weights stay dense tensors
  with zeros (the 2:4 pattern holds in them, along input channels as NVIDIA's ASP lays it out,
  but nothing here runs faster for it).
- CPU: no kernel accelerates 2:4; every layer stays dense and the report says so.
`sparsify_linears` converts what can be converted and names, per layer, why the rest stays dense.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

CPU_REASON = "dense: no CPU kernel accelerates 2:4"
MIN_CAPABILITY = (8, 0)  # Ampere: the first sparse tensor cores


def two_four(weight: torch.Tensor) -> bool:
    """True when every group of 4 consecutive inputs of each output holds at most 2 nonzeros."""
    if weight.dim() != 2 or weight.shape[1] % 4:
        return False
    return bool(((weight != 0).reshape(-1, 4).sum(dim=1) <= 2).all())


def _why_dense(weight: torch.Tensor) -> str | None:
    """Why this linear weight cannot run on the 2:4 kernel; None = it can."""
    if not weight.is_cuda:
        return CPU_REASON
    capability = torch.cuda.get_device_capability(weight.device)
    if capability < MIN_CAPABILITY:
        return f"dense: GPU compute capability {capability[0]}.{capability[1]} < 8.0"
    if not two_four(weight):
        return "dense: not 2:4 (a group of 4 inputs holds more than 2 nonzeros)"
    return None


GPU_NOTE = (
    "on a CUDA GPU of compute capability >= 8.0, 2:4 linear layers (float16/bfloat16, within "
    "torch's shape limits) run torch.sparse.to_sparse_semi_structured's kernel "
    "(prunelab.export.semi_structured.sparsify_linears); convolutions have no semi-structured "
    "kernel and stay dense with zeros"
)


def nm_pattern(config: Mapping[str, Any]) -> str | None:
    """The N:M pattern a run config prunes with (`pattern` anywhere under `pruning`), or None."""
    stack = [config.get("pruning")]
    while stack:
        node = stack.pop()
        if isinstance(node, Mapping):
            if node.get("pattern"):
                return str(node["pattern"])
            stack.extend(node.values())
        elif isinstance(node, (list, tuple)):
            stack.extend(node)
    return None


def bench_note(pattern: str, device: torch.device) -> dict[str, str]:
    """What `prunelab-bench` measures of an N:M checkpoint on `device`, said plainly."""
    cpu = (
        f"no CPU kernel accelerates {pattern}: every form is benchmarked as dense tensors with "
        "zeros, so its speedup is that of dense weights"
    )
    two_four = pattern.replace(" ", "") == "2:4"
    gpu = GPU_NOTE if two_four else f"no GPU kernel runs {pattern} (torch's kernel is 2:4 only)"
    if device.type == "cpu":
        return {"pattern": pattern, "measured": cpu, "gpu": gpu}
    measured = (
        f"{pattern} timed as dense tensors with zeros in float32 on {device}: the semi-structured "
        "kernel needs float16/bfloat16 weights compressed by sparsify_linears (export step)"
    )
    return {"pattern": pattern, "measured": measured, "cpu": cpu, "gpu": gpu}


@torch.no_grad()
def sparsify_linears(network: nn.Module) -> dict[str, str]:
    """Compress, in place, the weight of every `nn.Linear` that can run on the 2:4 kernel.

    Returns:
        Linear module name -> `"2:4"` (converted) or the reason it stays dense (CPU, an old GPU,
        not 2:4, a dtype or shape torch's kernels refuse).
    """
    from torch.sparse import to_sparse_semi_structured

    report = {}
    for name, module in network.named_modules():
        if not isinstance(module, nn.Linear):
            continue
        reason = _why_dense(module.weight)
        if reason is None:
            try:
                compressed = to_sparse_semi_structured(module.weight.detach().contiguous())
            except RuntimeError as exc:  # dtype or shape outside the kernels' limits
                reason = "dense: " + str(exc).strip().splitlines()[0]
            else:
                module.weight = nn.Parameter(compressed, requires_grad=False)
        report[name] = reason or "2:4"
    return report
