"""`imgcheck ensemble`: two exported models become one file that scan takes; refusals are one line and exit 1."""

import csv
import io
import warnings

import numpy as np
import pytest
from PIL import Image

from imgcheck.infer.cli.root import cli
from imgcheck.infer.models.model_file import ModelFile
from tiny_models import tiny_meta, tiny_model, write_onnx


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """Two tiny ONNX models (16x16 and 32x32) and a labelled folder of 16x16 images."""
    folder = tmp_path_factory.mktemp("pair")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        small = write_onnx(folder / "small.onnx", tiny_meta(arch="small", input_size=(3, 16, 16)), tiny_model(0))
        large = write_onnx(folder / "large.onnx", tiny_meta(arch="large", threshold=0.7), tiny_model(1))
    rng = np.random.default_rng(0)
    for label in ("REAL", "FAKE"):
        (folder / "images" / label).mkdir(parents=True)
        for i in range(6):
            pixels = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / "images" / label / f"{i}.png")
    return small, large, folder / "images"


def test_ensemble_writes_a_model_that_scan_takes(runner, pair, tmp_path):
    small, large, images = pair
    out = tmp_path / "pair.onnx"
    result = runner.invoke(cli, ["ensemble", str(small), str(large), "--out", str(out), "--check-images", str(images),
                                 "--weight", "1", "--weight", "3"])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""  # status goes to stderr
    assert "member " in result.stderr and "weight 0.75" in result.stderr
    assert "large.onnx sees the 16x16 input upsampled to 32x32" in result.stderr
    assert "wiring (fp32): max |dp_fake|" in result.stderr and "faithfulness: verdicts agree on 100.00% of 12" in result.stderr
    assert ModelFile.open(out).meta.arch == "ensemble(small+large)"
    verdicts = tmp_path / "v.csv"
    scanned = runner.invoke(cli, ["scan", str(images), "--model", str(out), "--out", str(verdicts), "--workers", "0",
                                  "--quiet"])
    assert scanned.exit_code == 0, scanned.output
    assert len(list(csv.reader(io.StringIO(verdicts.read_text())))) == 13


def test_a_refusal_is_one_line_exit_1_and_no_file(runner, pair, tmp_path):
    small, _, images = pair
    out = tmp_path / "e.onnx"
    result = runner.invoke(cli, ["ensemble", str(small), "--out", str(out), "--check-images", str(images)])
    assert result.exit_code == 1
    assert "an ensemble needs at least two models" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_a_shipped_model_joins_by_name(runner, pair, tmp_path):
    from imgcheck.infer.models.shipped import DEFAULT_MODEL, shipped_model_path

    small, _, images = pair
    out = tmp_path / "e.onnx"
    result = runner.invoke(cli, ["ensemble", DEFAULT_MODEL, str(small), "--out", str(out), "--check-images", str(images)])
    assert result.exit_code == 0, result.output
    [member, _] = ModelFile.open(out).meta.provenance.extra["ensemble"]["members"]
    assert member["file"] == shipped_model_path(DEFAULT_MODEL).name
