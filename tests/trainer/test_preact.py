"""The report's "v2" rows as the pre-activation ResNets its text describes (He et al. 2016), built by timm: one logit,
they train, and they export to ONNX and TorchScript behind the parity gate."""

import pytest
import torch

from imgcheck.export.pipeline import export_checkpoint
from imgcheck.infer.models.architectures import build_model
from imgcheck.trainer.config import TrainConfig
from imgcheck.trainer.run import run_training
from synthetic_data import make_dataset


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("preact_data"), train_per_group=2, test_per_group=1, categories=2)


def test_the_preact_blocks_are_pre_activation():
    """timm's resnetv2 puts batch norm and ReLU before each convolution (the 'identity mapping' design)."""
    model = build_model("resnet50_preact")
    block = model.body.stages[0].blocks[0]
    assert type(block).__name__ == "PreActBottleneck" and hasattr(block, "norm1")
    assert model.body.head.fc.out_channels == 1


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["resnet50_preact", "resnet101_preact"])
def test_a_preact_resnet_trains_two_steps_and_exports_with_parity(tiny_data, tmp_path, arch):
    out = tmp_path / "run"
    # 16 training images at batch 8 (a 10% validation split leaves 14): two optimizer steps per epoch
    summary = run_training(TrainConfig(arch=arch, data=str(tiny_data), out=str(out), train_size=None, test_size=None,
                                       epochs=1, target_acc=None, batch_size=8, eval_batch_size=8, lr=1e-3, seed=0),
                           quiet=True)
    assert summary["epochs_run"] == 1 and summary["parameters"] > 20_000_000
    before = build_model(arch).state_dict()
    after = torch.load(out / "last.pt", weights_only=True)["state_dict"]
    assert any(not torch.equal(before[k], after[k]) for k in before if before[k].is_floating_point())
    records = export_checkpoint(out / "best.pt", tmp_path / "export", ["onnx", "torchscript"], measure_speed=False)
    assert [r.format for r in records] == ["onnx", "torchscript"]
    assert all(r.parity.passed and r.parity.max_abs_diff <= 1e-4 for r in records)
