"""2:4 linear layers on the semi-structured kernel: converted only where a GPU kernel exists (the
same outputs as the dense 2:4 weights), left dense with the reason named everywhere else."""

import pytest
import torch
from torch import nn

from prunelab.export.semi_structured import CPU_REASON, sparsify_linears, two_four
from prunelab.pruning.masks import apply_masks, ones_masks
from prunelab.pruning.nm import nm_masks

CUDA = torch.cuda.is_available() and torch.cuda.get_device_capability() >= (8, 0)


def pruned_2_4(network: nn.Module, names: list[str]) -> None:
    """Prune the named weights 2:4 by magnitude (as `pruning.pattern=2:4` does)."""
    params = {n: p for n, p in network.named_parameters() if n in names}
    masks = nm_masks({n: p.abs() for n, p in params.items()}, ones_masks(params), "2:4")
    apply_masks(params, masks)


def network() -> nn.Sequential:
    torch.manual_seed(0)
    layers = [nn.Linear(128, 256), nn.ReLU(), nn.Linear(256, 128), nn.Linear(128, 64)]
    return nn.Sequential(*layers, nn.ReLU(), nn.Linear(64, 8))


def test_the_pattern_check_counts_nonzeros_per_group_of_four():
    assert two_four(torch.tensor([[1.0, 0, 2, 0, 0, 0, 0, 3]]))
    assert not two_four(torch.tensor([[1.0, 1, 2, 0, 0, 0, 0, 3]]))
    assert not two_four(torch.ones(2, 6))  # 6 inputs: no groups of 4


def test_on_cpu_every_linear_stays_dense_and_says_why():
    net = network()
    pruned_2_4(net, ["0.weight", "2.weight", "5.weight"])
    before = {n: p.clone() for n, p in net.state_dict().items()}
    assert sparsify_linears(net) == dict.fromkeys(["0", "2", "3", "5"], CPU_REASON)
    assert all(torch.equal(before[n], p) for n, p in net.state_dict().items())


@pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU with sparse tensor cores (sm >= 80)")
def test_on_a_gpu_2_4_linears_run_the_sparse_kernel_with_the_dense_outputs():
    from torch.sparse import SparseSemiStructuredTensor

    net = network()
    pruned_2_4(net, ["0.weight", "2.weight", "5.weight"])  # 3 stays dense; 5 has too few rows
    net = net.half().cuda().eval()
    images = torch.randn(64, 128, device="cuda", dtype=torch.half)
    with torch.no_grad():
        expected = net(images)
    report = sparsify_linears(net)
    assert report["0"] == report["2"] == "2:4"
    assert report["3"].startswith("dense: not 2:4")
    assert report["5"].startswith("dense: ") and "shape" in report["5"]  # 8 outputs < 32
    assert isinstance(net[0].weight, SparseSemiStructuredTensor)
    with torch.no_grad():
        got = net(images)
    torch.testing.assert_close(got, expected, rtol=1e-2, atol=1e-2)
