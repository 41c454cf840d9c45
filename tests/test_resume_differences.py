"""Which config differences refuse a resume: a run's settings, not changes of prunelab's config
tree."""

from prunelab.config import compose
from prunelab.resume import differences
from prunelab.train import run_config


def test_a_checkpoint_of_an_earlier_config_tree_resumes_and_changed_settings_are_named():
    now = run_config(compose(["pruning=gmp", "pruning.sparsity=0.8"]))
    earlier = {k: v for k, v in now.items() if k not in ("structure", "bench")}
    earlier["pruning"] = {k: v for k, v in now["pruning"].items() if k not in ("rule", "schedule")}
    earlier["pruning"]["schedule"] = "gradual"  # a flat key that became a part
    assert differences(earlier, now) == []
    earlier["pruning"]["sparsity"] = 0.9
    earlier["model"] = {**now["model"], "depth": 32}
    assert differences(earlier, now) == [
        "model.depth=20 (ran with 32)",
        "pruning.sparsity=0.8 (ran with 0.9)",
    ]
