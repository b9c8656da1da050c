"""benchmarks/gpu_check.sh: its syntax, and its CPU fallback end to end on a tiny CIFAKE-shaped set (CI has no GPU)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from synthetic_data import make_dataset

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.sh"


def test_the_script_parses():
    assert subprocess.run(["bash", "-n", str(SCRIPT)]).returncode == 0


def test_it_refuses_a_folder_without_cifake_splits(tmp_path):
    result = subprocess.run(["bash", str(SCRIPT), str(tmp_path / "out"), str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 2 and "no train/ and test/" in result.stderr


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("timeout") is None, reason="needs coreutils' timeout")
def test_without_cuda_every_step_falls_back_to_the_cpu_and_passes(tmp_path):
    data = make_dataset(tmp_path / "cifake", train_per_group=6, test_per_group=2, categories=2)
    env = {**os.environ, "PYTHON": sys.executable, "CUDA_VISIBLE_DEVICES": "", "TRAIN_SIZE": "24", "TEST_SIZE": "8",
           "BENCH_IMAGES": "32", **{box: "600" for box in ("TRAIN_S", "EXPORT_S", "BENCH_S", "SCAN_S")}}  # function,
    # not speed: the boxes are the script's own business on a GPU machine, and a busy CI machine must not fail them
    out = tmp_path / "check"
    result = subprocess.run(["bash", str(SCRIPT), str(out), str(data)], capture_output=True, text=True, env=env,
                            timeout=1200)
    assert result.returncode == 0, result.stderr + result.stdout
    assert "no CUDA here" in result.stderr
    steps = [line.split("\t") for line in (out / "steps.tsv").read_text().splitlines()]
    assert [s[0] for s in steps] == ["train", "export", "bench", "scan"] and {s[1] for s in steps} == {"0"}
    summary = (out / "summary.md").read_text()
    assert "scan path: ONNX, CPU (no CUDA)" in summary and "| torchscript |" in summary
    assert "scan: 8 files on CPUExecutionProvider" in summary
    assert (out / "scan_metrics.json").exists() and (out / "export" / "cnn_bn.onnx").exists()


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("timeout") is None, reason="needs coreutils' timeout")
def test_a_step_over_its_time_box_is_recorded_and_fails_the_check(tmp_path):
    data = make_dataset(tmp_path / "cifake", train_per_group=2, test_per_group=1, categories=2)
    env = {**os.environ, "PYTHON": sys.executable, "CUDA_VISIBLE_DEVICES": "", "TRAIN_S": "1"}
    out = tmp_path / "check"
    result = subprocess.run(["bash", str(SCRIPT), str(out), str(data)], capture_output=True, text=True, env=env,
                            timeout=600)
    assert result.returncode == 1
    steps = {s.split("\t")[0]: s.split("\t")[1] for s in (out / "steps.tsv").read_text().splitlines()}
    assert steps["train"] == "124" and "step train: exit 124" in result.stderr  # killed at its box, and said so
    assert "| train | 124 |" in (out / "summary.md").read_text()
