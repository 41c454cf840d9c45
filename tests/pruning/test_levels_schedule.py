"""The Levels plan: (levels + 1) x epochs_per_level epochs, level L trains epochs [L E, (L+1) E),
pruning starts levels 1..N, and a fit of any other length is refused naming the numbers."""

import pytest

from prunelab.pruning.schedules import Levels


def test_levels_plan_names_the_epochs_of_each_level():
    plan = Levels(3, 2)
    assert plan.planned_epochs == 8
    assert [plan.level_of(e) for e in range(8)] == [0, 0, 1, 1, 2, 2, 3, 3]
    assert plan.start_epochs() == (2, 4, 6)
    assert all(plan.level_of(e) == L + 1 for L, e in enumerate(plan.start_epochs()))
    assert plan.steps_per_level(5) == 10
    assert Levels(0, 4).start_epochs() == ()


def test_levels_check_refuses_another_length():
    Levels(2, 3).check(9)
    with pytest.raises(ValueError, match=r"\(2 \+ 1\) x 3 = 9 epochs, but trainer.max_epochs=8"):
        Levels(2, 3).check(8)


@pytest.mark.parametrize(
    "levels, epochs, match",
    [(-1, 1, "levels=-1 must be"), (True, 1, "levels=True"), (1, 0, "epochs_per_level=0")],
)
def test_bad_levels_are_refused_naming_the_setting(levels, epochs, match):
    with pytest.raises(ValueError, match=match):
        Levels(levels, epochs)
