import json

import pytest

from imgcheck.infer.cli.root import cli
from imgcheck.infer.evaluate.metrics import binary_metrics


def _scan_metrics(path, name, accuracy_set):
    y, p = accuracy_set
    path.write_text(json.dumps({"schema_version": 1, "model": {"name": name}, "inputs": ["/data/cifake/test"],
                                "threshold": 0.5, "labels": {"source": "folders", "labeled": len(y), "unlabeled": 0,
                                                             "unlabeled_examples": []},
                                "metrics": binary_metrics(y, p), "groups": {}}))
    return path


def _summary(folder, accuracy):
    folder.mkdir()
    (folder / "summary.json").write_text(json.dumps({
        "arch": "cnn", "data": {"root": "data/cifake"},
        "test_metrics": {"n": 100, "accuracy": accuracy, "log_loss": 0.3, "roc_auc": 0.96},
        "untrained": {"test_accuracy": 0.5, "test_loss": 0.69}}))
    return folder / "summary.json"


@pytest.fixture
def files(tmp_path):
    good = _scan_metrics(tmp_path / "a.json", "resnet50_v2.onnx", ([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]))
    weak = _scan_metrics(tmp_path / "b.json", "cnn.onnx", ([0, 0, 1, 1], [0.1, 0.6, 0.8, 0.4]))
    return good, weak, _summary(tmp_path / "cnn_run", 0.894)


def test_markdown_tables_in_the_report_shape(runner, files):
    result = runner.invoke(cli, ["compare", *map(str, files), "--markdown", "--untrained"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "**Accuracy and risk (the report's Table 4)**" in lines and "**Supplementary metrics**" in lines
    assert "| model | evaluated on | n | accuracy | risk (log loss) |" in lines
    assert "| resnet50_v2.onnx | test | 4 | **1.0000** | **0.1643** |" in lines  # the best values are bold
    assert "| untrained cnn | cifake test | 100 | 0.5000 | 0.6900 |" in lines
    assert "| cnn_run (cnn) | cifake test | 100 | 0.8940 | 0.3000 |" in lines
    supplementary = [line for line in lines if line.startswith("| cnn_run (cnn)")][1]
    assert "0.9600" in supplementary and "n/a" in supplementary  # an older summary lacks AP, ECE...


def test_rich_tables_list_every_model(runner, files):
    result = runner.invoke(cli, ["compare", *map(str, files)])
    assert result.exit_code == 0
    assert all(name in result.stdout for name in ("resnet50_v2.onnx", "cnn.onnx", "cnn_run (cnn)"))
    assert "untrained" not in result.stdout


def test_unknown_files_are_refused(runner, tmp_path):
    other = tmp_path / "other.json"
    other.write_text('{"hello": 1}')
    result = runner.invoke(cli, ["compare", str(other)])
    assert result.exit_code == 1 and "neither" in result.output
    (tmp_path / "broken.json").write_text("{")
    assert runner.invoke(cli, ["compare", str(tmp_path / "broken.json")]).exit_code == 1
