import dataclasses
import json
import subprocess
import sys

import click
import pytest
import torch

from imgcheck.infer.cli.root import cli
from imgcheck.infer.cli.train import config_from_options, train
from imgcheck.trainer.config import TrainConfig
from synthetic_data import make_dataset


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("synthetic"), train_per_group=4, test_per_group=2)


def test_train_command_runs_and_reports_on_stderr(runner, data_dir, tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(cli, ["train", "--data", str(data_dir), "--out", str(out), "--train-size", "all",
                                 "--test-size", "40", "--epochs", "2", "--lr", "1e-3", "--no-target"])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""  # status goes to stderr
    assert "epoch  0 (untrained)" in result.stderr and "epoch  2 " in result.stderr
    assert "selected epoch" in result.stderr and "test accuracy" in result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["data"]["test"] == 40 and summary["epochs_run"] == 2
    assert summary["config"]["target_acc"] is None

    # resuming a finished run changes nothing and says so by finishing at once
    again = runner.invoke(cli, ["train", "--resume", str(out), "--quiet"])
    assert again.exit_code == 0 and again.stderr == ""
    assert json.loads((out / "summary.json").read_text())["test_metrics"] == summary["test_metrics"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cuda_without_a_gpu_is_a_clear_error(runner, data_dir, tmp_path):
    result = runner.invoke(cli, ["train", "--data", str(data_dir), "--out", str(tmp_path / "r"), "--device", "cuda"])
    assert result.exit_code == 1
    assert "--device cuda: torch sees no CUDA GPU here" in result.stderr


def test_bad_arguments(runner, tmp_path):
    assert runner.invoke(cli, ["train", "--train-size", "lots"]).exit_code == 2
    assert runner.invoke(cli, ["train", "--arch", "vgg16"]).exit_code == 2
    result = runner.invoke(cli, ["train", "--resume", str(tmp_path / "none")])
    assert result.exit_code == 1 and "no run to resume there" in result.stderr


def test_train_without_torch_says_what_to_install(tmp_path):
    code = ("import sys; sys.modules['torch'] = None\n"
            "from imgcheck.infer.cli.root import cli; cli(sys.argv[1:], prog_name='imgcheck')")
    result = subprocess.run([sys.executable, "-c", code, "train", "--out", str(tmp_path / "r")], capture_output=True,
                            text=True)
    assert result.returncode == 1
    assert "imgcheck train needs torch: pip install -e '.[train]'" in result.stderr


def test_any_input_size_reaches_the_checkpoint_the_export_and_the_scan(runner, data_dir, tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(cli, ["train", "--arch", "cnn_bn", "--input-size", "48x40", "--data", str(data_dir), "--out",
                                 str(out), "--train-size", "all", "--test-size", "all", "--epochs", "1", "--quiet"])
    assert result.exit_code == 0, result.output
    from imgcheck.infer.models.model_file import ModelFile

    assert ModelFile.open(out / "best.pt").meta.input_size == (3, 48, 40)
    export = runner.invoke(cli, ["export", str(out / "best.pt"), "--format", "onnx", "--out", str(tmp_path / "m")])
    assert export.exit_code == 0, export.output
    assert ModelFile.open(tmp_path / "m" / "cnn_bn.onnx").meta.input_size == (3, 48, 40)
    scan = runner.invoke(cli, ["scan", str(data_dir / "test"), "--model", str(tmp_path / "m" / "cnn_bn.onnx"),
                               "--out", str(tmp_path / "v.csv"), "--workers", "0", "--quiet"])
    assert scan.exit_code == 0, scan.output
    resumed = json.loads((out / "config.json").read_text())
    assert resumed["input_size"] == [48, 40]


@pytest.mark.parametrize("arch, size, fragment", [
    ("cnn", "64", "is 32x32 by definition"),
    ("resnet18_v1", "600", "ResNets take 32 to 512 pixels a side"),
    ("cnn_bn", "4", "cnn_bn takes 8 to 2048 pixels a side"),
])
def test_an_input_size_the_arch_cannot_take_is_refused_before_any_work(runner, data_dir, tmp_path, arch, size,
                                                                       fragment):
    result = runner.invoke(cli, ["train", "--arch", arch, "--input-size", size, "--data", str(data_dir), "--out",
                                 str(tmp_path / "run")])
    assert result.exit_code == 1 and fragment in result.stderr
    assert not (tmp_path / "run").exists()


def test_every_setting_is_one_train_option_with_the_settings_default():
    ctx = click.Context(train)
    by_name: dict[str, list[click.Parameter]] = {}
    for param in train.params:
        by_name.setdefault(param.name, []).append(param)
    fields = dataclasses.fields(TrainConfig)
    for field in fields:
        assert len(by_name.get(field.name, [])) == 1, f"TrainConfig.{field.name}: not exactly one option"
        (param,) = by_name[field.name]
        assert param.type_cast_value(ctx, param.get_default(ctx)) == field.default, field.name
        assert param.help == field.metadata["cli"].help, field.name
    assert set(by_name) - {field.name for field in fields} == {"no_target", "resume_dir", "quiet"}  # not settings


def _parsed(*args: str) -> TrainConfig:
    settings = dict(train.make_context("train", list(args)).params)
    no_target = settings.pop("no_target")
    del settings["resume_dir"], settings["quiet"]
    return config_from_options(settings, no_target)


def test_the_options_make_the_config_a_python_caller_would():
    assert _parsed() == TrainConfig()  # the report's recipe
    assert _parsed("--arch", "resnet18_v1", "--input-size", "64x48", "--source", "gen=g/FAKE", "--no-target",
                   "--train-size", "all", "--threshold-on-val", "f1", "--compile") == TrainConfig(
        arch="resnet18_v1", input_size=(64, 48), sources=("gen=g/FAKE",), target_acc=None, train_size=None,
        threshold_objective="f1", compile=True)
    assert TrainConfig(arch="resnet18_v1").out == "runs/resnet18_v1"  # --out's default, runs/ARCH


def test_train_help_needs_no_torch():
    code = ("import sys; sys.modules['torch'] = None\n"
            "from imgcheck.infer.cli.root import cli; cli(['train', '--help'], prog_name='imgcheck')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "--threshold-on-val OBJECTIVE" in result.stdout and "[default: 32; x>=1]" in result.stdout
