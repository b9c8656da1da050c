import json

import numpy as np
import pytest

from imgcheck.infer.cli.root import cli
from imgcheck.infer.models.model_file import ModelFile, read_meta
from synthetic_data import gray_image
from tiny_models import brightness_p_fake

REAL_LEVELS = (30, 40, 60, 80, 100, 150)
FAKE_LEVELS = (120, 170, 190, 210, 230)


def _validation_set(root):
    for level in REAL_LEVELS:
        gray_image(root / "REAL" / f"r{level}.png", level)
    for level in FAKE_LEVELS:
        gray_image(root / "FAKE" / f"f{level}.png", level)
    gray_image(root / "misc" / "unlabeled.png", 5)
    return root


def _calibrate(runner, model, folder, *extra):
    return runner.invoke(cli, ["calibrate", str(model), str(folder), "--workers", "0", *extra])


def _midpoint(low_level, high_level):
    return (round(brightness_p_fake(low_level), 6) + round(brightness_p_fake(high_level), 6)) / 2


@pytest.mark.parametrize("objective, low, high", [
    # every FAKE caught and one REAL (150) flagged beats missing FAKE 120: (1 + 5/6) / 2 > (0.8 + 1) / 2
    ("balanced_accuracy", 100, 120),
    ("f1", 100, 120),
    ("fpr=0", 150, 170),  # no REAL may be flagged: the cut goes above 150
])
def test_calibration_finds_the_optimum_and_the_new_model_carries_it(runner, brightness_model, tmp_path, objective,
                                                                     low, high):
    folder = _validation_set(tmp_path / "val")
    out = tmp_path / "calibrated.onnx"
    result = _calibrate(runner, brightness_model, folder, "--objective", objective, "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert brightness_p_fake(low) < record["threshold"] < brightness_p_fake(high)
    assert record["threshold"] == pytest.approx(_midpoint(low, high), abs=1e-5)  # the model computes in float32
    meta = read_meta(out)
    assert meta.threshold == record["threshold"]
    calibration = meta.provenance.extra["calibration"]
    assert calibration["objective"] == objective and calibration["set"] == str(folder)
    assert calibration["previous_threshold"] == 0.5 and (calibration["n_real"], calibration["n_fake"]) == (6, 5)
    assert calibration["unlabeled"] == 1
    assert meta.replace(threshold=0.5, provenance=read_meta(brightness_model).provenance) == read_meta(brightness_model)
    assert read_meta(brightness_model).threshold == 0.5  # the input model is untouched
    # scans with the new model use its threshold
    scan = runner.invoke(cli, ["scan", str(folder), "--model", str(out), "--out", str(tmp_path / "v.csv"),
                               "--workers", "0", "--json"])
    assert scan.exit_code == 0, scan.output
    doc = json.loads(scan.stdout)
    assert doc["threshold"] == record["threshold"]
    expected_fp = 1 if objective != "fpr=0" else 0
    assert doc["metrics"]["confusion_matrix"][0][1] == expected_fp


def test_the_calibrated_onnx_model_computes_the_same_scores(brightness_model, tmp_path, runner):
    import onnxruntime as ort

    out = tmp_path / "c.onnx"
    assert _calibrate(runner, brightness_model, _validation_set(tmp_path / "val"), "--out", str(out)).exit_code == 0
    batch = np.random.default_rng(0).uniform(size=(3, 3, 32, 32)).astype(np.float32)
    before = ort.InferenceSession(str(brightness_model)).run(None, {"image": batch})[0]
    after = ort.InferenceSession(str(out)).run(None, {"image": batch})[0]
    assert np.array_equal(before, after)
    assert ModelFile.open(out).details == ModelFile.open(brightness_model).details


def test_torchscript_models_are_calibrated_too(runner, tiny_files, tmp_path):
    import torch

    out = tmp_path / "calibrated.pt"
    result = _calibrate(runner, tiny_files["torchscript"], _validation_set(tmp_path / "val"), "--out", str(out))
    assert result.exit_code == 0, result.output
    meta = read_meta(out)
    assert meta.threshold != 0.42 and meta.provenance.extra["calibration"]["previous_threshold"] == 0.42
    batch = torch.rand(2, 3, 32, 32)
    original = torch.jit.load(str(tiny_files["torchscript"]))
    assert torch.equal(torch.jit.load(str(out))(batch), original(batch))


def test_without_out_nothing_is_written(runner, brightness_model, tmp_path):
    result = _calibrate(runner, brightness_model, _validation_set(tmp_path / "val"))
    assert result.exit_code == 0 and "nothing written" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["val"]


def test_refusals(runner, brightness_model, tiny_files, tmp_path):
    one_class = tmp_path / "only_real"
    gray_image(one_class / "REAL" / "a.png", 10)
    result = _calibrate(runner, brightness_model, one_class)
    assert result.exit_code == 1 and "needs readable REAL and FAKE" in result.output
    bad = _calibrate(runner, brightness_model, _validation_set(tmp_path / "val"), "--objective", "accuracy")
    assert bad.exit_code == 2 and "fpr=X" in bad.output
    checkpoint = _calibrate(runner, tiny_files["checkpoint"], tmp_path / "val", "--out", str(tmp_path / "c.pt"))
    assert checkpoint.exit_code == 1 and "export it" in checkpoint.output and not (tmp_path / "c.pt").exists()
