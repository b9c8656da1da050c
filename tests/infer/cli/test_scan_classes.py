"""`imgcheck scan --keep-classes`: each class's probability after the fixed columns, p_fake unchanged, and resume
that refuses a file whose class columns differ."""

import csv
import json

import numpy as np
import pytest
from PIL import Image

from class_models import CLASSES, class_meta, class_model, color_images, expected_probabilities
from imgcheck.infer.cli.root import cli
from imgcheck.infer.preprocess import Preprocessor
from imgcheck.infer.scan.verdict_formats import FIELDS

COLORS = [(0, 0, 0), (255, 0, 0), (0, 255, 0), (10, 200, 250), (128, 128, 128), (250, 240, 5)]
HEADER = 'path,p_fake,verdict,error,width,height,provenance,domain,p:REAL,"p:sd,v1.5",p:=midjourney,"p:da""lle"\n'


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """The per-class model with raw logits and with a softmax output."""
    folder = tmp_path_factory.mktemp("class_models")
    return {output: class_model(folder / f"{output}.onnx", class_meta(output)) for output in ("logits", "softmax")}


@pytest.fixture
def images(tmp_path):
    """Uniform images of COLORS, then a file that is not an image."""
    folder = tmp_path / "imgs"
    color_images(folder, COLORS)
    (folder / "zz_broken.png").write_bytes(b"not an image")
    return folder


def _scan(runner, images, model, out, *extra, code=3):
    result = runner.invoke(cli, ["scan", str(images), "--model", str(model), "--out", str(out), "--workers", "0",
                                 "--quiet", *extra])
    assert result.exit_code == code, result.output
    return result


