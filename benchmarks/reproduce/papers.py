"""The papers' own figures at full scale, quoted as ALGORITHMS.md (the method specification)
gives them.

These are the only numbers in docs/reproduction.md that no run of ours produced; the document
prints them under "papers (full scale)" with their source. `(check)` marks figures ALGORITHMS.md
itself flags as recalled from the paper rather than read from code or a table.
"""

from __future__ import annotations

PAPERS: dict[int, list[tuple[str, str]]] = {
    1: [
        (
            "Frankle et al. 2020 (Linear Mode Connectivity), Table 1 (check): CIFAR-10 ResNet-20, "
            "160 epochs per level",
            "dense 91.7%; smallest density at which IMP with late rewinding still matches dense: "
            "16.8%",
        ),
        (
            "Frankle & Carbin 2019",
            "ResNet-20 at lr 0.1 rewound to initialization (k = 0) finds no winning ticket",
        ),
    ],
    2: [
        (
            "Gupta et al. 2022 (GlobalMP), ImageNet ResNet-50 from a 77.04% dense model",
            "80% -> 76.84, 90% -> 75.44, 95.3% -> 71.63, 98.05% -> 62.12 (with MT: 76.81 / "
            "75.42 / 71.55 / 61.83)",
        ),
        (
            "Frankle & Carbin 2019, VGG-19 on CIFAR-10",
            "global pruning stays within 1 point of dense down to 1.5% density, layerwise only to "
            "6.9%",
        ),
    ],
    3: [
        (
            "Liu et al. 2021 (GraNet) (check): ImageNet ResNet-50, 100 epochs, sparse-to-sparse",
            "76.0% at 80% sparsity and 74.5% at 90%, against GMP's 75.6% / 73.9%",
        ),
        (
            "Liu et al. 2021 (GraNet) (check): CIFAR-10 VGG-19 / ResNet-50 at 90-98% sparsity",
            "within about half a point of dense (93.9% / 94.8%) at 90-95%",
        ),
    ],
    4: [
        (
            "Diao et al. 2023 (PQ index), CIFAR-10 ResNet-18, global scope, T = 15 (README figure)",
            "LT and one-shot reach 3.5% of weights at about 94.8% (dense 95.5%); SAP(0.5, 1) "
            "2-3% at about 94.7%, its first step keeping about 70%; with layer and neuron scope "
            "SAP beats LT and one-shot",
        ),
        (
            "Diao et al. 2023",
            "the PQ index first falls, then rises as the network nears its compressibility limit",
        ),
    ],
    5: [
        (
            "Cai et al. 2022 (PreCropping)",
            "accuracy after pruning at initialization depends on the per-layer densities, not on "
            "which weights are kept: a narrower dense network matches unstructured "
            "pruning-at-init, with real speed-ups (no official code; prunelab's interpretation)",
        ),
    ],
    6: [
        (
            "Frankle et al. 2020 (Linear Mode Connectivity)",
            "ResNet-20 and VGG-16 subnetworks become stable (barrier within 2 points) only with "
            "rewinding to k > 0 (a few hundred to 2,000 iterations), not k = 0; matching tickets "
            "are stable ones; measured after full training (160 epochs per copy)",
        ),
    ],
}
