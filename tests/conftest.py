"""Shared fixtures. Tests never need ../shared: every file they use is built here or in the test."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from click.testing import CliRunner


@pytest.fixture(scope="session")
def tiny_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The tiny model in every carrier, with and without metadata (exported once per session)."""
    from tiny_models import tiny_meta, write_checkpoint, write_onnx, write_torchscript

    out = tmp_path_factory.mktemp("tiny_models")
    meta = tiny_meta()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit is deprecated upstream; these files are still what users have
        return {
            "onnx": write_onnx(out / "tiny.onnx", meta),
            "onnx_bare": write_onnx(out / "bare.onnx", None),
            "torchscript": write_torchscript(out / "tiny_ts.pt", meta),
            "torchscript_bare": write_torchscript(out / "bare_ts.pt", None),
            "checkpoint": write_checkpoint(out / "tiny_ckpt.pt", meta.replace(output="logit")),
        }


@pytest.fixture(scope="session")
def brightness_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ONNX BrightnessDetector (p_fake grows with the mean pixel), threshold 0.5, inputs scaled to [0, 1]."""
    from tiny_models import BrightnessDetector, tiny_meta, write_onnx

    meta = tiny_meta(arch="brightness", threshold=0.5, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    return write_onnx(tmp_path_factory.mktemp("brightness") / "brightness.onnx", meta, BrightnessDetector())


@pytest.fixture(scope="session")
def trained_cnn(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(checkpoint path, data root): the report's CNN trained 2 epochs on separable synthetic images."""
    from imgcheck.trainer.run import TrainConfig, run_training
    from synthetic_data import make_dataset

    root = tmp_path_factory.mktemp("export_data")
    data = make_dataset(root / "data", train_per_group=10, test_per_group=4)
    run_training(TrainConfig(arch="cnn", data=str(data), out=str(root / "run"), train_size=None, test_size=None,
                             epochs=2, target_acc=None, lr=1e-3, seed=0), quiet=True)
    return root / "run" / "best.pt", data


@pytest.fixture
def runner() -> CliRunner:
    """A click runner; tests read stdout and stderr separately."""
    return CliRunner()