def _records(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def _expected():
    return expected_probabilities(np.array([np.full((8, 8, 3), color, np.uint8) for color in COLORS]))


@pytest.mark.parametrize("output", ["logits", "softmax"])
def test_class_columns_follow_the_fixed_ones_and_p_fake_is_unchanged(runner, models, images, tmp_path, output):
    plain, kept = tmp_path / "plain.csv", tmp_path / "kept.csv"
    _scan(runner, images, models[output], plain)
    _scan(runner, images, models[output], kept, "--keep-classes")
    assert plain.read_text().startswith(",".join(FIELDS) + "\n")
    assert kept.read_text().startswith(HEADER)
    plain_rows, kept_rows = _records(plain), _records(kept)
    assert [row[:len(FIELDS)] for row in kept_rows[1:]] == plain_rows[1:]  # the eight columns byte for byte
    classes = np.array([[float(cell) for cell in row[len(FIELDS):]] for row in kept_rows[1:-1]])
    np.testing.assert_allclose(classes, _expected(), atol=1e-6)
    p_fake = np.array([float(row[1]) for row in kept_rows[1:-1]])
    np.testing.assert_allclose(classes[:, 1:].sum(axis=1), p_fake, atol=4e-6)  # every class but REAL
    assert all(len(cell.split(".")[1]) == 6 for row in kept_rows[1:-1] for cell in row[len(FIELDS):])
    assert kept_rows[-1][2] == "ERROR" and kept_rows[-1][len(FIELDS):] == [""] * len(CLASSES)
    side = json.loads((tmp_path / "kept.csv.json").read_text())
    assert side["classes"] == list(CLASSES) and json.loads((tmp_path / "plain.csv.json").read_text())["classes"] == []


def test_jsonl_lines_carry_a_classes_object(runner, models, images, tmp_path):
    plain, kept = tmp_path / "plain.jsonl", tmp_path / "kept.jsonl"
    _scan(runner, images, models["logits"], plain)
    _scan(runner, images, models["logits"], kept, "--keep-classes")
    plain_lines = [json.loads(line) for line in plain.read_text().splitlines()]
    kept_lines = [json.loads(line) for line in kept.read_text().splitlines()]
    assert "classes" not in plain_lines[0]
    assert [{k: v for k, v in line.items() if k != "classes"} for line in kept_lines] == plain_lines
    assert list(kept_lines[0]["classes"]) == list(CLASSES) and kept_lines[-1]["classes"] is None
    got = np.array([list(line["classes"].values()) for line in kept_lines[:-1]])
    np.testing.assert_allclose(got, _expected(), atol=1e-6)


def test_resume_finishes_a_file_with_class_columns(runner, models, images, tmp_path):
    whole, torn = tmp_path / "whole.csv", tmp_path / "torn.csv"
    _scan(runner, images, models["logits"], whole, "--keep-classes")
    text = whole.read_text()
    torn.write_text(text[: text.index("\n", len(text) // 2) + 12])  # cut inside a row
    _scan(runner, images, models["logits"], torn, "--keep-classes", "--resume")
    assert torn.read_bytes() == whole.read_bytes()
    assert json.loads((tmp_path / "torn.csv.json").read_text())["counts"]["resumed_rows"] >= 2


@pytest.mark.parametrize("suffix", ["csv", "jsonl"])
def test_resume_refuses_a_file_whose_class_columns_differ(runner, models, images, tmp_path, suffix):
    kept, plain = tmp_path / f"kept.{suffix}", tmp_path / f"plain.{suffix}"
    _scan(runner, images, models["logits"], kept, "--keep-classes")
    _scan(runner, images, models["logits"], plain)
    before = kept.read_bytes(), plain.read_bytes()
    without = _scan(runner, images, models["logits"], kept, "--resume", code=1)
    assert (f"cannot resume {kept}: its rows carry per-class probabilities (it was scanned with --keep-classes); "
            "add --keep-classes to finish it, or scan without --resume to start afresh.") in without.stderr
    added = _scan(runner, images, models["logits"], plain, "--resume", "--keep-classes", code=1)
    assert (f"cannot resume {plain}: its rows carry no per-class probabilities; drop --keep-classes to finish it"
            in added.stderr)
    other = class_model(tmp_path / "other.onnx", class_meta(class_names=("real", "fake", "x", "y"),
                                                             positive_class="fake", positive_classes=("fake",)))
    mismatch = _scan(runner, images, other, kept, "--resume", "--keep-classes", code=1)
    assert "its per-class probabilities are of the classes 'REAL', 'sd,v1.5', '=midjourney', 'da\"lle'" in \
        mismatch.stderr
    assert "and this model's are 'real', 'fake', 'x', 'y'; use the model that wrote it" in mismatch.stderr
    assert (kept.read_bytes(), plain.read_bytes()) == before  # refused before anything was written


def test_a_single_output_model_is_a_usage_error(runner, brightness_model, images, tmp_path):
    out = tmp_path / "v.csv"
    result = _scan(runner, images, brightness_model, out, "--keep-classes", code=2)
    assert "--keep-classes: the model outputs a single probability of FAKE" in result.stderr
    assert "its p_fake already is p(FAKE), and p(REAL) is 1 - p_fake" in result.stderr
    assert "Drop --keep-classes, or scan with a model that outputs one score per class" in result.stderr
    assert not out.exists()


def test_a_tiled_model_keeps_the_mean_of_its_tiles(runner, tmp_path):
    meta = class_meta(fit="crop", tiles=4, tile_combine="max")
    model = class_model(tmp_path / "tiled.onnx", meta)
    images = tmp_path / "imgs"
    images.mkdir()
    rng = np.random.default_rng(3)
    for index in range(3):
        Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(images / f"{index}.png")
    plain, kept = tmp_path / "plain.csv", tmp_path / "kept.csv"
    _scan(runner, images, model, plain, code=0)
    _scan(runner, images, model, kept, "--keep-classes", code=0)
    kept_rows = _records(kept)
    assert [row[:len(FIELDS)] for row in kept_rows[1:]] == _records(plain)[1:]
    pre = Preprocessor.from_meta(meta)
    for index, row in enumerate(kept_rows[1:]):
        tiles = pre.load_tiles(str(images / f"{index}.png"))
        expected = expected_probabilities(tiles)
        np.testing.assert_allclose([float(c) for c in row[len(FIELDS):]], expected.mean(axis=0), atol=1e-6)
        assert float(row[1]) == pytest.approx(expected[:, 1:].sum(axis=1).max(), abs=2e-6)  # p_fake: max tile


def test_help_names_the_option(runner):
    result = runner.invoke(cli, ["scan", "--help"])
    assert "--keep-classes" in result.output and "p:<class>" in result.output
