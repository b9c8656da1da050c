"""The Python API: imgcheck.Detector and imgcheck.scan give what the CLI gives."""

import io
import math

import numpy as np
import pytest
from PIL import Image

import imgcheck
from imgcheck.infer.cli.root import cli
from imgcheck.infer.errors import ImgcheckError
from imgcheck.infer.models.model_file import ModelFile
from imgcheck.infer.preprocess import Preprocessor
from imgcheck.infer.scan.job import ScanUsageError
from imgcheck.infer.scan.verdict_formats import CsvFormat
from synthetic_data import gray_image
from tiny_models import brightness_p_fake


def test_predict_takes_paths_pil_images_and_arrays_and_a_bad_file_costs_only_its_own_result(brightness_model,
                                                                                            tmp_path):
    detector = imgcheck.Detector(brightness_model, device="cpu")
    assert detector.meta.arch == "brightness" and detector.threshold == 0.5
    assert detector.provider == "CPUExecutionProvider"
    path = gray_image(tmp_path / "g.png", 200)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff not really a jpeg")
    inputs = [str(path), Image.new("RGB", (48, 40), (30, 30, 30)), np.full((20, 20, 3), 100, np.uint8),
              str(broken), np.full((10, 10), 255, np.uint8), np.zeros((4, 4, 3), np.float32), path.read_bytes()]
    results = detector.predict(inputs, batch_size=2)
    assert [r.verdict for r in results] == ["FAKE", "REAL", "REAL", "ERROR", "FAKE", "ERROR", "FAKE"]
    expected = [brightness_p_fake(200), brightness_p_fake(30), brightness_p_fake(100), None, brightness_p_fake(255),
                None, brightness_p_fake(200)]
    for result, p in zip(results, expected, strict=True):
        if p is None:
            assert math.isnan(result.p_fake) and result.error
        else:
            assert result.p_fake == pytest.approx(p, abs=1e-5) and result.error == ""
    assert "not an image" in results[3].error or "truncated" in results[3].error
    assert "expected uint8" in results[5].error


def test_predict_with_one_input_and_a_threshold_override(brightness_model):
    detector = imgcheck.Detector(brightness_model, threshold=0.99)
    (result,) = detector.predict(np.full((8, 8, 3), 200, np.uint8))
    assert result.verdict == "REAL" and result.p_fake == pytest.approx(brightness_p_fake(200), abs=1e-5)
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 200, 200)).save(buffer, format="PNG")
    buffer.seek(0)
    (streamed,) = detector.predict(buffer)  # a binary stream alone is one input, not lines to iterate
    assert streamed.p_fake == pytest.approx(brightness_p_fake(200), abs=1e-5)


def test_predict_matches_the_scan_on_the_same_files(tiny_files, tmp_path):
    for i in range(5):
        pixels = np.random.default_rng(i).integers(0, 256, (40, 36, 3), dtype=np.uint8)
        (tmp_path / "imgs").mkdir(exist_ok=True)
        Image.fromarray(pixels).save(tmp_path / "imgs" / f"{i}.png")
    rows = list(imgcheck.scan(tmp_path / "imgs", tiny_files["onnx"], workers=0))
    detector = imgcheck.Detector(tiny_files["onnx"])
    predictions = detector.predict([row.path for row in rows])
    assert [round(p.p_fake, 6) for p in predictions] == [round(row.p_fake, 6) for row in rows]
    assert [p.verdict for p in predictions] == [row.verdict for row in rows]


def test_scan_yields_the_rows_the_cli_writes(runner, tiny_files, tmp_path):
    folder = tmp_path / "imgs"
    for i in range(7):
        gray_image(folder / ("sub" if i % 2 else "") / f"{i}.png", 30 * i)
    (folder / "bad.png").write_text("not a png")
    (folder / "notes.txt").write_text("skipped")
    out = tmp_path / "v.csv"
    result = runner.invoke(cli, ["scan", str(folder), "--model", str(tiny_files["onnx"]), "--out", str(out),
                                 "--workers", "0", "--quiet", "--exclude", "6.png"])
    assert result.exit_code == 3
    rows = list(imgcheck.scan([folder], model=tiny_files["onnx"], workers=0, exclude=["6.png"]))
    assert CsvFormat().header() + CsvFormat().encode(rows) == out.read_text()  # every column, byte for byte
    assert rows[0].verdict in ("REAL", "FAKE") and any(r.verdict == "ERROR" for r in rows)
    assert (rows[0].width, rows[0].height) == (32, 32)


