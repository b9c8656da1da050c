"""Shipped models by name: `--model NAME` opens the package's file; a real file of that name still wins."""

import json
from pathlib import Path

import pytest

from imgcheck.infer.cli.root import cli
from imgcheck.infer.errors import ModelFileError
from imgcheck.infer.models.model_file import ModelFile, file_sha256, read_meta
from imgcheck.infer.models.shipped import DEFAULT_MODEL, SHIPPED, resolve_model_path, shipped_model_path

SAMPLES = Path(__file__).resolve().parents[3] / "samples"
MODEL_CARD = Path(__file__).resolve().parents[3] / "MODEL_CARD.md"


@pytest.mark.parametrize("name", list(SHIPPED))
def test_every_shipped_model_is_in_the_package_carries_its_metadata_and_has_a_card(name):
    path = shipped_model_path(name)
    assert path.name == SHIPPED[name].file and path.parent.name == "models"
    meta = read_meta(path)
    assert meta.provenance.dataset == "cifake" and meta.provenance.train_image_sizes == ((32, 32), (32, 32))
    assert file_sha256(path) in MODEL_CARD.read_text()  # the card describes this very file


def test_a_name_opens_the_shipped_file_and_a_real_file_of_that_name_wins(tmp_path, monkeypatch, tiny_files):
    assert ModelFile.open(DEFAULT_MODEL).path == shipped_model_path(DEFAULT_MODEL)
    monkeypatch.chdir(tmp_path)
    (tmp_path / DEFAULT_MODEL).write_bytes(tiny_files["onnx"].read_bytes())
    assert resolve_model_path(DEFAULT_MODEL) == Path(DEFAULT_MODEL)
    assert ModelFile.open(DEFAULT_MODEL).meta.arch == "tiny"
    assert resolve_model_path("elsewhere.onnx") == Path("elsewhere.onnx")


def test_an_unknown_name_says_which_names_there_are():
    with pytest.raises(ModelFileError, match=f"no such model file \\(the models shipped with imgcheck, by name: "
                                             f"{DEFAULT_MODEL}"):
        ModelFile.open("no-such-model")
    with pytest.raises(ModelFileError, match="no shipped model is named 'x'"):
        shipped_model_path("x")


def test_info_lists_the_shipped_models(runner):
    listed = runner.invoke(cli, ["info", "--list", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert [row["name"] for row in rows] == list(SHIPPED)
    assert [row["default"] for row in rows] == [name == DEFAULT_MODEL for name in SHIPPED]
    assert all(row["size_bytes"] == shipped_model_path(row["name"]).stat().st_size for row in rows)
    table = runner.invoke(cli, ["info", "--list"])
    assert table.exit_code == 0 and all(name in table.stdout for name in SHIPPED)
    both = runner.invoke(cli, ["info", "--list", "some.onnx"])
    assert both.exit_code == 2 and "give no MODEL with it" in both.stderr


@pytest.mark.parametrize("name", list(SHIPPED))
def test_scan_takes_a_shipped_name(runner, tmp_path, name):
    out = tmp_path / "v.csv"
    result = runner.invoke(cli, ["scan", str(SAMPLES / "FAKE"), "--model", name, "--out", str(out), "--workers", "0",
                                 "--quiet"])
    assert result.exit_code == 0, result.output
    assert Path(json.loads(Path(f"{out}.json").read_text())["model"]["path"]) == shipped_model_path(name)


@pytest.mark.parametrize("name", list(SHIPPED))
def test_a_shipped_int8_model_cannot_saturate_on_cpus_without_vnni(name):
    model_file = ModelFile.open(name)
    if model_file.format.precision != "int8":
        return
    graph = model_file.graph()
    assert not graph.signed_int8_weights or graph.signed_int8_within_7_bits  # 7-bit signed weights: exact anywhere


def test_the_python_api_takes_a_shipped_name():
    import imgcheck

    [prediction] = imgcheck.Detector("cifake-opennsfw").predict([SAMPLES / "FAKE" / "0 (2).jpg"])
    assert not prediction.error and prediction.verdict in ("REAL", "FAKE") and 0.0 <= prediction.p_fake <= 1.0
