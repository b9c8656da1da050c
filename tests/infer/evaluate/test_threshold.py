import numpy as np
import pytest

from imgcheck.infer.evaluate.threshold import Objective, choose_threshold


def _brute_force(y, p, objective):
    """The best objective value over a fine grid of thresholds."""
    best = -1.0
    for t in np.r_[np.unique(p), 1.0 + 1e-9]:
        pred = p >= t
        tp, fp = int((pred & (y == 1)).sum()), int((pred & (y == 0)).sum())
        tpr, fpr = tp / (y == 1).sum(), fp / (y == 0).sum()
        if objective.name == "balanced_accuracy":
            value = (tpr + 1 - fpr) / 2
        elif objective.name == "f1":
            value = 2 * tp / (2 * tp + fp + (y == 1).sum() - tp) if tp else 0.0
        else:
            value = tpr if fpr <= objective.max_fpr else -1.0
        best = max(best, value)
    return best


def test_a_constructed_case_has_the_known_optimum():
    # REAL at 0.1..0.4 and one at 0.7; FAKE at 0.6..0.9: the best balanced accuracy cuts between 0.4 and 0.6
    y = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1])
    p = np.array([0.1, 0.2, 0.3, 0.4, 0.7, 0.6, 0.8, 0.85, 0.9])
    choice = choose_threshold(y, p, Objective.parse("balanced_accuracy"))
    assert choice.threshold == pytest.approx(0.5)  # halfway between 0.4 and 0.6
    assert (choice.tpr, choice.fpr, choice.value) == (1.0, 0.2, pytest.approx(0.9))
    strict = choose_threshold(y, p, Objective.parse("fpr=0"))
    assert strict.threshold == pytest.approx(0.75) and strict.fpr == 0 and strict.tpr == 0.75


@pytest.mark.parametrize("objective", ["balanced_accuracy", "f1", "fpr=0.05", "fpr=0.2", "fpr=0"])
@pytest.mark.parametrize("seed", range(5))
def test_the_choice_is_optimal_and_reproduces_its_decisions(objective, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 300)
    p = np.round(np.clip(rng.normal(0.35 + 0.3 * y, 0.2), 0, 1), 3)  # ties and both ends included
    goal = Objective.parse(objective)
    choice = choose_threshold(y, p, goal)
    assert choice.value == pytest.approx(_brute_force(y, p, goal))
    pred = p >= choice.threshold
    assert choice.tpr == pytest.approx(pred[y == 1].mean()) and choice.fpr == pytest.approx(pred[y == 0].mean())
    if goal.max_fpr is not None:
        assert choice.fpr <= goal.max_fpr
    assert 0.0 <= choice.threshold <= 1.0


def test_objective_parsing():
    assert str(Objective.parse("fpr=0.05")) == "fpr=0.05" and Objective.parse("f1").max_fpr is None
    for bad in ("accuracy", "fpr=", "fpr=2", "tpr=0.1"):
        with pytest.raises(ValueError):
            Objective.parse(bad)


def test_one_class_cannot_be_calibrated():
    with pytest.raises(ValueError, match="both"):
        choose_threshold(np.ones(4, int), np.linspace(0, 1, 4), Objective("f1"))
