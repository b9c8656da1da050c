"""Every command that opens a model refuses hostile model files the same way: exit 1, one line, no traceback, and
nothing in the file runs or is read. (The refusals themselves are unit-tested beside the readers; these tests pin
down that no command path goes around them.)"""

import json

import pytest

from hostile_models import external_data_model, pickled_code_checkpoint
from imgcheck.infer.cli.root import cli
from synthetic_data import gray_image, make_dataset


def _labeled(root):
    gray_image(root / "REAL" / "r.png", 40)
    gray_image(root / "FAKE" / "f.png", 200)
    return root


def _assert_one_line_refusal(result, fragment):
    assert result.exit_code == 1, result.output
    assert fragment in result.stderr and "Traceback" not in result.stderr
    assert len([line for line in result.stderr.splitlines() if line.startswith("Error")]) == 1


@pytest.fixture
def evil(tmp_path):
    marker = tmp_path / "code-ran"
    return pickled_code_checkpoint(tmp_path / "evil.pt", marker), marker


def _pickled_code_commands(evil_path, tmp_path):
    images = _labeled(tmp_path / "imgs")
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"arch": "cnn", "data": str(tmp_path / "nowhere"), "out": str(run)}))
    (run / "last.pt").write_bytes(evil_path.read_bytes())
    data = make_dataset(tmp_path / "data", train_per_group=1, test_per_group=1, categories=2)
    return {
        "scan": ["scan", str(images), "--model", str(evil_path), "--out", str(tmp_path / "v.csv"), "--workers", "0"],
        "bench": ["bench", str(evil_path), "--synthetic", "4", "--workers", "0"],
        "calibrate": ["calibrate", str(evil_path), str(images), "--workers", "0"],
        "info": ["info", str(evil_path)],
        "export": ["export", str(evil_path), "--out", str(tmp_path / "exported")],
        "train --weights-file": ["train", "--arch", "cnn", "--data", str(data), "--out", str(tmp_path / "t"),
                                 "--weights-file", str(evil_path), "--quiet"],
        "train --resume": ["train", "--resume", str(run), "--quiet"],
    }


@pytest.mark.parametrize("command", ["scan", "bench", "calibrate", "info", "export", "train --weights-file",
                                     "train --resume"])
def test_a_checkpoint_needing_pickled_code_is_refused_by_every_command(runner, evil, tmp_path, command):
    evil_path, marker = evil
    args = _pickled_code_commands(evil_path, tmp_path)[command]
    result = runner.invoke(cli, args)
    _assert_one_line_refusal(result, "safely")
    assert not marker.exists()  # the payload never ran
    assert not (tmp_path / "exported").exists() and not (tmp_path / "t" / "last.pt").exists()


def _external_data_commands(model, tmp_path, engine_ray=False):
    images = _labeled(tmp_path / "imgs")
    return {
        "scan": ["scan", str(images), "--model", str(model), "--out", str(tmp_path / "v.csv"), "--workers", "0"],
        "bench": ["bench", str(model), "--synthetic", "4", "--workers", "0"],
        "calibrate": ["calibrate", str(model), str(images), "--workers", "0"],
        "scan --engine ray": ["scan", str(images), "--model", str(model), "--out", str(tmp_path / "v.csv"),
                              "--engine", "ray", "--workers", "1", "--quiet"],
    }


@pytest.mark.parametrize("location", ["../weights.bin", "/etc/passwd", "link.bin"])
@pytest.mark.parametrize("command", ["scan", "bench", "calibrate"])
def test_external_data_outside_the_model_folder_is_refused_by_every_command(runner, tmp_path, command, location):
    model = external_data_model(tmp_path / "model", location)
    result = runner.invoke(cli, _external_data_commands(model, tmp_path)[command])
    _assert_one_line_refusal(result, "outside the model's folder")
    assert not (tmp_path / "v.csv").exists()


@pytest.mark.slow
def test_external_data_outside_the_model_folder_is_refused_by_the_ray_engine(runner, tmp_path):
    pytest.importorskip("ray")
    model = external_data_model(tmp_path / "model", "../weights.bin")
    result = runner.invoke(cli, _external_data_commands(model, tmp_path)["scan --engine ray"])
    _assert_one_line_refusal(result, "outside the model's folder")
