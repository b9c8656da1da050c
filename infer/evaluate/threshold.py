"""Pick a decision threshold on labeled scores: the one that maximises an objective.

Objectives: `balanced_accuracy`, `f1` (of FAKE), or `fpr=X` (the highest TPR whose false-positive rate on
REAL images is at most X). Every distinct score is a candidate cut; the threshold returned sits halfway
between the chosen cut and the next lower score, so that it makes exactly the chosen decisions on this set
with the widest margin on either side.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

OBJECTIVES = ("balanced_accuracy", "f1", "fpr=X")


@dataclass(frozen=True)
class Objective:
    """What the threshold optimises: `name` is balanced_accuracy, f1 or fpr; `max_fpr` is set for fpr."""

    name: str
    max_fpr: float | None = None

    @classmethod
    def parse(cls, text: str) -> Objective:
        """`balanced_accuracy`, `f1` or `fpr=0.05`; ValueError otherwise."""
        if text in ("balanced_accuracy", "f1"):
            return cls(text)
        key, sep, value = text.partition("=")
        if key == "fpr" and sep:
            bound = float(value)
            if not 0 <= bound < 1:
                raise ValueError(f"fpr bound must be in [0, 1), got {bound}")
            return cls("fpr", bound)
        raise ValueError(f"unknown objective {text!r}; choose balanced_accuracy, f1 or fpr=X (for example fpr=0.05)")

    def __str__(self) -> str:
        return self.name if self.max_fpr is None else f"fpr={self.max_fpr:g}"


@dataclass(frozen=True)
class ThresholdChoice:
    """The chosen threshold and what it achieves on the calibration set."""

    threshold: float
    objective: str
    value: float  # the objective's value at the threshold (TPR for fpr=X)
    tpr: float
    fpr: float


def choose_threshold(y_true: np.ndarray, p_fake: np.ndarray, objective: Objective) -> ThresholdChoice:
    """The threshold that maximises `objective` on labels `y_true` (1 = FAKE) and scores `p_fake`.

    Ties go to the middle of the run of equally good cuts. Needs both classes present.
    """
    y = np.asarray(y_true, dtype=np.int64)
    p = np.asarray(p_fake, dtype=np.float64)
    positives, negatives = int(y.sum()), int(len(y) - y.sum())
    if positives == 0 or negatives == 0:
        raise ValueError("calibration needs both REAL and FAKE images")
    cuts = np.unique(p)  # candidate i predicts FAKE for p >= cuts[i]; one more candidate predicts nothing FAKE
    fake_scores, real_scores = np.sort(p[y == 1]), np.sort(p[y == 0])
    tp = np.r_[positives - np.searchsorted(fake_scores, cuts, side="left"), 0]
    fp = np.r_[negatives - np.searchsorted(real_scores, cuts, side="left"), 0]
    tpr, fpr = tp / positives, fp / negatives
    if objective.name == "balanced_accuracy":
        value = (tpr + 1 - fpr) / 2
    elif objective.name == "f1":
        value = np.divide(2 * tp, 2 * tp + fp + (positives - tp), out=np.zeros(len(tp)), where=tp > 0)
    else:
        value = np.where(fpr <= objective.max_fpr, tpr, -1.0)
    best = np.flatnonzero(value == value.max())
    i = int(best[len(best) // 2])
    lower = cuts[i - 1] if i > 0 else 0.0
    upper = cuts[i] if i < len(cuts) else 1.0  # the last candidate: nothing on this set is FAKE
    threshold = float((lower + upper) / 2)
    if i < len(cuts) and not lower < threshold <= upper:  # adjacent floats: no room for a midpoint
        threshold = float(upper)
    return ThresholdChoice(threshold, str(objective), float(value[i]), float(tpr[i]), float(fpr[i]))
