"""`imgcheck import`: foreign ONNX and TorchScript classifiers get a ModelMeta, and every command then takes them."""

import csv
import io

import numpy as np
import pytest
from onnx import TensorProto
from PIL import Image

from foreign_models import SIZE, export_onnx, export_torchscript, mean_scorer, torchvision_resnet18
from imgcheck.infer.cli.root import cli
from imgcheck.infer.models.model_file import ModelFile
from imgcheck.infer.preprocess import Preprocessor
from synthetic_data import gray_image


@pytest.fixture(scope="module")
def foreign(tmp_path_factory):
    """A torchvision ResNet-18 with two-class logits, as ONNX with a dynamic batch, ONNX with a fixed batch of 1,
    and TorchScript; plus the model itself, to compute what the scan must give."""
    folder = tmp_path_factory.mktemp("foreign")
    model = torchvision_resnet18()
    return {"model": model, "dynamic": export_onnx(model, folder / "dynamic.onnx", batch=None),
            "fixed": export_onnx(model, folder / "fixed.onnx", batch=1),
            "torchscript": export_torchscript(model, folder / "r18.pt")}


@pytest.fixture
def images(tmp_path):
    folder = tmp_path / "imgs"
    for i in range(5):
        pixels = np.random.default_rng(i).integers(0, 256, (40 + i, 50, 3), dtype=np.uint8)
        folder.mkdir(exist_ok=True)
        Image.fromarray(pixels).save(folder / f"{i}.png")
    return folder


def _import(runner, source, out, *options):
    return runner.invoke(cli, ["import", str(source), "--out", str(out), *map(str, options)])


def _scan_p_fake(runner, model, folder, tmp_path):
    out = tmp_path / "v.csv"
    result = runner.invoke(cli, ["scan", str(folder), "--model", str(model), "--out", str(out), "--workers", "0",
                                 "--quiet", "--batch-size", "3"])
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(out.read_text())))[1:]
    return [row[0] for row in rows], np.array([float(row[1]) for row in rows])


def _expected_p_fake(model, meta, paths, fake_index=1):
    """softmax(logits)[fake_index] of the torch model, on the very tensors imgcheck's preprocessing makes."""
    import torch

    pre = Preprocessor.from_meta(meta)
    batch = torch.from_numpy(np.stack([pre(path) for path in paths]))
    with torch.no_grad():
        return torch.softmax(model(batch), dim=1)[:, fake_index].numpy()


@pytest.mark.parametrize("kind", ["dynamic", "fixed", "torchscript"])
def test_an_imported_resnet_scans_to_softmax_of_its_logits(runner, foreign, images, tmp_path, kind):
    out = tmp_path / ("m.pt" if kind == "torchscript" else "m.onnx")
    extra = ["--input-size", SIZE] if kind == "torchscript" else []
    result = _import(runner, foreign[kind], out, "--output", "logits", *extra)
    assert result.exit_code == 0, result.output
    meta = ModelFile.open(out).meta
    assert meta.input_size == (3, SIZE, SIZE) and meta.output == "logits" and meta.positive_class == "FAKE"
    assert meta.provenance.extra["imported"]["source"] == foreign[kind].name
    assert ("fixed batch of 1" in result.stderr) == (kind == "fixed")  # said, and then run one image at a time
    paths, p_fake = _scan_p_fake(runner, out, images, tmp_path)
    np.testing.assert_allclose(p_fake, _expected_p_fake(foreign["model"], meta, paths), atol=2e-6)
    assert runner.invoke(cli, ["info", str(out)]).exit_code == 0
    bench = runner.invoke(cli, ["bench", str(out), "--synthetic", "4", "--batch-sizes", "3", "--stages", "infer",
                                "--repeat", "1", "--warmup", "0", "--workers", "0", "--quiet"])
    assert bench.exit_code == 0, bench.output


def test_a_per_class_output_with_named_classes_and_a_fake_index(runner, foreign, images, tmp_path):
    out = tmp_path / "m.onnx"
    result = _import(runner, foreign["dynamic"], out, "--output", "logits", "--class-names", "ai,photo",
                     "--fake-index", "0", "--threshold", "0.3")
    assert result.exit_code == 0, result.output
    meta = ModelFile.open(out).meta
    assert meta.class_names == ("ai", "photo") and meta.positive_class == "ai" and meta.threshold == 0.3
    paths, p_fake = _scan_p_fake(runner, out, images, tmp_path)
    np.testing.assert_allclose(p_fake, _expected_p_fake(foreign["model"], meta, paths, fake_index=0), atol=2e-6)


def test_dynamic_batch_rewrites_a_graph_that_allows_it_and_refuses_one_that_does_not(runner, foreign, images,
                                                                                    tmp_path):
    fixed = mean_scorer(tmp_path / "fixed_mean.onnx", batch=1, size=(SIZE, SIZE))
    out = tmp_path / "rewritten.onnx"
    result = _import(runner, fixed, out, "--output", "probability", "--mean", "0,0,0", "--std", "1,1,1",
                     "--dynamic-batch")
    assert result.exit_code == 0, result.output
    assert "rewrote the fixed batch of 1" in result.stderr
    from onnx import load

    assert load(str(out)).graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"
    paths, p_fake = _scan_p_fake(runner, out, images, tmp_path)
    pre = Preprocessor.from_meta(ModelFile.open(out).meta)
    np.testing.assert_allclose(p_fake, [pre(p).mean() for p in paths], atol=2e-6)
    # torchvision's graph reshapes to [1, 512] inside: the rewrite is checked, refused, and nothing is written
    refused = _import(runner, foreign["fixed"], tmp_path / "nope.onnx", "--output", "logits", "--dynamic-batch")
    assert refused.exit_code == 1 and "hard-codes its batch of 1" in refused.stderr
    assert not (tmp_path / "nope.onnx").exists()


