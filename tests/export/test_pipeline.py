import json
import subprocess
import sys

import numpy as np
import onnx
import pytest
import torch

from imgcheck.export.job import ProbabilityModel, job_from_checkpoint
from imgcheck.export.parity import ExportParityError, build_check_set
from imgcheck.export.pipeline import export_checkpoint
from imgcheck.infer.models.model_file import ModelFile
from imgcheck.infer.runtime import load_backend
from imgcheck.infer.models.formats import FORMATS
from imgcheck.infer.models.model_file import read_meta
from imgcheck.trainer.checkpoint import save_checkpoint
from imgcheck.infer.models.architectures import ARCHS, build_model, default_meta

SLOW_ARCHS = {"resnet50_v1", "resnet50_v2", "resnet101_v1", "resnet101_v2"}


def _random_checkpoint(tmp_path, arch):
    torch.manual_seed(0)
    return save_checkpoint(tmp_path / f"{arch}.pt", build_model(arch).state_dict(), default_meta(arch))


@pytest.mark.parametrize("arch", [pytest.param(a, marks=pytest.mark.slow) if a in SLOW_ARCHS else a for a in ARCHS])
def test_every_arch_exports_to_both_formats_and_passes(tmp_path, arch):
    records = export_checkpoint(_random_checkpoint(tmp_path, arch), tmp_path / "out", ["onnx", "torchscript"],
                                measure_speed=False)
    assert [r.format for r in records] == ["onnx", "torchscript"]
    for record in records:
        assert record.parity.passed and record.parity.n >= 64 and record.parity.max_abs_diff <= 1e-4
        assert record.path.exists() and record.path.name == f"{arch}{FORMATS[record.format].suffix}"
        meta = read_meta(record.path)
        assert meta.arch == arch and meta.output == "probability"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(r.path.name for r in records)


def test_onnx_signature_checker_and_opset(tmp_path):
    (record,) = export_checkpoint(_random_checkpoint(tmp_path, "cnn"), tmp_path, ["onnx"], opset=19,
                                  measure_speed=False)
    proto = onnx.load(str(record.path))
    assert {o.domain: o.version for o in proto.opset_import}[""] == 19
    onnx.checker.check_model(proto, full_check=True)
    (image,), (p_fake,) = proto.graph.input, proto.graph.output
    assert image.name == "image" and p_fake.name == "p_fake"
    dims = image.type.tensor_type.shape.dim
    assert dims[0].dim_param and [d.dim_value for d in dims[1:]] == [3, 32, 32]  # dynamic batch, fixed image
    assert len(p_fake.type.tensor_type.shape.dim) == 1
    assert image.type.tensor_type.elem_type == p_fake.type.tensor_type.elem_type == onnx.TensorProto.FLOAT


@pytest.mark.parametrize("batch", [1, 37])
def test_exports_run_any_batch_size(tmp_path, batch):
    path = _random_checkpoint(tmp_path, "cnn")
    records = export_checkpoint(path, tmp_path, ["onnx", "torchscript"], measure_speed=False)
    job = job_from_checkpoint(path, tmp_path)
    inputs = np.random.default_rng(batch).normal(size=(batch, 3, 32, 32)).astype(np.float32)
    with torch.no_grad():
        expected = job.model(torch.from_numpy(inputs)).numpy()
    for record in records:
        out = load_backend(ModelFile.open(record.path))(inputs)
        assert out.shape == (batch,) and np.abs(out - expected).max() <= 1e-4


def test_a_broken_export_fails_the_gate_and_leaves_no_file(tmp_path, monkeypatch):
    import imgcheck.export.onnx_export as onnx_export

    real_finish = onnx_export._finish

    def finish_then_perturb(proto, job, path):
        real_finish(proto, job, path)
        written = onnx.load(str(path))
        weights = max(written.graph.initializer, key=lambda t: len(t.raw_data) or len(t.float_data))
        array = onnx.numpy_helper.to_array(weights).copy()
        array += 0.05  # the weights are perturbed after writing
        weights.CopyFrom(onnx.numpy_helper.from_array(array, weights.name))
        onnx.save(written, str(path))

    monkeypatch.setattr(onnx_export, "_finish", finish_then_perturb)
    out = tmp_path / "out"
    with pytest.raises(ExportParityError, match=r"onnx export of cnn failed the parity gate.*max \|dp\| = .* exceeds 0.0001"):
        export_checkpoint(_random_checkpoint(tmp_path, "cnn"), out, ["torchscript", "onnx"], measure_speed=False)
    assert list(out.iterdir()) == []  # neither the failed ONNX nor the TorchScript that had passed


def test_fp16_and_int8_load_pass_their_gates_and_int8_is_smaller(trained_cnn, tmp_path):
    checkpoint, data = trained_cnn
    records = {r.format: r for r in export_checkpoint(
        checkpoint, tmp_path, ["onnx", "onnx-fp16", "onnx-int8"], check_images=data / "test",
        calibration=data / "train", measure_speed=False)}
    for name in ("onnx-fp16", "onnx-int8"):
        parity = records[name].parity
        assert parity.passed and parity.verdict_agreement >= 0.995
        assert parity.auc_reference is not None and abs(parity.auc_reference - parity.auc_export) <= 0.002
        assert read_meta(records[name].path).output == "probability"
    assert records["onnx-int8"].size_bytes < records["onnx-fp16"].size_bytes < records["onnx"].size_bytes
    proto = onnx.load(str(records["onnx-int8"].path))
    assert {"QuantizeLinear", "DequantizeLinear"} <= {n.op_type for n in proto.graph.node}
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT


def test_int8_without_calibration_is_refused(tmp_path):
    with pytest.raises(Exception, match="--int8 needs --calibration DIR"):
        export_checkpoint(_random_checkpoint(tmp_path, "cnn"), tmp_path / "o", ["onnx-int8"], measure_speed=False)


def test_check_images_are_labelled_from_their_folders(trained_cnn):
    _, data = trained_cnn
    check = build_check_set(default_meta("cnn"), count=64, folder=data / "test")
    assert check.seeded == 64 and len(check.inputs) == 64 + 80
    assert (check.labels[:64] == -1).all() and sorted(set(check.labels[64:].tolist())) == [0, 1]


_RUN_WITHOUT_TORCH = """
import sys
sys.modules["torch"] = None
import numpy as np
from imgcheck.infer.models.model_file import ModelFile
from imgcheck.infer.runtime import load_backend
inputs = np.load(sys.argv[2])
print(load_backend(ModelFile.open(sys.argv[1]))(inputs).tolist())
"""


def test_exported_onnx_runs_without_torch(tmp_path):
    path = _random_checkpoint(tmp_path, "cnn")
    (record,) = export_checkpoint(path, tmp_path, ["onnx"], measure_speed=False)
    inputs = np.random.default_rng(0).normal(size=(5, 3, 32, 32)).astype(np.float32)
    np.save(tmp_path / "inputs.npy", inputs)
    result = subprocess.run([sys.executable, "-c", _RUN_WITHOUT_TORCH, str(record.path), str(tmp_path / "inputs.npy")],
                            capture_output=True, text=True, check=True)
    with torch.no_grad():
        expected = job_from_checkpoint(path, tmp_path).model(torch.from_numpy(inputs)).numpy()
    assert np.abs(np.array(json.loads(result.stdout)) - expected).max() <= 1e-4


def test_probability_model_is_the_sigmoid_of_the_logit():
    torch.manual_seed(0)
    logit_model = build_model("cnn").eval()
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(ProbabilityModel(logit_model)(x), torch.sigmoid(logit_model(x)))
