"""The binary metric suite (scikit-learn); the positive class (FAKE) is label 1.

Keys are stable: training summaries, scan reports and CI gates read them by name.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

METRIC_KEYS = (
    "n", "accuracy", "log_loss", "roc_auc", "mcc", "balanced_accuracy", "cohen_kappa", "f1",
    "precision", "recall", "confusion_matrix",
)


def binary_metrics(y_true: Sequence[int] | np.ndarray, p_positive: Sequence[float] | np.ndarray,
                   threshold: float = 0.5) -> dict[str, Any]:
    """Accuracy, log loss (the report's "risk"), ROC-AUC, MCC, balanced accuracy, Cohen's kappa, F1, precision,
    recall and the confusion matrix [[TN, FP], [FN, TP]] for labels `y_true` and probabilities `p_positive`.

    The predicted class is positive when p >= threshold. Metrics undefined for the data (ROC-AUC with one
    class present) are None. Values are plain Python numbers, ready for JSON.
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
    return {
        "n": int(len(y)),
        "accuracy": float(skm.accuracy_score(y, predicted)),
        "log_loss": float(skm.log_loss(y, np.clip(p, 1e-15, 1 - 1e-15), labels=[0, 1])),
        "roc_auc": float(skm.roc_auc_score(y, p)) if both_classes else None,
        "mcc": float(skm.matthews_corrcoef(y, predicted)),
        "balanced_accuracy": float(skm.balanced_accuracy_score(y, predicted)) if both_classes else None,
        "cohen_kappa": _finite_or_none(skm.cohen_kappa_score(y, predicted, labels=[0, 1])),
        "f1": float(skm.f1_score(y, predicted, zero_division=0)),
        "precision": float(skm.precision_score(y, predicted, zero_division=0)),
        "recall": float(skm.recall_score(y, predicted, zero_division=0)),
        "confusion_matrix": skm.confusion_matrix(y, predicted, labels=[0, 1]).tolist(),
    }


def _finite_or_none(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None
