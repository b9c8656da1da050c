"""The binary metric suite (scikit-learn); the positive class (FAKE) is label 1.

Keys are stable: training summaries, scan metrics files, comparisons and CI gates read them by name.
docs/evaluate.md ("Metrics") documents each one.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

METRIC_KEYS = (
    "n", "n_real", "n_fake", "n_errors", "n_abstained", "accuracy", "log_loss", "roc_auc", "average_precision", "mcc",
    "balanced_accuracy", "cohen_kappa", "precision", "recall", "f1", "f1_macro", "ece", "tpr_at_fpr_1pct",
    "tpr_at_fpr_5pct", "confusion_matrix",
)
# Keys where a smaller value is better (a CI gate bounds them from above).
LOWER_IS_BETTER = frozenset({"log_loss", "ece", "n_errors", "n_abstained"})
ECE_BINS = 15


def binary_metrics(y_true: Sequence[int] | np.ndarray, p_positive: Sequence[float] | np.ndarray,
                   threshold: float = 0.5, n_errors: int = 0, n_abstained: int = 0) -> dict[str, Any]:
    """Every key of METRIC_KEYS for labels `y_true` (1 = positive) and probabilities `p_positive`.

    The predicted class is positive when p >= threshold. `n_errors` counts files that could not be scored and
    `n_abstained` files a scan abstained on (UNSURE: far outside the model's training sizes); neither is in the
    arrays. Metrics undefined for the data (ROC-AUC with one class present) are None.
    Values are plain Python numbers, ready for JSON.
    """
    from sklearn import metrics as skm

    y = np.asarray(y_true, dtype=np.int64)
    p = np.asarray(p_positive, dtype=np.float64)
    if y.shape != p.shape or y.ndim != 1:
        raise ValueError(f"labels and probabilities must be 1-D and equally long, got {y.shape} and {p.shape}")
    if len(y) == 0:
        raise ValueError("no samples to score")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0 (negative) or 1 (positive)")
    predicted = (p >= threshold).astype(np.int64)
    both_classes = len(np.unique(y)) == 2
    with warnings.catch_warnings():
        # one class only (a subgroup such as one generator's folder): the undefined metrics become None below
        warnings.simplefilter("ignore", UserWarning)
        return _suite(skm, y, p, predicted, both_classes, n_errors, n_abstained)


def _suite(skm: Any, y: np.ndarray, p: np.ndarray, predicted: np.ndarray, both_classes: bool, n_errors: int,
           n_abstained: int = 0) -> dict[str, Any]:
    return {
        "n": int(len(y)),
        "n_real": int((y == 0).sum()),
        "n_fake": int((y == 1).sum()),
        "n_errors": int(n_errors),
        "n_abstained": int(n_abstained),
        "accuracy": float(skm.accuracy_score(y, predicted)),
        "log_loss": float(skm.log_loss(y, np.clip(p, 1e-15, 1 - 1e-15), labels=[0, 1])),
        "roc_auc": float(skm.roc_auc_score(y, p)) if both_classes else None,
        "average_precision": float(skm.average_precision_score(y, p)) if both_classes else None,
        "mcc": float(skm.matthews_corrcoef(y, predicted)),
        "balanced_accuracy": float(skm.balanced_accuracy_score(y, predicted)) if both_classes else None,
        "cohen_kappa": _finite_or_none(skm.cohen_kappa_score(y, predicted, labels=[0, 1])),
        "precision": float(skm.precision_score(y, predicted, zero_division=0)),
        "recall": float(skm.recall_score(y, predicted, zero_division=0)),
        "f1": float(skm.f1_score(y, predicted, zero_division=0)),
        "f1_macro": float(skm.f1_score(y, predicted, average="macro", labels=[0, 1], zero_division=0)),
        "ece": expected_calibration_error(y, p),
        "tpr_at_fpr_1pct": tpr_at_fpr(y, p, 0.01) if both_classes else None,
        "tpr_at_fpr_5pct": tpr_at_fpr(y, p, 0.05) if both_classes else None,
        "confusion_matrix": skm.confusion_matrix(y, predicted, labels=[0, 1]).tolist(),
    }


def calibration_bins(y_true: np.ndarray, p_positive: np.ndarray, bins: int = ECE_BINS
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per equal-width bin of p_positive (p == 1.0 in the last bin): sample count, positives, sum of p."""
    y = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(p_positive, dtype=np.float64)
    which = np.minimum((p * bins).astype(np.int64), bins - 1)
    return (np.bincount(which, minlength=bins), np.bincount(which, weights=y, minlength=bins),
            np.bincount(which, weights=p, minlength=bins))


def expected_calibration_error(y_true: np.ndarray, p_positive: np.ndarray, bins: int = ECE_BINS) -> float:
    """ECE of the positive-class probability: the mean over `bins` equal-width bins of |fraction positive -
    mean probability|, weighted by the bin's share of samples (the gap the reliability diagram shows)."""
    count, positives, sum_p = calibration_bins(y_true, p_positive, bins)
    return float(np.abs(positives - sum_p).sum() / count.sum())


def tpr_at_fpr(y_true: np.ndarray, p_positive: np.ndarray, max_fpr: float) -> float:
    """The highest true-positive rate of any threshold whose false-positive rate is at most `max_fpr`."""
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(y_true, p_positive)
    return float(tpr[fpr <= max_fpr].max())


def format_metric(value: Any) -> str:
    """A metric for a table: 4 decimals, thousands separators, 'undefined' for None."""
    if value is None:
        return "undefined"
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _finite_or_none(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None
