"""The pruning core: small pure functions over tensors and dicts (no Lightning).

Types: a *mask set* is `dict[str, torch.BoolTensor]` keyed by parameter name, True = kept; a
*score set* is `dict[str, torch.Tensor]`, higher = more worth keeping. A method is a composition:
targets -> scores -> allocation (`*_counts`) -> `select` -> `apply_masks` / `zero_momentum`.
"""

from prunelab.pruning.allocation import (
    global_counts,
    global_keep_counts,
    keep_total,
    layerwise_counts,
    round_to_total,
    table_counts,
)
from prunelab.pruning.erk import erk_counts, erk_densities
from prunelab.pruning.masks import (
    MaskSet,
    apply_masks,
    count_kept,
    count_total,
    densities,
    is_subset,
    ones_masks,
    sparsity,
    validate_masks,
    zero_momentum,
)
from prunelab.pruning.min_threshold import mt_counts, mt_sparsities
from prunelab.pruning.pq_index import pq_index, pq_index_rows, sap_keep, sap_prune_count
from prunelab.pruning.regrow import drop_count, prune_and_regrow
from prunelab.pruning.schedule import (
    cosine_decay,
    cubic_schedule,
    cubic_sparsity,
    imp_density,
    update_steps,
)
from prunelab.pruning.scores import (
    ScoreSet,
    gradient_magnitude,
    magnitude,
    random_scores,
    snip,
    synflow,
)
from prunelab.pruning.selection import select, select_rows, top_k_mask
from prunelab.pruning.targets import prunable_parameters

__all__ = [
    "MaskSet",
    "ScoreSet",
    "apply_masks",
    "cosine_decay",
    "count_kept",
    "count_total",
    "cubic_schedule",
    "cubic_sparsity",
    "densities",
    "drop_count",
    "erk_counts",
    "erk_densities",
    "global_counts",
    "global_keep_counts",
    "gradient_magnitude",
    "imp_density",
    "is_subset",
    "keep_total",
    "layerwise_counts",
    "magnitude",
    "mt_counts",
    "mt_sparsities",
    "ones_masks",
    "pq_index",
    "pq_index_rows",
    "prunable_parameters",
    "prune_and_regrow",
    "random_scores",
    "round_to_total",
    "sap_keep",
    "sap_prune_count",
    "select",
    "select_rows",
    "snip",
    "sparsity",
    "synflow",
    "table_counts",
    "top_k_mask",
    "update_steps",
    "validate_masks",
    "zero_momentum",
]
