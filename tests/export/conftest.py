"""A trained cnn checkpoint and its synthetic data, shared by the export tests."""

from __future__ import annotations

import pytest

from imgcheck.trainer.run import TrainConfig, run_training
from synthetic_data import make_dataset


@pytest.fixture(scope="session")
def trained_cnn(tmp_path_factory):
    """(checkpoint path, data root): the report's CNN trained 2 epochs on separable synthetic images."""
    root = tmp_path_factory.mktemp("export_data")
    data = make_dataset(root / "data", train_per_group=10, test_per_group=4)
    run_training(TrainConfig(arch="cnn", data=str(data), out=str(root / "run"), train_size=None, test_size=None,
                             epochs=2, target_acc=None, lr=1e-3, seed=0), quiet=True)
    return root / "run" / "best.pt", data