def test_a_training_checkpoint_runs_as_eager_torch(trained_cnn):
    import torch

    from imgcheck.trainer.checkpoint import load_checkpoint
    from imgcheck.infer.models.architectures import build_model

    checkpoint_path, _ = trained_cnn
    model_file = ModelFile.open(checkpoint_path)  # a ModelFile can be handed over, and is read once
    detector = imgcheck.Detector(model_file, device="cpu")
    pixels = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    results = detector.predict(list(pixels))
    checkpoint, meta = load_checkpoint(checkpoint_path)
    model = build_model(meta.arch)
    model.load_state_dict(checkpoint["state_dict"])
    with torch.no_grad():
        expected = torch.sigmoid(model.eval()(torch.from_numpy(Preprocessor.from_meta(meta).normalize(pixels))))
    np.testing.assert_allclose([r.p_fake for r in results], expected.numpy(), atol=1e-6)


def test_the_bundled_model_is_the_default():
    detector = imgcheck.Detector()
    assert detector.meta.arch == "cnn_bn_wide" and detector.model_file.name == "cnn_bn_wide-cifake.onnx"


def test_scan_and_predict_keep_classes_as_the_cli_does(runner, brightness_model, tmp_path):
    from class_models import CLASSES, class_model, color_images, expected_probabilities

    model = class_model(tmp_path / "classes.onnx")
    colors = [(0, 0, 0), (255, 30, 0), (40, 90, 250)]
    paths = color_images(tmp_path / "imgs", colors)
    (tmp_path / "imgs" / "z.png").write_text("not a png")
    out = tmp_path / "v.csv"
    result = runner.invoke(cli, ["scan", str(tmp_path / "imgs"), "--model", str(model), "--out", str(out),
                                 "--workers", "0", "--quiet", "--keep-classes"])
    assert result.exit_code == 3
    rows = list(imgcheck.scan(tmp_path / "imgs", model, workers=0, keep_classes=True))
    fmt = CsvFormat(class_names=CLASSES)
    assert fmt.header() + fmt.encode(rows) == out.read_text()
    assert [row.p_fake for row in rows] == [row.p_fake for row in imgcheck.scan(tmp_path / "imgs", model, workers=0)]
    predictions = imgcheck.Detector(model).predict([*paths, b"not an image"], keep_classes=True)
    assert [p.classes for p in predictions] == [row.classes for row in rows]
    assert [p.p_fake for p in predictions[:-1]] == [row.p_fake for row in rows[:-1]]
    expected = expected_probabilities(np.array([np.full((8, 8, 3), c, np.uint8) for c in colors]))
    np.testing.assert_allclose([list(p.classes.values()) for p in predictions[:-1]], expected, atol=1e-6)
    assert imgcheck.Detector(model).predict(paths[0]).pop().classes is None  # not asked for
    with pytest.raises(ScanUsageError, match="--keep-classes: the model outputs a single probability of FAKE"):
        list(imgcheck.scan(tmp_path / "imgs", brightness_model, workers=0, keep_classes=True))
    with pytest.raises(ImgcheckError, match="keep_classes: the model outputs a single probability of FAKE"):
        imgcheck.Detector(brightness_model).predict(paths, keep_classes=True)


def test_torch_models_keep_the_same_classes_as_onnx(tmp_path):
    import torch

    from class_models import BIAS, WEIGHTS, class_meta, class_model, color_images
    from imgcheck.export.metadata import torchscript_extra_files

    class Scorer(torch.nn.Module):  # class_model's graph in torch: channel means x WEIGHTS + BIAS
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("weights", torch.from_numpy(WEIGHTS))
            self.register_buffer("bias", torch.from_numpy(BIAS))

        def forward(self, image: torch.Tensor) -> torch.Tensor:
            return image.mean(dim=(2, 3)) @ self.weights + self.bias

    script = tmp_path / "classes.pt"
    torch.jit.save(torch.jit.trace(Scorer(), torch.zeros(1, 3, 8, 8)), str(script),
                   _extra_files=torchscript_extra_files(class_meta()))
    paths = color_images(tmp_path / "imgs", [(0, 0, 0), (200, 100, 50)])
    from_torch = imgcheck.Detector(script, device="cpu").predict(paths, keep_classes=True)
    onnx_detector = imgcheck.Detector(class_model(tmp_path / "classes.onnx"), device="cpu")
    from_onnx = onnx_detector.predict(paths, keep_classes=True)
    for a, b in zip(from_torch, from_onnx, strict=True):
        assert a.p_fake == pytest.approx(b.p_fake, abs=1e-6)
        assert list(a.classes) == list(b.classes)
        np.testing.assert_allclose(list(a.classes.values()), list(b.classes.values()), atol=1e-6)
