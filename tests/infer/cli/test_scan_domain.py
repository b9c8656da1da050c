"""The scan's domain notes: width and height columns, and a warning when images are far larger (or smaller) than
the model's training images, from its ModelMeta's record or, without one, its input size."""

import json

import pytest

from imgcheck.infer.cli.root import cli
from imgcheck.infer.meta import Provenance
from imgcheck.infer.models.model_file import ModelFile
from imgcheck.infer.models.rewrite import write_model_with_meta
from synthetic_data import gray_image


@pytest.fixture
def photos(tmp_path):
    for i in range(3):
        gray_image(tmp_path / "photos" / f"big{i}.png", 50 * i, size=(400, 300))
    gray_image(tmp_path / "photos" / "small.png", 99, size=(32, 32))
    return tmp_path / "photos"


def _scan(runner, model, folder, out, *extra):
    return runner.invoke(cli, ["scan", str(folder), "--model", str(model), "--out", str(out), "--workers", "0",
                               *extra])


def test_a_model_that_records_its_training_sizes_names_them(runner, tiny_files, photos, tmp_path):
    model = ModelFile.open(tiny_files["onnx"])
    recorded = tmp_path / "recorded.onnx"
    write_model_with_meta(model, recorded, model.meta.replace(
        provenance=Provenance(dataset="cifake", train_image_sizes=((32, 32), (32, 32)))))
    result = _scan(runner, recorded, photos, tmp_path / "v.csv", "--quiet")
    assert result.exit_code == 0, result.output
    assert ("warning: trained on 32×32 images; 3 of 4 images here are larger than 4× that: their verdicts are "
            "unreliable, see MODEL_CARD.md") in " ".join(result.stderr.split())  # even with --quiet
    domain = json.loads((tmp_path / "v.csv.json").read_text())["domain"]
    assert domain == {"train_image_sizes": [[32, 32], [32, 32]], "recorded": True, "factor": 4, "sized": 4,
                      "larger": 3, "smaller": 0, "out_of_domain": 3, "abstain": False, "abstained": 0}
    assert "400,300,,out:larger-than-4x-training\n" in (tmp_path / "v.csv").read_text()
    info = runner.invoke(cli, ["info", str(recorded)])
    assert info.exit_code == 0 and "train image sizes" in info.stdout and "32×32 (W×H)" in info.stdout


def test_without_the_record_the_warning_falls_back_to_the_input_size(runner, tiny_files, photos, tmp_path):
    result = _scan(runner, tiny_files["onnx"], photos, tmp_path / "v.csv")
    assert result.exit_code == 0, result.output
    said = " ".join(result.stderr.split())
    assert "the model takes 32×32 inputs (its ModelMeta does not record its training images' sizes); 3 of 4" in said


def test_images_the_model_knows_get_no_warning(runner, tiny_files, tmp_path):
    gray_image(tmp_path / "cifar" / "a.png", 10)
    result = _scan(runner, tiny_files["onnx"], tmp_path / "cifar", tmp_path / "v.csv")
    assert result.exit_code == 0 and "warning" not in result.stderr
