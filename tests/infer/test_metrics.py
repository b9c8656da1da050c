import numpy as np
import pytest
from sklearn import metrics as skm

from imgcheck.infer.metrics import METRIC_KEYS, binary_metrics


def test_every_metric_equals_scikit_learn_on_known_arrays():
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 0])
    p = np.array([0.1, 0.4, 0.35, 0.8, 0.7, 0.9, 0.2, 0.6, 0.55, 0.05])
    m = binary_metrics(y, p, threshold=0.5)
    predicted = (p >= 0.5).astype(int)
    assert list(m) == list(METRIC_KEYS)
    assert m["n"] == 10
    assert m["accuracy"] == pytest.approx(0.8)
    assert m["confusion_matrix"] == [[4, 1], [1, 4]]
    assert m["log_loss"] == pytest.approx(skm.log_loss(y, p))
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p))
    assert m["mcc"] == pytest.approx(skm.matthews_corrcoef(y, predicted))
    assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, predicted))
    assert m["cohen_kappa"] == pytest.approx(skm.cohen_kappa_score(y, predicted))
    assert m["f1"] == pytest.approx(0.8) and m["precision"] == pytest.approx(0.8) and m["recall"] == pytest.approx(0.8)


def test_threshold_moves_the_verdicts_not_the_ranking():
    y = np.array([0, 0, 1, 1])
    p = np.array([0.2, 0.6, 0.7, 0.9])
    assert binary_metrics(y, p, 0.5)["accuracy"] == 0.75
    assert binary_metrics(y, p, 0.65)["accuracy"] == 1.0
    assert binary_metrics(y, p, 0.5)["roc_auc"] == binary_metrics(y, p, 0.65)["roc_auc"] == 1.0


def test_one_class_only_gives_none_for_undefined_metrics():
    m = binary_metrics([1, 1, 1], [0.9, 0.8, 0.2])
    assert m["roc_auc"] is None and m["balanced_accuracy"] is None
    assert m["accuracy"] == pytest.approx(2 / 3)
    assert m["confusion_matrix"] == [[0, 0], [1, 2]]


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="equally long"):
        binary_metrics([0, 1], [0.5])
    with pytest.raises(ValueError, match="no samples"):
        binary_metrics([], [])
    with pytest.raises(ValueError, match="0 \\(negative\\) or 1"):
        binary_metrics([0, 2], [0.1, 0.2])
