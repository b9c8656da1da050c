import json
import subprocess
import sys

import pytest
import torch

from imgcheck.infer.cli.root import cli
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
    assert "imgcheck train needs torch: pip install 'imgcheck[train]'" in result.stderr
