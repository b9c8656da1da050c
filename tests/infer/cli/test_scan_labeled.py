"""`imgcheck scan` on labeled folders: metrics, --json, --metrics, --report, --labels and the exit-4 gate.

The BrightnessDetector's scores are known in advance: p_fake >= 0.5 exactly when the gray level is above 127.5.
"""

import json

import pytest

from imgcheck.infer.cli.root import cli
from imgcheck.infer.evaluate.metrics import binary_metrics
from synthetic_data import gray_image
from tiny_models import brightness_p_fake

# Asymmetric on purpose: 7 REAL (140 and 150 are called FAKE), 5 FAKE (120 is called REAL): confusion
# [[5, 2], [1, 4]], so precision (4/6) differs from recall (4/5) and MCC (0.5071) from Cohen's kappa (0.5).
REAL_LEVELS = (20, 40, 60, 80, 100, 140, 150)
FAKE_LEVELS = (120, 170, 190, 210, 230)  # 120 is called REAL


def _labeled_set(root, broken=False, stray=False):
    for level in REAL_LEVELS:
        gray_image(root / "REAL" / f"r{level}.png", level)
    for level in FAKE_LEVELS:
        gray_image(root / "FAKE" / ("gen_a" if level < 200 else "gen_b") / f"f{level}.png", level)
    if broken:
        (root / "REAL" / "broken.png").write_bytes(b"not a png")
    if stray:
        gray_image(root / "unsorted" / "u.png", 10)
    return root


def _scan(runner, model, folder, tmp_path, *extra):
    """One scan into tmp_path/v.csv, replacing the last one's (--force) unless it resumes it."""
    replace = [] if "--resume" in extra else ["--force"]
    return runner.invoke(cli, ["scan", str(folder), "--model", str(model), "--out", str(tmp_path / "v.csv"),
                               *replace, "--workers", "0", *extra])


def _expected_metrics(n_errors=0):
    y = [0] * len(REAL_LEVELS) + [1] * len(FAKE_LEVELS)
    p = [round(brightness_p_fake(v), 6) for v in REAL_LEVELS + FAKE_LEVELS]
    return binary_metrics(y, p, 0.5, n_errors=n_errors)


def test_metrics_json_and_file_hold_the_suite_of_the_labeled_files(runner, brightness_model, tmp_path):
    folder = _labeled_set(tmp_path / "set", stray=True)
    result = _scan(runner, brightness_model, folder, tmp_path, "--json", "--metrics", str(tmp_path / "m.json"))
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed == json.loads((tmp_path / "m.json").read_text())
    expected = _expected_metrics()
    for key, value in expected.items():
        if key == "confusion_matrix":
            continue
        assert printed["metrics"][key] == pytest.approx(value, abs=1e-5), key  # float32 model vs float64 here
    m = printed["metrics"]
    assert m["accuracy"] == 0.75 and m["confusion_matrix"] == [[5, 2], [1, 4]]
    assert m["precision"] == pytest.approx(4 / 6) and m["recall"] == pytest.approx(4 / 5)
    assert m["mcc"] == pytest.approx(18 / 1260 ** 0.5) and m["cohen_kappa"] == pytest.approx(0.5)
    assert m["balanced_accuracy"] == pytest.approx((5 / 7 + 4 / 5) / 2) and m["f1"] == pytest.approx(8 / 11)
    assert printed["labels"]["unlabeled"] == 1 and printed["labels"]["unlabeled_examples"][0].endswith("u.png")
    assert "1 file(s) have no label" in result.stderr
    assert printed["groups"]["folder"]["gen_a"]["n"] == 3 and printed["groups"]["folder"]["gen_b"]["accuracy"] == 1.0
    assert printed["model"]["name"] == "brightness.onnx" and len(printed["model"]["sha256"]) == 64
    assert printed["threshold"] == 0.5 and printed["inputs"] == [str(folder)]
    assert "accuracy" in result.stderr and "0.7500" in result.stderr  # the rich table goes to stderr


@pytest.mark.parametrize("gates, code", [
    (["--fail-under", "accuracy=0.75", "--fail-under", "roc_auc=0.9"], 0),
    (["--fail-under", "accuracy=0.76"], 4),
    (["--fail-over", "ece=0.01"], 4),
    (["--fail-under", "accuracy=0.5", "--fail-over", "log_loss=5"], 0),
])
def test_a_breached_gate_exits_4_and_names_metric_value_and_bound(runner, brightness_model, tmp_path, gates, code):
    result = _scan(runner, brightness_model, _labeled_set(tmp_path / "set"), tmp_path, *gates)
    assert result.exit_code == code, result.output
    if code == 4:
        assert "gate failed:" in result.stderr and "bound" in result.stderr
    else:
        assert "gate(s) passed" in result.stderr


