import click
import pytest

from imgcheck.infer.evaluate.gates import Gate, breaches, gate_keys, parse_gates


def test_parse_and_check_gates():
    gates = parse_gates(["accuracy=0.95", "roc_auc = 0.99"], "under", "--fail-under")
    gates += parse_gates(["ece=0.05"], "over", "--fail-over")
    assert gates == [Gate("accuracy", 0.95, "under"), Gate("roc_auc", 0.99, "under"), Gate("ece", 0.05, "over")]
    assert breaches(gates, {"accuracy": 0.95, "roc_auc": 0.995, "ece": 0.05}) == []
    assert breaches(gates, {"accuracy": 0.94, "roc_auc": 0.995, "ece": 0.06}) == [
        "accuracy = 0.9400 is below the bound 0.95", "ece = 0.0600 is above the bound 0.05"]


def test_an_undefined_metric_breaches_its_gate():
    assert breaches([Gate("roc_auc", 0.9, "under")], {"roc_auc": None}) == [
        "roc_auc is undefined for this data (bound 0.9)"]


@pytest.mark.parametrize("text", ["accuracy", "accuracy>0.9", "speed=3", "confusion_matrix=1", "f1=high"])
def test_bad_gates_are_usage_errors(text):
    with pytest.raises(click.BadParameter) as failure:
        parse_gates([text], "under", "--fail-under")
    assert "--fail-under" in failure.value.format_message() and text in failure.value.format_message()


def test_every_scalar_metric_can_be_gated():
    assert "confusion_matrix" not in gate_keys() and {"accuracy", "tpr_at_fpr_1pct", "n_errors"} <= set(gate_keys())