@pytest.mark.parametrize("make, options, fragment", [
    (lambda p: mean_scorer(p, input_rank=2, size=()), ["--output", "probability"], "not an image batch [N, 3, H, W]"),
    (lambda p: mean_scorer(p, input_type=TensorProto.INT64, size=(SIZE, SIZE)), ["--output", "probability"],
     "is tensor(int64); imgcheck feeds float32"),
    (lambda p: mean_scorer(p), ["--output", "probability"], "takes any size (H x W); give --input-size"),
    (lambda p: mean_scorer(p, size=(SIZE, SIZE)), ["--output", "probability", "--input-size", "64"],
     f"declared --input-size 64x64, but the model takes {SIZE}x{SIZE}"),
    (lambda p: mean_scorer(p, size=(SIZE, SIZE)), ["--output", "softmax"],
     "declared softmax over 2 classes (REAL, FAKE), so it must be [N, 2]"),
    (lambda p: mean_scorer(p, size=(SIZE, SIZE)), ["--output", "probability", "--std", "0.01,0.01,0.01"],
     "declared probability, but the model outputs"),  # inputs far outside [0, 1]: so is their mean
    (lambda p: export_onnx(torchvision_resnet18(num_classes=1000), p, batch=None), ["--output", "softmax"],
     "declared softmax over 2 classes (REAL, FAKE), the model outputs [N, 1000]"),
    (lambda p: export_onnx(torchvision_resnet18(), p, batch=None), ["--output", "softmax"],
     "not probabilities summing to 1"),
    (lambda p: export_onnx(torchvision_resnet18(), p, batch=None), ["--output", "logits", "--fake-index", "2"],
     "--fake-index 2 is out of range for 2 classes"),
])
def test_refusals_name_the_problem_and_write_nothing(runner, tmp_path, make, options, fragment):
    source = make(tmp_path / "foreign.onnx")
    result = _import(runner, source, tmp_path / "out.onnx", *options)
    assert result.exit_code == 1, result.output
    assert fragment in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out.onnx").exists() and not list(tmp_path.glob(".*tmp"))


def test_a_model_with_several_inputs_is_refused(runner, tmp_path):
    from onnx import helper

    from foreign_models import onnx_graph

    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, SIZE, SIZE])
    mask = helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["N", 3, SIZE, SIZE])
    score = helper.make_tensor_value_info("score", TensorProto.FLOAT, ["N"])
    source = onnx_graph(tmp_path / "two.onnx", [image, mask], [score],
                        [helper.make_node("Add", ["image", "mask"], ["sum"]),
                         helper.make_node("ReduceMean", ["sum"], ["score"], axes=[1, 2, 3], keepdims=0)])
    result = _import(runner, source, tmp_path / "out.onnx", "--output", "logit")
    assert result.exit_code == 1 and "it has 2 inputs (image, mask)" in result.stderr
    assert not (tmp_path / "out.onnx").exists()


def test_import_never_overwrites_its_input_and_needs_force_to_replace(runner, foreign, tmp_path):
    source = tmp_path / "m.onnx"
    source.write_bytes(foreign["dynamic"].read_bytes())
    same = _import(runner, source, source, "--output", "logits")
    assert same.exit_code == 1 and "never overwrites its input" in same.stderr
    assert source.read_bytes() == foreign["dynamic"].read_bytes()
    out = tmp_path / "out.onnx"
    out.write_text("something precious")
    taken = _import(runner, source, out, "--output", "logits")
    assert taken.exit_code == 1 and "--force" in taken.stderr and out.read_text() == "something precious"
    assert _import(runner, source, out, "--output", "logits", "--force").exit_code == 0
    assert ModelFile.open(out).meta.output == "logits"


def test_a_model_without_meta_points_to_import(runner, foreign, images, tmp_path):
    result = runner.invoke(cli, ["scan", str(images), "--model", str(foreign["dynamic"]), "--out",
                                 str(tmp_path / "v.csv")])
    assert result.exit_code == 1 and "imgcheck import" in result.stderr


def test_an_imgcheck_checkpoint_is_not_imported(runner, tiny_files, tmp_path):
    result = _import(runner, tiny_files["checkpoint"], tmp_path / "out.onnx", "--output", "logit")
    assert result.exit_code == 1 and "needs no import" in result.stderr


def test_gray_images_score_in_the_middle_for_a_mean_scorer(runner, tmp_path):
    """A probability output is used as is: the mean pixel of a uniform gray image, in [0, 1] inputs."""
    source = mean_scorer(tmp_path / "mean.onnx", size=(SIZE, SIZE))
    out = tmp_path / "m.onnx"
    assert _import(runner, source, out, "--output", "probability", "--mean", "0,0,0", "--std", "1,1,1").exit_code == 0
    gray_image(tmp_path / "g" / "a.png", 51)
    paths, p_fake = _scan_p_fake(runner, out, tmp_path / "g", tmp_path)
    assert p_fake.tolist() == [pytest.approx(0.2, abs=1e-6)]
