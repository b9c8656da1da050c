import numpy as np
import pytest
from sklearn import metrics as skm

from sklearn.calibration import calibration_curve

from imgcheck.infer.evaluate.metrics import ECE_BINS, METRIC_KEYS, binary_metrics


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
    assert m["average_precision"] == pytest.approx(skm.average_precision_score(y, p))
    assert m["f1_macro"] == pytest.approx(skm.f1_score(y, predicted, average="macro"))
    assert m["precision"] == pytest.approx(skm.precision_score(y, predicted))
    assert m["recall"] == pytest.approx(skm.recall_score(y, predicted))
    assert (m["n_real"], m["n_fake"], m["n_errors"]) == (5, 5, 0)


def test_an_asymmetric_confusion_matrix_tells_every_metric_apart():
    """TN 5, FP 2, FN 1, TP 4, computed by hand: precision != recall and MCC != kappa, so a swapped pair fails."""
    y = np.array([0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
    p = np.array([0.1, 0.2, 0.3, 0.4, 0.45, 0.6, 0.7, 0.2, 0.55, 0.8, 0.9, 0.95])
    m = binary_metrics(y, p, threshold=0.5)
    assert m["confusion_matrix"] == [[5, 2], [1, 4]] and (m["n_real"], m["n_fake"]) == (7, 5)
    assert m["accuracy"] == pytest.approx(9 / 12)
    assert m["precision"] == pytest.approx(4 / 6) and m["recall"] == pytest.approx(4 / 5)
    assert m["f1"] == pytest.approx(8 / 11)
    assert m["balanced_accuracy"] == pytest.approx((5 / 7 + 4 / 5) / 2)
    assert m["mcc"] == pytest.approx((4 * 5 - 2 * 1) / (6 * 5 * 7 * 6) ** 0.5)  # 0.5071
    assert m["cohen_kappa"] == pytest.approx((9 / 12 - 72 / 144) / (1 - 72 / 144))  # 0.5
    assert m["f1_macro"] == pytest.approx((8 / 11 + 2 * 5 / (2 * 5 + 2 + 1)) / 2)


def test_ece_matches_scikit_learn_calibration_curve():
    rng = np.random.default_rng(0)
    p = rng.uniform(size=500)
    y = (rng.uniform(size=500) < p ** 2).astype(int)  # miscalibrated on purpose
    prob_true, prob_pred = calibration_curve(y, p, n_bins=ECE_BINS, strategy="uniform")
    # calibration_curve drops empty bins; weight each non-empty bin by its share of the samples
    counts = np.histogram(p, bins=np.linspace(0, 1, ECE_BINS + 1))[0]
    expected = float(np.sum(counts[counts > 0] / len(p) * np.abs(prob_true - prob_pred)))
    assert binary_metrics(y, p)["ece"] == pytest.approx(expected)


def test_ece_by_hand():
    # bin [0, 1/15): p 0.0 and 0.05 with labels 0, 1 -> |0.5 - 0.025|; bin [14/15, 1]: p 1.0, label 1 -> 0
    assert binary_metrics([0, 1, 1], [0.0, 0.05, 1.0])["ece"] == pytest.approx(2 / 3 * 0.475)
    assert binary_metrics([0, 1], [0.0, 1.0])["ece"] == 0.0


def test_tpr_at_low_fpr():
    # 100 REAL and 100 FAKE; two REAL images (0.95, 0.97) outrank 70 FAKE ones
    real = np.r_[np.linspace(0.0, 0.5, 98), 0.95, 0.97]
    fake = np.r_[np.linspace(0.6, 0.94, 70), np.linspace(0.96, 0.99, 30)]
    y = np.r_[np.zeros(100, int), np.ones(100, int)]
    p = np.r_[real, fake]
    m = binary_metrics(y, p)
    fpr, tpr, _ = skm.roc_curve(y, p)
    assert m["tpr_at_fpr_1pct"] == pytest.approx(tpr[fpr <= 0.01].max())
    assert m["tpr_at_fpr_1pct"] == pytest.approx(0.30)  # threshold 0.96: REAL 0.97 is the one false positive
    assert m["tpr_at_fpr_5pct"] == 1.0


def test_threshold_moves_the_verdicts_not_the_ranking():
    y = np.array([0, 0, 1, 1])
    p = np.array([0.2, 0.6, 0.7, 0.9])
    assert binary_metrics(y, p, 0.5)["accuracy"] == 0.75
    assert binary_metrics(y, p, 0.65)["accuracy"] == 1.0
    assert binary_metrics(y, p, 0.5)["roc_auc"] == binary_metrics(y, p, 0.65)["roc_auc"] == 1.0


def test_one_class_only_gives_none_for_undefined_metrics():
    m = binary_metrics([1, 1, 1], [0.9, 0.8, 0.2])
    assert m["roc_auc"] is None and m["balanced_accuracy"] is None and m["average_precision"] is None
    assert m["tpr_at_fpr_1pct"] is None
    assert m["accuracy"] == pytest.approx(2 / 3)
    assert m["confusion_matrix"] == [[0, 0], [1, 2]]


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="equally long"):
        binary_metrics([0, 1], [0.5])
    with pytest.raises(ValueError, match="no samples"):
        binary_metrics([], [])
    with pytest.raises(ValueError, match="0 \\(negative\\) or 1"):
        binary_metrics([0, 2], [0.1, 0.2])