@pytest.mark.parametrize("extra, computed", [
    ([], False),  # nothing would show or keep the metrics
    (["--metrics", "m.json"], True),
    (["--fail-under", "accuracy=0.5"], True),
    (["--labels", "labels.csv"], True),
])
def test_a_quiet_scan_computes_metrics_only_when_something_keeps_them(runner, brightness_model, tmp_path,
                                                                      monkeypatch, extra, computed):
    from imgcheck.infer.evaluate import labeled_scores

    documents = []
    original = labeled_scores.LabeledScores.document
    monkeypatch.setattr(labeled_scores.LabeledScores, "document",
                        lambda self, *a, **k: documents.append(1) or original(self, *a, **k))
    folder = _labeled_set(tmp_path / "set", stray=True)
    (tmp_path / "labels.csv").write_text(f"{folder / 'REAL' / 'r20.png'},REAL\n")
    monkeypatch.chdir(tmp_path)
    result = _scan(runner, brightness_model, folder, tmp_path, "--quiet", *extra)
    assert result.exit_code == 0, result.output
    assert len((tmp_path / "v.csv").read_text().splitlines()) == 1 + len(REAL_LEVELS) + len(FAKE_LEVELS) + 1
    assert documents == ([1] if computed else [])
    assert (tmp_path / "m.json").exists() == ("--metrics" in extra)
    assert ("have no label" in result.stderr) == computed  # the stray file's warning belongs to the metrics


def test_exit_code_precedence_with_unreadable_files(runner, brightness_model, tmp_path):
    folder = _labeled_set(tmp_path / "set", broken=True)
    passed = _scan(runner, brightness_model, folder, tmp_path, "--fail-under", "accuracy=0.75", "--json")
    assert passed.exit_code == 3  # the gate passed; ERROR rows still say so
    metrics = json.loads(passed.stdout)["metrics"]
    assert metrics["n_errors"] == 1 and metrics["n"] == 12 and metrics["accuracy"] == 0.75
    assert _scan(runner, brightness_model, folder, tmp_path, "--fail-under", "accuracy=0.9").exit_code == 4
    assert _scan(runner, brightness_model, folder, tmp_path, "--fail-under", "accuracy=0.9",
                 "--strict").exit_code == 1


def test_labels_from_a_csv(runner, brightness_model, tmp_path):
    flat = tmp_path / "flat"
    for level in (30, 200):
        gray_image(flat / f"g{level}.png", level)
    labels = tmp_path / "labels.csv"
    labels.write_text(f"path,label\n{flat / 'g30.png'},REAL\n{flat / 'g200.png'},1\n")
    result = _scan(runner, brightness_model, flat, tmp_path, "--labels", str(labels), "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["metrics"]["accuracy"] == 1.0 and doc["labels"]["source"].startswith("file ")


def test_gates_without_labels_are_a_clear_error(runner, brightness_model, tmp_path):
    gray_image(tmp_path / "photos" / "a.png", 90)
    result = _scan(runner, brightness_model, tmp_path / "photos", tmp_path, "--fail-under", "accuracy=0.9")
    assert result.exit_code == 1 and "no scanned file has a label" in result.output
    plain = _scan(runner, brightness_model, tmp_path / "photos", tmp_path)
    assert plain.exit_code == 0 and "metrics" not in plain.stderr


def test_usage_errors(runner, brightness_model, tmp_path):
    folder = _labeled_set(tmp_path / "set")
    both = runner.invoke(cli, ["scan", str(folder), "--model", str(brightness_model), "--out", "-", "--json"])
    assert both.exit_code == 2 and "--json" in both.output
    bad = _scan(runner, brightness_model, folder, tmp_path, "--fail-under", "speed=9")
    assert bad.exit_code == 2 and "accuracy" in bad.output


def test_report_writes_every_plot_and_an_index(runner, brightness_model, tmp_path):
    report = tmp_path / "report"
    result = _scan(runner, brightness_model, _labeled_set(tmp_path / "set"), tmp_path, "--report", str(report))
    assert result.exit_code == 0, result.output
    for name in ("roc.png", "precision_recall.png", "confusion_matrix.png", "reliability.png", "scores.png"):
        assert (report / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and (report / name).stat().st_size > 5000
    page = (report / "index.html").read_text()
    assert all(f'src="{name}"' in page for name in ("roc.png", "scores.png")) and "0.8000" in page
    assert "Per folder" in page and "gen_a" in page


def test_resumed_rows_count_in_the_metrics(runner, brightness_model, tmp_path):
    folder = _labeled_set(tmp_path / "set")
    first = _scan(runner, brightness_model, folder, tmp_path, "--json")
    again = _scan(runner, brightness_model, folder, tmp_path, "--resume", "--json")
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["metrics"] == json.loads(first.stdout)["metrics"]
